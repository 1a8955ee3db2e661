"""Service-account tokens (JWT-bearer grant), bearer checks, scopes and Accept-API-Version."""

from __future__ import annotations

import time

import pytest

from tests.simulator.auth import normalize_url

from .conftest import PROMOTION, Api, assertion

GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer'


def form(jwt, scope='fr:idc:promotion:*'):
    return {'client_id': 'service-account', 'grant_type': GRANT, 'scope': scope, 'assertion': jwt}


def test_jwt_grant_issues_a_working_token(sim, tenant, api):
    staging = api('staging')
    response = staging.token(form(assertion(sim, tenant, 'staging'), 'fr:idc:promotion:* fr:idc:release:*'))
    assert response.status_code == 200, response.text
    grant = response.json()
    assert grant['token_type'] == 'Bearer' and grant['expires_in'] == 900
    assert grant['scope'] == 'fr:idc:promotion:* fr:idc:release:*'
    assert response.headers['Cache-Control'] == 'no-store'
    fresh = Api(sim, tenant, 'staging', token=grant['access_token'])
    assert fresh.get(PROMOTION + '/lock/state').status_code == 200
    assert fresh.get('/environment/release').status_code == 200


def test_audience_with_explicit_default_port_is_the_same_url():
    assert normalize_url('https://tenant.example.com/am/oauth2/access_token') == \
        normalize_url('https://tenant.example.com:443/am/oauth2/access_token')
    assert normalize_url('https://tenant.example.com:8443/x') != normalize_url('https://tenant.example.com/x')


@pytest.mark.parametrize('case, status, error', [
    ('bad signature', 400, 'invalid_grant'),
    ('upper key on lower', 401, 'invalid_client'),
    ('lower account, upper key', 400, 'invalid_grant'),
    ('wrong aud', 400, 'invalid_grant'),
    ('expired', 400, 'invalid_grant'),
    ('exp too far ahead', 400, 'invalid_grant'),
    ('sub differs', 400, 'invalid_grant'),
    ('unknown scope', 400, 'invalid_scope'),
    ('wrong grant type', 400, 'unsupported_grant_type'),
])
def test_token_refusals(sim, tenant, api, case, status, error):
    dev = api('dev')
    now = int(time.time())
    jwt = {
        'bad signature': lambda: assertion(sim, tenant, 'dev')[:-6] + 'AAAAAA',
        'upper key on lower': lambda: assertion(sim, tenant, 'dev', account_env='staging'),
        'lower account, upper key': lambda: assertion(sim, tenant, 'dev', key_env='staging'),
        'wrong aud': lambda: assertion(sim, tenant, 'dev', aud=sim.url(tenant, 'staging') + '/am/oauth2/access_token'),
        'expired': lambda: assertion(sim, tenant, 'dev', exp=now - 120),
        'exp too far ahead': lambda: assertion(sim, tenant, 'dev', exp=now + 3600),
        'sub differs': lambda: assertion(sim, tenant, 'dev', sub='someone-else'),
        'unknown scope': lambda: assertion(sim, tenant, 'dev'),
        'wrong grant type': lambda: assertion(sim, tenant, 'dev'),
    }[case]()
    data = form(jwt, 'fr:idc:promotion:* fr:idc:nonsense:*' if case == 'unknown scope' else 'fr:idc:promotion:*')
    if case == 'wrong grant type':
        data['grant_type'] = 'client_credentials'
    response = dev.token(data)
    assert response.status_code == status, response.text
    assert response.json()['error'] == error and response.json()['error_description']


def test_replayed_jti_is_refused(sim, tenant, api):
    dev = api('dev')
    jwt = assertion(sim, tenant, 'dev')
    assert dev.token(form(jwt)).status_code == 200
    replay = dev.token(form(jwt))
    assert replay.status_code == 400 and 'replay' in replay.json()['error_description']


def test_bearer_checks(sim, tenant, api):
    staging = api('staging')
    staging.session.headers.pop('Authorization')
    missing = staging.get(PROMOTION + '/lock/state')
    assert missing.status_code == 401 and missing.headers['WWW-Authenticate'].startswith('Bearer')
    assert missing.json()['code'] == 401 and missing.json()['reason'] == 'Unauthorized'
    bogus = Api(sim, tenant, 'staging', token='not-a-token').get(PROMOTION + '/promote')
    assert bogus.status_code == 401 and 'invalid_token' in bogus.headers['WWW-Authenticate']
    # a token of another environment does not open this one
    other = Api(sim, tenant, 'staging', token=sim.credentials(tenant, 'prod')['access_token'])
    assert other.get(PROMOTION + '/promote').status_code == 401


def test_expired_token(sim, tenant, api):
    staging = api('staging')
    token = staging.token(form(assertion(sim, tenant, 'staging'))).json()['access_token']
    client = Api(sim, tenant, 'staging', token=token)
    assert client.get(PROMOTION + '/promote').status_code == 200
    assert sim.expire_tokens(tenant=tenant, env='staging') >= 1
    expired = client.get(PROMOTION + '/promote')
    assert expired.status_code == 401 and expired.json()['message'] == 'The access token has expired'
    assert staging.get(PROMOTION + '/promote').status_code == 200  # static tokens live on


def test_issued_tokens_lists_the_tokens_of_service_accounts_only(sim, tenant, api):
    token = api('staging').token(form(assertion(sim, tenant, 'staging'))).json()['access_token']
    assert token in sim.issued_tokens(tenant=tenant, env='staging')
    assert token not in sim.issued_tokens(tenant=tenant, env='dev')
    assert sim.credentials(tenant, 'staging')['access_token'] not in sim.issued_tokens(tenant=tenant)


def test_short_token_lifetime(sim, tenant, api):
    staging = api('staging')
    sim.set_timing(token_lifetime=0.3)
    try:
        grant = staging.token(form(assertion(sim, tenant, 'staging'))).json()
    finally:
        sim.set_timing(token_lifetime=900)
    assert grant['expires_in'] == 0.3
    time.sleep(0.4)
    assert Api(sim, tenant, 'staging', token=grant['access_token']).get(PROMOTION + '/promote').status_code == 401


def test_scopes(sim, tenant, api):
    staging = api('staging')
    release_only = staging.token(form(assertion(sim, tenant, 'staging'), 'fr:idc:release:*')).json()['access_token']
    refused = Api(sim, tenant, 'staging', token=release_only).get(PROMOTION + '/lock/state')
    assert refused.status_code == 403 and 'error="insufficient_scope"' in refused.headers['WWW-Authenticate']
    assert refused.json()['reason'] == 'Forbidden'
    promotion_only = staging.token(form(assertion(sim, tenant, 'staging'))).json()['access_token']
    assert Api(sim, tenant, 'staging', token=promotion_only).get('/environment/release').status_code == 403
    read_only = staging.token(form(assertion(sim, tenant, 'staging'), 'fr:idc:promotion:read')).json()['access_token']
    reader = Api(sim, tenant, 'staging', token=read_only)
    assert reader.get(PROMOTION + '/lock/state').status_code == 200
    assert reader.post(PROMOTION + '/lock').status_code == 403


@pytest.mark.parametrize('header', ['resource=1.0', 'protocol=1.0,resource=1.0', 'protocol=2.1,resource=1.0',
                                    'protocol=2.1, resource=1.0', 'resource=1.0, protocol=1.0'])
def test_accepted_versions(sim, tenant, header):
    response = Api(sim, tenant, 'staging', version=header).get(PROMOTION + '/lock/state')
    assert response.status_code == 200
    protocol = '2.1' if 'protocol=2.1' in header else '1.0'
    assert response.headers['Content-API-Version'] == 'protocol=%s,resource=1.0' % protocol


def test_version_refusals(sim, tenant):
    missing = Api(sim, tenant, 'staging', version=None).get(PROMOTION + '/lock/state')
    assert missing.status_code == 400
    assert missing.json() == {'code': 400, 'reason': 'Bad Request', 'message': 'No requested version specified and behavior set to NONE.'}
    unknown = Api(sim, tenant, 'staging', version='protocol=1.0, resource=999.0').get(PROMOTION + '/lock/state')
    assert unknown.status_code == 404
    assert unknown.json() == {'code': 404, 'reason': 'Not Found',
                              'message': 'Accept-API-Version: Requested version "999.0" does not match any routes.'}
    sim.set_variant(tenant=tenant, versions='lax')
    assert Api(sim, tenant, 'staging', version=None).get(PROMOTION + '/lock/state').status_code == 200


def test_unknown_paths_and_methods(sim, tenant, api):
    staging = api('staging')
    assert staging.get('/environment/promotion/nothing').status_code == 404
    not_allowed = staging.call('PUT', PROMOTION + '/lock')
    assert not_allowed.status_code == 405 and not_allowed.json()['code'] == 405
    assert api('staging').session.get(sim.base_url + '/nobody/dev/environment/release', timeout=5).status_code == 404
