# -*- coding: utf-8 -*-
"""The idempotent steps of a promotion (``_service.Promotions``) against a fake tenant: a small state machine of the
lock, the run status and the reports that advances with a fake clock, and records every call. No HTTP, no real sleep."""

from __future__ import annotations

import contextlib
import copy
import json

import pytest

from ansible_collections.idcloud.promotions.plugins.module_utils import _service as s
from ansible_collections.idcloud.promotions.plugins.module_utils import _states as states
from ansible_collections.idcloud.promotions.plugins.module_utils._errors import ConfigurationError, PromotionError, PromotionsApiError
from ansible_collections.idcloud.promotions.plugins.module_utils._files import LockRecord
from ansible_collections.idcloud.promotions.plugins.module_utils._report import change_rows
from ansible_collections.idcloud.promotions.plugins.module_utils._waiter import PROGRESS_EVERY, Waiter

URL = 'https://tenant.example.com'
TXN = 'txn-5e7c0d2a'
OURS = '8acd3a87-2272-450f-a3b3-1eb222108740'
THEIRS = '791eb03a-7ec1-42ae-ae84-ed142cf52688'
NEW = 'c41286bb-9d21-4b6f-8f5e-2f0c6d1e7a10'
SECOND = 'e1d2c3b4-0000-4000-8000-000000000002'
READY = dict(status='READY', message='Environment ready for promotion')
UNLOCKED = dict(status='UNLOCKED', message='Environment unlocked')
COMPLETED = dict(status='READY', message='Promotion completed')
NO_CHANGE = dict(status='READY', message='Promotion completed (no change)')
MISSING_ESVS = dict(status='ERROR', message='Missing ESVs', missingESVs=['esv.email.from', 'esv.smtp.host'])
SECRET = '* am/services/realm/root-alpha/x.json:10'
ENCRYPTED = dict(status='ERROR', message='Found encrypted values in the AM/IDM configuration', encryptedSecrets=[SECRET])
BLOCKING = dict(status='ERROR', message='Failed to promote config', blockingError=True)
CHANGES = {'AMConfig': [{'configItem': 'Journeys', 'configChange': {'added': ['Forgotten Username'], 'modified': [], 'deleted': []}}]}
WRITE = ('POST', 'DELETE')


def api_error(status=None, message='', transport_error=False, retry_after=None):
    return PromotionsApiError(message or 'HTTP %s' % status, status=status, code=status, transport_error=transport_error,
                              retry_after=retry_after)


def lost():
    """No answer came back: the request may or may not have been carried out."""
    return api_error(message='connection reset by peer', transport_error=True)


def report(number=1, promotion_id=OURS, dry=False, kind='promotion', shape='full', changes=None):
    """A report as the tenant stores it; keys starting with '_' are the truth, shown only in the GET /reports item.
    Shapes: 'full' (dryRun and type), 'seed' (only reportName tells), 'bare' (only the listing tells)."""
    body = dict(reportId='report-%d' % number, promotionId=promotion_id, createdDate='2022-04-19T17:%02d:05Z' % number,
                report=copy.deepcopy(CHANGES if changes is None else changes), _dry=dry, _type=kind)
    if shape in ('full', 'seed'):
        body['reportName'] = 'Report_2022-04-19T17-%02d+00Z_dryrun=%s_%s' % (number, str(dry).lower(), promotion_id)
    else:
        body['reportName'] = 'Report_2022-04-19T17-%02d+00Z' % number
    if shape == 'full':
        body.update(dryRun=dry, type=kind)
    return body


class Tenant:
    """The upper environment as the promotions API shows it, and the client ``Promotions`` is given.

    Scripted answers (``script``) come first, per method and path: None lets the model answer, an exception is
    raised, a callable is called with the body sent; then the model answers."""

    base_url = URL
    transaction_id = TXN

    def __init__(self, lock='unlocked', holder=None, status=None, reports=(), description=''):
        self.now = 0.0
        self.lock, self.holder, self.description = lock, holder, description
        self.status = dict(status or (READY if lock == 'locked' else UNLOCKED), **({'promotionId': holder} if holder else {}))
        self.reports = [dict(item) for item in reports]
        self.calls, self.sleeps, self.deadlines = [], [], []
        self.deadline = None
        self.events = []
        self.scripts = {}
        self.new_ids = iter([NEW, SECOND])
        # How it behaves.
        self.lock_seconds = self.unlock_seconds = 5.0
        self.lock_ends, self.unlock_ends = 'locked', 'unlocked'
        self.stale_reads = 0  # lock state reads that still show the state from before a lock or unlock request
        self.run_seconds = 30.0
        self.run_shows_after = 0.0  # None: a run accepted but never shown
        self.run_end = dict(COMPLETED)
        self.run_changes = CHANGES
        self.report_shape = 'full'
        self.leaves_report = True

    # The seams of a client.
    def clock(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds

    @contextlib.contextmanager
    def deadline_in(self, seconds):
        self.deadlines.append(seconds)
        previous, self.deadline = self.deadline, self.now + max(0.0, seconds)
        try:
            yield
        finally:
            self.deadline = previous

    def remaining(self, deadline=None):
        deadline = deadline or self.deadline
        return 60.0 if deadline is None else max(0.0, deadline - self.now)

    def get(self, path):
        return self._call('GET', path)

    def post(self, path, body=None):
        return self._call('POST', path, body)

    def delete(self, path):
        return self._call('DELETE', path)

    # What the tests look at and script.
    @property
    def writes(self):
        return [(method, path, body) for method, path, body in self.calls if method in WRITE]

    def count(self, method, path):
        return sum(1 for call in self.calls if call[:2] == (method, path))

    def script(self, method, path, *answers):
        self.scripts.setdefault((method, path), []).extend(answers)

    def happened_then(self, error):
        """A write carried out whose answer was lost."""
        def answer(method, path, body):
            self._model(method, path, body)
            raise error
        return answer

    def at(self, delay, change):
        self.events.append((self.now + delay, change))

    def running(self, dry=False, kind='promotion', seconds=20.0, typed=True):
        """A run already going under the lock (an interrupted playbook's)."""
        self.status = dict(status='RUNNING', message='Promote configuration', promotionId=self.holder, **({'type': kind} if typed else {}))
        self.at(seconds, lambda: self._end_run(kind, dry))

    # The model.
    def _call(self, method, path, body=None):
        self.calls.append((method, path, copy.deepcopy(body)))
        assert len(self.calls) < 2000, 'runaway polling'
        for due, change in sorted([event for event in self.events if event[0] <= self.now], key=lambda event: event[0]):
            self.events.remove((due, change))
            change()
        queue = self.scripts.get((method, path))
        if queue:
            answer = queue.pop(0)
            if isinstance(answer, Exception):
                raise answer
            if callable(answer):
                return answer(method, path, body)
            if answer is not None:
                return copy.deepcopy(answer)
        return self._model(method, path, body)

    def _model(self, method, path, body):
        if method == 'GET':
            if path == s.LOCK_STATE_PATH:
                return self._lock_body()
            if path == s.PROMOTE_PATH:
                return dict(self.status)
            if path == s.REPORT_PATH:
                if not self.reports:
                    raise api_error(404, 'No promotion report found')
                return dict((key, value) for key, value in self.reports[-1].items() if not key.startswith('_'))
            if path == s.REPORTS_PATH:
                return [dict(reportId=item['reportId'], promotionId=item['promotionId'], createdDate=item['createdDate'],
                             dryRun=item['_dry'], type=item['_type']) for item in self.reports]
        if (method, path) == ('POST', s.LOCK_PATH):
            return self._lock_request()
        if method == 'DELETE' and path.startswith(s.LOCK_PATH + '/'):
            return self._unlock_request(path.rsplit('/', 1)[1])
        if method == 'POST' and path in (s.PROMOTE_PATH, s.ROLLBACK_PATH):
            return self._start_run('rollback' if path == s.ROLLBACK_PATH else 'promotion', body or {})
        raise AssertionError('unexpected %s %s' % (method, path))

    def _lock_body(self):
        body = dict(result=self.lock, description=self.description)
        if self.holder:
            env = dict(state=self.lock, promotionId=self.holder)
            body.update(promotionId=self.holder, lowerEnv=dict(env), upperEnv=dict(env))
        return body

    def _set_lock(self, result, holder, description=''):
        before = self._lock_body()
        self.lock, self.holder, self.description = result, holder, description
        if result == 'locked':
            self.status = dict(READY, promotionId=holder)
        elif result == 'unlocked':
            self.status = dict(UNLOCKED)
        return before

    def _stale(self, before):
        self.scripts[('GET', s.LOCK_STATE_PATH)] = [before] * self.stale_reads + self.scripts.get(('GET', s.LOCK_STATE_PATH), [])

    def _lock_request(self):
        if self.lock != 'unlocked':
            raise api_error(409, 'Environment is already locked for promotion %s' % self.holder if self.holder
                            else 'Environment is locked by ForgeRock for maintenance. Retry later.')
        new = next(self.new_ids)
        self._stale(self._set_lock('locking', new, 'Environment lock in progress'))
        end = self.lock_ends
        self.at(self.lock_seconds, lambda: self._set_lock(end, new, 'Environment locked' if end == 'locked' else 'Lock failed on the lower environment'))
        return dict(result='locking', description='Environment lock in progress', promotionId=new)

    def _unlock_request(self, promotion_id):
        if self.lock in ('locking', 'unlocking'):
            raise api_error(409, 'Environment is currently locking or unlocking')
        if self.lock == 'unlocked':
            return dict(result='unlocked', description='Environment unlocked')
        if self.status.get('status') == 'RUNNING':
            raise api_error(409, 'A promotion is in progress')
        if self.status.get('blockingError'):
            raise api_error(409, 'Environment is blocked from a previous failed promotion')
        if promotion_id != self.holder:
            raise api_error(409, 'Environment is locked for promotion %s' % self.holder)
        self._stale(self._set_lock('unlocking', promotion_id, 'Environment unlock in progress'))
        end = self.unlock_ends
        self.at(self.unlock_seconds, lambda: self._set_lock(end, None if end == 'unlocked' else promotion_id,
                                                            'Environment unlocked' if end == 'unlocked' else 'Unlock failed'))
        return dict(result='unlocking', description='Environment unlock in progress', promotionId=promotion_id)

    def _start_run(self, kind, body):
        if self.lock != 'locked':
            raise api_error(409, 'Environment is not locked')
        if self.status.get('blockingError'):
            raise api_error(409, 'Environment is blocked from a previous failed promotion')
        if self.status.get('status') == 'RUNNING':
            raise api_error(409, 'A promotion is already in progress')
        dry = bool(body.get('dryRun')) if kind == 'promotion' else False

        def show():
            self.status = dict(status='RUNNING', message='Prepare config', promotionId=self.holder, type=kind)
            self.at(self.run_seconds, lambda: self._end_run(kind, dry))

        if self.run_shows_after == 0:
            show()
        elif self.run_shows_after is not None:
            self.at(self.run_shows_after, show)
        return dict(result='Promotion process initiated successfully')

    def _end_run(self, kind, dry):
        self.status = dict(self.run_end, promotionId=self.holder, type=kind)
        if self.leaves_report:
            self.reports.append(report(len(self.reports) + 1, self.holder, dry, kind, self.report_shape, self.run_changes))


def promotions(tenant, check_mode=False, record=None):
    """The service of ``tenant``; ``record``: its lock record (a ``LockRecord``), as the task gives it."""
    return s.Promotions(tenant, check_mode=check_mode, sleep=tenant.sleep, record=record,
                        waiter_factory=lambda timeout: Waiter(timeout, clock=tenant.clock, sleep=tenant.sleep, wall=lambda: 0))


def record_at(path, check_mode=False):
    """The lock record at ``path`` of the tenant's environment, as the task makes it."""
    return LockRecord(str(path), URL, check_mode)


def locked(status=None, reports=(), holder=OURS):
    return Tenant('locked', holder, status=status, reports=reports, description='Environment locked')


def failure(call, *args, **kwargs):
    with pytest.raises(PromotionError) as caught:
        call(*args, **kwargs)
    return caught.value


# ensure_locked
def test_unlocked_is_locked_and_the_new_id_is_recorded_before_the_wait(tmp_path):
    tenant = Tenant()
    path = str(tmp_path / 'lock.json')
    seen = []

    def first_wait_read(*call):
        seen.append((recorded(path)['promotion_id'], tenant.lock, tenant.count('GET', s.LOCK_STATE_PATH)))
        return tenant._lock_body()

    tenant.script('GET', s.LOCK_STATE_PATH, None, first_wait_read)
    service = promotions(tenant, record=record_at(path))
    result = service.ensure_locked()
    assert seen == [(NEW, 'locking', 2)]  # on disk at the first read of the wait, while still locking
    assert result['record']['promotion_id'] == NEW
    assert tenant.writes == [('POST', s.LOCK_PATH, None)]
    assert (result['changed'], result['promotion_id'], result['state']) == (True, NEW, 'locked')
    assert result['lock']['promotionId'] == NEW
    assert [entry['result'] for entry in result['history']] == ['locking', 'locked']
    assert tenant.now >= tenant.lock_seconds
    assert service.held == NEW  # the lock the task holds now


def test_a_service_holds_no_lock_and_has_no_record_until_told():
    service = promotions(Tenant())
    assert service.held is None
    assert (service.record.path, service.record.read()) == (None, None)
    assert service.record.write(NEW, TXN) is None  # no record: nothing written


def test_each_step_bounds_its_requests_by_its_own_deadline():
    tenant = Tenant()
    promotions(tenant).ensure_locked(wait_timeout=120)
    assert tenant.deadlines == [120 + s.LAST_LOOK]
    assert tenant.deadline is None  # restored once the step is over


def test_our_lock_is_kept_and_nothing_is_sent(tmp_path):
    tenant = locked()
    service = promotions(tenant, record=record_at(tmp_path / 'lock.json'))
    result = service.ensure_locked(promotion_id=OURS)
    assert (result['changed'], result['promotion_id'], result['state']) == (False, OURS, 'locked')
    assert tenant.writes == [] and result['record'] is None and not (tmp_path / 'lock.json').exists()
    assert service.held == OURS


def test_our_lock_still_locking_is_waited_for_not_taken_again():
    tenant = Tenant('locking', OURS)
    tenant.at(4, lambda: tenant._set_lock('locked', OURS))
    result = promotions(tenant).ensure_locked(promotion_id=OURS)
    assert (result['changed'], result['state']) == (False, 'locked')
    assert tenant.writes == []


@pytest.mark.parametrize('ours', [None, OURS])
def test_a_foreign_lock_is_refused_with_its_holder(ours):
    tenant = locked(holder=THEIRS)
    service = promotions(tenant)
    error = failure(service.ensure_locked, promotion_id=ours)
    assert service.held is None  # not ours, not even the one given
    assert error.result['holder'] == THEIRS
    assert 'already locked for promotion %s' % THEIRS in error.message and 'wait_for_release' in error.message
    assert tenant.writes == [] and tenant.sleeps == []


def test_a_maintenance_lock_is_refused_without_a_holder():
    tenant = Tenant('locked', None, status=READY, description='Environment locked by ForgeRock')
    error = failure(promotions(tenant).ensure_locked)
    assert error.result['holder'] is None and 'maintenance' in error.message
    assert tenant.writes == []


def test_wait_for_release_waits_out_a_foreign_lock_then_locks():
    tenant = locked(holder=THEIRS)
    tenant.at(30, lambda: tenant._set_lock('unlocked', None))
    result = promotions(tenant).ensure_locked(wait_for_release=True, wait_timeout=300)
    assert (result['changed'], result['promotion_id'], result['state']) == (True, NEW, 'locked')
    assert tenant.writes == [('POST', s.LOCK_PATH, None)]
    post_at = tenant.calls.index(('POST', s.LOCK_PATH, None))
    assert all(call[0] == 'GET' for call in tenant.calls[:post_at]) and tenant.now >= 30
    assert [entry['result'] for entry in result['history']] == ['locked', 'unlocked', 'locking', 'locked']


def test_a_release_under_way_is_waited_out_then_locked_even_without_wait_for_release():
    tenant = Tenant('unlocking', THEIRS)
    tenant.at(10, lambda: tenant._set_lock('unlocked', None))
    result = promotions(tenant).ensure_locked()
    assert (result['changed'], result['promotion_id']) == (True, NEW)
    assert len(tenant.writes) == 1


def test_wait_for_release_times_out_naming_the_holder():
    tenant = locked(holder=THEIRS)
    error = failure(promotions(tenant).ensure_locked, wait_for_release=True, wait_timeout=60)
    assert 'Timed out' in error.message and 'release of the lock' in error.message and THEIRS in error.message
    assert tenant.writes == [] and 60 <= tenant.now <= 60 + s.LAST_LOOK


def test_a_lock_state_of_error_names_the_support_ticket_and_sends_nothing():
    tenant = Tenant('error', description='Lower environment unreachable')
    error = failure(promotions(tenant).ensure_locked)
    assert 'Lower environment unreachable' in error.message and 'support ticket' in error.message
    assert tenant.writes == []


def test_a_lock_that_ends_in_error_names_the_ticket_and_the_new_id():
    tenant = Tenant()
    tenant.lock_ends = 'error'
    service = promotions(tenant)
    error = failure(service.ensure_locked)
    assert 'Locking did not complete' in error.message and 'support ticket' in error.message
    assert 'quoting promotion id %s' % NEW in error.message
    assert (service.held, error.result['changed']) == (NEW, False)  # the failure names it (PromotionTask.execute)
    assert len(tenant.writes) == 1


def test_a_stale_unlocked_read_after_the_lock_request_is_waited_out():
    tenant = Tenant()
    tenant.stale_reads = 2
    result = promotions(tenant).ensure_locked()
    assert (result['promotion_id'], result['state']) == (NEW, 'locked')
    assert len(tenant.writes) == 1


def test_wait_false_returns_as_soon_as_the_lock_is_asked_for():
    tenant = Tenant()
    result = promotions(tenant).ensure_locked(wait=False)
    assert (result['changed'], result['promotion_id'], result['state']) == (True, NEW, 'locking')
    assert tenant.sleeps == []


def locked_meanwhile(holder=THEIRS, release_after=None):
    """POST /lock refused with a 409: someone locked between our read and our request."""
    def answer(tenant):
        def conflict(method, path, body):
            tenant._set_lock('locked', holder, 'Environment locked')
            if release_after is not None:
                tenant.at(release_after, lambda: tenant._set_lock('unlocked', None))
            raise api_error(409, 'Environment is already locked for promotion %s' % holder)
        return conflict
    return answer


def test_a_409_on_the_lock_request_is_explained_from_the_lock_state():
    tenant = Tenant()
    tenant.script('POST', s.LOCK_PATH, locked_meanwhile()(tenant))
    error = failure(promotions(tenant).ensure_locked)
    assert error.result['holder'] == THEIRS and error.result['lock']['promotionId'] == THEIRS
    assert error.message.startswith('Environment is already locked for promotion %s. ' % THEIRS)
    assert 'force=true' in error.message and error.result['error']['status'] == 409
    assert len(tenant.writes) == 1


def test_a_409_while_the_state_reads_unlocked_says_to_wait_for_the_vendor():
    tenant = Tenant()
    tenant.script('POST', s.LOCK_PATH, api_error(409, 'Environment is locked by ForgeRock for maintenance. Retry later.'))
    error = failure(promotions(tenant).ensure_locked)
    assert 'now reads unlocked' in error.message and 'wait_for_release' in error.message
    assert error.result['holder'] is None and len(tenant.writes) == 1


def test_a_409_on_the_lock_request_is_waited_out_with_wait_for_release():
    tenant = Tenant()
    tenant.script('POST', s.LOCK_PATH, locked_meanwhile(release_after=20)(tenant))
    result = promotions(tenant).ensure_locked(wait_for_release=True)
    assert (result['changed'], result['promotion_id']) == (True, NEW)
    assert len(tenant.writes) == 2 and tenant.now >= 20


def test_a_maintenance_409_is_paused_on_then_sent_again_with_wait_for_release():
    tenant = Tenant()
    tenant.script('POST', s.LOCK_PATH, api_error(409, 'Environment is locked by ForgeRock for maintenance. Retry later.'))
    result = promotions(tenant).ensure_locked(wait_for_release=True)
    assert result['promotion_id'] == NEW and len(tenant.writes) == 2 and tenant.sleeps


def test_a_500_on_the_lock_request_names_the_support_ticket():
    tenant = Tenant()
    tenant.script('POST', s.LOCK_PATH, api_error(500, 'Internal error 7f3a'))
    error = failure(promotions(tenant).ensure_locked)
    assert 'internal error: Internal error 7f3a' in error.message and 'support ticket' in error.message
    assert len(tenant.writes) == 1


@pytest.mark.parametrize('error', [lost(), api_error(502), api_error(504)], ids=['no answer', '502', '504'])
def test_a_lock_request_whose_answer_was_lost_is_not_sent_again_when_it_happened(error, tmp_path):
    tenant = Tenant()
    tenant.script('POST', s.LOCK_PATH, tenant.happened_then(error))
    result = promotions(tenant, record=record_at(tmp_path / 'lock.json')).ensure_locked()
    assert tenant.writes == [('POST', s.LOCK_PATH, None)]
    assert (result['changed'], result['promotion_id'], result['state']) == (True, NEW, 'locked')
    assert recorded(str(tmp_path / 'lock.json'))['promotion_id'] == NEW


def test_a_lock_request_whose_answer_was_lost_is_sent_again_when_it_did_not_happen():
    tenant = Tenant()
    tenant.script('POST', s.LOCK_PATH, api_error(502))
    result = promotions(tenant).ensure_locked()
    assert len(tenant.writes) == 2 and result['promotion_id'] == NEW
    first, second = [index for index, call in enumerate(tenant.calls) if call[0] == 'POST']
    assert ('GET', s.LOCK_STATE_PATH, None) in tenant.calls[first:second]  # read back before it was sent again


@pytest.mark.parametrize('error, pause', [(api_error(429, retry_after=7), 7), (api_error(503), 1.0)], ids=['429', '503'])
def test_a_refused_lock_request_is_sent_again_after_the_pause(error, pause):
    tenant = Tenant()
    tenant.script('POST', s.LOCK_PATH, error)
    result = promotions(tenant).ensure_locked()
    assert len(tenant.writes) == 2 and result['promotion_id'] == NEW
    first, second = [index for index, call in enumerate(tenant.calls) if call[0] == 'POST']
    assert second == first + 1  # refused before anything was done: nothing to read back
    assert tenant.sleeps[0] == pause


def test_a_lock_request_refused_every_time_gives_up_after_the_attempts():
    tenant = Tenant()
    tenant.script('POST', s.LOCK_PATH, *[api_error(503)] * s.WRITE_ATTEMPTS)
    with pytest.raises(PromotionsApiError) as caught:
        promotions(tenant).ensure_locked()
    assert caught.value.status == 503 and len(tenant.writes) == s.WRITE_ATTEMPTS and tenant.lock == 'unlocked'


@pytest.mark.parametrize('tenant, options', [
    (Tenant(), {}),
    (locked(holder=THEIRS), dict(wait_for_release=True)),
    (Tenant('unlocking', THEIRS), {}),
], ids=['unlocked', 'foreign lock waited for', 'release under way'])
def test_check_mode_locks_nothing_and_waits_for_nothing(tenant, options):
    result = promotions(tenant, check_mode=True).ensure_locked(**options)
    assert (result['changed'], result['promotion_id']) == (True, None)
    assert tenant.writes == [] and tenant.sleeps == []


def test_check_mode_keeps_our_lock_unchanged():
    tenant = locked()
    result = promotions(tenant, check_mode=True).ensure_locked(promotion_id=OURS)
    assert (result['changed'], result['promotion_id']) == (False, OURS) and tenant.writes == []


# keep_or_lock
def recorded(path):
    with open(path, encoding='utf-8') as stream:
        return json.load(stream)


def record_file(tmp_path, promotion_id=OURS, tenant_url=URL):
    path = tmp_path / 'staging.lock.json'
    path.write_text(json.dumps(dict(promotion_id=promotion_id, tenant_url=tenant_url, transaction_id='txn-old')))
    return str(path)


def test_keep_or_lock_without_a_record_locks_and_records_the_new_lock(tmp_path):
    path = str(tmp_path / 'staging.lock.json')
    tenant = Tenant()
    on_disk = []
    tenant.script('GET', s.LOCK_STATE_PATH, None, lambda *call: on_disk.append(recorded(path)) or tenant._lock_body())
    result = promotions(tenant, record=record_at(path)).keep_or_lock()
    assert on_disk[0]['promotion_id'] == NEW  # recorded as soon as the id was known, while still locking
    assert (result['changed'], result['resumed'], result['promotion_id']) == (True, False, NEW)
    assert result['record']['promotion_id'] == NEW and result['record']['transaction_id'] == TXN
    assert recorded(path)['tenant_url'] == URL


def test_keep_or_lock_records_a_new_lock_even_when_locking_then_fails(tmp_path):
    path = str(tmp_path / 'staging.lock.json')
    tenant = Tenant()
    tenant.lock_ends = 'error'
    failure(promotions(tenant, record=record_at(path)).keep_or_lock)
    assert recorded(path)['promotion_id'] == NEW  # a rerun can still find the lock it took


def test_keep_or_lock_resumes_the_recorded_lock(tmp_path):
    path = record_file(tmp_path)
    tenant = locked()
    service = promotions(tenant, record=record_at(path))
    result = service.keep_or_lock()
    assert (result['changed'], result['resumed'], result['promotion_id']) == (False, True, OURS)
    assert service.held == OURS
    assert result['record']['transaction_id'] == 'txn-old'  # the record is kept as it was
    assert tenant.writes == []


def test_keep_or_lock_takes_a_new_lock_when_the_recorded_one_is_gone(tmp_path):
    path = record_file(tmp_path)
    tenant = Tenant()
    result = promotions(tenant, record=record_at(path)).keep_or_lock()
    assert (result['changed'], result['resumed'], result['promotion_id']) == (True, False, NEW)
    assert recorded(path)['promotion_id'] == NEW == result['record']['promotion_id']


def test_keep_or_lock_an_explicit_id_wins_over_the_record(tmp_path):
    path = record_file(tmp_path, promotion_id=THEIRS)
    tenant = locked()
    result = promotions(tenant, record=record_at(path)).keep_or_lock(promotion_id=OURS)
    # The lock given is kept (resumed); the record names another, so it is not what this lock is recorded as.
    assert (result['changed'], result['resumed'], result['promotion_id'], result['record']) == (False, True, OURS, None)


def test_keep_or_lock_with_no_record_path_returns_no_record():
    tenant = Tenant()
    result = promotions(tenant).keep_or_lock()
    assert (result['changed'], result['resumed'], result['promotion_id']) == (True, False, NEW) and 'record' not in result


def test_keep_or_lock_refuses_a_foreign_lock_over_the_record(tmp_path):
    path = record_file(tmp_path)
    tenant = locked(holder=THEIRS)
    service = promotions(tenant, record=record_at(path))
    error = failure(service.keep_or_lock)
    assert error.result['holder'] == THEIRS and OURS in error.message and service.held is None
    assert recorded(path)['promotion_id'] == OURS and tenant.writes == []


def test_a_foreign_lock_is_refused_with_what_the_tenant_shows_under_it():
    # An interrupted run's lock: its dry run done, its promotion running; nothing says whose it is.
    running = dict(status='RUNNING', message='Waiting for workloads to restart', type='promotion')
    tenant = locked(holder=THEIRS, status=running, reports=[report(1, THEIRS, dry=True), report(2, OURS)])
    error = failure(promotions(tenant).ensure_locked)
    evidence = error.result['holder_evidence']
    assert [(item['dry_run'], item['report_id']) for item in evidence['reports']] == [(True, 'report-1')]
    assert evidence['run']['status'] == 'RUNNING'
    assert "a dry run's report (2022-04-19T17:01:05Z); a promotion running now (Waiting for workloads to restart)" in error.message
    assert 'promotion_id: %s' % THEIRS in error.message and tenant.writes == []


def test_a_foreign_lock_is_refused_even_when_what_lies_under_it_cannot_be_read():
    tenant = locked(holder=THEIRS)
    tenant.script('GET', s.REPORTS_PATH, api_error(403, 'Forbidden'))
    error = failure(promotions(tenant).ensure_locked)
    assert error.result['holder'] == THEIRS and error.result['holder_evidence'] is None and 'Under it' not in error.message


def test_keep_or_lock_refuses_the_record_of_another_tenant_before_any_call(tmp_path):
    path = record_file(tmp_path, tenant_url='https://other.example.com')
    tenant = Tenant()
    with pytest.raises(ConfigurationError):
        promotions(tenant, record=record_at(path)).keep_or_lock()
    assert tenant.calls == []


def test_keep_or_lock_in_check_mode_writes_no_record(tmp_path):
    """The service in check mode writes none, even to a record that would take it (the task's is in check mode too)."""
    path = tmp_path / 'staging.lock.json'
    tenant = Tenant()
    result = promotions(tenant, check_mode=True, record=record_at(path)).keep_or_lock()
    assert (result['changed'], result['resumed'], result['record']) == (True, False, None)
    assert not path.exists() and tenant.writes == []


# ensure_unlocked
def test_already_unlocked_is_unchanged():
    tenant = Tenant()
    result = promotions(tenant).ensure_unlocked(promotion_id=OURS)
    assert (result['changed'], result['state'], result['promotion_id']) == (False, 'unlocked', OURS)
    assert tenant.writes == []


def test_our_lock_is_released_and_stale_locked_reads_are_waited_out():
    tenant = locked()
    tenant.stale_reads = 3  # the seed's own example: 'locked' read back right after the unlock request
    result = promotions(tenant).ensure_unlocked(promotion_id=OURS)
    assert tenant.writes == [('DELETE', '%s/%s' % (s.LOCK_PATH, OURS), None)]
    assert (result['changed'], result['state'], result['promotion_id']) == (True, 'unlocked', OURS)
    assert [entry['result'] for entry in result['history']] == ['locked', 'unlocking', 'unlocked']


def test_our_lock_still_locking_is_waited_for_then_released():
    tenant = Tenant('locking', OURS)
    tenant.at(3, lambda: tenant._set_lock('locked', OURS))
    result = promotions(tenant).ensure_unlocked(promotion_id=OURS)
    assert tenant.writes == [('DELETE', '%s/%s' % (s.LOCK_PATH, OURS), None)] and result['state'] == 'unlocked'


def test_a_release_under_way_is_waited_for_and_sends_nothing():
    tenant = Tenant('unlocking', OURS)
    tenant.at(3, lambda: tenant._set_lock('unlocked', None))
    result = promotions(tenant).ensure_unlocked(promotion_id=OURS)
    assert (result['changed'], result['state']) == (False, 'unlocked') and tenant.writes == []


def test_a_foreign_lock_is_not_released_without_force():
    tenant = locked(holder=THEIRS)
    error = failure(promotions(tenant).ensure_unlocked, promotion_id=OURS)
    assert error.result['holder'] == THEIRS and 'force: true' in error.message and THEIRS in error.message
    assert tenant.writes == []


def test_a_foreign_lock_is_released_with_force():
    tenant = locked(holder=THEIRS)
    result = promotions(tenant).ensure_unlocked(promotion_id=OURS, force=True)
    assert tenant.writes == [('DELETE', '%s/%s' % (s.LOCK_PATH, THEIRS), None)]
    assert (result['changed'], result['promotion_id'], result['state']) == (True, THEIRS, 'unlocked')


@pytest.mark.parametrize('force', [False, True])
def test_a_maintenance_lock_is_never_released(force):
    tenant = Tenant('locked', None, status=READY)
    error = failure(promotions(tenant).ensure_unlocked, force=force)
    assert 'maintenance' in error.message and error.result['holder'] is None
    assert tenant.writes == []


def test_a_lock_state_of_error_is_not_released():
    tenant = Tenant('error', OURS, description='Unlock failed on the lower environment')
    error = failure(promotions(tenant).ensure_unlocked, promotion_id=OURS, force=True)
    assert 'support ticket' in error.message and 'Unlock failed on the lower environment' in error.message
    assert tenant.writes == []


def test_a_409_while_a_run_is_going_says_to_wait_for_it():
    tenant = locked()
    tenant.running(seconds=600)
    error = failure(promotions(tenant).ensure_unlocked, promotion_id=OURS)
    assert 'is running under lock %s' % OURS in error.message and 'promotion_run again' in error.message
    assert error.result['status'] == 'RUNNING' and error.result['error']['status'] == 409
    assert (error.result['message'], error.result['blocking_error']) == ('Promote configuration', False)
    assert len(tenant.writes) == 1 and tenant.lock == 'locked'


def test_a_409_after_a_blocking_failure_names_the_ticket_and_the_transaction():
    tenant = locked(status=BLOCKING)
    error = failure(promotions(tenant).ensure_unlocked, promotion_id=OURS)
    assert error.result['blocked'] is True
    assert 'support ticket' in error.message and TXN in error.message and OURS in error.message
    assert len(tenant.writes) == 1


def test_a_409_with_nothing_running_is_paused_on_then_sent_again():
    tenant = locked()
    tenant.script('DELETE', '%s/%s' % (s.LOCK_PATH, OURS), api_error(409, 'Conflict'))
    result = promotions(tenant).ensure_unlocked(promotion_id=OURS)
    assert len(tenant.writes) == 2 and result['state'] == 'unlocked' and tenant.sleeps


def test_a_409_because_the_release_is_under_way_is_waited_out():
    tenant = locked()

    def racing(method, path, body):
        tenant._set_lock('unlocking', OURS)
        tenant.at(4, lambda: tenant._set_lock('unlocked', None))
        raise api_error(409, 'Environment is currently locking or unlocking')

    tenant.script('DELETE', '%s/%s' % (s.LOCK_PATH, OURS), racing)
    result = promotions(tenant).ensure_unlocked(promotion_id=OURS)
    assert (result['changed'], result['state']) == (True, 'unlocked') and len(tenant.writes) == 1


@pytest.mark.parametrize('error', [lost(), api_error(502), api_error(504)], ids=['no answer', '502', '504'])
def test_an_unlock_whose_answer_was_lost_is_not_sent_again_when_it_happened(error):
    tenant = locked()
    tenant.script('DELETE', '%s/%s' % (s.LOCK_PATH, OURS), tenant.happened_then(error))
    result = promotions(tenant).ensure_unlocked(promotion_id=OURS)
    assert len(tenant.writes) == 1 and (result['changed'], result['state']) == (True, 'unlocked')


def test_an_unlock_whose_answer_was_lost_is_sent_again_when_it_did_not_happen():
    tenant = locked()
    tenant.script('DELETE', '%s/%s' % (s.LOCK_PATH, OURS), lost())
    result = promotions(tenant).ensure_unlocked(promotion_id=OURS)
    assert len(tenant.writes) == 2 and result['state'] == 'unlocked'


def test_a_refused_unlock_is_sent_again_after_the_pause():
    tenant = locked()
    tenant.script('DELETE', '%s/%s' % (s.LOCK_PATH, OURS), api_error(429, retry_after=4))
    result = promotions(tenant).ensure_unlocked(promotion_id=OURS)
    assert len(tenant.writes) == 2 and tenant.sleeps[0] == 4 and result['state'] == 'unlocked'


def test_an_unlock_whose_answer_was_lost_while_another_lock_was_taken_says_so():
    tenant = locked()

    def taken(method, path, body):
        tenant._set_lock('locked', THEIRS)
        raise lost()

    tenant.script('DELETE', '%s/%s' % (s.LOCK_PATH, OURS), taken)
    error = failure(promotions(tenant).ensure_unlocked, promotion_id=OURS)
    assert 'While releasing lock %s' % OURS in error.message and THEIRS in error.message
    assert len(tenant.writes) == 1


def test_an_unlock_that_ends_in_error_is_a_failure_that_changed_something():
    tenant = locked()
    tenant.unlock_ends = 'error'
    error = failure(promotions(tenant).ensure_unlocked, promotion_id=OURS)
    assert 'Unlocking did not complete' in error.message and error.result['changed'] is True


def test_unlock_without_wait_returns_after_the_request():
    tenant = locked()
    result = promotions(tenant).ensure_unlocked(promotion_id=OURS, wait=False)
    assert (result['changed'], result['state']) == (True, 'unlocking') and tenant.sleeps == []


def test_check_mode_unlocks_nothing():
    tenant = locked()
    result = promotions(tenant, check_mode=True).ensure_unlocked(promotion_id=OURS)
    assert (result['changed'], result['promotion_id']) == (True, OURS) and tenant.writes == []


# run
def promote_calls(tenant):
    return [body for method, path, body in tenant.writes if path == s.PROMOTE_PATH]


def test_a_run_is_started_and_waited_for_until_ready():
    tenant = locked()
    body = dict(unlockEnvironmentsAfterPromotion=False, promoter='ci')
    result = promotions(tenant).run(body=body, promotion_id=OURS)
    assert tenant.writes == [('POST', s.PROMOTE_PATH, dict(body, dryRun=False))]
    verdict = result['verdict']
    assert verdict.ok and verdict.changed and result['changed'] is True
    assert (result['dry_run'], result['attached'], result['promotion_id']) == (False, False, OURS)
    assert result['report']['reportId'] == 'report-1' and result['status'].status == 'READY'
    assert [entry['status'] for entry in result['history']] == ['RUNNING', 'READY']
    assert tenant.now >= tenant.run_seconds


def test_a_dry_run_changes_nothing():
    tenant = locked()
    result = promotions(tenant).run(dry_run=True, promotion_id=OURS)
    assert promote_calls(tenant) == [dict(dryRun=True)]
    assert result['verdict'].ok and (result['changed'], result['dry_run']) == (False, True)
    assert 'dry run finished' in result['verdict'].message


@pytest.mark.parametrize('end, changes', [(NO_CHANGE, {}), (COMPLETED, {'AMConfig': []})], ids=['(no change)', 'empty report'])
def test_a_run_with_nothing_to_promote_is_not_a_change(end, changes):
    tenant = locked()
    tenant.run_end, tenant.run_changes = dict(end), changes
    result = promotions(tenant).run(promotion_id=OURS)
    assert result['verdict'].ok and (result['changed'], result['dry_run']) == (False, False)


@pytest.mark.parametrize('dry_run', [True, False])
def test_missing_esvs_stop_the_run_and_are_named(dry_run):
    tenant = locked()
    tenant.run_end = dict(MISSING_ESVS)
    result = promotions(tenant).run(dry_run=dry_run, promotion_id=OURS)
    verdict = result['verdict']
    assert not verdict.ok and result['changed'] is False and result['dry_run'] is dry_run
    assert 'esv.email.from, esv.smtp.host' in verdict.message and 'once it is unlocked' in verdict.message


@pytest.mark.parametrize('ignore, hint', [(False, True), (True, False)])
def test_encrypted_secrets_stop_the_run_and_are_named(ignore, hint):
    tenant = locked()
    tenant.run_end = dict(ENCRYPTED)
    result = promotions(tenant).run(promotion_id=OURS, ignore_encrypted_secrets=ignore)
    verdict = result['verdict']
    assert not verdict.ok and result['changed'] is False and result['dry_run'] is False
    assert SECRET in verdict.message and ('ignore_encrypted_secrets: true' in verdict.message) is hint


def test_a_blocking_error_ends_the_run_with_the_support_ticket():
    tenant = locked()
    tenant.run_end, tenant.leaves_report = dict(BLOCKING), False
    result = promotions(tenant).run(promotion_id=OURS)
    verdict = result['verdict']
    assert not verdict.ok and result['changed'] is False and 'support ticket' in verdict.message
    assert result['report'] is None and result['dry_run'] is False  # no report: as this task started it


def test_a_run_in_progress_under_our_lock_is_attached_to():
    tenant = locked()
    tenant.running(dry=False, seconds=40)
    result = promotions(tenant).run(promotion_id=OURS)
    assert tenant.writes == []
    assert (result['attached'], result['dry_run'], result['changed']) == (True, False, True)
    assert result['verdict'].ok and result['report']['reportId'] == 'report-1'


def test_a_rollback_in_progress_under_our_lock_is_attached_to():
    tenant = locked()
    tenant.running(kind='rollback', seconds=40)
    result = promotions(tenant).run('rollback', promotion_id=OURS)
    assert tenant.writes == []
    assert (result['attached'], result['dry_run'], result['changed']) == (True, False, True)


def test_a_dry_run_found_running_under_our_lock_is_followed_by_the_real_run():
    tenant = locked()
    tenant.running(dry=True, seconds=40)
    result = promotions(tenant).run(promotion_id=OURS)
    assert promote_calls(tenant) == [dict(dryRun=False)]
    assert tenant.count('POST', s.PROMOTE_PATH) == 1 and tenant.now >= 40 + tenant.run_seconds
    assert (result['attached'], result['dry_run'], result['changed']) == (False, False, True)
    assert result['report']['reportId'] == 'report-2'


def test_a_real_run_found_running_when_a_dry_run_was_asked_is_told_as_real():
    tenant = locked()
    tenant.running(dry=False, seconds=40)
    result = promotions(tenant).run(dry_run=True, promotion_id=OURS)
    assert tenant.writes == []
    assert (result['attached'], result['dry_run'], result['changed']) == (True, False, True)


def test_a_run_found_running_that_nobody_can_place_is_not_told_as_a_promotion():
    tenant = locked()
    tenant.leaves_report = False
    tenant.running(dry=False, seconds=40)
    result = promotions(tenant).run(dry_run=True, promotion_id=OURS)
    assert tenant.writes == []
    assert (result['attached'], result['dry_run'], result['changed']) == (True, None, False)


def test_a_run_of_another_kind_or_lock_is_not_attached_to():
    tenant = locked()
    tenant.running(kind='rollback', seconds=600)
    error = failure(promotions(tenant).run, promotion_id=OURS)
    assert 'A rollback is already running' in error.message and tenant.writes == []
    tenant = locked()
    tenant.running(seconds=600)
    tenant.status['promotionId'] = THEIRS
    failure(promotions(tenant).run, promotion_id=OURS)
    assert tenant.writes == []


@pytest.mark.parametrize('shape', ['full', 'seed', 'bare'])
def test_a_real_run_already_finished_under_our_lock_is_not_started_again(shape):
    # The seed's report names no type: the status's says the run was a promotion, not a rollback.
    tenant = locked(status=dict(COMPLETED, promotionId=OURS, type='promotion'), reports=[report(dry=False, shape=shape)])
    result = promotions(tenant).run(promotion_id=OURS)
    assert tenant.writes == []
    assert (result['changed'], result['attached'], result['dry_run']) == (False, False, False)
    assert result['verdict'].ok and 'had already finished' in result['verdict'].message
    assert result['report']['reportId'] == 'report-1'
    # Only a report that says nothing itself sends for the listing.
    assert tenant.count('GET', s.REPORTS_PATH) == (1 if shape == 'bare' else 0)


@pytest.mark.parametrize('shape', ['full', 'seed', 'bare'])
def test_a_dry_run_finished_under_our_lock_is_followed_by_the_real_run(shape):
    tenant = locked(status=dict(COMPLETED, promotionId=OURS), reports=[report(dry=True, shape=shape)])
    result = promotions(tenant).run(promotion_id=OURS)
    assert promote_calls(tenant) == [dict(dryRun=False)]
    assert (result['changed'], result['dry_run']) == (True, False)


def test_a_real_run_under_another_lock_does_not_count():
    tenant = locked(status=COMPLETED, reports=[report(promotion_id=THEIRS)])
    result = promotions(tenant).run(promotion_id=OURS)
    assert len(promote_calls(tenant)) == 1 and result['changed'] is True


def test_a_report_of_our_run_placed_only_by_the_listing_is_told_right():
    tenant = locked()
    tenant.report_shape = 'bare'
    result = promotions(tenant).run(dry_run=True, promotion_id=OURS)
    assert result['dry_run'] is True and tenant.count('GET', s.REPORTS_PATH) == 1


def test_a_rollback_is_started_without_a_dry_run_flag():
    tenant = locked(status=COMPLETED, reports=[report()])
    body = dict(unlockEnvironmentsAfterPromotion=False, promoter='ci')
    result = promotions(tenant).run('rollback', body=body, promotion_id=OURS)
    assert tenant.writes == [('POST', s.ROLLBACK_PATH, dict(unlockEnvironmentsAfterPromotion=False, promoter='ci'))]
    assert (result['changed'], result['dry_run']) == (True, False) and 'rollback finished' in result['verdict'].message


def test_a_run_that_outlasts_wait_timeout_goes_on_and_keeps_the_lock():
    tenant = locked()
    tenant.run_seconds = 10000
    service = promotions(tenant)
    error = failure(service.run, promotion_id=OURS, wait_timeout=300)
    assert 'Timed out after 300 s' in error.message and 'still RUNNING' in error.message
    assert 'its lock %s stays in place' % OURS in error.message and 'Run the task again' in error.message
    assert service.held == OURS and error.result['status'] == 'RUNNING' and error.result['run_going'] is True
    assert len(tenant.writes) == 1 and 300 <= tenant.now <= 300 + s.LAST_LOOK


def test_a_run_the_status_never_shows_fails_after_the_grace_period():
    tenant = locked()
    tenant.run_shows_after = None
    service = promotions(tenant)
    error = failure(service.run, promotion_id=OURS, wait_timeout=3600)
    assert 'has not shown it running after %d s' % s.STALE_STATUS_GRACE in error.message
    assert service.held == OURS and error.result['status'] == 'READY' and len(tenant.writes) == 1
    assert s.STALE_STATUS_GRACE < tenant.now < s.STALE_STATUS_GRACE + 20


def test_a_run_the_status_shows_late_is_waited_for():
    tenant = locked()
    tenant.run_shows_after = 20
    result = promotions(tenant).run(promotion_id=OURS)
    assert result['verdict'].ok and result['changed'] is True and len(tenant.writes) == 1


def test_transient_status_read_failures_while_waiting_are_sat_out():
    tenant = locked()
    tenant.script('GET', s.PROMOTE_PATH, None, api_error(503), lost(), None, api_error(504))
    result = promotions(tenant).run(promotion_id=OURS)
    assert result['verdict'].ok and result['changed'] is True and len(tenant.writes) == 1
    assert not tenant.scripts[('GET', s.PROMOTE_PATH)]  # every scripted failure was read, and sat out


@pytest.mark.parametrize('error', [api_error(500), api_error(401, 'unauthorized'), api_error(404, 'a non-JSON answer')],
                         ids=['500', '401', 'gateway 404'])
def test_a_failed_read_of_any_status_while_waiting_is_sat_out(error):
    # While the tenant restarts its services, its reads may fail in any way while the run goes on.
    tenant = locked()
    tenant.script('GET', s.PROMOTE_PATH, None, error, error)
    result = promotions(tenant).run(promotion_id=OURS)
    assert result['verdict'].ok and result['changed'] is True and len(tenant.writes) == 1


def test_a_read_that_keeps_failing_while_waiting_ends_at_the_deadline_naming_it():
    tenant = locked()
    tenant.script('GET', s.PROMOTE_PATH, None, *[api_error(403, 'Forbidden')] * 200)
    error = failure(promotions(tenant).run, promotion_id=OURS, wait_timeout=120)
    assert 'Timed out after' in error.message and 'HTTP 403' in error.message and len(tenant.writes) == 1


@pytest.mark.parametrize('error', [lost(), api_error(502), api_error(504)], ids=['no answer', '502', '504'])
def test_a_run_whose_answer_was_lost_is_not_started_again_when_it_started(error):
    tenant = locked()
    tenant.script('POST', s.PROMOTE_PATH, tenant.happened_then(error))
    result = promotions(tenant).run(promotion_id=OURS)
    assert len(tenant.writes) == 1 and result['verdict'].ok and result['dry_run'] is False


def test_a_run_whose_answer_was_lost_is_sent_again_when_it_did_not_start():
    tenant = locked()
    tenant.script('POST', s.PROMOTE_PATH, api_error(502))
    result = promotions(tenant).run(promotion_id=OURS)
    assert len(tenant.writes) == 2 and result['verdict'].ok


def test_a_refused_run_is_sent_again_after_the_pause():
    tenant = locked()
    tenant.script('POST', s.PROMOTE_PATH, api_error(429, retry_after=3))
    result = promotions(tenant).run(promotion_id=OURS)
    assert len(tenant.writes) == 2 and tenant.sleeps[0] == 3 and result['verdict'].ok


def test_a_409_on_start_after_a_blocking_failure_is_blocked():
    tenant = locked()
    tenant.script('POST', s.PROMOTE_PATH, api_error(409, 'Environment is blocked from a previous failed promotion'))
    error = failure(promotions(tenant).run, promotion_id=OURS)
    assert error.result['blocked'] is True and 'support ticket' in error.message and TXN in error.message
    assert error.result['status'] == 'READY'  # the status read after the refusal, as its word


def test_a_409_on_start_says_to_check_the_lock_and_the_runs():
    tenant = locked()
    tenant.script('POST', s.PROMOTE_PATH, api_error(409, 'Environment is not locked.'))
    error = failure(promotions(tenant).run, promotion_id=OURS)
    assert 'refused to start the promotion: Environment is not locked. Check the lock' in error.message
    assert error.result['status'] == 'READY' and len(tenant.writes) == 1


@pytest.mark.parametrize('tenant, ours, words', [
    (Tenant(), OURS, 'not locked'),
    (Tenant('locking', OURS), OURS, 'locking'),
    (locked(holder=THEIRS), OURS, THEIRS),
    (locked(status=BLOCKING), OURS, 'support ticket'),
], ids=['unlocked', 'locking', 'foreign lock', 'blocked'])
def test_a_run_that_cannot_start_says_why_and_sends_nothing(tenant, ours, words):
    service = promotions(tenant)
    error = failure(service.run, promotion_id=ours)
    assert words in error.message and tenant.writes == []
    assert isinstance(error.result['status'], str) and 'blocking_error' in error.result and 'lock' in error.result
    assert service.held is None  # refused before working under any lock


def test_run_without_wait_returns_once_started():
    tenant = locked()
    result = promotions(tenant).run(dry_run=True, promotion_id=OURS, wait=False)
    assert (result['changed'], result['dry_run'], result['attached']) == (False, True, False)
    assert result['status'].running and result['verdict'] is None and len(tenant.writes) == 1
    result = promotions(locked()).run(promotion_id=OURS, wait=False)
    assert (result['changed'], result['dry_run']) == (True, False)


def test_run_without_wait_on_a_run_found_going_is_not_this_tasks_change():
    tenant = locked()
    tenant.running(seconds=600)
    result = promotions(tenant).run(promotion_id=OURS, wait=False)
    assert (result['changed'], result['dry_run'], result['attached']) == (False, None, True) and tenant.writes == []


@pytest.mark.parametrize('dry_run, changed', [(False, True), (True, False)])
def test_check_mode_predicts_the_run_and_sends_nothing(dry_run, changed):
    tenant = locked()
    result = promotions(tenant, check_mode=True).run(dry_run=dry_run, promotion_id=OURS)
    assert (result['changed'], result['dry_run'], result['verdict']) == (changed, dry_run, None)
    assert tenant.writes == []


def test_check_mode_predicts_the_run_after_a_lock_only_predicted():
    tenant = Tenant()
    result = promotions(tenant, check_mode=True).run()
    assert (result['changed'], result['dry_run'], result['promotion_id']) == (True, False, None)
    assert tenant.writes == []


def test_check_mode_predicts_nothing_for_a_run_already_finished():
    tenant = locked(status=COMPLETED, reports=[report()])
    result = promotions(tenant, check_mode=True).run(promotion_id=OURS)
    assert (result['changed'], result['attached']) == (False, False) and tenant.writes == []


# promote_after_dry_run
def test_a_dry_run_that_passes_is_followed_by_the_promotion():
    tenant = locked()
    body = dict(unlockEnvironmentsAfterPromotion=True, promoter='ci')
    dry, real = promotions(tenant).promote_after_dry_run(body=body, promotion_id=OURS)
    # The dry run never unlocks: only the promotion carries unlockEnvironmentsAfterPromotion.
    assert promote_calls(tenant) == [dict(promoter='ci', dryRun=True), dict(body, dryRun=False)]
    assert (dry['dry_run'], dry['changed'], dry['report']['reportId']) == (True, False, 'report-1')
    assert (real['dry_run'], real['changed'], real['report']['reportId']) == (False, True, 'report-2')
    assert len(tenant.deadlines) == 3 and tenant.deadlines[1] == 3600 + s.LAST_LOOK


@pytest.mark.parametrize('end, changes', [(NO_CHANGE, {}), (COMPLETED, {'IDMConfig': []})], ids=['(no change)', 'empty report'])
def test_nothing_to_promote_starts_no_promotion(end, changes):
    tenant = locked()
    tenant.run_end, tenant.run_changes = dict(end), changes
    dry, real = promotions(tenant).promote_after_dry_run(promotion_id=OURS)
    assert real is None and dry['dry_run'] is True and dry['verdict'].ok
    assert promote_calls(tenant) == [dict(dryRun=True)]


def test_nothing_to_promote_is_promoted_anyway_without_skip_if_unchanged():
    tenant = locked()
    tenant.run_end, tenant.run_changes = dict(NO_CHANGE), {}
    dry, real = promotions(tenant).promote_after_dry_run(promotion_id=OURS, skip_if_unchanged=False)
    assert [body['dryRun'] for body in promote_calls(tenant)] == [True, False]
    assert real['dry_run'] is False and real['changed'] is False  # the tenant said '(no change)'


@pytest.mark.parametrize('end', [MISSING_ESVS, ENCRYPTED], ids=['missing ESVs', 'encrypted'])
def test_a_failed_dry_run_starts_no_promotion(end):
    tenant = locked()
    tenant.run_end = dict(end)
    dry, real = promotions(tenant).promote_after_dry_run(promotion_id=OURS)
    assert real is None and not dry['verdict'].ok and dry['dry_run'] is True
    assert promote_calls(tenant) == [dict(dryRun=True)]


def test_the_review_sees_the_dry_runs_rows_and_a_refusal_starts_no_promotion():
    tenant = locked()
    seen = []

    def review(rows):
        seen.append(rows)
        return 'not what was reviewed'
    dry, real = promotions(tenant).promote_after_dry_run(promotion_id=OURS, review=review)
    assert real is None and dry['refused'] == 'not what was reviewed' and dry['verdict'].ok
    assert seen == [change_rows(dry['report'])] and seen[0]
    assert promote_calls(tenant) == [dict(dryRun=True)]


def test_a_review_that_passes_lets_the_promotion_follow_and_no_review_is_made_of_a_failed_or_empty_dry_run():
    tenant = locked()
    dry, real = promotions(tenant).promote_after_dry_run(promotion_id=OURS, review=lambda rows: None)
    assert dry['refused'] is None and real['dry_run'] is False
    for end, changes in ((MISSING_ESVS, None), (NO_CHANGE, {})):
        tenant = locked()
        tenant.run_end = dict(end)
        if changes is not None:
            tenant.run_changes = changes
        dry, real = promotions(tenant).promote_after_dry_run(promotion_id=OURS, review=lambda rows: pytest.fail('reviewed'))
        assert real is None and 'refused' not in dry


def test_a_real_promotion_already_done_under_the_lock_is_reported_without_a_dry_run():
    tenant = locked(status=dict(COMPLETED, promotionId=OURS, type='promotion'), reports=[report(dry=False, shape='seed')])
    dry, real = promotions(tenant).promote_after_dry_run(promotion_id=OURS)
    assert dry is None and tenant.writes == []
    assert (real['changed'], real['dry_run']) == (False, False) and 'had already finished' in real['verdict'].message


def test_a_real_promotion_found_running_under_the_lock_is_waited_for_without_a_dry_run():
    tenant = locked()
    tenant.running(dry=False, seconds=40)
    dry, real = promotions(tenant).promote_after_dry_run(promotion_id=OURS)
    assert dry is None and tenant.writes == []
    assert (real['attached'], real['dry_run'], real['changed']) == (True, False, True)


def test_a_dry_run_found_running_is_waited_for_then_the_promotion_follows():
    tenant = locked()
    tenant.running(dry=True, seconds=40)
    dry, real = promotions(tenant).promote_after_dry_run(promotion_id=OURS)
    assert promote_calls(tenant) == [dict(dryRun=False)]
    assert (dry['attached'], dry['dry_run']) == (True, True) and (real['dry_run'], real['changed']) == (False, True)


def test_a_dry_run_that_leaves_too_little_time_starts_no_promotion():
    tenant = locked()
    tenant.run_seconds = 80
    error = failure(promotions(tenant).promote_after_dry_run, promotion_id=OURS, wait_timeout=100)
    assert 'the promotion was not started' in error.message and 'larger wait_timeout' in error.message
    assert promote_calls(tenant) == [dict(dryRun=True)]


def test_promote_after_dry_run_in_check_mode_predicts_the_promotion_only():
    tenant = locked()
    dry, real = promotions(tenant, check_mode=True).promote_after_dry_run(promotion_id=OURS)
    assert dry is None and (real['changed'], real['dry_run']) == (True, False) and tenant.writes == []


# Faults a first version of these tests found in _service.py, now mended.
def test_a_read_failure_after_the_lock_was_taken_still_tells_the_new_lock():
    tenant = Tenant()
    tenant.script('GET', s.LOCK_STATE_PATH, None, *[api_error(403, 'Forbidden')] * 200)
    service = promotions(tenant)
    error = failure(service.ensure_locked, wait_timeout=60)
    assert len(tenant.writes) == 1 and tenant.holder == NEW
    assert (service.held, error.result.get('changed')) == (NEW, True)


def test_a_transient_report_read_failure_while_waiting_is_sat_out():
    tenant = locked()
    tenant.run_shows_after = 10
    tenant.script('GET', s.REPORT_PATH, None, api_error(503))
    result = promotions(tenant).run(promotion_id=OURS)
    assert result['verdict'].ok and len(tenant.writes) == 1


def test_a_failed_real_promotion_under_the_lock_gets_a_dry_run_before_it_is_tried_again():
    tenant = locked(status=dict(ENCRYPTED, promotionId=OURS, type='promotion'), reports=[report(dry=False)])
    dry, real = promotions(tenant).promote_after_dry_run(promotion_id=OURS, ignore_encrypted_secrets=True)
    assert [body['dryRun'] for body in promote_calls(tenant)][:1] == [True]
    assert dry is not None


# rollback_after_preview and rollback_preview
PROVISIONAL_ROLLBACK = s.REPORT_PATHS['provisional_rollback']


def rollback_preview_body(changes=None):
    """The provisional-rollback report as the tenant sends it: what a rollback would revert."""
    return dict(createdDate='2022-04-19T18:00:05Z', dryRun=True, type='provisional-rollback',
                report=copy.deepcopy(CHANGES if changes is None else changes))


def after_a_promotion():
    """Our lock, and the promotion made under it: a rollback has something to revert."""
    return locked(status=dict(COMPLETED, promotionId=OURS, type='promotion'), reports=[report(dry=False)])


def rollback_calls(tenant):
    return [body for method, path, body in tenant.writes if path == s.ROLLBACK_PATH]


@pytest.mark.parametrize('changes', [{}, {'AMConfig': [], 'IDMConfig': []}], ids=['no sections', 'empty sections'])
def test_an_empty_provisional_rollback_report_starts_no_rollback(changes):
    tenant = after_a_promotion()
    tenant.script('GET', PROVISIONAL_ROLLBACK, rollback_preview_body(changes))
    preview, rollback = promotions(tenant).rollback_after_preview(promotion_id=OURS)
    assert rollback is None and tenant.writes == []
    assert preview['report']['type'] == 'provisional-rollback' and preview['report']['report'] == changes
    assert (preview['changed'], preview['dry_run'], preview['attached'], preview['verdict']) == (False, True, False, None)
    assert preview['promotion_id'] == OURS and preview['status'].status == 'READY'
    assert tenant.count('GET', PROVISIONAL_ROLLBACK) == 1


def test_a_provisional_rollback_report_with_changes_starts_the_rollback():
    tenant = after_a_promotion()
    tenant.script('GET', PROVISIONAL_ROLLBACK, rollback_preview_body())
    tenant.run_end = dict(status='READY', message='Rollback completed')
    body = dict(unlockEnvironmentsAfterPromotion=False, promoter='ops')
    preview, rollback = promotions(tenant).rollback_after_preview(body=body, promotion_id=OURS)
    assert tenant.writes == [('POST', s.ROLLBACK_PATH, body)]  # one rollback, no dry run flag, no promotion
    assert preview['report']['report'] == CHANGES and preview['dry_run'] is True
    assert (rollback['changed'], rollback['dry_run'], rollback['attached']) == (True, False, False)
    assert rollback['verdict'].ok and 'rollback finished: Rollback completed' in rollback['verdict'].message
    assert rollback['report']['reportId'] == 'report-2' and rollback['report']['type'] == 'rollback'
    # The preview was read before the rollback was started.
    preview_at = tenant.calls.index(('GET', PROVISIONAL_ROLLBACK, None))
    assert preview_at < tenant.calls.index(('POST', s.ROLLBACK_PATH, body))


def test_an_empty_provisional_rollback_report_is_rolled_back_anyway_without_skip_if_unchanged():
    tenant = after_a_promotion()
    tenant.script('GET', PROVISIONAL_ROLLBACK, rollback_preview_body({}))
    preview, rollback = promotions(tenant).rollback_after_preview(promotion_id=OURS, skip_if_unchanged=False)
    assert preview['report']['report'] == {} and len(rollback_calls(tenant)) == 1 and rollback['verdict'].ok


def test_a_rollback_running_under_the_lock_is_attached_to_without_a_preview():
    tenant = after_a_promotion()
    tenant.running(kind='rollback', seconds=40)
    preview, rollback = promotions(tenant).rollback_after_preview(promotion_id=OURS)
    assert preview is None and tenant.writes == []
    assert tenant.count('GET', PROVISIONAL_ROLLBACK) == 0
    assert (rollback['attached'], rollback['dry_run'], rollback['changed']) == (True, False, True) and rollback['verdict'].ok


def test_a_rollback_already_finished_under_the_lock_is_reported_without_a_preview():
    tenant = locked(status=dict(COMPLETED, promotionId=OURS, type='rollback'), reports=[report(), report(2, kind='rollback')])
    preview, rollback = promotions(tenant).rollback_after_preview(promotion_id=OURS)
    assert preview is None and tenant.writes == [] and tenant.count('GET', PROVISIONAL_ROLLBACK) == 0
    assert rollback['changed'] is False and 'had already finished' in rollback['verdict'].message


@pytest.mark.parametrize('shape', ['seed', 'bare'])
def test_a_promotion_finished_under_the_lock_is_not_taken_for_a_finished_rollback(shape):
    tenant = locked(status=dict(COMPLETED, promotionId=OURS), reports=[report(dry=False, shape=shape)])
    tenant.script('GET', PROVISIONAL_ROLLBACK, rollback_preview_body())
    preview, rollback = promotions(tenant).rollback_after_preview(promotion_id=OURS)
    assert preview is not None and preview['report']['report'] == CHANGES
    assert len(rollback_calls(tenant)) == 1 and rollback['changed'] is True


def test_the_lock_of_the_preview_is_read_when_none_is_given():
    tenant = after_a_promotion()
    tenant.script('GET', PROVISIONAL_ROLLBACK, rollback_preview_body({}))
    preview, rollback = promotions(tenant).rollback_after_preview()
    assert rollback is None and preview['promotion_id'] == OURS


def test_rollback_preview_changes_nothing_and_says_what_a_rollback_would_revert():
    tenant = after_a_promotion()
    tenant.script('GET', PROVISIONAL_ROLLBACK, rollback_preview_body())
    preview = promotions(tenant).rollback_preview(OURS)
    assert tenant.writes == [] and [call[1] for call in tenant.calls] == [s.PROMOTE_PATH, PROVISIONAL_ROLLBACK]
    assert preview == dict(changed=False, promotion_id=OURS, status=preview['status'], verdict=None, history=[],
                           report=rollback_preview_body(), attached=False, dry_run=True)


# The progress lines of a step's waits.
def reporting(tenant, lines):
    """``promotions(tenant)`` that hands its progress lines to ``lines``."""
    quiet = promotions(tenant)
    return s.Promotions(tenant, sleep=tenant.sleep, waiter_factory=quiet.waiter_factory, progress=lines.append)


def with_phases(tenant):
    """Each run started goes through the tenant's phases: 'Prepare config', then 'Promote configuration' after 10 s."""
    def start(method, path, body):
        answer = tenant._model(method, path, body)
        tenant.at(10, lambda: tenant.status.update(message='Promote configuration'))
        tenant.script(method, path, start)
        return answer
    return start


def test_the_lines_of_a_dry_run_then_the_promotion_name_each_run_and_the_tenants_phases():
    tenant = locked()
    tenant.script('POST', s.PROMOTE_PATH, with_phases(tenant))
    lines = []
    dry, real = reporting(tenant, lines).promote_after_dry_run(promotion_id=OURS)
    assert dry['verdict'].ok and real['verdict'].ok and len(promote_calls(tenant)) == 2
    # One line at each phase, with the seconds since the run's wait began; the end is the result, not a line.
    assert lines == ['the dry run: RUNNING: Prepare config (0 s)', 'the dry run: RUNNING: Promote configuration (10 s)',
                     'the promotion: RUNNING: Prepare config (0 s)', 'the promotion: RUNNING: Promote configuration (10 s)']


def test_the_lines_of_a_rollback_and_of_the_lock_waits_name_what_is_awaited():
    tenant = Tenant()
    lines = []
    service = reporting(tenant, lines)
    service.ensure_locked()
    tenant.run_end = dict(status='READY', message='Rollback completed')
    service.run('rollback', promotion_id=NEW)
    service.ensure_unlocked(promotion_id=NEW)
    assert lines == ['waiting for the lock: lock locking (Environment lock in progress) (0 s)',
                     'the rollback: RUNNING: Prepare config (0 s)',
                     'waiting for the unlock: lock unlocking (Environment unlock in progress) (0 s)']


def refused_until(tenant, seconds, error):
    """An answer that refuses a request with ``error`` until the tenant's clock reaches ``seconds``, then carries it out."""
    def answer(method, path, body):
        if tenant.now < seconds:
            tenant.script(method, path, answer)
            raise error
        return tenant._model(method, path, body)
    return answer


def test_a_lock_refused_while_the_lock_reads_free_is_waited_out_with_a_line_every_half_minute():
    """The vendor's maintenance lock: the lock reads free, the lock request is refused until it ends (here after
    75 s). The pauses between the requests say why the task waits, at once and then every PROGRESS_EVERY seconds."""
    tenant = Tenant()
    tenant.script('POST', s.LOCK_PATH, refused_until(tenant, 75, api_error(409, 'Environment is locked by ForgeRock for maintenance. Retry later.')))
    lines = []
    result = reporting(tenant, lines).ensure_locked(wait_for_release=True)
    assert result['promotion_id'] == NEW
    paused = [line for line in lines if line.startswith('waiting for release of the lock: the tenant refused the lock')]
    assert paused and paused[0] == ('waiting for release of the lock: the tenant refused the lock (Environment is locked by '
                                    'ForgeRock for maintenance. Retry later.) (0 s)')
    seconds = [float(line.rsplit('(', 1)[1].split(' s)')[0]) for line in paused]
    assert len(paused) == 3 and all(later - earlier >= PROGRESS_EVERY for earlier, later in zip(seconds, seconds[1:]))


def test_a_lock_refused_for_longer_than_lock_timeout_says_why_it_waited():
    tenant = Tenant()
    tenant.script('POST', s.LOCK_PATH, refused_until(tenant, float('inf'), api_error(409, 'Locked for maintenance')))
    error = failure(lambda: promotions(tenant).ensure_locked(wait_for_release=True, wait_timeout=60))
    assert error.message.startswith('Timed out after 60 s waiting for release of the lock: the tenant refused the lock '
                                    '(Locked for maintenance).')


def test_a_run_attached_to_says_so_in_its_lines():
    tenant = locked()
    tenant.running(seconds=40)
    lines = []
    reporting(tenant, lines).run(promotion_id=OURS)
    assert lines and all(line.startswith('attached to the promotion: RUNNING: Promote configuration (') for line in lines)


def test_without_progress_the_steps_wait_as_before():
    tenant = locked()
    service = promotions(tenant)
    assert service.progress is None
    dry, real = service.promote_after_dry_run(promotion_id=OURS)
    assert dry['verdict'].ok and real['changed'] is True


# unlock_after_run: the status of a run's result, or of a failure, as its word (Status.fields).
@pytest.mark.parametrize('run_result', [
    dict(status='RUNNING', blocking_error=False),
    dict(states.Status(dict(status='RUNNING', message='Prepare config')).fields(), history=[]),
    dict(status='ERROR', blocking_error=True),
    dict(states.Status(dict(status='ERROR', message='Failed to promote config', blockingError=True)).fields(), history=[]),
    dict(status='READY', blocking_error=False, blocked=True),
    dict(status='READY', blocking_error=False, run_going=True),
], ids=['running', 'running as a failure gives it', 'blocking error', 'blocking error as a failure gives it', 'blocked', 'run going'])
def test_no_unlock_after_a_run_that_goes_on_or_is_blocked(tmp_path, run_result):
    path = record_file(tmp_path)
    tenant = locked()
    service = promotions(tenant, record=record_at(path))
    kept = service.unlock_after_run(OURS, run_result)
    assert kept['lock_released'] is False and 'unlock_error' not in kept and OURS in kept['next_step']
    assert kept['lock_kept'] == ('running' if 'RUNNING' in str(run_result) or run_result.get('run_going') else 'blocked')
    assert tenant.writes == [] and tenant.lock == 'locked'
    assert recorded(path)['promotion_id'] == OURS and service.held == OURS  # kept, and named by a failure


@pytest.mark.parametrize('run_result', [
    dict(status='READY', blocking_error=False),
    dict(status='ERROR', message='Missing ESVs', blocking_error=False, missing_esvs=['esv.a'], encrypted_secrets=[]),
    dict(release_check=dict(upgrade=True, skipped=False), real_run=False),
], ids=['ready', 'failed on its own', 'refused before the run'])
def test_unlock_after_a_run_that_ended_releases_the_lock_and_its_record(tmp_path, run_result):
    path = record_file(tmp_path)
    tenant = locked()
    service = promotions(tenant, record=record_at(path))
    assert service.unlock_after_run(OURS, run_result) == dict(lock_released=True)
    assert tenant.writes == [('DELETE', '%s/%s' % (s.LOCK_PATH, OURS), None)] and tenant.lock == 'unlocked'
    assert not (tmp_path / 'staging.lock.json').exists()
    assert service.held == OURS


def test_unlock_after_a_run_the_status_read_too_early_is_refused_while_it_goes_on_and_kept(tmp_path):
    """The run's result read READY, but a run goes on under the lock: the refusal says why, and the lock and its
    record stay."""
    path = record_file(tmp_path)
    tenant = locked()
    tenant.running(seconds=600)
    kept = promotions(tenant, record=record_at(path)).unlock_after_run(OURS, dict(status='READY', blocking_error=False))
    assert (kept['lock_released'], kept['lock_kept'], kept['blocked']) == (False, 'running', False) and 'unlock_error' not in kept
    assert OURS in kept['next_step'] and tenant.lock == 'locked' and recorded(path)['promotion_id'] == OURS


def test_unlock_after_a_run_refused_by_a_blocking_error_keeps_the_lock_as_blocked(tmp_path):
    tenant = locked(status=BLOCKING)
    kept = promotions(tenant, record=record_at(record_file(tmp_path))).unlock_after_run(OURS, dict(status='READY'))
    assert (kept['lock_released'], kept['lock_kept'], kept['blocked']) == (False, 'blocked', True)
    assert len(tenant.writes) == 1 and tenant.lock == 'locked'


def test_unlock_after_a_run_whose_lock_another_promotion_holds_now_forgets_the_record(tmp_path):
    """The tenant released ours after the run and another promotion locked since: nothing of ours is left to release."""
    path = record_file(tmp_path)
    tenant = locked(holder=THEIRS)
    assert promotions(tenant, record=record_at(path)).unlock_after_run(OURS, dict(status='READY')) == dict(lock_released=True)
    assert tenant.writes == [] and tenant.holder == THEIRS and not (tmp_path / 'staging.lock.json').exists()


def test_unlock_after_a_run_that_fails_otherwise_tells_the_error_and_keeps_the_record(tmp_path):
    path = record_file(tmp_path)
    tenant = locked()
    tenant.unlock_ends = 'error'
    result = promotions(tenant, record=record_at(path)).unlock_after_run(OURS, dict(status='READY'), lock_timeout=60)
    assert (result['lock_released'], result['blocked']) == (False, False) and 'Unlocking did not complete' in result['unlock_error']
    assert recorded(path)['promotion_id'] == OURS


def test_a_run_started_is_noted_in_the_lock_record(tmp_path):
    """The seed's statuses and reports name no type: the record tells a rerun what ran under the lock."""
    path = record_file(tmp_path)
    tenant = locked()
    tenant.report_shape = 'seed'
    promotions(tenant, record=record_at(path)).run('rollback', promotion_id=OURS)
    assert recorded(path)['run'] == dict(kind='rollback', dry_run=False)
    promotions(tenant, record=record_at(path)).run(dry_run=True, promotion_id=OURS)
    assert recorded(path)['run'] == dict(kind='promotion', dry_run=True)


def test_the_run_the_record_notes_tells_a_finished_rollback_from_a_promotion(tmp_path):
    """A seed-shaped report and an untyped status: only the record says the real run under the lock was a rollback."""
    path = record_file(tmp_path)
    with open(path, 'w', encoding='utf-8') as stream:
        json.dump(dict(promotion_id=OURS, tenant_url=URL, transaction_id='txn-old', run=dict(kind='rollback', dry_run=False)), stream)
    tenant = locked(status=dict(COMPLETED, promotionId=OURS), reports=[report(dry=False, shape='seed')])
    service = promotions(tenant, record=record_at(path))
    assert service.real_run_finished_under(OURS, kind='rollback') is True
    assert service.real_run_finished_under(OURS, kind='promotion') is False
    assert promotions(tenant).real_run_finished_under(OURS, kind='rollback') is False  # no record: nobody can tell
