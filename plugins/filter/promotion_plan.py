# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
name: promotion_plan
short_description: Order the hosts of a promotion run so that each comes after the host it must follow
version_added: 0.1.0
description:
  - Takes the hosts of a run, in inventory order, and the host each one must follow (C(promote_after)), and returns
    them ordered by depth, the hosts that follow nobody first, then those that follow one of them, and so on; in
    inventory order within a depth. A host that follows a host outside the run follows nobody.
  - Also returns what makes the plan impossible, a host that follows itself or hosts that follow each other in a
    cycle.
  - The C(promote.yml) playbook runs its hosts in this order, so that with any number of forks a host starts only
    after the host it follows has started.
author:
  - idcloud.promotions contributors (@idcloud-promotions)
options:
  _input:
    description: The hosts of the run, in inventory order.
    type: list
    elements: str
    required: true
  after:
    description: For each host, the host it must follow (empty or missing for none).
    type: dict
    required: true
'''

EXAMPLES = r'''
- name: Order the run
  ansible.builtin.set_fact:
    plan: "{{ ansible_play_hosts_all | idcloud.promotions.promotion_plan(after) }}"
  vars:
    after: "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars)
               | map(attribute='promote_after', default=''))) }}"
'''

RETURN = r'''
_value:
  description: C(order), the hosts in the order to run them; C(depth), each host's number of hosts before it in its
    chain; C(problems), a message for each host that follows itself and for each cycle (empty when the plan is sound).
  type: dict
  sample: {"order": ["acme-staging", "globex-staging", "acme-prod"], "depth": {"acme-staging": 0, "globex-staging": 0,
           "acme-prod": 1}, "problems": []}
'''

from typing import Any

from ansible_collections.idcloud.promotions.plugins.plugin_utils._run import run_plan


class FilterModule:  # pylint: disable=too-few-public-methods
    def filters(self) -> dict[str, Any]:
        return {'promotion_plan': run_plan}
