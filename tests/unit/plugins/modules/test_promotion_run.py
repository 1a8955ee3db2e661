# -*- coding: utf-8 -*-
"""promotion_run's own functions: which options go together, and release check -> lock -> run -> unlock, against a
stand-in module and a stand-in ``Promotions`` (``support``). The run results are those ``Promotions.run`` returns,
built as ``test_results`` builds them; the result mapping itself (``task_result``) is the real one."""

from __future__ import annotations

import json

import pytest

from ansible_collections.idcloud.promotions.plugins.module_utils import _states as states
from ansible_collections.idcloud.promotions.plugins.module_utils._errors import PromotionError, PromotionsApiError
from ansible_collections.idcloud.promotions.plugins.module_utils._module import flat_status
from ansible_collections.idcloud.promotions.plugins.module_utils._service import RELEASE_SCOPE, Promotions
from ansible_collections.idcloud.promotions.plugins.modules import promotion_run as m

from tests.unit.plugins.module_utils.test_results import COMPLETED, MISSING_ESVS, NO_CHANGE, OURS, finished, predicted, report
from tests.unit.plugins.module_utils.test_service import BLOCKING, NEW, THEIRS, api_error, failure
from tests.unit.plugins.modules.support import LOWER_URL, FakeModule, FakePromotions, WritingModule, lock_body, locked_result, module_params

RECORD = '/reports/staging/.lock.json'
ROLLED_BACK = dict(status='READY', message='Rollback completed')


def options(**params):
    return module_params(m.ARGUMENT_SPEC, lower_connection=True, **params)


def task_of(answers=None, check_mode=False, diff=False, **params):
    """A promotion_run task with these options; ``answers`` are those of its upper environment's service."""
    return FakeModule(options(**params), check_mode=check_mode, diff=diff, upper=FakePromotions('upper', check_mode, **(answers or {})))


def releases(upper='2025.8.2', lower='2025.8.2'):
    """What ``compare_releases`` returns with the lower environment given."""
    return dict(release=dict(currentVersion=upper), current_version=upper, next_upgrade=None, lower_current_version=lower,
                lower_next_upgrade=None, upgrade=upper != lower)


def no_release_scope():
    return PromotionsApiError('insufficient_scope', status=403, method='GET', path='/environment/release', missing_scope=True)


def timed_out():
    """What ``Promotions.run`` raises when the run outlasts wait_timeout: it goes on in the tenant."""
    status = states.Status(dict(status='RUNNING', message='Prepare config', promotionId=OURS))
    return PromotionError('Timed out after 3600 s; the promotion is still RUNNING (Prepare config) on the tenant and the lock '
                          'stays in place.', status=status.as_dict(), history=[], promotion_id=OURS)


def refused_on_a_blocked_status():
    """What ``Promotions.run`` raises when the status shows an earlier blocking failure (``plan_run`` says FAIL)."""
    status = states.Status(dict(BLOCKING, promotionId=OURS))
    return PromotionError(states.blocked_message(OURS), status=status.as_dict(), lock=lock_body(OURS))


def refused_to_start():
    """What ``Promotions.run`` raises on a 409 to the start that is not a blocked environment."""
    status = states.Status(dict(status='READY', message='Environment ready for promotion', promotionId=OURS))
    return PromotionError('The tenant refused to start the promotion: Conflict.', error=api_error(409).to_dict(), status=status.as_dict())


# refused_combination
@pytest.mark.parametrize('params, words', [
    (dict(dry_run=True, dry_run_first=True), 'dry_run and dry_run_first exclude each other'),
    (dict(dry_run_first=True, wait=False), 'dry_run_first needs wait: true'),
    (dict(operation='rollback', dry_run=True, dry_run_first=True), 'dry_run and dry_run_first exclude each other'),
], ids=['dry_run and dry_run_first', 'dry_run_first without wait', 'rollback with both'])
def test_options_that_exclude_each_other_are_refused_saying_why(params, words):
    assert m.refused_combination(options(**params)).startswith(words)


@pytest.mark.parametrize('params', [
    dict(), dict(operation='rollback', wait=False), dict(dry_run=True, wait=False),
    dict(dry_run_first=True, lock=True, unlock_after=True), dict(operation='rollback', lock=True, unlock_after=True),
], ids=['defaults', 'rollback without wait', 'dry run without wait', 'dry_run_first with lock', 'rollback with lock'])
def test_options_that_go_together_are_not_refused(params):
    assert m.refused_combination(options(**params)) is None


# release_check
@pytest.mark.parametrize('params', [
    dict(operation='rollback', lower_tenant_url=LOWER_URL), dict(dry_run=True, lower_tenant_url=LOWER_URL), dict(),
], ids=['rollback', 'dry run', 'no lower environment'])
def test_no_release_check_for_a_rollback_a_dry_run_or_without_the_lower_environment(params):
    task = task_of(**params)
    assert m.release_check(task) is None
    assert (task.connections, task.upper.calls, task.lower.calls) == ([], [], [])


def test_the_releases_of_both_environments_are_compared_with_the_release_scope():
    task = task_of(dict(compare_releases=releases()), lower_tenant_url=LOWER_URL)
    check = m.release_check(task)
    assert task.connections == [('upper', dict(scope=RELEASE_SCOPE)), ('lower', dict(scope=RELEASE_SCOPE))]
    assert task.upper.arguments('compare_releases') == [dict(lower=task.lower)]
    assert (check['skipped'], check['upgrade'], check['lower_current_version']) == (False, False, '2025.8.2')
    assert task.warnings == []


def test_a_promotion_that_would_upgrade_the_release_is_refused_unless_allowed():
    refused = task_of(dict(compare_releases=releases(lower='2025.9.0')), lower_tenant_url=LOWER_URL)
    error = failure(m.release_check, refused)
    assert '2025.9.0' in error.message and 'allow_release_upgrade' in error.message
    assert (error.result['release_check']['upgrade'], error.result['real_run']) == (True, False)

    allowed = task_of(dict(compare_releases=releases(lower='2025.9.0')), lower_tenant_url=LOWER_URL, allow_release_upgrade=True)
    check = m.release_check(allowed)
    assert (check['upgrade'], check['skipped'], check['lower_current_version']) == (True, False, '2025.9.0')


def test_without_the_release_scope_the_check_is_skipped_with_a_warning():
    task = task_of(dict(compare_releases=no_release_scope()), lower_tenant_url=LOWER_URL)
    check = m.release_check(task)
    assert (check['skipped'], check['missing_scope']) == (True, RELEASE_SCOPE)
    assert task.warnings == [check['warning']]
    assert check['warning'].startswith('Release check skipped') and RELEASE_SCOPE in check['warning']


def test_without_the_release_scope_a_required_check_fails_without_a_warning():
    task = task_of(dict(compare_releases=no_release_scope()), lower_tenant_url=LOWER_URL, require_release_check=True)
    error = failure(m.release_check, task)
    assert 'require_release_check' in error.message and 'nothing was locked' in error.message
    assert error.result['release_check'] == dict(skipped=True, missing_scope=RELEASE_SCOPE)
    assert task.warnings == []


def test_a_release_read_that_fails_for_another_reason_is_raised_as_it_is():
    broken = api_error(500, 'Internal error')
    task = task_of(dict(compare_releases=broken), lower_tenant_url=LOWER_URL)
    with pytest.raises(PromotionsApiError) as caught:
        m.release_check(task)
    assert caught.value is broken


# take_lock
@pytest.mark.parametrize('promotion_id', [OURS, None])
def test_without_lock_the_given_lock_is_used_and_nothing_is_locked(promotion_id):
    task = task_of(promotion_id=promotion_id, record=RECORD)
    assert m.take_lock(task, task.upper) == (promotion_id, False)
    assert task.upper.calls == []


def test_with_lock_the_lock_is_kept_or_taken_waiting_up_to_lock_timeout_even_without_wait():
    """``wait`` is about the run: the lock is always waited for, since nothing can run before it is held."""
    task = task_of(dict(keep_or_lock=locked_result(OURS, changed=False, resumed=True)), lock=True, record=RECORD,
                   promotion_id=OURS, lock_timeout=120, wait_for_release=True, wait=False)
    assert m.take_lock(task, task.upper) == (OURS, True)
    assert task.upper.arguments('keep_or_lock') == [dict(record_path=RECORD, promotion_id=OURS, wait=True, wait_timeout=120,
                                                         wait_for_release=True)]


def test_with_lock_a_new_lock_is_returned_not_resumed():
    task = task_of(dict(keep_or_lock=locked_result(NEW)), lock=True)
    assert m.take_lock(task, task.upper) == (NEW, False)
    assert task.upper.arguments('keep_or_lock') == [dict(record_path=None, promotion_id=None, wait=True, wait_timeout=900,
                                                         wait_for_release=False)]


# saved_reports
@pytest.mark.parametrize('run', [None, predicted(True)], ids=['no run', 'no report'])
def test_no_report_no_file(run):
    task = task_of()
    assert m.saved_reports(task, run, ['p.json']) == []
    assert task.reports == []


@pytest.mark.parametrize('dry_run', [True, False])
def test_the_report_goes_to_every_dest_saying_whether_it_is_a_dry_run(dry_run):
    task = task_of()
    run = finished(COMPLETED, dry_run=dry_run, the_report=report(dry=dry_run))
    dests = ['p.json', 'p.md']
    saved = m.saved_reports(task, run, dests)
    assert saved == dests and saved is not dests
    assert task.reports == [dict(dest=dest, report=run['report'], fmt=None, dry_run=dry_run) for dest in dests]


@pytest.mark.parametrize('check_mode', [False, True])
def test_a_report_file_is_written_only_outside_check_mode(tmp_path, check_mode):
    task = WritingModule(options(), check_mode=check_mode)
    dest = tmp_path / 'promotion.json'
    run = finished(COMPLETED, the_report=report())
    assert m.saved_reports(task, run, [str(dest)]) == ([] if check_mode else [str(dest)])
    assert dest.exists() is not check_mode
    if not check_mode:
        assert json.loads(dest.read_text()) == run['report']


# run
def test_a_promotion_runs_under_the_lock_with_the_body_the_options_give():
    real = finished(COMPLETED, the_report=report())
    task = task_of(dict(run=real), unlock_after=True, promoter='ci', description='Release 42', ticket_reference='CHG-1234',
                   wait_timeout=600, report_dest=['p.json', 'p.md'])
    result, passed = m.run(task, task.upper, OURS)
    assert task.upper.arguments('run') == [dict(
        operation='promote', dry_run=False, promotion_id=OURS, wait=True, wait_timeout=600, ignore_encrypted_secrets=False,
        body=dict(unlockEnvironmentsAfterPromotion=True, ignoreEncryptedSecrets=False, promoter='ci',
                  promotionDescription='Release 42', zendeskTicketReference='CHG-1234'))]
    assert task.upper.names == ['run']
    assert passed is True
    assert (result['outcome'], result['changed'], result['real_run'], result['status']) == ('promoted', True, True, 'READY')
    assert (result['report'], result['report_files'], result['dry_run_result']) == (real['report'], ['p.json', 'p.md'], None)
    assert [(written['dest'], written['dry_run']) for written in task.reports] == [('p.json', False), ('p.md', False)]
    assert 'diff' not in result


def test_ignore_encrypted_secrets_goes_into_the_body_and_to_the_run():
    task = task_of(dict(run=finished(COMPLETED, the_report=report())), ignore_encrypted_secrets=True)
    m.run(task, task.upper, OURS)
    (arguments,) = task.upper.arguments('run')
    assert (arguments['body']['ignoreEncryptedSecrets'], arguments['ignore_encrypted_secrets']) == (True, True)


def test_a_rollback_sends_no_encrypted_secrets_flag_and_is_rolled_back():
    task = task_of(dict(run=finished(ROLLED_BACK, the_report=report(kind='rollback'), operation='rollback')),
                   operation='rollback', ignore_encrypted_secrets=True)
    result, passed = m.run(task, task.upper, OURS)
    (arguments,) = task.upper.arguments('run')
    assert (arguments['operation'], arguments['body']) == ('rollback', dict(unlockEnvironmentsAfterPromotion=False))
    assert (passed, result['outcome'], result['type']) == (True, 'rolled_back', 'rollback')


def test_a_dry_run_only_changes_nothing_and_its_report_says_dry_run():
    task = task_of(dict(run=finished(COMPLETED, dry_run=True, the_report=report(dry=True))), dry_run=True, report_dest=['dry.md'])
    result, passed = m.run(task, task.upper, OURS)
    assert task.upper.arguments('run')[0]['dry_run'] is True
    assert (passed, result['outcome'], result['real_run'], result['changed']) == (True, 'dry_run_only', False, False)
    assert [(written['dest'], written['dry_run']) for written in task.reports] == [('dry.md', True)]


def test_without_wait_the_run_is_only_started_and_no_report_is_written():
    task = task_of(dict(run=predicted(True)), wait=False, report_dest=['p.md'])
    result, passed = m.run(task, task.upper, OURS)
    assert task.upper.arguments('run')[0]['wait'] is False
    assert passed is True and 'msg' not in result
    assert (result['report'], result['report_files'], task.reports) == (None, [], [])


def test_a_failed_run_does_not_pass_and_its_report_is_written_all_the_same():
    """Missing ESVs: the report goes with the fix."""
    task = task_of(dict(run=finished(MISSING_ESVS, the_report=report())), report_dest=['p.md'])
    result, passed = m.run(task, task.upper, OURS)
    assert passed is False
    assert (result['outcome'], result['status'], result['missing_esvs']) == ('failed', 'ERROR', ['esv.email.from', 'esv.smtp.host'])
    assert result['msg'].startswith('The promotion stopped on missing ESVs')
    assert [written['dest'] for written in task.reports] == ['p.md'] and result['report_files'] == ['p.md']


def test_dry_run_first_runs_the_dry_run_then_the_promotion_and_writes_each_report_to_its_own_dests():
    dry = finished(COMPLETED, dry_run=True, the_report=report(number=1, dry=True))
    real = finished(COMPLETED, the_report=report(number=2, dry=False))
    task = task_of(dict(promote_after_dry_run=(dry, real)), dry_run_first=True, skip_if_unchanged=False, ignore_encrypted_secrets=True,
                   wait_timeout=1200, promoter='ci', dry_run_report_dest=['dry.md'], report_dest=['p.md'])
    result, passed = m.run(task, task.upper, OURS)
    assert task.upper.names == ['promote_after_dry_run']
    assert task.upper.arguments('promote_after_dry_run') == [dict(
        body=dict(unlockEnvironmentsAfterPromotion=False, ignoreEncryptedSecrets=True, promoter='ci'), promotion_id=OURS,
        wait_timeout=1200, ignore_encrypted_secrets=True, skip_if_unchanged=False)]
    assert [(written['dest'], written['report']['reportId'], written['dry_run']) for written in task.reports] == [
        ('dry.md', 'report-1', True), ('p.md', 'report-2', False)]
    assert (passed, result['outcome'], result['real_run']) == (True, 'promoted', True)
    assert result['report_files'] == ['dry.md', 'p.md']
    assert (result['report'], result['dry_run_result']['report']) == (real['report'], dry['report'])


def test_dry_run_first_that_found_nothing_writes_no_promotion_report():
    dry = finished(NO_CHANGE, dry_run=True, the_report=report(changes={}, dry=True))
    task = task_of(dict(promote_after_dry_run=(dry, None)), dry_run_first=True, dry_run_report_dest=['dry.md'], report_dest=['p.md'])
    result, passed = m.run(task, task.upper, OURS)
    assert (passed, result['outcome'], result['real_run'], result['changed']) == (True, 'nothing_to_promote', False, False)
    assert [written['dest'] for written in task.reports] == ['dry.md'] and result['report_files'] == ['dry.md']


@pytest.mark.parametrize('params, prediction, expected', [
    (dict(lower_tenant_url=LOWER_URL), predicted(True, the_report=report()), dict(operation='promote', dry_run=False, outcome='would_promote')),
    (dict(dry_run_first=True, lower_tenant_url=LOWER_URL), predicted(True), dict(operation='promote', dry_run=False, outcome='would_promote')),
    (dict(dry_run=True), predicted(False), dict(operation='promote', dry_run=True, outcome='nothing_to_promote')),
    (dict(operation='rollback'), predicted(True), dict(operation='rollback', dry_run=False, outcome='would_roll_back')),
], ids=['promote', 'dry_run_first', 'dry run', 'rollback'])
def test_check_mode_predicts_from_the_preview_and_starts_nothing(params, prediction, expected):
    task = task_of(dict(predict=prediction), check_mode=True, unlock_after=True, **params)
    result, passed = m.run(task, task.upper, OURS)
    assert task.upper.names == ['predict']
    lower = task.lower if params.get('lower_tenant_url') else None
    assert task.upper.arguments('predict') == [dict(operation=expected['operation'], dry_run=expected['dry_run'], promotion_id=OURS, lower=lower)]
    assert (passed, result['outcome'], result['real_run']) == (True, expected['outcome'], False)
    assert isinstance(result['status'], str)


@pytest.mark.parametrize('diff', [True, False])
def test_diff_mode_shows_the_report_of_the_run(diff):
    task = task_of(dict(run=finished(COMPLETED, the_report=report())), diff=diff)
    result, _passed = m.run(task, task.upper, OURS)
    if diff:
        assert result['diff']['prepared'].splitlines()[0] == '# Promotion report'
    else:
        assert 'diff' not in result


# unlock
@pytest.mark.parametrize('params, check_mode, lock_id', [
    (dict(unlock_after=False), False, OURS),
    (dict(unlock_after=True, wait=False), False, OURS),
    (dict(unlock_after=True), True, OURS),
    (dict(unlock_after=True), False, None),
], ids=['without unlock_after', 'without wait', 'check mode', 'no lock of its own'])
def test_unlock_releases_nothing_unless_asked_and_holding_a_lock(params, check_mode, lock_id):
    task = task_of(check_mode=check_mode, **params)
    result = dict(status='READY')
    m.unlock(task, task.upper, lock_id, result)
    assert task.upper.calls == []
    assert result == dict(status='READY')


def test_unlock_releases_the_tasks_own_lock_and_adds_what_happened():
    answer = dict(lock_released=False, unlock_error='refused', blocked=False)
    task = task_of(dict(unlock_after_run=answer), unlock_after=True, record=RECORD, lock_timeout=60)
    result = dict(status='READY', outcome='promoted')
    m.unlock(task, task.upper, OURS, result)
    (arguments,) = task.upper.arguments('unlock_after_run')
    assert (arguments['promotion_id'], arguments['record_path'], arguments['lock_timeout']) == (OURS, RECORD, 60)
    assert arguments['run_result'] is result
    assert result == dict(status='READY', outcome='promoted', lock_released=False, unlock_error='refused', blocked=False)


# promote: the straight line
def test_promote_runs_under_the_given_lock_and_names_it_for_any_failure():
    task = task_of(dict(run=finished(COMPLETED, the_report=report())), promotion_id=OURS)
    result = m.promote(task)
    assert task.upper.names == ['run'] and task.upper.arguments('run')[0]['promotion_id'] == OURS
    assert task.connections == [('upper', {})]  # no release check: no other service was made
    assert (result['outcome'], result['resumed'], result['status']) == ('promoted', False, 'READY')
    assert 'release_check' not in result and 'lock_released' not in result
    assert task.failure_facts == dict(promotion_id=OURS)


@pytest.mark.parametrize('locked, resumed', [(locked_result(NEW), False), (locked_result(OURS, changed=False, resumed=True), True)],
                         ids=['new lock', 'recorded lock kept'])
def test_one_task_locks_runs_and_releases_its_lock(locked, resumed):
    lock_id = locked['promotion_id']
    real = dict(finished(COMPLETED, the_report=report()), promotion_id=lock_id)
    task = task_of(dict(keep_or_lock=locked, run=real), lock=True, unlock_after=True, record=RECORD, lock_timeout=300)
    result = m.promote(task)
    assert task.upper.names == ['keep_or_lock', 'run', 'unlock_after_run']
    assert task.upper.arguments('run')[0]['promotion_id'] == lock_id
    assert task.upper.arguments('run')[0]['body']['unlockEnvironmentsAfterPromotion'] is True
    (released,) = task.upper.arguments('unlock_after_run')
    assert (released['promotion_id'], released['record_path'], released['lock_timeout']) == (lock_id, RECORD, 300)
    assert (result['outcome'], result['promotion_id'], result['resumed'], result['lock_released']) == ('promoted', lock_id, resumed, True)
    assert task.failure_facts == dict(promotion_id=lock_id)


@pytest.mark.parametrize('answer', [
    finished(COMPLETED, the_report=report()), finished(MISSING_ESVS, the_report=report()), timed_out(), refused_to_start(),
], ids=['promoted', 'failed run', 'timed out', 'refused'])
def test_unlock_after_never_releases_a_lock_merely_found_in_place(answer):
    """No lock option, no promotion_id: the run works under whatever lock is there, and leaves it."""
    task = task_of(dict(run=answer), unlock_after=True)
    try:
        result = m.promote(task)
    except PromotionError as exc:
        result = exc.result
        assert result['outcome'] == 'failed'
    assert 'unlock_after_run' not in task.upper.names and 'lock_released' not in result
    assert task.upper.arguments('run')[0]['promotion_id'] is None


def test_unlock_after_releases_the_given_lock_after_a_failed_run_and_fails_with_the_outcome():
    task = task_of(dict(run=finished(MISSING_ESVS, the_report=report())), promotion_id=OURS, unlock_after=True)
    error = failure(m.promote, task)
    assert task.upper.names == ['run', 'unlock_after_run']
    assert task.upper.arguments('unlock_after_run')[0]['promotion_id'] == OURS
    assert error.message.startswith('The promotion stopped on missing ESVs')
    assert 'msg' not in error.result
    assert (error.result['outcome'], error.result['status'], error.result['promotion_id'], error.result['lock_released']) == (
        'failed', 'ERROR', OURS, True)


def test_a_failure_after_the_lock_was_taken_names_it_and_releases_it_with_unlock_after():
    refused = refused_to_start()
    task = task_of(dict(keep_or_lock=locked_result(NEW), run=refused), lock=True, unlock_after=True, record=RECORD)
    error = failure(m.promote, task)
    assert error is not refused and error.message == refused.message
    assert (error.result['promotion_id'], error.result['outcome'], error.result['lock_released']) == (NEW, 'failed', True)
    assert task.upper.names == ['keep_or_lock', 'run', 'unlock_after_run']
    (released,) = task.upper.arguments('unlock_after_run')
    assert (released['promotion_id'], released['run_result'], released['record_path']) == (NEW, error.result, RECORD)
    assert task.failure_facts == dict(promotion_id=NEW)


def test_without_unlock_after_a_failure_after_the_lock_keeps_it_and_names_it():
    task = task_of(dict(keep_or_lock=locked_result(NEW), run=refused_to_start()), lock=True)
    error = failure(m.promote, task)
    assert (error.result['promotion_id'], error.result['outcome']) == (NEW, 'failed')
    assert 'lock_released' not in error.result
    assert task.upper.names == ['keep_or_lock', 'run']


def test_a_failure_naming_the_lock_it_saw_keeps_that_name():
    """A run that timed out names the lock it ran under; ``setdefault`` does not replace it."""
    task = task_of(dict(run=timed_out()), promotion_id=OURS)
    error = failure(m.promote, task)
    assert (error.result['promotion_id'], error.result['outcome']) == (OURS, 'failed')
    assert error.message.startswith('Timed out after 3600 s')


def test_a_lock_held_by_another_promotion_fails_naming_it_and_runs_nothing():
    held = PromotionError(states.held_message(states.LockState(lock_body(THEIRS))), lock=lock_body(THEIRS), holder=THEIRS)
    task = task_of(dict(keep_or_lock=held), lock=True, unlock_after=True)
    error = failure(m.promote, task)
    assert (error.result['holder'], error.result['promotion_id'], error.result['outcome']) == (THEIRS, None, 'failed')
    assert THEIRS in error.message
    assert task.upper.names == ['keep_or_lock']  # nothing run, nothing released
    assert task.failure_facts == {}


def test_a_lock_to_resume_that_another_promotion_replaced_is_not_claimed_nor_released():
    """promotion_id names the lock of an interrupted run to finish; another promotion holds the environments now."""
    held = PromotionError(states.held_message(states.LockState(lock_body(THEIRS)), OURS), lock=lock_body(THEIRS), holder=THEIRS)
    task = task_of(dict(keep_or_lock=held), lock=True, unlock_after=True, promotion_id=OURS)
    error = failure(m.promote, task)
    assert (error.result['holder'], error.result['promotion_id']) == (THEIRS, None)
    assert task.upper.names == ['keep_or_lock'] and task.upper.arguments('keep_or_lock')[0]['promotion_id'] == OURS


def test_a_lock_taken_that_then_fails_is_named_and_released_with_unlock_after():
    """``ensure_locked`` names the new lock in its failure (it may be left half taken): that one is released."""
    lock_failed = PromotionError('Locking did not complete: the lock state is now unlocked (Environment unlocked).',
                                 dict(lock=dict(result='unlocked')), promotion_id=NEW, changed=True)
    task = task_of(dict(keep_or_lock=lock_failed), lock=True, unlock_after=True)
    error = failure(m.promote, task)
    # Taking a lock changes no configuration: a failed task says changed: false.
    assert (error.result['promotion_id'], error.result['outcome'], error.result['changed']) == (NEW, 'failed', False)
    assert task.upper.names == ['keep_or_lock', 'unlock_after_run']
    assert task.upper.arguments('unlock_after_run')[0]['promotion_id'] == NEW


def test_an_unexpected_error_after_the_lock_leaves_it_named_in_the_failure_facts():
    """Not a PromotionError: the module turns it into a failure with ``failure_facts``, which name the lock."""
    task = task_of(dict(keep_or_lock=locked_result(NEW), run=RuntimeError('boom')), lock=True, unlock_after=True)
    with pytest.raises(RuntimeError):
        m.promote(task)
    assert task.failure_facts == dict(promotion_id=NEW)
    assert task.upper.names == ['keep_or_lock', 'run']


# promote: the release check comes first
def test_a_release_check_that_passes_comes_before_the_lock_and_is_returned():
    task = task_of(dict(compare_releases=releases(), keep_or_lock=locked_result(NEW), run=dict(finished(COMPLETED, the_report=report()), promotion_id=NEW)),
                   lower_tenant_url=LOWER_URL, lock=True)
    result = m.promote(task)
    assert task.upper.names == ['compare_releases', 'keep_or_lock', 'run']
    assert result['release_check'] == dict(releases(), skipped=False)
    assert result['outcome'] == 'promoted'


def test_a_skipped_release_check_warns_and_the_promotion_goes_on():
    task = task_of(dict(compare_releases=no_release_scope(), run=finished(COMPLETED, the_report=report())), lower_tenant_url=LOWER_URL,
                   promotion_id=OURS)
    result = m.promote(task)
    assert result['release_check']['skipped'] is True and task.warnings == [result['release_check']['warning']]
    assert task.upper.names == ['compare_releases', 'run']


@pytest.mark.parametrize('params, interrupted_record, released', [
    (dict(lock=True, record=RECORD), RECORD, []),
    (dict(lock=True, record=RECORD, unlock_after=True), RECORD, []),
    (dict(lock=True, record=RECORD, unlock_after=True, promotion_id=OURS), RECORD, [OURS]),
    (dict(record=RECORD, unlock_after=True, promotion_id=OURS), None, [OURS]),
    (dict(record=RECORD, promotion_id=OURS), None, []),
], ids=['lock', 'lock unlock_after', 'lock unlock_after promotion_id', 'unlock_after promotion_id', 'promotion_id'])
def test_a_refused_release_check_locks_nothing_and_releases_the_locks_of_the_task(params, interrupted_record, released):
    """The recorded lock of an interrupted run (with ``lock``) is released; the lock of promotion_id with unlock_after."""
    task = task_of(dict(compare_releases=releases(lower='2025.9.0')), lower_tenant_url=LOWER_URL, lock_timeout=45, **params)
    error = failure(m.promote, task)
    assert task.upper.names == ['compare_releases', 'unlock_interrupted_lock'] + ['unlock_after_run'] * len(released)
    assert task.upper.arguments('unlock_interrupted_lock') == [dict(record_path=interrupted_record, lock_timeout=45)]
    assert [arguments['promotion_id'] for arguments in task.upper.arguments('unlock_after_run')] == released
    assert 'allow_release_upgrade' in error.message
    assert (error.result['outcome'], error.result['real_run'], error.result['release_check']['upgrade']) == ('failed', False, True)
    assert task.failure_facts == {}


def test_a_refused_release_check_names_an_interrupted_lock_it_could_not_release():
    still_held = dict(unlock_error='Timed out after 900 s waiting for the unlock', promotion_id=NEW)
    task = task_of(dict(compare_releases=no_release_scope(), unlock_interrupted_lock=still_held), lower_tenant_url=LOWER_URL,
                   require_release_check=True, lock=True, record=RECORD)
    error = failure(m.promote, task)
    assert (error.result['promotion_id'], error.result['unlock_error'], error.result['outcome']) == (NEW, still_held['unlock_error'], 'failed')
    assert error.result['release_check'] == dict(skipped=True, missing_scope=RELEASE_SCOPE)


def test_a_release_check_that_could_not_be_made_keeps_every_lock_for_a_rerun():
    broken = api_error(500, 'Internal error')
    task = task_of(dict(compare_releases=broken), lower_tenant_url=LOWER_URL, lock=True, record=RECORD, unlock_after=True, promotion_id=OURS)
    with pytest.raises(PromotionError) as caught:
        m.promote(task)
    assert str(caught.value) == str(broken) and caught.value.result['error'] == broken.to_dict()
    assert task.upper.names == ['compare_releases']


def test_a_release_check_that_could_not_be_made_fails_with_the_outcome_failed():
    task = task_of(dict(compare_releases=api_error(500, 'Internal error')), lower_tenant_url=LOWER_URL, promotion_id=OURS)
    with pytest.raises(PromotionError) as caught:
        m.promote(task)
    assert caught.value.result.get('outcome') == 'failed'


# promote: check mode
@pytest.mark.parametrize('locked', [locked_result(None), locked_result(OURS, changed=False, resumed=True)], ids=['would lock', 'lock kept'])
def test_check_mode_starts_and_releases_nothing(locked):
    """keep_or_lock and predict are the service's check-mode steps (they send nothing); run and the unlock are not called."""
    task = task_of(dict(keep_or_lock=locked, predict=predicted(True)), check_mode=True, lock=True, unlock_after=True, record=RECORD)
    result = m.promote(task)
    assert task.upper.names == ['keep_or_lock', 'predict']
    assert task.upper.arguments('predict')[0]['promotion_id'] == locked['promotion_id']
    assert (result['outcome'], result['real_run'], result['status']) == ('would_promote', False, 'READY')
    assert 'lock_released' not in result


@pytest.mark.parametrize('params, skipped', [
    (dict(), True),
    (dict(lower_tenant_url=LOWER_URL), False),
    (dict(dry_run=True, dry_run_first=False), False),
    (dict(operation='rollback'), False),
], ids=['promotion without the lower environment', 'promotion', 'dry run', 'rollback'])
def test_check_mode_says_when_it_could_not_preview_the_promotion(params, skipped):
    """A promotion is previewed from the lower environment only: without it, the task warns that its changes and
    gates are unknown instead of passing them over in silence."""
    task = task_of(dict(predict=predicted(not params.get('dry_run')), compare_releases=releases()), check_mode=True, **params)
    result = m.promote(task)
    assert result['preview']['skipped'] is skipped
    assert task.warnings == ([result['preview']['warning']] if skipped else [])
    if skipped:
        assert 'no lower environment' in result['preview']['warning']


def test_outside_check_mode_there_is_no_preview():
    task = task_of(dict(run=finished(COMPLETED, the_report=report())), promotion_id=OURS)
    assert 'preview' not in m.promote(task) and task.warnings == []


# promote: status is a string
@pytest.mark.parametrize('answer', [
    finished(COMPLETED, the_report=report()), finished(MISSING_ESVS, the_report=report()), timed_out(), refused_on_a_blocked_status(),
], ids=['promoted', 'failed run', 'timed out', 'refused'])
def test_status_is_a_string_on_success_and_on_failure(answer):
    """On failure as the module returns it (``flat_status`` of the failure's fields)."""
    task = task_of(dict(run=answer), promotion_id=OURS)
    try:
        fields = m.promote(task)
    except PromotionError as exc:
        fields = flat_status(dict(exc.result))
    assert isinstance(fields['status'], str) and fields['status'] in ('READY', 'ERROR', 'RUNNING')


# promote: what the real unlock_after_run decides from what promote hands it
class UnlockingPromotions(FakePromotions):
    """The stand-in with the real ``Promotions.unlock_after_run``: it reads the run's result and calls ``ensure_unlocked``
    (recorded) unless the lock must stay (a blocking error, a run still going)."""
    unlock_after_run = Promotions.unlock_after_run


def unlocking_task(run_answer):
    upper = UnlockingPromotions(run=run_answer, ensure_unlocked=dict(changed=True, promotion_id=OURS, state='unlocked'))
    return FakeModule(options(promotion_id=OURS, unlock_after=True), upper=upper)


def test_the_lock_is_released_after_a_run_that_failed_on_its_own():
    task = unlocking_task(finished(MISSING_ESVS, the_report=report()))
    error = failure(m.promote, task)
    assert task.upper.arguments('ensure_unlocked') == [dict(promotion_id=OURS, force=False, wait=True, wait_timeout=900)]
    assert error.result['lock_released'] is True


@pytest.mark.parametrize('answer', [
    finished(BLOCKING, the_report=report()),
    PromotionError(states.blocked_message(OURS), blocked=True, status=states.Status(BLOCKING).as_dict()),
], ids=['blocking error outcome', 'start refused as blocked'])
def test_the_lock_stays_after_a_blocking_error_told_at_the_top(answer):
    task = unlocking_task(answer)
    error = failure(m.promote, task)
    assert 'ensure_unlocked' not in task.upper.names
    assert error.result['lock_released'] is False


@pytest.mark.parametrize('answer', [timed_out(), refused_on_a_blocked_status()], ids=['timed out, still running', 'refused, blocked'])
def test_the_lock_stays_while_the_run_goes_on_or_after_a_blocking_error_raised_as_a_failure(answer):
    task = unlocking_task(answer)
    error = failure(m.promote, task)
    assert 'ensure_unlocked' not in task.upper.names
    assert error.result['lock_released'] is False
