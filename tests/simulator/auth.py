"""The service-account token endpoint (JWT-bearer grant) and the check of bearer tokens on API calls."""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
import time
from urllib.parse import urlsplit, urlunsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
PROMOTION_SCOPE = 'fr:idc:promotion:*'
PROMOTION_READ_SCOPE = 'fr:idc:promotion:read'
RELEASE_SCOPE = 'fr:idc:release:*'
SESSION_SCOPE = 'fr:idc:direct-configuration:session:*'
SESSION_READ_SCOPE = 'fr:idc:direct-configuration:session:read'
KNOWN_SCOPES = frozenset({
    PROMOTION_SCOPE, PROMOTION_READ_SCOPE, RELEASE_SCOPE, SESSION_SCOPE, SESSION_READ_SCOPE, 'fr:idc:esv:*', 'fr:idc:esv:read', 'fr:idc:esv:update',
    'fr:idc:esv:restart', 'fr:idc:certificate:*', 'fr:idc:certificate:read', 'fr:idc:custom-domain:*', 'fr:am:*', 'fr:idm:*',
})
# The assertion's exp may lie at most this far ahead (the documented 180 s plus some clock skew).
MAX_ASSERTION_AHEAD = 240
CLOCK_SKEW = 30
# A run of characters that may be a token: issued tokens and static ones are URL-safe base64 (static- in front).
TOKEN_WORD = re.compile(r'[A-Za-z0-9_-]{20,}')


class OAuthError(Exception):
    """An OAuth 2.0 error answer of the token endpoint."""

    def __init__(self, status, error, description):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def body(self):
        return {'error': self.error, 'error_description': self.description}


def _b64decode(segment):
    return base64.urlsafe_b64decode(segment + '=' * (-len(segment) % 4))


def normalize_url(url):
    """The URL with the scheme's default port made explicit, so ``host`` and ``host:443`` compare equal."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == 'https' else 80)
    return urlunsplit((parts.scheme.lower(), '%s:%d' % ((parts.hostname or '').lower(), port), parts.path.rstrip('/'), '', ''))


class TokenService:
    """Issues opaque access tokens for service-account assertions and answers who a bearer token belongs to."""

    def __init__(self, lifetime):
        self.lifetime = lifetime
        self._tokens = {}       # token -> {'tenant', 'env', 'scopes', 'expires', 'static'}
        self._seen_jti = {}     # jti -> exp, forgotten once the assertion could no longer be used anyway
        self._mutex = threading.Lock()

    def add_static(self, tenant, env, scopes):
        token = 'static-' + secrets.token_urlsafe(32)
        with self._mutex:
            self._tokens[token] = {'tenant': tenant, 'env': env, 'scopes': frozenset(scopes), 'expires': None, 'static': True}
        return token

    def exchange(self, form, audience, accounts, tenant, env, granted=None):
        """Answer a token request (form fields) sent to ``audience``; ``accounts`` maps account id -> public key.

        ``granted``: the scopes the accounts were created with (None: every known scope). Asking for one an
        account lacks fails the whole request, as AM does: ``invalid_scope``.
        """
        if form.get('grant_type') != JWT_BEARER_GRANT:
            raise OAuthError(400, 'unsupported_grant_type', 'grant_type must be %s' % JWT_BEARER_GRANT)
        if form.get('client_id', 'service-account') != 'service-account':
            raise OAuthError(401, 'invalid_client', 'client_id must be service-account')
        assertion = form.get('assertion')
        if not assertion:
            raise OAuthError(400, 'invalid_request', 'assertion is required')
        claims = self._verified_claims(assertion, audience, accounts)
        requested = (form.get('scope') or '').split()
        if not requested:
            raise OAuthError(400, 'invalid_scope', 'scope is required')
        unknown = sorted(set(requested) - KNOWN_SCOPES)
        if unknown:
            raise OAuthError(400, 'invalid_scope', 'Unknown/invalid scope(s): %s' % ', '.join(unknown))
        refused = sorted(set(requested) - granted) if granted is not None else []
        if refused:
            raise OAuthError(400, 'invalid_scope', 'Unknown/invalid scope(s): [%s]' % ', '.join(refused))
        token = secrets.token_urlsafe(48)
        now = time.time()
        with self._mutex:
            self._forget_expired(now)
            self._tokens[token] = {'tenant': tenant, 'env': env, 'scopes': frozenset(requested),
                                   'expires': now + self.lifetime, 'static': False, 'account': claims['sub']}
        return {'access_token': token, 'scope': ' '.join(requested), 'token_type': 'Bearer',
                'expires_in': int(self.lifetime) if float(self.lifetime).is_integer() else self.lifetime}

    def _verified_claims(self, assertion, audience, accounts):
        try:
            header_b64, claims_b64, signature_b64 = assertion.split('.')
            header = json.loads(_b64decode(header_b64))
            claims = json.loads(_b64decode(claims_b64))
            signature = _b64decode(signature_b64)
        except (ValueError, binascii.Error):
            raise OAuthError(400, 'invalid_request', 'The assertion is not a well-formed JWT') from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise OAuthError(400, 'invalid_request', 'The assertion is not a well-formed JWT')
        if header.get('alg') != 'RS256':
            raise OAuthError(400, 'invalid_grant', 'The assertion must be signed with RS256')
        issuer = claims.get('iss')
        public_key = accounts.get(issuer) if isinstance(issuer, str) else None
        if public_key is None:
            raise OAuthError(401, 'invalid_client', 'Unknown service account (iss) for this environment')
        try:
            public_key.verify(signature, ('%s.%s' % (header_b64, claims_b64)).encode('ascii'), padding.PKCS1v15(),
                              hashes.SHA256())
        except (InvalidSignature, UnicodeEncodeError):
            raise OAuthError(400, 'invalid_grant', 'The assertion signature does not verify with the service account key') from None
        if claims.get('sub') != issuer:
            raise OAuthError(400, 'invalid_grant', 'sub must equal iss (the service account id)')
        audiences = claims.get('aud')
        audiences = audiences if isinstance(audiences, list) else [audiences]
        if not any(isinstance(a, str) and normalize_url(a) == normalize_url(audience) for a in audiences):
            raise OAuthError(400, 'invalid_grant', 'aud must be the token endpoint URL of this environment')
        now = time.time()
        expires = claims.get('exp')
        if not isinstance(expires, (int, float)) or isinstance(expires, bool):
            raise OAuthError(400, 'invalid_grant', 'exp is required')
        if expires < now - CLOCK_SKEW:
            raise OAuthError(400, 'invalid_grant', 'The assertion has expired')
        if expires > now + MAX_ASSERTION_AHEAD:
            raise OAuthError(400, 'invalid_grant', 'exp lies too far in the future (at most 180 seconds ahead)')
        jti = claims.get('jti')
        if not isinstance(jti, str) or not jti:
            raise OAuthError(400, 'invalid_grant', 'jti is required')
        with self._mutex:
            if (issuer, jti) in self._seen_jti:
                raise OAuthError(400, 'invalid_grant', 'The assertion has already been used (jti replay)')
            self._seen_jti[(issuer, jti)] = expires + CLOCK_SKEW
        return claims

    def _forget_expired(self, now):
        if len(self._seen_jti) > 1000:
            self._seen_jti = {key: until for key, until in self._seen_jti.items() if until > now}
        if len(self._tokens) > 5000:
            self._tokens = {t: info for t, info in self._tokens.items() if info['static'] or info['expires'] > now}

    def lookup(self, token):
        """The grant behind ``token``: (info, None), or (None, why it is not usable)."""
        with self._mutex:
            info = self._tokens.get(token)
        if info is None:
            return None, 'The access token is not valid'
        if info['expires'] is not None and info['expires'] <= time.time():
            return None, 'The access token has expired'
        return info, None

    def mentioned_in(self, text):
        """Whether ``text`` holds a token issued here or a static one, so that the request log can leave it out."""
        words = TOKEN_WORD.findall(text)
        with self._mutex:
            return any(word in self._tokens for word in words)

    def issued(self, tenant=None, env=None):
        """The tokens issued to service accounts (not the static ones), for tests that check none of them leaks
        into an output."""
        with self._mutex:
            return [token for token, info in self._tokens.items() if not info['static']
                    and (tenant is None or info['tenant'] == tenant) and (env is None or info['env'] == env)]

    def expire(self, tenant=None, env=None, include_static=False):
        """Make matching tokens expire now (as if their lifetime had run out); returns how many."""
        count = 0
        now = time.time()
        with self._mutex:
            for info in self._tokens.values():
                if (tenant is None or info['tenant'] == tenant) and (env is None or info['env'] == env) \
                        and (include_static or not info['static']):
                    info['expires'] = now - 1
                    count += 1
        return count
