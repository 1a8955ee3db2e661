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


# The lock record: which lock a run took, so that a rerun after an interruption can keep it. No secret in it.
def read_lock_record(path: str, tenant_url: str) -> dict | None:
    """The lock record at ``path``, None when there is none. A file that is not a lock record, or the record of
    another ``tenant_url``, is a ConfigurationError: taking a new lock over it could leave the old one behind."""
    try:
        with open(path) as stream:
            text = stream.read()
    except OSError as exc:
        if not os.path.exists(path):
            return None
        raise ConfigurationError('record %s cannot be read: %s' % (path, exc)) from None
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if not isinstance(record, dict) or not isinstance(record.get('promotion_id'), str):
        raise ConfigurationError('record %s is not a lock record (JSON with a promotion_id). If no interrupted run of '
                                 'this environment needs it, remove it; release any lock left behind with '
                                 'promotion_lock state=unlocked.' % path)
    recorded_url = str(record.get('tenant_url', '')).rstrip('/')
    if recorded_url != tenant_url.rstrip('/'):
        raise ConfigurationError('record %s is the lock record of %s (promotion %s), not of %s. Give every environment '
                                 'a record file of its own.' % (path, recorded_url or 'no tenant_url',
                                                                record['promotion_id'], tenant_url))
    return record


def write_lock_record(path: str, promotion_id: str, tenant_url: str, transaction_id: str) -> dict:
    """Written as soon as a new lock's id is known, so an interruption while waiting for it loses nothing."""
    record = dict(promotion_id=promotion_id, tenant_url=tenant_url, transaction_id=transaction_id,
                  locked_at=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
    return save_lock_record(path, record)


def save_lock_record(path: str, record: dict) -> dict:
    write_file(path, json.dumps(record, indent=2, sort_keys=True) + '\n')
    return record


def note_run(path: str | None, tenant_url: str, promotion_id: str | None, kind: str, dry_run: bool) -> dict | None:
    """Add to the lock record of ``promotion_id`` the run just started under that lock (``kind``, ``dry_run``): where
    the tenant does not say (the seed's statuses and reports name no type), it tells a rerun what is going on or last
    ran under the lock. Returns the record, None when there is none of that lock."""
    try:
        record = read_lock_record(path, tenant_url) if path else None
    except ConfigurationError:
        return None
    if not record or record['promotion_id'] != promotion_id:
        return None
    record['run'] = dict(kind=kind, dry_run=bool(dry_run))
    return save_lock_record(path, record)


def forget_lock_record(path: str | None, tenant_url: str, promotion_id: str | None = None) -> None:
    """Remove the lock record (only if it names ``promotion_id``, when given). A record that cannot be removed is
    left: it only makes a later run look for a lock that is gone, and take a new one."""
    if not path:
        return
    try:
        recorded = (read_lock_record(path, tenant_url) or {}).get('promotion_id')
    except ConfigurationError:
        return  # not ours to remove
    if promotion_id is not None and recorded not in (None, promotion_id):
        return
    try:
        os.remove(path)
    except OSError:
        pass
