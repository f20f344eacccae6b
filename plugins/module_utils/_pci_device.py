# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pci_device resource: which host driver a PCI device is bound to (pattern 6, passthrough).

What an operator does by hand before giving a NIC to a guest with ``managed='no'``::

    echo vfio-pci > /sys/bus/pci/devices/0000:04:00.0/driver_override
    echo 0000:04:00.0 > /sys/bus/pci/devices/0000:04:00.0/driver/unbind
    echo 0000:04:00.0 > /sys/bus/pci/drivers_probe

sysfs is the kernel's only interface for this (no netlink/libvirt call binds a driver without a
domain), so it is written directly (under the resource's ``root``, a fake tree in tests). The
three writes are three operations (``set_driver_override``, ``unbind``, ``probe``), so a failure
half-way says exactly which of them were applied and the rollback undoes just those.

Preflight: binding to vfio-pci needs the IOMMU on (``/sys/kernel/iommu_groups`` not empty) and
the vfio-pci driver loaded. Every unbind without ``force`` is refused while the device is in use
by the host: one of its network interfaces (also the ``virtioN/net`` ones) is up or enslaved to
a master (a bond, a bridge, OVS's ``ovs-system``).
"""

from __future__ import annotations

import os
import re
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, Resource, existing
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    Conflict, InvalidInput, NotFound, Unsupported)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._sysfs import os_error

IFF_UP = 0x1
#: kernel driver names as they appear under /sys/bus/pci/drivers (vfio-pci, igb, mlx5_core, pci-stub)
_DRIVER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _link_name(path: str) -> str | None:
    return os.path.basename(os.path.realpath(path)) if os.path.lexists(path) else None


def driver_name(value: Any, option: str = "driver") -> str:
    """A kernel driver name, or InvalidInput naming ``option`` and the value."""
    text = "" if value is None else str(value)
    if not text.strip():
        raise InvalidInput(option, value, "is empty; give the kernel driver to bind the device to "
                           "(vfio-pci for passthrough, the host driver such as igb to give it back)")
    if not _DRIVER_RE.fullmatch(text):
        raise InvalidInput(option, value, "is not a kernel driver name (letters, digits, '_' and '-', as under "
                           "/sys/bus/pci/drivers)")
    return text


def _netdevs(dev: str) -> list[dict[str, Any]]:
    """The device's host network interfaces (``net/`` directly, or under ``virtioN/net``), with
    whether each is up and the master it is enslaved to (bond, bridge, ovs-system)."""
    dirs = [os.path.join(dev, "net")]
    try:
        dirs += [os.path.join(dev, entry, "net") for entry in sorted(os.listdir(dev)) if entry.startswith("virtio")]
    except OSError:
        pass
    out = []
    for net_dir in dirs:
        if not os.path.isdir(net_dir):
            continue
        for name in sorted(os.listdir(net_dir)):
            flags = _read(os.path.join(net_dir, name, "flags"))
            try:
                up = bool(int(flags, 16) & IFF_UP) if flags else False
            except ValueError:
                up = False
            out.append({"name": name, "up": up, "master": _link_name(os.path.join(net_dir, name, "master"))})
    return out


def read_pci_device(root: str, address: str) -> dict[str, Any] | None:
    """The device's driver, driver_override, IOMMU group and host netdevs (with their up flag and
    master); ``root`` is the sysfs directory (``/sys`` on a host)."""
    dev = os.path.join(root, "bus", "pci", "devices", address)
    if not os.path.isdir(dev):
        return None
    override = _read(os.path.join(dev, "driver_override"))
    group = _link_name(os.path.join(dev, "iommu_group"))
    return {
        "address": address,
        "driver": _link_name(os.path.join(dev, "driver")),
        "driver_override": None if override in (None, "", "(null)") else override,
        "iommu_group": int(group) if group and group.isdigit() else None,
        "vendor": _read(os.path.join(dev, "vendor")),
        "device": _read(os.path.join(dev, "device")),
        "netdevs": _netdevs(dev),
    }


def iommu_enabled(root: str) -> bool:
    """True when the kernel has IOMMU groups (``/sys/kernel/iommu_groups`` is not empty)."""
    groups = os.path.join(root, "kernel", "iommu_groups")
    return os.path.isdir(groups) and bool(os.listdir(groups))


def in_use(current: dict[str, Any]) -> list[str]:
    """Why the host uses the device: its network interfaces that are up or have a master."""
    reasons = []
    for net in current["netdevs"]:
        why = (["is up"] if net["up"] else []) + (["is enslaved to %s" % net["master"]] if net.get("master") else [])
        if why:
            reasons.append("network interface %s %s" % (net["name"], " and ".join(why)))
    return reasons


def _preflight(current: dict[str, Any], driver: str, root: str) -> None:
    address = current["address"]
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


def plan_pci_device(current: dict[str, Any], desired: dict[str, Any], root: str) -> list[Operation]:
    """Bind ``current`` to ``desired['driver']``: preflight, then the steps ``set_driver_override``,
    ``unbind`` (when a driver is bound) and ``probe`` (or nothing).

    With ``desired['exact']`` (a rollback), ``driver`` (None: no driver) and ``driver_override``
    (None: cleared) are put back exactly as they were read, and no preflight runs: the state
    being restored was the host's own."""
    address, driver = desired["address"], desired["driver"]
    exact = bool(desired.get("exact"))
    override = desired.get("driver_override") if exact else driver
    if exact:
        done = current["driver"] == driver and current["driver_override"] == override
    else:
        done = current["driver"] == driver and current["driver_override"] in (None, driver)
    if done:
        return []
    ops = []
    rebind = current["driver"] != driver
    # every unbind is guarded: the host's own use of the device is the first thing to refuse on
    if rebind and current["driver"] is not None and not desired["force"]:
        busy = in_use(current)
        if busy:
            raise Conflict("address: %s is in use by the host: %s; bring it down and out of its bond/bridge "
                           "(or set force=true) before unbinding it from %s"
                           % (address, "; ".join(busy), current["driver"]), in_use=busy)
    if not exact and rebind:
        _preflight(current, driver, root)
    if current["driver_override"] != override and (exact or rebind or current["driver_override"] is not None):
        ops.append(Operation("set_driver_override", address,
                             changes={"driver_override": {"before": current["driver_override"], "after": override}}))
    if rebind and current["driver"] is not None:
        ops.append(Operation("unbind", address, changes={"driver": {"before": current["driver"], "after": None}},
                             driver=current["driver"]))
    if rebind and driver is not None:
        ops.append(Operation("probe", address, changes={"driver": {"before": None, "after": driver}}))
    return ops


class PciDeviceResource(Resource):
    """A host PCI device and the driver it is bound to."""

    verify_attempts = 20
    verify_delay = 0.25
    identity_fields = ("address",)

    def __init__(self, params: dict[str, Any], root: str = "/") -> None:
        super().__init__(params, root)
        self.sysfs = self.host_path("/sys")

    def diff_header(self) -> str:
        return "PCI device %s" % self.params["address"]

    def normalize(self) -> dict[str, Any]:
        driver = self.params.get("driver")
        driver = "vfio-pci" if driver is None else driver_name(driver, "driver")
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

    def restore_desired(self, before: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
        """The driver and driver_override exactly as read before (the device itself is never
        created or removed); force: putting back the host's own binding is never refused."""
        before = existing(before)
        return {"address": before["address"], "driver": before["driver"],
                "driver_override": before["driver_override"], "force": True, "exact": True}

    def predict(self, current: dict[str, Any] | None, desired: dict[str, Any],
                operations: list[Operation]) -> dict[str, Any] | None:
        after = dict(existing(current))
        for op in operations:
            for field, change in op.changes.items():
                after[field] = change["after"]
        return after

    def apply_operation(self, op: Operation) -> None:
        dev = os.path.join(self.sysfs, "bus", "pci", "devices", op.target)
        if op.action == "set_driver_override":
            # an empty line clears the override (the kernel then reads back "(null)")
            path, value = os.path.join(dev, "driver_override"), op.changes["driver_override"]["after"] or "\n"
        elif op.action == "unbind":
            path, value = os.path.join(dev, "driver", "unbind"), op.target
        elif op.action == "probe":
            path, value = os.path.join(self.sysfs, "bus", "pci", "drivers_probe"), op.target
        else:
            raise NotImplementedError(op.action)
        try:
            with open(path, "w", encoding="ascii") as handle:
                handle.write(value)
        except OSError as exc:
            raise os_error(exc, "address: %s: writing %r to %s" % (op.target, value, path)) from exc
