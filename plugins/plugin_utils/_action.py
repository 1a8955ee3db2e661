# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: not a public API.

The action plugins of the modules that talk to a tenant. A task on the controller (a local connection, no
``environment``, no ``become``) runs its module's ``TaskSpec`` in Ansible's worker process itself: no module is
packed, no Python is started, and the lines that say how a wait goes reach the output as they happen. Any other task
runs the module as usual, on the host it is delegated to.
"""

from __future__ import annotations

from typing import Any

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.idcloud.promotions.plugins.module_utils._module import TaskSpec, missing_library, run_task

display = Display()


class PromotionAction(ActionBase):
    """Runs the module ``MODULE``, whose ``TaskSpec`` is ``TASK``, in this process when the task runs on the controller."""

    MODULE = ''
    TASK: TaskSpec
    # Options the action itself acts on (a run of many hosts), which the module, run elsewhere, is not given.
    ACTION_ONLY: tuple[str, ...] = ()
    TRANSFERS_FILES = False

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        if self.runs_here():
            result.update(self.run_here(self._task.args, task_vars))
        else:
            module_args = {name: value for name, value in self._task.args.items() if name not in self.ACTION_ONLY}
            result.update(self._execute_module(module_name='idcloud.promotions.' + self.MODULE, module_args=module_args,
                                               task_vars=task_vars))
        return result

    def runs_here(self) -> bool:
        """The task runs on the controller as the user running Ansible, with the libraries the module needs."""
        environment = self._task.environment
        return (getattr(self._connection, 'transport', None) == 'local' and not any(environment or [])
                and not self._play_context.become and missing_library({}) is None)

    def run_here(self, args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        """The module's task, with its options checked as AnsibleModule checks them; no secret in the result."""
        validation = ArgumentSpecValidator(self.TASK.full_argument_spec(), **self.TASK.constraints()).validate(args)
        if validation.error_messages:
            return dict(failed=True, msg=validation.error_messages[0])
        params = validation.validated_parameters
        result = run_task(self.TASK, params, bool(self._task.check_mode), bool(self._task.diff),
                          self.progress_line(task_vars) if params.get('progress', True) else None)
        # The validator's own warnings and deprecations (an alias of an option, say), as AnsibleModule gives them.
        # pylint: disable-next=protected-access
        warnings, deprecations = validation._warnings, validation._deprecations
        if warnings:
            result['warnings'] = ['Both option %s and its alias %s are set.' % (warning['option'], warning['alias'])
                                  for warning in warnings] + result.get('warnings', [])
        if deprecations:
            result['deprecations'] = deprecations + result.get('deprecations', [])
        # As AnsibleModule does with a module's result: the options as checked, shown at -vvv, and the values of
        # no_log options never leave the task.
        result['invocation'] = dict(module_args=params)
        return remove_values(result, validation._no_log_values)  # pylint: disable=protected-access

    def progress_line(self, task_vars: dict[str, Any]) -> Any:
        """Shows a line of progress at once, under the host's name; the worker hands it to the main process."""
        host = task_vars.get('inventory_hostname', 'localhost')
        return lambda line: display.display('%s: %s' % (host, line))
