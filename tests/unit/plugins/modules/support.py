# -*- coding: utf-8 -*-
"""What the unit tests of the modules share: a stand-in for the task object (options, check and diff mode, the
environments it makes, what the module asked of it), one for ``Promotions`` (only the methods the modules call, and the
lock it holds) and one for its lock record (``LockRecord``). None sends a request or writes a file.

The run results and tenant bodies come from the tests of ``module_utils`` (``test_results``, ``test_service``)."""

from __future__ import annotations

import copy
import inspect
from types import SimpleNamespace

from ansible_collections.idcloud.promotions.plugins.module_utils._files import LockRecord, write_report
from ansible_collections.idcloud.promotions.plugins.module_utils._module import CONNECTION_ARGUMENT_SPEC, LOWER_CONNECTION_ARGUMENT_SPEC
from ansible_collections.idcloud.promotions.plugins.module_utils._service import RELEASE_SCOPE, SESSION_SCOPE, Promotions

from tests.unit.plugins.module_utils.test_service import TXN, URL

LOWER_URL = 'https://lower.example.com'


def module_params(argument_spec, lower_connection=False, **options):
    """A module's options as AnsibleModule gives them: every option of its spec (and of the connection ones) at its
    default, ``options`` over them. An option the spec does not have is refused, so a typo cannot pass unseen."""
    spec = dict(CONNECTION_ARGUMENT_SPEC, **(LOWER_CONNECTION_ARGUMENT_SPEC if lower_connection else {}), **argument_spec)
    unknown = set(options) - set(spec)
    if unknown:
        raise KeyError('not an option of this module: %s' % ', '.join(sorted(unknown)))
    params = {name: option.get('default') for name, option in spec.items()}
    params.update(tenant_url=URL, access_token='token')
    params.update(options)
    return params


def bound_arguments(method, fake, args, kwargs):
    """The arguments of a call of the real ``method`` by name, defaults included (a call the real one would refuse
    fails here too); those of a ``**`` parameter as if given by name."""
    signature = inspect.signature(method)
    bound = signature.bind(fake, *args, **kwargs)
    bound.apply_defaults()
    arguments = {}
    for parameter, value in list(bound.arguments.items())[1:]:
        if signature.parameters[parameter].kind == inspect.Parameter.VAR_KEYWORD:
            arguments.update(value)
        else:
            arguments[parameter] = value
    return arguments


class FakeRecord:
    """``LockRecord`` as the modules and the service call it, without a file: at ``path`` (None: no record), holding
    ``recorded`` (the record, or None when there is none). Each call is bound to the real method's signature. It notes
    how often it was read (``reads``), what was written (``written``) and the ``promotion_id`` of each ``forget``
    (``forgotten``); a record written or forgotten changes what it holds as the real one would (outside check mode;
    the calls are noted in check mode too, which the real record turns into nothing)."""

    def __init__(self, path=None, tenant_url=URL, check_mode=False, recorded=None):
        self.path = path or None
        self.tenant_url = tenant_url
        self.check_mode = check_mode
        self.recorded = copy.deepcopy(recorded) if self.path else None
        self.reads, self.written, self.forgotten = 0, [], []

    def __repr__(self):
        return '<FakeRecord %s>' % self.path

    def read(self):
        bound_arguments(LockRecord.read, self, (), {})
        self.reads += 1
        return copy.deepcopy(self.recorded)

    def promotion_id(self):
        bound_arguments(LockRecord.promotion_id, self, (), {})
        return (self.read() or {}).get('promotion_id')

    def write(self, *args, **kwargs):
        arguments = bound_arguments(LockRecord.write, self, args, kwargs)
        self.written.append(arguments)
        if not self.path or self.check_mode:
            return None
        self.recorded = dict(arguments, tenant_url=self.tenant_url)
        return copy.deepcopy(self.recorded)

    def note_run(self, *args, **kwargs):
        arguments = bound_arguments(LockRecord.note_run, self, args, kwargs)
        if not self.recorded or self.recorded['promotion_id'] != arguments['promotion_id'] or self.check_mode:
            return None
        self.recorded['run'] = dict(kind=arguments['kind'], dry_run=bool(arguments['dry_run']))
        return copy.deepcopy(self.recorded)

    def noted_run(self, *args, **kwargs):
        promotion_id = bound_arguments(LockRecord.noted_run, self, args, kwargs)['promotion_id']
        return (self.recorded or {}).get('run') if (self.recorded or {}).get('promotion_id') == promotion_id else None

    def forget(self, *args, **kwargs):
        promotion_id = bound_arguments(LockRecord.forget, self, args, kwargs)['promotion_id']
        self.forgotten.append(promotion_id)
        if self.path and not self.check_mode and (promotion_id is None or (self.recorded or {}).get('promotion_id') in (None, promotion_id)):
            self.recorded = None


class Holding:
    """An answer given after the service came to hold the lock ``promotion_id`` (``Promotions.held``), as the real one
    does once the lock is known, before it fails: a lock taken that then ends in error, say."""

    def __init__(self, promotion_id, answer):
        self.promotion_id = promotion_id
        self.answer = answer


def holding(promotion_id, answer):
    return Holding(promotion_id, answer)


class FakePromotions:
    """``Promotions`` as the modules call it. Each call is bound to the real method's signature (a call the real
    service would refuse fails here too) and recorded with its arguments by name, defaults included; and in ``log``,
    shared by the environments of one task, with the environment's name. It returns the answer given for it in
    ``answers``: an exception is raised, a callable is called with the arguments by name, anything else is returned as
    it is; an answer wrapped in ``holding(promotion_id, answer)`` first makes ``held`` that lock. ``unlock_after_run``
    has an answer by default: the lock was released.

    ``held`` is the lock it holds, as the real one sets it: the lock ``keep_or_lock`` returns, the lock
    ``unlock_after_run`` is asked to release. ``record`` is its lock record: none (a ``FakeRecord`` without a path)
    unless the task gives it one."""

    def __init__(self, name='upper', check_mode=False, record=None, **answers):
        self.name = name
        self.check_mode = check_mode
        self.client = SimpleNamespace(base_url=LOWER_URL if 'lower' in name else URL, transaction_id=TXN)
        self.record = record if record is not None else FakeRecord(None, self.client.base_url, check_mode)
        self.held = None
        self.answers = dict(unlock_after_run=dict(lock_released=True))
        self.answers.update(answers)
        self.calls = []
        self.log = []

    def __repr__(self):
        return '<FakePromotions %s>' % self.name

    @property
    def names(self):
        """The methods called, in order."""
        return [name for name, _arguments in self.calls]

    def arguments(self, name):
        """The arguments by name of each call of ``name``."""
        return [arguments for called, arguments in self.calls if called == name]

    def _call(self, name, *args, **kwargs):
        arguments = bound_arguments(getattr(Promotions, name), self, args, kwargs)
        self.calls.append((name, arguments))
        self.log.append((self.name, name))
        answer = self.answers.get(name)
        if isinstance(answer, Holding):
            self.held, answer = answer.promotion_id, answer.answer
        if name == 'unlock_after_run':
            self.held = arguments['promotion_id']
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer):
            answer = answer(**arguments)
        if name == 'keep_or_lock' and isinstance(answer, dict):
            self.held = answer['promotion_id']
        return answer

    def keep_or_lock(self, *args, **kwargs):
        return self._call('keep_or_lock', *args, **kwargs)

    def ensure_unlocked(self, *args, **kwargs):
        return self._call('ensure_unlocked', *args, **kwargs)

    def unlock_after_run(self, *args, **kwargs):
        return self._call('unlock_after_run', *args, **kwargs)

    def compare_releases(self, *args, **kwargs):
        return self._call('compare_releases', *args, **kwargs)

    def session_state(self, *args, **kwargs):
        return self._call('session_state', *args, **kwargs)

    def run(self, *args, **kwargs):
        return self._call('run', *args, **kwargs)

    def promote_after_dry_run(self, *args, **kwargs):
        return self._call('promote_after_dry_run', *args, **kwargs)

    def rollback_after_preview(self, *args, **kwargs):
        return self._call('rollback_after_preview', *args, **kwargs)

    def rollback_preview(self, *args, **kwargs):
        return self._call('rollback_preview', *args, **kwargs)

    def predict(self, *args, **kwargs):
        return self._call('predict', *args, **kwargs)

    def report(self, *args, **kwargs):
        return self._call('report', *args, **kwargs)


class FakeTask:
    """The task object as the modules' functions use it (``PromotionTask``), without AnsibleModule: ``params``,
    ``check_mode``, ``diff``. ``environments(lower, release_check, session_check)`` gives ``upper``, ``lower`` (None
    without ``lower_tenant_url``, as the real one), ``release_upper`` and ``release_lower`` for the release check, and
    ``session_upper`` for the session check (other services, as the real ones ask for another scope; the session's
    state is NO_SESSION unless answered otherwise); ``promotions()`` and ``lower_promotions()`` give ``upper`` and
    ``lower``; each environment made is noted in ``connections`` with the connection overrides the real task gives it.
    As the real task, it gives the lock record of O(record) (a ``FakeRecord`` holding ``records[path]``) to the upper
    environment only, unless that one has a record already; ``lock_record()`` is that record; ``held()`` is the lock held
    by the first environment that holds one. ``warn`` and ``write_report`` note what they were asked; ``write_report``
    answers ``report_changed``. ``log`` is every call of every environment, in order."""

    def __init__(self, params, check_mode=False, diff=False, upper=None, lower=None, release_upper=None, release_lower=None,
                 report_changed=True, records=None, session_upper=None):
        self.params = params
        self.check_mode = check_mode
        self.diff = diff
        self.upper = upper if upper is not None else FakePromotions('upper', check_mode)
        self.lower = lower if lower is not None else FakePromotions('lower', check_mode)
        self.release_upper = release_upper if release_upper is not None else FakePromotions('release upper', check_mode)
        self.release_lower = release_lower if release_lower is not None else FakePromotions('release lower', check_mode)
        self.session_upper = session_upper if session_upper is not None else FakePromotions(
            'session upper', check_mode, session_state=dict(status='NO_SESSION', editable=False))
        self.log = []
        for environment in (self.upper, self.lower, self.release_upper, self.release_lower, self.session_upper):
            environment.log = self.log
        if self.upper.record.path is None and params.get('record'):
            self.upper.record = FakeRecord(params['record'], params['tenant_url'], check_mode, (records or {}).get(params['record']))
        self.report_changed = report_changed
        self.connections, self.warnings, self.reports, self.connected = [], [], [], []

    def _made(self, name, environment, connection):
        self.connections.append((name, connection))
        self.connected.append(environment)
        return environment

    def environments(self, lower=False, release_check=False, session_check=False):
        has_lower = bool(self.params.get('lower_tenant_url'))
        release = dict(scope=RELEASE_SCOPE)
        return [self._made('upper', self.upper, {}),
                self._made('lower', self.lower, {}) if lower and has_lower else None,
                self._made('upper', self.release_upper, release) if release_check else None,
                self._made('lower', self.release_lower, release) if release_check and has_lower else None,
                self._made('upper', self.session_upper, dict(scope=SESSION_SCOPE)) if session_check else None]

    def promotions(self, **connection):
        return self._made('upper', self.upper, connection)

    def lower_promotions(self):
        return self._made('lower', self.lower, {}) if self.params.get('lower_tenant_url') else None

    def lock_record(self):
        return self.upper.record

    def held(self):
        return next((environment.held for environment in self.connected if environment.held), None)

    def warn(self, warning):
        self.warnings.append(warning)

    def write_report(self, dest, report, fmt=None, dry_run=None):
        self.reports.append(dict(dest=dest, report=report, fmt=fmt, dry_run=dry_run))
        return self.report_changed


class WritingTask(FakeTask):
    """The stand-in writing reports as the real task does (``_files.write_report`` in the task's check mode): files
    are written, or in check mode only compared."""

    def write_report(self, dest, report, fmt=None, dry_run=None):
        return write_report(dest, report, fmt, dry_run, self.check_mode)


def lock_body(holder, result='locked'):
    """A lock state as the tenant sends it."""
    env = dict(state=result, promotionId=holder)
    return dict(result=result, description='Environment locked', promotionId=holder, lowerEnv=dict(env), upperEnv=dict(env))


def locked_result(promotion_id, changed=True, resumed=False, record=None):
    """What ``Promotions.keep_or_lock`` returns: ``ensure_locked``'s fields, ``resumed`` and, with a record, ``record``."""
    return dict(changed=changed, promotion_id=promotion_id, state='locked', lock=lock_body(promotion_id),
                history=[dict(result='locked', promotion_id=promotion_id, description='Environment locked')],
                resumed=resumed, record=record)
