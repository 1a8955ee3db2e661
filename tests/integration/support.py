# -*- coding: utf-8 -*-
"""What integration tests share: running ansible-playbook as a real process, and plays for the modules."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CALLBACKS = Path(__file__).resolve().parent / 'callback_plugins'
ACTIONS = Path(__file__).resolve().parent / 'action_plugins'
ANSIBLE_CFG = Path(__file__).resolve().parent / 'ansible.cfg'
# Every process the suite starts carries this variable (the conftest puts it in the environment of each test process,
# which every child inherits: simulators, ansible-playbook and its workers, ansible-runner and its pexpect child).
# Its value is '<run>:<worker>', one <run> per pytest run: what is left over of a run is found by it in /proc.
MARK = 'IDCLOUD_TEST_RUN'
# A simulator's options in the tests: fast phases (the tests wait for the simulator's state machines, not for real
# minutes), and the service-account keys from a cache (the simulator's own tests use it too): a start takes well under
# a second instead of seconds.
SIMULATOR_ARGS = ['--speed', '20', '--key-cache', os.path.join(tempfile.gettempdir(), 'idcloud-simulator-test-keys')]


def stat_fields(pid):
    """/proc/<pid>/stat after the command name: [state, ppid, pgrp, session, ...]; None once the process is gone."""
    try:
        with open('/proc/%s/stat' % pid, encoding='utf-8') as stat:
            return stat.read().rsplit(')', 1)[1].split()
    except (OSError, IndexError):
        return None


def alive(pid):
    """The process exists and is not a zombie (a zombie has ended; only its exit status waits to be read)."""
    fields = stat_fields(pid)
    return bool(fields) and fields[0] not in ('Z', 'X')


def command_line(pid):
    try:
        with open('/proc/%s/cmdline' % pid, 'rb') as cmdline:
            return cmdline.read().replace(b'\0', b' ').decode('utf-8', 'replace').strip()
    except OSError:
        return ''


def marked_processes(prefix, variable=MARK):
    """{pid: command line} of the live processes (this one aside) whose environment has ``variable`` starting with
    ``prefix``: what a test run (``'<run>:'``) or one of its workers (``'<run>:<worker>'``) started. /proc/<pid>/environ
    is the environment the process was started with, as a forked child (Ansible's workers) inherits it."""
    wanted = ('%s=%s' % (variable, prefix)).encode()
    found = {}
    for entry in filter(str.isdigit, os.listdir('/proc')):
        pid = int(entry)
        if pid == os.getpid():
            continue
        try:
            with open('/proc/%d/environ' % pid, 'rb') as environ:
                variables = environ.read().split(b'\0')
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if any(variable.startswith(wanted) for variable in variables) and alive(pid):
            found[pid] = command_line(pid)
    return found


def kill_and_wait(pids, timeout=30):
    """SIGKILL each of ``pids`` (stopped first, so that none starts another meanwhile) and wait until none is alive;
    AssertionError naming those still alive after ``timeout`` seconds."""
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pid in pids if alive(pid)]
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError('still alive after SIGKILL: %s' % {pid: command_line(pid) for pid in left})
        time.sleep(0.05)


def processes():
    """{pid: (ppid, session id)} of every live process."""
    table = {}
    for entry in filter(str.isdigit, os.listdir('/proc')):
        fields = stat_fields(entry)
        if fields and fields[0] not in ('Z', 'X'):
            table[int(entry)] = (int(fields[1]), int(fields[3]))
    return table


def process_tree(pid):
    """``pid``, the processes below it, and every process in the session of any of them (this one's aside), until
    nothing more is found: what a command started, even where a process made a session of its own (pexpect's child
    under ansible-runner, Ansible's workers) or lost its parent."""
    table, ours = processes(), os.getsid(0)
    found = {pid}
    while True:
        sessions = {table[member][1] for member in found if member in table} - {ours, 0, 1}
        more = {other for other, (parent, session) in table.items() if parent in found or session in sessions} - found
        if not more:
            return found
        found |= more


def kill_tree(pid, timeout=30):
    """Kill ``pid`` and its process_tree (stopped first, then looked at again until nothing new appears, so that no
    process starts another on the way), and wait until every one of them has ended: AssertionError otherwise."""
    stopped = set()
    for _round in range(20):
        tree = process_tree(pid) | stopped
        fresh = tree - stopped
        if not fresh:
            break
        for member in fresh:
            try:
                os.kill(member, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        stopped |= fresh
    kill_and_wait(sorted(stopped), timeout)
    return stopped


def leftovers(prefix, grace=10.0):
    """The processes marked with ``prefix`` still alive after ``grace`` seconds ({pid: command line}), killed (and
    waited for) once named: the machine is left clean, and the caller fails the run with the names."""
    deadline = time.monotonic() + grace
    found = marked_processes(prefix)
    while found and time.monotonic() < deadline:
        time.sleep(0.1)
        found = marked_processes(prefix)
    fresh = dict(found)
    for _round in range(5):  # and what they had started meanwhile
        if not fresh:
            break
        kill_and_wait(list(fresh))
        fresh = {pid: line for pid, line in marked_processes(prefix).items() if pid not in found}
        found.update(fresh)
    return found


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

    def failure(self, name, host=None):
        """The result of a task that must have failed (with or without ignore_errors)."""
        record = self.task(name, host)
        assert record['outcome'] in ('failed', 'ignored'), 'task %r did not fail: %s' % (name, record['result'])
        return record['result']

    def changed(self, host=None):
        return sum(stats['changed'] for name, stats in self.stats.items() if host is None or name == host)

    def failed(self, host=None):
        return sum(stats['failures'] for name, stats in self.stats.items() if host is None or name == host)

    def output(self):
        return self.stdout + self.stderr

    def facts(self):
        """What the run did, as JSON (for ``once_per_run``)."""
        return dict(rc=self.rc, stdout=self.stdout, stderr=self.stderr, results=self.results, stats=self.stats)

    @classmethod
    def from_facts(cls, facts):
        """A PlaybookRun again, from its ``facts()``; None from None."""
        if facts is None:
            return None
        run = cls.__new__(cls)
        run.__dict__.update(facts)
        return run


def once_per_run(tmp_path_factory, name, make):
    """``make(workdir)``'s JSON facts, made once per pytest run: by the first pytest-xdist worker that asks, while the
    others wait for them and read them. For a module fixture whose ansible-playbook runs serve many tests, which
    pytest-xdist hands to every worker. Returns (workdir, facts); ``workdir`` is where ``make`` worked."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get('PYTEST_XDIST_WORKER') else base  # the run's folder, over its workers'
    workdir, facts_file = shared / name, shared / (name + '.json')
    with open(shared / (name + '.lock'), 'w', encoding='utf-8') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not facts_file.exists():
            workdir.mkdir()
            facts_file.write_text(json.dumps(make(workdir)))
        return workdir, json.loads(facts_file.read_text())


def ansible_environment():
    """This process's environment for an Ansible process, but that Python may keep the bytecode it compiles (the
    collection's plugins are compiled once, not at each of the suite's many ansible-playbook starts), and with the
    tests' ansible.cfg, whatever ANSIBLE_CONFIG the shell has."""
    environment = dict(os.environ, ANSIBLE_CONFIG=str(ANSIBLE_CFG))
    environment.pop('PYTHONDONTWRITEBYTECODE', None)
    return environment


def playbook_invocation(playbook, workdir, extra_vars=None, inventory=None, check=False, diff=False, verbosity=0,
                        args=(), env=None):
    """The ansible-playbook command line for ``playbook`` (a path, or YAML text written to ``workdir``), its
    environment (every task result recorded), and the file the results are recorded in."""
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
    environment = ansible_environment()
    environment.update({
        'ANSIBLE_CALLBACK_PLUGINS': str(CALLBACKS),
        'ANSIBLE_ACTION_PLUGINS': str(ACTIONS),
        'ANSIBLE_CALLBACKS_ENABLED': 'record_results',
        'ANSIBLE_PYTHON_INTERPRETER': sys.executable,
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_RETRY_FILES_ENABLED': '0',
        'ANSIBLE_LOCAL_TEMP': str(workdir / 'ansible-tmp'),
        'IDCLOUD_TEST_RESULTS': str(record),
    })
    environment.update(env or {})
    return command, environment, record


def run_playbook(playbook, workdir, extra_vars=None, inventory=None, check=False, diff=False, verbosity=0,
                 args=(), env=None, timeout=600):
    """Run ``playbook`` (a path, or YAML text written to ``workdir``) with ansible-playbook as a real process."""
    command, environment, record = playbook_invocation(playbook, workdir, extra_vars, inventory, check, diff, verbosity,
                                                       args, env)
    completed = subprocess.run(command, cwd=str(workdir), env=environment, capture_output=True, text=True,
                               timeout=timeout, check=False)
    return PlaybookRun(completed, record)


def module_defaults(sim, tenant, env, auth='service_account', connection=None):
    """The promotion modules' defaults for ``tenant``'s ``env``; ``connection`` overrides or adds connection options."""
    credentials = sim.credentials(tenant, env)
    defaults = {'tenant_url': sim.url(tenant, env), 'ca_path': sim.ca_file}
    if auth == 'token':
        defaults['access_token'] = credentials['access_token']
    else:
        defaults.update(service_account_id=credentials['service_account_id'],
                        service_account_key=credentials['service_account_key'])
    defaults.update(connection or {})
    return defaults


def promotion_play(sim, tenant, env, tasks, auth='service_account', connection=None):
    """A one-play playbook (JSON, which YAML reads) whose promotion modules talk to ``tenant``'s ``env``
    through ``module_defaults``; ``connection`` overrides or adds connection options."""
    defaults = module_defaults(sim, tenant, env, auth, connection)
    return json.dumps([{'name': 'Promotion modules against %s/%s' % (tenant, env), 'hosts': 'localhost',
                        'connection': 'local', 'gather_facts': False,
                        'module_defaults': {'group/idcloud.promotions.promotion': defaults}, 'tasks': tasks}], indent=1) + '\n'


def lock_task(name='Lock', register='lock', **options):
    return {'name': name, 'idcloud.promotions.promotion_lock': options, 'register': register}


def run_task(name='Run', register='run', **options):
    return {'name': name, 'idcloud.promotions.promotion_run': options, 'register': register}


def writes(sim, tenant, env):
    """The requests that could change something (everything but reads and token requests)."""
    return writes_in(sim.request_log(tenant, env))


def writes_in(log):
    """The requests of a request log that could change something (everything but reads and token requests)."""
    return [(entry['method'], entry['template']) for entry in log
            if entry['method'] != 'GET' and not entry['template'].endswith('access_token')]


class WhenLogged:
    """Runs ``action()`` in a thread as soon as the simulator's request log of ``tenant``/``env``
    has an entry for which ``seen(entry)`` is true (bounded wait): for events that must land in
    the middle of a playbook run. A context manager; leaving it waits for the thread."""

    def __init__(self, sim, tenant, env, seen, action, after=0.0):
        self.sim, self.tenant, self.env, self.seen, self.action, self.after = sim, tenant, env, seen, action, after
        self.skip = len(sim.request_log(tenant, env))  # only entries logged from now on count
        self.thread = threading.Thread(target=self._watch)

    def _watch(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
                self.seen(entry) for entry in self.sim.request_log(self.tenant, self.env)[self.skip:]):
            time.sleep(0.1)
        time.sleep(self.after)
        self.action()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.thread.join()


def started(template):
    """A request-log test: a write to ``template`` that the tenant accepted."""
    return lambda entry: entry['method'] == 'POST' and entry['template'] == template and entry['status'] < 300


# -- Many tests in one ansible-playbook run: each a host of its own, all at once.

ENDED = (0, 2, 4)  # ansible-playbook's exit codes of a run that went to its end (all well, failed hosts, unreachable)


def simulator_task(sim, title, operation, /, register=None, **params):
    """A task called ``title`` that carries out the simulator's control operation ``operation`` with ``params``."""
    task = {'name': title, 'simulator_admin': dict(params, state_file=str(sim.state_file), operation=operation)}
    if register:
        task['register'] = register
    return task


class Story:
    """One test's part of a SharedRun: a host of its own whose promotion modules talk to ``tenant``'s ``env``, and its
    steps in order. A step is what used to be one ansible-playbook run of the test (``check``: as with --check,
    ``diff``: as with --diff, the task keywords these options set): its tasks are named '<step>: <task>', and a failure
    ends the step (as it ended that run) but not the story (a rescue). Between steps, ``admin`` tasks act on the
    simulator or record what it shows."""

    def __init__(self, sim, host, tenant, env='staging', auth='service_account', connection=None):
        self.sim, self.host, self.tenant, self.env = sim, host, tenant, env
        self.auth, self.connection = auth, connection
        self.defaults = module_defaults(sim, tenant, env, auth, connection)
        self.tasks, self.watches = [], []

    def step(self, name, tasks, check=False, diff=False, env=None, auth=None, connection=None):
        """A step of ``tasks``; ``env``, ``auth``, ``connection``: other module defaults for this step alone."""
        keywords = {}
        if check:
            keywords['check_mode'] = True
        if diff:
            keywords['diff'] = True
        block = {'name': name, 'block': [dict(task, name='%s: %s' % (name, task['name']), **keywords) for task in tasks],
                 'rescue': [{'name': '%s ended by a failure' % name, 'meta': 'noop'}]}
        if env or auth or connection:
            block['module_defaults'] = {'group/idcloud.promotions.promotion': module_defaults(
                self.sim, self.tenant, env or self.env, auth or self.auth, connection if connection is not None else self.connection)}
        self.tasks.append(block)
        return self

    def when_logged(self, seen, action, after=0.0, env=None):
        """While the shared run goes, ``action()`` once the tenant's request log shows ``seen`` (WhenLogged)."""
        self.watches.append((env or self.env, seen, action, after))
        return self

    def file(self, name, path):
        """Records whether ``path`` exists and what it holds, now: a fact named ``snapshot`` (the text in base64, which
        no templating of any ansible-core turns into data)."""
        path = json.dumps(str(path))
        self.tasks.append({'name': name, 'set_fact': {'snapshot': {
            'exists': '{{ %s is exists }}' % path,
            'text': "{{ (lookup('ansible.builtin.file', %s, rstrip=false) if %s is exists else '') | b64encode }}" % (path, path)}}})
        return self

    def admin(self, title, operation, /, register=None, **params):
        """The simulator's control operation ``operation`` with ``params`` as a task called ``title``."""
        self.tasks.append(simulator_task(self.sim, title, operation, register, **params))
        return self

    def play_tasks(self):
        return [{'name': self.host, 'block': self.tasks,
                 'module_defaults': {'group/idcloud.promotions.promotion': self.defaults}}]


class SharedRun:
    """Stories, one host each, run in one ansible-playbook process: strategy free and a fork per host, so each host
    goes through its own tasks (an include of a file of its own) without waiting for the others."""

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.stories = {}

    def add(self, story):
        assert story.host not in self.stories, story.host
        self.stories[story.host] = story
        return story

    def run(self, **options):
        """ansible-playbook over every story (``options``: those of run_playbook); the PlaybookRun."""
        tasks = self.workdir / 'tasks'
        tasks.mkdir(parents=True, exist_ok=True)
        for host, story in self.stories.items():
            (tasks / ('%s.yml' % host)).write_text(json.dumps(story.play_tasks(), indent=1) + '\n')
        inventory = self.workdir / 'inventory.yml'
        inventory.write_text(json.dumps({'all': {'hosts': {host: {'ansible_connection': 'local'} for host in self.stories}}}))
        play = [{'name': 'Shared run', 'hosts': 'all', 'gather_facts': False, 'strategy': 'free',
                 'tasks': [{'name': 'The host\'s own tasks', 'include_tasks': str(tasks) + '/{{ inventory_hostname }}.yml'}]}]
        options.setdefault('args', ('--forks', str(len(self.stories))))
        with contextlib.ExitStack() as watching:
            for story in self.stories.values():
                for env, seen, action, after in story.watches:
                    watching.enter_context(WhenLogged(story.sim, story.tenant, env, seen, action, after))
            return run_playbook(json.dumps(play, indent=1) + '\n', self.workdir, inventory=inventory, **options)


def run_stories(sim, workdir, makers, tenants):
    """Each story of ``makers`` (host -> a function that sets it up: ``make(sim, story, folder)``, with a folder of
    its own) on its tenant of ``tenants``, in one SharedRun under ``workdir``; the PlaybookRun and the stories. The
    simulator's faults are cleared after the run, whatever happened."""
    stories = SharedRun(Path(workdir) / 'run')
    try:
        for host, make in makers.items():
            (Path(workdir) / host).mkdir(exist_ok=True)
            make(sim, stories.add(Story(sim, host, tenants[host])), Path(workdir) / host)
        run = stories.run()
    finally:
        sim.clear_faults()
    return run, stories.stories


class StepRun:
    """One step of one story in a SharedRun, read like the ansible-playbook run it stands for: ``task(name)`` finds
    '<step>: <name>' on the story's host; ``rc`` is what that run would have ended with (0, or 2 after a failure; the
    shared run's own exit code if it broke); ``stdout`` and ``output()`` are the shared run's."""

    def __init__(self, run, host, step):
        self.shared, self.host, self.step = run, host, step
        self.results = [dict(record, task=record['task'][len(step) + 2:]) for record in run.results
                        if record['host'] == host and record['task'].startswith(step + ': ')]
        self.stdout, self.stderr = run.stdout, run.stderr

    @property
    def rc(self):
        if self.shared.rc not in ENDED or not self.shared.stats:
            return self.shared.rc
        assert self.results, 'step %r of %s never ran:\n%s' % (self.step, self.host, self.shared.stdout[-3000:])
        return 2 if self.failed() else 0

    def task(self, name):
        found = [record for record in self.results if record['task'] == name]
        assert found, 'no result for task %r of step %r of %s; tasks run: %s\n%s' % (
            name, self.step, self.host, [record['task'] for record in self.results], self.shared.stdout[-3000:])
        return found[-1]

    def failure(self, name):
        record = self.task(name)
        assert record['outcome'] in ('failed', 'ignored'), 'task %r did not fail: %s' % (name, record['result'])
        return record['result']

    def changed(self):
        """Tasks of the step that changed something (as the recap counts them)."""
        return sum(1 for record in self.results if record['outcome'] == 'ok' and record['result'].get('changed'))

    def failed(self):
        return sum(1 for record in self.results if record['outcome'] == 'failed')

    def output(self):
        return self.shared.output()


def admin_result(run, host, name):
    """What the simulator_admin task ``name`` of ``host`` returned."""
    record = run.task(name, host)
    assert record['outcome'] == 'ok', record
    return record['result']['result']


def file_snapshot(run, host, name):
    """What Story.file ``name`` of ``host`` found: (exists, text)."""
    record = run.task(name, host)
    assert record['outcome'] == 'ok', record
    snapshot = record['result']['ansible_facts']['snapshot']
    return snapshot['exists'], base64.b64decode(snapshot['text']).decode('utf-8')
