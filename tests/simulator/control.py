"""Start the simulator as a real process and drive its control surface from tests and the demo.

    from tests.simulator.control import Simulator

    with Simulator.start(tmp_path, scenario='demo', extra_args=['--speed', '20']) as sim:
        sim.url('acme', 'staging')           # https://127.0.0.1:PORT/acme/staging
        sim.credentials('acme', 'staging')   # service_account_id, service_account_key (JSON string), access_token
        sim.edit_config('acme', 'dev', 'idm', 'Email > Templates', 'add', 'Welcome back')

Only the standard library: the demo and the tests both import it.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0


class SimulatorError(RuntimeError):
    """The simulator did not start, or a control call was refused."""


class Simulator:
    """A running simulator process: its state file, and one method per control operation."""

    def __init__(self, state_file, process=None, stderr_path=None):
        self.state_file = Path(state_file)
        self.process = process
        self.stderr_path = stderr_path
        self.state = json.loads(self.state_file.read_text(encoding='utf-8'))
        self.ca_file = self.state['ca_file']
        self._context = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None

    # -- life cycle

    @classmethod
    def start(cls, workdir, scenario='default', tenants=None, http=False, extra_args=(), env=None, timeout=START_TIMEOUT):
        """Launch ``python -m tests.simulator`` in ``workdir`` and return once its state file is written."""
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        state_file = workdir / 'simulator-state.json'
        if state_file.exists():
            state_file.unlink()
        command = [sys.executable, '-m', 'tests.simulator', '--state-file', str(state_file), '--scenario', str(scenario)]
        if tenants is not None:
            command += ['--tenants', ','.join(tenants) if isinstance(tenants, (list, tuple)) else str(tenants)]
        if http:
            command.append('--http')
        command += [str(a) for a in extra_args]
        environment = dict(os.environ)
        environment['PYTHONPATH'] = os.pathsep.join(filter(None, [str(ROOT), environment.get('PYTHONPATH')]))
        environment.update(env or {})
        stderr_path = workdir / 'simulator.stderr'
        with open(stderr_path, 'wb') as stderr:
            process = subprocess.Popen(command, cwd=str(ROOT), env=environment, stdin=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                                       stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SimulatorError('the simulator exited with %s:\n%s' % (process.returncode, cls._read(stderr_path)))
            if state_file.exists():
                try:
                    if json.loads(state_file.read_text(encoding='utf-8')).get('pid') == process.pid:
                        return cls(state_file, process, stderr_path)
                except ValueError:
                    pass
            time.sleep(0.05)
        process.kill()
        process.wait()
        raise SimulatorError('the simulator wrote no state file within %.0f s:\n%s' % (timeout, cls._read(stderr_path)))

    @staticmethod
    def _read(path):
        try:
            return Path(path).read_text(encoding='utf-8', errors='replace')[-4000:]
        except OSError:
            return ''

    def stop(self, timeout=10.0):
        """SIGTERM, then wait; returns the exit code (None when this object did not start the process)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def stderr(self):
        return self._read(self.stderr_path) if self.stderr_path else ''

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()

    # -- what the state file says

    @property
    def base_url(self):
        return self.state['base_url']

    def url(self, tenant, env):
        return self.state['tenants'][tenant]['environments'][env]['url']

    def credentials(self, tenant, env):
        entry = self.state['tenants'][tenant]['environments'][env]
        return {'service_account_id': entry['service_account_id'],
                'service_account_key': json.dumps(entry['service_account_key']),
                'access_token': entry['access_token']}

    def tenants(self):
        return list(self.state['tenants'])

    # -- control surface

    def admin(self, operation, **params):
        """POST /__admin/<operation> with ``params`` (None values left out); returns the result."""
        body = json.dumps({k: v for k, v in params.items() if v is not None}).encode('utf-8')
        request = urllib.request.Request('%s/%s' % (self.state['admin_url'], operation), data=body, method='POST',
                                         headers={'Content-Type': 'application/json',
                                                  'X-Simulator-Admin': self.state['admin_token']})
        try:
            with urllib.request.urlopen(request, timeout=30, context=self._context) as response:
                return json.loads(response.read())['result']
        except urllib.error.HTTPError as error:
            detail = error.read().decode('utf-8', 'replace')
            raise SimulatorError('%s refused (%s): %s' % (operation, error.code, detail)) from None

    def edit_config(self, tenant, env, area, item, op, name, value=None, esv_refs=None, encrypted=False):
        return self.admin('edit_config', tenant=tenant, env=env, area=area, item=item, op=op, name=name, value=value,
                          esv_refs=esv_refs, encrypted=encrypted)

    def add_esv(self, tenant, env, name):
        return self.admin('add_esv', tenant=tenant, env=env, name=name)

    def remove_esv(self, tenant, env, name):
        return self.admin('remove_esv', tenant=tenant, env=env, name=name)

    def plant_encrypted(self, tenant, env, area, item, name):
        return self.admin('plant_encrypted', tenant=tenant, env=env, area=area, item=item, name=name)

    def maintenance_lock(self, tenant, env, on=True):
        return self.admin('maintenance_lock', tenant=tenant, env=env, on=on)

    def foreign_lock(self, tenant, upper_env):
        """A lock someone else left behind on the pair below ``upper_env``, already locked; returns its promotion id."""
        return self.admin('foreign_lock', tenant=tenant, upper_env=upper_env)

    def fail_next_promotion(self, tenant, upper_env, blocking=True, dry_runs=False):
        """The next real promotion into ``upper_env`` (and the next dry run too with ``dry_runs``) fails."""
        return self.admin('fail_next_promotion', tenant=tenant, upper_env=upper_env, blocking=blocking, dry_runs=dry_runs)

    def fail_next_lock(self, tenant, upper_env, description='Failed to lock environment'):
        """The next POST /lock on the pair below ``upper_env`` answers as usual but the lock ends in state error."""
        return self.admin('fail_next_lock', tenant=tenant, upper_env=upper_env, description=description)

    def stick_next_lock(self, tenant, upper_env):
        """The next POST /lock on the pair below ``upper_env`` answers as usual but the lock stays 'locking' forever
        (DELETE answers 409 'Environment is currently locking or unlocking'), until ``clear_block``."""
        return self.admin('stick_next_lock', tenant=tenant, upper_env=upper_env)

    def clear_block(self, tenant, upper_env):
        """What support does: a blocking failure cleared, a failed or stuck lock of the pair removed."""
        return self.admin('clear_block', tenant=tenant, upper_env=upper_env)

    def set_timing(self, tenant=None, lock=None, unlock=None, prepare=None, promote=None, restart=None, speed=None,
                   profile=None, token_lifetime=None):
        """Phase durations (seconds before the speed factor) and speed, for one tenant or globally (no tenant);
        ``profile`` 'field' or 'default' resets the phases first. Returns the resulting timing."""
        return self.admin('set_timing', tenant=tenant, lock=lock, unlock=unlock, prepare=prepare, promote=promote,
                          restart=restart, speed=speed, profile=profile, token_lifetime=token_lifetime)

    def set_variant(self, tenant=None, preset=None, report_shape=None, status_running=None, date_format=None,
                    versions=None, start_status=None, vendor=None, stale_lock_reads=None, report_body=None,
                    report_list=None, unlock_answer=None, lock_progress=None, proxy_state=None, account_scopes=None,
                    error_body=None, status_type=None, previous_status=None, timing=None, status_lag=None,
                    report_lag=None, lock_lag=None, restart_blips=None, dry_run_wording=None):
        """Variants for one tenant, or the default of all tenants (no tenant); ``preset`` first, the others on
        top. Returns the resulting variant. See tests/simulator/README.md for the keys and values."""
        choices = {key: value for key, value in locals().items() if key not in ('self', 'tenant', 'preset')}
        return self.admin('set_variant', tenant=tenant, preset=preset, **choices)

    def set_release(self, tenant, env, current_version, next_upgrade=None):
        return self.admin('set_release', tenant=tenant, env=env, current_version=current_version, next_upgrade=next_upgrade)

    def set_session(self, tenant, env, status, editable=None):
        """The environment's direct-configuration session is now in ``status`` (one of tenant.SESSION_STATES);
        ``editable`` defaults to true in SESSION_INITIALISED only. Returns the session as GET .../session/state shows it."""
        return self.admin('set_session', tenant=tenant, env=env, status=status, editable=editable)

    def inject_fault(self, path_suffix, kind, count=1, method=None, retry_after=None, seconds=None, after_processing=False,
                     body=None, tenant=None, env=None):
        """Arm a transport fault; ``body`` 'json' or 'html' for status faults; ``tenant``/``env`` limit it to
        requests of that tenant (and environment)."""
        return self.admin('inject_fault', path_suffix=path_suffix, kind=str(kind), count=count, method=method,
                          retry_after=retry_after, seconds=seconds, after_processing=after_processing, body=body,
                          tenant=tenant, env=env)

    def lose_next_answer(self, tenant, upper_env, call, kind='504', count=1):
        """The next ``count`` ``call`` requests ('lock', 'unlock', 'promote', 'rollback') to ``upper_env`` are carried
        out by the tenant, then answered by a proxy's 504 HTML page (``kind`` '502', or 'drop' / 'reset': no answer)."""
        return self.admin('lose_next_answer', tenant=tenant, upper_env=upper_env, call=call, kind=str(kind), count=count)

    def clear_faults(self):
        return self.admin('clear_faults')

    def expire_tokens(self, tenant=None, env=None, include_static=False):
        return self.admin('expire_tokens', tenant=tenant, env=env, include_static=include_static)

    def issued_tokens(self, tenant=None, env=None):
        return self.admin('issued_tokens', tenant=tenant, env=env)

    def request_log(self, tenant=None, env=None):
        return self.admin('request_log', tenant=tenant, env=env)

    def request_counts(self, tenant=None, env=None):
        return self.admin('request_counts', tenant=tenant, env=env)

    def reset_log(self):
        return self.admin('reset_log')

    def env_state(self, tenant, env):
        return self.admin('env_state', tenant=tenant, env=env)
