#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: promotion_release_info
short_description: Read the release an Identity Cloud environment runs and its next upgrade
version_added: 0.1.0
description:
  - Reads C(/environment/release) of the environment in O(tenant_url).
  - Production upgrades can be deferred; the first promotion into production during a deferral also upgrades
    production. Comparing the release of the lower and the upper environment tells whether a promotion would.
  - With O(lower_tenant_url), it also reads the lower environment's release and says whether promoting into
    O(tenant_url) would upgrade it (RV(upgrade)), in one module run.
  - Needs the C(fr:idc:release:*) scope; the module asks for it unless O(scope) says otherwise, for both
    environments.
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
    details: Reads only.
  diff_mode:
    support: none
    details: Nothing to show as a diff.
options:
  scope:
    description:
      - Space-separated scopes asked for with service-account tokens.
    type: str
    default: 'fr:idc:release:*'
'''

EXAMPLES = r'''
- name: Release of staging
  idcloud.promotions.promotion_release_info:
    tenant_url: "{{ staging_url }}"
    service_account_id: "{{ staging_sa_id }}"
    service_account_key: "{{ staging_sa_jwk }}"
  register: staging_release

- name: Would promoting staging into production upgrade production (a deferred upgrade)?
  idcloud.promotions.promotion_release_info:
    tenant_url: "{{ prod_url }}"
    service_account_id: "{{ prod_sa_id }}"
    service_account_key: "{{ prod_sa_jwk }}"
    lower_tenant_url: "{{ staging_url }}"
    lower_service_account_id: "{{ staging_sa_id }}"
    lower_service_account_key: "{{ staging_sa_jwk }}"
  register: release
  failed_when: release.upgrade
'''

RETURN = r'''
current_version:
  description: The release the environment runs.
  returned: always
  type: str
  sample: "13914.0"
next_upgrade:
  description: When the environment is next upgraded, as the tenant says it (may be null).
  returned: always
  type: raw
release:
  description: The body as the tenant sent it.
  returned: always
  type: dict
lower_current_version:
  description: The release the lower environment runs.
  returned: when O(lower_tenant_url) is given
  type: str
lower_next_upgrade:
  description: When the lower environment is next upgraded (may be null).
  returned: when O(lower_tenant_url) is given
  type: raw
upgrade:
  description:
    - True when the lower environment runs another release than O(tenant_url), so that a promotion would bring the
      upper environment to the lower one's release (the first promotion into production during a deferral).
    - Null when either environment did not say which release it runs.
  returned: when O(lower_tenant_url) is given
  type: bool
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

from ansible_collections.idcloud.promotions.plugins.module_utils._module import PromotionTask, TaskSpec, run_module
from ansible_collections.idcloud.promotions.plugins.module_utils._service import RELEASE_SCOPE


ARGUMENT_SPEC = dict(
    scope=dict(type='str', default=RELEASE_SCOPE),
)


def releases(task: PromotionTask) -> dict[str, Any]:
    return dict(task.promotions().compare_releases(task.lower_promotions()), changed=False)


TASK = TaskSpec(ARGUMENT_SPEC, releases, lower_connection=True)


def main() -> None:
    run_module(TASK)


if __name__ == '__main__':
    main()
