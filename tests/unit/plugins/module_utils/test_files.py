# -*- coding: utf-8 -*-
"""Files written by the modules and the summary action: atomic owner-only writes, the writable check made before
any request, the lock record (``LockRecord``) and a run's reports (``write_reports``)."""

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
    assert f.LockRecord(str(path), URL).read() is None
    record = f.LockRecord(str(path), URL).write('p-1', 'tx-1')
    assert f.LockRecord(str(path), URL + '/').read() == record and record['promotion_id'] == 'p-1'
    assert (record['tenant_url'], record['transaction_id']) == (URL, 'tx-1') and record['locked_at'].endswith('Z')
    assert f.LockRecord(str(path), URL).promotion_id() == 'p-1'
    with pytest.raises(ConfigurationError, match='is the lock record of %s' % URL):
        f.LockRecord(str(path), 'https://other.example.com').read()
    f.LockRecord(str(path), URL).forget(promotion_id='p-2')  # another lock's id: kept
    assert path.exists()
    f.LockRecord(str(path), URL).forget(promotion_id='p-1')
    assert not path.exists()
    path.write_text('{"promotion_id": ')
    with pytest.raises(ConfigurationError, match='is not a lock record'):
        f.LockRecord(str(path), URL).read()
    f.LockRecord(str(path), URL).forget()  # not ours to remove
    assert json.loads('"kept"') and path.exists()


def test_a_run_started_is_noted_in_the_record_of_its_lock_only(tmp_path):
    path = str(tmp_path / '.lock.json')
    record = f.LockRecord(path, URL)
    record.write('lock-1', 'txn')
    assert record.note_run('lock-2', 'promotion', False) is None  # another lock's run
    assert record.read().get('run') is None and record.noted_run('lock-1') is None
    record.note_run('lock-1', 'rollback', False)
    assert record.read()['run'] == dict(kind='rollback', dry_run=False)
    assert record.noted_run('lock-1') == dict(kind='rollback', dry_run=False)
    assert record.noted_run('lock-2') is None  # the run of another lock is not this one's
    none = f.LockRecord(str(tmp_path / 'none.json'), URL)
    assert none.note_run('lock-1', 'promotion', True) is None  # no record: nothing written
    assert not (tmp_path / 'none.json').exists()


def test_a_corrupt_record_notes_no_run_and_says_none(tmp_path):
    path = tmp_path / '.lock.json'
    path.write_text('not json')
    record = f.LockRecord(str(path), URL)
    assert record.note_run('lock-1', 'promotion', False) is None and record.noted_run('lock-1') is None
    assert path.read_text() == 'not json'


def test_in_check_mode_the_record_is_read_but_nothing_is_written_or_removed(tmp_path):
    path = tmp_path / '.lock.json'
    assert f.LockRecord(str(path), URL, check_mode=True).write('p-1', 'tx-1') is None and not path.exists()
    f.LockRecord(str(path), URL).write('p-1', 'tx-1')
    before = path.read_text()
    checking = f.LockRecord(str(path), URL, check_mode=True)
    assert checking.promotion_id() == 'p-1'
    assert checking.note_run('p-1', 'promotion', False) is None
    checking.forget('p-1')
    checking.forget()
    assert path.read_text() == before


def test_without_a_path_there_is_no_record_and_nothing_is_done(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for path in (None, ''):
        record = f.LockRecord(path, URL)
        assert record.path is None
        assert (record.read(), record.promotion_id(), record.noted_run('p-1')) == (None, None, None)
        assert record.write('p-1', 'tx-1') is None and record.note_run('p-1', 'promotion', False) is None
        record.forget('p-1')
        record.forget()
    assert os.listdir(tmp_path) == []


# write_reports
def test_no_run_or_no_report_writes_no_file(tmp_path):
    dest = str(tmp_path / 'p.json')
    assert f.write_reports(None, [dest]) == []
    assert f.write_reports(dict(report=None, dry_run=True), [dest]) == []
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('dry_run', [True, False])
def test_the_report_goes_to_every_dest_saying_whether_it_is_a_dry_run(monkeypatch, dry_run):
    written = []
    monkeypatch.setattr(f, 'write_report', lambda dest, report, fmt=None, dry_run=None, check_mode=False: written.append(
        dict(dest=dest, report=report, fmt=fmt, dry_run=dry_run, check_mode=check_mode)) or True)
    run = dict(report=dict(reportId='report-1', report={}), dry_run=dry_run)
    dests = ['p.json', 'p.md']
    saved = f.write_reports(run, dests)
    assert saved == dests and saved is not dests
    assert written == [dict(dest=dest, report=run['report'], fmt=None, dry_run=dry_run, check_mode=False) for dest in dests]


def test_the_reports_written_are_the_runs_report_as_json_and_markdown(tmp_path):
    report = dict(reportId='report-1', promotionId='p-1', createdDate='2022-04-19T17:01:05Z', type='promotion',
                  report={'AMConfig': [{'configItem': 'Journeys', 'configChange': {'added': ['Login'], 'modified': [], 'deleted': []}}]})
    dests = [str(tmp_path / 'p.json'), str(tmp_path / 'sub' / 'p.md')]
    assert f.write_reports(dict(report=report, dry_run=False), dests) == dests
    assert json.loads((tmp_path / 'p.json').read_text()) == report
    assert 'Login' in (tmp_path / 'sub' / 'p.md').read_text()
