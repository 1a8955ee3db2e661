# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
name: promotion_reason
short_description: Say why a host's promotion run failed or stopped, in the promote role's words
version_added: 0.1.0
description:
  - Takes the result of M(idcloud.promotions.promotion_run) and returns its message in one paragraph, with the module's
    option names replaced by the role variables that set them.
  - When a lock another promotion holds stopped the run, returns what the module found under that lock, then the ways
    out, the exact C(promote_resume) value to finish an interrupted run of one's own, or the C(unlock.yml) command for
    a lock left behind.
author:
  - idcloud.promotions contributors (@idcloud-promotions)
options:
  _input:
    description: The module's result (C(msg), and C(holder) and C(cause) for a lock another promotion holds).
    type: dict
    required: true
  host:
    description: The inventory host.
    type: str
    required: true
  words:
    description: The role variable for each option name, such as C(promote_run_timeout) for C(wait_timeout).
    type: dict
    required: true
'''

EXAMPLES = r'''
- name: Note why the run failed
  ansible.builtin.set_fact:
    reason: "{{ ansible_failed_result | idcloud.promotions.promotion_reason(inventory_hostname, {'wait_timeout': 'promote_run_timeout'}) }}"
'''

RETURN = r'''
_value:
  description: The reason, in one paragraph.
  type: str
'''

from typing import Any

from ansible_collections.idcloud.promotions.plugins.plugin_utils._run import failure_reason


class FilterModule:  # pylint: disable=too-few-public-methods
    def filters(self) -> dict[str, Any]:
        return {'promotion_reason': failure_reason}
