# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The linux_bridge resource: a host Linux bridge and its ports (pattern 1 of the seed, host side).

What ``ip link add br0 type bridge; ip link set eth0 master br0; ip link set br0 up`` do by
hand, over netlink. Ports not listed are left on the bridge unless ``exclusive_ports`` is set
(the taps libvirt adds for running guests are ports too: never remove them by accident). The
host address and persistence across reboots are not handled here (see nic_bond /
host_bond_bridge, or the distribution's network configuration).
"""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, field_changes
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict, InvalidInput, NotFound
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._netlink import NetlinkResource


def plan_bridge(current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Operation]:
    """Operations turning ``current`` (bridge dict with ``ports``, or None) into ``desired``."""
    name = desired["name"]
    if current is not None and current.get("kind") != "bridge":
        raise Conflict("name: %r already exists as a %s link, not a bridge" % (name, current.get("kind") or "physical"))
    if desired["state"] == "absent":
        return [Operation("delete", name)] if current else []
    ops: list[Operation] = []
    if current is None:
        ops.append(Operation("create", name, mtu=desired["mtu"], admin_state=desired["admin_state"] or "up"))
        have: list[str] = []
    else:
        changes = field_changes(current, desired, ("mtu", "admin_state"))
        if changes:
            ops.append(Operation("modify", name, changes=changes))
        have = current["ports"]
    for port in desired["ports"] or []:
        if port not in have:
            ops.append(Operation("add_port", port, changes={"master": {"before": desired["port_masters"].get(port),
                                                                       "after": name}}))
    if desired["exclusive_ports"] and desired["ports"] is not None:
        for port in have:
            if port not in desired["ports"]:
                ops.append(Operation("remove_port", port, changes={"master": {"before": name, "after": None}}))
    return ops


class LinuxBridgeResource(NetlinkResource):
    """A Linux bridge by name, optionally inside a named network namespace."""

    def diff_header(self) -> str:
        return "bridge %s%s" % (self.params["name"], self.nl.where)

    def normalize(self) -> dict[str, Any]:
        p = self.params
        name = _canon.ifname(p["name"], "name")
        ports = None
        if p.get("ports") is not None:
            ports = []
            for port in p["ports"]:
                port = _canon.ifname(port, "ports")
                if port == name:
                    raise InvalidInput("ports", port, "is the bridge itself")
                if port not in ports:
                    ports.append(port)
        if p.get("mtu") is not None and not 68 <= p["mtu"] <= 65535:
            raise InvalidInput("mtu", p["mtu"], "is out of range (68-65535)")
        return {"name": name, "state": p.get("state") or "present", "ports": ports, "mtu": p.get("mtu"),
                "admin_state": p.get("admin_state"), "exclusive_ports": bool(p.get("exclusive_ports")),
                "port_masters": {}}

    def read_current(self) -> dict[str, Any] | None:
        link = self.nl.link(self.params["name"])
        if link is None:
            return None
        ports = sorted(l["name"] for l in self.nl.links() if l.get("master_index") == link["ifindex"])
        return {"name": link["name"], "kind": link["kind"], "mtu": link["mtu"], "admin_state": link["admin_state"],
                "mac": link["mac"], "ports": ports}

    def plan(self, current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Operation]:
        if desired["state"] == "present":
            by_index = {l["ifindex"]: l for l in self.nl.links()}
            for port in desired["ports"] or []:
                link = next((l for l in by_index.values() if l["name"] == port), None)
                if link is None:
                    raise NotFound("ports: %r does not exist%s" % (port, self.nl.where))
                master = by_index.get(link.get("master_index"))
                desired["port_masters"][port] = master["name"] if master else None
                if master is not None and master["name"] != desired["name"]:
                    raise Conflict("ports: %r is already a port of %s; release it first" % (port, master["name"]))
        return plan_bridge(current, desired)

    def predict(self, current: dict[str, Any] | None, desired: dict[str, Any],
                operations: list[Operation]) -> dict[str, Any] | None:
        if desired["state"] == "absent":
            return None
        after = dict(current or {"name": desired["name"], "kind": "bridge", "ports": [], "admin_state": "up"})
        for key in ("mtu", "admin_state"):
            if desired[key] is not None:
                after[key] = desired[key]
        ports = set(after["ports"]) | set(desired["ports"] or [])
        if desired["exclusive_ports"] and desired["ports"] is not None:
            ports = set(desired["ports"])
        after["ports"] = sorted(ports)
        return after

    def apply_operation(self, op: Operation) -> None:
        name = self.params["name"]
        if op.action == "delete":
            self.nl.del_link(self.nl.index(name), "deleting bridge %s" % name)
        elif op.action == "create":
            attrs = {"mtu": op.params["mtu"]} if op.params.get("mtu") else {}
            self.nl.add_link(name, "bridge", **attrs)
            if op.params["admin_state"] == "up":
                self.nl.set_link(self.nl.index(name), "setting %s up" % name, state="up")
        elif op.action == "modify":
            if "mtu" in op.changes:
                self.nl.set_link(self.nl.index(name), "setting MTU of %s" % name, mtu=op.changes["mtu"]["after"])
            if "admin_state" in op.changes:
                self.nl.set_link(self.nl.index(name), "setting %s %s" % (name, op.changes["admin_state"]["after"]),
                                 state=op.changes["admin_state"]["after"])
        elif op.action == "add_port":
            index = self.nl.index(op.target)
            self.nl.set_link(index, "attaching %s to %s" % (op.target, name), master=self.nl.index(name))
            self.nl.set_link(index, "setting %s up" % op.target, state="up")
        elif op.action == "remove_port":
            self.nl.set_link(self.nl.index(op.target), "releasing %s from %s" % (op.target, name), master=0)
