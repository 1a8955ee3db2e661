# -*- coding: utf-8 -*-
"""Speed of playbooks/promote.yml against the simulator, all figures from one run (`make bench`).

One simulator with fixed phase durations (PHASES) and a tenant per promotion, each with changes in dev to promote.
Measured one after the other, with the role's defaults (progress on):

- promote.yml on 1 tenant, 10 tenants (--forks 10) and 50 tenants (--forks 50): wall time, the server's floor (its
  own time for the requests actually made), overhead above it, requests per promotion, controller CPU;
- the Ansible floor: one `ansible.builtin.ping` task on 1, 10 and 50 local hosts (same forks), and one
  `ansible.builtin.debug` task on 50 hosts: wall and CPU per host;
- the baseline: the seed guide's seven steps by hand (plain `requests`, a fixed 10 s poll), for 1 tenant and for 50
  tenants at once (threads): wall time;
- meanwhile, in the background: one promotion of a tenant with the field timing (lock 20, unlock 20, prepare 60,
  promote 120, restart 420 s, in real seconds): its requests (all, and without token requests) and its wall time
  against its own floor; `--no-field` skips it (the run then takes about four minutes instead of fourteen).

Controller CPU is user + system time of one ansible-playbook and every process it waited for, from os.wait4 on
its pid (a process that detaches itself, such as an async task's module, is not waited for and so not counted).
Each figure is printed next to its target with "met" or the gap; the machine is noisy, so the ratios within one
run are what count. Nothing here asserts on time; a run that does not promote every tenant fails the benchmark.

    python benchmarks/promote_benchmark.py [--no-field]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.simulator.control import Simulator  # noqa: E402  pylint: disable=wrong-import-position

PHASES = {'lock': 2, 'unlock': 2, 'prepare': 3, 'promote': 5, 'restart': 10}
MANUAL_POLL = 10
PREFIX = '/environment/promotion'
TOKEN_REQUEST = 'POST /am/oauth2/access_token'
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / 'ansible-playbook')
# Service-account keys reused between runs: generating the 339 keys of 113 tenants takes about 10 s on 2 CPUs.
KEY_CACHE = Path(tempfile.gettempdir()) / 'idcloud-simulator-bench-keys'
# Tenants per role in the benchmark, in the order they are taken from the simulator.
GROUPS = {'field': 1, 'one': 1, 'ten': 10, 'fifty': 50, 'manual': 1, 'manual_fifty': 50}


@dataclasses.dataclass
class Row:
    """One measured run; per-host figures are divided by ``hosts``."""
    name: str
    hosts: int
    wall: float
    cpu: float | None = None
    floor: float | None = None
    requests: int | None = None
    token_requests: int | None = None

    @property
    def overhead(self):
        return None if self.floor is None else self.wall - self.floor

    @property
    def requests_per_host(self):
        return None if self.requests is None else self.requests / self.hosts

    @property
    def cpu_per_host(self):
        return None if self.cpu is None else self.cpu / self.hosts


class Playbook:
    """One ansible-playbook process, started now; its output goes to <workdir>/<name>.log."""

    def __init__(self, workdir, name, arguments, background=False):
        self.name = name
        self.log = workdir / (name + '.log')
        environment = dict(os.environ, ANSIBLE_NOCOLOR='1')
        environment.setdefault('ANSIBLE_COLLECTIONS_PATH', str(ROOT / 'build' / 'collections'))
        self.started = time.monotonic()
        with open(self.log, 'wb') as log:
            # In the background: a session of its own, which stop() ends with its workers.
            self.process = subprocess.Popen([ANSIBLE_PLAYBOOK] + [str(a) for a in arguments], cwd=str(workdir),  # pylint: disable=consider-using-with
                                            env=environment, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=background)
        self.wall = self.cpu = None

    def wait(self):
        """Reap it: the rusage of os.wait4 covers the process and every child it waited for (its workers, modules)."""
        status, usage = os.wait4(self.process.pid, 0)[1:]
        self.wall = time.monotonic() - self.started
        self.cpu = usage.ru_utime + usage.ru_stime
        self.process.returncode = os.waitstatus_to_exitcode(status)
        return self

    def stop(self):
        """End a run in the background (the benchmark is failing): its whole session."""
        if self.process.returncode is None:
            os.killpg(self.process.pid, signal.SIGTERM)

    def fail(self, why):
        sys.stdout.write(self.log.read_text(encoding='utf-8', errors='replace')[-5000:])
        raise SystemExit('%s: %s (exit %s)' % (self.name, why, self.process.returncode))


# -- the simulator

def start_simulator(workdir):
    extra = ['--key-cache', str(KEY_CACHE)]
    for phase, seconds in PHASES.items():
        extra += ['--%s-seconds' % phase, str(seconds)]
    started = time.monotonic()
    sim = Simulator.start(workdir / 'simulator', scenario='default', tenants=sum(GROUPS.values()), extra_args=extra,
                          timeout=300)
    print('simulator: %d tenants started in %.1f s (keys cached in %s)' % (
        len(sim.tenants()), time.monotonic() - started, KEY_CACHE), flush=True)
    return sim


def prepare_tenants(sim):
    """Every tenant with changes in dev; unlocking takes its phase time, as on a real tenant. Tenants by group."""
    sim.set_variant(unlock_answer='unlocking-202')
    tenants = sorted(sim.tenants())
    for tenant in tenants:
        sim.edit_config(tenant, 'dev', 'idm', 'Email > Templates', 'add', 'Forgotten Username')
        sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'modify', 'Login')
    groups = {}
    for group, count in GROUPS.items():
        groups[group], tenants = tenants[:count], tenants[count:]
    return groups


def host_vars(sim, tenant):
    upper, lower = sim.credentials(tenant, 'staging'), sim.credentials(tenant, 'dev')
    return dict(promote_tenant_url=sim.url(tenant, 'staging'), promote_ca_path=sim.ca_file,
                promote_service_account_id=upper['service_account_id'], promote_service_account_key=upper['service_account_key'],
                promote_lower_tenant_url=sim.url(tenant, 'dev'), promote_lower_service_account_id=lower['service_account_id'],
                promote_lower_service_account_key=lower['service_account_key'])


def real_runs(sim, tenant):
    """Real (not dry) runs in the tenant's staging, from its report list."""
    answer = requests.get(sim.url(tenant, 'staging') + PREFIX + '/reports', verify=sim.ca_file, timeout=30,
                          headers={'Authorization': 'Bearer ' + sim.credentials(tenant, 'staging')['access_token'],
                                   'Accept-API-Version': 'resource=1.0'})
    answer.raise_for_status()
    return sum(1 for report in answer.json() if not report.get('dryRun'))


def floor(sim, tenant, phases=None):
    """The server's own time for the requests made to the tenant's staging: each lock taken and its release (by an
    unlock request, or by the tenant itself after a promotion asked for it: both are waited for), each run's prepare
    and promote phases, and the restart phase of each real run."""
    phases = phases or PHASES
    counts = sim.request_counts(tenant, 'staging')
    runs = counts.get('POST %s/promote' % PREFIX, 0)
    return (counts.get('POST %s/lock' % PREFIX, 0) * (phases['lock'] + phases['unlock'])
            + runs * (phases['prepare'] + phases['promote']) + real_runs(sim, tenant) * phases['restart'])


def requests_to(sim, tenants):
    """(all requests, token requests) made to every environment of these tenants."""
    counts = [sim.request_counts(tenant) for tenant in tenants]
    return sum(sum(c.values()) for c in counts), sum(c.get(TOKEN_REQUEST, 0) for c in counts)


# -- ansible-playbook runs

def write_inventory(workdir, name, hosts, group_vars=None):
    path = workdir / (name + '.inventory.json')
    path.write_text(json.dumps({'all': {'children': {'promotion_targets': {'vars': group_vars or {}, 'hosts': hosts}}}}),
                    encoding='utf-8')
    return path


def start_promotion(sim, workdir, name, tenants, background=False):
    """promote.yml on these tenants' staging, forks = tenants, the role's defaults otherwise."""
    inventory = write_inventory(workdir, name, {t + '-staging': host_vars(sim, t) for t in tenants},
                                {'ansible_connection': 'local'})
    return Playbook(workdir, name, [ROOT / 'playbooks' / 'promote.yml', '-i', inventory, '--forks', len(tenants),
                                    '-e', json.dumps({'promote_report_dir': str(workdir / name)})], background)


def promotion_row(sim, workdir, playbook, label, tenants, phases=None):
    """The figures of a finished promote.yml run; fails the benchmark unless every tenant was promoted."""
    summary = workdir / playbook.name / 'summary.json'
    outcomes = [row['outcome'] for row in json.loads(summary.read_text(encoding='utf-8'))] if summary.exists() else []
    if playbook.process.returncode != 0 or outcomes != ['promoted'] * len(tenants):
        playbook.fail('did not promote every tenant (outcomes: %s)' % (outcomes or 'no summary.json'))
    made, tokens = requests_to(sim, tenants)
    return Row(label, len(tenants), playbook.wall, cpu=playbook.cpu, floor=max(floor(sim, t, phases) for t in tenants),
               requests=made, token_requests=tokens)


def promote(sim, workdir, label, tenants):
    print('running: %s ...' % label, flush=True)
    name = 'promote-%d' % len(tenants)
    return promotion_row(sim, workdir, start_promotion(sim, workdir, name, tenants).wait(), label, tenants)


def ansible_floor(workdir, module, hosts):
    """One task running ``module`` on ``hosts`` local hosts with as many forks: what any playbook costs."""
    label = '%s, %d host%s' % (module, hosts, 's, forks %d' % hosts if hosts > 1 else '')
    print('running: %s ...' % label, flush=True)
    name = '%s-%d' % (module, hosts)
    inventory = write_inventory(workdir, name, {'host%02d' % n: {} for n in range(1, hosts + 1)},
                                {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable})
    play = workdir / (module + '.yml')
    play.write_text(json.dumps([{'name': module, 'hosts': 'all', 'gather_facts': False,
                                 'tasks': [{'name': module, 'ansible.builtin.' + module: {}}]}]), encoding='utf-8')
    playbook = Playbook(workdir, name, [play, '-i', inventory, '--forks', hosts]).wait()
    if playbook.process.returncode != 0:
        playbook.fail('failed')
    return Row(label, hosts, playbook.wall, cpu=playbook.cpu)


def start_field_promotion(sim, workdir, tenant):
    """The field tenant's promotion, started in the background; returns (playbook, its reaper thread, phases)."""
    timing = sim.set_timing(tenant=tenant, profile='field', speed=1)
    phases = {phase: timing[phase] / timing['speed'] for phase in PHASES}
    print('running in the background: promote.yml, 1 tenant, field timing (%s) ...' % ', '.join(
        '%s %g' % item for item in phases.items()), flush=True)
    playbook = start_promotion(sim, workdir, 'promote-field', [tenant], background=True)
    reaper = threading.Thread(target=playbook.wait, name='reap-field', daemon=True)
    reaper.start()
    return playbook, reaper, phases


# -- the manual baseline

def manual(sim, tenant):
    """The seed guide's seven steps, as a person (or a shell script) following it would, polling every 10 s."""
    session = requests.Session()
    session.trust_env = False
    session.verify = sim.ca_file
    session.headers.update({'Authorization': 'Bearer ' + sim.credentials(tenant, 'staging')['access_token'],
                            'Accept-API-Version': 'resource=1.0', 'Content-Type': 'application/json'})
    base = sim.url(tenant, 'staging') + PREFIX

    def get(path):
        answer = session.get(base + path, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def poll(path, done):
        while True:
            body = get(path)
            if done(body):
                return body
            time.sleep(MANUAL_POLL)

    def run(dry_run):
        session.post(base + '/promote', json={'dryRun': dry_run}, timeout=30).raise_for_status()
        time.sleep(MANUAL_POLL)
        status = poll('/promote', lambda body: body['status'] in ('READY', 'ERROR'))
        assert status['status'] == 'READY', status
        return get('/report')

    assert get('/lock/state')['result'] == 'unlocked'                                   # 1
    promotion_id = session.post(base + '/lock', timeout=30).json()['promotionId']      # 2
    time.sleep(MANUAL_POLL)
    poll('/lock/state', lambda body: body['result'] == 'locked')
    assert get('/promote')['status'] == 'READY'                                         # 3
    run(True)                                                                           # 4
    run(False)                                                                          # 5, 6
    session.delete(base + '/lock/' + promotion_id, timeout=30).raise_for_status()      # 7
    time.sleep(MANUAL_POLL)
    poll('/lock/state', lambda body: body['result'] == 'unlocked')


def manual_row(sim, label, tenants):
    """The seven steps on every tenant at once, one thread each."""
    print('running: %s ...' % label, flush=True)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(tenants)) as pool:
        list(pool.map(lambda tenant: manual(sim, tenant), tenants))  # re-raises a failed thread's exception
    wall = time.monotonic() - started
    made, tokens = requests_to(sim, tenants)
    return Row(label, len(tenants), wall, floor=max(floor(sim, t) for t in tenants), requests=made, token_requests=tokens)


# -- the report

def cell(value, form):
    return '-' if value is None else form % value


def print_table(rows):
    header = '%-40s %5s %7s %7s %8s %9s %7s %8s' % ('run', 'hosts', 'wall s', 'floor s', 'overhead', 'req/host',
                                                    'CPU s', 'CPU/host')
    print(header)
    print('-' * len(header))
    for row in rows:
        print('%-40s %5d %7.1f %7s %8s %9s %7s %8s' % (
            row.name, row.hosts, row.wall, cell(row.floor, '%.1f'), cell(row.overhead, '%.1f'),
            cell(row.requests_per_host, '%.0f'), cell(row.cpu, '%.2f'), cell(row.cpu_per_host, '%.2f')))


def against(label, value, target, form):
    """One figure next to its target: "met", or the gap."""
    verdict = 'met' if value <= target else 'gap +' + form % (value - target)
    print('  %-46s %10s   target <= %-9s %s' % (label, form % value, form % target, verdict))


def print_ansible_floor(rows):
    """promote.yml next to one-task playbooks on as many hosts, with as many forks."""
    print('\nAnsible floor (same run)         1 host  10 hosts  50 hosts')
    for label, figure, form, keys in (
            ('CPU s per host, promote.yml', 'cpu_per_host', '%.2f', ('one', 'ten', 'fifty')),
            ('CPU s per host, one ping task', 'cpu_per_host', '%.2f', ('ping1', 'ping10', 'ping50')),
            ('CPU s per host, one debug task', 'cpu_per_host', '%.2f', (None, None, 'debug50')),
            ('wall s, promote.yml overhead', 'overhead', '%.1f', ('one', 'ten', 'fifty')),
            ('wall s, one ping task', 'wall', '%.1f', ('ping1', 'ping10', 'ping50')),
            ('wall s, one debug task', 'wall', '%.1f', (None, None, 'debug50'))):
        print('  %-30s %8s  %8s  %8s' % ((label,) + tuple(cell(getattr(rows[key], figure) if key else None, form)
                                                          for key in keys)))


def print_targets(rows, field):
    one, ten, fifty = rows['one'], rows['ten'], rows['fifty']
    print('\nTargets')
    against('1 tenant: overhead above the floor', one.overhead, 2, '%.1f s')
    against('10 tenants: wall / 1 tenant wall', ten.wall / one.wall, 1.15, '%.2fx')
    against('50 tenants: wall / 1 tenant wall', fifty.wall / one.wall, 1.5, '%.2fx')
    against('50 tenants: controller CPU per tenant', fifty.cpu_per_host, 0.6, '%.2f s')
    if field:
        against('field promotion: requests (tokens included)', field.requests, 60, '%.0f')
        print('    without token requests: %d; wall %.0f s against its floor %.0f s (overhead %.1f s)'
              % (field.requests - field.token_requests, field.wall, field.floor, field.overhead))
    else:
        print('  field promotion: skipped (--no-field)')
    print('\nWithout a target')
    print('  1 tenant: wall %.1f s, floor %.1f s, %d requests, controller CPU %.2f s'
          % (one.wall, one.floor, one.requests, one.cpu))
    print('  10 tenants: wall %.1f s; 50 tenants: wall %.1f s' % (ten.wall, fifty.wall))
    print('  baseline, the seven steps by hand (10 s poll): 1 tenant %.1f s, 50 tenants at once %.1f s'
          % (rows['manual'].wall, rows['manual_fifty'].wall))
    print('  promote.yml / baseline, wall: %.2fx (1 tenant), %.2fx (50 tenants)'
          % (one.wall / rows['manual'].wall, fifty.wall / rows['manual_fifty'].wall))


# -- the benchmark

def measure(sim, workdir, groups):
    """Every foreground run, one after the other; rows by key."""
    rows = {'one': promote(sim, workdir, 'promote.yml, 1 tenant', groups['one']),
            'ten': promote(sim, workdir, 'promote.yml, 10 tenants, forks 10', groups['ten']),
            'fifty': promote(sim, workdir, 'promote.yml, 50 tenants, forks 50', groups['fifty'])}
    for hosts in (1, 10, 50):
        rows['ping%d' % hosts] = ansible_floor(workdir, 'ping', hosts)
    rows['debug50'] = ansible_floor(workdir, 'debug', 50)
    rows['manual'] = manual_row(sim, 'manual, 1 tenant', groups['manual'])
    rows['manual_fifty'] = manual_row(sim, 'manual, 50 tenants (threads)', groups['manual_fifty'])
    return rows


def finish_field(sim, workdir, field, tenant):
    playbook, reaper, phases = field
    if reaper.is_alive():
        print('waiting for the field promotion (started %.0f s ago) ...' % (time.monotonic() - playbook.started), flush=True)
    reaper.join()
    return promotion_row(sim, workdir, playbook, 'promote.yml, 1 tenant, field timing', [tenant], phases)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', 1)[0])
    parser.add_argument('--no-field', action='store_true',
                        help='skip the background promotion with the field timing (about ten minutes)')
    args = parser.parse_args(argv)
    started = time.monotonic()
    print('Phases (s): %s; manual poll %d s; %d CPUs' % (
        ', '.join('%s %d' % item for item in PHASES.items()), MANUAL_POLL, os.cpu_count() or 0), flush=True)
    with tempfile.TemporaryDirectory(prefix='promote-bench-') as temporary:
        workdir = Path(temporary)
        with start_simulator(workdir) as sim:
            groups = prepare_tenants(sim)
            field = None if args.no_field else start_field_promotion(sim, workdir, groups['field'][0])
            field_row = None
            try:
                rows = measure(sim, workdir, groups)
                if field:
                    field_row = finish_field(sim, workdir, field, groups['field'][0])
            finally:
                if field:
                    field[0].stop()
    print()
    print_table(list(rows.values()) + ([field_row] if field_row else []))
    print_ansible_floor(rows)
    print_targets(rows, field_row)
    print('\nThe benchmark took %.0f s.' % (time.monotonic() - started))
    return 0


if __name__ == '__main__':
    sys.exit(main())
