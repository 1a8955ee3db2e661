#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: promotion_summary
short_description: Make the summary of a promotion run, and keep it as JSON and Markdown files on the controller
version_added: 0.1.0
description:
  - From the result of each host of a run (O(results), the role's C(promote_result)), makes one row per host of
    O(hosts), also for a host that did not start or stopped before its end, the summary table as lines of text
    (RV(lines)), and writes the rows as C(summary.json) and the table as C(summary.md) in the directory O(dest), on the
    controller, each in one atomic move and readable by its owner only. A file that already holds the same content is
    left alone.
  - When hosts previewed their promotion (a dry run only, or check mode; their result's C(previewed_plan)), also writes
    their plans as C(plan.yml), a vars file of C(promote_expected_plans) to give back to the run that promotes them
    (C(-e @plan.yml)), and returns them in RV(plans).
  - An action that runs in Ansible's own process, so no module is started for a local write. The C(summary) entry point
    of the C(idcloud.promotions.promote) role uses it after a run over many tenants.
  - Talks to no tenant, so it is not in the C(promotion) action group.
author:
  - idcloud.promotions contributors (@idcloud-promotions)
extends_documentation_fragment:
  - idcloud.promotions.attributes
attributes:
  check_mode:
    support: full
    details:
      - Writes only C(plan.yml) (the plans of a preview in check mode, on the controller); RV(files) names it.
  diff_mode:
    support: none
    details: No diff.
options:
  dest:
    description: Directory to write the files in, on the controller; made (owner-only) when missing.
    type: path
    required: true
  hosts:
    description: The hosts of the run, in the order of the table.
    type: list
    elements: str
    required: true
  results:
    description:
      - The result of each host (C(outcome), C(reason), C(added), C(modified), C(deleted), C(total), C(reports),
        C(report_dir), C(warnings), C(plan), C(previewed_plan), and C(holder) for a lock another promotion holds),
        by host name.
      - A host of O(hosts) without one failed before its task started; one whose C(outcome) is still C(started)
        stopped before its end. Both show as failed.
    type: dict
    default: {}
'''

EXAMPLES = r'''
- name: Make the summary of the run and keep it next to the reports
  idcloud.promotions.promotion_summary:
    dest: "{{ report_dir }}"
    hosts: "{{ ansible_play_hosts_all }}"
    results: "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars)
                 | map(attribute='promote_result', default=none))) }}"
  register: summary

- name: Print it
  ansible.builtin.debug:
    msg: "{{ summary.lines }}"
'''

RETURN = r'''
rows:
  description: One row per host of O(hosts), as written to C(summary.json).
  returned: always
  type: list
  elements: dict
  sample: [{"host": "acme-staging", "outcome": "promoted", "reason": "", "added": 2, "modified": 1, "deleted": 0, "total": 3}]
lines:
  description: The summary table as lines of text, to print.
  returned: always
  type: list
  elements: str
plans:
  description: The plans previewed, by host (C(promote_expected_plans)), as written to C(plan.yml); empty when no host
    previewed.
  returned: always
  type: dict
files:
  description: The files written (in check mode, C(plan.yml) only).
  returned: always
  type: list
  elements: str
  sample: ["/home/user/.local/state/idcloud.promotions/reports/summary.json"]
'''
