# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: not a public API.

HTTP to one environment: the session, retries bounded by the step's deadline, Common REST headers
and error bodies, transaction ids. What the answers mean is the business of ``_states``.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ansible_collections.idcloud.promotions.plugins.module_utils._errors import TRANSIENT_STATUSES, ConfigurationError, PromotionsApiError

REQUESTS_IMPORT_ERROR = None
try:
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry
except ImportError as exc:  # guarded: the module reports missing_required_lib
    REQUESTS_IMPORT_ERROR = exc
    Retry = object  # pylint: disable=invalid-name

if TYPE_CHECKING:
    from urllib3.response import BaseHTTPResponse

    from ansible_collections.idcloud.promotions.plugins.module_utils._auth import ServiceAccountToken, StaticToken

USER_AGENT = 'idcloud.promotions'
TOKEN_PATH = '/am/oauth2/access_token'
# Without a step's deadline (a report read, a release read) a request and its retries get this long.
DEFAULT_RETRY_WINDOW = 60.0
# Pauses between tries of a transient failure: 0.5 s, doubling, at most 5 s (plus jitter).
BACKOFF_FACTOR = 0.5
BACKOFF_MAX = 5.0
SAFE_METHODS = frozenset(['GET', 'HEAD', 'OPTIONS'])
BEARER = re.compile(r'Bearer\s+\S+')


class DeadlineRetry(Retry):
    """urllib3 Retry bounded by a deadline (a ``time.monotonic()`` value) rather than by a count: a transient
    failure is tried again, with backoff, for as long as the step it belongs to has time. A Retry-After is
    honoured, but never past the deadline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.deadline: float = kwargs.pop('deadline')
        super(DeadlineRetry, self).__init__(*args, **kwargs)

    def new(self, **kwargs: Any) -> DeadlineRetry:
        kwargs.setdefault('deadline', self.deadline)
        return super(DeadlineRetry, self).new(**kwargs)

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def is_exhausted(self) -> bool:
        # Out of tries once the pause before the next one would end at the deadline or past it.
        return super(DeadlineRetry, self).is_exhausted() or self.remaining() <= self.get_backoff_time()

    def get_backoff_time(self) -> float:
        return min(super(DeadlineRetry, self).get_backoff_time(), self.remaining())

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        seconds = super(DeadlineRetry, self).get_retry_after(response)
        return None if seconds is None else min(seconds, self.remaining())


def build_retry(deadline: float, methods: Iterable[str] = SAFE_METHODS, backoff_factor: float = BACKOFF_FACTOR) -> DeadlineRetry:
    """Transport retries until ``deadline``: reads are retried on errors and transient statuses; writes only when
    the connection never opened (nothing was sent). A write that got no clear answer comes back to the caller,
    which re-reads the state instead of sending it again."""
    return DeadlineRetry(
        deadline=deadline, total=None, connect=None, read=None, status=None, other=0, redirect=0,
        status_forcelist=TRANSIENT_STATUSES, allowed_methods=frozenset(methods), backoff_factor=backoff_factor,
        backoff_max=BACKOFF_MAX, backoff_jitter=backoff_factor, respect_retry_after_header=True, raise_on_status=False)


def backoff(attempt: int) -> float:
    """Seconds to pause before try ``attempt`` + 1 of something done by hand (a token request, a re-read)."""
    return min(BACKOFF_MAX, BACKOFF_FACTOR * 2 ** attempt)


# Headers the client sets itself; a caller's own headers may not replace them.
OWN_HEADERS = ('Accept', 'Accept-API-Version', 'Authorization', 'Content-Type', 'User-Agent', 'X-ForgeRock-TransactionId')


def headers_problem(headers: dict[str, Any] | None) -> str | None:
    """Why these extra headers cannot be sent, or None."""
    for name, value in (headers or {}).items():
        if name.lower() in (own.lower() for own in OWN_HEADERS):
            return 'headers may not set %s: the module sets it itself' % name
        if not isinstance(value, (str, int, float)) or isinstance(value, bool) or '\n' in str(value) or '\r' in str(value):
            return 'headers.%s must be a single line of text' % name
    return None


class PromotionsClient:
    """One session against one environment (``base_url``), shared by every request of a module run."""

    def __init__(self, base_url: str, auth: StaticToken | ServiceAccountToken, api_version: str = 'protocol=1.0,resource=1.0',
                 validate_certs: bool = True, ca_path: str | None = None, timeout: float = 30, transaction_id: str | None = None,
                 backoff_factor: float = BACKOFF_FACTOR, headers: dict[str, str] | None = None) -> None:
        if REQUESTS_IMPORT_ERROR is not None:
            raise ConfigurationError('the requests library is needed')
        self.base_url = checked_url(base_url)
        self.auth = auth
        self.api_version = api_version
        self.timeout = timeout
        self.backoff_factor = backoff_factor
        self.transaction_id = transaction_id or str(uuid.uuid4())
        self.request_count = 0
        # The end (time.monotonic()) of the step under way; without one, each request gets DEFAULT_RETRY_WINDOW.
        self.deadline: float | None = None
        self.session = requests.Session()
        # The environment's proxies and CA bundle (REQUESTS_CA_BUNDLE, without ca_path), read once for the session:
        # requests would read them again for every request, at more CPU than the request itself costs.
        settings = self.session.merge_environment_settings(self.base_url, {}, None, (ca_path or True) if validate_certs else False, None)
        self.session.trust_env = False
        self.proxies: dict[str, str] = settings['proxies']
        self.verify: str | bool = settings['verify']
        # The caller's own headers (for a WAF or a proxy in front of the tenant) go with every request, token requests too.
        self.session.headers.update({name: str(value) for name, value in (headers or {}).items()})
        self.session.headers.update({'User-Agent': USER_AGENT, 'Accept': 'application/json'})
        self.adapter = HTTPAdapter()
        self.session.mount('https://', self.adapter)

    def close(self) -> None:
        self.session.close()

    @contextlib.contextmanager
    def deadline_in(self, seconds: float) -> Iterator[None]:
        """Every request sent meanwhile, its retries and its own timeout, ends within ``seconds`` from now."""
        previous, self.deadline = self.deadline, time.monotonic() + max(0.0, seconds)
        try:
            yield
        finally:
            self.deadline = previous

    def remaining(self, deadline: float | None = None) -> float:
        """Seconds left until ``deadline``, or the step's deadline, or a fresh DEFAULT_RETRY_WINDOW."""
        deadline = deadline or self.deadline
        return DEFAULT_RETRY_WINDOW if deadline is None else max(0.0, deadline - time.monotonic())

    # The verbs the promotion code uses.
    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.send('GET', path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.send('POST', path, json_body=body if body is not None else {})

    def delete(self, path: str) -> Any:
        return self.send('DELETE', path)

    def send(self, method: str, path: str, params: dict[str, Any] | None = None, json_body: Any = None, data: dict[str, Any] | None = None,
             authenticated: bool = True) -> Any:
        """Send one request and return the parsed JSON body (None for an empty body).

        Transient failures of a read (no answer, a reset, 429 and 5xx from the tenant or a proxy, an answer cut
        short) are tried again with backoff until the deadline. A 401 renews a service-account token once and
        sends again: the tenant refused the request before doing anything, so even a write is safe to repeat.
        Everything else that fails raises ``PromotionsApiError``.
        """
        deadline = self.deadline if self.deadline is not None else time.monotonic() + DEFAULT_RETRY_WINDOW
        renew = False
        attempt = 0
        while True:
            headers = self._headers(method, authenticated, force_renew=renew)
            try:
                response = self._transmit(method, path, params, json_body, data, headers, deadline)
                if response.status_code == 401 and authenticated and not renew and self.auth.renewable:
                    renew = True
                    continue
                return self._parse(method, path, response, headers)
            except PromotionsApiError as exc:
                # urllib3 has retried what it could until the deadline; an answer cut short is read again here.
                if not (exc.transport_error and method in SAFE_METHODS) or self.remaining(deadline) <= backoff(attempt):
                    raise
                time.sleep(backoff(attempt))
                attempt += 1

    def _headers(self, method: str, authenticated: bool, force_renew: bool) -> dict[str, str]:
        headers = {'Accept-API-Version': self.api_version}
        if method in ('POST', 'PUT', 'PATCH'):
            headers['Content-Type'] = 'application/json'
        if authenticated:
            headers['Authorization'] = 'Bearer %s' % self.auth.bearer(self, force_renew=force_renew)
        self.request_count += 1
        headers['X-ForgeRock-TransactionId'] = '%s/%d' % (self.transaction_id, self.request_count)
        return headers

    def _transmit(self, method: str, path: str, params: dict[str, Any] | None, json_body: Any, data: dict[str, Any] | None,
                  headers: dict[str, str], deadline: float) -> requests.Response:
        if data is not None:
            headers = dict(headers, **{'Content-Type': 'application/x-www-form-urlencoded'})
        left = self.remaining(deadline)
        if left <= 0:
            raise PromotionsApiError('no time left for the request (the step\'s wait_timeout or lock_timeout has run out)',
                                     method=method, path=path, transaction_id=self.transaction_id, transport_error=True)
        # One module run sends one request at a time, so the adapter's retry policy is set per request.
        self.adapter.max_retries = build_retry(deadline, backoff_factor=self.backoff_factor)
        try:
            return self.session.request(method, self.base_url + path, params=params, json=json_body if data is None else None,
                                        data=data, headers=headers, timeout=min(self.timeout, left), verify=self.verify,
                                        proxies=self.proxies, allow_redirects=False)
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

    def _parse(self, method: str, path: str, response: requests.Response, headers: dict[str, str]) -> Any:
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


def checked_url(url: str, option: str = 'tenant_url') -> str:
    """``url`` without its trailing slash, or ConfigurationError naming ``option`` when it is not an https:// URL."""
    try:
        parts = urlsplit(url or '')
        parts.port  # pylint: disable=pointless-statement  # raises on a port out of range
    except ValueError as exc:
        raise ConfigurationError('%s %r is not a valid URL: %s' % (option, url, exc))
    if parts.scheme != 'https' or not parts.netloc:
        raise ConfigurationError('%s must be an https:// URL such as https://tenant.example.com, not %r: the tenant is '
                                 'only reached over TLS' % (option, url))
    if parts.query or parts.fragment:
        raise ConfigurationError('%s must not carry a query or fragment: %r' % (option, url))
    return url.rstrip('/')


def error_from_response(response: requests.Response, body: Any, method: str, path: str, transaction_id: str | None) -> PromotionsApiError:
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
    missing_scope = None
    if status == 403:
        # Bearer realm="...", error="insufficient_scope", scope="fr:idc:release:*" names the scope when the tenant says.
        named = re.search(r'scope="([^"]+)"', response.headers.get('WWW-Authenticate') or '')
        missing_scope = named.group(1) if named else True
    return PromotionsApiError(message, status=status, code=code, reason=reason or response.reason, method=method, path=path,
                              transaction_id=transaction_id, body=body if isinstance(body, (dict, list)) else None,
                              retry_after=_seconds(response.headers.get('Retry-After')), missing_scope=missing_scope)


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None  # absent, or an HTTP date: the caller's own pause applies


def _hint(status: int, response: requests.Response, path: str) -> str:
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


def _strip_markup(text: str | None) -> str:
    return re.sub(r'\s+', ' ', re.sub(r'<[^>]*>', ' ', text or '')).strip()


def _ssl_reason(exc: BaseException) -> str:
    match = re.search(r'\[SSL: [^\]]+\][^\'"()]*', str(exc))
    return match.group(0).strip() if match else _first_line(exc)


def _first_line(exc: BaseException) -> str:
    """The start of an exception's text, with anything that looks like a bearer token masked."""
    text = BEARER.sub('Bearer ********', str(exc))
    return text.splitlines()[0][:200] if text else exc.__class__.__name__


def _describe_transport(exc: BaseException) -> str:
    if isinstance(exc, requests.exceptions.Timeout):
        return 'timed out'
    if isinstance(exc, requests.exceptions.RetryError):
        return 'still failing after retries: %s' % _first_line(exc)
    return _first_line(exc)
