# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pci_device on a fake sysfs tree: preflight (IOMMU, driver loaded, device in use) and the bind writes."""

from __future__ import annotations

import os

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict, NotFound, Unsupported
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._pci_device import PciDeviceResource

ADDR = "0000:04:00.0"


@pytest.fixture
def sysfs(tmp_path):
    """A fake /sys under tmp_path (the resource gets root=tmp_path)."""
    root = tmp_path / "sys"
    dev = root / "bus" / "pci" / "devices" / ADDR
    dev.mkdir(parents=True)
    for drv in ("igb", "vfio-pci"):
        (root / "bus" / "pci" / "drivers" / drv).mkdir(parents=True)
    os.symlink(str(root / "bus" / "pci" / "drivers" / "igb"), dev / "driver")
    (root / "kernel" / "iommu_groups" / "14").mkdir(parents=True)
    os.symlink(str(root / "kernel" / "iommu_groups" / "14"), dev / "iommu_group")
    (dev / "driver_override").write_text("(null)\n")
    (root / "bus" / "pci" / "drivers" / "igb" / "unbind").write_text("")
    (root / "bus" / "pci" / "drivers_probe").write_text("")
    (dev / "net" / "enp4s0").mkdir(parents=True)
    (dev / "net" / "enp4s0" / "flags").write_text("0x1002\n")  # down
    return root


class Fake(PciDeviceResource):
    verify_attempts = 1


def fake(params, sysfs):
    """The resource on the fake tree (``sysfs`` is its ``sys`` directory)."""
    return Fake(params, root=str(sysfs.parent))


def params(**kw):
    return dict(dict(address="04:00.0", driver="vfio-pci", force=False), **kw)


def test_bind_writes_override_unbind_probe(sysfs):
    res = execute(fake(params(), sysfs), check_mode=True)
    assert res["operations"] == [{"action": "bind", "target": ADDR, "unbind": "igb",
                                  "changes": {"driver": {"before": "igb", "after": "vfio-pci"}}}]
    dev = sysfs / "bus" / "pci" / "devices" / ADDR
    assert (dev / "driver_override").read_text() == "(null)\n"  # check mode wrote nothing
    fake(params(), sysfs).apply([Operation("bind", ADDR, changes={"driver": {"before": "igb", "after": "vfio-pci"}},
                                           unbind="igb")])
    assert (dev / "driver_override").read_text() == "vfio-pci"
    assert (sysfs / "bus" / "pci" / "drivers" / "igb" / "unbind").read_text() == ADDR
    assert (sysfs / "bus" / "pci" / "drivers_probe").read_text() == ADDR


def test_already_bound_is_unchanged(sysfs):
    dev = sysfs / "bus" / "pci" / "devices" / ADDR
    os.unlink(dev / "driver")
    os.symlink(str(sysfs / "bus" / "pci" / "drivers" / "vfio-pci"), dev / "driver")
    assert execute(fake(params(), sysfs))["changed"] is False


def test_iommu_off(sysfs):
    os.rmdir(sysfs / "kernel" / "iommu_groups" / "14")
    with pytest.raises(Unsupported, match="IOMMU is off"):
        execute(fake(params(), sysfs), check_mode=True)


def test_in_use_needs_force(sysfs):
    (sysfs / "bus" / "pci" / "devices" / ADDR / "net" / "enp4s0" / "flags").write_text("0x1003\n")
    with pytest.raises(Conflict, match="in use by the host: network interface enp4s0 is up"):
        execute(fake(params(), sysfs), check_mode=True)
    assert execute(fake(params(force=True), sysfs), check_mode=True)["changed"]


def test_missing_device_and_driver(sysfs):
    with pytest.raises(NotFound, match="PCI device 0000:05:00.0 does not exist"):
        execute(fake(params(address="0000:05:00.0"), sysfs), check_mode=True)
    with pytest.raises(Unsupported, match="'ixgbe' is not loaded"):
        execute(fake(params(driver="ixgbe"), sysfs), check_mode=True)
