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


def test_a_run_started_is_noted_in_the_record_of_its_lock_only(tmp_path):
    path = str(tmp_path / '.lock.json')
    f.write_lock_record(path, 'lock-1', URL, 'txn')
    assert f.note_run(path, URL, 'lock-2', 'promotion', False) is None  # another lock's run
    assert f.read_lock_record(path, URL).get('run') is None
    f.note_run(path, URL, 'lock-1', 'rollback', False)
    assert f.read_lock_record(path, URL)['run'] == dict(kind='rollback', dry_run=False)
    assert f.note_run(str(tmp_path / 'none.json'), URL, 'lock-1', 'promotion', True) is None  # no record: nothing written
    assert not (tmp_path / 'none.json').exists()
