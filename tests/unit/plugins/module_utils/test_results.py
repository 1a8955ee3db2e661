# -*- coding: utf-8 -*-
"""promotion_run's return values (``_service.run_fields``, ``_service.task_result``), the outcome words of the role
(``_states.outcome_name``) and the status of a failure in the same shape as on success (``_states.Status.fields``).
Pure functions: their inputs are built as ``Promotions.run`` builds them, with the real ``Status`` and ``Verdict``."""

from __future__ import annotations

import re

import pytest
import yaml

from ansible_collections.idcloud.promotions.plugins.module_utils import _service as s
from ansible_collections.idcloud.promotions.plugins.module_utils import _states as states
from ansible_collections.idcloud.promotions.plugins.module_utils._report import change_rows, render_markdown
from ansible_collections.idcloud.promotions.plugins.modules import promotion_run

OURS = '8acd3a87-2272-450f-a3b3-1eb222108740'
TXN = 'txn-5e7c0d2a'
COMPLETED = dict(status='READY', message='Promotion completed', type='promotion')
NO_CHANGE = dict(status='READY', message='Promotion completed (no change)', type='promotion')
MISSING_ESVS = dict(status='ERROR', message='Missing ESVs', missingESVs=['esv.email.from', 'esv.smtp.host'], type='promotion')
CHANGES = {'AMConfig': [{'configItem': 'Journeys', 'configChange': {'added': ['Forgotten Username'], 'modified': ['Login'], 'deleted': []}}],
           'IDMConfig': [{'configItem': 'Email > Templates', 'configChange': {'added': [], 'modified': [], 'deleted': ['Welcome']}}]}


def report(changes=None, number=1, dry=None, kind='promotion'):
    """A report as the tenant sends it; ``dry`` None leaves ``dryRun`` out, as the seed's bodies do."""
    body = dict(reportId='report-%d' % number, promotionId=OURS, createdDate='2022-04-19T17:%02d:05Z' % number, type=kind,
                report=CHANGES if changes is None else changes)
    if dry is not None:
        body['dryRun'] = dry
    return body


def finished(status_body, dry_run=False, the_report=None, operation='promotion', attached=False, history=None):
    """A ``Promotions.run`` result for a run that ended: the verdict is the real one for that status and report."""
    status = states.Status(status_body)
    report_empty = None if the_report is None else not change_rows(the_report)
    verdict = states.Verdict(status, operation, dry_run is not False, report_empty, False, OURS, TXN)
    return dict(changed=verdict.changed, promotion_id=OURS, status=status, verdict=verdict,
                history=[dict(status='RUNNING', message='Prepare config')] if history is None else history,
                report=the_report, attached=attached, dry_run=dry_run)


def predicted(changed, the_report=None, status_body=None):
    """A check-mode result (``Promotions.run`` in check mode, or ``predict``): no verdict, nothing ran."""
    return dict(changed=changed, promotion_id=OURS, status=states.Status(status_body or dict(status='READY', message='Environment ready')),
                verdict=None, history=[], report=the_report, attached=False, dry_run=the_report is not None)


# run_fields
def test_a_promotion_that_changed_returns_its_status_report_and_counts():
    """Every field of one run, the status as its word: what a playbook registers and tests."""
    run = finished(COMPLETED, the_report=report())
    result, passed = s.run_fields(run, 'promote', report_files=('a.json', 'a.md'))
    assert passed is True
    assert result['changed'] is True
    assert (result['status'], result['message'], result['type']) == ('READY', 'Promotion completed', 'promotion')
    assert (result['promotion_id'], result['attached'], result['history']) == (OURS, False, run['history'])
    assert (result['blocking_error'], result['missing_esvs'], result['encrypted_secrets']) == (False, [], [])
    assert result['report'] is run['report']
    assert result['report_files'] == ['a.json', 'a.md']
    assert result['empty'] is False
    assert (result['summary']['added'], result['summary']['modified'], result['summary']['deleted'], result['summary']['total']) == (1, 1, 1, 3)
    assert [(row['area'], row['change'], row['name']) for row in result['changes']] == [
        ('AMConfig', 'added', 'Forgotten Username'), ('AMConfig', 'modified', 'Login'), ('IDMConfig', 'deleted', 'Welcome')]
    assert result['msg'] == 'The promotion finished: Promotion completed.'
    assert 'diff' not in result


@pytest.mark.parametrize('status_type, operation, expected', [
    (None, 'promote', 'promotion'),
    (None, 'rollback', 'rollback'),
    ('rollback', 'promote', 'rollback'),
    ('promotion', 'rollback', 'promotion'),
], ids=['promote-untyped', 'rollback-untyped', 'status-says-rollback', 'status-says-promotion'])
def test_type_is_the_status_one_else_the_operation_kind(status_type, operation, expected):
    """The seed's statuses leave ``type`` out: the kind of run is then the one the task asked for."""
    body = dict(status='READY', message='Done')
    if status_type:
        body['type'] = status_type
    result, _passed = s.run_fields(finished(body, operation='rollback' if operation == 'rollback' else 'promotion'), operation)
    assert result['type'] == expected


def test_a_run_without_a_verdict_passes_and_sets_no_msg():
    """wait: false and check mode have no verdict yet: nothing failed, and no message to give."""
    result, passed = s.run_fields(predicted(True), 'promote')
    assert passed is True
    assert 'msg' not in result
    assert (result['report'], result['empty'], result['changes']) == (None, True, [])


def test_a_failed_run_does_not_pass_and_its_msg_is_the_verdict_message():
    run = finished(MISSING_ESVS, the_report=report())
    result, passed = s.run_fields(run, 'promote')
    assert passed is False
    assert result['changed'] is False
    assert result['msg'] == run['verdict'].message
    assert 'esv.email.from, esv.smtp.host' in result['msg']
    assert result['missing_esvs'] == ['esv.email.from', 'esv.smtp.host']


@pytest.mark.parametrize('dry_run', [True, False])
def test_diff_prepares_the_markdown_of_the_report(dry_run):
    """The report carries no dryRun: the markdown heading says dry run from what the run itself was."""
    run = finished(COMPLETED, dry_run=dry_run, the_report=report())
    result, _passed = s.run_fields(run, 'promote', diff=True)
    prepared = result['diff']['prepared']
    assert prepared == render_markdown(run['report'], dry_run=dry_run)
    assert prepared.splitlines()[0] == ('# Promotion report (dry run)' if dry_run else '# Promotion report')
    assert '| **All** | **1** | **1** | **1** | **3** |' in prepared
    assert set(result['diff']) == {'prepared'}


@pytest.mark.parametrize('run, diff', [(predicted(True), True), (finished(COMPLETED, the_report=report()), False)],
                         ids=['no report', 'diff off'])
def test_no_diff_without_a_report_or_without_diff_mode(run, diff):
    result, _passed = s.run_fields(run, 'promote', diff=diff)
    assert 'diff' not in result


# task_result
def test_a_promotion_that_changed_is_promoted():
    result, passed = s.task_result('promote', None, finished(COMPLETED, the_report=report()), report_files=['p.md'])
    assert passed is True
    assert result['outcome'] == 'promoted'
    assert (result['real_run'], result['changed'], result['dry_run_result']) == (True, True, None)
    assert result['report_files'] == ['p.md']


def test_a_promotion_already_done_under_the_lock_is_promoted_though_nothing_ran_now():
    """run() finds the real promotion of this lock finished (a rerun after an interruption): not changed now, but the
    promotion happened, and its report says what it changed."""
    before = states.Status(COMPLETED)
    verdict = states.Verdict(before, 'promotion', False, True)
    run = dict(changed=False, promotion_id=OURS, status=before, verdict=verdict, history=[], report=report(dry=False),
               attached=False, dry_run=False)
    result, passed = s.task_result('promote', None, run)
    assert passed is True
    assert (result['changed'], result['real_run'], result['empty']) == (False, True, False)
    assert result['outcome'] == 'promoted'


def test_a_promotion_that_changed_nothing_is_nothing_to_promote():
    result, passed = s.task_result('promote', None, finished(NO_CHANGE, the_report=report(changes={})))
    assert passed is True
    assert (result['changed'], result['real_run'], result['empty']) == (False, True, True)
    assert result['outcome'] == 'nothing_to_promote'


@pytest.mark.parametrize('changes, expected', [(None, 'rolled_back'), ({}, 'nothing_to_roll_back')])
def test_a_rollback_is_rolled_back_or_nothing_to_roll_back(changes, expected):
    body = dict(status='READY', message='Rollback completed' if changes is None else 'Rollback completed (no change)')
    run = finished(body, the_report=report(changes, kind='rollback'), operation='rollback')
    result, passed = s.task_result('rollback', None, run)
    assert passed is True
    assert result['type'] == 'rollback'
    assert result['outcome'] == expected


def test_a_dry_run_only_is_dry_run_only_and_not_a_real_run():
    run = finished(COMPLETED, dry_run=True, the_report=report(dry=True))
    result, passed = s.task_result('promote', None, run, dry_run=True, report_files=['dry.md'])
    assert passed is True
    assert result['outcome'] == 'dry_run_only'
    assert (result['real_run'], result['changed'], result['empty']) == (False, False, False)
    assert result['msg'] == 'The dry run finished: Promotion completed.'
    assert result['report_files'] == ['dry.md']


def test_a_dry_run_first_that_found_nothing_starts_no_promotion():
    """promote_after_dry_run returned (dry, None): the values are the dry run's, and the message says why nothing ran."""
    dry = finished(NO_CHANGE, dry_run=True, the_report=report(changes={}, dry=True))
    result, passed = s.task_result('promote', dry, None, dry_report_files=['dry.md'], report_files=['p.md'])
    assert passed is True
    assert result['real_run'] is False
    assert result['msg'] == 'The dry run found nothing to promote; the promotion was not started (no restart).'
    assert 'found nothing' in result['msg']
    assert result['outcome'] == 'nothing_to_promote'
    assert result['report_files'] == ['dry.md']  # no promotion, so no promotion report
    fields = result['dry_run_result']
    assert set(fields) == set(s.DRY_RUN_FIELDS)
    assert (fields['status'], fields['message'], fields['empty'], fields['report_files']) == (
        'READY', 'Promotion completed (no change)', True, ['dry.md'])
    assert fields['report'] is dry['report']
    assert (fields['missing_esvs'], fields['encrypted_secrets'], fields['changes']) == ([], [], [])
    assert fields['summary']['total'] == 0


def test_a_dry_run_first_then_the_promotion_lists_the_dry_run_files_first():
    dry = finished(COMPLETED, dry_run=True, the_report=report(number=1, dry=True))
    real = finished(COMPLETED, the_report=report(number=2, dry=False))
    result, passed = s.task_result('promote', dry, real, dry_report_files=['dry.json', 'dry.md'], report_files=['p.json', 'p.md'])
    assert passed is True
    assert result['outcome'] == 'promoted'
    assert (result['real_run'], result['changed']) == (True, True)
    assert result['report_files'] == ['dry.json', 'dry.md', 'p.json', 'p.md']
    assert result['report']['reportId'] == 'report-2'
    assert result['msg'] == 'The promotion finished: Promotion completed.'
    fields = result['dry_run_result']
    assert fields['report']['reportId'] == 'report-1'
    assert fields['report_files'] == ['dry.json', 'dry.md']
    assert (fields['status'], fields['empty'], fields['summary']['total']) == ('READY', False, 3)


def test_a_failed_run_is_failed_with_the_verdict_message():
    real = finished(MISSING_ESVS, the_report=report())
    result, passed = s.task_result('promote', None, real)
    assert passed is False
    assert result['outcome'] == 'failed'
    assert result['msg'] == real['verdict'].message
    assert result['msg'].startswith('The promotion stopped on missing ESVs esv.email.from, esv.smtp.host')
    assert (result['status'], result['missing_esvs'], result['changed']) == ('ERROR', ['esv.email.from', 'esv.smtp.host'], False)


def test_a_dry_run_first_that_failed_is_failed_and_keeps_the_dry_run_message():
    """The dry run stopped the promotion because it failed, not because it found nothing: its own message stays."""
    dry = finished(MISSING_ESVS, dry_run=True, the_report=report(dry=True))
    result, passed = s.task_result('promote', dry, None, dry_report_files=['dry.md'])
    assert passed is False
    assert result['outcome'] == 'failed'
    assert result['real_run'] is False
    assert result['msg'] == dry['verdict'].message
    assert result['msg'].startswith('The dry run stopped on missing ESVs')
    assert result['dry_run_result']['missing_esvs'] == ['esv.email.from', 'esv.smtp.host']


@pytest.mark.parametrize('operation, run, expected', [
    ('promote', predicted(True), 'would_promote'),
    ('promote', predicted(False), 'nothing_to_promote'),
    ('promote', predicted(True, the_report=report()), 'would_promote'),
    ('rollback', predicted(True), 'would_roll_back'),
    ('rollback', predicted(False), 'nothing_to_roll_back'),
], ids=['would promote', 'nothing to promote', 'with preview', 'would roll back', 'nothing to roll back'])
def test_check_mode_predictions(operation, run, expected):
    """In check mode nothing runs: real_run is false even for a predicted promotion."""
    result, passed = s.task_result(operation, None, run, check_mode=True)
    assert passed is True
    assert result['outcome'] == expected
    assert result['real_run'] is False
    assert 'msg' not in result


def test_check_mode_with_a_preview_shows_its_diff_and_without_one_none():
    with_preview, _passed = s.task_result('promote', None, predicted(True, the_report=report()), check_mode=True, diff=True)
    assert with_preview['diff']['prepared'].splitlines()[0] == '# Promotion report (dry run)'
    without, _passed = s.task_result('promote', None, predicted(True), check_mode=True, diff=True)
    assert 'diff' not in without


def test_diff_of_a_dry_run_then_promotion_is_the_promotion_report():
    dry = finished(COMPLETED, dry_run=True, the_report=report(number=1, dry=True))
    real = finished(COMPLETED, the_report=report(number=2, dry=False))
    result, _passed = s.task_result('promote', dry, real, diff=True)
    assert '- Report id: report-2' in result['diff']['prepared']
    assert 'diff' not in result['dry_run_result']


@pytest.mark.parametrize('dry, real, options', [
    (None, finished(COMPLETED, the_report=report()), {}),
    (None, finished(MISSING_ESVS), {}),
    (None, finished(dict(status='in_progress', message='Prepare config')), {}),
    (finished(NO_CHANGE, dry_run=True, the_report=report(changes={})), None, {}),
    (finished(COMPLETED, dry_run=True, the_report=report()), finished(COMPLETED, the_report=report()), {}),
    (None, predicted(True), dict(check_mode=True)),
], ids=['promoted', 'failed', 'in progress', 'dry found nothing', 'dry then real', 'check mode'])
def test_status_is_always_a_string(dry, real, options):
    """As on success so on failure: the status word, never the Status object (IN_PROGRESS read as RUNNING)."""
    result, _passed = s.task_result('promote', dry, real, **options)
    assert isinstance(result['status'], str)
    assert result['status'] in ('READY', 'ERROR', 'RUNNING')
    if result['dry_run_result'] is not None:
        assert isinstance(result['dry_run_result']['status'], str)


def test_in_progress_is_reported_as_running():
    result, _passed = s.task_result('promote', None, finished(dict(status='IN_PROGRESS', message='Prepare config')))
    assert result['status'] == 'RUNNING'


# outcome_name
OUTCOME_TABLE = [
    # operation, check_mode, dry_run, real_run, changed, empty, outcome
    ('promote', False, False, True, True, False, 'promoted'),
    ('promote', False, False, True, False, False, 'promoted'),  # done earlier under this lock: its report lists changes
    ('promote', False, False, True, False, True, 'nothing_to_promote'),
    ('promote', False, False, False, False, True, 'nothing_to_promote'),  # the dry run first found nothing
    ('promote', False, True, False, False, False, 'dry_run_only'),
    ('promote', False, True, False, False, True, 'dry_run_only'),
    ('promote', True, False, False, True, True, 'would_promote'),
    ('promote', True, False, False, False, True, 'nothing_to_promote'),
    ('promote', True, True, False, False, True, 'nothing_to_promote'),  # a dry run changes nothing, in check mode too
    ('promote', True, True, False, False, False, 'dry_run_only'),  # but its preview shows what it would find
    ('rollback', False, False, True, True, False, 'rolled_back'),
    ('rollback', False, False, True, False, True, 'nothing_to_roll_back'),
    ('rollback', True, False, False, True, True, 'would_roll_back'),
    ('rollback', True, False, False, False, True, 'nothing_to_roll_back'),
]


@pytest.mark.parametrize('operation, check_mode, dry_run, real_run, changed, empty, expected', OUTCOME_TABLE)
def test_outcome_name(operation, check_mode, dry_run, real_run, changed, empty, expected):
    assert states.outcome_name(operation, check_mode, dry_run, real_run, changed, empty) == expected


def test_the_outcome_table_covers_every_word_the_module_documents():
    """Every V(word) of promotion_run's ``outcome`` return value but ``failed`` (set on failure, not by outcome_name)."""
    documented = set(re.findall(r'V\((\w+)\)', ' '.join(yaml.safe_load(promotion_run.RETURN)['outcome']['description'])))
    assert documented - {'failed'} == {row[-1] for row in OUTCOME_TABLE}
    assert 'failed' in documented


# The status of a failure: the service raises it as Status.fields(), the shape a run's result gives it.
STATUS_FIELDS = ('status', 'message', 'blocking_error', 'missing_esvs', 'encrypted_secrets')


@pytest.mark.parametrize('status_body', [
    dict(status='ERROR', message='Failed to promote config', blockingError=True, missingESVs=['esv.a'], encryptedSecrets=['x.json:1'],
         promotionId=OURS),
    dict(status='IN_PROGRESS', message='Prepare config'),
    MISSING_ESVS,
], ids=['blocking error with every list', 'running without lists', 'missing ESVs'])
def test_a_failure_gives_its_status_as_a_run_result_does(status_body):
    """A failure names the status it read as ``Status.fields()``: the same fields, with the same values, as a result."""
    status = states.Status(status_body)
    result, _passed = s.run_fields(finished(status_body), 'promote')
    assert status.fields() == {field: result[field] for field in STATUS_FIELDS}
    assert isinstance(status.fields()['status'], str)
    assert isinstance(status.fields()['missing_esvs'], list) and isinstance(status.fields()['encrypted_secrets'], list)
