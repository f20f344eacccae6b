# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""RHEL ``ifcfg`` files (initscripts / NetworkManager's ifcfg-rh plugin) for a bond, its members
and the bridge above it: the files the book writes by hand in /etc/sysconfig/network-scripts.

Pure: :func:`render` maps a bond configuration (see ``_persist_net``) to ``{path: content}``.
The MTU is ``MTU=`` in the file of the bond, of every member and of the bridge.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._persist_net import (
    HEADER,
    bond_option_pairs,
)

DIRECTORY = "/etc/sysconfig/network-scripts"


def path_for(ifname: str) -> str:
    """``/etc/sysconfig/network-scripts/ifcfg-<ifname>``."""
    return "%s/ifcfg-%s" % (DIRECTORY, ifname)


def paths(config: dict[str, Any]) -> list[str]:
    """Every file :func:`render` may write for ``config`` (used to remove them)."""
    names = [config["name"]] + list(config.get("members") or [])
    if config.get("bridge"):
        names.append(config["bridge"])
    return [path_for(n) for n in names]


def _lines(pairs: list[tuple[str, Any]]) -> str:
    return HEADER + "".join("%s=%s\n" % (k, v) for k, v in pairs if v is not None)


def _address_pairs(address: str | None, gateway: str | None) -> list[tuple[str, Any]]:
    if not address:
        return [("BOOTPROTO", "none")]
    iface = ipaddress.ip_interface(address)
    if iface.version == 4:
        return [("BOOTPROTO", "none"), ("IPADDR", str(iface.ip)), ("NETMASK", str(iface.netmask)),
                ("GATEWAY", gateway)]
    return [("BOOTPROTO", "none"), ("IPV6INIT", "yes"), ("IPV6ADDR", str(iface)),
            ("IPV6_DEFAULTGW", gateway)]


def render(config: dict[str, Any]) -> dict[str, str]:
    """ifcfg-<bond> (BONDING_OPTS, BRIDGE=), ifcfg-<member> (MASTER=, SLAVE=yes), ifcfg-<bridge>."""
    name = config["name"]
    bridge = config.get("bridge")
    opts = " ".join("%s=%s" % pair for pair in bond_option_pairs(config, list_separator=","))
    bond: list[tuple[str, Any]] = [("DEVICE", name), ("NAME", name), ("TYPE", "Bond"), ("BONDING_MASTER", "yes"),
                                   ("BONDING_OPTS", '"%s"' % opts), ("ONBOOT", "yes")]
    if bridge:
        bond += [("BOOTPROTO", "none"), ("BRIDGE", bridge)]
    else:
        bond += _address_pairs(config.get("address"), config.get("gateway"))
    mtu = ("MTU", config.get("mtu") or None)
    bond.append(mtu)
    files = {path_for(name): _lines(bond)}
    for member in config.get("members") or []:
        files[path_for(member)] = _lines([
            ("DEVICE", member), ("NAME", member), ("TYPE", "Ethernet"), ("BOOTPROTO", "none"),
            ("ONBOOT", "yes"), ("MASTER", name), ("SLAVE", "yes"), mtu])
    if bridge:
        files[path_for(bridge)] = _lines(
            [("DEVICE", bridge), ("NAME", bridge), ("TYPE", "Bridge")]
            + _address_pairs(config.get("address"), config.get("gateway"))
            + [("ONBOOT", "yes"), ("STP", "no"), ("DELAY", "0"), mtu])
    return files


def parse(text: str) -> dict[str, str]:
    """KEY=value lines of an ifcfg file (quotes removed); for tests and round trips."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        out[key] = value.strip('"')
    return out
