# -*- coding: utf-8 -*-
"""Bursts of transient failures, run by ansible-playbook against the simulator: reads are tried again with backoff
for as long as the step's deadline allows (not a fixed number of times), Retry-After is honoured but never past the
deadline, and no write is sent twice.

The tests share one ansible-playbook run (the module fixture ``shared``): each test a host of its own, on a tenant of
its own whose faults are armed for it alone, all hosts at once; the tests assert on its recorded results."""

from __future__ import annotations

import pytest

from tests.integration.support import SharedRun, StepRun, Story, admin_result, run_task

PROMOTE = '/environment/promotion/promote'
LOCK_STATE = '/environment/promotion/lock/state'
LAST_REPORT = '/environment/promotion/report'


def whole_promotion(**options):
    return run_task(name='Promote', lock=True, dry_run_first=True, unlock_after=True, **options)


def entries(sim, tenant, method, template):
    return [entry for entry in sim.request_log(tenant, 'staging') if entry['method'] == method and entry['template'] == template]


def real_promotions(sim, tenant):
    return [run for run in sim.env_state(tenant, 'staging')['runs'] if run['kind'] == 'promotion' and not run['dry_run']]


# host: tenant (one each)
TENANTS = {'bursts': 'tenant01', 'retry-after': 'tenant02', 'retry-after-deadline': 'tenant03', 'resets': 'tenant04',
           'failed-lock': 'tenant05'}


def bursts(sim, story):
    tenant = story.tenant
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Burst')
    sim.inject_fault(PROMOTE, 503, method='GET', count=10, body='html', tenant=tenant)
    sim.inject_fault(LOCK_STATE, 502, method='GET', count=4, body='html', tenant=tenant)
    sim.inject_fault(LAST_REPORT, 'drop', method='GET', count=3, tenant=tenant)
    story.step('run', [whole_promotion(wait_timeout=3600, lock_timeout=3600)])


def retry_after(sim, story):
    sim.inject_fault(PROMOTE, 429, method='GET', count=2, body='html', retry_after=2, tenant=story.tenant)
    story.step('run', [whole_promotion()])


def retry_after_deadline(sim, story):
    sim.inject_fault(LOCK_STATE, 503, method='GET', count=50, body='json', retry_after=3600, tenant=story.tenant)
    story.step('run', [dict(whole_promotion(lock_timeout=8), ignore_errors=True)])


def resets(sim, story):
    tenant = story.tenant
    sim.edit_config(tenant, 'dev', 'idm', 'Managed Objects', 'add', 'alpha_device')
    sim.inject_fault(LOCK_STATE, 'reset', method='GET', count=2, tenant=tenant)
    sim.inject_fault(PROMOTE, 504, method='GET', count=3, body='html', tenant=tenant)
    sim.inject_fault('/environment/promotion/reports', 429, method='GET', count=1, body='html', tenant=tenant)
    story.step('run', [whole_promotion()])


def failed_lock(sim, story):
    sim.fail_next_lock(story.tenant, 'staging', description='Failed to lock environment')
    story.step('run', [dict(whole_promotion(), ignore_errors=True)])
    story.admin('After the run', 'env_state', tenant=story.tenant, env='staging')
    story.admin('Support cleared the block', 'clear_block', tenant=story.tenant, upper_env='staging')


STORIES = {'bursts': bursts, 'retry-after': retry_after, 'retry-after-deadline': retry_after_deadline, 'resets': resets,
           'failed-lock': failed_lock}


@pytest.fixture(scope='module')
def shared(simulator, tmp_path_factory):
    """Every test's story in one ansible-playbook run."""
    sim = simulator
    stories = SharedRun(tmp_path_factory.mktemp('faults'))
    try:
        for host, make in STORIES.items():
            make(sim, stories.add(Story(sim, host, TENANTS[host])))
        return stories.run()
    finally:
        sim.clear_faults()


def test_bursts_of_read_failures_inside_a_one_hour_wait_are_survived(simulator, shared):
    sim, tenant = simulator, TENANTS['bursts']
    run = StepRun(shared, 'bursts', 'run')
    assert run.rc == 0, run.output()
    result = run.task('Promote')['result']
    assert result['changed'] is True and result['real_run'] is True and result['lock_released'] is True
    faults = [entry['fault'] for entry in sim.request_log(tenant, 'staging') if entry['fault']]
    assert faults.count('503') == 10 and faults.count('502') == 4 and faults.count('drop') == 3
    assert len(real_promotions(sim, tenant)) == 1
    assert [entry['status'] for entry in entries(sim, tenant, 'POST', PROMOTE)] in ([200, 200], [202, 202])
    assert len(entries(sim, tenant, 'POST', '/environment/promotion/lock')) == 1
    assert sim.env_state(tenant, 'staging')['lock'] is None
    assert sim.env_state(tenant, 'staging')['config'] == sim.env_state(tenant, 'dev')['config']


def test_retry_after_is_honoured(simulator, shared):
    sim, tenant = simulator, TENANTS['retry-after']
    run = StepRun(shared, 'retry-after', 'run')
    assert run.rc == 0, run.output()
    reads = entries(sim, tenant, 'GET', PROMOTE)
    refused = [index for index, entry in enumerate(reads) if entry['fault'] == '429']
    assert len(refused) == 2
    # The read after each refusal waited the two seconds asked for.
    for index in refused:
        assert reads[index + 1]['time'] - reads[index]['time'] >= 1.9


def test_retry_after_never_waits_past_the_deadline(simulator, shared):
    sim, tenant = simulator, TENANTS['retry-after-deadline']
    run = StepRun(shared, 'retry-after-deadline', 'run')
    failure = run.failure('Promote')
    assert '503' in failure['msg'] and 'Traceback' not in failure['msg']
    took = run.task('Promote')['seconds']
    assert took < 60, took  # the 8 s lock_timeout bounded it, not the hour asked for
    assert entries(sim, tenant, 'POST', '/environment/promotion/lock') == [] and sim.env_state(tenant, 'staging')['lock'] is None


def test_reset_connections_and_html_proxy_errors_without_retry_after(simulator, shared):
    sim, tenant = simulator, TENANTS['resets']
    run = StepRun(shared, 'resets', 'run')
    assert run.rc == 0, run.output()
    assert run.task('Promote')['result']['changed'] is True
    assert len(real_promotions(sim, tenant)) == 1 and sim.env_state(tenant, 'staging')['lock'] is None


def test_a_lock_that_ends_in_error_fails_with_its_description_and_is_not_touched(simulator, shared):
    sim, tenant = simulator, TENANTS['failed-lock']
    run = StepRun(shared, 'failed-lock', 'run')
    failure = run.failure('Promote')
    assert 'Failed to lock environment' in failure['msg'] and 'support ticket' in failure['msg'], failure['msg']
    assert failure['promotion_id'] and failure['lock_released'] is False
    assert entries(sim, tenant, 'DELETE', '/environment/promotion/lock/{promotionId}') == []
    assert entries(sim, tenant, 'POST', PROMOTE) == []
    assert admin_result(shared, 'failed-lock', 'After the run')['lock']['state'] == 'error'
