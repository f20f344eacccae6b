# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sriov_vf: planning (exact operations), bad input, the apply flow on a fake sysfs + netlink."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _boot_scripts as boot
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _files, _sriov_vf
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import ApplyFailed, Conflict, InvalidInput
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._sriov_vf import (
    VF_FIELDS,
    SriovVfResource,
    normalize_vf,
    plan_sriov,
    render_persist,
)

from test_sysfs import make_tree  # sibling test module (pytest prepends this directory)

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "kernel")


def vf(index, **kw):
    out = {"vf": index, "pci": "0000:01:10.%d" % (index * 2), "netdev": None, "driver": "igbvf"}
    out.update({k: None for k in VF_FIELDS})
    out.update(mac="00:00:00:00:00:00", vlan=0, qos=0, spoofchk=True, trust=False, link_state="auto",
               min_tx_rate=0, max_tx_rate=0)
    out.update(kw)
    return out


def current(numvfs=3, up="up"):
    return {"pf": "enp1s0", "pci": "0000:01:00.0", "driver": "igb", "pf_admin_state": up, "numvfs": numvfs,
            "totalvfs": 7, "drivers_autoprobe": True, "vfs": [vf(i) for i in range(numvfs)]}


def desired(numvfs=None, vfs=(), **kw):
    out = {"pf": "enp1s0", "numvfs": numvfs, "drivers_autoprobe": None,
           "vfs": {v["vf"]: normalize_vf(v) for v in vfs}, "bring_pf_up": False, "force": False, "persist": False}
    out.update(kw)
    return out


def test_no_change():
    assert plan_sriov(current(), desired(3, [{"vf": 0, "spoofchk": True}]), {}) == []


def test_shrink_passes_through_zero_and_reapplies_vf_attributes():
    ops = plan_sriov(current(7), desired(3, [{"vf": 0, "mac": "52:54:00:AA:00:00", "vlan": 100}]), {})
    assert ops == [
        Operation("set_numvfs", "enp1s0", changes={"numvfs": {"before": 7, "after": 0}}, through_zero=True),
        Operation("set_numvfs", "enp1s0", changes={"numvfs": {"before": 0, "after": 3}}, through_zero=True),
        Operation("set_vf", "enp1s0 vf 0", changes={
            "mac": {"before": None, "after": "52:54:00:aa:00:00"}, "vlan": {"before": None, "after": 100}}, vf=0),
    ]


def test_from_zero_does_not_pass_through_zero():
    ops = plan_sriov(current(0), desired(7), {})
    assert ops == [Operation("set_numvfs", "enp1s0", changes={"numvfs": {"before": 0, "after": 7}},
                             through_zero=False)]


def test_vf_attribute_changes_only_what_differs():
    ops = plan_sriov(current(), desired(vfs=[{"vf": 2, "spoofchk": False, "trust": False, "link_state": "disable"}]), {})
    assert ops == [Operation("set_vf", "enp1s0 vf 2", changes={
        "spoofchk": {"before": True, "after": False}, "link_state": {"before": "auto", "after": "disable"}}, vf=2)]


def test_autoprobe_planned_before_numvfs():
    ops = plan_sriov(current(0), desired(2, drivers_autoprobe=False), {})
    assert [op.action for op in ops] == ["set_drivers_autoprobe", "set_numvfs"]


def test_rate_needs_pf_up():
    with pytest.raises(InvalidInput, match="bring_pf_up: False but PF enp1s0 is down"):
        plan_sriov(current(up="down"), desired(vfs=[{"vf": 1, "max_tx_rate": 100}]), {})
    ops = plan_sriov(current(up="down"), desired(vfs=[{"vf": 1, "max_tx_rate": 100}], bring_pf_up=True), {})
    assert [op.action for op in ops] == ["set_pf_up", "set_vf"]


@pytest.mark.parametrize("want,msg", [
    (desired(8), r"numvfs: 8 is above sriov_totalvfs 7 of PF enp1s0 \(0000:01:00.0\)"),
    (desired(vfs=[{"vf": 3, "trust": True}]), r"vfs\[3\]\.vf: 3 is out of range: PF enp1s0 has 3 VFs \(0..2\)"),
    (desired(0, vfs=[{"vf": 0, "trust": True}]), r"vfs\[0\]\.vf: 0 is out of range: PF enp1s0 has no VFs"),
])
def test_bad_input(want, msg):
    with pytest.raises(InvalidInput, match=msg):
        plan_sriov(current(), want, {})


@pytest.mark.parametrize("item,msg", [
    ({"vf": 0, "vlan": 4096}, r"vfs\[0\].vlan: 4096 is out of range"),
    ({"vf": 0, "qos": 3}, r"vfs\[0\].qos: 3 needs a vlan"),
    ({"vf": 1, "mac": "01:00:5e:00:00:01"}, r"vfs\[1\].mac: .* multicast"),
    ({"vf": -1}, r"vfs.vf: -1 is not a VF index"),
    ({"vf": 0, "min_tx_rate": 200, "max_tx_rate": 100}, r"min_tx_rate: 200 is above max_tx_rate 100"),
    # IFLA_VF_RATE is __u32 Mbit/s: a larger rate was an untyped struct.error at apply
    ({"vf": 0, "max_tx_rate": 2 ** 32}, r"vfs\[0\]\.max_tx_rate: 4294967296 is out of range \(0-4294967295"),
    ({"vf": 0, "min_tx_rate": 2 ** 32}, r"vfs\[0\]\.min_tx_rate: 4294967296 is out of range"),
    ({"vf": 0, "vlan": 2 ** 32}, r"vfs\[0\]\.vlan: 4294967296 is out of range"),
    ({"vf": 0, "vlan": 10, "qos": 2 ** 32}, r"vfs\[0\]\.qos: 4294967296 is out of range"),
    ({"vf": 2 ** 32}, r"vfs\[4294967296\]\.vf: 4294967296 is out of range"),
])
def test_bad_vf_input(item, msg):
    with pytest.raises(InvalidInput, match=msg):
        normalize_vf(item)


def test_u32_rates_accepted():
    assert normalize_vf({"vf": 0, "min_tx_rate": 0, "max_tx_rate": 2 ** 32 - 1})["max_tx_rate"] == 2 ** 32 - 1


def test_vf_in_use_blocks_reset_unless_force():
    busy = {"0000:01:10.2": "guest1"}
    with pytest.raises(Conflict, match="VF 0000:01:10.2 is attached to running domain guest1"):
        plan_sriov(current(3), desired(2), busy)
    assert plan_sriov(current(3), desired(2, force=True), busy)[0].action == "set_numvfs"
    # attribute changes do not destroy VFs: allowed
    assert plan_sriov(current(3), desired(vfs=[{"vf": 1, "trust": True}]), busy)[0].action == "set_vf"


def test_persist_golden():
    want = desired(7, [{"vf": 0, "mac": "52:54:00:aa:00:00", "vlan": 100, "spoofchk": False, "trust": True},
                       {"vf": 1, "max_tx_rate": 100}], bring_pf_up=True, persist=True)
    files = render_persist("0000:01:00.0", "igb", want, current(0), None)
    assert sorted(files["0755"]) == [boot.SRIOV_SCRIPT_PATH]
    for path, content in sorted(files["0644"].items()):
        name = os.path.basename(path)
        with open(os.path.join(GOLDEN, "sriov-" + name.replace(":", "_"))) as handle:
            assert content == handle.read(), path


def test_persist_merges_previous_and_drops_vanished_vfs():
    previous = json.dumps({"numvfs": 7, "vfs": {"0": {"trust": True}, "5": {"mac": "52:54:00:00:00:05"}}})
    files = render_persist("0000:01:00.0", "ixgbe", desired(3, [{"vf": 0, "vlan": 5}]), current(7), previous)
    conf = json.loads(files["0644"]["/etc/kvmnet/sriov/0000:01:00.0.json"])
    assert conf["vfs"] == {"0": {"trust": True, "vlan": 5}}
    assert conf["numvfs"] == 3
    assert not any("modprobe" in p for p in files["0644"])


class FakeNetlink:
    """Just what SriovVfResource uses; VFs appear when sriov_numvfs is written."""

    def __init__(self, sysfs_dev):
        self.dev = sysfs_dev
        self.vf_attrs = {}
        self.calls = []
        self.admin = "up"

    def open(self):
        pass

    def close(self):
        pass

    def index(self, name):
        return 5

    def link(self, name=None, index=None):
        return {"ifindex": 5, "name": "enp1s0", "admin_state": self.admin}

    def set_link(self, index, what, **attrs):
        self.calls.append(("set_link", attrs))
        self.admin = attrs["state"]

    def numvfs(self):
        return int(open(os.path.join(self.dev, "sriov_numvfs")).read())

    def vfs(self, index, what):
        base = {"mac": "00:00:00:00:00:00", "vlan": 0, "qos": 0, "spoofchk": True, "trust": False,
                "link_state": "auto", "min_tx_rate": 0, "max_tx_rate": 0}
        return {i: dict(base, **self.vf_attrs.get(i, {})) for i in range(self.numvfs())}

    def set_vf(self, index, vf, what, **attrs):
        self.calls.append(("set_vf", vf, attrs))
        self.vf_attrs.setdefault(vf, {}).update(attrs)


@pytest.fixture(autouse=True)
def commands(monkeypatch):
    """The udev / systemd reloads the resource runs, recorded instead of run."""
    ran = []
    monkeypatch.setattr(_files, "run_command", lambda argv, what, **kw: ran.append(argv))
    return ran


def on_fake_host(root, params, nl, writes):
    """SriovVfResource on the tree under ``root`` and the fake kernel ``nl``; sriov_numvfs
    writes are recorded in ``writes`` and create / remove the virtfnN links."""
    res = SriovVfResource(dict({"pf": "enp1s0", "vfs": [], "wait_timeout": 2}, **params), root=root)
    res.nl = nl
    orig = res.sys.set_numvfs
    dev = nl.dev

    def set_numvfs(addr, count, what):
        writes.append(count)
        orig(addr, count, what)
        for entry in os.listdir(dev):
            if entry.startswith("virtfn"):
                os.unlink(os.path.join(dev, entry))
        for i in range(count):
            os.symlink("../0000:01:10.%d" % i, os.path.join(dev, "virtfn%d" % i))
    res.sys.set_numvfs = set_numvfs
    return res


def fake_resource(tmp_path, params, numvfs=0):
    root = str(tmp_path / "root")
    dev = make_tree(root, numvfs=numvfs)
    writes = []
    return on_fake_host(root, params, FakeNetlink(dev), writes), writes, root


def test_apply_flow_through_zero_with_attributes_and_files(tmp_path, commands):
    params = {"numvfs": 3, "persist": True, "bring_pf_up": True, "vfs": [
        {"vf": 0, "mac": "52:54:00:aa:00:00", "vlan": 100, "spoofchk": False},
        {"vf": 2, "max_tx_rate": 100}]}
    res, writes, root = fake_resource(tmp_path, params, numvfs=0)
    res.nl.admin = "down"
    # numvfs starts at 0 here: then 0 -> 3 directly
    result = execute(res)
    assert writes == [3]
    assert result["changed"]
    assert ("set_link", {"state": "up"}) in res.nl.calls
    assert ("set_vf", 2, {"max_tx_rate": 100, "min_tx_rate": 0}) in res.nl.calls
    assert [v["mac"] for v in result["vfs"]] == ["52:54:00:aa:00:00", "00:00:00:00:00:00", "00:00:00:00:00:00"]
    assert os.path.exists(os.path.join(root, "etc/modprobe.d/kvmnet-sriov-igb.conf"))
    # the unit and the rule were written: systemd and udev read them before the PF next appears
    assert [o["action"] for o in result["operations"][-2:]] == ["reload_systemd", "reload_udev"]
    assert commands == [["systemctl", "daemon-reload"], ["udevadm", "control", "--reload"]]
    # second run, same parameters, on the state the first run left: nothing to do
    calls = list(res.nl.calls)
    writes2 = []
    again = execute(on_fake_host(root, dict(params), res.nl, writes2))
    assert again["changed"] is False and again["operations"] == []
    assert writes2 == [] and res.nl.calls == calls and len(commands) == 2


def test_apply_shrink_writes_zero_first(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(_sriov_vf, "running_domain_hostdevs", lambda uri: seen.append(uri) or {})
    res, writes, _root = fake_resource(tmp_path, {"numvfs": 2}, numvfs=0)
    execute(res)
    res.params["numvfs"] = 1
    result = execute(res)
    assert writes == [2, 0, 1]
    assert seen == ["qemu:///system"]  # VFs destroyed: running domains were checked first
    assert result["after"]["numvfs"] == 1


def test_check_mode_changes_nothing(tmp_path, commands):
    res, writes, root = fake_resource(tmp_path, {"numvfs": 4, "persist": True}, numvfs=0)
    result = execute(res, check_mode=True)
    assert result["changed"] and writes == []
    assert result["after"]["numvfs"] == 4
    assert not os.path.exists(os.path.join(root, "etc/kvmnet"))
    # the reloads are shown in check mode (planned), not run
    assert [o for o in result["operations"] if o["action"].startswith("reload_")] == [
        {"action": "reload_systemd", "target": "systemd", "command": ["systemctl", "daemon-reload"]},
        {"action": "reload_udev", "target": "udev", "command": ["udevadm", "control", "--reload"]}]
    assert commands == []


def test_restore_desired_is_the_pf_as_read_with_admin_state_and_files():
    res = SriovVfResource({"pf": "enp1s0", "vfs": []})
    before = dict(current(2, up="down"), files={"/etc/kvmnet/sriov/0000:01:00.0.json": None})
    before["vfs"][1]["max_tx_rate"] = 0
    target = res.restore_desired(before, desired(3, persist=True))
    assert target["numvfs"] == 2 and target["force"] is True and target["pf_admin_state"] == "down"
    assert target["vfs"][1] == dict({k: before["vfs"][1][k] for k in VF_FIELDS}, vf=1)
    assert target["files"] == {"/etc/kvmnet/sriov/0000:01:00.0.json": None}
    # the failed run brought the PF up, set a rate and went to 3 VFs: back in steps, PF down last
    now = current(3)
    now["vfs"][1]["max_tx_rate"] = 100
    ops = plan_sriov(now, target, {"0000:01:10.2": "guest1"})
    assert [(op.action, op.changes) for op in ops] == [
        ("set_numvfs", {"numvfs": {"before": 3, "after": 0}}), ("set_numvfs", {"numvfs": {"before": 0, "after": 2}}),
        ("set_vf", {k: {"before": None, "after": v} for k, v in target["vfs"][0].items() if k != "vf"}),
        ("set_vf", {k: {"before": None, "after": v} for k, v in target["vfs"][1].items() if k != "vf"}),
        ("set_pf_down", {"admin_state": {"before": "up", "after": "down"}})]
    assert plan_sriov(current(2, up="down"), target, {}) == []


def sriov_snapshot(root, nl):
    """What the fake host holds: the sysfs values, the VF attributes netlink has, every file under etc."""
    dev = os.path.join(root, "sys/devices/pci0000:00/0000:01:00.0")
    out = {name: open(os.path.join(dev, name)).read().strip() for name in ("sriov_numvfs", "sriov_drivers_autoprobe")}
    out["virtfn"] = sorted(e for e in os.listdir(dev) if e.startswith("virtfn"))
    out["netlink"] = (nl.vfs(5, "x"), nl.admin)
    out["files"] = {}
    for base, _dirs, files in os.walk(os.path.join(root, "etc")):
        for name in files:
            path = os.path.join(base, name)
            out["files"][path] = (open(path, "rb").read(), os.stat(path).st_mode)
    return out


class InjectedFailure(Exception):
    """Untyped, as a raw backend exception would be."""


def test_failure_at_each_step_puts_the_pf_back(tmp_path, monkeypatch, commands):
    """numvfs 2 -> 3 (two steps through 0), VF attributes, PF up, persisted files: the k-th step
    fails (before or after its work), the rollback puts numvfs, VF attributes, PF state and files back."""
    monkeypatch.setattr(_sriov_vf, "running_domain_hostdevs", lambda uri: {})
    params = {"numvfs": 3, "persist": True, "bring_pf_up": True, "vfs": [
        {"vf": 0, "mac": "52:54:00:aa:00:00", "vlan": 100}, {"vf": 2, "max_tx_rate": 100}]}

    def host_before(where):
        res, writes, root = fake_resource(where, {"numvfs": 2, "vfs": [{"vf": 1, "trust": True}], "persist": True})
        res.nl.admin = "down"
        execute(res)  # the state before: 2 VFs, VF 1 trusted, PF down, files persisted
        return res.nl, root

    nl, root = host_before(tmp_path / "plan")
    plan = [o["action"] for o in execute(on_fake_host(root, dict(params), nl, []), check_mode=True)["operations"]]
    assert plan == ["set_pf_up", "set_numvfs", "set_numvfs", "set_vf", "set_vf", "write_file", "write_file"]
    for k in range(1, len(plan) + 1):
        for after in (False, True):
            nl, root = host_before(tmp_path / ("k%d%s" % (k, after)))
            before = sriov_snapshot(root, nl)
            failing = on_fake_host(root, dict(params), nl, [])
            calls: list = []
            real = failing.apply_operation

            def step(op, real=real, k=k, after=after, calls=calls):  # pylint: disable=dangerous-default-value
                calls.append(op)
                if len(calls) == k and not after:
                    raise InjectedFailure("injected at step %d" % k)
                real(op)
                if len(calls) == k and after:
                    raise InjectedFailure("injected after step %d" % k)
            failing.apply_operation = step
            with pytest.raises(ApplyFailed) as err:
                execute(failing)
            details = err.value.details
            assert details["rolled_back"] is True and details["changed"] is False, err.value.msg
            assert [o["action"] for o in details["applied"]] == plan[:k - 1]
            assert details["failed_step"]["action"] == plan[k - 1] and "injected" in err.value.msg
            assert details["reverted"] or (k == 1 and not after)
            assert sriov_snapshot(root, nl) == before, (k, after, err.value.msg)
