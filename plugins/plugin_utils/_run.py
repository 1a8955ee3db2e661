# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: not a public API.

The run of many hosts (``promote.yml``), on the controller only: its plan (the order of the ``promote_after``
chains), the records in which each host's task tells how it ended, each host's turn with the failure policy, and the
summary's rows, text and Markdown. The filter ``promotion_plan`` and the actions ``promotion_run`` and
``promotion_summary`` use it; no module does.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from ansible.errors import AnsibleError
from ansible.parsing.utils.yaml import from_yaml

from ansible_collections.idcloud.promotions.plugins.module_utils._files import replace_file


# The plan.
def run_plan(hosts: list[str], after: dict[str, Any]) -> dict[str, Any]:
    """The run's hosts ordered by depth in their chains (``order``, ``depth``), and the ``problems`` that make the
    chains impossible: a host that follows itself, hosts that follow each other in a cycle."""
    in_run = set(hosts)
    leader = {host: after.get(host) for host in hosts if after.get(host) in in_run}
    depth: dict[str, int] = {}
    problems, cycles = [], []
    for host in hosts:
        path = [host]
        while path[-1] in leader and path[-1] not in depth:
            nxt = leader[path[-1]]
            if nxt in path:
                cycle = path[path.index(nxt):]
                if set(cycle) not in cycles:  # each cycle once, named from its first host in the run
                    cycles.append(set(cycle))
                    problems.append('promote_after of %s names the host itself' % nxt if len(cycle) == 1
                                    else 'promote_after forms a cycle: %s' % ' -> '.join(cycle + [nxt]))
                break
            path.append(nxt)
        else:
            base = depth.get(path[-1], 0)
            for steps, member in enumerate(reversed(path)):
                depth.setdefault(member, base + steps)
    placed = sorted((host for host in hosts if host in depth), key=lambda host: depth[host])  # stable: inventory order within a depth
    return dict(order=placed + [host for host in hosts if host not in depth], depth=depth, problems=problems)


# The records: how each host's task of the run ended, for the hosts that follow it.
# The record of a host whose turn has come and whose task goes on.
STARTED = 'started'


class RunRecords:
    """The records of one run, one file per host in ``folder``."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def path(self, host: str) -> str:
        return os.path.join(self.folder, quote(host, safe='') + '.json')

    def read(self, host: str) -> dict[str, Any] | None:
        """How ``host``'s task ended (or STARTED), None before its turn."""
        try:
            with open(self.path(host), 'rb') as handle:
                record = json.loads(handle.read())
        except (IOError, OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def write(self, host: str, outcome: str, reason: str = '') -> None:
        os.makedirs(self.folder, 0o700, exist_ok=True)
        replace_file(self.path(host), json.dumps(dict(host=host, outcome=outcome, reason=reason)).encode('utf-8'))


# The turn: a host that must follow another (promote_after) starts once that host's task has ended well.
GO, WAIT, SKIP = 'go', 'wait', 'skip'
# How a host's task may end and still let the host that follows it go on.
CHAIN_OUTCOMES = ('promoted', 'nothing_to_promote', 'dry_run_only', 'rolled_back', 'nothing_to_roll_back', 'would_promote',
                  'would_roll_back')
# How often the record of the host followed is looked for: a file on this machine, so often is cheap.
TURN_POLL = 0.2
# While waiting for it, a line at least this often.
TURN_PROGRESS_EVERY = 30.0


def plan_turn(follows: str | None, record: dict[str, Any] | None, follows_active: bool) -> tuple[str, str]:
    """Whether a host of a run may start: GO, WAIT (``follows``, the host it must follow, has not ended), or SKIP with
    the reason. ``record`` is that host's record: STARTED while its task goes on, then how it ended (None before its
    turn); ``follows_active`` is false once it has failed before its task started."""
    if not follows:
        return GO, ''
    if (record is None and follows_active) or (record or {}).get('outcome') == STARTED:
        return WAIT, ''
    if record is None:
        return SKIP, '%s must be promoted first and failed before its promotion started (see the output above)' % follows
    if record.get('outcome') in CHAIN_OUTCOMES:
        return GO, ''
    reason = record.get('reason') or ''
    return SKIP, '%s must be promoted first and %s%s' % (follows, record.get('outcome') or 'failed', ': ' + reason if reason else '')


def fail_policy_reason(failed: int, hosts: int, max_fail_percentage: float | None) -> str | None:
    """Why a host is not started: more than ``max_fail_percentage`` of the run's ``hosts`` have ``failed``; None
    when it may start."""
    if max_fail_percentage is None or not hosts or failed * 100.0 / hosts <= max_fail_percentage:
        return None
    return ('not started: %d of %d hosts of the run failed, more than max_fail_percentage (%s%%)'
            % (failed, hosts, ('%g' % max_fail_percentage)))


def take_turn(records: RunRecords, host: str, run_hosts: list[str], active: set[str], follows: str | None, bound: float,
              max_fail_percentage: float | None, progress: Callable[[str], None],
              clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any] | None:
    """Wait for ``host``'s turn in the run of ``run_hosts`` (``active``: those Ansible has not failed): until the host
    it ``follows`` has ended. None once it may start, its record then STARTED; else the result of a host skipped, or
    failed when the host followed has not ended within ``bound`` seconds of its own start."""
    started = clock()
    told, its_turn = started - TURN_PROGRESS_EVERY, None
    while True:
        record = records.read(follows) if follows else None
        decision, reason = plan_turn(follows, record, follows in active)
        if decision != WAIT:
            break
        now = clock()
        if its_turn is None and (record or {}).get('outcome') == STARTED:
            its_turn = now
        if its_turn is not None and now - its_turn > bound:
            return dict(failed=True, outcome='failed', msg='%s did not end within %.0f s of its start (twice lock_timeout and '
                                                           'wait_timeout); this host was not started.' % (follows, bound))
        if now - told >= TURN_PROGRESS_EVERY:
            progress('waiting for %s to end first (%.0f s)' % (follows, now - started))
            told = now
        sleep(TURN_POLL)
    if decision == GO:
        failed = sum(1 for other in run_hosts if (records.read(other) or {}).get('outcome') == 'failed')
        reason = fail_policy_reason(failed, len(run_hosts), max_fail_percentage) or ''
        if not reason:
            if follows:
                progress('%s has ended well; starting' % follows)
            records.write(host, STARTED)
            return None
    return dict(skipped=True, changed=False, outcome='skipped', msg=reason, skip_reason=reason)


# Each host's words.
SHOWN_WITH_COUNTS = ('promoted', 'rolled_back', 'dry_run_only', 'would_promote')


def host_line(result: dict[str, Any], host: str, changes: list[dict[str, Any]] | None = None, check_mode: bool = False) -> list[str]:
    """How a host's run ended (its ``promote_result``), in one line, then what changed (or would change), one line each
    (``changes``, the rows of the run's report; none for a failure)."""
    line = '%s: %s' % (host, result['outcome'].replace('_', ' '))
    if not result.get('previewed', True):
        line += ' (changes not previewed: no lower environment)'
    elif result.get('total') is None:
        line += ' (its report is not available yet, so what it changed is unknown: read it with playbooks/report.yml)'
    elif int(result['total']) > 0 or result['outcome'] in SHOWN_WITH_COUNTS:
        line += ' (%s changes: %s added, %s modified, %s deleted)' % (result['total'], result['added'], result['modified'], result['deleted'])
    if result.get('plan', 'none') != 'none':
        line += ' (plan %s)' % result['plan']
    if result.get('reason'):
        line += ': %s' % result['reason'].rstrip('.')  # the reports and warnings follow after a semicolon
    if result.get('reports'):
        line += '; reports in %s' % result['report_dir']
    line += ''.join('; warning: %s' % warning for warning in result.get('warnings') or [])
    lines = line.strip().split('\n')
    shown = (changes or []) if result['outcome'] != 'failed' else []
    if shown:
        if check_mode:
            title = 'What a %s would change' % result['operation'].replace('promote', 'promotion')
        else:
            title = 'What would change' if result['outcome'] == 'dry_run_only' else 'What changed'
        lines.append('%s (%d):' % (title, len(shown)))
        for row in shown:
            realm = ' (realm %s)' % row['realm'] if row.get('realm') else ''
            lines.append('  %s: %s / %s: %s%s' % (row['change'], row['area'], row['config_item'], row['name'], realm))
    return lines


def resume_value(held: dict[str, str]) -> str:
    """The extra variable that finishes the runs whose locks ``held`` names (host: promotion id), for ``-e '...'``: YAML
    without quotes when Ansible reads it back as the same (so that it reads the same inside the JSON of Ansible's output,
    which escapes double quotes); JSON otherwise."""
    value = dict(promote_resume=held)
    plain = '{promote_resume: {%s}}' % ', '.join('%s: %s' % item for item in held.items())
    try:
        if from_yaml(plain) == value:
            return plain
    except AnsibleError:
        pass
    return json.dumps(value)


def failure_reason(said: dict[str, Any] | None, host: str, role_words: dict[str, str]) -> str:
    """Why a host's run failed or stopped, in one paragraph: the module's own message (``said``: its result), with the
    modules' option names in the role's words (``role_words``). For a lock someone else holds, the module's cause (what
    it found under the lock, without its ways out), then the role's ways out."""
    said = said or {}
    holder = said.get('holder') or ''
    message = str(said['cause'] if holder and said.get('cause') else said.get('msg', 'unknown error'))
    for option, variable in role_words.items():
        message = re.sub(r'\b%s\b' % option, variable, message)
    if holder:
        message += (" If it is the lock of your own run that was interrupted and kept no lock record (an AWX job, say), finish "
                    "that run with -e '%s'. If a colleague is promoting, wait for them (promote_wait_for_release: true). If "
                    "the lock was left behind and nobody is promoting, release it with playbooks/unlock.yml "
                    "-e promote_unlock_id=%s --limit %s, then run again." % (resume_value({host: holder}), holder, host))
    return message.strip()


# The summary.
def summary_rows(hosts: list[str], results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per host of the run: its ``promote_result`` (``results``), also for a host that did not start or
    stopped before the end."""
    rows = []
    for host in hosts:
        row = results.get(host)
        if not row:
            row = dict(host=host, outcome='failed', reason='did not start (see the output above)', added=0, modified=0, deleted=0,
                       total=0, reports=[], report_dir='', promotion_id='', lock_released=None, warnings=[], plan='none',
                       previewed_plan=None)
        elif row.get('outcome') == STARTED:
            row = dict(row, outcome='failed', reason='stopped before the end (see the output above)')
        rows.append(row)
    return rows


def changes_cell(row: dict[str, Any]) -> str:
    return '%s (+%s ~%s -%s)' % (row['total'], row['added'], row['modified'], row['deleted'])


def shortened(text: str, length: int = 160, leeway: int = 5) -> str:
    """At most about ``length`` characters, the end cut and marked '...'."""
    return text if len(text) <= length + leeway else text[:length - 3] + '...'


def preview_plans(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The plans of the hosts a preview run previewed (their ``previewed_plan``), by host: ``promote_expected_plans``."""
    return {row['host']: row['previewed_plan'] for row in rows if row.get('previewed_plan')}


def plans_file_text(plans: dict[str, Any]) -> str:
    """plan.yml: a vars file that gives the plans back to the run that promotes them (-e @plan.yml)."""
    return ('# The changes previewed, host by host. Review them, then promote no more than these with:\n'
            '#   ansible-playbook idcloud.promotions.promote -e @plan.yml\n'
            + json.dumps(dict(promote_expected_plans=plans), indent=2, sort_keys=True) + '\n')


def plan_lines(rows: list[dict[str, Any]], plans_path: str | None) -> list[str]:
    """The summary's lines on plans: each host's digest and how to use the plans written (a preview), or each host's
    comparison with the plan reviewed (a run given plans)."""
    lines = ['plan of %s: %s (%s, %d changes)' % (host, plan['digest'], plan['source'], len(plan['changes']))
             for host, plan in preview_plans(rows).items()]
    if plans_path:
        lines.append('promote no more than was previewed with: -e @%s' % plans_path)
    if any(row.get('plan', 'none') != 'none' for row in rows):
        lines.extend('plan of %s: %s' % (row['host'], row.get('plan', 'none')) for row in rows)
    return lines


def summary_text(rows: list[dict[str, Any]], plans_path: str | None = None) -> list[str]:
    """The summary table as the lines to show: a line per host, the count of each outcome, where the reports are, the
    plans, the warnings, and how to finish the runs of locks held by another promotion."""
    width = max([4] + [len(row['host']) for row in rows])
    line = '%-*s  %-20s  %-22s  %s'
    lines = [line % (width, 'HOST', 'OUTCOME', 'CHANGES (+ ~ -)', 'DETAIL')]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row['outcome']] = counts.get(row['outcome'], 0) + 1
        if not row.get('previewed', True):
            changes = 'not previewed'
        elif row['total'] is None:
            changes = 'unknown (no report)'
        elif row['outcome'] not in ('failed', 'skipped') or int(row['total']) > 0:
            changes = changes_cell(row)
        else:
            changes = '-'
        detail = shortened(row['reason'].replace('\n', ' ')) if row.get('reason') else ''
        lines.append(line % (width, row['host'], row['outcome'].replace('_', ' '), changes, detail))
    lines.append(', '.join('%s: %d' % item for item in counts.items()))
    lines.extend('reports of %s: %s/ (%s)' % (row['host'], row['report_dir'], ', '.join(os.path.basename(path) for path in row['reports']))
                 for row in rows if row.get('reports'))
    lines.extend(plan_lines(rows, plans_path))
    lines.extend('warning for %s: %s' % (row['host'], warning) for row in rows for warning in row.get('warnings') or [])
    held = {row['host']: row['holder'] for row in rows if row.get('holder')}
    if held:
        lines.append('stopped by a lock another promotion holds: %s. Only for the locks of your own interrupted runs, finish '
                     'them with:' % ', '.join(held))
        lines.append("  -e '%s'" % resume_value(held))
    return lines


def summary_markdown(rows: list[dict[str, Any]]) -> str:
    """The summary as a Markdown table (summary.md)."""
    text = ['# Promotion summary', '', '| host | outcome | changes (+added ~modified -deleted) | detail | reports |',
            '|---|---|---|---|---|']
    for row in rows:
        detail = ' '.join(part for part in [row.get('reason')] + ['warning: ' + warning for warning in row.get('warnings') or []] if part)
        text.append('| %s | %s | %s | %s | %s |' % (
            row['host'], row['outcome'].replace('_', ' '), 'unknown (no report yet)' if row['total'] is None else changes_cell(row),
            detail.replace('|', '/').replace('\n', ' '), row['report_dir'] if row.get('reports') else ''))
    return '\n'.join(text) + '\n'
