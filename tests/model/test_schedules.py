"""The workflow against the model tenant: randomized schedules checked against the invariants (``world.World.check``),
and every schedule that once broke one, kept as a named regression example."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings

from tests.model.schedules import describe, play, scenarios
from tests.model.tenant import Fault, Schedule
from tests.model.world import Setup, Task

# make test runs this many schedules (about 30 s on a 2-core machine); make soak runs many more (tests/model/soak.py).
EXAMPLES = int(os.environ.get('MODEL_EXAMPLES', '150'))


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios)
def test_every_schedule_keeps_the_invariants(scenario):
    violations = play(*scenario)
    assert not violations, '%s\n%s' % ('\n'.join(violations), describe(*scenario))


# Schedules that broke an invariant, shrunk by Hypothesis, each named after what it found.
REGRESSIONS = {
}


@pytest.mark.parametrize('name', sorted(REGRESSIONS))
def test_regression(name):
    assert not play(*REGRESSIONS[name])
