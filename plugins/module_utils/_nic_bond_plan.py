# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Planning of nic_bond (pure): the bond's model and the operations that turn the state read
from the host into the desired one (the semantics are listed once, in ``_nic_bond``).

``current`` is what ``NicBondResource.read_current`` returns, ``desired`` what
``normalize_params`` returns; nothing here touches the host.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _persist_net, _persist_nm
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, field_changes
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict, InvalidInput, NotFound
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._files import plan_files
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._netlink import BOND_FIELD_ATTRS
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._nic_bond_nm import (
    hand_to_networkmanager,
    plan_ifenslave_guard,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._persist_bond import (
    NOT_READ_BY_DAEMON,
    SHARED_FILES,
    file_mode,
    persist_config,
    render_files,
)

#: the bond attributes this module manages, in the order they are compared and shown: those of
#: the netlink bond codec
BOND_FIELDS = tuple(BOND_FIELD_ATTRS)
#: what the kernel only changes while the bond is down / has no members
NEEDS_DOWN = ("mode", "lacp_rate", "ad_select")
NEEDS_NO_MEMBERS = ("mode",)
#: a bond created without the option
CREATE_DEFAULTS: dict[str, Any] = dict(_persist_net.OPTION_DEFAULTS, mode="active-backup", miimon=100)
PRIMARY_MODES = ("active-backup", "balance-tlb", "balance-alb")
NO_ARP_MODES = ("802.3ad", "balance-tlb", "balance-alb")
RISK_MOVE = ("the address leaves %s: sessions to it (ssh) can drop if the new carrier has no working "
             "uplink; run from a console or with a fallback")


def effective_bond(current_bond: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
    """The bond attributes after the run: given options over current ones (or create defaults)."""
    base = current_bond or CREATE_DEFAULTS
    eff = {f: desired[f] if desired.get(f) is not None else base.get(f, CREATE_DEFAULTS.get(f)) for f in BOND_FIELDS}
    if current_bond is None and desired.get("arp_interval") and desired.get("miimon") is None:
        eff["miimon"] = 0
    return eff


def check_mode_rules(eff: dict[str, Any], desired: dict[str, Any]) -> None:
    """Options that only make sense in some modes (the kernel refuses them in the others)."""
    mode = eff["mode"]
    if mode != "802.3ad":
        for key in ("lacp_rate", "ad_select"):
            if desired.get(key) is not None:
                raise InvalidInput(key, desired[key], "applies to mode 802.3ad only (the bond's mode is %s)" % mode)
    if desired.get("primary") is not None and mode not in PRIMARY_MODES:
        raise InvalidInput("primary", desired["primary"], "applies to modes %s only (the bond's mode is %s)"
                           % (", ".join(PRIMARY_MODES), mode))
    if desired.get("arp_interval") and mode in NO_ARP_MODES:
        raise InvalidInput("arp_interval", desired["arp_interval"], "is not supported in mode %s (use miimon)" % mode)
    updelay_checks = [k for k in ("updelay", "downdelay") if desired.get(k)]
    for key in updelay_checks:
        if not eff["miimon"]:
            raise InvalidInput(key, desired[key], "needs miimon > 0 (the MII monitor applies it)")
        if desired[key] % eff["miimon"]:
            raise InvalidInput(key, desired[key], "must be a multiple of miimon %d" % eff["miimon"])


def _plan_absent(current: dict[str, Any], desired: dict[str, Any]) -> list[Operation]:
    ops = []
    name = desired["name"]
    bond = current.get("bond")
    if bond is not None:
        ops.append(Operation("delete_bond", name, members=bond.get("members") or []))
    bridge = current.get("bridge")
    if desired.get("bridge") and bridge is not None:
        ops.append(Operation("delete_bridge", desired["bridge"]))
    return ops


def _plan_members(current: dict[str, Any], desired: dict[str, Any]) -> tuple[list[Operation], list[Operation]]:
    """(remove_member ops, add_member ops); refuses missing NICs and NICs enslaved elsewhere."""
    name = desired["name"]
    if desired.get("members") is None:
        return [], []
    have = set((current.get("bond") or {}).get("members") or [])
    links = current.get("links") or {}
    removes, adds = [], []
    for member in sorted(have - set(desired["members"])):
        removes.append(Operation("remove_member", member, changes={"master": {"before": name, "after": None}}))
    for member in desired["members"]:
        if member in have:
            continue
        link = links.get(member)
        if link is None:
            raise NotFound("members: NIC %r does not exist" % member)
        if link.get("kind") in ("bond", "bridge"):
            raise InvalidInput("members", member, "is a %s, not a NIC" % link["kind"])
        if link.get("master") not in (None, name):
            raise Conflict("members: %s is already enslaved to %s; release it there first"
                           % (member, link["master"]))
        adds.append(Operation("add_member", member, changes={"master": {"before": None, "after": name}}))
    return removes, adds


def _plan_bond(current: dict[str, Any], desired: dict[str, Any], eff: dict[str, Any],
               removes: list[Operation]) -> list[Operation]:
    name = desired["name"]
    bond = current.get("bond")
    mtu = desired.get("mtu")
    if bond is None:
        create = {k: eff[k] for k in BOND_FIELDS}
        if mtu is not None:
            create["mtu"] = mtu
        return [Operation("create_bond", name, **create)]
    changes = field_changes(bond, desired, BOND_FIELDS + ("mtu",))
    # admin_state: "up" but in a rollback, which puts back a bond that was down
    want_state = desired.get("admin_state") or "up"
    state_change = ({"admin_state": {"before": bond.get("admin_state"), "after": want_state}}
                    if bond.get("admin_state") != want_state else {})
    if not any(f in changes for f in NEEDS_DOWN):
        changes.update(state_change)
        return [Operation("modify_bond", name, changes=changes)] if changes else []
    # the kernel changes these only while the bond is down (mode: and has no members): one step
    # per host change, so that a failure half-way says exactly what was done
    reenslave = []
    if any(f in changes for f in NEEDS_NO_MEMBERS):
        released = {op.target for op in removes}
        reenslave = [m for m in bond.get("members") or [] if m not in released]
    note = ("the kernel changes %s only while the bond is down%s: traffic through %s stops briefly"
            % (", ".join(f for f in changes if f in NEEDS_DOWN), " and has no members" if reenslave else "", name))
    ops = []
    if bond.get("admin_state") != "down":
        ops.append(Operation("bond_down", name, changes={"admin_state": {"before": bond.get("admin_state"),
                                                                         "after": "down"}}))
    ops += [Operation("release_member", m, changes={"master": {"before": name, "after": None}}) for m in reenslave]
    ops.append(Operation("modify_bond", name, changes=changes))
    ops += [Operation("reenslave_member", m, changes={"master": {"before": None, "after": name}}) for m in reenslave]
    if want_state == "up":
        ops.append(Operation("bond_up", name, changes={"admin_state": {"before": "down", "after": "up"}}))
    ops[0].params["note"] = note
    return ops


def check_member_mtu(current: dict[str, Any], desired: dict[str, Any], added: list[str]) -> None:
    """Refuse, before anything changes, an MTU a member's driver does not accept.

    The kernel gives every member the bond's MTU (and undoes the whole change if one refuses;
    an igb NIC stops at 9216, say): ``mtu`` is checked against every member that will be in the
    bond, and without ``mtu`` the bond's current MTU against the NICs about to be enslaved.
    """
    bond = current.get("bond") or {}
    mtu = desired.get("mtu")
    if mtu is not None:
        members = desired.get("members") if desired.get("members") is not None else bond.get("members") or []
    else:
        mtu, members = bond.get("mtu"), added
    if mtu is None:
        return
    links = current.get("links") or {}
    for member in members:
        link = links.get(member) or {}
        low, high = link.get("min_mtu") or 0, link.get("max_mtu") or 0
        if high and mtu > high or mtu < low:
            accepted = "%d-%s" % (low, high or "any")
            if desired.get("mtu") is not None:
                raise InvalidInput("mtu", mtu, "is refused by member %s (its driver accepts %s; the bond gives "
                                               "its members its MTU)" % (member, accepted))
            raise InvalidInput("members", member, "accepts MTU %s only, not the MTU %d of %s (enslaving gives "
                                                  "it the bond's MTU)" % (accepted, mtu, desired["name"]))


def _plan_member_mtu(current: dict[str, Any], desired: dict[str, Any]) -> list[Operation]:
    """``modify_member`` for members that stay in the bond with an MTU other than ``mtu``.

    Only needed while the bond's own MTU is already right: changing the bond's MTU makes the
    kernel set it on every member (bond_change_mtu), and enslaving a NIC gives it the bond's MTU
    (bond_enslave), so new members and a changed bond need no step of their own.
    """
    mtu, bond = desired.get("mtu"), current.get("bond")
    if mtu is None or bond is None or bond.get("mtu") != mtu:
        return []
    have = bond.get("members") or []
    staying = have if desired.get("members") is None else [m for m in have if m in desired["members"]]
    links = current.get("links") or {}
    ops = []
    for member in sorted(staying):
        before = (links.get(member) or {}).get("mtu")
        if before is not None and before != mtu:
            ops.append(Operation("modify_member", member, changes={"mtu": {"before": before, "after": mtu}}))
    return ops


def _plan_bridge(current: dict[str, Any], desired: dict[str, Any]) -> list[Operation]:
    name, bridge = desired["name"], desired.get("bridge")
    if not bridge:
        return []
    ops = []
    cur = current.get("bridge")
    mtu = desired.get("mtu")
    if cur is not None and cur.get("kind") != "bridge":
        raise Conflict("bridge: %r exists as a %s link, not a Linux bridge" % (bridge, cur.get("kind") or "plain"))
    if cur is None:
        create: dict[str, Any] = {"stp": False, "admin_state": "up"}
        if mtu is not None:
            create["mtu"] = mtu
        ops.append(Operation("create_bridge", bridge, **create))
    else:
        changes = field_changes(cur, {"admin_state": "up", "mtu": mtu}, ("admin_state", "mtu"))
        if changes:
            ops.append(Operation("modify_bridge", bridge, changes=changes))
    master = (current.get("bond") or {}).get("master")
    if master != bridge:
        ops.append(Operation("set_master", name, changes={"master": {"before": master, "after": bridge}}))
    return ops


def _plan_address(current: dict[str, Any], desired: dict[str, Any]) -> list[Operation]:
    address = desired.get("address")
    if not address:
        return []
    carrier = desired.get("bridge") or desired["name"]
    holders = (current.get("address") or {}).get("holders") or []  # [{"device", "address"}]
    exact = any(h["device"] == carrier and h["address"] == address for h in holders)
    others = [h for h in holders if not (h["device"] == carrier and h["address"] == address)]
    ops = []
    route = current.get("default_route")  # {"gateway", "device"} or None
    gateway = desired.get("gateway")
    if others:
        sources = sorted({h["device"] for h in others})
        moved_gateway = gateway
        if moved_gateway is None and route and route.get("device") in sources:
            moved_gateway = route["gateway"]  # the default route through the old carrier moves too
        ops.append(Operation("move_address", address, changes={"device": {"before": sources, "after": carrier}},
                             device=carrier, sources=others, gateway=moved_gateway,
                             risk=RISK_MOVE % ", ".join(sources), add=not exact))
        if moved_gateway is not None:
            return ops
    elif not exact:
        ops.append(Operation("add_address", carrier, address=address))
    want_route = {"gateway": gateway, "device": carrier}
    if gateway is not None and route != want_route:
        ops.append(Operation("set_gateway", carrier, changes={"default_route": {"before": route, "after": want_route}},
                             gateway=gateway))
    return ops


def plan_nic_bond(current: dict[str, Any], desired: dict[str, Any]) -> list[Operation]:
    """Operations turning ``current`` (see NicBondResource.read_current) into ``desired``. Pure."""
    name = desired["name"]
    bond = current.get("bond")
    kind = current.get("kind")
    if kind is not None and kind != "bond":
        raise Conflict("name: %r already exists as a %s link, not a bond; remove it or pick another name" % (name, kind))
    stack = current.get("persist") or "none"
    if desired["state"] == "absent":
        ops = _plan_absent(current, desired)
        if stack != "none":
            paths = current.get("files") or {}
            # shared by every bond of the host: never removed
            want = {p: None for p in paths if p not in SHARED_FILES}
            ops += plan_files(paths, want)
    else:
        eff = effective_bond(bond, desired)
        check_mode_rules(eff, desired)
        if desired.get("primary") is not None:
            members = desired.get("members") if desired.get("members") is not None else (bond or {}).get("members")
            if desired["primary"] not in (members or []):
                raise InvalidInput("primary", desired["primary"], "is not a member of bond %s" % name)
        removes, adds = _plan_members(current, desired)
        check_member_mtu(current, desired, [op.target for op in adds])
        ops = removes + _plan_bond(current, desired, eff, removes) + _plan_member_mtu(current, desired) + adds
        ops += _plan_bridge(current, desired) + _plan_address(current, desired)
        if stack != "none":
            members = desired.get("members")
            if members is None:
                members = (bond or {}).get("members") or []
            files = current.get("files") or {}
            want = render_files(stack, persist_config(desired, eff, list(members)), files)
            written = plan_files(files, want, file_mode(stack))
            if stack == "nm":  # the hook guarded before the profiles, the modprobe option with them
                written = (plan_ifenslave_guard(current, desired) + written
                           + plan_files(files, {_persist_nm.MODPROBE: _persist_nm.MODPROBE_CONTENT}))
            ops += written
    if stack != "none" and current.get("reload") and any(
            op.action.endswith("_file") and op.target not in NOT_READ_BY_DAEMON for op in ops):
        ops.append(Operation("reload", stack, command=_persist_net.RELOAD_COMMANDS[stack]))
    if stack == "nm" and current.get("reload"):
        return hand_to_networkmanager(ops, desired)
    return ops
