# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The steps of a promotion, each made idempotent: reach a lock state, run a promotion or a
rollback to its end, read reports. Calls go through ``client.PromotionsClient``; what the
answers mean comes from ``promotion``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import time

from ansible_collections.idcloud.promotions.plugins.module_utils.client import RETRY_AFTER_CAP, PromotionsApiError
from ansible_collections.idcloud.promotions.plugins.module_utils import promotion as p
from ansible_collections.idcloud.promotions.plugins.module_utils.report import change_rows

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
# After starting a run, a status identical to the one before may still be served for a moment.
STALE_STATUS_GRACE = 10
# A write that got no clear answer is settled by reading the state, then sent again at most this often.
WRITE_ATTEMPTS = 3
# How often a lock change may be refused because another one got in first before giving up.
CONFLICT_ROUNDS = 5


class WorkflowError(Exception):
    """A step that cannot complete; ``result`` holds what the module returns with the failure."""

    def __init__(self, message, result=None, **fields):
        super(WorkflowError, self).__init__(message)
        self.message = message
        self.result = dict(result or {}, **fields)


def lock_description(lock):
    return {'result': lock.result, 'promotion_id': lock.promotion_id, 'description': lock.description}


class Promotions:
    """The promotions API of one (upper) environment."""

    def __init__(self, client, check_mode=False, waiter_factory=p.Waiter, sleep=time.sleep):
        self.client = client
        self.check_mode = check_mode
        self.waiter_factory = waiter_factory
        self.sleep = sleep

    # Reads.
    def lock_state(self):
        return p.LockState(self.client.get(LOCK_STATE_PATH))

    def status(self):
        return p.Status(self.client.get(PROMOTE_PATH))

    def report(self, which='last', report_id=None):
        path = '%s/%s' % (REPORT_PATH, report_id) if report_id else REPORT_PATHS[which]
        return self.client.get(path)

    def last_report(self):
        """The newest report, None when there is none yet."""
        try:
            body = self.client.get(REPORT_PATH)
        except PromotionsApiError as exc:
            if exc.status == 404:
                return None
            raise
        return body if isinstance(body, dict) else None

    def last_report_id(self):
        return (self.last_report() or {}).get('reportId')

    def release(self):
        return self.client.get(RELEASE_PATH)

    # Lock.
    def ensure_locked(self, promotion_id=None, wait=True, wait_timeout=900, wait_for_release=False):
        waiter = self.waiter_factory(wait_timeout)
        lock = self.lock_state()
        step = p.plan_lock(lock, promotion_id)
        if step in (p.HELD, p.WAIT) and lock.result != p.LOCKING and (wait_for_release or lock.result == p.UNLOCKING):
            if self.check_mode:
                return self._lock_result(True, lock, lock.promotion_id if step == p.WAIT else None, waiter)
            lock = self._wait_lock(waiter, lambda state: state.result in (p.UNLOCKED, p.LOCK_ERROR), 'release of the lock')
            step = p.plan_lock(lock, promotion_id)
        if step == p.FAIL:
            raise WorkflowError('The lock state is error: %s. To resolve it, %s.' % (lock.description or 'no description', p.SUPPORT_TICKET),
                                lock=lock.body)
        if step == p.HELD:
            raise WorkflowError(p.held_message(lock, promotion_id), lock=lock.body, holder=lock.promotion_id)
        changed = False
        if step == p.LOCK:
            if self.check_mode:
                return self._lock_result(True, lock, None, waiter)
            promotion_id = self._start_lock(waiter, wait_for_release)
            changed = True
        else:
            promotion_id = lock.promotion_id
        if wait:
            lock = self._wait_lock(waiter, lambda state: state.result != p.LOCKING, 'the lock')
            if not lock.held_by(promotion_id) or lock.result != p.LOCKED:
                raise WorkflowError('Locking did not complete: the lock state is now %s (%s).'
                                    % (lock.result, lock.description or 'no description'), lock=lock.body,
                                    promotion_id=promotion_id, changed=changed)
        else:
            lock = self.lock_state()
        return self._lock_result(changed, lock, promotion_id, waiter)

    def _start_lock(self, waiter, wait_for_release):
        """POST /lock and return the new promotion id. A lock that another promotion grabbed first
        is waited for when asked."""
        def reconcile():
            lock = self.lock_state()
            if lock.result in (p.LOCKING, p.LOCKED) and lock.promotion_id:
                return lock.promotion_id  # our POST went through; its answer was lost
            return None if lock.result == p.UNLOCKED else lock.promotion_id

        for _conflict in range(CONFLICT_ROUNDS):
            try:
                body = self._write(lambda: self.client.post(LOCK_PATH), reconcile)
            except PromotionsApiError as exc:
                if exc.status == 409 and wait_for_release:
                    self._wait_lock(waiter, lambda state: state.result in (p.UNLOCKED, p.LOCK_ERROR), 'release of the lock')
                    continue
                if exc.status == 409:
                    raise WorkflowError(p.conflict_message(exc), error=exc.to_dict(), holder=p.promotion_id_in(exc.message))
                if exc.status == 500:
                    raise WorkflowError('Locking failed with an internal error: %s. To resolve it, %s.' % (exc.message, p.SUPPORT_TICKET),
                                        error=exc.to_dict())
                raise
            if isinstance(body, str):
                return body
            return (body or {}).get('promotionId') or self.lock_state().promotion_id
        raise WorkflowError('Other promotions took the lock first %d times in a row; try again later.' % CONFLICT_ROUNDS)

    def ensure_unlocked(self, promotion_id=None, force=False, wait=True, wait_timeout=900):
        waiter = self.waiter_factory(wait_timeout)
        lock = self.lock_state()
        step = p.plan_unlock(lock, promotion_id, force)
        if step == p.WAIT:
            if self.check_mode:
                return self._lock_result(lock.result == p.LOCKING, lock, lock.promotion_id, waiter)
            lock = self._wait_lock(waiter, lambda state: state.settled, 'the lock change in progress')
            step = p.plan_unlock(lock, promotion_id, force)
        if step == p.FAIL:
            raise WorkflowError('The lock state is error: %s. To resolve it, %s.' % (lock.description or 'no description', p.SUPPORT_TICKET),
                                lock=lock.body)
        if step == p.HELD:
            raise WorkflowError(p.held_message(lock, promotion_id, action='unlock'), lock=lock.body, holder=lock.promotion_id)
        if step == p.DONE:
            return self._lock_result(False, lock, lock.promotion_id or promotion_id, waiter)
        released = lock.promotion_id
        if self.check_mode:
            return self._lock_result(True, lock, released, waiter)
        self._start_unlock(waiter, released)
        lock = self._wait_lock(waiter, lambda state: state.result in (p.UNLOCKED, p.LOCK_ERROR), 'the unlock') if wait \
            else self.lock_state()
        if wait and lock.result != p.UNLOCKED:
            raise WorkflowError('Unlocking did not complete: the lock state is now %s (%s).'
                                % (lock.result, lock.description or 'no description'), lock=lock.body, changed=True)
        return self._lock_result(True, lock, released, waiter)

    def _start_unlock(self, waiter, promotion_id):
        def reconcile():
            lock = self.lock_state()
            if lock.result in (p.UNLOCKING, p.UNLOCKED):
                return True  # our DELETE went through; its answer was lost
            if lock.promotion_id == promotion_id:
                return None
            raise WorkflowError('While releasing lock %s the lock state became %s%s; check who holds it now.'
                                % (promotion_id, lock.result, ' (promotion %s)' % lock.promotion_id if lock.promotion_id else ''),
                                lock=lock.body)

        for _conflict in range(CONFLICT_ROUNDS):
            try:
                self._write(lambda: self.client.delete('%s/%s' % (LOCK_PATH, promotion_id)), reconcile)
                return
            except PromotionsApiError as exc:
                if exc.status == 409 and 'blocked' in (exc.message or '').lower():
                    raise WorkflowError(p.blocked_message(promotion_id, self.client.transaction_id), error=exc.to_dict(),
                                        blocked=True)
                if exc.status == 409 and not p.promotion_id_in(exc.message):
                    # Locking or unlocking is in progress: let it settle, then decide again.
                    if self._wait_lock(waiter, lambda state: state.settled, 'the lock change in progress').result == p.UNLOCKED:
                        return
                    continue
                if exc.status == 409:
                    raise WorkflowError(p.conflict_message(exc), error=exc.to_dict())
                raise
        raise WorkflowError('The tenant kept refusing to release lock %s while a lock change was in progress; try again later.'
                            % promotion_id)

    def _write(self, send, reconcile):
        """Send a write (lock, unlock, start a run). When it fails without a clear answer (none came,
        or a busy tenant or proxy answered), it is not sent again blindly: after a pause (the
        tenant's Retry-After when it gave one), ``reconcile()`` reads the state and returns what the
        write would have given had it gone through, or None when it did not, and only then is it
        sent again, a bounded number of times."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return send()
            except PromotionsApiError as exc:
                if not exc.transient or attempt == WRITE_ATTEMPTS:
                    raise
                self.sleep(min(exc.retry_after or attempt, RETRY_AFTER_CAP))
                outcome = reconcile()
                if outcome is not None:
                    return outcome
        raise AssertionError('unreachable')  # pragma: no cover

    def _wait_lock(self, waiter, done, what):
        try:
            lock, _elapsed = waiter.until(self.lock_state, done, key=lambda state: (state.result, state.promotion_id),
                                          describe=lock_description)
        except p.WaitTimeout as exc:
            raise WorkflowError('Timed out after %.0f s waiting for %s; the lock state is still %s%s. Raise wait_timeout, '
                                'or check who holds the lock.' % (exc.elapsed, what, exc.last.result,
                                                                  ' (promotion %s)' % exc.last.promotion_id if exc.last.promotion_id else ''),
                                lock=exc.last.body, history=waiter.history)
        return lock

    def _lock_result(self, changed, lock, promotion_id, waiter):
        return dict(changed=changed, promotion_id=promotion_id, state=lock.result, lock=lock.body,
                    history=waiter.history)

    # Promotion and rollback.
    def run(self, operation='promote', dry_run=False, body=None, promotion_id=None, wait=True, wait_timeout=3600,
            ignore_encrypted_secrets=False):
        kind = 'rollback' if operation == 'rollback' else 'promotion'
        waiter = self.waiter_factory(wait_timeout)
        lock = self.lock_state()
        before = self.status()
        last = self.last_report()
        previous_report = (last or {}).get('reportId')
        decision, why = p.plan_run(before, kind, lock, promotion_id, dry_run, last)
        if self.check_mode and not promotion_id and lock.result in (p.UNLOCKED, p.LOCKING):
            # In check mode the lock of an earlier task was only predicted: say what would run once it is taken.
            decision = p.START
        if decision == p.FAIL:
            raise WorkflowError(why, status=before.as_dict(), lock=lock.body)
        promotion_id = lock.promotion_id
        if self.check_mode:
            predicted = decision == p.START and not dry_run
            return dict(changed=predicted, promotion_id=promotion_id, status=before, outcome=None, history=[],
                        report=None, attached=decision == p.ATTACH)
        if decision == p.COMPLETED:
            outcome = p.Outcome(before, kind, False, True)
            outcome.message = 'The %s under lock %s had already finished (%s); nothing was started.' % (
                kind, promotion_id, before.message or 'no message')
            return dict(changed=False, promotion_id=promotion_id, status=before, outcome=outcome, history=[], report=last,
                        attached=False)
        if decision == p.START:
            self._start_run(kind, dry_run, body, before, previous_report)
        if not wait:
            return dict(changed=not dry_run, promotion_id=promotion_id, status=self.status(), outcome=None,
                        history=waiter.history, report=None, attached=decision == p.ATTACH)
        started_at = waiter.clock()
        seen_running = [decision == p.ATTACH]

        def finished(status):
            # Our run has ended once it was seen running, or the status differs from the one before
            # it started; a run too quick to be seen that ends as the previous one did shows by its report.
            if status.running:
                seen_running[0] = True
                return False
            if seen_running[0] or not status.same_state(before):
                return True
            return self.last_report_id() != previous_report or waiter.clock() - started_at > STALE_STATUS_GRACE

        try:
            status, _elapsed = waiter.until(self.status, finished, key=lambda status: (status.status, status.message),
                                            describe=lambda status: dict(status=status.status, message=status.message))
        except p.WaitTimeout as exc:
            raise WorkflowError('Timed out after %.0f s; the %s is still %s (%s) on the tenant and the lock stays in place. '
                                'Run the task again to wait for it, or raise wait_timeout.'
                                % (exc.elapsed, kind, exc.last.status, exc.last.message or 'no message'),
                                status=exc.last.as_dict(), history=waiter.history, promotion_id=promotion_id)
        report = self.last_report()
        if report is not None and report.get('reportId') == previous_report:
            report = None  # the run left no report of its own
        report_empty = None if report is None else not change_rows(report)
        outcome = p.Outcome(status, kind, dry_run, report_empty, ignore_encrypted_secrets)
        result = dict(changed=outcome.changed, promotion_id=promotion_id, status=status, outcome=outcome,
                      history=waiter.history, report=report, attached=decision == p.ATTACH)
        if (body or {}).get('unlockEnvironmentsAfterPromotion') and outcome.ok:
            # The tenant releases the lock itself after a successful run: say whether it has started to.
            result['lock_released'] = self.lock_state().result in (p.UNLOCKING, p.UNLOCKED)
        return result

    def _start_run(self, kind, dry_run, body, before, previous_report):
        path = ROLLBACK_PATH if kind == 'rollback' else PROMOTE_PATH
        payload = dict(body or {})
        if kind == 'promotion':
            payload['dryRun'] = bool(dry_run)

        def reconcile():
            # Started or not? Only an unchanged status and no new report say it was not.
            now = self.status()
            started = now.running or not now.same_state(before) or self.last_report_id() != previous_report
            return True if started else None

        try:
            self._write(lambda: self.client.post(path, payload), reconcile)
        except PromotionsApiError as exc:
            if exc.status == 409 and 'blocked' in (exc.message or '').lower():
                raise WorkflowError(p.blocked_message(before.promotion_id, self.client.transaction_id),
                                    error=exc.to_dict(), status=before.as_dict(), blocked=True)
            if exc.status == 409:
                raise WorkflowError('The tenant refused to start the %s: %s. Check the lock (promotion_lock) and that '
                                    'no other run is in progress, then run again.' % (kind, exc.message),
                                    error=exc.to_dict(), status=before.as_dict())
            raise
