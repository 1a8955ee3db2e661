"""A model of the tenant's legal behaviours, on a simulated clock, for the model-based tests.

Where the simulator (tests/simulator) plays one tenant over real HTTPS and wall-clock time, this model plays every
order and shape the service may legally answer in (API notes 4 and 8, docs/docsite/rst/guide_api_notes.rst),
chosen by a ``Schedule``:
report and status shapes, lags (a status after a start, a report after a run's end, a lock state after a lock or an
unlock), answers lost before or after the tenant acted, transient and definite errors on any request, blips while
the tenant restarts, a token endpoint that fails for a while, phases from zero to many minutes. It also keeps the
truth the invariants are checked against: which writes took effect, which runs ran under which lock, what each
run's report lists.
"""

from __future__ import annotations

import dataclasses
import itertools
import time as real_time
import uuid
from typing import Any

LOCK_SECONDS = 5.0
UNLOCK_SECONDS = 5.0
EPOCH = 1_764_000_000.0  # the simulated wall clock starts here (late 2025)
TOKEN_LIFETIME = 900.0

# What may happen to one request (Fault.kind). 'lost_after' and 'gateway_after' act on the tenant, then lose the
# answer; the others leave the tenant untouched.
FAULTS = ('busy', 'lost_before', 'lost_after', 'gateway_after', 'error500', 'unauthorized', 'not_found')


class Interrupted(BaseException):
    """The task is stopped where it stands (a killed ansible-playbook): no cleanup runs."""


class Clock:
    """Simulated time, standing in for the ``time`` module where the code under test reads or sleeps. A task is
    interrupted once the clock reaches ``stop_at``."""

    def __init__(self) -> None:
        self.now = 0.0
        self.stop_at: float | None = None

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return EPOCH + self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        self.check()

    def check(self) -> None:
        if self.stop_at is not None and self.now >= self.stop_at:
            self.stop_at = None
            raise Interrupted()

    def __getattr__(self, name: str) -> Any:
        return getattr(real_time, name)  # gmtime, strftime, ...


@dataclasses.dataclass(frozen=True)
class Fault:
    """What happens to the ``request``-th request of a task, counted from 0: of all its requests, or only of those
    ``on`` names ('POST /environment/promotion/lock', say); of every task, or only of the task numbered ``task``."""
    request: int
    kind: str
    on: str = ''
    task: int | None = None


@dataclasses.dataclass
class Schedule:
    """Every choice the tenant makes in one schedule. Shapes: ``report_body`` 'full' or 'seed' (only createdDate,
    promotionId, report, reportId, reportName), ``report_list`` 'full' or 'seed' (no type, not in date order),
    ``status_type`` present or not, ``entries`` 'objects' ({name, realm, uid}) or 'names' (the seed's)."""

    report_body: str = 'full'
    report_list: str = 'full'
    status_type: bool = True
    entries: str = 'objects'
    running_word: str = 'RUNNING'
    dashed_dates: bool = False
    start_status: int = 202
    previous_status_visible: bool = False
    dry_run_says_no_change: bool = False
    # Lags, in reads of the path concerned.
    status_lag: int = 0
    report_lag: int = 0
    reports_lag: bool = False      # GET /reports lags as GET /report does
    lock_lag: int = 0
    unlock_lag: int = 0
    # Phases, in seconds.
    prepare: float = 1.0
    promote: float = 2.0
    restart: float = 3.0
    restart_blips: int = 0         # the first reads of GET /promote in the restart phase that fail
    blip_kind: str = 'error500'
    lock_end: str = 'locked'       # 'locked', 'error' or 'stuck' (stays locking)
    faults: tuple[Fault, ...] = ()
    token_outage: float = 0.0      # seconds from the start during which the token endpoint answers 500
    error_body: str = 'seed'       # 'seed' {code, message}; 'common-rest' {code, reason, message}; 'promotions' {code, message, status}
    unauthorized_burst: tuple[float, float] = (0.0, 0.0)  # [from, to) seconds: every API read answers 401


@dataclasses.dataclass
class Run:
    kind: str                      # 'promotion' or 'rollback'
    dry: bool
    lock_id: str
    task: int
    started: float
    phases: list[tuple[str, float]]
    outcome: dict[str, Any]
    diff: dict[str, list[str]]
    ends_at: float = 0.0
    unlock_after: bool = False
    finished: bool = False


@dataclasses.dataclass
class Lock:
    promotion_id: str
    task: int | None               # the task whose POST took it (None: someone else's)
    taken: float
    end: str = 'locked'
    unlock_at: float | None = None
    gone_at: float | None = None   # another promotion's lock, released by its owner then

    def state(self, now: float) -> str:
        if self.gone_at is not None and now >= self.gone_at:
            return 'gone'
        if self.unlock_at is not None:
            return 'unlocking' if now < self.unlock_at else 'gone'
        if self.end == 'stuck' or now < self.taken + LOCK_SECONDS:
            return 'locking'
        return self.end


def diff_of(upper: dict[str, int], lower: dict[str, int]) -> dict[str, list[str]]:
    return {'added': sorted(set(lower) - set(upper)), 'deleted': sorted(set(upper) - set(lower)),
            'modified': sorted(name for name in set(upper) & set(lower) if upper[name] != lower[name])}


def rows(diff: dict[str, list[str]]) -> int:
    return sum(len(names) for names in diff.values())


class Tenant:
    """An upper environment and its lower one, as the promotions API shows them, under one ``Schedule``."""

    UPPER = 'upper.tenant.test'
    LOWER = 'lower.tenant.test'

    def __init__(self, schedule: Schedule, clock: Clock) -> None:
        self.schedule = schedule
        self.clock = clock
        self.lower: dict[str, int] = {}
        self.upper: dict[str, int] = {}
        self.backup: dict[str, int] | None = None
        self.missing_esvs: list[str] = []
        self.encrypted: list[str] = []
        self.fail_next: bool = False
        self.blocked = False
        self.maintenance_until = 0.0
        self.lock: Lock | None = None
        self.runs: list[Run] = []
        self.reports: list[dict[str, Any]] = []
        self.tokens: dict[str, float] = {}
        self.task = 0                  # the task now running
        self.requests = 0              # this task's requests so far
        self.writes: list[dict[str, Any]] = []
        self.released: list[tuple[str, int]] = []   # (promotion id, task) of every DELETE that took effect
        self.violations: list[str] = []
        # Lags under way: reads left, and the body they show meanwhile.
        self.stale_status: list[Any] = [0, None]
        self.stale_report: list[Any] = [0, None]
        self.stale_lock: list[Any] = [0, None]
        self.restart_reads = 0
        self.ids = (str(uuid.UUID(int=n)) for n in itertools.count(1))

    @property
    def maintenance(self) -> bool:
        return self.clock.now < self.maintenance_until

    # The truth, moved on by the clock.
    def advance(self) -> None:
        now = self.clock.now
        run = self.runs[-1] if self.runs else None
        if run is not None and not run.finished and now >= run.ends_at:
            run.finished = True
            self._finish(run)
        if self.lock is not None and self.lock.state(now) == 'gone':
            self.lock = None

    def _finish(self, run: Run) -> None:
        outcome = run.outcome
        if outcome.get('blockingError'):
            self.blocked = True
            return
        if run.kind == 'promotion' and not run.dry and outcome['status'] == 'READY':
            self.backup, self.upper = dict(self.upper), dict(self.lower)
        elif run.kind == 'rollback' and outcome['status'] == 'READY':
            self.upper, self.backup = dict(self.backup or {}), None
        previous = self._rendered_last_report()
        report = dict(reportId=next(self.ids), promotionId=run.lock_id, created=self.clock.time(), dryRun=run.dry,
                      type=run.kind, missingESVs=list(self.missing_esvs) if outcome['status'] == 'ERROR' else [],
                      diff=run.diff if (run.dry or outcome['status'] == 'READY') else {})
        self.reports.append(report)
        if self.schedule.report_lag:
            self.stale_report = [self.schedule.report_lag, previous]
        if run.outcome['status'] == 'READY' and self.body_unlock_after(run):
            self.lock.unlock_at = self.clock.now + UNLOCK_SECONDS

    def body_unlock_after(self, run: Run) -> bool:
        return run.unlock_after and self.lock is not None and self.lock.promotion_id == run.lock_id

    # What the API shows.
    def lock_body(self) -> dict[str, Any]:
        if self.maintenance:
            return dict(result='locked', description='Environment locked', lowerEnv=dict(state='locked'), upperEnv=dict(state='locked'))
        if self.lock is None:
            return dict(result='unlocked', description='Environment unlocked', lowerEnv=dict(state='unlocked'),
                        upperEnv=dict(state='unlocked'))
        state = self.lock.state(self.clock.now)
        pid = self.lock.promotion_id
        description = {'locking': 'Environment lock in progress', 'locked': 'Environment locked',
                       'unlocking': 'Environment unlock in progress', 'error': 'Failed to lock environment'}[state]
        body = dict(result=state, description=description, promotionId=pid, lowerEnv=dict(state=state, promotionId=pid),
                    upperEnv=dict(state=state, promotionId=pid))
        return body

    def status_body(self) -> dict[str, Any]:
        now = self.clock.now
        stamp = real_time.strftime('%Y-%m-%dT%H:%M:%SZ', real_time.gmtime(self.clock.time()))
        run = self.runs[-1] if self.runs else None
        lock_id = self.lock.promotion_id if self.lock is not None else None
        body: dict[str, Any]
        if self.blocked and run is not None:
            body = dict(status='ERROR', message='Failed to promote config', blockingError=True, promotionId=run.lock_id)
        elif run is not None and not run.finished:
            body = dict(status=self.schedule.running_word, message=self._phase(run, now), blockingError=False, promotionId=run.lock_id)
        elif run is not None and (run.lock_id == lock_id or (self.schedule.previous_status_visible and self.lock is not None)):
            body = dict(run.outcome, promotionId=run.lock_id)
        elif self.lock is not None and self.lock.state(now) == 'locked':
            body = dict(status='READY', message='Environment ready for promotion', blockingError=False, promotionId=lock_id)
        else:
            body = dict(status='UNLOCKED', message='Environment unlocked', blockingError=False)
        if run is not None and self.schedule.status_type and 'promotionId' in body and body['promotionId'] == run.lock_id:
            body['type'] = run.kind
        body.update(globalLock='LOCKED' if self.lock is not None else 'UNLOCKED', timeStamp=stamp)
        return body

    @staticmethod
    def _phase(run: Run, now: float) -> str:
        return next((message for message, ends in run.phases if now < ends), run.phases[-1][0])

    def in_restart(self) -> bool:
        run = self.runs[-1] if self.runs else None
        return run is not None and not run.finished and self._phase(run, self.clock.now) == 'Waiting for workloads to restart'

    def _date(self, epoch: float) -> str:
        fmt = '%Y-%m-%dT%H-%M+00Z' if self.schedule.dashed_dates else '%Y-%m-%dT%H:%M:%SZ'
        return real_time.strftime(fmt, real_time.gmtime(epoch))

    def _entries(self, diff: dict[str, list[str]]) -> dict[str, Any]:
        if not any(diff.values()):
            return {}
        if self.schedule.entries == 'objects':
            change = {kind: [dict(name=name, realm='alpha', uid=str(uuid.uuid5(uuid.NAMESPACE_URL, name))) for name in names]
                      for kind, names in diff.items()}
        else:
            change = {kind: list(names) for kind, names in diff.items() if names}
        return {'AMConfig': [dict(configItem='Journeys', configChange=change)]}

    def render_report(self, report: dict[str, Any]) -> dict[str, Any]:
        name = 'Report_%s_dryrun=%s_%s' % (real_time.strftime('%Y-%m-%dT%H-%M+00Z', real_time.gmtime(report['created'])),
                                           str(report['dryRun']).lower(), report['promotionId'])
        body = dict(createdDate=self._date(report['created']), promotionId=report['promotionId'],
                    report=self._entries(report['diff']), reportId=report['reportId'], reportName=name)
        if self.schedule.report_body == 'full':
            body.update(dryRun=report['dryRun'], type=report['type'], missingESVs=report['missingESVs'],
                        previouslyIgnoredEncryptedSecrets=[])
        return body

    def _rendered_last_report(self) -> dict[str, Any] | None:
        return self.render_report(self.reports[-1]) if self.reports else None

    def listing(self) -> list[dict[str, Any]]:
        reports = self.reports
        if self.schedule.reports_lag and self.stale_report[0] > 0:
            reports = reports[:-1]
        items = []
        for report in reports:
            item = dict(reportId=report['reportId'], promotionId=report['promotionId'], createdDate=self._date(report['created']),
                        dryRun=report['dryRun'])
            if self.schedule.report_list == 'full':
                item['type'] = report['type']
            items.append(item)
        return items if self.schedule.report_list == 'full' else list(reversed(items))

    # The API.
    def answer(self, host: str, method: str, path: str, body: Any, token: str | None) -> tuple[int, Any]:
        """(status, JSON body) of one request that reached the tenant."""
        self.advance()
        if path == '/am/oauth2/access_token':
            if self.clock.now < self.schedule.token_outage:
                return 500, dict(code=500, reason='Internal Server Error', message='token service unavailable')
            token = 'token-%s' % next(self.ids)
            self.tokens[token] = self.clock.now + TOKEN_LIFETIME
            return 200, dict(access_token=token, token_type='Bearer', expires_in=int(TOKEN_LIFETIME), scope='fr:idc:promotion:*')
        burst = self.schedule.unauthorized_burst
        if token not in self.tokens or self.tokens[token] < self.clock.now or burst[0] <= self.clock.now < burst[1]:
            return 401, dict(code=401, message='unauthorized')
        if host == self.LOWER:
            if path == '/environment/promotion/report/provisional':
                return 200, dict(createdDate=self._date(self.clock.time()), dryRun=True, type='provisional',
                                 missingESVs=list(self.missing_esvs), report=self._entries(diff_of(self.upper, self.lower)))
            if path == '/environment/release':
                return 200, dict(currentVersion='2025.6.1', nextUpgrade=None)
            return 404, dict(code=404, reason='Not Found', message='Resource not found')
        route = (method, path.split('/environment/promotion', 1)[-1])
        if route == ('GET', '/lock/state'):
            if self.stale_lock[0] > 0:
                self.stale_lock[0] -= 1
                return 200, self.stale_lock[1]
            return 200, self.lock_body()
        if route == ('GET', '/promote'):
            if self.stale_status[0] > 0:
                self.stale_status[0] -= 1
                return 200, self.stale_status[1]
            return 200, self.status_body()
        if route == ('GET', '/report'):
            if self.stale_report[0] > 0:
                self.stale_report[0] -= 1
                if self.stale_report[1] is None:
                    return 404, dict(code=404, message='No promotion report found for this environment')
                return 200, self.stale_report[1]
            if not self.reports:
                return 404, dict(code=404, message='No promotion report found for this environment')
            return 200, self.render_report(self.reports[-1])
        if route == ('GET', '/reports'):
            return 200, self.listing()
        if method == 'GET' and route[1].startswith('/report/provisional-rollback'):
            return 200, dict(createdDate=self._date(self.clock.time()), dryRun=True, type='provisional-rollback',
                             report=self._entries(diff_of(self.upper, self.backup) if self.backup is not None else {}))
        if method == 'GET' and route[1].startswith('/report/'):
            wanted = route[1].split('/')[-1]
            found = [report for report in self.reports if report['reportId'] == wanted]
            if not found:
                return 404, dict(code=404, message='Report %s not found' % wanted)
            return 200, self.render_report(found[0])
        if path == '/environment/release':
            return 200, dict(currentVersion='2025.6.1', nextUpgrade=None)
        if route == ('POST', '/lock'):
            return self._take_lock()
        if method == 'DELETE' and route[1].startswith('/lock/'):
            return self._release(route[1].split('/')[-1])
        if route in (('POST', '/promote'), ('POST', '/rollback')):
            return self._start('promotion' if route[1] == '/promote' else 'rollback', body or {})
        return 404, dict(code=404, reason='Not Found', message='Resource not found')

    def _take_lock(self) -> tuple[int, Any]:
        if self.maintenance:
            return 409, dict(code=409, message='Environment is locked by Ping Identity for maintenance. Retry later.')
        if self.lock is not None:
            mine = [w for w in self.writes if w['what'] == 'lock' and w['effective'] and w['task'] == self.task]
            if mine and self.stale_lock[0] == 0 and self.lock.task == self.task:
                self.violations.append('a lock sent again after the tenant showed the lock it took (%s)' % self.lock.promotion_id)
            return 409, dict(code=409, message='Environment is already locked for promotion %s' % self.lock.promotion_id)
        before = self.lock_body()
        self.lock = Lock(next(self.ids), self.task, self.clock.now, end=self.schedule.lock_end)
        if self.schedule.lock_lag:
            self.stale_lock = [self.schedule.lock_lag, before]
        self.writes.append(dict(what='lock', task=self.task, effective=True, at=self.clock.now))
        return self.schedule.start_status, dict(result='locking', description='Environment lock in progress',
                                                promotionId=self.lock.promotion_id)

    def _release(self, promotion_id: str) -> tuple[int, Any]:
        lock = self.lock
        if lock is None or lock.promotion_id != promotion_id:
            return 404, dict(code=404, message='No lock %s' % promotion_id)
        if self.blocked:
            return 409, dict(code=409, message='Environment is blocked from a previous failed promotion')
        run = self.runs[-1] if self.runs else None
        if run is not None and not run.finished:
            return 409, dict(code=409, message='A promotion is in progress')
        if lock.state(self.clock.now) in ('locking', 'unlocking'):
            if lock.unlock_at is not None and self.stale_lock[0] == 0 and (promotion_id, self.task) in self.released:
                self.violations.append('an unlock sent again after the tenant showed the unlock it started (%s)' % promotion_id)
            return 409, dict(code=409, message='Environment is currently locking or unlocking')
        if lock.task is None and promotion_id not in self.given_ids:
            self.violations.append('released lock %s, which another promotion holds' % promotion_id)
        before = self.lock_body()
        lock.unlock_at = self.clock.now + UNLOCK_SECONDS
        if self.schedule.unlock_lag:
            self.stale_lock = [self.schedule.unlock_lag, before]
        self.released.append((promotion_id, self.task))
        self.writes.append(dict(what='unlock', task=self.task, effective=True, at=self.clock.now))
        return 202, dict(result='unlocking', description='Environment unlock in progress', promotionId=promotion_id)

    # Set by the driver: the lock ids the task under way was given (promotion_id).
    given_ids: tuple[str, ...] = ()

    def _start(self, kind: str, body: dict[str, Any]) -> tuple[int, Any]:
        now = self.clock.now
        lock = self.lock
        if lock is None or lock.state(now) != 'locked':
            return 409, dict(code=409, message='Environments are not locked')
        if self.blocked:
            return 409, dict(code=409, message='Environment is blocked from a previous failed promotion')
        run = self.runs[-1] if self.runs else None
        if run is not None and not run.finished:
            if run.task == self.task and self.stale_status[0] == 0:
                self.violations.append('a %s start sent again while the run it started was shown running' % kind)
            return 409, dict(code=409, message='A promotion is already running')
        if kind == 'rollback' and self.backup is None:
            return 409, dict(code=409, message='There is no promotion to roll back in this environment')
        dry = bool(body.get('dryRun')) if kind == 'promotion' else False
        s = self.schedule
        if kind == 'rollback':
            phases = [('Prepare config', s.prepare), ('Update configuration', s.promote), ('Waiting for workloads to restart', s.restart)]
            outcome = dict(status='READY', message='Rollback completed', blockingError=False)
            diff = diff_of(self.upper, self.backup or {})
        else:
            diff = diff_of(self.upper, self.lower)
            encrypted = [] if body.get('ignoreEncryptedSecrets') else self.encrypted
            if self.missing_esvs or encrypted:
                phases = [('Prepare config', s.prepare)]
                outcome = dict(status='ERROR', message='Missing ESVs' if self.missing_esvs else
                               'Found encrypted values in the AM/IDM configuration', blockingError=False)
                if self.missing_esvs:
                    outcome['missingESVs'] = list(self.missing_esvs)
                else:
                    outcome['encryptedSecrets'] = list(encrypted)
            elif self.fail_next and not dry:
                self.fail_next = False
                phases = [('Prepare config', s.prepare), ('Promote configuration', s.promote)]
                outcome = dict(status='ERROR', message='Failed to promote config', blockingError=True)
            else:
                phases = [('Prepare config', s.prepare), ('Promote configuration', s.promote)]
                if not dry:
                    phases.append(('Waiting for workloads to restart', s.restart))
                worded_empty = not rows(diff) or (dry and s.dry_run_says_no_change)
                outcome = dict(status='READY', message='Promotion completed (no change)' if worded_empty else 'Promotion completed',
                               blockingError=False)
        if not rows(diff) and kind == 'rollback':
            outcome['message'] = 'Rollback completed (no change)'
        ends, timed = now, []
        for message, seconds in phases:
            ends += seconds
            timed.append((message, ends))
        before = self.status_body()
        new = Run(kind, dry, lock.promotion_id, self.task, now, timed, outcome, diff, ends_at=ends,
                  unlock_after=bool(body.get('unlockEnvironmentsAfterPromotion')))
        self.runs.append(new)
        self.restart_reads = 0
        if s.status_lag:
            self.stale_status = [s.status_lag, before]
        self.writes.append(dict(what='start', task=self.task, effective=True, at=now))
        return s.start_status, dict(result='Promotion process initiated successfully')
