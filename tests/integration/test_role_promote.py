# -*- coding: utf-8 -*-
"""playbooks/promote.yml with the promote role, run by ansible-playbook against the simulator: happy path, rerun,
check mode, dry run only, nothing to promote."""

from __future__ import annotations

import json

from tests.integration.role.support import (config, host_vars, lock_record, report_files, requests_of, role_task, run,
                                            summary, write_inventory, writes_of)

PROMOTE_POST = ('POST', '/environment/promotion/promote')


def test_happy_path_then_rerun_unchanged(simulator, tmp_path):
    sim, tenant = simulator, 'tenant01'
    sim.edit_config(tenant, 'dev', 'idm', 'Email > Templates', 'add', 'Forgotten Username')
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'modify', 'Login')
    # A restart phase long enough to be seen (1 s at speed 20): the default 0.15 s can fall between two looks.
    sim.set_timing(tenant=tenant, restart=20)
    inventory = write_inventory(tmp_path / 'inventory.yml', {'t1-staging': host_vars(sim, tenant, 'staging')})

    first = run(tmp_path, inventory, promote_description='Release 7', promote_ticket_reference='CHG-7')
    assert first.rc == 0, first.output()
    row = summary(tmp_path)['t1-staging']
    assert (row['outcome'], row['added'], row['modified'], row['total']) == ('promoted', 1, 1, 2), row
    assert row['lock_released'] is True and row['promotion_id']
    assert report_files(tmp_path, 't1-staging') == ['dry-run.json', 'dry-run.md', 'promotion.json', 'promotion.md']
    promotion = json.loads((tmp_path / 'reports' / 't1-staging' / 'promotion.json').read_text())
    assert promotion['dryRun'] is False and promotion['promotionDescription'] == 'Release 7'
    assert promotion['zendeskTicketReference'] == 'CHG-7' and promotion['promotionId'] == row['promotion_id']
    assert json.loads((tmp_path / 'reports' / 't1-staging' / 'dry-run.json').read_text())['dryRun'] is True
    assert 'Forgotten Username' in (tmp_path / 'reports' / 't1-staging' / 'promotion.md').read_text()
    assert config(sim, tenant, 'staging') == config(sim, tenant, 'dev')
    assert sim.env_state(tenant, 'staging')['lock'] is None and lock_record(tmp_path, 't1-staging') is None
    assert writes_of(sim, tenant).count(PROMOTE_POST) == 2  # the dry run and the promotion
    assert first.changed('t1-staging') == 1  # the promotion; lock, unlock and reports are not changes
    assert 't1-staging: promoted (2 changes: 1 added, 1 modified, 0 deleted)' in first.stdout
    # Progress, live: the tenant's own phase messages, under the host's name.
    assert 't1-staging: the dry run: RUNNING: Prepare config' in first.stdout
    assert 't1-staging: the promotion: RUNNING: Waiting for workloads to restart' in first.stdout
    transactions = {entry['transaction_id'].split('/')[0] for entry in sim.request_log(tenant, 'staging')}
    assert len(transactions) == 1  # one transaction id for the whole run of the host

    again = run(tmp_path, inventory)
    assert again.rc == 0, again.output()
    assert again.changed() == 0, again.stats
    assert summary(tmp_path)['t1-staging']['outcome'] == 'nothing_to_promote'
    assert writes_of(sim, tenant).count(PROMOTE_POST) == 3  # only a dry run more
    assert sim.env_state(tenant, 'staging')['lock'] is None


def test_check_mode_locks_nothing_writes_nothing(simulator, tmp_path):
    sim, tenant = simulator, 'tenant02'
    sim.edit_config(tenant, 'dev', 'idm', 'Email > Templates', 'add', 'Welcome back')
    before = config(sim, tenant, 'staging')
    inventory = write_inventory(tmp_path / 'inventory.yml', {'t2-staging': host_vars(sim, tenant, 'staging')})

    checked = run(tmp_path, inventory, check=True, diff=True)
    assert checked.rc == 0, checked.output()
    # A pre-flight: with --diff, what would be promoted, as the provisional report says it.
    assert '# Provisional report (dry run)' in checked.stdout and '- added: Welcome back' in checked.stdout
    assert writes_of(sim, tenant) == []
    assert ('GET', '/environment/promotion/report/provisional') in requests_of(sim, tenant, ('dev',))
    assert sim.env_state(tenant, 'staging')['lock'] is None and config(sim, tenant, 'staging') == before
    assert not (tmp_path / 'reports').exists()
    assert 'would promote' in checked.stdout and 'added: IDMConfig / Email > Templates: Welcome back' in checked.stdout
    assert checked.changed('t2-staging') == 1  # check mode says what a real run would change: this promotion


def test_dry_run_only_saves_the_report_and_unlocks(simulator, tmp_path):
    sim, tenant = simulator, 'tenant03'
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Checkout')
    before = config(sim, tenant, 'staging')
    inventory = write_inventory(tmp_path / 'inventory.yml', {'t3-staging': host_vars(sim, tenant, 'staging')})

    result = run(tmp_path, inventory, promote_dry_run_only=True)
    assert result.rc == 0, result.output()
    row = summary(tmp_path)['t3-staging']
    assert (row['outcome'], row['added'], row['total']) == ('dry_run_only', 1, 1)
    assert report_files(tmp_path, 't3-staging') == ['dry-run.json', 'dry-run.md']
    assert config(sim, tenant, 'staging') == before
    assert writes_of(sim, tenant).count(PROMOTE_POST) == 1
    assert sim.env_state(tenant, 'staging')['lock'] is None
    assert result.changed() == 0


def test_nothing_to_promote_stops_after_the_dry_run(simulator, tmp_path):
    sim, tenant = simulator, 'tenant04'
    inventory = write_inventory(tmp_path / 'inventory.yml', {'t4-staging': host_vars(sim, tenant, 'staging')})

    result = run(tmp_path, inventory)
    assert result.rc == 0, result.output()
    assert summary(tmp_path)['t4-staging']['outcome'] == 'nothing_to_promote'
    writes = writes_of(sim, tenant)
    assert writes.count(PROMOTE_POST) == 1  # the dry run: no real promotion, no restart of the workloads
    assert ('POST', '/environment/promotion/lock') in writes and ('DELETE', '/environment/promotion/lock/{promotionId}') in writes
    assert not any(entry['message'] == 'Waiting for workloads to restart'
                   for entry in role_task(result, 'Lock, dry run, checks, promotion and release of the lock', 't4-staging')['history'])
    assert sim.env_state(tenant, 'staging')['lock'] is None
    assert result.changed() == 0
