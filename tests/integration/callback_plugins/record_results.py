# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test helper: writes every task result (with the seconds it took) and the final stats of a playbook run to the JSON
file named by IDCLOUD_TEST_RESULTS, so tests assert on what Ansible itself reported."""

from __future__ import annotations

DOCUMENTATION = r'''
name: record_results
type: aggregate
short_description: Records task results and stats to a JSON file (tests only)
description:
  - Writes each task result and the play recap to the file named by E(IDCLOUD_TEST_RESULTS).
requirements:
  - the environment variable E(IDCLOUD_TEST_RESULTS)
'''

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'record_results'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.results = []
        self.started = {}
        self.path = os.environ.get('IDCLOUD_TEST_RESULTS')

    def v2_runner_on_start(self, host, task):
        self.started[(host.get_name(), task._uuid)] = time.monotonic()  # pylint: disable=protected-access

    def _record(self, outcome, result):
        host, task = result._host.get_name(), result._task  # pylint: disable=protected-access
        started = self.started.pop((host, task._uuid), None)  # pylint: disable=protected-access
        self.results.append(dict(
            outcome=outcome, host=host, task=task.get_name(), action=task.action,
            seconds=None if started is None else round(time.monotonic() - started, 3),
            result=self._clean(result._result)))  # pylint: disable=protected-access

    @staticmethod
    def _clean(value):
        return json.loads(json.dumps(value, default=str))

    def v2_runner_on_ok(self, result):
        self._record('ok', result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record('ignored' if ignore_errors else 'failed', result)

    def v2_runner_on_skipped(self, result):
        self._record('skipped', result)

    def v2_runner_on_unreachable(self, result):
        self._record('unreachable', result)

    def v2_playbook_on_stats(self, stats):
        if not self.path:
            return
        summary = dict((host, stats.summarize(host)) for host in sorted(stats.processed))
        with open(self.path, 'w') as stream:
            json.dump(dict(results=self.results, stats=summary), stream, indent=1)
