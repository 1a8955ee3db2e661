# -*- coding: utf-8 -*-
"""What the unit tests of the modules share: a stand-in for the module object (options, check and diff mode, what the
module asked of it) and one for ``Promotions`` (only the methods the modules call). Neither sends a request.

The run results and tenant bodies come from the tests of ``module_utils`` (``test_results``, ``test_service``)."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

from ansible_collections.idcloud.promotions.plugins.module_utils._files import write_report
from ansible_collections.idcloud.promotions.plugins.module_utils._module import CONNECTION_ARGUMENT_SPEC, LOWER_CONNECTION_ARGUMENT_SPEC
from ansible_collections.idcloud.promotions.plugins.module_utils._service import Promotions

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


class FakePromotions:
    """``Promotions`` as the modules call it. Each call is bound to the real method's signature (a call the real
    service would refuse fails here too) and recorded with its arguments by name, defaults included. It returns the
    answer given for it in ``answers``: an exception is raised, a callable is called with the arguments by name,
    anything else is returned as it is. ``unlock_interrupted_lock`` and ``unlock_after_run`` have answers by
    default: nothing was held, and the lock was released."""

    def __init__(self, name='upper', check_mode=False, **answers):
        self.name = name
        self.check_mode = check_mode
        self.client = SimpleNamespace(base_url=URL if name == 'upper' else LOWER_URL, transaction_id=TXN)
        self.answers = dict(unlock_interrupted_lock={}, unlock_after_run=dict(lock_released=True))
        self.answers.update(answers)
        self.calls = []

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
        method = getattr(Promotions, name)
        bound = inspect.signature(method).bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = {}
        for parameter, value in list(bound.arguments.items())[1:]:
            if inspect.signature(method).parameters[parameter].kind == inspect.Parameter.VAR_KEYWORD:
                arguments.update(value)
            else:
                arguments[parameter] = value
        self.calls.append((name, arguments))
        answer = self.answers.get(name)
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer):
            return answer(**arguments)
        return answer

    def keep_or_lock(self, *args, **kwargs):
        return self._call('keep_or_lock', *args, **kwargs)

    def ensure_unlocked(self, *args, **kwargs):
        return self._call('ensure_unlocked', *args, **kwargs)

    def unlock_after_run(self, *args, **kwargs):
        return self._call('unlock_after_run', *args, **kwargs)

    def unlock_interrupted_lock(self, *args, **kwargs):
        return self._call('unlock_interrupted_lock', *args, **kwargs)

    def compare_releases(self, *args, **kwargs):
        return self._call('compare_releases', *args, **kwargs)

    def run(self, *args, **kwargs):
        return self._call('run', *args, **kwargs)

    def promote_after_dry_run(self, *args, **kwargs):
        return self._call('promote_after_dry_run', *args, **kwargs)

    def predict(self, *args, **kwargs):
        return self._call('predict', *args, **kwargs)

    def report(self, *args, **kwargs):
        return self._call('report', *args, **kwargs)


class FakeModule:
    """The module object as the modules' functions use it (``PromotionModule``; ``PromotionTask`` where the work tree
    has it), without AnsibleModule: ``params``, ``check_mode``, diff mode (as ``_diff`` and ``diff``), ``failure_facts``;
    ``promotions()`` and ``lower_promotions()`` give ``upper`` and ``lower`` (None without ``lower_tenant_url``, as the
    real one) and note the connection options asked for; ``warn``, ``write_report`` and the lock record methods note
    what they were asked. ``write_report`` answers ``report_changed``; ``read_lock_record`` answers from ``records``
    (path -> record)."""

    def __init__(self, params, check_mode=False, diff=False, upper=None, lower=None, report_changed=True, records=None):
        self.params = params
        self.check_mode = check_mode
        self._diff = self.diff = diff
        self.failure_facts = {}
        self.upper = upper if upper is not None else FakePromotions('upper', check_mode)
        self.lower = lower if lower is not None else FakePromotions('lower', check_mode)
        self.report_changed = report_changed
        self.records = dict(records or {})
        self.connections, self.warnings, self.reports, self.records_read, self.records_forgotten = [], [], [], [], []

    def promotions(self, **connection):
        self.connections.append(('upper', connection))
        return self.upper

    def lower_promotions(self, **connection):
        self.connections.append(('lower', connection))
        return self.lower if self.params.get('lower_tenant_url') else None

    def warn(self, warning):
        self.warnings.append(warning)

    def write_report(self, dest, report, fmt=None, dry_run=None):
        self.reports.append(dict(dest=dest, report=report, fmt=fmt, dry_run=dry_run))
        return self.report_changed

    def read_lock_record(self, path):
        self.records_read.append(path)
        return self.records.get(path)

    def forget_lock_record(self, path, promotion_id=None):
        self.records_forgotten.append((path, promotion_id))


class WritingModule(FakeModule):
    """The stand-in writing reports as the real module does (``_files.write_report`` in the module's check mode): files
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
