"""The orders a tenant may answer in (API notes 8), each a variant or a control operation, and the headers of every
answer (the OpenAPI description's: X-ForgeRock-TransactionId and Content-API-Version, errors included)."""

from __future__ import annotations

import time

import pytest
import requests

from tests.simulator.control import SimulatorError

from .conftest import PROMOTION, Api

STATUS = PROMOTION + '/promote'
LOCK_STATE = PROMOTION + '/lock/state'


def edit_dev(sim, tenant, name='Ordered'):
    sim.edit_config(tenant, 'dev', 'idm', 'Email > Templates', 'add', name)


def start(client, dry_run):
    response = client.post(STATUS, json={'dryRun': dry_run})
    assert response.status_code == 202, response.text


# -- the headers of every answer


def test_every_answer_echoes_the_transaction_id_and_names_its_version(sim, tenant, api):
    staging = api('staging')
    tx = {'X-ForgeRock-TransactionId': 'tx-order/7'}
    answers = {
        'ok': staging.get(LOCK_STATE, headers=tx),
        'conflict': staging.post(STATUS, json={'dryRun': True}, headers=tx),
        'not found': staging.get(PROMOTION + '/report', headers=tx),
        'no route': staging.get(PROMOTION + '/nothing', headers=tx),
        'unauthorized': Api(sim, tenant, 'staging', token='bogus').get(STATUS, headers=tx),
        'no version': Api(sim, tenant, 'staging', version=None).get(STATUS, headers=tx),
        'unknown version': Api(sim, tenant, 'staging', version='resource=999.0').get(STATUS, headers=tx),
    }
    for name, response in answers.items():
        assert response.headers['X-ForgeRock-TransactionId'] == 'tx-order/7', name
        assert response.headers['Content-API-Version'] == 'protocol=1.0,resource=1.0', name
    assert [answers[name].status_code for name in answers] == [200, 409, 404, 404, 401, 400, 404]
    asked = Api(sim, tenant, 'staging', version='protocol=2.1,resource=1.0').get(LOCK_STATE)
    assert asked.headers['Content-API-Version'] == 'protocol=2.1,resource=1.0'
    assert asked.headers['X-ForgeRock-TransactionId']  # one of the tenant's own when the request has none
    token = staging.token({'grant_type': 'client_credentials'})  # AM's OAuth2 endpoint: no Common REST version
    assert token.status_code == 400 and token.headers['X-ForgeRock-TransactionId']
    assert 'Content-API-Version' not in token.headers


def test_a_proxy_page_carries_none_of_the_api_headers(sim, tenant, api):
    sim.inject_fault('/environment/promotion/promote', 502, tenant=tenant, env='staging')
    response = api('staging').get(STATUS, headers={'X-ForgeRock-TransactionId': 'tx-proxy'})
    assert response.status_code == 502 and response.headers['Content-Type'].startswith('text/html')
    assert 'X-ForgeRock-TransactionId' not in response.headers and 'Content-API-Version' not in response.headers


# -- a status that lags a start


@pytest.mark.parametrize('lag', [1, 3])
def test_status_lag_shows_the_status_from_before_the_start(sim, tenant, api, lag):
    sim.set_variant(tenant=tenant, status_lag=lag)
    sim.set_timing(tenant=tenant, restart=40)  # two seconds: the real run is still going after the lagging reads
    edit_dev(sim, tenant)
    staging = api('staging')
    promotion_id = staging.lock()
    start(staging, True)
    ready = [staging.get(STATUS).json() for _read in range(lag)]
    assert all(body['status'] == 'READY' and body['message'] == 'Environment ready for promotion' for body in ready)
    dry = staging.wait_run()
    assert dry['message'] == 'Promotion completed' and dry['promotionId'] == promotion_id
    start(staging, False)
    # the dry run's end, under the same promotionId, is read again before the promotion shows
    lagging = [staging.get(STATUS).json() for _read in range(lag)]
    assert all((body['status'], body['message'], body['promotionId'], body['timeStamp']) ==
               ('READY', 'Promotion completed', promotion_id, dry['timeStamp']) for body in lagging), lagging
    assert staging.get(STATUS).json()['status'] == 'RUNNING'
    assert sim.env_state(tenant, 'staging')['status']['status'] == 'RUNNING'  # env_state never lags


def test_status_lag_after_a_rollback_start(sim, tenant, api):
    staging = api('staging')
    edit_dev(sim, tenant)
    staging.lock()
    staging.promote()
    sim.set_variant(tenant=tenant, status_lag=2)
    assert staging.post(PROMOTION + '/rollback', json={}).status_code == 202
    bodies = [staging.get(STATUS).json() for _read in range(2)]
    assert [(b['message'], b['type']) for b in bodies] == [('Promotion completed', 'promotion')] * 2
    assert staging.get(STATUS).json()['type'] == 'rollback'


# -- a report that lags the status


def test_report_lag_returns_the_previous_report_while_the_list_is_ahead(sim, tenant, api):
    sim.set_variant(tenant=tenant, report_lag=2)
    edit_dev(sim, tenant)
    staging = api('staging')
    staging.lock()
    staging.promote(dryRun=True)
    assert [staging.get(PROMOTION + '/report').status_code for _read in range(2)] == [404, 404]  # none before the dry run's
    dry = staging.get(PROMOTION + '/report').json()
    assert dry['dryRun'] is True
    assert staging.promote()['message'] == 'Promotion completed'
    lagging = [staging.get(PROMOTION + '/report').json()['reportId'] for _read in range(2)]
    assert lagging == [dry['reportId']] * 2
    listed = staging.get(PROMOTION + '/reports').json()
    real_id = listed[-1]['reportId']
    assert listed[-1]['dryRun'] is False and real_id != dry['reportId']
    assert staging.get(PROMOTION + '/report/' + real_id).json()['dryRun'] is False
    assert staging.get(PROMOTION + '/report').json()['reportId'] == real_id


# -- a lock that is not visible yet


def test_lock_lag_reads_unlocked_and_a_second_lock_names_the_first(sim, tenant, api):
    sim.set_variant(tenant=tenant, lock_lag=2)
    staging = api('staging')
    promotion_id = staging.post(PROMOTION + '/lock').json()['promotionId']
    assert [staging.get(LOCK_STATE).json()['result'] for _read in range(2)] == ['unlocked', 'unlocked']
    again = staging.post(PROMOTION + '/lock')
    assert again.status_code == 409 and again.json()['message'].endswith(promotion_id)
    assert staging.wait_lock('locked')['promotionId'] == promotion_id


# -- blips while the tenant restarts


@pytest.mark.parametrize('kind, status, body', [
    ('error-500', 500, {'code': 500, 'message': '<internal-error-message>'}),
    ('unauthorized-401', 401, {'code': 401, 'message': 'unauthorized'}),
    ('gateway-404', 404, None)])
def test_restart_blips_fail_one_read_and_the_promotion_goes_on(sim, tenant, api, kind, status, body):
    sim.set_variant(tenant=tenant, restart_blips=kind)
    sim.set_timing(tenant=tenant, restart=10)  # half a second
    edit_dev(sim, tenant)
    staging = api('staging')
    staging.lock()
    start(staging, False)
    answers = []
    while True:
        response = staging.get(STATUS)
        answers.append(response)
        if response.status_code == 200 and response.json()['status'] != 'RUNNING':
            break
        time.sleep(0.01)
    failed = [response for response in answers if response.status_code != 200]
    assert [response.status_code for response in failed] == [status]
    if body is None:
        assert failed[0].headers['Content-Type'].startswith('text/html') and '404' in failed[0].text
    else:
        assert failed[0].json() == body
    after = answers[answers.index(failed[0]) + 1].json()  # the first read of the restart phase failed
    assert after['message'] == 'Waiting for workloads to restart'
    assert answers[-1].json()['message'] == 'Promotion completed'
    assert sim.env_state(tenant, 'staging')['config'] == sim.env_state(tenant, 'dev')['config']


# -- words that disagree with data


def test_dry_run_wording_no_change_whatever_the_report(sim, tenant, api):
    sim.set_variant(tenant=tenant, dry_run_wording='no-change')
    edit_dev(sim, tenant)
    staging = api('staging')
    staging.lock()
    assert staging.promote(dryRun=True)['message'] == 'Promotion completed (no change)'
    added = staging.get(PROMOTION + '/report').json()['report']['IDMConfig'][0]['configChange']['added']
    assert [entry['name'] for entry in added] == ['Ordered']
    assert staging.promote()['message'] == 'Promotion completed'  # a real run is worded by what it did


# -- a lock stuck in locking


def test_stuck_lock_stays_locking_until_support_removes_it(sim, tenant, api):
    sim.stick_next_lock(tenant, 'staging')
    staging = api('staging')
    promotion_id = staging.post(PROMOTION + '/lock').json()['promotionId']
    time.sleep(0.2)  # four times the lock time
    state = staging.get(LOCK_STATE).json()
    assert state['result'] == 'locking' and state['promotionId'] == promotion_id
    refused = staging.delete(PROMOTION + '/lock/' + promotion_id)
    assert refused.status_code == 409 and refused.json() == {'code': 409, 'message': 'Environment is currently locking or unlocking'}
    assert staging.post(STATUS, json={'dryRun': True}).status_code == 409
    assert sim.env_state(tenant, 'staging')['lock']['stuck'] is True
    sim.clear_block(tenant, 'staging')
    assert staging.get(LOCK_STATE).json()['result'] == 'unlocked'
    assert staging.lock() != promotion_id  # one lock only sticks


# -- lost answers


def test_lost_lock_answer_the_lock_was_taken(sim, tenant, api):
    sim.lose_next_answer(tenant, 'staging', 'lock')
    staging = api('staging')
    lost = staging.post(PROMOTION + '/lock')
    assert lost.status_code == 504 and lost.headers['Content-Type'].startswith('text/html')
    taken = staging.wait_lock('locked')['promotionId']
    again = staging.post(PROMOTION + '/lock')
    assert again.status_code == 409 and again.json()['message'].endswith(taken)
    entry = [e for e in sim.request_log(tenant, 'staging') if e['method'] == 'POST'][0]
    assert (entry['status'], entry['fault']) == (504, '504')


def test_lost_promote_and_unlock_answers(sim, tenant, api):
    edit_dev(sim, tenant)
    staging = api('staging')
    promotion_id = staging.lock()
    sim.lose_next_answer(tenant, 'staging', 'promote')
    assert staging.post(STATUS, json={'dryRun': False}).status_code == 504
    assert staging.wait_run()['message'] == 'Promotion completed'  # it ran all the same
    sim.lose_next_answer(tenant, 'staging', 'unlock', kind='drop')
    with pytest.raises(requests.ConnectionError):
        staging.delete(PROMOTION + '/lock/' + promotion_id)
    assert staging.wait_lock('unlocked')['result'] == 'unlocked'
    runs = sim.env_state(tenant, 'staging')['runs']
    assert [(run['dry_run'], run['status']) for run in runs] == [(False, 'READY')]


def test_lose_next_answer_refuses_what_it_cannot_lose(sim, tenant):
    for call, kind in (('status', '504'), ('lock', '429'), ('lock', 'hang')):
        with pytest.raises(SimulatorError, match='400'):
            sim.lose_next_answer(tenant, 'staging', call, kind=kind)
    with pytest.raises(SimulatorError, match='404'):
        sim.lose_next_answer(tenant, 'nowhere', 'lock')
