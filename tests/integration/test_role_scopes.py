# -*- coding: utf-8 -*-
"""The documented scope: service accounts granted only fr:idc:promotion:* (the seed's procedure) still promote with
the lower environment known; the release check is then skipped with a warning naming the scope, or, when required,
fails before anything is locked.

The tests share their runs (the module fixture ``runs``): one promote.yml run over the hosts that promote and that
require the release check (a host variable, as -e would set it), a tenant each, and alongside it the check-mode run
(--check), a run of its own."""

from __future__ import annotations

import threading

import pytest

from tests.integration.role.support import HostRun, config, host_lines, host_vars, run, summary, write_inventory, writes_of

RELEASE_SCOPE = 'fr:idc:release:*'


@pytest.fixture(scope='module')
def runs(simulator, tmp_path_factory):
    sim, workdir = simulator, tmp_path_factory.mktemp('role-scopes')
    for tenant in ('tenant01', 'tenant02', 'tenant03'):
        sim.set_variant(tenant=tenant, account_scopes='promotion')
    sim.edit_config('tenant01', 'dev', 'am', 'Journeys', 'add', 'Scoped')
    sim.edit_config('tenant02', 'dev', 'am', 'Journeys', 'add', 'Required')
    check_dir, checked = workdir / 'check', {}
    check = threading.Thread(target=lambda: checked.update(run=run(check_dir, write_inventory(
        check_dir / 'inventory.yml', {'s3-staging': host_vars(sim, 'tenant03', 'staging')}), check=True)))
    check.start()
    try:
        shared = run(workdir, write_inventory(workdir / 'inventory.yml', {
            's1-staging': host_vars(sim, 'tenant01', 'staging'),
            's2-staging': host_vars(sim, 'tenant02', 'staging', promote_require_release_check=True)}), args=('--forks', '2'))
    finally:
        check.join()
    return dict(workdir=workdir, shared=shared, checked=checked.get('run'))


def test_an_account_with_only_the_promotion_scope_still_promotes_with_a_warning(simulator, runs):
    sim, tenant, host = simulator, 'tenant01', 's1-staging'
    result = HostRun(runs['shared'], host)
    assert result.rc == 0, result.output()
    row = summary(runs['workdir'])[host]
    assert row['outcome'] == 'promoted' and row['lock_released'] is True
    # The release check and the session check, each skipped for want of its scope.
    assert len(row['warnings']) == 2 and 'Release check skipped' in row['warnings'][0] and RELEASE_SCOPE in row['warnings'][0]
    assert 'Direct-configuration session check skipped' in row['warnings'][1]
    host_line = next(line for line in result.stdout.splitlines() if 's1-staging: promoted' in line)
    assert 'warning: Release check skipped' in host_line and RELEASE_SCOPE in host_line
    assert 'warning for s1-staging: Release check skipped' in result.stdout  # the summary table
    assert 'belong to this environment' not in result.output()  # a missing scope, never a wrong key
    assert config(sim, tenant, 'staging') == config(sim, tenant, 'dev')
    # The release was never read: the token request for its scope was refused.
    assert not any(entry['template'] == '/environment/release' and entry['status'] == 200
                   for entry in sim.request_log(tenant, 'staging'))


def test_a_required_release_check_fails_before_locking_and_names_the_scope(simulator, runs):
    sim, tenant, host = simulator, 'tenant02', 's2-staging'
    result = HostRun(runs['shared'], host)
    assert result.rc == 2, result.output()
    row = summary(runs['workdir'])[host]
    assert row['outcome'] == 'failed' and RELEASE_SCOPE in row['reason'] and 'require_release_check' in row['reason']
    assert writes_of(sim, tenant) == []  # nothing locked, nothing started
    assert sim.env_state(tenant, 'staging')['lock'] is None


def test_check_mode_skips_the_release_check_with_the_same_warning(simulator, runs):
    # A run of its own (--check), alongside the other.
    sim, tenant = simulator, 'tenant03'
    result = runs['checked']
    assert result is not None, 'no check-mode run'
    assert result.rc == 0, result.output()
    host_line = next(line for line in host_lines(result.stdout, 's3-staging: ') if 'warning:' in line)
    assert 'Release check skipped' in host_line and RELEASE_SCOPE in host_line
    assert writes_of(sim, tenant) == []
