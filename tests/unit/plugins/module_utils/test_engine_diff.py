# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What --diff shows: the object as YAML, one unified text diff per file the plan writes or
removes (headed by its path), the same in check mode; warnings reach module.warn."""

from __future__ import annotations

import yaml
from ansible.plugins.callback import CallbackBase
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _files
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import (
    Operation,
    Resource,
    execute,
    run,
    yaml_text,
)

UNIT = "/etc/systemd/system/kvmnet-x.service"
NETDEV = "/etc/systemd/network/10-bond0.netdev"
OLD = "/etc/modprobe.d/kvmnet-old.conf"


class FilesResource(Resource):
    """A device ``bond0`` whose persisted files are planned with ``_files`` (as the real ones)."""

    verify_delay = 0

    def normalize(self):
        return {"name": "bond0", "mode": self.params["mode"], "files": self.params["files"]}

    def read_current(self):
        return {"name": "bond0", "mode": self.host_mode(),
                "files": _files.read_files(sorted(self.params["files"]), self.root)}

    def host_mode(self):
        return _files.read_text("/run/bond0.mode", self.root) or "balance-rr"

    def plan(self, current, desired):
        ops = [Operation("set_mode", "bond0", changes={"mode": {"before": current["mode"], "after": desired["mode"]}})
               ] if current["mode"] != desired["mode"] else []
        return _files.plan_files(current["files"], desired["files"]) + ops

    def apply_operation(self, op):
        if not _files.apply_file_operation(op, self.root):
            _files.write_atomic("/run/bond0.mode", op.changes["mode"]["after"], root=self.root)


def host(tmp_path):
    for path, text in ((NETDEV, "[NetDev]\nName=bond0\nKind=bond\n\n[Bond]\nMode=balance-rr\n"),
                       (OLD, "options bonding max_bonds=0\n")):
        (tmp_path / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path.lstrip("/")).write_text(text)
    return str(tmp_path)


PARAMS = {"mode": "active-backup", "files": {
    UNIT: "[Unit]\nDescription=x\n",  # created
    NETDEV: "[NetDev]\nName=bond0\nKind=bond\n\n[Bond]\nMode=active-backup\n",  # changed
    OLD: None,  # removed
}}


def test_diff_is_the_object_as_yaml_then_one_text_diff_per_file(tmp_path):
    root = host(tmp_path)
    res = execute(FilesResource(PARAMS, root=root))
    obj, *files = res["diff"]
    assert obj == {"before": "mode: balance-rr\nname: bond0\n", "after": "mode: active-backup\nname: bond0\n",
                   "before_header": "FilesResource", "after_header": "FilesResource"}
    assert files == [
        {"before": "options bonding max_bonds=0\n", "after": "", "before_header": OLD, "after_header": OLD},
        {"before": "[NetDev]\nName=bond0\nKind=bond\n\n[Bond]\nMode=balance-rr\n",
         "after": "[NetDev]\nName=bond0\nKind=bond\n\n[Bond]\nMode=active-backup\n",
         "before_header": NETDEV, "after_header": NETDEV},
        {"before": "", "after": "[Unit]\nDescription=x\n", "before_header": UNIT, "after_header": UNIT},
    ]
    assert (tmp_path / "etc/systemd/system/kvmnet-x.service").read_text() == "[Unit]\nDescription=x\n"
    assert not (tmp_path / "etc/modprobe.d/kvmnet-old.conf").exists()
    # the result's before / after keep the whole state, files included
    assert res["after"]["files"][UNIT] == "[Unit]\nDescription=x\n"


def test_check_mode_shows_the_same_diff_and_writes_nothing(tmp_path):
    root = host(tmp_path)
    files_before = sorted((p.relative_to(tmp_path), p.read_text()) for p in tmp_path.rglob("*") if p.is_file())
    predicted = execute(FilesResource(PARAMS, root=root), check_mode=True)
    assert sorted((p.relative_to(tmp_path), p.read_text()) for p in tmp_path.rglob("*") if p.is_file()) == files_before
    assert execute(FilesResource(PARAMS, root=root))["diff"] == predicted["diff"]
    # and once applied: the object's YAML does not change, no file is planned, no file diff
    again = execute(FilesResource(PARAMS, root=root))
    assert again["changed"] is False and len(again["diff"]) == 1
    assert again["diff"][0]["before"] == again["diff"][0]["after"]


def test_ansible_shows_the_diff_as_unified_text(tmp_path):
    """What an operator sees with --diff (Ansible's callback renders each entry)."""
    shown = CallbackBase()._get_diff(execute(FilesResource(PARAMS, root=host(tmp_path)), check_mode=True)["diff"])
    assert "--- before: FilesResource\n+++ after: FilesResource\n" in shown
    assert "-mode: balance-rr\n+mode: active-backup\n" in shown
    assert "--- before: %s\n+++ after: %s\n" % (NETDEV, NETDEV) in shown
    assert "-Mode=balance-rr\n+Mode=active-backup\n" in shown
    assert "+[Unit]\n+Description=x\n" in shown and "-options bonding max_bonds=0\n" in shown
    assert "\\n" not in shown  # no escaped JSON line


def test_yaml_text_is_readable():
    assert yaml_text(None) == ""
    assert yaml_text({"b": [{"x": 1, "size": None}, "eth1"], "a": {}, "mac": "52:54:00:aa:00:02", "on": "on",
                      "script": "#!/bin/sh\nexit 0\n", "flag": True, "empty": []}) == (
        'a: {}\n'
        'b:\n'
        '  - size: null\n'
        '    x: 1\n'
        '  - eth1\n'
        'empty: []\n'
        'flag: true\n'
        'mac: "52:54:00:aa:00:02"\n'
        '"on": "on"\n'
        'script: |\n'
        '  #!/bin/sh\n'
        '  exit 0\n')


JSON = st.recursive(
    # any text, and text made of what YAML is picky about (multi-line: literal blocks)
    st.none() | st.booleans() | st.integers() | st.text() | st.text(alphabet=" \n\tab#:-|>'\""),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)


@given(st.dictionaries(st.text(), JSON, max_size=5))
def test_yaml_text_reads_back_as_the_same_data(value):
    assert yaml.safe_load(yaml_text(value)) == (value or {})


class FakeModule:
    """What run() uses of AnsibleModule."""

    def __init__(self, params, check_mode=False, diff=False):
        self.params, self.check_mode, self._diff = params, check_mode, diff
        self.warned, self.result = [], None

    def warn(self, text):
        self.warned.append(text)

    def exit_json(self, **result):
        self.result = result


class NeedsRestart(FilesResource):
    def warnings(self, after, operations):
        return ["restart bond0's daemon"] if operations else []


def test_run_hands_warnings_to_module_warn_and_drops_the_diff_without_diff_mode(tmp_path, monkeypatch):
    root = host(tmp_path)
    monkeypatch.setattr(NeedsRestart, "__init__", lambda self, params: Resource.__init__(self, params, root))
    module = FakeModule(PARAMS, check_mode=True)
    run(module, NeedsRestart)
    assert module.warned == ["restart bond0's daemon"]
    assert "warnings" not in module.result and "diff" not in module.result and module.result["changed"] is True
    module = FakeModule(PARAMS, check_mode=True, diff=True)
    run(module, NeedsRestart)
    assert [e["before_header"] for e in module.result["diff"]] == ["NeedsRestart", OLD, NETDEV, UNIT]


def test_without_diff_mode_no_diff_is_built_and_no_file_read_for_it(tmp_path, monkeypatch):
    root = host(tmp_path)

    def no_file_diff(*args):
        raise AssertionError("file diffs built although --diff was not asked for")

    monkeypatch.setattr(_files, "diff_entries", no_file_diff)
    res = execute(FilesResource(PARAMS, root=root), check_mode=True, diff=False)
    assert "diff" not in res and res["changed"] is True
    res = execute(FilesResource(PARAMS, root=root), diff=False)
    assert "diff" not in res
    assert (tmp_path / "etc/systemd/system/kvmnet-x.service").read_text() == "[Unit]\nDescription=x\n"
