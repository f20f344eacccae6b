# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Persisting host network links (a bond, its members, a bridge with the host address).

One renderer per network configuration stack, each a pure function ``config -> {path: content}``
in its own module: ``_persist_networkd``, ``_persist_nm``, ``_persist_ifcfg``,
``_persist_ifupdown``. This module holds what they share: the bond configuration shape, the
bond options in a fixed order, the detection of the stack in use (``persist: auto``) and the
command that makes a running daemon re-read its files.

The bond configuration (``config``) every renderer takes::

    name      bond name                     members   list of member NIC names
    mode      kernel mode name              bridge    bridge above the bond, or None
    options   {miimon, updelay, downdelay, lacp_rate, xmit_hash_policy, ad_select,
               primary, arp_interval, arp_ip_target}; None = kernel default
    address   "ip/prefix" on the bridge (or on the bond without bridge), or None
    gateway   default gateway, or None      mtu       MTU of bond, members and bridge, or None

Options equal to the kernel default are not written (the files stay short and read like the
book's), except ``mode`` and, while ARP monitoring is off, ``miimon``.

The VLAN-aware bridge configuration (linux_bridge, ``render_bridge`` of networkd, nm, ifupdown)::

    name            bridge name                 ports       uplinks attached at boot (no taps)
    mtu             MTU of the bridge, or None  vlan_filtering  bool
    default_pvid    the bridge's default PVID (0: none)
    port_vlans      {port: entry}, entry = {"pvid": vid or 0, "untagged": "1,5", "tagged": "100-110"}
    self_vlans      the bridge device's own entry, or None
"""

from __future__ import annotations

import os
import time
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._command import CommandFailed, run_command

HEADER = "# Managed by kvmnet.hypervisor (nic_bond); local changes are overwritten.\n"
BRIDGE_HEADER = "# Managed by kvmnet.hypervisor (linux_bridge); local changes are overwritten.\n"

STACKS = ("networkd", "nm", "ifcfg", "ifupdown")

#: option order in every rendered file, and the kernel's defaults (not written)
OPTION_ORDER = ("miimon", "updelay", "downdelay", "lacp_rate", "xmit_hash_policy", "ad_select",
                "primary", "arp_interval", "arp_ip_target")
OPTION_DEFAULTS: dict[str, Any] = {
    "updelay": 0, "downdelay": 0, "lacp_rate": "slow", "xmit_hash_policy": "layer2",
    "ad_select": "stable", "primary": None, "arp_interval": 0, "arp_ip_target": [],
}

#: command (argument list) that makes a running daemon re-read its files, per stack
RELOAD_COMMANDS = {
    "networkd": ["networkctl", "reload"],
    "nm": ["nmcli", "connection", "reload"],
}
#: the distribution package that provides each reload command (named when it is missing)
RELOAD_PACKAGES = {"networkd": "systemd", "nm": "network-manager"}
#: how often a refused reload is tried (systemd-networkd 252 refuses one that races with links it
#: is still setting up or that are being deleted, "Numerical result out of range"; a second one
#: a moment later is taken), and the pause before the next try (times the try's number)
RELOAD_ATTEMPTS = 3
RELOAD_RETRY_DELAY = 1.0
#: process name (/proc/PID/comm) of each stack's daemon
DAEMONS = {"networkd": "systemd-network", "nm": "NetworkManager"}


def reload_daemon(stack: str, what: str) -> None:
    """Make the running daemon of ``stack`` (networkd, nm) re-read its files: its reload command,
    tried again (:data:`RELOAD_ATTEMPTS`) while it exits non-zero; the last refusal raises
    :class:`CommandFailed` (a command that cannot run or runs out of time raises at once)."""
    for attempt in range(1, RELOAD_ATTEMPTS + 1):
        try:
            run_command(list(RELOAD_COMMANDS[stack]), what, package=RELOAD_PACKAGES[stack])
            return
        except CommandFailed as exc:
            if exc.details.get("rc") is None or attempt == RELOAD_ATTEMPTS:
                raise
        time.sleep(RELOAD_RETRY_DELAY * attempt)


def bond_option_pairs(config: dict[str, Any], list_separator: str = " ") -> list[tuple[str, str]]:
    """``[(kernel option name, value text)]``: mode first, then the non-default options in order."""
    options = config.get("options") or {}
    pairs = [("mode", str(config["mode"]))]
    arp_on = bool(options.get("arp_interval"))
    for key in OPTION_ORDER:
        value = options.get(key)
        if value is None or value == [] or value == ():
            continue
        if key == "miimon":
            if arp_on:
                continue
        elif value == OPTION_DEFAULTS.get(key):
            continue
        if isinstance(value, (list, tuple)):
            value = list_separator.join(value)
        pairs.append((key, str(value)))
    return pairs


def running_daemons(proc: str = "/proc") -> set[str]:
    """Names (``comm``) of the running processes that are network daemons we know."""
    found = set()
    try:
        entries = os.listdir(proc)
    except OSError:
        return found
    wanted = set(DAEMONS.values())
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "comm"), encoding="utf-8") as handle:
                comm = handle.read().strip()
        except OSError:
            continue
        if comm in wanted:
            found.add(comm)
    return found


def detect_stack(root: str = "/", daemons: set[str] | None = None) -> str | None:
    """The stack that configures the host's network, first match wins, or None.

    NetworkManager running -> ``nm``; systemd-networkd running or enabled -> ``networkd``;
    ``/etc/network/interfaces`` with ifupdown installed -> ``ifupdown``;
    ``/etc/sysconfig/network-scripts`` -> ``ifcfg``.
    """
    def exists(path: str) -> bool:
        return os.path.exists(os.path.join(root, path.lstrip("/")))

    daemons = running_daemons() if daemons is None else daemons
    if DAEMONS["nm"] in daemons:
        return "nm"
    if DAEMONS["networkd"] in daemons or exists(
            "/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"):
        return "networkd"
    if exists("/etc/network/interfaces") and (exists("/sbin/ifup") or exists("/usr/sbin/ifup")):
        return "ifupdown"
    if exists("/etc/sysconfig/network-scripts"):
        return "ifcfg"
    return None
