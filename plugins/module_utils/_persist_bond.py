# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The files that persist a bond (nic_bond): which renderer, which paths, what content.

Glue between the bond's desired state and the per-stack renderers (``_persist_networkd``,
``_persist_nm``, ``_persist_ifcfg``, ``_persist_ifupdown``; their shared part is
``_persist_net``). Pure: paths in, ``{path: content}`` out; reading and writing the files is
``_files``' job, and planning the operations is the resource's.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import (
    _persist_ifcfg,
    _persist_ifupdown,
    _persist_net,
    _persist_networkd,
    _persist_nm,
)

#: what the ``persist`` option takes
PERSIST_CHOICES = ("auto", "none") + _persist_net.STACKS
RENDERERS = {"networkd": _persist_networkd, "nm": _persist_nm, "ifcfg": _persist_ifcfg,
             "ifupdown": _persist_ifupdown}
#: file mode per stack when not 0644 (NetworkManager ignores keyfiles others can read)
FILE_MODES = {"nm": _persist_nm.FILE_MODE}
#: files every bond of the host shares: written, never removed with a bond
SHARED_FILES = (_persist_ifupdown.INTERFACES, _persist_nm.MODPROBE, _persist_nm.IFENSLAVE_HOOK)
#: files the network daemon does not read: no reload for them
NOT_READ_BY_DAEMON = (_persist_nm.MODPROBE, _persist_nm.IFENSLAVE_HOOK)


def file_mode(stack: str) -> int:
    """The mode the files of ``stack`` are written with."""
    return FILE_MODES.get(stack, 0o644)


def persist_config(desired: dict[str, Any], eff: dict[str, Any], members: list[str]) -> dict[str, Any]:
    """The configuration the renderers take (see ``_persist_net``) from the desired state and the
    bond's effective attributes (``eff``: given options over current ones)."""
    return {"name": desired["name"], "mode": eff["mode"], "members": members, "bridge": desired.get("bridge"),
            "address": desired.get("address"), "gateway": desired.get("gateway"), "mtu": desired.get("mtu"),
            "options": {k: eff[k] for k in _persist_net.OPTION_ORDER}}


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
    """Paths read for ``stack`` (current and desired members, the interfaces file for ifupdown,
    the modprobe option for nm)."""
    members = sorted(set(desired.get("members") or []) | set(current_members))
    config = {"name": desired["name"], "members": members, "bridge": desired.get("bridge")}
    out = list(RENDERERS[stack].paths(config))
    if stack == "ifupdown":
        out.append(_persist_ifupdown.INTERFACES)
    if stack == "nm":
        out.append(_persist_nm.MODPROBE)
    return out
