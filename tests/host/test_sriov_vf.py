# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""sriov_vf on this machine: bad input against the real sysfs and netlink.

This machine's kernel has no PCI IOV and no SR-IOV capable NIC, so creating VFs and setting
their attributes is VM-only: extensions/molecule/sriov runs it on an emulated Intel 82576 (igb)
with 7 VFs, numvfs 7 -> 3 -> 7 and a reboot. Here: an unknown PF (by name and by PCI address),
a virtual interface, a PCI NIC without SR-IOV all fail with a clear message and change nothing.
"""

from __future__ import annotations

import os

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import NotFound, Unsupported
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._sriov_vf import SriovVfResource
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
