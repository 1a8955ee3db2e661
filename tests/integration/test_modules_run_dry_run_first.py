# -*- coding: utf-8 -*-
"""promotion_run with dry_run_first and unlock_after: the dry run, its checks, the promotion and the
release of the lock in one task, run by ansible-playbook against the simulator."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.support import lock_task, promotion_play, run_task, writes

PROMOTE = ('POST', '/environment/promotion/promote')
UNLOCK = ('DELETE', '/environment/promotion/lock/{promotionId}')


def checked_run(tmp_path, **options):
    return run_task(name='Promote', promotion_id='{{ lock.promotion_id }}', dry_run_first=True, unlock_after=True,
                    record=str(tmp_path / 'lock.json'), dry_run_report_dest=[str(tmp_path / 'dry-run.json')],
                    report_dest=[str(tmp_path / 'promotion.md')], **options)


def test_dry_run_then_promotion_then_unlock_in_one_task_and_rerun_unchanged(simulator, playbook, tmp_path):
    sim, tenant = simulator, 'tenant01'
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'OneTask')
    play = promotion_play(sim, tenant, 'staging', [lock_task(record=str(tmp_path / 'lock.json')), checked_run(tmp_path)])

    checked = playbook(play, check=True)
    assert checked.rc == 0, checked.output()
    assert checked.task('Promote')['result']['changed'] is True
    assert checked.task('Promote')['result']['real_run'] is False
    assert writes(sim, tenant, 'staging') == []

    run = playbook(play)
    assert run.rc == 0, run.output()
    result = run.task('Promote')['result']
    assert result['changed'] is True and result['real_run'] is True and result['message'] == 'Promotion completed'
    dry = result['dry_run_result']
    assert dry['status'] == 'READY' and dry['report']['dryRun'] is True and dry['summary']['added'] == 1
    assert json.loads((tmp_path / 'dry-run.json').read_text())['reportId'] == dry['report']['reportId']
    assert '- added: OneTask' in (tmp_path / 'promotion.md').read_text()
    assert result['report_files'] == [str(tmp_path / 'dry-run.json'), str(tmp_path / 'promotion.md')]
    # The tenant released the lock after the promotion (the flag): no unlock request of ours, no record left.
    assert result['lock_released'] is True and not (tmp_path / 'lock.json').exists()
    assert [entry for entry in writes(sim, tenant, 'staging') if entry[0] != 'POST' or entry == PROMOTE] == [PROMOTE, PROMOTE]
    assert sim.env_state(tenant, 'staging')['lock'] is None
    assert 'OneTask' in json.dumps(sim.env_state(tenant, 'staging')['config'])

    sim.reset_log()
    again = playbook(play)
    assert again.rc == 0, again.output()
    result = again.task('Promote')['result']
    assert result['changed'] is False and result['real_run'] is False and result['empty'] is True
    assert 'nothing to promote' in result['msg']
    # One dry run, no promotion (no restart of the tenant's services), and our own unlock.
    assert [entry for entry in writes(sim, tenant, 'staging') if entry in (PROMOTE, UNLOCK)] == [PROMOTE, UNLOCK]
    assert result['lock_released'] is True and sim.env_state(tenant, 'staging')['lock'] is None


def test_a_failed_check_stops_before_the_promotion_and_releases_the_lock(simulator, playbook, tmp_path):
    sim, tenant = simulator, 'tenant02'
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'NeedsEsv', esv_refs=['one.task'])
    run = playbook(promotion_play(sim, tenant, 'staging', [lock_task(), checked_run(tmp_path)]))
    assert run.rc != 0
    failure = run.task('Promote')['result']
    assert failure['missing_esvs'] == ['one.task'] and 'one.task' in failure['msg']
    assert failure['real_run'] is False and failure['lock_released'] is True
    assert Path(tmp_path / 'dry-run.json').exists() and not Path(tmp_path / 'promotion.md').exists()
    assert [entry for entry in writes(sim, tenant, 'staging') if entry in (PROMOTE, UNLOCK)] == [PROMOTE, UNLOCK]
    assert sim.env_state(tenant, 'staging')['lock'] is None


def test_a_blocking_error_keeps_the_lock(simulator, playbook, tmp_path):
    sim, tenant = simulator, 'tenant03'
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Blocked')
    sim.fail_next_promotion(tenant, 'staging', blocking=True)
    try:
        run = playbook(promotion_play(sim, tenant, 'staging', [lock_task(), checked_run(tmp_path)]))
        assert run.rc != 0
        failure = run.task('Promote')['result']
        assert failure['blocking_error'] is True and failure['lock_released'] is False
        assert 'support' in failure['msg']
        assert not [entry for entry in writes(sim, tenant, 'staging') if entry == UNLOCK]
        assert sim.env_state(tenant, 'staging')['lock'] is not None
    finally:
        sim.clear_block(tenant, 'staging')


def test_a_promotion_already_under_way_is_attached_to_without_a_dry_run(simulator, playbook, tmp_path):
    sim, tenant = simulator, 'tenant04'
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Interrupted')
    sim.set_timing(restart=40)  # two seconds at the test speed: still going when the task looks
    try:
        run = playbook(promotion_play(sim, tenant, 'staging', [
            lock_task(), run_task(name='Start', promotion_id='{{ lock.promotion_id }}', wait=False), checked_run(tmp_path)]))
    finally:
        sim.set_timing(restart=3)
    assert run.rc == 0, run.output()
    result = run.task('Promote')['result']
    assert result['changed'] is True and result['real_run'] is True and result['dry_run_result'] is None
    assert result['attached'] is True and result['lock_released'] is True
    assert [entry for entry in writes(sim, tenant, 'staging') if entry == PROMOTE] == [PROMOTE]


def test_a_promotion_that_would_upgrade_the_release_is_refused_unless_allowed(simulator, playbook, tmp_path):
    sim, tenant = simulator, 'tenant05'
    sim.edit_config(tenant, 'staging', 'am', 'Journeys', 'add', 'NewRelease')
    sim.set_release(tenant, 'staging', '2025.9.0')
    sim.set_release(tenant, 'prod', '2025.8.2')
    lower = sim.credentials(tenant, 'staging')
    lower_options = dict(lower_tenant_url=sim.url(tenant, 'staging'), lower_service_account_id=lower['service_account_id'],
                         lower_service_account_key=lower['service_account_key'])

    refused = playbook(promotion_play(sim, tenant, 'prod', [lock_task(), checked_run(tmp_path, **lower_options)]))
    assert refused.rc != 0
    failure = refused.task('Promote')['result']
    assert failure['release_check']['upgrade'] is True and '2025.9.0' in failure['msg'] and 'allow_release_upgrade' in failure['msg']
    assert failure['lock_released'] is True and sim.env_state(tenant, 'prod')['lock'] is None
    assert [entry for entry in writes(sim, tenant, 'prod') if entry in (PROMOTE, UNLOCK)] == [UNLOCK]  # nothing started
    assert lower['service_account_key'] not in refused.output()

    allowed = playbook(promotion_play(sim, tenant, 'prod', [lock_task(), checked_run(tmp_path, allow_release_upgrade=True,
                                                                                     **lower_options)]))
    assert allowed.rc == 0, allowed.output()
    result = allowed.task('Promote')['result']
    assert result['changed'] is True and result['release_check']['lower_current_version'] == '2025.9.0'
    assert sim.env_state(tenant, 'prod')['release']['currentVersion'] == '2025.9.0'


def test_one_task_locks_runs_and_unlocks_and_a_rerun_keeps_the_lock_of_an_interrupted_run(simulator, playbook, tmp_path):
    sim, tenant = simulator, 'tenant06'
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'AllInOne')
    record = tmp_path / 'lock.json'
    whole = run_task(name='Promote', lock=True, dry_run_first=True, unlock_after=True, record=str(record))

    checked = playbook(promotion_play(sim, tenant, 'staging', [whole]), check=True)
    assert checked.rc == 0, checked.output()
    assert checked.task('Promote')['result']['changed'] is True and writes(sim, tenant, 'staging') == []

    # An interrupted run left its lock and its record behind: the next run keeps that lock instead of failing on it.
    interrupted = playbook(promotion_play(sim, tenant, 'staging', [lock_task(record=str(record))]))
    assert interrupted.rc == 0, interrupted.output()
    left = interrupted.task('Lock')['result']['promotion_id']
    run = playbook(promotion_play(sim, tenant, 'staging', [whole]))
    assert run.rc == 0, run.output()
    result = run.task('Promote')['result']
    assert result['resumed'] is True and result['promotion_id'] == left and result['changed'] is True
    assert result['lock_released'] is True and not record.exists() and sim.env_state(tenant, 'staging')['lock'] is None
    assert [entry for entry in writes(sim, tenant, 'staging') if entry == ('POST', '/environment/promotion/lock')] == [
        ('POST', '/environment/promotion/lock')]


def test_one_task_never_touches_a_lock_held_by_another_promotion(simulator, playbook, tmp_path):
    sim, tenant = simulator, 'tenant07'
    holder = sim.foreign_lock(tenant, 'staging')
    run = playbook(promotion_play(sim, tenant, 'staging', [
        run_task(name='Promote', lock=True, dry_run_first=True, unlock_after=True, record=str(tmp_path / 'lock.json'))]))
    assert run.rc != 0
    failure = run.task('Promote')['result']
    assert failure['holder'] == holder and holder in failure['msg'] and 'lock_released' not in failure
    assert [entry for entry in writes(sim, tenant, 'staging') if entry[0] in ('DELETE', 'POST')
            and entry[1] != '/environment/promotion/lock'] == []
    assert sim.env_state(tenant, 'staging')['lock'] is not None


def test_unlock_after_never_releases_a_lock_it_merely_found(simulator, playbook):
    sim, tenant = simulator, 'tenant08'
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Theirs', esv_refs=['not.there'])
    holder = sim.foreign_lock(tenant, 'staging')
    run = playbook(promotion_play(sim, tenant, 'staging', [run_task(name='Dry run', dry_run=True, unlock_after=True)]))
    assert run.rc != 0
    failure = run.task('Dry run')['result']
    assert failure['missing_esvs'] == ['not.there'] and 'lock_released' not in failure
    assert UNLOCK not in writes(sim, tenant, 'staging')
    assert sim.env_state(tenant, 'staging')['lock']['promotionId'] == holder


def test_a_failure_after_the_lock_names_it_so_that_it_can_be_released(simulator, playbook, tmp_path):
    sim, tenant = simulator, 'tenant09'
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Refused')
    sim.inject_fault('/environment/promotion/promote', 500, method='POST')  # the dry run's start fails, after the lock
    try:
        run = playbook(promotion_play(sim, tenant, 'staging', [run_task(name='Promote', lock=True, dry_run_first=True)]))
    finally:
        sim.clear_faults()
    assert run.rc != 0
    failure = run.task('Promote')['result']
    assert 'HTTP 500' in failure['msg'] and 'Traceback' not in failure['msg']
    lock = sim.env_state(tenant, 'staging')['lock']
    assert lock is not None and failure['promotion_id'] == lock['promotionId']
