# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The macvtap resource: one MacVTap link on a lower device (pattern 3 of the seed).

What ``ip link add link eth1 name macvtap0 type macvtap mode bridge``, ``ip link set
macvtap0 address ... up`` do by hand, declaratively. Options not given are left as they are
on an existing link. The kernel cannot change a link's lower device, nor move a link into or
out of ``passthru`` mode in place: the plan then deletes the link and creates it again (two
steps, ``delete`` with the reason, then ``create``), which a running guest attached to the old
link will notice.

Rollback (:meth:`MacvtapResource.restore_desired`): a link the run created is deleted; one it
deleted or recreated comes back on its lower device with its mode, MAC, MTU, state and ifindex
(so ``/dev/tapN`` is the same device node again).
"""

from __future__ import annotations

import os
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, field_changes
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict, InvalidInput, NotFound
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._netlink import MACVLAN_MODES, NetlinkResource

MODES = ("bridge", "vepa", "private", "passthru")
#: accepted spellings of a mode -> the kernel's name (libvirt says "passthrough")
MODE_ALIASES = {"passthrough": "passthru"}
#: fields changed in place with ``ip link set``
MUTABLE_FIELDS = ("mode", "mac", "mtu", "admin_state")
#: what a macvtap created without the option gets
CREATE_DEFAULTS = {"mode": "bridge", "admin_state": "up"}


def canonical_mode(value: str | None) -> str | None:
    """Map a user's mode to the kernel's name; None stays None (leave alone)."""
    if value is None:
        return None
    mode = MODE_ALIASES.get(value, value)
    if mode not in MODES:
        raise InvalidInput("mode", value, "is not a macvtap mode (one of %s)" % ", ".join(MODES))
    return mode


def plan_macvtap(current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Operation]:
    """Operations turning ``current`` (a canonical link, or None) into ``desired``.

    Pure function: the lower device has already been resolved to its name in both.
    """
    name = desired["name"]
    if current is not None and current.get("kind") != "macvtap":
        # never delete or reshape a link this module did not make (a veth, the uplink NIC...)
        raise Conflict("name: %r already exists as a %s link, not a macvtap; remove it or pick another name"
                       % (name, current.get("kind") or "physical/plain"))
    if desired["state"] == "absent":
        return [Operation("delete", name)] if current else []
    wanted = {k: v for k, v in desired.items() if k in ("link",) + MUTABLE_FIELDS and v is not None}
    if desired.get("ifindex"):  # a rollback: the link comes back as the device it was
        wanted["ifindex"] = desired["ifindex"]
    if current is None:
        return [Operation("create", name, **dict(CREATE_DEFAULTS, **wanted))]
    reasons = []
    if current.get("link") != desired["link"]:
        reasons.append("lower device %s -> %s" % (current.get("link"), desired["link"]))
    want_mode = desired.get("mode")
    if want_mode and want_mode != current.get("mode") and "passthru" in (want_mode, current.get("mode")):
        reasons.append("mode %s -> %s cannot change in place" % (current.get("mode"), want_mode))
    if desired.get("ifindex") and current.get("ifindex") != desired["ifindex"]:
        reasons.append("ifindex %s -> %s" % (current.get("ifindex"), desired["ifindex"]))
    if reasons:
        # a recreated link keeps what the user did not mention, its MAC included: guests and
        # switches know it by that MAC
        params = dict(CREATE_DEFAULTS)
        params.update({k: current.get(k) for k in MUTABLE_FIELDS if current.get(k) is not None})
        params.update(wanted)
        return [Operation("delete", name, reason="; ".join(reasons)), Operation("create", name, **params)]
    changes = field_changes(current, desired, MUTABLE_FIELDS)
    return [Operation("modify", name, changes=changes)] if changes else []


class MacvtapResource(NetlinkResource):
    """A macvtap link, by name, optionally inside a named network namespace."""

    def __init__(self, params: dict[str, Any], root: str = "/") -> None:
        super().__init__(params, root)
        #: the lower device as read by read_current() (None if missing), used by plan()
        self.lower: dict[str, Any] | None = None

    def diff_header(self) -> str:
        return "macvtap %s%s" % (self.params["name"], self.nl.where)

    def normalize(self) -> dict[str, Any]:
        p = self.params
        desired = {
            "name": _canon.ifname(p["name"], "name"),
            "state": p["state"],
            "link": _canon.ifname(p["link"], "link") if p.get("link") is not None else None,
            "mode": canonical_mode(p.get("mode")),
            "mac": _canon.unicast_mac(p["mac"], "mac") if p.get("mac") is not None else None,
            "mtu": p.get("mtu"),
            "admin_state": p.get("admin_state"),
        }
        if desired["mtu"] is not None and not 68 <= desired["mtu"] <= 65535:
            raise InvalidInput("mtu", desired["mtu"], "is out of range (68-65535)")
        if desired["state"] == "present" and desired["link"] is None:
            raise InvalidInput("link", None, "is required with state=present (the lower device)")
        if desired["link"] is not None and desired["link"] == desired["name"]:
            raise InvalidInput("link", desired["link"], "is the macvtap itself; give the lower device")
        return desired

    def read_current(self) -> dict[str, Any] | None:
        """Read the macvtap link and the lower device it should sit on, once."""
        self.lower = self.nl.link(self.params["link"]) if self.params.get("link") else None
        link = self.nl.link(self.params["name"])
        if link is None:
            return None
        lower = self.nl.link(index=link["link_index"]) if link.get("link_index") else None
        current = {
            "name": link["name"],
            "kind": link["kind"],
            "link": lower["name"] if lower else None,
            "mode": link.get("mode"),
            "mac": link["mac"],
            "mtu": link["mtu"],
            "admin_state": link["admin_state"],
            "ifindex": link["ifindex"],
        }
        return current

    def plan(self, current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Operation]:
        if desired["state"] == "present":
            lower = self.lower
            if desired["link"] != self.params.get("link"):  # a rollback to another lower device than read
                lower = self.nl.link(desired["link"])
            if lower is None:
                raise NotFound("link: lower device %r does not exist%s" % (desired["link"], self.nl.where))
            if desired["mtu"] is not None and lower["mtu"] is not None and desired["mtu"] > lower["mtu"]:
                raise InvalidInput("mtu", desired["mtu"], "is above the MTU %d of lower device %s"
                                   % (lower["mtu"], desired["link"]))
        return plan_macvtap(current, desired)

    def restore_desired(self, before: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
        """Absent if it was; else the link as read: lower device, mode, MAC, MTU, state, ifindex."""
        if before is None:
            return dict(desired, state="absent")
        return {"name": before["name"], "state": "present", "link": before["link"], "mode": before["mode"],
                "mac": before["mac"], "mtu": before["mtu"], "admin_state": before["admin_state"],
                "ifindex": before["ifindex"]}

    def predict(self, current: dict[str, Any] | None, desired: dict[str, Any],
                operations: list[Operation]) -> dict[str, Any] | None:
        after = super().predict(current, desired, operations)
        if after is not None:
            after.pop("state", None)
            if any(op.action == "delete" for op in operations):
                after.pop("ifindex", None)  # a new link gets a new ifindex
            after["kind"] = "macvtap"
            for key, value in CREATE_DEFAULTS.items():
                after.setdefault(key, value)
        return after

    def apply_operation(self, op: Operation) -> None:
        name = op.target
        if op.action == "delete":
            index = self.nl.index(name)
            if index is not None:
                self.nl.del_link(index, "deleting macvtap %s" % name)
            return
        if op.action == "create":
            p = op.params
            lower = self.nl.index(p["link"])
            if lower is None:
                raise NotFound("link: lower device %r does not exist%s" % (p["link"], self.nl.where))
            attrs: dict[str, Any] = {"link": lower, "macvtap_mode": MACVLAN_MODES[p["mode"]]}
            if p.get("mac"):
                attrs["address"] = p["mac"]
            if p.get("mtu"):
                attrs["mtu"] = p["mtu"]
            if p.get("ifindex"):
                attrs["index"] = p["ifindex"]
            self.nl.add_link(name, "macvtap", **attrs)
            if p.get("admin_state") == "up":
                self.nl.set_link(self.nl.index(name), "bringing %s up" % name, state="up")
            return
        index = self.nl.index(name)
        attrs = {}
        changes = op.changes
        if "mode" in changes:
            attrs.update(kind="macvtap", macvtap_mode=MACVLAN_MODES[changes["mode"]["after"]])
        if "mac" in changes:
            attrs["address"] = changes["mac"]["after"]
        if "mtu" in changes:
            attrs["mtu"] = changes["mtu"]["after"]
        if attrs:
            self.nl.set_link(index, "changing macvtap %s" % name, **attrs)
        if "admin_state" in changes:
            self.nl.set_link(index, "setting %s %s" % (name, changes["admin_state"]["after"]),
                             state=changes["admin_state"]["after"])

    def extra_results(self, after: dict[str, Any] | None) -> dict[str, Any]:
        if not after or not after.get("ifindex"):
            return {"tap_device": None, "tap_device_exists": False}
        path = "/dev/tap%d" % after["ifindex"]
        # /dev shows the character devices of the host namespace only: not checked for a netns
        exists = None if self.nl.netns else os.path.exists(path)
        return {"tap_device": path, "tap_device_exists": exists}
