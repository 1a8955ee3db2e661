"""The variants a real tenant may show (the vendor's guide and the API notes, docs/docsite/rst/guide_api_notes.rst),
one tenant each, and their checks."""

from __future__ import annotations

import json
import time

import pytest

from tests.simulator.control import Simulator, SimulatorError
from tests.simulator.tenant import FIELD_PHASES, PRESETS

from .conftest import FAST, PROMOTION, Api, assertion
from .test_simulator_auth import form

SEED_REPORT_KEYS = {'createdDate', 'promotionId', 'report', 'reportId', 'reportName'}
SEED_LIST_KEYS = {'createdDate', 'dryRun', 'promotionId', 'reportId'}
SEED_UNLOCKING = 'Environment unlock in progress'


def edit_dev(sim, tenant, name):
    sim.edit_config(tenant, 'dev', 'idm', 'Email > Templates', 'add', name)


def read_lock(client):
    return client.get(PROMOTION + '/lock/state').json()


# -- report bodies and the list


def test_seed_report_body_has_the_five_keys_only(sim, tenant, api):
    sim.set_variant(tenant=tenant, report_body='seed', report_shape='seed')
    staging = api('staging')
    edit_dev(sim, tenant, 'Forgotten Username')
    promotion_id = staging.lock()
    staging.promote(dryRun=True, promoter='ci', promotionDescription='dry')
    dry = staging.get(PROMOTION + '/report').json()
    assert set(dry) == SEED_REPORT_KEYS
    assert dry['reportName'].endswith('_dryrun=true_%s' % promotion_id) and dry['promotionId'] == promotion_id
    assert dry['report']['IDMConfig'][0]['configChange'] == {'added': ['Forgotten Username']}
    staging.promote(promoter='ci')
    real = staging.get(PROMOTION + '/report').json()
    assert set(real) == SEED_REPORT_KEYS and real['reportName'].endswith('_dryrun=false_%s' % promotion_id)
    assert real['reportName'].startswith('Report_') and real['reportId'] != dry['reportId']
    by_id = staging.get(PROMOTION + '/report/' + dry['reportId']).json()
    assert by_id == dry
    # the dry run is told from the real one by the list only
    listed = {item['reportId']: item['dryRun'] for item in staging.get(PROMOTION + '/reports').json()}
    assert listed == {dry['reportId']: True, real['reportId']: False}


def test_seed_report_list_has_no_type_and_no_date_order(sim, tenant, api):
    staging = api('staging')
    staging.lock()
    for dry_run in (True, False, True):
        staging.promote(dryRun=dry_run)
    chronological = [item['reportId'] for item in staging.get(PROMOTION + '/reports').json()]
    sim.set_variant(tenant=tenant, report_list='seed')
    seed = staging.get(PROMOTION + '/reports').json()
    assert all(set(item) == SEED_LIST_KEYS for item in seed)
    assert sorted(item['reportId'] for item in seed) == sorted(chronological)
    assert [item['reportId'] for item in seed] != chronological
    assert staging.get(PROMOTION + '/reports').json() == seed  # deterministic
    assert [item['dryRun'] for item in seed].count(True) == 2
    # GET /report is still the most recent run, whatever the list order
    assert staging.get(PROMOTION + '/report').json()['reportId'] == chronological[-1]


def test_seed_report_list_of_two_is_newest_first(sim, tenant, api):
    sim.set_variant(tenant=tenant, report_list='seed')
    staging = api('staging')
    staging.lock()
    staging.promote(dryRun=True)
    first = staging.get(PROMOTION + '/report').json()['reportId']
    staging.promote()
    second = staging.get(PROMOTION + '/report').json()['reportId']
    assert [item['reportId'] for item in staging.get(PROMOTION + '/reports').json()] == [second, first]


# -- unlock answers, stale reads, lock progress


@pytest.mark.parametrize('answer, status', [('unlocking-200', 200), ('unlocking-202', 202)])
def test_unlocking_answers_with_a_stale_read(sim, tenant, api, answer, status):
    sim.set_variant(tenant=tenant, unlock_answer=answer, stale_lock_reads=1)
    sim.set_timing(tenant=tenant, unlock=10)  # half a second at the test speed
    staging = api('staging')
    promotion_id = staging.lock()
    response = staging.delete(PROMOTION + '/lock/' + promotion_id)
    assert response.status_code == status
    assert response.json() == {'description': SEED_UNLOCKING, 'promotionId': promotion_id, 'result': 'unlocking'}
    stale = read_lock(staging)
    assert stale['result'] == 'locked' and stale['upperEnv'] == {'state': 'locked', 'promotionId': promotion_id}
    unlocking = read_lock(staging)
    assert unlocking['result'] == 'unlocking' and unlocking['description'] == SEED_UNLOCKING
    assert unlocking['lowerEnv'] == {'state': 'unlocking', 'promotionId': promotion_id}
    again = staging.post(PROMOTION + '/lock')
    assert again.status_code == 409 and promotion_id in again.json()['message']
    assert staging.wait_lock('unlocked')['result'] == 'unlocked'
    assert sim.env_state(tenant, 'staging')['lock'] is None


def test_unlocking_202_is_the_default(sim, tenant, api):
    staging = api('staging')
    promotion_id = staging.lock()
    response = staging.delete(PROMOTION + '/lock/' + promotion_id)
    assert response.status_code == 202
    assert response.json() == {'result': 'unlocking', 'description': SEED_UNLOCKING, 'promotionId': promotion_id}
    assert staging.wait_lock('unlocked')['result'] == 'unlocked'


def test_unlocked_answer(sim, tenant, api):
    sim.set_variant(tenant=tenant, unlock_answer='unlocked')
    staging = api('staging')
    promotion_id = staging.lock()
    response = staging.delete(PROMOTION + '/lock/' + promotion_id)
    assert response.status_code == 200
    assert response.json() == {'result': 'unlocked', 'description': 'Environment unlocked', 'promotionId': promotion_id}
    assert sim.env_state(tenant, 'staging')['lock'] is None


def test_lock_moves_on_only_when_its_state_is_read(sim, tenant, api):
    sim.set_variant(tenant=tenant, lock_progress='on_read', unlock_answer='unlocking-200')
    staging = api('staging')
    promotion_id = staging.post(PROMOTION + '/lock').json()['promotionId']
    time.sleep(0.2)  # four times the lock time at the test speed
    # nothing but a lock-state read moves the lock on
    refused = staging.post(PROMOTION + '/promote', json={'dryRun': True})
    assert refused.status_code == 409 and refused.json()['message'] == 'Environment is currently locking or unlocking'
    assert staging.get(PROMOTION + '/promote').json()['globalLock'] == 'LOCKING'
    assert staging.delete(PROMOTION + '/lock/' + promotion_id).status_code == 409
    assert staging.post(PROMOTION + '/rollback', json={}).status_code == 409
    assert staging.get(PROMOTION + '/reports').status_code == 200
    state = sim.env_state(tenant, 'staging')['lock']
    assert state['state'] == 'locking' and state['clock_state'] == 'locked'
    assert sim.env_state(tenant, 'staging')['lock']['state'] == 'locking'  # env_state did not move it either
    assert read_lock(staging)['result'] == 'locked'
    assert staging.get(PROMOTION + '/promote').json()['status'] == 'READY'
    assert staging.promote(dryRun=True)['status'] == 'READY'
    # the unlock too ends only once it is read
    assert staging.delete(PROMOTION + '/lock/' + promotion_id).json()['result'] == 'unlocking'
    time.sleep(0.2)
    assert staging.post(PROMOTION + '/lock').status_code == 409
    assert sim.env_state(tenant, 'staging')['lock']['state'] == 'unlocking'
    assert read_lock(staging)['result'] == 'unlocked'
    assert sim.env_state(tenant, 'staging')['lock'] is None
    assert staging.lock() != promotion_id


def test_on_read_lock_that_is_never_polled_stays_locking(sim, tenant, api):
    sim.set_variant(tenant=tenant, lock_progress='on_read')
    staging = api('staging')
    staging.post(PROMOTION + '/lock')
    for attempt in range(3):
        time.sleep(0.1)
        assert staging.post(PROMOTION + '/promote', json={'dryRun': False}).status_code == 409, attempt
        assert staging.get(PROMOTION + '/promote').json()['status'] == 'UNLOCKED', attempt
    assert staging.wait_lock('locked')['result'] == 'locked'


def test_unlock_after_promotion_ends_on_read(sim, tenant, api):
    sim.set_variant(tenant=tenant, lock_progress='on_read')
    staging = api('staging')
    staging.lock()
    assert staging.promote(unlockEnvironmentsAfterPromotion=True)['status'] == 'READY'
    time.sleep(0.2)
    assert sim.env_state(tenant, 'staging')['lock']['state'] == 'unlocking'
    assert staging.wait_lock('unlocked')['result'] == 'unlocked'


def test_proxy_state(sim, tenant, api):
    sim.set_variant(tenant=tenant, proxy_state=True)
    sim.set_timing(tenant=tenant, lock=10)  # half a second at the test speed: the locking state is seen
    staging = api('staging')
    unlocked = read_lock(staging)
    assert unlocked['lowerEnv'] == unlocked['upperEnv'] == {'state': 'unlocked', 'proxyState': 'unlocked'}
    promotion_id = staging.post(PROMOTION + '/lock').json()['promotionId']
    locking = read_lock(staging)
    vocabulary = {'unlocked', 'locking', 'locked', 'unlocking', 'error'}
    assert locking['upperEnv']['state'] == 'locking' and locking['upperEnv']['proxyState'] in vocabulary
    locked = staging.wait_lock('locked')
    for side in ('lowerEnv', 'upperEnv'):
        assert locked[side] == {'state': 'locked', 'promotionId': promotion_id, 'proxyState': 'locked'}
    local = staging.get(PROMOTION + '/lock/state', params={'localLockOnly': 'true'}).json()
    assert 'lowerEnv' not in local and local['upperEnv']['proxyState'] == 'locked'


# -- a lock that fails


def test_failed_lock(sim, tenant, api):
    staging = api('staging')
    sim.fail_next_lock(tenant, 'staging', description='Environment lock failed: upper environment unreachable')
    response = staging.post(PROMOTION + '/lock')
    assert response.status_code == 202 and response.json()['result'] == 'locking'
    promotion_id = response.json()['promotionId']
    state = staging.wait_lock('error')
    assert state == {'result': 'error', 'description': 'Environment lock failed: upper environment unreachable',
                     'promotionId': promotion_id,
                     'lowerEnv': {'state': 'error', 'promotionId': promotion_id},
                     'upperEnv': {'state': 'error', 'promotionId': promotion_id}}
    again = staging.post(PROMOTION + '/lock')
    assert again.status_code == 409
    assert again.json() == {'code': 409, 'message': 'Environment is already locked for promotion %s' % promotion_id}
    assert staging.post(PROMOTION + '/promote', json={'dryRun': True}).status_code == 409
    assert staging.get(PROMOTION + '/promote').json()['globalLock'] == 'ERROR'
    unlock = staging.delete(PROMOTION + '/lock/' + promotion_id)
    assert unlock.status_code == 500 and unlock.json() == {'code': 500, 'message': '<internal-error-message>'}
    assert sim.env_state(tenant, 'staging')['lock']['failure'].startswith('Environment lock failed')
    sim.clear_block(tenant, 'staging')  # support removes it
    assert sim.env_state(tenant, 'staging')['lock'] is None
    assert read_lock(staging)['result'] == 'unlocked'
    second = staging.lock()  # one lock only fails
    assert second != promotion_id
    staging.unlock(second)


def test_failed_lock_default_description_and_on_read(sim, tenant, api):
    sim.set_variant(tenant=tenant, lock_progress='on_read')
    sim.fail_next_lock(tenant, 'prod')
    prod = api('prod')
    prod.post(PROMOTION + '/lock')
    time.sleep(0.1)
    assert prod.post(PROMOTION + '/promote', json={'dryRun': True}).json()['message'] == \
        'Environment is currently locking or unlocking'  # the error is not seen before a read
    state = prod.wait_lock('error')
    assert state['description'] == 'Failed to lock environment'
    refused = prod.post(PROMOTION + '/promote', json={'dryRun': True})
    assert refused.status_code == 409 and refused.json()['message'] != 'Environment is currently locking or unlocking'
    # staging's pair is held through the shared environment
    assert api('staging').post(PROMOTION + '/lock').status_code == 409


def test_fail_next_lock_refuses_the_lowest_environment(sim, tenant):
    with pytest.raises(SimulatorError, match='400'):
        sim.fail_next_lock(tenant, 'dev')


# -- service-account scopes


def test_promotion_only_accounts(sim, tenant, api):
    sim.set_variant(tenant=tenant, account_scopes='promotion')
    staging = api('staging')
    for scope in ('fr:idc:promotion:* fr:idc:release:*', 'fr:idc:release:*'):
        refused = staging.token(form(assertion(sim, tenant, 'staging'), scope))
        assert refused.status_code == 400
        assert refused.json() == {'error': 'invalid_scope', 'error_description': 'Unknown/invalid scope(s): [fr:idc:release:*]'}
    granted = staging.token(form(assertion(sim, tenant, 'staging'), 'fr:idc:promotion:*'))
    assert granted.status_code == 200 and granted.json()['scope'] == 'fr:idc:promotion:*'
    # the static token of the state file has lost the release scope too, and keeps the promotion one
    release = staging.get('/environment/release')
    assert release.status_code == 403 and 'insufficient_scope' in release.headers['WWW-Authenticate']
    assert staging.get(PROMOTION + '/lock/state').status_code == 200
    # an unknown scope is still refused as unknown
    unknown = staging.token(form(assertion(sim, tenant, 'staging'), 'fr:idc:nonsense:*'))
    assert unknown.status_code == 400 and unknown.json()['error'] == 'invalid_scope'
    sim.set_variant(tenant=tenant, account_scopes='all')  # switched at run time: the static token follows
    assert staging.get('/environment/release').status_code == 200
    assert staging.token(form(assertion(sim, tenant, 'staging'), 'fr:idc:release:*')).status_code == 200


# -- error bodies


@pytest.mark.parametrize('style', ['seed', 'common-rest', 'promotions'])
def test_error_body_styles(sim, tenant, api, style):
    sim.set_variant(tenant=tenant, error_body=style)
    staging = api('staging')
    promotion_id = staging.lock()
    conflict = staging.post(PROMOTION + '/lock').json()
    message = 'Environment is already locked for promotion %s' % promotion_id
    expected = {'seed': {'code': 409, 'message': message},
                'common-rest': {'code': 409, 'reason': 'Conflict', 'message': message},
                'promotions': {'code': 409, 'message': message, 'status': 'Conflict'}}[style]
    assert conflict == expected
    missing_report = staging.get(PROMOTION + '/report/no-such-report').json()
    keys = {'seed': {'code', 'reason', 'message'}, 'common-rest': {'code', 'reason', 'message'},
            'promotions': {'code', 'message', 'status'}}[style]
    assert set(missing_report) == keys and missing_report['code'] == 404
    unauthorized = Api(sim, tenant, 'staging', token='not-a-token').get(PROMOTION + '/promote')
    assert unauthorized.status_code == 401 and set(unauthorized.json()) == keys
    no_version = Api(sim, tenant, 'staging', version=None).get(PROMOTION + '/promote')
    assert no_version.status_code == 400 and set(no_version.json()) == keys
    if style == 'promotions':
        assert unauthorized.json()['status'] == 'Unauthorized' and missing_report['status'] == 'Not Found'
    # the API's own 500 follows the style; the token endpoint keeps the OAuth shape
    sim.inject_fault('/environment/promotion/lock', 500, method='POST', tenant=tenant, env='staging')
    internal = staging.post(PROMOTION + '/lock').json()
    assert internal['message'] == '<internal-error-message>' and set(internal) == (
        {'code', 'message'} if style == 'seed' else keys)
    oauth = staging.token(form('not.a.jwt'))
    assert oauth.status_code == 400 and set(oauth.json()) == {'error', 'error_description'}


# -- the status body


def test_status_without_type(sim, tenant, api):
    sim.set_variant(tenant=tenant, status_type='absent')
    staging = api('staging')
    bodies = [staging.get(PROMOTION + '/promote').json()]
    staging.lock()
    bodies.append(staging.get(PROMOTION + '/promote').json())
    staging.post(PROMOTION + '/promote', json={'dryRun': False})
    bodies.append(staging.get(PROMOTION + '/promote').json())
    bodies.append(staging.wait_run())
    staging.post(PROMOTION + '/rollback', json={})
    bodies.append(staging.wait_run())
    assert [b['status'] for b in bodies] == ['UNLOCKED', 'READY', 'RUNNING', 'READY', 'READY']
    assert bodies[-1]['message'].startswith('Rollback completed')
    assert not any('type' in body for body in bodies)


def test_previous_status_stays_visible_after_a_new_lock(sim, tenant, api):
    sim.set_variant(tenant=tenant, previous_status='visible')
    staging = api('staging')
    sim.edit_config(tenant, 'dev', 'idm', 'Email > Templates', 'add', 'Forgotten Username', esv_refs=['esv.email.from'])
    first = staging.lock()
    failed = staging.promote()
    assert failed['message'] == 'Missing ESVs'
    staging.unlock(first)
    second = staging.lock()
    shown = staging.get(PROMOTION + '/promote').json()
    assert shown['status'] == 'ERROR' and shown['message'] == 'Missing ESVs' and shown['blockingError'] is False
    assert shown['promotionId'] == first != second and shown['missingESVs'] == ['email.from']
    assert shown['timeStamp'] == failed['timeStamp'] and shown['globalLock'] == 'LOCKED'
    sim.add_esv(tenant, 'staging', 'esv.email.from')
    staging.post(PROMOTION + '/promote', json={'dryRun': True})
    running = staging.get(PROMOTION + '/promote').json()
    assert running['status'] == 'RUNNING' and running['promotionId'] == second
    # by default the new lock hides the previous run
    sim.set_variant(tenant=tenant, previous_status='hidden')
    staging.wait_run()
    staging.unlock(second)
    third = staging.lock()
    ready = staging.get(PROMOTION + '/promote').json()
    assert (ready['status'], ready['message'], ready['promotionId']) == ('READY', 'Environment ready for promotion', third)


# -- timing


def test_timing_per_tenant(sim, tenant, other_tenant, api):
    timing = sim.set_timing(tenant=tenant, lock=0, prepare=0, promote=0, restart=0)
    assert timing['restart'] == 0 and timing['speed'] == 20
    others = sim.env_state(other_tenant, 'staging')['timing']
    assert others == {'lock': 1, 'unlock': 1, 'prepare': 1, 'promote': 2, 'restart': 3, 'speed': 20}
    staging = api('staging')
    assert staging.post(PROMOTION + '/lock').status_code == 202
    assert read_lock(staging)['result'] == 'locked'  # no lock time at all
    staging.post(PROMOTION + '/promote', json={'dryRun': False})
    assert staging.get(PROMOTION + '/promote').json()['message'] == 'Promotion completed (no change)'
    assert sim.env_state(other_tenant, 'staging')['timing'] == others


def test_field_profile_plays_minutes_at_high_speed(sim, tenant, api):
    timing = sim.set_timing(tenant=tenant, profile='field', speed=1000)
    assert timing == dict(FIELD_PHASES, speed=1000, token_lifetime=900)
    staging = api('staging')
    edit_dev(sim, tenant, 'Field')
    staging.lock()
    seen = {}
    started = time.monotonic()
    staging.post(PROMOTION + '/promote', json={'dryRun': False})
    while True:
        status = staging.get(PROMOTION + '/promote').json()
        if status['status'] != 'RUNNING':
            break
        seen.setdefault(status['message'], [time.monotonic(), 0])[1] = time.monotonic()
        time.sleep(0.005)
    elapsed = time.monotonic() - started
    assert status['message'] == 'Promotion completed' and 0.55 < elapsed < 5
    spans = {message: last - first for message, (first, last) in seen.items()}
    assert max(spans, key=spans.get) == 'Waiting for workloads to restart'
    assert spans['Waiting for workloads to restart'] > spans['Promote configuration'] > 0
    # a dry run has no restart phase: about 180 field seconds instead of 600
    started = time.monotonic()
    assert staging.promote(dryRun=True)['status'] == 'READY'
    assert time.monotonic() - started < elapsed


def test_timing_variant_selects_the_field_profile(sim, tenant):
    sim.set_variant(tenant=tenant, timing='field')
    assert sim.env_state(tenant, 'staging')['timing'] == dict(FIELD_PHASES, speed=20)
    sim.set_timing(tenant=tenant, speed=500, restart=30)
    assert sim.env_state(tenant, 'staging')['timing'] == dict(FIELD_PHASES, restart=30, speed=500)
    sim.set_timing(tenant=tenant, profile='default')
    assert sim.env_state(tenant, 'staging')['timing'] == {'lock': 1, 'unlock': 1, 'prepare': 1, 'promote': 2,
                                                          'restart': 3, 'speed': 500}
    assert sim.env_state(tenant, 'staging')['variant']['timing'] == 'default'
    with pytest.raises(SimulatorError, match='400'):
        sim.set_timing(tenant=tenant, profile='slow')
    with pytest.raises(SimulatorError, match='400'):
        sim.set_timing(tenant=tenant, speed=0)
    with pytest.raises(SimulatorError, match='unknown phase'):
        sim.admin('set_timing', tenant=tenant, reboot=3)


# -- bookkeeping


def test_runs_in_env_state(sim, tenant, api):
    staging = api('staging')
    edit_dev(sim, tenant, 'Counted')
    sim.set_timing(tenant=tenant, restart=10)  # half a second: the real run is seen running
    assert sim.env_state(tenant, 'staging')['runs'] == []
    promotion_id = staging.lock()
    staging.promote(dryRun=True)
    staging.post(PROMOTION + '/promote', json={'dryRun': False})
    running = sim.env_state(tenant, 'staging')['runs'][-1]
    assert running['status'] == 'RUNNING' and running['dry_run'] is False and running['message'] in (
        'Prepare config', 'Promote configuration', 'Waiting for workloads to restart')
    staging.wait_run()
    staging.post(PROMOTION + '/rollback', json={})
    staging.wait_run()
    runs = sim.env_state(tenant, 'staging')['runs']
    assert runs == [
        {'kind': 'promotion', 'dry_run': True, 'promotion_id': promotion_id, 'status': 'READY', 'message': 'Promotion completed'},
        {'kind': 'promotion', 'dry_run': False, 'promotion_id': promotion_id, 'status': 'READY',
         'message': 'Promotion completed'},
        {'kind': 'rollback', 'dry_run': False, 'promotion_id': promotion_id, 'status': 'READY', 'message': 'Rollback completed'}]
    assert sum(1 for r in runs if r['kind'] == 'promotion' and not r['dry_run']) == 1
    assert sim.env_state(tenant, 'prod')['runs'] == []


# -- the seed preset and the checks of set_variant


def test_seed_preset_per_tenant(sim, tenant, api):
    variant = sim.set_variant(tenant=tenant, preset='seed', proxy_state=True)
    assert {key: variant[key] for key in PRESETS['seed']} == PRESETS['seed'] and variant['proxy_state'] is True
    staging = api('staging')
    edit_dev(sim, tenant, 'Forgotten Username')
    # 1. unlocked
    assert read_lock(staging)['result'] == 'unlocked'
    # 2. lock (200, as the simulator always answered the seed's starts); it moves on only while polled
    response = staging.post(PROMOTION + '/lock')
    assert response.status_code == 200
    promotion_id = response.json()['promotionId']
    time.sleep(0.1)
    assert staging.post(PROMOTION + '/promote', json={'dryRun': True}).status_code == 409
    assert staging.wait_lock('locked')['promotionId'] == promotion_id
    # 3.-5. no type in the status
    ready = staging.get(PROMOTION + '/promote').json()
    assert ready['status'] == 'READY' and 'type' not in ready
    staging.promote(dryRun=True)
    done = staging.promote()
    assert done['message'] == 'Promotion completed' and 'type' not in done
    # 6. the seed's report and list
    report = staging.get(PROMOTION + '/report').json()
    assert set(report) == SEED_REPORT_KEYS and '_dryrun=false_' in report['reportName']
    assert report['report']['IDMConfig'][0]['fileDestinationPattern'] == 'idm/conf/emailTemplate-*.json'
    listed = staging.get(PROMOTION + '/reports').json()
    assert len(listed) == 2 and all(set(item) == SEED_LIST_KEYS for item in listed)
    # 7. unlock: 200 unlocking, one stale locked read, then unlocked
    response = staging.delete(PROMOTION + '/lock/' + promotion_id)
    assert response.status_code == 200 and response.json()['result'] == 'unlocking'
    assert read_lock(staging)['result'] == 'locked'
    assert staging.wait_lock('unlocked')['result'] == 'unlocked'
    # accounts made the seed's way have no release scope
    assert staging.get('/environment/release').status_code == 403
    assert staging.token(form(assertion(sim, tenant, 'staging'), 'fr:idc:release:*')).status_code == 400


def test_preset_keys_given_in_the_same_call_win(sim, tenant):
    variant = sim.set_variant(tenant=tenant, preset='seed', unlock_answer='unlocking-202', lock_progress='clock')
    assert variant['unlock_answer'] == 'unlocking-202' and variant['lock_progress'] == 'clock'
    assert variant['report_body'] == 'seed'


@pytest.mark.parametrize('choices', [{'bogus': 1}, {'report_body': 'short'}, {'proxy_state': 1}, {'stale_lock_reads': True},
                                     {'unlock_status': 202}, {'preset': 'vendor'}, {'unlock_answer': 202},
                                     {'report_body': 'seed', 'error_body': 'xml'}])
def test_set_variant_refuses_unknown_keys_and_values(sim, tenant, choices):
    before = sim.env_state(tenant, 'staging')['variant']
    with pytest.raises(SimulatorError, match=r'\(400\)'):
        sim.admin('set_variant', tenant=tenant, **choices)
    assert sim.env_state(tenant, 'staging')['variant'] == before  # nothing applied


def test_variants_stay_with_their_tenant(sim, tenant, other_tenant):
    sim.set_variant(tenant=tenant, report_body='seed', error_body='promotions')
    others = sim.env_state(other_tenant, 'staging')['variant']
    assert others['report_body'] == 'full' and others['error_body'] == 'seed' and others['unlock_answer'] == 'unlocking-202'


# -- scenario files and the command line


def test_scenario_and_command_line_variants(tmp_path):
    scenario = {
        'tenants': {
            'alpha': {'variant': {'report_body': 'seed', 'error_body': 'common-rest'}, 'timing': {'restart': 0},
                      'edits': [{'action': 'fail_next_lock', 'env': 'staging', 'description': 'No luck'}]},
            'beta': {'variant': {'preset': 'seed', 'lock_progress': 'clock'},
                     'edits': [{'action': 'set_timing', 'profile': 'default', 'speed': 50}]},
            'gamma': {}},
        'variant': {'status_type': 'present', 'previous_status': 'visible'}}
    scenario_file = tmp_path / 'scenario.json'
    scenario_file.write_text(json.dumps(scenario))
    extra = FAST[2:] + ['--preset', 'seed', '--variant', 'report_body=full', '--variant', 'proxy_state=true',
                        '--timing-profile', 'field', '--speed', '1000']
    with Simulator.start(tmp_path, scenario=str(scenario_file), extra_args=extra) as sim:
        gamma = sim.env_state('gamma', 'staging')
        expected = dict(PRESETS['seed'], report_body='full', proxy_state=True, previous_status='visible')
        assert {key: gamma['variant'][key] for key in expected} == expected  # the command line came last
        assert gamma['timing'] == dict(FIELD_PHASES, speed=1000)
        alpha = sim.env_state('alpha', 'staging')
        assert alpha['variant']['report_body'] == 'seed' and alpha['variant']['error_body'] == 'common-rest'
        assert alpha['timing'] == dict(FIELD_PHASES, restart=0, speed=1000)
        beta = sim.env_state('beta', 'staging')
        assert beta['variant']['lock_progress'] == 'clock' and beta['variant']['report_list'] == 'seed'
        assert beta['timing'] == dict(FIELD_PHASES, speed=50)  # a tenant's 'default' is the global phases
        staging = Api(sim, 'alpha', 'staging')
        staging.post(PROMOTION + '/lock')
        state = staging.wait_lock('error')
        assert state['description'] == 'No luck' and state['upperEnv']['proxyState'] == 'error'
        assert staging.post(PROMOTION + '/lock').json()['reason'] == 'Conflict'  # common-rest bodies
        assert Api(sim, 'gamma', 'staging').get('/environment/release').status_code == 403  # the preset's accounts


@pytest.mark.parametrize('extra, complaint', [(['--variant', 'nonsense=1'], 'unknown variant'),
                                              (['--variant', 'report_body'], 'KEY=VALUE'),
                                              (['--preset', 'vendor'], 'invalid choice')])
def test_command_line_refuses_bad_variants(tmp_path, extra, complaint):
    with pytest.raises(SimulatorError, match=complaint):
        Simulator.start(tmp_path, extra_args=extra)


def test_scenario_refuses_unknown_tenant_keys_and_variants(tmp_path):
    for number, spec in enumerate(({'variants': {'report_body': 'seed'}}, {'variant': {'report_body': 'tiny'}})):
        scenario_file = tmp_path / ('scenario%d.json' % number)
        scenario_file.write_text(json.dumps({'tenants': {'alpha': spec}}))
        with pytest.raises(SimulatorError, match='bad scenario'):
            Simulator.start(tmp_path / str(number), scenario=str(scenario_file))
