# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
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
    assert res["diff"] == [{"before": "color: red\nsize: 1\n", "after": "color: blue\nsize: 1\n",
                            "before_header": "DictResource", "after_header": "DictResource"}]


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
    assert res["changed"] is True and res["after"] is None
    assert (res["diff"][0]["before"], res["diff"][0]["after"]) == ("color: red\n", "")
    assert "a" in host


class ManyResource(Resource):
    """Several named items in a dict 'host'; the k-th applied step (``fail_at``) raises
    ``error`` after ``half`` of it was done (an operation that failed in the middle)."""

    verify_delay = 0
    verify_attempts = 2

    def __init__(self, params, host, fail_at=None, error=None, half=False):
        super().__init__(params)
        self.host, self.fail_at, self.error, self.half = host, fail_at, error, half
        self.steps = 0

    def normalize(self):
        return {"items": dict(self.params["items"]), "state": "present"}

    def read_current(self):
        return {"items": {k: dict(v) for k, v in self.host.items()}}

    def plan(self, current, desired):
        ops = []
        for name, want in sorted(desired["items"].items()):
            have = current["items"].get(name)
            if want is None and have is not None:
                ops.append(Operation("delete", name))
            elif want is not None and have is None:
                ops.append(Operation("create", name, color=want["color"]))
            elif want is not None and have != want:
                ops.append(Operation("modify", name, changes={"color": {"before": have["color"],
                                                                        "after": want["color"]}}))
        return ops

    def restore_desired(self, before, desired):
        names = set(desired["items"]) | set(before["items"])
        return {"items": {n: before["items"].get(n) for n in names}, "state": "present"}

    def apply_operation(self, op):
        self.steps += 1
        if self.steps == self.fail_at:
            if self.half and op.action == "modify":
                self.host[op.target]["color"] = "half"
            raise self.error or NotFound("backend says no")
        if op.action == "delete":
            del self.host[op.target]
        elif op.action == "create":
            self.host[op.target] = {"color": op.params["color"]}
        else:
            self.host[op.target]["color"] = op.changes["color"]["after"]


def test_failure_at_each_step_rolls_the_host_back():
    before = {"a": {"color": "red"}, "b": {"color": "red"}, "c": {"color": "red"}}
    want = {"a": None, "b": {"color": "blue"}, "c": {"color": "green"}, "d": {"color": "red"}}
    for k in range(1, 5):
        host = {n: dict(v) for n, v in before.items()}
        with pytest.raises(ApplyFailed) as info:
            execute(ManyResource({"items": want}, host, fail_at=k, half=True))
        err = info.value
        assert host == before, "step %d" % k
        assert len(err.details["applied"]) == k - 1
        assert err.details["failed_step"]["target"] == sorted(want)[k - 1]
        assert err.details["rolled_back"] is True and err.details["changed"] is False
        assert err.details["remaining"] == []
        # what was undone: the applied steps, and the half of the failed one
        assert len(err.details["reverted"]) == (k - 1) + (1 if sorted(want)[k - 1] in ("b", "c") else 0)
        assert "rolled back: the host is verified back" in err.msg


def test_failure_names_failed_and_applied_steps():
    host = {"a": {"color": "red"}}
    with pytest.raises(ApplyFailed) as info:
        execute(ManyResource({"items": {"a": None, "b": {"color": "red"}}}, host, fail_at=2))
    err = info.value
    assert err.details["applied"] == [{"action": "delete", "target": "a"}]
    assert err.details["failed_step"] == {"action": "create", "target": "b", "color": "red"}
    assert err.details["reverted"] == [{"action": "create", "target": "a", "color": "red"}]
    assert err.msg.startswith("create b failed: backend says no; applied before it: delete a; rolled back")


def test_untyped_backend_error_is_typed_and_rolled_back():
    host = {"a": {"color": "red"}}
    with pytest.raises(ApplyFailed) as info:
        execute(ManyResource({"items": {"a": {"color": "blue"}, "b": {"color": "red"}}}, host,
                             fail_at=2, error=KeyError("row vanished")))
    err = info.value
    assert host == {"a": {"color": "red"}}
    assert err.details["cause"] == "backend_unavailable"
    assert "unexpected KeyError" in err.msg


def test_failed_rollback_says_changed_and_not_back():
    class Stuck(ManyResource):
        def apply_operation(self, op):
            if self.steps >= 1:  # after the first step, every step fails, the undo's too
                self.steps += 1
                raise NotFound("backend gone")
            super().apply_operation(op)

    host = {}
    with pytest.raises(ApplyFailed) as info:
        execute(Stuck({"items": {"a": {"color": "red"}, "b": {"color": "red"}}}, host))
    err = info.value
    assert host == {"a": {"color": "red"}}
    assert err.details["changed"] is True and err.details["rolled_back"] is False
    assert "the host is NOT back" in err.msg and "backend gone" in err.details["rollback_error"]


def test_verification_failure_is_rolled_back():
    host = {"a": {"color": "red"}}
    resource = DictResource({"name": "a", "color": "blue"}, host, drift=True)
    resource.verify_attempts = 3
    with pytest.raises(ApplyFailed) as info:
        execute(resource)
    assert info.value.details["cause"] == "verification_failed"
    assert "modify a (color: drifted -> blue)" in info.value.msg
    assert info.value.details["failed_step"]["action"] == "verify"
    # the drifting backend cannot be put back either: the result says so
    assert info.value.details["changed"] is True


def test_files_changed_by_a_failed_run_are_restored_byte_for_byte(tmp_path):
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _files

    root = str(tmp_path)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "kept").write_bytes(b"\xff original\n")
    (tmp_path / "etc" / "kept").chmod(0o600)

    class WithFiles(ManyResource):
        def apply_operation(self, op):
            if op.action == "create":
                _files.write_atomic("/etc/kept", "new", 0o644, root)
                _files.write_atomic("/etc/new", "new", 0o644, root)
            super().apply_operation(op)

    with pytest.raises(ApplyFailed) as info:
        execute(WithFiles({"items": {"a": {"color": "red"}, "b": {"color": "red"}}}, {}, fail_at=2))
    assert (tmp_path / "etc" / "kept").read_bytes() == b"\xff original\n"
    assert (tmp_path / "etc" / "kept").stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "etc" / "new").exists()
    restored = [op["target"] for op in info.value.details["reverted"] if op["action"] == "restore_file"]
    assert sorted(restored) == ["/etc/kept", "/etc/new"]
    assert _files._GUARDS == []


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
