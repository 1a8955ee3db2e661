# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    """Connection options shared by every module of idcloud.promotions."""

    DOCUMENTATION = r'''
options:
  tenant_url:
    description:
      - Base URL of the environment the call goes to, C(https://host[:port][/prefix]).
      - For promotions, rollbacks, locks and most reports this is the B(upper) environment
        (the promotions API pulls from the lower one).
      - Falls back to the E(IDCLOUD_TENANT_URL) environment variable.
    type: str
    required: true
  access_token:
    description:
      - An access token for O(tenant_url) with the promotion scope.
      - A token cannot be renewed; for runs longer than its life use a service account instead.
      - Give either this or O(service_account_id) and O(service_account_key).
      - Falls back to the E(IDCLOUD_ACCESS_TOKEN) environment variable.
    type: str
  service_account_id:
    description:
      - ID of a service account of the environment in O(tenant_url) (service accounts are per environment).
      - Falls back to the E(IDCLOUD_SERVICE_ACCOUNT_ID) environment variable.
    type: str
  service_account_key:
    description:
      - Private key of the service account, as downloaded (a JWK, given as JSON text or as a dictionary), or as an
        unencrypted PEM RSA private key.
      - Used to sign the RS256 JWT that obtains access tokens; the key never leaves the host that runs the module.
      - Falls back to the E(IDCLOUD_SERVICE_ACCOUNT_KEY) environment variable.
    type: raw
  scope:
    description:
      - Space-separated scopes asked for with service-account tokens.
    type: str
    default: 'fr:idc:promotion:*'
  validate_certs:
    description:
      - Verify the tenant's TLS certificate. Leave it on; use O(ca_path) for a private CA.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the CA (or bundle) that signed the tenant certificate, instead of the system store.
      - Falls back to the E(IDCLOUD_CA_PATH) environment variable.
    type: path
  request_timeout:
    description:
      - Seconds to wait for one answer from the tenant before the request counts as failed.
    type: float
    default: 30
  api_version:
    description:
      - Value of the C(Accept-API-Version) header sent with every promotions API call.
    type: str
    default: 'protocol=1.0,resource=1.0'
  transaction_id:
    description:
      - Transaction id sent as C(X-ForgeRock-TransactionId), followed by a per-request sequence number, so the
        tenant's audit log ties the calls of a run together. Support asks for it.
      - A fresh id is made when not given; every module returns the one it used.
    type: str
  headers:
    description:
      - Extra HTTP headers sent with every request (token requests too), for a web application firewall or a proxy in
        front of the tenant, as a mapping of header name to value.
      - The headers the module sets itself (C(Accept), C(Accept-API-Version), C(Authorization), C(Content-Type),
        C(User-Agent), C(X-ForgeRock-TransactionId)) cannot be replaced.
      - The values are kept out of the task's output and logs, as they may be keys.
    type: dict
    default: {}
notes:
  - Transient failures of a read (no connection, a reset, a body cut short, HTTP 429, 502, 503, 504) are tried again
    with a jittered backoff for as long as the step's time allows (the time left of C(wait_timeout) or
    C(lock_timeout); 60 seconds for a read outside a wait), honouring C(Retry-After) but never past that time. A
    write (lock, unlock, promote, rollback) is never sent again blindly after an unclear failure; the module reads
    the state to see whether it happened.
  - O(tenant_url) must be an C(https://) URL; a credential, a timeout or a file that cannot work is refused before
    any request.
  - Service-account tokens are renewed before they expire and once on a 401, so a long wait never fails for that.
requirements:
  - requests
  - cryptography (for service-account keys)
'''

    # The lower environment of a promotion, for the modules that read it too (its release).
    LOWER = r'''
options:
  lower_tenant_url:
    description:
      - Base URL of the lower environment (the one the promotion pulls from).
      - Its credentials are O(lower_access_token), or O(lower_service_account_id) with O(lower_service_account_key)
        (service accounts are per environment). O(validate_certs), O(api_version) and O(request_timeout) apply to
        both environments.
      - Falls back to the E(IDCLOUD_LOWER_TENANT_URL) environment variable.
    type: str
  lower_access_token:
    description:
      - An access token for O(lower_tenant_url).
      - Falls back to the E(IDCLOUD_LOWER_ACCESS_TOKEN) environment variable.
    type: str
  lower_service_account_id:
    description:
      - ID of a service account of the lower environment.
      - Falls back to the E(IDCLOUD_LOWER_SERVICE_ACCOUNT_ID) environment variable.
    type: str
  lower_service_account_key:
    description:
      - Private key of that service account (JWK as JSON text or dictionary, or PEM).
      - Falls back to the E(IDCLOUD_LOWER_SERVICE_ACCOUNT_KEY) environment variable.
    type: raw
  lower_ca_path:
    description:
      - CA file for O(lower_tenant_url); O(ca_path) when not given.
      - Falls back to the E(IDCLOUD_LOWER_CA_PATH) environment variable.
    type: path
'''
