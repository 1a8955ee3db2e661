"""Direct-configuration sessions (API notes 9): the session state of each environment, its scopes, and set_session."""

from __future__ import annotations

import pytest

from tests.simulator.control import SimulatorError
from tests.simulator.tenant import SESSION_STATES

from .conftest import PROMOTION, Api, assertion
from .test_simulator_auth import form

SESSION_STATE = '/environment/direct-configuration/session/state'
SESSION_SCOPE = 'fr:idc:direct-configuration:session:*'
SESSION_READ_SCOPE = 'fr:idc:direct-configuration:session:read'
NO_SESSION = {'status': 'NO_SESSION', 'editable': False}


def token(sim, tenant, scope, env='staging'):
    grant = Api(sim, tenant, env).token(form(assertion(sim, tenant, env), scope))
    assert grant.status_code == 200, grant.text
    return grant.json()['access_token']


def test_no_session_by_default(sim, tenant, api):
    for env in ('dev', 'staging', 'prod'):
        response = api(env).get(SESSION_STATE)
        assert response.status_code == 200, response.text
        assert response.json() == NO_SESSION
        assert response.headers['Content-API-Version'] == 'protocol=1.0,resource=1.0'
    assert sim.env_state(tenant, 'staging')['session'] == NO_SESSION
    # read only: the writes of a session are not served
    refused = api('staging').call('PUT', SESSION_STATE)
    assert refused.status_code == 405 and refused.headers['Allow'] == 'GET'


def test_every_state_set_and_read_back(sim, tenant, api):
    staging = api('staging')
    for status in SESSION_STATES:
        expected = {'status': status, 'editable': status == 'SESSION_INITIALISED'}
        assert sim.set_session(tenant, 'staging', status) == expected
        assert staging.get(SESSION_STATE).json() == expected, status
        assert sim.env_state(tenant, 'staging')['session'] == expected
    # editable set otherwise than the state says
    assert sim.set_session(tenant, 'staging', 'SESSION_INITIALISED', editable=False)['editable'] is False
    assert staging.get(SESSION_STATE).json() == {'status': 'SESSION_INITIALISED', 'editable': False}
    sim.set_session(tenant, 'staging', 'SESSION_APPLYING', editable=True)
    assert staging.get(SESSION_STATE).json() == {'status': 'SESSION_APPLYING', 'editable': True}
    # each environment has its own session
    assert api('prod').get(SESSION_STATE).json() == NO_SESSION
    assert api('dev').get(SESSION_STATE).json() == NO_SESSION


@pytest.mark.parametrize('arguments, message', [
    ({'status': 'SESSION_OPEN'}, "unknown session status 'SESSION_OPEN'"),
    ({'status': 'session_initialised'}, "unknown session status 'session_initialised'"),
    ({'status': 'SESSION_INITIALISED', 'editable': 'yes'}, "editable must be true or false, not 'yes'"),
])
def test_unknown_state_is_refused(sim, tenant, api, arguments, message):
    sim.set_session(tenant, 'staging', 'SESSION_APPLIED')
    with pytest.raises(SimulatorError, match='set_session refused \\(400\\).*%s' % message):
        sim.set_session(tenant, 'staging', **arguments)
    assert api('staging').get(SESSION_STATE).json() == {'status': 'SESSION_APPLIED', 'editable': False}
    with pytest.raises(SimulatorError, match='404'):
        sim.set_session(tenant, 'uat', 'SESSION_INITIALISED')


def test_session_scopes_granted_by_default(sim, tenant, api):
    for scope in (SESSION_READ_SCOPE, SESSION_SCOPE, 'fr:idc:promotion:* %s fr:idc:release:*' % SESSION_READ_SCOPE):
        grant = api('staging').token(form(assertion(sim, tenant, 'staging'), scope))
        assert grant.status_code == 200 and grant.json()['scope'] == scope, grant.text
        reader = Api(sim, tenant, 'staging', token=grant.json()['access_token'])
        assert reader.get(SESSION_STATE).json() == NO_SESSION
    assert api('staging').get(SESSION_STATE).status_code == 200  # the static token holds it, as it holds the release scope
    # the session scopes open the session state only
    reader = Api(sim, tenant, 'staging', token=token(sim, tenant, SESSION_SCOPE))
    assert reader.get(PROMOTION + '/lock/state').status_code == 403
    assert reader.get('/environment/release').status_code == 403


def test_session_state_refused_without_its_scope_as_the_release(sim, tenant):
    session = Api(sim, tenant, 'staging', token=token(sim, tenant, 'fr:idc:promotion:* fr:idc:release:*')).get(SESSION_STATE)
    release = Api(sim, tenant, 'staging', token=token(sim, tenant, 'fr:idc:promotion:* %s' % SESSION_SCOPE)).get(
        '/environment/release')
    for refused, scope in ((session, SESSION_SCOPE), (release, 'fr:idc:release:*')):
        assert refused.status_code == 403
        assert refused.json() == {'code': 403, 'reason': 'Forbidden', 'message': 'The access token lacks the scope %s' % scope}
        assert refused.headers['WWW-Authenticate'] == \
            'Bearer realm="%s/staging", error="insufficient_scope", scope="%s"' % (tenant, scope)
    # the promotion read scope opens no session either
    reader = Api(sim, tenant, 'staging', token=token(sim, tenant, 'fr:idc:promotion:read'))
    assert reader.get(SESSION_STATE).status_code == 403


def test_promotion_only_accounts_get_no_session_scope(sim, tenant, api):
    sim.set_variant(tenant=tenant, account_scopes='promotion')
    staging = api('staging')
    for scope in (SESSION_READ_SCOPE, SESSION_SCOPE):
        for asked in (scope, 'fr:idc:promotion:* ' + scope):
            refused = staging.token(form(assertion(sim, tenant, 'staging'), asked))
            assert refused.status_code == 400
            assert refused.json() == {'error': 'invalid_scope', 'error_description': 'Unknown/invalid scope(s): [%s]' % scope}
    # the static token has lost it too, as it loses the release scope, checked per request
    refused = staging.get(SESSION_STATE)
    assert refused.status_code == 403 and 'error="insufficient_scope"' in refused.headers['WWW-Authenticate']
    assert staging.get(PROMOTION + '/lock/state').status_code == 200
    sim.set_variant(tenant=tenant, account_scopes='all')
    assert staging.get(SESSION_STATE).status_code == 200
    assert staging.token(form(assertion(sim, tenant, 'staging'), SESSION_READ_SCOPE)).status_code == 200
