# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The linux_bridge resource: a host Linux bridge and its ports (pattern 1 of the seed, host side).

What ``ip link add br0 type bridge; ip link set eth0 master br0; ip link set br0 up`` do by
hand, over netlink. Ports not listed are left on the bridge unless ``exclusive_ports`` is set
(the taps libvirt adds for running guests are ports too: never remove them by accident). The
host address and persistence across reboots are not handled here (see nic_bond /
host_bond_bridge, or the distribution's network configuration).

Rollback (:meth:`LinuxBridgeResource.restore_desired`): a bridge the run created is deleted; one
it deleted is created again with its ifindex, MAC, MTU and state; ports go back to the list read
before (``exclusive_ports``), and a port the run brought up is set down again.
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
    states = desired.get("port_states") or {}
    # a rollback: the ports the run brought up go down again once they have left the bridge
    downs = [Operation("port_down", port, changes={"admin_state": {"before": "up", "after": "down"}})
             for port in desired.get("ports_down") or []
             if states.get(port) == "up" and (desired["state"] == "absent" or port not in (desired["ports"] or []))]
    if desired["state"] == "absent":
        return ([Operation("delete", name)] if current else []) + downs
    ops: list[Operation] = []
    if current is None:
        # ifindex, mac, options: only when a rollback puts back a bridge the run deleted
        again = {k: desired[k] for k in ("mac", "ifindex", "options") if desired.get(k)}
        ops.append(Operation("create", name, mtu=desired["mtu"], admin_state=desired["admin_state"] or "up", **again))
        have: list[str] = []
    else:
        changes = field_changes(current, desired, ("mtu", "admin_state", "mac"))
        if changes:
            ops.append(Operation("modify", name, changes=changes))
        have = current["ports"]
    for port in desired["ports"] or []:
        if port not in have:
            ops.append(Operation("add_port", port, changes={"master": {"before": desired["port_masters"].get(port),
                                                                       "after": name}}))
            if states.get(port) == "down":  # a port forwards only while up: a step of its own
                ops.append(Operation("port_up", port, changes={"admin_state": {"before": "down", "after": "up"}}))
    if desired["exclusive_ports"] and desired["ports"] is not None:
        for port in have:
            if port not in desired["ports"]:
                ops.append(Operation("remove_port", port, changes={"master": {"before": name, "after": None}}))
    return ops + downs


class LinuxBridgeResource(NetlinkResource):
    """A Linux bridge by name, optionally inside a named network namespace."""

    def __init__(self, params: dict[str, Any], root: str = "/") -> None:
        super().__init__(params, root)
        #: the bridge's options (forward_delay, stp_state...) as first read: what a rollback gives
        #: a bridge the run deleted (not module options, so not in the returned state)
        self.options_read: dict[str, Any] | None = None

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
        # port_masters / port_states: filled by plan() from the host (the ports' masters and
        # admin states then), which restore_desired() reads back after a failure
        return {"name": name, "state": p.get("state") or "present", "ports": ports, "mtu": p.get("mtu"),
                "admin_state": p.get("admin_state"), "exclusive_ports": bool(p.get("exclusive_ports")),
                "port_masters": {}, "port_states": {}}

    def read_current(self) -> dict[str, Any] | None:
        link = self.nl.link(self.params["name"])
        if link is None:
            return None
        if self.options_read is None:
            self.options_read = dict(link.get("bridge_options") or {})
        ports = sorted(l["name"] for l in self.nl.links() if l.get("master_index") == link["ifindex"])
        return {"name": link["name"], "kind": link["kind"], "mtu": link["mtu"], "admin_state": link["admin_state"],
                "mac": link["mac"], "ifindex": link["ifindex"], "ports": ports}

    def plan(self, current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Operation]:
        if desired["state"] == "present" or desired.get("ports_down"):
            by_index = {l["ifindex"]: l for l in self.nl.links()}
            by_name = {l["name"]: l for l in by_index.values()}
            for port in desired.get("ports_down") or []:
                if port in by_name:
                    desired["port_states"][port] = by_name[port]["admin_state"]
        if desired["state"] == "present":
            for port in desired["ports"] or []:
                link = by_name.get(port)
                if link is None:
                    raise NotFound("ports: %r does not exist%s" % (port, self.nl.where))
                master = by_index.get(link.get("master_index"))
                desired["port_masters"][port] = master["name"] if master else None
                desired["port_states"][port] = link["admin_state"]
                if master is not None and master["name"] != desired["name"]:
                    raise Conflict("ports: %r is already a port of %s; release it first" % (port, master["name"]))
        return plan_bridge(current, desired)

    def restore_desired(self, before: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
        """The bridge as read before: absent if it was; else its MTU, state, MAC (a bridge's MAC
        follows its ports) and exactly its ports; the ports the run brought up go down again; a
        bridge the run deleted comes back with its ifindex."""
        brought_up = sorted(p for p, state in (desired.get("port_states") or {}).items()
                            if state == "down" and p not in (before or {}).get("ports", []))
        if before is None:
            return dict(desired, state="absent", port_states={}, ports_down=brought_up)
        return {"name": before["name"], "state": "present", "ports": list(before["ports"]), "mtu": before["mtu"],
                "admin_state": before["admin_state"], "exclusive_ports": True, "port_masters": {},
                "port_states": {}, "mac": before["mac"], "ifindex": before["ifindex"], "ports_down": brought_up,
                "options": self.options_read or {}}

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

    def _index(self, name: str) -> int:
        index = self.nl.index(name)
        if index is None:
            raise NotFound("%s does not exist%s" % (name, self.nl.where))
        return index

    def apply_operation(self, op: Operation) -> None:
        name = self.params["name"]
        if op.action == "delete":
            self.nl.del_link(self._index(name), "deleting bridge %s" % name)
        elif op.action == "create":
            attrs = {"mtu": op.params["mtu"]} if op.params.get("mtu") else {}
            if op.params.get("mac"):
                attrs["address"] = op.params["mac"]
            if op.params.get("ifindex"):
                attrs["index"] = op.params["ifindex"]
            self.nl.add_link(name, "bridge", **attrs)
            made = self.nl.link(name) or {}
            # options the kernel's defaults do not give (sent only when they differ: a kernel
            # without VLAN filtering refuses even vlan_filtering=0)
            options = {"br_" + k: v for k, v in (op.params.get("options") or {}).items()
                       if (made.get("bridge_options") or {}).get(k) != v}
            if options:
                self.nl.set_link(self._index(name), "setting the options of bridge %s" % name, kind="bridge", **options)
            if op.params["admin_state"] == "up":
                self.nl.set_link(self._index(name), "setting %s up" % name, state="up")
        elif op.action == "modify":
            if "mac" in op.changes:
                self.nl.set_link(self._index(name), "setting the MAC of %s" % name, address=op.changes["mac"]["after"])
            if "mtu" in op.changes:
                self.nl.set_link(self._index(name), "setting MTU of %s" % name, mtu=op.changes["mtu"]["after"])
            if "admin_state" in op.changes:
                self.nl.set_link(self._index(name), "setting %s %s" % (name, op.changes["admin_state"]["after"]),
                                 state=op.changes["admin_state"]["after"])
        elif op.action == "add_port":
            self.nl.set_link(self._index(op.target), "attaching %s to %s" % (op.target, name), master=self._index(name))
        elif op.action in ("port_up", "port_down"):
            state = op.changes["admin_state"]["after"]
            self.nl.set_link(self._index(op.target), "setting %s %s" % (op.target, state), state=state)
        elif op.action == "remove_port":
            self.nl.set_link(self._index(op.target), "releasing %s from %s" % (op.target, name), master=0)
