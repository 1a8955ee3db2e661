# -*- coding: utf-8 -*-
"""The contract matrix: the role's whole promotion (release check, lock, dry run, gates, promotion, unlock, reports)
against every variant of the service that the simulator plays, and against the "seed" preset (everything the vendor's
guide shows), each variant a tenant of its own, all in one ansible-playbook run so that they go in parallel.

Each host asserts: exactly one real promotion, the outcome that the tenant's state shows, reports that say dry run or
promotion correctly, and the lock released."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.integration.role.support import PLAYBOOKS, host_vars, lock_record, promote_vars, write_inventory
from tests.integration.support import run_playbook
from tests.simulator.control import Simulator

# host: (variant, timing). Every host's tenant has a change in dev to promote into staging.
VARIANTS = {
    'defaults': ({}, None),
    'report-body-seed': ({'report_body': 'seed'}, None),
    'report-list-seed': ({'report_list': 'seed', 'report_body': 'seed'}, None),
    'report-shape-new': ({'report_shape': 'new'}, None),
    'unlock-200-unlocking': ({'unlock_answer': 'unlocking-200'}, None),
    'unlock-202-unlocking': ({'unlock_answer': 'unlocking-202'}, None),
    'stale-lock-reads': ({'stale_lock_reads': 2}, None),
    'lock-on-read': ({'lock_progress': 'on_read'}, None),
    'proxy-state': ({'proxy_state': True}, None),
    'promotion-scope-only': ({'account_scopes': 'promotion'}, None),
    'errors-common-rest': ({'error_body': 'common-rest'}, None),
    'errors-promotions': ({'error_body': 'promotions'}, None),
    'status-without-type': ({'status_type': 'absent'}, None),
    'previous-status-visible': ({'previous_status': 'visible'}, None),
    'in-progress': ({'status_running': 'IN_PROGRESS'}, None),
    'dashed-dates': ({'date_format': 'dashed'}, None),
    'lax-versions': ({'versions': 'lax'}, None),
    'start-202': ({'start_status': 202}, None),
    'ping-identity': ({'vendor': 'Ping Identity'}, None),
    'field-timing': ({}, 'field'),
    'seed': ({'preset': 'seed'}, None),
    'seed-field-timing': ({'preset': 'seed'}, 'field'),
}
# The seed preset with nothing to promote: no real promotion may be reported (the defect this matrix was made for).
NOTHING = 'seed-nothing-to-promote'
HOSTS = list(VARIANTS) + [NOTHING]


def previous_run(sim, tenant):
    """A dry run under an earlier lock, by hand (the seven steps with requests), so that a previous run's status exists."""
    base, token = sim.url(tenant, 'staging'), sim.credentials(tenant, 'staging')['access_token']
    headers = {'Authorization': 'Bearer %s' % token, 'Accept-API-Version': 'protocol=1.0,resource=1.0'}

    def call(method, path, **kwargs):
        # verify given with each request: a session-wide one loses to REQUESTS_CA_BUNDLE.
        response = requests.request(method, base + path, headers=headers, verify=sim.ca_file, timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    def poll(path, done):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if done(call('GET', path)):
                return
            time.sleep(0.05)
        raise AssertionError('%s never reached the state wanted' % path)

    promotion_id = call('POST', '/environment/promotion/lock')['promotionId']
    poll('/environment/promotion/lock/state', lambda body: body['result'] == 'locked')
    call('POST', '/environment/promotion/promote', json={'dryRun': True})
    poll('/environment/promotion/promote', lambda body: body['status'] == 'READY' and 'completed' in body['message'])
    call('DELETE', '/environment/promotion/lock/%s' % promotion_id)
    poll('/environment/promotion/lock/state', lambda body: body['result'] == 'unlocked')


@pytest.fixture(scope='module')
def matrix(tmp_path_factory):
    """One simulator, one tenant per host, one promote.yml run over all of them (forks: one per host)."""
    workdir = tmp_path_factory.mktemp('matrix')
    names = ['m%02d' % index for index in range(1, len(HOSTS) + 1)]
    with Simulator.start(workdir / 'simulator', tenants=','.join(names), extra_args=['--speed', '20']) as sim:
        tenants = dict(zip(HOSTS, names))
        for host, tenant in tenants.items():
            variant, timing = VARIANTS.get(host, ({'preset': 'seed'}, None))
            if host != NOTHING:
                sim.edit_config(tenant, 'dev', 'idm', 'Email > Templates', 'add', 'Forgotten Username')
                sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'modify', 'Login')
            if host == 'previous-status-visible':
                previous_run(sim, tenant)
            if variant:
                sim.set_variant(tenant=tenant, **variant)
            if timing:
                sim.set_timing(tenant=tenant, profile=timing, speed=400)  # a ten-minute promotion in about 1.5 s
        sim.reset_log()
        inventory = write_inventory(workdir / 'inventory.yml',
                                    {host: host_vars(sim, tenant, 'staging') for host, tenant in tenants.items()})
        result = run_playbook(PLAYBOOKS / 'promote.yml', workdir / 'run', inventory=inventory,
                              extra_vars=promote_vars(workdir), args=['--forks', str(len(HOSTS))])
        yield dict(sim=sim, tenants=tenants, result=result, workdir=workdir,
                   summary={row['host']: row for row in json.loads((workdir / 'reports' / 'summary.json').read_text())}
                   if (workdir / 'reports' / 'summary.json').exists() else {})


def report(workdir, host, name):
    return (workdir / 'reports' / host / name).read_text()


def test_the_run_succeeded_for_every_variant(matrix):
    result = matrix['result']
    assert result.rc == 0, result.output()
    assert set(matrix['summary']) == set(HOSTS)


@pytest.mark.parametrize('host', list(VARIANTS))
def test_one_real_promotion_reported_as_it_happened(matrix, host):
    sim, workdir, tenant = matrix['sim'], matrix['workdir'], matrix['tenants'][host]
    runs = sim.env_state(tenant, 'staging')['runs']
    real = [run for run in runs if run['kind'] == 'promotion' and not run['dry_run']]
    assert len(real) == 1, runs
    assert real[0]['status'] == 'READY'
    # The outcome the tenant's state shows: staging now holds dev's configuration, and the row says promoted.
    assert sim.env_state(tenant, 'staging')['config'] == sim.env_state(tenant, 'dev')['config']
    row = matrix['summary'][host]
    assert (row['outcome'], row['added'], row['modified'], row['total']) == ('promoted', 1, 1, 2), row
    assert matrix['result'].changed(host) == 1
    # Reports that say dry run or promotion correctly, in both files, whatever shape the tenant sent.
    dry_md, real_md = report(workdir, host, 'dry-run.md'), report(workdir, host, 'promotion.md')
    assert dry_md.startswith('# Promotion report (dry run)\n'), dry_md[:200]
    assert real_md.startswith('# Promotion report\n'), real_md[:200]
    dry_json, real_json = json.loads(report(workdir, host, 'dry-run.json')), json.loads(report(workdir, host, 'promotion.json'))
    assert dry_json['reportId'] != real_json['reportId']
    assert 'dryrun=true' in dry_json['reportName'] and 'dryrun=false' in real_json['reportName']
    assert real_json['promotionId'] == row['promotion_id'] == real[0]['promotion_id']
    # The lock released, in both environments, and no record left.
    assert row['lock_released'] is True
    assert sim.env_state(tenant, 'staging')['lock'] is None and sim.env_state(tenant, 'dev')['lock'] is None
    assert lock_record(workdir, host) is None


def test_the_seed_preset_with_nothing_to_promote_reports_no_promotion(matrix):
    sim, tenant = matrix['sim'], matrix['tenants'][NOTHING]
    runs = sim.env_state(tenant, 'staging')['runs']
    assert [run['dry_run'] for run in runs] == [True], runs
    row = matrix['summary'][NOTHING]
    assert row['outcome'] == 'nothing_to_promote' and row['total'] == 0 and row['lock_released'] is True
    assert matrix['result'].changed(NOTHING) == 0
    assert sim.env_state(tenant, 'staging')['lock'] is None


@pytest.mark.parametrize('host', ['promotion-scope-only', 'seed', 'seed-field-timing', NOTHING])
def test_accounts_without_the_release_scope_skip_the_check_with_a_warning(matrix, host):
    row = matrix['summary'][host]
    assert any('fr:idc:release:*' in warning for warning in row['warnings']), row


@pytest.mark.parametrize('host', ['defaults', 'report-body-seed', 'lock-on-read'])
def test_accounts_with_the_release_scope_make_the_check(matrix, host):
    assert matrix['summary'][host]['warnings'] == []
    tenant = matrix['tenants'][host]
    assert any(entry['template'] == '/environment/release' and entry['status'] == 200
               for entry in matrix['sim'].request_log(tenant, 'staging'))
