# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""libvirt_iface's rollback: each view's ``<interface>`` back to its XML as read before the run."""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation

#: the views of a domain libvirt_iface manages: its persistent definition, the running domain
VIEWS = ("config", "live")


def _canonical(device: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if device is None else {k: v for k, v in device.items() if k != "xml"}


def plan_restore(current: dict[str, Any], restore: dict[str, Any], elements: dict[str, Any], target: str,
                 can_update: bool = True) -> list[Operation]:
    """A rollback: each view's device back exactly as read before (``restore[view]``, with its
    ``xml``; None: it did not exist). A device the failed run changed gets its old XML again
    (update, or detach + attach where libvirt cannot update: hostdevs), one it added is
    detached, one it removed is attached with its old XML (libvirt may then pick new generated
    values, e.g. a live alias; verify says so if the domain differs)."""
    ops = []
    for view in VIEWS:
        if not current.get("persistent" if view == "config" else "running"):
            continue
        want, have = restore.get(view), current.get(view)
        if _canonical(want) == _canonical(have):
            continue
        if want is None:
            ops.append(Operation("detach", target, flags=[view], xml=_libvirt.to_string(elements[view])))
        elif have is None:
            ops.append(Operation("attach", target, flags=[view], xml=want["xml"]))
        elif can_update:
            changes = {f: {"before": have.get(f), "after": want.get(f)} for f in sorted(want)
                       if f != "xml" and want.get(f) != have.get(f)}
            ops.append(Operation("update", target, changes=changes, flags=[view], xml=want["xml"]))
        else:
            ops.append(Operation("detach", target, flags=[view], xml=_libvirt.to_string(elements[view])))
            ops.append(Operation("attach", target, flags=[view], xml=want["xml"]))
    return ops
