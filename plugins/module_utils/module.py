# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module of the collection shares: the connection options, the client built from
them, and one way of turning a failure into a task failure that says what to do next."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import json
import os
import tempfile
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.idcloud.promotions.plugins.module_utils.client import (
    REQUESTS_IMPORT_ERROR, CRYPTOGRAPHY_IMPORT_ERROR, ConfigurationError, PromotionsApiError, PromotionsClient,
    ServiceAccountToken, StaticToken, checked_url,
)
from ansible_collections.idcloud.promotions.plugins.module_utils.report import file_holds, format_for_path, render, replace_file
from ansible_collections.idcloud.promotions.plugins.module_utils.workflow import Promotions, WorkflowError

DEFAULT_SCOPE = 'fr:idc:promotion:*'
RELEASE_SCOPE = 'fr:idc:release:*'
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


class PromotionModule(AnsibleModule):
    """An AnsibleModule with the connection options, and a ``Promotions`` of the environment they name."""

    def __init__(self, argument_spec, supports_check_mode=True, lower_connection=False, **kwargs):
        spec = dict(CONNECTION_ARGUMENT_SPEC)
        together, exclusive = [('service_account_id', 'service_account_key')], [('access_token', 'service_account_id')]
        if lower_connection:
            spec.update(LOWER_CONNECTION_ARGUMENT_SPEC)
            together.append(('lower_service_account_id', 'lower_service_account_key'))
            exclusive.append(('lower_access_token', 'lower_service_account_id'))
        spec.update(argument_spec)
        # Returned with every failure: the lock a module holds, so that the caller can release it whatever failed.
        # Set first, since the argument checks of AnsibleModule may already fail.
        self.failure_facts = {}
        super(PromotionModule, self).__init__(
            argument_spec=spec, supports_check_mode=supports_check_mode,
            required_one_of=[('access_token', 'service_account_id')] + kwargs.pop('required_one_of', []),
            required_together=together + kwargs.pop('required_together', []),
            mutually_exclusive=exclusive + kwargs.pop('mutually_exclusive', []),
            **kwargs)
        self.started = time.monotonic()
        self.client = None  # the first one made; its transaction id is the run's
        self.clients = []
        if REQUESTS_IMPORT_ERROR is not None:
            self.fail_json(msg=missing_required_lib('requests'), exception=str(REQUESTS_IMPORT_ERROR))
        if self.params['service_account_id'] and CRYPTOGRAPHY_IMPORT_ERROR is not None:
            self.fail_json(msg=missing_required_lib('cryptography'), exception=str(CRYPTOGRAPHY_IMPORT_ERROR))
        self._check_options()

    def _check_options(self):
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

    def promotions(self, **connection):
        """The promotions API of the environment the connection options name; ``connection``
        overrides some of them (another environment of the same run, under the same transaction id)."""
        params = dict(self.params, **connection)
        try:
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

    def lower_promotions(self, **connection):
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

    # The lock record: which lock a run took, so that a rerun after an interruption can keep it.
    def read_lock_record(self, path):
        """The lock record at ``path``, None when there is none. A file that is not a lock record, or the record of
        another O(tenant_url), is a ConfigurationError: taking a new lock over it could leave the old one behind."""
        try:
            with open(path) as stream:
                text = stream.read()
        except (IOError, OSError) as exc:
            if not os.path.exists(path):
                return None
            raise ConfigurationError('record %s cannot be read: %s' % (path, exc))
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        if not isinstance(record, dict) or not isinstance(record.get('promotion_id'), str):
            raise ConfigurationError('record %s is not a lock record (JSON with a promotion_id). If no interrupted run of '
                                     'this environment needs it, remove it; release any lock left behind with '
                                     'promotion_lock state=unlocked.' % path)
        recorded_url = str(record.get('tenant_url', '')).rstrip('/')
        if recorded_url != self.params['tenant_url'].rstrip('/'):
            raise ConfigurationError('record %s is the lock record of %s (promotion %s), not of %s. Give every environment '
                                     'a record file of its own.' % (path, recorded_url or 'no tenant_url',
                                                                    record['promotion_id'], self.params['tenant_url']))
        return record

    def write_lock_record(self, path, promotion_id):
        """Written as soon as a new lock's id is known, so an interruption while waiting for it loses nothing."""
        record = dict(promotion_id=promotion_id, tenant_url=self.params['tenant_url'], transaction_id=self.client.transaction_id,
                      locked_at=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
        self.write_file(path, json.dumps(record, indent=2, sort_keys=True) + '\n')
        return record

    def keep_or_lock(self, promotions, path, promotion_id=None, on_locked=None, **options):
        """``promotions.ensure_locked``, keeping the lock of ``promotion_id`` or, without one, the lock named in the
        record at ``path`` (an interrupted run's), and recording a new lock there as soon as its id is known. The
        result tells whether the recorded lock was kept (``resumed``) and, with a ``path``, what the record holds."""
        record = self.read_lock_record(path) if path else None
        written = []

        def locked(new_id):
            if on_locked is not None:
                on_locked(new_id)
            if path:
                written.append(self.write_lock_record(path, new_id))

        result = promotions.ensure_locked(promotion_id=promotion_id or (record or {}).get('promotion_id'), on_locked=locked,
                                          **options)
        result['resumed'] = bool(record) and not result['changed'] and result['promotion_id'] == record.get('promotion_id')
        if path:
            result['record'] = written[-1] if written else record if result['resumed'] else None
        return result

    def forget_lock_record(self, path, promotion_id=None):
        """Remove the lock record (only if it names ``promotion_id``, when given). A record that cannot be removed
        is left: it only makes a later run look for a lock that is gone, and take a new one."""
        if not path or self.check_mode:
            return
        try:
            recorded = (self.read_lock_record(path) or {}).get('promotion_id')
        except ConfigurationError:
            return  # not ours to remove
        if promotion_id is not None and recorded not in (None, promotion_id):
            return
        try:
            os.remove(path)
        except OSError:
            pass

    def fail_json(self, msg, **kwargs):  # pylint: disable=arguments-differ
        super(PromotionModule, self).fail_json(msg=msg, **dict(self.failure_facts, **kwargs))

    def elapsed(self):
        return round(time.monotonic() - self.started, 2)

    def common_result(self):
        return dict(transaction_id=self.client.transaction_id if self.client else self.params['transaction_id'],
                    elapsed=self.elapsed())

    def exit_result(self, **result):
        result.update(self.common_result())
        self.exit_json(**result)

    def write_report(self, dest, report, fmt=None, dry_run=None):
        """Write ``report`` to ``dest`` as JSON or Markdown (from ``fmt`` or the file's suffix); ``dry_run`` is what
        the caller knows of the run when the report does not say."""
        return self.write_file(dest, render(report, fmt or format_for_path(dest), dry_run))

    def write_file(self, dest, text):
        """Write ``text`` to ``dest`` in one atomic move, making its folder if needed. Returns True
        when the file's content changed. Check mode writes nothing."""
        content = text.encode('utf-8')
        if file_holds(dest, content):
            return False
        if self.check_mode:
            return True
        directory = os.path.dirname(os.path.abspath(dest))
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory)
            replace_file(dest, content)
        except (IOError, OSError) as exc:
            raise WorkflowError('Cannot write %s: %s. Check the path and its permissions.' % (dest, exc))
        return True

    def run(self, step):
        """Run ``step()`` (which returns the result dict) and exit, turning every expected failure
        into a task failure with its cause and next step, never a traceback."""
        try:
            result = step()
        except WorkflowError as exc:
            fields = dict(exc.result)
            fields.update(self.common_result())
            self.fail_json(msg=exc.message, **fields)
        except PromotionsApiError as exc:
            fields = self.common_result()
            fields.update(error=exc.to_dict())
            if exc.missing_scope:
                fields['missing_scope'] = exc.missing_scope
            self.fail_json(msg=str(exc), **fields)
        except ConfigurationError as exc:
            self.fail_json(msg=str(exc), **self.common_result())
        except Exception as exc:  # pylint: disable=broad-exception-caught  # a message, never a bare traceback
            self.fail_json(msg='Unexpected error (%s: %s). This is a bug of idcloud.promotions; please report it with '
                               'the transaction id.' % (exc.__class__.__name__, exc), exception=traceback.format_exc(),
                           **self.common_result())
        finally:
            for client in self.clients:
                client.close()
        self.exit_result(**result)


def check_writable(path, option):
    """ConfigurationError naming ``option`` unless a file can be written at ``path``: its folder exists and takes a
    new file, or can be made (the nearest existing folder above it takes one). Nothing is left behind."""
    if os.path.isdir(path):
        raise ConfigurationError('%s %s is a directory; give the path of a file' % (option, path))
    folder = os.path.dirname(os.path.abspath(path))
    existing = folder
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ConfigurationError('%s %s cannot be written: %s is not a directory' % (option, path, existing))
    try:
        with tempfile.TemporaryFile(dir=existing, prefix='.idcloud-check-'):
            pass
    except (IOError, OSError) as exc:
        where = 'its directory %s' % folder if existing == folder else '%s does not exist and %s' % (folder, existing)
        raise ConfigurationError('%s %s cannot be written: %s takes no new file (%s)' % (option, path, where, exc.strerror or exc))
