# -*- coding: utf-8 -*-
"""What lock states and run statuses mean, the verdict on a finished run, why a lock stays after a run, and how the
waits are paced."""

from __future__ import annotations

import pytest

from ansible_collections.idcloud.promotions.plugins.module_utils import _states as p
from ansible_collections.idcloud.promotions.plugins.module_utils._waiter import PROGRESS_EVERY, WaitTimeout, Waiter, poll_delay, progress_text

OURS = '8acd3a87-2272-450f-a3b3-1eb222108740'
THEIRS = '791eb03a-7ec1-42ae-ae84-ed142cf52688'


def lock(result, promotion_id=None, description=''):
    body = {'result': result, 'description': description}
    if promotion_id:
        body.update(promotionId=promotion_id, lowerEnv={'state': result, 'promotionId': promotion_id},
                    upperEnv={'state': result, 'promotionId': promotion_id})
    return p.LockState(body)


def status(state, message='', **extra):
    return p.Status(dict(status=state, message=message, **extra))


def test_lock_state_takes_the_id_from_the_envs_when_the_top_level_lacks_it():
    state = p.LockState({'result': 'locking', 'lowerEnv': {'state': 'locking', 'promotionId': OURS}})
    assert state.promotion_id == OURS
    assert state.held_by(OURS)
    assert not state.settled


def test_lock_state_unlocked_has_no_holder():
    state = lock('unlocked')
    assert state.promotion_id is None and state.settled and not state.held_by(OURS)


@pytest.mark.parametrize('state, ours, expected', [
    (lock('unlocked'), None, p.LOCK),
    (lock('unlocked'), OURS, p.LOCK),
    (lock('locked', OURS), OURS, p.DONE),
    (lock('locking', OURS), OURS, p.WAIT),
    (lock('locked', THEIRS), OURS, p.HELD),
    (lock('locked', THEIRS), None, p.HELD),
    (lock('locked'), None, p.HELD),
    (lock('unlocking', THEIRS), None, p.WAIT),
    (lock('error', description='boom'), None, p.FAIL),
])
def test_plan_lock(state, ours, expected):
    assert p.plan_lock(state, ours) == expected


@pytest.mark.parametrize('state, ours, force, expected', [
    (lock('unlocked'), OURS, False, p.DONE),
    (lock('locked', OURS), OURS, False, p.UNLOCK),
    (lock('locking', OURS), OURS, False, p.WAIT),
    (lock('unlocking', OURS), OURS, False, p.WAIT),
    (lock('locked', THEIRS), OURS, False, p.HELD),
    (lock('locked', THEIRS), None, False, p.HELD),
    (lock('locked', THEIRS), OURS, True, p.UNLOCK),
    (lock('locked', THEIRS), None, True, p.UNLOCK),
    # A lock without a promotion id is the vendor's maintenance lock: never released, force or not.
    (lock('locked'), None, True, p.HELD),
    (lock('error'), OURS, True, p.FAIL),
])
def test_plan_unlock(state, ours, force, expected):
    assert p.plan_unlock(state, ours, force) == expected


def test_held_messages_name_the_holder_and_the_way_out():
    text = p.held_message(lock('locked', THEIRS), OURS)
    assert THEIRS in text and 'wait_for_release' in text and 'force=true' in text
    assert 'maintenance' in p.held_message(lock('locked'))
    assert 'force: true' in p.held_message(lock('locked', THEIRS), action='unlock')


def test_holder_evidence_keeps_only_what_was_made_under_the_lock_held():
    listing = [dict(reportId='r1', promotionId='old', dryRun=False, type='promotion', createdDate='2026-01-01T10:00:00Z'),
               dict(reportId='r2', promotionId=THEIRS, dryRun=True, type='promotion', createdDate='2026-01-05T10:00:41Z'),
               dict(reportId='r3', promotionId=THEIRS, createdDate='2026-01-05T10:02:00Z')]
    evidence = p.holder_evidence(THEIRS, status('READY', 'Promotion completed', promotionId=THEIRS, type='promotion'), listing)
    assert [item['report_id'] for item in evidence['reports']] == ['r2', 'r3'] and evidence['run']['status'] == 'READY'
    text = p.describe_holder(evidence)
    assert text == ("Under it the tenant shows a dry run's report (2026-01-05T10:00:41Z); a run's report (2026-01-05T10:02:00Z); "
                    "its last run READY (Promotion completed).")
    # The status of a run under another lock, or of none, is not evidence of this one.
    assert p.holder_evidence(THEIRS, status('READY', 'Environment ready', promotionId=OURS), [])['run'] is None
    assert p.describe_holder(p.holder_evidence(THEIRS, status('UNLOCKED', ''), [])) == 'Under it the tenant shows no run and no report yet.'
    assert p.describe_holder(None) == ''


@pytest.mark.parametrize('state, expected', [
    (lock('locked', THEIRS), 'force=true'),
    (lock('locking', THEIRS), THEIRS),
    (lock('locked'), 'maintenance lock'),
    (lock('unlocked'), 'wait_for_release'),
])
def test_conflict_message_comes_from_the_lock_state_not_the_wording(state, expected):
    text = p.conflict_message('Any wording at all.', state)
    assert text.startswith('Any wording at all. ') and expected in text and '..' not in text


def test_status_reads_in_progress_as_running_and_lists():
    state = status('IN_PROGRESS', 'Promote configuration', type='rollback')
    assert state.running and state.type == 'rollback'
    assert status('ERROR', 'Missing ESVs', missingESVs=['email.from']).missing_esvs == ['email.from']
    assert status('READY', 'Promotion completed').type is None  # the seed's statuses carry no type


def test_same_state_compares_status_message_and_kind_not_time():
    first = status('READY', 'Promotion completed', timeStamp='2022-04-19T17:40:29Z')
    assert first.same_state(status('READY', 'Promotion completed', timeStamp='2022-04-19T17:50:00Z'))
    assert not first.same_state(status('READY', 'Promotion completed (no change)'))
    assert not first.same_state(status('READY', 'Promotion completed', type='rollback'))
    assert not first.same_state(None)


@pytest.mark.parametrize('state, kind, lock_state, ours, expected', [
    (status('READY', 'Environment ready for promotion'), 'promotion', lock('locked', OURS), OURS, p.START),
    (status('READY', 'Promotion completed'), 'promotion', lock('locked', OURS), None, p.START),
    (status('ERROR', 'Missing ESVs', missingESVs=['a']), 'promotion', lock('locked', OURS), OURS, p.START),
    (status('RUNNING', 'Prepare config', promotionId=OURS, type='promotion'), 'promotion', lock('locked', OURS), OURS, p.ATTACH),
    (status('IN_PROGRESS', 'Prepare config', type='rollback'), 'rollback', lock('locked', OURS), OURS, p.ATTACH),
    (status('RUNNING', 'Prepare config', type='rollback'), 'promotion', lock('locked', OURS), OURS, p.FAIL),
    (status('ERROR', 'Failed to promote config', blockingError=True), 'promotion', lock('locked', OURS), OURS, p.FAIL),
    (status('UNLOCKED', 'Environment unlocked'), 'promotion', lock('unlocked'), None, p.FAIL),
    (status('READY'), 'promotion', lock('locked', THEIRS), OURS, p.FAIL),
    (status('READY'), 'promotion', lock('locking', OURS), OURS, p.FAIL),
])
def test_plan_run(state, kind, lock_state, ours, expected):
    decision, why = p.plan_run(state, kind, lock_state, ours)
    assert decision == expected
    assert (why is None) == (expected != p.FAIL)


def test_plan_run_reasons_say_what_to_do():
    _decision, why = p.plan_run(status('UNLOCKED'), 'promotion', lock('unlocked'), None)
    assert 'promotion_lock' in why
    _decision, why = p.plan_run(status('ERROR', 'Failed to promote config', blockingError=True), 'promotion',
                                lock('locked', OURS), OURS)
    assert 'support ticket' in why and OURS in why


@pytest.mark.parametrize('state, dry_run, report_empty, ok, changed', [
    (status('READY', 'Promotion completed'), False, False, True, True),
    (status('READY', 'Promotion completed'), False, None, True, True),
    (status('READY', 'Promotion completed (no change)'), False, True, True, False),
    (status('READY', 'Promotion completed'), False, True, True, False),
    (status('READY', 'Promotion completed'), True, False, True, False),
    (status('ERROR', 'Missing ESVs', missingESVs=['email.from']), True, None, False, False),
])
def test_verdict_changed_only_for_real_changes(state, dry_run, report_empty, ok, changed):
    verdict = p.Verdict(state, 'promotion', dry_run, report_empty)
    assert (verdict.ok, verdict.changed) == (ok, changed)


def test_verdict_messages_name_cause_and_next_step():
    missing = p.Verdict(status('ERROR', 'Missing ESVs', missingESVs=['email.from', 'esv.x']), 'promotion', True)
    assert 'email.from, esv.x' in missing.message and 'dry run' in missing.message
    secret = '* am/services/realm/root-alpha/x.json:10'
    encrypted = p.Verdict(status('ERROR', 'Found encrypted values', encryptedSecrets=[secret]), 'promotion', False)
    assert secret in encrypted.message and 'ignore_encrypted_secrets' in encrypted.message
    blocking = p.Verdict(status('ERROR', 'Failed to promote config', blockingError=True, promotionId=OURS), 'promotion', False)
    assert 'support ticket' in blocking.message and OURS in blocking.message
    other = p.Verdict(status('ERROR', 'Something else'), 'rollback', False)
    assert 'rollback' in other.message and 'Something else' in other.message


# Status.fields: the status as a task's result gives it, on success and on failure alike.
def test_status_fields_are_the_status_as_its_word_and_its_gates():
    read = status('ERROR', 'Failed to promote config', blockingError=True, missingESVs=['esv.a'], encryptedSecrets=['x.json:1'],
                  promotionId=OURS, type='promotion', timeStamp='2022-04-19T17:01:05Z')
    assert read.fields() == dict(status='ERROR', message='Failed to promote config', blocking_error=True, missing_esvs=['esv.a'],
                                 encrypted_secrets=['x.json:1'])
    # The lock, the kind and the time are holder evidence (as_dict), not a task's status.
    assert {'promotion_id', 'type', 'timestamp'} <= set(read.as_dict()) and not {'promotion_id', 'type', 'timestamp'} & set(read.fields())


def test_status_fields_fill_empty_lists_and_read_in_progress_as_running():
    assert status('IN_PROGRESS', 'Prepare config').fields() == dict(status='RUNNING', message='Prepare config', blocking_error=False,
                                                                    missing_esvs=[], encrypted_secrets=[])


# lock_kept: from a task's result or failure, in the one flat shape.
@pytest.mark.parametrize('result, kept', [
    (dict(status='READY', blocking_error=False), None),
    (dict(status='ERROR', message='Missing ESVs', blocking_error=False, missing_esvs=['esv.a']), None),
    (dict(status='ERROR', blocking_error=True), p.KEPT_BLOCKED),
    (dict(status='READY', blocked=True), p.KEPT_BLOCKED),
    (dict(status='RUNNING', blocking_error=False), p.KEPT_RUNNING),
    (dict(status='READY', run_going=True), p.KEPT_RUNNING),
    (dict(lock=dict(result='locking', promotionId=OURS)), p.KEPT_LOCKING),
    (dict(lock=dict(result='unlocking', promotionId=OURS)), p.KEPT_LOCKING),
    (dict(lock=dict(result='error', promotionId=OURS)), p.KEPT_ERROR),
    (dict(lock=dict(result='locked', promotionId=OURS)), None),
    (dict(release_check=dict(upgrade=True), real_run=False), None),
], ids=['ready', 'failed on its own', 'blocking error', 'blocked', 'running', 'run going', 'locking', 'unlocking', 'lock in error',
        'locked', 'refused before any run'])
def test_lock_kept_says_why_the_lock_stays_from_the_flat_result(result, kept):
    assert p.lock_kept(result) == kept
    if kept:
        assert OURS in p.kept_next_step(kept, OURS)


def test_poll_delay_starts_fast_and_is_capped():
    assert poll_delay(0) == 0.25
    assert poll_delay(30) == pytest.approx(3.0)
    assert poll_delay(10000) == 45.0


def test_poll_delay_spaces_the_looks_of_a_long_wait_whatever_its_state_does():
    # A state just entered, early in a wait: looked at again at once.
    assert poll_delay(0, 10) == 0.25
    # The same state change after ten minutes of waiting: a fifth of the time waited, within the cap.
    assert poll_delay(0, 100) == pytest.approx(20.0)
    assert poll_delay(0, 600) == 45.0
    # A long state in a long wait: the larger of the two.
    assert poll_delay(300, 100) == pytest.approx(30.0)


def test_the_looks_of_a_ten_minute_promotion_stay_few():
    # The field profile's real run: prepare 60 s, promote 120 s, restart 420 s; a look every poll_delay.
    ends, now, looks, entered, state = [60, 180, 600], 0.0, 0, 0.0, 0
    while now < ends[-1]:
        looks += 1
        current = next(index for index, end in enumerate(ends) if now < end)
        if current != state:
            state, entered = current, now
        now += poll_delay(now - entered, now)
    assert looks <= 60


class FakeTime:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_waiter_records_each_state_once_and_stops_on_done():
    fake = FakeTime()
    states = iter(['locking'] * 5 + ['locked'])
    waiter = Waiter(60, clock=fake.clock, sleep=fake.sleep, wall=lambda: 0)
    value, elapsed = waiter.until(lambda: next(states), lambda state: state == 'locked', describe=lambda s: {'state': s})
    assert value == 'locked'
    assert [entry['state'] for entry in waiter.history] == ['locking', 'locked']
    assert len(fake.sleeps) == 5 and elapsed == pytest.approx(sum(fake.sleeps))


def test_waiter_ten_minute_wait_costs_tens_of_reads_and_little_lag():
    fake = FakeTime()
    reads = []

    def read():
        reads.append(fake.now)
        return 'done' if fake.now >= 600 else 'running'

    waiter = Waiter(3600, clock=fake.clock, sleep=fake.sleep)
    _value, elapsed = waiter.until(read, lambda state: state == 'done')
    assert 10 <= len(reads) <= 60
    # The lag after the end stays within a tenth of the wait (a look at least every 45 s).
    assert elapsed - 600 <= 60


def test_waiter_times_out_with_the_last_state_and_never_sleeps_past_the_deadline():
    fake = FakeTime()
    waiter = Waiter(5, clock=fake.clock, sleep=fake.sleep)
    with pytest.raises(WaitTimeout) as caught:
        waiter.until(lambda: 'locking', lambda state: False)
    assert caught.value.last == 'locking'
    assert fake.now == pytest.approx(5)


def test_waits_of_one_waiter_share_its_deadline():
    fake = FakeTime()
    waiter = Waiter(10, clock=fake.clock, sleep=fake.sleep)
    fake.now = 8
    with pytest.raises(WaitTimeout):
        waiter.until(lambda: 'locking', lambda state: False)
    assert fake.now == pytest.approx(10)
    with pytest.raises(WaitTimeout):
        waiter.pause(1)


class Busy(Exception):
    pass


def test_waiter_sits_out_tolerated_failures_until_the_deadline():
    fake = FakeTime()
    answers = iter([Busy(), Busy(), 'RUNNING', Busy(), 'READY'])

    def read():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    waiter = Waiter(60, clock=fake.clock, sleep=fake.sleep)
    value, _elapsed = waiter.until(read, lambda state: state == 'READY', tolerate=lambda exc: isinstance(exc, Busy))
    assert value == 'READY' and len(waiter.history) == 2

    def always_busy():
        raise Busy()

    stuck = Waiter(3, clock=fake.clock, sleep=fake.sleep)
    with pytest.raises(WaitTimeout) as caught:
        stuck.until(always_busy, lambda state: True, tolerate=lambda exc: isinstance(exc, Busy))
    assert caught.value.last is None and isinstance(caught.value.error, Busy)
    with pytest.raises(ValueError):
        Waiter(3, clock=fake.clock, sleep=fake.sleep).until(lambda: int('x'), lambda state: True)


def report(kind='promotion', dry_run=False, promotion_id=OURS):
    return {'reportId': 'r1', 'promotionId': promotion_id, 'type': kind, 'dryRun': dry_run}


@pytest.mark.parametrize('kind, last, dry_run, expected', [
    # The same real run already finished under this lock: a rerun starts nothing.
    ('promotion', report(), False, p.COMPLETED),
    ('rollback', report('rollback'), False, p.COMPLETED),
    # A dry run may always run again; so may a real run after a dry run, or after another lock's run.
    ('promotion', report(), True, p.START),
    ('promotion', report(dry_run=True), False, p.START),
    ('promotion', report(promotion_id=THEIRS), False, p.START),
    ('rollback', report(), False, p.START),
    ('promotion', report('rollback'), False, p.START),
    ('promotion', None, False, p.START),
])
def test_a_real_run_finished_under_our_lock_is_not_started_again(kind, last, dry_run, expected):
    done = status('READY', 'Promotion completed', promotionId=OURS)
    last_dry = None if last is None else last['dryRun']
    assert p.plan_run(done, kind, lock('locked', OURS), OURS, dry_run, last, last_dry) == (expected, None)


def seed_report(dry_run):
    """The seed guide's report body: no dryRun, no type; only its name says what ran."""
    return {'createdDate': '2022-04-19T17:32:05Z', 'promotionId': OURS, 'report': {}, 'reportId': 'r1',
            'reportName': 'Report_2022-04-19T17-32+00Z_dryrun=%s_%s' % (str(dry_run).lower(), OURS)}


@pytest.mark.parametrize('dry_run, kind, expected', [(True, 'promotion', p.START), (False, 'promotion', p.COMPLETED),
                                                     (None, 'promotion', p.START), (False, None, p.START),
                                                     (False, 'rollback', p.START)])
def test_a_seed_shaped_report_is_placed_by_what_is_known_of_it(dry_run, kind, expected):
    # None: nothing tells whether the report is a dry run's, so no promotion is assumed to have happened. The seed's
    # report has no type either: only the status's type tells a promotion's report from a rollback's.
    done = status('READY', 'Promotion completed', promotionId=OURS, **({'type': kind} if kind else {}))
    assert p.plan_run(done, 'promotion', lock('locked', OURS), OURS, False, seed_report(True), dry_run) == (expected, None)


def test_a_failed_real_run_may_be_started_again_under_the_same_lock():
    failed = status('ERROR', 'Found encrypted values in the AM/IDM configuration', encryptedSecrets=['x'])
    assert p.plan_run(failed, 'promotion', lock('locked', OURS), OURS, False, report(), False) == (p.START, None)


def test_a_running_status_without_type_is_not_taken_for_either_kind():
    # The seed's statuses name no type: a rollback going on looks like a promotion, so neither attaches to it.
    running = status('RUNNING', 'Promote configuration', promotionId=OURS)
    for kind in ('promotion', 'rollback'):
        decision, why = p.plan_run(running, kind, lock('locked', OURS), OURS)
        assert decision == p.FAIL and 'does not say whether it is a promotion or a rollback' in why


@pytest.mark.parametrize('upper, lower, expected', [
    ({'currentVersion': '2025.8.2'}, {'currentVersion': '2025.9.0'}, True),  # a deferred upgrade would be taken along
    ({'currentVersion': '2025.9.0'}, {'currentVersion': '2025.9.0'}, False),
    ({'currentVersion': '2025.9.0'}, {}, None),  # one environment does not say: unknown, not refused
    (None, {'currentVersion': '2025.9.0'}, None),
])
def test_release_upgrade(upper, lower, expected):
    assert p.release_upgrade(upper, lower) is expected


def test_release_upgrade_message_names_both_releases_and_the_way_out():
    message = p.release_upgrade_message(dict(current_version='2025.8.2', lower_current_version='2025.9.0',
                                             next_upgrade='2026-12-01T02:00:00Z'))
    assert '2025.9.0' in message and '2025.8.2' in message and '2026-12-01T02:00:00Z' in message
    assert 'allow_release_upgrade' in message


# The Waiter's progress lines.
def status_waiter(fake, lines, timeout=3600):
    return Waiter(timeout, clock=fake.clock, sleep=fake.sleep, wall=lambda: 0, progress=lines.append if lines is not None else None)


def scripted(fake, phases):
    """A read that answers each (status, message) until its end time, then the last one."""
    def read():
        for end, state in phases:
            if fake.now < end:
                return state
        return phases[-1][1]
    return read


def wait_for_ready(waiter, read, topic='the promotion'):
    return waiter.until(read, lambda state: state[0] == 'READY', key=lambda state: state,
                        describe=lambda state: dict(status=state[0], message=state[1]), topic=topic)


def test_a_progress_line_at_each_new_state_but_the_final_one():
    fake, lines = FakeTime(), []
    read = scripted(fake, [(5, ('RUNNING', 'Prepare config')), (12, ('RUNNING', 'Promote configuration')),
                           (float('inf'), ('READY', 'Promotion completed'))])
    value, _elapsed = wait_for_ready(status_waiter(fake, lines), read)
    assert value == ('READY', 'Promotion completed')
    assert len(lines) == 2
    assert lines[0] == 'the promotion: RUNNING: Prepare config (0 s)'
    assert lines[1].startswith('the promotion: RUNNING: Promote configuration (') and '(5 s' in lines[1]
    assert not any('READY' in line or 'Promotion completed' in line for line in lines)


def test_a_state_that_lasts_gets_a_heartbeat_every_progress_every_seconds():
    fake, lines, told = FakeTime(), [], []

    def progress(line):
        lines.append(line)
        told.append(fake.now)

    read = scripted(fake, [(200, ('RUNNING', 'Restart services')), (float('inf'), ('READY', 'Promotion completed'))])
    wait_for_ready(Waiter(3600, clock=fake.clock, sleep=fake.sleep, wall=lambda: 0, progress=progress), read)
    assert lines[0] == 'the promotion: RUNNING: Restart services (0 s)'
    assert len(lines) >= 4  # 200 s in one state
    gaps = [later - earlier for earlier, later in zip(told, told[1:])]
    assert all(PROGRESS_EVERY <= gap <= PROGRESS_EVERY + 45 for gap in gaps)
    for line, at in zip(lines[1:], told[1:]):
        assert line == 'the promotion: RUNNING: Restart services (%.0f s, %.0f s in this state)' % (at, at)


def test_no_heartbeat_before_progress_every_seconds_without_change():
    fake, lines = FakeTime(), []
    read = scripted(fake, [(PROGRESS_EVERY - 5, ('RUNNING', 'Prepare config')), (float('inf'), ('READY', 'Promotion completed'))])
    wait_for_ready(status_waiter(fake, lines), read)
    assert lines == ['the promotion: RUNNING: Prepare config (0 s)']


def test_a_lock_wait_line_holds_the_lock_state_and_its_description():
    fake, lines = FakeTime(), []
    states = iter([dict(result='locking', description='Environment lock in progress')] * 3 + [dict(result='locked')])
    waiter = status_waiter(fake, lines)
    value, _elapsed = waiter.until(lambda: next(states), lambda state: state['result'] == 'locked', key=lambda state: state['result'],
                                   describe=dict, topic='waiting for the lock')
    assert value == dict(result='locked')
    assert lines == ['waiting for the lock: lock locking (Environment lock in progress) (0 s)']


def test_a_line_without_a_topic_or_a_message_says_so():
    fake, lines = FakeTime(), []
    read = scripted(fake, [(1, ('RUNNING', '')), (float('inf'), ('READY', ''))])
    wait_for_ready(status_waiter(fake, lines), read, topic='')
    assert lines == ['RUNNING: no message (0 s)']


def test_the_elapsed_seconds_are_those_of_the_waiter_across_its_waits():
    fake, lines = FakeTime(), []
    waiter = status_waiter(fake, lines)
    fake.now = 42.0
    wait_for_ready(waiter, scripted(fake, [(50, ('RUNNING', 'Prepare config')), (float('inf'), ('READY', 'done'))]))
    assert lines == ['the promotion: RUNNING: Prepare config (42 s)']


def test_no_line_while_only_tolerated_failures_come_back():
    fake, lines = FakeTime(), []

    def busy():
        raise Busy()

    with pytest.raises(WaitTimeout):
        status_waiter(fake, lines, timeout=100).until(busy, lambda state: True, tolerate=lambda exc: isinstance(exc, Busy))
    assert lines == []


def test_without_a_progress_callable_the_wait_goes_as_before():
    fake = FakeTime()
    read = scripted(fake, [(100, ('RUNNING', 'Prepare config')), (float('inf'), ('READY', 'Promotion completed'))])
    waiter = status_waiter(fake, None)
    assert waiter.progress is None
    value, elapsed = wait_for_ready(waiter, read)
    assert value[0] == 'READY' and elapsed >= 100
    assert [entry['status'] for entry in waiter.history] == ['RUNNING', 'READY']


@pytest.mark.parametrize('entry, text', [
    (dict(status='RUNNING', message='Prepare config'), 'RUNNING: Prepare config'),
    (dict(status='', message=None), 'unknown: no message'),
    (dict(result='unlocking', description='Environment unlock in progress', promotion_id=OURS),
     'lock unlocking (Environment unlock in progress)'),
    (dict(result='locked', description=''), 'lock locked'),
    (dict(), 'lock unknown'),
])
def test_progress_text_says_the_state_as_the_tenant_said_it(entry, text):
    assert progress_text(entry) == text


def test_the_lock_record_says_the_kind_where_the_tenant_does_not():
    # The seed's statuses and reports name no type: the run the record notes under the lock tells them apart.
    running = status('RUNNING', 'Promote configuration', promotionId=OURS)
    assert p.plan_run(running, 'promotion', lock('locked', OURS), OURS, noted=dict(kind='promotion', dry_run=False))[0] == p.ATTACH
    assert p.plan_run(running, 'promotion', lock('locked', OURS), OURS, noted=dict(kind='rollback', dry_run=False))[0] == p.FAIL
    done = status('READY', 'Promotion completed', promotionId=OURS)
    after_rollback = p.plan_run(done, 'promotion', lock('locked', OURS), OURS, False, seed_report(False), False,
                                dict(kind='rollback', dry_run=False))
    after_promotion = p.plan_run(done, 'promotion', lock('locked', OURS), OURS, False, seed_report(False), False,
                                 dict(kind='promotion', dry_run=False))
    assert (after_rollback[0], after_promotion[0]) == (p.START, p.COMPLETED)
