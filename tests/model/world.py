"""One schedule played end to end: the real promotion_run task (``run_task`` with the module's ``TaskSpec``, the service,
the waiter, the client with its retries) against the model tenant, over the fake transport, on the simulated clock;
then the invariants checked against the model's truth."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from collections.abc import Iterator
from typing import Any

import urllib3.util.retry
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.idcloud.promotions.plugins.module_utils import _auth, _client, _module
from ansible_collections.idcloud.promotions.plugins.module_utils._service import Promotions
from ansible_collections.idcloud.promotions.plugins.module_utils._waiter import Waiter
from ansible_collections.idcloud.promotions.plugins.modules.promotion_run import TASK

from tests.model.tenant import Clock, Interrupted, Lock, Schedule, Tenant, diff_of, rows
from tests.model.transport import adapter_for

# Beyond its bounds (twice lock_timeout and wait_timeout) a task may take this long: reconciling a lost answer, the
# last look of a wait, the report of a run that has ended, a request's own time.
SLACK = 300.0
# A lock that never ends locking is waited for once: the task ends within lock_timeout and this.
LOCK_SLACK = 60.0


@dataclasses.dataclass(frozen=True)
class Task:
    """One promotion_run task as the role runs it, and what happens around it."""
    operation: str = 'promote'
    dry_run_only: bool = False
    check_mode: bool = False
    lock_timeout: int = 900
    wait_timeout: int = 3600
    interrupt_at: float | None = None   # seconds after the task's start: stopped there, no cleanup
    keep_record: bool = True            # the lock record of an earlier task is still there
    unlock: bool = True                 # unlock_after, as the role sets it; false: the lock is kept for the next task
    resume: bool = False                # given promotion_id: the last lock a task took (promote_resume)
    wait_for_release: bool = False
    before: tuple[str, ...] = ()        # events before the task: 'edit_dev', 'fix_esvs', 'clear_block'


@dataclasses.dataclass(frozen=True)
class Setup:
    """The tenant before the first task."""
    changes: int = 1
    missing_esvs: bool = False
    encrypted: bool = False
    fail_next: bool = False
    foreign_lock: bool = False
    maintenance: float = 0.0            # seconds the vendor's maintenance lock lasts
    foreign_for: float = 0.0            # seconds another promotion's lock lasts (with foreign_lock)
    service_account: bool = False


_KEY = None


def private_key_pem() -> str:
    """One RSA key for every schedule that uses a service account (made once: 2048-bit keys are slow to make)."""
    global _KEY
    if _KEY is None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _KEY = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()
    return _KEY


class World:
    """The tenant, the clock, the files of the controller, and the tasks run so far."""

    def __init__(self, setup: Setup, schedule: Schedule, workdir: str) -> None:
        self.setup = setup
        self.schedule = schedule
        self.clock = Clock()
        self.tenant = Tenant(schedule, self.clock)
        self.workdir = workdir
        self.record = os.path.join(workdir, 'host', '.lock.json')
        self.faults = {(fault.on, fault.request, fault.task): fault.kind for fault in schedule.faults}
        self.counts: dict[str, int] = {}
        self.violations: list[str] = []
        self.results: list[dict[str, Any] | None] = []
        self.locks_taken: list[str] = []
        tenant = self.tenant
        tenant.lower = {'journey-%d' % n: 1 for n in range(setup.changes)}
        tenant.lower['base'] = tenant.upper['base'] = 1
        tenant.missing_esvs = ['email.from'] if setup.missing_esvs else []
        tenant.encrypted = ['* am/services/x.json:10'] if setup.encrypted else []
        tenant.fail_next = setup.fail_next
        tenant.maintenance_until = setup.maintenance
        if setup.foreign_lock:
            tenant.lock = Lock('f0000000-0000-4000-8000-00000000000f', None, -60.0)
            tenant.lock.gone_at = setup.foreign_for or None

    def fault_for(self, method: str, path: str) -> str | None:
        tenant = self.tenant
        index = tenant.requests
        tenant.requests += 1
        on = '%s %s' % (method, path.rsplit('/', 1)[0] if method == 'DELETE' else path)
        nth = self.counts[on] = self.counts.get(on, -1) + 1
        task = len(self.results)
        fault = self.faults.get(('', index, None)) or self.faults.get((on, nth, None)) or self.faults.get(('', index, task)) \
            or self.faults.get((on, nth, task))
        if fault is None and method == 'GET' and path.endswith('/environment/promotion/promote') and tenant.in_restart() \
                and tenant.restart_reads < self.schedule.restart_blips:
            tenant.restart_reads += 1
            fault = self.schedule.blip_kind
        if fault in ('lost_after', 'gateway_after') and method == 'GET':
            fault = 'lost_before' if fault == 'lost_after' else 'busy'  # a read acts on nothing
        return fault

    @contextlib.contextmanager
    def patched(self) -> Iterator[None]:
        clock = self.clock
        saved = [(_client, 'time', _client.time), (_auth, 'time', _auth.time), (_module, 'time', _module.time),
                 (urllib3.util.retry, 'time', urllib3.util.retry.time), (_client, 'HTTPAdapter', _client.HTTPAdapter),
                 (_module, 'Promotions', _module.Promotions)]
        for module in (_client, _auth, _module, urllib3.util.retry):
            module.time = clock
        _client.HTTPAdapter = adapter_for(self)
        _module.Promotions = functools.partial(
            Promotions, sleep=clock.sleep,
            waiter_factory=lambda timeout: Waiter(timeout, clock=clock.monotonic, sleep=clock.sleep, wall=clock.time))
        try:
            yield
        finally:
            for module, name, value in saved:
                setattr(module, name, value)

    def params(self, task: Task) -> dict[str, Any]:
        connection: dict[str, Any] = dict(tenant_url='https://%s' % Tenant.UPPER, lower_tenant_url='https://%s' % Tenant.LOWER)
        if self.setup.service_account:
            connection.update(service_account_id='account-upper', service_account_key=private_key_pem(),
                              lower_service_account_id='account-lower', lower_service_account_key=private_key_pem())
        else:
            token = 'token-static'
            self.tenant.tokens[token] = float('inf')
            connection.update(access_token=token, lower_access_token=token)
        args = dict(connection, operation=task.operation, lock=True, lock_timeout=task.lock_timeout,
                    dry_run=task.dry_run_only, dry_run_first=not task.dry_run_only, record=self.record,
                    wait_timeout=task.wait_timeout, progress=False, unlock_after=task.unlock,
                    wait_for_release=task.wait_for_release)
        if task.resume and self.locks_taken:
            args['promotion_id'] = self.locks_taken[-1]
        validation = ArgumentSpecValidator(TASK.full_argument_spec(), **TASK.constraints()).validate(args)
        assert not validation.error_messages, validation.error_messages
        return validation.validated_parameters

    def before(self, task: Task) -> None:
        tenant = self.tenant
        for event in task.before:
            if event == 'edit_dev' and tenant.lock is None:
                tenant.lower['journey-edit-%d' % len(self.results)] = 1
            elif event == 'fix_esvs':
                tenant.missing_esvs, tenant.encrypted = [], []
            elif event == 'clear_block':
                tenant.blocked = False
        if not task.keep_record and os.path.exists(self.record):
            os.remove(self.record)

    def play(self, task: Task) -> dict[str, Any] | None:
        """Run one task; its result, None when it was interrupted."""
        number = len(self.results)
        tenant = self.tenant
        self.before(task)
        tenant.task, tenant.requests, self.counts = number, 0, {}
        params = self.params(task)
        tenant.given_ids = (params['promotion_id'],) if params.get('promotion_id') else ()
        started = self.clock.now
        self.clock.stop_at = started + task.interrupt_at if task.interrupt_at is not None else None
        writes_before = len(tenant.writes)
        try:
            with self.patched():
                result: dict[str, Any] | None = _module.run_task(TASK, params, check_mode=task.check_mode)
        except Interrupted:
            result = None
        except Exception as exc:  # pylint: disable=broad-exception-caught  # an escaped exception is a violation
            result = dict(failed=True, escaped=repr(exc))
        self.clock.stop_at = None
        for lock in (tenant.lock,):
            if lock is not None and lock.task == number and lock.promotion_id not in self.locks_taken:
                self.locks_taken.append(lock.promotion_id)
        self.results.append(result)
        self.check(number, task, result, started, tenant.writes[writes_before:])
        # Time passes between two tasks: lags and phases play out.
        self.clock.now += 1.0
        return result

    # The invariants.
    def violate(self, number: int, text: str) -> None:
        self.violations.append('task %d: %s' % (number, text))

    def check(self, number: int, task: Task, result: dict[str, Any] | None, started: float, writes: list[dict[str, Any]]) -> None:
        tenant = self.tenant
        for text in tenant.violations:
            self.violate(number, text)
        tenant.violations = []
        begun = [run for run in tenant.runs if run.task == number and not run.dry]
        if len(begun) > 1:
            self.violate(number, 'started %d real runs' % len(begun))
        # A promotion only after its dry run passed: never past a gate (missing ESVs, encrypted values).
        mine = [run for run in tenant.runs if run.task == number and run.kind == 'promotion']
        if any(first.dry and first.outcome['status'] == 'ERROR' and not second.dry for first, second in zip(mine, mine[1:])):
            self.violate(number, 'a real promotion started after its dry run failed')
        # Under one lock, a second real promotion only after a rollback, or after one that did not complete (a task
        # run again never promotes twice).
        for lock_id in {run.lock_id for run in begun}:
            runs = [run for run in tenant.runs if run.lock_id == lock_id and not run.dry]
            if any(first.kind == second.kind == 'promotion' and first.outcome['status'] == 'READY'
                   for first, second in zip(runs, runs[1:])):
                self.violate(number, 'a second real promotion under lock %s' % lock_id)
        real = [run for run in tenant.runs if not run.dry]
        if task.check_mode and writes:
            self.violate(number, 'check mode sent %d writes' % len(writes))
        if result is None:
            return
        elapsed = self.clock.now - started
        if elapsed > 2 * task.lock_timeout + task.wait_timeout + SLACK:
            self.violate(number, 'the task took %.0f s, past every bound' % elapsed)
        if self.schedule.lock_end == 'stuck' and tenant.lock is not None and tenant.lock.task == number \
                and elapsed > task.lock_timeout + LOCK_SLACK:
            self.violate(number, 'a lock stuck in locking held the task %.0f s, more than lock_timeout' % elapsed)
        if result.get('exception') or result.get('escaped'):
            self.violate(number, 'an exception escaped: %s' % (result.get('escaped') or result['exception'].splitlines()[-1]))
            return
        outcome = result.get('outcome')
        lock_id = result.get('promotion_id')
        done = [run for run in real if run.finished and run.outcome['status'] == 'READY' and run.lock_id == lock_id]
        promotions = [run for run in done if run.kind == 'promotion']
        if result.get('failed') and result.get('changed'):
            self.violate(number, 'failed, and says changed')
        if outcome == 'promoted' or (result.get('changed') and task.operation == 'promote' and not task.check_mode
                                     and not result.get('failed')):
            if not promotions:
                self.violate(number, '%s (changed %s) but the tenant completed no real promotion under lock %s'
                             % (outcome, result.get('changed'), lock_id))
            elif result.get('report_available') is False:
                if result.get('summary') is not None:
                    self.violate(number, 'counts given for a report that was not available: %s' % result['summary'])
            elif (result.get('summary') or {}).get('total') != rows(promotions[-1].diff):
                self.violate(number, 'promoted %s changes; the tenant applied %d'
                             % ((result.get('summary') or {}).get('total'), rows(promotions[-1].diff)))
        if outcome == 'promoted' and any(diff_of(tenant.upper, tenant.lower).values()):
            self.violate(number, 'promoted, yet the upper environment still differs from the lower one')
        if outcome == 'nothing_to_promote':
            if any(diff_of(tenant.upper, tenant.lower).values()):
                self.violate(number, 'nothing_to_promote, yet the lower environment differs from the upper one')
            if [run for run in real if run.task == number and run.kind == 'promotion']:
                self.violate(number, 'nothing_to_promote, yet this task started a real promotion')
        claimed = result.get('changed') and task.operation == 'rollback' and not task.check_mode and not result.get('failed')
        if outcome in ('rolled_back', 'nothing_to_roll_back') or claimed:
            rollbacks = [run for run in done if run.kind == 'rollback']
            if outcome != 'nothing_to_roll_back' and not rollbacks:
                self.violate(number, '%s but the tenant completed no rollback under lock %s' % (outcome, lock_id))
            if outcome == 'nothing_to_roll_back' and [run for run in real if run.task == number and run.kind == 'rollback']:
                self.violate(number, 'nothing_to_roll_back, yet this task started a rollback')
        # A task that ends while a run under its lock goes on, which it started or whose status it read, keeps that
        # lock and says so (it never fails as if the run had ended, nor tries to release a lock the API will not
        # release). One that failed before it could read anything names its failed release instead.
        going = [run for run in tenant.runs if not run.finished and run.lock_id == lock_id
                 and (run.task == number or result.get('status'))]
        if going and not task.check_mode and task.unlock and result.get('lock_kept') != 'running':
            self.violate(number, 'ended while the %s it holds lock %s for goes on, without lock_kept: running (%s)'
                         % (going[0].kind, lock_id, (result.get('msg') or '')[:160]))
        # The lock the task took, or resumed, is released when it ends, or the result names it and says why it is kept.
        held = tenant.lock
        if held is not None and held.task is not None and held.state(self.clock.now) not in ('unlocking', 'gone') \
                and not task.check_mode and task.unlock:
            if held.task == number and lock_id != held.promotion_id:
                self.violate(number, 'lock %s that this task took is left behind and the result names %s'
                             % (held.promotion_id, lock_id))
            elif lock_id == held.promotion_id and not (result.get('lock_kept') or result.get('unlock_error')):
                self.violate(number, 'lock %s is kept without a reason (lock_kept or unlock_error)' % held.promotion_id)
