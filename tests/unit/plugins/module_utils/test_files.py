# -*- coding: utf-8 -*-
"""Files written by the modules and the summary action: atomic owner-only writes, the writable check made before
any request, and the lock record."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.idcloud.promotions.plugins.module_utils import _files as f
from ansible_collections.idcloud.promotions.plugins.module_utils._errors import ConfigurationError

URL = 'https://tenant.example.com/staging'


def test_file_holds_only_the_same_bytes(tmp_path):
    path = tmp_path / 'summary.json'
    assert f.file_holds(str(path), b'[]\n') is False  # no file yet
    path.write_bytes(b'[]\n')
    assert f.file_holds(str(path), b'[]\n') is True
    assert f.file_holds(str(path), b'[{}]\n') is False


def test_write_file_is_owner_only_changes_only_on_new_content_and_writes_nothing_in_check_mode(tmp_path):
    path = tmp_path / 'new' / 'report.md'
    assert f.write_file(str(path), '# one\n', check_mode=True) is True and not path.exists()
    assert f.write_file(str(path), '# one\n') is True
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and path.read_text() == '# one\n'
    assert f.write_file(str(path), '# one\n') is False
    assert [name for name in os.listdir(path.parent) if name.startswith('.idcloud-')] == []


def test_check_writable_refuses_what_cannot_be_written_and_leaves_nothing(tmp_path):
    f.check_writable(str(tmp_path / 'missing' / 'deeper' / 'report.json'), 'dest')  # can be made
    assert not (tmp_path / 'missing').exists() and os.listdir(tmp_path) == []
    (tmp_path / 'a-file').write_text('x')
    with pytest.raises(ConfigurationError, match='dest .* is not a directory'):
        f.check_writable(str(tmp_path / 'a-file' / 'report.json'), 'dest')
    with pytest.raises(ConfigurationError, match='report_dest .* is a directory'):
        f.check_writable(str(tmp_path), 'report_dest')


def test_lock_records_of_another_environment_or_corrupt_are_refused(tmp_path):
    path = tmp_path / '.lock.json'
    assert f.read_lock_record(str(path), URL) is None
    record = f.write_lock_record(str(path), 'p-1', URL, 'tx-1')
    assert f.read_lock_record(str(path), URL + '/') == record and record['promotion_id'] == 'p-1'
    with pytest.raises(ConfigurationError, match='is the lock record of %s' % URL):
        f.read_lock_record(str(path), 'https://other.example.com')
    f.forget_lock_record(str(path), URL, promotion_id='p-2')  # another lock's id: kept
    assert path.exists()
    f.forget_lock_record(str(path), URL, promotion_id='p-1')
    assert not path.exists()
    path.write_text('{"promotion_id": ')
    with pytest.raises(ConfigurationError, match='is not a lock record'):
        f.read_lock_record(str(path), URL)
    f.forget_lock_record(str(path), URL)  # not ours to remove
    assert json.loads('"kept"') and path.exists()


# The records of a run of many hosts.
@pytest.mark.parametrize('outcome, reason', [('promoted', ''), ('failed', 'The dry run stopped on missing ESVs esv.smtp.host'),
                                             ('skipped', 'acme-staging must be promoted first and failed: boom')])
def test_a_run_record_is_read_back_as_written(tmp_path, outcome, reason):
    run_dir = str(tmp_path / 'run')
    f.write_run_record(run_dir, 'acme-prod', outcome, reason)
    assert f.read_run_record(run_dir, 'acme-prod') == dict(host='acme-prod', outcome=outcome, reason=reason)
    assert f.read_run_record(run_dir, 'acme-staging') is None  # another host's record is its own
    path = f.run_record_path(run_dir, 'acme-prod')
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [name for name in os.listdir(run_dir) if name.startswith('.idcloud-')] == []


def test_a_run_record_is_replaced_by_the_next_one_of_the_same_host(tmp_path):
    f.write_run_record(str(tmp_path), 'acme-prod', 'failed', 'first')
    f.write_run_record(str(tmp_path), 'acme-prod', 'promoted')
    assert f.read_run_record(str(tmp_path), 'acme-prod') == dict(host='acme-prod', outcome='promoted', reason='')


@pytest.mark.parametrize('host', ['tenants/acme prod', '../escape', 'a b', 'a/b', 'prod:8443?x=1#y', 'é'])
def test_a_host_name_of_any_characters_stays_one_file_in_the_run_directory(tmp_path, host):
    run_dir = tmp_path / 'run'
    path = f.run_record_path(str(run_dir), host)
    assert os.path.dirname(path) == str(run_dir) and path.endswith('.json')
    f.write_run_record(str(run_dir), host, 'promoted')
    assert os.listdir(run_dir) == [os.path.basename(path)]
    assert f.read_run_record(str(run_dir), host) == dict(host=host, outcome='promoted', reason='')
    assert not (tmp_path / 'escape.json').exists()


def test_host_names_that_differ_only_by_a_slash_or_a_space_get_records_of_their_own(tmp_path):
    hosts = ['a/b', 'a b', 'a_b', 'a%2Fb']
    paths = {f.run_record_path(str(tmp_path), host) for host in hosts}
    assert len(paths) == len(hosts)
    for number, host in enumerate(hosts):
        f.write_run_record(str(tmp_path), host, 'promoted', str(number))
    assert [f.read_run_record(str(tmp_path), host)['reason'] for host in hosts] == ['0', '1', '2', '3']


def test_a_missing_record_or_run_directory_is_none(tmp_path):
    assert f.read_run_record(str(tmp_path), 'acme-prod') is None
    assert f.read_run_record(str(tmp_path / 'no-such-run'), 'acme-prod') is None


@pytest.mark.parametrize('content', [b'{"host": "acme-prod", "outc', b'', b'\xff\xfe\x00garbage', b'["promoted"]', b'"promoted"', b'null'],
                         ids=['truncated', 'empty', 'not text', 'a list', 'a string', 'null'])
def test_a_corrupt_record_is_none(tmp_path, content):
    with open(f.run_record_path(str(tmp_path), 'acme-prod'), 'wb') as stream:
        stream.write(content)
    assert f.read_run_record(str(tmp_path), 'acme-prod') is None


def test_the_run_directory_is_made_owner_only(tmp_path):
    run_dir = tmp_path / 'tmp' / 'idcloud-promotions-run-42'
    previous = os.umask(0o022)
    try:
        f.write_run_record(str(run_dir), 'acme-prod', 'promoted')
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(run_dir).st_mode) == 0o700
    assert f.read_run_record(str(run_dir), 'acme-prod')['outcome'] == 'promoted'


def test_a_run_directory_already_there_is_used_as_it_is(tmp_path):
    run_dir = tmp_path / 'run'
    run_dir.mkdir(mode=0o700)
    f.write_run_record(str(run_dir), 'acme-staging', 'promoted')
    f.write_run_record(str(run_dir), 'acme-prod', 'failed', 'boom')
    assert sorted(os.listdir(run_dir)) == ['acme-prod.json', 'acme-staging.json']


def test_a_run_started_is_noted_in_the_record_of_its_lock_only(tmp_path):
    path = str(tmp_path / '.lock.json')
    f.write_lock_record(path, 'lock-1', URL, 'txn')
    assert f.note_run(path, URL, 'lock-2', 'promotion', False) is None  # another lock's run
    assert f.read_lock_record(path, URL).get('run') is None
    f.note_run(path, URL, 'lock-1', 'rollback', False)
    assert f.read_lock_record(path, URL)['run'] == dict(kind='rollback', dry_run=False)
    assert f.note_run(str(tmp_path / 'none.json'), URL, 'lock-1', 'promotion', True) is None  # no record: nothing written
    assert not (tmp_path / 'none.json').exists()
