# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The libvirt_sriov_network resource: a libvirt network that is a pool of the VFs of one PF.

``<network><name>N</name><forward mode='hostdev' managed='yes'><pf dev='enp1s0'/></forward></network>``:
guests then ask for ``<interface type='network'><source network='N'/></interface>`` and libvirt
hands each one a free VF (pattern 7 with a pool instead of a fixed VF address). The network is
compared on what the user gives (forward mode, PF, managed, active, autostart); libvirt's
generated UUID and the VF list it fills in at start are not compared.
"""

from __future__ import annotations

import os
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon, _libvirt
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt_network_xml as X
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, field_changes
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict, InvalidInput, NotFound

FIELDS = ("pf", "managed")


def network_xml(name: str, pf: str, managed: bool, uuid: str | None = None) -> str:
    """The network definition (rendered where every libvirt network's XML is: _libvirt_network_xml)."""
    base = "<network><name>%s</name><uuid>%s</uuid></network>" % (name, uuid) if uuid else None
    return X.render_network(name, {"forward_mode": "hostdev", "pf": pf, "managed": managed, "vlan": {},
                                   "portgroups": []}, base)


def parse_network(root: Any) -> dict[str, Any]:
    """A ``<network>`` -> ``{"forward_mode", "pf", "managed", "uuid"}`` (from the canonical form
    of _libvirt_network_xml)."""
    network = X.parse_network(root)
    return {"forward_mode": network["forward_mode"], "pf": network["pf"], "managed": bool(network["managed"]),
            "uuid": network["uuid"]}


def plan_network(current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Operation]:
    """define / redefine / start / stop / autostart / undefine operations, one host change each
    (an active network to remove is stopped, then undefined: two steps).

    ``desired['restore_xml']`` (a rollback) is the persistent definition as read before: the
    network is defined again with exactly that XML when it differs."""
    name = desired["name"]
    if desired["state"] == "absent":
        if current is None:
            return []
        return ([Operation("stop", name)] if current["active"] else []) + [Operation("undefine", name)]
    restore_xml = desired.get("restore_xml")
    if current is not None and current["forward_mode"] != "hostdev" and restore_xml is None:
        raise Conflict("name: network %r exists with forward mode %s, not a hostdev pool; pick another name"
                       % (name, current["forward_mode"]))
    ops = []
    changes = field_changes(current, desired, FIELDS) if current else {}
    if restore_xml is not None:
        if current is None or current.get("xml") != restore_xml:
            ops.append(Operation("define", name, changes=changes, xml=restore_xml))
    elif current is None or changes:
        if current is not None and current["active"]:
            # a running network keeps its old definition until restarted; restarting it would pull
            # VFs from running guests, so the new definition waits for the next network start
            changes["restart_needed"] = {"before": False, "after": True}
        ops.append(Operation("define", name, changes=changes,
                             xml=network_xml(name, desired["pf"], desired["managed"],
                                             current["uuid"] if current else None)))
    if desired["active"] is not None and (current or {}).get("active", False) != desired["active"]:
        ops.append(Operation("start" if desired["active"] else "stop", name))
    if desired["autostart"] is not None and (current or {}).get("autostart", False) != desired["autostart"]:
        ops.append(Operation("autostart", name, changes={"autostart": {"before": (current or {}).get("autostart"),
                                                                       "after": desired["autostart"]}}))
    return ops


class LibvirtSriovNetworkResource(X.NetworkResource):
    """A hostdev-forward libvirt network over one PF."""

    def normalize(self) -> dict[str, Any]:
        p = self.params
        name = _libvirt.object_name(p["name"], "name")
        state = p.get("state") or "present"
        if state == "present" and not p.get("pf"):
            raise InvalidInput("pf", p.get("pf"), "is required with state=present (the PF netdev)")
        if state == "absent":
            for option in ("active", "autostart"):
                if p.get(option):
                    raise InvalidInput(option, True, "contradicts state=absent (an absent network is neither "
                                                     "active nor autostarted); drop %s or use state=present" % option)
        return {"name": name, "state": state, "pf": _canon.ifname(p["pf"], "pf") if p.get("pf") else None,
                "managed": p.get("managed", True), "active": p.get("active"), "autostart": p.get("autostart")}

    def read_current(self) -> dict[str, Any] | None:
        net = self._lookup()
        if net is None:
            return None
        what = "network %r" % self.params["name"]
        root = _libvirt.parse_xml(self.virt.call(what, net.XMLDesc, 1))  # VIR_NETWORK_XML_INACTIVE
        current = parse_network(root)
        current.update(name=self.params["name"], active=bool(self.virt.call(what, net.isActive)),
                       autostart=bool(self.virt.call(what, net.autostart)),
                       xml=self.virt.call(what, net.XMLDesc, 1))
        return current

    def restore_desired(self, before: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
        """Absent when it did not exist; else its persistent definition exactly as read (UUID and
        what libvirt or an operator put there), active and autostart as they were."""
        if before is None:
            return dict(desired, state="absent")
        return {"name": before["name"], "state": "present", "pf": before["pf"], "managed": before["managed"],
                "active": before["active"], "autostart": before["autostart"], "restore_xml": before["xml"]}

    def plan(self, current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Operation]:
        if desired["state"] == "present" and desired.get("restore_xml") is None and \
                not os.path.isdir(self.host_path("/sys/class/net/" + desired["pf"])):
            # libvirt defines a pool on any name and only fails when the network starts
            raise NotFound("pf: %r is not a network interface on this host; give the netdev of the SR-IOV "
                           "physical function" % desired["pf"])
        return plan_network(current, desired)

    def predict(self, current: dict[str, Any] | None, desired: dict[str, Any],
                operations: list[Operation]) -> dict[str, Any] | None:
        if desired["state"] == "absent":
            return None
        after = dict(current or {"name": desired["name"], "forward_mode": "hostdev", "uuid": None,
                                 "active": False, "autostart": False})
        after.update({k: desired[k] for k in ("pf", "managed", "active", "autostart") if desired[k] is not None})
        for op in operations:
            if op.action == "define":
                after["xml"] = op.params["xml"]
        return after

    def diff_view(self, state: dict[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, str]]:
        """The persistent definition's XML is a document of its own; the fields without it are the object."""
        fields, texts = super().diff_view(state)
        if fields is not None and fields.get("xml") is not None:
            texts["%s (persistent definition)" % self.diff_header()] = fields.pop("xml")
        return fields, texts

    def warnings(self, after: dict[str, Any] | None, operations: list[Operation]) -> list[str]:
        """A new definition of an active network waits for its restart, which the module does not do."""
        if not any("restart_needed" in op.changes for op in operations):
            return []
        name = self.params["name"]
        return ["network %s is active and runs its old definition until it is restarted (virsh net-destroy %s; "
                "virsh net-start %s), which takes its VFs away from the running guests that use them"
                % (name, name, name)]

    def apply_operation(self, op: Operation) -> None:
        self.apply_network_operation(op, "network %r: %s" % (op.target, op.action))
