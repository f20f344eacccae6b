# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The nic_bond resource: a Linux bond of host NICs, optionally under a Linux bridge that
carries the host's address (pattern 11 of the seed: ``mode=1 miimon=100``, bond0 -> br1 with
IPADDR/NETMASK), applied over netlink and persisted for the network stack in use.

Semantics (listed once, the module documentation repeats them):

* bond options not given are left as they are on an existing bond; a bond created without
  them gets ``mode=active-backup miimon=100`` and the kernel's defaults.
* ``members`` is the complete member set when given: listed NICs are enslaved, members not
  listed are released (never deleted). Without ``members`` the members are left alone.
* the kernel changes ``mode`` only while the bond is down and has no members, and
  ``lacp_rate`` / ``ad_select`` only while it is down: such a change is planned as steps,
  ``bond_down``, ``release_member`` (mode only, per member), ``modify_bond`` (the attributes),
  ``reenslave_member`` (per member) and ``bond_up`` (traffic stops meanwhile); a failure
  half-way then says exactly which were done, and the rollback puts the bond back.
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
* a failure half-way is rolled back (:meth:`NicBondResource.restore_desired`): the files byte for
  byte (the engine), then the bond, its members, the bridge, the address and the default route
  as read before, planned by ``_nic_bond_restore``; a daemon that re-read the files re-reads
  the restored ones.

Here: the module's input (:func:`normalize_params`) and :class:`NicBondResource` (read, predict,
apply). Beside it: ``_nic_bond_plan`` (the bond's model and the pure planning),
``_nic_bond_nm`` (the hand-over to a running NetworkManager, nmcli), ``_persist_bond`` (which
files, with the renderers ``_persist_*``) and ``_netlink`` (the bond codec).
"""

from __future__ import annotations

import copy
import ipaddress
import os
import socket
import time
from typing import Any, Callable

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon, _files, _persist_net, _persist_nm
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._command import run_command
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import InvalidInput, NotFound, Unsupported
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._files import apply_file_operation, read_files
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._netlink import (
    BOND_AD_SELECTS as AD_SELECTS,
    BOND_LACP_RATES as LACP_RATES,
    BOND_MODES as MODES,
    BOND_XMIT_HASH_POLICIES as XMIT_HASH_POLICIES,
    NetlinkResource,
    decode_bond,
    encode_bond,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._nic_bond_nm import NM_VERIFY_SECONDS, NetworkManager
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._nic_bond_plan import effective_bond, plan_nic_bond
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._nic_bond_restore import plan_restore
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._persist_bond import PERSIST_CHOICES, file_paths
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._sysfs import Sysfs

MAX_ARP_TARGETS = 16
#: what the kernel accepts for an Ethernet-like device (ETH_MIN_MTU, the IFLA_MTU u16 ceiling)
MTU_MIN, MTU_MAX = 68, 65535
#: the largest bond timer (miimon, updelay, downdelay, arp_interval) the kernel takes: INT_MAX
BOND_MS_MAX = 2 ** 31 - 1
#: a bond's MTU when created without one (ether_setup)
KERNEL_DEFAULT_MTU = 1500


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
    """A bond timer in milliseconds (miimon, updelay, downdelay, arp_interval): the kernel takes
    0 to INT_MAX (bond_options.c, bond_intmax_tbl), though netlink carries a u32."""
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(key, value, "must be a non-negative integer (milliseconds)")
    if value > BOND_MS_MAX:
        raise InvalidInput(key, value, "is out of range (0-%d milliseconds, the kernel's limit)" % BOND_MS_MAX)
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


# -- the resource -----------------------------------------------------------------------------
class NicBondResource(NetlinkResource):
    """A bond (and the bridge above it) in the host namespace or a named netns; its files are
    read and written under :attr:`root`, where the running daemons and kernel modules are
    looked up too."""

    def __init__(self, params: dict[str, Any], root: str = "/") -> None:
        super().__init__(params, root)
        self.desired: dict[str, Any] = {}
        #: names the bond in the errors of the programs run to persist it
        self.what = "%s: persist" % params.get("name")
        self.nm = NetworkManager(self.what)
        #: set by restore_desired(): the NICs the state before names, read too; the rollback runs
        self.restore_members: set[str] = set()
        self.restoring = False
        #: the network daemon re-read files of this run (a rollback has it re-read the restored ones)
        self.daemon_reloaded = False

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
        found = _persist_net.detect_stack(self.root, daemons=_persist_net.running_daemons(self.host_path("/proc")))
        if found is None:
            raise Unsupported("persist: auto found no network configuration stack (no NetworkManager or "
                              "systemd-networkd running, no /etc/network/interfaces, no "
                              "/etc/sysconfig/network-scripts); set persist to a stack or to none")
        return found

    def _check_bonding(self, name: str) -> None:
        """Unsupported unless the kernel has bonding: loaded, built in, or a module it can load."""
        sysfs = Sysfs(self.root)
        if sysfs.module_state("bonding") != "absent":
            return
        release = sysfs.kernel_release()
        if not sysfs.module_installed("bonding", release):
            raise Unsupported("name: cannot create bond %s: the running kernel (%s) has no bonding support; "
                              "the 'bonding' kernel module is neither loaded nor installed (modprobe bonding)"
                              % (name, release))

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
                bond = decode_bond(link.get("bond") or {}, self._name_of)
                bond["members"] = sorted(l["name"] for l in self.nl.links() if l.get("master_index") == ifindex)
                bond["master"] = self._name_of(link.get("master_index"))
                bond["admin_state"] = link["admin_state"]
                bond["mtu"] = link["mtu"]
                current["bond"] = bond
        elif d["state"] == "present":
            self._check_bonding(name)
        # the NICs asked for and the bond's members now (their MTU is compared with mtu)
        for member in sorted(set(d.get("members") or []) | set((current["bond"] or {}).get("members") or [])
                             | self.restore_members):
            mlink = self.nl.link(member)
            current["links"][member] = None if mlink is None else {
                "kind": mlink["kind"], "master": self._name_of(mlink.get("master_index")), "mtu": mlink["mtu"],
                "min_mtu": mlink.get("min_mtu"), "max_mtu": mlink.get("max_mtu"),
                "admin_state": mlink.get("admin_state")}
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
                    self.host_path(_persist_nm.NM_IFUPDOWN_DISPATCHER), os.X_OK):
                current["nm_runs_ifupdown_hooks"] = True
                paths.append(_persist_nm.IFENSLAVE_HOOK)
            current["files"] = read_files(paths, self.root)
            daemon = _persist_net.DAEMONS.get(stack)
            current["reload"] = bool(daemon) and daemon in _persist_net.running_daemons(self.host_path("/proc"))
        return current

    def plan(self, current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Operation]:
        if desired.get("restore") is not None:  # a rollback (see restore_desired)
            ops = plan_restore(current or {}, desired["restore"], desired["name"], desired.get("bridge"))
            stack = (current or {}).get("persist")
            if self.daemon_reloaded and (current or {}).get("reload") and stack in _persist_net.RELOAD_COMMANDS:
                ops.append(Operation("reload", stack, command=_persist_net.RELOAD_COMMANDS[stack]))
            return ops
        return plan_nic_bond(current or {}, desired)

    def restore_desired(self, before: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
        """The state read before the run, as a ``restore`` target planned by ``plan_restore``
        (bond, members, bridge, master, address, default route); no files (the engine restores
        them byte for byte); read_current() then reads the NICs ``before`` names too."""
        before = copy.deepcopy(before or {})
        self.restoring = True
        self.restore_members = set((before.get("bond") or {}).get("members") or []) | set(before.get("links") or {})
        return dict(desired, persist="none", restore=before)

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
                    links[member] = dict(links[member], mtu=bond["mtu"], master=desired["name"], admin_state="up")
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

    # -- applying: one method per action of the plan (see STEPS) ------------------------------
    def apply_operation(self, op: Operation) -> None:
        if op.params.get("by") == "NetworkManager":
            return  # the activate step makes NetworkManager do it
        if apply_file_operation(op, self.root):
            return
        step = self.STEPS.get(op.action)
        if step is None:  # pragma: no cover - plan and apply are written together
            raise NotImplementedError(op.action)
        step(self, op)

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

    def _route(self, gateway: str, index: int, device: str) -> None:
        family = socket.AF_INET if ipaddress.ip_address(gateway).version == 4 else socket.AF_INET6
        self.nl.replace_default_route(family, gateway, index, "default route via %s dev %s" % (gateway, device))

    def _wait_for_networkmanager(self) -> None:
        """NetworkManager applies profiles asynchronously: give the read-back its time."""
        self.verify_attempts = max(self.verify_attempts, int(NM_VERIFY_SECONDS / self.verify_delay))

    def _create_bond(self, op: Operation) -> None:
        target, p = op.target, op.params
        # kernel defaults are not sent: options of other modes (lacp_rate in active-backup...)
        # are refused by the kernel even when they carry the default value
        attrs = encode_bond({k: v for k, v in p.items() if k in ("mode", "miimon") or (
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
        if p.get("admin_state", "up") == "up":  # a rollback may create a bond that was down
            self.nl.set_link(index, "setting %s up" % target, state="up")

    def _modify_bond(self, op: Operation) -> None:
        target = op.target
        index = self._index(target)
        attrs = encode_bond({k: v["after"] for k, v in op.changes.items()}, self._index)
        if "primary" in op.changes and op.changes["primary"]["after"] is None:
            attrs["primary"] = 0  # a rollback clears a primary the bond did not have
        if attrs:
            self.nl.set_bond(index, "changing bond %s" % target, **attrs)
        if "mtu" in op.changes:
            # the kernel sets the members too (and undoes it all if one refuses); members
            # re-enslaved later get the bond's MTU when enslaved
            self._set_mtu(target, op.changes["mtu"]["after"], index, " and its members")
        if "admin_state" in op.changes:
            state = op.changes["admin_state"]["after"]
            self.nl.set_link(index, "setting %s %s" % (target, state), state=state)

    def _set_state(self, op: Operation) -> None:
        state = op.changes["admin_state"]["after"]
        self.nl.set_link(self._index(op.target), "setting %s %s" % (op.target, state), state=state)

    def _add_member(self, op: Operation) -> None:
        self._enslave(op.target, op.changes["master"]["after"])

    def _reenslave_member(self, op: Operation) -> None:
        self._enslave(op.target, op.changes["master"]["after"])

    def _remove_member(self, op: Operation) -> None:
        self.nl.set_link(self._index(op.target), "releasing %s" % op.target, master=0)

    def _modify_member(self, op: Operation) -> None:
        self._set_mtu(op.target, op.changes["mtu"]["after"])

    def _create_bridge(self, op: Operation) -> None:
        self.nl.add_link(op.target, "bridge")  # STP is off by default
        index = self._index(op.target)
        if op.params.get("mtu"):
            # set after creation (not as IFLA_MTU of the new link) so the kernel counts it as
            # chosen by the user and keeps it when ports join (no MTU auto-adjust)
            self._set_mtu(op.target, op.params["mtu"], index)
        if op.params.get("admin_state", "up") == "up":
            self.nl.set_link(index, "setting %s up" % op.target, state="up")

    def _modify_bridge(self, op: Operation) -> None:
        index = self._index(op.target)
        if "mtu" in op.changes:
            self._set_mtu(op.target, op.changes["mtu"]["after"], index)
        state = op.changes.get("admin_state", {}).get("after", "up")
        self.nl.set_link(index, "setting %s %s" % (op.target, state), state=state)

    def _set_master(self, op: Operation) -> None:
        after = op.changes["master"]["after"]
        if after is None:  # a rollback: the bond had no master
            self.nl.set_link(self._index(op.target), "releasing %s from %s" % (op.target, op.changes["master"]["before"]),
                             master=0)
            return
        self.nl.set_link(self._index(op.target), "attaching %s to %s" % (op.target, after), master=self._index(after))

    def _add_address(self, op: Operation) -> None:
        address = op.params["address"]
        self.nl.add_address(self._index(op.target), address, "adding %s to %s" % (address, op.target))

    def _move_address(self, op: Operation) -> None:
        p = op.params
        carrier = self._index(p["device"])
        if p.get("add", True):
            self.nl.add_address(carrier, op.target, "adding %s to %s" % (op.target, p["device"]))
        for holder in p["sources"]:
            # the old holder may have lost it meanwhile: a network daemon that manages the NIC
            # (systemd-networkd) drops its addresses when the NIC becomes a bond member
            self.nl.del_address(self._index(holder["device"]), holder["address"],
                                "removing %s from %s" % (holder["address"], holder["device"]), missing_ok=True)
        if p.get("gateway"):
            self._route(p["gateway"], carrier, p["device"])

    def _set_gateway(self, op: Operation) -> None:
        self._route(op.params["gateway"], self._index(op.target), op.target)

    def _del_address(self, op: Operation) -> None:
        address = op.params["address"]
        self.nl.del_address(self._index(op.target), address, "removing %s from %s" % (address, op.target))

    def _delete_default_route(self, op: Operation) -> None:
        gateway = op.params["gateway"]
        family = socket.AF_INET if ipaddress.ip_address(gateway).version == 4 else socket.AF_INET6
        self.nl.delete_default_route(family, gateway, self._index(op.target),
                                     "removing the default route via %s dev %s" % (gateway, op.target))

    def _delete_link(self, op: Operation) -> None:
        index = self.nl.index(op.target)
        if index is not None:  # else already gone (NetworkManager removes the links of a removed profile)
            self.nl.del_link(index, "deleting %s %s" % (op.action.split("_")[1], op.target))

    def _reload(self, op: Operation) -> None:
        _persist_net.reload_daemon(op.target, self.what)
        self.daemon_reloaded = not self.restoring  # a rollback's reload: the restored files are read
        if op.target == "nm":
            self._wait_for_networkmanager()
            self.nm.reloaded = time.monotonic()

    def _activate(self, op: Operation) -> None:
        """NetworkManager applies the profiles (see ``NetworkManager.activate``); the default
        route that moved with the address is not in them and is set after."""
        p = op.params
        self._wait_for_networkmanager()
        self.nm.activate(self.nl, p)
        if p.get("gateway"):
            self._route(p["gateway"], self._index(p["device"]), p["device"])

    def _divert_file(self, op: Operation) -> None:
        # the package's file moves aside (and its upgrades go there); the guard is written next.
        # The journals (the run's, an open checkpoint's) keep every file dpkg-divert changes
        # first: a rollback undoes the diversion byte for byte (found by the safety scenario)
        diverted = op.changes["diverted_to"]["after"]
        _files.before_command([op.target, diverted] + list(_persist_nm.DPKG_DIVERSIONS), self.root)
        command = ["dpkg-divert", "--local", "--rename", "--divert", diverted,
                   "--add", op.target]
        if self.root != "/":
            command[1:1] = ["--root", self.root]
        run_command(command, self.what, package="dpkg")

    #: the method that applies each action of a plan
    STEPS: dict[str, Callable[["NicBondResource", Operation], None]] = {
        "create_bond": _create_bond, "modify_bond": _modify_bond, "bond_down": _set_state, "bond_up": _set_state,
        "add_member": _add_member, "remove_member": _remove_member, "modify_member": _modify_member,
        "release_member": _remove_member, "reenslave_member": _reenslave_member,
        "create_bridge": _create_bridge, "modify_bridge": _modify_bridge, "set_master": _set_master,
        "add_address": _add_address, "move_address": _move_address, "set_gateway": _set_gateway,
        "del_address": _del_address, "delete_default_route": _delete_default_route, "set_link_state": _set_state,
        "delete_bond": _delete_link, "delete_bridge": _delete_link,
        "reload": _reload, "activate": _activate, "divert_file": _divert_file,
    }
