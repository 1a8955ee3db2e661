"""Fixtures: one real simulator process for the session, a fresh tenant per test, and a small API helper."""

from __future__ import annotations

import base64
import itertools
import json
import tempfile
import time
import uuid

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from tests.simulator.control import Simulator

TENANT_POOL = 128
# Fast phases, and RSA keys reused from earlier runs so that 64 tenants start in a blink.
FAST = ['--speed', '20', '--key-cache', tempfile.gettempdir() + '/idcloud-simulator-test-keys']
PROMOTION = '/environment/promotion'


@pytest.fixture(scope='session')
def sim(tmp_path_factory):
    with Simulator.start(tmp_path_factory.mktemp('simulator'), tenants=TENANT_POOL, extra_args=FAST) as running:
        running.unused = itertools.count()
        yield running


def fresh_tenant(sim):
    index = next(sim.unused)
    if index >= TENANT_POOL:
        pytest.skip('tenant pool exhausted')
    return sim.tenants()[index]


@pytest.fixture
def tenant(sim):
    """A tenant no other test has touched."""
    return fresh_tenant(sim)


@pytest.fixture
def other_tenant(sim, tenant):  # pylint: disable=unused-argument,redefined-outer-name
    """A second untouched tenant, for tests that need two."""
    return fresh_tenant(sim)


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b'=').decode('ascii')


def assertion(sim, tenant, env, account_env=None, key_env=None, **overrides):
    """A signed RS256 assertion for ``env``'s token endpoint; account and key may come from other environments."""
    environments = sim.state['tenants'][tenant]['environments']
    account = environments[account_env or env]['service_account_id']
    pem = environments[key_env or account_env or env]['service_account_key_pem'].encode()
    key = serialization.load_pem_private_key(pem, password=None, unsafe_skip_rsa_key_validation=True)
    now = int(time.time())
    claims = {'iss': account, 'sub': account, 'aud': sim.url(tenant, env) + '/am/oauth2/access_token',
              'iat': now, 'exp': now + 170, 'jti': str(uuid.uuid4())}
    claims.update(overrides)
    signing_input = '%s.%s' % (b64url(json.dumps({'alg': 'RS256', 'typ': 'JWT'}).encode()), b64url(json.dumps(claims).encode()))
    return signing_input + '.' + b64url(key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()))


class Api:
    """Plain requests against one environment, verifying the simulator's CA (and ignoring REQUESTS_CA_BUNDLE)."""

    def __init__(self, sim, tenant, env, token=None, version='resource=1.0'):
        self.sim = sim
        self.base = sim.url(tenant, env)
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = sim.ca_file
        self.session.headers['Authorization'] = 'Bearer ' + (token or sim.credentials(tenant, env)['access_token'])
        if version:
            self.session.headers['Accept-API-Version'] = version

    def call(self, method, path, **kwargs):
        kwargs.setdefault('timeout', 10)
        return self.session.request(method, self.base + path, **kwargs)

    def get(self, path, **kwargs):
        return self.call('GET', path, **kwargs)

    def post(self, path, **kwargs):
        return self.call('POST', path, **kwargs)

    def delete(self, path, **kwargs):
        return self.call('DELETE', path, **kwargs)

    def token(self, form):
        return requests.post(self.base + '/am/oauth2/access_token', data=form, verify=self.sim.ca_file, timeout=10)

    # -- the seed's steps

    def wait_lock(self, result, timeout=5.0):
        return self._wait(lambda: self.get(PROMOTION + '/lock/state').json(), lambda body: body['result'] == result, timeout)

    def wait_run(self, timeout=5.0):
        running = ('RUNNING', 'IN_PROGRESS')
        return self._wait(lambda: self.get(PROMOTION + '/promote').json(), lambda body: body['status'] not in running, timeout)

    def lock(self):
        response = self.post(PROMOTION + '/lock')
        assert response.status_code in (200, 202), response.text
        promotion_id = response.json()['promotionId']
        assert self.wait_lock('locked')['promotionId'] == promotion_id
        return promotion_id

    def unlock(self, promotion_id):
        """DELETE the lock (202 unlocking by default, 200 in other variants), then wait until it is gone."""
        response = self.delete(PROMOTION + '/lock/' + promotion_id)
        assert response.status_code in (200, 202), response.text
        assert self.wait_lock('unlocked')['result'] == 'unlocked'
        return response

    def promote(self, **body):
        body.setdefault('dryRun', False)
        response = self.post(PROMOTION + '/promote', json=body)
        assert response.status_code in (200, 202), response.text
        return self.wait_run()

    @staticmethod
    def _wait(read, done, timeout):
        deadline = time.monotonic() + timeout
        while True:
            body = read()
            if done(body) or time.monotonic() > deadline:
                return body
            time.sleep(0.02)


@pytest.fixture
def api(sim, tenant):
    """A factory: api(env='staging', **options) -> Api for the test's tenant."""
    def make(env='staging', **options):
        return Api(sim, tenant, env, **options)
    return make
