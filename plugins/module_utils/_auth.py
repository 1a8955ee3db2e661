# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: not a public API.

Access tokens: a given one, or a service account's, obtained with an RS256 JWT-bearer assertion
and renewed before it expires.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ansible_collections.idcloud.promotions.plugins.module_utils._client import DEFAULT_RETRY_WINDOW, TOKEN_PATH, backoff
from ansible_collections.idcloud.promotions.plugins.module_utils._errors import ConfigurationError, PromotionsApiError

CRYPTOGRAPHY_IMPORT_ERROR = None
try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
except ImportError as exc:  # guarded: the module reports missing_required_lib
    CRYPTOGRAPHY_IMPORT_ERROR = exc

if TYPE_CHECKING:
    from ansible_collections.idcloud.promotions.plugins.module_utils._client import PromotionsClient

JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
# The token endpoint refuses assertions that expire more than a few minutes ahead.
ASSERTION_LIFETIME = 150
# Renew a token this long before it expires (at most a fifth of its life), so a request
# never leaves with a token that dies on the way.
TOKEN_RENEW_MARGIN = 30


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode('ascii')


def b64url_int(value: str) -> int:
    padded = value + '=' * (-len(value) % 4)
    return int.from_bytes(base64.urlsafe_b64decode(padded.encode('ascii')), 'big')


# Keys loaded in this process: loading checks the key, which costs tens of milliseconds, and one task signs for
# several clients of the same environment (the release check asks for a token of its own scope).
_LOADED_KEYS: dict[str, rsa.RSAPrivateKey] = {}


def load_private_key(key: str | dict[str, Any] | None, option: str = 'service_account_key') -> rsa.RSAPrivateKey:
    """A service-account key as the vendor hands it out (a JWK, as JSON text or already parsed)
    or as PEM. Returns a ``cryptography`` RSA private key; a ConfigurationError names ``option``."""
    if CRYPTOGRAPHY_IMPORT_ERROR is not None:
        raise ConfigurationError('the cryptography library is needed to sign service-account assertions')
    cache_key = json.dumps(key, sort_keys=True)
    if cache_key not in _LOADED_KEYS:
        _LOADED_KEYS[cache_key] = _load_private_key(key, option)
    return _LOADED_KEYS[cache_key]


def _load_private_key(key: str | dict[str, Any] | None, option: str) -> rsa.RSAPrivateKey:
    if isinstance(key, dict):
        return _key_from_jwk(key, option)
    text = (key or '').strip()
    if text.startswith('{'):
        try:
            return _key_from_jwk(json.loads(text), option)
        except ValueError:
            raise ConfigurationError('%s looks like JSON but does not parse; give the JWK exactly as downloaded' % option)
    if text.startswith('-----BEGIN'):
        try:
            private_key = serialization.load_pem_private_key(text.encode('ascii'), password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError('%s is PEM but cannot be loaded (%s); an unencrypted RSA private key is needed' % (option, exc))
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ConfigurationError('%s must be an RSA key' % option)
        return private_key
    raise ConfigurationError('%s must be the private JWK (JSON) or a PEM private key' % option)


def _key_from_jwk(jwk: object, option: str) -> rsa.RSAPrivateKey:
    if not isinstance(jwk, dict) or jwk.get('kty') != 'RSA':
        raise ConfigurationError('%s must be an RSA JWK (kty RSA)' % option)
    if 'd' not in jwk:
        raise ConfigurationError('%s is a public JWK: it has no private part (d). Give the private key the service '
                                 'account was created with' % option)
    try:
        n, e, d = (b64url_int(jwk[name]) for name in ('n', 'e', 'd'))
        if all(name in jwk for name in ('p', 'q', 'dp', 'dq', 'qi')):
            p, q, dp, dq, qi = (b64url_int(jwk[name]) for name in ('p', 'q', 'dp', 'dq', 'qi'))
        else:
            p, q = rsa.rsa_recover_prime_factors(n, e, d)
            dp, dq, qi = rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q)
        numbers = rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, rsa.RSAPublicNumbers(e, n))
        try:
            # The account's own key, from the user: its checks (tens of milliseconds, for each task) guard against
            # keys from untrusted sources. A key that is wrong all the same signs assertions the tenant refuses.
            return numbers.private_key(unsafe_skip_rsa_key_validation=True)
        except TypeError:  # cryptography before 39 checks every key
            return numbers.private_key()
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigurationError('%s is not a usable RSA JWK (%s)' % (option, exc))


def token_audience(tenant_url: str) -> str:
    """The token URL as the assertion's audience, in the documented form with an explicit port."""
    parts = urlsplit(tenant_url)
    netloc = parts.netloc
    if parts.port is None:
        netloc = '%s:%d' % (netloc, 443 if parts.scheme == 'https' else 80)
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip('/') + TOKEN_PATH, '', ''))


def signed_assertion(private_key: rsa.RSAPrivateKey, account_id: str, audience: str, now: float | None = None) -> str:
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

    def __init__(self, token: str | None) -> None:
        # A token pasted from a file or a vault block often ends in a newline, which no header may hold.
        self.token = (token or '').strip()
        if not self.token or any(character.isspace() for character in self.token):
            raise ConfigurationError('access_token must be a single token, without spaces or line breaks inside')

    def bearer(self, client: PromotionsClient, force_renew: bool = False) -> str:  # pylint: disable=unused-argument
        return self.token


class ServiceAccountToken:
    """Access tokens from a service account, fetched on first use and renewed before they expire."""

    renewable = True

    def __init__(self, account_id: str, key: str | dict[str, Any] | None, scope: str, key_option: str = 'service_account_key') -> None:
        self.account_id = account_id
        self.private_key = load_private_key(key, key_option)
        self.scope = scope
        self.token: str | None = None
        self.expires_at = 0.0
        self.renew_at = 0.0

    def bearer(self, client: PromotionsClient, force_renew: bool = False) -> str:
        if force_renew or self.token is None or time.time() > self.renew_at:
            self._renew(client)
        return self.token

    def _renew(self, client: PromotionsClient) -> None:
        # Each attempt signs a fresh assertion: the token endpoint refuses a jti it has seen, so a request that
        # failed on the way cannot simply be sent again. Transient failures are tried again while the step has time.
        deadline = client.deadline or time.monotonic() + DEFAULT_RETRY_WINDOW
        attempt = 0
        while True:
            assertion = signed_assertion(self.private_key, self.account_id, token_audience(client.base_url))
            form = {'client_id': 'service-account', 'grant_type': JWT_BEARER_GRANT, 'scope': self.scope, 'assertion': assertion}
            started = time.time()
            try:
                body = client.send('POST', TOKEN_PATH, data=form, authenticated=False)
                break
            except PromotionsApiError as exc:
                if not exc.transient or client.remaining(deadline) <= backoff(attempt):
                    raise token_error(exc, self.scope)
                time.sleep(min(exc.retry_after or backoff(attempt), client.remaining(deadline)))
                attempt += 1
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


def token_error(exc: PromotionsApiError, scope: str) -> PromotionsApiError:
    """A refused token request, said in terms of what to fix: a scope the account lacks, or the account itself."""
    if exc.reason == 'invalid_scope':
        exc.missing_scope = scope
        exc.message = ('the token endpoint refused the scope %s (invalid_scope: %s): the service account was not granted '
                       'it. Grant it to the service account, or ask only for the scopes it has (scope option)'
                       % (scope, exc.message))
    elif exc.status in (400, 401):
        exc.message += ('. The token endpoint refused the service account: check that service_account_id and '
                        'service_account_key belong to this environment (accounts are per environment)')
    return exc
