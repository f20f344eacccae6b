# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Rollback of nic_bond (pure): the operations that put the host back to the state
``NicBondResource.read_current`` read before the run (``before``), from the state read now.

The forward planning (``_nic_bond_plan``) turns the module's options into steps; its desired
state cannot say "the address back on eth0" or "no master", so a rollback is planned here, from
the two read states, with the same actions (applied by the same steps of ``NicBondResource``)
and a few of its own: ``set_master`` to none, ``set_link_state``, ``del_address``,
``delete_default_route``. The files are not planned: the engine restores them byte for byte
first (and ``NicBondResource`` has the daemon re-read them).

Order: the bond and its members, the bridge above it (created, changed or deleted), the master,
then the addresses that come back, the default route, and last the addresses that go (a device
the rollback deleted took its own with it).
"""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, field_changes
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._nic_bond_plan import (
    BOND_FIELDS,
    _plan_bond,
    _plan_members,
)


def _holders(state: dict[str, Any]) -> set[tuple[str, str]]:
    return {(h["device"], h["address"]) for h in ((state.get("address") or {}).get("holders") or [])}


def _plan_restore_bond(current: dict[str, Any], before: dict[str, Any], name: str) -> list[Operation]:
    bond_b, bond_c = before.get("bond"), current.get("bond")
    if bond_b is None:
        return [Operation("delete_bond", name, members=(bond_c or {}).get("members") or [])] if bond_c else []
    want: dict[str, Any] = {f: bond_b.get(f) for f in BOND_FIELDS}
    # an empty ARP target list or no primary are values to put back, not "leave alone"
    want["arp_ip_target"] = list(bond_b.get("arp_ip_target") or [])
    want.update(name=name, members=list(bond_b.get("members") or []), mtu=bond_b.get("mtu"),
                admin_state=bond_b.get("admin_state"))
    if bond_c is None:
        create = {f: bond_b.get(f) for f in BOND_FIELDS}
        create.update(mtu=bond_b.get("mtu"), admin_state=bond_b.get("admin_state"))
        ops = [Operation("create_bond", name, **create)]
        _removes, adds = _plan_members(dict(current, bond=None), want)
        return ops + adds
    ops: list[Operation] = []
    if bond_b.get("primary") is None and bond_c.get("primary") is not None:
        ops.append(Operation("modify_bond", name, changes={"primary": {"before": bond_c["primary"], "after": None}}))
    removes, adds = _plan_members(current, want)
    ops += removes + _plan_bond(current, want, want, removes)
    # a member that stays keeps its own MTU unless the bond's changes (the kernel sets them all)
    if bond_b.get("mtu") == bond_c.get("mtu"):
        links_b, links_c = before.get("links") or {}, current.get("links") or {}
        for member in sorted(set(bond_b.get("members") or []) & set(bond_c.get("members") or [])):
            was, now = (links_b.get(member) or {}).get("mtu"), (links_c.get(member) or {}).get("mtu")
            if was is not None and now is not None and was != now:
                ops.append(Operation("modify_member", member, changes={"mtu": {"before": now, "after": was}}))
    return ops + adds


def _plan_restore_bridge(current: dict[str, Any], before: dict[str, Any], bridge: str | None) -> list[Operation]:
    if not bridge:
        return []
    br_b, br_c = before.get("bridge"), current.get("bridge")
    if br_b is None:
        return [Operation("delete_bridge", bridge)] if br_c is not None else []
    if br_b.get("kind") != "bridge":
        return []  # not a bridge of ours: never touched
    if br_c is None:
        return [Operation("create_bridge", bridge, stp=False, admin_state=br_b.get("admin_state"), mtu=br_b.get("mtu"))]
    changes = field_changes(br_c, br_b, ("admin_state", "mtu"))
    return [Operation("modify_bridge", bridge, changes=changes)] if changes else []


def plan_restore(current: dict[str, Any], before: dict[str, Any], name: str, bridge: str | None) -> list[Operation]:
    """Operations that put back ``before`` (read before the run) from ``current`` (read now)."""
    kind = current.get("kind")
    if kind is not None and kind != "bond":
        raise Conflict("name: %r is now a %s link, not a bond: not rolled back" % (name, kind))
    ops = _plan_restore_bond(current, before, name)
    ops += _plan_restore_bridge(current, before, bridge)
    bond_b, bond_c = before.get("bond"), current.get("bond")
    deleted = {op.target for op in ops if op.action in ("delete_bond", "delete_bridge")}
    if bond_b is not None:
        master_b = bond_b.get("master")
        master_c = (bond_c or {}).get("master") if bond_c is not None else None
        if master_c in deleted:
            master_c = None
        if master_b != master_c:
            ops.append(Operation("set_master", name, changes={"master": {"before": master_c, "after": master_b}}))
    # NICs that are not members before (released by the run, or enslaved by it and released
    # again here): their admin state as it was (enslaving brings a NIC up)
    links_b, links_c = before.get("links") or {}, current.get("links") or {}
    members_b = set((bond_b or {}).get("members") or [])
    for link, was in sorted(links_b.items()):
        now = links_c.get(link)
        if was is None or now is None or link in members_b or not was.get("admin_state"):
            continue
        if now.get("admin_state") != was["admin_state"]:
            ops.append(Operation("set_link_state", link, changes={"admin_state": {
                "before": now.get("admin_state"), "after": was["admin_state"]}}))
    if before.get("address") is not None:
        held_b, held_c = _holders(before), _holders(current)
        for device, address in sorted(held_b - held_c):
            ops.append(Operation("add_address", device, address=address))
        route_b, route_c = before.get("default_route"), current.get("default_route")
        if route_b != route_c:
            if route_b is not None:
                ops.append(Operation("set_gateway", route_b["device"], changes={"default_route": {
                    "before": route_c, "after": route_b}}, gateway=route_b["gateway"]))
            elif route_c["device"] not in deleted:
                ops.append(Operation("delete_default_route", route_c["device"], changes={"default_route": {
                    "before": route_c, "after": None}}, gateway=route_c["gateway"]))
        for device, address in sorted(held_c - held_b):
            if device not in deleted:
                ops.append(Operation("del_address", device, address=address))
    return ops
