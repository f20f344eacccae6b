# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The libvirt_hostdev resource: one PCI ``<hostdev>`` of a domain, keyed by its host PCI address.

Whole-device PCI passthrough (pattern 6) for devices that are not SR-IOV VFs (for VFs prefer
``<interface type='hostdev'>``, libvirt_iface, which also sets MAC and VLAN). Same views and
rules as libvirt_iface: ``config`` and/or ``live`` (when running), one attach/detach call with
both flags, generated values (guest address, alias, default vfio driver) never compared, a
``managed`` change cannot be made live.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon, _libvirt
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, existing, field_changes
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import InvalidInput, Unsupported
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_iface import (
    LibvirtIfaceResource,
    detach_attempts,
    flags_value,
    plan_restore,
    require_pci_device,
)


def build_hostdev(address: str, managed: bool) -> Any:
    """A new ``<hostdev mode='subsystem' type='pci'>`` element."""
    etree = _libvirt.etree
    node = etree.Element("hostdev", mode="subsystem", type="pci", managed="yes" if managed else "no")
    source = etree.SubElement(node, "source")
    attrs = _libvirt.pci_address_attrs(address)
    attrs.pop("type")
    etree.SubElement(source, "address", attrs)
    return node


def plan_hostdev(current: dict[str, Any], desired: dict[str, Any], elements: dict[str, Any]) -> list[Operation]:
    """attach / detach operations for one hostdev, with flags (a change of managed: detach + attach)."""
    target = "%s/%s" % (desired["domain"], desired["source"])
    views = [v for v in ("config", "live") if desired[v] and (v == "config" or current["running"])]
    if "config" in views and not current.get("persistent", True):
        raise Unsupported("config: domain %r is transient (no persistent definition); set config=false"
                          % desired["domain"])
    if desired["state"] == "absent":
        gone = [v for v in views if current.get(v) is not None]
        return [Operation("detach", target, flags=gone, xml=_libvirt.to_string(elements[gone[0]]))] if gone else []
    ops = []
    missing = [v for v in views if current.get(v) is None]
    if missing:
        managed = True if desired["managed"] is None else desired["managed"]
        xml = _libvirt.to_string(build_hostdev(desired["source"], managed))
        ops.append(Operation("attach", target, flags=missing, xml=xml))
    for view in views:
        cur = current.get(view)
        if cur is None:
            continue
        changes = field_changes(cur, desired, ("managed",))
        if changes and view == "live":
            if not desired["allow_config_only"]:
                raise Unsupported("live: libvirt cannot change managed of hostdev %s on the running domain %r; "
                                  "nothing was changed. Set allow_config_only=true or live=false"
                                  % (desired["source"], desired["domain"]))
            continue
        if changes:
            # libvirt cannot update a hostdev, not even in the persistent definition: detach + attach
            node = _libvirt.parse_xml(_libvirt.etree.tostring(elements[view]))
            node.set("managed", "yes" if desired["managed"] else "no")
            ops.append(Operation("detach", target, changes=changes, flags=[view],
                                 xml=_libvirt.to_string(elements[view])))
            ops.append(Operation("attach", target, changes=changes, flags=[view], xml=_libvirt.to_string(node)))
    return ops


class LibvirtHostdevResource(LibvirtIfaceResource):
    """A PCI hostdev of a libvirt domain (reuses libvirt_iface's connection, apply and verify)."""

    parse_device = staticmethod(_libvirt.parse_hostdev)
    restart_fields = ("managed",)

    def diff_header(self) -> str:
        return "hostdev %s of domain %s" % (self.params["source"], self.params["domain"])

    def normalize(self) -> dict[str, Any]:
        p = self.params
        if not p.get("config", True) and not p.get("live", True):
            raise InvalidInput("config", False, "and live=false leave nothing to manage; enable one of them")
        self.verify_attempts = detach_attempts(p.get("detach_timeout"), self.verify_delay)
        return {"domain": _libvirt.domain_name(p["domain"], "domain"), "state": p.get("state") or "present",
                "source": _canon.pci_address(p["source"], "source"), "managed": p.get("managed"),
                "config": p.get("config", True), "live": p.get("live", True),
                "allow_config_only": bool(p.get("allow_config_only"))}

    def _find(self, root: Any) -> Any:
        want = _canon.pci_address(self.params["source"], "source")
        for elem in root.findall("./devices/hostdev"):
            if elem.get("type") == "pci" and elem.find("source/address") is not None and \
                    _libvirt.parse_hostdev(elem)["source"] == want:
                return elem
        return None

    def read_current(self) -> dict[str, Any] | None:
        current = super().read_current()
        current = existing(current)
        for view in ("config", "live"):
            if view in self.elements:
                dev = _libvirt.parse_hostdev(self.elements[view])
                dev["xml"] = _libvirt.to_string(self.elements[view])
                current[view] = dev
        return current

    def plan(self, current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Operation]:
        current = existing(current)
        if desired.get("restore") is not None:  # libvirt cannot update a hostdev: detach + attach
            return plan_restore(current, desired["restore"], self.elements,
                                "%s/%s" % (desired["domain"], desired["source"]), can_update=False)
        if desired["state"] == "present":
            require_pci_device(self.host_path("/sys/bus/pci/devices/" + desired["source"]), desired["source"])
        return plan_hostdev(current, desired, self.elements)


__all__ = ["LibvirtHostdevResource", "build_hostdev", "plan_hostdev", "flags_value"]
