# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nic_bond resource: a Linux bond of host NICs, optionally under a Linux bridge that
carries the host's address (pattern 11 of the seed: ``mode=1 miimon=100``, bond0 -> br1 with
IPADDR/NETMASK), applied over netlink and persisted for the network stack in use.

Semantics (listed once, the module documentation repeats them):

* bond options not given are left as they are on an existing bond; a bond created without
  them gets ``mode=active-backup miimon=100`` and the kernel's defaults.
* ``members`` is the complete member set when given: listed NICs are enslaved, members not
  listed are released (never deleted). Without ``members`` the members are left alone.
* the kernel changes ``mode`` only while the bond is down and has no members, and
  ``lacp_rate`` / ``ad_select`` only while it is down: such a change is planned as one
  ``modify_bond`` step that sets the bond down, releases the members (mode only), changes the
  attributes, re-enslaves the members and brings the bond up again (traffic stops meanwhile).
* ``mtu`` is the MTU of the bond and, when ``bridge`` is given, of the bridge (set explicitly, so
  it stays when other ports join). The kernel gives a NIC the bond's MTU when it is enslaved and
  sets every member when the bond's MTU changes; a member whose MTU differs while the bond's is
  already right gets its own ``modify_member`` step. Without ``mtu`` no MTU is touched or written.
* ``address`` goes on the bridge (or on the bond without bridge). When the host already holds
  that address on another interface (a NIC about to become a member, say), the plan has one
  ``move_address`` step: add it to the new carrier, remove it from the old one, and move the
  default route with it. This is where a remote session can be lost.
* persisted files describe exactly the bond, members, bridge and address given; they are
  written only when their content changes, and the daemon re-reads them only then.
"""

from __future__ import annotations

import copy
import ipaddress
import os
import shutil
import socket
import subprocess
import time
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import (
    _canon,
    _persist_ifcfg,
    _persist_ifupdown,
    _persist_net,
    _persist_networkd,
    _persist_nm,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, field_changes
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    BackendUnavailable,
    Conflict,
    InvalidInput,
    NotFound,
    Unsupported,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._files import (
    apply_file_operation,
    host_path,
    plan_files,
    read_files,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._netlink import NetlinkResource

#: kernel names of the bond modes, by number (include/uapi/linux/if_bonding.h)
MODES = ("balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb")
LACP_RATES = ("slow", "fast")
XMIT_HASH_POLICIES = ("layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4", "vlan+srcmac")
AD_SELECTS = ("stable", "bandwidth", "count")
#: the bond attributes this module manages, in the order they are compared and shown
BOND_FIELDS = ("mode", "miimon", "updelay", "downdelay", "lacp_rate", "xmit_hash_policy", "ad_select",
               "primary", "arp_interval", "arp_ip_target")
#: what the kernel only changes while the bond is down / has no members
NEEDS_DOWN = ("mode", "lacp_rate", "ad_select")
NEEDS_NO_MEMBERS = ("mode",)
#: a bond created without the option
CREATE_DEFAULTS: dict[str, Any] = dict(_persist_net.OPTION_DEFAULTS, mode="active-backup", miimon=100)
PRIMARY_MODES = ("active-backup", "balance-tlb", "balance-alb")
NO_ARP_MODES = ("802.3ad", "balance-tlb", "balance-alb")
MAX_ARP_TARGETS = 16
#: what the kernel accepts for an Ethernet-like device (ETH_MIN_MTU, the IFLA_MTU u16 ceiling)
MTU_MIN, MTU_MAX = 68, 65535
#: a bond's MTU when created without one (ether_setup)
KERNEL_DEFAULT_MTU = 1500
PERSIST_CHOICES = ("auto", "none") + _persist_net.STACKS
RENDERERS = {"networkd": _persist_networkd, "nm": _persist_nm, "ifcfg": _persist_ifcfg,
             "ifupdown": _persist_ifupdown}
FILE_MODES = {"nm": 0o600}
#: seconds nmcli waits for the activation, and how long the read-back waits for NetworkManager's
#: asynchronous steps (members enslaved, MTU, addresses) after it
NM_ACTIVATE_WAIT = 90
NM_VERIFY_SECONDS = 30
#: how long an activation NetworkManager started by itself may run before nic_bond goes on
NM_SETTLE_SECONDS, NM_POLL = 30, 0.5
NM_AUTOCONNECT_GRACE = 2.0
#: files every bond of the host shares: written, never removed with a bond
SHARED_FILES = (_persist_ifupdown.INTERFACES, _persist_nm.MODPROBE, _persist_nm.IFENSLAVE_HOOK)
#: files the network daemon does not read: no reload for them
NOT_READ_BY_DAEMON = (_persist_nm.MODPROBE, _persist_nm.IFENSLAVE_HOOK)
#: in the files nic_bond writes (an older version of a file of ours)
HEADER_LINE = _persist_net.HEADER.strip()
RISK_MOVE = ("the address leaves %s: sessions to it (ssh) can drop if the new carrier has no working "
             "uplink; run from a console or with a fallback")


# -- canonical forms ------------------------------------------------------------------------
def canonical_mode(value: Any) -> str | None:
    """A bond mode by name or number (``1``, ``"1"``, ``active-backup``) -> kernel name."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text.isdigit() and int(text) < len(MODES):
        return MODES[int(text)]
    if text in MODES:
        return text
    raise InvalidInput("mode", value, "is not a bond mode (one of %s, or 0-6)" % ", ".join(MODES))


def canonical_address(value: Any) -> str | None:
    """``ip/prefix`` (IPv4 or IPv6) with the prefix required."""
    if value is None:
        return None
    text = str(value).strip()
    if "/" not in text:
        raise InvalidInput("address", value, "has no prefix length (write it as 192.168.20.200/24)")
    try:
        return str(ipaddress.ip_interface(text))
    except ValueError:
        raise InvalidInput("address", value, "is not an IP address with prefix length") from None


def canonical_mtu(value: Any) -> int | None:
    """The MTU in bytes, 68 to 65535; None leaves the MTU alone."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("mtu", value, "is not an integer (the MTU in bytes, %d-%d)" % (MTU_MIN, MTU_MAX))
    if not MTU_MIN <= value <= MTU_MAX:
        raise InvalidInput("mtu", value, "is out of range (%d-%d)" % (MTU_MIN, MTU_MAX))
    return value


def _uint(params: dict[str, Any], key: str) -> int | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(key, value, "must be a non-negative integer (milliseconds)")
    return value


def normalize_params(p: dict[str, Any]) -> dict[str, Any]:
    """Validate the module parameters and return the canonical desired state."""
    name = _canon.ifname(p["name"], "name")
    d: dict[str, Any] = {"name": name, "state": p.get("state") or "present", "mode": canonical_mode(p.get("mode"))}
    for key in ("miimon", "updelay", "downdelay", "arp_interval"):
        d[key] = _uint(p, key)
    for key, choices in (("lacp_rate", LACP_RATES), ("xmit_hash_policy", XMIT_HASH_POLICIES),
                         ("ad_select", AD_SELECTS)):
        value = p.get(key)
        if value is not None and value not in choices:
            raise InvalidInput(key, value, "is not one of %s" % ", ".join(choices))
        d[key] = value
    d["primary"] = _canon.ifname(p["primary"], "primary") if p.get("primary") is not None else None
    targets = p.get("arp_ip_target")
    if targets is not None:
        canon = []
        for target in targets:
            try:
                canon.append(str(ipaddress.IPv4Address(str(target).strip())))
            except ValueError:
                raise InvalidInput("arp_ip_target", target, "is not an IPv4 address") from None
        if len(set(canon)) > MAX_ARP_TARGETS:
            raise InvalidInput("arp_ip_target", targets, "has more than %d addresses" % MAX_ARP_TARGETS)
        targets = sorted(set(canon), key=ipaddress.IPv4Address)
    d["arp_ip_target"] = targets
    members = p.get("members")
    if members is not None:
        members = [_canon.ifname(m, "members") for m in members]
        if len(set(members)) != len(members):
            raise InvalidInput("members", p.get("members"), "lists a NIC twice")
        if name in members:
            raise InvalidInput("members", name, "is the bond itself")
        members = sorted(members)
    d["members"] = members
    d["bridge"] = _canon.ifname(p["bridge"], "bridge") if p.get("bridge") is not None else None
    if d["bridge"] is not None and (d["bridge"] == name or d["bridge"] in (members or [])):
        raise InvalidInput("bridge", d["bridge"], "is the bond or one of its members; name the bridge above the bond")
    d["address"] = canonical_address(p.get("address"))
    gateway = p.get("gateway")
    if gateway is not None:
        if d["address"] is None:
            raise InvalidInput("gateway", gateway, "needs address (the gateway must be reachable on it)")
        try:
            gw = ipaddress.ip_address(str(gateway).strip())
        except ValueError:
            raise InvalidInput("gateway", gateway, "is not an IP address") from None
        net = ipaddress.ip_interface(d["address"]).network
        if gw.version != net.version or gw not in net:
            raise InvalidInput("gateway", gateway, "is not in the subnet %s of address %s" % (net, d["address"]))
        gateway = str(gw)
    d["gateway"] = gateway
    d["mtu"] = canonical_mtu(p.get("mtu"))
    if d["miimon"] and d["arp_interval"]:
        raise InvalidInput("arp_interval", d["arp_interval"],
                           "cannot be used with miimon %d: the kernel runs one link monitor (set one to 0)" % d["miimon"])
    if d["arp_interval"] and not d["arp_ip_target"] and d["arp_ip_target"] is not None:
        raise InvalidInput("arp_ip_target", [], "must list at least one address when arp_interval is set")
    persist = p.get("persist") or "auto"
    if persist not in PERSIST_CHOICES:
        raise InvalidInput("persist", persist, "is not one of %s" % ", ".join(PERSIST_CHOICES))
    if p.get("netns") and persist not in ("auto", "none"):
        raise InvalidInput("persist", persist, "cannot be used with netns: the files configure the host namespace")
    d["persist"] = "none" if p.get("netns") else persist
    d["divert_ifenslave_hook"] = p.get("divert_ifenslave_hook") is not False
    return d


# -- planning (pure) --------------------------------------------------------------------------
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


def persist_config(desired: dict[str, Any], eff: dict[str, Any], members: list[str]) -> dict[str, Any]:
    """The configuration the renderers take (see ``_persist_net``)."""
    return {"name": desired["name"], "mode": eff["mode"], "members": members, "bridge": desired.get("bridge"),
            "address": desired.get("address"), "gateway": desired.get("gateway"), "mtu": desired.get("mtu"),
            "options": {k: eff[k] for k in BOND_FIELDS if k != "mode"}}


def render_files(stack: str, config: dict[str, Any], current_files: dict[str, str | None],
                 remove: bool = False) -> dict[str, str | None]:
    """Desired ``{path: content}`` for ``stack``; every path None (removed) when ``remove``."""
    renderer = RENDERERS[stack]
    if remove:
        return {path: None for path in renderer.paths(config)}
    if stack == "ifupdown":
        return renderer.render(config, current_files.get(_persist_ifupdown.INTERFACES))
    return renderer.render(config)


def file_paths(stack: str, desired: dict[str, Any], current_members: list[str]) -> list[str]:
    """Paths read for ``stack`` (current and desired members, the interfaces file for ifupdown)."""
    members = sorted(set(desired.get("members") or []) | set(current_members))
    config = {"name": desired["name"], "members": members, "bridge": desired.get("bridge")}
    out = list(RENDERERS[stack].paths(config))
    if stack == "ifupdown":
        out.append(_persist_ifupdown.INTERFACES)
    if stack == "nm":
        out.append(_persist_nm.MODPROBE)
    return out


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
    if bond.get("admin_state") != "up":
        changes["admin_state"] = {"before": bond.get("admin_state"), "after": "up"}
    if not changes:
        return []
    params: dict[str, Any] = {}
    if any(f in changes for f in NEEDS_DOWN):
        params["set_down"] = True
    if any(f in changes for f in NEEDS_NO_MEMBERS):
        released = {op.target for op in removes}
        params["reenslave"] = [m for m in bond.get("members") or [] if m not in released]
    if params:
        params["note"] = ("the kernel changes %s only while the bond is down%s: traffic through %s stops "
                          "briefly" % (", ".join(f for f in changes if f in NEEDS_DOWN),
                                       " and has no members" if "reenslave" in params else "", name))
    return [Operation("modify_bond", name, changes=changes, **params)]


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
            written = plan_files(files, want, FILE_MODES.get(stack, 0o644))
            if stack == "nm":  # the hook guarded before the profiles, the modprobe option with them
                written = (_plan_ifenslave_guard(current, desired) + written
                           + plan_files(files, {_persist_nm.MODPROBE: _persist_nm.MODPROBE_CONTENT}))
            ops += written
    if stack != "none" and current.get("reload") and any(
            op.action.endswith("_file") and op.target not in NOT_READ_BY_DAEMON for op in ops):
        ops.append(Operation("reload", stack, command=_persist_net.RELOAD_COMMANDS[stack]))
    if stack == "nm" and current.get("reload"):
        return hand_to_networkmanager(ops, desired)
    return ops


def _plan_ifenslave_guard(current: dict[str, Any], desired: dict[str, Any]) -> list[Operation]:
    """Divert ifenslave's post-down hook where NetworkManager's dispatcher runs it (see _persist_nm).

    Read only when the dispatcher script is there (``nm_runs_ifupdown_hooks``); nothing to do
    without ifenslave. An older guard of ours is rewritten in place (already diverted).
    """
    files = current.get("files") or {}
    hook = files.get(_persist_nm.IFENSLAVE_HOOK)
    if not current.get("nm_runs_ifupdown_hooks") or hook is None or hook == _persist_nm.IFENSLAVE_GUARD:
        return []
    ours = HEADER_LINE in hook
    if not desired["divert_ifenslave_hook"]:
        if ours:
            return []
        raise Conflict("divert_ifenslave_hook: false, but NetworkManager's dispatcher %s runs ifenslave's "
                       "post-down hook %s for the interfaces NetworkManager manages, and it releases the ports of "
                       "the bonds NetworkManager activates and deletes them (Debian bug #982841); set "
                       "divert_ifenslave_hook to true, or remove the package ifenslave if no ifupdown bond needs it"
                       % (_persist_nm.NM_IFUPDOWN_DISPATCHER, _persist_nm.IFENSLAVE_HOOK))
    ops = []
    if not ours:
        ops.append(Operation("divert_file", _persist_nm.IFENSLAVE_HOOK,
                             {"diverted_to": {"before": None, "after": _persist_nm.IFENSLAVE_HOOK_DIVERTED}}))
    return ops + plan_files(files, {_persist_nm.IFENSLAVE_HOOK: _persist_nm.IFENSLAVE_GUARD}, 0o755)


def hand_to_networkmanager(ops: list[Operation], desired: dict[str, Any]) -> list[Operation]:
    """NetworkManager runs and owns the profiles: it brings the links up, not netlink.

    Changing the live bond over netlink while NetworkManager activates the profiles it has just
    re-read races with it (it releases and re-enslaves members on its own, and a member was left
    out). So the live steps stay in the plan (they are what changes) but are marked
    ``by: NetworkManager``; the files are written, NetworkManager re-reads them, and one
    ``activate`` step has NetworkManager apply them (see ``NicBondResource._activate``).
    Addresses NetworkManager does not own (the moved address still on a NIC that is not a
    member) are removed after. For ``state: absent`` the profiles go first, then the links
    that are still there.
    """
    live = [op for op in ops if not op.action.endswith("_file") and op.action != "reload"]
    persist = [op for op in ops if op.action.endswith("_file") or op.action == "reload"]
    if not live:
        return ops
    if desired["state"] == "absent":
        return persist + live
    for op in live:
        op.params["by"] = "NetworkManager"
    leftovers, gateway = [], None
    for op in live:
        if op.action == "move_address":
            leftovers += op.params["sources"]
            if op.params.get("gateway") and not desired.get("gateway"):
                gateway = op.params["gateway"]  # the default route moved with the address (not in the profile)
    bond, bridge = desired["name"], desired.get("bridge")
    activate = Operation("activate", _persist_nm.connection_id(bond),
                         bond=bond, bridge=bridge, device=bridge or bond, leftovers=leftovers, gateway=gateway)
    return live + persist + [activate]


def bonding_available(modules_root: str = "/lib/modules", sys_module: str = "/sys/module") -> bool:
    """Whether the kernel has bonding: loaded, built in, or a module the kernel can load."""
    if os.path.isdir(os.path.join(sys_module, "bonding")):
        return True
    base = os.path.join(modules_root, os.uname().release)
    for index in ("modules.dep", "modules.builtin"):
        try:
            with open(os.path.join(base, index), encoding="utf-8") as handle:
                if any(line.split(":")[0].endswith("/bonding.ko") or "/bonding.ko." in line.split(":")[0]
                       for line in handle):
                    return True
        except OSError:
            continue
    return False


# -- the resource -----------------------------------------------------------------------------
def _decode_bond(raw: dict[str, Any], name_of: Any) -> dict[str, Any]:
    def pick(table: tuple[str, ...], value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        return table[value] if 0 <= value < len(table) else str(value)

    return {
        "mode": pick(MODES, raw.get("mode")),
        "miimon": raw.get("miimon"),
        "updelay": raw.get("updelay"),
        "downdelay": raw.get("downdelay"),
        "lacp_rate": pick(LACP_RATES, raw.get("ad_lacp_rate")),
        "xmit_hash_policy": pick(XMIT_HASH_POLICIES, raw.get("xmit_hash_policy")),
        "ad_select": pick(AD_SELECTS, raw.get("ad_select")),
        "primary": name_of(raw["primary"]) if raw.get("primary") else None,
        "arp_interval": raw.get("arp_interval"),
        "arp_ip_target": sorted(raw.get("arp_ip_target") or [], key=ipaddress.IPv4Address),
    }


def _encode_bond(fields: dict[str, Any], index_of: Any) -> dict[str, Any]:
    """Kernel attributes (pyroute2 bond_* names without the prefix) for the given fields."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if value is None or key not in BOND_FIELDS:
            continue
        if key == "mode":
            out["mode"] = MODES.index(value)
        elif key == "lacp_rate":
            out["ad_lacp_rate"] = LACP_RATES.index(value)
        elif key == "xmit_hash_policy":
            out["xmit_hash_policy"] = XMIT_HASH_POLICIES.index(value)
        elif key == "ad_select":
            out["ad_select"] = AD_SELECTS.index(value)
        elif key == "primary":
            out["primary"] = index_of(value)
        else:
            out[key] = value
    return out


class NicBondResource(NetlinkResource):
    """A bond (and the bridge above it) in the host namespace or a named netns.

    Hidden testing hooks, not module options: ``persist_root`` (where files are read and
    written, default ``/``), ``proc_root`` (where running daemons are looked for).
    """

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.root = params.get("persist_root") or "/"
        self.desired: dict[str, Any] = {}
        self._nm_reloaded = 0.0  # time.monotonic() of the last ``nmcli connection reload``

    def diff_header(self) -> str:
        return "bond %s%s" % (self.params["name"], self.nl.where)

    def normalize(self) -> dict[str, Any]:
        self.desired = normalize_params(self.params)
        return self.desired

    # -- reading ---------------------------------------------------------------------------
    def _name_of(self, index: int | None) -> str | None:
        if not index:
            return None
        link = self.nl.link(index=index)
        return link["name"] if link else str(index)

    def _stack(self) -> str:
        stack = self.desired["persist"]
        if stack != "auto":
            return stack
        found = _persist_net.detect_stack(self.root, daemons=_persist_net.running_daemons(
            self.params.get("proc_root") or "/proc"))
        if found is None:
            raise Unsupported("persist: auto found no network configuration stack (no NetworkManager or "
                              "systemd-networkd running, no /etc/network/interfaces, no "
                              "/etc/sysconfig/network-scripts); set persist to a stack or to none")
        return found

    def read_current(self) -> dict[str, Any]:
        d = self.desired
        name = d["name"]
        link = self.nl.link(name)
        current: dict[str, Any] = {"name": name, "kind": None, "bond": None, "bridge": None, "links": {},
                                   "address": None, "default_route": None, "persist": "none", "files": {}}
        if link is not None:
            current["kind"] = link["kind"] or "plain"
            if link["kind"] == "bond":
                ifindex = link["ifindex"]
                bond = _decode_bond(link.get("bond") or {}, self._name_of)
                bond["members"] = sorted(l["name"] for l in self.nl.links() if l.get("master_index") == ifindex)
                bond["master"] = self._name_of(link.get("master_index"))
                bond["admin_state"] = link["admin_state"]
                bond["mtu"] = link["mtu"]
                current["bond"] = bond
        elif d["state"] == "present" and not bonding_available(
                self.params.get("modules_root") or "/lib/modules", self.params.get("sys_module") or "/sys/module"):
            raise Unsupported("name: cannot create bond %s: the running kernel (%s) has no bonding support; "
                              "the 'bonding' kernel module is neither loaded nor installed (modprobe bonding)"
                              % (name, os.uname().release))
        # the NICs asked for and the bond's members now (their MTU is compared with mtu)
        for member in sorted(set(d.get("members") or []) | set((current["bond"] or {}).get("members") or [])):
            mlink = self.nl.link(member)
            current["links"][member] = None if mlink is None else {
                "kind": mlink["kind"], "master": self._name_of(mlink.get("master_index")), "mtu": mlink["mtu"],
                "min_mtu": mlink.get("min_mtu"), "max_mtu": mlink.get("max_mtu")}
        if d.get("bridge"):
            blink = self.nl.link(d["bridge"])
            if blink is not None:
                current["bridge"] = {"name": blink["name"], "kind": blink["kind"] or "plain",
                                     "admin_state": blink["admin_state"], "mtu": blink["mtu"]}
        if d.get("address") and d["state"] == "present":
            ip = d["address"].split("/")[0]
            holders = [{"device": self._name_of(a["index"]), "address": a["address"]}
                       for a in self.nl.addresses() if a["address"].split("/")[0] == ip]
            current["address"] = {"holders": sorted(holders, key=lambda h: (h["device"], h["address"]))}
            family = socket.AF_INET if ipaddress.ip_interface(d["address"]).version == 4 else socket.AF_INET6
            routes = self.nl.default_routes(family)
            if routes:
                current["default_route"] = {"gateway": routes[0]["gateway"], "device": self._name_of(routes[0]["oif"])}
        stack = self._stack()
        current["persist"] = stack
        if stack != "none":
            paths = file_paths(stack, d, (current["bond"] or {}).get("members") or [])
            if stack == "nm" and d["state"] == "present" and os.access(
                    host_path(_persist_nm.NM_IFUPDOWN_DISPATCHER, self.root), os.X_OK):
                current["nm_runs_ifupdown_hooks"] = True
                paths.append(_persist_nm.IFENSLAVE_HOOK)
            current["files"] = read_files(paths, self.root)
            daemon = _persist_net.DAEMONS.get(stack)
            current["reload"] = bool(daemon) and daemon in _persist_net.running_daemons(
                self.params.get("proc_root") or "/proc")
        return current

    def plan(self, current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Operation]:
        return plan_nic_bond(current or {}, desired)

    def predict(self, current: dict[str, Any] | None, desired: dict[str, Any],
                operations: list[Operation]) -> dict[str, Any] | None:
        after = copy.deepcopy(current or {})
        if desired["state"] == "absent":
            after.update(bond=None, kind=None)
        else:
            bond = dict(effective_bond(after.get("bond"), desired))
            old = after.get("bond") or {}
            bond["members"] = desired["members"] if desired.get("members") is not None else old.get("members", [])
            bond["master"] = desired.get("bridge") or old.get("master")
            bond["admin_state"] = "up"
            mtu = desired.get("mtu")
            bond["mtu"] = mtu if mtu is not None else old.get("mtu") or KERNEL_DEFAULT_MTU
            after.update(bond=bond, kind="bond")
            # the kernel gives every member the bond's MTU: when enslaved, and when the bond's changes
            links = after.setdefault("links", {})
            for member in bond["members"]:
                if links.get(member) is not None and (mtu is not None or member not in (old.get("members") or [])):
                    links[member] = dict(links[member], mtu=bond["mtu"], master=desired["name"])
            # what read_current will list: the NICs asked for and the members (not the released ones)
            after["links"] = {m: links[m] for m in sorted(set(desired.get("members") or []) | set(bond["members"]))
                              if m in links}
            if desired.get("bridge"):
                old_bridge = after.get("bridge") or {}
                # without mtu a new bridge takes its port's MTU (the kernel's auto-adjust)
                bridge_mtu = mtu if mtu is not None else old_bridge.get("mtu") or bond["mtu"]
                after["bridge"] = {"name": desired["bridge"], "kind": "bridge", "admin_state": "up",
                                   "mtu": bridge_mtu}
            if desired.get("address"):
                carrier = desired.get("bridge") or desired["name"]
                after["address"] = {"holders": [{"device": carrier, "address": desired["address"]}]}
                for op in operations:
                    if op.action == "move_address" and op.params.get("gateway"):
                        after["default_route"] = {"gateway": op.params["gateway"], "device": carrier}
                if desired.get("gateway"):
                    after["default_route"] = {"gateway": desired["gateway"], "device": carrier}
        files = dict(after.get("files") or {})
        for op in operations:
            if op.action == "write_file":
                files[op.target] = op.params["content"]
            elif op.action == "remove_file":
                files[op.target] = None
        after["files"] = files
        return after

    # -- applying --------------------------------------------------------------------------
    def _index(self, name: str) -> int:
        index = self.nl.index(name)
        if index is None:
            raise NotFound("%s does not exist%s" % (name, self.nl.where))
        return index

    def _enslave(self, member: str, master: str) -> None:
        index = self._index(member)
        # the kernel enslaves a NIC only while it is down
        self.nl.set_link(index, "setting %s down" % member, state="down")
        self.nl.set_link(index, "enslaving %s to %s" % (member, master), master=self._index(master))
        self.nl.set_link(index, "setting %s up" % member, state="up")

    def _set_mtu(self, name: str, mtu: int, index: int | None = None, what: str = "") -> None:
        self.nl.set_link(self._index(name) if index is None else index,
                         "setting the MTU of %s%s to %d" % (name, what, mtu), mtu=mtu)

    def apply_operation(self, op: Operation) -> None:
        a, target, p = op.action, op.target, op.params
        if p.get("by") == "NetworkManager":
            return  # the activate step makes NetworkManager do it
        if apply_file_operation(op, self.root):
            return
        if a == "create_bond":
            # kernel defaults are not sent: options of other modes (lacp_rate in active-backup...)
            # are refused by the kernel even when they carry the default value
            attrs = _encode_bond({k: v for k, v in p.items() if k in ("mode", "miimon") or (
                k != "primary" and v != _persist_net.OPTION_DEFAULTS.get(k))}, self._index)
            try:
                self.nl.add_link(target, "bond", **{"bond_" + k: v for k, v in attrs.items()})
            except Unsupported as exc:
                raise Unsupported("%s; is the 'bonding' kernel module available?" % exc.msg) from exc
            index = self._index(target)
            if p.get("primary"):
                self.nl.set_bond(index, "setting primary of %s" % target, primary=self._index(p["primary"]))
            if p.get("mtu"):
                self._set_mtu(target, p["mtu"], index)
            self.nl.set_link(index, "setting %s up" % target, state="up")
        elif a == "modify_bond":
            index = self._index(target)
            attrs = _encode_bond({k: v["after"] for k, v in op.changes.items()}, self._index)
            if p.get("set_down"):
                self.nl.set_link(index, "setting %s down" % target, state="down")
            for member in p.get("reenslave") or []:
                self.nl.set_link(self._index(member), "releasing %s" % member, master=0)
            if attrs:
                self.nl.set_bond(index, "changing bond %s" % target, **attrs)
            if "mtu" in op.changes:
                # the kernel sets the members too (and undoes it all if one refuses); the members
                # re-enslaved below get the bond's MTU when enslaved
                self._set_mtu(target, op.changes["mtu"]["after"], index, " and its members")
            for member in p.get("reenslave") or []:
                self._enslave(member, target)
            self.nl.set_link(index, "setting %s up" % target, state="up")
        elif a == "add_member":
            self._enslave(target, op.changes["master"]["after"])
        elif a == "remove_member":
            self.nl.set_link(self._index(target), "releasing %s" % target, master=0)
        elif a == "modify_member":
            self._set_mtu(target, op.changes["mtu"]["after"])
        elif a == "create_bridge":
            self.nl.add_link(target, "bridge")  # STP is off by default
            index = self._index(target)
            if p.get("mtu"):
                # set after creation (not as IFLA_MTU of the new link) so the kernel counts it as
                # chosen by the user and keeps it when ports join (no MTU auto-adjust)
                self._set_mtu(target, p["mtu"], index)
            self.nl.set_link(index, "setting %s up" % target, state="up")
        elif a == "modify_bridge":
            index = self._index(target)
            if "mtu" in op.changes:
                self._set_mtu(target, op.changes["mtu"]["after"], index)
            self.nl.set_link(index, "setting %s up" % target, state="up")
        elif a == "set_master":
            after = op.changes["master"]["after"]
            self.nl.set_link(self._index(target), "attaching %s to %s" % (target, after), master=self._index(after))
        elif a == "add_address":
            self.nl.add_address(self._index(target), p["address"], "adding %s to %s" % (p["address"], target))
        elif a == "move_address":
            carrier = self._index(p["device"])
            if p.get("add", True):
                self.nl.add_address(carrier, target, "adding %s to %s" % (target, p["device"]))
            for holder in p["sources"]:
                self.nl.del_address(self._index(holder["device"]), holder["address"],
                                    "removing %s from %s" % (holder["address"], holder["device"]))
            if p.get("gateway"):
                self._route(p["gateway"], carrier, p["device"])
        elif a == "set_gateway":
            self._route(p["gateway"], self._index(target), target)
        elif a in ("delete_bond", "delete_bridge"):
            index = self.nl.index(target)
            if index is not None:  # else already gone (NetworkManager removes the links of a removed profile)
                self.nl.del_link(index, "deleting %s %s" % (a.split("_")[1], target))
        elif a == "reload":
            self._run(p["command"])
            if target == "nm":
                self._wait_for_networkmanager()
                self._nm_reloaded = time.monotonic()
        elif a == "activate":
            self._activate(p)
        elif a == "divert_file":
            # the package's file moves aside (and its upgrades go there); the guard is written next
            command = ["dpkg-divert", "--local", "--rename", "--divert", op.changes["diverted_to"]["after"],
                       "--add", target]
            if self.root != "/":
                command[1:1] = ["--root", self.root]
            self._run(command)
        else:  # pragma: no cover - plan and apply are written together
            raise NotImplementedError(a)

    def _route(self, gateway: str, index: int, device: str) -> None:
        family = socket.AF_INET if ipaddress.ip_address(gateway).version == 4 else socket.AF_INET6
        self.nl.replace_default_route(family, gateway, index, "default route via %s dev %s" % (gateway, device))

    def _activate(self, p: dict[str, Any]) -> None:
        """NetworkManager applies the profiles: the bridge first, then the bond and its members.

        Each ``nmcli`` call waits for its activation. Before a profile is touched, an activation
        NetworkManager started on its own (autoconnect after the reload) is left to finish rather
        than superseded half-way.
        An active bridge gets ``nmcli device reapply`` (address, MTU; no port is dropped), or is
        re-activated when NetworkManager cannot reapply the change; an active bond is taken down
        and brought up again (``autoconnect-slaves`` brings the members up with it).
        """
        self._wait_for_networkmanager()
        # NetworkManager starts autoconnecting new profiles shortly after a reload: let it begin
        pause = NM_AUTOCONNECT_GRACE - (time.monotonic() - self._nm_reloaded) if self._nm_reloaded else 0
        if pause > 0:
            time.sleep(pause)
        if p.get("bridge"):
            bridge_id = _persist_nm.connection_id(p["bridge"])
            if (self._nm_settled_state(bridge_id) != "activated"
                    or self._nmcli(["device", "reapply", p["bridge"]], check=False).returncode):
                self._nmcli(["--wait", str(NM_ACTIVATE_WAIT), "connection", "up", "id", bridge_id])
        bond_id = _persist_nm.connection_id(p["bond"])
        index = self.nl.index(p["bond"])
        if self._nm_settled_state(bond_id) == "activated":
            # taken down first and brought up again: one clean activation with the new profile
            self._nmcli(["--wait", str(NM_ACTIVATE_WAIT), "connection", "down", "id", bond_id])
        elif index is not None:
            # a bond NetworkManager did not create from the profile (made over netlink before,
            # by hand, or by the bonding module on load) is deleted, and NetworkManager creates
            # it from the profile with all of its settings instead of taking over a device whose
            # options it did not set.
            self.nl.del_link(index, "deleting bond %s (not NetworkManager's) so that NetworkManager creates it"
                             % p["bond"])
            time.sleep(NM_POLL)
        self._nmcli(["--wait", str(NM_ACTIVATE_WAIT), "connection", "up", "id", bond_id])
        held = {(x["index"], x["address"]) for x in self.nl.addresses()} if p.get("leftovers") else set()
        for holder in p.get("leftovers") or []:
            index = self.nl.index(holder["device"])
            if (index, holder["address"]) in held:
                self.nl.del_address(index, holder["address"],
                                    "removing %s from %s" % (holder["address"], holder["device"]))
        if p.get("gateway"):
            self._route(p["gateway"], self._index(p["device"]), p["device"])

    def _nm_settled_state(self, connection: str) -> str:
        """The profile's activation state once it is not activating or deactivating (bounded)."""
        state = ""
        for dummy in range(int(NM_SETTLE_SECONDS / NM_POLL)):
            state = self._nmcli(["-g", "GENERAL.STATE", "connection", "show", "id", connection],
                                check=False).stdout.strip()
            if state not in ("activating", "deactivating"):
                return state
            time.sleep(NM_POLL)
        return state

    @classmethod
    def _nmcli(cls, args: list[str], check: bool = True) -> subprocess.CompletedProcess:
        """nmcli with an argument list (see ``_run``)."""
        return cls._run(["nmcli"] + args, check)

    def _wait_for_networkmanager(self) -> None:
        """NetworkManager applies profiles asynchronously: give the read-back its time."""
        self.verify_attempts = max(self.verify_attempts, int(NM_VERIFY_SECONDS / self.verify_delay))

    @staticmethod
    def _run(command: list[str], check: bool = True) -> subprocess.CompletedProcess:
        """Run nmcli / networkctl / dpkg-divert (no API exists for them; argument list, no shell).

        With ``check`` a failure raises."""
        if shutil.which(command[0]) is None:
            raise BackendUnavailable("persist: %s not found; it is needed to apply the persisted configuration"
                                     % command[0])
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                              universal_newlines=True)
        if check and proc.returncode:
            raise BackendUnavailable("persist: %s failed (rc %d): %s"
                                     % (" ".join(command), proc.returncode, proc.stderr.strip()))
        return proc
