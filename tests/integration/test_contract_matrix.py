# -*- coding: utf-8 -*-
"""The contract matrix: the role's whole promotion (release check, lock, dry run, gates, promotion, unlock, reports)
against every variant of the service that the simulator plays (its defaults are the OpenAPI description's shapes),
and against the "seed" preset (everything the vendor's guide shows), each variant a tenant of its own, all in one
ansible-playbook run so that they go in parallel.

Each host asserts: exactly one real promotion, the outcome that the tenant's state shows, reports that say dry run or
promotion correctly, and the lock released.

The seed preset also goes through the role's other paths: a failure (the missing-ESV gate) in the same run; alongside
it, an interrupted run (killed in its restart phase) finished by a rerun; then, in one more run, a rollback of a host
the first run promoted, while a check-mode run previews another host.

The runs are made once per pytest run, by the first pytest-xdist worker to need them; what the tests assert on (the
tenants' states and request logs, the runs' results, the report files) is kept in a folder every worker reads."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from tests.integration.role.support import (PLAYBOOKS, config, host_vars, kill_group, lock_record, promote_vars, report_files,
                                            run, start_promote, summary, wait_for, write_inventory, writes_of)
from tests.integration.support import SIMULATOR_ARGS, PlaybookRun, once_per_run, run_playbook
from tests.simulator.control import Simulator

# host: (variant, timing). Every host's tenant has a change in dev to promote into staging.
VARIANTS = {
    'defaults': ({}, None),
    'report-body-seed': ({'report_body': 'seed'}, None),
    'report-list-seed': ({'report_list': 'seed', 'report_body': 'seed'}, None),
    'report-shape-seed': ({'report_shape': 'seed'}, None),
    'report-shape-null-realm': ({'report_shape': 'new-null-realm'}, None),
    'unlock-200-unlocking': ({'unlock_answer': 'unlocking-200'}, None),
    'unlock-200-unlocked': ({'unlock_answer': 'unlocked'}, None),
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
    'start-200': ({'start_status': 200}, None),
    'ping-identity': ({'vendor': 'Ping Identity'}, None),
    'field-timing': ({}, 'field'),
    'seed': ({'preset': 'seed'}, None),
    'seed-field-timing': ({'preset': 'seed'}, 'field'),
    'seed-previous-visible': ({'preset': 'seed', 'previous_status': 'visible'}, None),
    'seed-in-progress-dashed': ({'preset': 'seed', 'status_running': 'IN_PROGRESS', 'date_format': 'dashed'}, None),
}
SEED = {'preset': 'seed'}
# The seed preset with nothing to promote: no real promotion may be reported (the defect this matrix was made for).
NOTHING = 'seed-nothing-to-promote'
# The seed preset where dev references an ESV staging lacks: the dry run stops at the gate.
MISSING_ESV = 'seed-missing-esv'
# Promoted by the first run like every host, rolled back by the second.
ROLLBACK = 'seed-rollback'
# Killed in the restart phase of its promotion, alongside the first run; finished by the second.
RESUME = 'seed-resume'
# Previewed in check mode, alongside the second run.
CHECK = 'seed-check-mode'
HOSTS = list(VARIANTS) + [NOTHING, MISSING_ESV, ROLLBACK]
EXTRA = [RESUME, CHECK]


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


def interrupt_and_resume(sim, tenant, workdir, inventory, done):
    """promote.yml for one host, killed once its tenant restarts its workloads (like a controller that died), then run
    again while the tenant still restarts: the rerun finishes the run."""
    process, _record = start_promote(workdir, inventory)
    try:
        wait_for(lambda: sim.env_state(tenant, 'staging')['status']['message'] == 'Waiting for workloads to restart',
                 timeout=120)
        done['killed_in_restart'] = True
    finally:
        kill_group(process)
    done['record'] = lock_record(workdir, RESUME)
    done['resumed'] = run(workdir, inventory)


def make_matrix(workdir):
    """One simulator, one tenant per host, one promote.yml run over all of them (forks: one per host), with an
    interrupted run alongside; then one run that finishes the interrupted run and rolls a host back, with a check-mode
    run alongside. Returns what the tests assert on, as JSON."""
    names = ['m%02d' % index for index in range(1, len(HOSTS + EXTRA) + 1)]
    with Simulator.start(workdir / 'simulator', tenants=','.join(names), extra_args=SIMULATOR_ARGS) as sim:
        tenants = dict(zip(HOSTS + EXTRA, names))
        for host, tenant in tenants.items():
            variant, timing = VARIANTS.get(host, (SEED, None))
            if host != NOTHING:
                sim.edit_config(tenant, 'dev', 'idm', 'Email > Templates', 'add', 'Forgotten Username')
                sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'modify', 'Login')
            if host == MISSING_ESV:
                sim.edit_config(tenant, 'dev', 'idm', 'Email > Templates', 'add', 'Goodbye', esv_refs=['esv.email.from'])
                sim.add_esv(tenant, 'dev', 'esv.email.from')
            if 'previous_status' in variant:
                previous_run(sim, tenant)
            if variant:
                sim.set_variant(tenant=tenant, **variant)
            if timing:
                sim.set_timing(tenant=tenant, profile=timing, speed=400)  # a ten-minute promotion in about 1.5 s
        # Twenty seconds: it is killed in it, and the rerun attaches to it, even on a busy machine.
        sim.set_timing(tenant=tenants[RESUME], restart=400)
        baseline = config(sim, tenants[ROLLBACK], 'staging')
        sim.reset_log()
        inventory = write_inventory(workdir / 'inventory.yml',
                                    {host: host_vars(sim, tenants[host], 'staging') for host in HOSTS})
        resume_dir, check_dir = workdir / 'resume', workdir / 'check'
        interrupted = {}
        resume = threading.Thread(target=interrupt_and_resume, args=(sim, tenants[RESUME], resume_dir, write_inventory(
            resume_dir / 'inventory.yml', {RESUME: host_vars(sim, tenants[RESUME], 'staging')}), interrupted))
        resume.start()
        try:
            first = run_playbook(PLAYBOOKS / 'promote.yml', workdir / 'run', inventory=inventory,
                                 extra_vars=promote_vars(workdir), args=['--forks', str(len(HOSTS))])
        finally:
            resume.join()
        resumed = interrupted.pop('resumed', None)
        checked = {}
        preview = threading.Thread(target=lambda: checked.update(run=run(
            check_dir, write_inventory(check_dir / 'inventory.yml', {CHECK: host_vars(sim, tenants[CHECK], 'staging')}),
            check=True)))
        preview.start()
        try:
            second = run(workdir / 'rollback', write_inventory(workdir / 'rollback' / 'inventory.yml', {
                ROLLBACK: host_vars(sim, tenants[ROLLBACK], 'staging', promote_operation='rollback')}))
        finally:
            preview.join()
        tenant_facts = {host: dict(staging=sim.env_state(tenant, 'staging'), dev=sim.env_state(tenant, 'dev'),
                                   log=sim.request_log(tenant, 'staging'), writes=writes_of(sim, tenant))
                        for host, tenant in tenants.items()}
    return dict(tenants=tenant_facts, baseline=baseline, interrupted=interrupted,
                runs={name: ran and ran.facts() for name, ran in (
                    ('first', first), ('resumed', resumed), ('second', second), ('checked', checked.get('run')))})


@pytest.fixture(scope='module')
def matrix(tmp_path_factory):
    """make_matrix's facts, made once (pytest-xdist runs this module's tests on every worker)."""
    workdir, facts = once_per_run(tmp_path_factory, 'contract-matrix', make_matrix)
    runs = {name: PlaybookRun.from_facts(ran) for name, ran in facts['runs'].items()}
    first = runs['first']
    summary_file = workdir / 'reports' / 'summary.json'
    return dict(facts, workdir=workdir, resume_dir=workdir / 'resume', rollback_dir=workdir / 'rollback',
                check_dir=workdir / 'check', result=first, resumed=runs['resumed'], second=runs['second'],
                checked=runs['checked'], record=facts['interrupted'].get('record'),
                summary={row['host']: row for row in json.loads(summary_file.read_text())} if summary_file.exists() else {})


def state(matrix, host, env='staging'):
    return matrix['tenants'][host][env]


def report(workdir, host, name):
    return (workdir / 'reports' / host / name).read_text()


def test_the_run_succeeded_for_every_variant(matrix):
    result = matrix['result']
    assert result.rc == 2 and result.failed() == 1 and result.failed(MISSING_ESV) == 1, result.output()
    assert set(matrix['summary']) == set(HOSTS)


@pytest.mark.parametrize('host', list(VARIANTS))
def test_one_real_promotion_reported_as_it_happened(matrix, host):
    workdir, staging = matrix['workdir'], state(matrix, host)
    runs = staging['runs']
    real = [run for run in runs if run['kind'] == 'promotion' and not run['dry_run']]
    assert len(real) == 1, runs
    assert real[0]['status'] == 'READY'
    # The outcome the tenant's state shows: staging now holds dev's configuration, and the row says promoted.
    assert staging['config'] == state(matrix, host, 'dev')['config']
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
    assert staging['lock'] is None and state(matrix, host, 'dev')['lock'] is None
    assert lock_record(workdir, host) is None


def test_the_seed_preset_with_nothing_to_promote_reports_no_promotion(matrix):
    runs = state(matrix, NOTHING)['runs']
    assert [run['dry_run'] for run in runs] == [True], runs
    row = matrix['summary'][NOTHING]
    assert row['outcome'] == 'nothing_to_promote' and row['total'] == 0 and row['lock_released'] is True
    assert matrix['result'].changed(NOTHING) == 0
    assert state(matrix, NOTHING)['lock'] is None


@pytest.mark.parametrize('host', ['promotion-scope-only', 'seed', 'seed-field-timing', NOTHING])
def test_accounts_without_the_release_scope_skip_the_check_with_a_warning(matrix, host):
    row = matrix['summary'][host]
    assert any('fr:idc:release:*' in warning for warning in row['warnings']), row


@pytest.mark.parametrize('host', ['defaults', 'report-body-seed', 'lock-on-read'])
def test_accounts_with_the_release_scope_make_the_check(matrix, host):
    assert matrix['summary'][host]['warnings'] == []
    assert any(entry['template'] == '/environment/release' and entry['status'] == 200 for entry in matrix['tenants'][host]['log'])


def test_the_seed_preset_stops_at_the_missing_esv_gate_and_releases_the_lock(matrix):
    row = matrix['summary'][MISSING_ESV]
    assert row['outcome'] == 'failed' and 'missing ESVs email.from' in row['reason'] and row['lock_released'] is True, row
    staging = state(matrix, MISSING_ESV)
    assert [(run['dry_run'], run['status'], run['message']) for run in staging['runs']] == [(True, 'ERROR', 'Missing ESVs')], staging['runs']
    assert 'Goodbye' not in staging['config']['idm']['Email > Templates']
    assert staging['lock'] is None and lock_record(matrix['workdir'], MISSING_ESV) is None
    assert report_files(matrix['workdir'], MISSING_ESV) == ['dry-run.json', 'dry-run.md', 'failure.json']


def test_the_seed_preset_rolls_back_the_promotion_of_the_first_run(matrix):
    second, staging = matrix['second'], state(matrix, ROLLBACK)
    assert matrix['summary'][ROLLBACK]['outcome'] == 'promoted'
    assert second.rc == 0, second.output()
    row = summary(matrix['rollback_dir'])[ROLLBACK]
    assert row['outcome'] == 'rolled_back' and row['total'] == 2 and row['lock_released'] is True, row
    assert staging['config'] == matrix['baseline'] != state(matrix, ROLLBACK, 'dev')['config']
    assert [(run['kind'], run['dry_run'], run['status']) for run in staging['runs']] == [
        ('promotion', True, 'READY'), ('promotion', False, 'READY'), ('rollback', False, 'READY')], staging['runs']
    # The seed's report body names no type: the rollback's report is written where a rollback's goes all the same.
    assert {'rollback-preview.json', 'rollback.json', 'rollback.md'} <= set(report_files(matrix['rollback_dir'], ROLLBACK))
    assert staging['lock'] is None


def test_the_seed_preset_resumes_an_interrupted_run(matrix):
    resumed, record, staging = matrix['resumed'], matrix['record'], state(matrix, RESUME)
    assert matrix['interrupted'].get('killed_in_restart') and record, matrix['interrupted']
    assert resumed.rc == 0, resumed.output()
    row = summary(matrix['resume_dir'])[RESUME]
    assert (row['outcome'], row['total']) == ('promoted', 2) and row['promotion_id'] == record['promotion_id'], row
    assert row['attached'] is True  # to the promotion the killed run had started
    assert staging['config'] == state(matrix, RESUME, 'dev')['config']
    assert [(run['dry_run'], run['status']) for run in staging['runs']] == [(True, 'READY'), (False, 'READY')], staging['runs']
    writes = [tuple(write) for write in matrix['tenants'][RESUME]['writes']]
    assert writes.count(('POST', '/environment/promotion/lock')) == 1
    assert writes.count(('POST', '/environment/promotion/promote')) == 2
    assert staging['lock'] is None and lock_record(matrix['resume_dir'], RESUME) is None
    assert 'promotion.json' in report_files(matrix['resume_dir'], RESUME)


def test_the_seed_preset_in_check_mode_previews_and_sends_nothing(matrix):
    checked, staging = matrix['checked'], state(matrix, CHECK)
    assert checked is not None and checked.rc == 0, checked.output() if checked else 'no check-mode run'
    assert '%s: would promote (2 changes: 1 added, 1 modified, 0 deleted)' % CHECK in checked.stdout, checked.stdout[-3000:]
    assert matrix['tenants'][CHECK]['writes'] == [] and staging['lock'] is None and staging['runs'] == []
    assert checked.changed(CHECK) == 1
