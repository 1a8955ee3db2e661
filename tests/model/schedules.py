"""Hypothesis strategies for whole schedules: the tenant before the first task, every choice the tenant makes, and the
tasks run against it (interrupted or not, rerun with or without the lock record). Each choice shrinks towards the
plain case: the first value of each ``sampled_from`` is the kind one."""

from __future__ import annotations

import tempfile
from typing import Any

from hypothesis import strategies as st

from tests.model.tenant import FAULTS, Fault, Schedule
from tests.model.world import Setup, Task, World

WRITES = ['POST /environment/promotion/lock', 'POST /environment/promotion/promote', 'POST /environment/promotion/rollback',
          'DELETE /environment/promotion/lock']
# Phases from nothing to many minutes.
DURATIONS = st.sampled_from([1.0, 0.0, 5.0, 30.0, 120.0, 600.0])
LAG = st.sampled_from([0, 1, 2, 3])
RARE = st.sampled_from([False, False, False, True])

schedules = st.builds(
    Schedule,
    report_body=st.sampled_from(['full', 'seed']),
    report_list=st.sampled_from(['full', 'seed']),
    status_type=st.booleans().map(lambda value: not value),
    entries=st.sampled_from(['objects', 'names']),
    running_word=st.sampled_from(['RUNNING', 'IN_PROGRESS']),
    dashed_dates=st.booleans(),
    start_status=st.sampled_from([202, 200]),
    previous_status_visible=st.booleans(),
    dry_run_says_no_change=RARE,
    status_lag=LAG, report_lag=LAG, reports_lag=st.booleans(), lock_lag=LAG, unlock_lag=LAG,
    prepare=DURATIONS, promote=DURATIONS, restart=DURATIONS,
    restart_blips=LAG,
    blip_kind=st.sampled_from(['error500', 'unauthorized', 'not_found', 'busy', 'lost_before']),
    lock_end=st.sampled_from(['locked', 'locked', 'locked', 'error', 'stuck']),
    # Faults on any request, and on the writes in particular (a lost answer before or after the tenant acted).
    faults=st.tuples(
        st.lists(st.builds(Fault, request=st.integers(0, 80), kind=st.sampled_from(FAULTS)), max_size=4),
        st.lists(st.builds(Fault, request=st.integers(0, 2), kind=st.sampled_from(['gateway_after', 'lost_after', 'lost_before', 'busy']),
                           on=st.sampled_from(WRITES)), max_size=2),
    ).map(lambda lists: tuple(lists[0] + lists[1])),
    token_outage=st.sampled_from([0.0, 0.0, 20.0, 120.0]),
    error_body=st.sampled_from(['seed', 'common-rest', 'promotions']),
    unauthorized_burst=st.sampled_from([(0.0, 0.0), (0.0, 0.0), (3.0, 8.0), (10.0, 70.0)]),
)

setups = st.builds(
    Setup,
    changes=st.sampled_from([1, 0, 2, 3]),
    missing_esvs=RARE, encrypted=RARE, fail_next=RARE, foreign_lock=RARE,
    maintenance=st.sampled_from([0.0, 0.0, 0.0, 0.0, 30.0, 1200.0]), foreign_for=st.sampled_from([0.0, 40.0, 2000.0]),
    service_account=st.booleans(),
)

tasks = st.builds(
    Task,
    operation=st.sampled_from(['promote', 'promote', 'rollback']),
    dry_run_only=RARE,
    check_mode=RARE,
    lock_timeout=st.sampled_from([900, 60]),
    wait_timeout=st.sampled_from([3600, 600, 60]),
    interrupt_at=st.one_of(st.none(), st.none(), st.integers(0, 900).map(float)),
    keep_record=st.booleans().map(lambda value: not value),
    unlock=RARE.map(lambda value: not value),
    resume=RARE,
    wait_for_release=RARE,
    before=st.lists(st.sampled_from(['edit_dev', 'fix_esvs', 'clear_block']), max_size=2, unique=True).map(tuple),
)

scenarios = st.tuples(setups, schedules, st.lists(tasks, min_size=1, max_size=3).map(tuple))


def play(setup: Setup, schedule: Schedule, plan: tuple[Task, ...]) -> list[str]:
    """Every task of ``plan`` run in order against one tenant; the invariants each broke."""
    with tempfile.TemporaryDirectory(prefix='model-') as workdir:
        world = World(setup, schedule, workdir)
        for task in plan:
            world.play(task)
        return world.violations


def describe(setup: Setup, schedule: Schedule, plan: tuple[Task, ...]) -> dict[str, Any]:
    """What differs from the plain case, to read a failing schedule at a glance."""
    def changed(value: Any) -> dict[str, Any]:
        plain = type(value)()
        return {key: item for key, item in vars(value).items() if getattr(plain, key) != item}
    return dict(setup=changed(setup), schedule=changed(schedule), tasks=[changed(task) for task in plan])
