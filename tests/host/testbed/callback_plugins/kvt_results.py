# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Test-bed callback: records every task result of a playbook run as JSON for the tests to assert on.
# Enabled by tests/host/testbed/playbook.py (ANSIBLE_CALLBACKS_ENABLED=kvt_results, results file in
# KVT_RESULTS_FILE); the stdout callback stays the default one so a failing test shows the usual log.
from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: kvt_results
    type: aggregate
    short_description: write per-task results to the JSON file named by KVT_RESULTS_FILE
    description: test-bed helper of kvmnet.hypervisor's host tests
"""


def _task_result(result):
    res = getattr(result, "result", None)  # ansible-core >= 2.19
    if res is None:
        res = result._result  # noqa: SLF001 - older ansible-core
    return res


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "kvt_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._records = []

    def _record(self, result, status):
        task = getattr(result, "task", None) or result._task  # noqa: SLF001
        host = getattr(result, "host", None) or result._host  # noqa: SLF001
        res = dict(_task_result(result))
        self._records.append({
            "task": task.get_name(),
            "action": task.action,
            "host": host.get_name(),
            "status": status,
            "result": res,
        })

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("KVT_RESULTS_FILE")
        if not path:
            return
        summary = {h: stats.summarize(h) for h in sorted(stats.processed.keys())}
        with open(path, "w", encoding="utf-8") as fh:
            json.dump({"tasks": self._records, "stats": summary}, fh, default=str, indent=1)
