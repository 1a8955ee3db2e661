# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Makes a run's summary and keeps it on the controller, in the worker process itself: a module would cost a
Python start-up for what is a local write (the documentation is in the module of the same name)."""

from __future__ import annotations

import json
import os
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.idcloud.promotions.plugins.module_utils._errors import PromotionError
from ansible_collections.idcloud.promotions.plugins.module_utils._files import write_file
from ansible_collections.idcloud.promotions.plugins.plugin_utils._run import (
    plans_file_text, preview_plans, summary_markdown, summary_rows, summary_text)

ARGUMENT_SPEC = dict(
    dest=dict(type='path', required=True),
    hosts=dict(type='list', elements='str', required=True),
    results=dict(type='dict', default={}),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        rows = summary_rows(args['hosts'], args['results'])
        plans = preview_plans(rows)
        plans_path = os.path.join(args['dest'], 'plan.yml') if plans else None
        files = {os.path.join(args['dest'], 'summary.json'): json.dumps(rows, indent=2, sort_keys=True) + '\n',
                 os.path.join(args['dest'], 'summary.md'): summary_markdown(rows)}
        if self._task.check_mode:
            # A preview in check mode keeps its plans, and nothing else: the controller's own file, no tenant's state.
            files = {plans_path: plans_file_text(plans)} if plans_path else {}
        elif plans_path:
            files[plans_path] = plans_file_text(plans)
        result.update(rows=rows, lines=summary_text(rows, plans_path), plans=plans, files=list(files), changed=False)
        try:
            if files:
                os.makedirs(args['dest'], 0o700, exist_ok=True)
            for path, text in files.items():
                result['changed'] = write_file(path, text) or result['changed']
        except (OSError, PromotionError) as exc:
            raise AnsibleActionFail('Cannot write the summary in %s: %s' % (args['dest'], exc)) from None
        return result
