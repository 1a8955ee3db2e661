# -*- coding: utf-8 -*-
"""The promote role's gates, run by ansible-playbook against the simulator: missing ESVs, encrypted values (and
promote_ignore_encrypted_secrets), and the release check (refused, then allowed).

The tests share two promote.yml runs (the module fixture ``gates``): the first over every test's host (a tenant each),
the second over the hosts run again with the option that lets them through (a host variable, as -e would set it);
what a test checks between the two is kept when the first ends."""

from __future__ import annotations

import json

import pytest

from tests.integration.role.support import (HostRun, config, host_lines, host_vars, lock_record, report_files, run, summary,
                                            write_inventory, writes_of)

PROMOTE_POST = ('POST', '/environment/promotion/promote')
HOSTS = {'t5-staging': ('tenant05', 'staging'), 't6-staging': ('tenant06', 'staging'), 't7-prod': ('tenant07', 'prod'),
         't8-prod': ('tenant08', 'prod')}


@pytest.fixture(scope='module')
def gates(simulator, tmp_path_factory):
    sim, workdir = simulator, tmp_path_factory.mktemp('role-gates')
    kept = {}
    # t5: dev references an ESV staging lacks.
    sim.edit_config('tenant05', 'dev', 'idm', 'Email > Templates', 'add', 'Forgotten Username', esv_refs=['esv.email.from'])
    kept['t5 before'] = config(sim, 'tenant05', 'staging')
    # t6: an encrypted value in dev.
    sim.plant_encrypted('tenant06', 'dev', 'am', 'Persistent Cookie', 'default')
    # t7: the promotion would upgrade production's release.
    sim.edit_config('tenant07', 'staging', 'am', 'Journeys', 'add', 'Checkout')
    sim.set_release('tenant07', 'staging', '2025.7.0')
    sim.set_release('tenant07', 'prod', '2025.6.1', next_upgrade='2025-07-20')
    # t8: an interrupted run left its lock, recorded; by the rerun the releases differ and the check refuses.
    sim.edit_config('tenant08', 'staging', 'am', 'Journeys', 'add', 'Resume')
    record = workdir / 'reports' / 't8-prod' / '.lock.json'
    record.parent.mkdir(parents=True)
    kept['t8 holder'] = holder = sim.foreign_lock('tenant08', 'prod')  # stands for the interrupted run's own lock
    record.write_text(json.dumps({'promotion_id': holder, 'tenant_url': sim.url('tenant08', 'prod')}))
    sim.set_release('tenant08', 'staging', '2025.7.0')
    sim.set_release('tenant08', 'prod', '2025.6.1')

    first = run(workdir, write_inventory(workdir / 'first.yml', {host: host_vars(sim, *where) for host, where in HOSTS.items()}),
                args=('--forks', str(len(HOSTS))))
    kept['first summary'] = summary(workdir) if (workdir / 'reports' / 'summary.json').exists() else {}
    kept['t6 writes'], kept['t6 lock'] = writes_of(sim, 'tenant06'), sim.env_state('tenant06', 'staging')['lock']
    kept['t7 writes'], kept['t7 prod'] = writes_of(sim, 'tenant07'), sim.env_state('tenant07', 'prod')

    kept['t5 writes'] = writes_of(sim, 'tenant05')
    kept['t5 failure'] = json.loads((workdir / 'reports' / 't5-staging' / 'failure.json').read_text())
    kept['t6 failed first'] = (workdir / 'reports' / 't6-staging' / 'failure.json').exists()

    # At -v, with t5 failing again: the whole result of a failure shows.
    second = run(workdir, write_inventory(workdir / 'second.yml', {
        't5-staging': host_vars(sim, 'tenant05', 'staging'),
        't6-staging': host_vars(sim, 'tenant06', 'staging', promote_ignore_encrypted_secrets=True),
        't7-prod': host_vars(sim, 'tenant07', 'prod', promote_allow_release_upgrade=True)}), args=('--forks', '3', '-v'))
    return dict(kept, workdir=workdir, first=first, second=second,
                second_summary=summary(workdir) if (workdir / 'reports' / 'summary.json').exists() else {})


def test_missing_esv_stops_at_the_gate_and_releases_the_lock(simulator, gates):
    sim, tenant, host, workdir = simulator, 'tenant05', 't5-staging', gates['workdir']
    result = HostRun(gates['first'], host)
    assert result.rc == 2 and result.failed(host) == 1, result.output()
    row = gates['first summary'][host]
    assert row['outcome'] == 'failed' and 'missing ESVs email.from' in row['reason'], row
    assert row['lock_released'] is True
    assert 'Missing ESVs: email.from' in (workdir / 'reports' / host / 'dry-run.md').read_text()
    assert report_files(workdir, host) == ['dry-run.json', 'dry-run.md', 'failure.json']
    assert gates['t5 writes'].count(PROMOTE_POST) == 1 and config(sim, tenant, 'staging') == gates['t5 before']
    assert sim.env_state(tenant, 'staging')['lock'] is None and lock_record(workdir, host) is None
    # One concise line for the host at the default verbosity (the reason and the next step), a short fatal line for the
    # exit status, and nothing of the module's result: that is in failure.json, and at -v.
    # (The summary table's rows begin with the host's name and spaces, the recap's lines hold ': ok='.)
    failure_lines = [line for line in host_lines(result.stdout, host)
                     if 'failed' in line.lower() and not line.lstrip().startswith('"%s ' % host) and ': ok=' not in line]
    assert failure_lines == [
        '        "%s: failed: %s; reports in %s"' % (host, row['reason'].rstrip('.'), workdir / 'reports' / host),
        'fatal: [%s]: FAILED! => {"changed": false, "msg": "failed; the summary above says why"}' % host], result.stdout
    assert 'Create them in the upper environment once it is unlocked, then run again' in row['reason']
    # At most about 400 characters, with the report directory's path counted as short as make demo's.
    assert sum(len(line.replace(str(workdir), 'demo-output')) for line in failure_lines) <= 400, failure_lines
    assert '"dry_run_result"' not in result.stdout and '"missing_esvs"' not in result.stdout
    failure = gates['t5 failure']
    assert failure['failed'] is True and failure['outcome'] == 'failed' and failure['msg'].startswith(row['reason'][:40])
    assert failure['dry_run_result']['missing_esvs'] == ['email.from'] and failure['promotion_id'] == row['promotion_id']
    assert failure['failure_file'] == str(workdir / 'reports' / host / 'failure.json')
    again = HostRun(gates['second'], host)
    assert again.rc == 2 and '"dry_run_result": {' in again.stdout, again.output()


def test_encrypted_values_stop_unless_ignored(simulator, gates):
    sim, tenant, host, workdir = simulator, 'tenant06', 't6-staging', gates['workdir']
    stopped = HostRun(gates['first'], host)
    assert stopped.rc == 2, stopped.output()
    row = gates['first summary'][host]
    assert row['outcome'] == 'failed' and 'encrypted values' in row['reason'] and 'promote_ignore_encrypted_secrets' in row['reason']
    assert gates['t6 lock'] is None
    assert gates['t6 writes'].count(PROMOTE_POST) == 1

    let_through = HostRun(gates['second'], host)
    assert let_through.rc == 0, let_through.output()
    assert gates['second_summary'][host]['outcome'] == 'promoted'
    promotion = json.loads((workdir / 'reports' / host / 'promotion.json').read_text())
    assert promotion['previouslyIgnoredEncryptedSecrets']
    # The failure's file is the last run's: gone once the host succeeds.
    assert gates['t6 failed first'] and not (workdir / 'reports' / host / 'failure.json').exists()
    assert config(sim, tenant, 'staging') == config(sim, tenant, 'dev')
    assert sim.env_state(tenant, 'staging')['lock'] is None


def test_release_upgrade_refused_then_allowed(simulator, gates):
    sim, tenant, host = simulator, 'tenant07', 't7-prod'
    refused = HostRun(gates['first'], host)
    assert refused.rc == 2, refused.output()
    row = gates['first summary'][host]
    assert row['outcome'] == 'failed' and 'Release check' in row['reason'] and '2025.7.0' in row['reason'], row
    assert 'promote_allow_release_upgrade' in row['reason']
    assert gates['t7 writes'] == []  # refused before locking
    assert gates['t7 prod']['lock'] is None
    assert gates['t7 prod']['release']['currentVersion'] == '2025.6.1'

    allowed = HostRun(gates['second'], host)
    assert allowed.rc == 0, allowed.output()
    assert gates['second_summary'][host]['outcome'] == 'promoted'
    assert sim.env_state(tenant, 'prod')['release']['currentVersion'] == '2025.7.0'
    assert config(sim, tenant, 'prod') == config(sim, tenant, 'staging')
    assert sim.env_state(tenant, 'prod')['lock'] is None


def test_a_refused_release_check_releases_an_interrupted_runs_lock_and_its_record(simulator, gates):
    # An interrupted run left its lock, recorded; by the rerun the releases differ and the check refuses.
    sim, tenant, host = simulator, 'tenant08', 't8-prod'
    refused = HostRun(gates['first'], host)
    assert refused.rc == 2, refused.output()
    row = gates['first summary'][host]
    assert row['outcome'] == 'failed' and 'Release check' in row['reason'], row
    assert sim.env_state(tenant, 'prod')['lock'] is None and sim.env_state(tenant, 'staging')['lock'] is None
    assert lock_record(gates['workdir'], host) is None
    assert ('POST', '/environment/promotion/promote') not in writes_of(sim, tenant)
