"""The workflow against the model tenant: randomized schedules checked against the invariants (``world.World.check``),
and every schedule that once broke one, kept as a named regression example."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings

from tests.model.schedules import describe, play, scenarios
from tests.model.tenant import Fault, Schedule
from tests.model.world import Setup, Task

# make test runs this many schedules (about 20 s on a 2-core machine); make soak runs many more (tests/model/soak.py).
EXAMPLES = int(os.environ.get('MODEL_EXAMPLES', '300'))


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios)
def test_every_schedule_keeps_the_invariants(scenario):
    violations = play(*scenario)
    assert not violations, '%s\n%s' % ('\n'.join(violations), describe(*scenario))


LOCK = 'POST /environment/promotion/lock'
START = 'POST /environment/promotion/promote'

# Schedules that broke an invariant, each named after what it found (shrunk by Hypothesis where it found them).
REGRESSIONS = {
    # After the promotion reads READY, GET /report still shows the dry run's report: it was taken for the promotion's.
    'a report that lags the status': (Setup(changes=3), Schedule(report_lag=2), (Task(),)),
    # A dry run worded '(no change)' whose report lists changes was skipped as nothing to promote.
    'the wording against the report': (Setup(), Schedule(dry_run_says_no_change=True), (Task(),)),
    # POST /lock took the lock, its answer was lost and the lock state read 'unlocked' for a while: the lock sent again
    # was refused naming our own lock, which was then left behind, named by nothing.
    'a lost lock answer': (Setup(), Schedule(lock_lag=3, faults=(Fault(0, 'gateway_after', LOCK),)), (Task(),)),
    # Found by make soak: the same, with a lock that then ended in 'error', was not taken for the lost answer's: the
    # lock was sent again, after the tenant had shown it.
    'a lost lock answer whose lock ends in error': (
        Setup(), Schedule(lock_lag=3, lock_end='error', faults=(Fault(0, 'gateway_after', LOCK),)), (Task(),)),
    # One failed status read in the restart phase ended the wait while the promotion went on.
    'a 500 while the tenant restarts': (Setup(), Schedule(restart=120.0, restart_blips=1), (Task(),)),
    'a 401 a new token does not cure while the tenant restarts': (
        Setup(service_account=True), Schedule(restart=120.0, restart_blips=2, blip_kind='unauthorized'), (Task(),)),
    "a gateway's 404 while the tenant restarts": (Setup(), Schedule(restart=120.0, restart_blips=1, blip_kind='not_found'), (Task(),)),
    # Under the seed's shapes (no type anywhere), a promotion after a rollback under the same lock started nothing and
    # reported the rollback's report as its own.
    "a rollback's report taken for a promotion's": (
        Setup(), Schedule(report_body='seed', report_list='seed', status_type=False, entries='names'),
        (Task(unlock=False), Task(operation='rollback', unlock=False, resume=True), Task(resume=True))),
    # wait_timeout ended while the promotion ran: the lock was rightly kept, but nothing said why.
    'a lock kept for a run that goes on': (Setup(), Schedule(restart=600.0), (Task(wait_timeout=60),)),
    # A lock stuck in 'locking' was waited for by the lock step, then again by the release.
    'a lock stuck in locking': (Setup(), Schedule(lock_end='stuck'), (Task(lock_timeout=300),)),
    # The real start's answer was lost and the status still showed the dry run's end: the start was sent again, refused
    # as already running, and the task failed while the promotion went on.
    'a lost start answer with a status that lags': (
        Setup(), Schedule(status_lag=3, faults=(Fault(1, 'gateway_after', START),)), (Task(),)),
    # A lock that ended in 'error' said changed.
    'a lock that ends in error': (Setup(), Schedule(lock_end='error'), (Task(),)),
    # Found by the randomized schedules: with the previous status still shown after the start and the dry run's report
    # shown late, that report was taken for the end of the promotion, which was still preparing.
    "a late dry run's report taken for the end of the promotion": (
        Setup(), Schedule(previous_status_visible=True, status_lag=1, report_lag=2, prepare=120.0, restart=600.0,
                          faults=(Fault(3, 'lost_before'),)), (Task(),)),
    # Under the seed's shapes, a rollback still going (its task's wait_timeout ended) was attached to by the next
    # promotion task as if it were its own promotion, and reported promoted.
    'a rollback going on taken for a promotion': (
        Setup(), Schedule(report_body='seed', status_type=False, restart=600.0),
        (Task(), Task(operation='rollback', wait_timeout=600), Task())),
    # Found by make soak: a dry run over at once, its report there and the status still showing the idle state from
    # before its start: that stale status was taken for the dry run's end, and the promotion started past the gate.
    'an idle status shown late taken for the end of a dry run that failed': (
        Setup(missing_esvs=True), Schedule(status_lag=1, prepare=0.0), (Task(),)),
    # Found by make soak: a rerun that failed at once on a definite error, its resumed lock's promotion still going:
    # the release it tried was refused for that run, and the result gave that as a failed release, not as a lock kept
    # for a run that goes on.
    'a rerun that fails while its promotion goes on': (
        Setup(fail_next=True),
        Schedule(start_status=200, unlock_lag=1, promote=120.0, restart_blips=3, blip_kind='unauthorized', error_body='promotions',
                 unauthorized_burst=(3.0, 8.0), faults=(
                     Fault(29, 'busy'), Fault(62, 'unauthorized'), Fault(5, 'error500'), Fault(23, 'busy'),
                     Fault(0, 'lost_after', LOCK), Fault(1, 'lost_before', LOCK))),
        (Task(wait_timeout=60, unlock=False, wait_for_release=True),
         Task(lock_timeout=60, wait_timeout=600, interrupt_at=205.0, wait_for_release=True))),
    # Found by make soak: the promotion started, the status still showed the dry run's end, then every read failed
    # (401s) until wait_timeout: the timeout took that stale READY for the run's state and released the lock's way.
    'a timeout with no read since the start': (
        Setup(service_account=True),
        Schedule(report_body='seed', entries='names', running_word='IN_PROGRESS', start_status=200, previous_status_visible=True,
                 status_lag=1, promote=1.0, restart=600.0, restart_blips=1, faults=(Fault(28, 'error500'),), error_body='promotions',
                 unauthorized_burst=(10.0, 70.0)),
        (Task(check_mode=True, lock_timeout=60), Task(lock_timeout=60, wait_timeout=60, keep_record=False, wait_for_release=True))),
    # Found by make soak: the start's answer lost, then every read failing (401s) through the reconciling and the
    # start sent again: the task failed as if nothing ran, while the promotion went on.
    'a lost start answer and no read since': (
        Setup(changes=2),
        Schedule(report_body='seed', running_word='IN_PROGRESS', start_status=200, dry_run_says_no_change=True, status_lag=3,
                 report_lag=2, reports_lag=True, lock_lag=1, unlock_lag=1, prepare=120.0, promote=600.0, restart=600.0,
                 restart_blips=1, blip_kind='busy', error_body='promotions', unauthorized_burst=(10.0, 70.0),
                 faults=(Fault(0, 'lost_after', START), Fault(2, 'lost_before', LOCK))),
        (Task(check_mode=True, lock_timeout=60, wait_timeout=600), Task(wait_timeout=600, keep_record=False))),
    # Check mode of a dry run only, with changes to find, said nothing_to_promote.
    'check mode of a dry run only': (Setup(), Schedule(), (Task(check_mode=True, dry_run_only=True),)),
    # Check mode while a promotion of ours goes on said nothing_to_promote.
    'check mode while our promotion goes on': (
        Setup(), Schedule(restart=120.0), (Task(wait_timeout=60), Task(check_mode=True))),
}


@pytest.mark.parametrize('name', sorted(REGRESSIONS))
def test_regression(name):
    assert not play(*REGRESSIONS[name])
