# -*- coding: utf-8 -*-
"""The promote role's gates, run by ansible-playbook against the simulator: missing ESVs, encrypted values (and
promote_ignore_encrypted_secrets), and the release check (refused, then allowed)."""

from __future__ import annotations

import json

from tests.integration.role.support import config, host_vars, lock_record, report_files, run, summary, write_inventory, writes_of

PROMOTE_POST = ('POST', '/environment/promotion/promote')


def test_missing_esv_stops_at_the_gate_and_releases_the_lock(simulator, tmp_path):
    sim, tenant = simulator, 'tenant05'
    sim.edit_config(tenant, 'dev', 'idm', 'Email > Templates', 'add', 'Forgotten Username', esv_refs=['esv.email.from'])
    before = config(sim, tenant, 'staging')
    inventory = write_inventory(tmp_path / 'inventory.yml', {'t5-staging': host_vars(sim, tenant, 'staging')})

    result = run(tmp_path, inventory)
    assert result.rc == 2 and result.failed('t5-staging') == 1, result.output()
    row = summary(tmp_path)['t5-staging']
    assert row['outcome'] == 'failed' and 'missing ESVs email.from' in row['reason'], row
    assert row['lock_released'] is True
    assert 'Missing ESVs: email.from' in (tmp_path / 'reports' / 't5-staging' / 'dry-run.md').read_text()
    assert report_files(tmp_path, 't5-staging') == ['dry-run.json', 'dry-run.md']
    assert writes_of(sim, tenant).count(PROMOTE_POST) == 1 and config(sim, tenant, 'staging') == before
    assert sim.env_state(tenant, 'staging')['lock'] is None and lock_record(tmp_path, 't5-staging') is None
    assert 'failed' in result.stdout and 'missing ESVs email.from' in result.stdout


def test_encrypted_values_stop_unless_ignored(simulator, tmp_path):
    sim, tenant = simulator, 'tenant06'
    sim.plant_encrypted(tenant, 'dev', 'am', 'Persistent Cookie', 'default')
    inventory = write_inventory(tmp_path / 'inventory.yml', {'t6-staging': host_vars(sim, tenant, 'staging')})

    stopped = run(tmp_path, inventory)
    assert stopped.rc == 2, stopped.output()
    row = summary(tmp_path)['t6-staging']
    assert row['outcome'] == 'failed' and 'encrypted values' in row['reason'] and 'promote_ignore_encrypted_secrets' in row['reason']
    assert sim.env_state(tenant, 'staging')['lock'] is None
    assert writes_of(sim, tenant).count(PROMOTE_POST) == 1

    let_through = run(tmp_path, inventory, promote_ignore_encrypted_secrets=True)
    assert let_through.rc == 0, let_through.output()
    assert summary(tmp_path)['t6-staging']['outcome'] == 'promoted'
    promotion = json.loads((tmp_path / 'reports' / 't6-staging' / 'promotion.json').read_text())
    assert promotion['previouslyIgnoredEncryptedSecrets']
    assert config(sim, tenant, 'staging') == config(sim, tenant, 'dev')
    assert sim.env_state(tenant, 'staging')['lock'] is None


def test_release_upgrade_refused_then_allowed(simulator, tmp_path):
    sim, tenant = simulator, 'tenant07'
    sim.edit_config(tenant, 'staging', 'am', 'Journeys', 'add', 'Checkout')
    sim.set_release(tenant, 'staging', '2025.7.0')
    sim.set_release(tenant, 'prod', '2025.6.1', next_upgrade='2025-07-20')
    inventory = write_inventory(tmp_path / 'inventory.yml', {'t7-prod': host_vars(sim, tenant, 'prod')})

    refused = run(tmp_path, inventory)
    assert refused.rc == 2, refused.output()
    row = summary(tmp_path)['t7-prod']
    assert row['outcome'] == 'failed' and 'Release check' in row['reason'] and '2025.7.0' in row['reason'], row
    assert 'promote_allow_release_upgrade' in row['reason']
    assert writes_of(sim, tenant) == []  # refused before locking
    assert sim.env_state(tenant, 'prod')['lock'] is None
    assert sim.env_state(tenant, 'prod')['release']['currentVersion'] == '2025.6.1'

    allowed = run(tmp_path, inventory, promote_allow_release_upgrade=True)
    assert allowed.rc == 0, allowed.output()
    assert summary(tmp_path)['t7-prod']['outcome'] == 'promoted'
    assert sim.env_state(tenant, 'prod')['release']['currentVersion'] == '2025.7.0'
    assert config(sim, tenant, 'prod') == config(sim, tenant, 'staging')
    assert sim.env_state(tenant, 'prod')['lock'] is None


def test_a_refused_release_check_releases_an_interrupted_runs_lock_and_its_record(simulator, tmp_path):
    # An interrupted run left its lock, recorded; by the rerun the releases differ and the check refuses.
    sim, tenant = simulator, 'tenant08'
    sim.edit_config(tenant, 'staging', 'am', 'Journeys', 'add', 'Resume')
    inventory = write_inventory(tmp_path / 'inventory.yml', {'t8-prod': host_vars(sim, tenant, 'prod')})
    record = tmp_path / 'reports' / 't8-prod' / '.lock.json'
    record.parent.mkdir(parents=True)
    holder = sim.foreign_lock(tenant, 'prod')  # stands for the interrupted run's own lock
    record.write_text(json.dumps({'promotion_id': holder, 'tenant_url': sim.url(tenant, 'prod')}))
    sim.set_release(tenant, 'staging', '2025.7.0')
    sim.set_release(tenant, 'prod', '2025.6.1')

    refused = run(tmp_path, inventory)
    assert refused.rc == 2, refused.output()
    row = summary(tmp_path)['t8-prod']
    assert row['outcome'] == 'failed' and 'Release check' in row['reason'], row
    assert sim.env_state(tenant, 'prod')['lock'] is None and sim.env_state(tenant, 'staging')['lock'] is None
    assert lock_record(tmp_path, 't8-prod') is None
    assert ('POST', '/environment/promotion/promote') not in writes_of(sim, tenant)
