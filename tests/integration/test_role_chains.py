# -*- coding: utf-8 -*-
"""promote.yml's promote_after chains, run by ansible-playbook against the simulator: a host starts as soon as the
host it follows has ended (and not when unrelated hosts have), any number of forks works whatever the inventory
order, a cycle stops the run before anything is locked, the progress lines show live, and the follower of a failed
host is skipped with the reason (or, alone with --limit, promoted at once). Two tests with simulators of their own:
a chain longer than one host's turn bound runs to its end, and a dry-run-only follower of a failed host keeps its
reason."""

from __future__ import annotations

import subprocess

import pytest

from tests.integration.role.support import (config, host_vars, kill_group, start_promote, summary, wait_for, write_inventory,
                                            writes_of)
from tests.integration.support import SIMULATOR_ARGS, PlaybookRun
from tests.simulator.control import Simulator

LOCK = '/environment/promotion/lock'
LOCK_ENDS = ('/environment/promotion/lock/state', '/environment/promotion/lock/{promotionId}')
# The longest a run may take (they take seconds): one that waits for ever (a deadlock) is killed and fails the test.
RUN_TIMEOUT = 90


class Promote:
    """ansible-playbook playbooks/promote.yml -i inventory ARGS -e promote_report_dir=<tmp>/reports ..., started in a
    session of its own (start_promote) and waited for with a bound: a run that hangs is killed whole, Ansible's workers included (each is in a session of
    its own and would go on waiting for its turn), and fails the test."""

    def __init__(self, tmp_path, inventory, args=(), **extra):
        self.log = tmp_path / 'run' / ('promote-%d.log' % len(list((tmp_path / 'run').glob('promote-*.log'))))
        self.process, self.record = start_promote(tmp_path, inventory, self.log.name, args, **extra)

    def output(self):
        """What it has printed so far (Ansible's display writes each line at once)."""
        return self.log.read_text(encoding='utf-8')

    def finish(self, timeout=RUN_TIMEOUT):
        try:
            rc = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail('promote.yml had not ended after %d s (waiting for ever?):\n%s' % (timeout, self.output()[-4000:]))
        completed = subprocess.CompletedProcess(self.process.args, rc, self.output(), '')
        return PlaybookRun(completed, self.record)

    def stop(self):
        """Kill it if it still runs: the process and every process of it, its workers included (kill_group)."""
        if self.process.poll() is None:
            kill_group(self.process)


def promote(tmp_path, inventory, args=(), timeout=RUN_TIMEOUT, **extra):
    """promote.yml run to its end (at most ``timeout`` seconds): a PlaybookRun."""
    return Promote(tmp_path, inventory, args, **extra).finish(timeout)


def lock_posts(sim, tenant, env):
    """Times of the POST /environment/promotion/lock requests to the environment."""
    return [entry['time'] for entry in sim.request_log(tenant, env)
            if entry['method'] == 'POST' and entry['template'] == LOCK]


def span(sim, tenant, env):
    """(first lock request, last look at the lock or unlock request): from its lock to its end, one host's run."""
    log = sim.request_log(tenant, env)
    locks = [entry['time'] for entry in log if entry['method'] == 'POST' and entry['template'] == LOCK]
    ends = [entry['time'] for entry in log if entry['template'] in LOCK_ENDS]
    assert locks and ends, 'no lock taken in %s/%s: %s' % (tenant, env, [(e['method'], e['template']) for e in log])
    return min(locks), max(ends)


def assert_in_chain_order(sim, chain):
    """``chain``: [(host, tenant, env)] in promote_after order; each host's lock comes after the previous one ended."""
    spans = {host: span(sim, tenant, env) for host, tenant, env in chain}
    for (leader, *unused), (follower, *unused) in zip(chain, chain[1:]):
        assert spans[leader][1] < spans[follower][0], (
            '%s locked at %.3f, before %s ended at %.3f' % (follower, spans[follower][0], leader, spans[leader][1]))
    return spans


def test_six_host_chain_runs_in_order_and_does_not_wait_for_an_unrelated_slow_host(simulator, tmp_path):
    sim = simulator
    # Six hosts, one chain across tenants: each promotes dev into its tenant's staging, after the previous host.
    chain = [('chain-%s' % letter, 'tenant%02d' % number, 'staging') for number, letter in enumerate('abcdef', 1)]
    hosts = {}
    for index, (host, tenant, env) in enumerate(chain):
        sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Chain %s' % host)
        hosts[host] = host_vars(sim, tenant, env, **({'promote_after': chain[index - 1][0]} if index else {}))
    # An unrelated host whose restart phase lasts 10 s (200 s at speed 20), the chain's links well under one.
    slow_tenant = 'tenant07'
    sim.edit_config(slow_tenant, 'dev', 'idm', 'Email > Templates', 'add', 'Slow one')
    sim.set_timing(tenant=slow_tenant, restart=200)
    hosts['slow'] = host_vars(sim, slow_tenant, 'staging')
    # The inventory lists them out of chain order, the slow host among them.
    order = ['chain-d', 'slow', 'chain-b', 'chain-f', 'chain-a', 'chain-e', 'chain-c']
    inventory = write_inventory(tmp_path / 'inventory.yml', {host: hosts[host] for host in order})

    result = promote(tmp_path, inventory, args=('--forks', '7'))
    assert result.rc == 0, result.output()
    rows = summary(tmp_path)
    assert {host: row['outcome'] for host, row in rows.items()} == dict.fromkeys(order, 'promoted'), rows
    for host, tenant, env in chain + [('slow', slow_tenant, 'staging')]:
        assert config(sim, tenant, env) == config(sim, tenant, 'dev'), host
        assert sim.env_state(tenant, env)['lock'] is None, host
        assert len(lock_posts(sim, tenant, env)) == 1, host

    spans = assert_in_chain_order(sim, chain)
    slow_locked, slow_ended = span(sim, slow_tenant, 'staging')
    # chain-b went on as soon as chain-a ended: while the slow host, started before it, was still in its long restart.
    assert slow_locked < spans['chain-b'][0] < slow_ended - 3, (slow_locked, spans['chain-b'], slow_ended)
    for host, *unused in chain[1:]:
        assert '%s: %s has ended well; starting' % (host, hosts[host]['promote_after']) in result.stdout


def test_one_fork_and_the_inventory_in_reverse_chain_order_does_not_deadlock(simulator, tmp_path):
    sim = simulator
    chain = [('rev-1', 'tenant12', 'staging'), ('rev-2', 'tenant13', 'staging'), ('rev-3', 'tenant14', 'staging')]
    hosts = {}
    for index, (host, tenant, env) in enumerate(chain):
        sim.edit_config(tenant, 'dev', 'idm', 'Managed Objects', 'add', 'reverse_%s' % index)
        hosts[host] = host_vars(sim, tenant, env, **({'promote_after': chain[index - 1][0]} if index else {}))
    # The follower first: a run in inventory order with one fork would wait for ever on rev-3.
    inventory = write_inventory(tmp_path / 'inventory.yml', {host: hosts[host] for host in ('rev-3', 'rev-2', 'rev-1')})

    result = promote(tmp_path, inventory, args=('--forks', '1'))  # killed and failed after RUN_TIMEOUT
    output = result.stdout
    assert result.rc == 0, result.output()
    # One fork: each host's task ran once the one before it had ended, none of them had to wait.
    assert 'waiting for rev-' not in output and 'rev-2: rev-1 has ended well; starting' in output, output
    assert 'rev-3: rev-2 has ended well; starting' in output, output
    rows = summary(tmp_path)
    assert {host: row['outcome'] for host, row in rows.items()} == dict.fromkeys(hosts, 'promoted'), rows
    assert_in_chain_order(sim, chain)
    for host, tenant, env in chain:
        assert config(sim, tenant, env) == config(sim, tenant, 'dev'), host
        assert sim.env_state(tenant, env)['lock'] is None, host


def test_a_cycle_or_a_host_following_itself_stops_the_run_before_any_lock(simulator, tmp_path):
    sim = simulator
    # One run, both mistakes: two hosts that follow each other, a host that follows itself, and a host that follows
    # nobody. Every host has something to promote: none of them may be locked.
    for tenant in ('tenant15', 'tenant16'):
        sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Loop')
        sim.edit_config(tenant, 'staging', 'am', 'Journeys', 'add', 'Loop staging')
    hosts = {'loop-a': host_vars(sim, 'tenant15', 'staging', promote_after='loop-b'),
             'loop-b': host_vars(sim, 'tenant15', 'prod', promote_after='loop-a'),
             'free': host_vars(sim, 'tenant16', 'prod'),
             'selfish': host_vars(sim, 'tenant16', 'staging', promote_after='selfish')}
    inventory = write_inventory(tmp_path / 'inventory.yml', hosts)

    result = promote(tmp_path, inventory)
    assert result.rc == 2 and result.failed() == 1, result.output()
    problems = 'promote_after forms a cycle: loop-a -> loop-b -> loop-a; promote_after of selfish names the host itself'
    assert problems + '; fix the inventory: nothing was locked.' in result.stdout, result.output()
    for tenant in ('tenant15', 'tenant16'):
        assert writes_of(sim, tenant) == [], tenant
        for env in ('staging', 'prod'):
            assert lock_posts(sim, tenant, env) == [] and sim.env_state(tenant, env)['lock'] is None
    assert not (tmp_path / 'reports' / 'summary.json').exists()


def test_progress_lines_show_live(simulator, tmp_path):
    sim = simulator
    lead, follower = ('tenant08', 'staging'), ('tenant09', 'staging')
    sim.edit_config(lead[0], 'dev', 'am', 'OAuth2 Clients', 'add', 'live-client')
    sim.edit_config(follower[0], 'dev', 'am', 'OAuth2 Clients', 'add', 'live-client')
    # Phases long enough to be seen: prepare 1 s, restart 4 s (at speed 20).
    sim.set_timing(tenant=lead[0], prepare=20, restart=80)
    inventory = write_inventory(tmp_path / 'inventory.yml', {
        'live-follow': host_vars(sim, *follower, promote_after='live-lead'),
        'live-lead': host_vars(sim, *lead)})

    run = Promote(tmp_path, inventory)
    try:
        restart_line = 'live-lead: the promotion: RUNNING: Waiting for workloads to restart ('
        wait_for(lambda: restart_line in run.output(), timeout=RUN_TIMEOUT)
        # Shown while it happens: the tenant is still restarting, the follower still waits and has locked nothing.
        assert sim.env_state(*lead)['status']['message'] == 'Waiting for workloads to restart'
        assert run.process.poll() is None
        assert lock_posts(sim, *follower) == []
        waiting_line = 'live-follow: waiting for live-lead to end first (0 s)'  # in the form the guide to runs of many hosts shows
        assert waiting_line in run.output()
        result = run.finish()
    finally:
        run.stop()
    assert result.rc == 0, result.output()
    output = result.stdout
    assert 'live-lead: the dry run: RUNNING: Prepare config (' in output, output
    assert 'live-lead: the promotion: RUNNING: Prepare config (' in output, output
    starting = output.index('live-follow: live-lead has ended well; starting')
    assert output.index(waiting_line) < output.index(restart_line) < starting
    outcomes = {host: row['outcome'] for host, row in summary(tmp_path).items()}
    assert outcomes == {'live-follow': 'promoted', 'live-lead': 'promoted'}
    assert span(sim, *lead)[1] < span(sim, *follower)[0]


def test_follower_of_a_failed_host_is_skipped_and_limit_promotes_it_alone(simulator, tmp_path):
    sim = simulator
    lead, follower = ('tenant10', 'staging'), ('tenant11', 'staging')
    # The lead's dry run stops on Missing ESVs (not blocking: its lock is released).
    sim.edit_config(lead[0], 'dev', 'idm', 'Email > Templates', 'add', 'Broken', esv_refs=['esv.nowhere.sender'])
    sim.edit_config(follower[0], 'dev', 'idm', 'Email > Templates', 'add', 'Fine')
    follower_before = config(sim, *follower)
    inventory = write_inventory(tmp_path / 'inventory.yml', {
        'fail-lead': host_vars(sim, *lead), 'fail-follow': host_vars(sim, *follower, promote_after='fail-lead')})

    result = promote(tmp_path, inventory)
    assert result.rc == 2 and result.failed('fail-lead') == 1 and result.failed() == 1, result.output()
    rows = summary(tmp_path)
    assert rows['fail-lead']['outcome'] == 'failed' and 'nowhere.sender' in rows['fail-lead']['reason'], rows
    assert rows['fail-follow']['outcome'] == 'skipped', rows
    assert rows['fail-follow']['reason'].startswith('fail-lead must be promoted first and failed: '), rows
    assert 'nowhere.sender' in rows['fail-follow']['reason'], rows
    assert lock_posts(sim, *follower) == [] and writes_of(sim, follower[0]) == []
    assert config(sim, *follower) == follower_before
    assert len(lock_posts(sim, *lead)) == 1 and sim.env_state(*lead)['lock'] is None

    # The follower alone: its lead is outside the run, so nothing to wait for.
    alone = promote(tmp_path, inventory, args=('--limit', 'fail-follow'))
    assert alone.rc == 0, alone.output()
    assert {host: row['outcome'] for host, row in summary(tmp_path).items()} == {'fail-follow': 'promoted'}
    assert 'waiting for fail-lead' not in alone.stdout and 'fail-lead' not in alone.stdout, alone.stdout
    assert len(lock_posts(sim, *follower)) == 1 and len(lock_posts(sim, *lead)) == 1
    assert config(sim, *follower) == config(sim, follower[0], 'dev')
    assert sim.env_state(*follower)['lock'] is None


def test_a_chain_longer_than_the_turn_bound_still_runs_to_its_end(tmp_path):
    # A simulator of its own, with a 2 s prepare phase: each host's dry run (promote_dry_run_only) takes about 3 s,
    # well within its own timeouts (lock 2 s, run 4 s); the sixth host's turn waits for the five hosts before it.
    with Simulator.start(tmp_path / 'simulator', scenario='default', tenants=6,
                         extra_args=SIMULATOR_ARGS + ['--prepare-seconds', '40']) as sim:
        chain = [('long-%d' % number, 'tenant%02d' % number, 'staging') for number in range(1, 7)]
        hosts = {}
        for index, (host, tenant, env) in enumerate(chain):
            sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Long chain')
            hosts[host] = host_vars(sim, tenant, env, **({'promote_after': chain[index - 1][0]} if index else {}))
        inventory = write_inventory(tmp_path / 'inventory.yml', hosts)

        result = promote(tmp_path, inventory, args=('--forks', '6'), promote_dry_run_only=True, promote_lock_timeout=2,
                         promote_run_timeout=4)
        rows = summary(tmp_path)
        assert {host: (row['outcome'], row['reason']) for host, row in rows.items()} == dict.fromkeys(
            hosts, ('dry_run_only', '')), result.output()[-5000:]
        assert result.rc == 0, result.output()
        spans = assert_in_chain_order(sim, chain)
        assert all(end - locked < 2 * 2 + 4 for locked, end in spans.values()), spans  # each within its own bounds
        # ... while the last one waited for its turn longer than that bound (else this test would test nothing)
        assert spans['long-6'][0] - spans['long-1'][0] > 2 * 2 + 4, spans


def test_dry_run_only_follower_of_a_failed_host_is_skipped_with_the_reason(tmp_path):
    with Simulator.start(tmp_path / 'simulator', scenario='default', tenants=2, extra_args=SIMULATOR_ARGS) as sim:
        sim.edit_config('tenant01', 'dev', 'idm', 'Email > Templates', 'add', 'Broken', esv_refs=['esv.nowhere.sender'])
        sim.edit_config('tenant02', 'dev', 'idm', 'Email > Templates', 'add', 'Fine')
        inventory = write_inventory(tmp_path / 'inventory.yml', {
            'dry-lead': host_vars(sim, 'tenant01', 'staging'),
            'dry-follow': host_vars(sim, 'tenant02', 'staging', promote_after='dry-lead')})

        result = promote(tmp_path, inventory, promote_dry_run_only=True)
        assert result.rc == 2 and result.failed('dry-lead') == 1 and result.failed() == 1, result.output()
        rows = summary(tmp_path)
        assert rows['dry-lead']['outcome'] == 'failed' and 'nowhere.sender' in rows['dry-lead']['reason'], rows
        assert rows['dry-follow']['outcome'] == 'skipped', rows
        assert lock_posts(sim, 'tenant02', 'staging') == []
        assert rows['dry-follow']['reason'].startswith('dry-lead must be promoted first and failed: '), rows['dry-follow']
        assert 'dry-follow: skipped: dry-lead must be promoted first and failed: ' in result.stdout, result.stdout
