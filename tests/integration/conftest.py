# -*- coding: utf-8 -*-
"""Integration test fixtures: a real simulator process, and real ansible-playbook runs against it; every process the
suite starts is marked, and a run that leaves one alive fails (naming it) and kills it; pytest-xdist hands out whole
files where a file's tests share one run, the longest first."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.simulator.control import Simulator
from tests.integration.support import MARK, SIMULATOR_ARGS, leftovers, run_playbook

RUN_KEY = pytest.StashKey[str]()
WORKER_INPUT = 'idcloud_test_run'


@pytest.fixture(scope='module')
def simulator(request, tmp_path_factory):
    """One simulator per test module, with fast phases; tests use tenants of their own to stay apart (tenant01 to
    tenant16, or to the module's TENANT_COUNT)."""
    tenants = getattr(request.module, 'TENANT_COUNT', 16)
    with Simulator.start(tmp_path_factory.mktemp('simulator'), scenario='default', tenants=tenants, extra_args=SIMULATOR_ARGS) as sim:
        yield sim


@pytest.fixture
def playbook(tmp_path):
    def run(text, **kwargs):
        return run_playbook(text, tmp_path, **kwargs)
    return run


# -- Nothing the suite starts outlives it.

def pytest_configure(config):
    workerinput = getattr(config, 'workerinput', None)
    config.stash[RUN_KEY] = (workerinput or {}).get(WORKER_INPUT) or uuid.uuid4().hex


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """pytest-xdist's controller: its workers mark their processes with the controller's run id."""
    node.workerinput[WORKER_INPUT] = node.config.stash[RUN_KEY]


@pytest.fixture(scope='session', autouse=True)
def no_process_left(request):
    """Every process this test process starts from now on inherits MARK ('<run>:<worker>'; the variable is set here,
    where tests run, and not before pytest-xdist starts its workers, which are no test's); at the end, none of them may
    be left: those alive are named (an error of the last test) and killed."""
    config = request.config
    worker = getattr(config, 'workerinput', {}).get('workerid', 'main')
    mine = '%s:%s' % (config.stash[RUN_KEY], worker)
    os.environ[MARK] = mine
    yield mine
    found = leftovers(mine)
    assert not found, 'processes this worker started were still alive at its end (now killed): %s' % found


class Leftover:  # pylint: disable=too-few-public-methods
    """A process left alive, as an entry of the terminal's statistics (counted in the closing line)."""

    def __init__(self, pid, command):
        self.pid, self.command = pid, command


def pytest_sessionfinish(session):
    """Over every worker (in pytest-xdist's controller, once they have ended): no process of the run may be left."""
    config = session.config
    if hasattr(config, 'workerinput'):
        return  # a worker: its own end was checked by no_process_left
    found = leftovers(config.stash[RUN_KEY] + ':')
    if not found:
        return
    reporter = config.pluginmanager.get_plugin('terminalreporter')
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep('!', 'processes started by this run were still alive at its end (now killed)', red=True)
        for pid, line in sorted(found.items()):
            reporter.write_line('%d %s' % (pid, line))
        reporter.stats.setdefault('leftover processes', []).extend(Leftover(pid, line) for pid, line in found.items())
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


# -- pytest-xdist: whole files where the tests share one run, the longest work first.

# Seconds a file or a test (file::name, parameters aside) takes on one worker, about (measured on the 2-core machine):
# the order in which work is handed out, longest first, so that no long one starts last. A file not listed counts
# DEFAULT_WEIGHT per test, a test not listed its share of its file's.
WEIGHTS = {
    'test_faults.py': 55, 'test_contract_matrix.py': 55, 'test_service_orders.py': 50, 'test_role_locks.py': 30,
    'test_modules_run.py': 25, 'test_role_promote.py': 18, 'test_modules_lock.py': 14, 'test_role_scopes.py': 12,
    'test_role_gates.py': 11, 'test_modules_run_dry_run_first.py': 8, 'test_role_preflight.py': 12,
    'test_ansible_runner.py::test_a_job_that_kept_no_files_is_finished_by_a_relaunch_under_its_lock': 35,
    'test_ansible_runner.py::test_credentials_injected_as_environment_variables_serve_both_environments': 17,
    'test_ansible_runner.py::test_promotion_through_ansible_runner_hands_outcomes_to_the_artifacts_and_no_secret_to_the_events': 10,
    'test_role_chains.py::test_a_chain_longer_than_the_turn_bound_still_runs_to_its_end': 28,
    'test_role_chains.py::test_six_host_chain_runs_in_order_and_does_not_wait_for_an_unrelated_slow_host': 19,
    'test_role_chains.py::test_follower_of_a_failed_host_is_skipped_and_limit_promotes_it_alone': 17,
    'test_role_chains.py::test_progress_lines_show_live': 13,
    'test_role_chains.py::test_one_fork_and_the_inventory_in_reverse_chain_order_does_not_deadlock': 12,
    'test_role_chains.py::test_dry_run_only_follower_of_a_failed_host_is_skipped_with_the_reason': 8,
    'test_role_chains.py::test_a_cycle_or_a_host_following_itself_stops_the_run_before_any_lock': 4,
    'test_ansible_runner.py::test_a_preview_job_hands_its_plans_to_the_promote_job_that_refuses_what_changed_since': 8,
    'test_role_tenants.py': 26, 'test_collection_tarball.py': 14, 'test_bad_input.py': 10, 'test_role_review.py': 40,
}
# Files whose tests read a shared run (a module fixture): one worker gets them all, or a second would make it again
# (or wait for it). The tests of the other files go one by one.
SHARED_RUNS = {'test_faults.py', 'test_contract_matrix.py', 'test_service_orders.py', 'test_modules_run.py', 'test_modules_lock.py',
               'test_modules_run_dry_run_first.py', 'test_role_locks.py', 'test_role_promote.py', 'test_role_gates.py',
               'test_role_scopes.py', 'test_role_review.py'}
DEFAULT_WEIGHT = 5.0

try:
    from xdist.scheduler import LoadScopeScheduling
except ImportError:  # pytest-xdist not installed: the hook below is never called
    LoadScopeScheduling = object


class LongestFirst(LoadScopeScheduling):
    """LoadScopeScheduling with a file as the unit of the files in SHARED_RUNS and a test as that of the others, handed
    out longest first, each when its worker is about to run out of work (not two units ahead)."""

    def _split_scope(self, nodeid):
        path = nodeid.split('::', 1)[0]
        return path if Path(path).name in SHARED_RUNS else nodeid

    def _weight(self, scope):
        path = scope.split('::', 1)[0]
        tests = sum(1 for nodeid in self.collection if nodeid.split('::', 1)[0] == path)
        whole = WEIGHTS.get(Path(path).name, DEFAULT_WEIGHT * tests)
        if scope == path:
            return whole
        return WEIGHTS.get(Path(path).name + '::' + scope.split('::', 1)[1].split('[', 1)[0], whole / max(tests, 1))

    def _assign_work_unit(self, node):
        self.workqueue.move_to_end(max(self.workqueue, key=self._weight), last=False)
        super()._assign_work_unit(node)

    def _reschedule(self, node):
        if node.shutting_down:
            return
        if not self.workqueue:
            node.shutdown()
            return
        # One test pending is one the worker holds back until it knows the next (it may be running the one before).
        if self._pending_of(self.assigned_work[node]) <= 1:
            self._assign_work_unit(node)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue('dist') != 'load':
        return None  # another --dist asked for: pytest-xdist's own
    return LongestFirst(config, log)
