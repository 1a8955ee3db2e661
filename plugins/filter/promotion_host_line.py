# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
name: promotion_host_line
short_description: Say how one host's promotion run ended, in the lines the promote role prints
version_added: 0.1.0
description:
  - Takes a host's C(promote_result) (as the C(idcloud.promotions.promote) role sets it) and returns the lines that say
    how its run ended, its outcome, the counts of changes, whether its plan matched, the reason, where its reports
    are and the warnings, in one line, then what changed (or would change), one line each.
  - The role prints them after each host's run. Made in Python rather than a template, so that no template is read,
    compiled and given a copy of every variable for each host.
author:
  - idcloud.promotions contributors (@idcloud-promotions)
options:
  _input:
    description: The host's C(promote_result).
    type: dict
    required: true
  host:
    description: The inventory host.
    type: str
    required: true
  changes:
    description: The rows of the run's report (C(changes) of M(idcloud.promotions.promotion_run)); not shown for a failure.
    type: list
    elements: dict
  check_mode:
    description: Whether the run was in check mode (what would change, rather than what changed).
    type: bool
    default: false
'''

EXAMPLES = r'''
- name: Say how this host's run ended
  ansible.builtin.debug:
    msg: "{{ promote_result | idcloud.promotions.promotion_host_line(inventory_hostname, run.changes, ansible_check_mode) }}"
'''

RETURN = r'''
_value:
  description: The lines, the first one saying how the run ended.
  type: list
  elements: str
  sample: ["acme-staging: promoted (1 changes: 1 added, 0 modified, 0 deleted); reports in /reports/acme-staging",
           "What changed (1):", "  added: AMConfig / Journeys: Checkout (realm /alpha)"]
'''

from typing import Any

from ansible_collections.idcloud.promotions.plugins.plugin_utils._run import host_line


class FilterModule:  # pylint: disable=too-few-public-methods
    def filters(self) -> dict[str, Any]:
        return {'promotion_host_line': host_line}
