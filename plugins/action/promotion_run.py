# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs promotion_run in Ansible's worker process when the task runs on the controller, and takes the host's turn in
a run of many hosts (the documentation is in the module): with O(run_id), the task first waits until the host it
follows (O(after)) has ended, and records how it ended itself, for the hosts that follow it."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from ansible import constants as C
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.idcloud.promotions.plugins.modules.promotion_run import TASK
from ansible_collections.idcloud.promotions.plugins.plugin_utils._action import PromotionAction
from ansible_collections.idcloud.promotions.plugins.plugin_utils._run import RunRecords, take_turn


class ActionModule(PromotionAction):
    MODULE = 'promotion_run'
    TASK = TASK
    ACTION_ONLY = ('run_id', 'after', 'max_fail_percentage')

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        args = self._task.args
        if not args.get('run_id'):
            return super().run(tmp, task_vars)
        # Ansible's own temporary directory of this ansible-playbook: private, the same in every worker, and removed
        # when the playbook ends.
        records = RunRecords(os.path.join(C.DEFAULT_LOCAL_TMP, 'idcloud-promotions-run-' + quote(str(args['run_id']), safe='')))
        host = task_vars.get('inventory_hostname', 'localhost')
        run_hosts = list(task_vars.get('ansible_play_hosts_all') or [host])
        follows = args.get('after') if args.get('after') in run_hosts and args.get('after') != host else None
        # Once its turn has come, the host followed may wait for a lock, run and wait for an unlock; before, it waits
        # for its own turn, which the hosts before it bound in the same way.
        bound = 2 * float(args.get('lock_timeout') or 900) + float(args.get('wait_timeout') or 3600)
        limit = args.get('max_fail_percentage')
        progress = self.progress_line(task_vars) if boolean(args.get('progress', True), strict=False) else lambda line: None
        result: dict[str, Any] = dict(failed=True, outcome='failed', msg='stopped before the end (see the output above)')
        try:
            result = take_turn(records, host, run_hosts, set(task_vars.get('ansible_play_hosts') or run_hosts), follows, bound,
                               None if limit in (None, '') else float(limit), progress) or super().run(tmp, task_vars)
        finally:
            records.write(host, result.get('outcome') or ('failed' if result.get('failed') else 'skipped'), result.get('msg') or '')
        return result
