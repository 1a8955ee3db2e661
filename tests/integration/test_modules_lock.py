# -*- coding: utf-8 -*-
"""promotion_lock, run by ansible-playbook against the simulator.

The tests share one ansible-playbook run (the module fixture ``shared``): each test's story is a host of its own, on
a tenant of its own, its steps (what were runs of their own) in order and all hosts at once; the tests assert on its
recorded results. Three tests run processes of their own: the secrets at -vvvv and the module packed at -vvv (checks
on the whole output), and the options from environment variables (the process's environment)."""

from __future__ import annotations

import json
import re

import pytest
import requests

from tests.integration.support import (SharedRun, StepRun, Story, admin_result, file_snapshot, lock_task, promotion_play, run_stories, writes,
                                       writes_in)

UUID = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
FAKE_ID = '0e8f5d7c-0000-4000-8000-000000000000'

# host: tenant (one each)
TENANTS = {'check-real-rerun': 'tenant01', 'foreign': 'tenant02', 'maintenance': 'tenant03', 'pair': 'tenant04',
           'wait-for-release': 'tenant05', 'wait-timeout': 'tenant06', 'untrusted': 'tenant09', 'record': 'tenant10',
           'record-elsewhere': 'tenant11'}


def check_real_rerun(sim, story, workdir):
    unlock = lock_task(name='Unlock', state='unlocked', promotion_id='{{ locked.promotion_id }}')
    story.step('checked', [lock_task()], check=True)
    story.admin('After the check', 'env_state', tenant=story.tenant, env='staging')
    story.admin('Log after the check', 'request_log', tenant=story.tenant, env='staging')
    story.step('first', [lock_task(register='locked')])
    story.admin('Dev after the lock', 'env_state', tenant=story.tenant, env='dev')
    story.step('again', [lock_task(register='again', promotion_id='{{ locked.promotion_id }}')])
    story.admin('Log after the rerun', 'request_log', tenant=story.tenant, env='staging')
    story.step('checked unlock', [unlock], check=True)
    story.admin('After the checked unlock', 'env_state', tenant=story.tenant, env='staging')
    story.step('released', [unlock, dict(unlock, name='Unlock again')])


def foreign(sim, story, workdir):
    story.holder = sim.foreign_lock(story.tenant, 'staging')
    story.step('run', [
        dict(lock_task(), ignore_errors=True),
        dict(lock_task(name='Unlock without force', state='unlocked', promotion_id=FAKE_ID), ignore_errors=True),
        lock_task(name='Unlock with force', state='unlocked', force=True),
    ])


def maintenance(sim, story, workdir):
    sim.maintenance_lock(story.tenant, 'staging')
    story.step('run', [
        dict(lock_task(), ignore_errors=True),
        dict(lock_task(name='Force unlock', state='unlocked', force=True), ignore_errors=True),
    ])
    story.admin('After the run', 'env_state', tenant=story.tenant, env='staging')
    story.admin('Maintenance over', 'maintenance_lock', tenant=story.tenant, env='staging', on=False)


def pair(sim, story, workdir):
    story.step('run', [lock_task()])
    story.step('blocked', [lock_task(register='blocked')], env='prod')
    story.step('release', [lock_task(state='unlocked', promotion_id='{{ lock.promotion_id }}')])


def wait_for_release(sim, story, workdir):
    holder = story.holder = sim.foreign_lock(story.tenant, 'staging')
    creds = sim.credentials(story.tenant, 'staging')

    def release():
        # The holder releasing its lock through the API, as a colleague would.
        requests.delete(sim.url(story.tenant, 'staging') + '/environment/promotion/lock/' + holder, verify=sim.ca_file, timeout=10,
                        headers={'Authorization': 'Bearer ' + creds['access_token'], 'Accept-API-Version': 'resource=1.0'})

    # Once the module has seen the lock held (its first read), the holder lets go.
    story.when_logged(lambda entry: entry['template'] == '/environment/promotion/lock/state', release, after=1)
    story.step('run', [lock_task(wait_for_release=True, wait_timeout=60)])


def wait_timeout(sim, story, workdir):
    story.holder = sim.foreign_lock(story.tenant, 'staging')
    story.step('run', [lock_task(wait_for_release=True, wait_timeout=2)])


def untrusted(sim, story, workdir):
    story.step('run', [lock_task(state='unlocked')], connection={'ca_path': None})


def record(sim, story, workdir):
    path = story.record = workdir / 'locks' / 'tenant10-staging.json'
    story.step('checked', [lock_task(record=str(path))], check=True)
    story.file('Record after the check', path)
    story.step('first', [lock_task(record=str(path))])
    story.file('Record after the lock', path)
    # The play was interrupted here; run again, it finds its lock instead of failing on "already locked".
    story.step('again', [lock_task(record=str(path)), lock_task(name='Unlock', state='unlocked', record=str(path))])


def record_elsewhere(sim, story, workdir):
    # Taking a new lock over another environment's record would lose the lock that record names.
    path = story.record = workdir / 'lock.json'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({'promotion_id': FAKE_ID, 'tenant_url': 'https://elsewhere'}))
    story.step('run', [lock_task(record=str(path))])


STORIES = {'check-real-rerun': check_real_rerun, 'foreign': foreign, 'maintenance': maintenance, 'pair': pair,
           'wait-for-release': wait_for_release, 'wait-timeout': wait_timeout, 'untrusted': untrusted, 'record': record,
           'record-elsewhere': record_elsewhere}


@pytest.fixture(scope='module')
def shared(simulator, tmp_path_factory):
    """Every story in one ansible-playbook run; the run and the stories (their hosts, with what their setup kept)."""
    workdir = tmp_path_factory.mktemp('modules-lock')
    return run_stories(simulator, workdir, STORIES, TENANTS)


def step(shared, host, name):
    return StepRun(shared[0], host, name)


def test_lock_check_mode_then_real_then_rerun_unchanged(simulator, shared):
    sim, run, host = simulator, shared[0], 'check-real-rerun'
    tenant = TENANTS[host]
    checked = step(shared, host, 'checked')
    assert checked.rc == 0, checked.output()
    assert checked.task('Lock')['result']['changed'] is True
    assert admin_result(run, host, 'After the check')['lock'] is None
    assert writes_in(admin_result(run, host, 'Log after the check')) == []

    first = step(shared, host, 'first')
    assert first.rc == 0, first.output()
    locked = first.task('Lock')['result']
    assert locked['changed'] is True and locked['state'] == 'locked' and UUID.match(locked['promotion_id'])
    assert locked['lock']['lowerEnv']['state'] == 'locked' and locked['transaction_id']
    assert [entry['result'] for entry in locked['history']][-1] == 'locked'
    # The pair is locked: dev (the lower env) too.
    assert admin_result(run, host, 'Dev after the lock')['lock'] is not None

    again = step(shared, host, 'again')
    assert again.rc == 0 and again.changed() == 0, again.output()
    assert again.task('Lock')['result']['promotion_id'] == locked['promotion_id']
    assert writes_in(admin_result(run, host, 'Log after the rerun')) == [('POST', '/environment/promotion/lock')]

    checked = step(shared, host, 'checked unlock')
    assert checked.task('Unlock')['result']['changed'] is True
    assert admin_result(run, host, 'After the checked unlock')['lock'] is not None

    released = step(shared, host, 'released')
    assert released.rc == 0, released.output()
    assert released.task('Unlock')['result']['changed'] is True
    assert released.task('Unlock')['result']['state'] == 'unlocked'
    assert released.task('Unlock again')['result']['changed'] is False
    assert sim.env_state(tenant, 'staging')['lock'] is None and sim.env_state(tenant, 'dev')['lock'] is None


def test_foreign_lock_is_named_and_only_released_with_force(simulator, shared):
    host = 'foreign'
    run, holder = step(shared, host, 'run'), shared[1][host].holder
    assert run.rc == 0, run.output()
    refused = run.failure('Lock')
    assert refused['holder'] == holder and holder in refused['msg'] and 'wait_for_release' in refused['msg']
    kept = run.failure('Unlock without force')
    assert 'force: true' in kept['msg']
    forced = run.task('Unlock with force')['result']
    assert forced['changed'] and forced['promotion_id'] == holder
    assert simulator.env_state(TENANTS[host], 'staging')['lock'] is None


def test_maintenance_lock_is_never_released(simulator, shared):
    sim, tenant = simulator, TENANTS['maintenance']
    run = step(shared, 'maintenance', 'run')
    assert 'maintenance' in run.failure('Lock')['msg']
    assert 'maintenance' in run.failure('Force unlock')['msg']
    assert not [w for w in writes(sim, tenant, 'staging') if w[0] == 'DELETE']
    assert admin_result(shared[0], 'maintenance', 'After the run')['maintenance'] is True


def test_a_lock_spans_the_pair_so_the_next_hop_waits(shared):
    host = 'pair'
    held = step(shared, host, 'run').task('Lock')['result']['promotion_id']
    blocked = step(shared, host, 'blocked')
    assert blocked.rc != 0 and held in blocked.failure('Lock')['msg']
    assert step(shared, host, 'release').rc == 0


def test_wait_for_release_takes_the_lock_once_the_holder_lets_go(shared):
    host = 'wait-for-release'
    run, holder = step(shared, host, 'run'), shared[1][host].holder
    assert run.rc == 0, run.output()
    result = run.task('Lock')['result']
    assert result['changed'] and result['promotion_id'] != holder
    seen = [(entry['result'], entry['promotion_id']) for entry in result['history']]
    assert seen[0] == ('locked', holder) and seen[-1] == ('locked', result['promotion_id'])


def test_wait_timeout_bounds_the_wait(shared):
    host = 'wait-timeout'
    run, holder = step(shared, host, 'run'), shared[1][host].holder
    result = run.failure('Lock')
    assert run.rc != 0 and 'Timed out' in result['msg'] and holder in result['msg']
    assert 'Traceback' not in run.output()


def test_secrets_never_appear_in_output_even_at_vvvv(simulator, tmp_path):
    # A run of its own (-vvvv shows every task's options): with the service-account key, then with the static token.
    sim, tenant = simulator, 'tenant07'
    entry = sim.state['tenants'][tenant]['environments']['staging']
    secrets = [entry['service_account_key'][part] for part in ('d', 'p', 'q', 'dp', 'dq', 'qi')] + [entry['access_token']]
    stories = SharedRun(tmp_path)
    stories.add(Story(sim, 'secrets', tenant)).step('with key', [lock_task(), lock_task(
        name='Unlock', state='unlocked', promotion_id='{{ lock.promotion_id }}')]).step('with token', [lock_task()], auth='token')
    shared = stories.run(verbosity=4)
    with_key, with_token = StepRun(shared, 'secrets', 'with key'), StepRun(shared, 'secrets', 'with token')
    assert with_key.rc == 0 and with_token.rc == 0, shared.output()
    # The output of each: the one host's tasks, in order.
    split = shared.stdout.index('TASK [with token: Lock]')
    for output, results in ((shared.stdout[:split], with_key.results), (shared.stdout[split:] + shared.stderr, with_token.results)):
        # The options as checked are shown (module_args), with the secrets masked.
        assert '"module_args"' in output and 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' in output
        for secret in secrets:
            assert secret not in output and secret not in str(results)
    for secret in secrets:
        assert secret not in shared.output() and secret not in str(shared.results)


def test_options_from_environment_variables(simulator, playbook):
    sim, tenant = simulator, 'tenant08'
    creds = sim.credentials(tenant, 'staging')
    bare = ('[{"hosts": "localhost", "connection": "local", "gather_facts": false, "tasks": ['
            '{"name": "Read lock", "idcloud.promotions.promotion_lock": {"state": "unlocked"}}]}]\n')
    run = playbook(bare, env={'IDCLOUD_TENANT_URL': sim.url(tenant, 'staging'), 'IDCLOUD_ACCESS_TOKEN': creds['access_token'],
                              'IDCLOUD_CA_PATH': sim.ca_file})
    assert run.rc == 0, run.output()
    assert run.task('Read lock')['result']['state'] == 'unlocked'
    missing = playbook(bare, env={'IDCLOUD_TENANT_URL': sim.url(tenant, 'staging'), 'IDCLOUD_CA_PATH': sim.ca_file})
    assert missing.rc != 0 and 'access_token' in missing.failure('Read lock')['msg']


def test_untrusted_certificate_is_refused_with_a_clear_message(shared):
    run = step(shared, 'untrusted', 'run')
    message = run.failure('Lock')['msg']
    assert run.rc != 0 and 'CERTIFICATE_VERIFY_FAILED' in message and 'ca_path' in message
    assert 'Traceback' not in run.output()


def test_a_lock_record_lets_an_interrupted_run_find_its_lock(simulator, shared):
    sim, run, host = simulator, shared[0], 'record'
    tenant, record = TENANTS[host], shared[1][host].record
    checked = step(shared, host, 'checked')
    assert checked.rc == 0 and file_snapshot(run, host, 'Record after the check') == (False, ''), checked.output()

    first = step(shared, host, 'first')
    taken = first.task('Lock')['result']
    assert taken['changed'] is True and taken['resumed'] is False
    exists, text = file_snapshot(run, host, 'Record after the lock')
    kept = json.loads(text)
    assert exists and kept['promotion_id'] == taken['promotion_id'] and kept['tenant_url'] == sim.url(tenant, 'staging')
    assert 'key' not in text.lower() and 'token' not in text.lower()

    # The play was interrupted here; run again, it finds its lock instead of failing on "already locked".
    again = step(shared, host, 'again')
    assert again.rc == 0, again.output()
    resumed = again.task('Lock')['result']
    assert resumed['changed'] is False and resumed['resumed'] is True and resumed['promotion_id'] == taken['promotion_id']
    released = again.task('Unlock')['result']
    assert released['changed'] is True and released['promotion_id'] == taken['promotion_id'] and released['record'] is None
    assert not record.exists() and sim.env_state(tenant, 'staging')['lock'] is None


def test_a_record_of_another_tenant_url_is_refused_and_kept(simulator, shared):
    # Taking a new lock over another environment's record would lose the lock that record names.
    sim, host = simulator, 'record-elsewhere'
    tenant, record = TENANTS[host], shared[1][host].record
    run = step(shared, host, 'run')
    assert run.rc != 0
    assert 'is the lock record of https://elsewhere' in run.failure('Lock')['msg']
    assert record.exists() and writes(sim, tenant, 'staging') == []
    assert sim.env_state(tenant, 'staging')['lock'] is None


def test_on_the_controller_in_ansibles_process_elsewhere_as_a_module_with_the_same_result(simulator, playbook):
    # A run of its own (it counts what -vvv shows of the module's transfers). A task with an environment of its own
    # runs the module itself (as one delegated to another host would): the same options, checks and results as the
    # action that runs it in Ansible's worker process.
    sim, tenant = simulator, 'tenant12'
    in_process = lock_task(name='Lock here')
    as_module = dict(lock_task(name='Lock as a module', register='again', promotion_id='{{ lock.promotion_id }}'),
                     environment={'IDCLOUD_EXAMPLE': '1'})
    unlock = dict(lock_task(name='Unlock as a module', register='unlock', state='unlocked', promotion_id='{{ lock.promotion_id }}'),
                  environment={'IDCLOUD_EXAMPLE': '1'})
    run = playbook(promotion_play(sim, tenant, 'staging', [in_process, as_module, unlock]), verbosity=3)
    assert run.rc == 0, run.output()
    output = run.output()
    # The module was packed, put in place and started for the two tasks with an environment, and only for them.
    assert 'AnsiballZ_promotion_lock.py' in output and output.count('PUT ') == 2
    first, again = run.task('Lock here')['result'], run.task('Lock as a module')['result']
    assert first['changed'] is True and again['changed'] is False and again['promotion_id'] == first['promotion_id']
    assert set(first) - {'invocation'} == set(again) - {'invocation'}  # the same result fields either way
    assert run.task('Unlock as a module')['result']['state'] == 'unlocked'
    assert writes(sim, tenant, 'staging') == [('POST', '/environment/promotion/lock'), ('DELETE', '/environment/promotion/lock/{promotionId}')]
