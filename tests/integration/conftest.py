# -*- coding: utf-8 -*-
"""Integration test fixtures: a real simulator process, and real ansible-playbook runs against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.simulator.control import Simulator

ROOT = Path(__file__).resolve().parents[2]
CALLBACKS = Path(__file__).resolve().parent / 'callback_plugins'
# Fast phases: the tests wait for the simulator's state machines, not for real minutes.
FAST = ['--speed', '20']


class PlaybookRun:
    """What one ansible-playbook process did: exit code, output, every task result and the recap."""

    def __init__(self, completed, record_path):
        self.rc = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        record = json.loads(record_path.read_text()) if record_path.exists() else {'results': [], 'stats': {}}
        self.results = record['results']
        self.stats = record['stats']

    def task(self, name, host=None):
        """The last result of the task called ``name`` (on ``host``)."""
        found = [r for r in self.results if r['task'] == name and (host is None or r['host'] == host)]
        assert found, 'no result for task %r; tasks run: %s\n%s' % (name, [r['task'] for r in self.results], self.stdout[-3000:])
        return found[-1]

    def changed(self, host=None):
        return sum(stats['changed'] for name, stats in self.stats.items() if host is None or name == host)

    def failed(self, host=None):
        return sum(stats['failures'] for name, stats in self.stats.items() if host is None or name == host)

    def output(self):
        return self.stdout + self.stderr


def run_playbook(playbook, workdir, extra_vars=None, inventory=None, check=False, diff=False, verbosity=0,
                 args=(), env=None, timeout=600):
    """Run ``playbook`` (a path, or YAML text written to ``workdir``) with ansible-playbook as a real process."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if isinstance(playbook, str) and '\n' in playbook:
        path = workdir / ('playbook-%d.yml' % len(list(workdir.glob('playbook-*.yml'))))
        path.write_text(playbook)
        playbook = path
    record = workdir / ('record-%d.json' % len(list(workdir.glob('record-*.json'))))
    command = [str(Path(sys.executable).parent / 'ansible-playbook'), str(playbook),
               '-i', str(inventory) if inventory else 'localhost,']
    if extra_vars:
        command += ['-e', json.dumps(extra_vars)]
    if check:
        command.append('--check')
    if diff:
        command.append('--diff')
    if verbosity:
        command.append('-' + 'v' * verbosity)
    command += list(args)
    environment = dict(os.environ)
    environment.update({
        'ANSIBLE_CALLBACK_PLUGINS': str(CALLBACKS),
        'ANSIBLE_CALLBACKS_ENABLED': 'record_results',
        'ANSIBLE_PYTHON_INTERPRETER': sys.executable,
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_RETRY_FILES_ENABLED': '0',
        'ANSIBLE_LOCAL_TEMP': str(workdir / 'ansible-tmp'),
        'IDCLOUD_TEST_RESULTS': str(record),
    })
    environment.update(env or {})
    completed = subprocess.run(command, cwd=str(workdir), env=environment, capture_output=True, text=True,
                               timeout=timeout, check=False)
    return PlaybookRun(completed, record)


@pytest.fixture(scope='module')
def simulator(tmp_path_factory):
    """One simulator per test module, with fast phases; tests use tenants of their own to stay apart."""
    with Simulator.start(tmp_path_factory.mktemp('simulator'), scenario='default', tenants=12, extra_args=FAST) as sim:
        yield sim


@pytest.fixture
def playbook(tmp_path):
    def run(text, **kwargs):
        return run_playbook(text, tmp_path, **kwargs)
    return run
