# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vhost_net on a host tree (/proc/sys/kernel/osrelease, /sys/module, /lib/modules, /etc) passed as
``root``; modprobe is a fake on PATH that records its arguments."""

from __future__ import annotations

import os

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _command
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    ApplyFailed,
    Conflict,
    InvalidInput,
    Unsupported,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._vhost_net import (
    LOAD_CONF,
    OPTIONS_CONF,
    VhostNetResource,
    plan_vhost,
    render_files,
)

RELEASE = "6.1.0-28-amd64"


def write(root, path, text):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as handle:
        handle.write(text)


def tree(tmp_path, loaded=False, zcopy="0", refcnt="0", has_module=True):
    root = str(tmp_path)
    write(root, "/proc/sys/kernel/osrelease", RELEASE + "\n")
    deps = "kernel/drivers/vhost/vhost.ko.xz:\n"
    if has_module:
        deps += "kernel/drivers/vhost/vhost_net.ko.xz: kernel/drivers/vhost/vhost.ko.xz kernel/drivers/net/tap.ko.xz\n"
    write(root, "/lib/modules/%s/modules.dep" % RELEASE, deps)
    write(root, "/lib/modules/%s/modules.builtin" % RELEASE, "kernel/net/bridge/bridge.ko\n")
    if loaded:
        write(root, "/sys/module/vhost_net/initstate", "live\n")
        write(root, "/sys/module/vhost_net/refcnt", refcnt + "\n")
        write(root, "/sys/module/vhost_net/parameters/experimental_zcopytx", zcopy + "\n")
        write(root, "/dev/vhost-net", "")
    return root


def resource(root, **params):
    return VhostNetResource(dict({"state": "present", "persist": True, "experimental_zcopytx": None}, **params),
                            root=root)


def test_load_and_persist_planned(tmp_path):
    result = execute(resource(tree(tmp_path)), check_mode=True)
    assert result["operations"] == [
        Operation("write_file", LOAD_CONF, mode="0644",
                  content="# Managed by kvmnet.hypervisor (vhost_net); changes are overwritten.\nvhost_net\n").to_dict(),
        Operation("load", "vhost_net", changes={"module": {"before": "absent", "after": "loaded"}}).to_dict()]
    assert result["usable"] is True  # predicted
    assert not os.path.exists(os.path.join(str(tmp_path), LOAD_CONF.lstrip("/")))
    # --diff: the module's state as YAML (files apart), then the file it would create
    obj, load_conf = result["diff"]
    assert obj["before_header"] == "kernel module vhost_net" and "module: loaded\n" in obj["after"]
    assert "files" not in obj["after"]
    assert load_conf == {"before": "", "after": result["operations"][0]["content"],
                         "before_header": LOAD_CONF, "after_header": LOAD_CONF}


def test_loaded_and_persisted_is_no_change(tmp_path):
    root = tree(tmp_path, loaded=True)
    write(root, LOAD_CONF, render_files({"state": "present", "experimental_zcopytx": None})[LOAD_CONF])
    result = execute(resource(root))
    assert result["changed"] is False and result["usable"] is True


def test_missing_module_is_unsupported_before_anything(tmp_path):
    root = tree(tmp_path, has_module=False)
    with pytest.raises(Unsupported, match="kernel 6.1.0-28-amd64 has no vhost_net module"):
        execute(resource(root))
    assert not os.path.exists(os.path.join(root, LOAD_CONF.lstrip("/")))


def test_zcopytx_change_reloads_unless_in_use():
    current = {"kernel": RELEASE, "module": "loaded", "refcnt": 0, "experimental_zcopytx": False}
    want = {"state": "present", "experimental_zcopytx": True}
    assert plan_vhost(current, want) == [
        Operation("unload", "vhost_net", changes={"module": {"before": "loaded", "after": "absent"}},
                  reason="experimental_zcopytx is read-only once loaded: unload, then load with it"),
        Operation("load", "vhost_net", changes={"module": {"before": "absent", "after": "loaded"},
                                                "experimental_zcopytx": {"before": False, "after": True}},
                  experimental_zcopytx=1)]
    with pytest.raises(Conflict, match="in use .refcnt 2"):
        plan_vhost(dict(current, refcnt=2), want)


def test_absent(tmp_path):
    root = tree(tmp_path, loaded=True)
    write(root, LOAD_CONF, "vhost_net\n")
    result = execute(resource(root, state="absent"), check_mode=True)
    assert [o["action"] for o in result["operations"]] == ["remove_file", "unload"]
    assert result["diff"][1] == {"before": "vhost_net\n", "after": "", "before_header": LOAD_CONF,
                                 "after_header": LOAD_CONF}
    with pytest.raises(Conflict, match="built into kernel"):
        plan_vhost({"kernel": RELEASE, "module": "builtin", "refcnt": 0}, {"state": "absent",
                                                                           "experimental_zcopytx": None})


def test_options_file():
    files = render_files({"state": "present", "experimental_zcopytx": True})
    assert files[OPTIONS_CONF].endswith("options vhost_net experimental_zcopytx=1\n")


@pytest.fixture
def modprobe(tmp_path, monkeypatch):
    """A fake modprobe first on PATH: records its arguments, fails with ``rc`` when told."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "modprobe.log"
    fake = bindir / "modprobe"
    fake.write_text("#!/bin/sh\necho \"$@\" >> %s\n[ -z \"$FAKE_RC\" ] || { echo 'modprobe: FATAL: nope' >&2; "
                    "exit $FAKE_RC; }\n" % log)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bindir, os.environ["PATH"]))
    return log


def test_zcopytx_change_runs_modprobe_out_and_in_with_the_option(tmp_path, modprobe):
    res = resource(tree(tmp_path / "host", loaded=True), persist=False, experimental_zcopytx=True)
    res.apply(plan_vhost(res.read_current(), res.normalize()))
    assert modprobe.read_text().splitlines() == ["-r vhost_net", "vhost_net experimental_zcopytx=1"]


def test_zcopytx_change_predicted_in_check_mode(tmp_path):
    result = execute(resource(tree(tmp_path, loaded=True), persist=False, experimental_zcopytx=True), check_mode=True)
    assert [o["action"] for o in result["operations"]] == ["unload", "load"]
    assert (result["after"]["module"], result["after"]["experimental_zcopytx"]) == ("loaded", True)


@pytest.mark.parametrize("module,zcopy,target", [
    ("absent", None, {"state": "absent", "persist": False, "experimental_zcopytx": None}),
    ("loaded", False, {"state": "present", "persist": False, "experimental_zcopytx": False}),
    ("builtin", True, {"state": "present", "persist": False, "experimental_zcopytx": True}),
])
def test_restore_desired_is_the_module_as_read_without_files(module, zcopy, target):
    before = {"kernel": RELEASE, "module": module, "available": True, "refcnt": 0, "experimental_zcopytx": zcopy,
              "device": module != "absent", "files": {LOAD_CONF: None}}
    res = VhostNetResource({"state": "present", "persist": True, "experimental_zcopytx": True})
    assert res.restore_desired(before, res.normalize()) == target


def test_modprobe_failure_names_the_module_and_the_command(tmp_path, modprobe, monkeypatch):
    monkeypatch.setenv("FAKE_RC", "1")
    res = resource(tree(tmp_path / "host"), persist=False)
    with pytest.raises(ApplyFailed, match=r"load vhost_net .*failed: vhost_net: modprobe vhost_net failed "
                                          r"\(rc 1\): modprobe: FATAL: nope$") as err:
        res.apply([Operation("load", "vhost_net", changes={"module": {"before": "absent", "after": "loaded"}})])
    assert err.value.details["cause"] == "command_failed"


def test_modprobe_missing_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(_command, "SYSTEM_DIRS", ())
    res = resource(tree(tmp_path / "host"), persist=False)
    with pytest.raises(ApplyFailed, match="vhost_net: modprobe not found; install the distribution package kmod"):
        res.apply([Operation("load", "vhost_net", changes={"module": {"before": "absent", "after": "loaded"}})])


@pytest.mark.parametrize("zcopy", [True, False])
def test_absent_with_zcopytx_is_refused_naming_both_before_anything(tmp_path, zcopy, modprobe):
    root = tree(tmp_path, loaded=True)
    with pytest.raises(InvalidInput, match=r"^experimental_zcopytx: %s .*state: absent" % zcopy) as err:
        execute(resource(root, state="absent", experimental_zcopytx=zcopy))
    assert err.value.option == "experimental_zcopytx"
    assert not modprobe.exists()  # nothing was run
