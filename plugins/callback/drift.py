# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stdout callback ``kvmnet.hypervisor.drift``: a check-mode run as one JSON document per host."""

from __future__ import annotations

DOCUMENTATION = r"""
name: drift
type: stdout
author: kvmnet.hypervisor contributors (@kvmnet)
version_added: 0.1.0
short_description: Print what a check-mode run would change, per host, as one JSON document
description:
  - Collects, for every host, the tasks that would change something or failed, with the modules'
    C(operations) (what each module of the collection would carry out), and prints one JSON document
    when the playbook ends; nothing else goes to stdout.
  - Made for C(playbooks/report.yml), which runs C(ansible-playbook --check kvmnet.hypervisor.hypervisor)
    with this callback and feeds the document to the P(kvmnet.hypervisor.fleet_report#filter) filter.
  - "The document: C({\"hosts\": {host: {\"failed\", \"unreachable\", \"msg\", \"tasks\": [{\"task\", \"action\",
    \"item\", \"changed\", \"failed\", \"msg\", \"operations\"}]}}})."
notes:
  - Select it as the stdout callback, e.g. C(ANSIBLE_STDOUT_CALLBACK=kvmnet.hypervisor.drift).
"""

import json
from typing import Any

from ansible.plugins.callback import CallbackBase


def task_record(task_name: str, action: str, result: dict[str, Any], item: Any = None) -> dict[str, Any]:
    """What the report keeps of one task's (or one loop item's) result."""
    record: dict[str, Any] = {
        "task": task_name, "action": action, "item": item,
        "changed": bool(result.get("changed")), "failed": bool(result.get("failed")),
        "msg": str(result.get("msg") or "") if result.get("failed") else "",
    }
    if isinstance(result.get("operations"), list):
        record["operations"] = result["operations"]
    return record


def records(task_name: str, action: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of a task result that would change something or failed (a loop: per item)."""
    if isinstance(result.get("results"), list):
        out = []
        for res in result["results"]:
            if isinstance(res, dict) and (res.get("changed") or res.get("failed")):
                label = res.get("_ansible_item_label", res.get("item"))
                out.append(task_record(task_name, action, res, None if label is None else str(label)))
        if out or not (result.get("changed") or result.get("failed")):
            return out
    if result.get("changed") or result.get("failed"):
        return [task_record(task_name, action, result)]
    return []


class CallbackModule(CallbackBase):
    """Collects the drift of every host and prints it once, at the end."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "kvmnet.hypervisor.drift"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hosts: dict[str, dict[str, Any]] = {}

    def _host(self, name: str) -> dict[str, Any]:
        return self.hosts.setdefault(name, {"failed": False, "unreachable": False, "msg": "", "tasks": []})

    def _record(self, result: Any, failed: bool = False) -> None:
        host = self._host(result._host.get_name())
        task = result._task
        res = result._result
        if failed and not res.get("failed"):  # the failure is the callback's event, not always a key
            res = dict(res, failed=True)
        host["tasks"] += records(task.get_name(), task.action, res)

    def v2_runner_on_ok(self, result: Any) -> None:
        self._record(result)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._record(result, failed=True)
        if not ignore_errors:
            host = self._host(result._host.get_name())
            host["msg"] = host["msg"] or "%s: %s" % (result._task.get_name(), result._result.get("msg", ""))

    def v2_runner_on_unreachable(self, result: Any) -> None:
        host = self._host(result._host.get_name())
        host["unreachable"] = True
        host["msg"] = str(result._result.get("msg") or "unreachable")

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._host(result._host.get_name())

    def v2_playbook_on_stats(self, stats: Any) -> None:
        for name in sorted(stats.processed):
            summary = stats.summarize(name)
            host = self._host(name)
            host["failed"] = summary["failures"] > 0
            host["unreachable"] = host["unreachable"] or summary["unreachable"] > 0
        self._display.display(json.dumps({"hosts": self.hosts}, sort_keys=True, default=str))
