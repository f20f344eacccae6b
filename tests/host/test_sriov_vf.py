# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sriov_vf on this machine: bad input against the real sysfs and netlink.

This machine's kernel has no PCI IOV and no SR-IOV capable NIC, so creating VFs and setting
their attributes is VM-only: extensions/molecule/sriov runs it on an emulated Intel 82576 (igb)
with 7 VFs, numvfs 7 -> 3 -> 7 and a reboot. Here: an unknown PF (by name and by PCI address),
a virtual interface, a PCI NIC without SR-IOV all fail with a clear message and change nothing.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from testbed.inject import _scrub, check_every_step, files_state
from testbed.util import unique_ifname

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _files

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import NotFound, Unsupported
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._sriov_vf import SriovVfResource, render_persist
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._sysfs import Sysfs

SYSFS = Sysfs()


def non_sriov_pci_nic():
    for ifname in sorted(os.listdir("/sys/class/net")):
        pci = SYSFS.netdev_pci(ifname)
        if pci and SYSFS.sriov(pci, ifname) is None:
            return ifname, pci
    return None, None


NIC, NIC_PCI = non_sriov_pci_nic()


def params(**kw):
    base = {"pf": "kvt-nope0", "numvfs": None, "drivers_autoprobe": None, "vfs": [], "bring_pf_up": False,
            "force": False, "uri": "qemu:///system", "wait_timeout": 5, "persist": False}
    base.update(kw)
    return base


def test_unknown_pf_by_name_and_address():
    with pytest.raises(NotFound, match="pf: network interface 'kvt-nope0' does not exist"):
        execute(SriovVfResource(params(numvfs=2)))
    with pytest.raises(NotFound, match="pf: PCI device 0000:7f:1f.7 does not exist"):
        execute(SriovVfResource(params(pf="7f:1f.7", numvfs=2)))


def test_virtual_interface_is_not_a_pf(netns):
    with pytest.raises(Unsupported, match="pf: lo is not a PCI device"):
        execute(SriovVfResource(params(pf="lo", numvfs=1)))


@pytest.mark.skipif(NIC is None, reason="no PCI network interface on this machine")
def test_pci_nic_without_sriov(run_playbook):
    for pf in (NIC, NIC_PCI):
        with pytest.raises(Unsupported, match=r"is not SR-IOV capable \(no sriov_totalvfs\)"):
            execute(SriovVfResource(params(pf=pf, numvfs=1)))
    res = run_playbook([{"name": "sriov", "kvmnet.hypervisor.sriov_vf": {"pf": NIC, "numvfs": 1, "persist": True}}])
    assert res["sriov"].failed and res["sriov"]["error"] == "unsupported" and NIC in res["sriov"].msg
    assert not os.path.exists("/etc/kvmnet/sriov/%s.json" % NIC_PCI)


def test_bad_vf_input_through_ansible(run_playbook):
    res = run_playbook([{"name": "sriov", "kvmnet.hypervisor.sriov_vf": {
        "pf": "kvt-nope0", "vfs": [{"vf": 0, "vlan": 5000}]}}])
    assert res["sriov"].failed and res["sriov"]["error"] == "invalid_input"
    assert "vfs[0].vlan: 5000 is out of range" in res["sriov"].msg


# -- rollback: a failure at each step boundary leaves sysfs values, the PF and the files as they were --
@pytest.fixture
def pf_on_tree(kvt_root, tmp_path):
    """A PF: a real veth in this namespace (netlink reads it) whose SR-IOV sysfs is a tree under a
    test root (no SR-IOV hardware here), with the persisted files of an earlier run already there."""
    name = unique_ifname("kvtpf")
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", unique_ifname("kvtpp")], check=True)
    root = str(tmp_path / "root")
    pci = "0000:01:00.0"
    dev = os.path.join(root, "sys/devices/pci0000:00", pci)
    os.makedirs(os.path.join(dev, "net", name))
    os.makedirs(os.path.join(root, "sys/bus/pci/devices"))
    os.symlink(dev, os.path.join(root, "sys/bus/pci/devices", pci))
    os.makedirs(os.path.join(root, "sys/class/net", name))
    os.symlink(dev, os.path.join(root, "sys/class/net", name, "device"))
    os.makedirs(os.path.join(root, "sys/bus/pci/drivers/igb"))
    os.symlink(os.path.join(root, "sys/bus/pci/drivers/igb"), os.path.join(dev, "driver"))
    for attr, value in (("sriov_totalvfs", 7), ("sriov_numvfs", 0), ("sriov_drivers_autoprobe", 1)):
        with open(os.path.join(dev, attr), "w") as handle:
            handle.write("%d\n" % value)
    earlier = {"numvfs": None, "drivers_autoprobe": None, "vfs": {}, "bring_pf_up": False}
    for mode, files in render_persist(pci, "igb", earlier, {"numvfs": 0}, None).items():
        for path, content in files.items():
            _files.write_atomic(path, content, int(mode, 8), root)
    yield name, root, dev
    subprocess.run(["ip", "link", "del", name], check=False)


def test_rollback_at_each_step_sysfs_files_and_pf(pf_on_tree):
    name, root, dev = pf_on_tree

    def snap():
        # sysfs values as the kernel shows them (a read ends in a newline the write did not have)
        values = {attr: open(os.path.join(dev, attr)).read().strip()
                  for attr in ("sriov_numvfs", "sriov_drivers_autoprobe", "sriov_totalvfs")}
        link = json.loads(subprocess.run(["ip", "-d", "-j", "link", "show", "dev", name], check=True,
                                         capture_output=True, text=True).stdout)
        return values, files_state(os.path.join(root, "etc")), _scrub(link)

    def make(wrap):
        return wrap(SriovVfResource)(params(pf=name, drivers_autoprobe=False, persist=True), root=root)

    plan = execute(make(lambda cls: cls), check_mode=True)["operations"]
    assert [(o["action"], o["target"]) for o in plan] == [
        ("set_drivers_autoprobe", name), ("write_file", "/etc/kvmnet/sriov/0000:01:00.0.json")]
    for after in (False, True):
        errors = check_every_step(make, snap, 2, after=after)
        assert [e.details["failed_step"]["action"] for e in errors] == ["set_drivers_autoprobe", "write_file"]
    # after both steps: the file restored byte for byte by the journal, then autoprobe set back
    assert [r["action"] for r in errors[1].details["reverted"]] == ["restore_file", "set_drivers_autoprobe"]
    res = execute(make(lambda cls: cls))
    assert res["changed"] and open(os.path.join(dev, "sriov_drivers_autoprobe")).read().strip() == "0"
