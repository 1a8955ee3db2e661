# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writes a run's summary on the controller, in the worker process itself: a module would cost a
Python start-up per file for what is a local write (the documentation is in the module of the same name)."""

from __future__ import annotations

import json
import os
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.plugins.action import ActionBase

from ansible_collections.idcloud.promotions.plugins.module_utils._files import file_holds, replace_file

ARGUMENT_SPEC = dict(
    dest=dict(type='path', required=True),
    rows=dict(type='list', elements='dict', required=True),
    markdown=dict(type='str', default=''),
)


def write_if_changed(path: str, text: str) -> bool:
    """Write ``text`` to ``path`` (owner-only, atomically); False when it already held it."""
    content = to_bytes(text)
    if file_holds(path, content):
        return False
    replace_file(path, content)
    return True


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        files = [('summary.json', json.dumps(args['rows'], indent=2, sort_keys=True) + '\n')]
        if args['markdown']:
            files.append(('summary.md', args['markdown'].rstrip('\n') + '\n'))
        paths = [os.path.join(args['dest'], name) for name, _text in files]
        result.update(files=paths, changed=False)
        if self._task.check_mode:
            return result
        try:
            if not os.path.isdir(args['dest']):
                os.makedirs(args['dest'], 0o700)
            for path, (_name, text) in zip(paths, files):
                result['changed'] = write_if_changed(path, text) or result['changed']
        except (IOError, OSError) as exc:
            raise AnsibleActionFail('Cannot write the summary in %s: %s' % (args['dest'], to_native(exc)))
        return result
