# -*- coding: utf-8 -*-
"""promote.yml as AWX runs it: through `ansible-runner run` on a private data dir (process isolation off), without a
terminal, read back from the job's artifacts; and an interrupted job resumed by jobs that share nothing with it but
the tenant."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.integration.role.support import PLAYBOOKS, config, host_vars, kill_group, wait_for, writes_of
from tests.integration.support import SIMULATOR_ARGS, ansible_environment, kill_and_wait, marked_processes
from tests.simulator.control import Simulator

RUNNER = str(Path(sys.executable).parent / 'ansible-runner')
# The environment variable that marks the processes of the job that is killed.
JOB = 'IDCLOUD_TEST_JOB'


@dataclass
class Job:
    """What a job left in its artifacts (artifacts/<ident>/): its status and rc, its events in order and its output."""

    status: str
    rc: int
    events: list
    stdout: str

    def artifact_data(self):
        """What the playbook handed to the job's artifacts with set_stats (what AWX gives a workflow's next nodes)."""
        return [event for event in self.events if event['event'] == 'playbook_on_stats'][-1]['event_data']['artifact_data']

    def assert_no_secret(self, sim, tenant):
        """No private part of a service-account key, and no access token (the static ones, nor any the simulator
        issued to the job), in any event or in the output."""
        everything = json.dumps(self.events) + self.stdout
        secrets = sim.issued_tokens(tenant=tenant)
        assert secrets, 'the job was given service accounts: the simulator issued it tokens'
        for env in ('dev', 'staging', 'prod'):
            entry = sim.state['tenants'][tenant]['environments'][env]
            secrets += [entry['service_account_key'][part] for part in ('d', 'p', 'q', 'dp', 'dq', 'qi')] + [entry['access_token']]
            secrets += [line for line in entry['service_account_key_pem'].splitlines() if line and not line.startswith('-----')]
        assert not [secret for secret in secrets if secret in everything]


def private_data_dir(path, hosts, envvars=None, cmdline=None, **extravars):
    """A job's private data dir, as AWX makes one: the inventory, the extra variables of the job template (its
    reports inside the job's own folder, which goes with it), the environment variables its credentials inject
    (``envvars``) and more ansible-playbook arguments (``cmdline``, such as ``--check``)."""
    (path / 'inventory').mkdir(parents=True)
    (path / 'env').mkdir()
    (path / 'inventory' / 'hosts.json').write_text(json.dumps({'all': {'children': {'promotion_targets': {
        'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}, 'hosts': hosts}}}}))
    (path / 'env' / 'extravars').write_text(json.dumps(dict(extravars, promote_report_dir=str(path / 'reports'))))
    (path / 'env' / 'settings').write_text(json.dumps(dict(process_isolation=False)))
    # Nothing of the user's home either: each job has its own.
    (path / 'env' / 'envvars').write_text(json.dumps(dict(envvars or {}, HOME=str(path / 'home'))))
    if cmdline:
        (path / 'env' / 'cmdline').write_text(cmdline)
    return path


def runner_command(private, ident):
    return [RUNNER, 'run', str(private), '-p', str(PLAYBOOKS / 'promote.yml'), '--ident', ident]


def run_job(private, ident='job'):
    """`ansible-runner run` on ``private``, to its end; the job as its artifacts tell it."""
    ran = subprocess.run(runner_command(private, ident), env=ansible_environment(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         check=False, timeout=600)
    artifacts = private / 'artifacts' / ident
    assert (artifacts / 'rc').exists(), ran.stdout[-4000:] + ran.stderr[-4000:]
    events = [json.loads(path.read_text()) for path in (artifacts / 'job_events').glob('*.json')]
    job = Job(status=(artifacts / 'status').read_text().strip(), rc=int((artifacts / 'rc').read_text()),
              events=sorted(events, key=lambda event: event['counter']), stdout=(artifacts / 'stdout').read_text())
    assert ran.returncode == job.rc, (ran.returncode, job.rc)
    return job


def test_promotion_through_ansible_runner_hands_outcomes_to_the_artifacts_and_no_secret_to_the_events(simulator, tmp_path):
    sim = simulator
    sim.edit_config('tenant15', 'dev', 'idm', 'Email > Templates', 'add', 'Runner')
    # A restart phase of two seconds at the test speed, so that a busy machine's polls still see it running.
    sim.set_timing(tenant='tenant15', restart=40)
    hosts = {'r-staging': host_vars(sim, 'tenant15', 'staging'),
             'r-prod': host_vars(sim, 'tenant15', 'prod', promote_after='r-staging')}
    job = run_job(private_data_dir(tmp_path / 'private', hosts))
    assert (job.status, job.rc) == ('successful', 0), job.stdout[-4000:]

    assert job.artifact_data()['promote_outcomes'] == {'r-staging': 'promoted', 'r-prod': 'promoted'}
    assert config(sim, 'tenant15', 'prod') == config(sim, 'tenant15', 'dev')
    # The progress lines reach the job's events as they happen (AWX shows them), in order.
    lines = [event['stdout'] for event in job.events if event['event'] == 'verbose']
    waiting = next(index for index, line in enumerate(lines) if line.startswith('r-prod: waiting for r-staging to end first'))
    restart = next(index for index, line in enumerate(lines) if line.startswith('r-staging: the promotion: RUNNING: Waiting for'))
    starting = lines.index('r-prod: r-staging has ended well; starting')
    assert waiting < restart < starting
    job.assert_no_secret(sim, 'tenant15')


def test_credentials_injected_as_environment_variables_serve_both_environments(simulator, tmp_path):
    """As a custom credential type injects them: the inventory holds only the URLs, the keys come from the job's
    environment, for the upper and the lower environment; the pre-flight previews, the real run promotes."""
    sim, tenant = simulator, 'tenant16'
    sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Injected')
    upper, lower = sim.credentials(tenant, 'staging'), sim.credentials(tenant, 'dev')
    hosts = {'c-staging': dict(promote_tenant_url=sim.url(tenant, 'staging'), promote_lower_tenant_url=sim.url(tenant, 'dev'),
                               promote_ca_path=sim.ca_file)}
    # The upper key as a PEM (a multi-line secret field), the lower one as a JWK.
    injected = dict(IDCLOUD_SERVICE_ACCOUNT_ID=upper['service_account_id'],
                    IDCLOUD_SERVICE_ACCOUNT_KEY=sim.state['tenants'][tenant]['environments']['staging']['service_account_key_pem'],
                    IDCLOUD_LOWER_SERVICE_ACCOUNT_ID=lower['service_account_id'],
                    IDCLOUD_LOWER_SERVICE_ACCOUNT_KEY=lower['service_account_key'])

    preflight = run_job(private_data_dir(tmp_path / 'preflight', hosts, envvars=injected, cmdline='--check --diff'), 'preflight')
    assert (preflight.status, preflight.rc) == ('successful', 0), preflight.stdout[-4000:]
    assert preflight.artifact_data()['promote_outcomes'] == {'c-staging': 'would_promote'}
    assert 'c-staging: would promote (1 changes: 1 added' in preflight.stdout and '- added: Injected' in preflight.stdout
    assert writes_of(sim, tenant) == []

    job = run_job(private_data_dir(tmp_path / 'promote', hosts, envvars=injected), 'promote')
    assert (job.status, job.rc) == ('successful', 0), job.stdout[-4000:]
    assert job.artifact_data()['promote_outcomes'] == {'c-staging': 'promoted'}
    assert config(sim, tenant, 'staging') == config(sim, tenant, 'dev')
    assert 'Release check skipped' not in job.stdout  # the lower environment's account was used for it
    for ran in (preflight, job):
        ran.assert_no_secret(sim, tenant)


def test_a_job_that_kept_no_files_is_finished_by_a_relaunch_under_its_lock(tmp_path):
    # A simulator of its own with a long restart phase (30 s), so that the first job can be killed in the middle of it
    # and the third still finds it going after the second, however busy the machine (each job starts ansible-runner
    # and ansible-playbook: seconds each).
    with Simulator.start(tmp_path / 'simulator', scenario='default', tenants='acme',
                         extra_args=SIMULATOR_ARGS + ['--restart-seconds', '600']) as sim:
        sim.edit_config('acme', 'dev', 'am', 'OAuth2 Clients', 'add', 'partner-portal')
        hosts = {'acme-staging': host_vars(sim, 'acme', 'staging')}

        # Job 1: killed with its container while the tenant restarts its services; its lock stays, and its files go.
        # Every process of the job carries JOB (ansible-runner hands its environment to ansible-playbook): none may be
        # left once it is killed, wherever it went (pexpect starts ansible-playbook in a session of its own).
        first, job = private_data_dir(tmp_path / 'job1', hosts), uuid.uuid4().hex
        with open(tmp_path / 'job1.log', 'w', encoding='utf-8') as log:
            process = subprocess.Popen(runner_command(first, 'job1'),  # pylint: disable=consider-using-with
                                       env=dict(ansible_environment(), **{JOB: job}), stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(lambda: process.poll() is not None
                     or sim.env_state('acme', 'staging')['status']['message'] == 'Waiting for workloads to restart', timeout=120)
        finally:
            ended = process.poll()
            kill_group(process)
            survivors = marked_processes(job, JOB)
            kill_and_wait(list(survivors))
        assert ended is None, (tmp_path / 'job1.log').read_text()[-4000:]
        assert not survivors, 'job 1 went on after it was killed: %s' % survivors
        held = sim.env_state('acme', 'staging')['lock']['promotionId']

        # Job 2, a relaunch with the same variables and none of job 1's files: the lock it finds may be a colleague's,
        # so it touches nothing, shows what the tenant has under the lock, and says exactly what to run.
        second = run_job(private_data_dir(tmp_path / 'job2', hosts), 'job2')
        output = second.stdout
        assert (second.status, second.rc) == ('failed', 2), output[-4000:]
        stats = second.artifact_data()
        assert stats['promote_outcomes'] == {'acme-staging': 'failed'} and stats['promote_held_locks'] == {'acme-staging': held}
        assert "a dry run's report" in output and 'a promotion running now (Waiting for workloads to restart)' in output
        resume = {'promote_resume': {'acme-staging': held}}
        assert "-e '{promote_resume: {acme-staging: %s}}'" % held in output
        assert writes_of(sim, 'acme').count(('POST', '/environment/promotion/promote')) == 2  # job 1's dry run and promotion
        assert sim.env_state('acme', 'staging')['lock']['promotionId'] == held
        second.assert_no_secret(sim, 'acme')

        # Job 3, launched with what job 2 said: it waits for job 1's promotion, reports it and releases the lock.
        third = run_job(private_data_dir(tmp_path / 'job3', hosts, **resume), 'job3')
        assert (third.status, third.rc) == ('successful', 0), third.stdout[-4000:]
        stats = third.artifact_data()
        assert stats['promote_outcomes'] == {'acme-staging': 'promoted'} and stats['promote_held_locks'] == {}
        assert config(sim, 'acme', 'staging') == config(sim, 'acme', 'dev')
        assert sim.env_state('acme', 'staging')['lock'] is None
        writes = writes_of(sim, 'acme')
        assert writes.count(('POST', '/environment/promotion/lock')) == 1 and writes.count(('POST', '/environment/promotion/promote')) == 2
        assert (tmp_path / 'job3' / 'reports' / 'acme-staging' / 'promotion.md').exists()
        third.assert_no_secret(sim, 'acme')


def test_a_preview_job_hands_its_plans_to_the_promote_job_that_refuses_what_changed_since(simulator, tmp_path):
    """An AWX workflow: a preview job (a dry run only), an approval, then the promote job, given the preview job's
    artifacts as its extra variables. One host's dev is left as previewed; the other's changes between the jobs."""
    sim = simulator
    for tenant in ('tenant13', 'tenant14'):
        sim.edit_config(tenant, 'dev', 'am', 'Journeys', 'add', 'Approved')
    hosts = {'same-staging': host_vars(sim, 'tenant13', 'staging'), 'changed-staging': host_vars(sim, 'tenant14', 'staging')}
    preview = run_job(private_data_dir(tmp_path / 'preview', hosts, promote_dry_run_only=True))
    assert (preview.status, preview.rc) == ('successful', 0), preview.stdout[-4000:]
    plans = preview.artifact_data()['promote_expected_plans']
    assert sorted(plans) == ['changed-staging', 'same-staging'] and plans['same-staging']['source'] == 'dry_run'

    sim.edit_config('tenant14', 'dev', 'am', 'Journeys', 'add', 'Not approved')  # after the approval
    promote = run_job(private_data_dir(tmp_path / 'promote', hosts, **preview.artifact_data()))
    assert (promote.status, promote.rc) == ('failed', 2), promote.stdout[-4000:]
    artifacts = promote.artifact_data()
    assert artifacts['promote_outcomes'] == {'same-staging': 'promoted', 'changed-staging': 'failed'}
    assert artifacts['promote_plan_results'] == {'same-staging': 'matched', 'changed-staging': 'differed'}
    assert 'promote_expected_plans' not in artifacts  # it previewed nothing: the workflow keeps the preview's plans
    assert config(sim, 'tenant13', 'staging') == config(sim, 'tenant13', 'dev')
    assert 'Not approved' not in json.dumps(config(sim, 'tenant14', 'staging'))
    assert sim.env_state('tenant14', 'staging')['lock'] is None
    assert 'Added since the review: added AMConfig / Journeys / Not approved' in promote.stdout
