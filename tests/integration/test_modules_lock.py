# -*- coding: utf-8 -*-
"""promotion_lock, run by ansible-playbook against the simulator."""

from __future__ import annotations

import json
import re

import requests

from tests.integration.support import WhenLogged, lock_task, promotion_play, writes

UUID = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')


def test_lock_check_mode_then_real_then_rerun_unchanged(simulator, playbook):
    sim, tenant = simulator, 'tenant01'
    checked = playbook(promotion_play(sim, tenant, 'staging', [lock_task()]), check=True)
    assert checked.rc == 0, checked.output()
    assert checked.task('Lock')['result']['changed'] is True
    assert sim.env_state(tenant, 'staging')['lock'] is None
    assert writes(sim, tenant, 'staging') == []

    first = playbook(promotion_play(sim, tenant, 'staging', [lock_task()]))
    assert first.rc == 0, first.output()
    locked = first.task('Lock')['result']
    assert locked['changed'] is True and locked['state'] == 'locked' and UUID.match(locked['promotion_id'])
    assert locked['lock']['lowerEnv']['state'] == 'locked' and locked['transaction_id']
    assert [entry['result'] for entry in locked['history']][-1] == 'locked'
    # The pair is locked: dev (the lower env) too.
    assert sim.env_state(tenant, 'dev')['lock'] is not None

    again = playbook(promotion_play(sim, tenant, 'staging', [lock_task(promotion_id=locked['promotion_id'])]))
    assert again.rc == 0 and again.changed() == 0, again.output()
    assert writes(sim, tenant, 'staging') == [('POST', '/environment/promotion/lock')]

    unlock = lock_task(name='Unlock', state='unlocked', promotion_id=locked['promotion_id'])
    checked = playbook(promotion_play(sim, tenant, 'staging', [unlock]), check=True)
    assert checked.task('Unlock')['result']['changed'] is True
    assert sim.env_state(tenant, 'staging')['lock'] is not None

    released = playbook(promotion_play(sim, tenant, 'staging', [unlock, dict(unlock, name='Unlock again')]))
    assert released.rc == 0, released.output()
    assert released.task('Unlock')['result']['changed'] is True
    assert released.task('Unlock')['result']['state'] == 'unlocked'
    assert released.task('Unlock again')['result']['changed'] is False
    assert sim.env_state(tenant, 'staging')['lock'] is None and sim.env_state(tenant, 'dev')['lock'] is None


def test_foreign_lock_is_named_and_only_released_with_force(simulator, playbook):
    sim, tenant = simulator, 'tenant02'
    holder = sim.foreign_lock(tenant, 'staging')
    run = playbook(promotion_play(sim, tenant, 'staging', [
        dict(lock_task(), ignore_errors=True),
        dict(lock_task(name='Unlock without force', state='unlocked', promotion_id='0e8f5d7c-0000-4000-8000-000000000000'),
             ignore_errors=True),
        lock_task(name='Unlock with force', state='unlocked', force=True),
    ]))
    assert run.rc == 0, run.output()
    refused = run.failure('Lock')
    assert refused['holder'] == holder and holder in refused['msg'] and 'wait_for_release' in refused['msg']
    kept = run.failure('Unlock without force')
    assert 'force: true' in kept['msg']
    forced = run.task('Unlock with force')['result']
    assert forced['changed'] and forced['promotion_id'] == holder
    assert sim.env_state(tenant, 'staging')['lock'] is None


def test_maintenance_lock_is_never_released(simulator, playbook):
    sim, tenant = simulator, 'tenant03'
    sim.maintenance_lock(tenant, 'staging')
    try:
        run = playbook(promotion_play(sim, tenant, 'staging', [
            dict(lock_task(), ignore_errors=True),
            dict(lock_task(name='Force unlock', state='unlocked', force=True), ignore_errors=True),
        ]))
        assert 'maintenance' in run.failure('Lock')['msg']
        assert 'maintenance' in run.failure('Force unlock')['msg']
        assert not [w for w in writes(sim, tenant, 'staging') if w[0] == 'DELETE']
        assert sim.env_state(tenant, 'staging')['maintenance'] is True
    finally:
        sim.maintenance_lock(tenant, 'staging', on=False)


def test_a_lock_spans_the_pair_so_the_next_hop_waits(simulator, playbook):
    sim, tenant = simulator, 'tenant04'
    run = playbook(promotion_play(sim, tenant, 'staging', [lock_task()]))
    held = run.task('Lock')['result']['promotion_id']
    blocked = playbook(promotion_play(sim, tenant, 'prod', [lock_task()]))
    assert blocked.rc != 0 and held in blocked.failure('Lock')['msg']
    playbook(promotion_play(sim, tenant, 'staging', [lock_task(state='unlocked', promotion_id=held)]))


def test_wait_for_release_takes_the_lock_once_the_holder_lets_go(simulator, playbook):
    sim, tenant = simulator, 'tenant05'
    holder = sim.foreign_lock(tenant, 'staging')
    creds = sim.credentials(tenant, 'staging')

    def release():
        # The holder releasing its lock through the API, as a colleague would.
        requests.delete(sim.url(tenant, 'staging') + '/environment/promotion/lock/' + holder, verify=sim.ca_file, timeout=10,
                        headers={'Authorization': 'Bearer ' + creds['access_token'], 'Accept-API-Version': 'resource=1.0'})

    # Once the module has seen the lock held (its first read), the holder lets go.
    with WhenLogged(sim, tenant, 'staging', lambda entry: entry['template'] == '/environment/promotion/lock/state', release,
                    after=1):
        run = playbook(promotion_play(sim, tenant, 'staging', [lock_task(wait_for_release=True, wait_timeout=60)]))
    assert run.rc == 0, run.output()
    result = run.task('Lock')['result']
    assert result['changed'] and result['promotion_id'] != holder
    seen = [(entry['result'], entry['promotion_id']) for entry in result['history']]
    assert seen[0] == ('locked', holder) and seen[-1] == ('locked', result['promotion_id'])


def test_wait_timeout_bounds_the_wait(simulator, playbook):
    sim, tenant = simulator, 'tenant06'
    holder = sim.foreign_lock(tenant, 'staging')
    run = playbook(promotion_play(sim, tenant, 'staging', [lock_task(wait_for_release=True, wait_timeout=2)]))
    result = run.failure('Lock')
    assert run.rc != 0 and 'Timed out' in result['msg'] and holder in result['msg']
    assert 'Traceback' not in run.output()


def test_secrets_never_appear_in_output_even_at_vvvv(simulator, playbook):
    sim, tenant = simulator, 'tenant07'
    entry = sim.state['tenants'][tenant]['environments']['staging']
    secrets = [entry['service_account_key'][part] for part in ('d', 'p', 'q', 'dp', 'dq', 'qi')] + [entry['access_token']]
    with_key = playbook(promotion_play(sim, tenant, 'staging', [lock_task(), lock_task(
        name='Unlock', state='unlocked', promotion_id='{{ lock.promotion_id }}')]), verbosity=4)
    with_token = playbook(promotion_play(sim, tenant, 'staging', [lock_task()], auth='token'), verbosity=4)
    assert with_key.rc == 0 and with_token.rc == 0, with_key.output() + with_token.output()
    for run in (with_key, with_token):
        output = run.output()
        # The options as checked are shown (module_args), with the secrets masked.
        assert '"module_args"' in output and 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' in output
        for secret in secrets:
            assert secret not in output and secret not in str(run.results)


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


def test_untrusted_certificate_is_refused_with_a_clear_message(simulator, playbook):
    sim, tenant = simulator, 'tenant09'
    run = playbook(promotion_play(sim, tenant, 'staging', [lock_task(state='unlocked')], connection={'ca_path': None}))
    message = run.failure('Lock')['msg']
    assert run.rc != 0 and 'CERTIFICATE_VERIFY_FAILED' in message and 'ca_path' in message
    assert 'Traceback' not in run.output()


def test_a_lock_record_lets_an_interrupted_run_find_its_lock(simulator, playbook, tmp_path):
    sim, tenant = simulator, 'tenant10'
    record = tmp_path / 'locks' / 'tenant10-staging.json'
    checked = playbook(promotion_play(sim, tenant, 'staging', [lock_task(record=str(record))]), check=True)
    assert checked.rc == 0 and not record.exists(), checked.output()

    first = playbook(promotion_play(sim, tenant, 'staging', [lock_task(record=str(record))]))
    taken = first.task('Lock')['result']
    assert taken['changed'] is True and taken['resumed'] is False
    kept = json.loads(record.read_text())
    assert kept['promotion_id'] == taken['promotion_id'] and kept['tenant_url'] == sim.url(tenant, 'staging')
    assert 'key' not in record.read_text().lower() and 'token' not in record.read_text().lower()

    # The play was interrupted here; run again, it finds its lock instead of failing on "already locked".
    lock_then_unlock = [lock_task(record=str(record)), lock_task(name='Unlock', state='unlocked', record=str(record))]
    again = playbook(promotion_play(sim, tenant, 'staging', lock_then_unlock))
    assert again.rc == 0, again.output()
    resumed = again.task('Lock')['result']
    assert resumed['changed'] is False and resumed['resumed'] is True and resumed['promotion_id'] == taken['promotion_id']
    released = again.task('Unlock')['result']
    assert released['changed'] is True and released['promotion_id'] == taken['promotion_id'] and released['record'] is None
    assert not record.exists() and sim.env_state(tenant, 'staging')['lock'] is None


def test_a_record_of_another_tenant_url_is_refused_and_kept(simulator, playbook, tmp_path):
    # Taking a new lock over another environment's record would lose the lock that record names.
    sim, tenant = simulator, 'tenant11'
    record = tmp_path / 'lock.json'
    record.write_text(json.dumps({'promotion_id': '0e8f5d7c-0000-4000-8000-000000000000', 'tenant_url': 'https://elsewhere'}))
    run = playbook(promotion_play(sim, tenant, 'staging', [lock_task(record=str(record))]))
    assert run.rc != 0
    assert 'is the lock record of https://elsewhere' in run.failure('Lock')['msg']
    assert record.exists() and writes(sim, tenant, 'staging') == []
    assert sim.env_state(tenant, 'staging')['lock'] is None


def test_on_the_controller_in_ansibles_process_elsewhere_as_a_module_with_the_same_result(simulator, playbook):
    # A task with an environment of its own runs the module itself (as one delegated to another host would): the
    # same options, checks and results as the action that runs it in Ansible's worker process.
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
