# -*- coding: utf-8 -*-
"""Reports in both shapes, counted and rendered."""

from __future__ import annotations

import json

import pytest

from ansible_collections.idcloud.promotions.plugins.module_utils import _report as r

SEED_REPORT = {
    'createdDate': '2022-04-19T17:32:05Z', 'promotionId': '8acd3a87-2272-450f-a3b3-1eb222108740',
    'reportId': 'c41286bb-30cd-4109-ba9d-dc4788b6a75c',
    'reportName': 'Report_2022-04-19T17-32+00Z_dryrun=false_8acd3a87-2272-450f-a3b3-1eb222108740',
    'report': {'IDMConfig': [{'configChange': {'added': ['Forgotten Username']}, 'configItem': 'Email > Templates',
                              'fileDestinationPattern': 'idm/conf/emailTemplate-*.json', 'fileName': 'displayName',
                              'type': 'single'}]},
}
NEW_REPORT = {
    'createdDate': '2022-01-27T15-23+00Z', 'dryRun': True, 'type': 'promotion', 'promoter': 'ci',
    'report': {
        'AMConfig': [{'configItem': 'Journeys', 'configChange': {
            'added': [{'name': 'Login', 'realm': 'alpha', 'uid': 'u1'}],
            'modified': [{'name': 'Registration', 'realm': 'alpha', 'uid': 'u2'}],
            'deleted': [{'name': 'Old', 'realm': 'bravo', 'uid': 'u3'}]}}],
        'IDMConfig': [{'configItem': 'Email > Templates', 'configChange': {'added': [], 'modified': [], 'deleted': []}}],
    },
}


def test_seed_shape_rows():
    assert r.change_rows(SEED_REPORT) == [dict(area='IDMConfig', config_item='Email > Templates', change='added',
                                               name='Forgotten Username', realm=None)]


def test_new_shape_rows_and_summary():
    facts = r.report_facts(NEW_REPORT)
    assert [(row['change'], row['name'], row['realm']) for row in facts['changes']] == [
        ('added', 'Login', 'alpha'), ('modified', 'Registration', 'alpha'), ('deleted', 'Old', 'bravo')]
    summary = facts['summary']
    assert (summary['added'], summary['modified'], summary['deleted'], summary['total']) == (1, 1, 1, 3)
    assert summary['areas'] == {'AMConfig': {'added': 1, 'modified': 1, 'deleted': 1, 'total': 3}}
    assert summary['config_items']['AMConfig / Journeys']['total'] == 3
    assert facts['empty'] is False


@pytest.mark.parametrize('document', [{}, {'report': {}}, {'report': {'AMConfig': []}}, None,
                                      {'report': {'IDMConfig': [{'configItem': 'x', 'configChange': {'added': []}}]}}])
def test_empty_reports(document):
    facts = r.report_facts(document)
    assert facts['empty'] and facts['summary']['total'] == 0 and facts['changes'] == []


@pytest.mark.parametrize('value, expected', [
    ('2022-04-19T17:32:05Z', '2022-04-19T17:32:05Z'),
    ('2022-01-27T15-23+00Z', '2022-01-27T15:23:00Z'),
    ('2022-04-19T17:32:05.123Z', '2022-04-19T17:32:05Z'),
    ('not a date', 'not a date'),
    (None, None),
])
def test_normalize_date(value, expected):
    assert r.normalize_date(value) == expected


def test_listing_sorted_oldest_first_across_date_forms():
    listing = r.describe_listing([
        {'reportId': 'b', 'createdDate': '2022-04-19T17:32:05Z'},
        {'reportId': 'a', 'createdDate': '2022-01-27T15-23+00Z'},
        {'reportId': 'c', 'createdDate': '2022-04-19T12:00:29Z'},
    ])
    assert [item['reportId'] for item in listing] == ['a', 'c', 'b']
    assert r.describe_listing({'result': [{'reportId': 'x'}]})[0]['reportId'] == 'x'


def test_markdown_has_summary_table_then_changes_by_area_and_item():
    text = r.render_markdown(NEW_REPORT)
    assert text.startswith('# Promotion report (dry run)')
    assert '| AMConfig | 1 | 1 | 1 | 3 |' in text
    assert '| **All** | **1** | **1** | **1** | **3** |' in text
    assert text.index('### AMConfig') < text.index('**Journeys**') < text.index('- added: Login (realm alpha)')
    assert '- Created: 2022-01-27T15:23:00Z' in text


def test_markdown_of_an_empty_report_says_nothing_to_promote():
    assert 'Nothing to promote' in r.render_markdown({'report': {}})


def test_render_by_format_and_suffix():
    assert json.loads(r.render(SEED_REPORT, 'json')) == SEED_REPORT
    assert r.render([{'reportId': 'x', 'createdDate': '2022-04-19T17:32:05Z'}], 'markdown').startswith('# Promotion reports')
    assert r.format_for_path('out/report.md') == 'markdown'
    assert r.format_for_path('out/report.JSON') == 'json'
    assert r.format_for_path('out/report.txt') == 'json'


def test_normalize_date_converts_offsets_to_utc():
    assert r.normalize_date('2022-04-19T19:32:05+02:00') == '2022-04-19T17:32:05Z'


SEED_LISTING = [
    {'createdDate': '2022-04-19T12:00:29Z', 'dryRun': True, 'promotionId': '8acd3a87-2272-450f-a3b3-1eb222108740',
     'reportId': '57aabe7d-4e8c-4fbb-8a13-2fc7d1cb4d52'},
    {'createdDate': '2022-04-19T17:32:05Z', 'dryRun': False, 'promotionId': '8acd3a87-2272-450f-a3b3-1eb222108740',
     'reportId': 'c41286bb-30cd-4109-ba9d-dc4788b6a75c'},
]


def test_a_seed_report_is_placed_by_its_name_then_by_its_listing_item():
    assert r.report_dry_run(SEED_REPORT) is False
    assert r.report_dry_run(dict(SEED_REPORT, reportName=SEED_REPORT['reportName'].replace('=false', '=true'))) is True
    nameless = {key: value for key, value in SEED_REPORT.items() if key != 'reportName'}
    assert r.report_dry_run(nameless) is None
    assert r.report_dry_run(nameless, SEED_LISTING) is False
    assert r.report_dry_run(dict(nameless, reportId='57aabe7d-4e8c-4fbb-8a13-2fc7d1cb4d52'), SEED_LISTING) is True
    assert r.report_dry_run(dict(nameless, reportId='unknown'), SEED_LISTING) is None
    # The report's own field wins over its name.
    assert r.report_dry_run(dict(SEED_REPORT, dryRun=True)) is True


def test_a_seed_dry_run_report_renders_as_a_dry_run():
    dry = dict(SEED_REPORT, reportName=SEED_REPORT['reportName'].replace('=false', '=true'))
    assert r.render_markdown(dry).startswith('# Promotion report (dry run)')
    assert r.render_markdown(SEED_REPORT).startswith('# Promotion report\n')
    nameless = {key: value for key, value in SEED_REPORT.items() if key != 'reportName'}
    assert r.render_markdown(nameless, dry_run=True).startswith('# Promotion report (dry run)')
