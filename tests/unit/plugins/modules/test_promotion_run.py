# -*- coding: utf-8 -*-
"""promotion_run's own functions: which options go together, and release check -> lock -> run -> unlock, against a
stand-in task and a stand-in ``Promotions`` (``support``). The run results are those ``Promotions.run`` returns,
built as ``test_results`` builds them, and its failures are shaped as the service raises them; the result mapping
itself (``task_result``) and the writing of the reports (``write_reports``) are the real ones, the files noted instead
of written (``written``)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.idcloud.promotions.plugins.module_utils import _files, _report, _review
from ansible_collections.idcloud.promotions.plugins.module_utils import _states as states
from ansible_collections.idcloud.promotions.plugins.module_utils._errors import ConfigurationError, PromotionError, PromotionsApiError
from ansible_collections.idcloud.promotions.plugins.module_utils._service import RELEASE_SCOPE, SESSION_SCOPE, Promotions
from ansible_collections.idcloud.promotions.plugins.modules import promotion_run as m

from tests.unit.plugins.module_utils.test_results import COMPLETED, MISSING_ESVS, NO_CHANGE, OURS, finished, predicted, report
from tests.unit.plugins.module_utils.test_service import BLOCKING, NEW, THEIRS, URL, api_error, failure
from tests.unit.plugins.modules.support import (
    LOWER_URL, FakePromotions, FakeTask, holding, lock_body, locked_result, module_params)

RECORD = '/reports/staging/.lock.json'
REVIEW = _review.Review(None, 'exact', None, 'The dry run')  # none to meet
ROLLED_BACK = dict(status='READY', message='Rollback completed')
WRITE_REPORT = _files.write_report


def interrupted(promotion_id=NEW):
    """The lock records on disk after an interrupted run that took the lock ``promotion_id``."""
    return {RECORD: dict(promotion_id=promotion_id, tenant_url=URL, transaction_id='txn-old')}


@pytest.fixture(autouse=True)
def written(monkeypatch):
    """The reports ``promote`` writes (``_files.write_reports``, through ``_files.write_report``), noted instead of
    written: each as a dict of its ``dest``, ``report``, ``fmt`` and ``dry_run``."""
    reports = []

    def write_report(dest, report, fmt=None, dry_run=None, check_mode=False):
        reports.append(dict(dest=dest, report=report, fmt=fmt, dry_run=dry_run))
        return True

    monkeypatch.setattr(_files, 'write_report', write_report)
    return reports


def options(**params):
    return module_params(m.ARGUMENT_SPEC, lower_connection=True, **params)


def task_of(answers=None, check_mode=False, diff=False, release=None, records=None, **params):
    """A promotion_run task with these options; ``answers`` are those of its upper environment's service, ``release``
    those of the upper environment's service with the release scope, ``records`` the lock records on disk."""
    return FakeTask(options(**params), check_mode=check_mode, diff=diff, records=records,
                    upper=FakePromotions('upper', check_mode, **(answers or {})),
                    release_upper=FakePromotions('release upper', check_mode, **(release or {})))


def ended(task):
    """How ``promote`` ended: its result and True, or the fields of its failure (its message as ``msg``) and False."""
    try:
        return m.promote(task), True
    except PromotionError as exc:
        return dict(exc.result, msg=exc.message), False


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
                          'stays in place.', status.fields(), history=[], run_going=True)


def refused_on_a_blocked_status():
    """What ``Promotions.run`` raises when the status shows an earlier blocking failure (``plan_run`` says FAIL)."""
    status = states.Status(dict(BLOCKING, promotionId=OURS))
    return PromotionError(states.blocked_message(OURS), status.fields(), lock=lock_body(OURS))


def refused_to_start():
    """What ``Promotions.run`` raises on a 409 to the start that is not a blocked environment."""
    status = states.Status(dict(status='READY', message='Environment ready for promotion', promotionId=OURS))
    return PromotionError('The tenant refused to start the promotion: Conflict.', status.fields(), error=api_error(409).to_dict(),
                          run_going=False)


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
@pytest.mark.parametrize('params, answer', [
    (dict(dry_run=True, lower_tenant_url=LOWER_URL), finished(COMPLETED, dry_run=True, the_report=report(dry=True))),
    (dict(), finished(COMPLETED, the_report=report())),
], ids=['dry run', 'no lower environment'])
def test_no_release_check_for_a_dry_run_or_without_the_lower_environment(params, answer):
    task = task_of(dict(run=answer), promotion_id=OURS, **params)
    result = m.promote(task)
    # No service with the release scope was made, nor the lower one; only the session check's.
    assert task.connections == [('upper', {}), ('upper', dict(scope=SESSION_SCOPE))]
    assert (task.release_upper.calls, task.release_lower.calls, task.lower.calls) == ([], [], [])
    assert task.upper.names == ['run'] and 'release_check' not in result
    assert m.release_check(task.params, None, None, task) is None  # no environment to check: no check


def test_the_releases_of_both_environments_are_compared_with_the_release_scope():
    task = task_of(lower_tenant_url=LOWER_URL, release=dict(compare_releases=releases()))
    check = m.release_check(task.params, task.release_upper, task.release_lower, task)
    assert task.release_upper.arguments('compare_releases') == [dict(lower=task.release_lower)]
    assert (check['skipped'], check['upgrade'], check['lower_current_version']) == (False, False, '2025.8.2')
    assert task.warnings == []
    # promote makes them with the release scope (PromotionTask.environments), besides the upper environment.
    task = task_of(dict(run=finished(COMPLETED, the_report=report())), release=dict(compare_releases=releases()), lower_tenant_url=LOWER_URL,
                   promotion_id=OURS)
    m.promote(task)
    assert task.connections == [('upper', {}), ('upper', dict(scope=RELEASE_SCOPE)), ('lower', dict(scope=RELEASE_SCOPE)),
                                ('upper', dict(scope=SESSION_SCOPE))]
    assert task.release_upper.arguments('compare_releases') == [dict(lower=task.release_lower)]
    assert 'compare_releases' not in task.upper.names and task.lower.calls == []


def test_a_promotion_that_would_upgrade_the_release_is_refused_unless_allowed():
    refused = task_of(release=dict(compare_releases=releases(lower='2025.9.0')), lower_tenant_url=LOWER_URL)
    error = failure(m.release_check, refused.params, refused.release_upper, refused.release_lower, refused)
    assert '2025.9.0' in error.message and 'allow_release_upgrade' in error.message
    assert (error.result['release_check']['upgrade'], error.result['real_run']) == (True, False)

    allowed = task_of(release=dict(compare_releases=releases(lower='2025.9.0')), lower_tenant_url=LOWER_URL, allow_release_upgrade=True)
    check = m.release_check(allowed.params, allowed.release_upper, allowed.release_lower, allowed)
    assert (check['upgrade'], check['skipped'], check['lower_current_version']) == (True, False, '2025.9.0')


def test_without_the_release_scope_the_check_is_skipped_with_a_warning():
    task = task_of(release=dict(compare_releases=no_release_scope()), lower_tenant_url=LOWER_URL)
    check = m.release_check(task.params, task.release_upper, task.release_lower, task)
    assert (check['skipped'], check['missing_scope']) == (True, RELEASE_SCOPE)
    assert task.warnings == [check['warning']]
    assert check['warning'].startswith('Release check skipped') and RELEASE_SCOPE in check['warning']


def test_without_the_release_scope_a_required_check_fails_without_a_warning():
    task = task_of(release=dict(compare_releases=no_release_scope()), lower_tenant_url=LOWER_URL, require_release_check=True)
    error = failure(m.release_check, task.params, task.release_upper, task.release_lower, task)
    assert 'require_release_check' in error.message and 'nothing was locked' in error.message
    assert error.result['release_check'] == dict(skipped=True, missing_scope=RELEASE_SCOPE)
    assert task.warnings == []


def test_a_release_read_that_fails_for_another_reason_is_raised_as_it_is():
    broken = api_error(500, 'Internal error')
    task = task_of(release=dict(compare_releases=broken), lower_tenant_url=LOWER_URL)
    with pytest.raises(PromotionsApiError) as caught:
        m.release_check(task.params, task.release_upper, task.release_lower, task)
    assert caught.value is broken


# run_under_lock: the lock
@pytest.mark.parametrize('promotion_id', [OURS, None])
def test_without_lock_the_given_lock_is_used_and_nothing_is_locked(promotion_id):
    real = finished(COMPLETED, the_report=report())
    task = task_of(dict(run=real), promotion_id=promotion_id, record=RECORD)
    assert m.run_under_lock(task.params, task.upper, None, False, REVIEW) == (False, None, real)
    assert task.upper.names == ['run'] and task.upper.arguments('run')[0]['promotion_id'] == promotion_id
    assert task.upper.held == promotion_id  # the lock it was given is the one it works under
    assert task.upper.record.reads == 0


def test_with_lock_the_lock_is_kept_or_taken_waiting_up_to_lock_timeout_even_without_wait():
    """``wait`` is about the run: the lock is always waited for, since nothing can run before it is held."""
    started = predicted(True)
    task = task_of(dict(keep_or_lock=locked_result(OURS, changed=False, resumed=True), run=started), lock=True, record=RECORD,
                   promotion_id=OURS, lock_timeout=120, wait_for_release=True, wait=False)
    assert m.run_under_lock(task.params, task.upper, None, False, REVIEW) == (True, None, started)
    assert task.upper.arguments('keep_or_lock') == [dict(promotion_id=OURS, wait=True, wait_timeout=120, wait_for_release=True)]
    assert (task.upper.arguments('run')[0]['promotion_id'], task.upper.arguments('run')[0]['wait']) == (OURS, False)
    assert task.upper.held == OURS


def test_with_lock_a_new_lock_is_returned_not_resumed():
    real = dict(finished(COMPLETED, the_report=report()), promotion_id=NEW)
    task = task_of(dict(keep_or_lock=locked_result(NEW), run=real), lock=True)
    assert m.run_under_lock(task.params, task.upper, None, False, REVIEW) == (False, None, real)
    assert task.upper.arguments('keep_or_lock') == [dict(promotion_id=None, wait=True, wait_timeout=900, wait_for_release=False)]
    assert task.upper.arguments('run')[0]['promotion_id'] == NEW and task.upper.held == NEW


# The reports written (write_reports)
@pytest.mark.parametrize('params, answers', [
    (dict(dry_run_first=True), dict(promote_after_dry_run=(finished(NO_CHANGE, dry_run=True, the_report=report(changes={}, dry=True)), None))),
    (dict(wait=False), dict(run=predicted(True))),
], ids=['no run', 'no report'])
def test_no_report_no_file(written, params, answers):
    task = task_of(answers, promotion_id=OURS, report_dest=['p.json'], **params)
    result = m.promote(task)
    assert written == [] and result['report_files'] == []


@pytest.mark.parametrize('dry_run', [True, False])
def test_the_report_goes_to_every_dest_saying_whether_it_is_a_dry_run(written, dry_run):
    run = finished(COMPLETED, dry_run=dry_run, the_report=report(dry=dry_run))
    task = task_of(dict(run=run), dry_run=dry_run, promotion_id=OURS, report_dest=['p.json', 'p.md'])
    result = m.promote(task)
    assert result['report_files'] == ['p.json', 'p.md']
    assert written == [dict(dest=dest, report=run['report'], fmt=None, dry_run=dry_run) for dest in ('p.json', 'p.md')]


@pytest.mark.parametrize('check_mode', [False, True])
def test_a_report_file_is_written_only_outside_check_mode(tmp_path, monkeypatch, check_mode):
    monkeypatch.setattr(_files, 'write_report', WRITE_REPORT)
    dest = tmp_path / 'promotion.json'
    run = finished(COMPLETED, the_report=report())
    task = task_of(dict(run=run, predict=predicted(True, the_report=report())), check_mode=check_mode, promotion_id=OURS,
                   report_dest=[str(dest)])
    result = m.promote(task)
    assert task.upper.names == ['predict' if check_mode else 'run']
    assert result['report_files'] == ([] if check_mode else [str(dest)])
    assert dest.exists() is not check_mode
    if not check_mode:
        assert json.loads(dest.read_text()) == run['report']


# The run: run_under_lock, then task_result
def test_a_promotion_runs_under_the_lock_with_the_body_the_options_give(written):
    real = finished(COMPLETED, the_report=report())
    task = task_of(dict(run=real), promotion_id=OURS, unlock_after=True, promoter='ci', description='Release 42', ticket_reference='CHG-1234',
                   wait_timeout=600, report_dest=['p.json', 'p.md'])
    result = m.promote(task)
    assert task.upper.arguments('run') == [dict(
        operation='promote', dry_run=False, promotion_id=OURS, wait=True, wait_timeout=600, ignore_encrypted_secrets=False,
        body=dict(unlockEnvironmentsAfterPromotion=True, ignoreEncryptedSecrets=False, promoter='ci',
                  promotionDescription='Release 42', zendeskTicketReference='CHG-1234'))]
    assert task.upper.names == ['run', 'unlock_after_run']
    assert (result['outcome'], result['changed'], result['real_run'], result['status']) == ('promoted', True, True, 'READY')
    assert (result['report'], result['report_files'], result['dry_run_result']) == (real['report'], ['p.json', 'p.md'], None)
    assert [(report_written['dest'], report_written['dry_run']) for report_written in written] == [('p.json', False), ('p.md', False)]
    assert 'diff' not in result


def test_ignore_encrypted_secrets_goes_into_the_body_and_to_the_run():
    task = task_of(dict(run=finished(COMPLETED, the_report=report())), promotion_id=OURS, ignore_encrypted_secrets=True)
    m.promote(task)
    (arguments,) = task.upper.arguments('run')
    assert (arguments['body']['ignoreEncryptedSecrets'], arguments['ignore_encrypted_secrets']) == (True, True)


def test_a_rollback_sends_no_encrypted_secrets_flag_and_is_rolled_back():
    task = task_of(dict(run=finished(ROLLED_BACK, the_report=report(kind='rollback'), operation='rollback')),
                   operation='rollback', promotion_id=OURS, ignore_encrypted_secrets=True)
    result, passed = ended(task)
    (arguments,) = task.upper.arguments('run')
    assert (arguments['operation'], arguments['body']) == ('rollback', dict(unlockEnvironmentsAfterPromotion=False))
    assert (passed, result['outcome'], result['type']) == (True, 'rolled_back', 'rollback')


def test_a_dry_run_only_changes_nothing_and_its_report_says_dry_run(written):
    task = task_of(dict(run=finished(COMPLETED, dry_run=True, the_report=report(dry=True))), promotion_id=OURS, dry_run=True,
                   report_dest=['dry.md'])
    result, passed = ended(task)
    assert task.upper.arguments('run')[0]['dry_run'] is True
    assert (passed, result['outcome'], result['real_run'], result['changed']) == (True, 'dry_run_only', False, False)
    assert [(report_written['dest'], report_written['dry_run']) for report_written in written] == [('dry.md', True)]


def test_a_rollback_dry_run_reads_the_provisional_rollback_report_and_starts_nothing(written):
    preview = dict(changed=False, promotion_id=OURS, status=states.Status(COMPLETED), verdict=None, history=[],
                   report=report(kind='provisional-rollback'), attached=False, dry_run=True)
    task = task_of(dict(rollback_preview=preview), operation='rollback', dry_run=True, promotion_id=OURS, report_dest=['rollback.md'])
    result, passed = ended(task)
    assert task.upper.names == ['rollback_preview'] and task.upper.arguments('rollback_preview')[0]['promotion_id'] == OURS
    assert (passed, result['outcome'], result['real_run'], result['changed']) == (True, 'dry_run_only', False, False)
    assert [(report_written['dest'], report_written['dry_run']) for report_written in written] == [('rollback.md', True)]


def test_a_rollback_with_dry_run_first_reads_its_preview_then_rolls_back(written):
    preview = dict(changed=False, promotion_id=OURS, status=states.Status(COMPLETED), verdict=None, history=[],
                   report=report(kind='provisional-rollback'), attached=False, dry_run=True)
    rollback = finished(ROLLED_BACK, the_report=report(number=2, kind='rollback'), operation='rollback')
    task = task_of(dict(rollback_after_preview=(preview, rollback)), operation='rollback', dry_run_first=True, skip_if_unchanged=False,
                   wait_timeout=1200, promotion_id=OURS, promoter='ops', dry_run_report_dest=['preview.md'], report_dest=['rollback.md'])
    result, passed = ended(task)
    assert task.upper.arguments('rollback_after_preview') == [dict(
        body=dict(unlockEnvironmentsAfterPromotion=False, promoter='ops'), promotion_id=OURS, wait_timeout=1200, skip_if_unchanged=False)]
    assert (passed, result['outcome'], result['real_run'], result['report_files']) == (True, 'rolled_back', True, ['preview.md', 'rollback.md'])
    assert [(report_written['dest'], report_written['dry_run']) for report_written in written] == [('preview.md', True), ('rollback.md', False)]


def test_without_wait_the_run_is_only_started_and_no_report_is_written(written):
    task = task_of(dict(run=predicted(True)), promotion_id=OURS, wait=False, report_dest=['p.md'])
    result, passed = ended(task)
    assert task.upper.arguments('run')[0]['wait'] is False
    assert passed is True and 'msg' not in result
    assert (result['report'], result['report_files'], written) == (None, [], [])


def test_a_failed_run_does_not_pass_and_its_report_is_written_all_the_same(written):
    """Missing ESVs: the report goes with the fix."""
    task = task_of(dict(run=finished(MISSING_ESVS, the_report=report())), promotion_id=OURS, report_dest=['p.md'])
    result, passed = ended(task)
    assert passed is False
    assert (result['outcome'], result['status'], result['missing_esvs']) == ('failed', 'ERROR', ['esv.email.from', 'esv.smtp.host'])
    assert result['msg'].startswith('The promotion stopped on missing ESVs')
    assert [report_written['dest'] for report_written in written] == ['p.md'] and result['report_files'] == ['p.md']


def test_dry_run_first_runs_the_dry_run_then_the_promotion_and_writes_each_report_to_its_own_dests(written):
    dry = finished(COMPLETED, dry_run=True, the_report=report(number=1, dry=True))
    real = finished(COMPLETED, the_report=report(number=2, dry=False))
    task = task_of(dict(promote_after_dry_run=(dry, real)), promotion_id=OURS, dry_run_first=True, skip_if_unchanged=False,
                   ignore_encrypted_secrets=True, wait_timeout=1200, promoter='ci', dry_run_report_dest=['dry.md'], report_dest=['p.md'])
    result, passed = ended(task)
    assert task.upper.names == ['promote_after_dry_run']
    (arguments,) = task.upper.arguments('promote_after_dry_run')
    assert isinstance(arguments.pop('review'), _review.Review)  # tested on its own
    assert arguments == dict(
        body=dict(unlockEnvironmentsAfterPromotion=False, ignoreEncryptedSecrets=True, promoter='ci'), promotion_id=OURS,
        wait_timeout=1200, ignore_encrypted_secrets=True, skip_if_unchanged=False)
    assert [(report_written['dest'], report_written['report']['reportId'], report_written['dry_run']) for report_written in written] == [
        ('dry.md', 'report-1', True), ('p.md', 'report-2', False)]
    assert (passed, result['outcome'], result['real_run']) == (True, 'promoted', True)
    assert result['report_files'] == ['dry.md', 'p.md']
    assert (result['report'], result['dry_run_result']['report']) == (real['report'], dry['report'])


def test_dry_run_first_that_found_nothing_writes_no_promotion_report(written):
    dry = finished(NO_CHANGE, dry_run=True, the_report=report(changes={}, dry=True))
    task = task_of(dict(promote_after_dry_run=(dry, None)), promotion_id=OURS, dry_run_first=True, dry_run_report_dest=['dry.md'],
                   report_dest=['p.md'])
    result, passed = ended(task)
    assert (passed, result['outcome'], result['real_run'], result['changed']) == (True, 'nothing_to_promote', False, False)
    assert [report_written['dest'] for report_written in written] == ['dry.md'] and result['report_files'] == ['dry.md']


@pytest.mark.parametrize('params, prediction, expected', [
    (dict(lower_tenant_url=LOWER_URL), predicted(True, the_report=report()), dict(operation='promote', dry_run=False, outcome='would_promote')),
    (dict(dry_run_first=True, lower_tenant_url=LOWER_URL), predicted(True), dict(operation='promote', dry_run=False, outcome='would_promote')),
    (dict(dry_run=True), predicted(False), dict(operation='promote', dry_run=True, outcome='nothing_to_promote')),
    (dict(operation='rollback'), predicted(True), dict(operation='rollback', dry_run=False, outcome='would_roll_back')),
], ids=['promote', 'dry_run_first', 'dry run', 'rollback'])
def test_check_mode_predicts_from_the_preview_and_starts_nothing(written, params, prediction, expected):
    task = task_of(dict(predict=prediction), release=dict(compare_releases=releases()), check_mode=True, unlock_after=True,
                   promotion_id=OURS, report_dest=['p.md'], **params)
    result, passed = ended(task)
    assert task.upper.names == ['predict']  # nothing started, nothing released
    lower = task.lower if params.get('lower_tenant_url') else None
    assert task.upper.arguments('predict') == [dict(operation=expected['operation'], dry_run=expected['dry_run'], promotion_id=OURS, lower=lower)]
    assert (passed, result['outcome'], result['real_run']) == (True, expected['outcome'], False)
    assert isinstance(result['status'], str)
    assert (written, result['report_files']) == ([], [])  # nothing written in check mode


@pytest.mark.parametrize('diff', [True, False])
def test_diff_mode_shows_the_report_of_the_run(diff):
    task = task_of(dict(run=finished(COMPLETED, the_report=report())), diff=diff, promotion_id=OURS)
    result, _passed = ended(task)
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
    m.unlock(task.params, task.upper, lock_id, result, check_mode)
    assert task.upper.calls == []
    assert result == dict(status='READY')


def test_unlock_releases_the_tasks_own_lock_and_adds_what_happened():
    answer = dict(lock_released=False, unlock_error='refused', blocked=False)
    task = task_of(dict(unlock_after_run=answer), unlock_after=True, record=RECORD, lock_timeout=60)
    result = dict(status='READY', outcome='promoted')
    m.unlock(task.params, task.upper, OURS, result, False)
    (arguments,) = task.upper.arguments('unlock_after_run')
    assert (arguments['promotion_id'], arguments['lock_timeout']) == (OURS, 60)
    assert arguments['run_result'] is result
    assert result == dict(status='READY', outcome='promoted', lock_released=False, unlock_error='refused', blocked=False)


# promote: the straight line
def test_promote_runs_under_the_given_lock_and_names_it_for_any_failure():
    task = task_of(dict(run=finished(COMPLETED, the_report=report())), promotion_id=OURS)
    result = m.promote(task)
    assert task.upper.names == ['run'] and task.upper.arguments('run')[0]['promotion_id'] == OURS
    assert task.connections == [('upper', {}), ('upper', dict(scope=SESSION_SCOPE))]  # no release check, the session check
    assert (result['outcome'], result['resumed'], result['status']) == ('promoted', False, 'READY')
    assert 'release_check' not in result and 'lock_released' not in result
    assert task.held() == OURS  # what PromotionTask.execute names in any failure


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
    assert (released['promotion_id'], released['run_result'], released['lock_timeout']) == (lock_id, result, 300)
    assert (result['outcome'], result['promotion_id'], result['resumed'], result['lock_released']) == ('promoted', lock_id, resumed, True)
    assert task.held() == lock_id


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
    assert (error.result['changed'], task.held()) == (False, OURS)


def test_a_failure_after_the_lock_was_taken_names_it_and_releases_it_with_unlock_after():
    refused = refused_to_start()
    task = task_of(dict(keep_or_lock=locked_result(NEW), run=refused), lock=True, unlock_after=True, record=RECORD)
    error = failure(m.promote, task)
    assert error is not refused and error.message == refused.message
    assert (error.result['outcome'], error.result['lock_released'], error.result['changed']) == ('failed', True, False)
    assert task.upper.names == ['keep_or_lock', 'run', 'unlock_after_run']
    (released,) = task.upper.arguments('unlock_after_run')
    assert released['promotion_id'] == NEW
    # The release decides from the failure's own fields (its status, as a word).
    assert released['run_result'].items() <= error.result.items() and released['run_result']['status'] == 'READY'
    assert task.held() == NEW  # the lock the failure names (PromotionTask.execute)


def test_without_unlock_after_a_failure_after_the_lock_keeps_it_and_names_it():
    task = task_of(dict(keep_or_lock=locked_result(NEW), run=refused_to_start()), lock=True)
    error = failure(m.promote, task)
    assert (task.held(), error.result['outcome']) == (NEW, 'failed')
    assert 'lock_released' not in error.result
    assert task.upper.names == ['keep_or_lock', 'run']


def test_a_failure_naming_the_lock_it_saw_keeps_that_name():
    """A run that timed out goes on under the lock it ran under: that lock is named, and stays."""
    task = task_of(dict(run=timed_out()), promotion_id=OURS)
    error = failure(m.promote, task)
    assert (task.held(), error.result['outcome'], error.result['status']) == (OURS, 'failed', 'RUNNING')
    assert error.message.startswith('Timed out after 3600 s')
    assert task.upper.names == ['run']


def test_a_lock_held_by_another_promotion_fails_naming_it_and_runs_nothing():
    held = PromotionError(states.held_message(states.LockState(lock_body(THEIRS))), lock=lock_body(THEIRS), holder=THEIRS)
    task = task_of(dict(keep_or_lock=held), lock=True, unlock_after=True)
    error = failure(m.promote, task)
    assert (error.result['holder'], error.result['outcome']) == (THEIRS, 'failed')
    assert 'promotion_id' not in error.result and task.held() is None  # the failure names no lock of this task
    assert THEIRS in error.message
    assert task.upper.names == ['keep_or_lock']  # nothing run, nothing released


def test_a_lock_to_resume_that_another_promotion_replaced_is_not_claimed_nor_released():
    """promotion_id names the lock of an interrupted run to finish; another promotion holds the environments now."""
    held = PromotionError(states.held_message(states.LockState(lock_body(THEIRS)), OURS), lock=lock_body(THEIRS), holder=THEIRS)
    task = task_of(dict(keep_or_lock=held), lock=True, unlock_after=True, promotion_id=OURS)
    error = failure(m.promote, task)
    assert (error.result['holder'], task.held()) == (THEIRS, None) and 'promotion_id' not in error.result
    assert task.upper.names == ['keep_or_lock'] and task.upper.arguments('keep_or_lock')[0]['promotion_id'] == OURS


def test_a_lock_taken_that_then_fails_is_named_and_released_with_unlock_after():
    """``ensure_locked`` holds the new lock once its id is known (it may be left half taken): that one is released."""
    lock_failed = PromotionError('Locking did not complete: the lock state is now unlocked (Environment unlocked).',
                                 dict(lock=dict(result='unlocked')), changed=True)
    task = task_of(dict(keep_or_lock=holding(NEW, lock_failed)), lock=True, unlock_after=True)
    error = failure(m.promote, task)
    # Taking a lock changes no configuration: a failed task says changed: false.
    assert (task.held(), error.result['outcome'], error.result['changed']) == (NEW, 'failed', False)
    assert task.upper.names == ['keep_or_lock', 'unlock_after_run']
    assert task.upper.arguments('unlock_after_run')[0]['promotion_id'] == NEW


def test_an_unexpected_error_after_the_lock_leaves_it_named_for_the_failure():
    """Not a PromotionError: the task turns it into a failure (PromotionTask.execute), which names the lock held."""
    task = task_of(dict(keep_or_lock=locked_result(NEW), run=RuntimeError('boom')), lock=True, unlock_after=True)
    with pytest.raises(RuntimeError):
        m.promote(task)
    assert task.held() == NEW
    assert task.upper.names == ['keep_or_lock', 'run']


@pytest.mark.parametrize('kept, words', [('locking', 'still changing after lock_timeout'), ('error', 'is in error')])
def test_a_lock_kept_changing_or_in_error_says_the_next_step_in_the_message(kept, words):
    answer = dict(lock_released=False, lock_kept=kept, next_step=states.kept_next_step(kept, NEW))
    task = task_of(dict(keep_or_lock=locked_result(NEW), run=refused_to_start(), unlock_after_run=answer), lock=True, unlock_after=True)
    error = failure(m.promote, task)
    assert error.message.startswith('The tenant refused to start the promotion: Conflict. ') and words in error.message
    assert (error.result['lock_kept'], error.result['lock_released']) == (kept, False)


# promote: the release check comes first
def test_a_release_check_that_passes_comes_before_the_lock_and_is_returned():
    task = task_of(dict(keep_or_lock=locked_result(NEW), run=dict(finished(COMPLETED, the_report=report()), promotion_id=NEW)),
                   release=dict(compare_releases=releases()), lower_tenant_url=LOWER_URL, lock=True)
    result = m.promote(task)
    assert task.log == [('release upper', 'compare_releases'), ('session upper', 'session_state'), ('upper', 'keep_or_lock'), ('upper', 'run')]
    assert result['release_check'] == dict(releases(), skipped=False)
    assert result['outcome'] == 'promoted'


def test_a_skipped_release_check_warns_and_the_promotion_goes_on():
    task = task_of(dict(run=finished(COMPLETED, the_report=report())), release=dict(compare_releases=no_release_scope()),
                   lower_tenant_url=LOWER_URL, promotion_id=OURS)
    result = m.promote(task)
    assert result['release_check']['skipped'] is True and task.warnings == [result['release_check']['warning']]
    assert task.log == [('release upper', 'compare_releases'), ('session upper', 'session_state'), ('upper', 'run')]


@pytest.mark.parametrize('params, records, released', [
    (dict(lock=True, record=RECORD), interrupted(), [NEW]),
    (dict(lock=True, record=RECORD, unlock_after=True), interrupted(), [NEW]),
    (dict(lock=True, record=RECORD, unlock_after=True, promotion_id=OURS), interrupted(OURS), [OURS]),
    (dict(record=RECORD, unlock_after=True, promotion_id=OURS), interrupted(), [OURS]),
    (dict(record=RECORD, promotion_id=OURS), interrupted(), []),
    (dict(record=RECORD, unlock_after=True), interrupted(), []),
    (dict(lock=True, record=RECORD, unlock_after=True), {}, []),
], ids=['lock', 'lock unlock_after', 'lock unlock_after promotion_id', 'unlock_after promotion_id', 'promotion_id',
        'record without lock', 'lock without an interrupted run'])
def test_a_refused_release_check_locks_nothing_and_releases_the_locks_of_the_task(params, records, released):
    """The recorded lock of an interrupted run (with ``lock``) is released; the lock of promotion_id with unlock_after."""
    task = task_of(release=dict(compare_releases=releases(lower='2025.9.0')), records=records, lower_tenant_url=LOWER_URL,
                   lock_timeout=45, **params)
    error = failure(m.promote, task)
    assert task.log == [('release upper', 'compare_releases')] + [('upper', 'unlock_after_run')] * len(released)
    assert [(arguments['promotion_id'], arguments['lock_timeout']) for arguments in task.upper.arguments('unlock_after_run')] == [
        (lock_id, 45) for lock_id in released]
    assert 'allow_release_upgrade' in error.message
    assert (error.result['outcome'], error.result['real_run'], error.result['release_check']['upgrade']) == ('failed', False, True)
    assert error.result['changed'] is False and error.result.get('lock_released') is (True if released else None)
    assert task.held() == (released[0] if released else None)  # named by the failure, released or not


def test_a_refused_release_check_names_an_interrupted_lock_it_could_not_release():
    still_held = dict(lock_released=False, unlock_error='Timed out after 900 s waiting for the unlock', blocked=False)
    task = task_of(dict(unlock_after_run=still_held), release=dict(compare_releases=no_release_scope()), records=interrupted(),
                   lower_tenant_url=LOWER_URL, require_release_check=True, lock=True, record=RECORD)
    error = failure(m.promote, task)
    assert (task.held(), error.result['unlock_error'], error.result['outcome']) == (NEW, still_held['unlock_error'], 'failed')
    assert error.result['lock_released'] is False
    assert error.result['release_check'] == dict(skipped=True, missing_scope=RELEASE_SCOPE)


def test_a_release_check_that_could_not_be_made_keeps_every_lock_for_a_rerun():
    broken = api_error(500, 'Internal error')
    task = task_of(release=dict(compare_releases=broken), records=interrupted(), lower_tenant_url=LOWER_URL, lock=True, record=RECORD,
                   unlock_after=True, promotion_id=OURS)
    with pytest.raises(PromotionError) as caught:
        m.promote(task)
    assert str(caught.value) == str(broken) and caught.value.result['error'] == broken.to_dict()
    assert task.log == [('release upper', 'compare_releases')] and task.held() is None
    assert task.upper.record.forgotten == []


def test_a_release_check_that_could_not_be_made_fails_with_the_outcome_failed():
    task = task_of(release=dict(compare_releases=api_error(500, 'Internal error')), lower_tenant_url=LOWER_URL, promotion_id=OURS)
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
    task = task_of(dict(predict=predicted(not params.get('dry_run'))), release=dict(compare_releases=releases()), check_mode=True, **params)
    result = m.promote(task)
    assert result['preview']['skipped'] is skipped
    assert task.warnings == ([result['preview']['warning']] if skipped else [])
    if skipped:
        assert 'no lower environment' in result['preview']['warning']
    # The lower environment gives the preview of a promotion: it is made in check mode, when given.
    assert task.upper.arguments('predict')[0]['lower'] is (task.lower if params.get('lower_tenant_url') else None)


def test_check_mode_gives_no_preview_warning_when_the_task_fails():
    refused = PromotionError('The environments are already locked for promotion %s.' % THEIRS, holder=THEIRS)
    task = task_of(dict(keep_or_lock=refused), check_mode=True, lock=True)
    result, passed = ended(task)
    assert not passed and 'preview' not in result and task.warnings == []


def test_lower_credentials_missing_fail_the_task_with_the_outcome_failed(monkeypatch):
    task = task_of(lower_tenant_url=LOWER_URL)

    def environments(lower=False, release_check=False, session_check=False):
        raise ConfigurationError('lower_tenant_url needs lower_access_token, or lower_service_account_id and lower_service_account_key.')
    monkeypatch.setattr(task, 'environments', environments)
    result, passed = ended(task)
    assert not passed and result['outcome'] == 'failed' and result['msg'].startswith('lower_tenant_url needs lower_access_token')


def test_outside_check_mode_there_is_no_preview():
    task = task_of(dict(run=finished(COMPLETED, the_report=report())), promotion_id=OURS)
    assert 'preview' not in m.promote(task) and task.warnings == []


# promote: status is a string
@pytest.mark.parametrize('answer', [
    finished(COMPLETED, the_report=report()), finished(MISSING_ESVS, the_report=report()), timed_out(), refused_on_a_blocked_status(),
], ids=['promoted', 'failed run', 'timed out', 'refused'])
def test_status_is_a_string_on_success_and_on_failure(answer):
    """On failure as the task returns it: the failure's own fields (the service gives its status as ``Status.fields``)."""
    task = task_of(dict(run=answer), promotion_id=OURS)
    fields, _passed = ended(task)
    assert isinstance(fields['status'], str) and fields['status'] in ('READY', 'ERROR', 'RUNNING')
    assert isinstance(fields['blocking_error'], bool) and isinstance(fields['missing_esvs'], list)


# promote: what the real unlock_after_run decides from what promote hands it
class UnlockingPromotions(FakePromotions):
    """The stand-in with the real ``Promotions.unlock_after_run``: it reads the run's result and calls ``ensure_unlocked``
    (recorded) unless the lock must stay (a blocking error, a run still going); it forgets its lock record once the lock
    is released."""
    unlock_after_run = Promotions.unlock_after_run


def unlocking_task(run_answer):
    upper = UnlockingPromotions(run=run_answer, ensure_unlocked=dict(changed=True, promotion_id=OURS, state='unlocked'))
    return FakeTask(options(promotion_id=OURS, unlock_after=True, record=RECORD), upper=upper, records=interrupted(OURS))


def test_the_lock_is_released_after_a_run_that_failed_on_its_own():
    task = unlocking_task(finished(MISSING_ESVS, the_report=report()))
    error = failure(m.promote, task)
    assert task.upper.arguments('ensure_unlocked') == [dict(promotion_id=OURS, force=False, wait=True, wait_timeout=900)]
    assert error.result['lock_released'] is True
    assert task.upper.record.forgotten == [OURS] and task.held() == OURS


@pytest.mark.parametrize('answer', [
    finished(BLOCKING, the_report=report()),
    PromotionError(states.blocked_message(OURS), states.Status(BLOCKING).fields(), blocked=True),
], ids=['blocking error outcome', 'start refused as blocked'])
def test_the_lock_stays_after_a_blocking_error_told_at_the_top(answer):
    task = unlocking_task(answer)
    error = failure(m.promote, task)
    assert 'ensure_unlocked' not in task.upper.names
    assert (error.result['lock_released'], error.result['lock_kept']) == (False, 'blocked')
    assert task.upper.record.forgotten == []


@pytest.mark.parametrize('answer', [timed_out(), refused_on_a_blocked_status()], ids=['timed out, still running', 'refused, blocked'])
def test_the_lock_stays_while_the_run_goes_on_or_after_a_blocking_error_raised_as_a_failure(answer):
    task = unlocking_task(answer)
    error = failure(m.promote, task)
    assert 'ensure_unlocked' not in task.upper.names
    assert error.result['lock_released'] is False
    assert task.upper.record.forgotten == []


def test_a_refused_release_check_releases_the_recorded_lock_and_forgets_its_record():
    """The real release of an interrupted run's lock when the release check refuses the run: the refusal holds no
    status that keeps the lock."""
    upper = UnlockingPromotions(ensure_unlocked=dict(changed=True, promotion_id=NEW, state='unlocked'))
    task = FakeTask(options(lock=True, record=RECORD, lower_tenant_url=LOWER_URL, lock_timeout=45), upper=upper, records=interrupted(),
                    release_upper=FakePromotions('release upper', compare_releases=releases(lower='2025.9.0')))
    error = failure(m.promote, task)
    assert upper.arguments('ensure_unlocked') == [dict(promotion_id=NEW, force=False, wait=True, wait_timeout=45)]
    assert error.result['lock_released'] is True and upper.record.forgotten == [NEW] and upper.record.recorded is None


# Promote only what was reviewed: plans, policy gates, the session check.
def rows_of(the_report):
    return _report.change_rows(the_report)


def plan_of(the_report, source='dry_run'):
    return _review.make_plan(rows_of(the_report), source, '2026-12-06T10:00:00Z')


def dry_then(review_answer=None):
    """A promote_after_dry_run answer that calls the review it is given with the dry run's rows, as the service does."""
    dry = finished(COMPLETED, dry_run=True, the_report=report(dry=True))
    real = finished(COMPLETED, the_report=report(number=2, dry=False))

    def answer(review=None, **_arguments):
        dry['refused'] = review(rows_of(dry['report']))
        return (dry, None) if dry['refused'] else (dry, real)
    return answer


def test_the_dry_run_that_matches_the_plan_reviewed_is_promoted_and_says_so():
    task = task_of(dict(promote_after_dry_run=dry_then()), promotion_id=OURS, dry_run_first=True, expected_plan=plan_of(report()))
    result, passed = ended(task)
    assert passed and result['outcome'] == 'promoted'
    assert result['plan_check']['result'] == 'matched' and result['plan_check']['added'] == result['plan_check']['removed'] == []
    assert result['plan']['source'] == 'dry_run' and result['plan']['digest'] == plan_of(report())['digest']


def test_a_change_made_after_the_review_stops_the_promotion_and_names_it():
    journeys = {'configItem': 'Journeys', 'configChange': {'added': ['Forgotten Username'], 'modified': ['Login']}}
    reviewed = plan_of(report(changes={'AMConfig': [journeys]}))
    task = task_of(dict(promote_after_dry_run=dry_then()), promotion_id=OURS, dry_run_first=True, unlock_after=True,
                   expected_plan=reviewed)
    result, passed = ended(task)
    assert not passed and result['outcome'] == 'failed' and result['real_run'] is False
    assert result['plan_check']['result'] == 'differed'
    assert 'Added since the review: deleted IDMConfig / Email > Templates / Welcome' in result['msg']
    assert task.upper.names == ['promote_after_dry_run', 'unlock_after_run']  # the lock is released


def test_a_subset_plan_promotes_a_dry_run_that_holds_fewer_changes():
    more = dict(report()['report'], Scripts=[{'configItem': 'Scripts', 'configChange': {'added': ['extra'], 'modified': [], 'deleted': []}}])
    task = task_of(dict(promote_after_dry_run=dry_then()), promotion_id=OURS, dry_run_first=True, plan_match='subset',
                   expected_plan=plan_of(report(changes=more)))
    result, passed = ended(task)
    assert passed and result['plan_check']['result'] == 'matched' and len(result['plan_check']['removed']) == 1


def test_a_policy_breach_on_the_dry_run_stops_the_promotion_naming_the_rule():
    task = task_of(dict(promote_after_dry_run=dry_then()), promotion_id=OURS, dry_run_first=True, unlock_after=True,
                   policy=dict(max_deletions=0))
    result, passed = ended(task)
    assert not passed and result['policy_breaches'] == ['max_deletions 0: 1 deletions (deleted IDMConfig / Email > Templates / Welcome)']
    assert result['msg'].startswith('The dry run breaks policy: max_deletions 0')
    assert 'plan_check' not in result and task.upper.names == ['promote_after_dry_run', 'unlock_after_run']


def test_check_mode_checks_the_policy_on_the_provisional_report_and_makes_a_provisional_plan():
    provisional = report()
    task = task_of(dict(predict=predicted(True, provisional)), check_mode=True, lower_tenant_url=LOWER_URL, promotion_id=OURS,
                   dry_run_first=True, release=dict(compare_releases=releases()), policy=dict(protected=['AMConfig / Journeys / Login']),
                   expected_plan=plan_of(report(changes={})))
    result, passed = ended(task)
    assert not passed and result['msg'].startswith('The provisional report breaks policy: protected')
    assert 'plan_check' not in result  # check mode makes a plan; it does not hold one to another
    task = task_of(dict(predict=predicted(True, provisional)), check_mode=True, lower_tenant_url=LOWER_URL, promotion_id=OURS,
                   release=dict(compare_releases=releases()))
    result, passed = ended(task)
    assert passed and result['plan']['source'] == 'provisional' and result['plan']['digest'] == plan_of(provisional)['digest']


def test_a_dry_run_only_makes_the_plan_and_checks_the_policy():
    answer = finished(COMPLETED, dry_run=True, the_report=report(dry=True))
    result, passed = ended(task_of(dict(run=answer), promotion_id=OURS, dry_run=True))
    assert passed and result['outcome'] == 'dry_run_only' and result['plan']['source'] == 'dry_run'
    answer = finished(COMPLETED, dry_run=True, the_report=report(dry=True))
    result, passed = ended(task_of(dict(run=answer), promotion_id=OURS, dry_run=True, policy=dict(max_changes=2)))
    assert not passed and result['policy_breaches'] == ['max_changes 2: 3 changes']


def test_a_rollback_has_no_plan_and_no_policy():
    answer = finished(ROLLED_BACK, the_report=report(kind='rollback'), operation='rollback')
    params = dict(promotion_id=OURS, operation='rollback', policy=dict(max_changes=0))
    assert m.refused_combination(options(**params)) is None
    result, passed = ended(task_of(dict(run=answer), **params))
    assert passed and result['plan'] is None and 'policy_breaches' not in result


def test_require_plan_refuses_before_anything_is_made_but_not_a_preview():
    task = task_of(promotion_id=OURS, dry_run_first=True, require_plan=True, lock=True)
    result, passed = ended(task)
    assert not passed and result['outcome'] == 'failed' and 'require_plan' in result['msg'] and 'nothing was locked' in result['msg']
    assert task.connections == [] and task.log == []
    answer = finished(COMPLETED, dry_run=True, the_report=report(dry=True))
    assert ended(task_of(dict(run=answer), promotion_id=OURS, dry_run=True, require_plan=True))[1]
    assert ended(task_of(dict(predict=predicted(True, report())), check_mode=True, lower_tenant_url=LOWER_URL, require_plan=True,
                         release=dict(compare_releases=releases())))[1]


@pytest.mark.parametrize('params, words', [
    (dict(policy=dict(max_changes=-1), dry_run_first=True), 'policy.max_changes must be a non-negative integer'),
    (dict(policy=dict(forbidden=['* / * / *']), dry_run=True), "policy has an unknown key 'forbidden'"),
    (dict(expected_plan=dict(changes='all'), dry_run_first=True), 'expected_plan must be a plan'),
    (dict(expected_plan=dict(changes=[])), 'expected_plan needs dry_run_first: true'),
    (dict(policy=dict(max_changes=1)), 'policy needs dry_run_first: true'),
], ids=['bad max', 'unknown key', 'not a plan', 'a plan without a dry run', 'a policy without a dry run'])
def test_a_bad_policy_or_plan_is_refused_before_anything(params, words):
    refused = m.refused_combination(options(**params))
    assert words in refused and refused.endswith('nothing was locked.')


@pytest.mark.parametrize('state', ['SESSION_INITIALISED', 'SESSION_APPLYING', 'ERROR', 'SOMETHING_NEW'])
def test_an_open_session_or_one_in_error_fails_before_the_lock(state):
    session = FakePromotions('session upper', session_state=dict(status=state, editable=False))
    task = task_of(lock=True, dry_run_first=True)
    task.session_upper = session
    session.log = task.log
    result, passed = ended(task)
    assert not passed and result['session_check']['status'] == state and 'nothing was locked' in result['msg']
    assert task.upper.names == []  # nothing locked, nothing started
    assert ('ERROR' if state == 'ERROR' else 'is open (%s)' % state) in result['msg']


@pytest.mark.parametrize('state', ['NO_SESSION', 'SESSION_APPLIED', 'SESSION_ABORTED'])
def test_no_session_or_one_that_ended_lets_the_promotion_go(state):
    task = task_of(dict(run=finished(COMPLETED, the_report=report())), promotion_id=OURS)
    task.session_upper.answers['session_state'] = dict(status=state, editable=False)
    result, passed = ended(task)
    assert passed and result['session_check'] == dict(skipped=False, status=state, editable=False)
    assert task.log[0] == ('session upper', 'session_state')


@pytest.mark.parametrize('require', [False, True])
def test_a_session_check_without_its_scope_warns_or_fails_when_required(require):
    task = task_of(dict(run=finished(COMPLETED, the_report=report())), promotion_id=OURS, require_session_check=require)
    task.session_upper.answers['session_state'] = PromotionsApiError('insufficient_scope', status=403, method='GET',
                                                                     path='/environment/direct-configuration/session/state',
                                                                     missing_scope=True)
    result, passed = ended(task)
    assert passed is not require
    if require:
        assert 'require_session_check' in result['msg'] and task.upper.names == []
    else:
        assert result['session_check']['skipped'] is True and task.warnings == [result['session_check']['warning']]
        assert SESSION_SCOPE in task.warnings[0]


def test_a_rollback_makes_the_release_check_first_and_is_refused_when_the_releases_differ():
    answer = finished(ROLLED_BACK, the_report=report(kind='rollback'), operation='rollback')
    task = task_of(dict(run=answer), release=dict(compare_releases=releases(upper='2025.8.2', lower='2025.9.0')),
                   operation='rollback', lower_tenant_url=LOWER_URL, promotion_id=OURS)
    result, passed = ended(task)
    assert not passed and result['msg'].startswith('Release check: the lower environment runs 2025.9.0 and this one 2025.8.2')
    assert 'rollback' in result['msg'] and 'allow_release_upgrade' in result['msg'] and task.upper.names == []
    task = task_of(dict(run=finished(ROLLED_BACK, the_report=report(kind='rollback'), operation='rollback')),
                   release=dict(compare_releases=releases()), operation='rollback', lower_tenant_url=LOWER_URL, promotion_id=OURS)
    result, passed = ended(task)
    assert passed and result['release_check']['skipped'] is False and task.log[0] == ('release upper', 'compare_releases')
