# -*- coding: utf-8 -*-
"""Speed of playbooks/promote.yml against the simulator, with fixed phase durations (`make bench`).

Runs promote.yml for 1 tenant and for 10 tenants (forks 10), then the documented manual procedure (the seed
guide's seven steps with plain `requests` and a fixed 10 s poll) as a baseline, and prints: wall time, the
server's own time for the requests actually made (the floor), overhead above it, requests per promotion,
controller CPU seconds (user + system of ansible-playbook and everything it waited for), and ratios.

    python benchmarks/promote_benchmark.py [--progress 15]

Figures only: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.simulator.control import Simulator  # noqa: E402  pylint: disable=wrong-import-position

PHASES = {'lock': 2, 'unlock': 2, 'prepare': 3, 'promote': 5, 'restart': 10}
MANUAL_POLL = 10
PREFIX = '/environment/promotion'


def cpu_children():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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


def floor(sim, tenant):
    """The server's own time for the requests made to the tenant's staging: each lock taken and its release (by an
    unlock request, or by the tenant itself after a promotion asked for it: both are waited for), each run's prepare
    and promote phases, and the restart phase of each real run."""
    counts = sim.request_counts(tenant, 'staging')
    runs = counts.get('POST %s/promote' % PREFIX, 0)
    return (counts.get('POST %s/lock' % PREFIX, 0) * (PHASES['lock'] + PHASES['unlock'])
            + runs * (PHASES['prepare'] + PHASES['promote']) + real_runs(sim, tenant) * PHASES['restart'])


def requests_made(sim, tenants):
    return sum(sum(sim.request_counts(tenant, env).values()) for tenant in tenants for env in ('dev', 'staging'))


def run_playbook(sim, workdir, name, tenants, progress):
    inventory = workdir / ('%s.json' % name)
    inventory.write_text(json.dumps({'all': {'children': {'promotion_targets': {
        'vars': {'ansible_connection': 'local'}, 'hosts': {t + '-staging': host_vars(sim, t) for t in tenants}}}}}))
    command = [str(Path(sys.executable).parent / 'ansible-playbook'), str(ROOT / 'playbooks' / 'promote.yml'),
               '-i', str(inventory), '--forks', '10', '-e', json.dumps({
                   'promote_report_dir': str(workdir / name / 'reports'), 'promote_progress_interval': progress})]
    environment = dict(os.environ, ANSIBLE_NOCOLOR='1')
    environment.setdefault('ANSIBLE_COLLECTIONS_PATH', str(ROOT / 'build' / 'collections'))
    cpu, started = cpu_children(), time.monotonic()
    completed = subprocess.run(command, env=environment, cwd=str(workdir), capture_output=True, text=True, check=False)
    wall, cpu = time.monotonic() - started, cpu_children() - cpu
    outcomes = [row['outcome'] for row in json.loads((workdir / name / 'reports' / 'summary.json').read_text())]
    if completed.returncode != 0 or set(outcomes) != {'promoted'}:
        sys.stdout.write(completed.stdout[-4000:] + completed.stderr[-2000:])
        raise SystemExit('%s: the playbook did not promote every tenant (exit %s, %s)' % (name, completed.returncode, outcomes))
    floors = [floor(sim, tenant) for tenant in tenants]
    return dict(name=name, tenants=len(tenants), wall=wall, floor=max(floors), overhead=wall - max(floors),
                requests=requests_made(sim, tenants) / len(tenants), cpu=cpu, cpu_per_tenant=cpu / len(tenants))


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

    started, cpu = time.monotonic(), time.process_time()
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
    wall = time.monotonic() - started
    return dict(name='manual, 7 steps, 10 s poll', tenants=1, wall=wall, floor=floor(sim, tenant),
                overhead=wall - floor(sim, tenant), requests=requests_made(sim, [tenant]), cpu=time.process_time() - cpu,
                cpu_per_tenant=time.process_time() - cpu)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', 1)[0])
    parser.add_argument('--progress', type=int, default=15, help='promote_progress_interval of the third run (default 15, the role default)')
    args = parser.parse_args(argv)
    print('Phases (s): %s; manual poll %d s; %d CPUs' % (
        ', '.join('%s %d' % item for item in PHASES.items()), MANUAL_POLL, os.cpu_count() or 0), flush=True)
    with tempfile.TemporaryDirectory(prefix='promote-bench-') as temporary:
        workdir = Path(temporary)
        extra = []
        for phase, seconds in PHASES.items():
            extra += ['--%s-seconds' % phase, str(seconds)]
        with Simulator.start(workdir / 'simulator', scenario='default', tenants=23, extra_args=extra) as sim:
            sim.set_variant(unlock_answer='unlocking-202')  # unlocking takes its phase time, as on a real tenant
            tenants = ['tenant%02d' % number for number in range(1, 24)]
            for tenant in tenants:
                sim.edit_config(tenant, 'dev', 'idm', 'Email > Templates', 'add', 'Forgotten Username')
                sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'modify', 'Login')
            rows = []
            for name, chosen, progress in (('promote.yml, 1 tenant, progress off', tenants[:1], 0),
                                           ('promote.yml, 10 tenants, forks 10, progress off', tenants[1:11], 0),
                                           ('promote.yml, 1 tenant, progress %d s' % args.progress, tenants[11:12], args.progress),
                                           ('promote.yml, 10 tenants, forks 10, progress %d s' % args.progress, tenants[12:22],
                                            args.progress)):
                print('running: %s ...' % name, flush=True)
                rows.append(run_playbook(sim, workdir, name.split(',')[1].strip().replace(' ', '-') + '-%d' % progress, chosen, progress))
                rows[-1]['name'] = name
            print('running: manual procedure ...', flush=True)
            rows.append(manual(sim, tenants[22]))
    print()
    header = '%-48s %7s %7s %9s %9s %10s %9s' % ('run', 'wall s', 'floor s', 'overhead', 'requests', 'CPU s', 'CPU/tenant')
    print(header)
    print('-' * len(header))
    for row in rows:
        values = (row['name'], row['wall'], row['floor'], row['overhead'], row['requests'], row['cpu'], row['cpu_per_tenant'])
        print('%-48s %7.1f %7.1f %9.1f %9.0f %10.2f %9.2f' % values)
    one, ten, baseline = rows[0], rows[1], rows[-1]
    print()
    print('10 tenants / 1 tenant wall time (progress off): %.2fx (target <= 1.2x)' % (ten['wall'] / one['wall']))
    print('overhead above the floor, 1 tenant (progress off): %.1f s (target <= 3 s)' % one['overhead'])
    print('controller CPU per tenant promotion (progress off): %.2f s, %.2f s (target <= 1.5 s)'
          % (one['cpu_per_tenant'], ten['cpu_per_tenant']))
    print('1 tenant, progress %d s, vs progress off: %+.1f s wall (the last poll interval is waited out)'
          % (args.progress, rows[2]['wall'] - one['wall']))
    print('promote.yml vs the manual procedure, 1 tenant: %.2fx the wall time (%.1f s vs %.1f s); 10 tenants take %.2fx '
          'one manual promotion' % (one['wall'] / baseline['wall'], one['wall'], baseline['wall'], ten['wall'] / baseline['wall']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
