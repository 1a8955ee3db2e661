# -*- coding: utf-8 -*-
"""`promote.yml --check` as a CI pre-flight: read-only, it exits non-zero when any host would fail (a gate, the
release check, a lock another promotion holds, a missing scope), names the cause per host, and shows the hosts that
would be promoted as changed, with what would change. A promotion without its lower environment cannot be previewed:
the host is shown as such, with a warning, never as a promotion of nothing."""

from __future__ import annotations

import re

from tests.integration.role.support import config, host_vars, run, write_inventory, writes_of

RELEASE_SCOPE = 'fr:idc:release:*'


def test_check_mode_fails_for_each_host_that_would_fail_and_changes_nothing(simulator, tmp_path):
    sim = simulator
    # tenant01: would be promoted. tenant02: the dry run's gate would stop on a missing ESV. tenant03: the promotion
    # would also upgrade production. tenant04: a lock someone else holds. tenant05: the release check is required but
    # the account lacks its scope. tenant06: a missing ESV too, but its inventory names no lower environment.
    sim.edit_config('tenant01', 'dev', 'am', 'Journeys', 'add', 'Would be promoted')
    for tenant in ('tenant02', 'tenant03', 'tenant04', 'tenant05', 'tenant06'):
        sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Preflight')
    for tenant in ('tenant02', 'tenant06'):
        sim.edit_config(tenant, 'dev', 'idm', 'Email > Templates', 'add', 'Needs an ESV', esv_refs=['esv.preflight.sender'])
    unpreviewed = {name: value for name, value in host_vars(sim, 'tenant06', 'staging').items() if not name.startswith('promote_lower_')}
    sim.set_release('tenant03', 'staging', '2025.7.0')
    sim.set_release('tenant03', 'prod', '2025.6.1')
    sim.edit_config('tenant03', 'staging', 'am', 'Journeys', 'add', 'Preflight')
    holder = sim.foreign_lock('tenant04', 'staging')
    sim.set_variant(tenant='tenant05', account_scopes='promotion')
    inventory = write_inventory(tmp_path / 'inventory.yml', {
        'ok-staging': host_vars(sim, 'tenant01', 'staging'),
        'esv-staging': host_vars(sim, 'tenant02', 'staging'),
        'release-prod': host_vars(sim, 'tenant03', 'prod'),
        'locked-staging': host_vars(sim, 'tenant04', 'staging'),
        'scope-staging': host_vars(sim, 'tenant05', 'staging', promote_require_release_check=True),
        'unpreviewed-staging': unpreviewed})
    tenants = ('tenant01', 'tenant02', 'tenant03', 'tenant04', 'tenant05', 'tenant06')
    before = {tenant: config(sim, tenant, 'staging') for tenant in tenants if tenant != 'tenant03'}

    checked = run(tmp_path, inventory, check=True, diff=True)
    assert checked.rc == 2, checked.output()
    assert checked.changed('ok-staging') == 1 and checked.failed('ok-staging') == 0
    # --diff: what would be promoted, for that host only (the others fail before their preview, or have none).
    assert '- added: Would be promoted' in checked.stdout and '- added: Preflight' not in checked.stdout
    for host in ('esv-staging', 'release-prod', 'locked-staging', 'scope-staging'):
        assert checked.failed(host) == 1, (host, checked.output())
    lines = {line.split(': ', 1)[0].strip(' "'): line for line in checked.stdout.splitlines()
             if line.lstrip(' "').split(': ', 1)[0] in ('ok-staging', 'esv-staging', 'release-prod', 'locked-staging', 'scope-staging',
                                                        'unpreviewed-staging')}
    assert 'would promote (1 changes: 1 added' in lines['ok-staging']
    assert 'missing ESVs preflight.sender' in lines['esv-staging']
    assert 'Release check' in lines['release-prod'] and 'promote_allow_release_upgrade' in lines['release-prod']
    assert holder in lines['locked-staging'] and 'promote_resume' in lines['locked-staging']
    assert RELEASE_SCOPE in lines['scope-staging']
    # No lower environment: what a real run would find is unknown, and it says so (the real run would stop on the ESV).
    assert checked.changed('unpreviewed-staging') == 1 and checked.failed('unpreviewed-staging') == 0
    assert 'would promote (changes not previewed: no lower environment)' in lines['unpreviewed-staging']
    assert 'Check mode could not preview this promotion' in checked.stdout
    assert re.search(r'unpreviewed-staging +would promote +not previewed', checked.stdout)
    assert 'reports in' not in checked.stdout and 'reports of' not in checked.stdout  # none was written

    # Read-only: nothing locked, started or released anywhere, no configuration changed, no file written.
    for tenant in tenants:
        assert writes_of(sim, tenant) == [], tenant
    assert {tenant: config(sim, tenant, 'staging') for tenant in before} == before
    assert sim.env_state('tenant04', 'staging')['lock']['promotionId'] == holder
    # Nothing written but the plans of the hosts that would be promoted, on the controller.
    plans = (tmp_path / 'reports' / 'plan.yml').read_text()
    assert sorted(path.name for path in (tmp_path / 'reports').iterdir()) == ['plan.yml']
    assert 'ok-staging' in plans and 'esv-staging' not in plans and 'unpreviewed-staging' not in plans
