# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""systemd-networkd files for a bond, its members and the bridge above it.

Pure: :func:`render` maps a bond configuration (see ``_persist_net``) to ``{path: content}``
under /etc/systemd/network: ``30-kvmnet-<bond>.netdev`` / ``.network``, one
``30-kvmnet-<member>.network`` per member (``Bond=``, ``PrimarySlave=``) and
``30-kvmnet-<bridge>.netdev`` / ``.network`` carrying the address and gateway.

The MTU goes in the [Link] section (``MTUBytes=``) of the .network file of the bond, of every
member and of the bridge: networkd applies a .network file to a link whenever it configures it,
also to a bond that already exists, whereas ``MTUBytes=`` of a .netdev only applies when
networkd creates the device itself.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _bridge_vlans as _vlans
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._persist_net import BRIDGE_HEADER, HEADER, bond_option_pairs

DIRECTORY = "/etc/systemd/network"
PREFIX = "30-kvmnet-"

#: kernel option -> [Bond] key of systemd.netdev(5); times are milliseconds
BOND_KEYS = {
    "mode": "Mode", "miimon": "MIIMonitorSec", "updelay": "UpDelaySec", "downdelay": "DownDelaySec",
    "lacp_rate": "LACPTransmitRate", "xmit_hash_policy": "TransmitHashPolicy", "ad_select": "AdSelect",
    "arp_interval": "ARPIntervalSec", "arp_ip_target": "ARPIPTargets",
}
MILLISECONDS = ("miimon", "updelay", "downdelay", "arp_interval")


def path_for(ifname: str, suffix: str) -> str:
    """``/etc/systemd/network/30-kvmnet-<ifname>.<suffix>``."""
    return "%s/%s%s.%s" % (DIRECTORY, PREFIX, ifname, suffix)


def paths(config: dict[str, Any]) -> list[str]:
    """Every file :func:`render` may write for ``config`` (used to remove them)."""
    out = [path_for(config["name"], "netdev"), path_for(config["name"], "network")]
    out += [path_for(m, "network") for m in config.get("members") or []]
    if config.get("bridge"):
        out += [path_for(config["bridge"], "netdev"), path_for(config["bridge"], "network")]
    return out


def _ini(sections: list[tuple[str, list[tuple[str, Any]]]], header: str = HEADER) -> str:
    blocks = []
    for title, pairs in sections:
        blocks.append("[%s]\n" % title + "".join("%s=%s\n" % (k, v) for k, v in pairs if v is not None))
    return header + "\n".join(blocks)


def _address_section(config: dict[str, Any]) -> list[tuple[str, Any]]:
    return [("Address", config.get("address")), ("Gateway", config.get("gateway"))]


def _network(ifname: str, config: dict[str, Any], network: list[tuple[str, Any]]) -> str:
    """A .network file: [Match] on the name, [Link] with the MTU when there is one, [Network]."""
    sections = [("Match", [("Name", ifname)])]
    if config.get("mtu"):
        sections.append(("Link", [("MTUBytes", config["mtu"])]))
    return _ini(sections + [("Network", network)])


def render(config: dict[str, Any]) -> dict[str, str]:
    """The .netdev/.network files that recreate the bond (and bridge) at boot."""
    name = config["name"]
    bridge = config.get("bridge")
    primary = (config.get("options") or {}).get("primary")
    bond_pairs = []
    for key, value in bond_option_pairs(config):
        if key == "primary":
            continue  # networkd sets it on the member: PrimarySlave=true
        bond_pairs.append((BOND_KEYS[key], "%sms" % value if key in MILLISECONDS else value))
    files = {path_for(name, "netdev"): _ini([("NetDev", [("Name", name), ("Kind", "bond")]),
                                             ("Bond", bond_pairs)])}
    if bridge:
        network = [("Bridge", bridge), ("LinkLocalAddressing", "no")]
    else:
        network = _address_section(config) + [("LinkLocalAddressing", "no" if not config.get("address") else None)]
    files[path_for(name, "network")] = _network(name, config, network)
    for member in config.get("members") or []:
        files[path_for(member, "network")] = _network(member, config, [
            ("Bond", name), ("PrimarySlave", "true" if member == primary else None), ("LinkLocalAddressing", "no")])
    if bridge:
        files[path_for(bridge, "netdev")] = _ini([("NetDev", [("Name", bridge), ("Kind", "bridge")]),
                                                  ("Bridge", [("STP", "no")])])
        files[path_for(bridge, "network")] = _network(
            bridge, config, _address_section(config) + [("ConfigureWithoutCarrier", "yes")])
    return files


def bridge_paths(config: dict[str, Any]) -> list[str]:
    """Every file :func:`render_bridge` may write for ``config``."""
    return [path_for(config["name"], "netdev"), path_for(config["name"], "network")] + [
        path_for(p, "network") for p in config.get("ports") or []]


def _bridge_vlan_sections(entry: dict[str, Any] | None) -> list[tuple[str, list[tuple[str, Any]]]]:
    """[BridgeVLAN] sections (systemd.network(5)): one per range of VLANs, of untagged VLANs, the PVID."""
    if not entry:
        return []
    view = _vlans.view_of(entry)
    sections = [("BridgeVLAN", [("VLAN", "%d-%d" % (a, b) if a != b else a)]) for a, b in _vlans.runs(view["vids"])]
    sections += [("BridgeVLAN", [("EgressUntagged", "%d-%d" % (a, b) if a != b else a)])
                 for a, b in _vlans.runs(v for v, u in view["vids"].items() if u)]
    if view["pvid"]:
        sections.append(("BridgeVLAN", [("PVID", view["pvid"])]))
    return sections


def render_bridge(config: dict[str, Any]) -> dict[str, str]:
    """A VLAN-aware bridge (config: see ``_persist_net``): its .netdev (``VLANFiltering=``,
    ``DefaultPVID=``), its .network with its own VLANs and one .network per port (``Bridge=``)."""
    name = config["name"]
    link = [("Link", [("MTUBytes", config["mtu"])])] if config.get("mtu") else []
    default = config.get("default_pvid")
    files = {path_for(name, "netdev"): _ini([
        ("NetDev", [("Name", name), ("Kind", "bridge")]),
        ("Bridge", [("STP", "no"), ("VLANFiltering", "yes" if config.get("vlan_filtering") else "no"),
                    ("DefaultPVID", None if default is None else default or "none")])], BRIDGE_HEADER)}
    # the bridge carries no host address (linux_bridge): it must not hold up network-online.target
    # at boot while it has no carrier (no port up yet, the guests' taps come later)
    files[path_for(name, "network")] = _ini(
        [("Match", [("Name", name)]), ("Link", [("MTUBytes", config.get("mtu")), ("RequiredForOnline", "no")]),
         ("Network", [("LinkLocalAddressing", "no"), ("ConfigureWithoutCarrier", "yes")])]
        + _bridge_vlan_sections(config.get("self_vlans")), BRIDGE_HEADER)
    for port in config.get("ports") or []:
        files[path_for(port, "network")] = _ini(
            [("Match", [("Name", port)])] + link + [("Network", [("Bridge", name), ("LinkLocalAddressing", "no")])]
            + _bridge_vlan_sections((config.get("port_vlans") or {}).get(port)), BRIDGE_HEADER)
    return files
