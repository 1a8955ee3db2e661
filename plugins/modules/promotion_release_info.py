#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

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
  - Needs the C(fr:idc:release:*) scope; the module asks for it unless O(scope) says otherwise.
author:
  - idcloud.promotions contributors (@idcloud-promotions)
extends_documentation_fragment:
  - idcloud.promotions.connection
attributes:
  check_mode:
    support: full
    description: Reads only.
  diff_mode:
    support: none
    description: Nothing to show as a diff.
options:
  scope:
    description:
      - Space-separated scopes asked for with service-account tokens.
    type: str
    default: 'fr:idc:release:*'
  lower_tenant_url:
    description:
      - Base URL of the lower environment, to compare its release with that of O(tenant_url).
      - Its credentials are O(lower_access_token), or O(lower_service_account_id) with O(lower_service_account_key)
        (service accounts are per environment). O(scope), O(validate_certs), O(api_version) and O(request_timeout)
        apply to both environments.
    type: str
  lower_access_token:
    description: An access token for O(lower_tenant_url).
    type: str
  lower_service_account_id:
    description: ID of a service account of the lower environment.
    type: str
  lower_service_account_key:
    description: Private key of that service account (JWK as JSON text or dictionary, or PEM).
    type: raw
  lower_ca_path:
    description: CA file for O(lower_tenant_url); O(ca_path) when not given.
    type: path
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

from ansible_collections.idcloud.promotions.plugins.module_utils.module import PromotionModule


def main():
    module = PromotionModule(
        argument_spec=dict(
            scope=dict(type='str', default='fr:idc:release:*'),
            lower_tenant_url=dict(type='str'),
            lower_access_token=dict(type='str', no_log=True),
            lower_service_account_id=dict(type='str'),
            lower_service_account_key=dict(type='raw', no_log=True),
            lower_ca_path=dict(type='path'),
        ),
        required_together=[('lower_service_account_id', 'lower_service_account_key')],
        mutually_exclusive=[('lower_access_token', 'lower_service_account_id')],
    )
    params = module.params
    if params['lower_tenant_url'] and not (params['lower_access_token'] or params['lower_service_account_id']):
        module.fail_json(msg='lower_tenant_url needs lower_access_token, or lower_service_account_id and lower_service_account_key.')
    upper = module.promotions()
    lower = module.promotions(
        tenant_url=params['lower_tenant_url'], access_token=params['lower_access_token'],
        service_account_id=params['lower_service_account_id'], service_account_key=params['lower_service_account_key'],
        ca_path=params['lower_ca_path'] or params['ca_path']) if params['lower_tenant_url'] else None

    def step():
        body = upper.release() or {}
        result = dict(changed=False, release=body, current_version=body.get('currentVersion'),
                      next_upgrade=body.get('nextUpgrade'))
        if lower is not None:
            lower_body = lower.release() or {}
            versions = (lower_body.get('currentVersion'), body.get('currentVersion'))
            result.update(lower_current_version=versions[0], lower_next_upgrade=lower_body.get('nextUpgrade'),
                          upgrade=versions[0] != versions[1] if all(versions) else None)
        return result

    module.run(step)


if __name__ == '__main__':
    main()
