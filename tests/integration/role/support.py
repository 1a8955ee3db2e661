# -*- coding: utf-8 -*-
"""What the role's integration tests share: inventories of simulator tenants, and promote.yml runs."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.integration.support import ENDED, kill_tree, playbook_invocation, run_playbook

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOKS = ROOT / 'playbooks'


def host_vars(sim, tenant, env, **extra):
    """Inventory variables of one upper environment ``env`` of ``tenant`` (its lower one from the simulator)."""
    state = sim.state['tenants'][tenant]['environments'][env]
    credentials = sim.credentials(tenant, env)
    values = dict(promote_tenant_url=sim.url(tenant, env), promote_ca_path=sim.ca_file,
                  promote_service_account_id=credentials['service_account_id'],
                  promote_service_account_key=credentials['service_account_key'])
    if state.get('lower'):
        lower = sim.credentials(tenant, state['lower'])
        values.update(promote_lower_tenant_url=sim.url(tenant, state['lower']),
                      promote_lower_service_account_id=lower['service_account_id'],
                      promote_lower_service_account_key=lower['service_account_key'])
    values.update(extra)
    return values


def write_inventory(path, hosts):
    """An inventory (JSON, which the YAML plugin reads) with ``hosts`` ({name: vars}) in group promotion_targets."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({'all': {'children': {'promotion_targets': {
        'vars': {'ansible_connection': 'local'}, 'hosts': hosts}}}}, indent=1))
    return path


def promote_vars(tmp_path, **extra):
    values = dict(promote_report_dir=str(tmp_path / 'reports'))
    values.update(extra)
    return values


def run(tmp_path, inventory, playbook='promote.yml', check=False, args=(), env=None, diff=False, **extra):
    """ansible-playbook playbooks/<playbook> -i inventory -e promote_report_dir=<tmp>/reports ... (``args``: more
    command-line arguments, such as --forks; ``env``: more environment variables)"""
    return run_playbook(PLAYBOOKS / playbook, tmp_path / 'run', inventory=inventory,
                        extra_vars=promote_vars(tmp_path, **extra), check=check, args=args, env=env, diff=diff)


def summary(tmp_path):
    """The run's summary rows by host, as the summary play wrote them."""
    rows = json.loads((tmp_path / 'reports' / 'summary.json').read_text())
    return {row['host']: row for row in rows}


def report_files(tmp_path, host):
    directory = tmp_path / 'reports' / host
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def lock_record(tmp_path, host):
    path = tmp_path / 'reports' / host / '.lock.json'
    return json.loads(path.read_text()) if path.exists() else None


def requests_of(sim, tenant, envs=('dev', 'staging', 'prod')):
    """(method, template) of every request to the tenant's environments but token requests."""
    return [(entry['method'], entry['template']) for env in envs for entry in sim.request_log(tenant, env)
            if not entry['template'].endswith('access_token')]


def writes_of(sim, tenant, envs=('dev', 'staging', 'prod')):
    return [request for request in requests_of(sim, tenant, envs) if request[0] != 'GET']


def config(sim, tenant, env):
    return sim.env_state(tenant, env)['config']


def start_promote(tmp_path, inventory, log_name='interrupted.log', args=(), **extra):
    """Start promote.yml in a session (and process group) of its own, to kill it like Ctrl-C or a dead controller
    would, its output going to ``log_name`` in the run's folder. Returns the process and the file of its results."""
    workdir = tmp_path / 'run'
    command, environment, record = playbook_invocation(PLAYBOOKS / 'promote.yml', workdir, promote_vars(tmp_path, **extra),
                                                       inventory, args=args)
    with open(workdir / log_name, 'w', encoding='utf-8') as log:
        process = subprocess.Popen(command, cwd=str(workdir), env=environment, stdin=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return process, record


def kill_group(process):
    """Kill a run like Ctrl-C twice or a controller that died: the process, every process below it and every process in
    their sessions (Ansible's workers each run in a session of their own, so killing the group alone leaves them, and
    the modules they started, going on with the run), and wait until all have ended."""
    kill_tree(process.pid)
    process.wait(timeout=30)


def wait_for(predicate, timeout=60, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError('condition not met within %s s' % timeout)


def role_task(result, name, host=None):
    """The result of the role's task called ``name`` (on ``host``)."""
    return result.task('idcloud.promotions.promote : ' + name, host)['result']


class HostRun:
    """One host's part of a run of several tests' hosts (a shared promote.yml run), read like a run of that host
    alone: ``rc`` is what that run would have ended with (0, or 2 once the host failed; the shared run's own exit code
    if it broke), ``changed()`` and ``failed()`` count the host's tasks, ``task()`` finds the host's results; the
    output is the shared run's."""

    def __init__(self, run, host):
        self.shared, self.host = run, host
        self.stdout, self.stderr = run.stdout, run.stderr
        self.results = [record for record in run.results if record['host'] == host]
        self.stats = {host: run.stats[host]} if host in run.stats else {}

    @property
    def rc(self):
        if self.shared.rc not in ENDED or not self.shared.stats:
            return self.shared.rc
        assert self.host in self.shared.stats, '%s was not in the run:\n%s' % (self.host, self.shared.stdout[-3000:])
        stats = self.shared.stats[self.host]
        return 2 if stats['failures'] else 4 if stats['unreachable'] else 0

    def task(self, name, host=None):
        return self.shared.task(name, host or self.host)

    def failure(self, name, host=None):
        return self.shared.failure(name, host or self.host)

    def changed(self, host=None):
        return self.shared.changed(host or self.host)

    def failed(self, host=None):
        return self.shared.failed(host or self.host)

    def output(self):
        return self.shared.output()


def host_lines(output, host):
    """The lines of ``output`` that the role wrote about ``host`` (they start with its name, or its name and a colon,
    in the progress lines, the summary table and the warnings)."""
    return [line for line in output.splitlines() if host in line]
