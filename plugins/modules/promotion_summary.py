#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: promotion_summary
short_description: Keep the summary of a promotion run as JSON and Markdown files on the controller
version_added: 0.1.0
description:
  - Writes O(rows) as C(summary.json) and O(markdown) as C(summary.md) in the directory O(dest), on the controller,
    each in one atomic move and readable by its owner only. A file that already holds the same content is left alone.
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
    details: Writes nothing; RV(files) names the files that would be written.
  diff_mode:
    support: none
    details: No diff.
options:
  dest:
    description: Directory to write the files in, on the controller; made (owner-only) when missing.
    type: path
    required: true
  rows:
    description: One row per host of the run; written as they are, as a JSON list.
    type: list
    elements: dict
    required: true
  markdown:
    description: The summary as Markdown, written to C(summary.md); no such file when empty.
    type: str
    default: ''
'''

EXAMPLES = r'''
- name: Keep the summary next to the reports
  idcloud.promotions.promotion_summary:
    dest: "{{ report_dir }}"
    rows: "{{ summary_rows }}"
    markdown: "{{ lookup('ansible.builtin.template', 'summary.md.j2') }}"
'''

RETURN = r'''
files:
  description: The files written (or, in check mode, that would be written).
  returned: always
  type: list
  elements: str
  sample: ["/home/user/.local/state/idcloud.promotions/reports/summary.json"]
'''
