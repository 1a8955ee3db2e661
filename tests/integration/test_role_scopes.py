# -*- coding: utf-8 -*-
"""The documented scope: service accounts granted only fr:idc:promotion:* (the seed's procedure) still promote with
the lower environment known; the release check is then skipped with a warning naming the scope, or, when required,
fails before anything is locked."""

from __future__ import annotations

from tests.integration.role.support import config, host_vars, run, summary, write_inventory, writes_of

RELEASE_SCOPE = 'fr:idc:release:*'


def test_an_account_with_only_the_promotion_scope_still_promotes_with_a_warning(simulator, tmp_path):
    sim, tenant = simulator, 'tenant01'
    sim.set_variant(tenant=tenant, account_scopes='promotion')
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Scoped')
    inventory = write_inventory(tmp_path / 'inventory.yml', {'s1-staging': host_vars(sim, tenant, 'staging')})

    result = run(tmp_path, inventory)
    assert result.rc == 0, result.output()
    row = summary(tmp_path)['s1-staging']
    assert row['outcome'] == 'promoted' and row['lock_released'] is True
    assert len(row['warnings']) == 1 and 'Release check skipped' in row['warnings'][0] and RELEASE_SCOPE in row['warnings'][0]
    host_line = next(line for line in result.stdout.splitlines() if 's1-staging: promoted' in line)
    assert 'warning: Release check skipped' in host_line and RELEASE_SCOPE in host_line
    assert 'warning for s1-staging: Release check skipped' in result.stdout  # the summary table
    assert 'belong to this environment' not in result.output()  # a missing scope, never a wrong key
    assert config(sim, tenant, 'staging') == config(sim, tenant, 'dev')
    # The release was never read: the token request for its scope was refused.
    assert not any(entry['template'] == '/environment/release' and entry['status'] == 200
                   for entry in sim.request_log(tenant, 'staging'))


def test_a_required_release_check_fails_before_locking_and_names_the_scope(simulator, tmp_path):
    sim, tenant = simulator, 'tenant02'
    sim.set_variant(tenant=tenant, account_scopes='promotion')
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Required')
    inventory = write_inventory(tmp_path / 'inventory.yml', {'s2-staging': host_vars(sim, tenant, 'staging')})

    result = run(tmp_path, inventory, promote_require_release_check=True)
    assert result.rc == 2, result.output()
    row = summary(tmp_path)['s2-staging']
    assert row['outcome'] == 'failed' and RELEASE_SCOPE in row['reason'] and 'require_release_check' in row['reason']
    assert writes_of(sim, tenant) == []  # nothing locked, nothing started
    assert sim.env_state(tenant, 'staging')['lock'] is None


def test_check_mode_skips_the_release_check_with_the_same_warning(simulator, tmp_path):
    sim, tenant = simulator, 'tenant03'
    sim.set_variant(tenant=tenant, account_scopes='promotion')
    inventory = write_inventory(tmp_path / 'inventory.yml', {'s3-staging': host_vars(sim, tenant, 'staging')})

    result = run(tmp_path, inventory, check=True)
    assert result.rc == 0, result.output()
    host_line = next(line for line in result.stdout.splitlines() if 's3-staging: ' in line and 'warning:' in line)
    assert 'Release check skipped' in host_line and RELEASE_SCOPE in host_line
    assert writes_of(sim, tenant) == []
