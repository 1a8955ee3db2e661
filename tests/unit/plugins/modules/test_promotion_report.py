# -*- coding: utf-8 -*-
"""promotion_report's own functions: which options go together, which environment serves which report, and the return
values of a report or a listing, written to ``dest`` when given; against a stand-in task and a stand-in ``Promotions``
(``support``). The reports are shaped as ``test_results`` builds them."""

from __future__ import annotations

import json

import pytest
import yaml

from ansible_collections.idcloud.promotions.plugins.module_utils._errors import PromotionError, PromotionsApiError
from ansible_collections.idcloud.promotions.plugins.modules import promotion_report as m

from tests.unit.plugins.module_utils.test_results import OURS, report
from tests.unit.plugins.module_utils.test_service import api_error
from tests.unit.plugins.modules.support import LOWER_URL, FakeTask, FakePromotions, WritingTask, module_params

DOCUMENTED = set(yaml.safe_load(m.RETURN))
LISTING = [
    dict(reportId='report-2', promotionId=OURS, createdDate='2022-04-19T17:40:05.123Z', dryRun=False, type='promotion'),
    dict(reportId='report-1', promotionId=OURS, createdDate='2022-01-27T15-23+00Z', dryRun=True, type='promotion'),
]


def options(**params):
    return module_params(m.ARGUMENT_SPEC, lower_connection=True, **params)


def task_of(upper=None, lower=None, check_mode=False, report_changed=True, **params):
    """A promotion_report task; ``upper`` and ``lower`` are the answers of each environment's service."""
    return FakeTask(options(**params), check_mode=check_mode, report_changed=report_changed,
                    upper=FakePromotions('upper', check_mode, **(upper or {})), lower=FakePromotions('lower', check_mode, **(lower or {})))


# refused_combination
@pytest.mark.parametrize('params, words', [
    (dict(report='list', report_id='report-1'), 'report_id goes with report=last only.'),
    (dict(report='provisional_rollback', report_id='report-1'), 'report_id goes with report=last only.'),
    (dict(report='provisional', report_id='report-1'), 'report_id goes with report=last only.'),
    (dict(report='provisional'), 'report=provisional is served by the lower environment: give lower_tenant_url'),
], ids=['list with report_id', 'provisional_rollback with report_id', 'provisional with report_id', 'provisional without lower'])
def test_options_that_exclude_each_other_are_refused_saying_why(params, words):
    assert m.refused_combination(options(**params)).startswith(words)


@pytest.mark.parametrize('params', [
    dict(), dict(report_id='report-1'), dict(report='list'), dict(report='provisional_rollback'),
    dict(report='provisional', lower_tenant_url=LOWER_URL),
], ids=['last', 'last by id', 'list', 'provisional_rollback', 'provisional with lower'])
def test_options_that_go_together_are_not_refused(params):
    assert m.refused_combination(options(**params)) is None


# read
@pytest.mark.parametrize('params, which, report_id', [
    (dict(), 'last', None),
    (dict(report_id='report-7'), 'last', 'report-7'),
    (dict(report='list'), 'list', None),
    (dict(report='provisional_rollback', lower_tenant_url=LOWER_URL), 'provisional_rollback', None),
], ids=['last', 'by id', 'list', 'provisional_rollback'])
def test_the_upper_environment_serves_every_report_but_the_provisional_one(params, which, report_id):
    document = report()
    task = task_of(dict(report=document), **params)
    assert m.read(task) is document
    assert task.upper.arguments('report') == [dict(which=which, report_id=report_id)]
    assert task.lower.calls == [] and task.connections == [('upper', {})]


def test_the_lower_environment_serves_the_provisional_report():
    document = report(dry=True)
    task = task_of(lower=dict(report=document), report='provisional', lower_tenant_url=LOWER_URL)
    assert m.read(task) is document
    assert task.lower.arguments('report') == [dict(which='provisional', report_id=None)]
    assert task.upper.calls == [] and task.connections == [('lower', {})]


def test_a_report_id_the_tenant_does_not_have_says_where_the_ids_are():
    missing = api_error(404, 'Report not found')
    task = task_of(dict(report=missing), report_id='report-7')
    with pytest.raises(PromotionError) as caught:
        m.read(task)
    error = caught.value
    assert type(error) is PromotionError  # pylint: disable=unidiomatic-typecheck  # told, not the API error as it came
    assert error.message.startswith('report_id report-7: the tenant has no report with this id (Report not found).')
    assert 'report: list' in error.message
    assert error.result == dict(error=missing.to_dict())


@pytest.mark.parametrize('params, error', [
    (dict(), api_error(404, 'No promotion report found')),
    (dict(report_id='report-7'), api_error(500, 'Internal error')),
    (dict(report='list'), api_error(403, 'Forbidden')),
], ids=['no last report', 'by id, server error', 'list forbidden'])
def test_other_read_failures_are_raised_as_they_are(params, error):
    task = task_of(dict(report=error), **params)
    with pytest.raises(PromotionsApiError) as caught:
        m.read(task)
    assert caught.value is error


# report_result
def test_a_report_without_dest_is_summarised_and_written_nowhere():
    document = report()
    task = task_of()
    result = m.report_result(task, document)
    assert set(result) == {'changed', 'report', 'summary', 'changes', 'empty'}
    assert (result['changed'], result['report'], result['empty']) == (False, document, False)
    assert (result['summary']['added'], result['summary']['modified'], result['summary']['deleted'], result['summary']['total']) == (1, 1, 1, 3)
    assert [(row['area'], row['change'], row['name']) for row in result['changes']] == [
        ('AMConfig', 'added', 'Forgotten Username'), ('AMConfig', 'modified', 'Login'), ('IDMConfig', 'deleted', 'Welcome')]
    assert task.reports == []


def test_a_report_without_changes_is_empty():
    result = m.report_result(task_of(report='provisional', lower_tenant_url=LOWER_URL), report(changes={}))
    assert (result['empty'], result['changes'], result['summary']['total']) == (True, [], 0)


@pytest.mark.parametrize('document', [LISTING, dict(result=LISTING)], ids=['list', 'Common REST query'])
def test_a_listing_is_oldest_first_with_dates_in_one_form_and_no_summary(document):
    result = m.report_result(task_of(report='list'), document)
    assert result['report'] is document
    assert [(item['reportId'], item['createdDate']) for item in result['reports']] == [
        ('report-1', '2022-01-27T15:23:00Z'), ('report-2', '2022-04-19T17:40:05Z')]
    assert not {'summary', 'changes', 'empty'} & set(result)
    assert result['changed'] is False


@pytest.mark.parametrize('changed', [True, False])
def test_dest_gets_the_report_and_the_task_is_changed_when_the_file_is(changed):
    document = report()
    task = task_of(report_changed=changed, dest='reports/last.md', format='markdown')
    result = m.report_result(task, document)
    assert task.reports == [dict(dest='reports/last.md', report=document, fmt='markdown', dry_run=None)]
    assert (result['changed'], result['dest']) == (changed, 'reports/last.md')
    assert set(result) - {'changed'} <= DOCUMENTED


def test_a_listing_goes_to_dest_as_it_came():
    task = task_of(report='list', dest='reports/all.json')
    result = m.report_result(task, LISTING)
    assert task.reports == [dict(dest='reports/all.json', report=LISTING, fmt=None, dry_run=None)]
    assert (result['changed'], result['dest']) == (True, 'reports/all.json')


@pytest.mark.parametrize('check_mode', [False, True])
def test_dest_is_written_outside_check_mode_only_and_a_second_write_changes_nothing(tmp_path, check_mode):
    dest = tmp_path / 'last.json'
    document = report()
    task = WritingTask(options(dest=str(dest)), check_mode=check_mode)
    assert m.report_result(task, document)['changed'] is True
    assert dest.exists() is not check_mode
    if not check_mode:
        assert json.loads(dest.read_text()) == document
        assert m.report_result(task, document)['changed'] is False
