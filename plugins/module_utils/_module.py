# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: not a public API.

The AnsibleModule adapter every module shares: the connection options, the checks made before any request, the
service built from the options, and one way of turning a failure into a task failure that says what to do next.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.idcloud.promotions.plugins.module_utils._auth import CRYPTOGRAPHY_IMPORT_ERROR, ServiceAccountToken, StaticToken
from ansible_collections.idcloud.promotions.plugins.module_utils._client import REQUESTS_IMPORT_ERROR, PromotionsClient, checked_url
from ansible_collections.idcloud.promotions.plugins.module_utils._errors import ConfigurationError, PromotionError
from ansible_collections.idcloud.promotions.plugins.module_utils._files import (
    check_writable, forget_lock_record, read_lock_record, write_report,
)
from ansible_collections.idcloud.promotions.plugins.module_utils._service import Promotions

DEFAULT_SCOPE = 'fr:idc:promotion:*'

DEFAULT_API_VERSION = 'protocol=1.0,resource=1.0'
# Options that bound a wait or a request: a zero or negative value could only fail, or never end.
POSITIVE_OPTIONS = ('request_timeout', 'wait_timeout', 'lock_timeout')
# Options naming files a module writes, checked before anything is sent.
DESTINATION_OPTIONS = ('dest', 'report_dest', 'dry_run_report_dest', 'record')

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
)

# The lower environment of a promotion, for the modules that read it too.
LOWER_CONNECTION_ARGUMENT_SPEC = dict(
    lower_tenant_url=dict(type='str'),
    lower_access_token=dict(type='str', no_log=True),
    lower_service_account_id=dict(type='str'),
    lower_service_account_key=dict(type='raw', no_log=True),
    lower_ca_path=dict(type='path'),
)


def flat_status(fields: dict[str, Any]) -> dict[str, Any]:
    """A failure's fields with ``status`` as a string, as on success: the service names a status it read as a dict."""
    status = fields.get('status')
    if isinstance(status, dict):
        fields.update(status=status.get('status'), message=status.get('message'), blocking_error=status.get('blocking_error'),
                      missing_esvs=status.get('missing_esvs', []), encrypted_secrets=status.get('encrypted_secrets', []))
    return fields


class PromotionModule(AnsibleModule):
    """An AnsibleModule with the connection options, and a ``Promotions`` of the environment they name."""

    def __init__(self, argument_spec: dict[str, Any], supports_check_mode: bool = True, lower_connection: bool = False,
                 **kwargs: Any) -> None:
        spec = dict(CONNECTION_ARGUMENT_SPEC)
        together, exclusive = [('service_account_id', 'service_account_key')], [('access_token', 'service_account_id')]
        if lower_connection:
            spec.update(LOWER_CONNECTION_ARGUMENT_SPEC)
            together.append(('lower_service_account_id', 'lower_service_account_key'))
            exclusive.append(('lower_access_token', 'lower_service_account_id'))
        spec.update(argument_spec)
        # Returned with every failure: the lock a module holds, so that the caller can release it whatever failed.
        # Set first, since the argument checks of AnsibleModule may already fail.
        self.failure_facts: dict[str, Any] = {}
        super().__init__(
            argument_spec=spec, supports_check_mode=supports_check_mode,
            required_one_of=[('access_token', 'service_account_id')] + kwargs.pop('required_one_of', []),
            required_together=together + kwargs.pop('required_together', []),
            mutually_exclusive=exclusive + kwargs.pop('mutually_exclusive', []),
            **kwargs)
        self.started = time.monotonic()
        self.client = None  # the first one made; its transaction id is the run's
        self.clients: list[PromotionsClient] = []
        if REQUESTS_IMPORT_ERROR is not None:
            self.fail_json(msg=missing_required_lib('requests'), exception=str(REQUESTS_IMPORT_ERROR))
        if self.params['service_account_id'] and CRYPTOGRAPHY_IMPORT_ERROR is not None:
            self.fail_json(msg=missing_required_lib('cryptography'), exception=str(CRYPTOGRAPHY_IMPORT_ERROR))
        self._check_options()

    def _check_options(self) -> None:
        """Refuse, before any request, what cannot work: a URL that is not https, a timeout that is not positive,
        a file that cannot be written, a lock record that is not this environment's."""
        params = self.params
        try:
            for option in ('tenant_url', 'lower_tenant_url'):
                if params.get(option):
                    checked_url(params[option], option)
            for option in POSITIVE_OPTIONS:
                if option in params and params[option] is not None and params[option] <= 0:
                    raise ConfigurationError('%s must be a positive number of seconds, not %s' % (option, params[option]))
            for option in DESTINATION_OPTIONS:
                value = params.get(option)
                for path in value if isinstance(value, list) else [value] if value else []:
                    check_writable(path, option)
            if params.get('record'):
                self.read_lock_record(params['record'])
        except ConfigurationError as exc:
            self.fail_json(msg=str(exc))

    def promotions(self, **connection: Any) -> Promotions:
        """The promotions API of the environment the connection options name; ``connection``
        overrides some of them (another environment of the same run, under the same transaction id)."""
        params = dict(self.params, **connection)
        try:
            auth: StaticToken | ServiceAccountToken
            if params['access_token']:
                auth = StaticToken(params['access_token'])
            else:
                auth = ServiceAccountToken(params['service_account_id'], params['service_account_key'], params['scope'],
                                           params.get('key_option', 'service_account_key'))
            client = PromotionsClient(
                params['tenant_url'], auth, api_version=params['api_version'], validate_certs=params['validate_certs'],
                ca_path=params['ca_path'], timeout=params['request_timeout'],
                transaction_id=self.client.transaction_id if self.client else params['transaction_id'])
        except ConfigurationError as exc:
            self.fail_json(msg=str(exc))
        if self.client is None:
            self.client = client
            if not params['validate_certs']:
                self.warn('validate_certs is false: the tenant certificate is not verified.')
        self.clients.append(client)
        return Promotions(client, check_mode=self.check_mode)

    def lower_promotions(self, **connection: Any) -> Promotions | None:
        """The promotions API of the lower environment (None when O(lower_tenant_url) is not given), under the
        run's transaction id; ``connection`` overrides some of its options."""
        params = self.params
        if not params.get('lower_tenant_url'):
            return None
        if not (params['lower_access_token'] or params['lower_service_account_id']):
            self.fail_json(msg='lower_tenant_url needs lower_access_token, or lower_service_account_id and lower_service_account_key.')
        options = dict(tenant_url=params['lower_tenant_url'], access_token=params['lower_access_token'],
                       service_account_id=params['lower_service_account_id'],
                       service_account_key=params['lower_service_account_key'],
                       ca_path=params['lower_ca_path'] or params['ca_path'], key_option='lower_service_account_key')
        options.update(connection)
        return self.promotions(**options)

    # The lock record of this module's environment (see _files).
    def read_lock_record(self, path: str) -> dict[str, Any] | None:
        return read_lock_record(path, self.params['tenant_url'])

    def forget_lock_record(self, path: str | None, promotion_id: str | None = None) -> None:
        if not self.check_mode:
            forget_lock_record(path, self.params['tenant_url'], promotion_id)

    def fail_json(self, msg: str, **kwargs: Any) -> None:  # pylint: disable=arguments-differ
        super().fail_json(msg=msg, **dict(self.failure_facts, **kwargs))

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 2)

    def common_result(self) -> dict[str, Any]:
        return dict(transaction_id=self.client.transaction_id if self.client else self.params['transaction_id'],
                    elapsed=self.elapsed())

    def exit_result(self, **result: Any) -> None:
        result.update(self.common_result())
        self.exit_json(**result)

    def write_report(self, dest: str, report: Any, fmt: str | None = None, dry_run: bool | None = None) -> bool:
        return write_report(dest, report, fmt, dry_run, self.check_mode)

    def run(self, step: Callable[[], dict[str, Any]]) -> None:
        """Run ``step()`` (which returns the result dict) and exit, turning every expected failure
        into a task failure with its cause and next step, never a traceback."""
        try:
            result = step()
        except PromotionError as exc:
            fields = flat_status(dict(exc.result))
            fields.update(self.common_result())
            self.fail_json(msg=str(exc), **fields)
        except Exception as exc:  # pylint: disable=broad-exception-caught  # a message, never a bare traceback
            self.fail_json(msg='Unexpected error (%s: %s). This is a bug of idcloud.promotions; please report it with '
                               'the transaction id.' % (exc.__class__.__name__, exc), exception=traceback.format_exc(),
                           **self.common_result())
        finally:
            for client in self.clients:
                client.close()
        self.exit_result(**result)
