# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: not a public API.

What was reviewed, against what a promotion would change: the plan of a preview (its rows and their digest), the
comparison of a dry run with the plan reviewed, and the policy gates a platform team sets per environment. Pure: no I/O.
A promotion always takes the whole lower environment, so these rules are the only way to promote no more than was seen.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from typing import Any

from ansible_collections.idcloud.promotions.plugins.module_utils._report import CHANGE_KINDS

PLAN_MATCHES = ('exact', 'subset')
ROW_FIELDS = ('area', 'config_item', 'name', 'realm', 'change')
POLICY_LIMITS = ('max_changes', 'max_deletions')
POLICY_RULES = ('protected', 'allowed')
RULE_KEYS = ('match', 'change', 'realm')


def normalized(row: dict[str, Any]) -> tuple[str, ...]:
    """A row as a tuple of text, the same whether it comes from a report or from a plan file read back."""
    return tuple('' if row.get(field) is None else str(row.get(field)) for field in ROW_FIELDS)


def rows_of(keys: set[tuple[str, ...]]) -> list[dict[str, Any]]:
    """Normalized rows back as rows, sorted."""
    return [dict(zip(ROW_FIELDS, key)) for key in sorted(keys)]


def plan_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of a plan, sorted, each with the five fields only."""
    return rows_of(set(normalized(row) for row in rows))


def plan_digest(rows: list[dict[str, Any]]) -> str:
    """sha256 over the normalized, sorted rows: the same change set gives the same digest whatever its order."""
    text = json.dumps(sorted(set(normalized(row) for row in rows)), separators=(',', ':'))
    return 'sha256:' + hashlib.sha256(text.encode('utf-8')).hexdigest()


def make_plan(rows: list[dict[str, Any]], source: str, previewed_at: str) -> dict[str, Any]:
    """The plan of a preview, as ``promote_expected_plans`` holds it per host."""
    return dict(digest=plan_digest(rows), changes=plan_rows(rows), source=source, previewed_at=previewed_at)


def row_text(row: dict[str, Any]) -> str:
    realm = ' (realm %s)' % row['realm'] if row.get('realm') else ''
    return '%s %s / %s / %s%s' % (row['change'], row['area'], row['config_item'], row['name'], realm)


def plan_problem(plan: Any) -> str | None:
    """Why ``plan`` (an entry of promote_expected_plans) cannot be compared with, or None."""
    if not isinstance(plan, dict) or not isinstance(plan.get('changes'), list):
        return 'expected_plan must be a plan as a preview writes it (digest, changes, source), not %r' % (plan,)
    for row in plan['changes']:
        if not isinstance(row, dict) or row.get('change') not in CHANGE_KINDS:
            return 'expected_plan holds a change that is not a row of a plan (area, config_item, name, realm, change): %r' % (row,)
    if plan.get('digest') and plan['digest'] != plan_digest(plan['changes']):
        return 'expected_plan was edited after the preview: its digest %s is not that of its changes' % plan['digest']
    return None


def compare_plan(rows: list[dict[str, Any]], plan: dict[str, Any], match: str = 'exact') -> dict[str, Any]:
    """The dry run's ``rows`` against the ``plan`` reviewed: ``result`` matched or differed, with the rows ``added``
    since the review (in the dry run, not in the plan) and those ``removed`` (in the plan, not in the dry run). With
    ``match`` subset, rows removed are allowed (promoted by hand meanwhile, say); added ones never are."""
    found, reviewed = set(normalized(row) for row in rows), set(normalized(row) for row in plan['changes'])
    added, removed = rows_of(found - reviewed), rows_of(reviewed - found)
    differed = bool(added) or (match == 'exact' and bool(removed))
    return dict(result='differed' if differed else 'matched', match=match, digest=plan_digest(rows),
                reviewed_digest=plan.get('digest') or plan_digest(plan['changes']), added=added, removed=removed)


def plan_message(check: dict[str, Any], limit: int = 20) -> str:
    """Why the promotion was refused on the plan: the rows added and removed since the review."""
    parts = ['The dry run differs from the plan reviewed (%s match, reviewed %s, now %s), so nothing was promoted.'
             % (check['match'], check['reviewed_digest'], check['digest'])]
    for label, key in (('Added since the review', 'added'), ('Removed since the review', 'removed')):
        if check[key]:
            shown = [row_text(row) for row in check[key][:limit]]
            more = ' and %d more' % (len(check[key]) - limit) if len(check[key]) > limit else ''
            parts.append('%s: %s%s.' % (label, '; '.join(shown), more))
    parts.append('Review the changes, preview again to make a new plan, and run with it.')
    return ' '.join(parts)


# Policy gates.
def policy_problem(policy: Any) -> str | None:
    """Why ``policy`` cannot be used, naming the key, or None. Checked before anything is locked."""
    if policy is None:
        return None
    if not isinstance(policy, dict):
        return 'policy must be a mapping of %s, not %r' % (', '.join(POLICY_LIMITS + POLICY_RULES), policy)
    for key, value in policy.items():
        if key in POLICY_LIMITS:
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                return 'policy.%s must be a non-negative integer, not %r' % (key, value)
        elif key in POLICY_RULES:
            if value is None:
                continue
            if not isinstance(value, list):
                return 'policy.%s must be a list of rules, not %r' % (key, value)
            for index, rule in enumerate(value):
                problem = rule_problem(rule)
                if problem:
                    return 'policy.%s[%d] %s' % (key, index, problem)
        else:
            return 'policy has an unknown key %r; the keys are %s' % (key, ', '.join(POLICY_LIMITS + POLICY_RULES))
    return None


def rule_problem(rule: Any) -> str | None:
    if isinstance(rule, str):
        return None if rule.strip() else 'is an empty pattern'
    if not isinstance(rule, dict):
        return 'must be a pattern (AREA / CONFIG ITEM / NAME) or a mapping with match, change and realm, not %r' % (rule,)
    unknown = sorted(set(rule) - set(RULE_KEYS))
    if unknown:
        return 'has an unknown key %r; a rule has %s' % (unknown[0], ', '.join(RULE_KEYS))
    if not isinstance(rule.get('match'), str) or not rule['match'].strip():
        return 'needs match, a pattern on AREA / CONFIG ITEM / NAME'
    if rule.get('change') is not None and rule['change'] not in CHANGE_KINDS:
        return 'has change %r; it is one of %s' % (rule['change'], ', '.join(CHANGE_KINDS))
    if rule.get('realm') is not None and not isinstance(rule['realm'], str):
        return 'has realm %r; it is a pattern' % (rule['realm'],)
    return None


def rule_text(rule: str | dict[str, Any]) -> str:
    if isinstance(rule, str):
        return rule
    extra = ''.join(' %s=%s' % (key, rule[key]) for key in ('change', 'realm') if rule.get(key) is not None)
    return rule['match'] + extra


def rule_matches(rule: str | dict[str, Any], row: dict[str, Any]) -> bool:
    """Whether ``row`` matches ``rule``: its pattern on 'AREA / CONFIG ITEM / NAME' (spaces around the slashes do not
    matter, case does), and, for a mapping, its change kind and realm pattern."""
    spec = dict(match=rule) if isinstance(rule, str) else rule
    pattern = ' / '.join(part.strip() for part in spec['match'].split('/'))
    subject = ' / '.join(str(row.get(field) or '') for field in ('area', 'config_item', 'name'))
    if not fnmatch.fnmatchcase(subject, pattern):
        return False
    if spec.get('change') is not None and row.get('change') != spec['change']:
        return False
    return spec.get('realm') is None or fnmatch.fnmatchcase(str(row.get('realm') or ''), spec['realm'])


def policy_breaches(rows: list[dict[str, Any]], policy: dict[str, Any] | None, limit: int = 10) -> list[str]:
    """Each rule of ``policy`` that the change set ``rows`` breaks, told with the offending rows."""
    policy = policy or {}
    breaches = []

    def told(offending: list[dict[str, Any]]) -> str:
        shown = '; '.join(row_text(row) for row in offending[:limit])
        return shown + (' and %d more' % (len(offending) - limit) if len(offending) > limit else '')

    if policy.get('max_changes') is not None and len(rows) > policy['max_changes']:
        breaches.append('max_changes %d: %d changes' % (policy['max_changes'], len(rows)))
    deletions = [row for row in rows if row.get('change') == 'deleted']
    if policy.get('max_deletions') is not None and len(deletions) > policy['max_deletions']:
        breaches.append('max_deletions %d: %d deletions (%s)' % (policy['max_deletions'], len(deletions), told(deletions)))
    for rule in policy.get('protected') or []:
        offending = [row for row in rows if rule_matches(rule, row)]
        if offending:
            breaches.append('protected %r: %s' % (rule_text(rule), told(offending)))
    if policy.get('allowed'):
        offending = [row for row in rows if not any(rule_matches(rule, row) for rule in policy['allowed'])]
        if offending:
            breaches.append('allowed (%s): not allowed: %s' % (', '.join(repr(rule_text(rule)) for rule in policy['allowed']), told(offending)))
    return breaches


def policy_message(breaches: list[str], preview: str) -> str:
    """Why the run was refused on the policy; ``preview`` names what was checked (the dry run, the provisional report)."""
    return ('%s breaks policy: %s. Nothing was promoted. Change the lower environment or policy, and run again.'
            % (preview, ' | '.join(breaches)))


class Review:
    """The review of what a promotion would change, made before it changes anything: against the ``plan`` reviewed
    (None: none to meet) with ``match``, then against the ``policy``; ``preview`` names what shows the changes (the dry
    run, the provisional report). Called with the rows (None when the report could not be had), it returns why they
    may not be promoted, or None; what it found stays in ``findings`` (``plan_check``, ``policy_breaches``), for the
    task's result."""

    def __init__(self, plan: dict[str, Any] | None, match: str, policy: dict[str, Any] | None, preview: str) -> None:
        self.plan, self.match, self.policy, self.preview = plan, match, policy, preview
        self.findings: dict[str, Any] = {}

    def __call__(self, rows: list[dict[str, Any]] | None) -> str | None:
        if rows is None:  # the report that shows the changes could not be had: nothing can be held to the review
            if self.plan is None and not self.policy:
                return None
            return ('%s report could not be had, so what the promotion would change could not be checked against the '
                    'plan reviewed or the policy; nothing was promoted. Run again.' % self.preview.replace('The dry run', "The dry run's"))
        if self.plan is not None:
            self.findings['plan_check'] = compare_plan(rows, self.plan, self.match)
            if self.findings['plan_check']['result'] == 'differed':
                return plan_message(self.findings['plan_check'])
        breaches = policy_breaches(rows, self.policy)
        if breaches:
            self.findings['policy_breaches'] = breaches
            return policy_message(breaches, self.preview)
        return None
