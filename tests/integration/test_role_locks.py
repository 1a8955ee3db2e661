# -*- coding: utf-8 -*-
"""The promote role and the lock: a foreign lock is never released, a blocking error keeps the lock and names the
support ticket (and a rerun resumes once support cleared it), an interrupted run is resumed, break-glass unlock.yml,
and report.yml (no lock)."""

from __future__ import annotations

from tests.integration.role.support import (config, host_vars, kill_group, lock_record, report_files, requests_of, run,
                                            start_promote, summary, wait_for, write_inventory, writes_of)
from tests.integration.support import SIMULATOR_ARGS
from tests.simulator.control import Simulator

PROMOTE_POST = ('POST', '/environment/promotion/promote')
UNLOCK = ('DELETE', '/environment/promotion/lock/{promotionId}')


def test_foreign_lock_is_named_and_never_released(simulator, tmp_path):
    sim, tenant = simulator, 'tenant08'
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Checkout')
    holder = sim.foreign_lock(tenant, 'staging')
    inventory = write_inventory(tmp_path / 'inventory.yml', {'t8-staging': host_vars(sim, tenant, 'staging')})

    result = run(tmp_path, inventory)
    assert result.rc == 2, result.output()
    row = summary(tmp_path)['t8-staging']
    assert row['outcome'] == 'failed' and holder in row['reason'] and 'another promotion' in row['reason'], row
    assert 'promote_unlock_id=' + holder in row['reason']
    assert sim.env_state(tenant, 'staging')['lock']['promotionId'] == holder
    assert UNLOCK not in writes_of(sim, tenant) and PROMOTE_POST not in writes_of(sim, tenant)

    released = run(tmp_path, inventory, playbook='unlock.yml', promote_unlock_id=holder)
    assert released.rc == 0, released.output()
    assert sim.env_state(tenant, 'staging')['lock'] is None


def test_blocking_error_keeps_the_lock_names_the_ticket_and_a_rerun_resumes(simulator, tmp_path):
    sim, tenant = simulator, 'tenant09'
    sim.edit_config(tenant, 'dev', 'idm', 'Managed Objects', 'modify', 'alpha_user')
    sim.fail_next_promotion(tenant, 'staging')
    inventory = write_inventory(tmp_path / 'inventory.yml', {'t9-staging': host_vars(sim, tenant, 'staging')})

    blocked = run(tmp_path, inventory)
    assert blocked.rc == 2, blocked.output()
    row = summary(tmp_path)['t9-staging']
    assert row['outcome'] == 'failed' and 'support ticket' in row['reason'] and row['lock_released'] is False, row
    assert row['promotion_id'] in row['reason'] and 'transaction id' in row['reason']
    state = sim.env_state(tenant, 'staging')
    assert state['blocked'] and state['lock']['promotionId'] == row['promotion_id']
    assert UNLOCK not in writes_of(sim, tenant)  # the role does not even try: the API refuses after a blocking error
    assert lock_record(tmp_path, 't9-staging')['promotion_id'] == row['promotion_id']

    sim.clear_block(tenant, 'staging')  # what support does; the lock stays
    resumed = run(tmp_path, inventory)
    assert resumed.rc == 0, resumed.output()
    again = summary(tmp_path)['t9-staging']
    assert again['outcome'] == 'promoted' and again['promotion_id'] == row['promotion_id']
    assert config(sim, tenant, 'staging') == config(sim, tenant, 'dev')
    assert sim.env_state(tenant, 'staging')['lock'] is None and lock_record(tmp_path, 't9-staging') is None
    assert writes_of(sim, tenant).count(('POST', '/environment/promotion/lock')) == 1  # the same lock, resumed


def test_interrupted_run_is_resumed(tmp_path):
    # A simulator of its own with a long restart phase, so the controller can be killed in the middle of it.
    with Simulator.start(tmp_path / 'simulator', scenario='default', tenants='acme',
                         extra_args=SIMULATOR_ARGS + ['--restart-seconds', '200']) as sim:
        sim.edit_config('acme', 'dev', 'am', 'OAuth2 Clients', 'add', 'partner-portal')
        inventory = write_inventory(tmp_path / 'inventory.yml', {'acme-staging': host_vars(sim, 'acme', 'staging')})
        process, _record = start_promote(tmp_path, inventory)
        try:
            wait_for(lambda: sim.env_state('acme', 'staging')['status']['message'] == 'Waiting for workloads to restart',
                     timeout=120)
        finally:
            kill_group(process)  # like Ctrl-C twice, or a controller that died
        record = lock_record(tmp_path, 'acme-staging')
        assert record and sim.env_state('acme', 'staging')['lock']['promotionId'] == record['promotion_id']
        assert 'service_account' not in str(record) and 'kty' not in str(record)  # no secret in the record

        resumed = run(tmp_path, inventory)
        assert resumed.rc == 0, resumed.output()
        row = summary(tmp_path)['acme-staging']
        assert row['outcome'] == 'promoted' and row['promotion_id'] == record['promotion_id'], row
        assert row.get('attached') is True
        assert config(sim, 'acme', 'staging') == config(sim, 'acme', 'dev')
        assert sim.env_state('acme', 'staging')['lock'] is None and lock_record(tmp_path, 'acme-staging') is None
        writes = writes_of(sim, 'acme')
        assert writes.count(('POST', '/environment/promotion/lock')) == 1 and writes.count(PROMOTE_POST) == 2
        assert 'promotion.json' in report_files(tmp_path, 'acme-staging')


def test_report_playbook_saves_reports_without_a_lock(simulator, tmp_path):
    sim, tenant = simulator, 'tenant10'
    sim.edit_config(tenant, 'dev', 'idm', 'Email > Templates', 'modify', 'Welcome')
    inventory = write_inventory(tmp_path / 'inventory.yml', {'t10-staging': host_vars(sim, tenant, 'staging')})

    result = run(tmp_path, inventory, playbook='report.yml')
    assert result.rc == 0, result.output()
    assert writes_of(sim, tenant) == []
    assert ('GET', '/environment/promotion/report/provisional') in requests_of(sim, tenant, ('dev',))
    files = report_files(tmp_path, 't10-staging')
    assert {'provisional.json', 'provisional.md', 'provisional-rollback.json', 'provisional-rollback.md'} <= set(files)
    assert 'Welcome' in (tmp_path / 'reports' / 't10-staging' / 'provisional.md').read_text()
