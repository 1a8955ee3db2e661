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
from ansible_collections.idcloud.promotions.plugins.plugin_utils._run import summary_markdown, summary_rows, summary_text

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
        files = {os.path.join(args['dest'], 'summary.json'): json.dumps(rows, indent=2, sort_keys=True) + '\n',
                 os.path.join(args['dest'], 'summary.md'): summary_markdown(rows)}
        result.update(rows=rows, lines=summary_text(rows), files=list(files), changed=False)
        if self._task.check_mode:
            return result
        try:
            os.makedirs(args['dest'], 0o700, exist_ok=True)
            for path, text in files.items():
                result['changed'] = write_file(path, text) or result['changed']
        except (OSError, PromotionError) as exc:
            raise AnsibleActionFail('Cannot write the summary in %s: %s' % (args['dest'], exc)) from None
        return result
