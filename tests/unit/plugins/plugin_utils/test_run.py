# -*- coding: utf-8 -*-
"""The run of many hosts (``_run``): its plan, the records of how each host ended, each host's turn with the failure
policy, and the summary, whose text and Markdown are compared with what the role's templates printed before."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from ansible_collections.idcloud.promotions.plugins.filter.promotion_plan import FilterModule
from ansible_collections.idcloud.promotions.plugins.module_utils._states import outcome_name
from ansible_collections.idcloud.promotions.plugins.plugin_utils._run import (
    CHAIN_OUTCOMES, GO, SKIP, STARTED, WAIT, RunRecords, fail_policy_reason, failure_reason, host_line, plan_turn, resume_value,
    run_plan, summary_markdown, summary_rows, summary_text, take_turn)

SUMMARY = Path(__file__).parent / 'summary'


# The plan (the filter promotion_plan).


def test_the_filter_is_registered_under_its_name():
    assert FilterModule().filters() == {'promotion_plan': run_plan}


def test_hosts_are_ordered_by_depth_in_their_chains():
    hosts = ['acme-prod', 'acme-staging', 'globex-prod', 'globex-staging', 'acme-uat']
    after = {'acme-prod': 'acme-uat', 'acme-uat': 'acme-staging', 'globex-prod': 'globex-staging'}
    plan = run_plan(hosts, after)
    assert plan['order'] == ['acme-staging', 'globex-staging', 'globex-prod', 'acme-uat', 'acme-prod']
    assert plan['depth'] == {'acme-staging': 0, 'globex-staging': 0, 'acme-uat': 1, 'globex-prod': 1, 'acme-prod': 2}
    assert plan['problems'] == []


def test_inventory_order_is_kept_within_a_depth():
    hosts = ['h-%d' % number for number in range(8)]
    # Every odd host follows the even host before it: two depths, each in inventory order.
    after = {'h-%d' % number: 'h-%d' % (number - 1) for number in range(1, 8, 2)}
    plan = run_plan(hosts, after)
    assert plan['order'] == ['h-0', 'h-2', 'h-4', 'h-6', 'h-1', 'h-3', 'h-5', 'h-7']
    assert run_plan(list(reversed(hosts)), after)['order'] == ['h-6', 'h-4', 'h-2', 'h-0', 'h-7', 'h-5', 'h-3', 'h-1']


@pytest.mark.parametrize('leader', ['not-in-this-run', '', None], ids=['outside the run', 'empty', 'None'])
def test_a_leader_outside_the_run_is_ignored(leader):
    plan = run_plan(['b', 'a'], {'a': leader, 'b': 'a'})
    assert plan['order'] == ['a', 'b']
    assert plan['depth'] == {'a': 0, 'b': 1} and plan['problems'] == []


def test_hosts_missing_from_after_follow_nobody():
    plan = run_plan(['x', 'y'], {})
    assert plan == dict(order=['x', 'y'], depth={'x': 0, 'y': 0}, problems=[])


@pytest.mark.parametrize('length', [6, 7, 12])
def test_long_chains_given_in_reverse_order_are_put_right(length):
    hosts = ['env-%02d' % number for number in reversed(range(length))]  # the last of the chain first
    after = {'env-%02d' % number: 'env-%02d' % (number - 1) for number in range(1, length)}
    plan = run_plan(hosts, after)
    assert plan['order'] == sorted(hosts)
    assert plan['depth'] == {'env-%02d' % number: number for number in range(length)}
    assert plan['problems'] == []


def test_a_chain_joined_half_way_takes_the_depth_of_the_join():
    # 'late' is met only after its leader's chain was placed from another host.
    hosts = ['d', 'c', 'b', 'a', 'late']
    after = {'d': 'c', 'c': 'b', 'b': 'a', 'late': 'c'}
    plan = run_plan(hosts, after)
    assert plan['depth'] == {'a': 0, 'b': 1, 'c': 2, 'd': 3, 'late': 3}
    assert plan['order'] == ['a', 'b', 'c', 'd', 'late']


def test_a_host_following_itself_is_told_and_not_placed():
    plan = run_plan(['a', 'b'], {'a': 'a'})
    assert plan['problems'] == ['promote_after of a names the host itself']
    assert plan['depth'] == {'b': 0}
    assert plan['order'] == ['b', 'a']  # unplaced hosts last, in inventory order


def test_a_host_following_a_host_that_follows_itself_is_not_placed_and_the_fault_told_once():
    plan = run_plan(['b', 'a', 'c'], {'a': 'a', 'b': 'a', 'c': 'a'})
    assert plan['problems'] == ['promote_after of a names the host itself']
    assert plan['depth'] == {} and plan['order'] == ['b', 'a', 'c']


def test_a_two_host_cycle_is_told_once_with_its_path():
    plan = run_plan(['a', 'b', 'c'], {'a': 'b', 'b': 'a'})
    assert plan['problems'] == ['promote_after forms a cycle: a -> b -> a']
    assert plan['depth'] == {'c': 0}
    assert plan['order'] == ['c', 'a', 'b']


def test_a_three_host_cycle_is_told_once_with_its_path_from_its_first_host_in_the_run():
    after = {'a': 'b', 'b': 'c', 'c': 'a'}
    assert run_plan(['a', 'b', 'c'], after)['problems'] == ['promote_after forms a cycle: a -> b -> c -> a']
    assert run_plan(['c', 'b', 'a'], after)['problems'] == ['promote_after forms a cycle: c -> a -> b -> c']


def test_two_cycles_are_each_told_once():
    after = {'a': 'b', 'b': 'a', 'x': 'y', 'y': 'z', 'z': 'x'}
    plan = run_plan(['a', 'x', 'b', 'y', 'z'], after)
    assert plan['problems'] == ['promote_after forms a cycle: a -> b -> a', 'promote_after forms a cycle: x -> y -> z -> x']
    assert plan['depth'] == {}


def test_a_host_leading_into_a_cycle_is_not_placed_and_the_cycle_is_told_once_without_it():
    hosts = ['a', 'b', 'x', 'ok']
    plan = run_plan(hosts, {'x': 'a', 'a': 'b', 'b': 'a'})
    assert plan['problems'] == ['promote_after forms a cycle: a -> b -> a']
    assert plan['depth'] == {'ok': 0}
    assert plan['order'] == ['ok', 'a', 'b', 'x']


def test_empty_input_is_an_empty_plan():
    assert run_plan([], {}) == dict(order=[], depth={}, problems=[])
    assert run_plan([], {'a': 'b'}) == dict(order=[], depth={}, problems=[])


# The records of a run of many hosts.
@pytest.mark.parametrize('outcome, reason', [('promoted', ''), ('failed', 'The dry run stopped on missing ESVs esv.smtp.host'),
                                             ('skipped', 'acme-staging must be promoted first and failed: boom')])
def test_a_run_record_is_read_back_as_written(tmp_path, outcome, reason):
    run_dir = str(tmp_path / 'run')
    RunRecords(run_dir).write('acme-prod', outcome, reason)
    assert RunRecords(run_dir).read('acme-prod') == dict(host='acme-prod', outcome=outcome, reason=reason)
    assert RunRecords(run_dir).read('acme-staging') is None  # another host's record is its own
    path = RunRecords(run_dir).path('acme-prod')
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [name for name in os.listdir(run_dir) if name.startswith('.idcloud-')] == []


def test_a_run_record_is_replaced_by_the_next_one_of_the_same_host(tmp_path):
    RunRecords(str(tmp_path)).write('acme-prod', 'failed', 'first')
    RunRecords(str(tmp_path)).write('acme-prod', 'promoted')
    assert RunRecords(str(tmp_path)).read('acme-prod') == dict(host='acme-prod', outcome='promoted', reason='')


@pytest.mark.parametrize('host', ['tenants/acme prod', '../escape', 'a b', 'a/b', 'prod:8443?x=1#y', 'é'])
def test_a_host_name_of_any_characters_stays_one_file_in_the_run_directory(tmp_path, host):
    run_dir = tmp_path / 'run'
    path = RunRecords(str(run_dir)).path(host)
    assert os.path.dirname(path) == str(run_dir) and path.endswith('.json')
    RunRecords(str(run_dir)).write(host, 'promoted')
    assert os.listdir(run_dir) == [os.path.basename(path)]
    assert RunRecords(str(run_dir)).read(host) == dict(host=host, outcome='promoted', reason='')
    assert not (tmp_path / 'escape.json').exists()


def test_host_names_that_differ_only_by_a_slash_or_a_space_get_records_of_their_own(tmp_path):
    hosts = ['a/b', 'a b', 'a_b', 'a%2Fb']
    paths = {RunRecords(str(tmp_path)).path(host) for host in hosts}
    assert len(paths) == len(hosts)
    for number, host in enumerate(hosts):
        RunRecords(str(tmp_path)).write(host, 'promoted', str(number))
    assert [RunRecords(str(tmp_path)).read(host)['reason'] for host in hosts] == ['0', '1', '2', '3']


def test_a_missing_record_or_run_directory_is_none(tmp_path):
    assert RunRecords(str(tmp_path)).read('acme-prod') is None
    assert RunRecords(str(tmp_path / 'no-such-run')).read('acme-prod') is None


@pytest.mark.parametrize('content', [b'{"host": "acme-prod", "outc', b'', b'\xff\xfe\x00garbage', b'["promoted"]', b'"promoted"', b'null'],
                         ids=['truncated', 'empty', 'not text', 'a list', 'a string', 'null'])
def test_a_corrupt_record_is_none(tmp_path, content):
    with open(RunRecords(str(tmp_path)).path('acme-prod'), 'wb') as stream:
        stream.write(content)
    assert RunRecords(str(tmp_path)).read('acme-prod') is None


def test_the_run_directory_is_made_owner_only(tmp_path):
    run_dir = tmp_path / 'tmp' / 'idcloud-promotions-run-42'
    previous = os.umask(0o022)
    try:
        RunRecords(str(run_dir)).write('acme-prod', 'promoted')
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(run_dir).st_mode) == 0o700
    assert RunRecords(str(run_dir)).read('acme-prod')['outcome'] == 'promoted'


def test_a_run_directory_already_there_is_used_as_it_is(tmp_path):
    run_dir = tmp_path / 'run'
    run_dir.mkdir(mode=0o700)
    RunRecords(str(run_dir)).write('acme-staging', 'promoted')
    RunRecords(str(run_dir)).write('acme-prod', 'failed', 'boom')
    assert sorted(os.listdir(run_dir)) == ['acme-prod.json', 'acme-staging.json']


# The turn of a host in a run of many hosts (plan_turn) and the failure policy (fail_policy_reason).
@pytest.mark.parametrize('follows', [None, ''])
def test_a_host_that_follows_nobody_goes_at_once(follows):
    assert plan_turn(follows, None, False) == (GO, '')
    assert plan_turn(follows, {'outcome': 'failed'}, True) == (GO, '')


def test_a_host_waits_while_the_host_it_follows_has_not_ended():
    assert plan_turn('acme-staging', None, True) == (WAIT, '')


def test_a_host_whose_turn_has_come_is_waited_for_until_it_ends_whatever_ansible_says_of_it():
    started = {'host': 'acme-staging', 'outcome': STARTED, 'reason': ''}
    assert plan_turn('acme-staging', started, True) == (WAIT, '')
    assert plan_turn('acme-staging', started, False) == (WAIT, '')


def test_a_host_is_skipped_when_the_host_it_follows_failed_before_its_task_started():
    decision, reason = plan_turn('acme-staging', None, False)
    assert decision == SKIP
    assert reason == 'acme-staging must be promoted first and failed before its promotion started (see the output above)'


@pytest.mark.parametrize('outcome', CHAIN_OUTCOMES)
def test_a_host_goes_once_the_host_it_follows_ended_well(outcome):
    record = dict(host='acme-staging', outcome=outcome, reason='')
    assert plan_turn('acme-staging', record, True) == (GO, '')
    assert plan_turn('acme-staging', record, False) == (GO, '')  # the record wins over the play's failed hosts


@pytest.mark.parametrize('operation, check_mode, dry_run, real_run, changed, empty', [
    (operation, check_mode, dry_run, real_run, changed, empty)
    for operation in ('promote', 'rollback') for check_mode in (False, True) for dry_run in (False, True)
    for real_run in (False, True) for changed in (False, True) for empty in (False, True)])
def test_every_outcome_of_a_run_that_passed_lets_the_next_host_go(operation, check_mode, dry_run, real_run, changed, empty):
    assert outcome_name(operation, check_mode, dry_run, real_run, changed, empty) in CHAIN_OUTCOMES


@pytest.mark.parametrize('outcome', ['failed', 'skipped'])
def test_a_host_is_skipped_with_the_reason_when_the_host_it_follows_did_not_end_well(outcome):
    record = dict(host='acme-staging', outcome=outcome, reason='Missing ESVs esv.smtp.host')
    assert plan_turn('acme-staging', record, True) == (
        SKIP, 'acme-staging must be promoted first and %s: Missing ESVs esv.smtp.host' % outcome)


@pytest.mark.parametrize('record', [dict(outcome='failed'), dict(outcome='failed', reason=''), dict(outcome='failed', reason=None)])
def test_a_failure_without_a_reason_is_told_without_a_dangling_colon(record):
    assert plan_turn('acme-staging', record, True) == (SKIP, 'acme-staging must be promoted first and failed')


@pytest.mark.parametrize('record', [{}, dict(outcome=None, reason='stopped'), dict(outcome='', reason='stopped')])
def test_a_record_without_an_outcome_counts_as_failed(record):
    decision, reason = plan_turn('acme-staging', record, True)
    assert decision == SKIP and reason.startswith('acme-staging must be promoted first and failed')


@pytest.mark.parametrize('failed, hosts, limit', [
    (1, 4, 25),  # exactly 25 % is not more than 25 %
    (2, 4, 50),
    (1, 3, 100 / 3.0),
    (0, 4, 0),  # nobody failed: not more than 0 %
    (4, 4, 100),
    (3, 4, None),  # no policy
    (0, 0, 0),  # no hosts
])
def test_the_failure_policy_lets_a_host_start_up_to_the_percentage(failed, hosts, limit):
    assert fail_policy_reason(failed, hosts, limit) is None


@pytest.mark.parametrize('failed, hosts, limit, words', [
    (2, 4, 25, '2 of 4 hosts of the run failed, more than max_fail_percentage (25%)'),
    (1, 4, 0, '1 of 4 hosts of the run failed, more than max_fail_percentage (0%)'),
    (1, 3, 33, '1 of 3 hosts of the run failed, more than max_fail_percentage (33%)'),
    (1, 8, 12.4, '1 of 8 hosts of the run failed, more than max_fail_percentage (12.4%)'),
])
def test_the_failure_policy_stops_a_host_past_the_percentage(failed, hosts, limit, words):
    assert fail_policy_reason(failed, hosts, limit) == 'not started: ' + words


# The turn loop (take_turn), on a fake clock, with the records in a temporary directory.
class FakeClock:
    def __init__(self, script=None):
        self.now = 0.0
        self.script = script or {}  # at a time, what the other hosts' tasks write

    def clock(self):
        return self.now

    def sleep(self, seconds):
        before, self.now = self.now, self.now + seconds
        for at, action in sorted(self.script.items()):
            if before < at <= self.now:
                action()


def turn(records, fake, host='acme-prod', follows='acme-staging', run_hosts=('acme-staging', 'acme-prod'), active=None,
         bound=100.0, limit=None, lines=None):
    return take_turn(records, host, list(run_hosts), set(run_hosts if active is None else active), follows, bound, limit,
                     (lines if lines is not None else []).append, clock=fake.clock, sleep=fake.sleep)


def test_a_host_that_follows_nobody_starts_at_once_and_records_it(tmp_path):
    records, fake, lines = RunRecords(str(tmp_path)), FakeClock(), []
    assert turn(records, fake, follows=None, lines=lines) is None
    assert records.read('acme-prod') == dict(host='acme-prod', outcome=STARTED, reason='')
    assert fake.now == 0 and lines == []


def test_a_host_waits_until_the_host_it_follows_ends_well_then_starts(tmp_path):
    records, lines = RunRecords(str(tmp_path)), []
    records.write('acme-staging', STARTED)
    fake = FakeClock({65.0: lambda: records.write('acme-staging', 'promoted')})
    assert turn(records, fake, lines=lines) is None
    assert 65.0 <= fake.now < 65.5  # looked for often: started within a poll of the end
    assert records.read('acme-prod')['outcome'] == STARTED
    assert lines == ['waiting for acme-staging to end first (0 s)', 'waiting for acme-staging to end first (30 s)',
                     'waiting for acme-staging to end first (60 s)', 'acme-staging has ended well; starting']


def test_a_host_is_skipped_with_the_reason_when_the_host_it_follows_fails(tmp_path):
    records = RunRecords(str(tmp_path))
    fake = FakeClock({3.0: lambda: records.write('acme-staging', 'failed', 'Missing ESVs esv.smtp.host')})
    result = turn(records, fake)
    assert result == dict(skipped=True, changed=False, outcome='skipped', skip_reason=result['msg'],
                          msg='acme-staging must be promoted first and failed: Missing ESVs esv.smtp.host')
    assert records.read('acme-prod') is None  # the caller records how it ended
    assert 3.0 <= fake.now < 3.5


def test_a_host_whose_leader_failed_before_its_task_is_skipped_without_waiting(tmp_path):
    records, fake = RunRecords(str(tmp_path)), FakeClock()
    result = turn(records, fake, active={'acme-prod'})
    assert result['skipped'] and 'failed before its promotion started' in result['msg']
    assert fake.now == 0


def test_a_host_fails_when_the_host_it_follows_has_not_ended_within_the_bound_of_its_start(tmp_path):
    records = RunRecords(str(tmp_path))
    fake = FakeClock({50.0: lambda: records.write('acme-staging', STARTED)})
    result = turn(records, fake, bound=100.0)
    assert result == dict(failed=True, outcome='failed', msg='acme-staging did not end within 100 s of its start (twice '
                                                             'lock_timeout and wait_timeout); this host was not started.')
    assert 150.0 < fake.now < 151.0  # the bound counts from the leader's start, not from this host's


def test_the_failure_policy_skips_a_host_whose_turn_comes_after_too_many_failures(tmp_path):
    records, fake = RunRecords(str(tmp_path)), FakeClock()
    hosts = ('a', 'b', 'c', 'd')
    records.write('a', 'failed', 'x')
    records.write('b', 'failed', 'y')
    result = turn(records, fake, host='d', follows=None, run_hosts=hosts, limit=25.0)
    assert result['skipped'] and result['msg'] == fail_policy_reason(2, 4, 25.0)
    assert records.read('d') is None
    assert turn(records, fake, host='d', follows=None, run_hosts=hosts, limit=50.0) is None


# The summary: rows from the hosts' results, and the text and Markdown the role's templates printed before.
def test_a_host_without_a_result_or_stopped_while_started_is_a_failure_in_the_summary():
    ended = dict(host='b', outcome='promoted', reason='', total=1)
    rows = summary_rows(['a', 'b', 'c'], {'a': None, 'b': ended, 'c': dict(ended, host='c', outcome=STARTED)})
    assert [(row['host'], row['outcome'], row['reason']) for row in rows] == [
        ('a', 'failed', 'did not start (see the output above)'), ('b', 'promoted', ''),
        ('c', 'failed', 'stopped before the end (see the output above)')]
    assert rows[1] is ended


@pytest.mark.parametrize('case', ['mixed', 'one', 'long'])
def test_the_summary_text_and_markdown_are_those_of_before(case):
    rows = json.loads((SUMMARY / 'rows.json').read_text())[case]
    assert '\n'.join(summary_text(rows)) == (SUMMARY / (case + '.txt')).read_text()
    assert summary_markdown(rows) == (SUMMARY / (case + '.md')).read_text()


# Each host's words.
def host_result(**fields):
    result = dict(host='acme-staging', operation='promote', outcome='promoted', reason='', added=1, modified=2, deleted=0, total=3,
                  reports=['/r/acme-staging/promotion.md'], report_dir='/r/acme-staging', warnings=[], previewed=True, plan='none')
    result.update(fields)
    return result


CHANGES = [dict(change='added', area='AMConfig', config_item='Journeys', name='Checkout', realm='/alpha'),
           dict(change='deleted', area='IDMConfig', config_item='Email > Templates', name='Welcome', realm=None)]


def test_the_host_line_says_the_outcome_the_counts_the_plan_the_reports_and_the_warnings_then_the_changes():
    lines = host_line(host_result(plan='matched', warnings=['Release check skipped']), 'acme-staging', CHANGES)
    assert lines == ['acme-staging: promoted (3 changes: 1 added, 2 modified, 0 deleted) (plan matched); reports in /r/acme-staging; '
                     'warning: Release check skipped',
                     'What changed (2):', '  added: AMConfig / Journeys: Checkout (realm /alpha)',
                     '  deleted: IDMConfig / Email > Templates: Welcome']
    assert host_line(host_result(outcome='would_promote', reports=[]), 'h', CHANGES[:1], check_mode=True)[1] == 'What a promotion would change (1):'
    assert host_line(host_result(outcome='dry_run_only'), 'h', CHANGES[:1])[1] == 'What would change (1):'


@pytest.mark.parametrize('fields, first', [
    (dict(outcome='failed', reason='The dry run breaks policy: max_changes 1: 3 changes.\nSecond line', reports=[]),
     'h: failed (3 changes: 1 added, 2 modified, 0 deleted): The dry run breaks policy: max_changes 1: 3 changes.'),
    (dict(outcome='nothing_to_promote', total=0, added=0, modified=0, reports=[]), 'h: nothing to promote'),
    (dict(outcome='would_promote', previewed=False, reports=[]), 'h: would promote (changes not previewed: no lower environment)'),
    (dict(total=None, reports=[]), 'h: promoted (its report is not available yet, so what it changed is unknown: read it with '
                                   'playbooks/report.yml)'),
], ids=['failed', 'nothing', 'not previewed', 'no report'])
def test_the_host_line_of_each_kind_of_ending(fields, first):
    lines = host_line(host_result(**fields), 'h', CHANGES)
    assert lines[0] == first
    if fields.get('outcome') == 'failed':
        assert lines == [first, 'Second line']  # a failure shows no changes


def test_the_reason_is_the_modules_message_in_the_roles_words():
    words = {'wait_timeout': 'promote_run_timeout', 'policy': 'promote_policy'}
    said = dict(msg='Timed out after wait_timeout; policy and promote_policy and wait_timeouts stay.')
    assert failure_reason(said, 'h', words) == 'Timed out after promote_run_timeout; promote_policy and promote_policy and wait_timeouts stay.'
    assert failure_reason(None, 'h', words) == 'unknown error'


def test_the_reason_for_a_lock_held_by_another_names_the_ways_out():
    said = dict(msg='full message with its own ways out', cause='Locked by 8acd3a87 (a dry run under it)', holder='8acd3a87')
    reason = failure_reason(said, 'acme-prod', {})
    assert reason.startswith('Locked by 8acd3a87 (a dry run under it) If it is the lock of your own run')
    assert "-e '{promote_resume: {acme-prod: 8acd3a87}}'" in reason
    assert reason.endswith('playbooks/unlock.yml -e promote_unlock_id=8acd3a87 --limit acme-prod, then run again.')


@pytest.mark.parametrize('held, value', [
    ({'acme-prod': '8acd3a87-2272-450f-a3b3-1eb222108740', 'h2': 'x'},
     '{promote_resume: {acme-prod: 8acd3a87-2272-450f-a3b3-1eb222108740, h2: x}}'),
    # Names that YAML would read as something else (a boolean, a number, a mapping) are given as JSON.
    ({'on': '8acd3a87'}, '{"promote_resume": {"on": "8acd3a87"}}'),
    ({'acme-prod': '12345678'}, '{"promote_resume": {"acme-prod": "12345678"}}'),
    ({'a: b': 'x'}, '{"promote_resume": {"a: b": "x"}}')])
def test_the_resume_value_reads_back_as_the_locks_held_and_has_no_double_quote_when_it_can(held, value):
    assert resume_value(held) == value
    assert yaml.safe_load(value) == {'promote_resume': held}
