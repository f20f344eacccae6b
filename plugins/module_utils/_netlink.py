# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Netlink through pyroute2, in the host's namespace or inside a named network namespace.

Only the API that pyroute2 0.7.2 (the floor: Debian 12's python3-pyroute2) and 0.9.x share is
used: ``IPRoute()`` / ``NetNS(name)``, ``link_lookup``, ``get_links``, ``link('add'|'set'|'del')``
and ``get_attr`` on messages. Every call goes through :meth:`Netlink._call`: a kernel or socket
error (NetlinkError, OSError, a message pyroute2 cannot decode) becomes a typed error naming the
object and the namespace (ENODEV -> NotFound, EOPNOTSUPP -> Unsupported, EEXIST/EBUSY ->
Conflict, EINVAL/ERANGE -> Unsupported with the kernel's words, anything else ->
BackendUnavailable) so modules never see a bare exception.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import traceback
from typing import Any, Callable

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._deps import require
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Resource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    BackendUnavailable,
    Conflict,
    KvmnetError,
    NotFound,
    Unsupported,
)

try:
    from pyroute2 import IPRoute, NetNS
    from pyroute2.netlink.exceptions import NetlinkDecodeError, NetlinkError
    PYROUTE2_IMPORT_ERROR = None
except ImportError:
    PYROUTE2_IMPORT_ERROR = traceback.format_exc()

    class NetlinkError(Exception):  # type: ignore[no-redef]
        """Stand-in so ``except NetlinkError`` stays valid when pyroute2 is missing."""

        code = 0

    class NetlinkDecodeError(Exception):  # type: ignore[no-redef]
        """Stand-in, as above."""

NETNS_RUN_DIR = "/var/run/netns"
IFF_UP = 0x1

#: IFLA_MACVLAN_MODE / IFLA_MACVTAP_MODE values (include/uapi/linux/if_link.h)
MACVLAN_MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8, "source": 16}
_MACVLAN_MODE_NAMES = {v: k for k, v in MACVLAN_MODES.items()}

#: IFLA_VF_LINK_STATE values (include/uapi/linux/if_link.h)
VF_LINK_STATES = {"auto": 0, "enable": 1, "disable": 2}
VF_LINK_STATE_NAMES = {v: k for k, v in VF_LINK_STATES.items()}

_ERRNO_ERRORS = {
    errno.ENODEV: NotFound,
    errno.ENOENT: NotFound,
    errno.EOPNOTSUPP: Unsupported,
    errno.EINVAL: Unsupported,
    errno.ERANGE: Unsupported,
    errno.EEXIST: Conflict,
    errno.EBUSY: Conflict,
    errno.EPERM: BackendUnavailable,
    errno.EACCES: BackendUnavailable,
}


def netlink_error(exc: Exception, what: str) -> KvmnetError:
    """Turn a NetlinkError/OSError into the matching typed error, prefixed with ``what``
    (an errno without a better type, or none: BackendUnavailable)."""
    code = getattr(exc, "code", None) or getattr(exc, "errno", None) or 0
    if not isinstance(code, int):
        code = 0
    cls = _ERRNO_ERRORS.get(code, BackendUnavailable)
    reason = os.strerror(code) if code else "%s: %s" % (type(exc).__name__, exc)
    return cls("%s: %s (errno %d)" % (what, reason, code), errno=code)


def _attr(msg: Any, *path: str) -> Any:
    """Walk nested netlink attributes: _attr(link, 'IFLA_LINKINFO', 'IFLA_INFO_KIND')."""
    for name in path:
        if msg is None:
            return None
        msg = msg.get_attr(name)
    return msg


def macvlan_mode_name(value: Any) -> str | None:
    """pyroute2 0.9 decodes the mode to its name, 0.7 may give the number: accept both."""
    if value is None or isinstance(value, str):
        return value
    return _MACVLAN_MODE_NAMES.get(int(value), str(value))


#: kernel names of a bond's modes and option values, by number (include/uapi/linux/if_bonding.h,
#: drivers/net/bonding/bond_options.c)
BOND_MODES = ("balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb")
BOND_LACP_RATES = ("slow", "fast")
BOND_XMIT_HASH_POLICIES = ("layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4", "vlan+srcmac")
BOND_AD_SELECTS = ("stable", "bandwidth", "count")

#: the bond codec, one table for reading and writing: field (nic_bond's name, as in the
#: kernel's sysfs / ip-link) -> (IFLA_BOND_* attribute, names by number or None for a plain value)
BOND_FIELD_ATTRS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "mode": ("mode", BOND_MODES),
    "miimon": ("miimon", None),
    "updelay": ("updelay", None),
    "downdelay": ("downdelay", None),
    "lacp_rate": ("ad_lacp_rate", BOND_LACP_RATES),
    "xmit_hash_policy": ("xmit_hash_policy", BOND_XMIT_HASH_POLICIES),
    "ad_select": ("ad_select", BOND_AD_SELECTS),
    "primary": ("primary", None),  # an ifindex in the kernel, a name in the field
    "arp_interval": ("arp_interval", None),
    "arp_ip_target": ("arp_ip_target", None),
}

#: IFLA_BOND_* attributes read and written by name (kwargs ``bond_<name>`` of pyroute2)
BOND_ATTRS = tuple(attr for attr, dummy in BOND_FIELD_ATTRS.values())


#: a bridge's settable IFLA_BR_* options (pyroute2 kwargs ``br_<name>``), read raw and written back
#: as read when a rollback creates a deleted bridge again; the read-only ones (ids, timers) are not
BRIDGE_OPTION_ATTRS = (
    "forward_delay", "hello_time", "max_age", "ageing_time", "stp_state", "priority", "vlan_filtering",
    "vlan_protocol", "group_fwd_mask", "group_addr", "mcast_router", "mcast_snooping", "mcast_query_use_ifaddr",
    "mcast_querier", "mcast_hash_max", "mcast_last_member_cnt", "mcast_startup_query_cnt",
    "mcast_last_member_intvl", "mcast_membership_intvl", "mcast_querier_intvl", "mcast_query_intvl",
    "mcast_query_response_intvl", "mcast_startup_query_intvl", "nf_call_iptables", "nf_call_ip6tables",
    "nf_call_arptables", "vlan_default_pvid", "vlan_stats_enabled", "mcast_stats_enabled",
    "mcast_igmp_version", "mcast_mld_version",
)


def bridge_options(data: Any) -> dict[str, Any]:
    """The settable options of a bridge's IFLA_INFO_DATA, raw (``{"forward_delay": 1500, ...}``),
    the ones the kernel reports."""
    out = {}
    for name in BRIDGE_OPTION_ATTRS:
        value = data.get_attr("IFLA_BR_" + name.upper())
        if value is not None:
            out[name] = value
    return out


def _nla_value(item: Any) -> Any:
    """A decoded array cell (pyroute2 nla) or a plain value."""
    return item.getvalue() if hasattr(item, "getvalue") else item


def bond_attrs(data: Any) -> dict[str, Any]:
    """IFLA_BOND_* of a bond's IFLA_INFO_DATA as ``{attr: raw value}`` (numbers; primary is an ifindex;
    arp_ip_target a list of IPv4 strings)."""
    out: dict[str, Any] = {}
    for name in BOND_ATTRS:
        value = data.get_attr("IFLA_BOND_" + name.upper())
        if name == "arp_ip_target":
            if value is None:
                value = []
            elif not isinstance(value, (list, tuple)):
                value = [value]
            value = [str(_nla_value(v)) for v in value]
        out[name] = value
    return out


def decode_bond(raw: dict[str, Any], name_of: Callable[[int], str | None]) -> dict[str, Any]:
    """The bond fields of :data:`BOND_FIELD_ATTRS` from raw attributes (:func:`bond_attrs`):
    kernel names for numbers, the primary's name for its ifindex (``name_of``), sorted ARP targets.
    A number outside the known names is kept as its text (a newer kernel's value)."""
    out: dict[str, Any] = {}
    for field, (attr, names) in BOND_FIELD_ATTRS.items():
        value = raw.get(attr)
        if field == "primary":
            value = name_of(value) if value else None
        elif field == "arp_ip_target":
            value = sorted(value or [], key=ipaddress.IPv4Address)
        elif names is not None and value is not None and not isinstance(value, str):
            value = names[value] if 0 <= value < len(names) else str(value)
        out[field] = value
    return out


def encode_bond(fields: dict[str, Any], index_of: Callable[[str], int]) -> dict[str, Any]:
    """Raw attributes (pyroute2 ``bond_*`` names without the prefix) for the given bond fields;
    fields that are None or not bond attributes (``mtu``, ``admin_state``) are left out."""
    out: dict[str, Any] = {}
    for field, value in fields.items():
        if value is None or field not in BOND_FIELD_ATTRS:
            continue
        attr, names = BOND_FIELD_ATTRS[field]
        if field == "primary":
            value = index_of(value)
        elif names is not None:
            value = names.index(value)
        out[attr] = value
    return out


def vlan_infos(msg: Any) -> list[tuple[int, int]]:
    """``[(vid, BRIDGE_VLAN_INFO_* flags)]`` of an AF_BRIDGE link message (none without IFLA_AF_SPEC)."""
    spec = msg.get_attr("IFLA_AF_SPEC")
    infos = spec.get_attrs("IFLA_BRIDGE_VLAN_INFO") if spec is not None and hasattr(spec, "get_attrs") else []
    return [(info["vid"], info["flags"]) for info in infos]


class Netlink:
    """A netlink socket in the host namespace (``netns=None``) or in an existing named netns.

    Use as a context manager. The namespace is never created here: a missing one is NotFound.
    The name is checked here, before anything is read (:func:`_canon.netns_name`: ``""``,
    ``.``, ``..``, a ``/`` or a NUL is InvalidInput naming ``netns``), for every module with a
    ``netns`` option.
    """

    def __init__(self, netns: str | None = None) -> None:
        self.netns = _canon.netns_name(netns, "netns")
        self._ipr: Any = None

    @property
    def where(self) -> str:
        """' in netns X' for messages, or ''."""
        return " in network namespace %s" % self.netns if self.netns else ""

    def open(self) -> "Netlink":
        """Open the socket; NotFound if the named namespace does not exist."""
        require("pyroute2", PYROUTE2_IMPORT_ERROR)
        if self._ipr is not None:
            return self
        if self.netns:
            if not os.path.exists(os.path.join(NETNS_RUN_DIR, self.netns)):
                raise NotFound("netns: network namespace %r does not exist (%s/%s missing)"
                               % (self.netns, NETNS_RUN_DIR, self.netns))
            try:
                self._ipr = NetNS(self.netns, flags=0)
            except (NetlinkError, NetlinkDecodeError, OSError) as exc:
                raise BackendUnavailable("netns: cannot enter network namespace %r: %s" % (self.netns, exc)) from exc
        else:
            try:
                self._ipr = IPRoute()
            except (NetlinkError, NetlinkDecodeError, OSError) as exc:
                raise netlink_error(exc, "opening a netlink socket in the host's network namespace") from exc
        return self

    def close(self) -> None:
        """Close the socket (safe to call twice; an error while closing is not the run's error)."""
        if self._ipr is not None:
            try:
                self._ipr.close()
            except (NetlinkError, NetlinkDecodeError, OSError):
                pass
            finally:
                self._ipr = None

    def _call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``self._ipr.<method>(*args, **kwargs)``; a backend error becomes a typed error whose
        message starts with ``what`` (the object: ``reading link eth1``) and the namespace."""
        try:
            return getattr(self._ipr, method)(*args, **kwargs)
        except (NetlinkError, NetlinkDecodeError, OSError) as exc:
            raise netlink_error(exc, "%s%s" % (what, self.where)) from exc

    def __enter__(self) -> "Netlink":
        return self.open()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------
    def index(self, name: str) -> int | None:
        """ifindex of the link called ``name``, or None."""
        found = self._call("looking up interface %s" % name, "link_lookup", ifname=name)
        return found[0] if found else None

    def link(self, name: str | None = None, index: int | None = None) -> dict[str, Any] | None:
        """The link as a canonical dict, by name or index, or None if it does not exist."""
        if index is None:
            index = self.index(name) if name else None
            if index is None:
                return None
        try:
            msgs = self._call("reading interface %s" % (name or index), "get_links", index)
        except NotFound:  # gone between the lookup and the read
            return None
        return self._link_dict(msgs[0]) if msgs else None

    def links(self) -> list[dict[str, Any]]:
        """Every link of the namespace, canonical dicts."""
        return [self._link_dict(m) for m in self._call("listing interfaces", "get_links")]

    def _link_dict(self, msg: Any) -> dict[str, Any]:
        kind = _attr(msg, "IFLA_LINKINFO", "IFLA_INFO_KIND")
        data = _attr(msg, "IFLA_LINKINFO", "IFLA_INFO_DATA")
        address = msg.get_attr("IFLA_ADDRESS")
        out: dict[str, Any] = {
            "ifindex": msg["index"],
            "name": msg.get_attr("IFLA_IFNAME"),
            "kind": kind,
            "mac": address.lower() if address else None,
            "mtu": msg.get_attr("IFLA_MTU"),
            # the MTU range the driver accepts (0 or absent: no limit); kernel 4.19+
            "min_mtu": msg.get_attr("IFLA_MIN_MTU"),
            "max_mtu": msg.get_attr("IFLA_MAX_MTU"),
            "admin_state": "up" if msg["flags"] & IFF_UP else "down",
            "operstate": (msg.get_attr("IFLA_OPERSTATE") or "").lower() or None,
            "link_index": msg.get_attr("IFLA_LINK"),
            "master_index": msg.get_attr("IFLA_MASTER"),
        }
        if kind == "bond" and data is not None:
            out["bond"] = bond_attrs(data)
        if kind == "bridge" and data is not None:
            out["bridge_options"] = bridge_options(data)
        if kind in ("macvtap", "macvlan") and data is not None:
            out["mode"] = macvlan_mode_name(data.get_attr("IFLA_MACVTAP_MODE" if kind == "macvtap"
                                                          else "IFLA_MACVLAN_MODE"))
        return out

    # -- changing --------------------------------------------------------------------------
    def _link_call(self, command: str, what: str, **attrs: Any) -> None:
        self._call(what, "link", command, **attrs)

    def add_link(self, name: str, kind: str, **attrs: Any) -> None:
        """Create a link (``ip link add``); attrs are pyroute2 IFLA names (link, address, mtu...)."""
        self._link_call("add", "creating %s %s" % (kind, name), ifname=name, kind=kind, **attrs)

    def set_link(self, index: int, what: str, **attrs: Any) -> None:
        """Change attributes of an existing link (``ip link set``)."""
        self._link_call("set", what, index=index, **attrs)

    def del_link(self, index: int, what: str) -> None:
        """Delete a link."""
        self._link_call("del", what, index=index)

    # -- VLANs of a VLAN-aware bridge (bridge vlan: AF_BRIDGE, IFLA_AF_SPEC) -------------------
    def bridge_vlans(self) -> dict[int, list[tuple[int, int]]]:
        """The bridge VLANs of every bridge port and bridge as ``{ifindex: [(vid, flags)]}``
        (``bridge vlan show``: pyroute2's get_vlans(), an AF_BRIDGE dump with RTEXT_FILTER_BRVLAN,
        one entry per VLAN);
        empty lists on a kernel without CONFIG_BRIDGE_VLAN_FILTERING."""
        # get_vlans(): in pyroute2 0.7.2 link("dump", family=AF_BRIDGE, ...) without a match returns nothing
        msgs = self._call("reading bridge VLANs", "get_vlans")
        return {msg["index"]: vlan_infos(msg) for msg in msgs}

    def bridge_vlan(self, command: str, index: int, attrs: list[list[Any]], what: str, self_: bool = False) -> None:
        """``bridge vlan add|del dev INDEX ... [self]``: one RTM_SETLINK / RTM_DELLINK carrying the
        ``IFLA_BRIDGE_VLAN_INFO`` attributes ``attrs`` (``_bridge_vlans.vlan_info_attrs``);
        ``self_`` for the VLANs of the bridge device itself (IFLA_BRIDGE_FLAGS = BRIDGE_FLAGS_SELF)."""
        spec = ([["IFLA_BRIDGE_FLAGS", 2]] if self_ else []) + attrs
        # the whole IFLA_AF_SPEC given: pyroute2 0.7 and 0.9 send it as it is (their vlan_info
        # shorthand differs between versions and cannot carry flags on a range)
        self._call(what, "vlan_filter", command, index=index, IFLA_AF_SPEC={"attrs": spec})

    # -- SR-IOV virtual functions (IFLA_VFINFO_LIST of a PF) ----------------------------------
    def vfs(self, index: int, what: str) -> dict[int, dict[str, Any]]:
        """VF attributes of PF ``index`` as ``{vf: {mac, vlan, qos, spoofchk, trust, link_state,
        min_tx_rate, max_tx_rate}}`` (``link('get', ext_mask=1)``: RTEXT_FILTER_VF)."""
        msgs = self._call("%s: reading VF attributes" % what, "link", "get", index=index, ext_mask=1)
        vflist = msgs[0].get_attr("IFLA_VFINFO_LIST") if msgs else None
        out: dict[int, dict[str, Any]] = {}
        for info in (vflist.get_attrs("IFLA_VF_INFO") if vflist is not None else []):
            mac = info.get_attr("IFLA_VF_MAC")
            vlan = info.get_attr("IFLA_VF_VLAN")
            rate = info.get_attr("IFLA_VF_RATE")
            spoof = info.get_attr("IFLA_VF_SPOOFCHK")
            trust = info.get_attr("IFLA_VF_TRUST")
            state = info.get_attr("IFLA_VF_LINK_STATE")
            number = mac["vf"] if mac is not None else vlan["vf"]
            out[number] = {
                "mac": mac["mac"].lower() if mac is not None else None,
                "vlan": vlan["vlan"] if vlan is not None else None,
                "qos": vlan["qos"] if vlan is not None else None,
                "min_tx_rate": rate["min_tx_rate"] if rate is not None else None,
                "max_tx_rate": rate["max_tx_rate"] if rate is not None else None,
                # the kernel reports -1 (as u32) when the driver cannot tell
                "spoofchk": bool(spoof["spoofchk"]) if spoof is not None and spoof["spoofchk"] < 2 else None,
                "trust": bool(trust["trust"]) if trust is not None and trust["trust"] < 2 else None,
                "link_state": VF_LINK_STATE_NAMES.get(state["link_state"]) if state is not None else None,
            }
        return dict(sorted(out.items()))

    def set_vf(self, index: int, vf: int, what: str, **attrs: Any) -> None:
        """Set VF attributes on PF ``index`` (``ip link set PF vf N ...``).

        ``attrs``: mac, vlan + qos, spoofchk, trust, link_state (auto/enable/disable),
        min_tx_rate + max_tx_rate (Mbit/s; both are sent together, as IFLA_VF_RATE needs).
        """
        spec: dict[str, Any] = {"vf": vf}
        if "mac" in attrs:
            spec["mac"] = attrs["mac"]
        if "vlan" in attrs or "qos" in attrs:
            spec["vlan"] = {"vlan": attrs.get("vlan") or 0, "qos": attrs.get("qos") or 0}
        if "min_tx_rate" in attrs or "max_tx_rate" in attrs:
            spec["rate"] = {"min_tx_rate": attrs.get("min_tx_rate") or 0,
                            "max_tx_rate": attrs.get("max_tx_rate") or 0}
        for flag in ("spoofchk", "trust"):
            if flag in attrs:
                spec[flag] = 1 if attrs[flag] else 0
        if "link_state" in attrs:
            spec["link_state"] = VF_LINK_STATES[attrs["link_state"]]
        self._link_call("set", what, index=index, vf=spec)

    # -- bonds, addresses, default routes (nic_bond) ------------------------------------------
    def set_bond(self, index: int, what: str, **attrs: Any) -> None:
        """Change IFLA_BOND_* attributes of bond ``index``: attrs named as in :data:`BOND_ATTRS`
        with raw values (mode number, primary ifindex, arp_ip_target list of IPv4 strings)."""
        self._link_call("set", what, index=index, kind="bond", **{"bond_" + k: v for k, v in attrs.items()})

    def addresses(self, index: int | None = None) -> list[dict[str, Any]]:
        """Addresses (of link ``index``, or all) as ``{"index", "address": "ip/prefix"}``."""
        if index is not None:
            msgs = self._call("reading the addresses of interface %d" % index, "get_addr", index=index)
        else:
            msgs = self._call("reading addresses", "get_addr")
        return [{"index": m["index"], "address": "%s/%d" % (m.get_attr("IFA_ADDRESS"), m["prefixlen"])}
                for m in msgs if m.get_attr("IFA_ADDRESS")]

    def _addr_call(self, command: str, index: int, address: str, what: str) -> None:
        ip, prefix = address.split("/", 1)
        self._call(what, "addr", command, index=index, address=ip, prefixlen=int(prefix))

    def add_address(self, index: int, address: str, what: str) -> None:
        """``ip addr add ADDRESS/PREFIX dev INDEX``."""
        self._addr_call("add", index, address, what)

    def del_address(self, index: int, address: str, what: str, missing_ok: bool = False) -> None:
        """``ip addr del ADDRESS/PREFIX dev INDEX``; with ``missing_ok`` an address that is not
        (any more) on the interface is no error (EADDRNOTAVAIL: a network daemon removed it)."""
        try:
            self._addr_call("del", index, address, what)
        except KvmnetError as exc:
            cause = exc.__cause__
            if not (missing_ok and isinstance(cause, NetlinkError) and cause.code == errno.EADDRNOTAVAIL):
                raise

    def default_routes(self, family: int) -> list[dict[str, Any]]:
        """Default routes of the main table: ``[{"gateway", "oif"}]`` (family AF_INET/AF_INET6)."""
        msgs = self._call("reading routes", "get_routes", family=family)
        out = []
        for m in msgs:
            table = m.get_attr("RTA_TABLE") or m["table"]
            if m["dst_len"] == 0 and table == 254 and m.get_attr("RTA_GATEWAY"):
                out.append({"gateway": m.get_attr("RTA_GATEWAY"), "oif": m.get_attr("RTA_OIF")})
        return out

    def delete_default_route(self, family: int, gateway: str, index: int, what: str) -> None:
        """``ip route del default via GATEWAY dev INDEX`` (main table)."""
        dst = "0.0.0.0/0" if family == socket.AF_INET else "::/0"
        self._call(what, "route", "del", dst=dst, family=family, gateway=gateway, oif=index)

    def replace_default_route(self, family: int, gateway: str, index: int, what: str) -> None:
        """``ip route replace default via GATEWAY dev INDEX`` (main table)."""
        dst = "0.0.0.0/0" if family == socket.AF_INET else "::/0"
        self._call(what, "route", "replace", dst=dst, family=family, gateway=gateway, oif=index)


class NetlinkResource(Resource):
    """Base of the resources that work over netlink: ``self.nl`` in the namespace named by the
    ``netns`` option (the host's own when unset), opened and closed by the engine."""

    def __init__(self, params: dict[str, Any], root: str = "/") -> None:
        super().__init__(params, root)
        self.nl = Netlink(params.get("netns"))

    def open(self) -> None:
        self.nl.open()

    def close(self) -> None:
        self.nl.close()
