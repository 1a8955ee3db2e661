# -*- coding: utf-8 -*-
"""What every module shares (``_module``): a ``TaskSpec``'s options, the libraries it needs, and ``run_task`` with
``PromotionTask.execute``, which turn every failure into a failed result that says what to do next (never a
traceback, but for a bug), checked before the step sends anything."""

from __future__ import annotations

import json

import pytest

from ansible_collections.idcloud.promotions.plugins.module_utils import _module as mu
from ansible_collections.idcloud.promotions.plugins.module_utils import _states as states
from ansible_collections.idcloud.promotions.plugins.module_utils._errors import ConfigurationError, PromotionError
from ansible_collections.idcloud.promotions.plugins.module_utils._files import LockRecord
from ansible_collections.idcloud.promotions.plugins.module_utils._service import RELEASE_SCOPE, Promotions
from ansible_collections.idcloud.promotions.plugins.modules import promotion_run

from tests.unit.plugins.module_utils.test_service import NEW, OURS, TXN, URL, api_error, record_file
from tests.unit.plugins.modules.support import LOWER_URL, module_params

OWN_SPEC = dict(dest=dict(type='path'), record=dict(type='path'), failure_dest=dict(type='path'),
                wait_timeout=dict(type='float', default=60))


class Step:
    """A module's step: records the task it was given, then does what it is told (``answer``: a result to return,
    an exception to raise, or a callable taking the task)."""

    def __init__(self, answer=None):
        self.answer = dict(changed=True) if answer is None else answer
        self.tasks = []

    def __call__(self, task):
        self.tasks.append(task)
        if isinstance(self.answer, BaseException):
            raise self.answer
        if callable(self.answer):
            return self.answer(task)
        return dict(self.answer)


def params(**options):
    return module_params(OWN_SPEC, **options)


def spec_of(step, refused=None, lower_connection=False):
    return mu.TaskSpec(OWN_SPEC, step, lower_connection=lower_connection, refused=refused)


# TaskSpec
def test_the_full_argument_spec_is_the_connection_then_the_modules_own_options():
    spec = mu.TaskSpec(dict(scope=dict(type='str', default='fr:idc:release:*'), dest=dict(type='path')), Step())
    full = spec.full_argument_spec()
    assert set(mu.CONNECTION_ARGUMENT_SPEC) < set(full) and 'dest' in full
    assert full['scope']['default'] == 'fr:idc:release:*'  # the module's own option wins
    assert mu.CONNECTION_ARGUMENT_SPEC['scope']['default'] == mu.DEFAULT_SCOPE  # and the shared spec is left alone
    assert not set(mu.LOWER_CONNECTION_ARGUMENT_SPEC) & set(full)
    assert set(mu.LOWER_CONNECTION_ARGUMENT_SPEC) < set(spec_of(Step(), lower_connection=True).full_argument_spec())


def test_the_constraints_pair_the_credentials_of_each_environment():
    upper = spec_of(Step()).constraints()
    assert upper == dict(required_one_of=[('access_token', 'service_account_id')],
                         required_together=[('service_account_id', 'service_account_key')],
                         mutually_exclusive=[('access_token', 'service_account_id')])
    both = spec_of(Step(), lower_connection=True).constraints()
    assert ('lower_service_account_id', 'lower_service_account_key') in both['required_together']
    assert ('lower_access_token', 'lower_service_account_id') in both['mutually_exclusive']
    assert both['required_one_of'] == upper['required_one_of']


# missing_library
def test_no_library_is_missing_here():
    assert mu.missing_library(params()) is None
    assert mu.missing_library(params(service_account_id='sa', service_account_key='{}')) is None


def test_requests_missing_is_named(monkeypatch):
    monkeypatch.setattr(mu, 'REQUESTS_IMPORT_ERROR', ImportError("No module named 'requests'"))
    message, error = mu.missing_library(params())
    assert 'requests' in message and error == "No module named 'requests'"


def test_cryptography_is_needed_only_with_a_service_account(monkeypatch):
    monkeypatch.setattr(mu, 'CRYPTOGRAPHY_IMPORT_ERROR', ImportError("No module named 'cryptography'"))
    assert mu.missing_library(params()) is None  # a static token needs no signing
    message, error = mu.missing_library(params(access_token=None, service_account_id='sa', service_account_key='{}'))
    assert 'cryptography' in message and error == "No module named 'cryptography'"


def test_cryptography_is_needed_with_a_service_account_of_the_lower_environment(monkeypatch):
    monkeypatch.setattr(mu, 'CRYPTOGRAPHY_IMPORT_ERROR', ImportError("No module named 'cryptography'"))
    options = module_params(OWN_SPEC, lower_connection=True, lower_tenant_url=LOWER_URL, lower_service_account_id='sa',
                            lower_service_account_key='{}')
    assert mu.missing_library(options) is not None


def test_run_task_fails_on_a_missing_library_before_the_step(monkeypatch):
    monkeypatch.setattr(mu, 'REQUESTS_IMPORT_ERROR', ImportError("No module named 'requests'"))
    step = Step()
    result = mu.run_task(spec_of(step), params())
    assert result['failed'] is True and 'requests' in result['msg'] and result['exception'] == "No module named 'requests'"
    assert step.tasks == []


# run_task
def test_a_step_that_passes_returns_its_result_with_the_transaction_id_and_the_time_taken():
    step = Step(dict(changed=True, promotion_id=OURS))
    result = mu.run_task(spec_of(step), params(transaction_id=TXN))
    assert result['changed'] is True and result['promotion_id'] == OURS and 'failed' not in result
    assert result['transaction_id'] == TXN
    assert isinstance(result['elapsed'], float) and 0 <= result['elapsed'] < 5
    assert 'warnings' not in result and 'msg' not in result


def test_the_task_gets_the_options_the_modes_and_the_progress():
    step, lines = Step(), []
    mu.run_task(spec_of(step), params(wait_timeout=5.0), check_mode=True, diff=True, progress=lines.append)
    task = step.tasks[0]
    assert isinstance(task, mu.PromotionTask)
    assert (task.check_mode, task.diff, task.progress, task.params['wait_timeout']) == (True, True, lines.append, 5.0)


def test_the_services_of_a_task_share_its_modes_progress_and_transaction_id():
    lines, made = [], {}

    def connect(task):
        made.update(upper=task.promotions(), lower=task.promotions(tenant_url=LOWER_URL))
        return dict(changed=False)

    result = mu.run_task(spec_of(Step(connect)), params(transaction_id=TXN), check_mode=True, progress=lines.append)
    upper, lower = made['upper'], made['lower']
    assert isinstance(upper, Promotions) and upper.check_mode is True and upper.progress == lines.append
    assert upper.client.base_url == URL and lower.client.base_url == LOWER_URL
    assert upper.client.transaction_id == lower.client.transaction_id == result['transaction_id'] == TXN


def test_without_a_transaction_id_the_first_clients_own_is_returned():
    made = []

    def connect(task):
        made.append(task.promotions().client)
        raise PromotionError('boom')

    result = mu.run_task(spec_of(Step(connect)), params())
    assert result['failed'] is True and result['transaction_id'] == made[0].transaction_id and result['transaction_id']


def test_every_client_made_is_closed_whatever_the_step_did():
    closed = []

    def noted(client):
        client.close = lambda: closed.append(client.base_url)
        return client

    def connect(task):
        noted(task.promotions().client)
        noted(task.promotions(tenant_url=LOWER_URL).client)
        raise ValueError('boom')

    mu.run_task(spec_of(Step(connect)), params())
    assert closed == [URL, LOWER_URL]


@pytest.mark.parametrize('options, words', [
    (dict(dry_run=True, dry_run_first=True), 'dry_run and dry_run_first exclude each other'),
    (dict(dry_run_first=True, wait=False), 'dry_run_first needs wait: true'),
])
def test_a_refused_combination_fails_with_its_message_before_anything_runs(options, words):
    result = mu.run_task(promotion_run.TASK, module_params(promotion_run.ARGUMENT_SPEC, lower_connection=True, **options))
    assert sorted(result) == ['failed', 'msg'] and result['failed'] is True  # nothing ran: no transaction, no time
    assert result['msg'].startswith(words)


def test_a_refused_combination_runs_no_step_and_no_check():
    step = Step()
    result = mu.run_task(spec_of(step, refused=lambda options: 'these options exclude each other'), params(tenant_url='http://x'))
    assert result == dict(failed=True, msg='these options exclude each other') and step.tasks == []
    result = mu.run_task(spec_of(step, refused=lambda options: None), params())
    assert 'failed' not in result and len(step.tasks) == 1


def test_a_promotion_error_fails_with_its_message_and_fields():
    error = PromotionError('The environments are already locked for promotion %s.' % OURS, holder=OURS, lock=dict(result='locked'))
    result = mu.run_task(spec_of(Step(error)), params(transaction_id=TXN))
    assert result['failed'] is True and result['msg'] == 'The environments are already locked for promotion %s.' % OURS
    assert (result['holder'], result['lock']) == (OURS, dict(result='locked'))
    assert result['transaction_id'] == TXN and isinstance(result['elapsed'], float)
    assert 'exception' not in result


def test_a_failure_names_the_lock_the_task_holds_and_its_status_as_a_word():
    status = states.Status(dict(status='RUNNING', message='Prepare config', promotionId=OURS))

    def fail(task):
        task.promotions().held = OURS  # as the service does once the lock it works under is known
        raise PromotionError('Timed out after 3600 s.', status.fields(), resumed=False)

    result = mu.run_task(spec_of(Step(fail)), params())
    assert result['promotion_id'] == OURS and result['resumed'] is False  # the lock held, and the error's own fields
    assert (result['status'], result['message'], result['blocking_error']) == ('RUNNING', 'Prepare config', False)
    assert (result['missing_esvs'], result['encrypted_secrets']) == ([], [])
    assert result['msg'] == 'Timed out after 3600 s.'


def test_a_failure_names_the_lock_held_by_any_environment_of_the_task():
    def fail(task):
        upper, lower, _release_upper, _release_lower, _session = task.environments(lower=True)
        assert upper.held is None
        lower.held = OURS
        raise PromotionError('refused')

    spec = spec_of(Step(fail), lower_connection=True)
    result = mu.run_task(spec, module_params(OWN_SPEC, lower_connection=True, lower_tenant_url=LOWER_URL, lower_access_token='lower'))
    assert result['failed'] is True and result['promotion_id'] == OURS


def test_a_failure_of_a_task_that_holds_no_lock_names_none():
    def fail(task):
        task.promotions()
        raise PromotionError('The environments are already locked for promotion %s.' % OURS, holder=OURS)

    result = mu.run_task(spec_of(Step(fail)), params())
    assert result['failed'] is True and 'promotion_id' not in result and result['holder'] == OURS


def test_the_lock_held_wins_over_a_lock_a_failure_names_and_a_success_is_left_as_it_is():
    def fail(task):
        task.promotions().held = NEW
        raise PromotionError('Locking did not complete.', promotion_id=OURS)

    assert mu.run_task(spec_of(Step(fail)), params())['promotion_id'] == NEW

    def passes(task):
        task.promotions().held = NEW
        return dict(changed=False, promotion_id=OURS)

    result = mu.run_task(spec_of(Step(passes)), params())
    assert 'failed' not in result and result['promotion_id'] == OURS


@pytest.mark.parametrize('fields', [
    dict(status='READY', message='Promotion completed', blocking_error=False, missing_esvs=['esv.kept']),
    dict(error=dict(status=500, message='Internal error')),
], ids=['string status', 'no status'])
def test_the_fields_of_a_failure_are_returned_as_they_are(fields):
    """A failure names its status as a result does (``Status.fields``): nothing is reshaped on the way out."""
    result = mu.run_task(spec_of(Step(PromotionError('refused', dict(fields)))), params())
    assert {key: result[key] for key in fields} == fields
    assert set(result) == set(fields) | {'failed', 'msg', 'transaction_id', 'elapsed'}


def test_an_api_error_fails_with_the_request_and_the_error_as_the_tenant_gave_it():
    result = mu.run_task(spec_of(Step(api_error(403, 'Forbidden'))), params())
    assert result['failed'] is True and 'HTTP 403: Forbidden' in result['msg']
    assert result['error']['status'] == 403 and result['error']['message'] == 'Forbidden'


def test_an_unexpected_exception_is_a_message_naming_a_bug_with_the_traceback():
    def broken(task):
        task.promotions().held = OURS
        return {}['no-such-key']

    result = mu.run_task(spec_of(Step(broken)), params(transaction_id=TXN))
    assert result['failed'] is True
    assert result['msg'].startswith("Unexpected error (KeyError: 'no-such-key').")
    assert 'bug of idcloud.promotions' in result['msg'] and 'transaction id' in result['msg']
    assert result['exception'].startswith('Traceback') and 'in broken' in result['exception']
    assert result['promotion_id'] == OURS and result['transaction_id'] == TXN


def test_a_task_that_does_not_verify_certificates_warns_once():
    def connect(task):
        task.promotions()
        task.promotions(tenant_url=LOWER_URL)
        return dict(changed=False)

    result = mu.run_task(spec_of(Step(connect)), params(validate_certs=False))
    assert result['warnings'] == ['validate_certs is false: the tenant certificate is not verified.']


@pytest.mark.parametrize('answer', [dict(changed=False), PromotionError('refused'), RuntimeError('bug')], ids=['passed', 'failed', 'bug'])
def test_the_warnings_of_the_step_are_returned_whatever_the_end(answer):
    def warn(task):
        task.warn('validate_certs is false: the tenant certificate is not verified.')
        task.warn('Release check skipped.')
        return Step(answer)(task)

    result = mu.run_task(spec_of(Step(warn)), params())
    assert result['warnings'] == ['validate_certs is false: the tenant certificate is not verified.', 'Release check skipped.']
    assert result.get('failed', False) is not isinstance(answer, dict)


def test_a_task_that_warns_nothing_returns_no_warnings_even_when_it_fails():
    assert 'warnings' not in mu.run_task(spec_of(Step(PromotionError('refused'))), params())


# failure_dest: a failure's whole result in a file, the file of the last run only.
def test_a_failure_is_kept_whole_in_failure_dest_and_a_success_removes_it(tmp_path):
    kept = tmp_path / 'reports' / 'failure.json'
    failed = mu.run_task(spec_of(Step(PromotionError('refused', dict(report_files=['dry-run.md'])))), params(failure_dest=str(kept)))
    assert failed['failed'] is True and failed['failure_file'] == str(kept)
    assert json.loads(kept.read_text()) == {key: value for key, value in failed.items() if key != 'warnings'}
    assert json.loads(kept.read_text())['report_files'] == ['dry-run.md']
    refused = mu.run_task(spec_of(Step(), refused=lambda options: 'these options exclude each other'), params(failure_dest=str(kept)))
    assert json.loads(kept.read_text())['msg'] == refused['msg'] == 'these options exclude each other'
    passed = mu.run_task(spec_of(Step()), params(failure_dest=str(kept)))
    assert passed == dict(changed=True, transaction_id=passed['transaction_id'], elapsed=passed['elapsed']) and not kept.exists()


def test_check_mode_neither_writes_nor_removes_failure_dest(tmp_path):
    kept = tmp_path / 'failure.json'
    assert 'failure_file' not in mu.run_task(spec_of(Step(PromotionError('refused'))), params(failure_dest=str(kept)), check_mode=True)
    assert not kept.exists()
    kept.write_text('{"msg": "the last real run"}')
    mu.run_task(spec_of(Step()), params(failure_dest=str(kept)), check_mode=True)
    assert kept.read_text() == '{"msg": "the last real run"}'


def test_a_failure_dest_that_cannot_be_written_is_a_warning_not_a_second_failure(tmp_path):
    def block_the_folder(task):
        (tmp_path / 'reports').write_text('a file where the folder should be')
        raise PromotionError('refused')

    result = mu.run_task(spec_of(Step(block_the_folder)), params(failure_dest=str(tmp_path / 'reports' / 'failure.json')))
    assert result['msg'] == 'refused' and 'failure_file' not in result
    assert len(result['warnings']) == 1 and result['warnings'][0].startswith('failure_dest: Cannot write %s' % (tmp_path / 'reports'))


# check_options: refused before the step runs, so before any request.
@pytest.mark.parametrize('options, words', [
    (dict(tenant_url='http://tenant.example.com'), 'tenant_url must be an https:// URL'),
    (dict(tenant_url='https://tenant.example.com/?x=1'), 'tenant_url must not carry a query'),
    (dict(wait_timeout=0.0), 'wait_timeout must be a positive number of seconds, not 0.0'),
    (dict(request_timeout=-1.0), 'request_timeout must be a positive number of seconds'),
], ids=['http', 'query', 'wait_timeout 0', 'request_timeout negative'])
def test_options_that_cannot_work_fail_before_the_step_runs(options, words):
    step = Step()
    result = mu.run_task(spec_of(step), params(transaction_id=TXN, **options))
    assert result['failed'] is True and words in result['msg']
    assert step.tasks == []  # the step, which alone sends requests, never ran
    assert result['transaction_id'] == TXN and 'exception' not in result


def test_a_lower_tenant_url_that_is_not_https_is_refused():
    spec = spec_of(Step(), lower_connection=True)
    result = mu.run_task(spec, module_params(OWN_SPEC, lower_connection=True, lower_tenant_url='http://lower.example.com'))
    assert result['failed'] is True and result['msg'].startswith('lower_tenant_url must be an https:// URL')


def test_a_destination_that_cannot_be_written_and_a_record_of_another_tenant_are_refused(tmp_path):
    step = Step()
    result = mu.run_task(spec_of(step), params(dest=str(tmp_path)))
    assert result['failed'] is True and 'dest %s is a directory' % tmp_path in result['msg']
    result = mu.run_task(spec_of(step), params(record=record_file(tmp_path, tenant_url='https://other.example.com')))
    assert result['failed'] is True and 'is the lock record of https://other.example.com' in result['msg']
    assert step.tasks == []


def test_check_options_raises_a_configuration_error():
    task = mu.PromotionTask(params(tenant_url='http://tenant.example.com'))
    with pytest.raises(ConfigurationError, match='https://'):
        task.check_options()
    mu.PromotionTask(params()).check_options()  # sound options pass


# The environments of a task and the lock record.
def lower_params(**options):
    return module_params(OWN_SPEC, lower_connection=True, **dict(dict(lower_tenant_url=LOWER_URL, lower_access_token='lower'), **options))


def asked(task):
    """The connection overrides of each environment ``task`` makes, noted as it makes them."""
    made, real = [], task.promotions

    def promotions(**connection):
        made.append(connection)
        return real(**connection)

    task.promotions = promotions
    return made


def test_the_environments_are_the_upper_one_and_those_asked_for_under_one_transaction_id():
    task = mu.PromotionTask(lower_params(transaction_id=TXN, lower_ca_path='/lower/ca.pem'))
    made = asked(task)
    upper, lower, release_upper, release_lower, _session = task.environments(lower=True, release_check=True)
    lower_options = dict(tenant_url=LOWER_URL, access_token='lower', service_account_id=None, service_account_key=None,
                         ca_path='/lower/ca.pem', key_option='lower_service_account_key')
    assert made == [{}, lower_options, dict(scope=RELEASE_SCOPE), dict(lower_options, scope=RELEASE_SCOPE)]
    assert [env.client.base_url for env in (upper, lower, release_upper, release_lower)] == [URL, LOWER_URL, URL, LOWER_URL]
    assert len({id(env) for env in (upper, lower, release_upper, release_lower)}) == 4
    assert {env.client.transaction_id for env in (upper, lower, release_upper, release_lower)} == {TXN}
    assert task.connected == [upper, lower, release_upper, release_lower]


@pytest.mark.parametrize('options, lower, release_check, expected', [
    (dict(), False, False, [True, False, False, False, False]),
    (dict(), True, True, [True, False, True, False, False]),
    (dict(lower_tenant_url=LOWER_URL, lower_access_token='lower'), False, False, [True, False, False, False, False]),
    (dict(lower_tenant_url=LOWER_URL, lower_access_token='lower'), True, False, [True, True, False, False, False]),
    (dict(lower_tenant_url=LOWER_URL, lower_access_token='lower'), False, True, [True, False, True, True, False]),
], ids=['upper only', 'no lower environment', 'lower not asked for', 'lower', 'release check'])
def test_none_for_the_environments_not_asked_for_or_without_lower_tenant_url(options, lower, release_check, expected):
    task = mu.PromotionTask(module_params(OWN_SPEC, lower_connection=True, **options))
    environments = task.environments(lower=lower, release_check=release_check)
    assert [env is not None for env in environments] == expected
    assert len(task.connected) == sum(expected)


def test_the_release_environments_ask_for_the_release_scope(monkeypatch):
    scopes = []

    class Token:
        def __init__(self, account_id, key, scope, key_option='service_account_key'):
            scopes.append((account_id, scope, key_option))

    monkeypatch.setattr(mu, 'ServiceAccountToken', Token)
    task = mu.PromotionTask(lower_params(access_token=None, service_account_id='sa', service_account_key='{}', lower_access_token=None,
                                         lower_service_account_id='lower-sa', lower_service_account_key='{}'))
    task.environments(lower=True, release_check=True)
    assert scopes == [('sa', mu.DEFAULT_SCOPE, 'service_account_key'), ('lower-sa', mu.DEFAULT_SCOPE, 'lower_service_account_key'),
                      ('sa', RELEASE_SCOPE, 'service_account_key'), ('lower-sa', RELEASE_SCOPE, 'lower_service_account_key')]


def test_the_lower_connection_needs_credentials_of_its_own_and_falls_back_to_the_ca_path():
    assert mu.PromotionTask(module_params(OWN_SPEC, lower_connection=True)).lower_connection() is None
    task = mu.PromotionTask(module_params(OWN_SPEC, lower_connection=True, lower_tenant_url=LOWER_URL))
    with pytest.raises(ConfigurationError, match='lower_tenant_url needs lower_access_token'):
        task.lower_connection()
    with pytest.raises(ConfigurationError, match='lower_tenant_url needs lower_access_token'):
        task.environments(release_check=True)
    # The upper environment was made first: the failure still has the task's transaction id.
    assert task.client is not None and task.common_result()['transaction_id'] == task.client.transaction_id
    options = mu.PromotionTask(lower_params(ca_path='/upper/ca.pem')).lower_connection()
    assert (options['tenant_url'], options['access_token'], options['ca_path']) == (LOWER_URL, 'lower', '/upper/ca.pem')


def test_lower_promotions_is_the_lower_environment_or_none():
    assert mu.PromotionTask(module_params(OWN_SPEC, lower_connection=True)).lower_promotions() is None
    lower = mu.PromotionTask(lower_params()).lower_promotions()
    assert isinstance(lower, Promotions) and lower.client.base_url == LOWER_URL


def test_the_lock_record_is_that_of_the_record_option_for_the_tasks_own_environment(tmp_path):
    path = record_file(tmp_path)
    task = mu.PromotionTask(lower_params(record=path), check_mode=True)
    record = task.lock_record()
    assert isinstance(record, LockRecord) and (record.path, record.tenant_url, record.check_mode) == (path, URL, True)
    assert record.promotion_id() == OURS
    no_record = mu.PromotionTask(params()).lock_record()
    assert (no_record.path, no_record.read()) == (None, None)


def test_only_the_environment_of_the_tasks_own_options_gets_the_lock_record(tmp_path):
    path = record_file(tmp_path)
    task = mu.PromotionTask(lower_params(record=path))
    upper, lower, release_upper, release_lower, _session = task.environments(lower=True, release_check=True)
    assert (upper.record.path, upper.record.tenant_url, upper.record.promotion_id()) == (path, URL, OURS)
    assert [env.record.path for env in (lower, release_upper, release_lower)] == [None, None, None]
    assert task.promotions(tenant_url=LOWER_URL).record.path is None  # any override: another environment


def test_held_is_the_lock_of_the_first_environment_that_holds_one():
    task = mu.PromotionTask(lower_params())
    assert task.held() is None
    upper, lower, _release_upper, _release_lower, _session = task.environments(lower=True)
    assert task.held() is None
    lower.held = NEW
    assert task.held() == NEW
    upper.held = OURS
    assert task.held() == OURS
