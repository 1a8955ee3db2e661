# -*- coding: utf-8 -*-
"""`make demo`: start the bundled tenant simulator with the demo tenants, run playbooks/promote.yml against the
inventory it writes, print the summary and where the reports are, and stop the simulator (also on Ctrl-C).

The demo tenants: acme (changes to promote, dev -> staging -> prod), globex (nothing to promote) and initech (dev
references an ESV staging lacks: its staging stops at the missing-ESV gate, by design, and its prod is skipped).
Exits 0 when every tenant ended as the demo intends.

    python -m tests.demo [--workdir demo-output] [--speed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.simulator.control import Simulator

ROOT = Path(__file__).resolve().parents[1]

EXPECTED = {
    'acme-staging': 'promoted',
    'acme-prod': 'promoted',
    'globex-staging': 'nothing_to_promote',
    'globex-prod': 'nothing_to_promote',
    'initech-staging': 'failed',
    'initech-prod': 'skipped',
}


def ansible_playbook():
    """The ansible-playbook next to this Python (the venv's), else the one on PATH."""
    local = Path(sys.executable).parent / 'ansible-playbook'
    return str(local) if local.exists() else (shutil.which('ansible-playbook') or 'ansible-playbook')


def check(summary):
    """Problems with the run, against what the demo intends; empty when it went as intended."""
    outcomes = {row['host']: row for row in summary}
    problems = []
    for host, wanted in EXPECTED.items():
        got = outcomes.get(host, {}).get('outcome')
        if got != wanted:
            problems.append('%s: expected %s, got %s (%s)' % (host, wanted, got, outcomes.get(host, {}).get('reason', '')))
    if 'email.from' not in outcomes.get('initech-staging', {}).get('reason', ''):
        problems.append('initech-staging did not stop on the missing ESV email.from')
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', 1)[0])
    parser.add_argument('--workdir', default=str(ROOT / 'demo-output'), help='where the inventory and reports go (emptied first)')
    parser.add_argument('--speed', default='1', help='divide the simulated phase durations by this')
    args = parser.parse_args(argv)

    workdir = Path(args.workdir).resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    inventory = workdir / 'inventory.yml'
    reports = workdir / 'reports'
    environment = dict(os.environ)
    environment.setdefault('ANSIBLE_COLLECTIONS_PATH', str(ROOT / 'build' / 'collections'))
    environment.setdefault('ANSIBLE_FORCE_COLOR', '1' if sys.stdout.isatty() else '0')

    print('== Starting the tenant simulator (tenants acme, globex, initech; dev, staging, prod each)', flush=True)
    simulator = Simulator.start(workdir / 'simulator', scenario='demo',
                                extra_args=['--inventory', str(inventory), '--speed', args.speed])
    try:
        print('== Inventory: %s (group promotion_targets, one host per upper environment)' % inventory)
        command = [ansible_playbook(), str(ROOT / 'playbooks' / 'promote.yml'), '-i', str(inventory),
                   '-e', 'promote_report_dir=%s' % reports,
                   '-e', 'promote_description=make demo']
        print('== Running: %s' % ' '.join(command), flush=True)
        started = time.monotonic()
        completed = subprocess.run(command, cwd=str(workdir), env=environment, check=False)
        elapsed = time.monotonic() - started
        locked = ['%s/%s' % (tenant, env) for tenant in ('acme', 'globex', 'initech') for env in ('staging', 'prod')
                  if simulator.env_state(tenant, env)['lock']]
    except KeyboardInterrupt:
        print('\n== Interrupted; stopping the simulator.', flush=True)
        return 130
    finally:
        simulator.stop()

    summary_file = reports / 'summary.json'
    if not summary_file.exists():
        print('== The playbook ended (exit %s) without writing %s: the demo did not run as intended.'
              % (completed.returncode, summary_file))
        return 1
    summary = json.loads(summary_file.read_text(encoding='utf-8'))
    problems = check(summary)
    if locked:
        problems.append('still locked: %s' % ', '.join(locked))
    print()
    print('== ansible-playbook took %.0f s and exited %s (non-zero because initech-staging failed, as intended).'
          % (elapsed, completed.returncode))
    print('== Reports (JSON and Markdown, per host): %s/<host>/' % reports)
    for row in summary:
        if row.get('reports'):
            print('     %s: %s' % (row['host'], ', '.join(row['reports'])))
    print('== Summary: %s and %s' % (summary_file, summary_file.with_suffix('.md')))
    if problems:
        print('== The demo did NOT run as intended:')
        for problem in problems:
            print('     ' + problem)
        return 1
    print('== The demo ran as intended: acme promoted into staging then prod, globex had nothing to promote, and '
          'initech-staging stopped at the missing-ESV gate (expected: its dev references esv.email.from, which its '
          'staging lacks), so initech-prod was skipped. Every lock was released.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
