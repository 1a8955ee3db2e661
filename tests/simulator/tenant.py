"""Tenant state and the promotion state machines, free of any HTTP concern.

Every state machine advances lazily: a lock, an unlock or a promotion run records when each of its
phases ends, and whoever touches the tenant next (a read of the lock state, of the status, a control
call) calls ``advance`` first, which carries out whatever the clock says has happened since. That is
how a real tenant looks from outside: nothing changes between two reads except through time.
"""

from __future__ import annotations

import copy
import datetime
import threading
import time
import uuid

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

DEFAULT_VARIANT = {
    'report_shape': 'seed',        # 'seed': names and file metadata; 'new': {name, realm, uid} objects
    'status_running': 'RUNNING',   # older tenants say IN_PROGRESS
    'date_format': 'iso',          # 'iso' 2022-04-19T17:32:05Z or 'dashed' 2022-04-19T17-32+00Z (report dates)
    'versions': 'strict',          # 'lax' accepts a request without Accept-API-Version
    'unlock_status': 200,          # 200: unlocked at once; 202: unlocking for a while
    'start_status': 200,           # HTTP status of an accepted POST /lock, /promote, /rollback
    'vendor': 'ForgeRock',         # who puts on the maintenance lock ('Ping Identity' on newer tenants)
    'stale_lock_reads': 0,         # lock-state reads that still show the old 'locked' body after an unlock request
}
VARIANT_CHOICES = {
    'report_shape': ('seed', 'new'), 'status_running': ('RUNNING', 'IN_PROGRESS'), 'date_format': ('iso', 'dashed'),
    'versions': ('strict', 'lax'), 'unlock_status': (200, 202), 'start_status': (200, 202),
    'vendor': ('ForgeRock', 'Ping Identity'), 'stale_lock_reads': (0, 1, 2, 3),
}

LOCK_DESCRIPTIONS = {'unlocked': 'Environment unlocked', 'locking': 'Environment lock in progress',
                     'locked': 'Environment locked', 'unlocking': 'Environment unlock in progress'}
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


class ApiError(Exception):
    """A refusal the API reports as a JSON error body; ``reason`` is left out where the seed shows none."""

    def __init__(self, status, message, reason=None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.headers = headers or {}

    def body(self):
        body = {'code': self.status}
        if self.reason:
            body['reason'] = self.reason
        body['message'] = self.message
        return body


def conflict(message):
    return ApiError(409, message)


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
        self.speed = speed

    def update(self, speed=None, **phases):
        for phase, value in phases.items():
            if value is not None:
                if phase not in self.base:
                    raise ValueError('unknown phase %r' % phase)
                self.base[phase] = max(0.0, float(value))
        if speed is not None:
            if float(speed) <= 0:
                raise ValueError('speed must be positive')
            self.speed = float(speed)

    def seconds(self, phase):
        return self.base[phase] / self.speed

    def as_dict(self):
        return dict(self.base, speed=self.speed)


class PairLock:
    """The promotion lock over a (lower, upper) pair; its state is a function of the clock."""

    def __init__(self, lower, upper, locked_at, promotion_id=None, foreign=False):
        self.promotion_id = promotion_id or str(uuid.uuid4())
        self.lower = lower
        self.upper = upper
        self.locked_at = locked_at
        self.unlock_at = None
        self.foreign = foreign

    def covers(self, env_name):
        return env_name in (self.lower, self.upper)

    def state(self, now):
        if self.unlock_at is not None:
            return 'unlocking' if now < self.unlock_at else 'gone'
        return 'locking' if now < self.locked_at else 'locked'


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
        self.visible = True

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
        self.service_accounts = {}   # account id -> RSA public key
        self.reports = []
        self.run = None               # the last run into this environment (as the upper of its pair)
        self.blocked = False
        self.backup = None            # the config before the last real promotion, what a rollback restores
        self.fail_next = None         # {'blocking': bool, 'dry_runs': bool}

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

    def variant_of(self, tenant_name):
        variant = dict(self.variant)
        if tenant_name in self.tenants:
            variant.update(self.tenants[tenant_name].variant)
        return variant

    def set_variant(self, tenant=None, **choices):
        for key, value in choices.items():
            if key not in VARIANT_CHOICES:
                raise ValueError('unknown variant %r' % key)
            if value not in VARIANT_CHOICES[key]:
                raise ValueError('variant %s must be one of %s' % (key, VARIANT_CHOICES[key]))
        target = self.tenant(tenant).variant if tenant else self.variant
        target.update(choices)
        return self.variant_of(tenant) if tenant else dict(self.variant)

    # -- the clock

    def advance(self, tenant, now=None):
        """Carry out everything the clock says has happened in ``tenant`` since it was last touched."""
        now = time.monotonic() if now is None else now
        for env in tenant.envs.values():
            run = env.run
            if run is not None and not run.finished and now >= run.ends_at:
                run.finished = True
                run.effects(run.ends_at)
        tenant.locks = [lock for lock in tenant.locks if lock.state(now) != 'gone']
        return now

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

    def _env_lock_view(self, tenant, env_name, now):
        holder = next((lock for lock in tenant.locks if lock.covers(env_name)), None)
        if holder is not None:
            return {'state': holder.state(now), 'promotionId': holder.promotion_id}
        if tenant.envs[env_name].maintenance:
            return {'state': 'locked'}
        return {'state': 'unlocked'}

    def _global_lock(self, tenant, env, now):
        lock = tenant.lock_of_pair(env.name) or next(iter(tenant.holders([env.lower, env.name])), None)
        if lock is not None:
            return lock.state(now).upper()
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
        if lock.state(now) != 'locked':
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
        stale = tenant.stale_lock_bodies.get(env.name)
        if stale and stale[0] > 0:
            stale[0] -= 1
            return 200, copy.deepcopy(stale[1])
        upper_view = self._env_lock_view(tenant, env.name, now)
        lower_view = self._env_lock_view(tenant, env.lower, now)
        own = tenant.lock_of_pair(env.name)
        if own is not None:
            result, promotion_id = own.state(now), own.promotion_id
        else:
            shown = upper_view if local_only or upper_view['state'] != 'unlocked' else lower_view
            result, promotion_id = shown['state'], shown.get('promotionId')
        body = {'result': result, 'description': LOCK_DESCRIPTIONS[result]}
        if promotion_id is None and result == 'locked':
            body['description'] = 'Environment is locked by %s for maintenance' % self.variant_of(tenant_name)['vendor']
        if promotion_id:
            body['promotionId'] = promotion_id
        if not local_only:
            body['lowerEnv'] = lower_view
        body['upperEnv'] = upper_view
        return 200, body

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
        lock = PairLock(env.lower, env.name, now + self.timing.seconds('lock'))
        tenant.locks.append(lock)
        tenant.stale_lock_bodies.pop(env.name, None)
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
        if target.state(now) != 'locked':
            raise conflict(MSG_LOCKING_OR_UNLOCKING)
        run = upper.run
        if run is not None and not run.finished and run.promotion_id == target.promotion_id:
            raise ApiError(409, 'A %s is running under promotion %s: the environments can be unlocked once it has '
                                'finished.' % (run.kind, target.promotion_id), 'Conflict')
        if run is not None:
            run.visible = False
        stale_reads = self.variant_of(tenant_name)['stale_lock_reads']
        if stale_reads:
            tenant.stale_lock_bodies[env.name] = [stale_reads, self.lock_state(tenant_name, env_name)[1]]
        if self.variant_of(tenant_name)['unlock_status'] == 202:
            target.unlock_at = now + self.timing.seconds('unlock')
            if target.unlock_at > now:
                return 202, {'result': 'unlocking', 'description': LOCK_DESCRIPTIONS['unlocking'],
                             'promotionId': target.promotion_id}
        tenant.locks.remove(target)
        return 200, {'result': 'unlocked', 'description': LOCK_DESCRIPTIONS['unlocked'], 'promotionId': target.promotion_id}

    # -- promotion and rollback

    def status(self, tenant_name, env_name):
        tenant = self.tenant(tenant_name)
        env = self._upper_env(tenant, env_name)
        now = self.advance(tenant)
        run = env.run
        lock = tenant.lock_of_pair(env.name)
        body = {}
        if run is not None and not run.finished:
            message, started = run.current_phase(now)
            body = {'status': self.variant_of(tenant_name)['status_running'], 'message': message, 'blockingError': False,
                    'promotionId': run.promotion_id, 'timeStamp': iso_time(run.wall(started))}
        elif run is not None and (run.visible or env.blocked):
            outcome = run.outcome
            body = {'status': outcome['status'], 'message': outcome['message'], 'blockingError': outcome['blockingError'],
                    'promotionId': run.promotion_id, 'timeStamp': iso_time(run.wall(run.ends_at))}
            for key in ('missingESVs', 'encryptedSecrets'):
                if outcome.get(key):
                    body[key] = list(outcome[key])
        elif lock is not None and lock.state(now) == 'locked':
            body = {'status': 'READY', 'message': MSG_READY, 'blockingError': False, 'promotionId': lock.promotion_id}
        elif lock is not None:
            body = {'status': 'UNLOCKED', 'message': LOCK_DESCRIPTIONS[lock.state(now)], 'blockingError': False,
                    'promotionId': lock.promotion_id}
        else:
            body = {'status': 'UNLOCKED', 'message': LOCK_DESCRIPTIONS['unlocked'], 'blockingError': False}
        body['globalLock'] = self._global_lock(tenant, env, now)
        body.setdefault('timeStamp', iso_time(time.time()))
        body['type'] = run.kind if run is not None and (run.visible or not run.finished or env.blocked) else 'promotion'
        return 200, body

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
        timing = self.timing
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
            message = 'Promotion completed' if diff else 'Promotion completed (no change)'
            outcome = {'status': 'READY', 'message': message, 'blockingError': False}
            phases = [prepare, promote] + ([] if dry_run else [(MSG_RESTART, timing.seconds('restart'))])

            def effects(ended):
                if not dry_run:
                    env.backup = env.config
                    env.config = incoming
                    if lower.release['currentVersion'] != env.release['currentVersion']:
                        env.release = {'currentVersion': lower.release['currentVersion'], 'nextUpgrade': None}
                self._add_report(env, ended, diff, **report_args)
                self._unlock_after(lock, request, ended)
        env.run = Run('promotion', lock.promotion_id, dry_run, request, phases, outcome, effects)
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
        timing = self.timing
        phases = [(MSG_PREPARE, timing.seconds('prepare')), (MSG_UPDATE, timing.seconds('promote')),
                  (MSG_RESTART, timing.seconds('restart'))]
        outcome = {'status': 'READY', 'message': 'Rollback completed' if diff else 'Rollback completed (no change)',
                   'blockingError': False}

        def effects(ended):
            env.config = restored
            env.backup = None
            self._add_report(env, ended, diff, kind='rollback', lock=lock, dry_run=False, request=request,
                             missing=[], ignored=[])
            self._unlock_after(lock, request, ended)
        env.run = Run('rollback', lock.promotion_id, False, request, phases, outcome, effects)
        return self.variant_of(tenant_name)['start_status'], {'result': 'Rollback process initiated successfully'}

    def _unlock_after(self, lock, request, ended):
        if request.get('unlockEnvironmentsAfterPromotion'):
            lock.unlock_at = ended + self.timing.seconds('unlock')

    @staticmethod
    def _add_report(env, ended, diff, kind, lock, dry_run, request, missing, ignored):
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
                if shape == 'new':
                    realm = 'alpha' if area == 'am' else None
                    entries.append({'configItem': item, 'configChange': {
                        kind: [{'name': n, 'realm': realm, 'uid': entry_uid(area, item, n)} for n in change[kind]]
                        for kind in ('added', 'modified', 'deleted')}})
                else:
                    pattern, file_name, item_type = item_metadata(area, item)
                    entries.append({'configChange': {kind: list(names) for kind, names in change.items() if names},
                                    'configItem': item, 'fileDestinationPattern': pattern, 'fileName': file_name,
                                    'type': item_type})
            if entries or shape == 'new':
                rendered[REPORT_AREA_KEYS[area]] = entries
        return rendered

    def _render_report(self, tenant_name, report):
        body = {'reportId': report['reportId'], 'promotionId': report['promotionId'],
                'reportName': 'Report_%s_dryrun=%s_%s' % (dashed_time(report['created']), str(report['dryRun']).lower(),
                                                          report['promotionId']),
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
        if not env.reports:
            raise ApiError(404, 'No promotion report found for this environment', 'Not Found')
        return 200, self._render_report(tenant_name, env.reports[-1])

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
        if lock is not None and lock.state(now) != 'gone':
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

    # -- control surface

    def foreign_lock(self, tenant_name, upper_env):
        tenant = self.tenant(tenant_name)
        env = self._upper_env(tenant, upper_env)
        now = self.advance(tenant)
        if tenant.holders([env.lower, env.name]):
            raise conflict('Environment is already locked for promotion %s' % tenant.holders([env.lower, env.name])[0].promotion_id)
        lock = PairLock(env.lower, env.name, now, foreign=True)
        tenant.locks.append(lock)
        return lock.promotion_id

    def clear_block(self, tenant_name, upper_env):
        """What support does after a blocking failure: the environment may be promoted into, or unlocked, again."""
        tenant = self.tenant(tenant_name)
        env = self._upper_env(tenant, upper_env)
        self.advance(tenant)
        env.blocked = False
        if env.run is not None and env.run.finished:
            env.run.visible = False

    def env_state(self, tenant_name, env_name):
        tenant = self.tenant(tenant_name)
        env = tenant.env(env_name)
        now = self.advance(tenant)
        holder = next((lock for lock in tenant.locks if lock.covers(env.name)), None)
        state = {'tenant': tenant.name, 'env': env.name, 'lower': env.lower, 'upper': env.upper,
                 'config': copy.deepcopy(env.config), 'esvs': sorted(env.esvs), 'maintenance': env.maintenance,
                 'lock': None, 'blocked': env.blocked, 'release': dict(env.release), 'reports': len(env.reports),
                 'can_roll_back': env.backup is not None, 'status': None}
        if holder is not None:
            state['lock'] = {'promotionId': holder.promotion_id, 'state': holder.state(now), 'lower': holder.lower,
                             'upper': holder.upper, 'foreign': holder.foreign}
        if env.lower is not None:
            state['status'] = self.status(tenant_name, env_name)[1]
        return state
