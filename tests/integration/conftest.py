# -*- coding: utf-8 -*-
"""Integration test fixtures: a real simulator process, and real ansible-playbook runs against it."""

from __future__ import annotations

import pytest

from tests.simulator.control import Simulator
from tests.integration.support import run_playbook

# Fast phases: the tests wait for the simulator's state machines, not for real minutes.
FAST = ['--speed', '20']


@pytest.fixture(scope='module')
def simulator(tmp_path_factory):
    """One simulator per test module, with fast phases; tests use tenants of their own to stay apart."""
    with Simulator.start(tmp_path_factory.mktemp('simulator'), scenario='default', tenants=16, extra_args=FAST) as sim:
        yield sim


@pytest.fixture
def playbook(tmp_path):
    def run(text, **kwargs):
        return run_playbook(text, tmp_path, **kwargs)
    return run
