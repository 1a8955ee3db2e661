#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: promotion_lock
short_description: Lock or unlock the environments of an Identity Cloud promotion
version_added: 0.1.0
description:
  - Brings the promotion lock of an upper environment and its lower environment to the wanted state through the
    promotions API, and waits until the tenant reports it.
  - Locking is needed before a promotion or rollback; it blocks configuration changes in both environments.
  - A lock held by another promotion is never released unless O(force=true); the vendor's maintenance lock never is.
author:
  - idcloud.promotions contributors (@idcloud-promotions)
extends_documentation_fragment:
  - idcloud.promotions.attributes
  - idcloud.promotions.attributes.action_group
  - idcloud.promotions.connection
attributes:
  check_mode:
    support: full
    details: Reads the lock state and predicts RV(ignore:changed); sends no lock or unlock request.
  diff_mode:
    support: none
    details: Nothing to show as a diff.
options:
  state:
    description:
      - V(locked) takes the lock (or keeps the one given in O(promotion_id)); V(unlocked) releases it.
    type: str
    choices: [locked, unlocked]
    default: locked
  promotion_id:
    description:
      - The lock this task owns, as returned when it was taken.
      - With O(state=locked), a lock already held under this id is kept (nothing changes); if the environments are
        unlocked, a new lock is taken and its new id returned.
      - With O(state=unlocked), only the lock held under this id is released, unless O(force=true).
    type: str
  force:
    description:
      - With O(state=unlocked), release the lock whoever holds it, for a lock left behind by an interrupted run.
      - Never releases a lock without a promotion id (the vendor's maintenance lock).
    type: bool
    default: false
  wait:
    description:
      - Wait until the tenant reports the lock as V(locked) (or V(unlocked)).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait at most, for the lock change and for O(wait_for_release) together.
    type: int
    default: 900
  wait_for_release:
    description:
      - With O(state=locked), when another promotion or the vendor's maintenance lock holds the environments, wait
        (up to O(wait_timeout)) until it is released, then lock. Without it the task fails at once naming the holder.
    type: bool
    default: false
  record:
    description:
      - A file that remembers the lock this task takes, so that a run interrupted after locking (Ctrl-C, a killed
        controller) finds and reuses its lock when run again instead of failing on "already locked".
      - When O(promotion_id) is not given, the id is read from this file, if it exists and was written for the same
        O(tenant_url).
      - With O(state=locked), the file is written once the lock is held (JSON with C(promotion_id), C(tenant_url),
        C(locked_at), C(transaction_id); never a secret). With O(state=unlocked), it is removed once that lock is gone.
      - Writing or removing it is not a configuration change and does not make the task changed.
    type: path
'''

EXAMPLES = r'''
- name: Lock staging (and dev, its lower environment)
  idcloud.promotions.promotion_lock:
    tenant_url: https://openam-acme-staging.forgeblocks.com
    service_account_id: "{{ staging_sa_id }}"
    service_account_key: "{{ staging_sa_jwk }}"
  register: lock

- name: Release the lock this play took
  idcloud.promotions.promotion_lock:
    tenant_url: https://openam-acme-staging.forgeblocks.com
    service_account_id: "{{ staging_sa_id }}"
    service_account_key: "{{ staging_sa_jwk }}"
    state: unlocked
    promotion_id: "{{ lock.promotion_id }}"

- name: Wait for a colleague's promotion to finish, then lock
  idcloud.promotions.promotion_lock:
    tenant_url: "{{ upper_url }}"
    access_token: "{{ token }}"
    wait_for_release: true
    wait_timeout: 1800

- name: Lock, or find the lock this play took before it was interrupted
  idcloud.promotions.promotion_lock:
    tenant_url: "{{ upper_url }}"
    access_token: "{{ token }}"
    record: "{{ playbook_dir }}/.locks/{{ inventory_hostname }}.json"
  register: lock

- name: Release a lock left behind by an interrupted run (break glass)
  idcloud.promotions.promotion_lock:
    tenant_url: "{{ upper_url }}"
    access_token: "{{ token }}"
    state: unlocked
    promotion_id: 791eb03a-7ec1-42ae-ae84-ed142cf52688
    force: true
'''

RETURN = r'''
promotion_id:
  description:
    - Id of the lock taken, kept or released. Pass it to the other modules and to the unlock.
    - In check mode, when a new lock would be taken, null.
  returned: always
  type: str
  sample: 8acd3a87-2272-450f-a3b3-1eb222108740
state:
  description: The lock state last read (C(result) of the lock state), e.g. V(locked), V(unlocked), V(locking).
  returned: always
  type: str
  sample: locked
lock:
  description: The last lock-state body as the tenant sent it.
  returned: always
  type: dict
  sample: {"result": "locked", "description": "Environment locked", "promotionId": "8acd3a87-2272-450f-a3b3-1eb222108740",
           "lowerEnv": {"state": "locked", "promotionId": "8acd3a87-2272-450f-a3b3-1eb222108740"},
           "upperEnv": {"state": "locked", "promotionId": "8acd3a87-2272-450f-a3b3-1eb222108740"}}
history:
  description: Each lock state seen while waiting, with the time it was seen.
  returned: always
  type: list
  elements: dict
holder:
  description: Promotion id of the lock that stopped the task, when another promotion holds it.
  returned: on failure, when known
  type: str
holder_evidence:
  description: With RV(holder), when taking the lock, what the tenant shows under the lock held (the reports made under
    it and the run going on or last ended under it), as RV(idcloud.promotions.promotion_run#module:holder_evidence).
  returned: on failure to lock, with RV(holder)
  type: dict
resumed:
  description: True when the lock of O(promotion_id), or the one named in O(record), was found still held and kept.
  returned: always
  type: bool
record:
  description: What O(record) holds after the task (null when it holds nothing).
  returned: when O(record) is given
  type: dict
  sample: {"promotion_id": "8acd3a87-2272-450f-a3b3-1eb222108740", "tenant_url": "https://tenant.example.com",
           "locked_at": "2026-01-05T10:00:01Z", "transaction_id": "3c6b1f9e-2d7a-4a51-9a8f-0a5c1f0c2b11"}
elapsed:
  description: Seconds the module took, waits included.
  returned: always
  type: float
  sample: 2.4
transaction_id:
  description: Transaction id sent with the module's requests as C(X-ForgeRock-TransactionId); quote it to support.
  returned: always
  type: str
'''


from typing import Any

from ansible_collections.idcloud.promotions.plugins.module_utils._errors import PromotionError
from ansible_collections.idcloud.promotions.plugins.module_utils._module import PromotionTask, TaskSpec, run_module
from ansible_collections.idcloud.promotions.plugins.module_utils._service import Promotions

ARGUMENT_SPEC = dict(
    state=dict(type='str', choices=['locked', 'unlocked'], default='locked'),
    promotion_id=dict(type='str'),
    force=dict(type='bool', default=False),
    wait=dict(type='bool', default=True),
    wait_timeout=dict(type='int', default=900),
    wait_for_release=dict(type='bool', default=False),
    record=dict(type='path'),
)


def lock(task: PromotionTask, promotions: Promotions) -> dict[str, Any]:
    """Locked: the lock kept (that of O(promotion_id), or of O(record)) or taken, and recorded."""
    params = task.params
    return promotions.keep_or_lock(params['promotion_id'], wait=params['wait'],
                                   wait_timeout=params['wait_timeout'], wait_for_release=params['wait_for_release'])


def unlock(task: PromotionTask, promotions: Promotions) -> dict[str, Any]:
    """Unlocked: the lock of O(promotion_id) (or of O(record)) released, or any lock with O(force); the record goes."""
    params = task.params
    record = promotions.record
    promotion_id = params['promotion_id'] or record.promotion_id()
    try:
        result = promotions.ensure_unlocked(promotion_id=promotion_id, force=params['force'], wait=params['wait'],
                                            wait_timeout=params['wait_timeout'])
    except PromotionError as exc:
        if promotion_id and exc.result.get('holder') not in (None, promotion_id):
            record.forget()  # our lock is gone; someone else's is in place now
        raise
    result['resumed'] = False
    if record.path:
        record.forget()
        result['record'] = None
    return result


def lock_or_unlock(task: PromotionTask) -> dict[str, Any]:
    step = lock if task.params['state'] == 'locked' else unlock
    return step(task, task.promotions())


TASK = TaskSpec(ARGUMENT_SPEC, lock_or_unlock)


def main() -> None:
    run_module(TASK)


if __name__ == '__main__':
    main()
