"""Command line: ``python -m tests.simulator --state-file PATH [options]`` (run from the checkout root)."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import textwrap
import threading
import uuid
from pathlib import Path

from . import scenarios
from .auth import PROMOTION_SCOPE, RELEASE_SCOPE, SESSION_SCOPE
from .certs import load_or_generate_rsa_keys, make_tls_files, private_jwk, private_pem
from .server import SimulatorApp, SimulatorServer, make_tls_context
from .tenant import PRESETS, TIMING_PROFILES, VARIANT_CHOICES, Simulation, Timing

# Never anything but loopback: the simulator hands out keys and admin rights to whoever can connect.
LISTEN_HOST = '127.0.0.1'

DESCRIPTION = """\
A local Identity Cloud tenant simulator: one threaded HTTPS server on 127.0.0.1 serving the promotions
API (lock, promote, rollback, reports, release), the direct-configuration session state and the
service-account token endpoint for many tenants.
Each environment has its own base URL, https://127.0.0.1:PORT/<tenant>/<env>, and its own service account.
"""

EPILOG = """\
Once listening, it writes the state file (JSON, written atomically) with the base URL, the CA file, the
admin URL and token of the control surface, and per tenant and environment: url, lower, upper,
service_account_id, service_account_key (private JWK), service_account_key_pem and a static access_token.
It runs until SIGTERM or SIGINT and then exits 0.

Scenarios: "default" (every tenant identical in dev, staging and prod: nothing to promote), "demo"
(acme: changes on both hops; globex: nothing to promote; initech: dev references an ESV staging lacks),
or a JSON file (see tests/simulator/README.md).

Variants make the tenants answer like the seed guide or like other real tenants: --preset seed turns on
everything the seed shows (its exact report, list, unlock and error bodies, a lock that moves on only while
its state is polled, service accounts with the promotion scope only); --variant KEY=VALUE sets one for all
tenants (VALUE is read as JSON if it can be: true, 202); per tenant: set_variant on the control surface,
or "variant" in a scenario file. Variant keys:
{variant_keys}.

Phase durations are in seconds and divided by --speed; --timing-profile field plays a ten-minute real
promotion (lock 20, unlock 20, prepare 60, promote 120, restart 420 s), e.g. with --speed 100.

Start-up generates one 2048-bit RSA key per environment: well under a second for the demo's 3 tenants, a
few seconds for 50 tenants (--key-cache makes later starts fast).

Control surface: POST https://127.0.0.1:PORT/__admin/<operation> with header X-Simulator-Admin: <admin
token> and a JSON body, or tests.simulator.control.Simulator from Python. See tests/simulator/README.md.
""".replace('{variant_keys}', '\n'.join(textwrap.wrap(', '.join(sorted(VARIANT_CHOICES)), 104)))


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='python -m tests.simulator', description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--state-file', required=True, type=Path, help='where to write the JSON state file')
    parser.add_argument('--scenario', default='default', help='built-in scenario (default, demo) or a scenario JSON file')
    parser.add_argument('--tenants', help='more tenants on the baseline: a count N (tenant01..tenantNN) or names a,b,c '
                                          '(with the default scenario and no --tenants: one tenant, acme)')
    parser.add_argument('--uat', action='store_true', help='give the tenants of --tenants a UAT environment')
    parser.add_argument('--inventory', type=Path, help='also write an Ansible YAML inventory (group promotion_targets)')
    parser.add_argument('--http', action='store_true', help='plain HTTP instead of TLS (no CA file)')
    parser.add_argument('--port', type=int, default=0, help='port to bind on 127.0.0.1 (default 0: an ephemeral port)')
    parser.add_argument('--token-lifetime', type=float, default=900.0, help='access token lifetime in seconds (900)')
    parser.add_argument('--speed', type=float, default=1.0, help='divide every phase duration by this factor (1)')
    parser.add_argument('--lock-seconds', type=float, default=1.0, help='locking -> locked (1)')
    parser.add_argument('--unlock-seconds', type=float, default=1.0,
                        help='unlocking -> unlocked, with the unlock_answer variants unlocking-200/202 (1)')
    parser.add_argument('--prepare-seconds', type=float, default=1.0, help='"Prepare config" phase (1)')
    parser.add_argument('--promote-seconds', type=float, default=2.0, help='"Promote configuration" phase (2)')
    parser.add_argument('--restart-seconds', type=float, default=3.0,
                        help='"Waiting for workloads to restart" phase, real runs only (3)')
    parser.add_argument('--timing-profile', choices=TIMING_PROFILES,
                        help='field: the phases of a real ten-minute promotion instead of the --*-seconds ones')
    parser.add_argument('--preset', choices=sorted(PRESETS), help='a named set of variants for all tenants (seed)')
    parser.add_argument('--variant', action='append', default=[], metavar='KEY=VALUE',
                        help='one variant for all tenants, applied after --preset (repeatable)')
    parser.add_argument('--key-cache', type=Path,
                        help='reuse service-account RSA keys saved in this directory by earlier runs (faster test starts)')
    parser.add_argument('--verbose', action='store_true', help='one line per request on stderr (never tokens or keys)')
    args = parser.parse_args(argv)
    if args.speed <= 0:
        parser.error('--speed must be positive')
    try:
        args.variants = parse_variants(args.variant)
    except ValueError as error:
        parser.error(str(error))
    return args


def parse_variants(items):
    """``KEY=VALUE`` strings as a dict; a VALUE that reads as JSON (true, 202) is taken as such."""
    variants = {}
    for item in items:
        key, sep, value = item.partition('=')
        if not sep or not key.strip():
            raise ValueError('--variant %r: use KEY=VALUE' % item)
        try:
            value = json.loads(value)
        except ValueError:
            pass
        variants[key.strip()] = value
    return variants


def create_accounts(simulation, tokens, key_cache=None):
    """One service account (RSA key) and one static token per environment; returns the state-file view."""
    envs = [env for tenant in simulation.tenants.values() for env in tenant.envs.values()]
    keys = load_or_generate_rsa_keys(len(envs), key_cache)
    credentials = {}
    for env, key in zip(envs, keys):
        account_id = str(uuid.uuid4())
        env.service_accounts[account_id] = key.public_key()
        credentials[(env.tenant, env.name)] = {
            'service_account_id': account_id,
            'service_account_key': private_jwk(key, kid=account_id),
            'service_account_key_pem': private_pem(key),
            'access_token': tokens.add_static(env.tenant, env.name, [PROMOTION_SCOPE, RELEASE_SCOPE, SESSION_SCOPE]),
        }
    return credentials


def state_document(app, simulation, credentials, ca_file):
    tenants = {}
    for tenant in simulation.tenants.values():
        environments = {}
        for env in tenant.envs.values():
            environments[env.name] = dict({'url': app.env_url(tenant.name, env.name), 'lower': env.lower,
                                           'upper': env.upper}, **credentials[(tenant.name, env.name)])
        tenants[tenant.name] = {'environments': environments}
    return {'pid': os.getpid(), 'base_url': app.base_url, 'ca_file': str(ca_file) if ca_file else None,
            'admin_url': app.base_url + '/__admin', 'admin_token': app.admin_token, 'tenants': tenants}


def write_atomically(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name('.%s.%d.tmp' % (path.name, os.getpid()))
    temporary.write_text(text, encoding='utf-8')
    os.replace(temporary, path)


def inventory_text(state, hosts_by_tenant):
    """An Ansible inventory in YAML (every value written as a JSON string, which YAML reads as is)."""
    lines = ['# Written by python -m tests.simulator: one host per upper environment.', 'all:', '  children:',
             '    promotion_targets:', '      vars:', '        ansible_connection: local', '      hosts:']
    for tenant, uppers in hosts_by_tenant.items():
        environments = state['tenants'][tenant]['environments']
        for env in uppers:
            target = environments[env]
            lower = environments[target['lower']]
            host_vars = {
                'promote_tenant_url': target['url'],
                'promote_service_account_id': target['service_account_id'],
                'promote_service_account_key': json.dumps(target['service_account_key']),
                'promote_ca_path': state['ca_file'],
                'promote_lower_tenant_url': lower['url'],
                'promote_lower_service_account_id': lower['service_account_id'],
                'promote_lower_service_account_key': json.dumps(lower['service_account_key']),
            }
            if target['lower'] in uppers:
                host_vars['promote_after'] = '%s-%s' % (tenant, target['lower'])
            lines.append('        %s-%s:' % (tenant, env))
            for name, value in host_vars.items():
                lines.append('          %s: %s' % (name, 'null' if value is None else json.dumps(value)))
    return '\n'.join(lines) + '\n'


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    timing = Timing(lock=args.lock_seconds, unlock=args.unlock_seconds, prepare=args.prepare_seconds,
                    promote=args.promote_seconds, restart=args.restart_seconds, speed=args.speed)
    if args.timing_profile:
        timing.update(profile=args.timing_profile)  # the scenario's "timing" still applies on top
    simulation = Simulation(timing, token_lifetime=args.token_lifetime)
    app = SimulatorApp(simulation, base_url=None, admin_token=secrets.token_urlsafe(24), verbose=args.verbose)
    try:
        scenario = scenarios.load_scenario(args.scenario)
        hosts_by_tenant = scenarios.build(simulation, app.control, scenario, scenarios.tenant_names(args.tenants), args.uat)
        if args.preset or args.variants:
            simulation.set_variant(None, args.preset, **args.variants)
    except (ValueError, TypeError, KeyError) as error:
        sys.stderr.write('simulator: bad scenario, tenants or variants: %s\n' % error)
        return 2
    state_file = args.state_file.resolve()
    ca_file = tls_context = None
    if not args.http:
        tls_dir = state_file.parent / (state_file.stem + '-tls')
        tls_dir.mkdir(parents=True, exist_ok=True)
        tls_files = make_tls_files(tls_dir, LISTEN_HOST)
        ca_file = tls_files['ca']
        tls_context = make_tls_context(tls_files['cert'], tls_files['key'])
    credentials = create_accounts(simulation, app.tokens, args.key_cache)
    server = SimulatorServer((LISTEN_HOST, args.port), app, tls_context)
    app.base_url = '%s://%s:%d' % ('http' if args.http else 'https', LISTEN_HOST, server.server_address[1])

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.2}, name='simulator-server',
                               daemon=True)
    serving.start()

    state = state_document(app, simulation, credentials, ca_file)
    if args.inventory:
        write_atomically(args.inventory.resolve(), inventory_text(state, hosts_by_tenant))
    write_atomically(state_file, json.dumps(state, indent=2) + '\n')
    if args.verbose:
        sys.stderr.write('simulator: serving %d tenants on %s\n' % (len(simulation.tenants), app.base_url))
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
