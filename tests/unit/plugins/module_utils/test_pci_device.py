# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pci_device on a fake sysfs tree: preflight (IOMMU, driver loaded, device in use) and the bind writes."""

from __future__ import annotations

import os

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    ApplyFailed, Conflict, InvalidInput, NotFound, Unsupported)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._pci_device import PciDeviceResource, read_pci_device

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


BIND = [
    Operation("set_driver_override", ADDR, changes={"driver_override": {"before": None, "after": "vfio-pci"}}),
    Operation("unbind", ADDR, changes={"driver": {"before": "igb", "after": None}}, driver="igb"),
    Operation("probe", ADDR, changes={"driver": {"before": None, "after": "vfio-pci"}}),
]


def test_bind_is_three_steps_override_unbind_probe(sysfs):
    res = execute(fake(params(), sysfs), check_mode=True)
    assert res["operations"] == [op.to_dict() for op in BIND]
    assert (res["after"]["driver"], res["after"]["driver_override"]) == ("vfio-pci", "vfio-pci")
    dev = sysfs / "bus" / "pci" / "devices" / ADDR
    assert (dev / "driver_override").read_text() == "(null)\n"  # check mode wrote nothing
    fake(params(), sysfs).apply(BIND)
    assert (dev / "driver_override").read_text() == "vfio-pci"
    assert (sysfs / "bus" / "pci" / "drivers" / "igb" / "unbind").read_text() == ADDR
    assert (sysfs / "bus" / "pci" / "drivers_probe").read_text() == ADDR


def test_restore_puts_back_driver_and_override_exactly(sysfs):
    res = fake(params(), sysfs)
    before = res.read_current()
    bound = dict(before, driver="vfio-pci", driver_override="vfio-pci")
    target = res.restore_desired(before, res.normalize())
    assert target == {"address": ADDR, "driver": "igb", "driver_override": None, "force": True, "exact": True}
    assert res.plan(bound, target) == [
        Operation("set_driver_override", ADDR, changes={"driver_override": {"before": "vfio-pci", "after": None}}),
        Operation("unbind", ADDR, changes={"driver": {"before": "vfio-pci", "after": None}}, driver="vfio-pci"),
        Operation("probe", ADDR, changes={"driver": {"before": None, "after": "igb"}})]
    # after step 1 only: the override alone goes back; a device that had no driver is only unbound
    assert res.plan(dict(before, driver_override="vfio-pci"), target) == [
        Operation("set_driver_override", ADDR, changes={"driver_override": {"before": "vfio-pci", "after": None}})]
    assert res.plan(bound, dict(target, driver=None, driver_override="vfio-pci")) == [
        Operation("unbind", ADDR, changes={"driver": {"before": "vfio-pci", "after": None}}, driver="vfio-pci")]
    assert res.plan(before, target) == []
    res.apply(res.plan(dict(before, driver_override="vfio-pci"), target))
    assert (sysfs / "bus" / "pci" / "devices" / ADDR / "driver_override").read_text() == "\n"  # clears it


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("after", [False, True])
def test_failure_at_each_step_is_rolled_back(sysfs, k, after):
    """The fake tree is passive (writing unbind does not move the driver link), so what a step
    changes that can be read back is the override: it must be as before after the rollback."""
    dev = sysfs / "bus" / "pci" / "devices" / ADDR
    calls = []

    class Failing(Fake):
        def apply_operation(self, op):
            calls.append(op.action)
            if len(calls) == k and not after:
                raise OSError(5, "Input/output error")
            super().apply_operation(op)
            if len(calls) == k and after:
                raise RuntimeError("injected after step %d" % k)

    with pytest.raises(ApplyFailed) as err:
        execute(Failing(params(), root=str(sysfs.parent)))
    details = err.value.details
    assert details["failed_step"]["action"] == BIND[k - 1].action
    assert details["applied"] == [op.to_dict() for op in BIND[:k - 1]]
    assert details["rolled_back"] is True and details["changed"] is False, err.value.msg
    assert read_pci_device(str(sysfs), ADDR)["driver_override"] is None
    assert (dev / "driver").resolve().name == "igb"


def test_empty_or_bad_driver_is_refused(sysfs):
    for bad in ("", " ", "../x", "vfio pci", "a;b"):
        with pytest.raises(InvalidInput) as err:
            execute(fake(params(driver=bad), sysfs), check_mode=True)
        assert err.value.msg.startswith("driver: %r " % bad)


def test_unbind_refused_while_in_use_by_master_or_virtio_netdev(sysfs):
    dev = sysfs / "bus" / "pci" / "devices" / ADDR
    os.symlink(str(sysfs / "devices" / "virtual" / "net" / "ovs-system"), dev / "net" / "enp4s0" / "master")
    with pytest.raises(Conflict, match="network interface enp4s0 is enslaved to ovs-system"):
        execute(fake(params(), sysfs), check_mode=True)
    # giving it back to igb with the master still there: no unbind of vfio-pci needed the check
    assert execute(fake(params(force=True), sysfs), check_mode=True)["changed"]
    os.unlink(dev / "net" / "enp4s0" / "master")
    (dev / "virtio1" / "net" / "eth7").mkdir(parents=True)
    (dev / "virtio1" / "net" / "eth7" / "flags").write_text("0x1003\n")
    with pytest.raises(Conflict, match="network interface eth7 is up"):
        execute(fake(params(driver="vfio-pci"), sysfs), check_mode=True)


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
