# -*- coding: utf-8 -*-
"""promotion_run and promotion_report, run by ansible-playbook against the simulator."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.integration.support import WhenLogged, lock_task, promotion_play, run_task, started, writes

PROMOTE = '/environment/promotion/promote'

UNLOCK = lock_task(name='Unlock', register='unlock', state='unlocked', promotion_id='{{ lock.promotion_id }}')


def config(sim, tenant, env):
    return sim.env_state(tenant, env)['config']


def posts(sim, tenant, env, template):
    return [entry for entry in writes(sim, tenant, env) if entry == ('POST', template)]


def test_dry_run_promote_and_rerun_unchanged(simulator, playbook, tmp_path):
    sim, tenant = simulator, 'tenant01'
    sim.edit_config(tenant, 'dev', 'idm', 'Email > Templates', 'add', 'Forgotten Username')
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'modify', 'Login')
    dry_files = [str(tmp_path / 'out' / 'dry.json'), str(tmp_path / 'out' / 'dry.md')]

    checked = playbook(promotion_play(sim, tenant, 'staging', [lock_task(), run_task(name='Promote')]), check=True)
    assert checked.rc == 0, checked.output()
    assert checked.task('Promote')['result']['changed'] is True
    assert writes(sim, tenant, 'staging') == []

    sim.set_timing(restart=40)  # two seconds at the test speed: long enough to be seen
    try:
        run = playbook(promotion_play(sim, tenant, 'staging', [
            lock_task(),
            run_task(name='Dry run', register='dry', promotion_id='{{ lock.promotion_id }}', dry_run=True, report_dest=dry_files),
            run_task(name='Promote', promotion_id='{{ lock.promotion_id }}', promoter='ci', description='Release 7',
                     ticket_reference='CHG-7'),
            run_task(name='Promote again', register='again', promotion_id='{{ lock.promotion_id }}'),
            UNLOCK,
        ]), diff=True)
    finally:
        sim.set_timing(restart=3)
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
    assert 'Forgotten Username' in run.stdout  # --diff shows the report
    assert config(sim, tenant, 'staging') == config(sim, tenant, 'dev')

    # Under the same lock nothing can have changed: the finished promotion is reported, none is started.
    again = run.task('Promote again')['result']
    assert again['changed'] is False and again['message'] == 'Promotion completed' and 'already finished' in again['msg']
    assert again['report']['reportId'] == promoted['report']['reportId']
    assert len(posts(sim, tenant, 'staging', '/environment/promotion/promote')) == 2  # the dry run and one promotion
    assert run.changed() == 3  # lock, promote, unlock

    # With a new lock, a promotion with nothing new runs and says so.
    unchanged = playbook(promotion_play(sim, tenant, 'staging', [
        lock_task(), run_task(name='Promote', promotion_id='{{ lock.promotion_id }}'), UNLOCK]))
    result = unchanged.task('Promote')['result']
    assert result['changed'] is False and result['message'] == 'Promotion completed (no change)' and result['empty'] is True
    assert sim.env_state(tenant, 'staging')['lock'] is None


def test_missing_esv_stops_the_dry_run_and_saves_its_report(simulator, playbook, tmp_path):
    sim, tenant = simulator, 'tenant02'
    sim.edit_config(tenant, 'dev', 'idm', 'Email > Templates', 'add', 'Forgotten Username', esv_refs=['esv.email.from'])
    report = str(tmp_path / 'dry.md')
    run = playbook(promotion_play(sim, tenant, 'staging', [
        lock_task(),
        dict(run_task(name='Dry run', promotion_id='{{ lock.promotion_id }}', dry_run=True, report_dest=[report]),
             ignore_errors=True),
        UNLOCK,
    ]))
    failed = run.failure('Dry run')
    assert failed['missing_esvs'] == ['email.from'] and 'email.from' in failed['msg'] and 'release the lock, create them' in failed['msg']
    assert failed['status'] == 'ERROR' and failed['blocking_error'] is False
    assert Path(report).exists() and 'Missing ESVs: email.from' in Path(report).read_text()
    assert sim.env_state(tenant, 'staging')['lock'] is None

    sim.add_esv(tenant, 'staging', 'esv.email.from')
    fixed = playbook(promotion_play(sim, tenant, 'staging', [
        lock_task(), run_task(name='Dry run', promotion_id='{{ lock.promotion_id }}', dry_run=True), UNLOCK]))
    assert fixed.rc == 0 and fixed.task('Dry run')['result']['missing_esvs'] == [], fixed.output()


def test_encrypted_values_stop_the_run_unless_ignored(simulator, playbook):
    sim, tenant = simulator, 'tenant03'
    sim.plant_encrypted(tenant, 'dev', 'am', 'Persistent Cookie', 'default')
    run = playbook(promotion_play(sim, tenant, 'staging', [
        lock_task(),
        dict(run_task(name='Dry run', promotion_id='{{ lock.promotion_id }}', dry_run=True), ignore_errors=True),
        run_task(name='Promote anyway', promotion_id='{{ lock.promotion_id }}', ignore_encrypted_secrets=True),
        UNLOCK,
    ]))
    failed = run.failure('Dry run')
    assert failed['encrypted_secrets'] and 'ignore_encrypted_secrets: true' in failed['msg']
    assert failed['encrypted_secrets'][0] in failed['msg']
    promoted = run.task('Promote anyway')['result']
    assert promoted['changed'] is True and promoted['report']['previouslyIgnoredEncryptedSecrets']


def test_blocking_error_keeps_the_lock_and_says_to_raise_a_ticket(simulator, playbook):
    sim, tenant = simulator, 'tenant04'
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Checkout')
    sim.fail_next_promotion(tenant, 'staging')
    run = playbook(promotion_play(sim, tenant, 'staging', [
        lock_task(),
        dict(run_task(name='Promote', promotion_id='{{ lock.promotion_id }}'), ignore_errors=True),
        dict(run_task(name='Promote again', promotion_id='{{ lock.promotion_id }}'), ignore_errors=True),
        dict(UNLOCK, ignore_errors=True),
    ]))
    failed = run.failure('Promote')
    assert failed['blocking_error'] is True and 'support ticket' in failed['msg'] and failed['transaction_id']
    assert 'support ticket' in run.failure('Promote again')['msg']
    refused = run.failure('Unlock')
    assert refused['blocked'] is True and 'support ticket' in refused['msg']
    state = sim.env_state(tenant, 'staging')
    assert state['blocked'] and state['lock'] is not None
    sim.clear_block(tenant, 'staging')
    cleanup = playbook(promotion_play(sim, tenant, 'staging', [
        lock_task(name='Unlock', state='unlocked', promotion_id=run.task('Lock')['result']['promotion_id'])]))
    assert cleanup.rc == 0, cleanup.output()


def test_run_without_the_lock_fails_and_names_the_next_step(simulator, playbook):
    sim, tenant = simulator, 'tenant05'
    run = playbook(promotion_play(sim, tenant, 'staging', [run_task(name='Promote', dry_run=True)]))
    assert run.rc != 0 and 'promotion_lock' in run.failure('Promote')['msg']
    assert posts(sim, tenant, 'staging', '/environment/promotion/promote') == []


def test_timeout_then_rerun_attaches_to_the_running_promotion(simulator, playbook):
    sim, tenant = simulator, 'tenant06'
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Slow')
    # Ten seconds at the test speed, for this tenant alone: the rerun must find it still running, even on a busy machine.
    sim.set_timing(tenant=tenant, restart=200)
    try:
        first = playbook(promotion_play(sim, tenant, 'staging', [
            lock_task(), run_task(name='Promote', promotion_id='{{ lock.promotion_id }}', wait_timeout=1)]))
        timed_out = first.failure('Promote')
        assert 'Timed out' in timed_out['msg'] and timed_out['status'] == 'RUNNING'
        promotion_id = first.task('Lock')['result']['promotion_id']
        second = playbook(promotion_play(sim, tenant, 'staging', [
            lock_task(promotion_id=promotion_id), run_task(name='Promote', promotion_id=promotion_id, wait_timeout=120),
            dict(UNLOCK, **{'idcloud.promotions.promotion_lock': dict(state='unlocked', promotion_id=promotion_id)})]))
        assert second.rc == 0, second.output()
        attached = second.task('Promote')['result']
        assert attached['attached'] is True and attached['changed'] is True and attached['message'] == 'Promotion completed'
        assert len(posts(sim, tenant, 'staging', '/environment/promotion/promote')) == 1
    finally:
        sim.set_timing(tenant=tenant, restart=3)


def test_rollback_restores_the_configuration_and_a_rerun_changes_nothing(simulator, playbook, tmp_path):
    sim, tenant = simulator, 'tenant07'
    before = config(sim, tenant, 'staging')
    sim.edit_config(tenant, 'dev', 'idm', 'Managed Objects', 'add', 'alpha_device')
    promote = playbook(promotion_play(sim, tenant, 'staging', [
        lock_task(), run_task(name='Promote', promotion_id='{{ lock.promotion_id }}'), UNLOCK]))
    assert promote.rc == 0 and config(sim, tenant, 'staging') != before, promote.output()
    preview = str(tmp_path / 'rollback-preview.json')
    rollback = playbook(promotion_play(sim, tenant, 'staging', [
        lock_task(),
        {'name': 'Preview', 'idcloud.promotions.promotion_report': {'report': 'provisional_rollback', 'dest': preview},
         'register': 'preview'},
        run_task(name='Roll back', operation='rollback', promotion_id='{{ lock.promotion_id }}'),
        run_task(name='Roll back again', operation='rollback', promotion_id='{{ lock.promotion_id }}'),
        UNLOCK]))
    assert rollback.rc == 0, rollback.output()
    assert rollback.task('Preview')['result']['empty'] is False and Path(preview).exists()
    done = rollback.task('Roll back')['result']
    assert done['changed'] is True and done['type'] == 'rollback' and done['report']['type'] == 'rollback'
    assert rollback.task('Roll back again')['result']['changed'] is False
    assert config(sim, tenant, 'staging') == before
    assert len(posts(sim, tenant, 'staging', '/environment/promotion/rollback')) == 1


def test_reports_last_list_provisional_and_files_rewritten_only_on_change(simulator, playbook, tmp_path):
    sim, tenant = simulator, 'tenant08'
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Onboarding')
    markdown = str(tmp_path / 'last.md')

    def report_task(name, **options):
        return {'name': name, 'idcloud.promotions.promotion_report': options, 'register': name.lower().replace(' ', '_')}

    def lower(env):  # the provisional report is served by the lower environment
        return dict(lower_tenant_url=sim.url(tenant, env), lower_access_token=sim.credentials(tenant, env)['access_token'])

    provisional = playbook(promotion_play(sim, tenant, 'staging', [report_task('Provisional', report='provisional', **lower('dev'))]))
    assert provisional.rc == 0, provisional.output()
    pending = provisional.task('Provisional')['result']
    assert pending['empty'] is False and ('AMConfig', 'Onboarding') in {(r['area'], r['name']) for r in pending['changes']}

    run = playbook(promotion_play(sim, tenant, 'staging', [
        lock_task(), run_task(name='Dry run', promotion_id='{{ lock.promotion_id }}', dry_run=True), UNLOCK,
        report_task('Last', dest=markdown), report_task('Last again', dest=markdown),
        report_task('By id', report_id='{{ last.report.reportId }}', dest=str(tmp_path / 'by-id.json')),
        report_task('List', report='list', dest=str(tmp_path / 'list.md')),
    ]))
    assert run.rc == 0, run.output()
    assert run.task('Last')['result']['changed'] is True and run.task('Last again')['result']['changed'] is False
    assert '- added: Onboarding' in Path(markdown).read_text()
    assert json.loads((tmp_path / 'by-id.json').read_text())['reportId'] == run.task('Last')['result']['report']['reportId']
    listing = run.task('List')['result']['reports']
    assert listing and listing[-1]['reportId'] == run.task('Last')['result']['report']['reportId']
    assert (tmp_path / 'list.md').read_text().startswith('# Promotion reports')

    wrong_env = playbook(promotion_play(sim, tenant, 'prod', [report_task('Provisional', report='provisional', **lower('prod'))]))
    assert wrong_env.rc != 0 and wrong_env.failure('Provisional')['error']['status'] in (400, 404)


def test_older_tenant_variants(simulator, playbook):
    sim, tenant = simulator, 'tenant09'
    sim.set_variant(tenant=tenant, report_shape='new', status_running='IN_PROGRESS', date_format='dashed', unlock_answer='unlocking-202')
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Passwordless')
    run = playbook(promotion_play(sim, tenant, 'staging', [
        lock_task(), run_task(name='Promote', promotion_id='{{ lock.promotion_id }}'), UNLOCK]))
    assert run.rc == 0, run.output()
    promoted = run.task('Promote')['result']
    assert promoted['changed'] is True and 'RUNNING' in [entry['status'] for entry in promoted['history']]
    assert promoted['changes'][0]['realm'] and promoted['changes'][0]['name'] == 'Passwordless'
    assert run.task('Unlock')['result']['state'] == 'unlocked'


def test_transport_faults_and_expired_tokens_are_survived_without_repeating_writes(simulator, playbook):
    sim, tenant = simulator, 'tenant10'
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Flaky')
    sim.inject_fault('/environment/promotion/lock', 504, method='POST', after_processing=True)
    sim.inject_fault('/environment/promotion/promote', 503, method='GET', count=2)
    sim.inject_fault('/environment/promotion/lock/state', 'truncate', method='GET')
    sim.inject_fault('/environment/promotion/promote', 429, method='POST', retry_after=1)
    sim.set_timing(restart=60)
    try:
        # Once the promotion has started, every token issued so far dies: the next read gets a 401.
        with WhenLogged(sim, tenant, 'staging', started(PROMOTE), lambda: sim.expire_tokens(tenant=tenant, env='staging')):
            run = playbook(promotion_play(sim, tenant, 'staging', [
                lock_task(), run_task(name='Promote', promotion_id='{{ lock.promotion_id }}'), UNLOCK]))
    finally:
        sim.set_timing(restart=3)
        sim.clear_faults()
    assert run.rc == 0, run.output()
    assert run.task('Promote')['result']['changed'] is True
    log = sim.request_log(tenant, 'staging')
    lock_posts = [entry for entry in log if entry['method'] == 'POST' and entry['template'] == '/environment/promotion/lock']
    assert len(lock_posts) == 1 and lock_posts[0]['status'] == 504  # carried out, answer lost: not sent again
    promote_posts = [entry['status'] for entry in log if entry['method'] == 'POST' and entry['template'] == '/environment/promotion/promote']
    assert promote_posts == [429, 200] or promote_posts == [429, 202]
    assert any(entry['status'] == 401 for entry in log), 'the expired token was never used'
    assert config(sim, tenant, 'staging') == config(sim, tenant, 'dev')


def test_a_start_whose_answer_was_lost_is_not_sent_again(simulator, playbook):
    sim, tenant = simulator, 'tenant11'
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Lost')
    sim.inject_fault('/environment/promotion/promote', 504, method='POST', after_processing=True)
    try:
        run = playbook(promotion_play(sim, tenant, 'staging', [
            lock_task(), run_task(name='Promote', promotion_id='{{ lock.promotion_id }}'), UNLOCK]))
    finally:
        sim.clear_faults()
    assert run.rc == 0, run.output()
    assert run.task('Promote')['result']['changed'] is True
    assert len(posts(sim, tenant, 'staging', '/environment/promotion/promote')) == 1
    assert config(sim, tenant, 'staging') == config(sim, tenant, 'dev')


def test_without_wait_the_modules_return_at_once_and_a_later_task_finishes(simulator, playbook):
    sim, tenant = simulator, 'tenant12'
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Later')
    sim.set_timing(lock=40, restart=60)
    try:
        run = playbook(promotion_play(sim, tenant, 'staging', [
            lock_task(name='Start locking', register='lock', wait=False),
            lock_task(name='Wait for the lock', register='locked', promotion_id='{{ lock.promotion_id }}'),
            run_task(name='Start', promotion_id='{{ lock.promotion_id }}', wait=False),
            run_task(name='Finish', register='finish', promotion_id='{{ lock.promotion_id }}'),
            UNLOCK]))
    finally:
        sim.set_timing(lock=1, restart=3)
    assert run.rc == 0, run.output()
    assert run.task('Start locking')['result']['state'] == 'locking'
    assert run.task('Wait for the lock')['result']['state'] == 'locked'
    assert run.task('Wait for the lock')['result']['changed'] is False
    assert run.task('Start')['result']['status'] == 'RUNNING'
    finished = run.task('Finish')['result']
    assert finished['attached'] is True and finished['message'] == 'Promotion completed'
    assert len(posts(sim, tenant, 'staging', '/environment/promotion/promote')) == 1


def test_release_info_compares_the_lower_and_upper_releases_in_one_run(simulator, playbook):
    sim, tenant = simulator, 'tenant14'
    sim.set_release(tenant, 'staging', '2025.9.0')
    sim.set_release(tenant, 'prod', '2025.8.2', next_upgrade='2026-12-01T02:00:00Z')
    lower = sim.credentials(tenant, 'staging')
    run = playbook(promotion_play(sim, tenant, 'prod', [
        {'name': 'Release', 'idcloud.promotions.promotion_release_info': {
            'lower_tenant_url': sim.url(tenant, 'staging'), 'lower_service_account_id': lower['service_account_id'],
            'lower_service_account_key': lower['service_account_key']}, 'register': 'release'},
        {'name': 'Upper only', 'idcloud.promotions.promotion_release_info': {}, 'register': 'upper'}]))
    assert run.rc == 0, run.output()
    release = run.task('Release')['result']
    assert (release['current_version'], release['lower_current_version'], release['upgrade']) == ('2025.8.2', '2025.9.0', True)
    assert release['next_upgrade'] == '2026-12-01T02:00:00Z' and release['changed'] is False
    assert 'upgrade' not in run.task('Upper only')['result']


def test_unlock_after_lets_the_tenant_release_the_lock(simulator, playbook):
    sim, tenant = simulator, 'tenant13'
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'SelfRelease')
    run = playbook(promotion_play(sim, tenant, 'staging', [
        lock_task(), run_task(name='Promote', promotion_id='{{ lock.promotion_id }}', unlock_after=True)]))
    assert run.rc == 0, run.output()
    assert run.task('Promote')['result']['lock_released'] is True
    assert not [entry for entry in writes(sim, tenant, 'staging') if entry[0] == 'DELETE']
    deadline = time.monotonic() + 10
    while sim.env_state(tenant, 'staging')['lock'] is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sim.env_state(tenant, 'staging')['lock'] is None


def test_a_refused_lock_request_is_sent_again_and_a_lost_token_answer_costs_a_fresh_assertion(simulator, playbook):
    sim, tenant = simulator, 'tenant15'
    sim.inject_fault('/environment/promotion/lock', 429, method='POST', retry_after=1)
    sim.inject_fault('/am/oauth2/access_token', 504, method='POST', after_processing=True)
    try:
        run = playbook(promotion_play(sim, tenant, 'staging', [lock_task(), UNLOCK]))
    finally:
        sim.clear_faults()
    assert run.rc == 0, run.output()
    statuses = [entry['status'] for entry in sim.request_log(tenant, 'staging')
                if entry['method'] == 'POST' and entry['template'] == '/environment/promotion/lock']
    assert statuses == [429, 200] or statuses == [429, 202]
    tokens = [entry['status'] for entry in sim.request_log(tenant, 'staging') if entry['template'].endswith('access_token')]
    assert tokens[:2] == [504, 200]  # a replayed assertion would have been refused with 400


def test_a_dry_run_found_running_is_followed_by_the_real_promotion_asked_for(simulator, playbook):
    sim, tenant = simulator, 'tenant16'
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'AfterDryRun')
    sim.set_timing(promote=40)
    try:
        run = playbook(promotion_play(sim, tenant, 'staging', [
            lock_task(), run_task(name='Dry run', promotion_id='{{ lock.promotion_id }}', dry_run=True, wait=False),
            dict(lock_task(name='Unlock while running', register='early', state='unlocked', promotion_id='{{ lock.promotion_id }}'),
                 ignore_errors=True),
            run_task(name='Promote', promotion_id='{{ lock.promotion_id }}'), UNLOCK]))
    finally:
        sim.set_timing(promote=2)
    assert run.rc == 0, run.output()
    refused = run.failure('Unlock while running')
    assert 'running' in refused['msg'] and 'force' not in refused['msg']
    promoted = run.task('Promote')['result']
    assert promoted['changed'] is True and promoted['report']['dryRun'] is False
    assert len(posts(sim, tenant, 'staging', '/environment/promotion/promote')) == 2
    assert config(sim, tenant, 'staging') == config(sim, tenant, 'dev')


def test_a_busy_tenant_while_waiting_does_not_end_the_wait(simulator, playbook):
    sim, tenant = simulator, 'tenant04'
    sim.clear_block(tenant, 'staging')
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Busy')
    sim.set_timing(restart=60)
    try:
        with WhenLogged(sim, tenant, 'staging', started(PROMOTE),
                        lambda: sim.inject_fault(PROMOTE, 503, method='GET', count=6)):
            run = playbook(promotion_play(sim, tenant, 'staging', [
                lock_task(), run_task(name='Promote', promotion_id='{{ lock.promotion_id }}'), UNLOCK]))
    finally:
        sim.set_timing(restart=3)
        sim.clear_faults()
    assert run.rc == 0, run.output()
    assert run.task('Promote')['result']['changed'] is True
    assert sum(1 for entry in sim.request_log(tenant, 'staging') if entry['status'] == 503) == 6


def test_a_token_with_a_line_break_is_trimmed_and_a_malformed_one_never_echoed(simulator, playbook):
    sim, tenant = simulator, 'tenant09'
    token = sim.credentials(tenant, 'staging')['access_token']
    trimmed = playbook(promotion_play(sim, tenant, 'staging', [lock_task(name='Read', state='unlocked')], auth='token',
                                      connection={'access_token': token + '\n'}))
    assert trimmed.rc == 0, trimmed.output()
    broken = playbook(promotion_play(sim, tenant, 'staging', [lock_task(name='Read', state='unlocked')], auth='token',
                                     connection={'access_token': token[:10] + ' ' + token[10:]}), verbosity=4)
    assert broken.rc != 0 and 'single token' in broken.failure('Read')['msg']
    assert token[10:] not in broken.output() and 'Traceback' not in broken.output()
