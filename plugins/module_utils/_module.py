# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: not a public API.

What every module shares, wherever its task runs: the connection options, the checks made before any request, the
service built from the options, and one way of turning a failure into a task failure that says what to do next.
``PromotionTask`` is one task's run; ``run_module`` runs it as an Ansible module, and the action plugins run the same
``TaskSpec`` in Ansible's worker process when the task runs on the controller.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.idcloud.promotions.plugins.module_utils._auth import CRYPTOGRAPHY_IMPORT_ERROR, ServiceAccountToken, StaticToken
from ansible_collections.idcloud.promotions.plugins.module_utils._client import REQUESTS_IMPORT_ERROR, PromotionsClient, checked_url, headers_problem
from ansible_collections.idcloud.promotions.plugins.module_utils._errors import ConfigurationError, PromotionError
from ansible_collections.idcloud.promotions.plugins.module_utils._files import LockRecord, check_writable, keep_failure, write_report
from ansible_collections.idcloud.promotions.plugins.module_utils._service import RELEASE_SCOPE, SESSION_SCOPE, Promotions

DEFAULT_SCOPE = 'fr:idc:promotion:*'

DEFAULT_API_VERSION = 'protocol=1.0,resource=1.0'
# Options that bound a wait or a request: a zero or negative value could only fail, or never end.
POSITIVE_OPTIONS = ('request_timeout', 'wait_timeout', 'lock_timeout')
# Options naming files a module writes, checked before anything is sent.
DESTINATION_OPTIONS = ('dest', 'report_dest', 'dry_run_report_dest', 'record', 'failure_dest')

CONNECTION_ARGUMENT_SPEC = dict(
    tenant_url=dict(type='str', required=True, fallback=(env_fallback, ['IDCLOUD_TENANT_URL'])),
    access_token=dict(type='str', no_log=True, fallback=(env_fallback, ['IDCLOUD_ACCESS_TOKEN'])),
    service_account_id=dict(type='str', fallback=(env_fallback, ['IDCLOUD_SERVICE_ACCOUNT_ID'])),
    service_account_key=dict(type='raw', no_log=True, fallback=(env_fallback, ['IDCLOUD_SERVICE_ACCOUNT_KEY'])),
    scope=dict(type='str', default=DEFAULT_SCOPE),
    validate_certs=dict(type='bool', default=True),
    ca_path=dict(type='path', fallback=(env_fallback, ['IDCLOUD_CA_PATH'])),
    request_timeout=dict(type='float', default=30),
    api_version=dict(type='str', default=DEFAULT_API_VERSION),
    transaction_id=dict(type='str'),
    headers=dict(type='dict', default={}, no_log=True),
)

# The lower environment of a promotion, for the modules that read it too.
LOWER_CONNECTION_ARGUMENT_SPEC = dict(
    lower_tenant_url=dict(type='str', fallback=(env_fallback, ['IDCLOUD_LOWER_TENANT_URL'])),
    lower_access_token=dict(type='str', no_log=True, fallback=(env_fallback, ['IDCLOUD_LOWER_ACCESS_TOKEN'])),
    lower_service_account_id=dict(type='str', fallback=(env_fallback, ['IDCLOUD_LOWER_SERVICE_ACCOUNT_ID'])),
    lower_service_account_key=dict(type='raw', no_log=True, fallback=(env_fallback, ['IDCLOUD_LOWER_SERVICE_ACCOUNT_KEY'])),
    lower_ca_path=dict(type='path', fallback=(env_fallback, ['IDCLOUD_LOWER_CA_PATH'])),
)


@dataclass
class TaskSpec:
    """What a module is: its own options, the step it runs (``step(task)`` returns the result), whether it also
    reads the lower environment, and which combinations of options it refuses (``refused(params)``: why, or None)."""

    argument_spec: dict[str, Any]
    step: Callable[[PromotionTask], dict[str, Any]]
    lower_connection: bool = False
    refused: Callable[[dict[str, Any]], str | None] | None = None

    def full_argument_spec(self) -> dict[str, Any]:
        spec = dict(CONNECTION_ARGUMENT_SPEC)
        if self.lower_connection:
            spec.update(LOWER_CONNECTION_ARGUMENT_SPEC)
        spec.update(self.argument_spec)
        return spec

    def constraints(self) -> dict[str, list[Any]]:
        """The options that go together or exclude each other, as AnsibleModule and ArgumentSpecValidator take them."""
        together, exclusive = [('service_account_id', 'service_account_key')], [('access_token', 'service_account_id')]
        if self.lower_connection:
            together.append(('lower_service_account_id', 'lower_service_account_key'))
            exclusive.append(('lower_access_token', 'lower_service_account_id'))
        return dict(required_one_of=[('access_token', 'service_account_id')], required_together=together,
                    mutually_exclusive=exclusive)


def missing_library(params: dict[str, Any]) -> tuple[str, str] | None:
    """The Python library these options need and this host lacks: (message, error), or None."""
    if REQUESTS_IMPORT_ERROR is not None:
        return missing_required_lib('requests'), str(REQUESTS_IMPORT_ERROR)
    if (params.get('service_account_id') or params.get('lower_service_account_id')) and CRYPTOGRAPHY_IMPORT_ERROR is not None:
        return missing_required_lib('cryptography'), str(CRYPTOGRAPHY_IMPORT_ERROR)
    return None


class PromotionTask:
    """One task's run: its validated options, check and diff mode, the ``Promotions`` of the environments they
    name, warnings, and ``progress`` (a callable taking a line, or None) for the lines shown while it waits."""

    def __init__(self, params: dict[str, Any], check_mode: bool = False, diff: bool = False,
                 progress: Callable[[str], None] | None = None) -> None:
        self.params = params
        self.check_mode = check_mode
        self.diff = diff
        self.progress = progress
        self.warnings: list[str] = []
        self.started = time.monotonic()
        self.client: PromotionsClient | None = None  # the first one made; its transaction id is the run's
        self.clients: list[PromotionsClient] = []
        self.connected: list[Promotions] = []  # every environment made, to name the lock held in a failure

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def check_options(self) -> None:
        """Refuse, before any request, what cannot work: a URL that is not https, a timeout that is not positive,
        a file that cannot be written, a lock record that is not this environment's."""
        params = self.params
        for option in ('tenant_url', 'lower_tenant_url'):
            if params.get(option):
                checked_url(params[option], option)
        for option in POSITIVE_OPTIONS:
            if option in params and params[option] is not None and params[option] <= 0:
                raise ConfigurationError('%s must be a positive number of seconds, not %s' % (option, params[option]))
        problem = headers_problem(params.get('headers'))
        if problem:
            raise ConfigurationError(problem)
        for option in DESTINATION_OPTIONS:
            value = params.get(option)
            for path in value if isinstance(value, list) else [value] if value else []:
                check_writable(path, option)
        self.lock_record().read()

    def promotions(self, **connection: Any) -> Promotions:
        """The promotions API of the environment the connection options name; ``connection``
        overrides some of them (another environment of the same run, under the same transaction id)."""
        params = dict(self.params, **connection)
        auth: StaticToken | ServiceAccountToken
        if params['access_token']:
            auth = StaticToken(params['access_token'])
        else:
            auth = ServiceAccountToken(params['service_account_id'], params['service_account_key'], params['scope'],
                                       params.get('key_option', 'service_account_key'))
        client = PromotionsClient(
            params['tenant_url'], auth, api_version=params['api_version'], validate_certs=params['validate_certs'],
            ca_path=params['ca_path'], timeout=params['request_timeout'], headers=params.get('headers'),
            transaction_id=self.client.transaction_id if self.client else params['transaction_id'])
        if self.client is None:
            self.client = client
            if not params['validate_certs']:
                self.warn('validate_certs is false: the tenant certificate is not verified.')
        self.clients.append(client)
        # The lock record is that of the environment the task's own options name.
        promotions = Promotions(client, check_mode=self.check_mode, progress=self.progress, record=None if connection else self.lock_record(),
                                lock_timeout_option='lock_timeout' if 'lock_timeout' in self.params else 'wait_timeout')
        self.connected.append(promotions)
        return promotions

    def lower_connection(self) -> dict[str, Any] | None:
        """The options of the lower environment as overrides of the upper one's (None when O(lower_tenant_url) is not
        given)."""
        params = self.params
        if not params.get('lower_tenant_url'):
            return None
        if not (params['lower_access_token'] or params['lower_service_account_id']):
            raise ConfigurationError('lower_tenant_url needs lower_access_token, or lower_service_account_id and lower_service_account_key.')
        return dict(tenant_url=params['lower_tenant_url'], access_token=params['lower_access_token'],
                    service_account_id=params['lower_service_account_id'], service_account_key=params['lower_service_account_key'],
                    ca_path=params['lower_ca_path'] or params['ca_path'], key_option='lower_service_account_key')

    def lower_promotions(self) -> Promotions | None:
        """The promotions API of the lower environment (None when O(lower_tenant_url) is not given), under the run's
        transaction id."""
        options = self.lower_connection()
        return None if options is None else self.promotions(**options)

    def environments(self, lower: bool = False, release_check: bool = False, session_check: bool = False) -> list[Promotions | None]:
        """The environments a task talks to, under one transaction id: the upper one; the lower one (with ``lower``);
        both again with the release scope (with ``release_check``); the upper one with the direct-configuration
        session scope (with ``session_check``). None for the lower environment when O(lower_tenant_url) is not given,
        and for each one not asked for."""
        upper = self.promotions()  # first: its transaction id is the task's, also in a failure of what follows
        lower_options = self.lower_connection() if lower or release_check else None
        release = dict(scope=RELEASE_SCOPE)
        wanted = [lower_options if lower else None, release if release_check else None,
                  dict(lower_options, **release) if release_check and lower_options else None,
                  dict(scope=SESSION_SCOPE) if session_check else None]
        return [upper] + [None if options is None else self.promotions(**options) for options in wanted]

    def lock_record(self) -> LockRecord:
        """The lock record of this task's environment (O(record); none without it)."""
        return LockRecord(self.params.get('record'), self.params['tenant_url'], self.check_mode)

    def held(self) -> str | None:
        """The lock this task holds or works under, once known."""
        return next((promotions.held for promotions in self.connected if promotions.held), None)

    def write_report(self, dest: str, report: Any, fmt: str | None = None, dry_run: bool | None = None) -> bool:
        return write_report(dest, report, fmt, dry_run, self.check_mode)

    def common_result(self) -> dict[str, Any]:
        return dict(transaction_id=self.client.transaction_id if self.client else self.params.get('transaction_id'),
                    elapsed=round(time.monotonic() - self.started, 2))

    def execute(self, step: Callable[[PromotionTask], dict[str, Any]]) -> dict[str, Any]:
        """Run ``step(self)``, turning every failure into a result with ``failed`` and a message that says what
        happened and what to do next, never a traceback (but for a bug, whose traceback goes in ``exception``). Every
        failure names the lock the task holds, so that the caller can release it whatever failed."""
        try:
            self.check_options()
            result = step(self)
        except PromotionError as exc:
            result = dict(exc.result, failed=True, msg=str(exc))
        except Exception as exc:  # pylint: disable=broad-exception-caught  # a message, never a bare traceback
            result = dict(failed=True, exception=traceback.format_exc(),
                          msg='Unexpected error (%s: %s). This is a bug of idcloud.promotions; please report it with '
                              'the transaction id.' % (exc.__class__.__name__, exc))
        finally:
            for client in self.clients:
                client.close()
        if result.get('failed') and self.held():
            result['promotion_id'] = self.held()
        result.update(self.common_result())
        return result


def run_task(spec: TaskSpec, params: dict[str, Any], check_mode: bool = False, diff: bool = False,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The result of one task of the module ``spec`` with validated ``params``: ``failed`` set on failure, and the
    warnings to give in ``warnings``. With O(failure_dest), a failure's whole result is also kept in that file."""
    missing = missing_library(params)
    refused = spec.refused(params) if spec.refused and not missing else None
    warnings: list[str] = []
    if missing:
        result = dict(failed=True, msg=missing[0], exception=missing[1])
    elif refused:
        result = dict(failed=True, msg=refused)
    else:
        task = PromotionTask(params, check_mode, diff, progress)
        result = task.execute(spec.step)
        warnings = task.warnings
    unkept = keep_failure(params.get('failure_dest'), result, check_mode)
    warnings = warnings + [unkept] if unkept else warnings
    if warnings:
        result['warnings'] = warnings
    return result


def run_module(spec: TaskSpec) -> None:
    """The module's main: its options checked by AnsibleModule, the task run, the result returned."""
    module = AnsibleModule(argument_spec=spec.full_argument_spec(), supports_check_mode=True, **spec.constraints())
    result = run_task(spec, module.params, module.check_mode, module._diff)  # pylint: disable=protected-access
    for warning in result.pop('warnings', []):
        module.warn(warning)
    if result.pop('failed', False):
        module.fail_json(**result)
    module.exit_json(**result)
