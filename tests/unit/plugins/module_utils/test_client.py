# -*- coding: utf-8 -*-
"""The HTTP client's edge cases against a scripted local HTTPS server: auth, retries, deadlines, errors."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ansible_collections.idcloud.promotions.plugins.module_utils import _auth, _client
from ansible_collections.idcloud.promotions.plugins.module_utils._errors import ConfigurationError, PromotionsApiError
from tests.simulator.certs import make_tls_files

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64(number):
    return base64.urlsafe_b64encode(number.to_bytes((number.bit_length() + 7) // 8, 'big')).rstrip(b'=').decode()


def jwk(key=KEY, full=True):
    numbers = key.private_numbers()
    value = {'kty': 'RSA', 'n': b64(numbers.public_numbers.n), 'e': b64(numbers.public_numbers.e), 'd': b64(numbers.d)}
    if full:
        value.update(p=b64(numbers.p), q=b64(numbers.q), dp=b64(numbers.dmp1), dq=b64(numbers.dmq1), qi=b64(numbers.iqmp))
    return value


def decode_segment(segment):
    return base64.urlsafe_b64decode(segment + '=' * (-len(segment) % 4))


class Script:
    """Answers to give, in order, and the requests received."""

    def __init__(self):
        self.answers = []
        self.requests = []

    def add(self, status=200, body=None, headers=None, raw=None, hang=0.0):
        self.answers.append(dict(status=status, body=body, headers=headers or {}, raw=raw, hang=hang))


@pytest.fixture(scope='session')
def tls(tmp_path_factory):
    """A throwaway CA and server certificate for 127.0.0.1: the client speaks nothing but https."""
    return make_tls_files(tmp_path_factory.mktemp('tls'), '127.0.0.1')


@pytest.fixture
def server(tls):
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, *args):  # keep test output quiet
            pass

        def _answer(self):
            length = int(self.headers.get('Content-Length') or 0)
            body = self.rfile.read(length).decode() if length else ''
            script.requests.append(dict(method=self.command, path=self.path, headers=dict(self.headers), body=body,
                                        time=time.monotonic()))
            answer = script.answers.pop(0) if script.answers else dict(status=500, body={'code': 500, 'message': 'unscripted'},
                                                                       headers={}, raw=None, hang=0)
            if answer['hang']:
                time.sleep(answer['hang'])
            payload = answer['raw'] if answer['raw'] is not None else json.dumps(answer['body']).encode() \
                if answer['body'] is not None else b''
            self.send_response(answer['status'])
            headers = {'Content-Type': 'application/json'}
            headers.update(answer['headers'])
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header('Content-Length', str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _answer

    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # a client that gave up on a hanging answer is part of the script

    httpd = Server(('127.0.0.1', 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls['cert']), str(tls['key']))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    script.url = 'https://127.0.0.1:%d/acme/staging' % httpd.server_address[1]
    script.ca = CA['path'] = str(tls['ca'])
    yield script
    httpd.shutdown()
    httpd.server_close()


CA = {}


def make_client(url, auth=None, **kwargs):
    kwargs.setdefault('backoff_factor', 0.01)
    kwargs.setdefault('ca_path', CA.get('path'))
    return _client.PromotionsClient(url, auth or _auth.StaticToken('static-token'), transaction_id='tx-1', **kwargs)


def test_service_account_token_is_a_verifiable_rs256_assertion(server):
    server.add(body={'access_token': 'tok-1', 'token_type': 'Bearer', 'expires_in': 899, 'scope': 'fr:idc:promotion:*'})
    server.add(body={'result': 'unlocked'})
    client = make_client(server.url, _auth.ServiceAccountToken('sa-123', json.dumps(jwk()), 'fr:idc:promotion:*'))
    assert client.get('/environment/promotion/lock/state') == {'result': 'unlocked'}
    token_request, call = server.requests
    assert token_request['path'] == '/acme/staging/am/oauth2/access_token'
    form = parse_qs(token_request['body'])
    assert form['grant_type'] == [_auth.JWT_BEARER_GRANT] and form['client_id'] == ['service-account']
    assert form['scope'] == ['fr:idc:promotion:*']
    header, claims, signature = form['assertion'][0].split('.')
    KEY.public_key().verify(decode_segment(signature), ('%s.%s' % (header, claims)).encode(), padding.PKCS1v15(), hashes.SHA256())
    claims = json.loads(decode_segment(claims))
    assert json.loads(decode_segment(header))['alg'] == 'RS256'
    assert claims['iss'] == claims['sub'] == 'sa-123'
    assert claims['aud'] == server.url + '/am/oauth2/access_token'
    assert 0 < claims['exp'] - time.time() <= 180 and claims['jti']
    assert call['headers']['Authorization'] == 'Bearer tok-1'
    assert call['headers']['Accept-API-Version'] == 'protocol=1.0,resource=1.0'
    # One transaction id for the whole run, a sequence number per request, the token request included.
    assert [r['headers']['X-ForgeRock-TransactionId'] for r in server.requests] == ['tx-1/1', 'tx-1/2']


def test_token_renewed_once_on_401_then_the_request_is_sent_again(server):
    server.add(body={'access_token': 'old', 'expires_in': 900})
    server.add(status=401, body={'code': 401, 'reason': 'Unauthorized', 'message': 'Access Denied'})
    server.add(body={'access_token': 'new', 'expires_in': 900})
    server.add(body={'result': 'Promotion process initiated successfully'})
    client = make_client(server.url, _auth.ServiceAccountToken('sa', jwk(), 'fr:idc:promotion:*'))
    assert client.post('/environment/promotion/promote', {'dryRun': True})['result'].startswith('Promotion')
    assert [r['headers'].get('Authorization') for r in server.requests if 'promote' in r['path']] == ['Bearer old', 'Bearer new']


def test_second_401_is_reported_with_the_challenge(server):
    for _attempt in range(2):
        server.add(body={'access_token': 'tok', 'expires_in': 900})
        server.add(status=401, body={'code': 401, 'reason': 'Unauthorized', 'message': 'Access Denied'},
                   headers={'WWW-Authenticate': 'Bearer error="invalid_token"'})
    client = make_client(server.url, _auth.ServiceAccountToken('sa', jwk(), 'fr:idc:promotion:*'))
    with pytest.raises(PromotionsApiError) as caught:
        client.get('/environment/promotion/promote')
    assert caught.value.status == 401 and 'invalid_token' in str(caught.value) and 'expired' in str(caught.value)


def test_static_token_is_not_renewed(server):
    server.add(status=401, body={'code': 401, 'reason': 'Unauthorized', 'message': 'Access Denied'})
    with pytest.raises(PromotionsApiError) as caught:
        make_client(server.url).get('/environment/promotion/promote')
    assert caught.value.status == 401 and len(server.requests) == 1


def test_token_renewed_before_it_expires(server):
    server.add(body={'access_token': 'short', 'expires_in': 1})
    server.add(body={})
    server.add(body={'access_token': 'fresh', 'expires_in': 900})
    server.add(body={})
    client = make_client(server.url, _auth.ServiceAccountToken('sa', jwk(full=False), 'fr:idc:promotion:*'))
    client.get('/a')
    time.sleep(0.85)  # within a fifth of its one-second life: renewed before use
    client.get('/b')
    assert [r['path'].rsplit('/', 1)[-1] for r in server.requests] == ['access_token', 'a', 'access_token', 'b']


def test_get_retried_on_transient_statuses_honouring_retry_after(server):
    server.add(status=429, body={'code': 429, 'message': 'slow down'}, headers={'Retry-After': '1'})
    server.add(status=503, raw=b'<html><body>Service Unavailable</body></html>', headers={'Content-Type': 'text/html'})
    server.add(body={'status': 'READY'})
    assert make_client(server.url).get('/environment/promotion/promote') == {'status': 'READY'}
    assert len(server.requests) == 3
    assert server.requests[1]['time'] - server.requests[0]['time'] >= 0.9


def test_retry_after_is_honoured_but_never_past_the_deadline():
    class Answer:
        headers = {'Retry-After': '86400'}

        def getheader(self, name, default=None):
            return self.headers.get(name, default)

        def get_redirect_location(self):
            return False

    assert 9 < _client.build_retry(time.monotonic() + 10).get_retry_after(Answer()) <= 10
    Answer.headers = {'Retry-After': '2'}
    assert _client.build_retry(time.monotonic() + 3600).get_retry_after(Answer()) == 2


def test_transient_read_failures_are_retried_until_the_deadline_not_a_count(server, monkeypatch):
    monkeypatch.setattr(_client, 'BACKOFF_MAX', 0.05)  # ten short pauses, not ten growing ones
    for _attempt in range(10):
        server.add(status=503, raw=b'<html><body>Service Unavailable</body></html>', headers={'Content-Type': 'text/html'})
    server.add(body={'status': 'READY'})
    client = make_client(server.url)
    with client.deadline_in(3600):
        assert client.get('/environment/promotion/promote') == {'status': 'READY'}
    assert len(server.requests) == 11


def test_a_read_that_keeps_failing_ends_at_the_deadline(server):
    for _attempt in range(200):
        server.add(status=502, raw=b'<html>502 Bad Gateway</html>', headers={'Content-Type': 'text/html'})
    client = make_client(server.url, backoff_factor=0.1)
    started = time.monotonic()
    with client.deadline_in(1.5), pytest.raises(PromotionsApiError) as caught:
        client.get('/environment/promotion/promote')
    assert caught.value.status == 502 and caught.value.transient
    assert 1.0 < time.monotonic() - started < 3.0 and 3 <= len(server.requests) < 200


def test_one_request_never_outlasts_the_time_left(server):
    server.add(body={'status': 'READY'}, hang=5)
    client = make_client(server.url, timeout=30)
    started = time.monotonic()
    with client.deadline_in(1), pytest.raises(PromotionsApiError) as caught:
        client.get('/environment/promotion/promote')
    assert caught.value.transport_error and time.monotonic() - started < 2.5


def test_invalid_scope_reads_as_a_missing_scope_not_a_wrong_key(server):
    server.add(status=400, body={'error': 'invalid_scope', 'error_description': 'Unknown/invalid scope(s): [fr:idc:release:*]'})
    client = make_client(server.url, _auth.ServiceAccountToken('sa', jwk(), 'fr:idc:release:*'))
    with pytest.raises(PromotionsApiError) as caught:
        client.get('/environment/release')
    assert caught.value.missing_scope == 'fr:idc:release:*'
    assert 'refused the scope fr:idc:release:*' in caught.value.message and 'belong to this environment' not in caught.value.message
    server.add(status=400, body={'error': 'invalid_grant', 'error_description': 'The assertion signature does not verify'})
    with pytest.raises(PromotionsApiError) as caught:
        make_client(server.url, _auth.ServiceAccountToken('sa', jwk(), 'fr:idc:promotion:*')).get('/environment/release')
    assert caught.value.missing_scope is None and 'belong to this environment' in caught.value.message


def test_a_403_names_the_scope_the_token_lacks(server):
    server.add(status=403, body={'code': 403, 'reason': 'Forbidden', 'message': 'The access token lacks the scope'},
               headers={'WWW-Authenticate': 'Bearer realm="x", error="insufficient_scope", scope="fr:idc:release:*"'})
    with pytest.raises(PromotionsApiError) as caught:
        make_client(server.url).get('/environment/release')
    assert caught.value.missing_scope == 'fr:idc:release:*'


@pytest.mark.parametrize('body', [
    {'code': 409, 'reason': 'Conflict', 'message': 'Environment is already locked for promotion x'},
    {'code': 409, 'message': 'Environment is already locked for promotion x', 'status': 'Conflict'},
    {'code': 409, 'message': 'Environment is already locked for promotion x'},
])
def test_every_documented_error_body_gives_its_message(server, body):
    server.add(status=409, body=body)
    with pytest.raises(PromotionsApiError) as caught:
        make_client(server.url).post('/environment/promotion/lock')
    assert (caught.value.status, caught.value.message) == (409, 'Environment is already locked for promotion x')


def test_post_is_never_resent_after_an_ambiguous_failure(server):
    server.add(status=502, raw=b'<html><h1>502 Bad Gateway</h1></html>', headers={'Content-Type': 'text/html'})
    with pytest.raises(PromotionsApiError) as caught:
        make_client(server.url).post('/environment/promotion/lock')
    error = caught.value
    assert len(server.requests) == 1
    assert error.status == 502 and error.transient
    assert 'non-JSON' in error.message and '502 Bad Gateway' in error.message and 'text/html' in error.message


def test_common_rest_error_body_and_transaction_ids(server):
    server.add(status=409, body={'code': 409, 'message': 'Environment is already locked for promotion x'})
    client = make_client(server.url)
    with pytest.raises(PromotionsApiError) as caught:
        client.post('/environment/promotion/lock')
    assert (caught.value.status, caught.value.code) == (409, 409)
    assert caught.value.message == 'Environment is already locked for promotion x'
    assert caught.value.transaction_id == 'tx-1/1'
    assert not caught.value.transient
    server.add(body={})
    client.get('/x')
    assert server.requests[-1]['headers']['X-ForgeRock-TransactionId'] == 'tx-1/2'


def test_truncated_json_read_again_on_get_but_not_on_post(server):
    server.add(raw=b'{"status": "RUNN')
    server.add(body={'status': 'RUNNING'})
    assert make_client(server.url).get('/environment/promotion/promote') == {'status': 'RUNNING'}
    server.add(raw=b'{"result": "lock')
    with pytest.raises(PromotionsApiError) as caught:
        make_client(server.url).post('/environment/promotion/lock')
    assert caught.value.transport_error and 'not valid JSON' in caught.value.message
    assert [r['method'] for r in server.requests].count('POST') == 1


def test_read_timeout_on_get_is_retried(server):
    server.add(body={'status': 'READY'}, hang=1.5)
    server.add(body={'status': 'READY'})
    assert make_client(server.url, timeout=0.5).get('/environment/promotion/promote') == {'status': 'READY'}


def test_no_connection_is_a_clear_error():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    client = make_client('https://127.0.0.1:%d' % port)
    with client.deadline_in(0.5), pytest.raises(PromotionsApiError) as caught:
        client.get('/environment/promotion/promote')
    assert caught.value.transport_error and 'no answer from' in caught.value.message


def test_pem_key_and_bad_keys():
    pem = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    assert _auth.load_private_key(pem).private_numbers() == KEY.private_numbers()
    assert _auth.load_private_key(jwk(full=False)).private_numbers().d == KEY.private_numbers().d
    for bad in ('', 'nonsense', '{"kty": "RSA"', {'kty': 'EC', 'd': 'x'}, '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----'):
        with pytest.raises(ConfigurationError):
            _auth.load_private_key(bad)


@pytest.mark.parametrize('url, audience', [
    ('https://tenant.example.com', 'https://tenant.example.com:443/am/oauth2/access_token'),
    ('https://tenant.example.com:8443/prefix/', 'https://tenant.example.com:8443/prefix/am/oauth2/access_token'),
])
def test_token_audience(url, audience):
    assert _auth.token_audience(url) == audience


@pytest.mark.parametrize('url', ['tenant.example.com', 'ftp://x', 'http://tenant.example.com', 'https://x?y=1', '',
                                 'https://x:99999'])
def test_bad_tenant_urls_are_refused_before_sending(url):
    with pytest.raises(ConfigurationError):
        _client.PromotionsClient(url, _auth.StaticToken('t'))
