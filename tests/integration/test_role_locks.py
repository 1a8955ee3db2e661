# -*- coding: utf-8 -*-
"""The promote role and the lock: a foreign lock is never released, a blocking error keeps the lock and names the
support ticket (and a rerun resumes once support cleared it), an interrupted run is resumed, break-glass unlock.yml,
and report.yml (no lock).

The tests of the foreign lock, the blocking error and report.yml share their runs (the module fixture ``runs``): one
promote.yml run over the first two tests' hosts (a tenant each) with report.yml alongside, then the blocking error's
rerun with unlock.yml alongside; what a test checks between two runs is kept when the first ends. The interrupted run
has a simulator of its own."""

from __future__ import annotations

import threading

import pytest

from tests.integration.role.support import (HostRun, config, host_vars, kill_group, lock_record, report_files, requests_of, run,
                                            start_promote, summary, wait_for, write_inventory, writes_of)
from tests.integration.support import SIMULATOR_ARGS
from tests.simulator.control import Simulator

PROMOTE_POST = ('POST', '/environment/promotion/promote')
UNLOCK = ('DELETE', '/environment/promotion/lock/{promotionId}')


def alongside(target):
    """``target()`` in a thread, started now; join() gives its result."""
    done = {}
    thread = threading.Thread(target=lambda: done.update(result=target()))
    thread.start()

    def join():
        thread.join()
        return done.get('result')
    return join


@pytest.fixture(scope='module')
def runs(simulator, tmp_path_factory):
    sim, workdir = simulator, tmp_path_factory.mktemp('role-locks')
    kept = {}
    # t8: a lock someone else holds.
    sim.edit_config('tenant08', 'dev', 'am', 'Journeys', 'add', 'Checkout')
    kept['t8 holder'] = sim.foreign_lock('tenant08', 'staging')
    # t9: the promotion fails with a blocking error.
    sim.edit_config('tenant09', 'dev', 'idm', 'Managed Objects', 'modify', 'alpha_user')
    sim.fail_next_promotion('tenant09', 'staging')
    # t10: report.yml, a run of its own.
    sim.edit_config('tenant10', 'dev', 'idm', 'Email > Templates', 'modify', 'Welcome')
    report_dir = workdir / 'report'
    report = alongside(lambda: run(report_dir, write_inventory(report_dir / 'inventory.yml', {
        't10-staging': host_vars(sim, 'tenant10', 'staging')}), playbook='report.yml'))
    try:
        first = run(workdir, write_inventory(workdir / 'inventory.yml', {
            't8-staging': host_vars(sim, 'tenant08', 'staging'), 't9-staging': host_vars(sim, 'tenant09', 'staging')}),
            args=('--forks', '2'))
    finally:
        kept['report'] = report()
    kept['first summary'] = summary(workdir) if (workdir / 'reports' / 'summary.json').exists() else {}
    kept['t8 lock'], kept['t8 writes'] = sim.env_state('tenant08', 'staging')['lock'], writes_of(sim, 'tenant08')
    kept['t9 state'], kept['t9 writes'] = sim.env_state('tenant09', 'staging'), writes_of(sim, 'tenant09')
    kept['t9 record'] = lock_record(workdir, 't9-staging')

    sim.clear_block('tenant09', 'staging')  # what support does; the lock stays
    unlock = alongside(lambda: run(workdir, write_inventory(workdir / 'unlock.yml', {
        't8-staging': host_vars(sim, 'tenant08', 'staging', promote_unlock_id=kept['t8 holder'])}), playbook='unlock.yml'))
    try:
        resumed = run(workdir, write_inventory(workdir / 'resume.yml', {'t9-staging': host_vars(sim, 'tenant09', 'staging')}))
    finally:
        kept['released'] = unlock()
    return dict(kept, workdir=workdir, report_dir=report_dir, first=first, resumed=resumed,
                second_summary=summary(workdir) if (workdir / 'reports' / 'summary.json').exists() else {})


def test_foreign_lock_is_named_and_never_released(simulator, runs):
    sim, tenant, host, holder = simulator, 'tenant08', 't8-staging', runs['t8 holder']
    result = HostRun(runs['first'], host)
    assert result.rc == 2, result.output()
    row = runs['first summary'][host]
    assert row['outcome'] == 'failed' and holder in row['reason'] and 'another promotion' in row['reason'], row
    assert 'promote_unlock_id=' + holder in row['reason']
    assert runs['t8 lock']['promotionId'] == holder
    assert UNLOCK not in runs['t8 writes'] and PROMOTE_POST not in runs['t8 writes']

    released = runs['released']
    assert released is not None and released.rc == 0, released.output() if released else 'no unlock.yml run'
    assert sim.env_state(tenant, 'staging')['lock'] is None


def test_blocking_error_keeps_the_lock_names_the_ticket_and_a_rerun_resumes(simulator, runs):
    sim, tenant, host, workdir = simulator, 'tenant09', 't9-staging', runs['workdir']
    blocked = HostRun(runs['first'], host)
    assert blocked.rc == 2, blocked.output()
    row = runs['first summary'][host]
    assert row['outcome'] == 'failed' and 'support ticket' in row['reason'] and row['lock_released'] is False, row
    assert row['promotion_id'] in row['reason'] and 'transaction id' in row['reason']
    state = runs['t9 state']
    assert state['blocked'] and state['lock']['promotionId'] == row['promotion_id']
    assert UNLOCK not in runs['t9 writes']  # the role does not even try: the API refuses after a blocking error
    assert runs['t9 record']['promotion_id'] == row['promotion_id']

    # Support cleared the block (the lock stays), then the rerun.
    resumed = runs['resumed']
    assert resumed.rc == 0, resumed.output()
    again = runs['second_summary'][host]
    assert again['outcome'] == 'promoted' and again['promotion_id'] == row['promotion_id']
    assert config(sim, tenant, 'staging') == config(sim, tenant, 'dev')
    assert sim.env_state(tenant, 'staging')['lock'] is None and lock_record(workdir, host) is None
    assert writes_of(sim, tenant).count(('POST', '/environment/promotion/lock')) == 1  # the same lock, resumed


def test_interrupted_run_is_resumed(tmp_path):
    # A simulator of its own with a long restart phase (15 s), so the controller can be killed in the middle of it and the
    # rerun still finds it going, however busy the machine.
    with Simulator.start(tmp_path / 'simulator', scenario='default', tenants='acme',
                         extra_args=SIMULATOR_ARGS + ['--restart-seconds', '300']) as sim:
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


def test_report_playbook_saves_reports_without_a_lock(simulator, runs):
    # A run of its own (report.yml), alongside the first promote.yml run.
    sim, tenant, report_dir = simulator, 'tenant10', runs['report_dir']
    result = runs['report']
    assert result is not None, 'no report.yml run'
    assert result.rc == 0, result.output()
    assert writes_of(sim, tenant) == []
    assert ('GET', '/environment/promotion/report/provisional') in requests_of(sim, tenant, ('dev',))
    files = report_files(report_dir, 't10-staging')
    assert {'provisional.json', 'provisional.md', 'provisional-rollback.json', 'provisional-rollback.md'} <= set(files)
    assert 'Welcome' in (report_dir / 'reports' / 't10-staging' / 'provisional.md').read_text()
