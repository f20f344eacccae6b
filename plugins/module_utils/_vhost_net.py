# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The vhost_net resource: the in-kernel virtio-net back end (seed pattern 2).

By hand: ``modprobe vhost_net``, ``echo vhost_net >> /etc/modules-load.d/...``,
``options vhost_net experimental_zcopytx=1`` in /etc/modprobe.d; ``/dev/vhost-net`` appears.

Loading a kernel module has no API short of ``finit_module(2)`` (which would bypass
modprobe's dependency resolution and /etc/modprobe.d options), so ``modprobe`` is run (through
``_command``: an argument list, never a shell string). The module's state is read from
``/sys/module/vhost_net`` and whether it can be loaded at all from
``/lib/modules/$(uname -r)/modules.dep`` / ``modules.builtin``, the release from
``/proc/sys/kernel/osrelease``: all under the resource's root.

A change of ``experimental_zcopytx`` (read-only once loaded) is two steps: ``unload`` then
``load`` with the new value. Rollback (:meth:`VhostNetResource.restore_desired`) puts back the
module's state and option as read before; the files are put back byte for byte by the engine.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _files
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._boot_scripts import MANAGED
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._command import run_command
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, Resource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict, InvalidInput, Unsupported
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._sysfs import Sysfs

MODULE = "vhost_net"
DEVICE = "/dev/vhost-net"
LOAD_CONF = "/etc/modules-load.d/kvmnet-vhost_net.conf"
OPTIONS_CONF = "/etc/modprobe.d/kvmnet-vhost_net.conf"


def render_files(desired: dict[str, Any]) -> dict[str, str | None]:
    """modules-load.d (loaded at boot) and modprobe.d (options) for the desired state."""
    if desired["state"] == "absent":
        return {LOAD_CONF: None, OPTIONS_CONF: None}
    files: dict[str, str | None] = {LOAD_CONF: MANAGED % "vhost_net" + "vhost_net\n"}
    if desired["experimental_zcopytx"] is not None:
        files[OPTIONS_CONF] = (MANAGED % "vhost_net"
                               + "options vhost_net experimental_zcopytx=%d\n" % int(desired["experimental_zcopytx"]))
    return files


def plan_vhost(current: dict[str, Any], desired: dict[str, Any]) -> list[Operation]:
    """Load / unload operations for vhost_net (files are planned separately)."""
    state = current["module"]
    zcopy = desired["experimental_zcopytx"]
    if desired["state"] == "absent":
        if state == "builtin":
            raise Conflict("state: vhost_net is built into kernel %s and cannot be unloaded" % current["kernel"])
        if state == "loaded":
            if current["refcnt"]:
                raise Conflict("state: vhost_net is in use (refcnt %d: running guests hold /dev/vhost-net); "
                               "stop them first" % current["refcnt"])
            return [Operation("unload", MODULE, changes={"module": {"before": state, "after": "absent"}})]
        return []
    if state == "absent":
        params = {"experimental_zcopytx": int(zcopy)} if zcopy is not None else {}
        return [Operation("load", MODULE, changes={"module": {"before": "absent", "after": "loaded"}}, **params)]
    if zcopy is not None and current["experimental_zcopytx"] is not None and current["experimental_zcopytx"] != zcopy:
        # a read-only (0444) parameter: only unloading and loading again changes it
        if state == "builtin":
            raise Conflict("experimental_zcopytx: vhost_net is built in; set vhost_net.experimental_zcopytx=%d on the "
                           "kernel command line" % int(zcopy))
        if current["refcnt"]:
            raise Conflict("experimental_zcopytx: changing it needs a reload of vhost_net, which is in use (refcnt %d: "
                           "running guests); stop them first" % current["refcnt"])
        return [Operation("unload", MODULE, changes={"module": {"before": state, "after": "absent"}},
                          reason="experimental_zcopytx is read-only once loaded: unload, then load with it"),
                Operation("load", MODULE, changes={"module": {"before": "absent", "after": "loaded"},
                                                   "experimental_zcopytx": {"before": current["experimental_zcopytx"],
                                                                            "after": zcopy}},
                          experimental_zcopytx=int(zcopy))]
    return []


class VhostNetResource(Resource):
    """vhost_net loaded or not, its options and its persistence."""

    verify_attempts = 15
    verify_delay = 0.2

    def __init__(self, params: dict[str, Any], root: str = "/") -> None:
        super().__init__(params, root)
        self.sys = Sysfs(self.root)

    def diff_header(self) -> str:
        return "kernel module vhost_net"

    def normalize(self) -> dict[str, Any]:
        p = self.params
        zcopy = p.get("experimental_zcopytx")
        if p.get("state") == "absent" and zcopy is not None:
            raise InvalidInput("experimental_zcopytx", zcopy, "is an option of the loaded module; state: absent "
                                                              "unloads it (drop experimental_zcopytx)")
        return {"state": p.get("state") or "present", "persist": bool(p.get("persist", True)),
                "experimental_zcopytx": None if zcopy is None else bool(zcopy)}

    def read_current(self) -> dict[str, Any]:
        state = self.sys.module_state(MODULE)
        release = self.sys.kernel_release()
        base = "/sys/module/%s" % MODULE
        zcopy = self.sys.read(base + "/parameters/experimental_zcopytx", "vhost_net") if state != "absent" else None
        current = {
            "kernel": release,
            "module": state,
            "available": state != "absent" or self.sys.module_installed(MODULE, release),
            "refcnt": self.sys.read_int(base + "/refcnt", "vhost_net") or 0 if state == "loaded" else 0,
            "experimental_zcopytx": None if zcopy is None else zcopy in ("1", "Y"),
            "device": self.sys.exists(DEVICE),
        }
        if self.params.get("persist", True):
            current["files"] = _files.read_files([LOAD_CONF, OPTIONS_CONF], self.root)
        return current

    def plan(self, current: dict[str, Any], desired: dict[str, Any]) -> list[Operation]:
        if desired["state"] == "present" and not current["available"]:
            raise Unsupported("state: kernel %s has no vhost_net module (not in /lib/modules/%s/modules.dep nor "
                              "modules.builtin); install a kernel with CONFIG_VHOST_NET"
                              % (current["kernel"], current["kernel"]))
        ops = []
        if desired["persist"]:
            # experimental_zcopytx not mentioned: an existing options file is left alone
            wanted = render_files(desired)
            ops += _files.plan_files(current["files"], wanted)
        return ops + plan_vhost(current, desired)

    def restore_desired(self, before: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
        """The module loaded (with its option as read) or not, as before; no files (the engine
        restores them byte for byte, and a rendered file need not be the one that was there)."""
        before = before or {}
        loaded = before.get("module") in ("loaded", "builtin")
        return {"state": "present" if loaded else "absent", "persist": False,
                "experimental_zcopytx": before.get("experimental_zcopytx") if loaded else None}

    def apply_operation(self, op: Operation) -> None:
        if _files.apply_file_operation(op, self.root):
            return
        if op.action == "unload":
            self._modprobe(["-r", MODULE])
        if op.action == "load":
            args = [MODULE]
            if "experimental_zcopytx" in op.params:
                args.append("experimental_zcopytx=%d" % op.params["experimental_zcopytx"])
            self._modprobe(args)

    @staticmethod
    def _modprobe(args: list[str]) -> None:
        """Run modprobe with an argument list (no API exists to load a module with its options)."""
        run_command(["modprobe"] + args, MODULE, package="kmod")

    def predict(self, current: dict[str, Any], desired: dict[str, Any],
                operations: list[Operation]) -> dict[str, Any]:
        after = dict(current)
        for op in operations:
            if op.action == "load":
                after.update(module="loaded", device=True)
                if desired["experimental_zcopytx"] is not None:
                    after["experimental_zcopytx"] = desired["experimental_zcopytx"]
            elif op.action == "unload":
                after.update(module="absent", device=False, experimental_zcopytx=None)
            elif op.action in ("write_file", "remove_file"):
                after["files"] = dict(after["files"], **{op.target: op.params.get("content")})
        return after

    def extra_results(self, after: dict[str, Any] | None) -> dict[str, Any]:
        after = after or {}
        return {"usable": after.get("module") in ("loaded", "builtin") and bool(after.get("device")),
                "device": DEVICE}
