# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: not a public API.

What the promotions API's answers mean: lock states, run statuses and their outcomes, the plan
functions that decide the next step, and their messages. Pure: no I/O, every rule unit-tested on its own.
"""

from __future__ import annotations

import re
from typing import Any

UNLOCKED, LOCKING, LOCKED, UNLOCKING, LOCK_ERROR = 'unlocked', 'locking', 'locked', 'unlocking', 'error'
PROMOTION_ID = re.compile(r'[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}')
# Run statuses. Older tenants say IN_PROGRESS where newer ones say RUNNING.
STATUS_UNLOCKED, STATUS_READY, STATUS_RUNNING, STATUS_ERROR = 'UNLOCKED', 'READY', 'RUNNING', 'ERROR'
STATUS_ALIASES = {'IN_PROGRESS': STATUS_RUNNING}
SUPPORT_TICKET = ("raise a support ticket (How Do I...? > Identity Cloud > Configuration: 'Resolve environment errors "
                  "preventing self-service promotions')")


class LockState:
    """The body of ``GET /environment/promotion/lock/state``."""

    def __init__(self, body: Any) -> None:
        body = body if isinstance(body, dict) else {}
        self.body: dict[str, Any] = body
        self.result = (body.get('result') or '').lower()
        self.description = body.get('description') or ''
        self.promotion_id = body.get('promotionId') or self._env_promotion_id(body)

    @staticmethod
    def _env_promotion_id(body: dict[str, Any]) -> str | None:
        for side in ('upperEnv', 'lowerEnv'):
            env = body.get(side)
            if isinstance(env, dict) and env.get('promotionId'):
                return env['promotionId']
        return None

    @property
    def settled(self) -> bool:
        return self.result in (UNLOCKED, LOCKED, LOCK_ERROR)

    def held_by(self, promotion_id: str | None) -> bool:
        return bool(promotion_id) and self.promotion_id == promotion_id and self.result in (LOCKING, LOCKED)

    def __repr__(self) -> str:
        return 'LockState(%s, %s)' % (self.result, self.promotion_id)


# What to do to reach a wanted lock state from the one read. One word each, so the modules
# and the tests speak of the same thing.
DONE, WAIT, LOCK, UNLOCK, HELD, FAIL = 'done', 'wait', 'lock', 'unlock', 'held', 'fail'


def plan_lock(lock: LockState, promotion_id: str | None = None) -> str:
    """Next step towards 'locked by us'. ``promotion_id`` is the lock we believe we hold, if any."""
    if lock.result == LOCK_ERROR:
        return FAIL
    if lock.result == UNLOCKED:
        return LOCK
    if lock.result == UNLOCKING:
        return WAIT  # someone is releasing: lock once it is free
    if promotion_id and lock.promotion_id == promotion_id:
        return DONE if lock.result == LOCKED else WAIT
    return HELD


def plan_unlock(lock: LockState, promotion_id: str | None = None, force: bool = False) -> str:
    """Next step towards 'unlocked'. Only our own lock is released, or any lock with ``force``;
    a lock without a promotion id (the vendor's maintenance lock) never is."""
    if lock.result == LOCK_ERROR:
        return FAIL
    if lock.result == UNLOCKED:
        return DONE
    if lock.result == UNLOCKING:
        return WAIT
    if not lock.promotion_id:
        return HELD
    if lock.promotion_id == promotion_id or force:
        return WAIT if lock.result == LOCKING else UNLOCK
    return HELD


def held_cause(lock: LockState, promotion_id: str | None = None, evidence: str = '') -> str:
    """What holds the lock a task wanted to take, without the ways out (``held_message`` adds the module's; the role
    gives its own)."""
    mine = ' (not %s, the lock this task was given)' % promotion_id if promotion_id else ''
    return ('The environments are already locked for promotion %s: another promotion holds them%s.%s'
            % (lock.promotion_id, mine, ' ' + evidence if evidence else ''))


def held_message(lock: LockState, promotion_id: str | None = None, action: str = 'lock', evidence: str = '') -> str:
    """Why the lock is not ours to use. For a lock to take, ``evidence`` (``describe_holder``) says what the tenant
    shows under the lock held, so that a user can tell an interrupted run of their own from a colleague's."""
    holder = lock.promotion_id
    if not holder:
        return ('The environments are locked without a promotion id (%s): most likely the vendor\'s maintenance lock. '
                'It cannot be released from here; wait until it clears (wait_for_release) and try again.'
                % (lock.description or lock.result))
    mine = ' (not %s, the lock this task was given)' % promotion_id if promotion_id else ''
    if action == 'lock':
        return ('%s If it is the lock of your own run that was interrupted and kept no record (a job whose files are gone), '
                'finish that run under it: run again with promotion_id: %s. If a colleague is promoting, wait for them '
                '(wait_for_release: true). If the lock was left behind and nobody is promoting, release it with '
                'promotion_lock state=unlocked promotion_id=%s force=true, then run again.'
                % (held_cause(lock, promotion_id, evidence), holder, holder))
    return ('The environments are locked for promotion %s%s, which this task does not own. Give promotion_id: %s if it '
            'is yours, or force: true to release a lock that was left behind.' % (holder, mine, holder))


def holder_evidence(holder: str, status: Status, listing: list[dict[str, Any]]) -> dict[str, Any]:
    """What the tenant shows of the promotion ``holder`` whose lock is held: the reports made under it (``listing``:
    the ``GET /reports`` items, oldest first) and the run going on or last ended under it (``status``). It cannot show
    whose lock it is: the API records no owner."""
    reports = [dict(dry_run=item['dryRun'] if isinstance(item.get('dryRun'), bool) else None, type=item.get('type'),
                    created=item.get('createdDate'), report_id=item.get('reportId'))
               for item in listing if item.get('promotionId') == holder]
    run = status.as_dict() if status.promotion_id == holder and status.status in (STATUS_RUNNING, STATUS_READY, STATUS_ERROR) else None
    return dict(promotion_id=holder, reports=reports, run=run)


def describe_holder(evidence: dict[str, Any] | None) -> str:
    """``holder_evidence`` in one sentence ('' when it could not be read)."""
    if not evidence:
        return ''
    seen = []
    for report in evidence['reports']:
        kind = {True: 'a dry run', False: 'a %s' % (report['type'] or 'promotion')}.get(report['dry_run'], 'a run')
        seen.append('%s\'s report (%s)' % (kind, report['created'] or 'undated'))
    run = evidence['run']
    if run and run['status'] == STATUS_RUNNING:
        seen.append('a %s running now (%s)' % (run['type'] or 'run', run['message'] or 'no message'))
    elif run:
        seen.append('its last run %s (%s)' % (run['status'], run['message'] or 'no message'))
    if not seen:
        return 'Under it the tenant shows no run and no report yet.'
    return 'Under it the tenant shows %s.' % '; '.join(seen)


def promotion_id_in(message: str | None) -> str | None:
    """The promotion id a 409 names ('Environment is already locked for promotion <uuid>'): the one part of its
    wording a client may rely on (API notes 4.2)."""
    match = PROMOTION_ID.search(message or '')
    return match.group(0) if match else None


def conflict_message(message: str | None, lock: LockState, evidence: str = '') -> str:
    """A lock refused with a 409, explained from the lock state read right after, not from the
    409's wording, which differs between tenants."""
    message = (message or 'Conflict').rstrip('.')
    if lock.result in (LOCKING, LOCKED) or lock.promotion_id:
        return '%s. %s' % (message, held_message(lock, evidence=evidence))
    return ('%s. The lock state now reads %s: a lock change was under way, or the vendor holds the environments. '
            'Wait for it (wait_for_release: true) and run again.' % (message, lock.result or 'unknown'))


def blocked_message(promotion_id: str | None = None, transaction_id: str | None = None) -> str:
    quoted = ', quoting promotion id %s' % promotion_id if promotion_id else ''
    if transaction_id:
        quoted += '%s transaction id %s' % (' and' if quoted else ', quoting', transaction_id)
    return ('The environments are blocked by a previous failed promotion. The API refuses further promotions and keeps '
            'the lock in place until support resolves it. To resolve it, %s%s.' % (SUPPORT_TICKET, quoted))


class Status:
    """The body of ``GET /environment/promotion/promote``: the state of the current or last run."""

    def __init__(self, body: Any) -> None:
        body = body if isinstance(body, dict) else {}
        self.body: dict[str, Any] = body
        raw = (body.get('status') or '').upper()
        self.status = STATUS_ALIASES.get(raw, raw)
        self.message = body.get('message') or ''
        # None where the tenant leaves it out (the seed's statuses do): the kind of run is then not known from here.
        self.type = body.get('type') or None
        self.blocking_error = bool(body.get('blockingError'))
        self.promotion_id = body.get('promotionId')
        self.timestamp = body.get('timeStamp')
        self.missing_esvs = list(body.get('missingESVs') or [])
        self.encrypted_secrets = list(body.get('encryptedSecrets') or [])

    @property
    def running(self) -> bool:
        return self.status == STATUS_RUNNING

    @property
    def failed(self) -> bool:
        return self.status == STATUS_ERROR

    def same_state(self, other: Status | None) -> bool:
        """Same status, message and kind of run. The time stamp is left out: some tenants stamp an
        idle status with the time it was read."""
        return other is not None and (self.status, self.message, self.type) == (other.status, other.message, other.type)

    def fields(self) -> dict[str, Any]:
        """The status as a task's result gives it, on success and on failure alike."""
        return dict(status=self.status, message=self.message, blocking_error=self.blocking_error, missing_esvs=self.missing_esvs,
                    encrypted_secrets=self.encrypted_secrets)

    def as_dict(self) -> dict[str, Any]:
        """The run it describes, with its kind, lock and time (holder_evidence)."""
        return dict(status=self.status, message=self.message, type=self.type, blocking_error=self.blocking_error,
                    promotion_id=self.promotion_id, missing_esvs=self.missing_esvs,
                    encrypted_secrets=self.encrypted_secrets, timestamp=self.timestamp)


START, ATTACH, COMPLETED = 'start', 'attach', 'completed'


def plan_run(status: Status, kind: str, lock: LockState, promotion_id: str | None, dry_run: bool = False,
             last_report: Any = None, last_report_dry: bool | None = None, noted: dict[str, Any] | None = None) -> tuple[str, str | None]:
    """Before starting a promotion or rollback: START it, ATTACH to the same kind of run already
    going under our lock (a playbook interrupted and run again), see it COMPLETED (the same real
    run already finished under our lock), or FAIL with a reason. ``last_report_dry`` is whether the
    last report is a dry run's (``report.report_dry_run``; None when the tenant does not say). ``noted`` is the run
    last started under the lock, as the lock record notes it (``kind``, ``dry_run``), for a tenant that names no type."""
    going = status.type or (noted or {}).get('kind')
    if lock.result != LOCKED:
        return FAIL, not_locked_message(lock, promotion_id)
    if promotion_id and lock.promotion_id != promotion_id:
        return FAIL, held_message(lock, promotion_id, action='run')
    if status.status == STATUS_UNLOCKED:
        return FAIL, not_locked_message(lock, promotion_id)
    if status.running:
        ours = not status.promotion_id or status.promotion_id == lock.promotion_id
        if going == kind and ours:
            return ATTACH, None
        if going is None and ours:
            # The seed's statuses name no type: a rollback going on cannot be told from a promotion.
            return FAIL, ('A run is going on under lock %s (%s), and the tenant does not say whether it is a promotion or '
                          'a rollback, so this task does not wait for it as its own. Wait for it to end, then run again.'
                          % (lock.promotion_id, status.message or 'no message'))
        return FAIL, ('A %s is already running on these environments (%s); wait for it to finish.'
                      % (going or 'run', status.message or 'no message'))
    if status.failed and status.blocking_error:
        return FAIL, blocked_message(lock.promotion_id)
    finished = finished_under(last_report, kind, lock.promotion_id, last_report_dry, status, noted)
    if not dry_run and status.status == STATUS_READY and finished:
        # While the environments are locked their configuration cannot change, so a second real
        # promotion under the same lock has nothing to promote (but would restart the tenant's
        # services), and a second rollback nothing to roll back.
        return COMPLETED, None
    return START, None


# Why a task keeps the lock it holds instead of releasing it (promotion_run's lock_kept).
KEPT_RUNNING, KEPT_BLOCKED, KEPT_LOCKING, KEPT_ERROR = 'running', 'blocked', 'locking', 'error'


def lock_kept(result: dict[str, Any]) -> str | None:
    """Why the lock a task holds must stay after its run, from the task's result (or failure): the status it read
    (``status``, ``blocking_error``), ``blocked``, ``run_going`` when a wait ended before the run was seen to end, and
    a lock state read (``lock``); None when it is to be released. The API refuses to release it after a blocking error
    and while a run goes on; a lock still changing (``locking``) or in ``error`` after lock_timeout was waited out once
    is not waited for again."""
    if result.get('blocking_error') or result.get('blocked'):
        return KEPT_BLOCKED
    if result.get('status') == STATUS_RUNNING or result.get('run_going'):
        return KEPT_RUNNING
    lock = LockState(result.get('lock'))
    if lock.result in (LOCKING, UNLOCKING):
        return KEPT_LOCKING
    return KEPT_ERROR if lock.result == LOCK_ERROR else None


def kept_next_step(kept: str, promotion_id: str | None) -> str:
    """What to do about a lock kept for the reason ``kept`` (``lock_kept``)."""
    if kept == KEPT_RUNNING:
        return ('The run goes on under lock %s, which the API does not release meanwhile: run the task again to wait for it; '
                'it releases the lock once the run has ended.' % promotion_id)
    if kept == KEPT_BLOCKED:
        return 'Lock %s stays until support clears the blocking error: %s, quoting it; then release it.' % (promotion_id, SUPPORT_TICKET)
    if kept == KEPT_LOCKING:
        return ('Lock %s was still changing after lock_timeout, and a lock cannot be released while it changes: release it '
                'later with promotion_lock state=unlocked promotion_id=%s; if it stays so, %s.' % (promotion_id, promotion_id, SUPPORT_TICKET))
    return 'Lock %s is in error: %s, quoting it.' % (promotion_id, SUPPORT_TICKET)


def release_upgrade(upper_release: dict[str, Any] | None, lower_release: dict[str, Any] | None) -> bool | None:
    """Would a promotion bring the upper environment to another release (the lower one's)? During a deferred
    production upgrade the first promotion into production also upgrades it. None when either does not say."""
    versions = (lower_release or {}).get('currentVersion'), (upper_release or {}).get('currentVersion')
    return versions[0] != versions[1] if all(versions) else None


def release_upgrade_message(check: dict[str, Any], operation: str = 'promote') -> str:
    """Why a promotion or a rollback is refused, from ``compare_releases``: a promotion would also upgrade this
    environment; a rollback may meet the deferred upgrade the last promotion brought, which is for support to say."""
    releases = 'Release check: the lower environment runs %s and this one %s%s' % (
        check['lower_current_version'], check['current_version'],
        ', next upgrade %s' % check['next_upgrade'] if check.get('next_upgrade') else '')
    if operation == 'rollback':
        return ('%s, so the promotion to roll back may have come with a deferred release upgrade. Check with support how '
                'a rollback would affect the upgrade, then set allow_release_upgrade to roll back anyway.' % releases)
    return ('%s; this promotion would also upgrade it (a deferred release upgrade). Set allow_release_upgrade to promote '
            'anyway.' % releases)


# Direct-configuration sessions change an upper environment outside promotions; a promotion during one would race with it
# or overwrite what it changes. A session that ended (applied or aborted) or never began leaves the way free.
SESSION_STATES = ('NO_SESSION', 'SESSION_INITIALISE_REQUESTED', 'SESSION_INITIALISING', 'SESSION_INITIALISED',
                  'SESSION_APPLY_REQUESTED', 'SESSION_APPLYING', 'SESSION_APPLIED', 'SESSION_ABORT_REQUESTED',
                  'SESSION_ABORTING', 'SESSION_ABORTED', 'ERROR')
SESSION_ENDED = ('NO_SESSION', 'SESSION_APPLIED', 'SESSION_ABORTED')


def session_message(state: Any, operation: str = 'promote') -> str | None:
    """Why no lock may be taken while the direct-configuration session is in ``state`` (the ``status`` read), or None.
    A state this collection does not know counts as open."""
    if state in SESSION_ENDED:
        return None
    run = 'rollback' if operation == 'rollback' else 'promotion'
    if state == 'ERROR':
        return ('A direct-configuration session of this environment is in ERROR; nothing was locked. A %s now could '
                'overwrite what the session changed: have the session aborted or resolved (with support), then run '
                'again.' % run)
    return ('A direct-configuration session of this environment is open (%s); nothing was locked. A %s now would race '
            'with the session or overwrite what it changes: wait until it is applied or aborted, then run again.' % (state, run))


def finished_under(report: Any, kind: str, promotion_id: str | None, dry_run: bool | None, status: Status | None = None,
                   noted: dict[str, Any] | None = None) -> bool:
    """The report is that of a real run of ``kind`` made under the lock ``promotion_id``. ``dry_run`` is
    whether the report is a dry run's; ``status`` (the status read with it), else ``noted`` (the real run last started
    under the lock, as the lock record notes it), may say the kind of the last run when the report does not. When
    nobody can tell (the seed's report without ``type``, a status without ``type``, no record: a rollback's report then
    looks like a promotion's), it is not taken for a finished run: a run that did not happen is never reported, and the
    dry run made first says what is left to do."""
    if not (isinstance(report, dict) and bool(promotion_id) and report.get('promotionId') == promotion_id and dry_run is False):
        return False
    shown = report.get('type')
    if not shown and status is not None and status.promotion_id == promotion_id and status.status == STATUS_READY:
        shown = status.type
    if not shown and noted and noted.get('dry_run') is False:
        shown = noted.get('kind')
    return shown == kind


def not_locked_message(lock: LockState, promotion_id: str | None = None) -> str:
    if lock.result in (LOCKING, UNLOCKING):
        return ('The environments are %s; a promotion needs them locked. Wait for the lock (promotion_lock with wait: true) '
                'and run again.' % lock.result)
    return ('The environments are not locked (lock state %s%s). Lock them first with promotion_lock and pass its '
            'promotion_id.' % (lock.result or 'unknown', ' for %s' % lock.promotion_id if lock.promotion_id else ''))


def missing_esvs_preview_message(missing: list[str]) -> str:
    return ('The promotion would stop on missing ESVs %s, which the lower environment references and the upper one '
            'lacks. Create them in the upper environment, then run again.' % ', '.join(missing))


class Verdict:
    """The verdict on a finished run: ``ok``, ``changed`` and, when not ok, a message naming the cause and the next
    step."""

    def __init__(self, status: Status, kind: str, dry_run: bool, report_empty: bool | None = None,
                 ignore_encrypted_secrets: bool = False, promotion_id: str | None = None, transaction_id: str | None = None) -> None:
        self.status = status
        self.ok = status.status == STATUS_READY
        label = 'dry run' if dry_run else kind
        if self.ok:
            # Decided by the report, never by the wording ('(no change)'): a report that lists changes wins, and a run
            # whose report is not known may have changed something.
            self.changed = not dry_run and report_empty is not True
            self.message = 'The %s finished: %s.' % (label, status.message or 'done')
            return
        self.changed = False
        if status.blocking_error:
            self.message = 'The %s failed with a blocking error (%s). %s' % (
                label, status.message or 'no message', blocked_message(status.promotion_id or promotion_id, transaction_id))
        elif status.missing_esvs:
            self.message = ('The %s stopped on missing ESVs %s, which the lower environment references and the upper one '
                            'lacks. Create them in the upper environment once it is unlocked, then run again.' % (label, ', '.join(status.missing_esvs)))
        elif status.encrypted_secrets:
            hint = '' if ignore_encrypted_secrets else (' If they are there on purpose, run again with '
                                                        'ignore_encrypted_secrets: true.')
            self.message = ('The %s stopped: encrypted values were found in the AM/IDM configuration: %s. Move each secret '
                            'into an ESV in every environment and reference it (release the lock first: configuration '
                            'cannot change while locked).%s' % (label, ', '.join(status.encrypted_secrets), hint))
        else:
            self.message = 'The %s ended in %s: %s. Fix the cause and run again.' % (
                label, status.status or 'an unknown state', status.message or 'no message')


def outcome_name(operation: str, check_mode: bool, dry_run: bool, real_run: bool, changed: bool, empty: bool) -> str:
    """A run that passed, in the role's words: promoted, rolled_back, dry_run_only, nothing_to_promote,
    nothing_to_roll_back, would_promote, would_roll_back (a failed run is ``failed``)."""
    rollback = operation == 'rollback'
    if check_mode and changed:
        return 'would_roll_back' if rollback else 'would_promote'
    if dry_run and not (check_mode and empty):
        # In check mode too, unless its preview shows nothing: a dry run that would find changes is no 'nothing to promote'.
        return 'dry_run_only'
    if real_run and (changed or not empty):
        return 'rolled_back' if rollback else 'promoted'
    return 'nothing_to_roll_back' if rollback else 'nothing_to_promote'
