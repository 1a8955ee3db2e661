# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: not a public API.

The steps of a promotion, each made idempotent: reach a lock state (keeping the lock record), run a promotion,
a dry run then the promotion, or a rollback to its end, read reports and releases. Calls go through
``_client.PromotionsClient``; what the answers mean comes from ``_states``; waiting from ``_waiter``. Every step
bounds its requests by its own deadline.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ansible_collections.idcloud.promotions.plugins.module_utils import _states as states
from ansible_collections.idcloud.promotions.plugins.module_utils._client import backoff
from ansible_collections.idcloud.promotions.plugins.module_utils._errors import PromotionError, PromotionsApiError
from ansible_collections.idcloud.promotions.plugins.module_utils._files import LockRecord
from ansible_collections.idcloud.promotions.plugins.module_utils._report import (
    change_rows, describe_listing, render_markdown, report_dry_run, report_facts, report_of_run)
from ansible_collections.idcloud.promotions.plugins.module_utils._waiter import WaitTimeout, Waiter, poll_delay

if TYPE_CHECKING:
    from ansible_collections.idcloud.promotions.plugins.module_utils._client import PromotionsClient

PREFIX = '/environment/promotion'
LOCK_STATE_PATH = PREFIX + '/lock/state'
LOCK_PATH = PREFIX + '/lock'
PROMOTE_PATH = PREFIX + '/promote'
ROLLBACK_PATH = PREFIX + '/rollback'
REPORT_PATH = PREFIX + '/report'
REPORTS_PATH = PREFIX + '/reports'
REPORT_PATHS = {
    'last': REPORT_PATH,
    'list': REPORTS_PATH,
    'provisional': REPORT_PATH + '/provisional',
    'provisional_rollback': REPORT_PATH + '/provisional-rollback',
}
RELEASE_PATH = '/environment/release'
# After starting a run, how long the tenant may take to show it before the task gives up on seeing it.
STALE_STATUS_GRACE = 60
# With a dry run first, the least of wait_timeout that must be left to start the promotion.
MIN_PROMOTION_WAIT = 30
# The Waiter's last look starts at the step's deadline; its request may take this long more.
LAST_LOOK = 2.0
# Reading releases needs its own scope, which the vendor's procedure does not grant.
RELEASE_SCOPE = 'fr:idc:release:*'
SESSION_STATE_PATH = '/environment/direct-configuration/session/state'
# Reading the direct-configuration session's state needs its own scope too.
SESSION_SCOPE = 'fr:idc:direct-configuration:session:read'
# A write that got no clear answer is settled by reading the state, then sent again at most this often.
WRITE_ATTEMPTS = 3
# After a write whose answer was lost, the state is read for this long before deciding that the write did not happen:
# a tenant may show a lock, an unlock or a start a few reads late (API notes 8).
RECONCILE_WINDOW = 20.0
# Once a run has ended, how long its report may take to be shown (within the step's deadline).
REPORT_WAIT = 180.0
# What a dry run made first returns of itself, under ``dry_run_result``.
DRY_RUN_FIELDS = ('status', 'message', 'missing_esvs', 'encrypted_secrets', 'report', 'summary', 'changes', 'empty',
                  'report_files')


def run_body(unlock_after: bool = False, ignore_encrypted_secrets: bool | None = None, promoter: str | None = None,
             description: str | None = None, ticket_reference: str | None = None) -> dict[str, Any]:
    """The body of POST /promote or /rollback from named fields (``ignore_encrypted_secrets`` None for a rollback,
    which has no such flag); empty text fields are left out. ``dryRun`` is added per run."""
    body: dict[str, Any] = dict(unlockEnvironmentsAfterPromotion=bool(unlock_after))
    if ignore_encrypted_secrets is not None:
        body['ignoreEncryptedSecrets'] = bool(ignore_encrypted_secrets)
    for field, value in (('promoter', promoter), ('promotionDescription', description), ('zendeskTicketReference', ticket_reference)):
        if value:
            body[field] = value
    return body


# Check mode previews a promotion from the lower environment's provisional report; without the lower environment,
# nothing of it can be seen, and the prediction is only that it would start.
NO_PREVIEW_WARNING = ('Check mode could not preview this promotion: no lower environment is given, so what it would '
                      'change, the gates of its dry run (missing ESVs, encrypted values) and the release check are '
                      'unknown, and it is predicted to promote. Give the lower environment\'s URL and credentials to '
                      'check them before the real run.')


def check_release(upper: Promotions, lower: Promotions | None, allow_upgrade: bool = False, require: bool = False,
                  operation: str = 'promote') -> dict[str, Any]:
    """The release check before a promotion or a rollback: ``upper`` and ``lower`` are ``Promotions`` whose tokens ask
    for the release scope. Raises PromotionError when the releases differ (a promotion would also upgrade the upper
    environment; a rollback may meet the upgrade the last promotion brought), unless ``allow_upgrade``, or when the
    credentials lack the scope and ``require``. Without the scope it is skipped: the result then says so, with the
    warning to give."""
    try:
        check = upper.compare_releases(lower)
    except PromotionsApiError as exc:
        if not exc.missing_scope:
            raise
        scope = exc.missing_scope if isinstance(exc.missing_scope, str) else RELEASE_SCOPE
        if require:
            raise PromotionError('Release check: %s. It is required (require_release_check), so nothing was locked: '
                                 'grant %s to the service accounts of both environments, then run again.'
                                 % (exc, scope), release_check=dict(skipped=True, missing_scope=scope), real_run=False) from None
        warning = ('Release check skipped: the credentials lack the scope %s, so a deferred release upgrade that this '
                   '%s would meet cannot be seen. Grant %s to the service accounts of both environments '
                   'to check it.' % (scope, 'rollback' if operation == 'rollback' else 'promotion', scope))
        return dict(skipped=True, missing_scope=scope, warning=warning)
    check['skipped'] = False
    if check['upgrade'] and not allow_upgrade:
        raise PromotionError(states.release_upgrade_message(check, operation), release_check=check, real_run=False)
    return check


def check_session(upper: Promotions, require: bool = False, operation: str = 'promote') -> dict[str, Any]:
    """The direct-configuration session check before the lock: ``upper`` is a ``Promotions`` whose token asks for the
    session scope. Raises PromotionError when a session is open or in error, or when the state cannot be read for
    want of the scope (or of the endpoint) and ``require``. Else the state read (``status``, ``editable``), or, when
    skipped, the warning to give."""
    try:
        body = upper.session_state() or {}
    except PromotionsApiError as exc:
        if not (exc.missing_scope or exc.status == 404):
            raise
        if exc.missing_scope:
            cause, remedy = 'the credentials lack the scope %s' % SESSION_SCOPE, 'grant %s to the service account' % SESSION_SCOPE
        else:
            cause, remedy = ('the tenant does not answer %s (no direct configuration)' % SESSION_STATE_PATH,
                             'the tenant has no sessions to check: set require_session_check to false for it')
        if require:
            raise PromotionError('Direct-configuration session check: %s. It is required (require_session_check), so '
                                 'nothing was locked: %s, then run again.' % (cause, remedy),
                                 session_check=dict(skipped=True), real_run=False) from None
        warning = 'Direct-configuration session check skipped: %s.' % cause
        if exc.missing_scope:
            warning += ' A session open on this environment cannot be seen: %s to check it.' % remedy
        return dict(skipped=True, warning=warning)
    check = dict(skipped=False, status=body.get('status'), editable=body.get('editable'))
    refused = states.session_message(check['status'], operation)
    if refused:
        raise PromotionError(refused, session_check=check, real_run=False)
    return check


def run_fields(run: dict[str, Any], operation: str, report_files: Sequence[str] = (), diff: bool = False) -> tuple[dict[str, Any], bool]:
    """The return values of one ``Promotions.run`` result (``report_files``: where its report was written), and whether
    the run passed. ``status`` is the status word; with ``diff``, the report is the diff's ``prepared`` text."""
    status, report = run['status'], run['report']
    result = dict(changed=run['changed'], promotion_id=run['promotion_id'], attached=run['attached'], history=run['history'],
                  status=status.status, message=status.message, type=status.type or ('rollback' if operation == 'rollback' else 'promotion'),
                  blocking_error=status.blocking_error, missing_esvs=status.missing_esvs,
                  encrypted_secrets=status.encrypted_secrets, report=report, report_files=list(report_files))
    result.update(report_facts(report))
    if run.get('report_available') is False:
        # The run ended but its report could not be had: what it changed is unknown, never 0.
        result.update(report_available=False, summary=None, changes=None, empty=None)
    if report is not None and diff:
        result['diff'] = dict(prepared=render_markdown(report, dry_run=run['dry_run']))
    if run['verdict'] is not None:
        result['msg'] = run['verdict'].message
    if run.get('refused'):
        result['msg'] = run['refused']
        return result, False
    return result, run['verdict'] is None or run['verdict'].ok


def task_result(operation: str, dry: dict[str, Any] | None, real: dict[str, Any] | None, dry_run: bool = False, check_mode: bool = False,
                dry_report_files: Sequence[str] = (), report_files: Sequence[str] = (), diff: bool = False) -> tuple[dict[str, Any], bool]:
    """promotion_run's return values from the dry run made first (``dry``, or None) and the run the task is about
    (``real``, None when the dry run stopped it), with the ``outcome`` in the role's words; and whether it passed."""
    dry_fields = None
    if dry is not None:
        dry_result, passed = run_fields(dry, operation, dry_report_files, diff)
        dry_fields = {key: dry_result[key] for key in DRY_RUN_FIELDS}
        if real is None:
            result = dict(dry_result, real_run=False, dry_run_result=dry_fields)
            if passed:
                result['msg'] = ('The provisional-rollback report shows nothing to roll back; the rollback was not started '
                                 '(no restart).' if operation == 'rollback' else
                                 'The dry run found nothing to promote; the promotion was not started (no restart).')
    if real is not None:
        result, passed = run_fields(real, operation, report_files, diff)
        result.update(real_run=not check_mode and real['dry_run'] is False, dry_run_result=dry_fields)
        if dry_fields:
            result['report_files'] = dry_fields['report_files'] + result['report_files']
    result['outcome'] = states.outcome_name(operation, check_mode, dry_run, result['real_run'], result['changed'],
                                            result['empty']) if passed else 'failed'
    return result, passed


def lock_description(lock: states.LockState) -> dict[str, Any]:
    return {'result': lock.result, 'promotion_id': lock.promotion_id, 'description': lock.description}


class Promotions:
    """The promotions API of one (upper) environment."""

    def __init__(self, client: PromotionsClient, check_mode: bool = False, waiter_factory: Callable[[float], Waiter] = Waiter,
                 sleep: Callable[[float], None] = time.sleep, progress: Callable[[str], None] | None = None,
                 lock_timeout_option: str = 'wait_timeout', record: LockRecord | None = None) -> None:
        self.client = client
        self.check_mode = check_mode
        self.waiter_factory = waiter_factory
        self.sleep = sleep
        self.progress = progress  # takes the lines that say how a wait goes
        # The option that bounds the lock steps, named in their timeouts' messages (promotion_run's lock_timeout).
        self.lock_timeout_option = lock_timeout_option
        # The lock record of this environment: the lock a task takes is written there, the runs it starts are noted.
        self.record = record or LockRecord(None, client.base_url)
        # The lock this task holds or works under, once known: every failure names it (PromotionTask.execute).
        self.held: str | None = None

    @contextlib.contextmanager
    def _step(self, timeout: float) -> Iterator[Waiter]:
        """A step's Waiter; while the step lasts every request, with its retries, ends within the step's time."""
        waiter = self.waiter_factory(timeout)
        waiter.progress = self.progress
        with self.client.deadline_in(waiter.remaining() + LAST_LOOK):
            yield waiter

    # Reads.
    def lock_state(self) -> states.LockState:
        return states.LockState(self.client.get(LOCK_STATE_PATH))

    def status(self) -> states.Status:
        return states.Status(self.client.get(PROMOTE_PATH))

    def report(self, which: str = 'last', report_id: str | None = None) -> Any:
        path = '%s/%s' % (REPORT_PATH, quote(report_id, safe='')) if report_id else REPORT_PATHS[which]
        return self.client.get(path)

    def last_report(self) -> dict[str, Any] | None:
        """The newest report, None when there is none yet."""
        try:
            body = self.client.get(REPORT_PATH)
        except PromotionsApiError as exc:
            if exc.status == 404:
                return None
            raise
        return body if isinstance(body, dict) else None

    def report_is_dry_run(self, report: Any) -> bool | None:
        """Whether ``report`` is a dry run's, by the report itself or, when it does not say (the seed's shape
        without a usable ``reportName``), by its item in ``GET /reports``; None when nothing says."""
        dry = report_dry_run(report)
        if dry is None and isinstance(report, dict) and report.get('reportId'):
            dry = report_dry_run(report, self.client.get(REPORTS_PATH))
        return dry

    def real_run_finished_under(self, promotion_id: str | None, kind: str = 'promotion') -> bool:
        """A real ``kind`` of run has finished under the lock ``promotion_id``: its report is the last one and the status
        says it completed (a real run that failed is tried again, after a dry run)."""
        report = self.last_report()
        if not (isinstance(report, dict) and promotion_id and report.get('promotionId') == promotion_id):
            return False
        status, noted = self.status(), self.record.noted_run(promotion_id)
        return states.finished_under(report, kind, promotion_id, self.report_is_dry_run(report), status, noted) \
            and status.status == states.STATUS_READY

    def release(self) -> Any:
        return self.client.get(RELEASE_PATH)

    def session_state(self) -> Any:
        return self.client.get(SESSION_STATE_PATH)

    def compare_releases(self, lower: Promotions | None = None) -> dict[str, Any]:
        """This environment's release and, with the ``lower`` environment's ``Promotions``, whether a
        promotion from there would also upgrade this one (``upgrade``; None when either does not say)."""
        body = self.release() or {}
        result = dict(release=body, current_version=body.get('currentVersion'), next_upgrade=body.get('nextUpgrade'))
        if lower is not None:
            lower_body = lower.release() or {}
            result.update(lower_current_version=lower_body.get('currentVersion'), lower_next_upgrade=lower_body.get('nextUpgrade'),
                          upgrade=states.release_upgrade(body, lower_body))
        return result

    # Lock.
    def ensure_locked(self, promotion_id: str | None = None, wait: bool = True, wait_timeout: float = 900,
                      wait_for_release: bool = False) -> dict[str, Any]:
        """Hold the lock: keep ours (``promotion_id``) or take a new one. A new lock's id is written to the lock
        record as soon as it is known, before waiting for it, so that it is never lost; the result's ``record`` is
        what was written there (None when nothing was)."""
        with self._step(wait_timeout) as waiter:
            lock = self.lock_state()
            step = states.plan_lock(lock, promotion_id)
            if (step == states.HELD and wait_for_release) or (step == states.WAIT and lock.result == states.UNLOCKING):
                if self.check_mode:
                    return self._lock_result(True, lock, None, waiter)
                lock = self._wait_lock(waiter, lambda state: state.result in (states.UNLOCKED, states.LOCK_ERROR), 'release of the lock')
                step = states.plan_lock(lock, promotion_id)
            if step == states.FAIL:
                raise PromotionError('The lock state is error: %s. To resolve it, %s.' % (lock.description or 'no description', states.SUPPORT_TICKET),
                                     lock=lock.body)
            if step == states.HELD:
                raise self._held(lock, promotion_id)
            changed, record = False, None
            if step == states.LOCK:
                if self.check_mode:
                    return self._lock_result(True, lock, None, waiter)
                promotion_id = self._start_lock(waiter, wait_for_release)
                changed = True
                record = self.record.write(promotion_id, self.client.transaction_id)
            else:
                promotion_id = lock.promotion_id
            self.held = promotion_id
            try:
                if wait:
                    # Done when ours is locked, or when the lock can no longer become ours; a stale
                    # 'unlocked' read just after the request is waited out.
                    lock = self._wait_lock(waiter, lambda state: state.result == states.LOCK_ERROR or (
                        state.promotion_id not in (None, promotion_id)) or (state.result == states.LOCKED and state.held_by(promotion_id)),
                        'the lock')
                    if not (lock.result == states.LOCKED and lock.held_by(promotion_id)):
                        raise PromotionError('Locking did not complete: the lock state is now %s (%s).%s'
                                             % (lock.result, lock.description or 'no description',
                                                ' To resolve it, %s, quoting promotion id %s.' % (states.SUPPORT_TICKET, promotion_id)
                                                if lock.result == states.LOCK_ERROR else ''), lock=lock.body)
                else:
                    lock = self.lock_state()
            except PromotionError as exc:
                # A new copy: an API error's result is made afresh on each read. A lock that ended in error holds
                # nothing.
                ended_in_error = states.LockState(exc.result.get('lock')).result == states.LOCK_ERROR
                raise PromotionError(str(exc), exc.result, changed=changed and not ended_in_error) from None
            return dict(self._lock_result(changed, lock, promotion_id, waiter), record=record)

    def keep_or_lock(self, promotion_id: str | None = None, **options: Any) -> dict[str, Any]:
        """``ensure_locked``, keeping the lock of ``promotion_id`` or, without one, the lock named in the lock record
        (an interrupted run's), and recording a new lock there as soon as its id is known. The result tells whether
        that lock was still held and kept (``resumed``) and, with a record, what it holds."""
        record = self.record.read()
        kept = promotion_id or (record or {}).get('promotion_id')
        result = self.ensure_locked(promotion_id=kept, **options)
        result['resumed'] = bool(kept) and not result['changed'] and result['promotion_id'] == kept
        written = result.pop('record', None)
        if self.record.path:
            result['record'] = written or (record if result['resumed'] and record and record['promotion_id'] == kept else None)
        return result

    def unlock_after_run(self, promotion_id: str, run_result: dict[str, Any], lock_timeout: float = 900) -> dict[str, Any]:
        """The release of the task's own lock (``promotion_id``) after its run, whatever its outcome, or after it was
        refused before its run (then the lock it was given or an interrupted run's), unless it must be kept
        (``states.lock_kept``). Returns the fields to add to the run's result: ``lock_released``; ``lock_kept`` and
        ``next_step`` when it is kept on purpose; ``unlock_error`` when the release was tried and failed. A failed
        release is told, never raised over the run's own outcome."""
        self.held = promotion_id
        kept, refusal = states.lock_kept(run_result), {}
        if not kept:
            try:
                self.ensure_unlocked(promotion_id=promotion_id, wait=True, wait_timeout=lock_timeout)
            except PromotionError as exc:
                # Ours is gone when another promotion holds the lock now (the tenant released ours after the run).
                # Refused because a run goes on, or blocked: the lock is kept for that reason, which the refusal tells.
                gone = exc.result.get('holder') not in (None, promotion_id)
                kept = None if gone else states.lock_kept(dict(exc.result, lock=None, run_going=None))
                if not (gone or kept):
                    return dict(lock_released=False, unlock_error=str(exc), blocked=exc.result.get('blocked', False))
                refusal = dict(blocked=kept == states.KEPT_BLOCKED) if kept else {}
        if not kept:
            self.record.forget(promotion_id)
            return dict(lock_released=True)
        return dict(refusal, lock_released=False, lock_kept=kept, next_step=states.kept_next_step(kept, promotion_id))

    def _held(self, lock: states.LockState, promotion_id: str | None = None, refused: str | None = None, **facts: Any) -> PromotionError:
        """The failure for a lock another promotion holds (``refused``: the 409's message, when the lock request was
        refused), with what the tenant shows under it (``holder_evidence``: read-only, also in check mode), which tells
        an interrupted run of one's own from a colleague's. ``cause`` is the message without the ways out, for a caller
        that gives its own (the role)."""
        evidence = None
        if lock.promotion_id:
            try:
                evidence = states.holder_evidence(lock.promotion_id, self.status(), describe_listing(self.client.get(REPORTS_PATH)))
            except PromotionsApiError:
                pass  # the failure is the held lock; what lies under it is a help only
        seen = states.describe_holder(evidence)
        message = states.held_message(lock, promotion_id, evidence=seen) if refused is None else states.conflict_message(refused, lock, seen)
        cause = states.held_cause(lock, promotion_id, seen) if lock.promotion_id else message
        if refused is not None and lock.promotion_id:
            cause = '%s. %s' % (refused.rstrip('.'), cause)
        return PromotionError(message, lock=lock.body, holder=lock.promotion_id, holder_evidence=evidence, cause=cause, **facts)

    def _start_lock(self, waiter: Waiter, wait_for_release: bool) -> str:
        """POST /lock and return the new promotion id. A 409 is explained from the lock state, and
        waited out when ``wait_for_release``."""
        def reconcile(refusal: PromotionsApiError | None) -> str | None:
            # There was no lock before our request: one there now is the one we asked for, and so is the lock that a
            # refusal of the request sent again names (the lock state may not show it yet).
            lock = self.lock_state()
            if lock.result in (states.LOCKING, states.LOCKED, states.LOCK_ERROR) and lock.promotion_id:
                return lock.promotion_id  # one that ended in error too: the wait for it says so
            return states.promotion_id_in(refusal.message) if refusal is not None and refusal.status == 409 else None

        while True:
            try:
                body = self._write(lambda: self.client.post(LOCK_PATH), reconcile)
            except PromotionsApiError as exc:
                if exc.status == 500:
                    raise PromotionError('Locking failed with an internal error: %s. To resolve it, %s.' % (exc.message, states.SUPPORT_TICKET),
                                         error=exc.to_dict())
                if exc.status != 409:
                    raise
                lock = self.lock_state()
                if not wait_for_release:
                    refused = exc.message
                    raise self._held(lock, refused=refused,
                                     error=exc.to_dict())
                if lock.result in (states.UNLOCKED, states.LOCK_ERROR):
                    # Refused while reading free: the vendor's lock.
                    self._pause(waiter, 'release of the lock', 'the tenant refused the lock (%s)' % (exc.message or 'Conflict'))
                else:
                    self._wait_lock(waiter, lambda state: state.result in (states.UNLOCKED, states.LOCK_ERROR), 'release of the lock')
                continue
            if isinstance(body, str):
                return body
            return (body or {}).get('promotionId') or self.lock_state().promotion_id

    def ensure_unlocked(self, promotion_id: str | None = None, force: bool = False, wait: bool = True,
                        wait_timeout: float = 900) -> dict[str, Any]:
        with self._step(wait_timeout) as waiter:
            lock = self.lock_state()
            step = states.plan_unlock(lock, promotion_id, force)
            if step == states.WAIT:
                if self.check_mode:
                    return self._lock_result(lock.result == states.LOCKING, lock, promotion_id, waiter)
                lock = self._wait_lock(waiter, lambda state: state.settled, 'the lock change in progress')
                step = states.plan_unlock(lock, promotion_id, force)
            if step == states.FAIL:
                raise PromotionError('The lock state is error: %s. To resolve it, %s.' % (lock.description or 'no description', states.SUPPORT_TICKET),
                                     lock=lock.body)
            if step == states.HELD:
                raise PromotionError(states.held_message(lock, promotion_id, action='unlock'), lock=lock.body, holder=lock.promotion_id)
            if step == states.DONE:
                return self._lock_result(False, lock, lock.promotion_id or promotion_id, waiter)
            released = lock.promotion_id
            if self.check_mode:
                return self._lock_result(True, lock, released, waiter)
            self._start_unlock(waiter, released)
            lock = self._wait_lock(waiter, lambda state: state.result in (states.UNLOCKED, states.LOCK_ERROR), 'the unlock') if wait \
                else self.lock_state()
            if wait and lock.result != states.UNLOCKED:
                raise PromotionError('Unlocking did not complete: the lock state is now %s (%s).'
                                     % (lock.result, lock.description or 'no description'), lock=lock.body, changed=True)
            return self._lock_result(True, lock, released, waiter)

    def _start_unlock(self, waiter: Waiter, promotion_id: str) -> None:
        def reconcile(refusal: PromotionsApiError | None) -> bool | None:  # pylint: disable=unused-argument
            lock = self.lock_state()
            if lock.result in (states.UNLOCKING, states.UNLOCKED):
                return True  # our DELETE went through; its answer was lost
            if lock.promotion_id == promotion_id:
                return None
            raise PromotionError('While releasing lock %s the lock state became %s%s; check who holds it now.'
                                 % (promotion_id, lock.result, ' (promotion %s)' % lock.promotion_id if lock.promotion_id else ''),
                                 lock=lock.body)

        while True:
            try:
                self._write(lambda: self.client.delete('%s/%s' % (LOCK_PATH, quote(promotion_id, safe=''))), reconcile)
                return
            except PromotionsApiError as exc:
                if exc.status != 409:
                    raise
                # Why was it refused? The status and the lock state say, whatever the 409's wording.
                status, lock = self.status(), self.lock_state()
                if (status.failed and status.blocking_error) or 'blocked' in (exc.message or '').lower():
                    raise PromotionError(states.blocked_message(promotion_id, self.client.transaction_id), error=exc.to_dict(),
                                         blocked=True)
                if status.running:
                    raise PromotionError('A %s is running under lock %s (%s), so the lock cannot be released yet. Run '
                                         'promotion_run again to wait for it to end, then unlock.'
                                         % (status.type or 'run', promotion_id, status.message or 'no message'),
                                         error=exc.to_dict(), result=status.fields())
                if lock.result in (states.UNLOCKING, states.UNLOCKED):
                    return
                if lock.promotion_id and lock.promotion_id != promotion_id:
                    raise PromotionError(states.conflict_message(exc.message, lock), error=exc.to_dict(), holder=lock.promotion_id)
                if lock.settled:
                    self._pause(waiter, 'the lock to be released', 'the tenant refused the unlock (%s)' % (exc.message or 'Conflict'))
                else:
                    self._wait_lock(waiter, lambda state: state.settled, 'the lock change in progress')

    def _write(self, send: Callable[[], Any], reconcile: Callable[[PromotionsApiError | None], Any]) -> Any:
        """Send a write (lock, unlock, start a run). A write refused by a busy tenant (429, 503) is sent again after the
        pause it asks for. One whose fate is unknown (no answer, 502, 504) is not: ``reconcile(refusal)`` reads the state
        and returns what the write would have given had it gone through, or None when the state does not show it. The
        tenant may show a write's effect a few reads late, so the state is read over RECONCILE_WINDOW before the write
        is sent again, a bounded number of times. A write sent again that is then refused (a 409) may have been done by
        the one whose answer was lost: ``reconcile`` reads the state once more, with the refusal."""
        lost = False
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return send()
            except PromotionsApiError as exc:
                if lost and not exc.transient:
                    effect = self._reconcile(reconcile, exc, window=0)
                    if effect is not None:
                        return effect
                if not exc.transient:
                    raise
                if not exc.refused:
                    lost = True
                    effect = self._reconcile(reconcile)
                    if effect is not None:
                        return effect
                pause = exc.retry_after if exc.refused and exc.retry_after is not None else backoff(attempt)
                if attempt == WRITE_ATTEMPTS or self.client.remaining() <= pause:
                    raise
                self.sleep(pause)
        raise AssertionError('unreachable')  # pragma: no cover

    def _reconcile(self, reconcile: Callable[[PromotionsApiError | None], Any], refusal: PromotionsApiError | None = None,
                   window: float = RECONCILE_WINDOW) -> Any:
        """``reconcile(refusal)`` read again, with backoff, until it shows the write's effect (its value) or ``window``
        seconds have passed (None). A read that fails is no news."""
        waited, attempt = 0.0, 0
        while True:
            try:
                effect = reconcile(refusal)
            except PromotionsApiError:
                effect = None
            pause = min(backoff(attempt), window - waited, self.client.remaining())
            if effect is not None or pause <= 0:
                return effect
            self.sleep(pause)
            waited += pause
            attempt += 1

    def _pause(self, waiter: Waiter, what: str, reason: str) -> None:
        """Wait a while before sending a refused request again, saying why in a progress line."""
        try:
            waited = waiter.clock() - waiter.start
            waiter.pause(poll_delay(waited, waited), 'waiting for ' + what, reason)
        except WaitTimeout as exc:
            raise PromotionError('Timed out after %.0f s waiting for %s: %s. Raise %s, or try again later.'
                                 % (exc.elapsed, what, reason, self.lock_timeout_option), history=waiter.history)

    def _wait_lock(self, waiter: Waiter, done: Callable[[states.LockState], bool], what: str) -> states.LockState:
        try:
            lock, _elapsed = waiter.until(self.lock_state, done, key=lambda state: (state.result, state.promotion_id),
                                          describe=lock_description, tolerate=sat_out, topic='waiting for ' + what)
        except WaitTimeout as exc:
            last = exc.last or states.LockState(None)
            raise PromotionError('Timed out after %.0f s waiting for %s; the lock state is still %s%s%s. Raise %s, '
                                 'or check who holds the lock.' % (
                                     exc.elapsed, what, last.result or 'unknown',
                                     ' (promotion %s)' % last.promotion_id if last.promotion_id else '',
                                     '; last error: %s' % exc.error if exc.error else '', self.lock_timeout_option),
                                 lock=last.body, history=waiter.history)
        return lock

    def _lock_result(self, changed: bool, lock: states.LockState, promotion_id: str | None, waiter: Waiter) -> dict[str, Any]:
        return dict(changed=changed, promotion_id=promotion_id, state=lock.result, lock=lock.body,
                    history=waiter.history)

    # Promotion and rollback.
    def run(self, operation: str = 'promote', dry_run: bool = False, body: dict[str, Any] | None = None, promotion_id: str | None = None,
            wait: bool = True, wait_timeout: float = 3600, ignore_encrypted_secrets: bool = False) -> dict[str, Any]:
        kind = 'rollback' if operation == 'rollback' else 'promotion'
        with self._step(wait_timeout) as waiter:
            lock = self.lock_state()
            before = self.status()
            last = self.last_report()
            under_lock = isinstance(last, dict) and bool(lock.promotion_id) and last.get('promotionId') == lock.promotion_id
            last_dry = self.report_is_dry_run(last) if under_lock and not dry_run else None
            decision, why = states.plan_run(before, kind, lock, promotion_id, dry_run, last, last_dry, self.record.noted_run(lock.promotion_id))
            if self.check_mode and not promotion_id and lock.result in (states.UNLOCKED, states.LOCKING):
                # In check mode the lock of an earlier task was only predicted: say what would run once it is taken.
                decision = states.START
            if decision == states.FAIL:
                raise PromotionError(why, result=before.fields(), lock=lock.body)
            promotion_id = self.held = lock.promotion_id
            if self.check_mode:
                # A run found going under the lock is waited for, then the promotion made if it was its dry run.
                predicted = decision in (states.START, states.ATTACH) and not dry_run
                return dict(changed=predicted, promotion_id=promotion_id, status=before, verdict=None, history=[],
                            report=None, attached=decision == states.ATTACH, dry_run=dry_run)
            if decision == states.COMPLETED:
                verdict = states.Verdict(before, kind, False, True)
                verdict.message = 'The %s under lock %s had already finished (%s); nothing was started.' % (
                    kind, promotion_id, before.message or 'no message')
                return dict(changed=False, promotion_id=promotion_id, status=before, verdict=verdict, history=[], report=last,
                            attached=False, dry_run=False)
            if decision == states.START:
                self._start_run(kind, dry_run, body, before, last, promotion_id)
            if not wait:
                # A run started here will change configuration; one merely found running is not this task's change.
                return dict(changed=decision == states.START and not dry_run, promotion_id=promotion_id, status=self.status(),
                            verdict=None, history=waiter.history, report=None, attached=decision == states.ATTACH,
                            dry_run=dry_run if decision == states.START else None)
            topic = '%s %s' % ('attached to the' if decision == states.ATTACH else 'the',
                               'dry run' if dry_run and decision == states.START else kind)
            # What this task started is known; a run found going may have been the dry run or the real one.
            expected = False if kind == 'rollback' else dry_run if decision == states.START else None
            status = self._wait_run(waiter, kind, decision, before, last, expected, promotion_id, topic)
            ended = status.status == states.STATUS_READY
            report = self._report_of_run(waiter, kind, expected, promotion_id, last, wait=ended)
            # As the tenant says (the report, or its listing item), else as this task started it; None: unknown.
            ran_dry = self.report_is_dry_run(report) if report is not None and kind == 'promotion' else None
            ran_dry = expected if ran_dry is None else ran_dry
            if decision == states.ATTACH and not dry_run and ended:
                if ran_dry is None:
                    raise PromotionError(
                        'A %s found running under lock %s has ended (%s), but its report is not available, so whether it '
                        'was the dry run or the %s itself cannot be told. Run the task again: it reads the report again '
                        'and starts nothing twice.' % (kind, promotion_id, status.message or 'no message', kind),
                        result=status.fields(), history=waiter.history)
                if ran_dry:
                    # The run found going was a dry run of this lock: the real one is still to do.
                    return self.run(operation, dry_run, body, promotion_id, wait, max(1, int(waiter.remaining())),
                                    ignore_encrypted_secrets)
            report_empty = None if report is None else not change_rows(report)
            # A run nobody can place counts as a dry run: never report a promotion that may not have happened.
            verdict = states.Verdict(status, kind, ran_dry is not False, report_empty, ignore_encrypted_secrets, promotion_id,
                                     self.client.transaction_id)
            if ended and report is None:
                verdict.message += (' Its report is not available yet, so what it changed is unknown: read it with '
                                    'promotion_report (playbooks/report.yml).')
            return dict(changed=verdict.changed, promotion_id=promotion_id, status=status, verdict=verdict,
                        history=waiter.history, report=report, attached=decision == states.ATTACH, dry_run=ran_dry,
                        report_available=report is not None if ended else None)

    def _report_of_run(self, waiter: Waiter, kind: str, dry_run: bool | None, promotion_id: str | None,
                       previous: dict[str, Any] | None, wait: bool) -> dict[str, Any] | None:
        """The report of the run that has just ended, told by every sign the service gives: not ``previous`` (the
        last report before the run) nor older than it, made under the lock ``promotion_id``, of the run's ``kind`` and,
        unless ``dry_run`` is None, its dry run or not. GET /report may lag the status, so GET /reports and
        GET /report/{id} are read too; with ``wait``, until the report shows or REPORT_WAIT has passed. None when it
        cannot be had: never another run's report."""
        def ours(document: Any, listing: Any = None) -> bool:
            return report_of_run(document, kind, dry_run, promotion_id, previous, listing)

        def look() -> dict[str, Any] | None:
            report = self.last_report()
            if ours(report):
                return report
            listing = describe_listing(self.client.get(REPORTS_PATH))
            for item in reversed(listing):  # newest first
                if ours(item, listing):
                    found = self.report(report_id=item['reportId'])
                    if ours(found, listing):
                        return found
            return None

        seconds = min(REPORT_WAIT, waiter.remaining()) if wait else 0
        looking = self.waiter_factory(seconds)
        try:
            report, _elapsed = looking.until(look, lambda report: report is not None, key=lambda report: report is None,
                                             tolerate=sat_out)
        except WaitTimeout:
            return None
        return report

    def promote_after_dry_run(self, body: dict[str, Any] | None = None, promotion_id: str | None = None, wait_timeout: float = 3600,
                              ignore_encrypted_secrets: bool = False, skip_if_unchanged: bool = True,
                              review: Callable[[list[dict[str, Any]]], str | None] | None = None
                              ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """A dry run, then the promotion when the dry run passed, (with ``skip_if_unchanged``) found something to
        promote and passed the ``review`` of its changes (a function of the rows that says why they may not be
        promoted, or None), both within one ``wait_timeout``. Returns ``(dry, real)``, two ``run`` results: ``dry`` is
        None when no dry run was needed (check mode, or the real promotion of an interrupted run is under way or done
        under this lock), ``real`` is None when the promotion was not started (``dry['refused']`` then says why, when
        the review refused it)."""
        with self._step(wait_timeout) as waiter:
            if self.check_mode:
                return None, self.run('promote', False, body, promotion_id, True, wait_timeout, ignore_encrypted_secrets)
            lock_id = promotion_id or self.lock_state().promotion_id
            dry = None
            if not self.real_run_finished_under(lock_id):
                dry_body = dict(body or {})
                dry_body.pop('unlockEnvironmentsAfterPromotion', None)
                dry = self.run('promote', True, dry_body, promotion_id, True, wait_timeout, ignore_encrypted_secrets)
                if dry['attached'] and dry['dry_run'] is False:
                    return None, dry  # it attached to the real promotion of an interrupted run
                verdict = dry['verdict']
                # Nothing to promote only when the dry run's report says so: its wording ('(no change)') may not agree,
                # and a dry run whose report cannot be had may have found changes.
                empty = dry['report'] is not None and not change_rows(dry['report'])
                if not verdict.ok or (skip_if_unchanged and empty):
                    return dry, None
                dry['refused'] = review(None if dry['report'] is None else change_rows(dry['report'])) if review is not None else None
                if dry['refused']:
                    return dry, None
            if dry is not None and waiter.remaining() < MIN_PROMOTION_WAIT:
                # Starting a promotion (which restarts the tenant's services) only to stop waiting for it at once helps nobody.
                raise PromotionError('The dry run passed but took all but %.0f s of wait_timeout; the promotion was not started. '
                                     'Run again with a larger wait_timeout.' % waiter.remaining(), result=dry['status'].fields())
            real = self.run('promote', False, body, promotion_id, True, max(1, int(waiter.remaining())), ignore_encrypted_secrets)
            return dry, real

    def rollback_after_preview(self, body: dict[str, Any] | None = None, promotion_id: str | None = None, wait_timeout: float = 3600,
                               skip_if_unchanged: bool = True) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The rollback's counterpart of ``promote_after_dry_run``: a rollback has no dry run, so its preview is the
        provisional-rollback report. Returns ``(preview, rollback)`` as there: ``preview`` is None when a rollback of
        this lock is already under way or done (an interrupted run), ``rollback`` None when the preview shows nothing
        to roll back and ``skip_if_unchanged``."""
        with self._step(wait_timeout) as waiter:
            lock_id = promotion_id or self.lock_state().promotion_id
            preview, status = None, self.status()
            if not (status.running or self.real_run_finished_under(lock_id, 'rollback')):
                preview = self.rollback_preview(lock_id, status)
                if skip_if_unchanged and not change_rows(preview['report']):
                    return preview, None
            return preview, self.run('rollback', False, body, promotion_id, True, max(1, int(waiter.remaining())))

    def rollback_preview(self, promotion_id: str | None = None, status: states.Status | None = None) -> dict[str, Any]:
        """The provisional-rollback report as a run result: what a rollback would revert, changing nothing (``status``:
        the status just read, if any)."""
        return dict(changed=False, promotion_id=promotion_id, status=status or self.status(), verdict=None, history=[],
                    report=self.report('provisional_rollback'), attached=False, dry_run=True)

    def predict(self, operation: str = 'promote', dry_run: bool = False, promotion_id: str | None = None,
                lower: Promotions | None = None) -> dict[str, Any]:
        """Check mode: what ``run`` would do, sending nothing, from the plan and the preview report (the ``lower``
        environment's provisional report for a promotion, this environment's provisional-rollback report for a
        rollback). A run whose preview shows nothing to change would change nothing; a promotion whose preview
        shows missing ESVs fails, as its dry run would."""
        if not self.check_mode:
            raise ValueError('predict is for check mode')
        predicted = self.run(operation, dry_run, promotion_id=promotion_id)
        if operation == 'rollback':
            report = self.report('provisional_rollback')
        else:
            report = lower.report('provisional') if lower is not None else None
        if not isinstance(report, dict):
            return predicted
        predicted.update(report=report, dry_run=True, changed=predicted['changed'] and bool(change_rows(report)))
        missing = list(report.get('missingESVs') or []) if operation != 'rollback' else []
        if missing:
            raise PromotionError(states.missing_esvs_preview_message(missing), missing_esvs=missing, report=report,
                                 real_run=False, changed=False)
        return predicted

    def _wait_run(self, waiter: Waiter, kind: str, decision: str, before: states.Status, previous: dict[str, Any] | None,
                  dry_run: bool | None, promotion_id: str | None, topic: str = '') -> states.Status:
        seen_running = [decision == states.ATTACH]
        reported_at: list[float] = []

        def finished(status: states.Status) -> bool:
            # Ended once seen running, or once it shows by its own report or error; a status that merely
            # differs from the one before proves nothing (idle statuses change too), nor does a report that is merely
            # new (GET /report may have lagged the run before).
            if status.running:
                seen_running[0] = True
                return False
            if seen_running[0] or (status.failed and not status.same_state(before)):
                return True
            if reported_at:
                # Its report is there; a status still as it was before the start may lag the run's end (RECONCILE_WINDOW).
                return not status.same_state(before) or waiter.clock() - reported_at[0] >= RECONCILE_WINDOW
            try:
                if report_of_run(self.last_report(), kind, dry_run, promotion_id, previous, sure=True):
                    reported_at.append(waiter.clock())
                    return not status.same_state(before)
            except PromotionsApiError:
                pass  # sat out like a failed status read

            if waiter.clock() - waiter.start > STALE_STATUS_GRACE:
                raise PromotionError('The tenant accepted the %s but has not shown it running after %d s (status %s: %s). '
                                     'Run the task again to wait for it, or check the tenant.'
                                     % (kind, STALE_STATUS_GRACE, status.status, status.message or 'no message'),
                                     result=status.fields(), history=waiter.history)
            return False

        try:
            status, _elapsed = waiter.until(self.status, finished, key=lambda status: (status.status, status.message),
                                            describe=lambda status: dict(status=status.status, message=status.message),
                                            tolerate=sat_out, topic=topic)
        except WaitTimeout as exc:
            # The run has not been seen to end: as far as anyone can tell it goes on, whatever was read last (a read
            # from before the start that lagged, or none).
            last = exc.last or states.Status(None)
            shown = ('is still %s (%s) on the tenant' % (last.status, last.message or 'no message') if last.running and seen_running[0]
                     else 'has not been seen to end (the tenant last showed %s: %s)' % (last.status or 'nothing', last.message or 'no message'))
            raise PromotionError('Timed out after %.0f s; the %s %s and its lock %s stays in place%s. '
                                 'Run the task again to wait for it, or raise wait_timeout.'
                                 % (exc.elapsed, kind, shown, promotion_id, '; last error: %s' % exc.error if exc.error else ''),
                                 result=last.fields(), history=waiter.history, run_going=True)
        return status

    def _start_run(self, kind: str, dry_run: bool, body: dict[str, Any] | None, before: states.Status, previous: dict[str, Any] | None,
                   lock_id: str | None) -> None:
        path = ROLLBACK_PATH if kind == 'rollback' else PROMOTE_PATH
        payload = dict(body or {})
        if kind == 'promotion':
            payload['dryRun'] = bool(dry_run)

        unsettled = []  # an answer was lost: whether the tenant started the run is not known until a read shows it

        def reconcile(refusal: PromotionsApiError | None) -> bool | None:  # pylint: disable=unused-argument
            # Started or not? A run going, or a new state or report under this lock, says it was; the status may
            # show it a few reads late.
            unsettled.append(True)
            now = self.status()
            ours = now.promotion_id in (None, before.promotion_id, lock_id)
            started = (now.running and now.type in (None, kind)) or (ours and not now.same_state(before)) or \
                report_of_run(self.last_report(), kind, dry_run if kind == 'promotion' else False, lock_id, previous, sure=True)
            return True if started else None

        try:
            self._write(lambda: self.client.post(path, payload), reconcile)
        except PromotionsApiError as exc:
            if unsettled and exc.status != 409:
                # The tenant may have started it: the lock stays (a run may be going), and a rerun finds out.
                raise PromotionError('Starting the %s got no clear answer, and the tenant has not shown since whether it '
                                     'began (%s). A %s may be going under lock %s, which is kept: run the task again to '
                                     'find it and wait for it, or start it.' % (kind, exc, kind, lock_id),
                                     error=exc.to_dict(), run_going=True) from None
            if exc.status != 409:
                raise
            status = self.status()
            if (status.failed and status.blocking_error) or 'blocked' in (exc.message or '').lower():
                raise PromotionError(states.blocked_message(before.promotion_id, self.client.transaction_id),
                                     error=exc.to_dict(), result=status.fields(), blocked=True)
            raise PromotionError('The tenant refused to start the %s: %s. Check the lock (promotion_lock) and that '
                                 'no other run is in progress (status %s: %s), then run again.'
                                 % (kind, exc.message.rstrip('.'), status.status, status.message or 'no message'),
                                 error=exc.to_dict(), result=status.fields(), run_going=bool(unsettled))
        # Noted once the tenant took it (not before: a start refused must not be taken for a run made).
        self.record.note_run(lock_id, kind, dry_run if kind == 'promotion' else False)


def sat_out(exc: BaseException) -> bool:
    """A failure a wait sits out until its deadline, whatever its status: while the tenant restarts its services, a read
    may fail with a 500, a 401 that a new token does not cure, a gateway's 404 or no answer at all, while the run goes on.
    Only a definite answer about the run or the lock ends a wait."""
    return isinstance(exc, PromotionsApiError)
