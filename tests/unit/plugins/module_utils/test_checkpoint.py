# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checkpoint journal: the engine records before applying; replay puts it all back."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import subprocess

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _checkpoint, _files
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import BackendUnavailable
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


# -- the early-boot stage and the replay script's entry point ---------------------------------

def test_boot_files_first_then_the_full_replay(root):
    before = snapshot(root)
    checkpoint = _checkpoint.create(root, "t4", 300, [])
    execute(FileBacked({"name": "a", "color": "blue"}, root))
    lines = []
    early = _checkpoint.restore_files(root, lines.append)
    # the files are back (the resource's state file with them), the checkpoint stays open
    assert sorted(early["files"]) == ["/etc/items/a", STATE] and early["verified"] is True
    assert snapshot(root) == before
    assert _checkpoint.open_checkpoint(root) is not None
    report = _checkpoint.replay(root, lines.append)
    # the full replay counts the files the early stage put back (their reloads are due now)
    assert sorted(report["files"]) == ["/etc/items/a", STATE] and report["verified"] is True
    assert snapshot(root) == before and _checkpoint.open_checkpoint(root) is None


def test_main_is_the_script_and_says_what_it_did(root, capsys):
    _checkpoint.create(root, "t5", 300, [])
    execute(FileBacked({"name": "c", "color": "green"}, root))
    assert _checkpoint.main([root]) == 0
    out = capsys.readouterr().out
    assert "checkpoint t5: rolling back 1 module runs" in out and "rolled back, verified" in out
    assert _checkpoint.main([root]) == 0 and "nothing to do" in capsys.readouterr().out
    assert _checkpoint.main([]) == 2


def test_prepare_is_not_open_until_commit_and_clears_leftovers(root):
    stale = os.path.join(root, "var/lib/kvmnet/checkpoint/entries")
    os.makedirs(stale)
    open(os.path.join(stale, "000001.json"), "w").write("{}")  # an interrupted start left this
    checkpoint = _checkpoint.prepare(root, "t6", 60, [])
    assert _checkpoint.open_checkpoint(root) is None and checkpoint.entries() == []
    checkpoint.commit()
    assert _checkpoint.open_checkpoint(root).state["id"] == "t6"


def test_script_imports_only_its_lib(root, tmp_path):
    """The script puts lib/ first: the copied package is what runs (a regular package, with
    __init__.py at every level, wins over any other ansible_collections on the path)."""
    checkpoint = _checkpoint.create(root, "t7", 60, [])
    sources = _checkpoint.library_sources()
    assert all(name.startswith(_checkpoint.LIBRARY_PACKAGE + ".") for name in sources)
    assert {"_checkpoint", "_files", "_engine", "_errors", "_command"} <= {n.rsplit(".", 1)[1] for n in sources}
    lib = _checkpoint.copy_library(checkpoint, sources)
    script = _checkpoint.write_script(checkpoint)
    assert os.access(script, os.X_OK)
    for depth in ("ansible_collections", "ansible_collections/kvmnet/hypervisor/plugins/module_utils"):
        assert os.path.exists(os.path.join(lib, depth, "__init__.py"))
    proc = subprocess.run(checkpoint.command() + [], env={"PATH": os.environ["PATH"]}, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "checkpoint t7: rolled back, verified" in proc.stdout


def test_lock_excludes_a_second_holder(root):
    with _checkpoint.locked(root):
        with pytest.raises(BackendUnavailable, match="still held"):
            with _checkpoint.locked(root, wait=0.3):
                pass
    with _checkpoint.locked(root, wait=0.3):
        pass


# -- every resource can be rebuilt by the replay ----------------------------------------------

def test_every_resource_takes_params_and_root():
    """The replay builds each journaled resource as cls(params, root)."""
    directory = os.path.dirname(_checkpoint.__file__)
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".py") or name == "__init__.py":
            continue
        module = importlib.import_module("%s.%s" % (_checkpoint.LIBRARY_PACKAGE, name[:-3]))
        for cls in vars(module).values():
            if inspect.isclass(cls) and issubclass(cls, Resource) and cls.__module__ == module.__name__:
                params = list(inspect.signature(cls.__init__).parameters)
                assert params[:3] == ["self", "params", "root"], "%s.%s%s" % (name, cls.__name__, params)
