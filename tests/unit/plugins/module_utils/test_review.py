# -*- coding: utf-8 -*-
"""What was reviewed, against what a promotion would change: plans, their digest and comparison, and policy gates."""

from __future__ import annotations

import pytest

from ansible_collections.idcloud.promotions.plugins.module_utils import _review as review


def row(area='AMConfig', item='OAuth2 Clients', name='portal', change='added', realm='alpha'):
    return dict(area=area, config_item=item, name=name, change=change, realm=realm)


ROWS = [row(), row(item='Journeys', name='Login', change='modified'),
        row(area='IDMConfig', item='Email > Templates', name='welcome', change='deleted', realm=None)]


def test_the_digest_is_that_of_the_change_set_whatever_its_order_and_the_empty_realm():
    digest = review.plan_digest(ROWS)
    assert digest.startswith('sha256:') and len(digest) == len('sha256:') + 64
    assert review.plan_digest(list(reversed(ROWS))) == digest
    assert review.plan_digest([dict(ROWS[2], realm='')] + ROWS[:2]) == digest  # a plan read back has '' for no realm
    assert review.plan_digest(ROWS[:2]) != digest
    assert review.plan_digest([dict(ROWS[0], change='modified')] + ROWS[1:]) != digest


def test_a_plan_holds_the_sorted_rows_its_digest_its_source_and_when():
    plan = review.make_plan(list(reversed(ROWS)), 'dry_run', '2026-12-06T10:00:00Z')
    assert plan['digest'] == review.plan_digest(ROWS) and plan['source'] == 'dry_run'
    assert plan['previewed_at'] == '2026-12-06T10:00:00Z'
    assert [item['name'] for item in plan['changes']] == ['Login', 'portal', 'welcome']
    assert set(plan['changes'][0]) == set(review.ROW_FIELDS)
    assert review.plan_problem(plan) is None


@pytest.mark.parametrize('plan, words', [
    ('a string', 'must be a plan'),
    (dict(digest='sha256:x'), 'must be a plan'),
    (dict(changes=[dict(area='AMConfig')]), 'not a row of a plan'),
    (dict(changes=ROWS, digest='sha256:' + '0' * 64), 'edited after the preview'),
], ids=['not a mapping', 'no changes', 'not a row', 'edited'])
def test_a_plan_that_cannot_be_compared_with_is_refused(plan, words):
    assert words in review.plan_problem(plan)


def test_the_same_changes_match_the_plan():
    plan = review.make_plan(ROWS, 'dry_run', 'now')
    check = review.compare_plan(list(reversed(ROWS)), plan)
    assert (check['result'], check['added'], check['removed']) == ('matched', [], [])
    assert check['digest'] == check['reviewed_digest'] == plan['digest']


def test_a_change_made_after_the_review_differs_and_is_named():
    plan = review.make_plan(ROWS[:2], 'dry_run', 'now')
    later = row(name='half-finished', change='added')
    check = review.compare_plan(ROWS[:2] + [later], plan)
    assert check['result'] == 'differed' and check['added'] == review.plan_rows([later]) and check['removed'] == []
    message = review.plan_message(check)
    assert 'added AMConfig / OAuth2 Clients / half-finished (realm alpha)' in message and 'nothing was promoted' in message
    assert plan['digest'] in message and check['digest'] in message


@pytest.mark.parametrize('match, result', [('exact', 'differed'), ('subset', 'matched')])
def test_fewer_changes_than_reviewed_match_only_a_subset_plan(match, result):
    plan = review.make_plan(ROWS, 'dry_run', 'now')
    check = review.compare_plan(ROWS[:1], plan, match)
    assert check['result'] == result and len(check['removed']) == 2 and check['added'] == []
    if result == 'differed':
        message = review.plan_message(check)
        assert 'Removed since the review: modified AMConfig / Journeys / Login (realm alpha); deleted IDMConfig' in message


def test_a_subset_plan_never_lets_a_change_that_was_not_reviewed_through():
    plan = review.make_plan(ROWS, 'dry_run', 'now')
    assert review.compare_plan(ROWS[:1] + [row(name='new')], plan, 'subset')['result'] == 'differed'


def test_a_long_list_of_rows_is_cut_in_the_message():
    plan = review.make_plan([], 'dry_run', 'now')
    check = review.compare_plan([row(name='client%02d' % number) for number in range(25)], plan)
    assert 'and 5 more' in review.plan_message(check)


# Policy gates.
@pytest.mark.parametrize('policy', [
    None, {}, dict(max_changes=0, max_deletions=3), dict(protected=['AMConfig / OAuth2 Clients / *']),
    dict(allowed=['IDMConfig / * / *', dict(match='AMConfig / Journeys / *', change='modified', realm='al*')]),
    dict(protected=None, allowed=None, max_changes=None),
])
def test_a_policy_of_the_documented_shape_is_accepted(policy):
    assert review.policy_problem(policy) is None


@pytest.mark.parametrize('policy, words', [
    (['AMConfig / * / *'], 'policy must be a mapping'),
    (dict(max_change=3), "unknown key 'max_change'"),
    (dict(max_changes=-1), 'policy.max_changes must be a non-negative integer'),
    (dict(max_deletions='2'), 'policy.max_deletions must be a non-negative integer'),
    (dict(max_changes=True), 'policy.max_changes must be a non-negative integer'),
    (dict(max_changes=2.5), 'policy.max_changes must be a non-negative integer'),
    (dict(protected='AMConfig / * / *'), 'policy.protected must be a list of rules'),
    (dict(protected=[3]), 'policy.protected[0] must be a pattern'),
    (dict(allowed=['IDMConfig / * / *', dict(change='added')]), 'policy.allowed[1] needs match'),
    (dict(allowed=[dict(match='* / * / *', kind='added')]), "policy.allowed[0] has an unknown key 'kind'"),
    (dict(protected=[dict(match='* / * / *', change='removed')]), "policy.protected[0] has change 'removed'"),
    (dict(protected=[dict(match='* / * / *', realm=['alpha'])]), 'policy.protected[0] has realm'),
    (dict(protected=['  ']), 'policy.protected[0] is an empty pattern'),
], ids=['not a mapping', 'unknown key', 'negative', 'text', 'bool', 'float', 'rules not a list', 'rule not text',
        'no match', 'unknown rule key', 'unknown change', 'realm not text', 'empty pattern'])
def test_a_policy_of_another_shape_is_refused_naming_the_key(policy, words):
    assert words in review.policy_problem(policy)


def test_rules_match_area_item_and_name_with_wildcards_change_and_realm():
    client = row()
    assert review.rule_matches('AMConfig / OAuth2 Clients / *', client)
    assert review.rule_matches('AMConfig/OAuth2 Clients/portal', client)  # spaces around the slashes do not matter
    assert review.rule_matches('AM* / * / port?l', client)
    assert not review.rule_matches('amconfig / oauth2 clients / *', client)  # case does
    assert not review.rule_matches('AMConfig / Journeys / *', client)
    assert review.rule_matches(dict(match='AMConfig / * / *', change='added'), client)
    assert not review.rule_matches(dict(match='AMConfig / * / *', change='deleted'), client)
    assert review.rule_matches(dict(match='* / * / *', realm='al*'), client)
    assert not review.rule_matches(dict(match='* / * / *', realm='bravo'), client)
    assert review.rule_matches('IDMConfig / Email > Templates / *', ROWS[2])


def test_no_policy_and_a_policy_kept_break_nothing():
    assert review.policy_breaches(ROWS, None) == [] and review.policy_breaches(ROWS, {}) == []
    assert review.policy_breaches(ROWS, dict(max_changes=3, max_deletions=1, protected=['* / Scripts / *'],
                                             allowed=['AMConfig / * / *', 'IDMConfig / * / *'])) == []


def test_each_rule_broken_is_named_with_the_changes_that_break_it():
    breaches = review.policy_breaches(ROWS, dict(max_changes=2, max_deletions=0, protected=['AMConfig / OAuth2 Clients / *'],
                                                 allowed=['AMConfig / * / *']))
    assert breaches == [
        'max_changes 2: 3 changes',
        'max_deletions 0: 1 deletions (deleted IDMConfig / Email > Templates / welcome)',
        "protected 'AMConfig / OAuth2 Clients / *': added AMConfig / OAuth2 Clients / portal (realm alpha)",
        "allowed ('AMConfig / * / *'): not allowed: deleted IDMConfig / Email > Templates / welcome"]
    message = review.policy_message(breaches, 'The dry run')
    assert message.startswith('The dry run breaks policy: max_changes 2') and 'Nothing was promoted' in message


def test_a_rule_with_a_change_kind_protects_that_kind_only():
    policy = dict(protected=[dict(match='* / * / *', change='deleted')])
    assert review.policy_breaches(ROWS[:2], policy) == []
    assert review.policy_breaches(ROWS, policy) == ["protected '* / * / * change=deleted': deleted IDMConfig / Email > Templates / welcome"]


def test_a_review_with_something_to_hold_to_refuses_a_dry_run_whose_report_could_not_be_had():
    assert review.Review(None, 'exact', None, 'The dry run')(None) is None  # nothing to hold it to
    for plan, policy in ((review.make_plan(ROWS, 'dry_run', 'now'), None), (None, dict(max_changes=5))):
        refused = review.Review(plan, 'exact', policy, 'The dry run')(None)
        assert refused.startswith("The dry run's report could not be had") and 'nothing was promoted' in refused


def test_a_review_keeps_what_it_found():
    plan = review.make_plan(ROWS, 'dry_run', 'now')
    checked = review.Review(plan, 'exact', dict(max_deletions=0), 'The dry run')
    assert checked(ROWS).startswith('The dry run breaks policy: max_deletions 0')
    assert checked.findings['plan_check']['result'] == 'matched' and len(checked.findings['policy_breaches']) == 1
