# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""libvirt_nodedev_info: libvirt's node devices as data and as ``virsh nodedev-list --tree``."""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._canon import pci_address
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Resource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt import Connection, _int, parse_xml


def parse_nodedev(root: Any) -> dict[str, Any]:
    """A ``<device>`` node-device XML -> a dict (name, parent, capabilities, PCI/net details)."""
    caps = [c.get("type") for c in root.findall("capability")]
    out: dict[str, Any] = {
        "name": root.findtext("name"),
        "parent": root.findtext("parent"),
        "path": root.findtext("path"),
        "driver": root.findtext("driver/name"),
        "capabilities": caps,
    }
    for cap in root.findall("capability"):
        ctype = cap.get("type")
        if ctype == "pci":
            out["pci_address"] = "%04x:%02x:%02x.%x" % tuple(
                int(cap.findtext(k) or "0") for k in ("domain", "bus", "slot", "function"))
            out["product"] = cap.findtext("product")
            out["vendor"] = cap.findtext("vendor")
            group = cap.find("iommuGroup")
            out["iommu_group"] = int(group.get("number")) if group is not None else None
            for sub in cap.findall("capability"):
                if sub.get("type") == "virt_functions":
                    out["virtual_functions"] = [pci_address(dict(a.attrib)) for a in sub.findall("address")]
                    out["max_virtual_functions"] = _int(sub.get("maxCount"))
                elif sub.get("type") == "phys_function":
                    addr = sub.find("address")
                    out["physical_function"] = pci_address(dict(addr.attrib)) if addr is not None else None
        elif ctype == "net":
            out["interface"] = cap.findtext("interface")
            out["mac"] = cap.findtext("address")
    return out


def list_node_devices(virt: Connection) -> list[dict[str, Any]]:
    """Every node device: name, parent, capabilities and the useful bits of its XML."""
    devices = virt.call("listing node devices on %s" % virt.uri, virt.conn.listAllDevices, 0)
    out = []
    for dev in devices:
        root = parse_xml(virt.call("node device %s" % dev.name(), dev.XMLDesc, 0))
        out.append(parse_nodedev(root))
    return sorted(out, key=lambda d: d["name"])


def device_tree(devices: list[dict[str, Any]]) -> str:
    """``virsh nodedev-list --tree`` as text, from :func:`list_node_devices`."""
    children: dict[str | None, list[str]] = {}
    names = {d["name"] for d in devices}
    for dev in devices:
        parent = dev.get("parent") if dev.get("parent") in names else None
        children.setdefault(parent, []).append(dev["name"])
    lines: list[str] = []

    def walk(name: str, prefix: str, last: bool, top: bool) -> None:
        lines.append(name if top else prefix + ("└─" if last else "├─") + name)
        kids = sorted(children.get(name, []))
        for i, kid in enumerate(kids):
            walk(kid, "" if top else prefix + ("  " if last else "│ "), i == len(kids) - 1, False)

    for root in sorted(children.get(None, [])):
        walk(root, "", True, True)
    return "\n".join(lines)


class LibvirtNodedevInfoResource(Resource):
    """Read-only: the node devices and their tree (libvirt_nodedev_info)."""

    def __init__(self, params: dict[str, Any], root: str = "/") -> None:
        super().__init__(params, root)
        self.virt = Connection(_canon.libvirt_uri(params.get("uri")))
        self.devices: list[dict[str, Any]] = []

    def open(self) -> None:
        self.virt.open()

    def close(self) -> None:
        self.virt.close()

    def normalize(self) -> dict[str, Any]:
        return {}

    def read_current(self) -> dict[str, Any] | None:
        self.devices = list_node_devices(self.virt)
        return {}

    def plan(self, current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Any]:
        return []

    def extra_results(self, after: dict[str, Any] | None) -> dict[str, Any]:
        cap = self.params.get("capability")
        return {"devices": [d for d in self.devices if cap is None or cap in d["capabilities"]],
                "tree": device_tree(self.devices)}
