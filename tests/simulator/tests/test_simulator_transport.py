"""Transport faults, the request log, concurrency, and the process itself (CLI, TLS, SIGTERM, inventory)."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.simulator.control import ROOT, Simulator

from .conftest import PROMOTION, Api, assertion
from .test_simulator_auth import form


def test_429_with_retry_after(sim, tenant, api):
    staging = api('staging')
    sim.inject_fault('%s/staging/environment/promotion/promote' % tenant, 429, count=2, retry_after=3)
    for attempt in range(2):
        response = staging.get(PROMOTION + '/promote')
        assert response.status_code == 429 and response.headers['Retry-After'] == '3', attempt
    assert staging.get(PROMOTION + '/promote').status_code == 200
    log = sim.request_log(tenant=tenant, env='staging')
    assert [(e['status'], e['fault']) for e in log] == [(429, '429'), (429, '429'), (200, None)]
    assert {e['template'] for e in log} == {'/environment/promotion/promote'}


@pytest.mark.parametrize('status', [502, 503, 504])
def test_gateway_errors_have_html_bodies(sim, tenant, api, status):
    staging = api('staging')
    sim.inject_fault('%s/staging/environment/promotion/lock/state' % tenant, status)
    response = staging.get(PROMOTION + '/lock/state')
    assert response.status_code == status and response.headers['Content-Type'].startswith('text/html')
    assert response.text.startswith('<html>')
    assert staging.get(PROMOTION + '/lock/state').status_code == 200


def test_drop_truncate_and_hang(sim, tenant, api):
    staging = api('staging')
    path = '%s/staging/environment/promotion/promote' % tenant
    sim.inject_fault(path, 'drop', method='GET')
    with pytest.raises(requests.ConnectionError):
        staging.get(PROMOTION + '/promote')
    sim.inject_fault(path, 'truncate', method='GET')
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError, ValueError)):
        staging.get(PROMOTION + '/promote').json()
    sim.inject_fault(path, 'hang', method='GET', seconds=1)
    with pytest.raises(requests.Timeout):
        staging.get(PROMOTION + '/promote', timeout=0.3)
    assert staging.get(PROMOTION + '/promote').status_code == 200


def test_fault_after_processing_carries_the_request_out(sim, tenant, api):
    staging = api('staging')
    sim.inject_fault('%s/staging/environment/promotion/lock' % tenant, 502, method='POST', after_processing=True)
    assert staging.post(PROMOTION + '/lock').status_code == 502
    state = staging.wait_lock('locked')
    assert state['result'] == 'locked' and state['promotionId']


def test_request_log_never_holds_a_token(sim, tenant, api):
    staging = api('staging')
    credentials = sim.credentials(tenant, 'staging')
    staging.get(PROMOTION + '/lock/state', headers={'X-ForgeRock-TransactionId': 'tx-42/0'})
    staging.get(PROMOTION + '/lock/state', headers={'X-ForgeRock-TransactionId': 'tx-42/1'})
    staging.delete(PROMOTION + '/lock/some-id')
    log = sim.request_log(tenant=tenant, env='staging')
    assert [e['transaction_id'] for e in log[:2]] == ['tx-42/0', 'tx-42/1']
    assert {'time', 'method', 'path', 'status', 'transaction_id', 'tenant', 'env'} <= set(log[0])
    text = json.dumps(log)
    assert credentials['access_token'] not in text and 'Bearer' not in text
    assert json.loads(credentials['service_account_key'])['d'] not in text
    counts = sim.request_counts(tenant=tenant, env='staging')
    assert counts['GET /environment/promotion/lock/state'] == 2
    assert counts['DELETE /environment/promotion/lock/{promotionId}'] == 1


def test_request_log_records_the_headers_but_no_credentials(sim, tenant, api):
    staging = api('staging')
    staging.session.headers['X-WAF-Key'] = 'abc'
    static = sim.credentials(tenant, 'staging')['access_token']
    granted = requests.post(staging.base + '/am/oauth2/access_token', data=form(assertion(sim, tenant, 'staging')),
                            headers={'X-WAF-Key': 'abc'}, verify=sim.ca_file, timeout=10)
    issued = granted.json()['access_token']
    staging.get(PROMOTION + '/lock/state', headers={'X-ForgeRock-TransactionId': 'tx-7'})
    Api(sim, tenant, 'staging', token=issued).get(PROMOTION + '/promote', headers={'X-WAF-Key': 'abc'})
    # credentials under other names, or in the value of an innocent-looking header
    staging.get('/environment/release', headers={'Cookie': 'session=s3cr3t', 'X-Auth-Token': 'opaque',
                                                 'X-Forwarded-Authorization': 'Bearer ' + issued,
                                                 'X-Key-Material': '-----BEGIN PRIVATE KEY-----MII...'})
    sim.inject_fault('promotion/lock', '504', method='POST', tenant=tenant)
    staging.post(PROMOTION + '/lock')
    log = sim.request_log(tenant=tenant, env='staging')
    assert [e['template'] for e in log] == ['/am/oauth2/access_token', '/environment/promotion/lock/state',
                                            '/environment/promotion/promote', '/environment/release',
                                            '/environment/promotion/lock']
    assert all(e['headers']['x-waf-key'] == 'abc' for e in log)  # token request and faulted request included
    assert all(name == name.lower() for e in log for name in e['headers'])
    assert log[0]['headers']['content-type'] == 'application/x-www-form-urlencoded'
    assert log[1]['headers']['accept-api-version'] == 'resource=1.0' and log[1]['headers']['x-forgerock-transactionid'] == 'tx-7'
    for name in ('authorization', 'cookie', 'x-auth-token', 'x-forwarded-authorization', 'x-key-material'):
        assert not any(name in e['headers'] for e in log), name
    text = json.dumps(log)
    for secret in (static, issued, 'Bearer', 's3cr3t', 'PRIVATE KEY'):
        assert secret not in text


def test_admin_needs_its_token(sim):
    response = requests.post(sim.state['admin_url'] + '/env_state', json={}, verify=sim.ca_file, timeout=5)
    assert response.status_code == 403


def test_fifty_tenants_polled_at_once(sim):
    tenants = sim.tenants()
    assert len(tenants) >= 50

    def poll(tenant):
        client = Api(sim, tenant, 'prod')
        slowest = 0.0
        for path in ('/lock/state', '/promote', '/lock/state', '/promote', '/reports'):
            started = time.monotonic()
            assert client.get(PROMOTION + path, timeout=5).status_code == 200
            slowest = max(slowest, time.monotonic() - started)
        return slowest

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=50) as pool:
        slowest = max(pool.map(poll, tenants[:50]))
    assert slowest < 3.0 and time.monotonic() - started < 10.0


def test_help_documents_the_command():
    completed = subprocess.run([sys.executable, '-m', 'tests.simulator', '--help'], cwd=str(ROOT), capture_output=True,
                               text=True, timeout=30, check=False)
    assert completed.returncode == 0
    for option in ('--state-file', '--scenario', '--tenants', '--inventory', '--http', '--token-lifetime', '--speed',
                   '--lock-seconds', '--restart-seconds', '--preset', '--variant', '--timing-profile', 'lock_progress'):
        assert option in completed.stdout


def test_demo_over_http_with_inventory_stops_on_sigterm(tmp_path):
    inventory = tmp_path / 'inventory.yml'
    started = time.monotonic()
    sim = Simulator.start(tmp_path, scenario='demo', http=True, extra_args=['--inventory', str(inventory)])
    try:
        assert time.monotonic() - started < 5
        assert sim.ca_file is None and sim.base_url.startswith('http://127.0.0.1:')
        assert sorted(sim.tenants()) == ['acme', 'globex', 'initech']
        text = inventory.read_text()
        for host in ('acme-staging', 'acme-prod', 'globex-staging', 'initech-prod'):
            assert '        %s:\n' % host in text
        assert 'promote_after: "acme-staging"' in text
        acme = Api(sim, 'acme', 'dev')
        assert acme.get(PROMOTION + '/report/provisional').json()['report'] != {}
        assert not any(Api(sim, 'globex', 'dev').get(PROMOTION + '/report/provisional').json()['report'].values())
        assert Api(sim, 'initech', 'dev').get(PROMOTION + '/report/provisional').json()['missingESVs'] == ['email.from']
        assert Api(sim, 'acme', 'staging').get(PROMOTION + '/report/provisional').json()['report'] != {}
    finally:
        assert sim.stop() == 0


def test_start_failure_reports_stderr(tmp_path):
    with pytest.raises(RuntimeError, match='no built-in scenario'):
        Simulator.start(tmp_path, scenario='no-such-scenario')


def test_scenario_file_with_uat(tmp_path):
    edits = [{'action': 'edit_config', 'env': 'uat', 'area': 'am', 'item': 'Journeys', 'op': 'add', 'name': 'Kiosk'},
             {'action': 'maintenance_lock', 'env': 'prod'},
             {'action': 'set_release', 'env': 'staging', 'current_version': '2025.8.0'}]
    umbrella = {'environments': ['dev', 'uat', 'staging', 'prod'], 'inventory_hosts': ['staging'], 'edits': edits}
    scenario = {'tenants': {'umbrella': umbrella}, 'variant': {'report_shape': 'new'}}
    scenario_file = tmp_path / 'scenario.json'
    scenario_file.write_text(json.dumps(scenario))
    inventory = tmp_path / 'inventory.yml'
    extra_args = ['--inventory', str(inventory), '--key-cache', str(tmp_path / 'keys')]
    with Simulator.start(tmp_path, scenario=str(scenario_file), extra_args=extra_args) as sim:
        environments = sim.state['tenants']['umbrella']['environments']
        assert [environments[e]['lower'] for e in ('dev', 'uat', 'staging', 'prod')] == [None, 'dev', 'uat', 'staging']
        text = inventory.read_text()
        assert 'umbrella-staging:' in text and 'umbrella-uat:' not in text and 'promote_after' not in text
        staging = Api(sim, 'umbrella', 'staging')
        preview = Api(sim, 'umbrella', 'uat').get(PROMOTION + '/report/provisional').json()
        assert preview['report']['AMConfig'][0]['configChange']['added'][0]['name'] == 'Kiosk'
        assert staging.get('/environment/release').json()['currentVersion'] == '2025.8.0'
        assert staging.get(PROMOTION + '/lock/state', params={'localLockOnly': 'true'}).json() == {
            'result': 'unlocked', 'description': 'Environment unlocked', 'upperEnv': {'state': 'unlocked'}}
        refused = Api(sim, 'umbrella', 'prod').post(PROMOTION + '/lock')
        assert refused.status_code == 409 and 'maintenance' in refused.json()['message']
        state = Api(sim, 'umbrella', 'prod').get(PROMOTION + '/lock/state').json()
        assert state['result'] == 'locked' and state['upperEnv'] == {'state': 'locked'}


@pytest.mark.parametrize('kind, body, retry_after, content_type, header', [
    (429, None, None, 'application/json', '1'),
    (429, 'html', None, 'text/html', None),
    (429, 'html', 7, 'text/html', '7'),
    (502, None, None, 'text/html', None),
    (503, 'html', 30, 'text/html', '30'),
    (503, 'json', None, 'application/json', None),
    (504, 'json', 2, 'application/json', '2'),
    (500, 'html', None, 'text/html', None),
])
def test_fault_bodies(sim, tenant, api, kind, body, retry_after, content_type, header):
    staging = api('staging')
    sim.inject_fault('/environment/promotion/promote', kind, body=body, retry_after=retry_after, tenant=tenant)
    response = staging.get(PROMOTION + '/promote')
    assert response.status_code == kind and response.headers['Content-Type'].startswith(content_type)
    assert response.headers.get('Retry-After') == header
    if content_type == 'text/html':
        assert response.text.startswith('<html>') and str(kind) in response.text
    else:
        document = response.json()
        assert document['code'] == kind and document['message'] and document['reason'] == response.reason
    assert staging.get(PROMOTION + '/promote').status_code == 200


def test_json_503_body(sim, tenant, api):
    sim.inject_fault('/environment/promotion/lock/state', 503, body='json', tenant=tenant, env='staging')
    response = api('staging').get(PROMOTION + '/lock/state')
    assert response.json() == {'code': 503, 'reason': 'Service Unavailable',
                               'message': 'The service is temporarily unavailable'}


def test_reset_fault(sim, tenant, api):
    staging = api('staging')
    sim.inject_fault('/environment/promotion/lock', 'reset', method='POST', tenant=tenant)
    with pytest.raises(requests.ConnectionError):
        staging.post(PROMOTION + '/lock')
    assert sim.env_state(tenant, 'staging')['lock'] is None  # the request never reached the tenant
    assert sim.request_log(tenant=tenant, env='staging')[-1]['fault'] == 'reset'
    assert staging.lock()


def tcp_ending(sim, tenant, kind):
    """How the connection of a faulted request ends on the wire, read below TLS: 'reset' or 'eof'."""
    sim.inject_fault('/environment/promotion/promote', kind, method='GET', tenant=tenant)
    port = int(sim.base_url.rsplit(':', 1)[1])
    context = ssl.create_default_context(cafile=sim.ca_file)
    with context.wrap_socket(socket.create_connection(('127.0.0.1', port), timeout=5), server_hostname='127.0.0.1') as tls:
        tls.sendall(('GET /%s/staging/environment/promotion/promote HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
                     % tenant).encode('ascii'))
        time.sleep(0.2)  # the server has answered (or not) and closed by now
        with socket.fromfd(tls.fileno(), socket.AF_INET, socket.SOCK_STREAM) as raw:
            try:
                while raw.recv(65536):  # TLS records (session tickets) before the end
                    pass
            except ConnectionResetError:
                return 'reset'
    return 'eof'


def test_reset_is_a_tcp_reset_and_drop_a_close(sim, tenant):
    assert tcp_ending(sim, tenant, 'reset') == 'reset'
    assert tcp_ending(sim, tenant, 'drop') == 'eof'


def test_faults_limited_to_a_tenant_and_env(sim, tenant, other_tenant, api):
    sim.inject_fault('/environment/promotion/promote', 503, method='GET', tenant=other_tenant, env='prod')
    assert api('staging').get(PROMOTION + '/promote').status_code == 200
    assert Api(sim, other_tenant, 'staging').get(PROMOTION + '/promote').status_code == 200
    assert api('prod').get(PROMOTION + '/promote').status_code == 200
    assert Api(sim, other_tenant, 'prod').get(PROMOTION + '/promote').status_code == 503


@pytest.mark.parametrize('params', [{'kind': 'hang', 'body': 'html'}, {'kind': 503, 'body': 'xml'},
                                    {'kind': 503, 'env': 'staging'}, {'kind': 503, 'tenant': 'nobody'},
                                    {'kind': 'explode'}])
def test_inject_fault_refusals(sim, params):
    with pytest.raises(RuntimeError, match=r'\((400|404)\)'):
        sim.inject_fault('/environment/promotion/promote', **params)
