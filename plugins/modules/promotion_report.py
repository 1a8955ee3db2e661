#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: promotion_report
short_description: Read Identity Cloud promotion reports, summarise them and save them for a change ticket
version_added: 0.1.0
description:
  - Reads a promotion report (the last one, one by id, the list of all, or the provisional reports that say what a
    promotion or a rollback would change), summarises it and optionally writes it as JSON or Markdown.
  - Reads only; needs no lock.
author:
  - idcloud.promotions contributors (@idcloud-promotions)
extends_documentation_fragment:
  - idcloud.promotions.attributes
  - idcloud.promotions.attributes.action_group
  - idcloud.promotions.connection
  - idcloud.promotions.connection.lower
attributes:
  check_mode:
    support: full
    details: Reads the report; reports whether O(dest) would change without writing it.
  diff_mode:
    support: none
    details: Nothing to show as a diff.
options:
  report:
    description:
      - Which report to read.
      - V(last), the report of the most recent promotion, dry run or rollback (or the one named by O(report_id)).
      - V(list), the list of all reports.
      - V(provisional), what promoting the lower environment into this one (O(tenant_url)) would change. The lower
        environment serves this report, so it is read from O(lower_tenant_url), with the O(lower_access_token) or
        O(lower_service_account_id) credentials; they are required for it.
      - V(provisional_rollback), what a rollback of the last promotion would revert, from the upper environment.
    type: str
    choices: [last, list, provisional, provisional_rollback]
    default: last
  report_id:
    description: Read this report instead of the last one (with O(report=last)).
    type: str
  dest:
    description:
      - Write the report to this file, atomically. The task is changed only when the file's content changes.
    type: path
  format:
    description:
      - Format of O(dest). V(markdown) gives a summary table and the changes by area and config item, ready to paste
        into a change ticket. By default from the suffix of O(dest) (C(.md) for Markdown), otherwise JSON.
    type: str
    choices: [json, markdown]
'''

EXAMPLES = r'''
- name: What would a promotion of dev into staging change? (dev, the lower environment, serves the report)
  idcloud.promotions.promotion_report:
    tenant_url: https://openam-acme-staging.forgeblocks.com
    service_account_id: "{{ staging_sa_id }}"
    service_account_key: "{{ staging_sa_jwk }}"
    lower_tenant_url: https://openam-acme-dev.forgeblocks.com
    lower_service_account_id: "{{ dev_sa_id }}"
    lower_service_account_key: "{{ dev_sa_jwk }}"
    report: provisional
  register: preview

- name: Save the last promotion's report for the change ticket
  idcloud.promotions.promotion_report:
    tenant_url: "{{ upper_url }}"
    access_token: "{{ token }}"
    dest: reports/staging-promotion.md

- name: List all reports
  idcloud.promotions.promotion_report:
    tenant_url: "{{ upper_url }}"
    access_token: "{{ token }}"
    report: list
  register: listing
'''

RETURN = r'''
report:
  description: The report as the tenant sent it (for O(report=list), the list).
  returned: always
  type: raw
reports:
  description: With O(report=list), the reports oldest first, dates in one form (C(2022-04-19T17:32:05Z)).
  returned: when O(report=list)
  type: list
  elements: dict
  sample: [{"reportId": "c41286bb-30cd-4109-ba9d-dc4788b6a75c", "promotionId": "8acd3a87-2272-450f-a3b3-1eb222108740",
            "createdDate": "2022-04-19T17:32:05Z", "dryRun": false, "type": "promotion"}]
summary:
  description: Counts of changes (added, modified, deleted, total), overall, per area and per config item.
  returned: unless O(report=list)
  type: dict
  sample: {"added": 1, "modified": 0, "deleted": 0, "total": 1,
           "areas": {"IDMConfig": {"added": 1, "modified": 0, "deleted": 0, "total": 1}},
           "config_items": {"IDMConfig / Email > Templates": {"added": 1, "modified": 0, "deleted": 0, "total": 1}}}
changes:
  description: One row per change.
  returned: unless O(report=list)
  type: list
  elements: dict
  sample: [{"area": "IDMConfig", "config_item": "Email > Templates", "change": "added", "name": "Forgotten Username", "realm": null}]
empty:
  description: True when the report lists no change (for O(report=provisional), nothing to promote).
  returned: unless O(report=list)
  type: bool
dest:
  description: The file written, when O(dest) was given.
  returned: when O(dest) was given
  type: str
elapsed:
  description: Seconds the module took.
  returned: always
  type: float
transaction_id:
  description: Transaction id sent with the module's requests as C(X-ForgeRock-TransactionId).
  returned: always
  type: str
'''

from typing import Any

from ansible_collections.idcloud.promotions.plugins.module_utils._errors import PromotionError, PromotionsApiError
from ansible_collections.idcloud.promotions.plugins.module_utils._module import PromotionTask, TaskSpec, run_module
from ansible_collections.idcloud.promotions.plugins.module_utils._report import describe_listing, report_facts

ARGUMENT_SPEC = dict(
    report=dict(type='str', choices=['last', 'list', 'provisional', 'provisional_rollback'], default='last'),
    report_id=dict(type='str'),
    dest=dict(type='path'),
    format=dict(type='str', choices=['json', 'markdown']),
)


def refused_combination(params: dict[str, Any]) -> str | None:
    """Why these options cannot go together, or None."""
    if params['report_id'] and params['report'] != 'last':
        return 'report_id goes with report=last only.'
    if params['report'] == 'provisional' and not params['lower_tenant_url']:
        return ('report=provisional is served by the lower environment: give lower_tenant_url and its credentials '
                '(tenant_url is the environment promoted into).')
    return None


def read(task: PromotionTask) -> Any:
    """The report asked for: the provisional one from the lower environment, the others from this one."""
    params = task.params
    promotions = task.lower_promotions() if params['report'] == 'provisional' else task.promotions()
    try:
        return promotions.report(params['report'], params['report_id'])
    except PromotionsApiError as exc:
        if exc.status == 404 and params['report_id']:
            raise PromotionError('report_id %s: the tenant has no report with this id (%s). The ids it has are listed '
                                 'by report: list.' % (params['report_id'], exc.message), error=exc.to_dict()) from None
        raise


def report_result(task: PromotionTask, document: Any) -> dict[str, Any]:
    """The return values for ``document``, written to O(dest) when given."""
    params = task.params
    result = dict(changed=False, report=document)
    if params['report'] == 'list':
        result['reports'] = describe_listing(document)
    else:
        result.update(report_facts(document))
    if params['dest']:
        result.update(changed=task.write_report(params['dest'], document, params['format']), dest=params['dest'])
    return result


TASK = TaskSpec(ARGUMENT_SPEC, lambda task: report_result(task, read(task)), lower_connection=True,
                refused=refused_combination)


def main() -> None:
    run_module(TASK)


if __name__ == '__main__':
    main()
