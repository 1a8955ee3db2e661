# -*- coding: utf-8 -*-
"""promotion_run with dry_run_first and unlock_after: the dry run, its checks, the promotion and the
release of the lock in one task, run by ansible-playbook against the simulator.

The tests share one ansible-playbook run (the module fixture ``shared``): each test's story is a host of its own, on
a tenant of its own, its steps (what were runs of their own) in order and all hosts at once; the tests assert on its
recorded results."""

from __future__ import annotations

import json

import pytest

from tests.integration.support import StepRun, admin_result, file_snapshot, lock_task, run_stories, run_task, writes, writes_in

PROMOTE = ('POST', '/environment/promotion/promote')
UNLOCK = ('DELETE', '/environment/promotion/lock/{promotionId}')

# host: tenant (one each)
TENANTS = {'one-task-rerun': 'tenant01', 'failed-check': 'tenant02', 'blocking': 'tenant03', 'under-way': 'tenant04',
           'release-upgrade': 'tenant05', 'lock-run-unlock': 'tenant06', 'foreign-lock': 'tenant07', 'lock-found': 'tenant08',
           'failure-after-lock': 'tenant09'}


def checked_run(workdir, **options):
    return run_task(name='Promote', promotion_id='{{ lock.promotion_id }}', dry_run_first=True, unlock_after=True,
                    record=str(workdir / 'lock.json'), dry_run_report_dest=[str(workdir / 'dry-run.json')],
                    report_dest=[str(workdir / 'promotion.md')], **options)


def one_task_rerun(sim, story, workdir):
    tenant = story.tenant
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'OneTask')
    tasks = [lock_task(record=str(workdir / 'lock.json')), checked_run(workdir)]
    story.step('checked', tasks, check=True)
    story.admin('Log after the check', 'request_log', tenant=tenant, env='staging')
    story.step('run', tasks)
    story.admin('Log after the run', 'request_log', tenant=tenant, env='staging')
    story.admin('After the run', 'env_state', tenant=tenant, env='staging')
    story.file('Record after the run', workdir / 'lock.json')
    story.file('Dry-run report after the run', workdir / 'dry-run.json')  # the rerun writes it again
    story.file('Promotion report after the run', workdir / 'promotion.md')
    story.step('again', tasks)
    story.admin('Log of the rerun', 'request_log', tenant=tenant, env='staging')
    story.admin('After the rerun', 'env_state', tenant=tenant, env='staging')


def failed_check(sim, story, workdir):
    sim.edit_config(story.tenant, 'dev', 'am', 'Journeys', 'add', 'NeedsEsv', esv_refs=['one.task'])
    story.step('run', [lock_task(), checked_run(workdir)])


def blocking(sim, story, workdir):
    tenant = story.tenant
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Blocked')
    sim.fail_next_promotion(tenant, 'staging', blocking=True)
    story.step('run', [lock_task(), checked_run(workdir)])
    story.admin('After the run', 'env_state', tenant=tenant, env='staging')
    story.admin('Support cleared the block', 'clear_block', tenant=tenant, upper_env='staging')


def under_way(sim, story, workdir):
    tenant = story.tenant
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Interrupted')
    sim.set_timing(tenant=tenant, restart=40)  # two seconds at the test speed: still going when the task looks
    story.step('run', [lock_task(), run_task(name='Start', promotion_id='{{ lock.promotion_id }}', wait=False), checked_run(workdir)])


def release_upgrade(sim, story, workdir):
    tenant = story.tenant
    sim.edit_config(tenant, 'staging', 'am', 'Journeys', 'add', 'NewRelease')
    sim.set_release(tenant, 'staging', '2025.9.0')
    sim.set_release(tenant, 'prod', '2025.8.2')
    story.lower = lower = sim.credentials(tenant, 'staging')
    lower_options = dict(lower_tenant_url=sim.url(tenant, 'staging'), lower_service_account_id=lower['service_account_id'],
                         lower_service_account_key=lower['service_account_key'])
    story.step('refused', [lock_task(), checked_run(workdir, **lower_options)], env='prod')
    story.admin('After the refusal', 'env_state', tenant=tenant, env='prod')
    story.admin('Log after the refusal', 'request_log', tenant=tenant, env='prod')
    story.step('allowed', [lock_task(), checked_run(workdir, allow_release_upgrade=True, **lower_options)], env='prod')


def lock_run_unlock(sim, story, workdir):
    tenant = story.tenant
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'AllInOne')
    story.record = record = workdir / 'lock.json'
    whole = run_task(name='Promote', lock=True, dry_run_first=True, unlock_after=True, record=str(record))
    story.step('checked', [whole], check=True)
    story.admin('Log after the check', 'request_log', tenant=tenant, env='staging')
    # An interrupted run left its lock and its record behind: the next run keeps that lock instead of failing on it.
    story.step('interrupted', [lock_task(record=str(record))])
    story.step('run', [whole])


def foreign_lock(sim, story, workdir):
    story.holder = sim.foreign_lock(story.tenant, 'staging')
    story.step('run', [run_task(name='Promote', lock=True, dry_run_first=True, unlock_after=True, record=str(workdir / 'lock.json'))])


def lock_found(sim, story, workdir):
    sim.edit_config(story.tenant, 'dev', 'am', 'Journeys', 'add', 'Theirs', esv_refs=['not.there'])
    story.holder = sim.foreign_lock(story.tenant, 'staging')
    story.step('run', [run_task(name='Dry run', dry_run=True, unlock_after=True)])


def failure_after_lock(sim, story, workdir):
    sim.edit_config(story.tenant, 'dev', 'am', 'Journeys', 'add', 'Refused')
    # The dry run's start fails, after the lock.
    sim.inject_fault('/environment/promotion/promote', 500, method='POST', tenant=story.tenant)
    story.step('run', [run_task(name='Promote', lock=True, dry_run_first=True)])


STORIES = {'one-task-rerun': one_task_rerun, 'failed-check': failed_check, 'blocking': blocking, 'under-way': under_way,
           'release-upgrade': release_upgrade, 'lock-run-unlock': lock_run_unlock, 'foreign-lock': foreign_lock,
           'lock-found': lock_found, 'failure-after-lock': failure_after_lock}


@pytest.fixture(scope='module')
def shared(simulator, tmp_path_factory):
    """Every story in one ansible-playbook run; the run and the stories (their hosts, with what their setup kept)."""
    workdir = tmp_path_factory.mktemp('modules-run-dry-run-first')
    return run_stories(simulator, workdir, STORIES, TENANTS) + (workdir,)


def step(shared, host, name='run'):
    return StepRun(shared[0], host, name)


def test_dry_run_then_promotion_then_unlock_in_one_task_and_rerun_unchanged(shared):
    host, shared_run = 'one-task-rerun', shared[0]
    workdir = shared[2] / host
    checked = step(shared, host, 'checked')
    assert checked.rc == 0, checked.output()
    assert checked.task('Promote')['result']['changed'] is True
    assert checked.task('Promote')['result']['real_run'] is False
    assert writes_in(admin_result(shared_run, host, 'Log after the check')) == []

    run = step(shared, host, 'run')
    assert run.rc == 0, run.output()
    result = run.task('Promote')['result']
    assert result['changed'] is True and result['real_run'] is True and result['message'] == 'Promotion completed'
    dry = result['dry_run_result']
    assert dry['status'] == 'READY' and dry['report']['dryRun'] is True and dry['summary']['added'] == 1
    assert json.loads(file_snapshot(shared_run, host, 'Dry-run report after the run')[1])['reportId'] == dry['report']['reportId']
    assert '- added: OneTask' in file_snapshot(shared_run, host, 'Promotion report after the run')[1]
    assert result['report_files'] == [str(workdir / 'dry-run.json'), str(workdir / 'promotion.md')]
    # The tenant released the lock after the promotion (the flag): no unlock request of ours, no record left.
    assert result['lock_released'] is True and file_snapshot(shared_run, host, 'Record after the run') == (False, '')
    assert [entry for entry in writes_in(admin_result(shared_run, host, 'Log after the run'))
            if entry[0] != 'POST' or entry == PROMOTE] == [PROMOTE, PROMOTE]
    after = admin_result(shared_run, host, 'After the run')
    assert after['lock'] is None
    assert 'OneTask' in json.dumps(after['config'])

    again = step(shared, host, 'again')
    assert again.rc == 0, again.output()
    result = again.task('Promote')['result']
    assert result['changed'] is False and result['real_run'] is False and result['empty'] is True
    assert 'nothing to promote' in result['msg']
    # One dry run, no promotion (no restart of the tenant's services), and our own unlock: what the log has since the run.
    rerun_log = admin_result(shared_run, host, 'Log of the rerun')[len(admin_result(shared_run, host, 'Log after the run')):]
    assert [entry for entry in writes_in(rerun_log) if entry in (PROMOTE, UNLOCK)] == [PROMOTE, UNLOCK]
    assert result['lock_released'] is True and admin_result(shared_run, host, 'After the rerun')['lock'] is None


def test_a_failed_check_stops_before_the_promotion_and_releases_the_lock(simulator, shared):
    sim, host = simulator, 'failed-check'
    tenant, workdir = TENANTS[host], shared[2] / host
    run = step(shared, host)
    assert run.rc != 0
    failure = run.task('Promote')['result']
    assert failure['missing_esvs'] == ['one.task'] and 'one.task' in failure['msg']
    assert failure['real_run'] is False and failure['lock_released'] is True
    assert (workdir / 'dry-run.json').exists() and not (workdir / 'promotion.md').exists()
    assert [entry for entry in writes(sim, tenant, 'staging') if entry in (PROMOTE, UNLOCK)] == [PROMOTE, UNLOCK]
    assert sim.env_state(tenant, 'staging')['lock'] is None


def test_a_blocking_error_keeps_the_lock(simulator, shared):
    sim, host = simulator, 'blocking'
    run = step(shared, host)
    assert run.rc != 0
    failure = run.task('Promote')['result']
    assert failure['blocking_error'] is True and failure['lock_released'] is False
    assert 'support' in failure['msg']
    assert not [entry for entry in writes(sim, TENANTS[host], 'staging') if entry == UNLOCK]
    assert admin_result(shared[0], host, 'After the run')['lock'] is not None


def test_a_promotion_already_under_way_is_attached_to_without_a_dry_run(simulator, shared):
    host = 'under-way'
    run = step(shared, host)
    assert run.rc == 0, run.output()
    result = run.task('Promote')['result']
    assert result['changed'] is True and result['real_run'] is True and result['dry_run_result'] is None
    assert result['attached'] is True and result['lock_released'] is True
    assert [entry for entry in writes(simulator, TENANTS[host], 'staging') if entry == PROMOTE] == [PROMOTE]


def test_a_promotion_that_would_upgrade_the_release_is_refused_unless_allowed(simulator, shared):
    sim, host, shared_run = simulator, 'release-upgrade', shared[0]
    tenant, lower = TENANTS[host], shared[1][host].lower
    refused = step(shared, host, 'refused')
    assert refused.rc != 0
    failure = refused.task('Promote')['result']
    assert failure['release_check']['upgrade'] is True and '2025.9.0' in failure['msg'] and 'allow_release_upgrade' in failure['msg']
    assert failure['lock_released'] is True and admin_result(shared_run, host, 'After the refusal')['lock'] is None
    # nothing started
    assert [entry for entry in writes_in(admin_result(shared_run, host, 'Log after the refusal')) if entry in (PROMOTE, UNLOCK)] == [UNLOCK]
    assert lower['service_account_key'] not in refused.output()

    allowed = step(shared, host, 'allowed')
    assert allowed.rc == 0, allowed.output()
    result = allowed.task('Promote')['result']
    assert result['changed'] is True and result['release_check']['lower_current_version'] == '2025.9.0'
    assert sim.env_state(tenant, 'prod')['release']['currentVersion'] == '2025.9.0'


def test_one_task_locks_runs_and_unlocks_and_a_rerun_keeps_the_lock_of_an_interrupted_run(simulator, shared):
    sim, host = simulator, 'lock-run-unlock'
    tenant, record = TENANTS[host], shared[1][host].record
    checked = step(shared, host, 'checked')
    assert checked.rc == 0, checked.output()
    assert checked.task('Promote')['result']['changed'] is True and writes_in(admin_result(shared[0], host, 'Log after the check')) == []

    # An interrupted run left its lock and its record behind: the next run keeps that lock instead of failing on it.
    interrupted = step(shared, host, 'interrupted')
    assert interrupted.rc == 0, interrupted.output()
    left = interrupted.task('Lock')['result']['promotion_id']
    run = step(shared, host, 'run')
    assert run.rc == 0, run.output()
    result = run.task('Promote')['result']
    assert result['resumed'] is True and result['promotion_id'] == left and result['changed'] is True
    assert result['lock_released'] is True and not record.exists() and sim.env_state(tenant, 'staging')['lock'] is None
    assert [entry for entry in writes(sim, tenant, 'staging') if entry == ('POST', '/environment/promotion/lock')] == [
        ('POST', '/environment/promotion/lock')]


def test_one_task_never_touches_a_lock_held_by_another_promotion(simulator, shared):
    sim, host = simulator, 'foreign-lock'
    tenant, holder = TENANTS[host], shared[1][host].holder
    run = step(shared, host)
    assert run.rc != 0
    failure = run.task('Promote')['result']
    assert failure['holder'] == holder and holder in failure['msg'] and 'lock_released' not in failure
    assert [entry for entry in writes(sim, tenant, 'staging') if entry[0] in ('DELETE', 'POST')
            and entry[1] != '/environment/promotion/lock'] == []
    assert sim.env_state(tenant, 'staging')['lock'] is not None


def test_unlock_after_never_releases_a_lock_it_merely_found(simulator, shared):
    sim, host = simulator, 'lock-found'
    tenant, holder = TENANTS[host], shared[1][host].holder
    run = step(shared, host)
    assert run.rc != 0
    failure = run.task('Dry run')['result']
    assert failure['missing_esvs'] == ['not.there'] and 'lock_released' not in failure
    assert UNLOCK not in writes(sim, tenant, 'staging')
    assert sim.env_state(tenant, 'staging')['lock']['promotionId'] == holder


def test_a_failure_after_the_lock_names_it_so_that_it_can_be_released(simulator, shared):
    sim, host = simulator, 'failure-after-lock'
    run = step(shared, host)
    assert run.rc != 0
    failure = run.task('Promote')['result']
    assert 'HTTP 500' in failure['msg'] and 'Traceback' not in failure['msg']
    lock = sim.env_state(TENANTS[host], 'staging')['lock']
    assert lock is not None and failure['promotion_id'] == lock['promotionId']
