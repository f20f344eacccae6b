# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pci_device on this machine: the in-use guard and bad input against the real sysfs (never
writing it: an unbind here would take the machine's own NIC away), and the three bind steps
failing one by one on a sysfs tree under a test root, rolled back to the same sysfs values.

This machine's NIC is a virtio-net device: its netdev lives under ``<pci>/virtioN/net``, where
the in-use check used to miss it (the issue's ``driver: ''`` unbound such a NIC while it was up).
"""

from __future__ import annotations

import os

import pytest
from testbed.inject import check_every_step

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._pci_device import PciDeviceResource, read_pci_device
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._sysfs import Sysfs

SYSFS = Sysfs()


def nic_in_use():
    """A PCI device with a host network interface that is up (this machine's uplink), or Nones."""
    for ifname in sorted(os.listdir("/sys/class/net")):
        pci = SYSFS.netdev_pci(ifname)
        flags = SYSFS.read("/sys/class/net/%s/flags" % ifname, ifname)
        if pci and flags and int(flags, 16) & 1:
            return ifname, pci
    return None, None


NIC, NIC_PCI = nic_in_use()
needs_nic = pytest.mark.skipif(NIC is None, reason="no PCI network interface that is up on this machine")


def real_state(address):
    return read_pci_device("/sys", address)


@needs_nic
def test_unbinding_the_machines_up_nic_is_refused(kvt_root):
    before = real_state(NIC_PCI)
    for driver in ("vfio-pci", "virtio-pci-nope"):
        with pytest.raises(Conflict) as err:
            execute(PciDeviceResource({"address": NIC_PCI, "driver": driver, "force": False}), check_mode=True)
        assert err.value.msg.startswith("address: %s is in use by the host: network interface %s is up"
                                        % (NIC_PCI, NIC))
    assert real_state(NIC_PCI) == before


@needs_nic
def test_empty_driver_refused_through_ansible(kvt_root, run_playbook):
    before = real_state(NIC_PCI)
    res = run_playbook([
        {"name": "empty", "kvmnet.hypervisor.pci_device": {"address": NIC_PCI, "driver": ""}, "ignore_errors": True},
        {"name": "spaces", "kvmnet.hypervisor.pci_device": {"address": NIC_PCI, "driver": "vfio pci"},
         "ignore_errors": True},
    ])
    assert res["empty"].failed and res["empty"]["error"] == "invalid_input"
    assert res["empty"].msg.startswith("driver: '' is empty")
    assert res["spaces"].failed and res["spaces"].msg.startswith("driver: 'vfio pci' is not a kernel driver name")
    assert real_state(NIC_PCI) == before


ADDR = "0000:04:00.0"


@pytest.fixture
def tree(tmp_path):
    """A sysfs tree under a test root, as the unit tests build it: the device bound to igb,
    an IOMMU group, vfio-pci loaded, a netdev that is down."""
    sys_dir = tmp_path / "sys"
    dev = sys_dir / "bus" / "pci" / "devices" / ADDR
    dev.mkdir(parents=True)
    for drv in ("igb", "vfio-pci"):
        (sys_dir / "bus" / "pci" / "drivers" / drv).mkdir(parents=True)
    os.symlink(str(sys_dir / "bus" / "pci" / "drivers" / "igb"), dev / "driver")
    (sys_dir / "kernel" / "iommu_groups" / "14").mkdir(parents=True)
    os.symlink(str(sys_dir / "kernel" / "iommu_groups" / "14"), dev / "iommu_group")
    (dev / "driver_override").write_text("(null)\n")
    (sys_dir / "bus" / "pci" / "drivers" / "igb" / "unbind").write_text("")
    (sys_dir / "bus" / "pci" / "drivers_probe").write_text("")
    (dev / "net" / "enp4s0").mkdir(parents=True)
    (dev / "net" / "enp4s0" / "flags").write_text("0x1002\n")
    return tmp_path


def test_bind_fails_at_each_step_and_is_rolled_back(tree):
    """The tree is passive (no kernel moves the driver link), so the sysfs values a step leaves
    behind are the override; after every rollback they read exactly as before."""
    def make(wrap):
        return wrap(PciDeviceResource)({"address": ADDR, "driver": "vfio-pci", "force": False}, root=str(tree))

    def snap():
        return read_pci_device(str(tree / "sys"), ADDR)

    plan = execute(make(lambda cls: cls), check_mode=True)["operations"]
    assert [o["action"] for o in plan] == ["set_driver_override", "unbind", "probe"]
    for after in (False, True):
        errors = check_every_step(make, snap, 3, after=after)
        assert [e.details["failed_step"]["action"] for e in errors] == ["set_driver_override", "unbind", "probe"]
        reverted = [[r["action"] for r in e.details["reverted"]] for e in errors]
        assert reverted == ([[], ["set_driver_override"], ["set_driver_override"]] if not after
                            else [["set_driver_override"]] * 3)
    assert snap()["driver_override"] is None and snap()["driver"] == "igb"
