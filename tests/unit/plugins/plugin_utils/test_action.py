# -*- coding: utf-8 -*-
"""The action plugins' path (``PromotionAction``): what the argument validator says reaches the task's result, and a
module run on another host is not given the options only the action acts on."""

from __future__ import annotations

from unittest import mock

from ansible_collections.idcloud.promotions.plugins.action.promotion_run import ActionModule as RunAction
from ansible_collections.idcloud.promotions.plugins.module_utils._module import TaskSpec
from ansible_collections.idcloud.promotions.plugins.plugin_utils._action import PromotionAction

URL = 'https://tenant.example.com'


def action_of(cls, args, check_mode=False):
    task = mock.MagicMock(args=args, check_mode=check_mode, diff=False, async_val=0, environment=None)
    connection = mock.MagicMock(transport='local')
    play_context = mock.MagicMock(become=False, check_mode=check_mode)
    return cls(task, connection, play_context, loader=mock.MagicMock(), templar=mock.MagicMock(), shared_loader_obj=None)


class AliasedAction(PromotionAction):
    MODULE = 'promotion_lock'
    TASK = TaskSpec(dict(
        wait_timeout=dict(type='int', default=60, aliases=['timeout']),
        seconds=dict(type='int', aliases=['secs'], deprecated_aliases=[dict(name='secs', version='2.0.0',
                                                                            collection_name='idcloud.promotions')]),
    ), lambda task: dict(changed=False, seen=task.params['wait_timeout']))


def test_the_validators_warnings_and_deprecations_reach_the_result():
    action = action_of(AliasedAction, {})
    result = action.run_here(dict(tenant_url=URL, access_token='secret', wait_timeout=5, timeout=7, secs=3), {})
    assert not result.get('failed'), result
    assert result['warnings'] == ['Both option wait_timeout and its alias timeout are set.']
    assert [(item['msg'], item['version']) for item in result['deprecations']] == [
        ("Alias 'secs' is deprecated. See the module docs for more information", '2.0.0')]
    assert 'secret' not in repr(result)


def test_no_warning_or_deprecation_when_the_validator_says_nothing():
    result = action_of(AliasedAction, {}).run_here(dict(tenant_url=URL, access_token='secret', wait_timeout=5), {})
    assert result['seen'] == 5 and 'warnings' not in result and 'deprecations' not in result


def test_a_module_run_on_another_host_is_not_given_the_options_of_the_run_of_many_hosts():
    args = dict(tenant_url=URL, access_token='secret', lock=True, run_id='', after='acme-staging', max_fail_percentage=10.0)
    action = action_of(RunAction, args)
    with mock.patch.object(RunAction, 'runs_here', return_value=False), \
            mock.patch.object(RunAction, '_execute_module', return_value=dict(changed=False)) as execute:
        action.run(task_vars={})
    module_args = execute.call_args.kwargs['module_args']
    assert module_args == dict(tenant_url=URL, access_token='secret', lock=True)
    assert execute.call_args.kwargs['module_name'] == 'idcloud.promotions.promotion_run'
