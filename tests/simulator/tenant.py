"""Tenant state and the promotion state machines, free of any HTTP concern.

Every state machine advances lazily: a lock, an unlock or a promotion run records when each of its
phases ends, and whoever touches the tenant next (a read of the lock state, of the status, a control
call) calls ``advance`` first, which carries out whatever the clock says has happened since. That is
how a real tenant looks from outside: nothing changes between two reads except through time.

Locks can be stricter (variant ``lock_progress: on_read``): they move on only when a lock-state read finds
their time has come, as API notes 4.1 allows (the collection's notes on the API:
docs/docsite/rst/guide_api_notes.rst), so a client that does not poll the lock state waits forever.

Variants (``DEFAULT_VARIANT``, ``VARIANT_CHOICES``, ``PRESETS``) are chosen per tenant on top of a global
default; every operation reads the tenant's variant at the moment it runs.
"""

from __future__ import annotations

import copy
import datetime
import threading
import time
import uuid
from http import HTTPStatus

AREAS = ('am', 'idm')
REPORT_AREA_KEYS = {'am': 'AMConfig', 'idm': 'IDMConfig'}
ENV_ORDER = ('dev', 'uat', 'staging', 'prod')
TOKEN_LIFETIME = 900.0

# Where each known config item lives in the exported configuration: (fileDestinationPattern, fileName, type),
# the metadata of the seed's report entries. Items a test invents get a pattern derived from their name.
CONFIG_ITEMS = {
    ('am', 'Journeys'): ('am/realms/alpha/trees/*.json', '_id', 'multiple'),
    ('am', 'OAuth2 Clients'): ('am/realms/alpha/realm-config/agents/OAuth2Client/*.json', '_id', 'multiple'),
    ('am', 'Persistent Cookie'): ('am/services/realm/root-alpha/persistentcookiedecisionnode/1.0/organizationconfig/default/*.json',
                                  '_id', 'single'),
    ('idm', 'Email > Templates'): ('idm/conf/emailTemplate-*.json', 'displayName', 'single'),
    ('idm', 'Managed Objects'): ('idm/conf/managed.json', 'name', 'single'),
    ('idm', 'Access Configuration'): ('idm/conf/access.json', 'pattern', 'single'),
}

# The defaults are the strictest shapes known: those of the vendor's OpenAPI description (identitycloud-go-client,
# spec/openapi.json), which answers 202 to POST /lock, /promote and /rollback and to DELETE /lock/{id} (the unlocking
# answer), and whose report entries are promotionCIMeta objects {name, realm, uid}. Every older default stays a value.
DEFAULT_VARIANT = {
    'report_shape': 'new',         # 'new': {name, realm, uid} objects; 'seed': names and file metadata
    'status_running': 'RUNNING',   # older tenants say IN_PROGRESS
    'date_format': 'iso',          # 'iso' 2022-04-19T17:32:05Z or 'dashed' 2022-04-19T17-32+00Z (report dates)
    'versions': 'strict',          # 'lax' accepts a request without Accept-API-Version
    'start_status': 202,           # HTTP status of an accepted POST /lock, /promote, /rollback (200: the older default)
    'vendor': 'ForgeRock',         # who puts on the maintenance lock ('Ping Identity' on newer tenants)
    'stale_lock_reads': 0,         # lock-state reads that still show the old 'locked' body after an unlock request
    'report_body': 'full',         # 'seed': a report is only createdDate, promotionId, report, reportId, reportName
    'report_list': 'full',         # 'seed': GET /reports items without type, and not in date order
    'unlock_answer': 'unlocking-202',  # the OpenAPI's 202 "unlocking"; 'unlocking-200' (seed), 'unlocked' (gone at once)
    'lock_progress': 'clock',      # 'on_read': lock states advance only when GET /lock/state reads them
    'proxy_state': False,          # True: lowerEnv/upperEnv of the lock state also carry proxyState
    'account_scopes': 'all',       # 'promotion': service accounts hold fr:idc:promotion:* only
    'error_body': 'seed',          # 'common-rest': {code, reason, message}; 'promotions': {code, message, status}
    'status_type': 'present',      # 'absent': GET /promote bodies carry no type
    'previous_status': 'hidden',   # 'visible': the last run's final status stays shown after a new lock
    'timing': 'default',           # 'field': the field profile's phase durations (FIELD_PHASES)
    # The orders a tenant may answer in (API notes 8), all off by default:
    'status_lag': 0,               # GET /promote reads after an accepted start that still show the status from before it
    'report_lag': 0,               # GET /report reads after a run ended that still return the report before it
    'lock_lag': 0,                 # GET /lock/state reads after an accepted POST /lock that still read the state before it
    'restart_blips': 'off',        # 'error-500' / 'unauthorized-401' / 'gateway-404': a failed read while restarting
    'dry_run_wording': 'by-report',  # 'no-change': every dry run ends "Promotion completed (no change)"
}
VARIANT_CHOICES = {
    'report_shape': ('new', 'seed', 'new-null-realm'), 'status_running': ('RUNNING', 'IN_PROGRESS'),
    'date_format': ('iso', 'dashed'), 'versions': ('strict', 'lax'), 'start_status': (202, 200),
    'vendor': ('ForgeRock', 'Ping Identity'), 'stale_lock_reads': (0, 1, 2, 3),
    'report_body': ('full', 'seed'), 'report_list': ('full', 'seed'),
    'unlock_answer': ('unlocking-202', 'unlocking-200', 'unlocked'), 'lock_progress': ('clock', 'on_read'),
    'proxy_state': (False, True), 'account_scopes': ('all', 'promotion'),
    'error_body': ('seed', 'common-rest', 'promotions'), 'status_type': ('present', 'absent'),
    'previous_status': ('hidden', 'visible'), 'timing': ('default', 'field'),
    'status_lag': (0, 1, 2, 3), 'report_lag': (0, 1, 2, 3), 'lock_lag': (0, 1, 2, 3),
    'restart_blips': ('off', 'error-500', 'unauthorized-401', 'gateway-404'), 'dry_run_wording': ('by-report', 'no-change'),
}
# Named sets of variants; other keys given with a preset in the same call override it.
PRESETS = {
    # Everything the seed guide shows: its bodies exactly, its stale read after an unlock, a lock that moves
    # only while it is polled, accounts made the seed's way (promotion scope only); the starts answered 200 as the
    # simulator always did for it (the guide shows no status code).
    'seed': {'report_shape': 'seed', 'report_body': 'seed', 'report_list': 'seed', 'unlock_answer': 'unlocking-200',
             'stale_lock_reads': 1, 'lock_progress': 'on_read', 'status_type': 'absent', 'error_body': 'seed',
             'account_scopes': 'promotion', 'date_format': 'iso', 'status_running': 'RUNNING', 'versions': 'strict',
             'start_status': 200},
}
# Report entries of the 'new' shape name a realm, always a string (promotionCIMeta.realm is a string, its example
# "/bravo", an AM realm path). AM items are the alpha realm's (their exported files are under am/realms/alpha); IDM
# configuration belongs to no AM realm and is the tenant's root: "/". 'new-null-realm' keeps the simulator's older
# entries: "alpha" for AM, null for IDM.
ENTRY_REALMS = {'am': '/alpha', 'idm': '/'}
OLD_ENTRY_REALMS = {'am': 'alpha', 'idm': None}
# A real promotion as seen in the field: about ten minutes, the restart the longest phase (before the speed factor).
FIELD_PHASES = {'lock': 20.0, 'unlock': 20.0, 'prepare': 60.0, 'promote': 120.0, 'restart': 420.0}
TIMING_PROFILES = ('default', 'field')


def valid_choice(value, choices):
    """``value`` is one of ``choices``, of the same type (True is no stand-in for 1, nor 200.0 for 200)."""
    return any(value == choice and type(value) is type(choice) for choice in choices)


LOCK_DESCRIPTIONS = {'unlocked': 'Environment unlocked', 'locking': 'Environment lock in progress',
                     'locked': 'Environment locked', 'unlocking': 'Environment unlock in progress'}
DEFAULT_LOCK_FAILURE = 'Failed to lock environment'
MSG_READY = 'Environment ready for promotion'
MSG_PREPARE = 'Prepare config'
MSG_PROMOTE = 'Promote configuration'
MSG_UPDATE = 'Update configuration'
MSG_RESTART = 'Waiting for workloads to restart'
MSG_MISSING_ESVS = 'Missing ESVs'
MSG_ENCRYPTED = 'Found encrypted values in the AM/IDM configuration'
MSG_FAILED = 'Failed to promote config'
MSG_BLOCKED = 'Environment is blocked from a previous failed promotion'
MSG_LOCKING_OR_UNLOCKING = 'Environment is currently locking or unlocking'
# The states of a direct-configuration session (API notes 9); changes may be made in SESSION_INITIALISED only.
SESSION_STATES = ('NO_SESSION', 'SESSION_INITIALISE_REQUESTED', 'SESSION_INITIALISING', 'SESSION_INITIALISED',
                  'SESSION_APPLY_REQUESTED', 'SESSION_APPLYING', 'SESSION_APPLIED', 'SESSION_ABORT_REQUESTED',
                  'SESSION_ABORTING', 'SESSION_ABORTED', 'ERROR')
EDITABLE_SESSION_STATE = 'SESSION_INITIALISED'


class ApiError(Exception):
    """A refusal the API reports as a JSON error body; ``reason`` is left out where the seed shows none.

    The body itself is made by ``error_document`` in the tenant's ``error_body`` style (server.py).
    """

    def __init__(self, status, message, reason=None, headers=None, fixed_body=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.headers = headers or {}
        self.fixed_body = fixed_body  # a body that is the same in every error_body style

    def body(self, style='seed'):
        if self.fixed_body is not None:
            return copy.deepcopy(self.fixed_body)
        return error_document(style, self.status, self.message, self.reason)


class ProxyAnswer(Exception):
    """An answer that comes from the gateway in front of the tenant, not from the API: an HTML page, with none of the
    API's headers (server.py writes it as it is)."""

    def __init__(self, status, title):
        super().__init__(title)
        self.status = status
        self.title = title

    def html(self):
        title = '%d %s' % (self.status, self.title)
        return ('<html><head><title>%s</title></head><body><center><h1>%s</h1></center></body></html>\n'
                % (title, title)).encode('ascii')


def error_document(style, status, message, reason=None):
    """An API error body in the tenant's ``error_body`` style.

    'seed': as the seed guide and Common REST show them (promotions-API refusals ``{code, message}``, routing,
    auth and Common REST errors ``{code, reason, message}``: ``reason`` present where it is given);
    'common-rest': always ``{code, reason, message}``; 'promotions': always ``{code, message, status}`` with the
    HTTP reason phrase as ``status``.
    """
    phrase = HTTPStatus(status).phrase
    if style == 'common-rest':
        return {'code': status, 'reason': reason or phrase, 'message': message}
    if style == 'promotions':
        return {'code': status, 'message': message, 'status': phrase}
    body = {'code': status}
    if reason:
        body['reason'] = reason
    body['message'] = message
    return body


def conflict(message):
    return ApiError(409, message)


def restart_blip(kind):
    """A read that fails while the tenant's workloads restart (``restart_blips``; API notes 8, fr-config-manager issue
    269): the API's own 500, a 401 with the OpenAPI's Unauthorized body although the token is valid, or the gateway's
    HTML 404 while the service behind it is away."""
    if kind == 'unauthorized-401':
        return ApiError(401, 'unauthorized', headers={'WWW-Authenticate': 'Bearer'},
                        fixed_body={'code': 401, 'message': 'unauthorized'})
    if kind == 'gateway-404':
        return ProxyAnswer(404, 'Not Found')
    return ApiError(500, '<internal-error-message>')


def iso_time(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def dashed_time(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime('%Y-%m-%dT%H-%M+00Z')


def normalize_esv(name):
    """ESVs are named ``esv-email-from`` and referenced as ``esv.email.from``; reports say ``email.from``."""
    name = str(name).strip()
    for prefix in ('esv.', 'esv-'):
        if name.lower().startswith(prefix):
            name = name[len(prefix):]
    return name.replace('-', '.').lower()


def item_metadata(area, item):
    known = CONFIG_ITEMS.get((area, item))
    if known:
        return known
    slug = ''.join(c if c.isalnum() else '-' for c in item.lower()).strip('-')
    return ('%s/conf/%s-*.json' % (area, slug), '_id', 'multiple')


def entry_uid(area, item, name):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, 'simulator:%s/%s/%s' % (area, item, name)))


def encrypted_path(area, item, name):
    """Where an encrypted value sits, in the seed's ``* am/...json:10`` form."""
    pattern = item_metadata(area, item)[0]
    path = pattern.replace('*', entry_uid(area, item, name)) if '*' in pattern else pattern
    return '* %s:10' % path


def make_entry(area, item, name, value=None, esv_refs=None, encrypted=False):
    if value is None:
        value = {'_id': name, 'revision': 1}
    return {'value': value, 'esv_refs': sorted({normalize_esv(r) for r in esv_refs or ()}),
            'encrypted': bool(encrypted), 'uid': entry_uid(area, item, name)}


def empty_config():
    return {area: {} for area in AREAS}


def config_diff(before, after):
    """What turning ``before`` into ``after`` changes: {area: {item: {added, modified, deleted}}}, empty parts left out."""
    diff = {}
    for area in AREAS:
        old_items, new_items = before.get(area, {}), after.get(area, {})
        for item in sorted(set(old_items) | set(new_items)):
            old, new = old_items.get(item, {}), new_items.get(item, {})
            change = {'added': sorted(set(new) - set(old)), 'deleted': sorted(set(old) - set(new)),
                      'modified': sorted(n for n in set(old) & set(new) if old[n] != new[n])}
            if any(change.values()):
                diff.setdefault(area, {})[item] = change
    return diff


def referenced_esvs(config):
    return {ref for items in config.values() for entries in items.values() for entry in entries.values()
            for ref in entry['esv_refs']}


def encrypted_values(config):
    return sorted(encrypted_path(area, item, name) for area, items in config.items() for item, entries in items.items()
                  for name, entry in entries.items() if entry['encrypted'])


class Timing:
    """Phase durations in seconds before the speed factor; ``seconds(phase)`` is what a run really waits."""

    PHASES = ('lock', 'unlock', 'prepare', 'promote', 'restart')

    def __init__(self, lock=1.0, unlock=1.0, prepare=1.0, promote=2.0, restart=3.0, speed=1.0):
        self.base = {'lock': lock, 'unlock': unlock, 'prepare': prepare, 'promote': promote, 'restart': restart}
        self.startup = dict(self.base)   # the 'default' profile: the phases the simulator was started with
        self.speed = speed

    @staticmethod
    def checked(speed=None, profile=None, **phases):
        """The arguments of ``update`` as (speed, profile, phases), or a ValueError naming the first bad one."""
        for phase, value in phases.items():
            if phase not in Timing.PHASES:
                raise ValueError('unknown phase %r (phases: %s)' % (phase, ', '.join(Timing.PHASES)))
        phases = {phase: max(0.0, float(value)) for phase, value in phases.items() if value is not None}
        if speed is not None:
            speed = float(speed)
            if speed <= 0:
                raise ValueError('speed must be positive')
        if profile is not None and profile not in TIMING_PROFILES:
            raise ValueError('profile must be one of %s' % (TIMING_PROFILES,))
        return speed, profile, phases

    def update(self, speed=None, profile=None, **phases):
        """A profile resets every phase to it ('default': the start-up phases); phases given too apply on top."""
        speed, profile, phases = self.checked(speed, profile, **phases)
        if profile is not None:
            self.base = dict(FIELD_PHASES if profile == 'field' else self.startup)
        self.base.update(phases)
        if speed is not None:
            self.speed = speed

    def seconds(self, phase):
        return self.base[phase] / self.speed

    def as_dict(self):
        return dict(self.base, speed=self.speed)


class PairLock:
    """The promotion lock over a (lower, upper) pair; its state is a function of the clock.

    ``seen`` is the last moment the state was looked at: with the variant ``lock_progress: on_read`` every
    call but a lock-state read sees the state as of that moment (None: not read since it was taken or since
    its unlock began), so a lock moves on only while it is polled. In the clock mode ``advance`` keeps
    ``seen`` at the present, so that switching the variant freezes a lock where it is.
    """

    def __init__(self, lower, upper, locked_at, promotion_id=None, foreign=False, failure=None, stuck=False):
        self.promotion_id = promotion_id or str(uuid.uuid4())
        self.lower = lower
        self.upper = upper
        self.stuck = stuck        # stays 'locking' forever (stick_next_lock), until support removes it
        self.locked_at = float('inf') if stuck else locked_at
        self.unlock_at = None
        self.foreign = foreign
        self.failure = failure    # a description: the lock ends in 'error' instead of 'locked'
        self.seen = None

    def covers(self, env_name):
        return env_name in (self.lower, self.upper)

    def state(self, now, on_read=False):
        if on_read:
            if self.seen is None:
                return 'unlocking' if self.unlock_at is not None else 'locking'
            now = self.seen
        if self.unlock_at is not None:
            return 'unlocking' if now < self.unlock_at else 'gone'
        if now < self.locked_at:
            return 'locking'
        return 'error' if self.failure is not None else 'locked'

    def start_unlock(self, at):
        self.unlock_at = at
        self.seen = None


class Run:
    """One promotion or rollback: its phases, when each ends, and the outcome it reaches at the end."""

    def __init__(self, kind, promotion_id, dry_run, options, phases, outcome, effects):
        self.kind = kind
        self.promotion_id = promotion_id
        self.dry_run = dry_run
        self.options = options
        self.started_wall = time.time()
        self.started = time.monotonic()
        self.phases = []           # (message, ends_at monotonic)
        ends = self.started
        for message, seconds in phases:
            ends += seconds
            self.phases.append((message, ends))
        self.ends_at = ends
        self.outcome = outcome     # {'status', 'message', 'blockingError', 'missingESVs', 'encryptedSecrets'}
        self.effects = effects     # called once, with the scheduled end time, when the run finishes
        self.finished = False
        self.visible = True        # False once a lock or an unlock request has moved past it
        self.blipped = False       # restart_blips: its restart phase has had its failed read
        self.cleared = False       # support cleared it (clear_block): never shown again

    def wall(self, moment):
        return self.started_wall + (moment - self.started)

    def current_phase(self, now):
        """(message, started_at monotonic) of the phase running at ``now``."""
        started = self.started
        for message, ends in self.phases:
            if now < ends:
                return message, started
            started = ends
        return self.phases[-1][0], started


class Environment:
    """One environment of a tenant: its configuration, ESVs, service accounts, reports and promotion status."""

    def __init__(self, tenant, name, lower, upper):
        self.tenant = tenant
        self.name = name
        self.lower = lower
        self.upper = upper
        self.config = empty_config()
        self.esvs = set()
        self.maintenance = False
        self.release = {'currentVersion': '2025.6.1', 'nextUpgrade': None}
        self.session = {'status': 'NO_SESSION', 'editable': False}  # the direct-configuration session (set_session)
        self.service_accounts = {}   # account id -> RSA public key
        self.reports = []
        self.run = None               # the last run into this environment (as the upper of its pair)
        self.blocked = False
        self.backup = None            # the config before the last real promotion, what a rollback restores
        self.fail_next = None         # {'blocking': bool, 'dry_runs': bool}
        self.fail_next_lock = None    # the description the next lock of the pair below ends in error with
        self.stick_next_lock = False  # the next lock of the pair below stays 'locking' forever
        self.status_lag = None        # status_lag: [reads left, the GET /promote body from before the last start]
        self.report_lag = 0           # report_lag: GET /report reads left that still return the report before the last
        self.runs = []                # every run started into this environment, oldest first

    # -- control-surface edits (a developer changing config, an admin adding an ESV, ...)

    def edit_config(self, area, item, op, name, value=None, esv_refs=None, encrypted=False):
        if area not in AREAS:
            raise ValueError('area must be one of %s' % (AREAS,))
        entries = self.config[area].setdefault(item, {})
        if op == 'add':
            entries[name] = make_entry(area, item, name, value, esv_refs, encrypted)
        elif op == 'modify':
            old = entries.get(name) or make_entry(area, item, name)
            if value is None:
                value = copy.deepcopy(old['value'])
                if isinstance(value, dict):
                    value['revision'] = int(value.get('revision', 0)) + 1
                else:
                    value = {'previous': value, 'revision': 2}
            refs = old['esv_refs'] if esv_refs is None else esv_refs
            entries[name] = make_entry(area, item, name, value, refs, encrypted or old['encrypted'])
        elif op == 'delete':
            if name not in entries:
                raise ValueError('%s %r has no entry %r in %s' % (area, item, name, self.name))
            del entries[name]
        else:
            raise ValueError('op must be add, modify or delete')
        if not entries:
            del self.config[area][item]

    def plant_encrypted(self, area, item, name):
        entry = self.config.get(area, {}).get(item, {}).get(name)
        value = copy.deepcopy(entry['value']) if entry else {'_id': name}
        if not isinstance(value, dict):
            value = {'value': value}
        cipher_text = {'cipher': 'AES/CBC/PKCS5Padding', 'data': 'c2ltdWxhdGVk'}
        value['password'] = {'$crypto': {'type': 'x-simple-encryption', 'value': cipher_text}}
        self.edit_config(area, item, 'add', name, value=value, esv_refs=entry['esv_refs'] if entry else None, encrypted=True)


class Tenant:
    """A tenant: its environments in promotion order and the pair locks between them."""

    def __init__(self, name, env_names):
        ordered = [e for e in ENV_ORDER if e in env_names]
        if len(ordered) != len(set(env_names)) or len(ordered) < 2:
            raise ValueError('tenant %s: environments must be at least two of %s' % (name, ENV_ORDER))
        self.name = name
        self.envs = {}
        for index, env_name in enumerate(ordered):
            lower = ordered[index - 1] if index > 0 else None
            upper = ordered[index + 1] if index + 1 < len(ordered) else None
            self.envs[env_name] = Environment(name, env_name, lower, upper)
        self.locks = []
        self.variant = {}
        self.phases = {}              # phase durations set for this tenant alone (set_timing with a tenant)
        self.speed = None             # its own speed factor, if any
        self.stale_lock_bodies = {}   # upper env -> [reads left, body]: the seed's stale read after an unlock

    def env(self, name):
        try:
            return self.envs[name]
        except KeyError:
            raise ApiError(404, 'Tenant %s has no environment %s' % (self.name, name), 'Not Found') from None

    def lock_of_pair(self, upper):
        return next((lock for lock in self.locks if lock.upper == upper), None)

    def holders(self, env_names):
        """Locks that hold any of ``env_names``."""
        return [lock for lock in self.locks if any(lock.covers(n) for n in env_names if n)]


class Simulation:
    """Every tenant the server serves, the knobs of the control surface, and the API operations."""

    def __init__(self, timing=None, token_lifetime=TOKEN_LIFETIME):
        self.tenants = {}
        self.timing = timing or Timing()
        self.token_lifetime = token_lifetime
        self.variant = dict(DEFAULT_VARIANT)
        self.mutex = threading.RLock()

    def add_tenant(self, name, env_names=('dev', 'staging', 'prod')):
        tenant = Tenant(name, env_names)
        self.tenants[name] = tenant
        return tenant

    def tenant(self, name):
        try:
            return self.tenants[name]
        except KeyError:
            raise ApiError(404, 'No tenant %s' % name, 'Not Found') from None

    # -- variants and timing

    def variant_of(self, tenant_name):
        variant = dict(self.variant)
        if tenant_name in self.tenants:
            variant.update(self.tenants[tenant_name].variant)
        return variant

    def set_variant(self, tenant=None, preset=None, **choices):
        """Set variants for one tenant, or the default of all (no tenant); ``preset`` first, ``choices`` on top.

        Everything is checked before anything changes: an unknown key or value is a ValueError.
        """
        if preset is not None:
            if preset not in PRESETS:
                raise ValueError('unknown preset %r (presets: %s)' % (preset, ', '.join(PRESETS)))
            choices = dict(PRESETS[preset], **choices)
        for key, value in choices.items():
            if key not in VARIANT_CHOICES:
                raise ValueError('unknown variant %r (variants: %s)' % (key, ', '.join(sorted(VARIANT_CHOICES))))
            if not valid_choice(value, VARIANT_CHOICES[key]):
                raise ValueError('variant %s must be one of %s, not %r' % (key, VARIANT_CHOICES[key], value))
        target = self.tenant(tenant).variant if tenant else self.variant
        target.update(choices)
        return self.variant_of(tenant) if tenant else dict(self.variant)

    def timing_of(self, tenant):
        """The phases a tenant's runs and locks take: the global ones, or the field profile when its variant
        ``timing`` says so, then the tenant's own phases; its own speed, else the global one."""
        if isinstance(tenant, str):
            tenant = self.tenant(tenant)
        field = self.variant_of(tenant.name)['timing'] == 'field'
        base = dict(FIELD_PHASES if field else self.timing.base)
        base.update(tenant.phases)
        return Timing(speed=tenant.speed or self.timing.speed, **base)

    def set_timing(self, tenant=None, speed=None, profile=None, **phases):
        """Phases and speed for one tenant, or globally (no tenant). A profile resets the phases first
        (globally: the global phases; for a tenant: its variant ``timing`` and its own phases)."""
        speed, profile, phases = Timing.checked(speed, profile, **phases)
        if tenant is None:
            self.timing.update(speed=speed, profile=profile, **phases)
            return self.timing.as_dict()
        state = self.tenant(tenant)
        if profile is not None:
            state.variant['timing'] = profile
            state.phases = {}
        state.phases.update(phases)
        if speed is not None:
            state.speed = speed
        return self.timing_of(state).as_dict()

    def _seconds(self, tenant, phase):
        return self.timing_of(tenant).seconds(phase)

    # -- the clock

    def _on_read(self, tenant):
        return self.variant_of(tenant.name)['lock_progress'] == 'on_read'

    def lock_state_of(self, tenant, lock, now):
        """The state the API shows for ``lock``: the clock's, or the last lock-state read's (on_read)."""
        return lock.state(now, self._on_read(tenant))

    def advance(self, tenant, now=None):
        """Carry out everything the clock says has happened in ``tenant`` since it was last touched.

        Runs always follow the clock. Locks follow it too, unless the tenant's locks move on only when their
        state is read (``lock_progress: on_read``): then only ``lock_state`` moves them on.
        """
        now = time.monotonic() if now is None else now
        for env in tenant.envs.values():
            run = env.run
            if run is not None and not run.finished and now >= run.ends_at:
                run.finished = True
                run.effects(run.ends_at)
        on_read = self._on_read(tenant)
        if not on_read:
            for lock in tenant.locks:
                lock.seen = now
        tenant.locks = [lock for lock in tenant.locks if lock.state(now, on_read) != 'gone']
        return now

    def _observe(self, tenant, env, now):
        """A lock-state read: the locks it shows are looked at now, and move on if their time has come."""
        for lock in tenant.holders([env.lower, env.name]):
            lock.seen = now
        on_read = self._on_read(tenant)
        tenant.locks = [lock for lock in tenant.locks if lock.state(now, on_read) != 'gone']

    # -- helpers shared by the operations

    @staticmethod
    def _upper_env(tenant, env_name):
        env = tenant.env(env_name)
        if env.lower is None:
            raise ApiError(400, '%s is the lowest environment of tenant %s: it receives no promotions. Send promotion '
                                'calls to the upper environment of the pair (%s).' % (env.name, tenant.name, env.upper),
                           'Bad Request')
        return env

    def _maintenance_message(self, tenant_name):
        return 'Environment is locked by %s for maintenance. Retry later.' % self.variant_of(tenant_name)['vendor']

    @staticmethod
    def _description(state, lock=None):
        if state == 'error':
            return lock.failure if lock is not None and lock.failure else DEFAULT_LOCK_FAILURE
        return LOCK_DESCRIPTIONS[state]

    @staticmethod
    def _lock_error(lock):
        return conflict('Environment is in an error state for promotion %s: %s. Raise a support ticket.'
                        % (lock.promotion_id, lock.failure))

    def _env_lock_view(self, tenant, env_name, now):
        holder = next((lock for lock in tenant.locks if lock.covers(env_name)), None)
        if holder is not None:
            view = {'state': self.lock_state_of(tenant, holder, now), 'promotionId': holder.promotion_id}
        elif tenant.envs[env_name].maintenance:
            view = {'state': 'locked'}
        else:
            view = {'state': 'unlocked'}
        if self.variant_of(tenant.name)['proxy_state']:
            # The proxy in front of the environment follows a step behind while the lock is on its way.
            view['proxyState'] = {'locking': 'unlocked', 'unlocking': 'locked'}.get(view['state'], view['state'])
        return view

    def _global_lock(self, tenant, env, now):
        lock = tenant.lock_of_pair(env.name) or next(iter(tenant.holders([env.lower, env.name])), None)
        if lock is not None:
            return self.lock_state_of(tenant, lock, now).upper()
        return 'LOCKED' if env.maintenance or tenant.envs[env.lower].maintenance else 'UNLOCKED'

    def _startable_lock(self, tenant, env, now):
        """The pair's lock, if a promotion or rollback may start under it now; an ApiError otherwise."""
        if env.maintenance or tenant.envs[env.lower].maintenance:
            raise conflict(self._maintenance_message(tenant.name))
        if env.blocked:
            raise conflict(MSG_BLOCKED)
        lock = tenant.lock_of_pair(env.name)
        if lock is None:
            others = tenant.holders([env.lower, env.name])
            if others:
                raise conflict('Environment is already locked for promotion %s' % others[0].promotion_id)
            raise ApiError(409, 'The environments are not locked for promotion. Lock them first '
                                '(POST /environment/promotion/lock) and wait for the state locked.', 'Conflict')
        state = self.lock_state_of(tenant, lock, now)
        if state == 'error':
            raise self._lock_error(lock)
        if state != 'locked':
            raise conflict(MSG_LOCKING_OR_UNLOCKING)
        if env.run is not None and not env.run.finished:
            raise ApiError(409, 'A %s is already running in this environment (promotion %s). Wait for it to finish.'
                           % (env.run.kind, env.run.promotion_id), 'Conflict')
        return lock

    # -- lock

    def lock_state(self, tenant_name, env_name, local_only=False):
        tenant = self.tenant(tenant_name)
        env = self._upper_env(tenant, env_name)
        now = self.advance(tenant)
        self._observe(tenant, env, now)
        stale = tenant.stale_lock_bodies.get(env.name)
        if stale and stale[0] > 0:
            stale[0] -= 1
            return 200, copy.deepcopy(stale[1])
        return 200, self._lock_body(tenant, env, now, local_only)

    def _lock_body(self, tenant, env, now, local_only=False):
        upper_view = self._env_lock_view(tenant, env.name, now)
        lower_view = self._env_lock_view(tenant, env.lower, now)
        shown_lock = tenant.lock_of_pair(env.name)
        if shown_lock is not None:
            result, promotion_id = self.lock_state_of(tenant, shown_lock, now), shown_lock.promotion_id
        else:
            shown = upper_view if local_only or upper_view['state'] != 'unlocked' else lower_view
            result, promotion_id = shown['state'], shown.get('promotionId')
            shown_lock = next((lock for lock in tenant.locks if lock.promotion_id == promotion_id), None)
        body = {'result': result, 'description': self._description(result, shown_lock)}
        if promotion_id is None and result == 'locked':
            body['description'] = 'Environment is locked by %s for maintenance' % self.variant_of(tenant.name)['vendor']
        if promotion_id:
            body['promotionId'] = promotion_id
        if not local_only:
            body['lowerEnv'] = lower_view
        body['upperEnv'] = upper_view
        return body

    def lock(self, tenant_name, env_name):
        tenant = self.tenant(tenant_name)
        env = self._upper_env(tenant, env_name)
        now = self.advance(tenant)
        if env.maintenance or tenant.envs[env.lower].maintenance:
            raise conflict(self._maintenance_message(tenant_name))
        holders = tenant.holders([env.lower, env.name])
        if holders:
            own = tenant.lock_of_pair(env.name)
            raise conflict('Environment is already locked for promotion %s' % (own or holders[0]).promotion_id)
        before = self._lock_body(tenant, env, now)
        lock = PairLock(env.lower, env.name, now + self._seconds(tenant, 'lock'), failure=env.fail_next_lock,
                        stuck=env.stick_next_lock)
        env.fail_next_lock = None
        env.stick_next_lock = False
        tenant.locks.append(lock)
        tenant.stale_lock_bodies.pop(env.name, None)
        lag = self.variant_of(tenant_name)['lock_lag']
        if lag:
            # API notes 8: the lock is taken, but the next reads of the lock state still show the state before it.
            tenant.stale_lock_bodies[env.name] = [lag, before]
        if env.run is not None and env.run.finished:
            env.run.visible = False
        return self.variant_of(tenant_name)['start_status'], {
            'result': 'locking', 'description': LOCK_DESCRIPTIONS['locking'], 'promotionId': lock.promotion_id}

    def unlock(self, tenant_name, env_name, promotion_id):
        tenant = self.tenant(tenant_name)
        env = self._upper_env(tenant, env_name)
        now = self.advance(tenant)
        holders = tenant.holders([env.lower, env.name])
        target = next((lock for lock in holders if lock.promotion_id == promotion_id), None)
        if target is None:
            if holders:
                own = tenant.lock_of_pair(env.name)
                raise conflict('Environment is already locked for promotion %s' % (own or holders[0]).promotion_id)
            return 200, {'result': 'unlocked', 'description': LOCK_DESCRIPTIONS['unlocked']}
        upper = tenant.envs[target.upper]
        if upper.blocked:
            raise conflict(MSG_BLOCKED)
        state = self.lock_state_of(tenant, target, now)
        if state == 'error':
            raise ApiError(500, '<internal-error-message>')
        if state != 'locked':
            raise conflict(MSG_LOCKING_OR_UNLOCKING)
        run = upper.run
        if run is not None and not run.finished and run.promotion_id == target.promotion_id:
            raise ApiError(409, 'A %s is running under promotion %s: the environments can be unlocked once it has '
                                'finished.' % (run.kind, target.promotion_id), 'Conflict')
        if run is not None:
            run.visible = False
        variant = self.variant_of(tenant_name)
        if variant['stale_lock_reads']:
            tenant.stale_lock_bodies[env.name] = [variant['stale_lock_reads'], self._lock_body(tenant, env, now)]
        if variant['unlock_answer'] == 'unlocked':
            tenant.locks.remove(target)
            return 200, {'result': 'unlocked', 'description': LOCK_DESCRIPTIONS['unlocked'],
                         'promotionId': target.promotion_id}
        target.start_unlock(now + self._seconds(tenant, 'unlock'))
        return 202 if variant['unlock_answer'] == 'unlocking-202' else 200, {
            'description': LOCK_DESCRIPTIONS['unlocking'], 'promotionId': target.promotion_id, 'result': 'unlocking'}

    # -- promotion and rollback

    def _shows_final(self, tenant_name, env, run):
        """Whether GET /promote still shows the final status of ``run`` (finished) rather than the lock's."""
        if run.cleared:
            return False
        return run.visible or env.blocked or self.variant_of(tenant_name)['previous_status'] == 'visible'

    def status(self, tenant_name, env_name):
        """GET /promote: the status, unless a lagging read still shows the one from before the last start
        (``status_lag``), or a read in a restart phase fails (``restart_blips``)."""
        tenant = self.tenant(tenant_name)
        env = self._upper_env(tenant, env_name)
        now = self.advance(tenant)
        if env.status_lag and env.status_lag[0] > 0:
            env.status_lag[0] -= 1
            return 200, copy.deepcopy(env.status_lag[1])
        blips = self.variant_of(tenant_name)['restart_blips']
        run = env.run
        if blips != 'off' and run is not None and not run.finished and not run.blipped \
                and run.current_phase(now)[0] == MSG_RESTART:
            run.blipped = True
            raise restart_blip(blips)
        return self._status_body(tenant_name, env_name)

    def _status_body(self, tenant_name, env_name):
        """The status as it is (what env_state shows): no lag, no blip."""
        tenant = self.tenant(tenant_name)
        env = self._upper_env(tenant, env_name)
        now = self.advance(tenant)
        variant = self.variant_of(tenant_name)
        run = env.run
        lock = tenant.lock_of_pair(env.name)
        shows_final = run is not None and run.finished and self._shows_final(tenant_name, env, run)
        body = {}
        if run is not None and not run.finished:
            message, started = run.current_phase(now)
            body = {'status': variant['status_running'], 'message': message, 'blockingError': False,
                    'promotionId': run.promotion_id, 'timeStamp': iso_time(run.wall(started))}
        elif shows_final:
            outcome = run.outcome
            body = {'status': outcome['status'], 'message': outcome['message'], 'blockingError': outcome['blockingError'],
                    'promotionId': run.promotion_id, 'timeStamp': iso_time(run.wall(run.ends_at))}
            for key in ('missingESVs', 'encryptedSecrets'):
                if outcome.get(key):
                    body[key] = list(outcome[key])
        elif lock is not None and self.lock_state_of(tenant, lock, now) == 'locked':
            body = {'status': 'READY', 'message': MSG_READY, 'blockingError': False, 'promotionId': lock.promotion_id}
        elif lock is not None:
            body = {'status': 'UNLOCKED', 'message': self._description(self.lock_state_of(tenant, lock, now), lock),
                    'blockingError': False, 'promotionId': lock.promotion_id}
        else:
            body = {'status': 'UNLOCKED', 'message': LOCK_DESCRIPTIONS['unlocked'], 'blockingError': False}
        body['globalLock'] = self._global_lock(tenant, env, now)
        body.setdefault('timeStamp', iso_time(time.time()))
        if variant['status_type'] == 'present':
            body['type'] = run.kind if run is not None and (shows_final or not run.finished) else 'promotion'
        return 200, body

    def _start(self, env, run):
        lag = self.variant_of(env.tenant)['status_lag']
        # API notes 8: the next reads of GET /promote may still show the status from before the start.
        env.status_lag = [lag, self._status_body(env.tenant, env.name)[1]] if lag else None
        env.run = run
        env.runs.append(run)

    def promote(self, tenant_name, env_name, request):
        if not isinstance(request, dict) or not isinstance(request.get('dryRun'), bool):
            raise ApiError(400, 'The request body must be a JSON object with a boolean dryRun', 'Bad Request')
        for flag in ('ignoreEncryptedSecrets', 'unlockEnvironmentsAfterPromotion'):
            if flag in request and not isinstance(request[flag], bool):
                raise ApiError(400, '%s must be a boolean' % flag, 'Bad Request')
        tenant = self.tenant(tenant_name)
        env = self._upper_env(tenant, env_name)
        now = self.advance(tenant)
        lock = self._startable_lock(tenant, env, now)
        lower = tenant.envs[env.lower]
        dry_run = request['dryRun']
        incoming = copy.deepcopy(lower.config)
        diff = config_diff(env.config, incoming)
        missing = sorted(referenced_esvs(incoming) - env.esvs)
        encrypted = encrypted_values(incoming)
        ignored = encrypted if request.get('ignoreEncryptedSecrets') else []
        if ignored:
            encrypted = []
        failure = env.fail_next if env.fail_next and (not dry_run or env.fail_next['dry_runs']) else None
        if failure:
            env.fail_next = None
        timing = self.timing_of(tenant)
        prepare = (MSG_PREPARE, timing.seconds('prepare'))
        promote = (MSG_PROMOTE, timing.seconds('promote'))
        report_args = {'kind': 'promotion', 'lock': lock, 'dry_run': dry_run, 'request': request,
                       'missing': missing, 'ignored': ignored}
        if missing or encrypted:
            outcome = {'status': 'ERROR', 'message': MSG_MISSING_ESVS if missing else MSG_ENCRYPTED, 'blockingError': False,
                       'missingESVs': missing, 'encryptedSecrets': encrypted}
            phases = [prepare]

            def effects(ended):
                self._add_report(env, ended, diff if dry_run else {}, **report_args)
        elif failure:
            outcome = {'status': 'ERROR', 'message': MSG_FAILED, 'blockingError': failure['blocking']}
            phases = [prepare, promote]

            def effects(ended):  # pylint: disable=unused-argument
                env.blocked = env.blocked or failure['blocking']
        else:
            # dry_run_wording 'no-change': a dry run's end is worded "(no change)" whatever it found (API notes 8).
            no_change = not diff or (dry_run and self.variant_of(tenant_name)['dry_run_wording'] == 'no-change')
            message = 'Promotion completed (no change)' if no_change else 'Promotion completed'
            outcome = {'status': 'READY', 'message': message, 'blockingError': False}
            phases = [prepare, promote] + ([] if dry_run else [(MSG_RESTART, timing.seconds('restart'))])

            def effects(ended):
                if not dry_run:
                    env.backup = env.config
                    env.config = incoming
                    if lower.release['currentVersion'] != env.release['currentVersion']:
                        env.release = {'currentVersion': lower.release['currentVersion'], 'nextUpgrade': None}
                self._add_report(env, ended, diff, **report_args)
                self._unlock_after(tenant, lock, request, ended)
        self._start(env, Run('promotion', lock.promotion_id, dry_run, request, phases, outcome, effects))
        return self.variant_of(tenant_name)['start_status'], {'result': 'Promotion process initiated successfully'}

    def rollback(self, tenant_name, env_name, request):
        if request is None:
            request = {}
        if not isinstance(request, dict):
            raise ApiError(400, 'The request body must be a JSON object', 'Bad Request')
        tenant = self.tenant(tenant_name)
        env = self._upper_env(tenant, env_name)
        now = self.advance(tenant)
        lock = self._startable_lock(tenant, env, now)
        if env.backup is None:
            raise ApiError(409, 'There is no promotion to roll back in this environment', 'Conflict')
        restored = env.backup
        diff = config_diff(env.config, restored)
        timing = self.timing_of(tenant)
        phases = [(MSG_PREPARE, timing.seconds('prepare')), (MSG_UPDATE, timing.seconds('promote')),
                  (MSG_RESTART, timing.seconds('restart'))]
        outcome = {'status': 'READY', 'message': 'Rollback completed' if diff else 'Rollback completed (no change)',
                   'blockingError': False}

        def effects(ended):
            env.config = restored
            env.backup = None
            self._add_report(env, ended, diff, kind='rollback', lock=lock, dry_run=False, request=request,
                             missing=[], ignored=[])
            self._unlock_after(tenant, lock, request, ended)
        self._start(env, Run('rollback', lock.promotion_id, False, request, phases, outcome, effects))
        return self.variant_of(tenant_name)['start_status'], {'result': 'Rollback process initiated successfully'}

    def _unlock_after(self, tenant, lock, request, ended):
        if request.get('unlockEnvironmentsAfterPromotion'):
            lock.start_unlock(ended + self._seconds(tenant, 'unlock'))

    def _add_report(self, env, ended, diff, kind, lock, dry_run, request, missing, ignored):
        # report_lag: GET /report keeps returning the report before this one for that many reads (API notes 8).
        env.report_lag = self.variant_of(env.tenant)['report_lag']
        run = env.run
        created = run.wall(ended) if run is not None else time.time()
        env.reports.append({
            'reportId': str(uuid.uuid4()), 'promotionId': lock.promotion_id, 'created': created, 'dryRun': dry_run,
            'type': kind, 'promoter': request.get('promoter'), 'promotionDescription': request.get('promotionDescription'),
            'zendeskTicketReference': request.get('zendeskTicketReference'), 'missingESVs': list(missing),
            'previouslyIgnoredEncryptedSecrets': list(ignored), 'diff': diff})

    # -- reports

    def _format_date(self, tenant_name, epoch):
        return dashed_time(epoch) if self.variant_of(tenant_name)['date_format'] == 'dashed' else iso_time(epoch)

    def _render_changes(self, tenant_name, diff):
        shape = self.variant_of(tenant_name)['report_shape']
        rendered = {}
        for area in AREAS:
            entries = []
            for item, change in sorted(diff.get(area, {}).items()):
                if shape in ('new', 'new-null-realm'):
                    realm = ENTRY_REALMS[area] if shape == 'new' else OLD_ENTRY_REALMS[area]
                    entries.append({'configItem': item, 'configChange': {
                        kind: [{'name': n, 'realm': realm, 'uid': entry_uid(area, item, n)} for n in change[kind]]
                        for kind in ('added', 'modified', 'deleted')}})
                else:
                    pattern, file_name, item_type = item_metadata(area, item)
                    entries.append({'configChange': {kind: list(names) for kind, names in change.items() if names},
                                    'configItem': item, 'fileDestinationPattern': pattern, 'fileName': file_name,
                                    'type': item_type})
            if entries or shape != 'seed':
                rendered[REPORT_AREA_KEYS[area]] = entries
        return rendered

    def _render_report(self, tenant_name, report):
        name = 'Report_%s_dryrun=%s_%s' % (dashed_time(report['created']), str(report['dryRun']).lower(),
                                           report['promotionId'])
        if self.variant_of(tenant_name)['report_body'] == 'seed':
            # The seed's report: these five keys and nothing else; a dry run shows only in reportName.
            return {'createdDate': self._format_date(tenant_name, report['created']), 'promotionId': report['promotionId'],
                    'report': self._render_changes(tenant_name, report['diff']), 'reportId': report['reportId'],
                    'reportName': name}
        body = {'reportId': report['reportId'], 'promotionId': report['promotionId'], 'reportName': name,
                'createdDate': self._format_date(tenant_name, report['created']), 'dryRun': report['dryRun'],
                'type': report['type']}
        for key in ('promoter', 'promotionDescription', 'zendeskTicketReference'):
            if report.get(key):
                body[key] = report[key]
        body['missingESVs'] = list(report['missingESVs'])
        body['previouslyIgnoredEncryptedSecrets'] = list(report['previouslyIgnoredEncryptedSecrets'])
        body['report'] = self._render_changes(tenant_name, report['diff'])
        return body

    def last_report(self, tenant_name, env_name):
        tenant = self.tenant(tenant_name)
        env = self._upper_env(tenant, env_name)
        self.advance(tenant)
        reports = env.reports
        if env.report_lag > 0:
            env.report_lag -= 1
            reports = reports[:-1]
        if not reports:
            raise ApiError(404, 'No promotion report found for this environment', 'Not Found')
        return 200, self._render_report(tenant_name, reports[-1])

    def report(self, tenant_name, env_name, report_id):
        tenant = self.tenant(tenant_name)
        env = self._upper_env(tenant, env_name)
        self.advance(tenant)
        for report in env.reports:
            if report['reportId'] == report_id:
                return 200, self._render_report(tenant_name, report)
        raise ApiError(404, 'Report %s not found' % report_id, 'Not Found')

    def reports(self, tenant_name, env_name):
        tenant = self.tenant(tenant_name)
        env = self._upper_env(tenant, env_name)
        self.advance(tenant)
        if self.variant_of(tenant_name)['report_list'] == 'seed':
            # The seed's list: no type, and not in date order. Sorted by reportId; should that happen to be the
            # date order, newest first instead.
            listed = sorted(env.reports, key=lambda r: r['reportId'])
            created = [r['created'] for r in listed]
            if len(listed) > 1 and created == sorted(created):
                listed.reverse()
            return 200, [{'createdDate': self._format_date(tenant_name, r['created']), 'dryRun': r['dryRun'],
                          'promotionId': r['promotionId'], 'reportId': r['reportId']} for r in listed]
        return 200, [{'reportId': r['reportId'], 'promotionId': r['promotionId'],
                      'createdDate': self._format_date(tenant_name, r['created']), 'dryRun': r['dryRun'], 'type': r['type']}
                     for r in env.reports]

    def provisional_report(self, tenant_name, env_name):
        """Served by the LOWER environment: what promoting it into its upper would change now."""
        tenant = self.tenant(tenant_name)
        env = tenant.env(env_name)
        now = self.advance(tenant)
        if env.upper is None:
            raise ApiError(400, '%s is the highest environment of tenant %s: it is promoted into nothing, so it has no '
                                'provisional report. Ask its lower environment (%s).' % (env.name, tenant.name, env.lower),
                           'Bad Request')
        upper = tenant.envs[env.upper]
        body = {'createdDate': self._format_date(tenant_name, time.time()), 'dryRun': True, 'type': 'provisional',
                'missingESVs': sorted(referenced_esvs(env.config) - upper.esvs),
                'report': self._render_changes(tenant_name, config_diff(upper.config, env.config))}
        lock = tenant.lock_of_pair(upper.name)
        if lock is not None and self.lock_state_of(tenant, lock, now) != 'gone':
            body['promotionId'] = lock.promotion_id
        return 200, body

    def provisional_rollback_report(self, tenant_name, env_name):
        tenant = self.tenant(tenant_name)
        env = self._upper_env(tenant, env_name)
        self.advance(tenant)
        diff = config_diff(env.config, env.backup) if env.backup is not None else {}
        return 200, {'createdDate': self._format_date(tenant_name, time.time()), 'dryRun': True,
                     'type': 'provisional-rollback', 'report': self._render_changes(tenant_name, diff)}

    def release(self, tenant_name, env_name):
        env = self.tenant(tenant_name).env(env_name)
        return 200, dict(env.release)

    def session_state(self, tenant_name, env_name):
        env = self.tenant(tenant_name).env(env_name)
        return 200, dict(env.session)

    # -- control surface

    def foreign_lock(self, tenant_name, upper_env):
        tenant = self.tenant(tenant_name)
        env = self._upper_env(tenant, upper_env)
        now = self.advance(tenant)
        if tenant.holders([env.lower, env.name]):
            raise conflict('Environment is already locked for promotion %s' % tenant.holders([env.lower, env.name])[0].promotion_id)
        lock = PairLock(env.lower, env.name, now, foreign=True)
        lock.seen = now  # already locked, read or not
        tenant.locks.append(lock)
        return lock.promotion_id

    def fail_next_lock(self, tenant_name, upper_env, description=DEFAULT_LOCK_FAILURE):
        """The next lock of the pair below ``upper_env`` starts as usual but ends in 'error', not 'locked'."""
        tenant = self.tenant(tenant_name)
        env = self._upper_env(tenant, upper_env)
        self.advance(tenant)
        if not isinstance(description, str) or not description:
            raise ValueError('description must be a non-empty string')
        env.fail_next_lock = description

    def set_session(self, tenant_name, env_name, status, editable=None):
        """The direct-configuration session of an environment is now in ``status``; ``editable`` defaults to whether
        the state allows changes (SESSION_INITIALISED only). Nothing moves it on by itself."""
        env = self.tenant(tenant_name).env(env_name)
        if status not in SESSION_STATES:
            raise ValueError('unknown session status %r (states: %s)' % (status, ', '.join(SESSION_STATES)))
        if editable is None:
            editable = status == EDITABLE_SESSION_STATE
        if not isinstance(editable, bool):
            raise ValueError('editable must be true or false, not %r' % (editable,))
        env.session = {'status': status, 'editable': editable}
        return dict(env.session)

    def stick_next_lock(self, tenant_name, upper_env):
        """The next lock of the pair below ``upper_env`` starts as usual but stays 'locking' forever."""
        tenant = self.tenant(tenant_name)
        env = self._upper_env(tenant, upper_env)
        self.advance(tenant)
        env.stick_next_lock = True

    def clear_block(self, tenant_name, upper_env):
        """What support does after a blocking failure, a failed lock or a stuck one: the environment may be promoted
        into, or unlocked, again; a lock of the pair that failed or is stuck is removed."""
        tenant = self.tenant(tenant_name)
        env = self._upper_env(tenant, upper_env)
        self.advance(tenant)
        env.blocked = False
        if env.run is not None and env.run.finished:
            env.run.visible = False
            env.run.cleared = True
        tenant.locks = [lock for lock in tenant.locks
                        if not (lock.upper == env.name and (lock.failure is not None or lock.stuck))]

    @staticmethod
    def _run_record(run, now):
        if run.finished:
            status, message = run.outcome['status'], run.outcome['message']
        else:
            status, message = 'RUNNING', run.current_phase(now)[0]
        return {'kind': run.kind, 'dry_run': run.dry_run, 'promotion_id': run.promotion_id, 'status': status,
                'message': message}

    def env_state(self, tenant_name, env_name):
        """Everything a test may assert on; reads the lock states without moving them on (on_read)."""
        tenant = self.tenant(tenant_name)
        env = tenant.env(env_name)
        now = self.advance(tenant)
        holder = next((lock for lock in tenant.locks if lock.covers(env.name)), None)
        state = {'tenant': tenant.name, 'env': env.name, 'lower': env.lower, 'upper': env.upper,
                 'config': copy.deepcopy(env.config), 'esvs': sorted(env.esvs), 'maintenance': env.maintenance,
                 'lock': None, 'blocked': env.blocked, 'release': dict(env.release), 'session': dict(env.session),
                 'reports': len(env.reports), 'can_roll_back': env.backup is not None, 'status': None,
                 'runs': [self._run_record(run, now) for run in env.runs],
                 'variant': self.variant_of(tenant.name), 'timing': self.timing_of(tenant).as_dict()}
        if holder is not None:
            state['lock'] = {'promotionId': holder.promotion_id, 'state': self.lock_state_of(tenant, holder, now),
                             'clock_state': holder.state(now), 'lower': holder.lower, 'upper': holder.upper,
                             'foreign': holder.foreign, 'failure': holder.failure, 'stuck': holder.stuck}
        if env.lower is not None:
            state['status'] = self._status_body(tenant_name, env_name)[1]
        return state
