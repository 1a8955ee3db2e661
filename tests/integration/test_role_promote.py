# -*- coding: utf-8 -*-
"""playbooks/promote.yml with the promote role, run by ansible-playbook against the simulator: happy path, rerun,
check mode, dry run only, nothing to promote.

The tests share their runs (the module fixture ``runs``): one promote.yml run over the hosts of the happy path, the
dry run only (a host variable, as -e would set it) and nothing to promote (a tenant each), then the happy path's
rerun; the check-mode run, a run of its own (--check --diff), goes alongside the first. What a test checks between
two runs is kept when the first ends."""

from __future__ import annotations

import json
import threading

import pytest

from tests.integration.role.support import (HostRun, config, host_vars, lock_record, report_files, requests_of, role_task, run,
                                            summary, write_inventory, writes_of)

PROMOTE_POST = ('POST', '/environment/promotion/promote')


@pytest.fixture(scope='module')
def runs(simulator, tmp_path_factory):
    sim, workdir = simulator, tmp_path_factory.mktemp('role-promote')
    kept = {}
    # t1: the happy path. Prepare and restart phases long enough to be seen (0.5 and 1 s at speed 20): the default
    # 0.05 and 0.15 s can fall between two looks on a busy machine.
    sim.edit_config('tenant01', 'dev', 'idm', 'Email > Templates', 'add', 'Forgotten Username')
    sim.edit_config('tenant01', 'dev', 'am', 'Journeys', 'modify', 'Login')
    sim.set_timing(tenant='tenant01', prepare=10, restart=20)
    # t2: check mode, a run of its own.
    sim.edit_config('tenant02', 'dev', 'idm', 'Email > Templates', 'add', 'Welcome back')
    kept['t2 before'] = config(sim, 'tenant02', 'staging')
    # t3: dry run only.
    sim.edit_config('tenant03', 'dev', 'am', 'Journeys', 'add', 'Checkout')
    kept['t3 before'] = config(sim, 'tenant03', 'staging')
    # t4: nothing to promote.
    inventory = write_inventory(workdir / 'inventory.yml', {
        't1-staging': host_vars(sim, 'tenant01', 'staging', promote_description='Release 7', promote_ticket_reference='CHG-7'),
        't3-staging': host_vars(sim, 'tenant03', 'staging', promote_dry_run_only=True),
        't4-staging': host_vars(sim, 'tenant04', 'staging')})
    check_dir = workdir / 'check'
    checked = {}
    check = threading.Thread(target=lambda: checked.update(run=run(check_dir, write_inventory(
        check_dir / 'inventory.yml', {'t2-staging': host_vars(sim, 'tenant02', 'staging')}), check=True, diff=True)))
    check.start()
    try:
        first = run(workdir, inventory, args=('--forks', '3'))
    finally:
        check.join()
    reports = workdir / 'reports' / 't1-staging'
    kept['first summary'] = summary(workdir) if (workdir / 'reports' / 'summary.json').exists() else {}
    kept['t1 files'] = report_files(workdir, 't1-staging')
    kept['t1 reports'] = {name: (reports / name).read_text() for name in kept['t1 files']}
    kept['t1 lock record'] = lock_record(workdir, 't1-staging')
    kept['t1 log'] = sim.request_log('tenant01', 'staging')
    kept['t1 writes'] = writes_of(sim, 'tenant01')
    kept['t1 configs'] = config(sim, 'tenant01', 'staging'), config(sim, 'tenant01', 'dev')

    again = run(workdir, write_inventory(workdir / 'again.yml', {'t1-staging': host_vars(sim, 'tenant01', 'staging')}))
    return dict(kept, workdir=workdir, check_dir=check_dir, first=first, again=again, checked=checked.get('run'))


def test_happy_path_then_rerun_unchanged(simulator, runs):
    sim, tenant, workdir = simulator, 'tenant01', runs['workdir']
    first = HostRun(runs['first'], 't1-staging')
    assert first.rc == 0, first.output()
    row = runs['first summary']['t1-staging']
    assert (row['outcome'], row['added'], row['modified'], row['total']) == ('promoted', 1, 1, 2), row
    assert row['lock_released'] is True and row['promotion_id']
    assert runs['t1 files'] == ['dry-run.json', 'dry-run.md', 'promotion.json', 'promotion.md']
    promotion = json.loads(runs['t1 reports']['promotion.json'])
    assert promotion['dryRun'] is False and promotion['promotionDescription'] == 'Release 7'
    assert promotion['zendeskTicketReference'] == 'CHG-7' and promotion['promotionId'] == row['promotion_id']
    assert json.loads(runs['t1 reports']['dry-run.json'])['dryRun'] is True
    assert 'Forgotten Username' in runs['t1 reports']['promotion.md']
    staging, dev = runs['t1 configs']
    assert staging == dev
    assert runs['t1 lock record'] is None
    assert runs['t1 writes'].count(PROMOTE_POST) == 2  # the dry run and the promotion
    assert first.changed('t1-staging') == 1  # the promotion; lock, unlock and reports are not changes
    assert 't1-staging: promoted (2 changes: 1 added, 1 modified, 0 deleted)' in first.stdout
    # Progress, live: the tenant's own phase messages, under the host's name.
    assert 't1-staging: the dry run: RUNNING: Prepare config' in first.stdout
    assert 't1-staging: the promotion: RUNNING: Waiting for workloads to restart' in first.stdout
    transactions = {entry['transaction_id'].split('/')[0] for entry in runs['t1 log']}
    assert len(transactions) == 1  # one transaction id for the whole run of the host

    again = runs['again']
    assert again.rc == 0, again.output()
    assert again.changed() == 0, again.stats
    assert summary(workdir)['t1-staging']['outcome'] == 'nothing_to_promote'
    assert writes_of(sim, tenant).count(PROMOTE_POST) == 3  # only a dry run more
    assert sim.env_state(tenant, 'staging')['lock'] is None


def test_check_mode_locks_nothing_writes_nothing(simulator, runs):
    # A run of its own (--check --diff), alongside the others.
    sim, tenant, check_dir = simulator, 'tenant02', runs['check_dir']
    checked = runs['checked']
    assert checked is not None, 'no check-mode run'
    assert checked.rc == 0, checked.output()
    # A pre-flight: with --diff, what would be promoted, as the provisional report says it.
    assert '# Provisional report (dry run)' in checked.stdout and '- added: Welcome back' in checked.stdout
    assert writes_of(sim, tenant) == []
    assert ('GET', '/environment/promotion/report/provisional') in requests_of(sim, tenant, ('dev',))
    assert sim.env_state(tenant, 'staging')['lock'] is None and config(sim, tenant, 'staging') == runs['t2 before']
    # Nothing written but the plan of the preview, on the controller.
    assert sorted(path.name for path in (check_dir / 'reports').iterdir()) == ['plan.yml']
    assert 'would promote' in checked.stdout and 'added: IDMConfig / Email > Templates: Welcome back' in checked.stdout
    assert checked.changed('t2-staging') == 1  # check mode says what a real run would change: this promotion


def test_dry_run_only_saves_the_report_and_unlocks(simulator, runs):
    sim, tenant, host = simulator, 'tenant03', 't3-staging'
    result = HostRun(runs['first'], host)
    assert result.rc == 0, result.output()
    row = runs['first summary'][host]
    assert (row['outcome'], row['added'], row['total']) == ('dry_run_only', 1, 1)
    assert report_files(runs['workdir'], host) == ['dry-run.json', 'dry-run.md']
    assert config(sim, tenant, 'staging') == runs['t3 before']
    assert writes_of(sim, tenant).count(PROMOTE_POST) == 1
    assert sim.env_state(tenant, 'staging')['lock'] is None
    assert result.changed() == 0


def test_nothing_to_promote_stops_after_the_dry_run(simulator, runs):
    sim, tenant, host = simulator, 'tenant04', 't4-staging'
    result = HostRun(runs['first'], host)
    assert result.rc == 0, result.output()
    assert runs['first summary'][host]['outcome'] == 'nothing_to_promote'
    writes = writes_of(sim, tenant)
    assert writes.count(PROMOTE_POST) == 1  # the dry run: no real promotion, no restart of the workloads
    assert ('POST', '/environment/promotion/lock') in writes and ('DELETE', '/environment/promotion/lock/{promotionId}') in writes
    assert not any(entry['message'] == 'Waiting for workloads to restart'
                   for entry in role_task(result, 'Lock, dry run, checks, promotion and release of the lock', host)['history'])
    assert sim.env_state(tenant, 'staging')['lock'] is None
    assert result.changed() == 0
