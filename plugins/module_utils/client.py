# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP client for the Identity Cloud promotions API.

Everything that touches the wire lives here: authentication (service-account JWT or a given
access token), Common REST headers and errors, transport retries and the session. What the
answers mean is the business of ``promotion.py``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import base64
import json
import re
import time
import uuid

try:
    from urllib.parse import urlsplit, urlunsplit
except ImportError:  # pragma: no cover - Python 2 is not supported, but keep the import test quiet
    from urlparse import urlsplit, urlunsplit  # type: ignore

REQUESTS_IMPORT_ERROR = None
try:
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry
except ImportError as exc:  # guarded: the module reports missing_required_lib
    REQUESTS_IMPORT_ERROR = exc
    Retry = object  # pylint: disable=invalid-name

CRYPTOGRAPHY_IMPORT_ERROR = None
try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
except ImportError as exc:
    CRYPTOGRAPHY_IMPORT_ERROR = exc

USER_AGENT = 'idcloud.promotions'
TOKEN_PATH = '/am/oauth2/access_token'
JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
# The token endpoint refuses assertions that expire more than a few minutes ahead.
ASSERTION_LIFETIME = 150
# Renew a token this long before it expires (at most a fifth of its life), so a request
# never leaves with a token that dies on the way.
TOKEN_RENEW_MARGIN = 30
# Proxies and gateways in front of a tenant answer these while the tenant is fine.
TRANSIENT_STATUSES = (429, 502, 503, 504)
# A Retry-After beyond this is not worth honouring inside one task; the caller's budget decides.
RETRY_AFTER_CAP = 30
SAFE_METHODS = frozenset(['GET', 'HEAD', 'OPTIONS'])
TOKEN_ATTEMPTS = 3
BEARER = re.compile(r'Bearer\s+\S+')


class PromotionsApiError(Exception):
    """One failure of a call to the tenant, with what is needed to act on it and to quote it to support."""

    def __init__(self, message, status=None, code=None, reason=None, method=None, path=None,
                 transaction_id=None, body=None, transport_error=False, retry_after=None):
        super(PromotionsApiError, self).__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.reason = reason
        self.method = method
        self.path = path
        self.transaction_id = transaction_id
        self.body = body
        # True when no answer came back at all, so a write may or may not have happened.
        self.transport_error = transport_error
        # Seconds the tenant asked to wait (Retry-After), when it said.
        self.retry_after = retry_after

    @property
    def refused(self):
        """The tenant (or a proxy) turned the request away before doing anything with it."""
        return self.status in (429, 503)

    @property
    def transient(self):
        """Worth another try later: no answer, a truncated one, or a busy tenant or proxy. A write
        that failed so may still have been carried out, so the caller re-reads before sending it again."""
        return self.transport_error or self.status in TRANSIENT_STATUSES

    def to_dict(self):
        return dict(
            status=self.status, code=self.code, reason=self.reason, message=self.message,
            method=self.method, path=self.path, transaction_id=self.transaction_id,
        )

    def __str__(self):
        where = '%s %s' % (self.method, self.path) if self.method else 'the request'
        if self.status:
            text = '%s answered HTTP %s: %s' % (where, self.status, self.message)
        else:
            text = '%s failed: %s' % (where, self.message)
        if self.transaction_id:
            text += ' (transaction id %s)' % self.transaction_id
        return text


class ConfigurationError(Exception):
    """The options given cannot work (bad key, bad URL); nothing was sent."""


class BoundedRetry(Retry):
    """urllib3 Retry that honours Retry-After but never sleeps longer than ``RETRY_AFTER_CAP``."""

    def get_retry_after(self, response):
        seconds = super(BoundedRetry, self).get_retry_after(response)
        if seconds is None:
            return None
        return min(seconds, RETRY_AFTER_CAP)


def build_retry(attempts=4, backoff_factor=0.5, methods=SAFE_METHODS):
    """Transport retries: reads are retried on errors and transient statuses; writes only when
    the connection never opened (nothing was sent). A write that got no clear answer comes back
    to the caller, which re-reads the state instead of sending it again."""
    options = dict(
        total=attempts, connect=attempts, read=attempts, status=attempts, other=0, redirect=0,
        status_forcelist=TRANSIENT_STATUSES, allowed_methods=frozenset(methods),
        backoff_factor=backoff_factor, respect_retry_after_header=True, raise_on_status=False,
    )
    try:
        return BoundedRetry(backoff_max=10, backoff_jitter=backoff_factor, **options)
    except TypeError:  # urllib3 1.26 has neither backoff_max nor jitter as arguments
        return BoundedRetry(**options)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode('ascii')


def b64url_int(value):
    padded = value + '=' * (-len(value) % 4)
    return int.from_bytes(base64.urlsafe_b64decode(padded.encode('ascii')), 'big')


def load_private_key(key):
    """A service-account key as the vendor hands it out (a JWK, as JSON text or already parsed)
    or as PEM. Returns a ``cryptography`` RSA private key."""
    if CRYPTOGRAPHY_IMPORT_ERROR is not None:
        raise ConfigurationError('the cryptography library is needed to sign service-account assertions')
    if isinstance(key, dict):
        return _key_from_jwk(key)
    text = (key or '').strip()
    if text.startswith('{'):
        try:
            return _key_from_jwk(json.loads(text))
        except ValueError:
            raise ConfigurationError('service_account_key looks like JSON but does not parse; give the JWK exactly as downloaded')
    if text.startswith('-----BEGIN'):
        try:
            private_key = serialization.load_pem_private_key(text.encode('ascii'), password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError('service_account_key is PEM but cannot be loaded (%s); an unencrypted RSA private key is needed' % exc)
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ConfigurationError('service_account_key must be an RSA key')
        return private_key
    raise ConfigurationError('service_account_key must be the private JWK (JSON) or a PEM private key')


def _key_from_jwk(jwk):
    if jwk.get('kty') != 'RSA' or 'd' not in jwk:
        raise ConfigurationError('service_account_key must be a private RSA JWK (kty RSA, with d)')
    try:
        n, e, d = (b64url_int(jwk[name]) for name in ('n', 'e', 'd'))
        if all(name in jwk for name in ('p', 'q', 'dp', 'dq', 'qi')):
            p, q, dp, dq, qi = (b64url_int(jwk[name]) for name in ('p', 'q', 'dp', 'dq', 'qi'))
        else:
            p, q = rsa.rsa_recover_prime_factors(n, e, d)
            dp, dq, qi = rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q)
        return rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, rsa.RSAPublicNumbers(e, n)).private_key()
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigurationError('service_account_key is not a usable RSA JWK (%s)' % exc)


def token_audience(tenant_url):
    """The token URL as the assertion's audience, in the documented form with an explicit port."""
    parts = urlsplit(tenant_url)
    netloc = parts.netloc
    if parts.port is None:
        netloc = '%s:%d' % (netloc, 443 if parts.scheme == 'https' else 80)
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip('/') + TOKEN_PATH, '', ''))


def signed_assertion(private_key, account_id, audience, now=None):
    now = int(time.time() if now is None else now)
    header = {'alg': 'RS256', 'typ': 'JWT'}
    claims = {'iss': account_id, 'sub': account_id, 'aud': audience, 'iat': now,
              'exp': now + ASSERTION_LIFETIME, 'jti': str(uuid.uuid4())}
    signing_input = '%s.%s' % (b64url(json.dumps(header, separators=(',', ':')).encode('utf-8')),
                               b64url(json.dumps(claims, separators=(',', ':')).encode('utf-8')))
    signature = private_key.sign(signing_input.encode('ascii'), padding.PKCS1v15(), hashes.SHA256())
    return '%s.%s' % (signing_input, b64url(signature))


class StaticToken:
    """An access token the user obtained elsewhere; it cannot be renewed."""

    renewable = False

    def __init__(self, token):
        # A token pasted from a file or a vault block often ends in a newline, which no header may hold.
        self.token = (token or '').strip()
        if not self.token or any(character.isspace() for character in self.token):
            raise ConfigurationError('access_token must be a single token, without spaces or line breaks inside')

    def bearer(self, client, force_renew=False):  # pylint: disable=unused-argument
        return self.token


class ServiceAccountToken:
    """Access tokens from a service account, fetched on first use and renewed before they expire."""

    renewable = True

    def __init__(self, account_id, key, scope):
        self.account_id = account_id
        self.private_key = load_private_key(key)
        self.scope = scope
        self.token = None
        self.expires_at = 0.0
        self.renew_at = 0.0

    def bearer(self, client, force_renew=False):
        if force_renew or self.token is None or time.time() > self.renew_at:
            self._renew(client)
        return self.token

    def _renew(self, client):
        # Each attempt signs a fresh assertion: the token endpoint refuses a jti it has seen, so a
        # request that failed on the way cannot simply be sent again.
        for attempt in range(1, TOKEN_ATTEMPTS + 1):
            assertion = signed_assertion(self.private_key, self.account_id, token_audience(client.base_url))
            form = {'client_id': 'service-account', 'grant_type': JWT_BEARER_GRANT, 'scope': self.scope, 'assertion': assertion}
            started = time.time()
            try:
                body = client.send('POST', TOKEN_PATH, data=form, authenticated=False)
                break
            except PromotionsApiError as exc:
                if exc.status in (400, 401):
                    exc.message += ('. The token endpoint refused the service account: check that service_account_id and '
                                    'service_account_key belong to this environment (accounts are per environment) and '
                                    'that the scope is granted')
                if not exc.transient or attempt == TOKEN_ATTEMPTS:
                    raise
                time.sleep(min(exc.retry_after or attempt, RETRY_AFTER_CAP))
        token = body.get('access_token') if isinstance(body, dict) else None
        if not token:
            raise PromotionsApiError('the token endpoint answered without an access_token', method='POST', path=TOKEN_PATH,
                                     transaction_id=client.transaction_id)
        self.token = token
        lifetime = body.get('expires_in') or 60
        try:
            lifetime = float(lifetime)
        except (TypeError, ValueError):
            lifetime = 60.0
        self.expires_at = started + lifetime
        self.renew_at = self.expires_at - min(TOKEN_RENEW_MARGIN, lifetime / 5)


class PromotionsClient:
    """One session against one environment (``base_url``), shared by every request of a module run."""

    def __init__(self, base_url, auth, api_version='protocol=1.0,resource=1.0', validate_certs=True, ca_path=None,
                 timeout=30, transaction_id=None, retry=None):
        if REQUESTS_IMPORT_ERROR is not None:
            raise ConfigurationError('the requests library is needed')
        try:
            parts = urlsplit(base_url or '')
            parts.port  # pylint: disable=pointless-statement  # raises on a port out of range
        except ValueError as exc:
            raise ConfigurationError('tenant_url %r is not a valid URL: %s' % (base_url, exc))
        if parts.scheme not in ('https', 'http') or not parts.netloc:
            raise ConfigurationError('tenant_url must be an absolute URL such as https://tenant.example.com, not %r' % base_url)
        if parts.query or parts.fragment:
            raise ConfigurationError('tenant_url must not carry a query or fragment: %r' % base_url)
        self.base_url = base_url.rstrip('/')
        self.auth = auth
        self.api_version = api_version
        self.timeout = timeout
        self.transaction_id = transaction_id or str(uuid.uuid4())
        self.request_count = 0
        self.session = requests.Session()
        # Given with every request: a session-wide verify loses to REQUESTS_CA_BUNDLE in the environment.
        self.verify = (ca_path or True) if validate_certs else False
        self.session.headers.update({'User-Agent': USER_AGENT, 'Accept': 'application/json'})
        adapter = HTTPAdapter(max_retries=retry if retry is not None else build_retry())
        self.session.mount('https://', adapter)
        self.session.mount('http://', adapter)

    def close(self):
        self.session.close()

    # The verbs the promotion code uses.
    def get(self, path, params=None):
        return self.send('GET', path, params=params)

    def post(self, path, body=None):
        return self.send('POST', path, json_body=body if body is not None else {})

    def delete(self, path):
        return self.send('DELETE', path)

    def send(self, method, path, params=None, json_body=None, data=None, authenticated=True):
        """Send one request and return the parsed JSON body (None for an empty body).

        A 401 renews a service-account token once and sends again: the tenant refused the request
        before doing anything, so even a write is safe to repeat. A read whose answer was lost or
        arrived cut short is read once more. Everything else that fails raises ``PromotionsApiError``.
        """
        renew = False
        rereads = 1 if method in SAFE_METHODS else 0
        while True:
            headers = self._headers(method, authenticated, force_renew=renew)
            try:
                response = self._transmit(method, path, params, json_body, data, headers)
                if response.status_code == 401 and authenticated and not renew and self.auth.renewable:
                    renew = True
                    continue
                return self._parse(method, path, response, headers)
            except PromotionsApiError as exc:
                if exc.transport_error and rereads:
                    rereads -= 1
                    continue
                raise

    def _headers(self, method, authenticated, force_renew):
        headers = {'Accept-API-Version': self.api_version}
        if method in ('POST', 'PUT', 'PATCH'):
            headers['Content-Type'] = 'application/json'
        if authenticated:
            headers['Authorization'] = 'Bearer %s' % self.auth.bearer(self, force_renew=force_renew)
        self.request_count += 1
        headers['X-ForgeRock-TransactionId'] = '%s/%d' % (self.transaction_id, self.request_count)
        return headers

    def _transmit(self, method, path, params, json_body, data, headers):
        if data is not None:
            headers = dict(headers, **{'Content-Type': 'application/x-www-form-urlencoded'})
        try:
            return self.session.request(method, self.base_url + path, params=params, json=json_body if data is None else None,
                                        data=data, headers=headers, timeout=self.timeout, verify=self.verify,
                                        allow_redirects=False)
        except requests.exceptions.SSLError as exc:
            raise PromotionsApiError(
                'TLS with %s failed (%s); give the CA that signed the tenant certificate with ca_path, '
                'or check tenant_url' % (self.base_url, _ssl_reason(exc)),
                method=method, path=path, transaction_id=self.transaction_id)
        except requests.exceptions.InvalidHeader:
            raise ConfigurationError('a request header is not valid (a credential or api_version with a line break?)')
        except requests.exceptions.RequestException as exc:
            raise PromotionsApiError(
                'no answer from %s (%s); check tenant_url, the network and any proxy' % (self.base_url, _describe_transport(exc)),
                method=method, path=path, transaction_id=self.transaction_id, transport_error=True)

    def _parse(self, method, path, response, headers):
        transaction_id = headers.get('X-ForgeRock-TransactionId', self.transaction_id)
        text = response.text
        body = None
        parse_error = None
        if text.strip():
            try:
                body = response.json()
            except ValueError as exc:
                parse_error = exc
        if 200 <= response.status_code < 300:
            if parse_error is not None:
                raise PromotionsApiError(
                    'the answer is not valid JSON (%s; %d bytes, content type %s): truncated by a proxy or the network? '
                    'Run the task again' % (parse_error, len(text), response.headers.get('Content-Type', 'none')),
                    status=response.status_code, method=method, path=path, transaction_id=transaction_id, transport_error=True)
            return body
        raise error_from_response(response, body, method, path, transaction_id)


def error_from_response(response, body, method, path, transaction_id):
    """A Common REST error body (``{code, reason, message}``), an OAuth error, or anything else a proxy sends."""
    status = response.status_code
    code = reason = None
    if isinstance(body, dict):
        code = body.get('code', status)
        reason = body.get('reason') or body.get('error')
        message = body.get('message') or body.get('error_description') or body.get('error') or json.dumps(body)[:300]
    else:
        snippet = _strip_markup(response.text)[:200]
        content_type = response.headers.get('Content-Type', 'no content type')
        message = 'a non-JSON answer (%s)%s' % (content_type, ': %s' % snippet if snippet else '')
    message = '%s%s' % (message, _hint(status, response, path))
    return PromotionsApiError(message, status=status, code=code, reason=reason or response.reason, method=method, path=path,
                              transaction_id=transaction_id, body=body if isinstance(body, (dict, list)) else None,
                              retry_after=_seconds(response.headers.get('Retry-After')))


def _seconds(value):
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None  # absent, or an HTTP date: the caller's own pause applies


def _hint(status, response, path):
    if status == 401 and path == TOKEN_PATH:
        return ''
    if status == 401:
        challenge = response.headers.get('WWW-Authenticate')
        return ' (%s). The access token is missing, expired or not for this environment' % challenge if challenge else \
            '. The access token is missing, expired or not for this environment'
    if status == 403:
        return '. The token lacks the scope this call needs (scope option)'
    if status in TRANSIENT_STATUSES:
        return '. The tenant or a proxy in front of it is busy or down; retry later'
    return ''


def _strip_markup(text):
    return re.sub(r'\s+', ' ', re.sub(r'<[^>]*>', ' ', text or '')).strip()


def _ssl_reason(exc):
    match = re.search(r'\[SSL: [^\]]+\][^\'"()]*', str(exc))
    return match.group(0).strip() if match else _first_line(exc)


def _first_line(exc):
    """The start of an exception's text, with anything that looks like a bearer token masked."""
    text = BEARER.sub('Bearer ********', str(exc))
    return text.splitlines()[0][:200] if text else exc.__class__.__name__


def _describe_transport(exc):
    if isinstance(exc, requests.exceptions.Timeout):
        return 'timed out'
    if isinstance(exc, requests.exceptions.RetryError):
        return 'still failing after retries: %s' % _first_line(exc)
    return _first_line(exc)
