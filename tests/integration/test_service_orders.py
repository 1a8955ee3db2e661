# -*- coding: utf-8 -*-
"""The orders a tenant may answer in (API notes 8), each against the simulator's variant for it, through the role's
whole promotion (playbooks/promote.yml with the role's defaults) or, where the order is about a module, its tasks.

The role's hosts share one promote.yml run (one tenant each, in parallel); alongside it, one playbook of module tasks
(the seed preset's promote, rollback and promote again under one lock; a lock that ends in error) and, once its host
is done, the rerun after a lost lock answer. The timeout case runs on its own: it waits out promote_run_timeout."""

from __future__ import annotations

import json
import threading

import pytest

from tests.integration.role.support import (PLAYBOOKS, host_vars, lock_record, promote_vars, report_files, role_task, run,
                                            summary, wait_for, write_inventory, writes_of)
from tests.integration.support import (SIMULATOR_ARGS, PlaybookRun, WhenLogged, lock_task, once_per_run, promotion_play, run_playbook, run_task,
                                       started)
from tests.simulator.control import Simulator

LOCK = ('POST', '/environment/promotion/lock')
UNLOCK = ('DELETE', '/environment/promotion/lock/{promotionId}')
PROMOTE = ('POST', '/environment/promotion/promote')
RUN_TASK = 'Lock, dry run, checks, promotion and release of the lock'

# The role's hosts of the shared run: host -> (variant, timing, extra host variables).
REPORT_LAG = 'report-lag'
DRY_RUN_WORDING = 'dry-run-wording'
LOCK_LAG_LOST_LOCK = 'lock-lag-lost-lock'
BLIPS_500 = 'restart-blip-500'
BLIPS_401 = 'restart-blip-401'
STUCK_LOCK = 'stuck-lock'
RUN_TIMEOUT = 'run-timeout'
STATUS_LAG_LOST_PROMOTE = 'status-lag-lost-promote'
HOSTS = {
    REPORT_LAG: ({'report_lag': 3}, {}, {}),
    DRY_RUN_WORDING: ({'dry_run_wording': 'no-change'}, {}, {}),
    LOCK_LAG_LOST_LOCK: ({'lock_lag': 3}, {}, {}),
    # Two seconds of restart: the role reads the status in it more than once.
    BLIPS_500: ({'restart_blips': 'error-500'}, {'restart': 40}, {}),
    BLIPS_401: ({'restart_blips': 'unauthorized-401'}, {'restart': 40}, {}),
    STUCK_LOCK: ({}, {}, {'promote_lock_timeout': 5}),
    # A restart phase of 100 s: the promotion still runs when promote_run_timeout ends, and when the run is looked at.
    # 33 s is the least that leaves the promotion the 30 s the module wants once the dry run is done.
    RUN_TIMEOUT: ({}, {'restart': 2000}, {'promote_run_timeout': 33}),
    # Three seconds of preparation: each run still goes on while the status lags and no report of it is there yet.
    STATUS_LAG_LOST_PROMOTE: ({'status_lag': 3}, {'prepare': 60}, {}),
}
# The module tasks' tenants.
SEED_AGAIN = 'seed-promote-rollback-promote'
FAILED_LOCK = 'failed-lock-promotion-lock'
FAILED_LOCK_RUN = 'failed-lock-promotion-run'
MODULE_TENANTS = [SEED_AGAIN, FAILED_LOCK, FAILED_LOCK_RUN]


def three_changes(sim, tenant):
    """One change of each kind in dev: added, modified, deleted."""
    sim.edit_config(tenant, 'dev', 'idm', 'Email > Templates', 'add', 'Forgotten Username')
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'modify', 'Login')
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'delete', 'Registration')


def module_playbook(sim, tenants):
    """The module tasks: the seed preset's promote, rollback and promote again under one lock; promotion_lock, then
    promotion_run with lock: true, each on a lock that ends in error. Every task goes on after a failure."""
    def tolerant(task):
        return dict(task, ignore_errors=True)
    plays = json.loads(promotion_play(sim, tenants[SEED_AGAIN], 'staging', [tolerant(task) for task in (
        lock_task(state='locked', wait_timeout=60),
        run_task('Promote', 'promoted', promotion_id='{{ lock.promotion_id }}', wait_timeout=120),
        run_task('Roll back', 'rolled_back', operation='rollback', promotion_id='{{ lock.promotion_id }}', wait_timeout=120),
        run_task('Promote again', 'promoted_again', promotion_id='{{ lock.promotion_id }}', wait_timeout=120),
        lock_task('Unlock', 'unlocked', state='unlocked', promotion_id='{{ lock.promotion_id }}', wait_timeout=60))]))
    plays += json.loads(promotion_play(sim, tenants[FAILED_LOCK], 'staging', [
        tolerant(lock_task('Lock that fails', 'failed_lock', state='locked', wait_timeout=30))]))
    plays += json.loads(promotion_play(sim, tenants[FAILED_LOCK_RUN], 'staging', [
        tolerant(run_task('Run under a lock that fails', 'failed_run', lock=True, lock_timeout=30, dry_run=True))]))
    return json.dumps(plays, indent=1) + '\n'


def make_orders(workdir):
    """The role's hosts in one promote.yml run, the module tasks alongside, and the rerun of the lost-lock host once
    it is done. Returns what the tests assert on, as JSON."""
    names = ['o%02d' % index for index in range(1, len(HOSTS) + len(MODULE_TENANTS) + 1)]
    with Simulator.start(workdir / 'simulator', tenants=','.join(names), extra_args=SIMULATOR_ARGS) as sim:
        tenants = dict(zip(list(HOSTS) + MODULE_TENANTS, names))
        for host, (variant, timing, _extra) in HOSTS.items():
            three_changes(sim, tenants[host])
            if variant:
                sim.set_variant(tenant=tenants[host], **variant)
            if timing:
                sim.set_timing(tenant=tenants[host], **timing)
        sim.lose_next_answer(tenants[LOCK_LAG_LOST_LOCK], 'staging', 'lock')
        sim.stick_next_lock(tenants[STUCK_LOCK], 'staging')
        three_changes(sim, tenants[SEED_AGAIN])
        sim.set_variant(tenant=tenants[SEED_AGAIN], preset='seed')
        for tenant in (tenants[FAILED_LOCK], tenants[FAILED_LOCK_RUN]):
            sim.fail_next_lock(tenant, 'staging')
        sim.reset_log()
        inventory = write_inventory(workdir / 'inventory.yml', {
            host: host_vars(sim, tenants[host], 'staging', **extra) for host, (_variant, _timing, extra) in HOSTS.items()})
        done, side = threading.Event(), {}

        def modules():
            side['modules'] = run_playbook(module_playbook(sim, tenants), workdir / 'modules')

        def rerun():
            # Once the lost-lock host is done (its promotion over and its lock gone, or the run over), a run of its own,
            # with reports elsewhere: a lock left behind would refuse it.
            tenant = tenants[LOCK_LAG_LOST_LOCK]
            wait_for(lambda: done.is_set() or (
                any(r['kind'] == 'promotion' and not r['dry_run'] and r['status'] != 'RUNNING'
                    for r in sim.env_state(tenant, 'staging')['runs']) and sim.env_state(tenant, 'staging')['lock'] is None),
                timeout=600, interval=0.5)
            side['rerun'] = run(workdir / 'rerun', write_inventory(workdir / 'rerun' / 'inventory.yml', {
                LOCK_LAG_LOST_LOCK: host_vars(sim, tenant, 'staging')}))

        threads = [threading.Thread(target=modules), threading.Thread(target=rerun)]
        for thread in threads:
            thread.start()
        lagging = tenants[STATUS_LAG_LOST_PROMOTE]
        try:
            # Once the dry run has started there, the answer to the next start, the promotion's, is lost.
            with WhenLogged(sim, lagging, 'staging', started('/environment/promotion/promote'),
                            lambda: sim.lose_next_answer(lagging, 'staging', 'promote')):
                shared = run_playbook(PLAYBOOKS / 'promote.yml', workdir / 'run', inventory=inventory,
                                      extra_vars=promote_vars(workdir), args=['--forks', str(len(HOSTS))])
        finally:
            done.set()
            for thread in threads:
                thread.join()
        facts = {host: dict(tenant=tenant, staging=sim.env_state(tenant, 'staging'), dev=sim.env_state(tenant, 'dev'),
                            log=sim.request_log(tenant, 'staging'), writes=writes_of(sim, tenant))
                 for host, tenant in tenants.items()}
    return dict(hosts=facts, runs={name: ran and ran.facts() for name, ran in (
        ('shared', shared), ('modules', side.get('modules')), ('rerun', side.get('rerun')))})


@pytest.fixture(scope='module')
def orders(tmp_path_factory):
    workdir, facts = once_per_run(tmp_path_factory, 'service-orders', make_orders)
    runs = {name: PlaybookRun.from_facts(ran) for name, ran in facts['runs'].items()}
    return dict(facts, workdir=workdir, shared=runs['shared'], modules=runs['modules'], rerun=runs['rerun'],
                summary=summary(workdir) if (workdir / 'reports' / 'summary.json').exists() else {})


def transaction_of(entry):
    """The run a request belongs to: its X-ForgeRock-TransactionId without the sequence."""
    return (entry['transaction_id'] or '').split('/')[0]


def real_runs(facts):
    return [r for r in facts['staging']['runs'] if r['kind'] == 'promotion' and not r['dry_run']]


def promoted_fully(orders, host):
    """The checks every host that must end promoted shares: its row, staging holding dev's configuration, one real
    promotion, the lock released."""
    facts, row = orders['hosts'][host], orders['summary'].get(host)
    assert row is not None, orders['shared'].output()[-4000:]
    assert row['outcome'] == 'promoted' and orders['shared'].failed(host) == 0, row
    assert facts['staging']['config'] == facts['dev']['config']
    assert len(real_runs(facts)) == 1 and real_runs(facts)[0]['status'] == 'READY', facts['staging']['runs']
    assert row['lock_released'] is True and facts['staging']['lock'] is None, row
    return row


# a. A report that lags the status.

def test_a_report_that_lags_the_status_still_reports_the_promotion(orders):
    row = orders['summary'][REPORT_LAG]
    assert row['outcome'] == 'promoted', row
    # The promotion's own report, not the dry run's that GET /report still returned: its three changes.
    assert (row['total'], row['added'], row['modified'], row['deleted']) == (3, 1, 1, 1), row
    files = report_files(orders['workdir'], REPORT_LAG)
    assert {'promotion.json', 'promotion.md'} <= set(files), files
    promotion = json.loads((orders['workdir'] / 'reports' / REPORT_LAG / 'promotion.json').read_text())
    assert promotion['dryRun'] is False and promotion['promotionId'] == row['promotion_id']
    assert '%s: promoted (3 changes: 1 added, 1 modified, 1 deleted)' % REPORT_LAG in orders['shared'].stdout
    promoted_fully(orders, REPORT_LAG)


# b. Words that disagree with data.

def test_b_a_dry_run_worded_no_change_whose_report_lists_changes_is_promoted(orders):
    facts = orders['hosts'][DRY_RUN_WORDING]
    dry = [r for r in facts['staging']['runs'] if r['dry_run']]
    assert [r['message'] for r in dry] == ['Promotion completed (no change)'], facts['staging']['runs']
    row = orders['summary'][DRY_RUN_WORDING]
    assert row['outcome'] == 'promoted', row  # decided by the report (three changes), not by the wording
    assert facts['staging']['config'] == facts['dev']['config']
    promoted_fully(orders, DRY_RUN_WORDING)


# c. A lock that is not visible yet, and a lost answer to POST /lock.

def test_c_a_lost_lock_answer_and_a_lock_not_visible_yet(orders):
    facts = orders['hosts'][LOCK_LAG_LOST_LOCK]
    posts = [e for e in facts['log'] if (e['method'], e['template']) == LOCK]
    assert posts and posts[0]['fault'] == '504', posts  # the tenant took the lock; the answer was lost
    # The requests of the first run (one transaction id; the rerun has its own).
    transaction = transaction_of(posts[0])
    taken = [e for e in posts if transaction_of(e) == transaction and (e['fault'] == '504' or e['status'] < 300)]
    assert len(taken) == 1, posts  # no second lock: a POST sent again was refused, naming the first
    row = orders['summary'][LOCK_LAG_LOST_LOCK]
    assert row['outcome'] == 'promoted' and orders['shared'].failed(LOCK_LAG_LOST_LOCK) == 0, row
    # The run worked under the lock its own POST took, the only one it took, and released it.
    assert [(r['dry_run'], r['status']) for r in facts['staging']['runs'] if r['promotion_id'] == row['promotion_id']] == [
        (True, 'READY'), (False, 'READY')], facts['staging']['runs']
    assert row['lock_released'] is True and lock_record(orders['workdir'], LOCK_LAG_LOST_LOCK) is None, row
    rerun = orders['rerun']
    assert rerun is not None and rerun.rc == 0, rerun.output()[-4000:] if rerun else 'no rerun'
    assert summary(orders['workdir'] / 'rerun')[LOCK_LAG_LOST_LOCK]['outcome'] == 'nothing_to_promote'
    assert facts['staging']['lock'] is None and facts['staging']['config'] == facts['dev']['config']


# d. Blips while the tenant restarts.

@pytest.mark.parametrize('host, status', [(BLIPS_500, 500), (BLIPS_401, 401)])
def test_d_a_failed_read_while_the_tenant_restarts_does_not_end_the_run(orders, host, status):
    facts = orders['hosts'][host]
    blips = [e for e in facts['log'] if (e['method'], e['template']) == ('GET', '/environment/promotion/promote')
             and e['status'] == status]
    assert len(blips) == 1, [(e['template'], e['status']) for e in facts['log']]  # the restart phase's first read
    assert orders['shared'].failed(host) == 0, role_task(orders['shared'], RUN_TASK, host).get('msg')
    promoted_fully(orders, host)


# e. The seed preset: promote, roll back, promote again under one lock.

def test_e_promote_roll_back_and_promote_again_under_one_lock(orders):
    modules, facts = orders['modules'], orders['hosts'][SEED_AGAIN]
    assert modules is not None, 'no module playbook run'
    promoted, rolled_back = modules.task('Promote')['result'], modules.task('Roll back')['result']
    assert promoted['outcome'] == 'promoted' and rolled_back['outcome'] == 'rolled_back', (promoted, rolled_back)
    again = modules.task('Promote again')
    # The second promotion really runs: the tenant records a second real promotion under the same lock.
    runs = [(r['kind'], r['dry_run'], r['status']) for r in facts['staging']['runs']]
    assert runs == [('promotion', False, 'READY'), ('rollback', False, 'READY'), ('promotion', False, 'READY')], (
        runs, again['result'].get('msg'))
    assert again['outcome'] == 'ok' and again['result']['outcome'] == 'promoted', again
    assert again['result']['changed'] is True and again['result']['promotion_id'] == promoted['promotion_id']
    assert facts['staging']['config'] == facts['dev']['config']
    assert facts['staging']['lock'] is None


# f. promote_run_timeout shorter than the run.

def test_f_a_run_that_outlasts_the_timeout_keeps_its_lock_and_says_why(orders):
    facts = orders['hosts'][RUN_TIMEOUT]
    held = facts['staging']['lock']['promotionId']
    assert facts['staging']['status']['status'] == 'RUNNING', facts['staging']['status']  # the promotion goes on
    said = role_task(orders['shared'], RUN_TASK, RUN_TIMEOUT)
    assert said.get('lock_kept') == 'running' and said.get('lock_released') is False, said
    # The role leaves the lock alone: an unlock would be refused while the promotion runs.
    assert not [entry for entry in facts['log'] if (entry['method'], entry['template']) == UNLOCK], facts['writes']
    row = orders['summary'][RUN_TIMEOUT]
    assert row['outcome'] == 'failed' and row['lock_released'] is False and row['promotion_id'] == held, row
    # One story: the lock is kept because the promotion still runs, and it is named.
    assert held in row['reason'] and 'still running' in row['reason'].lower(), row['reason']
    assert 'could not be released' not in row['reason'], row['reason']
    assert lock_record(orders['workdir'], RUN_TIMEOUT)['promotion_id'] == held


# g. A lock stuck in locking.

def test_g_a_lock_stuck_in_locking_fails_after_the_lock_timeout(orders):
    facts = orders['hosts'][STUCK_LOCK]
    stuck = facts['staging']['lock']
    assert stuck and stuck['stuck'] and stuck['state'] == 'locking', stuck
    row = orders['summary'][STUCK_LOCK]
    assert row['outcome'] == 'failed' and row['promotion_id'] == stuck['promotionId'], row
    # About promote_lock_timeout (5 s) from the lock request to the last request: not three times that.
    times = [e['time'] for e in facts['log'] if not e['template'].endswith('access_token')]
    lock_sent = next(e['time'] for e in facts['log'] if (e['method'], e['template']) == LOCK)
    assert max(times) - lock_sent < 10, max(times) - lock_sent
    said = role_task(orders['shared'], RUN_TASK, STUCK_LOCK)
    assert said.get('lock_kept') == 'locking' and stuck['promotionId'] in said.get('msg', ''), said
    assert stuck['promotionId'] in row['reason'], row['reason']


# h. A status that lags a start, and a lost answer to POST /promote.

def test_h_lost_start_answers_and_a_lagging_status_start_one_promotion(orders):
    facts = orders['hosts'][STATUS_LAG_LOST_PROMOTE]
    posts = [e for e in facts['log'] if (e['method'], e['template']) == PROMOTE]
    # The dry run started as usual; the promotion was started, and its answer lost.
    assert [(e['status'], e['fault']) for e in posts[:2]] == [(202, None), (504, '504')], posts
    row = promoted_fully(orders, STATUS_LAG_LOST_PROMOTE)
    assert real_runs(facts)[0]['promotion_id'] == row['promotion_id']
    assert sum(1 for r in facts['staging']['runs'] if r['dry_run']) == 1, facts['staging']['runs']


# i. A lock that ends in error.

@pytest.mark.parametrize('task', ['Lock that fails', 'Run under a lock that fails'])
def test_i_a_lock_that_ends_in_error_is_no_change(orders, task):
    modules = orders['modules']
    assert modules is not None, 'no module playbook run'
    record = modules.task(task)
    assert record['outcome'] in ('failed', 'ignored'), record
    assert record['result']['changed'] is False, record['result']
