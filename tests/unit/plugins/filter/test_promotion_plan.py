# -*- coding: utf-8 -*-
"""The order of a run of many hosts (``promotion_plan``): by depth in the promote_after chains, inventory order within
a depth, and the self-references and cycles that make a plan impossible, each told once."""

from __future__ import annotations

import pytest

from ansible_collections.idcloud.promotions.plugins.filter.promotion_plan import FilterModule, promotion_plan


def test_the_filter_is_registered_under_its_name():
    assert FilterModule().filters() == {'promotion_plan': promotion_plan}


def test_hosts_are_ordered_by_depth_in_their_chains():
    hosts = ['acme-prod', 'acme-staging', 'globex-prod', 'globex-staging', 'acme-uat']
    after = {'acme-prod': 'acme-uat', 'acme-uat': 'acme-staging', 'globex-prod': 'globex-staging'}
    plan = promotion_plan(hosts, after)
    assert plan['order'] == ['acme-staging', 'globex-staging', 'globex-prod', 'acme-uat', 'acme-prod']
    assert plan['depth'] == {'acme-staging': 0, 'globex-staging': 0, 'acme-uat': 1, 'globex-prod': 1, 'acme-prod': 2}
    assert plan['problems'] == []


def test_inventory_order_is_kept_within_a_depth():
    hosts = ['h-%d' % number for number in range(8)]
    # Every odd host follows the even host before it: two depths, each in inventory order.
    after = {'h-%d' % number: 'h-%d' % (number - 1) for number in range(1, 8, 2)}
    plan = promotion_plan(hosts, after)
    assert plan['order'] == ['h-0', 'h-2', 'h-4', 'h-6', 'h-1', 'h-3', 'h-5', 'h-7']
    assert promotion_plan(list(reversed(hosts)), after)['order'] == ['h-6', 'h-4', 'h-2', 'h-0', 'h-7', 'h-5', 'h-3', 'h-1']


@pytest.mark.parametrize('leader', ['not-in-this-run', '', None], ids=['outside the run', 'empty', 'None'])
def test_a_leader_outside_the_run_is_ignored(leader):
    plan = promotion_plan(['b', 'a'], {'a': leader, 'b': 'a'})
    assert plan['order'] == ['a', 'b']
    assert plan['depth'] == {'a': 0, 'b': 1} and plan['problems'] == []


def test_hosts_missing_from_after_follow_nobody():
    plan = promotion_plan(['x', 'y'], {})
    assert plan == dict(order=['x', 'y'], depth={'x': 0, 'y': 0}, problems=[])


@pytest.mark.parametrize('length', [6, 7, 12])
def test_long_chains_given_in_reverse_order_are_put_right(length):
    hosts = ['env-%02d' % number for number in reversed(range(length))]  # the last of the chain first
    after = {'env-%02d' % number: 'env-%02d' % (number - 1) for number in range(1, length)}
    plan = promotion_plan(hosts, after)
    assert plan['order'] == sorted(hosts)
    assert plan['depth'] == {'env-%02d' % number: number for number in range(length)}
    assert plan['problems'] == []


def test_a_chain_joined_half_way_takes_the_depth_of_the_join():
    # 'late' is met only after its leader's chain was placed from another host.
    hosts = ['d', 'c', 'b', 'a', 'late']
    after = {'d': 'c', 'c': 'b', 'b': 'a', 'late': 'c'}
    plan = promotion_plan(hosts, after)
    assert plan['depth'] == {'a': 0, 'b': 1, 'c': 2, 'd': 3, 'late': 3}
    assert plan['order'] == ['a', 'b', 'c', 'd', 'late']


def test_a_host_following_itself_is_told_and_not_placed():
    plan = promotion_plan(['a', 'b'], {'a': 'a'})
    assert plan['problems'] == ['promote_after of a names the host itself']
    assert plan['depth'] == {'b': 0}
    assert plan['order'] == ['b', 'a']  # unplaced hosts last, in inventory order


def test_a_host_following_a_host_that_follows_itself_is_not_placed_and_the_fault_told_once():
    plan = promotion_plan(['b', 'a', 'c'], {'a': 'a', 'b': 'a', 'c': 'a'})
    assert plan['problems'] == ['promote_after of a names the host itself']
    assert plan['depth'] == {} and plan['order'] == ['b', 'a', 'c']


def test_a_two_host_cycle_is_told_once_with_its_path():
    plan = promotion_plan(['a', 'b', 'c'], {'a': 'b', 'b': 'a'})
    assert plan['problems'] == ['promote_after forms a cycle: a -> b -> a']
    assert plan['depth'] == {'c': 0}
    assert plan['order'] == ['c', 'a', 'b']


def test_a_three_host_cycle_is_told_once_with_its_path_from_its_first_host_in_the_run():
    after = {'a': 'b', 'b': 'c', 'c': 'a'}
    assert promotion_plan(['a', 'b', 'c'], after)['problems'] == ['promote_after forms a cycle: a -> b -> c -> a']
    assert promotion_plan(['c', 'b', 'a'], after)['problems'] == ['promote_after forms a cycle: c -> a -> b -> c']


def test_two_cycles_are_each_told_once():
    after = {'a': 'b', 'b': 'a', 'x': 'y', 'y': 'z', 'z': 'x'}
    plan = promotion_plan(['a', 'x', 'b', 'y', 'z'], after)
    assert plan['problems'] == ['promote_after forms a cycle: a -> b -> a', 'promote_after forms a cycle: x -> y -> z -> x']
    assert plan['depth'] == {}


def test_a_host_leading_into_a_cycle_is_not_placed_and_the_cycle_is_told_once_without_it():
    hosts = ['a', 'b', 'x', 'ok']
    plan = promotion_plan(hosts, {'x': 'a', 'a': 'b', 'b': 'a'})
    assert plan['problems'] == ['promote_after forms a cycle: a -> b -> a']
    assert plan['depth'] == {'ok': 0}
    assert plan['order'] == ['ok', 'a', 'b', 'x']


def test_empty_input_is_an_empty_plan():
    assert promotion_plan([], {}) == dict(order=[], depth={}, problems=[])
    assert promotion_plan([], {'a': 'b'}) == dict(order=[], depth={}, problems=[])
