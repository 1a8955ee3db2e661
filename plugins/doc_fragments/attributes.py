# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    """The attributes every module of idcloud.promotions declares; each module says its own support levels."""

    DOCUMENTATION = r'''
options: {}
attributes:
  action:
    description: Has an action plugin, which runs the task in Ansible's own process when it runs on the controller.
    support: full
  async:
    description: Refused with C(async) (Ansible's own "async is not supported for this task"); every wait is bounded
      by the module's own timeouts instead.
    support: none
  check_mode:
    description: Can run in check mode and then predicts RV(ignore:changed) without changing the tenant or any file.
  diff_mode:
    description: Returns what changed (or would change) as a diff in diff mode.
  platform:
    description: Runs where the task runs (the controller with a local connection, or the host it is delegated to)
      and reaches the tenant over HTTPS.
    support: full
    platforms: posix
'''

    # The modules that take the connection options from module_defaults through the action group.
    ACTION_GROUP = r'''
options: {}
attributes:
  action_group:
    description: The connection options can be given once with C(module_defaults) and C(group/idcloud.promotions.promotion).
    support: full
    membership:
      - idcloud.promotions.promotion
'''
