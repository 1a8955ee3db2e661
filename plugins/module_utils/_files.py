# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: not a public API.

Files on the host that runs the module or the action: owner-only atomic writes, the check that a file can be
written before anything is sent, and the lock record that lets a rerun find the lock of an interrupted run.
"""

from __future__ import annotations

import json
import os
import tempfile
import time

from ansible_collections.idcloud.promotions.plugins.module_utils._errors import ConfigurationError, PromotionError
from ansible_collections.idcloud.promotions.plugins.module_utils._report import format_for_path, render


def file_holds(path: str, content: bytes) -> bool:
    """True when the file at ``path`` already holds exactly ``content``: nothing to write."""
    try:
        with open(path, 'rb') as existing:
            return existing.read() == content
    except OSError:
        return False


def replace_file(path: str, content: bytes) -> None:
    """Write ``content`` to ``path`` in one atomic move; the file is readable by its owner only."""
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix='.idcloud-')
    try:
        with os.fdopen(handle, 'wb') as stream:
            stream.write(content)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write_file(dest: str, text: str, check_mode: bool = False) -> bool:
    """Write ``text`` to ``dest`` in one atomic move, making its folder if needed. True when the file's content
    changed (or would, in check mode, which writes nothing)."""
    content = text.encode('utf-8')
    if file_holds(dest, content):
        return False
    if check_mode:
        return True
    try:
        os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
        replace_file(dest, content)
    except OSError as exc:
        raise PromotionError('Cannot write %s: %s. Check the path and its permissions.' % (dest, exc)) from None
    return True


def write_report(dest: str, report, fmt: str | None = None, dry_run: bool | None = None, check_mode: bool = False) -> bool:
    """Write ``report`` to ``dest`` as JSON or Markdown (from ``fmt`` or the file's suffix); ``dry_run`` is what the
    caller knows of the run when the report does not say."""
    return write_file(dest, render(report, fmt or format_for_path(dest), dry_run), check_mode)


def write_reports(run: dict | None, dests: list[str]) -> list[str]:
    """The report of ``run`` (a run's result: ``report``, ``dry_run``) written to each of ``dests``; the paths
    written."""
    if run is None or run['report'] is None:
        return []
    for dest in dests:
        write_report(dest, run['report'], dry_run=run['dry_run'])
    return list(dests)


def keep_failure(dest: str | None, result: dict, check_mode: bool = False) -> str | None:
    """O(failure_dest): the whole ``result`` of a task that failed, as JSON, at ``dest``, which ``result`` then names
    (``failure_file``); the file removed when the task succeeds, so that one found there is always the last run's.
    Check mode writes and removes nothing. A warning when the file could not be written or removed, else None."""
    if not dest or check_mode:
        return None
    if not result.get('failed'):
        try:
            if os.path.lexists(dest):
                os.unlink(dest)
        except OSError as exc:
            return 'failure_dest: cannot remove the last failure kept in %s: %s.' % (dest, exc.strerror or exc)
        return None
    result['failure_file'] = dest
    try:
        write_file(dest, json.dumps(result, indent=2, sort_keys=True, default=str) + '\n')
    except PromotionError as exc:
        del result['failure_file']
        return 'failure_dest: %s' % exc
    return None


def check_writable(path: str, option: str) -> None:
    """ConfigurationError naming ``option`` unless a file can be written at ``path``: its folder exists and takes a
    new file, or can be made (the nearest existing folder above it takes one). Nothing is left behind."""
    if os.path.isdir(path):
        raise ConfigurationError('%s %s is a directory; give the path of a file' % (option, path))
    folder = os.path.dirname(os.path.abspath(path))
    existing = folder
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ConfigurationError('%s %s cannot be written: %s is not a directory' % (option, path, existing))
    try:
        with tempfile.TemporaryFile(dir=existing, prefix='.idcloud-check-'):
            pass
    except OSError as exc:
        where = 'its directory %s' % folder if existing == folder else '%s does not exist and %s' % (folder, existing)
        raise ConfigurationError('%s %s cannot be written: %s takes no new file (%s)'
                                 % (option, path, where, exc.strerror or exc)) from None


class LockRecord:
    """The lock record at ``path`` (none when ``path`` is empty) of the environment ``tenant_url``: which lock a run
    took, written as soon as its id is known, so that a rerun after an interruption keeps that lock instead of taking
    another; the run last started under it; removed once the lock is released. No secret in it. In check mode nothing
    is written or removed."""

    def __init__(self, path: str | None, tenant_url: str, check_mode: bool = False) -> None:
        self.path = path or None
        self.tenant_url = tenant_url
        self.check_mode = check_mode

    def read(self) -> dict | None:
        """The record, None when there is none. A file that is not a lock record, or the record of another
        environment, is a ConfigurationError: taking a new lock over it could leave the old one behind."""
        if not self.path:
            return None
        try:
            with open(self.path) as stream:
                text = stream.read()
        except OSError as exc:
            if not os.path.exists(self.path):
                return None
            raise ConfigurationError('record %s cannot be read: %s' % (self.path, exc)) from None
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        if not isinstance(record, dict) or not isinstance(record.get('promotion_id'), str):
            raise ConfigurationError('record %s is not a lock record (JSON with a promotion_id). If no interrupted run of '
                                     'this environment needs it, remove it; release any lock left behind with '
                                     'promotion_lock state=unlocked.' % self.path)
        recorded_url = str(record.get('tenant_url', '')).rstrip('/')
        if recorded_url != self.tenant_url.rstrip('/'):
            raise ConfigurationError('record %s is the lock record of %s (promotion %s), not of %s. Give every environment '
                                     'a record file of its own.' % (self.path, recorded_url or 'no tenant_url',
                                                                    record['promotion_id'], self.tenant_url))
        return record

    def promotion_id(self) -> str | None:
        """The id of the lock recorded, None without a record."""
        return (self.read() or {}).get('promotion_id')

    def write(self, promotion_id: str, transaction_id: str) -> dict | None:
        """The record of a new lock, None when there is no path."""
        if not self.path or self.check_mode:
            return None
        return self._save(dict(promotion_id=promotion_id, tenant_url=self.tenant_url, transaction_id=transaction_id,
                               locked_at=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())))

    def note_run(self, promotion_id: str | None, kind: str, dry_run: bool) -> dict | None:
        """Add to the record of ``promotion_id`` the run just started under that lock (``kind``, ``dry_run``): where
        the tenant does not say (the seed's statuses and reports name no type), it tells a rerun what is going on or
        last ran under the lock. Returns the record, None when there is none of that lock."""
        record = self._of(promotion_id)
        if record is None or self.check_mode:
            return None
        record['run'] = dict(kind=kind, dry_run=bool(dry_run))
        return self._save(record)

    def noted_run(self, promotion_id: str | None) -> dict | None:
        """The run last started under the lock ``promotion_id``, as the record notes it (None without one)."""
        return (self._of(promotion_id) or {}).get('run')

    def forget(self, promotion_id: str | None = None) -> None:
        """Remove the record (only if it names ``promotion_id``, when given). A record that cannot be removed is
        left: it only makes a later run look for a lock that is gone, and take a new one."""
        if not self.path or self.check_mode:
            return
        try:
            recorded = self.promotion_id()
        except ConfigurationError:
            return  # not ours to remove
        if promotion_id is not None and recorded not in (None, promotion_id):
            return
        try:
            os.remove(self.path)
        except OSError:
            pass

    def _of(self, promotion_id: str | None) -> dict | None:
        try:
            record = self.read()
        except ConfigurationError:
            return None
        return record if record and record['promotion_id'] == promotion_id else None

    def _save(self, record: dict) -> dict:
        write_file(self.path, json.dumps(record, indent=2, sort_keys=True) + '\n')
        return record
