# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine contract: changed, check mode, diff and operations all come from one plan."""

from __future__ import annotations

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import (
    Operation,
    Resource,
    execute,
    field_changes,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    ApplyFailed,
    NotFound,
    VerificationFailed,
)


class DictResource(Resource):
    """A resource over a plain dict 'host', to drive the engine without any backend."""

    verify_delay = 0

    def __init__(self, params, host, fail_on=None, drift=False):
        super().__init__(params)
        self.host = host
        self.fail_on = fail_on
        self.drift = drift
        self.applied = []
        self.opened = self.closed = 0

    def open(self):
        self.opened += 1

    def close(self):
        self.closed += 1

    def normalize(self):
        return {"name": self.params["name"], "state": self.params.get("state", "present"),
                "color": self.params.get("color"), "size": self.params.get("size")}

    def read_current(self):
        item = self.host.get(self.params["name"])
        return dict(item) if item is not None else None

    def plan(self, current, desired):
        name = desired["name"]
        if desired["state"] == "absent":
            return [Operation("delete", name)] if current else []
        if current is None:
            return [Operation("create", name, **{k: v for k, v in desired.items()
                                                 if k in ("color", "size") and v is not None})]
        changes = field_changes(current, desired, ("color", "size"))
        return [Operation("modify", name, changes=changes)] if changes else []

    def apply_operation(self, op):
        if op.action == self.fail_on:
            raise NotFound("backend says no")
        self.applied.append(op)
        if op.action == "delete":
            del self.host[op.target]
        elif op.action == "create":
            self.host[op.target] = dict(op.params)
        else:
            for field, change in op.changes.items():
                self.host[op.target][field] = change["after"] if not self.drift else "drifted"


def test_create_then_unchanged():
    host = {}
    res = execute(DictResource({"name": "a", "color": "red"}, host))
    assert res["changed"] is True
    assert res["operations"] == [{"action": "create", "target": "a", "color": "red"}]
    assert res["before"] is None
    assert res["after"] == {"color": "red"}
    assert host == {"a": {"color": "red"}}
    again = execute(DictResource({"name": "a", "color": "red"}, host))
    assert again["changed"] is False
    assert again["operations"] == []
    assert again["before"] == again["after"] == {"color": "red"}


def test_modify_reports_exact_changes_and_diff():
    host = {"a": {"color": "red", "size": 1}}
    res = execute(DictResource({"name": "a", "color": "blue"}, host))
    assert res["operations"] == [{"action": "modify", "target": "a",
                                  "changes": {"color": {"before": "red", "after": "blue"}}}]
    assert res["diff"]["before"] == {"color": "red", "size": 1}
    assert res["diff"]["after"] == {"color": "blue", "size": 1}


def test_not_mentioned_is_left_alone():
    host = {"a": {"color": "red", "size": 1}}
    res = execute(DictResource({"name": "a", "size": 1}, host))
    assert res["changed"] is False
    assert host["a"]["color"] == "red"


def test_check_mode_predicts_and_changes_nothing():
    host = {"a": {"color": "red"}}
    resource = DictResource({"name": "a", "color": "blue"}, host)
    res = execute(resource, check_mode=True)
    assert res["changed"] is True
    assert res["operations"][0]["changes"] == {"color": {"before": "red", "after": "blue"}}
    assert res["after"]["color"] == "blue"
    assert host == {"a": {"color": "red"}}
    assert resource.applied == []


def test_check_mode_absent_predicts_none():
    host = {"a": {"color": "red"}}
    res = execute(DictResource({"name": "a", "state": "absent"}, host), check_mode=True)
    assert res["changed"] is True and res["after"] is None and res["diff"]["after"] == {}
    assert "a" in host


def test_failure_half_way_says_what_was_applied():
    class TwoStep(DictResource):
        def plan(self, current, desired):
            return [Operation("create", "a", color="red"), Operation("delete", "b")]

    host = {"b": {}}
    with pytest.raises(ApplyFailed) as info:
        execute(TwoStep({"name": "a"}, host, fail_on="delete"))
    err = info.value
    assert err.details["applied"] == [{"action": "create", "target": "a", "color": "red"}]
    assert err.details["failed"] == {"action": "delete", "target": "b"}
    assert "already applied: create a" in err.msg


def test_failure_on_first_step_says_nothing_changed():
    with pytest.raises(ApplyFailed) as info:
        execute(DictResource({"name": "a", "color": "red"}, {}, fail_on="create"))
    assert "nothing was changed" in info.value.msg
    assert info.value.details["applied"] == []


def test_verification_failure_names_remaining_operations():
    host = {"a": {"color": "red"}}
    resource = DictResource({"name": "a", "color": "blue"}, host, drift=True)
    resource.verify_attempts = 3
    with pytest.raises(VerificationFailed) as info:
        execute(resource)
    assert "modify a (color: drifted -> blue)" in info.value.msg


def test_backend_closed_even_on_error():
    resource = DictResource({"name": "a", "color": "red"}, {}, fail_on="create")
    with pytest.raises(ApplyFailed):
        execute(resource)
    assert resource.opened == resource.closed == 1


def test_operation_equality_and_describe():
    op = Operation("modify", "x", changes={"mtu": {"before": 1500, "after": 9000}})
    assert op == Operation("modify", "x", changes={"mtu": {"before": 1500, "after": 9000}})
    assert op != Operation("modify", "y", changes={"mtu": {"before": 1500, "after": 9000}})
    assert op.describe() == "modify x (mtu: 1500 -> 9000)"


def test_field_changes_ignores_none():
    assert field_changes({"a": 1, "b": 2}, {"a": None, "b": 3}, ("a", "b")) == {"b": {"before": 2, "after": 3}}
    assert field_changes(None, {"a": 1}, ("a",)) == {"a": {"before": None, "after": 1}}
