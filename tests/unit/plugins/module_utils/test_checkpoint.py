# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checkpoint journal: the engine records before applying; replay puts it all back."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _checkpoint, _files
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, Resource, execute

#: the "host" of FileBacked: a JSON file under the root, so a replay in a new object sees it
STATE = "/var/lib/test/state.json"


class FileBacked(Resource):
    """Items kept in a JSON file under root; creating an item also writes /etc/items/NAME."""

    verify_delay = 0

    def _host(self):
        text = _files.read_text(STATE, self.root)
        return json.loads(text) if text else {}

    def normalize(self):
        return {"name": self.params["name"], "state": self.params.get("state", "present"),
                "color": self.params.get("color")}

    def read_current(self):
        item = self._host().get(self.params["name"])
        return dict(item, name=self.params["name"]) if item else None

    def plan(self, current, desired):
        name = desired["name"]
        if desired["state"] == "absent":
            return [Operation("delete", name)] if current else []
        if current is None or current["color"] != desired["color"]:
            return [Operation("set", name, color=desired["color"])]
        return []

    def apply_operation(self, op):
        host = self._host()
        if op.action == "delete":
            host.pop(op.target)
            _files.remove("/etc/items/" + op.target, self.root)
        else:
            host[op.target] = {"color": op.params["color"]}
            _files.write_atomic("/etc/items/" + op.target, op.params["color"], 0o600, self.root)
        _files.write_atomic(STATE, json.dumps(host), 0o644, self.root)


def snapshot(root):
    out = {}
    for base, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(base, name)
            if "/var/lib/kvmnet" in path:
                continue
            with open(path, "rb") as handle:
                out[os.path.relpath(path, root)] = (handle.read(), os.stat(path).st_mode)
    return out


@pytest.fixture
def root(tmp_path):
    (tmp_path / "etc" / "items").mkdir(parents=True)
    (tmp_path / "etc" / "items" / "a").write_text("red")
    _files.write_atomic(STATE, json.dumps({"a": {"color": "red"}}), 0o644, str(tmp_path))
    return str(tmp_path)


def test_nothing_is_journaled_without_a_checkpoint(root):
    execute(FileBacked({"name": "b", "color": "blue"}, root))
    assert not os.path.exists(os.path.join(root, "var/lib/kvmnet"))


def test_replay_puts_back_resources_and_files(root):
    before = snapshot(root)
    checkpoint = _checkpoint.create(root, "t1", 300, [])
    execute(FileBacked({"name": "a", "color": "blue"}, root))
    execute(FileBacked({"name": "b", "color": "green"}, root))
    execute(FileBacked({"name": "a", "state": "absent"}, root))
    execute(FileBacked({"name": "b", "color": "green"}, root))  # no-op: no entry
    assert len(checkpoint.entries()) == 3
    entry = json.load(open(checkpoint.entries()[0]))
    assert entry["before"] == {"name": "a", "color": "red"}
    assert entry["resource"].endswith(":FileBacked")
    assert snapshot(root) != before
    lines = []
    report = _checkpoint.replay(root, lines.append)
    assert snapshot(root) == before
    assert report["verified"] is True and report["errors"] == []
    assert [e["what"] for e in report["entries"]] == ["FileBacked"] * 3
    assert _checkpoint.open_checkpoint(root) is None
    last = json.load(open(os.path.join(root, "var/lib/kvmnet/checkpoint-last.json")))
    assert last["outcome"] == "rolled_back" and last["id"] == "t1"
    assert any("rolled back, verified" in line for line in lines)


def test_a_file_keeps_its_first_original(root):
    checkpoint = _checkpoint.create(root, "t2", 300, [])
    execute(FileBacked({"name": "a", "color": "blue"}, root))
    execute(FileBacked({"name": "a", "color": "green"}, root))
    kept = {f["path"]: f["original"] for f in checkpoint.files()}
    assert _files.restore_snapshot("/etc/items/a", kept["/etc/items/a"], root) is True
    assert open(os.path.join(root, "etc/items/a")).read() == "red"


def test_replay_without_checkpoint_does_nothing(root):
    before = snapshot(root)
    assert _checkpoint.replay(root)["checkpoint"] is None
    assert snapshot(root) == before


def test_check_mode_journals_nothing(root):
    checkpoint = _checkpoint.create(root, "t3", 300, [])
    execute(FileBacked({"name": "a", "color": "blue"}, root), check_mode=True)
    assert checkpoint.entries() == [] and checkpoint.files() == []
