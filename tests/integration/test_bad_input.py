# -*- coding: utf-8 -*-
"""Bad input, run by ansible-playbook against the simulator: each case fails with a message that names the option
and what is wrong, before any request where the input alone shows it, and never with a traceback. (A promote_after
that forms a cycle: test_role_chains.py.)"""

from __future__ import annotations

import json

from tests.integration.role.support import writes_of
from tests.integration.support import lock_task, promotion_play, run_task

PUBLIC_JWK = {'kty': 'RSA', 'n': 'sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1Wl', 'e': 'AQAB'}
GARBAGE_PEM = '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n'


def attempt(name, module='promotion_lock', **options):
    """A task expected to fail, run on with ignore_errors so that one playbook tries every case."""
    task = lock_task(name=name, **options) if module == 'promotion_lock' else \
        run_task(name=name, **options) if module == 'promotion_run' else \
        {'name': name, 'idcloud.promotions.%s' % module: options, 'register': 'result'}
    return dict(task, ignore_errors=True)


def assert_refused(result, *words):
    assert result['outcome'] == 'ignored', result
    message = result['result']['msg']
    for word in words:
        assert word in message, (word, message)
    assert 'Traceback' not in json.dumps(result['result']) and 'module_stderr' not in result['result'], result


def test_bad_input_is_refused_before_any_request(simulator, playbook, tmp_path):
    sim, tenant = simulator, 'tenant01'
    plain_file = tmp_path / 'a-file'
    plain_file.write_text('not a folder\n')
    corrupt = tmp_path / 'corrupt.json'
    corrupt.write_text('{"promotion_id": "8acd3a87-')
    elsewhere = tmp_path / 'elsewhere.json'
    elsewhere.write_text(json.dumps({'promotion_id': '8acd3a87-2272-450f-a3b3-1eb222108740',
                                     'tenant_url': sim.url('tenant02', 'staging')}))
    staging = sim.url(tenant, 'staging')
    tasks = [
        attempt('No scheme', tenant_url=staging.replace('https://', '')),
        attempt('Plain http', tenant_url=staging.replace('https://', 'http://')),
        attempt('Lower URL without https', module='promotion_run', lock=True, lower_tenant_url='ftp://example.com',
                lower_access_token='x'),
        attempt('JWK that is not JSON', service_account_key='{"kty": "RSA", "n": '),
        attempt('Key that is neither JWK nor PEM', service_account_key='just some text'),
        attempt('Public JWK', service_account_key=json.dumps(PUBLIC_JWK)),
        attempt('Garbage PEM', service_account_key=GARBAGE_PEM),
        attempt('Zero timeout', wait_timeout=0),
        attempt('Negative timeout', module='promotion_run', lock=True, lock_timeout=-5),
        attempt('Negative request timeout', request_timeout=-1),
        attempt('Report under a file', module='promotion_report', dest=str(plain_file / 'sub' / 'report.json')),
        attempt('Report in an unwritable folder', module='promotion_run', dry_run=True, report_dest=['/sys/report.md']),
        attempt('Report destination that is a folder', module='promotion_report', dest=str(tmp_path)),
        attempt('Corrupt lock record', record=str(corrupt)),
        attempt('Lock record of another tenant', module='promotion_run', lock=True, record=str(elsewhere)),
    ]
    result = playbook(promotion_play(sim, tenant, 'staging', tasks))
    assert result.rc == 0, result.output()
    assert_refused(result.task('No scheme'), 'tenant_url must be an https:// URL')
    assert_refused(result.task('Plain http'), 'tenant_url must be an https:// URL', 'http://')
    assert_refused(result.task('Lower URL without https'), 'lower_tenant_url must be an https:// URL')
    assert_refused(result.task('JWK that is not JSON'), 'service_account_key looks like JSON but does not parse')
    assert_refused(result.task('Key that is neither JWK nor PEM'), 'service_account_key must be the private JWK')
    assert_refused(result.task('Public JWK'), 'service_account_key is a public JWK', 'no private part')
    assert_refused(result.task('Garbage PEM'), 'service_account_key is PEM but cannot be loaded')
    assert_refused(result.task('Zero timeout'), 'wait_timeout must be a positive number', '0')
    assert_refused(result.task('Negative timeout'), 'lock_timeout must be a positive number', '-5')
    assert_refused(result.task('Negative request timeout'), 'request_timeout must be a positive number')
    assert_refused(result.task('Report under a file'), 'dest', 'cannot be written', 'is not a directory')
    assert_refused(result.task('Report in an unwritable folder'), 'report_dest /sys/report.md cannot be written',
                   'takes no new file')
    assert_refused(result.task('Report destination that is a folder'), 'dest', 'is a directory')
    assert_refused(result.task('Corrupt lock record'), 'record', 'is not a lock record')
    assert_refused(result.task('Lock record of another tenant'), 'is the lock record of %s' % sim.url('tenant02', 'staging'),
                   'not of %s' % staging)
    # Not one request reached the tenant, not even for a token.
    assert sim.request_log(tenant) == []
    assert not (plain_file.parent / 'sub').exists() and plain_file.read_text() == 'not a folder\n'
    assert corrupt.read_text() == '{"promotion_id": "8acd3a87-' and 'tenant02' in elsewhere.read_text()


def test_a_key_of_another_account_and_an_unknown_report_id_say_what_to_check(simulator, playbook):
    sim, tenant = simulator, 'tenant03'
    other = sim.credentials('tenant04', 'staging')
    tasks = [
        attempt('Key of another account', service_account_key=other['service_account_key']),
        attempt('Unknown report id', module='promotion_report', report_id='0e8f5d7c-0000-4000-8000-000000000000'),
    ]
    result = playbook(promotion_play(sim, tenant, 'staging', tasks))
    assert result.rc == 0, result.output()
    assert_refused(result.task('Key of another account'), 'service_account_id and service_account_key belong to this '
                                                          'environment')
    assert_refused(result.task('Unknown report id'), 'report_id 0e8f5d7c-0000-4000-8000-000000000000',
                   'report: list')
    assert writes_of(sim, tenant) == []
