# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs promotion_run in Ansible's worker process when the task runs on the controller, and takes the host's turn in
a run of many hosts (the documentation is in the module): with O(run_id), the task first waits until the host it
follows (O(after)) has ended, and records how it ended itself, for the hosts that follow it."""

from __future__ import annotations

import os
import time
from typing import Any
from urllib.parse import quote

from ansible import constants as C
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.idcloud.promotions.plugins.module_utils import _states as states
from ansible_collections.idcloud.promotions.plugins.module_utils._files import read_run_record, write_run_record
from ansible_collections.idcloud.promotions.plugins.modules.promotion_run import TASK
from ansible_collections.idcloud.promotions.plugins.plugin_utils._action import PromotionAction

# How often the record of the host followed is looked for: a file on this machine, so often is cheap.
TURN_POLL = 0.2
# While waiting for it, a line at least this often.
TURN_PROGRESS_EVERY = 30.0


class ActionModule(PromotionAction):
    MODULE = 'promotion_run'
    TASK = TASK

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        run_id = self._task.args.get('run_id')
        if not run_id:
            return super().run(tmp, task_vars)
        # Ansible's own temporary directory of this ansible-playbook: private, the same in every worker, and removed
        # when the playbook ends.
        run_dir = os.path.join(C.DEFAULT_LOCAL_TMP, 'idcloud-promotions-run-' + quote(str(run_id), safe=''))
        host = task_vars.get('inventory_hostname', 'localhost')
        result: dict[str, Any] = dict(failed=True, outcome='failed', msg='stopped before the end (see the output above)')
        try:
            result = self.turn(run_dir, host, task_vars) or super().run(tmp, task_vars)
        finally:
            write_run_record(run_dir, host, result.get('outcome') or ('failed' if result.get('failed') else 'skipped'),
                             result.get('msg') or '')
        return result

    def turn(self, run_dir: str, host: str, task_vars: dict[str, Any]) -> dict[str, Any] | None:
        """None once this host may start; a skipped (or, past the bound, failed) result when it must not."""
        args = self._task.args
        run_hosts = list(task_vars.get('ansible_play_hosts_all') or [host])
        active = set(task_vars.get('ansible_play_hosts') or run_hosts)
        follows = args.get('after') if args.get('after') in run_hosts and args.get('after') != host else None
        # Once its turn has come, the host followed may wait for a lock, run and wait for an unlock; before, it waits
        # for its own turn, which the hosts before it bound in the same way.
        bound = 2 * float(args.get('lock_timeout') or 900) + float(args.get('wait_timeout') or 3600)
        progress = self.progress_line(task_vars) if boolean(args.get('progress', True), strict=False) else lambda line: None
        started = time.monotonic()
        told, its_turn = started - TURN_PROGRESS_EVERY, None
        while True:
            record = read_run_record(run_dir, follows) if follows else None
            decision, reason = states.plan_turn(follows, record, follows in active)
            if decision != states.WAIT:
                break
            now = time.monotonic()
            if its_turn is None and (record or {}).get('outcome') == states.STARTED:
                its_turn = now
            if its_turn is not None and now - its_turn > bound:
                return dict(failed=True, outcome='failed', msg='%s did not end within %.0f s of its start (twice lock_timeout and '
                                                               'wait_timeout); this host was not started.' % (follows, bound))
            if now - told >= TURN_PROGRESS_EVERY:
                progress('waiting for %s to end first (%.0f s)' % (follows, now - started))
                told = now
            time.sleep(TURN_POLL)
        if decision == states.GO:
            failed = sum(1 for other in run_hosts if (read_run_record(run_dir, other) or {}).get('outcome') == 'failed')
            limit = args.get('max_fail_percentage')
            reason = states.fail_policy_reason(failed, len(run_hosts), None if limit in (None, '') else float(limit))
            if reason is None:
                if follows:
                    progress('%s has ended well; starting' % follows)
                write_run_record(run_dir, host, states.STARTED)
                return None
        return dict(skipped=True, changed=False, outcome='skipped', msg=reason, skip_reason=reason)
