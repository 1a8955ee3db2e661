# -*- coding: utf-8 -*-
"""promote.yml over a three-tenant inventory with staging -> prod chains (one tenant's staging fails), and
rollback.yml."""

from __future__ import annotations

import json

from tests.integration.role.support import config, host_vars, report_files, run, summary, write_inventory, writes_of


def test_three_tenants_with_chains_one_staging_fails(simulator, tmp_path):
    sim = simulator
    tenants = {'tenant11': 'north', 'tenant12': 'south'}
    sim.edit_config('tenant11', 'dev', 'am', 'Journeys', 'add', 'Checkout')
    sim.edit_config('tenant12', 'dev', 'idm', 'Email > Templates', 'add', 'Reminder', esv_refs=['esv.reminder.sender'])
    hosts = {}
    for tenant, name in tenants.items():
        hosts[name + '-staging'] = host_vars(sim, tenant, 'staging')
        hosts[name + '-prod'] = host_vars(sim, tenant, 'prod', promote_after=name + '-staging')
    sim.edit_config('tenant01', 'dev', 'idm', 'Managed Objects', 'add', 'bravo_user')
    hosts['east-staging'] = host_vars(sim, 'tenant01', 'staging')
    hosts['east-prod'] = host_vars(sim, 'tenant01', 'prod', promote_after='east-staging')
    inventory = write_inventory(tmp_path / 'inventory.yml', hosts)
    prod_before = config(sim, 'tenant12', 'prod')

    result = run(tmp_path, inventory, args=('--forks', '6'), env={'ANSIBLE_SHOW_CUSTOM_STATS': 'true'})
    assert result.rc == 2 and result.failed('south-staging') == 1 and result.failed() == 1, result.output()
    rows = summary(tmp_path)
    outcomes = {host: row['outcome'] for host, row in rows.items()}
    assert outcomes == {'north-staging': 'promoted', 'north-prod': 'promoted', 'south-staging': 'failed',
                        'south-prod': 'skipped', 'east-staging': 'promoted', 'east-prod': 'promoted'}, rows
    assert 'reminder.sender' in rows['south-staging']['reason']
    assert rows['south-prod']['reason'].startswith('south-staging must be promoted first and failed')
    assert config(sim, 'tenant11', 'prod') == config(sim, 'tenant11', 'dev')
    assert config(sim, 'tenant12', 'prod') == prod_before and writes_of(sim, 'tenant12', ('prod',)) == []
    assert config(sim, 'tenant01', 'prod') == config(sim, 'tenant01', 'dev')
    for tenant in ('tenant11', 'tenant12', 'tenant01'):
        assert all(sim.env_state(tenant, env)['lock'] is None for env in ('staging', 'prod'))
    # prod ran after its staging had finished (waves), never in parallel with it
    north = [entry for env in ('staging', 'prod') for entry in sim.request_log('tenant11', env)]
    # staging's last look at its promotion saw it unlocked (prod's release check reads staging's release later)
    staging_done = max(e['time'] for e in north if e['env'] == 'staging' and e['template'].startswith('/environment/promotion'))
    prod_locked = min(e['time'] for e in north if e['env'] == 'prod' and e['template'] == '/environment/promotion/lock')
    assert staging_done < prod_locked
    # one table for all tenants, with the report paths
    table = result.stdout[result.stdout.index('HOST '):]
    for host in hosts:
        assert host in table
    assert 'reports of north-prod: %s/north-prod/' % (tmp_path / 'reports') in table
    assert all(part in table for part in ('promoted: 4', 'failed: 1', 'skipped: 1'))
    assert (tmp_path / 'reports' / 'summary.md').exists()
    # Each host's outcome in the run's stats (AWX keeps them as the job's artifacts).
    stats = json.loads(result.stdout[result.stdout.index('CUSTOM STATS'):].split(':', 1)[1].split('RUN:', 1)[1].strip().splitlines()[0])
    assert stats['promote_outcomes'] == outcomes and stats['promote_failed'] == ['south-staging']


def test_rollback_reverts_the_last_promotion(simulator, tmp_path):
    sim, tenant = simulator, 'tenant02'
    before = config(sim, tenant, 'prod')
    sim.edit_config(tenant, 'staging', 'am', 'Journeys', 'delete', 'Registration')
    inventory = write_inventory(tmp_path / 'inventory.yml', {'t2-prod': host_vars(sim, tenant, 'prod')})
    promoted = run(tmp_path, inventory)
    assert promoted.rc == 0 and summary(tmp_path)['t2-prod']['outcome'] == 'promoted', promoted.output()
    assert config(sim, tenant, 'prod') != before

    rolled_back = run(tmp_path, inventory, playbook='rollback.yml', promote_description='Undo the journey removal')
    assert rolled_back.rc == 0, rolled_back.output()
    row = summary(tmp_path)['t2-prod']
    assert row['outcome'] == 'rolled_back' and row['total'] >= 1, row
    assert config(sim, tenant, 'prod') == before
    files = report_files(tmp_path, 't2-prod')
    assert {'rollback-preview.json', 'rollback-preview.md', 'rollback.json', 'rollback.md'} <= set(files)
    assert json.loads((tmp_path / 'reports' / 't2-prod' / 'rollback.json').read_text())['type'] == 'rollback'
    assert sim.env_state(tenant, 'prod')['lock'] is None
    assert ('POST', '/environment/promotion/rollback') in writes_of(sim, tenant, ('prod',))
