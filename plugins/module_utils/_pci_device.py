# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pci_device resource: which host driver a PCI device is bound to (pattern 6, passthrough).

What an operator does by hand before giving a NIC to a guest with ``managed='no'``::

    echo vfio-pci > /sys/bus/pci/devices/0000:04:00.0/driver_override
    echo 0000:04:00.0 > /sys/bus/pci/devices/0000:04:00.0/driver/unbind
    echo 0000:04:00.0 > /sys/bus/pci/drivers_probe

sysfs is the kernel's only interface for this (no netlink/libvirt call binds a driver without a
domain), so it is written directly (under the resource's ``root``, a fake tree in tests). Preflight: binding to
vfio-pci needs the IOMMU on (``/sys/kernel/iommu_groups`` not empty) and the vfio-pci driver
loaded; a device whose host network interface is up is in use and is not taken away unless
``force`` is set.
"""

from __future__ import annotations

import os
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, Resource, existing
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    ApplyFailed, Conflict, InvalidInput, NotFound, Unsupported)

IFF_UP = 0x1


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _link_name(path: str) -> str | None:
    return os.path.basename(os.path.realpath(path)) if os.path.lexists(path) else None


def read_pci_device(root: str, address: str) -> dict[str, Any] | None:
    """The device's driver, driver_override, IOMMU group and host netdevs (with their up flag);
    ``root`` is the sysfs directory (``/sys`` on a host)."""
    dev = os.path.join(root, "bus", "pci", "devices", address)
    if not os.path.isdir(dev):
        return None
    override = _read(os.path.join(dev, "driver_override"))
    netdevs = []
    net_dir = os.path.join(dev, "net")
    if os.path.isdir(net_dir):
        for name in sorted(os.listdir(net_dir)):
            flags = _read(os.path.join(net_dir, name, "flags"))
            netdevs.append({"name": name, "up": bool(int(flags, 16) & IFF_UP) if flags else False})
    group = _link_name(os.path.join(dev, "iommu_group"))
    return {
        "address": address,
        "driver": _link_name(os.path.join(dev, "driver")),
        "driver_override": None if override in (None, "", "(null)") else override,
        "iommu_group": int(group) if group and group.isdigit() else None,
        "vendor": _read(os.path.join(dev, "vendor")),
        "device": _read(os.path.join(dev, "device")),
        "netdevs": netdevs,
    }


def iommu_enabled(root: str) -> bool:
    """True when the kernel has IOMMU groups (``/sys/kernel/iommu_groups`` is not empty)."""
    groups = os.path.join(root, "kernel", "iommu_groups")
    return os.path.isdir(groups) and bool(os.listdir(groups))


def plan_pci_device(current: dict[str, Any], desired: dict[str, Any], root: str) -> list[Operation]:
    """Bind ``current`` to ``desired['driver']``: preflight, then one ``bind`` operation (or none)."""
    address, driver = desired["address"], desired["driver"]
    if current["driver"] == driver and current["driver_override"] in (None, driver):
        return []
    if driver == "vfio-pci":
        if not iommu_enabled(root):
            raise Unsupported("address: %s cannot go to vfio-pci: the IOMMU is off (%s/kernel/iommu_groups is "
                              "empty); enable VT-d/AMD-Vi in the firmware and boot with intel_iommu=on or "
                              "amd_iommu=on" % (address, root))
        if current["iommu_group"] is None:
            raise Unsupported("address: %s has no IOMMU group; it cannot be passed through" % address)
    if not os.path.isdir(os.path.join(root, "bus", "pci", "drivers", driver)):
        raise Unsupported("driver: %r is not loaded (no %s/bus/pci/drivers/%s); load it first (modprobe %s)"
                          % (driver, root, driver, driver))
    busy = [n["name"] for n in current["netdevs"] if n["up"]]
    if busy and not desired["force"]:
        raise Conflict("address: %s is in use by the host: network interface %s is up; bring it down (or set "
                       "force=true) before binding it to %s" % (address, ", ".join(busy), driver))
    return [Operation("bind", address, changes={"driver": {"before": current["driver"], "after": driver}},
                      unbind=current["driver"])]


class PciDeviceResource(Resource):
    """A host PCI device and the driver it is bound to."""

    verify_attempts = 20
    verify_delay = 0.25

    def __init__(self, params: dict[str, Any], root: str = "/") -> None:
        super().__init__(params, root)
        self.sysfs = self.host_path("/sys")

    def diff_header(self) -> str:
        return "PCI device %s" % self.params["address"]

    def normalize(self) -> dict[str, Any]:
        driver = self.params.get("driver") or "vfio-pci"
        if "/" in driver or not driver.strip():
            raise InvalidInput("driver", driver, "is not a driver name")
        return {"address": _canon.pci_address(self.params["address"], "address"), "driver": driver,
                "force": bool(self.params.get("force"))}

    def read_current(self) -> dict[str, Any] | None:
        address = _canon.pci_address(self.params["address"], "address")
        current = read_pci_device(self.sysfs, address)
        if current is None:
            raise NotFound("address: PCI device %s does not exist on this host" % address)
        return current

    def plan(self, current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Operation]:
        current = existing(current)
        return plan_pci_device(current, desired, self.sysfs)

    def predict(self, current: dict[str, Any] | None, desired: dict[str, Any],
                operations: list[Operation]) -> dict[str, Any] | None:
        return dict(current or {}, driver=desired["driver"], driver_override=desired["driver"])

    def apply_operation(self, op: Operation) -> None:
        dev = os.path.join(self.sysfs, "bus", "pci", "devices", op.target)
        steps = [(os.path.join(dev, "driver_override"), op.changes["driver"]["after"])]
        if op.params.get("unbind"):
            steps.append((os.path.join(dev, "driver", "unbind"), op.target))
        steps.append((os.path.join(self.sysfs, "bus", "pci", "drivers_probe"), op.target))
        for path, value in steps:
            try:
                with open(path, "w", encoding="ascii") as handle:
                    handle.write(value)
            except OSError as exc:
                raise ApplyFailed("address: %s: writing %r to %s failed: %s" % (op.target, value, path, exc)) from exc
