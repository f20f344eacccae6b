# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The sriov_vf resource: a PF's virtual functions and their attributes (pattern 7 of the seed).

By hand: ``echo 7 > /sys/class/net/enp1s0/device/sriov_numvfs`` (or ``modprobe igb max_vfs=7``),
``ip link set enp1s0 vf 0 mac ... vlan 100 spoofchk off trust on max_tx_rate 100``.

Realities handled here (see os-net-config's sriov_config and nmstate):

* ``sriov_numvfs`` can only go from 0 to N: a change passes through 0 (two steps, N -> 0 and
  0 -> M), which destroys every VF (and its settings). That is refused while a VF is the ``<hostdev>`` of a running libvirt
  domain, unless ``force``.
* VFs appear slowly (udev); their netdev names race: VFs are identified by their ``virtfnN``
  link (index -> PCI address) and waited for with a bounded timeout.
* Rate limits need the PF up; the PF is brought up only when ``bring_pf_up`` says so.
* VF settings are lost whenever the PF driver reloads: with ``persist`` they are written to
  ``/etc/kvmnet/sriov/<PCI>.json`` and re-applied by a udev-started oneshot unit; for igb the
  book's ``options igb max_vfs=N`` goes to ``/etc/modprobe.d`` as well.

Canonical forms: MAC lower case; vlan 0 = no VLAN; booleans for spoofchk/trust; link_state one
of auto/enable/disable; rates in Mbit/s (0 = unlimited). VF attributes not given are left alone.
"""

from __future__ import annotations

import json
import time
import traceback
import xml.etree.ElementTree as ET
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _boot_scripts as boot
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon, _files
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, Resource, field_changes
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    BackendUnavailable,
    Conflict,
    InvalidInput,
    KvmnetError,
    NotFound,
    Unsupported,
    VerificationFailed,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._netlink import VF_LINK_STATES, Netlink
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._sysfs import Sysfs

try:
    import libvirt  # type: ignore[import-not-found]
    LIBVIRT_IMPORT_ERROR = None
except ImportError:
    LIBVIRT_IMPORT_ERROR = traceback.format_exc()

VF_FIELDS = ("mac", "vlan", "qos", "spoofchk", "trust", "link_state", "min_tx_rate", "max_tx_rate")
#: drivers whose module takes the book's ``max_vfs`` option
MAX_VFS_DRIVERS = ("igb",)
#: the largest value of a netlink __u32 (VF index, IFLA_VF_RATE rates)
U32_MAX = 2 ** 32 - 1


def normalize_vf(item: dict[str, Any]) -> dict[str, Any]:
    """One entry of ``vfs`` in canonical form (None = not mentioned)."""
    index = item.get("vf")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise InvalidInput("vfs.vf", index, "is not a VF index (an integer from 0)")
    if index > U32_MAX:  # IFLA_VF_* index: __u32
        raise InvalidInput("vfs[%d].vf" % index, index, "is out of range (a VF index of the PF)")
    out: dict[str, Any] = {"vf": index}
    out["mac"] = _canon.unicast_mac(item["mac"], "vfs[%d].mac" % index) if item.get("mac") is not None else None
    vlan = item.get("vlan")
    if vlan is not None and not 0 <= int(vlan) <= 4095:
        raise InvalidInput("vfs[%d].vlan" % index, vlan, "is out of range (0-4095, 0 = no VLAN)")
    out["vlan"] = vlan
    qos = item.get("qos")
    if qos is not None and not 0 <= int(qos) <= 7:
        raise InvalidInput("vfs[%d].qos" % index, qos, "is out of range (802.1p priority 0-7)")
    if qos and not vlan:
        raise InvalidInput("vfs[%d].qos" % index, qos, "needs a vlan other than 0")
    out["qos"] = qos
    for flag in ("spoofchk", "trust"):
        out[flag] = item.get(flag)
    state = item.get("link_state")
    if state is not None and state not in VF_LINK_STATES:
        raise InvalidInput("vfs[%d].link_state" % index, state, "is not one of %s" % ", ".join(VF_LINK_STATES))
    out["link_state"] = state
    for rate in ("min_tx_rate", "max_tx_rate"):
        value = item.get(rate)
        if value is not None and not 0 <= value <= U32_MAX:
            # IFLA_VF_RATE carries both rates as __u32 Mbit/s
            raise InvalidInput("vfs[%d].%s" % (index, rate), value, "is out of range (0-%d Mbit/s, 0 = unlimited)"
                               % U32_MAX)
        out[rate] = value
    if out["min_tx_rate"] and out["max_tx_rate"] and out["min_tx_rate"] > out["max_tx_rate"]:
        raise InvalidInput("vfs[%d].min_tx_rate" % index, out["min_tx_rate"], "is above max_tx_rate %d"
                           % out["max_tx_rate"])
    return out


def persisted_config(text: str | None) -> dict[str, Any] | None:
    """The boot config (:func:`render_persist`'s JSON) as a dict; None when there is none or it
    is not a JSON object."""
    try:
        conf = json.loads(text) if text else None
    except ValueError:
        return None
    return conf if isinstance(conf, dict) else None


def render_persist(pci: str, driver: str | None, desired: dict[str, Any], current: dict[str, Any],
                   previous_json: str | None) -> dict[str, dict[str, str]]:
    """Files that make the PF's VFs survive a reboot, as ``{mode: {path: content}}``.

    The JSON merges the previously persisted VF attributes with the desired ones (attributes not
    mentioned in this run stay persisted); numvfs not given persists the current count.
    """
    previous = persisted_config(previous_json) or {}
    numvfs = desired["numvfs"] if desired["numvfs"] is not None else (previous.get("numvfs", current["numvfs"]))
    vfs: dict[str, dict[str, Any]] = {k: dict(v) for k, v in previous.get("vfs", {}).items() if int(k) < numvfs}
    for index, attrs in desired["vfs"].items():
        entry = vfs.setdefault(str(index), {})
        entry.update({k: attrs[k] for k in VF_FIELDS if attrs.get(k) is not None})
    conf: dict[str, Any] = {"pf_pci": pci, "numvfs": numvfs}
    autoprobe = desired["drivers_autoprobe"] if desired["drivers_autoprobe"] is not None \
        else previous.get("drivers_autoprobe")
    if autoprobe is not None:
        conf["drivers_autoprobe"] = autoprobe
    if desired["bring_pf_up"] or previous.get("bring_pf_up"):
        conf["bring_pf_up"] = True
    conf["vfs"] = {k: vfs[k] for k in sorted(vfs, key=int)}
    files = {
        boot.sriov_config_path(pci): json.dumps(conf, indent=2, sort_keys=True) + "\n",
        boot.SRIOV_UNIT_PATH: boot.SRIOV_UNIT,
        "/etc/udev/rules.d/70-kvmnet-sriov-%s.rules" % pci: boot.SRIOV_UDEV.format(pci=pci),
    }
    wants_path, wants = boot.boot_wants("kvmnet-sriov@%s.service" % pci, "sriov_vf")
    files[wants_path] = wants
    if driver in MAX_VFS_DRIVERS:
        files["/etc/modprobe.d/kvmnet-sriov-%s.conf" % driver] = (
            boot.MANAGED % "sriov_vf" + "# The book's way: VFs created when the driver loads (all %s ports).\n"
            "options %s max_vfs=%d\n" % (driver, driver, numvfs))
    return {"0644": files, "0755": {boot.SRIOV_SCRIPT_PATH: boot.SRIOV_SCRIPT}}


def plan_sriov(current: dict[str, Any], desired: dict[str, Any], busy: dict[str, str]) -> list[Operation]:
    """Operations turning the PF's current SR-IOV state into the desired one (files excluded).

    ``busy`` maps VF PCI addresses to the running domain using them (checked when VFs would be
    destroyed). Pure function: raises InvalidInput/Conflict before anything is changed.
    """
    pf = current["pf"]
    ops: list[Operation] = []
    numvfs = desired["numvfs"]
    if numvfs is not None and numvfs > current["totalvfs"]:
        raise InvalidInput("numvfs", numvfs, "is above sriov_totalvfs %d of PF %s (%s)"
                           % (current["totalvfs"], pf, current["pci"]))
    target = numvfs if numvfs is not None else current["numvfs"]
    for index in desired["vfs"]:
        if index >= target:
            raise InvalidInput("vfs[%d].vf" % index, index, "is out of range: PF %s has %d VFs (0..%d)"
                               % (pf, target, target - 1) if target else
                               "is out of range: PF %s has no VFs (set numvfs)" % pf)
    resets = numvfs is not None and numvfs != current["numvfs"]
    if resets and current["numvfs"] and not desired["force"]:
        in_use = {vf["pci"]: busy[vf["pci"]] for vf in current["vfs"] if vf["pci"] in busy}
        if in_use:
            raise Conflict("numvfs: %s: changing %d -> %d VFs passes through 0 and destroys every VF, but %s; "
                           "detach them or set force=true"
                           % (pf, current["numvfs"], numvfs,
                              ", ".join("VF %s is attached to running domain %s" % kv for kv in sorted(in_use.items()))),
                           in_use=in_use)
    if desired["drivers_autoprobe"] is not None and desired["drivers_autoprobe"] != current["drivers_autoprobe"]:
        ops.append(Operation("set_drivers_autoprobe", pf, changes={
            "drivers_autoprobe": {"before": current["drivers_autoprobe"], "after": desired["drivers_autoprobe"]}}))
    if resets:
        # the kernel changes sriov_numvfs only from 0: N -> 0 -> M is two steps (the first destroys the VFs)
        if current["numvfs"] and numvfs:
            ops.append(Operation("set_numvfs", pf, changes={"numvfs": {"before": current["numvfs"], "after": 0}},
                                 through_zero=True))
            ops.append(Operation("set_numvfs", pf, changes={"numvfs": {"before": 0, "after": numvfs}},
                                 through_zero=True))
        else:
            ops.append(Operation("set_numvfs", pf, changes={"numvfs": {"before": current["numvfs"], "after": numvfs}},
                                 through_zero=False))
    by_index = {vf["vf"]: vf for vf in current["vfs"]}
    for index, want in sorted(desired["vfs"].items()):
        # after a reset the VF is new: every field given is (re)applied
        have = {} if resets else by_index.get(index, {})
        changes = field_changes(have, want, VF_FIELDS)
        if changes:
            ops.append(Operation("set_vf", "%s vf %d" % (pf, index), changes=changes, vf=index))
    wants_rate = any(op.changes.get(rate, {}).get("after") for op in ops if op.action == "set_vf"
                     for rate in ("min_tx_rate", "max_tx_rate"))
    admin = desired.get("pf_admin_state")  # given by a rollback only: the PF's state as read before
    if (wants_rate or admin == "up") and current["pf_admin_state"] != "up":
        if not desired["bring_pf_up"] and admin != "up":
            raise InvalidInput("bring_pf_up", False, "but PF %s is down and VF rate limits need the PF up: "
                               "set bring_pf_up=true or bring %s up first" % (pf, pf))
        ops.insert(0, Operation("set_pf_up", pf, changes={"admin_state": {"before": current["pf_admin_state"],
                                                                          "after": "up"}}))
    if admin is not None and admin != "up" and (current["pf_admin_state"] == "up" or ops[:1] and
                                                ops[0].action == "set_pf_up"):
        ops.append(Operation("set_pf_down", pf, changes={"admin_state": {"before": "up", "after": admin}}))
    return ops


def running_domain_hostdevs(uri: str) -> dict[str, str]:
    """PCI addresses used as ``<hostdev>`` by running libvirt domains -> domain name.

    Without libvirt-python there can be no libvirt domain: {}.
    """
    if LIBVIRT_IMPORT_ERROR is not None:
        return {}
    try:
        conn = libvirt.openReadOnly(uri)
    except libvirt.libvirtError as exc:
        raise BackendUnavailable("cannot check libvirt domains for VFs in use (%s: %s); start libvirtd or set "
                                 "force=true" % (uri, exc)) from exc
    try:
        used = {}
        try:
            domains = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
        except libvirt.libvirtError as exc:
            raise BackendUnavailable("cannot list the running libvirt domains on %s to check for VFs in use: %s"
                                     % (uri, exc)) from exc
        for dom in domains:
            try:
                root = ET.fromstring(dom.XMLDesc(0))
            except libvirt.libvirtError as exc:
                if exc.get_error_code() == 42:  # VIR_ERR_NO_DOMAIN: it stopped since the listing
                    continue
                raise BackendUnavailable("cannot read the XML of running domain %r on %s to check for VFs in use: "
                                         "%s" % (dom.name(), uri, exc)) from exc
            devices = list(root.iter("hostdev")) + [i for i in root.iter("interface") if i.get("type") == "hostdev"]
            for dev in devices:
                addr = dev.find("source/address")
                if addr is None or addr.get("bus") is None:
                    continue
                pci = "%04x:%02x:%02x.%x" % tuple(int(addr.get(k) or "0", 16)
                                                  for k in ("domain", "bus", "slot", "function"))
                used[pci] = dom.name()
        return used
    finally:
        conn.close()


class SriovVfResource(Resource):
    """The SR-IOV state of one PF: numvfs, drivers_autoprobe, VF attributes, persistence files."""

    verify_attempts = 25
    verify_delay = 0.4

    def __init__(self, params: dict[str, Any], root: str = "/") -> None:
        super().__init__(params, root)
        self.sys = Sysfs(self.root)
        self.nl = Netlink()
        self.pci: str | None = None
        self.pf: str | None = None

    def open(self) -> None:
        self.nl.open()

    def close(self) -> None:
        self.nl.close()

    def diff_header(self) -> str:
        return "SR-IOV PF %s" % self.params["pf"]

    def normalize(self) -> dict[str, Any]:
        p = self.params
        numvfs = p.get("numvfs")
        if numvfs is not None and numvfs < 0:
            raise InvalidInput("numvfs", numvfs, "is negative")
        vfs: dict[int, dict[str, Any]] = {}
        for item in p.get("vfs") or []:
            vf = normalize_vf(item)
            if vf["vf"] in vfs:
                raise InvalidInput("vfs", vf["vf"], "is listed twice")
            vfs[vf["vf"]] = vf
        _canon.libvirt_uri(p.get("uri"))  # used only when VFs are destroyed: refused whatever the plan
        if (p.get("wait_timeout") or 0) < 0:
            raise InvalidInput("wait_timeout", p.get("wait_timeout"), "is negative")
        return {
            "pf": str(p["pf"]),
            "numvfs": numvfs,
            "drivers_autoprobe": p.get("drivers_autoprobe"),
            "vfs": vfs,
            "bring_pf_up": bool(p.get("bring_pf_up")),
            "force": bool(p.get("force")),
            "persist": bool(p.get("persist")),
        }

    def _resolve(self) -> None:
        """PF name <-> PCI address, from what the user gave."""
        given = str(self.params["pf"])
        addr = _canon.pci_address(given, "pf") if ":" in given else None  # names cannot hold ':'
        if addr:
            if not self.sys.pci_exists(addr):
                raise NotFound("pf: PCI device %s does not exist" % addr)
            names = self.sys.pci_netdevs(addr)
            self.pci, self.pf = addr, names[0] if names else None
            if self.pf is None:
                raise NotFound("pf: PCI device %s has no network interface (is its driver bound?)" % addr)
        else:
            _canon.ifname(given, "pf")
            if not self.sys.netdev_exists(given):
                raise NotFound("pf: network interface %r does not exist" % given)
            self.pci = self.sys.netdev_pci(given)
            self.pf = given
            if self.pci is None:
                raise Unsupported("pf: %s is not a PCI device (virtual interface); it has no SR-IOV" % given)

    def read_current(self) -> dict[str, Any]:
        if self.pci is None:
            self._resolve()
        pf, pci = self.pf, self.pci
        sriov = self.sys.sriov(pci, pf)
        if sriov is None:
            raise Unsupported("pf: %s (%s, driver %s) is not SR-IOV capable (no sriov_totalvfs)"
                              % (pf, pci, self.sys.pci_driver(pci)))
        link = self.nl.link(pf)
        if link is None:
            raise NotFound("pf: network interface %s vanished" % pf)
        attrs = self.nl.vfs(link["ifindex"], pf)
        vfs = []
        for index, vf_pci in sriov["vfs"].items():
            entry = {"vf": index, "pci": vf_pci, "netdev": (self.sys.pci_netdevs(vf_pci) or [None])[0],
                     "driver": self.sys.pci_driver(vf_pci)}
            entry.update(attrs.get(index, {k: None for k in VF_FIELDS}))
            vfs.append(entry)
        current = {
            "pf": pf,
            "pci": pci,
            "driver": self.sys.pci_driver(pci),
            "pf_admin_state": link["admin_state"],
            "numvfs": sriov["numvfs"],
            "totalvfs": sriov["totalvfs"],
            "drivers_autoprobe": sriov["drivers_autoprobe"],
            "vfs": vfs,
        }
        if self.params.get("persist"):
            current["files"] = _files.read_files(sorted(self._persist_paths(current)), self.root)
        return current

    def _persist_paths(self, current: dict[str, Any]) -> list[str]:
        paths = [boot.sriov_config_path(self.pci), boot.SRIOV_UNIT_PATH, boot.SRIOV_SCRIPT_PATH,
                 "/etc/udev/rules.d/70-kvmnet-sriov-%s.rules" % self.pci,
                 boot.boot_wants("kvmnet-sriov@%s.service" % self.pci, "sriov_vf")[0]]
        if current["driver"] in MAX_VFS_DRIVERS:
            paths.append("/etc/modprobe.d/kvmnet-sriov-%s.conf" % current["driver"])
        return paths

    def plan(self, current: dict[str, Any], desired: dict[str, Any]) -> list[Operation]:
        busy: dict[str, str] = {}
        if (desired["numvfs"] is not None and desired["numvfs"] != current["numvfs"] and current["numvfs"]
                and not desired["force"]):
            busy = running_domain_hostdevs(_canon.libvirt_uri(self.params.get("uri")))
        ops = plan_sriov(current, desired, busy)
        if desired.get("files") is not None:  # a rollback: the files exactly as read before
            file_ops = _files.plan_files(current.get("files") or {}, desired["files"])
            for op in file_ops:
                if op.target == boot.SRIOV_SCRIPT_PATH and op.action == "write_file":
                    op.params["mode"] = "0755"
            ops += file_ops + _files.plan_reloads(file_ops)
        elif desired["persist"]:
            files = current.get("files") or {}
            rendered = render_persist(self.pci, current["driver"], desired, current,
                                      files.get(boot.sriov_config_path(self.pci)))
            file_ops = []
            for mode, wanted in sorted(rendered.items()):
                file_ops += _files.plan_files(files, wanted, int(mode, 8))
            # udev and systemd read the changed rule / unit now: the PF driver's next reload
            # re-applies the VFs, not only the next boot
            ops += file_ops + _files.plan_reloads(file_ops)
        return ops

    def apply_operation(self, op: Operation) -> None:
        pf, pci = self.pf, self.pci
        if _files.apply_file_operation(op, self.root) or _files.apply_reload_operation(op, "%s (%s)" % (pf, pci)):
            return
        if op.action in ("set_pf_up", "set_pf_down"):
            state = op.changes["admin_state"]["after"]
            self.nl.set_link(self.nl.index(pf), "%s: bringing the PF %s" % (pf, state), state=state)
        elif op.action == "set_drivers_autoprobe":
            self.sys.set_drivers_autoprobe(pci, op.changes["drivers_autoprobe"]["after"], pf)
        elif op.action == "set_numvfs":
            count = op.changes["numvfs"]["after"]
            self.sys.set_numvfs(pci, count, pf)
            self._wait_for_vfs(count)
        elif op.action == "set_vf":
            attrs = {k: v["after"] for k, v in op.changes.items()}
            current = {}
            if ("vlan" in attrs) != ("qos" in attrs) or ("min_tx_rate" in attrs) != ("max_tx_rate" in attrs):
                # IFLA_VF_VLAN carries vlan+qos and IFLA_VF_RATE min+max: keep the partner's value
                current = self.nl.vfs(self.nl.index(pf), pf).get(op.params["vf"], {})
            for a, b in (("vlan", "qos"), ("min_tx_rate", "max_tx_rate")):
                if a in attrs and b not in attrs:
                    attrs[b] = current.get(b) or 0
                elif b in attrs and a not in attrs:
                    attrs[a] = current.get(a) or 0
            what = "%s: setting VF %d" % (pf, op.params["vf"])
            deadline = time.time() + float(self.params.get("wait_timeout") or 30)
            while True:
                try:
                    self.nl.set_vf(self.nl.index(pf), op.params["vf"], what, **attrs)
                    return
                except Unsupported:
                    # drivers refuse rate limits (EINVAL) until the PF link is up at full speed,
                    # which takes a few seconds after bringing it up: retry within wait_timeout
                    if not attrs.get("max_tx_rate") or time.time() > deadline:
                        raise
                    time.sleep(0.5)

    def _wait_for_vfs(self, count: int) -> None:
        """Wait (bounded by wait_timeout) until the kernel lists ``count`` VFs and netlink sees them."""
        deadline = time.time() + float(self.params.get("wait_timeout") or 30)
        pf = self.pf
        while True:
            sriov = self.sys.sriov(self.pci, pf) or {"vfs": {}}
            seen = len(sriov["vfs"])
            known = len(self.nl.vfs(self.nl.index(pf), pf))
            if seen == count and known == count:
                return
            if time.time() > deadline:
                raise VerificationFailed("%s: %d VFs asked, %d virtfn links and %d VFs in netlink after %ss "
                                         "(wait_timeout)" % (pf, count, seen, known, self.params.get("wait_timeout")))
            time.sleep(0.2)

    def predict(self, current: dict[str, Any], desired: dict[str, Any],
                operations: list[Operation]) -> dict[str, Any]:
        after = json.loads(json.dumps(current))
        for op in operations:
            if op.action in ("set_pf_up", "set_pf_down"):
                after["pf_admin_state"] = op.changes["admin_state"]["after"]
            elif op.action == "set_drivers_autoprobe":
                after["drivers_autoprobe"] = desired["drivers_autoprobe"]
            elif op.action == "set_numvfs":
                count = op.changes["numvfs"]["after"]
                after["numvfs"] = count
                after["vfs"] = [dict({"vf": i, "pci": None, "netdev": None, "driver": None},
                                     **{k: None for k in VF_FIELDS}) for i in range(count)]
            elif op.action == "set_vf":
                after["vfs"][op.params["vf"]].update({k: v["after"] for k, v in op.changes.items()})
            elif op.action in ("write_file", "remove_file"):
                after.setdefault("files", {})[op.target] = op.params.get("content")
        return after

    def restore_desired(self, before: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
        """The PF as read before: numvfs, drivers_autoprobe, every VF attribute netlink reported,
        the PF's admin state and (with persist) the persisted files exactly (None: removed).
        ``force``: the VFs a rollback re-creates are the ones the failed run destroyed."""
        if before is None:
            raise KvmnetError("internal error: no SR-IOV state of PF %s was read" % self.params["pf"])
        vfs = {vf["vf"]: dict({k: vf.get(k) for k in VF_FIELDS}, vf=vf["vf"]) for vf in before["vfs"]}
        return {"pf": before["pf"], "numvfs": before["numvfs"], "drivers_autoprobe": before["drivers_autoprobe"],
                "vfs": vfs, "bring_pf_up": True, "force": True, "persist": False,
                "pf_admin_state": before["pf_admin_state"],
                "files": dict(before["files"]) if before.get("files") is not None else None}

    def extra_results(self, after: dict[str, Any] | None) -> dict[str, Any]:
        return {"vfs": (after or {}).get("vfs", []), "pci": self.pci}
