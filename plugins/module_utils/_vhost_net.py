# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vhost_net resource: the in-kernel virtio-net back end (seed pattern 2).

By hand: ``modprobe vhost_net``, ``echo vhost_net >> /etc/modules-load.d/...``,
``options vhost_net experimental_zcopytx=1`` in /etc/modprobe.d; ``/dev/vhost-net`` appears.

Loading a kernel module has no API short of ``finit_module(2)`` (which would bypass
modprobe's dependency resolution and /etc/modprobe.d options), so this is the one place of the
collection that runs a process: ``modprobe`` with an argument list, never a shell string.
The module's state is read from ``/sys/module/vhost_net`` and whether it can be loaded at all
from ``/lib/modules/$(uname -r)/modules.dep`` / ``modules.builtin``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _files
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._boot_scripts import MANAGED
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, Resource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    ApplyFailed,
    Conflict,
    Unsupported,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._sysfs import Sysfs

MODULE = "vhost_net"
DEVICE = "/dev/vhost-net"
LOAD_CONF = "/etc/modules-load.d/kvmnet-vhost_net.conf"
OPTIONS_CONF = "/etc/modprobe.d/kvmnet-vhost_net.conf"


def kernel_has_module(sysfs: Sysfs, name: str, release: str) -> bool:
    """Whether the running kernel can provide ``name`` (loadable in modules.dep, or built in)."""
    base = "/lib/modules/%s/" % release
    for index in ("modules.dep", "modules.builtin"):
        text = sysfs.read(base + index, "kernel modules") or ""
        for line in text.splitlines():
            path = line.split(":", 1)[0]
            stem = path.rsplit("/", 1)[-1].split(".ko")[0]
            if stem.replace("-", "_") == name:
                return True
    return False


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
    """Load/unload/reload operations for vhost_net (files are planned separately)."""
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
        # a read-only (0444) parameter: only a reload changes it
        if state == "builtin":
            raise Conflict("experimental_zcopytx: vhost_net is built in; set vhost_net.experimental_zcopytx=%d on the "
                           "kernel command line" % int(zcopy))
        if current["refcnt"]:
            raise Conflict("experimental_zcopytx: changing it needs a reload of vhost_net, which is in use (refcnt %d: "
                           "running guests); stop them first" % current["refcnt"])
        return [Operation("reload", MODULE, changes={"experimental_zcopytx": {
            "before": current["experimental_zcopytx"], "after": zcopy}}, experimental_zcopytx=int(zcopy))]
    return []


class VhostNetResource(Resource):
    """vhost_net loaded or not, its options and its persistence."""

    verify_attempts = 15
    verify_delay = 0.2

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.sys = Sysfs(params.get("_sysfs_root") or "/")
        self.files_root = params.get("_files_root") or "/"
        self.release = params.get("_release") or os.uname().release

    def diff_header(self) -> str:
        return "kernel module vhost_net"

    def normalize(self) -> dict[str, Any]:
        p = self.params
        zcopy = p.get("experimental_zcopytx")
        return {"state": p.get("state") or "present", "persist": bool(p.get("persist", True)),
                "experimental_zcopytx": None if zcopy is None else bool(zcopy)}

    def read_current(self) -> dict[str, Any]:
        state = self.sys.module_state(MODULE)
        base = "/sys/module/%s" % MODULE
        zcopy = self.sys.read(base + "/parameters/experimental_zcopytx", "vhost_net") if state != "absent" else None
        current = {
            "kernel": self.release,
            "module": state,
            "available": state != "absent" or kernel_has_module(self.sys, MODULE, self.release),
            "refcnt": self.sys.read_int(base + "/refcnt", "vhost_net") or 0 if state == "loaded" else 0,
            "experimental_zcopytx": None if zcopy is None else zcopy in ("1", "Y"),
            "device": self.sys.exists(DEVICE),
        }
        if self.params.get("persist", True):
            current["files"] = _files.read_files([LOAD_CONF, OPTIONS_CONF], self.files_root)
        return current

    def plan(self, current: dict[str, Any], desired: dict[str, Any]) -> list[Operation]:
        if desired["state"] == "present" and not current["available"]:
            raise Unsupported("state: kernel %s has no vhost_net module (not in /lib/modules/%s/modules.dep nor "
                              "modules.builtin); install a kernel with CONFIG_VHOST_NET" % (self.release, self.release))
        ops = []
        if desired["persist"]:
            # experimental_zcopytx not mentioned: an existing options file is left alone
            wanted = render_files(desired)
            ops += _files.plan_files(current["files"], wanted)
        return ops + plan_vhost(current, desired)

    def apply_operation(self, op: Operation) -> None:
        if _files.apply_file_operation(op, self.files_root):
            return
        if op.action in ("unload", "reload"):
            self._modprobe(["-r", MODULE])
        if op.action in ("load", "reload"):
            args = [MODULE]
            if "experimental_zcopytx" in op.params:
                args.append("experimental_zcopytx=%d" % op.params["experimental_zcopytx"])
            self._modprobe(args)

    def _modprobe(self, args: list[str]) -> None:
        """Run modprobe with an argument list (no API exists to load a module with its options)."""
        binary = shutil.which("modprobe") or next(
            (p for p in ("/usr/sbin/modprobe", "/sbin/modprobe") if os.path.exists(p)), None)
        if binary is None:
            raise Unsupported("vhost_net: modprobe not found; install the distribution package kmod")
        proc = subprocess.run([binary] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, check=False)
        if proc.returncode:
            raise ApplyFailed("vhost_net: modprobe %s failed (rc %d): %s"
                              % (" ".join(args), proc.returncode, proc.stderr.strip()), rc=proc.returncode)

    def predict(self, current: dict[str, Any], desired: dict[str, Any],
                operations: list[Operation]) -> dict[str, Any]:
        after = dict(current)
        for op in operations:
            if op.action in ("load", "reload"):
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
