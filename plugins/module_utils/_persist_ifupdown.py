# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Debian ifupdown stanzas (ifenslave + bridge-utils syntax) for a bond and the bridge above it.

Pure: :func:`render` maps a bond configuration (see ``_persist_net``) and the current text of
/etc/network/interfaces to ``{path: content}``: ``/etc/network/interfaces.d/<bond>`` with the
bond (``bond-slaves``, ``bond-mode``...) and the bridge (``bridge_ports``), and
/etc/network/interfaces itself only when it does not yet read interfaces.d.

The MTU is ``mtu`` in the stanza of the bond and of the bridge. The members have no stanza of
their own (``bond-slaves``): the kernel gives them the bond's MTU when they are enslaved and
again when ifup sets the bond's MTU.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _bridge_vlans as _vlans
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._persist_net import BRIDGE_HEADER, HEADER, bond_option_pairs

INTERFACES = "/etc/network/interfaces"
DIRECTORY = "/etc/network/interfaces.d"
SOURCE_LINE = "source /etc/network/interfaces.d/*"
_SOURCES_DIR = re.compile(r"^\s*(source\s+(/etc/network/)?interfaces\.d/\*|source-directory\s+"
                          r"(/etc/network/)?interfaces\.d/?)\s*$", re.MULTILINE)


def path_for(bond: str) -> str:
    """``/etc/network/interfaces.d/<bond>``."""
    return "%s/%s" % (DIRECTORY, bond)


def paths(config: dict[str, Any]) -> list[str]:
    """The file :func:`render` writes for ``config`` (used to remove it)."""
    return [path_for(config["name"])]


def sources_interfaces_d(text: str | None) -> bool:
    """Whether an interfaces file reads /etc/network/interfaces.d."""
    return bool(text) and bool(_SOURCES_DIR.search(text or ""))


def _iface(name: str, address: str | None, gateway: str | None, options: list[tuple[str, Any]]) -> str:
    if address:
        family = "inet" if ipaddress.ip_interface(address).version == 4 else "inet6"
        head = "auto %s\niface %s %s static\n" % (name, name, family)
        options = options + [("address", address), ("gateway", gateway)]
    else:
        head = "auto %s\niface %s inet manual\n" % (name, name)
    return head + "".join("    %s %s\n" % (k, v) for k, v in options if v is not None)


def _sourcing(files: dict[str, str], interfaces_text: str | None) -> dict[str, str]:
    """``files`` plus /etc/network/interfaces when it does not read interfaces.d yet."""
    if not sources_interfaces_d(interfaces_text):
        text = interfaces_text or ""
        if text and not text.endswith("\n"):
            text += "\n"
        files[INTERFACES] = text + SOURCE_LINE + "\n"
    return files


#: what Debian's bridge-utils ifupdown hook (/lib/bridge-utils/ifupdown.sh, bridge-utils 1.7.1 in
#: Debian 12) knows of VLANs: ``bridge_vlan_aware yes`` and nothing more (``bridge-vids`` and
#: ``bridge-pvid`` are ifupdown2's); the VLANs are set by ``post-up`` lines the collection writes
BRIDGE_VLAN_NOTE = ("    # Debian's bridge-utils hook knows only bridge_vlan_aware: the default PVID and the\n"
                    "    # VLANs are set below, from the state the kernel gives a new bridge and its ports\n")


def bridge_post_up(config: dict[str, Any]) -> list[str]:
    """``post-up`` commands (ip-link(8), bridge(8)) giving the bridge and each port exactly the VLANs
    of ``config``, planned from what a bridge created by the hook has: default PVID 1 everywhere."""
    name = config["name"]
    ports = list(config.get("ports") or [])
    views = {key: {"pvid": 1, "vids": {1: True}} for key in [name] + ports}
    default = 1 if config.get("default_pvid") is None else config["default_pvid"]
    lines = []
    if default != 1:
        lines.append("ip link set dev %s type bridge vlan_default_pvid %d" % (name, default))
        _vlans.project_default_pvid(views, 1, default)
    wanted = dict(config.get("port_vlans") or {})
    if config.get("self_vlans"):
        wanted[name] = config["self_vlans"]
    for dev in [p for p in ports if p in wanted] + ([name] if name in wanted else []):
        view = _vlans.view_of(wanted[dev])
        want = {"pvid": view["pvid"], "untagged": tuple(v for v, u in view["vids"].items() if u),
                "tagged": tuple(v for v, u in view["vids"].items() if not u)}
        add, delete = _vlans.plan_view(views[dev], want, exclusive=True)
        where = "self" if dev == name else "master"
        for group in _vlans.group_adds(add):
            lines.append("bridge vlan add dev %s vid %s%s%s %s" % (dev, group["vids"], " pvid" if group["pvid"] else "",
                                                                   " untagged" if group["untagged"] else "", where))
        for first, last_vid in _vlans.runs(delete):
            lines.append("bridge vlan del dev %s vid %s %s" % (dev, first if first == last_vid else "%d-%d" % (first, last_vid), where))
    return lines


def bridge_path(config: dict[str, Any]) -> str:
    """``/etc/network/interfaces.d/<bridge>``."""
    return path_for(config["name"])


def render_bridge(config: dict[str, Any], interfaces_text: str | None = None) -> dict[str, str]:
    """The interfaces.d stanza of a VLAN-aware bridge (config: see ``_persist_net``), plus
    /etc/network/interfaces if it must learn to source it."""
    name = config["name"]
    options: list[tuple[str, Any]] = [("bridge_ports", " ".join(config.get("ports") or []) or "none"),
                                      ("bridge_stp", "off"), ("bridge_fd", "0"),
                                      ("bridge_vlan_aware", "yes" if config.get("vlan_filtering") else None),
                                      ("mtu", config.get("mtu") or None)]
    post_up = bridge_post_up(config)
    stanza = _iface(name, None, None, options)
    if post_up:
        stanza += BRIDGE_VLAN_NOTE + "".join("    post-up %s\n" % line for line in post_up)
    return _sourcing({bridge_path(config): BRIDGE_HEADER + stanza}, interfaces_text)


def render(config: dict[str, Any], interfaces_text: str | None = None) -> dict[str, str]:
    """The interfaces.d file, plus /etc/network/interfaces if it must learn to source it."""
    name = config["name"]
    bridge = config.get("bridge")
    members = list(config.get("members") or [])
    bond_opts: list[tuple[str, Any]] = [("bond-slaves", " ".join(members) if members else "none")]
    bond_opts += [("bond-" + key.replace("_", "-"), value) for key, value in bond_option_pairs(config)]
    mtu = ("mtu", config.get("mtu") or None)
    bond_opts.append(mtu)
    if bridge:
        stanzas = [_iface(name, None, None, bond_opts),
                   _iface(bridge, config.get("address"), config.get("gateway"),
                          [("bridge_ports", name), ("bridge_stp", "off"), ("bridge_fd", "0"), mtu])]
    else:
        stanzas = [_iface(name, config.get("address"), config.get("gateway"), bond_opts)]
    return _sourcing({path_for(name): HEADER + "\n".join(stanzas)}, interfaces_text)
