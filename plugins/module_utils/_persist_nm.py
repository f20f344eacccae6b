# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""NetworkManager keyfiles for a bond, its members (ports) and the bridge above it.

Pure: :func:`render` maps a bond configuration (see ``_persist_net``) to ``{path: content}``
under /etc/NetworkManager/system-connections (files must be mode 0600 or NetworkManager
ignores them). Connection UUIDs are derived from the connection id (uuid5), so rendering the
same configuration twice gives the same files.

The MTU is ``mtu=`` of the [ethernet] section (the 802-3-ethernet setting) in the profile of the
bond, of every member and of the bridge: NetworkManager takes the MTU of bond and bridge
devices from that setting too.
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _bridge_vlans as _vlans
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._persist_net import BRIDGE_HEADER, HEADER, bond_option_pairs

DIRECTORY = "/etc/NetworkManager/system-connections"
PREFIX = "kvmnet-"
FILE_MODE = 0o600
#: namespace of the connection UUIDs (uuid5 of the connection id)
UUID_NAMESPACE = uuid.UUID("6f1c1f3e-5b7a-4f55-9d0e-6b76a1c0b0d1")


#: written with the profiles: the bonding module then creates no bond0 of its own when it is
#: loaded, so the profile for bond0 never has to take over a bond it did not create.
MODPROBE = "/etc/modprobe.d/kvmnet-bonding.conf"
MODPROBE_CONTENT = HEADER + "# NetworkManager creates the bonds of its profiles; the module creates none on load.\n" \
    "options bonding max_bonds=0\n"


def connection_id(ifname: str) -> str:
    """Connection id (and file name stem) of the profile for ``ifname``."""
    return PREFIX + ifname


def path_for(ifname: str) -> str:
    """``/etc/NetworkManager/system-connections/kvmnet-<ifname>.nmconnection``."""
    return "%s/%s.nmconnection" % (DIRECTORY, connection_id(ifname))


def paths(config: dict[str, Any]) -> list[str]:
    """Every file :func:`render` may write for ``config`` (used to remove them)."""
    names = [config["name"]] + list(config.get("members") or [])
    if config.get("bridge"):
        names.append(config["bridge"])
    return [path_for(n) for n in names]


def _keyfile(sections: list[tuple[str, list[tuple[str, Any]]]], header: str = HEADER) -> str:
    blocks = []
    for title, pairs in sections:
        blocks.append("[%s]\n" % title + "".join("%s=%s\n" % (k, v) for k, v in pairs if v is not None))
    return header + "\n".join(blocks)


def _connection(ifname: str, kind: str, master: str | None = None, port_type: str | None = None,
                has_ports: bool = False):
    cid = connection_id(ifname)
    # autoconnect-slaves on the bond: activating it activates the members' profiles too (nic_bond
    # brings the bond up with one ``nmcli connection up``). Not on the bridge: at boot it would
    # re-activate the bond while the bond autoconnects on its own (one activation superseding another)
    return ("connection", [("id", cid), ("uuid", str(uuid.uuid5(UUID_NAMESPACE, cid))), ("type", kind),
                           ("interface-name", ifname), ("master", master), ("slave-type", port_type),
                           ("autoconnect", "true"), ("autoconnect-slaves", 1 if has_ports else None)])


def _ip_sections(address: str | None, gateway: str | None) -> list[tuple[str, list[tuple[str, Any]]]]:
    if not address:
        return [("ipv4", [("method", "disabled")]), ("ipv6", [("method", "disabled")])]
    version = ipaddress.ip_interface(address).version
    manual = [("method", "manual"), ("address1", address), ("gateway", gateway)]
    if version == 4:
        return [("ipv4", manual), ("ipv6", [("method", "disabled")])]
    return [("ipv4", [("method", "disabled")]), ("ipv6", manual)]


def _ethernet(config: dict[str, Any]) -> list[tuple[str, list[tuple[str, Any]]]]:
    """The [ethernet] section with the MTU, or nothing when there is no MTU."""
    return [("ethernet", [("mtu", config["mtu"])])] if config.get("mtu") else []


def render(config: dict[str, Any]) -> dict[str, str]:
    """Keyfiles: the bond (a bridge port when bridged), one ethernet port per member, the bridge."""
    name = config["name"]
    bridge = config.get("bridge")
    bond_section = list(bond_option_pairs(config, list_separator=","))
    sections = [_connection(name, "bond", bridge, "bridge" if bridge else None,
                            has_ports=bool(config.get("members")))] + _ethernet(config)
    sections.append(("bond", bond_section))
    if not bridge:
        sections += _ip_sections(config.get("address"), config.get("gateway"))
    files = {path_for(name): _keyfile(sections)}
    for member in config.get("members") or []:
        files[path_for(member)] = _keyfile([_connection(member, "ethernet", name, "bond"),
                                            ("ethernet", [("mtu", config.get("mtu") or None)])])
    if bridge:
        files[path_for(bridge)] = _keyfile([_connection(bridge, "bridge")] + _ethernet(config)
                                           + [("bridge", [("stp", "false")])]
                                           + _ip_sections(config.get("address"), config.get("gateway")))
    return files


def bridge_paths(config: dict[str, Any]) -> list[str]:
    """Every file :func:`render_bridge` may write for ``config``."""
    return [path_for(n) for n in [config["name"]] + list(config.get("ports") or [])]


def nm_vlans(entry: dict[str, Any] | None) -> str | None:
    """``bridge.vlans`` / ``bridge-port.vlans`` (nm-settings-keyfile(5)): ``VID[-VID] [pvid] [untagged]``,
    comma separated; None for no entry."""
    if not entry:
        return None
    view = _vlans.view_of(entry)
    items = []
    for untagged in (False, True):
        for first, last in _vlans.runs(v for v, u in view["vids"].items() if u is untagged and v != view["pvid"]):
            items.append(("%d-%d" % (first, last) if first != last else str(first)) + (" untagged" if untagged else ""))
    if view["pvid"]:
        items.append("%d pvid%s" % (view["pvid"], " untagged" if view["vids"][view["pvid"]] else ""))
    return ",".join(items) or None


def render_bridge(config: dict[str, Any]) -> dict[str, str]:
    """Keyfiles of a VLAN-aware bridge (config: see ``_persist_net``): the bridge (``vlan-filtering``,
    ``vlan-default-pvid``, its own ``vlans``) and one ethernet port profile per port (``bridge-port.vlans``)."""
    name = config["name"]
    ports = list(config.get("ports") or [])
    default = config.get("default_pvid")
    bridge = [("stp", "false"), ("vlan-filtering", "true" if config.get("vlan_filtering") else "false"),
              ("vlan-default-pvid", default), ("vlans", nm_vlans(config.get("self_vlans")))]
    files = {path_for(name): _keyfile([_connection(name, "bridge")] + _ethernet(config) + [("bridge", bridge)]
                                      + _ip_sections(None, None), BRIDGE_HEADER)}
    for port in ports:
        vlans = nm_vlans((config.get("port_vlans") or {}).get(port))
        files[path_for(port)] = _keyfile([_connection(port, "ethernet", name, "bridge")] + _ethernet(config)
                                         + ([("bridge-port", [("vlans", vlans)])] if vlans else []), BRIDGE_HEADER)
    return files


def parse(text: str) -> dict[str, dict[str, str]]:
    """Sections of a keyfile as nested dicts (for tests and round trips)."""
    out: dict[str, dict[str, str]] = {}
    section = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = out.setdefault(line[1:-1], {})
        elif section is not None and "=" in line:
            key, value = line.split("=", 1)
            section[key] = value
    return out


#: Debian's network-manager runs the ifupdown hooks for the interfaces NetworkManager manages
#: (this dispatcher script runs /etc/network/if-post-down.d/* on every "down" event) ...
NM_IFUPDOWN_DISPATCHER = "/etc/NetworkManager/dispatcher.d/01-ifupdown"
#: ... and ifenslave's post-down hook then releases the interface from its bond, or deletes the
#: bond, with no regard for who manages it. The dispatcher runs it asynchronously, after
#: NetworkManager has already enslaved the port again or re-created the bond: ports vanish from
#: bonds NetworkManager reports as activated (Debian bug #982841). nic_bond diverts the hook
#: (dpkg-divert, so package upgrades go to the diverted name) and puts IFENSLAVE_GUARD in its place.
IFENSLAVE_HOOK = "/etc/network/if-post-down.d/ifenslave"
#: with a dot: run-parts (which ifupdown and the dispatcher use) never runs it by itself
IFENSLAVE_HOOK_DIVERTED = IFENSLAVE_HOOK + ".distrib"
#: dpkg's list of diversions (and its backup), which dpkg-divert rewrites
DPKG_DIVERSIONS = ("/var/lib/dpkg/diversions", "/var/lib/dpkg/diversions-old")
IFENSLAVE_GUARD = """#!/bin/sh
# Managed by kvmnet.hypervisor (nic_bond); local changes are overwritten.
# ifenslave's post-down hook, diverted to %(diverted)s (dpkg-divert --list).
# NetworkManager's dispatcher (%(dispatcher)s) runs the ifupdown hooks for the
# interfaces NetworkManager manages too, and the hook then released bond ports and deleted bonds
# NetworkManager had just activated again (Debian bug #982841). It still runs for ifupdown.
[ "$METHOD" = NetworkManager ] && exit 0
[ -x %(diverted)s ] || exit 0
exec %(diverted)s "$@"
""" % {"diverted": IFENSLAVE_HOOK_DIVERTED, "dispatcher": NM_IFUPDOWN_DISPATCHER}
