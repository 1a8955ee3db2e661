#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: promotion_run
short_description: Run an Identity Cloud promotion, dry run or rollback to its end
version_added: 0.1.0
description:
  - Starts a promotion (or a dry run, or a rollback of the last promotion) in the upper environment given in
    O(tenant_url) and waits until it ends, then reads the report the run produced.
  - The environments must be locked first, by M(idcloud.promotions.promotion_lock) or by this module with O(lock).
    The lock is checked against O(promotion_id) before anything starts.
  - If a run of the same kind is already in progress under the same lock (a playbook interrupted and started
    again), the module waits for that run instead of starting another one.
  - With O(dry_run_first), one task does what a careful person does (a dry run, its checks, then the promotion only
    when the dry run passed and found something to promote). With O(unlock_after), the same task also releases the
    lock at the end. One task instead of three saves a module start-up each.
  - Fails, naming the cause and the next step, on missing ESVs, encrypted values, a blocking error, a missing lock
    or a timeout. A failure leaves the lock in place unless O(unlock_after); release it with
    M(idcloud.promotions.promotion_lock).
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
    details:
      - Reads the lock and the status and says whether a run would start; starts, locks and writes nothing.
      - RV(ignore:changed) is predicted from the preview (the lower environment's provisional report, or the
        provisional-rollback report) as true for a promotion or rollback that would start and change something, false
        for a dry run. A preview that shows missing ESVs fails the task, as the dry run would.
      - Without O(lower_tenant_url) a promotion cannot be previewed, and is predicted to start, with a warning
        (RV(preview)).
  diff_mode:
    support: partial
    details: Shows the report of a run that ended (what changed, or would change for a dry run); in check mode the
      preview (the lower environment's provisional report, or the provisional-rollback report), and nothing without it.
options:
  operation:
    description:
      - V(promote) copies the lower environment's configuration into the upper one; V(rollback) reverts the upper
        environment to its configuration before the last promotion.
    type: str
    choices: [promote, rollback]
    default: promote
  dry_run:
    description:
      - Run the promotion's checks and produce its report without changing anything or restarting services.
      - A rollback has no dry run; with O(operation=rollback), the provisional-rollback report (what a rollback would
        revert) stands for it, and nothing is started.
    type: bool
    default: false
  dry_run_first:
    description:
      - Run a dry run first and wait for it; start the promotion only when the dry run passed (no missing ESVs, no
        encrypted values unless O(ignore_encrypted_secrets)) and, with O(skip_if_unchanged), found something to
        promote. The dry run's report goes to O(dry_run_report_dest), its results to RV(dry_run_result).
      - O(wait_timeout) bounds both runs together. When the real promotion of an interrupted run is already under
        way or done under the same lock, no dry run is made and the module waits for (or reports) that promotion.
      - With O(operation=rollback), the provisional-rollback report comes first instead of a dry run, and the rollback
        starts only when it shows something to roll back (with O(skip_if_unchanged)).
      - Only with O(wait=true); not with O(dry_run).
    type: bool
    default: false
  skip_if_unchanged:
    description:
      - With O(dry_run_first), end without starting the promotion when the dry run found nothing to promote, so the
        tenant's services are not restarted for nothing. Set to V(false) to promote anyway.
    type: bool
    default: true
  ignore_encrypted_secrets:
    description:
      - Promote even though the configuration holds encrypted values (C(ignoreEncryptedSecrets)). Only for values that
        are there on purpose.
    type: bool
    default: false
  unlock_after:
    description:
      - Release the lock when the task ends, and wait (up to O(lock_timeout)) until the environments are unlocked. A
        successful real run asks the tenant to do it (C(unlockEnvironmentsAfterPromotion)); the module then waits for
        it, and sends the unlock itself when the tenant has not (a dry run, nothing to promote, a failed check, a
        failed run).
      - Only the lock of O(promotion_id), or the one taken with O(lock), is released by the module, never a lock it
        merely found in place. With O(wait=false) only the tenant's own release after a successful run applies.
      - The lock stays after a blocking error (the tenant refuses until support has cleared it) and while a run is
        still going on (a timeout). RV(lock_released) says which.
    type: bool
    default: false
  lock:
    description:
      - Take the lock first, as M(idcloud.promotions.promotion_lock) with O(idcloud.promotions.promotion_lock#module:state=locked)
        does, and work under it. The lock of O(promotion_id), or of the record of an interrupted run in O(record), is
        kept when it is still held. A lock held by another promotion or by the vendor fails the task, naming it.
      - With O(unlock_after), one task takes the lock, runs and releases it. With a lower environment given, the
        release check comes before the lock.
    type: bool
    default: false
  lock_timeout:
    description: With O(lock), seconds to wait at most for the lock (and, with O(wait_for_release), for another lock to go).
    type: int
    default: 900
  wait_for_release:
    description: With O(lock), wait (up to O(lock_timeout)) for a lock held by another promotion to be released, then lock.
    type: bool
    default: false
  record:
    description:
      - A lock record file, as O(idcloud.promotions.promotion_lock#module:record) of M(idcloud.promotions.promotion_lock).
        With O(lock) it is read to keep the lock of an interrupted run, and written as soon as a new lock's id is
        known. It is removed once O(unlock_after) has released the lock.
      - It also notes the last run started under the lock (promotion or rollback, dry run or not), so that a rerun
        tells them apart where the tenant does not (the statuses and reports of the vendor's guide name no type).
    type: path
  promoter:
    description: Who runs the promotion, recorded in the report.
    type: str
  description:
    description: What the promotion is for, recorded in the report (C(promotionDescription)).
    type: str
  ticket_reference:
    description: Change or support ticket reference, recorded in the report (C(zendeskTicketReference)).
    type: str
  promotion_id:
    description:
      - The lock this run works under, as returned by M(idcloud.promotions.promotion_lock).
      - When given, the module fails if the environments are locked under another id. When omitted, the run uses
        whatever lock is in place (without O(lock)).
      - With O(lock), the lock is kept when it is still held, and the run it was taken for is finished under it. This
        resumes a run that was interrupted and kept no O(record) (an AWX job's files are gone once it ends). A
        task refused on a lock another promotion holds names its id in RV(holder) and shows in RV(holder_evidence) the
        reports and the run under it.
    type: str
  wait:
    description:
      - Wait until the run ends. Without it the module returns as soon as the run has started.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait at most for the run to end. A real promotion restarts the tenant's services and can take
        ten minutes or more.
      - On timeout the run goes on in the tenant; running the task again attaches to it.
    type: int
    default: 3600
  report_dest:
    description:
      - Files to write the run's report to, each as JSON or Markdown according to its suffix (C(.json), C(.md)).
      - Written also when the run fails on missing ESVs or encrypted values, so the report can be attached to the
        fix. Writing them is not a configuration change and does not make the task changed.
    type: list
    elements: path
    default: []
  allow_release_upgrade:
    description:
      - With O(lower_tenant_url), a promotion (not a dry run) first compares the release of both environments. When
        the lower one runs another release, the promotion would also upgrade the upper one (the first promotion into
        production during a deferred upgrade), and the module refuses to start anything unless this is V(true).
      - A rollback (not a preview) makes the same check first, as the vendor's rollback procedure now does. When the
        releases differ, the promotion to roll back may have come with a deferred upgrade, and the rollback is refused
        unless this is V(true).
      - Reading releases needs the C(fr:idc:release:*) scope, asked for separately with service accounts. Credentials
        without it (the vendor's procedure grants only C(fr:idc:promotion:*)) skip the check with a warning, unless
        O(require_release_check).
    type: bool
    default: false
  require_release_check:
    description:
      - Fail, before anything is locked, when the release check cannot be made because the credentials lack the
        C(fr:idc:release:*) scope, instead of skipping it with a warning.
    type: bool
    default: false
  dry_run_report_dest:
    description:
      - With O(dry_run_first), files to write the dry run's report to, as in O(report_dest).
    type: list
    elements: path
    default: []
  failure_dest:
    description:
      - A file to keep the task's whole result in, as JSON, when the task fails, for a caller that shows less of it
        (the role shows one line per failed host). Removed when the task succeeds, so that a file found there is
        always that of the last run. Check mode writes and removes nothing.
    type: path
  progress:
    description:
      - When the task runs on the controller (a local connection), show a line under the host's name at each change
        of the lock state or of the run's status (the tenant's own phase message, such as C(Waiting for workloads to
        restart)) and at least every 30 seconds while one lasts, with the time spent. The lines cost no request and
        no wait.
      - A task delegated to another host runs the module there, without these lines.
    type: bool
    default: true
  run_id:
    description:
      - Names a run of many hosts, such as one of C(idcloud.promotions.promote); the same for every host of the run,
        new for each run.
      - The task records how it ended (its RV(outcome) and message), once it has, for the hosts that follow this one
        (O(after)) and for O(max_fail_percentage). The records are files in Ansible's own temporary directory on the
        controller, which goes when ansible-playbook ends.
    type: str
  after:
    description:
      - With O(run_id), the inventory host that must end well first (C(promoted), C(nothing_to_promote), C(dry_run_only),
        C(rolled_back), C(nothing_to_roll_back), or what check mode predicts) when it is a host of the same play run.
      - The task waits for that host's record before it does anything (once that host has started, at most twice
        O(lock_timeout) plus O(wait_timeout)), and is skipped, with the reason, when that host did not end well.
      - Run the play's hosts so that a host comes after the one it follows (the playbook orders them with the
        P(idcloud.promotions.promotion_plan#filter) filter); then no number of forks can deadlock the run.
    type: str
  max_fail_percentage:
    description:
      - With O(run_id), skip the task, with the reason, when more than this percentage of the play's hosts have
        recorded a failure by the time this host's turn comes.
    type: float
  expected_plan:
    description:
      - The plan reviewed for this environment, as a preview returned it in RV(plan) (C(digest), C(changes), C(source),
        C(previewed_at)); the role reads it from C(promote_expected_plans).
      - With O(dry_run_first), the dry run's changes are compared with the plan's after the dry run and before the
        promotion. When they differ (see O(plan_match)), the promotion is not started, the task fails listing the
        changes added and removed since the review (RV(plan_check)), and O(unlock_after) releases the lock.
      - Needs O(dry_run_first) for a promotion. Not compared in check mode nor by a dry run only (they make a plan), nor
        when the task attaches to a promotion of an interrupted run already under way; not for a rollback.
      - A plan whose C(digest) is not that of its C(changes) (edited after the preview) is refused before anything is
        locked.
    type: dict
  plan_match:
    description:
      - V(exact), the dry run must hold the changes of O(expected_plan), no more and no fewer; V(subset), it may hold
        fewer (a part promoted by hand meanwhile, say), never one that was not reviewed.
    type: str
    choices: [exact, subset]
    default: exact
  require_plan:
    description:
      - Refuse, before anything is locked, a promotion given no O(expected_plan). For production. Check mode and a dry
        run only, which make the plan, are not refused.
    type: bool
    default: false
  policy:
    description:
      - Gates on what a promotion would change, checked on the dry run before the promotion, and on the preview in
        check mode and in a dry run only, so that a pre-flight fails early. A breach fails the task naming the rule and
        the changes that break it, before anything is promoted; O(unlock_after) releases the lock.
      - C(max_changes), C(max_deletions), non-negative integers; C(protected), rules no change may match; C(allowed),
        when given, rules one of which every change must match.
      - A rule is a pattern on C(AREA / CONFIG ITEM / NAME) with shell-style wildcards (C(AMConfig / OAuth2 Clients / *)),
        or a mapping with C(match) (that pattern) and, optionally, C(change) (V(added), V(modified) or V(deleted)) and
        C(realm) (a pattern).
      - A policy with another key, a maximum that is not a non-negative integer or a rule of another form is refused
        before anything is locked. Needs O(dry_run_first) or O(dry_run) for a promotion; not for a rollback.
    type: dict
  require_session_check:
    description:
      - Before anything is locked, the upper environment's direct-configuration session state is read, and the task
        fails when a session is open or in C(ERROR), since a promotion would race with the session or overwrite what it
        changes. Reading it needs the C(fr:idc:direct-configuration:session:read) scope, asked for separately with
        service accounts; without it (or on a tenant without direct configuration) the check is skipped with a
        warning, unless this is V(true).
    type: bool
    default: false
'''

EXAMPLES = r'''
- name: Dry run
  idcloud.promotions.promotion_run:
    tenant_url: "{{ upper_url }}"
    service_account_id: "{{ sa_id }}"
    service_account_key: "{{ sa_key }}"
    promotion_id: "{{ lock.promotion_id }}"
    dry_run: true
    report_dest:
      - reports/dry-run.json
      - reports/dry-run.md
  register: dry_run

- name: Promote, when the dry run found something to promote
  idcloud.promotions.promotion_run:
    tenant_url: "{{ upper_url }}"
    service_account_id: "{{ sa_id }}"
    service_account_key: "{{ sa_key }}"
    promotion_id: "{{ lock.promotion_id }}"
    promoter: "{{ lookup('env', 'USER') }}"
    description: Release 42
    ticket_reference: CHG-1234
  when: not dry_run.empty

- name: Dry run, checks, promotion and unlock in one task
  idcloud.promotions.promotion_run:
    tenant_url: "{{ upper_url }}"
    service_account_id: "{{ sa_id }}"
    service_account_key: "{{ sa_key }}"
    promotion_id: "{{ lock.promotion_id }}"
    dry_run_first: true
    unlock_after: true
    dry_run_report_dest: [reports/dry-run.md]
    report_dest: [reports/promotion.md]
  register: promotion

- name: Roll back the last promotion
  idcloud.promotions.promotion_run:
    tenant_url: "{{ upper_url }}"
    access_token: "{{ token }}"
    operation: rollback
    promotion_id: "{{ lock.promotion_id }}"
'''

RETURN = r'''
outcome:
  description:
    - How the task ended, in the role's words. V(promoted), V(nothing_to_promote) (the dry run found nothing, or the
      promotion changed nothing), V(dry_run_only), V(rolled_back), V(nothing_to_roll_back); in check mode
      V(would_promote), V(would_roll_back) or V(nothing_to_promote); V(failed) on any failure.
  returned: always, but for a refused combination of options
  type: str
  sample: promoted
status:
  description: Last status of the run (V(READY) when it completed, V(ERROR) when it failed; V(IN_PROGRESS) is reported as
    V(RUNNING)). Always a string, also on failure.
  returned: always
  type: str
  sample: READY
message:
  description: The tenant's last status message, such as C(Promotion completed) or C(Promotion completed (no change)).
  returned: always
  type: str
  sample: Promotion completed
type:
  description: V(promotion) or V(rollback).
  returned: always
  type: str
blocking_error:
  description: True when the run failed in a way only support can resolve; the environments stay locked and blocked.
  returned: always
  type: bool
missing_esvs:
  description: ESVs the lower environment's configuration references and the upper environment lacks.
  returned: always
  type: list
  elements: str
  sample: ["email.from"]
encrypted_secrets:
  description: Encrypted values found in the configuration, as the tenant lists them.
  returned: always
  type: list
  elements: str
promotion_id:
  description: Id of the lock the run worked under.
  returned: always
  type: str
attached:
  description: True when the module waited for a run that was already in progress instead of starting one.
  returned: always
  type: bool
history:
  description: Each status and message seen while waiting, with the time it was first seen.
  returned: always
  type: list
  elements: dict
  sample: [{"status": "RUNNING", "message": "Prepare config", "time": "2026-01-05T10:00:01Z", "elapsed": 0.1}]
report:
  description: The report the run produced, as the tenant sent it; null when it produced none (or in check mode).
  returned: always
  type: dict
summary:
  description:
    - Counts of changes in the report (added, modified, deleted, total), overall, per area and per config item.
    - Null (and RV(changes) and RV(empty) too) when the run ended but its report could not be had
      (RV(report_available)); what it changed is then unknown, never 0.
  returned: always
  type: dict
  sample: {"added": 1, "modified": 0, "deleted": 0, "total": 1, "areas": {}, "config_items": {}}
changes:
  description: One row per change in the report.
  returned: always
  type: list
  elements: dict
  sample: [{"area": "IDMConfig", "config_item": "Email > Templates", "change": "added", "name": "Forgotten Username", "realm": null}]
empty:
  description: True when the report lists no change (for a dry run, nothing to promote).
  returned: always
  type: bool
report_available:
  description:
    - False when the run ended but the tenant did not show its report before the wait for it ended (a report may lag
      the status). The task does not take another run's report for it; read it later with
      M(idcloud.promotions.promotion_report).
  returned: when the run ended in READY and its report could not be had
  type: bool
plan:
  description:
    - What the promotion would change, as a plan to review and give back in O(expected_plan) (the role writes the plans
      of a run to C(plan.yml)); C(source) says what showed it, V(dry_run) (the tenant's own dry run, a dry run only or
      the dry run made first) or V(provisional) (check mode, from the lower environment's provisional report, which may not
      list every change). C(digest) is a sha256 over the sorted rows of C(changes).
    - Null for a rollback, and when no report showed the changes.
  returned: always, but for a refused combination of options
  type: dict
  sample: {"digest": "sha256:5d1e...", "source": "dry_run", "previewed_at": "2026-12-06T10:00:00Z",
           "changes": [{"area": "AMConfig", "config_item": "Journeys", "name": "Login", "realm": "alpha", "change": "added"}]}
plan_check:
  description:
    - With O(expected_plan), the comparison of the dry run with it (C(result) V(matched) or V(differed), C(match), the
      C(digest) found and the C(reviewed_digest), the rows C(added) and C(removed) since the review).
  returned: when a dry run was compared with O(expected_plan)
  type: dict
policy_breaches:
  description: With O(policy), each rule the changes broke, told with the changes that break it.
  returned: when the policy refused the changes
  type: list
  elements: str
session_check:
  description:
    - The direct-configuration session state read before the lock (C(status), C(editable)) and C(skipped=false);
      C(skipped=true) and the C(warning) given when it could not be read.
  returned: when the check was made or skipped
  type: dict
  sample: {"skipped": false, "status": "NO_SESSION", "editable": false}
release_check:
  description:
    - The releases compared before the promotion (C(current_version), C(next_upgrade), C(lower_current_version),
      C(lower_next_upgrade), C(upgrade), C(release)) and C(skipped=false).
    - When the credentials lack the release scope, C(skipped=true), C(missing_scope) and the C(warning) given.
  returned: when O(lower_tenant_url) is given, for a promotion or a rollback that is not a dry run
  type: dict
preview:
  description:
    - In check mode, whether what the run would change and the gates of its dry run could be previewed
      (C(skipped=false)).
    - A promotion is previewed from the provisional report of the lower environment; without O(lower_tenant_url),
      C(skipped=true) and the C(warning) given. The task then predicts only that the promotion would start.
  returned: in check mode, on success
  type: dict
  sample: {"skipped": false}
resumed:
  description: With O(lock), true when the lock of O(promotion_id), or the one named in O(record), was still held and was
    kept.
  returned: success
  type: bool
holder:
  description: Promotion id of the lock another promotion holds, when that stopped the task.
  returned: on failure, when known
  type: str
holder_evidence:
  description:
    - With RV(holder), what the tenant shows under that lock, to tell an interrupted run of one's own from a
      colleague's (the API records no owner). C(reports) lists the reports made under it (C(dry_run), C(type),
      C(created), C(report_id)); C(run) is the status of the run going on or last ended under it, or null.
    - Null when it could not be read.
  returned: on failure, with RV(holder)
  type: dict
  sample: {"promotion_id": "8acd3a87-2272-450f-a3b3-1eb222108740", "run": null,
           "reports": [{"dry_run": true, "type": "promotion", "created": "2026-01-05T10:00:41Z", "report_id": "c41286bb"}]}
real_run:
  description: True when a real promotion or rollback ran (or was found under way or done under the same lock); false
    when only a dry run ran, and in check mode.
  returned: when the task reached a run (also when the run failed)
  type: bool
dry_run_result:
  description:
    - With O(dry_run_first), what the dry run made first found (C(status), C(message), C(missing_esvs),
      C(encrypted_secrets), C(report), C(summary), C(changes), C(empty), C(report_files), as above); null when no dry
      run was needed. When the promotion was not started, the values above are the dry run's too.
  returned: when the task reached a run (also when the run failed)
  type: dict
lock_released:
  description: With O(unlock_after), whether the environments are unlocked at the end (false after a blocking error,
    a timeout, or a refused unlock, whose reason is in RV(unlock_error)).
  returned: with O(unlock_after=true) and O(wait=true), when the task holds a lock, not in check mode
  type: bool
unlock_error:
  description: Why O(unlock_after) could not release the lock, when the release was tried and failed.
  returned: when the release failed
  type: str
lock_kept:
  description:
    - With O(unlock_after), why the lock the task holds was not released, when it was kept on purpose; RV(next_step)
      says what to do. V(running), the run still goes on, or was not seen to end (a O(wait_timeout) ended, or the
      answer to its start was lost and no read has shown it since); V(blocked), a blocking error, which
      the API keeps locked until support clears it; V(locking), the lock was still changing after O(lock_timeout) (it
      is not waited for again); V(error), the lock is in error.
    - Absent when the lock was released or released by the tenant, and when the task holds none.
  returned: when the task keeps its lock on purpose
  type: str
  sample: running
next_step:
  description: With RV(lock_kept), what to do about the lock kept.
  returned: with RV(lock_kept)
  type: str
cause:
  description: With RV(holder), the message without its ways out (what holds the lock and what the tenant shows under
    it), for a caller that gives its own.
  returned: on failure, with RV(holder)
  type: str
report_files:
  description: The report files written (O(dry_run_report_dest), then O(report_dest)).
  returned: when the task reached a run (also when the run failed)
  type: list
  elements: str
failure_file:
  description: The file the result of the failed task was kept in (O(failure_dest)).
  returned: on failure, with O(failure_dest), but in check mode
  type: str
elapsed:
  description: Seconds the module took, waits included.
  returned: always
  type: float
transaction_id:
  description: Transaction id sent with the module's requests as C(X-ForgeRock-TransactionId); quote it to support.
  returned: always
  type: str
'''

from datetime import datetime, timezone
from typing import Any

from ansible_collections.idcloud.promotions.plugins.module_utils._errors import ConfigurationError, PromotionError, PromotionsApiError
from ansible_collections.idcloud.promotions.plugins.module_utils._files import write_reports
from ansible_collections.idcloud.promotions.plugins.module_utils._module import PromotionTask, TaskSpec, run_module
from ansible_collections.idcloud.promotions.plugins.module_utils._report import change_rows
from ansible_collections.idcloud.promotions.plugins.module_utils._review import PLAN_MATCHES, Review, make_plan, plan_problem, policy_problem
from ansible_collections.idcloud.promotions.plugins.module_utils._service import (
    NO_PREVIEW_WARNING, Promotions, check_release, check_session, run_body, task_result)
from ansible_collections.idcloud.promotions.plugins.module_utils._states import KEPT_ERROR, KEPT_LOCKING

ARGUMENT_SPEC = dict(
    operation=dict(type='str', choices=['promote', 'rollback'], default='promote'),
    dry_run=dict(type='bool', default=False),
    dry_run_first=dict(type='bool', default=False),
    skip_if_unchanged=dict(type='bool', default=True),
    ignore_encrypted_secrets=dict(type='bool', default=False),
    unlock_after=dict(type='bool', default=False),
    lock=dict(type='bool', default=False),
    lock_timeout=dict(type='int', default=900),
    wait_for_release=dict(type='bool', default=False),
    record=dict(type='path'),
    promoter=dict(type='str'),
    description=dict(type='str'),
    ticket_reference=dict(type='str'),
    promotion_id=dict(type='str'),
    wait=dict(type='bool', default=True),
    wait_timeout=dict(type='int', default=3600),
    report_dest=dict(type='list', elements='path', default=[]),
    dry_run_report_dest=dict(type='list', elements='path', default=[]),
    failure_dest=dict(type='path'),
    allow_release_upgrade=dict(type='bool', default=False),
    require_release_check=dict(type='bool', default=False),
    progress=dict(type='bool', default=True),
    run_id=dict(type='str'),
    after=dict(type='str'),
    max_fail_percentage=dict(type='float'),
    expected_plan=dict(type='dict'),
    plan_match=dict(type='str', choices=list(PLAN_MATCHES), default='exact'),
    require_plan=dict(type='bool', default=False),
    policy=dict(type='dict'),
    require_session_check=dict(type='bool', default=False),
)

REQUIRE_PLAN_MESSAGE = ('No plan reviewed was given for this environment (expected_plan), and require_plan refuses to promote '
                        'without one; nothing was locked. Preview first (a dry run only, or check mode), review what it '
                        'would promote, then run with its plan.')


def refused_combination(params: dict[str, Any]) -> str | None:
    """Why these options cannot go together, or None."""
    if params['dry_run'] and params['dry_run_first']:
        return 'dry_run and dry_run_first exclude each other: a dry run only, or a dry run then the promotion.'
    if params['dry_run_first'] and not params['wait']:
        return 'dry_run_first needs wait: true, since the promotion starts only once the dry run has passed.'
    if params['operation'] == 'promote' and not (params['dry_run'] or params['dry_run_first']):
        # A promotion started straight away has no dry run to check first: a plan or a policy would go unchecked.
        for option in ('expected_plan', 'policy'):
            if params[option]:
                return ('%s needs dry_run_first: true, since the changes are checked on the dry run before the promotion; '
                        'nothing was locked.' % option)
    if params['expected_plan'] is not None:
        problem = plan_problem(params['expected_plan'])
        if problem:
            return problem + '; nothing was locked.'
    problem = policy_problem(params['policy'])
    return problem + '; nothing was locked.' if problem else None


def release_check(params: dict[str, Any], upper: Promotions | None, lower: Promotions | None, task: PromotionTask) -> dict[str, Any] | None:
    """Before anything is locked, with the environments read with the release scope (None when no check is made): the
    release check (see ``check_release``)."""
    if upper is None:
        return None
    check = check_release(upper, lower, params['allow_release_upgrade'], params['require_release_check'], params['operation'])
    if check.get('warning'):
        task.warn(check['warning'])
    return check


def session_check(params: dict[str, Any], upper: Promotions, task: PromotionTask) -> dict[str, Any]:
    """Before anything is locked, with the upper environment read with the session scope: no direct-configuration
    session may be open (see ``check_session``)."""
    check = check_session(upper, params['require_session_check'], params['operation'])
    if check.get('warning'):
        task.warn(check['warning'])
    return check


def preview_plan(params: dict[str, Any], dry: dict[str, Any] | None, real: dict[str, Any] | None, check_mode: bool) -> dict[str, Any] | None:
    """The plan of what the promotion would change, from the dry run (made first, or the run itself when it is one)
    or, in check mode, from the lower environment's provisional report; None for a rollback or without a report."""
    preview = dry if dry is not None else real if params['dry_run'] or check_mode else None
    if params['operation'] != 'promote' or preview is None or not isinstance(preview.get('report'), dict):
        return None
    previewed_at = datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    return make_plan(change_rows(preview['report']), 'provisional' if check_mode else 'dry_run', previewed_at)


def run_under_lock(params: dict[str, Any], upper: Promotions, lower: Promotions | None, check_mode: bool, review: Review
                   ) -> tuple[bool, dict[str, Any] | None, dict[str, Any] | None]:
    """The lock taken, or kept (that of O(promotion_id), or of the record of an interrupted run), with O(lock); then the
    run this task is about, after the dry run made first when asked (in check mode, its prediction); a promotion's
    changes passed through the ``review`` before they are made. Returns whether the lock was resumed, and the results
    of the dry run (None without one) and of the run (None when the dry run stopped it)."""
    lock_id, resumed = params['promotion_id'], False
    if params['lock']:
        locked = upper.keep_or_lock(lock_id, wait=True, wait_timeout=params['lock_timeout'], wait_for_release=params['wait_for_release'])
        lock_id, resumed = locked['promotion_id'], locked['resumed']
    else:
        upper.held = lock_id  # the lock it was given, which it works under
    body = run_body(params['unlock_after'], params['ignore_encrypted_secrets'] if params['operation'] == 'promote' else None,
                    params['promoter'], params['description'], params['ticket_reference'])
    if params['operation'] == 'rollback' and not check_mode:
        if params['dry_run']:
            return resumed, None, upper.rollback_preview(lock_id)
        if params['dry_run_first']:
            return (resumed,) + upper.rollback_after_preview(body=body, promotion_id=lock_id, wait_timeout=params['wait_timeout'],
                                                             skip_if_unchanged=params['skip_if_unchanged'])
    elif params['dry_run_first'] and not check_mode:
        return (resumed,) + upper.promote_after_dry_run(body=body, promotion_id=lock_id, wait_timeout=params['wait_timeout'],
                                                        ignore_encrypted_secrets=params['ignore_encrypted_secrets'],
                                                        skip_if_unchanged=params['skip_if_unchanged'], review=review)
    if check_mode:
        run = upper.predict(params['operation'], params['dry_run'], lock_id, lower)
    else:
        run = upper.run(operation=params['operation'], dry_run=params['dry_run'], body=body, promotion_id=lock_id,
                        wait=params['wait'], wait_timeout=params['wait_timeout'], ignore_encrypted_secrets=params['ignore_encrypted_secrets'])
    # A preview (check mode, a dry run only) fails early on the policy.
    if params['operation'] == 'promote' and (check_mode or params['dry_run']) and isinstance(run.get('report'), dict) \
            and (run['verdict'] is None or run['verdict'].ok):
        run['refused'] = review(change_rows(run['report']))
    return resumed, None, run


def unlock(params: dict[str, Any], upper: Promotions, lock_id: str | None, result: dict[str, Any], check_mode: bool,
           recorded: bool = False) -> None:
    """With O(unlock_after), the release of this task's own lock (never one merely found in place); of the lock an
    interrupted run ``recorded`` whatever O(unlock_after) says, so that no lock this playbook took is left behind."""
    if (params['unlock_after'] and params['wait'] or recorded) and not check_mode and lock_id:
        result.update(upper.unlock_after_run(lock_id, result, params['lock_timeout']))


def promote(task: PromotionTask) -> dict[str, Any]:
    """release check -> lock -> run -> unlock, on the environments the options name; the lock released in one place,
    whatever happened before. Every failure names the lock this task holds (PromotionTask.execute)."""
    params, check_mode = task.params, task.check_mode
    if params['require_plan'] and params['expected_plan'] is None and params['operation'] == 'promote' \
            and not (params['dry_run'] or check_mode):
        raise PromotionError(REQUIRE_PLAN_MESSAGE, outcome='failed', real_run=False, changed=False)
    checked = not params['dry_run'] and bool(params['lower_tenant_url'])
    passed, recorded = False, False
    # A preview makes the plan; only the promotion after a dry run meets one. A rollback is not reviewed.
    previews = check_mode or params['dry_run']
    review = Review(None if previews else params['expected_plan'], params['plan_match'],
                    params['policy'] if params['operation'] == 'promote' else None,
                    'The provisional report' if check_mode else 'The dry run')
    try:
        upper, lower, release_upper, release_lower, session_upper = task.environments(
            lower=check_mode, release_check=checked, session_check=True)
    except ConfigurationError as exc:
        raise PromotionError(str(exc), exc.result, outcome='failed') from None
    try:
        check = release_check(params, release_upper, release_lower, task)
        session = session_check(params, session_upper, task)
    except (PromotionsApiError, ConfigurationError) as exc:
        # The check could not be made: an interrupted run's lock stays, for a rerun to resume.
        raise PromotionError(str(exc), exc.result, outcome='failed') from None
    except PromotionError as refused:
        # Refused before the lock: the lock given in promotion_id, or an interrupted run's recorded one, is released.
        result = dict(refused.result, msg=str(refused))
        lock_id = params['promotion_id'] or (upper.record.promotion_id() if params['lock'] else None)
        recorded = lock_id is not None and not params['promotion_id']
    else:
        try:
            resumed, dry, real = run_under_lock(params, upper, lower, check_mode, review)
            reports = [[] if check_mode else write_reports(found, params[option])
                       for found, option in ((dry, 'dry_run_report_dest'), (real, 'report_dest'))]
            result, passed = task_result(params['operation'], dry, real, params['dry_run'], check_mode, reports[0], reports[1],
                                         task.diff)
            result.update(resumed=resumed, session_check=session, plan=preview_plan(params, dry, real, check_mode),
                          **({} if check is None else dict(release_check=check)))
            if check_mode:
                result['preview'] = previewed(params, task)
        except PromotionError as exc:
            result = dict(exc.result, msg=str(exc))
        # A lock another promotion holds is not this task's, not even the one it was given.
        lock_id = upper.held if params['lock'] else params['promotion_id']
    result.update(review.findings)
    unlock(params, upper, lock_id, result, check_mode, recorded)
    if passed:
        return result
    # A failure changed no configuration (a lock taken is no change of configuration).
    message = result.pop('msg')
    if result.get('lock_kept') in (KEPT_LOCKING, KEPT_ERROR):
        message += ' ' + result['next_step']
    raise PromotionError(message, result, outcome='failed', changed=False)


def previewed(params: dict[str, Any], task: PromotionTask) -> dict[str, Any]:
    """Check mode: whether the run's changes and gates could be previewed; a promotion can only be previewed from
    the lower environment."""
    if params['operation'] == 'promote' and not params['dry_run'] and not params['lower_tenant_url']:
        task.warn(NO_PREVIEW_WARNING)
        return dict(skipped=True, warning=NO_PREVIEW_WARNING)
    return dict(skipped=False)


TASK = TaskSpec(ARGUMENT_SPEC, promote, lower_connection=True, refused=refused_combination)


def main() -> None:
    run_module(TASK)


if __name__ == '__main__':
    main()
