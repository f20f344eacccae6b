# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stdout callback for the benchmark: one JSON line at the end with per-item results.

Counts every task result and every loop item once (a loop task's aggregate result is not
counted again), so "changed" means "changed items", the same for our modules and the peer's.
Works with ansible-core 2.17 (the peer bundle) and 2.19 (the project venv).
"""
from __future__ import annotations

import json

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: perf_json
type: stdout
short_description: per-item changed/failed counts as one JSON line (benchmark only)
description: Used by tests/perf/bench.py; not part of the collection.
"""


class CallbackModule(CallbackBase):
    """Collect changed/failed per task result and per loop item; print one JSON document."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "perf_json"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.items = []

    def _record(self, result, status):
        res = result._result  # pylint: disable=protected-access
        entry = {
            "task": result._task.get_name(),  # pylint: disable=protected-access
            "status": status,
            "changed": bool(res.get("changed")),
        }
        if status in ("failed", "unreachable"):
            entry["msg"] = str(res.get("msg") or res.get("stderr") or res)[:2000]
        self.items.append(entry)

    def v2_runner_on_ok(self, result):
        if "results" not in result._result:  # pylint: disable=protected-access
            self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if "results" not in result._result:  # pylint: disable=protected-access
            self._record(result, "failed")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def v2_runner_item_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_item_on_failed(self, result):
        self._record(result, "failed")

    def v2_playbook_on_stats(self, stats):
        summary = {
            "items": len(self.items),
            "changed": sum(1 for i in self.items if i["changed"]),
            "failed": sum(1 for i in self.items if i["status"] != "ok"),
            "errors": [i for i in self.items if i["status"] != "ok"][:5],
        }
        self._display.display(json.dumps(summary))
