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

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._persist_net import HEADER, bond_option_pairs

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
    files = {path_for(name): HEADER + "\n".join(stanzas)}
    if not sources_interfaces_d(interfaces_text):
        text = interfaces_text or ""
        if text and not text.endswith("\n"):
            text += "\n"
        files[INTERFACES] = text + SOURCE_LINE + "\n"
    return files
