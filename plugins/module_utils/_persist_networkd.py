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

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._persist_net import HEADER, bond_option_pairs

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


def _ini(sections: list[tuple[str, list[tuple[str, Any]]]]) -> str:
    blocks = []
    for title, pairs in sections:
        blocks.append("[%s]\n" % title + "".join("%s=%s\n" % (k, v) for k, v in pairs if v is not None))
    return HEADER + "\n".join(blocks)


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
