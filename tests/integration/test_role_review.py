# -*- coding: utf-8 -*-
"""Promote only what was reviewed, run by ansible-playbook against the simulator: the plan a preview writes (a dry run
only, and check mode), the real run given it (-e @plan.yml) that promotes what matches and refuses what changed since,
promote_plan_match subset, promote_require_plan, the policy gates (in check mode and in a real run, and each kind of
bad policy), the direct-configuration session check, the release check before a rollback, and promote_headers.

Three promote.yml runs, shared by the module's tests (the fixture ``review``): the preview (a dry run only), the preview
in check mode, then the real run over every host given the preview's plan.yml; each host a tenant of its own."""

from __future__ import annotations

import pytest
import yaml

from tests.integration.role.support import HostRun, config, host_lines, host_vars, run, summary, write_inventory, writes_of

TENANT_COUNT = 21
LOCK_POST = ('POST', '/environment/promotion/lock')
# Rules on the changes each policy host's dev holds (see review()).
POLICIES = {
    'max-changes': dict(max_changes=1),
    'max-deletions': dict(max_deletions=0),
    'protected': dict(protected=['AMConfig / Journeys / Checkout*']),
    'allowed': dict(allowed=['IDMConfig / * / *', dict(match='AMConfig / Journeys / *', change='modified')]),
    'allowed-kept': dict(allowed=['AMConfig / Journeys / *'], protected=[dict(match='* / * / *', change='deleted')],
                         max_changes=5, max_deletions=0),
}
BAD_POLICIES = {
    'bad-key': (dict(max_change=1), "unknown key 'max_change'"),
    'bad-max': (dict(max_deletions=-1), 'promote_policy.max_deletions must be a non-negative integer'),
    'bad-rule': (dict(protected=[dict(pattern='AMConfig / * / *')]), "promote_policy.protected[0] has an unknown key 'pattern'"),
}
# host: tenant. The preview's hosts, the policies' hosts, the other checks' hosts.
TENANTS = {'match': 'tenant01', 'later': 'tenant02', 'subset': 'tenant03', 'unplanned': 'tenant04', 'checked': 'tenant05',
           'max-changes': 'tenant06', 'max-deletions': 'tenant07', 'protected': 'tenant08', 'allowed': 'tenant09',
           'allowed-kept': 'tenant10', 'bad-key': 'tenant11', 'bad-max': 'tenant12', 'bad-rule': 'tenant13',
           'session-open': 'tenant14', 'session-error': 'tenant15', 'session-applied': 'tenant16', 'session-no-scope': 'tenant17',
           'session-required': 'tenant18', 'rollback-release': 'tenant19'}


def inventory_of(sim, hosts, **common):
    return {host: dict(host_vars(sim, TENANTS[host], 'staging'), **dict(common, **extra)) for host, extra in hosts.items()}


@pytest.fixture(scope='module')
def review(simulator, tmp_path_factory):
    sim = simulator
    previewed, checked, real = (tmp_path_factory.mktemp(name) for name in ('preview', 'check', 'real'))
    for host in ('match', 'later', 'subset', 'unplanned', 'checked', 'session-open', 'session-error', 'session-applied',
                 'session-no-scope', 'session-required'):
        sim.edit_config(TENANTS[host], 'dev', 'am', 'Journeys', 'add', 'Reviewed')
    sim.edit_config(TENANTS['subset'], 'dev', 'idm', 'Email > Templates', 'add', 'Promoted by hand')
    # Each policy host: an added journey, a modified one, a deleted one.
    for host in list(POLICIES) + list(BAD_POLICIES):
        tenant = TENANTS[host]
        sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Checkout')
        sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'modify', 'Login')
        if host not in ('allowed', 'allowed-kept'):
            sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'delete', 'Registration')
    sim.edit_config(TENANTS['allowed'], 'dev', 'idm', 'Email > Templates', 'add', 'Allowed')
    sim.set_session(TENANTS['session-open'], 'staging', 'SESSION_INITIALISED')
    sim.set_session(TENANTS['session-error'], 'staging', 'ERROR')
    sim.set_session(TENANTS['session-applied'], 'staging', 'SESSION_APPLIED')
    for host in ('session-no-scope', 'session-required'):
        sim.set_variant(tenant=TENANTS[host], account_scopes='promotion')
    sim.set_release(TENANTS['rollback-release'], 'dev', '2025.9.0')
    sim.set_release(TENANTS['rollback-release'], 'staging', '2025.8.2')

    # 1. The preview: a dry run only, of the hosts whose plans are reviewed.
    preview = run(previewed, write_inventory(previewed / 'inventory.yml', inventory_of(sim, {'match': {}, 'later': {}, 'subset': {}})),
                  promote_dry_run_only=True, args=('--forks', '3'))
    plans_file = previewed / 'reports' / 'plan.yml'
    plans = yaml.safe_load(plans_file.read_text()) if plans_file.exists() else {}
    # After the review: a change in dev that nobody reviewed; a change of subset's promoted by hand.
    sim.edit_config(TENANTS['later'], 'dev', 'am', 'Journeys', 'add', 'Half-finished')
    sim.edit_config(TENANTS['subset'], 'staging', 'idm', 'Email > Templates', 'add', 'Promoted by hand')

    # 2. The preview in check mode: a plan from the provisional report, and each policy rule on it.
    check_hosts = dict({'checked': {}}, **{host: dict(promote_policy=policy) for host, policy in POLICIES.items()})
    before = {host: config(sim, TENANTS[host], 'staging') for host in check_hosts}
    check_writes = {host: writes_of(sim, TENANTS[host]) for host in check_hosts}
    checking = run(checked, write_inventory(checked / 'inventory.yml', inventory_of(sim, check_hosts)), check=True,
                   args=('--forks', '6'))
    after_check = {host: (config(sim, TENANTS[host], 'staging'), writes_of(sim, TENANTS[host])) for host in check_hosts}

    # 3. The real run, given the preview's plans: every host.
    hosts = {'match': {}, 'later': {}, 'subset': dict(promote_plan_match='subset'), 'unplanned': dict(promote_require_plan=True)}
    hosts.update({host: dict(promote_policy=policy) for host, policy in POLICIES.items()})
    hosts.update({host: dict(promote_policy=policy) for host, (policy, _words) in BAD_POLICIES.items()})
    hosts.update({'session-open': {}, 'session-error': {}, 'session-required': dict(promote_require_session_check=True),
                  'session-no-scope': {}, 'session-applied': dict(promote_headers={'X-WAF-Key': 'waf-review-key'}),
                  'rollback-release': dict(promote_operation='rollback')})
    promoted = run(real, write_inventory(real / 'inventory.yml', inventory_of(sim, hosts)), args=('--forks', '8', '-e', '@%s' % plans_file))
    return dict(preview=preview, plans=plans, plans_file=plans_file, checking=checking, check_dir=checked, before=before,
                check_writes=check_writes, after_check=after_check, real=promoted, real_dir=real, summary=summary(real))


def artifacts(run, task):
    """What a set_stats task of the run gave the job's artifacts."""
    return run.task(task)['result']['ansible_stats']['data']


def real_promotions(sim, host):
    return [run for run in sim.env_state(TENANTS[host], 'staging')['runs'] if run['kind'] == 'promotion' and not run['dry_run']]


def test_a_dry_run_only_writes_each_hosts_plan_and_says_how_to_use_it(review):
    preview, plans = review['preview'], review['plans']['promote_expected_plans']
    assert preview.rc == 0, preview.output()
    assert sorted(plans) == ['later', 'match', 'subset']
    plan = plans['match']
    assert plan['source'] == 'dry_run' and plan['digest'].startswith('sha256:') and plan['previewed_at'].endswith('Z')
    assert plan['changes'] == [dict(area='AMConfig', config_item='Journeys', name='Reviewed', realm='/alpha', change='added')]
    assert len(plans['subset']['changes']) == 2
    assert 'plan of match: %s (dry_run, 1 changes)' % plan['digest'] in preview.stdout
    assert 'promote no more than was previewed with: -e @%s' % review['plans_file'] in preview.stdout
    # The same plans go to the job's artifacts, for the next node of a workflow.
    assert artifacts(preview, "Hand the plans previewed to the job's artifacts")['promote_expected_plans'] == plans


def test_the_plan_that_matches_is_promoted(simulator, review):
    result = HostRun(review['real'], 'match')
    assert result.rc == 0, result.output()
    assert review['summary']['match']['plan'] == 'matched' and review['summary']['match']['outcome'] == 'promoted'
    assert len(real_promotions(simulator, 'match')) == 1
    assert any('(plan matched)' in line for line in host_lines(review['real'].stdout, 'match:'))
    # The summary names each host's comparison, hosts without a plan too.
    assert 'plan of match: matched' in review['real'].stdout and 'plan of later: differed' in review['real'].stdout
    assert 'plan of max-changes: none' in review['real'].stdout


def test_a_change_made_in_dev_after_the_preview_is_refused_named_and_the_lock_released(simulator, review):
    sim, row = simulator, review['summary']['later']
    assert HostRun(review['real'], 'later').rc == 2
    assert (row['outcome'], row['plan']) == ('failed', 'differed')
    assert 'Added since the review: added AMConfig / Journeys / Half-finished (realm /alpha)' in row['reason']
    assert real_promotions(sim, 'later') == [] and sim.env_state(TENANTS['later'], 'staging')['lock'] is None
    assert writes_of(sim, TENANTS['later']).count(LOCK_POST) == 2  # the preview's lock, the real run's
    assert artifacts(review['real'], "Hand each host's outcome to the job's artifacts")['promote_plan_results']['later'] == 'differed'


def test_a_subset_plan_promotes_a_dry_run_with_fewer_changes(simulator, review):
    row = review['summary']['subset']
    assert (row['outcome'], row['plan'], row['total']) == ('promoted', 'matched', 1)
    assert len(real_promotions(simulator, 'subset')) == 1


def test_require_plan_refuses_a_host_without_a_plan_before_locking(simulator, review):
    row = review['summary']['unplanned']
    assert (row['outcome'], row['plan']) == ('failed', 'none')
    assert 'promote_require_plan' in row['reason'] and 'promote_expected_plans' in row['reason']
    assert writes_of(simulator, TENANTS['unplanned']) == []


def test_check_mode_writes_only_the_plan_from_the_provisional_report_and_changes_nothing(review):
    checking, workdir = review['checking'], review['check_dir']
    plans = yaml.safe_load((workdir / 'reports' / 'plan.yml').read_text())['promote_expected_plans']
    assert plans['checked']['source'] == 'provisional'
    assert [change['name'] for change in plans['checked']['changes']] == ['Reviewed']
    assert 'allowed-kept' in plans and 'protected' not in plans  # a host that fails has no plan to promote
    assert sorted(path.name for path in (workdir / 'reports').iterdir()) == ['plan.yml']
    for host, (staging, writes) in review['after_check'].items():
        assert staging == review['before'][host] and writes == review['check_writes'][host], host
    assert checking.rc == 2, checking.output()


@pytest.mark.parametrize('host, words', [
    ('max-changes', 'max_changes 1: 3 changes'),
    ('max-deletions', 'max_deletions 0: 1 deletions (deleted AMConfig / Journeys / Registration'),
    ('protected', "protected 'AMConfig / Journeys / Checkout*': added AMConfig / Journeys / Checkout"),
    ('allowed', "not allowed: added AMConfig / Journeys / Checkout"),
])
def test_each_policy_rule_fails_the_preview_in_check_mode_and_the_real_run(simulator, review, host, words):
    checked = HostRun(review['checking'], host)
    assert checked.rc == 2 and any(words in line and 'The provisional report breaks promote_policy' in line
                                   for line in host_lines(review['checking'].stdout, host)), checked.output()
    row = review['summary'][host]
    assert row['outcome'] == 'failed' and words in row['reason'] and row['reason'].startswith('The dry run breaks promote_policy')
    assert real_promotions(simulator, host) == [] and simulator.env_state(TENANTS[host], 'staging')['lock'] is None


def test_a_policy_kept_lets_the_promotion_go(simulator, review):
    assert HostRun(review['checking'], 'allowed-kept').rc == 0
    assert review['summary']['allowed-kept']['outcome'] == 'promoted' and len(real_promotions(simulator, 'allowed-kept')) == 1


@pytest.mark.parametrize('host', sorted(BAD_POLICIES))
def test_a_bad_policy_is_refused_before_anything_is_locked_naming_the_key(simulator, review, host):
    row = review['summary'][host]
    assert row['outcome'] == 'failed' and BAD_POLICIES[host][1] in row['reason'], row['reason']
    assert writes_of(simulator, TENANTS[host]) == []


@pytest.mark.parametrize('host, words', [
    ('session-open', 'is open (SESSION_INITIALISED)'), ('session-error', 'in ERROR'),
    ('session-required', 'promote_require_session_check'),
])
def test_an_open_session_or_one_in_error_or_a_required_check_without_scope_fails_before_locking(simulator, review, host, words):
    row = review['summary'][host]
    assert row['outcome'] == 'failed' and words in row['reason'] and 'nothing was locked' in row['reason'], row['reason']
    assert writes_of(simulator, TENANTS[host]) == []


def test_a_session_that_ended_lets_the_promotion_go_and_a_missing_scope_warns(simulator, review):
    assert review['summary']['session-applied']['outcome'] == 'promoted'
    row = review['summary']['session-no-scope']
    assert row['outcome'] == 'promoted' and any('fr:idc:direct-configuration:session:read' in warning for warning in row['warnings'])


def test_the_headers_go_with_every_request_and_stay_out_of_the_output(simulator, review):
    log = simulator.request_log(TENANTS['session-applied'], 'staging')
    assert log and all(entry['headers'].get('x-waf-key') == 'waf-review-key' for entry in log)
    assert any(entry['template'].endswith('/access_token') for entry in log)  # token requests too
    assert 'waf-review-key' not in review['real'].stdout + review['real'].stderr


def test_a_rollback_makes_the_release_check_first(simulator, review):
    row = review['summary']['rollback-release']
    assert row['outcome'] == 'failed' and 'Release check' in row['reason'] and 'promote_allow_release_upgrade' in row['reason']
    assert writes_of(simulator, TENANTS['rollback-release']) == []
