# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test helper: one operation of the simulator's control surface (tests/simulator/control.py) as a task, so that a
host of a shared playbook run acts on its tenant, or looks at its state, between its own tasks."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    """``simulator_admin: {state_file: <the simulator's state file>, operation: <name>, <its parameters>}``: the
    operation's result as ``result`` (never a change: the tenant's promotions are what the tests look at)."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        params = dict(self._task.args)
        try:
            state_file, operation = params.pop('state_file'), params.pop('operation')
        except KeyError as missing:
            raise AnsibleActionFail('simulator_admin needs %s' % missing) from None
        with open(state_file, encoding='utf-8') as stream:
            state = json.load(stream)
        context = ssl.create_default_context(cafile=state['ca_file']) if state['ca_file'] else None
        body = json.dumps({key: value for key, value in params.items() if value is not None}).encode('utf-8')
        request = urllib.request.Request('%s/%s' % (state['admin_url'], operation), data=body, method='POST',
                                         headers={'Content-Type': 'application/json', 'X-Simulator-Admin': state['admin_token']})
        try:
            with urllib.request.urlopen(request, timeout=30, context=context) as response:
                result['result'] = json.loads(response.read())['result']
        except urllib.error.HTTPError as error:
            raise AnsibleActionFail('%s refused (%s): %s' % (operation, error.code, error.read().decode('utf-8', 'replace'))) from None
        result['changed'] = False
        return result
