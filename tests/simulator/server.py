"""HTTP plumbing: TLS, routing, Common REST headers, bearer-token checks, transport faults, the request log,
and the ``/__admin`` control surface. The promotion behaviour itself lives in ``tenant.py``."""

from __future__ import annotations

import collections
import functools
import json
import re
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from .auth import (PROMOTION_READ_SCOPE, PROMOTION_SCOPE, RELEASE_SCOPE, SESSION_READ_SCOPE, SESSION_SCOPE, OAuthError,
                   TokenService)
from .tenant import ApiError, ProxyAnswer, error_document, normalize_esv

ADMIN_PREFIX = '/__admin'
ADMIN_HEADER = 'X-Simulator-Admin'
SUPPORTED_RESOURCE_VERSIONS = ('1.0',)
SUPPORTED_PROTOCOL_VERSIONS = ('1.0', '2.0', '2.1', '2.2')
STATUS_FAULTS = ('429', '500', '502', '503', '504')
FAULT_KINDS = STATUS_FAULTS + ('hang', 'drop', 'truncate', 'reset')
FAULT_BODIES = ('json', 'html')
# The body a status fault has unless told: a rate limit and the API's own 500 answer JSON, proxies HTML.
DEFAULT_FAULT_BODY = {'429': 'json', '500': 'json', '502': 'html', '503': 'html', '504': 'html'}
FAULT_TITLES = {429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable',
                504: 'Gateway Timeout'}
FAULT_MESSAGES = {429: 'Rate limit exceeded', 502: 'The upstream service sent an invalid response',
                  503: 'The service is temporarily unavailable', 504: 'The upstream service did not answer in time'}
MAX_LOG_ENTRIES = 100000
DEFAULT_CONTENT_VERSION = 'protocol=1.0,resource=1.0'
TRANSACTION_HEADER = 'X-ForgeRock-TransactionId'
# lose_next_answer: the writes whose answer can be lost after the tenant carried them out, by route.
LOSABLE_CALLS = {'lock': ('POST', '/environment/promotion/lock'),
                 'unlock': ('DELETE', '/environment/promotion/lock/{promotionId}'),
                 'promote': ('POST', '/environment/promotion/promote'),
                 'rollback': ('POST', '/environment/promotion/rollback')}
LOST_ANSWER_KINDS = ('504', '502', 'drop', 'reset')
# A route's scope opens it; its read scope opens its GETs too.
READ_SCOPES = {PROMOTION_SCOPE: PROMOTION_READ_SCOPE, SESSION_SCOPE: SESSION_READ_SCOPE}
# Request headers the request log leaves out, by name: the credentials a client may send. A header whose name says it
# holds a token or a secret, or whose value holds a token the simulator knows or a private key, is left out too.
SECRET_HEADERS = frozenset({'authorization', 'proxy-authorization', 'cookie', ADMIN_HEADER.lower()})
SECRET_NAME_PARTS = ('token', 'secret', 'password')


class Route:
    """One API endpoint under an environment's base URL."""

    def __init__(self, method, template, operation, scope, versioned=True):
        self.method = method
        self.template = template
        self.operation = operation
        self.scope = scope
        self.versioned = versioned
        self.pattern = re.compile('^' + re.sub(r'\{(\w+)\}', r'(?P<\1>[^/]+)', template) + '$')


# Order matters: the fixed report paths come before /report/{reportId}.
ROUTES = (
    Route('POST', '/am/oauth2/access_token', 'token', None, versioned=False),
    Route('GET', '/environment/promotion/lock/state', 'lock_state', PROMOTION_SCOPE),
    Route('POST', '/environment/promotion/lock', 'lock', PROMOTION_SCOPE),
    Route('DELETE', '/environment/promotion/lock/{promotionId}', 'unlock', PROMOTION_SCOPE),
    Route('GET', '/environment/promotion/promote', 'status', PROMOTION_SCOPE),
    Route('POST', '/environment/promotion/promote', 'promote', PROMOTION_SCOPE),
    Route('POST', '/environment/promotion/rollback', 'rollback', PROMOTION_SCOPE),
    Route('GET', '/environment/promotion/report', 'last_report', PROMOTION_SCOPE),
    Route('GET', '/environment/promotion/report/provisional', 'provisional_report', PROMOTION_SCOPE),
    Route('GET', '/environment/promotion/report/provisional-rollback', 'provisional_rollback_report', PROMOTION_SCOPE),
    Route('GET', '/environment/promotion/report/{reportId}', 'report', PROMOTION_SCOPE),
    Route('GET', '/environment/promotion/reports', 'reports', PROMOTION_SCOPE),
    Route('GET', '/environment/release', 'release', RELEASE_SCOPE),
    Route('GET', '/environment/direct-configuration/session/state', 'session_state', SESSION_SCOPE),
)


class Response:
    """What the handler writes: status, headers, and a JSON document or raw bytes. ``tenant`` is False for an answer
    of the gateway in front of the tenant (a proxy's HTML page), which carries none of the API's headers."""

    def __init__(self, status, body=None, headers=None, raw=None, content_type='application/json;charset=UTF-8', tenant=True):
        self.status = status
        self.headers = dict(headers or {})
        if raw is None:
            raw = b'' if body is None else json.dumps(body).encode('utf-8')
        self.raw = raw
        self.content_type = content_type
        self.tenant = tenant


def parse_api_version(header):
    """{'protocol': ..., 'resource': ...} from an Accept-API-Version header ('resource=1.0, protocol=2.1')."""
    versions = {}
    for part in header.split(','):
        key, sep, value = part.strip().partition('=')
        if sep and key.strip() in ('protocol', 'resource'):
            versions[key.strip()] = value.strip()
    return versions


def normalize_version(version):
    return version if '.' in version else version + '.0'


def content_version(header):
    """The Content-API-Version of an answer to a request with this Accept-API-Version: the versions asked for when
    the simulator serves them, else protocol=1.0,resource=1.0 (also on the error that refuses them)."""
    versions = parse_api_version(header or '')
    resource = normalize_version(versions.get('resource', '1.0'))
    protocol = normalize_version(versions.get('protocol', '1.0'))
    if resource not in SUPPORTED_RESOURCE_VERSIONS or protocol not in SUPPORTED_PROTOCOL_VERSIONS:
        return DEFAULT_CONTENT_VERSION
    return 'protocol=%s,resource=%s' % (protocol, resource)


class Fault:
    """A transport fault armed for the next ``count`` requests whose path ends with ``path_suffix`` (and, when
    given, whose method is ``method`` and whose base URL is of ``tenant`` / ``env``)."""

    def __init__(self, path_suffix, kind, count=1, method=None, retry_after=None, seconds=None, after_processing=False,
                 body=None, tenant=None, env=None, template=None):
        kind = str(kind)
        if kind not in FAULT_KINDS:
            raise ValueError('kind must be one of %s' % (FAULT_KINDS,))
        if int(count) < 1:
            raise ValueError('count must be at least 1')
        if body is not None and kind not in STATUS_FAULTS:
            raise ValueError('body applies to the status faults %s only' % (STATUS_FAULTS,))
        if body is not None and body not in FAULT_BODIES:
            raise ValueError('body must be one of %s' % (FAULT_BODIES,))
        if env is not None and tenant is None:
            raise ValueError('env needs tenant')
        if path_suffix is None and template is None:
            raise ValueError('a fault needs a path_suffix')
        self.path_suffix = None if path_suffix is None else '/' + str(path_suffix).strip('/')
        self.template = template  # when given, the request's route must be this one too (lose_next_answer)
        self.kind = kind
        self.remaining = int(count)
        self.method = method.upper() if method else None
        self.retry_after = retry_after
        self.seconds = 30.0 if seconds is None else float(seconds)
        self.after_processing = bool(after_processing)
        self.body = body if body is not None else DEFAULT_FAULT_BODY.get(kind)
        self.tenant = tenant
        self.env = env

    def matches(self, method, path, template=None):
        if self.remaining <= 0 or (self.method is not None and self.method != method):
            return False
        if self.template is not None and self.template != template:
            return False
        if self.path_suffix is not None and not path.rstrip('/').endswith(self.path_suffix):
            return False
        if self.tenant is not None:
            segments = path.strip('/').split('/')
            if segments[0] != self.tenant or (self.env is not None and segments[1:2] != [self.env]):
                return False
        return True

    def describe(self):
        return {'path_suffix': self.path_suffix, 'kind': self.kind, 'remaining': self.remaining, 'method': self.method,
                'after_processing': self.after_processing, 'body': self.body, 'retry_after': self.retry_after,
                'tenant': self.tenant, 'env': self.env, 'template': self.template}


class SimulatorApp:
    """Everything the HTTP handler needs: the simulation, tokens, faults, the request log, the control surface."""

    def __init__(self, simulation, base_url, admin_token, verbose=False):
        self.simulation = simulation
        self.tokens = TokenService(simulation.token_lifetime)
        self.base_url = base_url
        self.admin_token = admin_token
        self.verbose = verbose
        self.faults = []
        self.log = collections.deque(maxlen=MAX_LOG_ENTRIES)
        self.mutex = threading.Lock()
        self.control = ControlSurface(self)

    def env_url(self, tenant, env):
        return '%s/%s/%s' % (self.base_url, tenant, env)

    def error(self, tenant_name, status, message, reason=None, headers=None):
        """An API error answer, its body in the ``error_body`` style of the tenant (the global one if none)."""
        with self.simulation.mutex:
            style = self.simulation.variant_of(tenant_name)['error_body']
        return Response(status, error_document(style, status, message, reason), headers)

    # -- faults and the request log

    def take_fault(self, method, path, template=None):
        with self.mutex:
            for fault in self.faults:
                if fault.matches(method, path, template):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def loggable_headers(self, headers):
        """The request's headers for the log, names in lower case (repeated ones joined by commas), without the
        credentials: SECRET_HEADERS, names that say they hold a token or a secret, values that hold a known token or a
        private key. Other headers (a gateway's X-WAF-Key included) are kept, so tests can see what reached the tenant."""
        logged = {}
        for name, value in headers.items():
            name = name.lower()
            if name in SECRET_HEADERS or any(part in name for part in SECRET_NAME_PARTS):
                continue
            if 'PRIVATE KEY' in value or self.tokens.mentioned_in(value):
                continue
            logged[name] = '%s, %s' % (logged[name], value) if name in logged else value
        return logged

    def record(self, entry):
        with self.mutex:
            self.log.append(entry)
        if self.verbose:
            sys.stderr.write('%s %s %s -> %s tx=%s%s\n' % (time.strftime('%H:%M:%S'), entry['method'], entry['path'],
                                                           entry['status'], entry['transaction_id'],
                                                           ' fault=%s' % entry['fault'] if entry.get('fault') else ''))

    # -- API requests

    def resolve(self, method, path, entry):
        """Find the tenant, environment and route of an API path, noting them in the log ``entry``.

        Returns (route, match, methods allowed on the path); route is None when nothing matches this method.
        """
        segments = path.strip('/').split('/')
        if len(segments) < 3:
            return None, None, ()
        tenant = self.simulation.tenants.get(segments[0])
        if tenant is None or segments[1] not in tenant.envs:
            return None, None, ()
        entry.update(tenant=segments[0], env=segments[1])
        rest = '/' + '/'.join(segments[2:])
        matching = [(route, route.pattern.match(rest)) for route in ROUTES]
        matching = [(route, match) for route, match in matching if match]
        entry['template'] = matching[0][0].template if matching else rest
        for route, match in matching:
            if route.method == method:
                entry['template'] = route.template
                return route, match, ()
        return None, None, tuple(sorted({route.method for route, match in matching}))

    def handle_api(self, method, path, query, headers, body, entry):
        """Answer one API request; fills ``entry`` (tenant, env, template) for the log; returns a Response."""
        route, match, allowed = self.resolve(method, path, entry)
        if route is None and allowed:
            return self.error(entry['tenant'], 405, 'Method %s is not supported on %s' % (method, entry['template']),
                              'Method Not Allowed', {'Allow': ', '.join(allowed)})
        if route is None:
            return self.error(entry['tenant'], 404, 'Resource \'%s\' not found' % path, 'Not Found')
        if route.operation == 'token':
            return self._token(entry['tenant'], entry['env'], body, headers)
        return self._call(route, match, entry['tenant'], entry['env'], query, headers, body)

    def _token(self, tenant_name, env_name, body, headers):
        env = self.simulation.tenants[tenant_name].envs[env_name]
        no_store = {'Cache-Control': 'no-store', 'Pragma': 'no-cache'}
        content_type = headers.get('Content-Type', '')
        if 'application/x-www-form-urlencoded' not in content_type:
            return Response(400, {'error': 'invalid_request',
                                  'error_description': 'The token request must be form-encoded'}, no_store)
        form = {key: values[0] for key, values in parse_qs(body.decode('utf-8', 'replace')).items()}
        audience = self.env_url(tenant_name, env_name) + '/am/oauth2/access_token'
        try:
            grant = self.tokens.exchange(form, audience, env.service_accounts, tenant_name, env_name,
                                         granted=self.account_scopes(tenant_name))
        except OAuthError as error:
            extra = {'WWW-Authenticate': 'Basic realm="service-account"'} if error.status == 401 else {}
            return Response(error.status, error.body(), dict(no_store, **extra))
        return Response(200, grant, no_store)

    def account_scopes(self, tenant_name):
        """The scopes a service account of the tenant may be granted; None: every known scope."""
        with self.simulation.mutex:
            scopes = self.simulation.variant_of(tenant_name)['account_scopes']
        return None if scopes == 'all' else frozenset({PROMOTION_SCOPE})

    def _call(self, route, match, tenant_name, env_name, query, headers, body):
        realm = '%s/%s' % (tenant_name, env_name)
        authorization = headers.get('Authorization', '')
        scheme, token = (authorization.split(' ', 1) + [''])[:2]
        if scheme.lower() != 'bearer' or not token.strip():
            return self.error(tenant_name, 401, 'Access token required', 'Unauthorized',
                              {'WWW-Authenticate': 'Bearer realm="%s"' % realm})
        grant, problem = self.tokens.lookup(token.strip())
        if grant is not None and (grant['tenant'], grant['env']) != (tenant_name, env_name):
            grant, problem = None, 'The access token was not issued by this environment'
        if grant is None:
            return self.error(tenant_name, 401, problem, 'Unauthorized', {
                'WWW-Authenticate': 'Bearer realm="%s", error="invalid_token", error_description="%s"' % (realm, problem)})
        scopes = grant['scopes']
        granted = self.account_scopes(tenant_name)
        if grant['static'] and granted is not None:
            scopes = scopes & granted  # static tokens follow the tenant's accounts as they are now
        allowed = route.scope in scopes or (route.method == 'GET' and READ_SCOPES.get(route.scope) in scopes)
        if not allowed:
            return self.error(tenant_name, 403, 'The access token lacks the scope %s' % route.scope, 'Forbidden', {
                'WWW-Authenticate': 'Bearer realm="%s", error="insufficient_scope", scope="%s"' % (realm, route.scope)})
        versions, refusal = self._api_version(tenant_name, headers)
        if refusal is not None:
            return refusal
        content_version = {'Content-API-Version': 'protocol=%s,resource=%s' % (versions['protocol'], versions['resource'])}
        arguments = [tenant_name, env_name]
        if route.operation == 'unlock':
            arguments.append(unquote(match.group('promotionId')))
        elif route.operation == 'report':
            arguments.append(unquote(match.group('reportId')))
        elif route.operation == 'lock_state':
            arguments.append(query.get('localLockOnly', ['false'])[0].lower() == 'true')
        elif route.operation in ('promote', 'rollback'):
            try:
                arguments.append(json.loads(body) if body.strip() else None)
            except ValueError:
                return self.error(tenant_name, 400, 'The request body is not valid JSON', 'Bad Request', content_version)
        simulation = self.simulation
        try:
            with simulation.mutex:
                status, payload = getattr(simulation, route.operation)(*arguments)
        except ProxyAnswer as answer:
            return Response(answer.status, raw=answer.html(), content_type='text/html', tenant=False)
        except ApiError as error:
            if error.fixed_body is not None:
                return Response(error.status, error.fixed_body, dict(content_version, **error.headers))
            return self.error(tenant_name, error.status, error.message, error.reason, dict(content_version, **error.headers))
        return Response(status, payload, content_version)

    def _api_version(self, tenant_name, headers):
        header = headers.get('Accept-API-Version')
        strict = self.simulation.variant_of(tenant_name)['versions'] == 'strict'
        versions = parse_api_version(header) if header else {}
        if 'resource' not in versions:
            if strict or header:
                return None, self.error(tenant_name, 400, 'No requested version specified and behavior set to NONE.',
                                        'Bad Request')
            versions['resource'] = SUPPORTED_RESOURCE_VERSIONS[-1]
        versions.setdefault('protocol', '1.0')
        for key, supported in (('resource', SUPPORTED_RESOURCE_VERSIONS), ('protocol', SUPPORTED_PROTOCOL_VERSIONS)):
            if normalize_version(versions[key]) not in supported:
                return None, self.error(tenant_name, 404, 'Accept-API-Version: Requested version "%s" does not match '
                                                          'any routes.' % versions[key], 'Not Found')
            versions[key] = normalize_version(versions[key])
        return versions, None

    # -- control surface

    def handle_admin(self, method, path, query, headers, body):
        if headers.get(ADMIN_HEADER) != self.admin_token:
            return Response(403, {'error': 'the %s header is missing or wrong' % ADMIN_HEADER})
        operation = path[len(ADMIN_PREFIX):].strip('/').replace('-', '_')
        if not operation:
            return Response(200, {'operations': sorted(self.control.OPERATIONS)})
        if operation not in self.control.OPERATIONS:
            return Response(404, {'error': 'no control operation %r' % operation})
        if method == 'GET':
            params = {key: values[0] for key, values in query.items()}
        else:
            try:
                params = json.loads(body) if body.strip() else {}
            except ValueError:
                return Response(400, {'error': 'the body is not valid JSON'})
            if not isinstance(params, dict):
                return Response(400, {'error': 'the body must be a JSON object'})
        try:
            result = self.control.call(operation, params)
        except ApiError as error:
            return Response(error.status, {'error': error.message})
        except (ValueError, TypeError, KeyError) as error:
            return Response(400, {'error': str(error)})
        return Response(200, {'result': result})


class ControlSurface:
    """The test and demo knobs, one method each; reached through ``/__admin/<operation>`` and scenario files."""

    OPERATIONS = ('edit_config', 'add_esv', 'remove_esv', 'plant_encrypted', 'maintenance_lock', 'foreign_lock',
                  'fail_next_promotion', 'fail_next_lock', 'stick_next_lock', 'clear_block', 'set_timing', 'set_variant',
                  'set_release', 'set_session', 'inject_fault', 'lose_next_answer', 'clear_faults', 'expire_tokens', 'issued_tokens',
                  'request_log', 'request_counts', 'reset_log', 'env_state')

    def __init__(self, app):
        self.app = app
        self.simulation = app.simulation

    def call(self, operation, params):
        with self.simulation.mutex:
            return getattr(self, operation)(**params)

    def _env(self, tenant, env):
        tenant_state = self.simulation.tenant(tenant)
        self.simulation.advance(tenant_state)
        return tenant_state.env(env)

    def edit_config(self, tenant, env, area, item, op, name, value=None, esv_refs=None, encrypted=False):
        self._env(tenant, env).edit_config(area, item, op, name, value, esv_refs, encrypted)

    def add_esv(self, tenant, env, name):
        self._env(tenant, env).esvs.add(normalize_esv(name))

    def remove_esv(self, tenant, env, name):
        self._env(tenant, env).esvs.discard(normalize_esv(name))

    def plant_encrypted(self, tenant, env, area, item, name):
        self._env(tenant, env).plant_encrypted(area, item, name)

    def maintenance_lock(self, tenant, env, on=True):
        self._env(tenant, env).maintenance = bool(on)

    def foreign_lock(self, tenant, upper_env):
        return self.simulation.foreign_lock(tenant, upper_env)

    def fail_next_promotion(self, tenant, upper_env, blocking=True, dry_runs=False):
        target = self._env(tenant, upper_env)
        if target.lower is None:
            raise ValueError('%s receives no promotions' % upper_env)
        target.fail_next = {'blocking': bool(blocking), 'dry_runs': bool(dry_runs)}

    def fail_next_lock(self, tenant, upper_env, description='Failed to lock environment'):
        self.simulation.fail_next_lock(tenant, upper_env, description)

    def stick_next_lock(self, tenant, upper_env):
        self.simulation.stick_next_lock(tenant, upper_env)

    def clear_block(self, tenant, upper_env):
        self.simulation.clear_block(tenant, upper_env)

    def set_timing(self, tenant=None, token_lifetime=None, speed=None, profile=None, **phases):
        if token_lifetime is not None and float(token_lifetime) <= 0:
            raise ValueError('token_lifetime must be positive')
        timing = self.simulation.set_timing(tenant, speed=speed, profile=profile, **phases)
        if token_lifetime is not None:
            self.app.tokens.lifetime = float(token_lifetime)
        return dict(timing, token_lifetime=self.app.tokens.lifetime)

    def set_variant(self, tenant=None, preset=None, **choices):
        return self.simulation.set_variant(tenant, preset, **choices)

    def set_release(self, tenant, env, current_version, next_upgrade=None):
        self._env(tenant, env).release = {'currentVersion': current_version, 'nextUpgrade': next_upgrade}

    def set_session(self, tenant, env, status, editable=None):
        return self.simulation.set_session(tenant, env, status, editable)

    def inject_fault(self, path_suffix, kind, count=1, method=None, retry_after=None, seconds=None, after_processing=False,
                     body=None, tenant=None, env=None):
        if tenant is not None:
            known = self.simulation.tenant(tenant)  # a typo would arm a fault that never fires
            if env is not None:
                known.env(env)
        fault = Fault(path_suffix, kind, count, method, retry_after, seconds, after_processing, body, tenant, env)
        with self.app.mutex:
            self.app.faults.append(fault)
        return fault.describe()

    def lose_next_answer(self, tenant, upper_env, call, kind='504', count=1):
        """The next ``count`` ``call`` requests (lock, unlock, promote, rollback) to ``upper_env`` of ``tenant`` are
        carried out by the tenant, and their answer is lost on the way back: a proxy's 504 (or 502) HTML page, or a
        connection closed (``drop``) or reset (``reset``) without an answer. API notes 8, "Lost answers"
        (docs/docsite/rst/guide_api_notes.rst)."""
        if call not in LOSABLE_CALLS:
            raise ValueError('call must be one of %s' % ', '.join(LOSABLE_CALLS))
        if str(kind) not in LOST_ANSWER_KINDS:
            raise ValueError('kind must be one of %s' % ', '.join(LOST_ANSWER_KINDS))
        self.simulation.tenant(tenant).env(upper_env)  # a typo would arm a fault that never fires
        method, template = LOSABLE_CALLS[call]
        fault = Fault(None, str(kind), count, method, after_processing=True, tenant=tenant, env=upper_env, template=template)
        with self.app.mutex:
            self.app.faults.append(fault)
        return fault.describe()

    def clear_faults(self):
        with self.app.mutex:
            self.app.faults.clear()

    def expire_tokens(self, tenant=None, env=None, include_static=False):
        return self.app.tokens.expire(tenant, env, include_static)

    def issued_tokens(self, tenant=None, env=None):
        return self.app.tokens.issued(tenant, env)

    def _log_entries(self, tenant=None, env=None):
        with self.app.mutex:
            entries = list(self.app.log)
        return [dict(e) for e in entries if (tenant is None or e['tenant'] == tenant) and (env is None or e['env'] == env)]

    def request_log(self, tenant=None, env=None):
        return self._log_entries(tenant, env)

    def request_counts(self, tenant=None, env=None):
        counts = collections.Counter('%s %s' % (e['method'], e['template']) for e in self._log_entries(tenant, env))
        return dict(sorted(counts.items()))

    def reset_log(self):
        with self.app.mutex:
            self.app.log.clear()

    def env_state(self, tenant, env):
        return self.simulation.env_state(tenant, env)


class RequestHandler(BaseHTTPRequestHandler):
    """Reads a request, applies an armed fault, lets the app answer, writes the answer with a Content-Length."""

    protocol_version = 'HTTP/1.1'
    server_version = 'IdentityCloudSimulator/1.0'
    sys_version = ''
    timeout = 120  # an idle keep-alive connection is closed after this long
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no delayed-ACK stalls
    _api_headers = {}  # set per request by _handle, never changed in place

    def do_GET(self):  # pylint: disable=invalid-name
        self._handle('GET')

    def do_POST(self):  # pylint: disable=invalid-name
        self._handle('POST')

    def do_DELETE(self):  # pylint: disable=invalid-name
        self._handle('DELETE')

    def do_PUT(self):  # pylint: disable=invalid-name
        self._handle('PUT')

    def do_PATCH(self):  # pylint: disable=invalid-name
        self._handle('PATCH')

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        """Silenced: the app logs one line per request itself, without tokens, when --verbose."""

    def _read_body(self):
        length = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(length) if length > 0 else b''

    def _handle(self, method):
        app = self.server.app
        self._api_headers = {}  # the headers of an API answer; none on the control surface's
        parts = urlsplit(self.path)
        path = parts.path
        query = parse_qs(parts.query)
        try:
            body = self._read_body()
        except ValueError:
            self._send(Response(400, {'code': 400, 'reason': 'Bad Request', 'message': 'Bad Content-Length'}))
            return
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + '/'):
            self._send(app.handle_admin(method, path, query, self.headers, body))
            return
        entry = {'time': time.time(), 'method': method, 'path': path, 'status': None,
                 'transaction_id': self.headers.get(TRANSACTION_HEADER), 'tenant': None, 'env': None,
                 'template': path, 'fault': None, 'headers': app.loggable_headers(self.headers)}
        app.resolve(method, path, entry)  # names tenant, env and route for the log and the faults, reached or not
        # Every answer of the tenant echoes the request's transaction id (one of its own when the request has none)
        # and, but for the token endpoint (AM's OAuth2, not Common REST), carries Content-API-Version: errors too.
        self._api_headers = {TRANSACTION_HEADER: entry['transaction_id'] or str(uuid.uuid4())}
        if not entry['template'].endswith('/access_token'):
            self._api_headers['Content-API-Version'] = content_version(self.headers.get('Accept-API-Version'))
        fault = app.take_fault(method, path, entry['template'])
        response = None
        if fault is None or fault.after_processing:
            try:
                response = app.handle_api(method, path, query, self.headers, body, entry)
            except Exception:  # pylint: disable=broad-except
                traceback.print_exc(file=sys.stderr)
                response = app.error(entry['tenant'], 500, 'The simulator failed on this request', 'Internal Server Error')
        if fault is not None:
            entry['fault'] = fault.kind
            entry['status'], reply = self._fault_reply(fault, response, entry['tenant'])
        else:
            entry['status'], reply = response.status, functools.partial(self._send, response)
        app.record(entry)  # before answering, so a client that has its answer also finds it in the log
        reply()

    def _fault_reply(self, fault, response, tenant=None):
        """(status for the log, what to put on the wire) for an armed fault; ``response`` when already processed."""
        if fault.kind == 'hang':
            return None, functools.partial(self._hang, fault.seconds)
        if fault.kind == 'drop':
            return None, self._abort
        if fault.kind == 'truncate':
            if response is None:
                response = Response(200, raw=b'{"status": "RUNNING", "message": "Promote configuration", "blockingError": false}')
            return response.status, functools.partial(self._send, response, truncate=True)
        if fault.kind == 'reset':
            return None, self._reset
        status = int(fault.kind)
        headers = {'Retry-After': str(fault.retry_after)} if fault.retry_after is not None else {}
        if fault.body == 'html':
            title = '%d %s' % (status, FAULT_TITLES[status])
            html = '<html><head><title>%s</title></head><body><center><h1>%s</h1></center></body></html>\n' % (title, title)
            reply = Response(status, raw=html.encode('ascii'), headers=headers, content_type='text/html', tenant=False)
        elif status == 500:
            # The promotions API's own 500, as the seed shows it (in the tenant's error_body style).
            reply = self.server.app.error(tenant, 500, '<internal-error-message>', headers=headers)
        else:
            if status == 429 and fault.retry_after is None:
                headers = {'Retry-After': '1'}
            reply = Response(status, {'code': status, 'reason': FAULT_TITLES[status], 'message': FAULT_MESSAGES[status]},
                             headers)
        return status, functools.partial(self._send, reply)

    def _hang(self, seconds):
        time.sleep(seconds)
        self._abort()

    def _reset(self):
        """Close with a TCP RST instead of a FIN: SO_LINGER on with a zero timeout, then close."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            self.connection.close()  # the socket goes once the handler lets go of its files, at once
        except OSError:
            pass

    def _abort(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, response, truncate=False):
        headers = dict(response.headers)
        if response.tenant:
            for name, value in self._api_headers.items():
                headers.setdefault(name, value)
        self.send_response(response.status)
        self.send_header('Content-Type', response.content_type)
        self.send_header('Content-Length', str(len(response.raw)))
        for name, value in headers.items():
            self.send_header(name, value)
        if truncate:
            self.send_header('Connection', 'close')
        self.end_headers()
        self.wfile.write(response.raw[:len(response.raw) // 2] if truncate else response.raw)
        self.wfile.flush()
        if truncate:
            self._abort()


class SimulatorServer(ThreadingHTTPServer):
    """A threaded HTTP/1.1 server; with a TLS context, each connection's handshake runs in its own thread."""

    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address, app, tls_context=None):
        self.app = app
        self.tls_context = tls_context
        super().__init__(address, RequestHandler)

    def finish_request(self, request, client_address):
        if self.tls_context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(30)
        try:
            wrapped = self.tls_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that rejects our certificate, or a port scan: nothing to answer
        try:
            super().finish_request(wrapped, client_address)
        finally:
            try:
                wrapped.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError, socket.timeout)):
            return  # clients going away mid-request are routine in fault tests
        super().handle_error(request, client_address)


def make_tls_context(cert_file, key_file):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert_file), str(key_file))
    return context
