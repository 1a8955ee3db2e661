# -*- coding: utf-8 -*-
"""promote.yml as AWX runs it: through ansible-runner, on a private data dir, without a terminal."""

from __future__ import annotations

import json
import sys

import ansible_runner

from tests.integration.role.support import PLAYBOOKS, config, host_vars, promote_vars


def test_promotion_through_ansible_runner_hands_outcomes_to_the_artifacts_and_no_secret_to_the_events(simulator, tmp_path):
    sim = simulator
    sim.edit_config('tenant15', 'dev', 'idm', 'Email > Templates', 'add', 'Runner')
    hosts = {'r-staging': host_vars(sim, 'tenant15', 'staging'),
             'r-prod': host_vars(sim, 'tenant15', 'prod', promote_after='r-staging')}
    private = tmp_path / 'private'
    (private / 'inventory').mkdir(parents=True)
    (private / 'inventory' / 'hosts.json').write_text(json.dumps({'all': {'children': {'promotion_targets': {
        'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}, 'hosts': hosts}}}}))
    run = ansible_runner.run(private_data_dir=str(private), playbook=str(PLAYBOOKS / 'promote.yml'),
                             extravars=promote_vars(tmp_path), quiet=True)
    events = list(run.events)
    assert (run.status, run.rc) == ('successful', 0), run.stdout.read()[-4000:]

    stats = [event for event in events if event['event'] == 'playbook_on_stats']
    assert stats[-1]['event_data']['artifact_data']['promote_outcomes'] == {'r-staging': 'promoted', 'r-prod': 'promoted'}
    assert config(sim, 'tenant15', 'prod') == config(sim, 'tenant15', 'dev')
    # The progress lines reach the job's events as they happen (AWX shows them), in order.
    lines = [event['stdout'] for event in events if event['event'] == 'verbose']
    waiting = next(index for index, line in enumerate(lines) if line.startswith('r-prod: waiting for r-staging to end first'))
    restart = next(index for index, line in enumerate(lines) if line.startswith('r-staging: the promotion: RUNNING: Waiting for'))
    starting = lines.index('r-prod: r-staging has ended well; starting')
    assert waiting < restart < starting
    # No key, private part of a key, or token in any event.
    everything = json.dumps(events)
    for env in ('dev', 'staging', 'prod'):
        entry = sim.state['tenants']['tenant15']['environments'][env]
        for secret in [entry['service_account_key'][part] for part in ('d', 'p', 'q', 'dp', 'dq', 'qi')] + [entry['access_token']]:
            assert secret not in everything
