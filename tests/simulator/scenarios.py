"""Built-in scenarios and the loader of scenario files.

A scenario is a JSON document::

    {"tenants": {"acme": {"environments": ["dev", "staging", "prod"],   # optional; add "uat" for the add-on
                          "baseline": true,                             # optional; start from the shared baseline
                          "inventory_hosts": ["staging", "prod"],       # optional; upper envs put in --inventory
                          "edits": [{"action": "edit_config", "env": "dev", "area": "idm",
                                     "item": "Email > Templates", "op": "add", "name": "Forgotten Username",
                                     "esv_refs": ["esv.email.from"]},
                                    {"action": "add_esv", "env": "dev", "name": "esv.email.from"}],
                          "variant": {"preset": "seed"},                # optional, this tenant's variants
                          "timing": {"profile": "field", "speed": 100}}},  # optional, this tenant's timing
     "variant": {"report_shape": "new"},                                # optional, as set_variant (all tenants)
     "timing": {"restart": 5}}                                          # optional, as set_timing (global)

Each edit names a control operation (``action``) and its arguments; ``env`` stands for the environment
argument (``upper_env`` for the operations that take one). The tenant is implied.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

TENANT_NAME = re.compile(r'^[a-z0-9][a-z0-9-]{0,62}$')
TENANT_ACTIONS = ('edit_config', 'add_esv', 'remove_esv', 'plant_encrypted', 'maintenance_lock', 'foreign_lock',
                  'fail_next_promotion', 'fail_next_lock', 'stick_next_lock', 'set_release', 'set_session', 'set_variant',
                  'set_timing')
UPPER_ENV_ACTIONS = ('foreign_lock', 'fail_next_promotion', 'fail_next_lock', 'stick_next_lock')
TENANT_KEYS = ('environments', 'baseline', 'inventory_hosts', 'edits', 'variant', 'timing')

# The configuration every tenant starts from, identical in every environment: (area, item, name, esv_refs).
BASELINE_CONFIG = (
    ('am', 'Journeys', 'Login', ()),
    ('am', 'Journeys', 'Registration', ()),
    ('am', 'Journeys', 'ResetPassword', ()),
    ('am', 'OAuth2 Clients', 'end-user-ui', ('esv.oauth.enduser.secret',)),
    ('am', 'Persistent Cookie', 'default', ()),
    ('idm', 'Email > Templates', 'Welcome', ('esv.smtp.sender',)),
    ('idm', 'Email > Templates', 'Reset Password', ('esv.smtp.sender',)),
    ('idm', 'Managed Objects', 'alpha_user', ()),
    ('idm', 'Access Configuration', 'openidm-admin', ()),
)
BASELINE_ESVS = ('esv.oauth.enduser.secret', 'esv.smtp.sender')


def _edit(env, area, item, op, name, **extra):
    return dict({'action': 'edit_config', 'env': env, 'area': area, 'item': item, 'op': op, 'name': name}, **extra)


BUILTIN = {
    'default': {'tenants': {}},
    'demo': {'tenants': {
        # Changes on both hops: dev is ahead of staging, and staging is ahead of prod.
        'acme': {'edits': [
            _edit('dev', 'idm', 'Email > Templates', 'add', 'Forgotten Username'),
            _edit('dev', 'am', 'Journeys', 'modify', 'Login'),
            _edit('dev', 'am', 'OAuth2 Clients', 'add', 'mobile-app'),
            _edit('staging', 'am', 'OAuth2 Clients', 'add', 'mobile-app'),
        ]},
        # Identical everywhere: nothing to promote.
        'globex': {},
        # dev's new template references an ESV staging lacks: the dry run stops with Missing ESVs.
        'initech': {'edits': [
            _edit('dev', 'idm', 'Email > Templates', 'add', 'Forgotten Username', esv_refs=['esv.email.from']),
            {'action': 'add_esv', 'env': 'dev', 'name': 'esv.email.from'},
        ]},
    }},
}


def load_scenario(name_or_path):
    """A built-in scenario by name, or a scenario file (JSON)."""
    if name_or_path in BUILTIN:
        return copy.deepcopy(BUILTIN[name_or_path])
    path = Path(name_or_path)
    if not path.is_file():
        raise ValueError('no built-in scenario %r (choose from %s) and no such file' % (name_or_path, ', '.join(BUILTIN)))
    scenario = json.loads(path.read_text(encoding='utf-8'))
    if not isinstance(scenario, dict) or not isinstance(scenario.get('tenants', {}), dict):
        raise ValueError('%s: a scenario is a JSON object with a "tenants" object' % path)
    return scenario


def tenant_names(spec):
    """``--tenants`` as names: a count N (tenant01..tenantNN) or a comma-separated list."""
    if spec is None:
        return []
    spec = str(spec).strip()
    if spec.isdigit():
        count = int(spec)
        width = max(2, len(str(count)))
        return ['tenant%0*d' % (width, i) for i in range(1, count + 1)]
    names = [n.strip() for n in spec.split(',') if n.strip()]
    for name in names:
        if not TENANT_NAME.match(name):
            raise ValueError('tenant name %r: use lower-case letters, digits and dashes' % name)
    return names


def build(simulation, control, scenario, extra_tenants=(), uat=False):
    """Create the scenario's tenants (plus ``extra_tenants`` on the baseline) and apply their edits.

    Returns {tenant: [upper envs to put in the inventory]}.
    """
    specs = dict(scenario.get('tenants') or {})
    for name in extra_tenants:
        specs.setdefault(name, {})
    if not specs:
        specs = {'acme': {}}
    inventory = {}
    for name, spec in specs.items():
        spec = spec or {}
        if not TENANT_NAME.match(name):
            raise ValueError('tenant name %r: use lower-case letters, digits and dashes' % name)
        unknown = sorted(set(spec) - set(TENANT_KEYS))
        if unknown:
            raise ValueError('tenant %s: unknown keys %s (known: %s)' % (name, unknown, ', '.join(TENANT_KEYS)))
        default_envs = ('dev', 'uat', 'staging', 'prod') if uat else ('dev', 'staging', 'prod')
        tenant = simulation.add_tenant(name, tuple(spec.get('environments') or default_envs))
        if spec.get('baseline', True):
            for env in tenant.envs.values():
                for area, item, entry_name, refs in BASELINE_CONFIG:
                    env.edit_config(area, item, 'add', entry_name, esv_refs=list(refs))
                for esv in BASELINE_ESVS:
                    control.add_esv(name, env.name, esv)
        if spec.get('variant'):
            control.set_variant(tenant=name, **spec['variant'])
        if spec.get('timing'):
            control.set_timing(tenant=name, **spec['timing'])
        for edit in spec.get('edits') or ():
            apply_edit(control, name, edit)
        uppers = [env.name for env in tenant.envs.values() if env.lower is not None]
        wanted = spec.get('inventory_hosts')
        inventory[name] = [env for env in uppers if wanted is None or env in wanted]
    if scenario.get('variant'):
        control.set_variant(None, **scenario['variant'])
    if scenario.get('timing'):
        control.set_timing(**scenario['timing'])
    return inventory


def apply_edit(control, tenant, edit):
    edit = dict(edit)
    action = edit.pop('action', None)
    if action not in TENANT_ACTIONS:
        raise ValueError('scenario edit %r: action must be one of %s' % (edit, TENANT_ACTIONS))
    if 'env' in edit and action in UPPER_ENV_ACTIONS:
        edit['upper_env'] = edit.pop('env')
    getattr(control, action)(tenant=tenant, **edit)
