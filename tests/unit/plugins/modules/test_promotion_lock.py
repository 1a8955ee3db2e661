# -*- coding: utf-8 -*-
"""promotion_lock's own functions: ``lock`` and ``unlock`` with the options as given, what they return and what becomes
of the lock record (the service's, ``Promotions.record``), against a stand-in task and a stand-in ``Promotions`` and
lock record (``support``)."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.idcloud.promotions.plugins.module_utils import _states as states
from ansible_collections.idcloud.promotions.plugins.module_utils._errors import PromotionError
from ansible_collections.idcloud.promotions.plugins.module_utils._module import PromotionTask
from ansible_collections.idcloud.promotions.plugins.modules import promotion_lock as m

from tests.unit.plugins.module_utils.test_service import NEW, OURS, THEIRS, URL, record_file
from tests.unit.plugins.modules.support import FakePromotions, FakeTask, lock_body, locked_result, module_params

RECORD = '/reports/staging/.lock.json'
DOCUMENTED = set(yaml.safe_load(m.RETURN))


def options(**params):
    return module_params(m.ARGUMENT_SPEC, **params)


def task_of(answers=None, check_mode=False, records=None, **params):
    """A promotion_lock task with these options; ``answers`` are its service's, ``records`` the lock records on disk
    (path -> record); the service has the record of O(record), as the task gives it."""
    return FakeTask(options(**params), check_mode=check_mode, upper=FakePromotions('upper', check_mode, **(answers or {})), records=records)


def unlocked_result(promotion_id, changed=True):
    """What ``Promotions.ensure_unlocked`` returns."""
    return dict(changed=changed, promotion_id=promotion_id, state='unlocked', lock=dict(result='unlocked', description='Environment unlocked'),
                history=[dict(result='unlocked', promotion_id=None, description='Environment unlocked')])


def held_by(holder):
    """What ``ensure_unlocked`` raises when another promotion (or, without a holder, the vendor) holds the lock."""
    body = lock_body(holder) if holder else dict(result='locked', description='Environment locked for maintenance')
    return PromotionError(states.held_message(states.LockState(body), OURS, action='unlock'), lock=body, holder=holder)


# lock
def test_locked_keeps_or_takes_the_lock_with_the_options_as_given():
    answer = locked_result(OURS, changed=False, resumed=True, record=dict(promotion_id=OURS, tenant_url=URL))
    task = task_of(dict(keep_or_lock=answer), promotion_id=OURS, record=RECORD, wait=False, wait_timeout=60, wait_for_release=True)
    result = m.lock(task, task.upper)
    assert task.upper.arguments('keep_or_lock') == [dict(promotion_id=OURS, wait=False, wait_timeout=60, wait_for_release=True)]
    assert task.upper.record.path == RECORD  # the service's record is that of O(record) (PromotionTask.promotions)
    assert result == answer
    record = task.upper.record
    assert (record.reads, record.written, record.forgotten) == (0, [], [])  # the service reads and writes the record


def test_locked_with_the_defaults_waits_up_to_900_s_and_fails_on_another_lock():
    task = task_of(dict(keep_or_lock=locked_result(NEW)))
    result = m.lock(task, task.upper)
    assert task.upper.arguments('keep_or_lock') == [dict(promotion_id=None, wait=True, wait_timeout=900, wait_for_release=False)]
    assert (result['promotion_id'], result['changed'], result['resumed'], result['state']) == (NEW, True, False, 'locked')


def test_the_result_of_lock_has_only_documented_fields():
    task = task_of(dict(keep_or_lock=locked_result(NEW, record=None)), record=RECORD)
    result = m.lock(task, task.upper)
    assert set(result) - {'changed'} <= DOCUMENTED
    assert {'promotion_id', 'state', 'lock', 'history', 'resumed', 'record'} <= set(result)


def test_a_lock_held_by_another_promotion_fails_as_the_service_says():
    held = PromotionError('The environments are already locked for promotion %s' % THEIRS, lock=lock_body(THEIRS), holder=THEIRS)
    task = task_of(dict(keep_or_lock=held), record=RECORD)
    with pytest.raises(PromotionError) as caught:
        m.lock(task, task.upper)
    assert caught.value is held
    assert task.upper.record.forgotten == []


# unlock
def test_unlocked_releases_the_given_lock_and_says_it_resumed_nothing():
    task = task_of(dict(ensure_unlocked=unlocked_result(OURS)), state='unlocked', promotion_id=OURS)
    result = m.unlock(task, task.upper)
    assert task.upper.arguments('ensure_unlocked') == [dict(promotion_id=OURS, force=False, wait=True, wait_timeout=900)]
    assert result == dict(unlocked_result(OURS), resumed=False)
    assert 'record' not in result
    assert (task.upper.record.reads, task.upper.record.forgotten) == (0, [])


def test_unlocked_releases_the_lock_of_the_record_and_the_record_goes():
    task = task_of(dict(ensure_unlocked=unlocked_result(OURS)), records={RECORD: dict(promotion_id=OURS, tenant_url=URL)},
                   state='unlocked', record=RECORD)
    result = m.unlock(task, task.upper)
    assert task.upper.record.reads == 1
    assert task.upper.arguments('ensure_unlocked')[0]['promotion_id'] == OURS
    assert task.upper.record.forgotten == [None] and task.upper.record.recorded is None
    assert (result['record'], result['resumed'], result['promotion_id']) == (None, False, OURS)
    assert set(result) - {'changed'} <= DOCUMENTED


def test_unlocked_the_given_lock_wins_over_the_record():
    task = task_of(dict(ensure_unlocked=unlocked_result(THEIRS)), records={RECORD: dict(promotion_id=OURS, tenant_url=URL)},
                   state='unlocked', record=RECORD, promotion_id=THEIRS)
    m.unlock(task, task.upper)
    assert task.upper.record.reads == 0
    assert task.upper.arguments('ensure_unlocked')[0]['promotion_id'] == THEIRS
    assert task.upper.record.forgotten == [None]


def test_unlocked_without_a_lock_of_its_own_passes_force_wait_and_timeout_on():
    """No promotion_id and no record on disk: only force can release a lock, which the service decides."""
    task = task_of(dict(ensure_unlocked=unlocked_result(THEIRS)), records={}, state='unlocked', record=RECORD, force=True, wait=False,
                   wait_timeout=30)
    result = m.unlock(task, task.upper)
    assert task.upper.record.reads == 1
    assert task.upper.arguments('ensure_unlocked') == [dict(promotion_id=None, force=True, wait=False, wait_timeout=30)]
    assert (result['promotion_id'], result['record']) == (THEIRS, None)


def test_our_lock_gone_and_another_in_place_the_record_goes_and_the_failure_stays():
    held = held_by(THEIRS)
    task = task_of(dict(ensure_unlocked=held), state='unlocked', record=RECORD, promotion_id=OURS)
    with pytest.raises(PromotionError) as caught:
        m.unlock(task, task.upper)
    assert caught.value is held
    assert task.upper.record.forgotten == [None]


@pytest.mark.parametrize('error, promotion_id', [
    (held_by(None), OURS),
    (PromotionError('Timed out after 900 s waiting for the unlock; the lock state is still unlocking.', lock=lock_body(OURS, 'unlocking')), OURS),
    (PromotionError('The lock state is error: Unlock failed.', lock=lock_body(OURS, 'error'), holder=OURS), OURS),
    (held_by(THEIRS), None),
], ids=['maintenance lock', 'timed out', 'ours in error', 'nothing known of ours'])
def test_a_failed_unlock_keeps_the_record_unless_ours_is_known_to_be_gone(error, promotion_id):
    records = {RECORD: dict(promotion_id=promotion_id, tenant_url=URL)} if promotion_id else {}
    task = task_of(dict(ensure_unlocked=error), records=records, state='unlocked', record=RECORD)
    with pytest.raises(PromotionError) as caught:
        m.unlock(task, task.upper)
    assert caught.value is error
    assert task.upper.record.forgotten == []


@pytest.mark.parametrize('check_mode', [False, True])
def test_the_record_on_disk_names_the_lock_released_and_is_removed_outside_check_mode(tmp_path, check_mode):
    """The service with the lock record on disk that the real task gives it (``PromotionTask.lock_record``: of its
    tenant, nothing removed in check mode)."""
    path = record_file(tmp_path)
    params = options(state='unlocked', record=path)
    upper = FakePromotions('upper', check_mode, record=PromotionTask(params, check_mode).lock_record(),
                           ensure_unlocked=unlocked_result(OURS))
    task = FakeTask(params, check_mode=check_mode, upper=upper)
    result = m.unlock(task, upper)
    assert upper.arguments('ensure_unlocked')[0]['promotion_id'] == OURS
    assert result['record'] is None
    assert os.path.exists(path) is check_mode
