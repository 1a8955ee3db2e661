# -*- coding: utf-8 -*-
# Copyright: idcloud.promotions contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: not a public API.

Promotion reports: both shapes tenants send, reduced to one flat list of changes, counted, told dry
run or not, and rendered as JSON or as Markdown for a change ticket. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

CHANGE_KINDS = ('added', 'modified', 'deleted')
# Both date forms seen: 2022-04-19T17:32:05Z and, in report names and older tenants, 2022-01-27T15-23+00Z.
DASHED_DATE = re.compile(r'^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})(?:-(\d{2}))?\+00Z$')
ISO_DATE = re.compile(r'^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|z|[+-]\d{2}:?\d{2})$')
# Report_2022-04-19T17-32+00Z_dryrun=false_8acd3a87-...: the seed's report body says dry run or not only here.
DRY_RUN_IN_NAME = re.compile(r'(?:^|_)dryrun=(true|false)(?:_|$)', re.IGNORECASE)


def report_dry_run(report: dict[str, Any] | None, listing: dict[str, Any] | list[Any] | None = None) -> bool | None:
    """Whether ``report`` is a dry run's, by every sign the tenant gives: the report's own ``dryRun``, the
    ``dryrun=`` part of its ``reportName``, and the ``dryRun`` of its item in the ``GET /reports`` ``listing``.
    None when none of them says (the caller then goes by what it started itself, or assumes no promotion)."""
    if not isinstance(report, dict):
        return None
    if isinstance(report.get('dryRun'), bool):
        return report['dryRun']
    match = DRY_RUN_IN_NAME.search(str(report.get('reportName') or ''))
    if match:
        return match.group(1).lower() == 'true'
    items = listing.get('result') if isinstance(listing, dict) else listing
    for item in items or []:
        if isinstance(item, dict) and item.get('reportId') and item.get('reportId') == report.get('reportId') \
                and isinstance(item.get('dryRun'), bool):
            return item['dryRun']
    return None


def report_of_run(document: Any, kind: str, dry_run: bool | None, promotion_id: str | None, previous: Any,
                  listing: dict[str, Any] | list[Any] | None = None, sure: bool = False) -> bool:
    """Whether ``document`` (a report, or its ``GET /reports`` item) is the report of the run that has just ended, by
    every sign the service gives: it is not ``previous`` (the last report before the run) nor older than it, it was made
    under the lock ``promotion_id``, its ``type`` (when given) is the run's ``kind``, and, unless ``dry_run`` is None,
    it is a dry run's or not as the run was. When nothing says whether it is a dry run's, it counts only unless
    ``sure``."""
    before = previous if isinstance(previous, dict) else {}
    if not isinstance(document, dict) or not document.get('reportId') or document['reportId'] == before.get('reportId'):
        return False
    if (promotion_id and document.get('promotionId') != promotion_id) or document.get('type') not in (None, kind):
        return False
    created, last = normalize_date(document.get('createdDate')), normalize_date(before.get('createdDate'))
    if created and last and created < last:
        return False
    dry = report_dry_run(document, listing)
    return dry_run is None or dry == dry_run or (dry is None and not sure)


def normalize_date(value: Any) -> Any:
    """An ISO 8601 UTC string (``2022-04-19T17:32:05Z``) for either date form; anything else unchanged."""
    if not isinstance(value, str):
        return value
    match = DASHED_DATE.match(value)
    if match:
        day, hour, minute, second = match.groups()
        return '%sT%s:%s:%sZ' % (day, hour, minute, second or '00')
    match = ISO_DATE.match(value)
    if not match:
        return value
    stamp, offset = match.groups()
    parsed = datetime.strptime(stamp + (offset if offset not in ('Z', 'z') else '+0000').replace(':', ''), '%Y-%m-%dT%H:%M:%S%z')
    return (parsed - parsed.utcoffset()).strftime('%Y-%m-%dT%H:%M:%SZ')


def change_rows(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row per changed thing: ``{area, config_item, change, name, realm}``, whichever shape the
    entries come in (plain names, or ``{name, realm, uid}`` objects)."""
    rows: list[dict[str, Any]] = []
    sections = (report or {}).get('report') or {}
    if not isinstance(sections, dict):
        return rows
    for area in sorted(sections):
        entries = sections[area] or []
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            item = entry.get('configItem') or entry.get('fileName') or 'unnamed'
            changes = entry.get('configChange') or {}
            for kind in CHANGE_KINDS:
                for value in changes.get(kind) or []:
                    if isinstance(value, dict):
                        name, realm = value.get('name') or value.get('uid') or '', value.get('realm')
                    else:
                        name, realm = str(value), None
                    rows.append(dict(area=area, config_item=item, change=kind, name=name, realm=realm))
    return rows


def _counts() -> dict[str, int]:
    return dict((kind, 0) for kind in CHANGE_KINDS + ('total',))


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts of added, modified, deleted and total, overall, per area and per config item."""
    summary: dict[str, Any] = _counts()
    summary.update(areas={}, config_items={})
    for row in rows:
        item_key = '%s / %s' % (row['area'], row['config_item'])
        for bucket in (summary, summary['areas'].setdefault(row['area'], _counts()),
                       summary['config_items'].setdefault(item_key, _counts())):
            bucket[row['change']] += 1
            bucket['total'] += 1
    return summary


def report_facts(report: dict[str, Any] | None) -> dict[str, Any]:
    """What the modules return about one report: ``summary``, ``changes`` and ``empty``."""
    rows = change_rows(report)
    return dict(summary=summarize(rows), changes=rows, empty=not rows)


def describe_listing(reports: dict[str, Any] | list[Any] | None) -> list[dict[str, Any]]:
    """The ``GET /reports`` list, oldest first, dates in one form. A Common REST query answer
    (``{"result": [...]}``) is read the same way."""
    if isinstance(reports, dict):
        reports = reports.get('result')
    items = [dict(item, createdDate=normalize_date(item.get('createdDate'))) for item in (reports or []) if isinstance(item, dict)]
    return sorted(items, key=lambda item: item.get('createdDate') or '')


def render_json(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + '\n'


def _cell(value: Any) -> str:
    return str(value if value is not None else '').replace('|', '\\|').replace('\n', ' ')


def render_markdown(report: dict[str, Any] | None, title: str | None = None, dry_run: bool | None = None) -> str:
    """A report as a person pastes it into a change ticket: what it is, a summary table, then the
    changes by area and config item. ``dry_run`` is what the caller knows of the run when the report
    itself does not say."""
    report = report or {}
    rows = change_rows(report)
    summary = summarize(rows)
    kind = report.get('type') or 'promotion'
    dry = report_dry_run(report)
    dry = dry_run if dry is None else dry
    heading = title or '%s report%s' % (kind.capitalize(), ' (dry run)' if dry else '')
    lines = ['# %s' % heading, '']
    for label, key in (('Report', 'reportName'), ('Report id', 'reportId'), ('Promotion id', 'promotionId'),
                       ('Created', 'createdDate'), ('Promoter', 'promoter'), ('Description', 'promotionDescription'),
                       ('Ticket', 'zendeskTicketReference')):
        value = report.get(key)
        if value:
            lines.append('- %s: %s' % (label, normalize_date(value) if key == 'createdDate' else value))
    for label, key in (('Missing ESVs', 'missingESVs'), ('Ignored encrypted secrets', 'previouslyIgnoredEncryptedSecrets')):
        if report.get(key):
            lines.append('- %s: %s' % (label, ', '.join(str(value) for value in report[key])))
    lines.append('')
    if not rows:
        lines.extend(['Nothing to promote: the report lists no changes.', ''])
        return '\n'.join(lines)
    lines.extend(['## Summary', '', '| Area | Added | Modified | Deleted | Total |', '| --- | ---: | ---: | ---: | ---: |'])
    for area in sorted(summary['areas']):
        counts = summary['areas'][area]
        lines.append('| %s | %d | %d | %d | %d |' % ((_cell(area),) + tuple(counts[key] for key in CHANGE_KINDS + ('total',))))
    lines.append('| **All** | **%d** | **%d** | **%d** | **%d** |' % tuple(summary[key] for key in CHANGE_KINDS + ('total',)))
    lines.append('')
    lines.extend(['## Changes', ''])
    current_area = current_item = None
    for row in sorted(rows, key=lambda row: (row['area'], row['config_item'], CHANGE_KINDS.index(row['change']), row['name'])):
        if row['area'] != current_area:
            if current_area is not None:
                lines.append('')
            current_area, current_item = row['area'], None
            lines.extend(['### %s' % row['area'], ''])
        if row['config_item'] != current_item:
            if current_item is not None:
                lines.append('')
            current_item = row['config_item']
            lines.extend(['**%s**' % row['config_item'], ''])
        realm = ' (realm %s)' % row['realm'] if row['realm'] else ''
        lines.append('- %s: %s%s' % (row['change'], row['name'], realm))
    lines.append('')
    return '\n'.join(lines)


def render_listing_markdown(reports: dict[str, Any] | list[Any] | None) -> str:
    lines = ['# Promotion reports', '', '| Created | Type | Dry run | Report id | Promotion id |', '| --- | --- | --- | --- | --- |']
    columns = ('createdDate', 'type', 'dryRun', 'reportId', 'promotionId')
    for item in describe_listing(reports):
        lines.append('| %s | %s | %s | %s | %s |' % tuple(_cell(item.get(key)) for key in columns))
    lines.append('')
    return '\n'.join(lines)


def render(document: dict[str, Any] | list[Any] | None, fmt: str, dry_run: bool | None = None) -> str:
    """JSON or Markdown text of a report, or of the list of reports."""
    if fmt != 'markdown':
        return render_json(document)
    return render_listing_markdown(document) if isinstance(document, list) else render_markdown(document, dry_run=dry_run)


def format_for_path(path: str | None, default: str = 'json') -> str:
    lowered = (path or '').lower()
    if lowered.endswith(('.md', '.markdown')):
        return 'markdown'
    if lowered.endswith('.json'):
        return 'json'
    return default
