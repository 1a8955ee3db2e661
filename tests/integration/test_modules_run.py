# -*- coding: utf-8 -*-
"""promotion_run and promotion_report, run by ansible-playbook against the simulator.

The tests share one ansible-playbook run (the module fixture ``shared``): each test's story is a host of its own, on
a tenant of its own (its phases, variants and faults set for that tenant alone), its steps (what were runs of their
own) in order and all hosts at once; the tests assert on its recorded results. The malformed token's run is one of
its own: at -vvvv, the whole output is looked at."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.integration.support import (StepRun, admin_result, lock_task, promotion_play, run_stories, run_task, simulator_task,
                                       started, writes, writes_in)

PROMOTE = '/environment/promotion/promote'

UNLOCK = lock_task(name='Unlock', register='unlock', state='unlocked', promotion_id='{{ lock.promotion_id }}')

TENANT_COUNT = 18
# host: tenant (one each)
TENANTS = {'dry-run-promote-rerun': 'tenant01', 'missing-esv': 'tenant02', 'encrypted': 'tenant03', 'blocking': 'tenant04',
           'without-lock': 'tenant05', 'timeout-attach': 'tenant06', 'rollback': 'tenant07', 'reports': 'tenant08',
           'older-variants': 'tenant09', 'transport-faults': 'tenant10', 'lost-start': 'tenant11', 'without-wait': 'tenant12',
           'unlock-after': 'tenant13', 'release-info': 'tenant14', 'refused-lock': 'tenant15', 'dry-run-running': 'tenant16',
           'busy-tenant': 'tenant17', 'token': 'tenant18'}


def config(sim, tenant, env):
    return sim.env_state(tenant, env)['config']


def posts(sim, tenant, env, template):
    return [entry for entry in writes(sim, tenant, env) if entry == ('POST', template)]


def posts_in(log, template):
    return [entry for entry in writes_in(log) if entry == ('POST', template)]


def dry_run_promote_rerun(sim, story, workdir):
    tenant = story.tenant
    sim.edit_config(tenant, 'dev', 'idm', 'Email > Templates', 'add', 'Forgotten Username')
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'modify', 'Login')
    story.dry_files = [str(workdir / 'out' / 'dry.json'), str(workdir / 'out' / 'dry.md')]
    story.step('checked', [lock_task(), run_task(name='Promote')], check=True)
    story.admin('Log after the check', 'request_log', tenant=tenant, env='staging')
    story.admin('Slow restart', 'set_timing', tenant=tenant, restart=40)  # two seconds at the test speed: long enough to be seen
    story.step('run', [
        lock_task(),
        run_task(name='Dry run', register='dry', promotion_id='{{ lock.promotion_id }}', dry_run=True, report_dest=story.dry_files),
        run_task(name='Promote', promotion_id='{{ lock.promotion_id }}', promoter='ci', description='Release 7', ticket_reference='CHG-7'),
        run_task(name='Promote again', register='again', promotion_id='{{ lock.promotion_id }}'),
        UNLOCK,
    ], diff=True)
    story.admin('Usual restart', 'set_timing', tenant=tenant, restart=3)
    story.admin('Log after the run', 'request_log', tenant=tenant, env='staging')
    story.admin('Staging after the run', 'env_state', tenant=tenant, env='staging')
    story.admin('Dev after the run', 'env_state', tenant=tenant, env='dev')
    # With a new lock, a promotion with nothing new runs and says so.
    story.step('unchanged', [lock_task(), run_task(name='Promote', promotion_id='{{ lock.promotion_id }}'), UNLOCK])


def missing_esv(sim, story, workdir):
    tenant = story.tenant
    sim.edit_config(tenant, 'dev', 'idm', 'Email > Templates', 'add', 'Forgotten Username', esv_refs=['esv.email.from'])
    story.report = str(workdir / 'dry.md')
    story.step('run', [
        lock_task(),
        dict(run_task(name='Dry run', promotion_id='{{ lock.promotion_id }}', dry_run=True, report_dest=[story.report]),
             ignore_errors=True),
        UNLOCK,
    ])
    story.admin('After the run', 'env_state', tenant=tenant, env='staging')
    story.admin('ESV created', 'add_esv', tenant=tenant, env='staging', name='esv.email.from')
    story.step('fixed', [lock_task(), run_task(name='Dry run', promotion_id='{{ lock.promotion_id }}', dry_run=True), UNLOCK])


def encrypted(sim, story, workdir):
    sim.plant_encrypted(story.tenant, 'dev', 'am', 'Persistent Cookie', 'default')
    story.step('run', [
        lock_task(),
        dict(run_task(name='Dry run', promotion_id='{{ lock.promotion_id }}', dry_run=True), ignore_errors=True),
        run_task(name='Promote anyway', promotion_id='{{ lock.promotion_id }}', ignore_encrypted_secrets=True),
        UNLOCK,
    ])


def blocking(sim, story, workdir):
    tenant = story.tenant
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Checkout')
    sim.fail_next_promotion(tenant, 'staging')
    story.step('run', [
        lock_task(),
        dict(run_task(name='Promote', promotion_id='{{ lock.promotion_id }}'), ignore_errors=True),
        dict(run_task(name='Promote again', promotion_id='{{ lock.promotion_id }}'), ignore_errors=True),
        dict(UNLOCK, ignore_errors=True),
    ])
    story.admin('After the run', 'env_state', tenant=tenant, env='staging')
    story.admin('Support cleared the block', 'clear_block', tenant=tenant, upper_env='staging')
    story.step('cleanup', [lock_task(name='Unlock', register='cleanup', state='unlocked', promotion_id='{{ lock.promotion_id }}')])


def without_lock(sim, story, workdir):
    story.step('run', [run_task(name='Promote', dry_run=True)])


def timeout_attach(sim, story, workdir):
    tenant = story.tenant
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Slow')
    # Ten seconds at the test speed, for this tenant alone: the rerun must find it still running, even on a busy machine.
    sim.set_timing(tenant=tenant, restart=200)
    story.step('first', [lock_task(), run_task(name='Promote', promotion_id='{{ lock.promotion_id }}', wait_timeout=1)])
    story.step('second', [
        lock_task(register='relock', promotion_id='{{ lock.promotion_id }}'),
        run_task(name='Promote', register='attached', promotion_id='{{ lock.promotion_id }}', wait_timeout=120), UNLOCK])
    story.admin('Usual restart', 'set_timing', tenant=tenant, restart=3)


def rollback(sim, story, workdir):
    tenant = story.tenant
    story.before = config(sim, tenant, 'staging')
    sim.edit_config(tenant, 'dev', 'idm', 'Managed Objects', 'add', 'alpha_device')
    story.preview = str(workdir / 'rollback-preview.json')
    story.step('promote', [lock_task(), run_task(name='Promote', promotion_id='{{ lock.promotion_id }}'), UNLOCK])
    story.admin('After the promotion', 'env_state', tenant=tenant, env='staging')
    story.step('rollback', [
        lock_task(),
        {'name': 'Preview', 'idcloud.promotions.promotion_report': {'report': 'provisional_rollback', 'dest': story.preview},
         'register': 'preview'},
        run_task(name='Roll back', operation='rollback', promotion_id='{{ lock.promotion_id }}'),
        run_task(name='Roll back again', operation='rollback', promotion_id='{{ lock.promotion_id }}'),
        UNLOCK])


def reports(sim, story, workdir):
    tenant = story.tenant
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Onboarding')
    story.workdir = workdir
    markdown = str(workdir / 'last.md')

    def report_task(name, **options):
        return {'name': name, 'idcloud.promotions.promotion_report': options, 'register': name.lower().replace(' ', '_')}

    def lower(env):  # the provisional report is served by the lower environment
        return dict(lower_tenant_url=sim.url(tenant, env), lower_access_token=sim.credentials(tenant, env)['access_token'])

    story.step('provisional', [report_task('Provisional', report='provisional', **lower('dev'))])
    story.step('run', [
        lock_task(), run_task(name='Dry run', promotion_id='{{ lock.promotion_id }}', dry_run=True), UNLOCK,
        report_task('Last', dest=markdown), report_task('Last again', dest=markdown),
        report_task('By id', report_id='{{ last.report.reportId }}', dest=str(workdir / 'by-id.json')),
        report_task('List', report='list', dest=str(workdir / 'list.md')),
    ])
    story.step('wrong env', [report_task('Provisional', report='provisional', **lower('prod'))], env='prod')


def older_variants(sim, story, workdir):
    tenant = story.tenant
    sim.set_variant(tenant=tenant, report_shape='new', status_running='IN_PROGRESS', date_format='dashed', unlock_answer='unlocking-202')
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Passwordless')
    story.step('run', [lock_task(), run_task(name='Promote', promotion_id='{{ lock.promotion_id }}'), UNLOCK])


def transport_faults(sim, story, workdir):
    tenant = story.tenant
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Flaky')
    sim.inject_fault('/environment/promotion/lock', 504, method='POST', after_processing=True, tenant=tenant)
    sim.inject_fault('/environment/promotion/promote', 503, method='GET', count=2, tenant=tenant)
    sim.inject_fault('/environment/promotion/lock/state', 'truncate', method='GET', tenant=tenant)
    sim.inject_fault('/environment/promotion/promote', 429, method='POST', retry_after=1, tenant=tenant)
    sim.set_timing(tenant=tenant, restart=60)
    # Once the promotion has started, every token issued so far dies: the next read gets a 401.
    story.when_logged(started(PROMOTE), lambda: sim.expire_tokens(tenant=tenant, env='staging'))
    story.step('run', [lock_task(), run_task(name='Promote', promotion_id='{{ lock.promotion_id }}'), UNLOCK])


def lost_start(sim, story, workdir):
    tenant = story.tenant
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Lost')
    sim.inject_fault('/environment/promotion/promote', 504, method='POST', after_processing=True, tenant=tenant)
    story.step('run', [lock_task(), run_task(name='Promote', promotion_id='{{ lock.promotion_id }}'), UNLOCK])


def without_wait(sim, story, workdir):
    tenant = story.tenant
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Later')
    sim.set_timing(tenant=tenant, lock=40, restart=60)
    story.step('run', [
        lock_task(name='Start locking', register='lock', wait=False),
        lock_task(name='Wait for the lock', register='locked', promotion_id='{{ lock.promotion_id }}'),
        run_task(name='Start', promotion_id='{{ lock.promotion_id }}', wait=False),
        run_task(name='Finish', register='finish', promotion_id='{{ lock.promotion_id }}'),
        UNLOCK])


def release_info(sim, story, workdir):
    tenant = story.tenant
    sim.set_release(tenant, 'staging', '2025.9.0')
    sim.set_release(tenant, 'prod', '2025.8.2', next_upgrade='2026-12-01T02:00:00Z')
    lower = sim.credentials(tenant, 'staging')
    story.step('run', [
        {'name': 'Release', 'idcloud.promotions.promotion_release_info': {
            'lower_tenant_url': sim.url(tenant, 'staging'), 'lower_service_account_id': lower['service_account_id'],
            'lower_service_account_key': lower['service_account_key']}, 'register': 'release'},
        {'name': 'Upper only', 'idcloud.promotions.promotion_release_info': {}, 'register': 'upper'}], env='prod')


def unlock_after(sim, story, workdir):
    sim.edit_config(story.tenant, 'dev', 'am', 'Journeys', 'add', 'SelfRelease')
    story.step('run', [lock_task(), run_task(name='Promote', promotion_id='{{ lock.promotion_id }}', unlock_after=True)])


def refused_lock(sim, story, workdir):
    tenant = story.tenant
    sim.inject_fault('/environment/promotion/lock', 429, method='POST', retry_after=1, tenant=tenant)
    sim.inject_fault('/am/oauth2/access_token', 504, method='POST', after_processing=True, tenant=tenant)
    story.step('run', [lock_task(), UNLOCK])


def dry_run_running(sim, story, workdir):
    tenant = story.tenant
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'AfterDryRun')
    # The dry run's promote phase ten seconds long at the test speed: still running when the unlock comes, however
    # busy the machine (a shared run's host may wait seconds between two tasks); the real promotion's as usual (the
    # phases of a run are set when it starts).
    sim.set_timing(tenant=tenant, promote=200)
    story.step('run', [
        lock_task(), run_task(name='Dry run', promotion_id='{{ lock.promotion_id }}', dry_run=True, wait=False),
        dict(lock_task(name='Unlock while running', register='early', state='unlocked', promotion_id='{{ lock.promotion_id }}'),
             ignore_errors=True),
        simulator_task(sim, 'Usual promote phase', 'set_timing', tenant=tenant, promote=2),
        run_task(name='Promote', promotion_id='{{ lock.promotion_id }}'), UNLOCK])


def busy_tenant(sim, story, workdir):
    tenant = story.tenant
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Busy')
    sim.set_timing(tenant=tenant, restart=60)
    story.when_logged(started(PROMOTE), lambda: sim.inject_fault(PROMOTE, 503, method='GET', count=6, tenant=tenant))
    story.step('run', [lock_task(), run_task(name='Promote', promotion_id='{{ lock.promotion_id }}'), UNLOCK])


def token(sim, story, workdir):
    story.token = sim.credentials(story.tenant, 'staging')['access_token']
    story.step('trimmed', [lock_task(name='Read', state='unlocked')], auth='token', connection={'access_token': story.token + '\n'})


STORIES = {'dry-run-promote-rerun': dry_run_promote_rerun, 'missing-esv': missing_esv, 'encrypted': encrypted, 'blocking': blocking,
           'without-lock': without_lock, 'timeout-attach': timeout_attach, 'rollback': rollback, 'reports': reports,
           'older-variants': older_variants, 'transport-faults': transport_faults, 'lost-start': lost_start,
           'without-wait': without_wait, 'unlock-after': unlock_after, 'release-info': release_info,
           'refused-lock': refused_lock, 'dry-run-running': dry_run_running, 'busy-tenant': busy_tenant, 'token': token}


@pytest.fixture(scope='module')
def shared(simulator, tmp_path_factory):
    """Every story in one ansible-playbook run; the run and the stories (their hosts, with what their setup kept)."""
    workdir = tmp_path_factory.mktemp('modules-run')
    return run_stories(simulator, workdir, STORIES, TENANTS)


def step(shared, host, name='run'):
    return StepRun(shared[0], host, name)


def test_dry_run_promote_and_rerun_unchanged(simulator, shared):
    sim, host = simulator, 'dry-run-promote-rerun'
    tenant, dry_files, shared_run = TENANTS[host], shared[1][host].dry_files, shared[0]

    checked = step(shared, host, 'checked')
    assert checked.rc == 0, checked.output()
    assert checked.task('Promote')['result']['changed'] is True
    assert writes_in(admin_result(shared_run, host, 'Log after the check')) == []

    run = step(shared, host, 'run')
    assert run.rc == 0, run.output()
    dry = run.task('Dry run')['result']
    assert dry['changed'] is False and dry['empty'] is False and dry['report']['dryRun'] is True
    assert (dry['summary']['added'], dry['summary']['modified'], dry['summary']['total']) == (1, 1, 2)
    assert {(row['area'], row['config_item'], row['change'], row['name']) for row in dry['changes']} == {
        ('IDMConfig', 'Email > Templates', 'added', 'Forgotten Username'), ('AMConfig', 'Journeys', 'modified', 'Login')}
    assert json.loads(Path(dry_files[0]).read_text())['reportId'] == dry['report']['reportId']
    markdown = Path(dry_files[1]).read_text()
    assert '| IDMConfig | 1 | 0 | 0 | 1 |' in markdown and '- added: Forgotten Username' in markdown

    promoted = run.task('Promote')['result']
    assert promoted['changed'] is True and promoted['status'] == 'READY' and promoted['message'] == 'Promotion completed'
    assert promoted['report']['dryRun'] is False and promoted['report']['promoter'] == 'ci'
    assert 'Waiting for workloads to restart' in [entry['message'] for entry in promoted['history']]
    # --diff shows the report (the only step of the run with diff on: its markdown, which no other output holds)
    assert '- added: Forgotten Username' in run.stdout
    assert (admin_result(shared_run, host, 'Staging after the run')['config']
            == admin_result(shared_run, host, 'Dev after the run')['config'])

    # Under the same lock nothing can have changed: the finished promotion is reported, none is started.
    again = run.task('Promote again')['result']
    assert again['changed'] is False and again['message'] == 'Promotion completed' and 'already finished' in again['msg']
    assert again['report']['reportId'] == promoted['report']['reportId']
    assert len(posts_in(admin_result(shared_run, host, 'Log after the run'), PROMOTE)) == 2  # the dry run and one promotion
    assert run.changed() == 3  # lock, promote, unlock

    # With a new lock, a promotion with nothing new runs and says so.
    result = step(shared, host, 'unchanged').task('Promote')['result']
    assert result['changed'] is False and result['message'] == 'Promotion completed (no change)' and result['empty'] is True
    assert sim.env_state(tenant, 'staging')['lock'] is None


def test_missing_esv_stops_the_dry_run_and_saves_its_report(shared):
    host = 'missing-esv'
    report = shared[1][host].report
    run = step(shared, host)
    failed = run.failure('Dry run')
    assert failed['missing_esvs'] == ['email.from'] and 'email.from' in failed['msg'] and 'once it is unlocked' in failed['msg']
    assert failed['status'] == 'ERROR' and failed['blocking_error'] is False
    assert Path(report).exists() and 'Missing ESVs: email.from' in Path(report).read_text()
    assert admin_result(shared[0], host, 'After the run')['lock'] is None

    fixed = step(shared, host, 'fixed')
    assert fixed.rc == 0 and fixed.task('Dry run')['result']['missing_esvs'] == [], fixed.output()


def test_encrypted_values_stop_the_run_unless_ignored(shared):
    run = step(shared, 'encrypted')
    failed = run.failure('Dry run')
    assert failed['encrypted_secrets'] and 'ignore_encrypted_secrets: true' in failed['msg']
    assert failed['encrypted_secrets'][0] in failed['msg']
    promoted = run.task('Promote anyway')['result']
    assert promoted['changed'] is True and promoted['report']['previouslyIgnoredEncryptedSecrets']


def test_blocking_error_keeps_the_lock_and_says_to_raise_a_ticket(shared):
    host = 'blocking'
    run = step(shared, host)
    failed = run.failure('Promote')
    assert failed['blocking_error'] is True and 'support ticket' in failed['msg'] and failed['transaction_id']
    assert 'support ticket' in run.failure('Promote again')['msg']
    refused = run.failure('Unlock')
    assert refused['blocked'] is True and 'support ticket' in refused['msg']
    state = admin_result(shared[0], host, 'After the run')
    assert state['blocked'] and state['lock'] is not None
    cleanup = step(shared, host, 'cleanup')
    assert cleanup.rc == 0, cleanup.output()
    assert cleanup.task('Unlock')['result']['promotion_id'] == run.task('Lock')['result']['promotion_id']


def test_run_without_the_lock_fails_and_names_the_next_step(simulator, shared):
    host = 'without-lock'
    run = step(shared, host)
    assert run.rc != 0 and 'promotion_lock' in run.failure('Promote')['msg']
    assert posts(simulator, TENANTS[host], 'staging', PROMOTE) == []


def test_timeout_then_rerun_attaches_to_the_running_promotion(simulator, shared):
    host = 'timeout-attach'
    first = step(shared, host, 'first')
    timed_out = first.failure('Promote')
    assert 'Timed out' in timed_out['msg'] and timed_out['status'] == 'RUNNING'
    promotion_id = first.task('Lock')['result']['promotion_id']
    second = step(shared, host, 'second')
    assert second.rc == 0, second.output()
    assert second.task('Lock')['result']['promotion_id'] == promotion_id
    attached = second.task('Promote')['result']
    assert attached['attached'] is True and attached['changed'] is True and attached['message'] == 'Promotion completed'
    assert attached['promotion_id'] == promotion_id
    assert len(posts(simulator, TENANTS[host], 'staging', PROMOTE)) == 1


def test_rollback_restores_the_configuration_and_a_rerun_changes_nothing(simulator, shared):
    sim, host = simulator, 'rollback'
    tenant, story = TENANTS[host], shared[1][host]
    promote = step(shared, host, 'promote')
    assert promote.rc == 0 and admin_result(shared[0], host, 'After the promotion')['config'] != story.before, promote.output()
    rollback = step(shared, host, 'rollback')
    assert rollback.rc == 0, rollback.output()
    assert rollback.task('Preview')['result']['empty'] is False and Path(story.preview).exists()
    done = rollback.task('Roll back')['result']
    assert done['changed'] is True and done['type'] == 'rollback' and done['report']['type'] == 'rollback'
    assert rollback.task('Roll back again')['result']['changed'] is False
    assert config(sim, tenant, 'staging') == story.before
    assert len(posts(sim, tenant, 'staging', '/environment/promotion/rollback')) == 1


def test_reports_last_list_provisional_and_files_rewritten_only_on_change(shared):
    host = 'reports'
    workdir = shared[1][host].workdir
    provisional = step(shared, host, 'provisional')
    assert provisional.rc == 0, provisional.output()
    pending = provisional.task('Provisional')['result']
    assert pending['empty'] is False and ('AMConfig', 'Onboarding') in {(r['area'], r['name']) for r in pending['changes']}

    run = step(shared, host, 'run')
    assert run.rc == 0, run.output()
    assert run.task('Last')['result']['changed'] is True and run.task('Last again')['result']['changed'] is False
    assert '- added: Onboarding' in (workdir / 'last.md').read_text()
    assert json.loads((workdir / 'by-id.json').read_text())['reportId'] == run.task('Last')['result']['report']['reportId']
    listing = run.task('List')['result']['reports']
    assert listing and listing[-1]['reportId'] == run.task('Last')['result']['report']['reportId']
    assert (workdir / 'list.md').read_text().startswith('# Promotion reports')

    wrong_env = step(shared, host, 'wrong env')
    assert wrong_env.rc != 0 and wrong_env.failure('Provisional')['error']['status'] in (400, 404)


def test_older_tenant_variants(shared):
    run = step(shared, 'older-variants')
    assert run.rc == 0, run.output()
    promoted = run.task('Promote')['result']
    assert promoted['changed'] is True and 'RUNNING' in [entry['status'] for entry in promoted['history']]
    assert promoted['changes'][0]['realm'] and promoted['changes'][0]['name'] == 'Passwordless'
    assert run.task('Unlock')['result']['state'] == 'unlocked'


def test_transport_faults_and_expired_tokens_are_survived_without_repeating_writes(simulator, shared):
    sim, host = simulator, 'transport-faults'
    tenant = TENANTS[host]
    run = step(shared, host)
    assert run.rc == 0, run.output()
    assert run.task('Promote')['result']['changed'] is True
    log = sim.request_log(tenant, 'staging')
    lock_posts = [entry for entry in log if entry['method'] == 'POST' and entry['template'] == '/environment/promotion/lock']
    assert len(lock_posts) == 1 and lock_posts[0]['status'] == 504  # carried out, answer lost: not sent again
    promote_posts = [entry['status'] for entry in log if entry['method'] == 'POST' and entry['template'] == '/environment/promotion/promote']
    assert promote_posts == [429, 200] or promote_posts == [429, 202]
    assert any(entry['status'] == 401 for entry in log), 'the expired token was never used'
    assert config(sim, tenant, 'staging') == config(sim, tenant, 'dev')


def test_a_start_whose_answer_was_lost_is_not_sent_again(simulator, shared):
    sim, host = simulator, 'lost-start'
    tenant = TENANTS[host]
    run = step(shared, host)
    assert run.rc == 0, run.output()
    assert run.task('Promote')['result']['changed'] is True
    assert len(posts(sim, tenant, 'staging', PROMOTE)) == 1
    assert config(sim, tenant, 'staging') == config(sim, tenant, 'dev')


def test_without_wait_the_modules_return_at_once_and_a_later_task_finishes(simulator, shared):
    host = 'without-wait'
    run = step(shared, host)
    assert run.rc == 0, run.output()
    assert run.task('Start locking')['result']['state'] == 'locking'
    assert run.task('Wait for the lock')['result']['state'] == 'locked'
    assert run.task('Wait for the lock')['result']['changed'] is False
    assert run.task('Start')['result']['status'] == 'RUNNING'
    finished = run.task('Finish')['result']
    assert finished['attached'] is True and finished['message'] == 'Promotion completed'
    assert len(posts(simulator, TENANTS[host], 'staging', PROMOTE)) == 1


def test_release_info_compares_the_lower_and_upper_releases_in_one_run(shared):
    run = step(shared, 'release-info')
    assert run.rc == 0, run.output()
    release = run.task('Release')['result']
    assert (release['current_version'], release['lower_current_version'], release['upgrade']) == ('2025.8.2', '2025.9.0', True)
    assert release['next_upgrade'] == '2026-12-01T02:00:00Z' and release['changed'] is False
    assert 'upgrade' not in run.task('Upper only')['result']


def test_unlock_after_lets_the_tenant_release_the_lock(simulator, shared):
    sim, host = simulator, 'unlock-after'
    tenant = TENANTS[host]
    run = step(shared, host)
    assert run.rc == 0, run.output()
    assert run.task('Promote')['result']['lock_released'] is True
    assert not [entry for entry in writes(sim, tenant, 'staging') if entry[0] == 'DELETE']
    deadline = time.monotonic() + 10
    while sim.env_state(tenant, 'staging')['lock'] is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sim.env_state(tenant, 'staging')['lock'] is None


def test_a_refused_lock_request_is_sent_again_and_a_lost_token_answer_costs_a_fresh_assertion(simulator, shared):
    sim, host = simulator, 'refused-lock'
    tenant = TENANTS[host]
    run = step(shared, host)
    assert run.rc == 0, run.output()
    statuses = [entry['status'] for entry in sim.request_log(tenant, 'staging')
                if entry['method'] == 'POST' and entry['template'] == '/environment/promotion/lock']
    assert statuses == [429, 200] or statuses == [429, 202]
    tokens = [entry['status'] for entry in sim.request_log(tenant, 'staging') if entry['template'].endswith('access_token')]
    assert tokens[:2] == [504, 200]  # a replayed assertion would have been refused with 400


def test_a_dry_run_found_running_is_followed_by_the_real_promotion_asked_for(simulator, shared):
    sim, host = simulator, 'dry-run-running'
    tenant = TENANTS[host]
    run = step(shared, host)
    assert run.rc == 0, run.output()
    refused = run.failure('Unlock while running')
    assert 'running' in refused['msg'] and 'force' not in refused['msg']
    promoted = run.task('Promote')['result']
    assert promoted['changed'] is True and promoted['report']['dryRun'] is False
    assert len(posts(sim, tenant, 'staging', PROMOTE)) == 2
    assert config(sim, tenant, 'staging') == config(sim, tenant, 'dev')


def test_a_busy_tenant_while_waiting_does_not_end_the_wait(simulator, shared):
    host = 'busy-tenant'
    run = step(shared, host)
    assert run.rc == 0, run.output()
    assert run.task('Promote')['result']['changed'] is True
    assert sum(1 for entry in simulator.request_log(TENANTS[host], 'staging') if entry['status'] == 503) == 6


def test_a_token_with_a_line_break_is_trimmed_and_a_malformed_one_never_echoed(simulator, shared, playbook):
    sim, host = simulator, 'token'
    tenant, token = TENANTS[host], shared[1][host].token
    trimmed = step(shared, host, 'trimmed')
    assert trimmed.rc == 0, trimmed.output()
    # A run of its own at -vvvv: nothing of the token in all it shows.
    broken = playbook(promotion_play(sim, tenant, 'staging', [lock_task(name='Read', state='unlocked')], auth='token',
                                     connection={'access_token': token[:10] + ' ' + token[10:]}), verbosity=4)
    assert broken.rc != 0 and 'single token' in broken.failure('Read')['msg']
    assert token[10:] not in broken.output() and 'Traceback' not in broken.output()
