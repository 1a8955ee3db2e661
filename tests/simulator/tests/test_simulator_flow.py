"""The seed's seven steps and every state machine of the promotions API, with plain requests, on the simulator's
defaults (the OpenAPI description's shapes: 202 on the writes, report entries {name, realm, uid})."""

from __future__ import annotations

import re
import time

from .conftest import PROMOTION

SEED_DATE = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')
DASHED_DATE = re.compile(r'^\d{4}-\d\d-\d\dT\d\d-\d\d\+00Z$')


def names(change):
    """A configChange with its {name, realm, uid} entries as names, its empty lists left out (the seed's look)."""
    return {kind: [entry['name'] if isinstance(entry, dict) else entry for entry in entries]
            for kind, entries in change.items() if entries}


def idm_change(report):
    return {entry['configItem']: names(entry['configChange']) for entry in report['report'].get('IDMConfig', [])}


def am_change(report):
    return {entry['configItem']: names(entry['configChange']) for entry in report['report'].get('AMConfig', [])}


def test_seven_steps(sim, tenant, api):
    staging = api('staging')
    sim.edit_config(tenant, 'dev', 'idm', 'Email > Templates', 'add', 'Forgotten Username')
    # 1. unlocked
    assert staging.get(PROMOTION + '/lock/state').json() == {
        'result': 'unlocked', 'description': 'Environment unlocked',
        'lowerEnv': {'state': 'unlocked'}, 'upperEnv': {'state': 'unlocked'}}
    # 2. lock: locking, then locked on later reads
    response = staging.post(PROMOTION + '/lock', headers={'X-ForgeRock-TransactionId': 'seven-steps/2'})
    assert response.status_code == 202
    assert response.headers['Content-API-Version'] == 'protocol=1.0,resource=1.0'
    assert response.headers['X-ForgeRock-TransactionId'] == 'seven-steps/2'
    body = response.json()
    assert body['result'] == 'locking' and body['description'] == 'Environment lock in progress'
    promotion_id = body['promotionId']
    state = staging.get(PROMOTION + '/lock/state').json()
    assert state['result'] == 'locking'
    assert state['lowerEnv'] == state['upperEnv'] == {'state': 'locking', 'promotionId': promotion_id}
    state = staging.wait_lock('locked')
    assert state['description'] == 'Environment locked' and state['promotionId'] == promotion_id
    # 3. ready
    status = staging.get(PROMOTION + '/promote').json()
    assert status['status'] == 'READY' and status['message'] == 'Environment ready for promotion'
    assert status['globalLock'] == 'LOCKED' and status['blockingError'] is False and status['promotionId'] == promotion_id
    assert SEED_DATE.match(status['timeStamp'])
    # 4. dry run: no restart phase, config untouched
    response = staging.post(PROMOTION + '/promote', json={'dryRun': True})
    assert response.status_code == 202 and response.json() == {'result': 'Promotion process initiated successfully'}
    messages = set()
    while True:
        status = staging.get(PROMOTION + '/promote').json()
        messages.add(status['message'])
        if status['status'] != 'RUNNING':
            break
        time.sleep(0.01)
    assert status['status'] == 'READY' and status['message'] == 'Promotion completed'
    assert 'Waiting for workloads to restart' not in messages and 'Prepare config' in messages
    dry_report = staging.get(PROMOTION + '/report').json()
    assert dry_report['dryRun'] is True and dry_report['missingESVs'] == []
    assert idm_change(dry_report)['Email > Templates'] == {'added': ['Forgotten Username']}
    assert 'Forgotten Username' not in sim.env_state(tenant, 'staging')['config']['idm']['Email > Templates']
    # 5. the real run goes through the restart phase
    staging.post(PROMOTION + '/promote', json={'dryRun': False})
    messages = []
    while True:
        status = staging.get(PROMOTION + '/promote').json()
        if not messages or messages[-1] != status['message']:
            messages.append(status['message'])
        if status['status'] != 'RUNNING':
            break
        time.sleep(0.01)
    assert messages[-1] == 'Promotion completed' and 'Waiting for workloads to restart' in messages
    assert messages.index('Promote configuration') < messages.index('Waiting for workloads to restart')
    # 6. the report of the real run, its entries in the OpenAPI's shape (IDM's realm is the root)
    report = staging.get(PROMOTION + '/report').json()
    assert report['dryRun'] is False and report['promotionId'] == promotion_id
    assert report['reportName'] == 'Report_%s_dryrun=false_%s' % (report['reportName'].split('_')[1], promotion_id)
    assert report['report']['AMConfig'] == []
    [entry] = report['report']['IDMConfig']
    assert entry['configItem'] == 'Email > Templates' and set(entry) == {'configItem', 'configChange'}
    [added] = entry['configChange']['added']
    assert added['name'] == 'Forgotten Username' and added['realm'] == '/' and added['uid']
    assert entry['configChange']['modified'] == entry['configChange']['deleted'] == []
    assert sim.env_state(tenant, 'staging')['config'] == sim.env_state(tenant, 'dev')['config']
    listed = staging.get(PROMOTION + '/reports').json()
    assert [(r['dryRun'], r['type']) for r in listed] == [(True, 'promotion'), (False, 'promotion')]
    assert staging.get(PROMOTION + '/report/' + listed[0]['reportId']).json()['dryRun'] is True
    # 7. unlock: unlocking, then unlocked on later reads
    response = staging.delete(PROMOTION + '/lock/' + promotion_id)
    assert response.status_code == 202
    assert response.json() == {'result': 'unlocking', 'description': 'Environment unlock in progress', 'promotionId': promotion_id}
    assert staging.get(PROMOTION + '/lock/state').json()['result'] == 'unlocking'
    assert staging.wait_lock('unlocked')['result'] == 'unlocked'
    assert staging.get(PROMOTION + '/promote').json()['status'] == 'UNLOCKED'


def test_promoting_again_changes_nothing(sim, tenant, api):
    staging = api('staging')
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'modify', 'Login')
    promotion_id = staging.lock()
    assert staging.promote()['message'] == 'Promotion completed'
    assert am_change(staging.get(PROMOTION + '/report').json()) == {'Journeys': {'modified': ['Login']}}
    status = staging.promote()
    assert status['status'] == 'READY' and status['message'] == 'Promotion completed (no change)'
    assert staging.get(PROMOTION + '/report').json()['report'] == {'AMConfig': [], 'IDMConfig': []}
    staging.unlock(promotion_id)


def test_deleted_entries_are_reported(sim, tenant, api):
    sim.edit_config(tenant, 'dev', 'idm', 'Managed Objects', 'delete', 'alpha_user')
    staging = api('staging')
    staging.lock()
    staging.promote()
    assert idm_change(staging.get(PROMOTION + '/report').json()) == {'Managed Objects': {'deleted': ['alpha_user']}}


def test_lock_conflicts(sim, tenant, api):
    staging, prod = api('staging'), api('prod')
    promotion_id = staging.lock()
    again = staging.post(PROMOTION + '/lock')
    assert again.status_code == 409
    assert again.json() == {'code': 409, 'message': 'Environment is already locked for promotion %s' % promotion_id}
    # the lock spans the pair: staging is taken, so staging->prod cannot lock
    clash = prod.post(PROMOTION + '/lock')
    assert clash.status_code == 409 and promotion_id in clash.json()['message']
    assert prod.get(PROMOTION + '/lock/state').json()['lowerEnv'] == {'state': 'locked', 'promotionId': promotion_id}
    # unlocking with somebody else's id names the holder
    wrong = staging.delete(PROMOTION + '/lock/not-the-holder')
    assert wrong.status_code == 409 and promotion_id in wrong.json()['message']
    staging.unlock(promotion_id)
    assert prod.lock()


def test_foreign_lock_can_be_released_with_its_id(sim, tenant, api):
    staging = api('staging')
    foreign = sim.foreign_lock(tenant, 'staging')
    response = staging.post(PROMOTION + '/lock')
    assert response.status_code == 409 and response.json()['message'].endswith(foreign)
    staging.unlock(foreign)
    assert staging.lock() != foreign


def test_maintenance_lock(sim, tenant, api):
    staging = api('staging')
    sim.maintenance_lock(tenant, 'staging')
    response = staging.post(PROMOTION + '/lock')
    assert response.status_code == 409
    assert response.json() == {'code': 409, 'message': 'Environment is locked by ForgeRock for maintenance. Retry later.'}
    sim.set_variant(tenant=tenant, vendor='Ping Identity')
    assert 'Ping Identity' in staging.post(PROMOTION + '/lock').json()['message']
    sim.maintenance_lock(tenant, 'staging', on=False)
    assert staging.lock()


def test_unlock_while_locking_and_500_on_lock(sim, tenant, api):
    staging = api('staging')
    sim.inject_fault('/%s/staging/environment/promotion/lock' % tenant, 500, method='POST')
    response = staging.post(PROMOTION + '/lock')
    assert response.status_code == 500 and response.json() == {'code': 500, 'message': '<internal-error-message>'}
    sim.set_timing(lock=60)
    try:
        promotion_id = staging.post(PROMOTION + '/lock').json()['promotionId']
        refused = staging.delete(PROMOTION + '/lock/' + promotion_id)
        assert refused.status_code == 409 and refused.json()['message'] == 'Environment is currently locking or unlocking'
        refused = staging.post(PROMOTION + '/promote', json={'dryRun': True})
        assert refused.status_code == 409 and refused.json()['message'] == 'Environment is currently locking or unlocking'
    finally:
        sim.set_timing(lock=1)


def test_promote_refusals(sim, tenant, api):
    staging = api('staging')
    not_locked = staging.post(PROMOTION + '/promote', json={'dryRun': True})
    assert not_locked.status_code == 409 and not_locked.json()['reason'] == 'Conflict'
    staging.lock()
    assert staging.post(PROMOTION + '/promote', json={}).status_code == 400
    assert staging.post(PROMOTION + '/promote', data='{not json').status_code == 400
    assert staging.post(PROMOTION + '/promote', json={'dryRun': False}).status_code == 202
    running = staging.post(PROMOTION + '/promote', json={'dryRun': False})
    assert running.status_code == 409 and 'already running' in running.json()['message']
    assert staging.wait_run()['status'] == 'READY'


def test_blocking_failure(sim, tenant, api):
    staging = api('staging')
    sim.fail_next_promotion(tenant, 'staging')
    promotion_id = staging.lock()
    assert staging.promote(dryRun=True)['status'] == 'READY'  # dry runs are spared by default
    status = staging.promote()
    assert status['status'] == 'ERROR' and status['message'] == 'Failed to promote config' and status['blockingError'] is True
    blocked = {'code': 409, 'message': 'Environment is blocked from a previous failed promotion'}
    assert staging.post(PROMOTION + '/promote', json={'dryRun': True}).json() == blocked
    response = staging.delete(PROMOTION + '/lock/' + promotion_id)
    assert response.status_code == 409 and response.json() == blocked
    assert staging.get(PROMOTION + '/promote').json()['blockingError'] is True
    sim.clear_block(tenant, 'staging')
    assert sim.env_state(tenant, 'staging')['blocked'] is False
    assert staging.get(PROMOTION + '/promote').json()['status'] == 'READY'
    staging.unlock(promotion_id)


def test_recoverable_failure(sim, tenant, api):
    staging = api('staging')
    sim.fail_next_promotion(tenant, 'staging', blocking=False, dry_runs=True)
    staging.lock()
    status = staging.promote(dryRun=True)
    assert status['status'] == 'ERROR' and status['blockingError'] is False
    assert staging.promote()['status'] == 'READY'


def test_missing_esvs(sim, tenant, api):
    staging = api('staging')
    sim.edit_config(tenant, 'dev', 'idm', 'Email > Templates', 'add', 'Forgotten Username', esv_refs=['esv.email.from'])
    sim.add_esv(tenant, 'dev', 'esv-email-from')
    staging.lock()
    status = staging.promote(dryRun=True)
    assert status['status'] == 'ERROR' and status['message'] == 'Missing ESVs' and status['blockingError'] is False
    assert status['missingESVs'] == ['email.from'] and 'encryptedSecrets' not in status
    report = staging.get(PROMOTION + '/report').json()
    assert report['missingESVs'] == ['email.from'] and report['dryRun'] is True
    status = staging.promote()
    assert status['message'] == 'Missing ESVs'
    assert 'Forgotten Username' not in sim.env_state(tenant, 'staging')['config']['idm']['Email > Templates']
    sim.add_esv(tenant, 'staging', 'esv.email.from')
    assert staging.promote()['message'] == 'Promotion completed'


def test_encrypted_secrets(sim, tenant, api):
    staging = api('staging')
    sim.plant_encrypted(tenant, 'dev', 'am', 'Persistent Cookie', 'default')
    staging.lock()
    status = staging.promote()
    assert status['status'] == 'ERROR' and status['message'] == 'Found encrypted values in the AM/IDM configuration'
    [secret] = status['encryptedSecrets']
    assert re.match(r'^\* am/services/realm/root-alpha/persistentcookiedecisionnode/1\.0/organizationconfig/default/'
                    r'[0-9a-f-]{36}\.json:10$', secret)
    status = staging.promote(ignoreEncryptedSecrets=True)
    assert status['status'] == 'READY'
    assert staging.get(PROMOTION + '/report').json()['previouslyIgnoredEncryptedSecrets'] == [secret]


def test_unlock_after_successful_promotion_only(sim, tenant, api):
    staging = api('staging')
    sim.fail_next_promotion(tenant, 'staging', blocking=False)
    staging.lock()
    assert staging.promote(unlockEnvironmentsAfterPromotion=True)['status'] == 'ERROR'
    assert staging.get(PROMOTION + '/lock/state').json()['result'] == 'locked'
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Step-up')
    status = staging.promote(unlockEnvironmentsAfterPromotion=True, promoter='ci', promotionDescription='step-up journey')
    assert status['status'] == 'READY' and status['message'] == 'Promotion completed'
    assert staging.wait_lock('unlocked')['result'] == 'unlocked'
    status = staging.get(PROMOTION + '/promote').json()
    assert status['message'] == 'Promotion completed' and status['globalLock'] == 'UNLOCKED'
    report = staging.get(PROMOTION + '/report').json()
    assert report['promoter'] == 'ci' and report['promotionDescription'] == 'step-up journey'


def test_rollback(sim, tenant, api):
    staging = api('staging')
    before = sim.env_state(tenant, 'staging')['config']
    sim.edit_config(tenant, 'dev', 'idm', 'Email > Templates', 'add', 'Goodbye')
    promotion_id = staging.lock()
    empty = staging.get(PROMOTION + '/report/provisional-rollback').json()
    assert empty['report'] == {'AMConfig': [], 'IDMConfig': []}
    refused = staging.post(PROMOTION + '/rollback', json={})
    assert refused.status_code == 409 and 'no promotion to roll back' in refused.json()['message']
    staging.promote()
    preview = staging.get(PROMOTION + '/report/provisional-rollback').json()
    assert idm_change(preview) == {'Email > Templates': {'deleted': ['Goodbye']}}
    response = staging.post(PROMOTION + '/rollback', json={'promoter': 'ops'})
    assert response.status_code == 202 and 'result' in response.json()
    status = staging.get(PROMOTION + '/promote').json()
    assert status['type'] == 'rollback' and status['status'] == 'RUNNING'
    status = staging.wait_run()
    assert status['status'] == 'READY' and status['type'] == 'rollback' and status['promotionId'] == promotion_id
    assert sim.env_state(tenant, 'staging')['config'] == before
    report = staging.get(PROMOTION + '/report').json()
    assert report['type'] == 'rollback' and idm_change(report) == {'Email > Templates': {'deleted': ['Goodbye']}}
    assert staging.get(PROMOTION + '/reports').json()[-1]['type'] == 'rollback'
    assert staging.post(PROMOTION + '/rollback', json={}).status_code == 409


def test_rollback_needs_the_lock(sim, tenant, api):
    response = api('staging').post(PROMOTION + '/rollback', json={})
    assert response.status_code == 409


def test_older_new_report_shape_dashed_dates_in_progress_and_200_unlocked(sim, tenant, api):
    sim.set_variant(tenant=tenant, report_shape='new-null-realm', date_format='dashed', status_running='IN_PROGRESS',
                    unlock_answer='unlocked', start_status=200)
    staging = api('staging')
    sim.edit_config(tenant, 'dev', 'am', 'OAuth2 Clients', 'add', 'mobile-app')
    promotion_id = staging.lock()
    assert staging.post(PROMOTION + '/promote', json={'dryRun': False}).status_code == 200
    assert staging.get(PROMOTION + '/promote').json()['status'] == 'IN_PROGRESS'
    assert staging.wait_run()['status'] == 'READY'
    report = staging.get(PROMOTION + '/report').json()
    assert DASHED_DATE.match(report['createdDate'])
    assert report['report']['IDMConfig'] == []
    [entry] = report['report']['AMConfig']
    assert entry['configItem'] == 'OAuth2 Clients'
    assert entry['configChange']['modified'] == [] and entry['configChange']['deleted'] == []
    [added] = entry['configChange']['added']
    assert added['name'] == 'mobile-app' and added['realm'] == 'alpha' and added['uid']
    assert DASHED_DATE.match(staging.get(PROMOTION + '/reports').json()[0]['createdDate'])
    sim.edit_config(tenant, 'dev', 'idm', 'Managed Objects', 'modify', 'alpha_user')
    staging.promote()
    [entry] = staging.get(PROMOTION + '/report').json()['report']['IDMConfig']
    assert entry['configChange']['modified'][0]['realm'] is None  # the simulator's older IDM entries
    response = staging.delete(PROMOTION + '/lock/' + promotion_id)
    assert response.status_code == 200
    assert response.json() == {'result': 'unlocked', 'description': 'Environment unlocked', 'promotionId': promotion_id}
    assert staging.get(PROMOTION + '/lock/state').json()['result'] == 'unlocked'


def test_provisional_report_is_served_by_the_lower_environment(sim, tenant, api):
    sim.edit_config(tenant, 'dev', 'idm', 'Email > Templates', 'modify', 'Welcome')
    provisional = api('dev').get(PROMOTION + '/report/provisional')
    assert provisional.status_code == 200
    assert idm_change(provisional.json()) == {'Email > Templates': {'modified': ['Welcome']}}
    assert api('staging').get(PROMOTION + '/report/provisional').json()['report'] == {'AMConfig': [], 'IDMConfig': []}
    highest = api('prod').get(PROMOTION + '/report/provisional')
    assert highest.status_code == 400 and 'highest environment' in highest.json()['message']
    lowest = api('dev').get(PROMOTION + '/lock/state')
    assert lowest.status_code == 400 and 'lowest environment' in lowest.json()['message']


def test_reports_lookup(sim, tenant, api):
    staging = api('staging')
    missing = staging.get(PROMOTION + '/report')
    assert missing.status_code == 404 and missing.json()['code'] == 404
    assert staging.get(PROMOTION + '/reports').json() == []
    unknown = staging.get(PROMOTION + '/report/c41286bb-30cd-4109-ba9d-dc4788b6a75c')
    assert unknown.status_code == 404 and set(unknown.json()) == {'code', 'reason', 'message'}


def test_release_and_deferred_upgrade(sim, tenant, api):
    sim.set_release(tenant, 'staging', '2025.7.0')
    sim.set_release(tenant, 'prod', '2025.6.1', next_upgrade='2025-07-20T09:00:00Z')
    prod = api('prod')
    assert prod.get('/environment/release').json() == {'currentVersion': '2025.6.1', 'nextUpgrade': '2025-07-20T09:00:00Z'}
    prod.lock()
    prod.promote()
    assert prod.get('/environment/release').json() == {'currentVersion': '2025.7.0', 'nextUpgrade': None}


def test_admin_state_for_assertions(sim, tenant, api):
    staging = api('staging')
    promotion_id = staging.lock()
    state = sim.env_state(tenant, 'dev')
    assert state['lock']['promotionId'] == promotion_id and state['upper'] == 'staging'
    assert 'smtp.sender' in state['esvs'] and state['reports'] == 0
    assert sim.env_state(tenant, 'staging')['status']['status'] == 'READY'


def test_stale_lock_state_after_unlock(sim, tenant, api):
    sim.set_variant(tenant=tenant, stale_lock_reads=2, unlock_answer='unlocked')  # gone at once, yet read as locked
    staging = api('staging')
    promotion_id = staging.lock()
    assert staging.delete(PROMOTION + '/lock/' + promotion_id).status_code == 200

    def read():
        return staging.get(PROMOTION + '/lock/state').json()
    stale = [read(), read(), read()]
    assert [body['result'] for body in stale] == ['locked', 'locked', 'unlocked']
    assert stale[0]['promotionId'] == promotion_id
