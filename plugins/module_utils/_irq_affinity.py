# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The irq_affinity resource: a NIC's queue IRQs, RPS/XPS, channels, irqbalance (seed pattern 5).

By hand: ``ethtool -L eth0 combined 4``; ``grep eth0 /proc/interrupts``; ``echo 2 >
/proc/irq/53/smp_affinity_list`` per queue; ``echo f > /sys/class/net/eth0/queues/rx-0/rps_cpus``;
tell irqbalance to keep away. Queue IRQs are found among the device's MSI IRQs
(``/sys/bus/pci/devices/<PCI>/msi_irqs``) by their names in ``/proc/interrupts``
(:data:`QUEUE_PATTERNS`: ``virtio2-input.0``, ``eth0-TxRx-0``, ``i40e-eth0-TxRx-3``...). Queue N's
IRQs (rx, tx or combined) all go to the same CPUs; spreading gives queue N the N-th CPU of the
list (round robin). The CPU list defaults to the CPUs local to the NIC's NUMA node that are
online. State is keyed by IRQ *name*: IRQ numbers change across boots.

Rollback (:meth:`IrqAffinityResource.restore_desired`) puts back exactly what was read: the
channels, every queue IRQ's CPUs, every queue's RPS / XPS CPUs (an ``exact`` target, which the
options cannot always express: queue 0's rx and tx IRQs may have been on different CPUs); the
files are restored byte for byte by the engine.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _boot_scripts as boot
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon, _ethtool, _files
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, Resource, existing
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import InvalidInput, NotFound, Unsupported
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._sysfs import Sysfs

#: IRQ action names of a queue; {dev} is the netdev's device (virtio2), {ifname} the interface.
#: The first pattern that matches any IRQ of the device is used (and persisted for boot).
QUEUE_PATTERNS = (
    r"^{dev}-(?P<kind>input|output)\.(?P<queue>\d+)$",
    r"(^|[-_@])({ifname})-(?P<kind>TxRx|txrx|combined|rx|tx|fp)-(?P<queue>\d+)$",
    r"(^|[-_@])({ifname})-(?P<kind>)(?P<queue>\d+)$",
)
KINDS = {"input": "rx", "rx": "rx", "output": "tx", "tx": "tx"}
IRQBALANCE_DEFAULTS = "/etc/default/irqbalance"
#: irqbalance arguments per mode (see docs/patterns/irq_tuning.md)
IRQBALANCE_MODES = {"performance": "", "power-save": " --powerthresh=1"}


def compile_pattern(template: str, ifname: str, dev: str | None) -> re.Pattern[str]:
    """A queue pattern for one interface."""
    return re.compile(template.replace("{ifname}", re.escape(ifname)).replace("{dev}", re.escape(dev or ifname)))


def find_queue_irqs(ifname: str, dev: str | None, msi_irqs: list[int],
                    interrupts: list[dict[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    """The interface's queue IRQs as ``(pattern template, [{irq, name, queue, kind}])``.

    Only the device's MSI IRQs are considered when it has any (a name match on another device's
    IRQ is not ours); without MSI information every IRQ is matched by name.
    """
    msi = set(msi_irqs)
    candidates = [(e["irq"], name) for e in interrupts for name in e["actions"] if not msi or e["irq"] in msi]
    for template in QUEUE_PATTERNS:
        pattern = compile_pattern(template, ifname, dev)
        found = []
        for irq, name in candidates:
            match = pattern.search(name)
            if match:
                found.append({"irq": irq, "name": name, "queue": int(match.group("queue")),
                              "kind": KINDS.get((match.group("kind") or "").lower(), "combined")})
        if found:
            return template, sorted(found, key=lambda q: (q["queue"], q["kind"], q["irq"]))
    return None, []


def spread(queues: list[int], cpus: tuple[int, ...]) -> dict[int, tuple[int, ...]]:
    """Queue N -> the (N mod len)-th CPU of ``cpus`` (one CPU per queue, round robin)."""
    return {q: (cpus[i % len(cpus)],) for i, q in enumerate(sorted(queues))}


def render_irqbalance(mode: str) -> str:
    """/etc/default/irqbalance: our policy script bans the pinned IRQs; the mode's arguments."""
    return (boot.MANAGED % "irq_affinity"
            + "# --policyscript bans the queue IRQs of the interfaces in /etc/kvmnet/irq/ (kvmnet pins them).\n"
            + "# mode: %s\n" % mode
            + 'IRQBALANCE_ARGS="--policyscript=%s%s"\n' % (boot.IRQBALANCE_POLICY_PATH, IRQBALANCE_MODES[mode]))


def plan_irq(current: dict[str, Any], desired: dict[str, Any]) -> list[Operation]:
    """Operations (channels, IRQ affinity, RPS, XPS) turning ``current`` into ``desired``.

    ``desired`` carries the resolved targets: ``channels`` (int or None), ``irqs`` ({name: cpus
    string}), ``rps_cpus`` / ``xps_cpus`` ({"rx-0": cpus string}). Pure function.
    """
    ops: list[Operation] = []
    ifname = current["interface"]
    want_ch = desired.get("channels")
    if want_ch is not None and want_ch != current["channels"]["combined"]:
        ops.append(Operation("set_channels", ifname, changes={
            "combined": {"before": current["channels"]["combined"], "after": want_ch}}))
    for name, cpus in sorted(desired["irqs"].items()):
        have = current["irqs"].get(name, {})
        if have.get("cpus") != cpus:
            ops.append(Operation("set_irq_affinity", name, changes={"cpus": {"before": have.get("cpus"), "after": cpus}},
                                 irq=have.get("irq")))
    for attr, action in (("rps_cpus", "set_rps"), ("xps_cpus", "set_xps")):
        for queue, cpus in sorted((desired.get(attr) or {}).items()):
            have = current[attr].get(queue)
            if have != cpus:
                ops.append(Operation(action, "%s %s" % (ifname, queue), changes={attr: {"before": have, "after": cpus}},
                                     queue=queue))
    return ops


class IrqAffinityResource(Resource):
    """IRQ affinity, RPS/XPS and channels of one interface (host namespace)."""

    verify_attempts = 10
    verify_delay = 0.3

    def __init__(self, params: dict[str, Any], root: str = "/") -> None:
        super().__init__(params, root)
        self.sys = Sysfs(self.root)
        self.ifname = str(params["interface"])
        self.template: str | None = None
        #: set when irqbalance's configuration is (to be) rewritten: it reads it at start only
        self.irqbalance_restart = False

    def diff_header(self) -> str:
        return "IRQs of %s" % self.ifname

    def normalize(self) -> dict[str, Any]:
        p = self.params
        _canon.ifname(self.ifname, "interface")
        desired: dict[str, Any] = {
            "cpus": _canon.cpus_parse(p["cpus"], "cpus") if p.get("cpus") is not None else None,
            "queue_cpus": {},
            "pin_irqs": p.get("pin_irqs", True),
            "rps_cpus": None,
            "xps": bool(p.get("xps")),
            "channels": p.get("combined_channels"),
            "persist": bool(p.get("persist")),
            "irqbalance_ban": bool(p.get("irqbalance_ban")),
            "irqbalance_mode": p.get("irqbalance_mode") or "performance",
        }
        if desired["cpus"] is not None and not desired["pin_irqs"]:
            raise InvalidInput("cpus", p["cpus"], "spreads the queue IRQs, which pin_irqs: false leaves alone; "
                                                  "drop cpus, or use queue_cpus for single queues")
        first: dict[int, int] = {}
        for index, item in enumerate(p.get("queue_cpus") or [], 1):
            queue = item.get("queue")
            if isinstance(queue, bool) or not isinstance(queue, int) or queue < 0:
                raise InvalidInput("queue_cpus.queue", queue, "is not a queue number (an integer from 0)")
            if queue in first:
                raise InvalidInput("queue_cpus[%d].queue" % queue, queue, "is listed twice (items %d and %d of "
                                   "queue_cpus); give each queue once" % (first[queue], index))
            first[queue] = index
            desired["queue_cpus"][queue] = _canon.cpus_parse(item.get("cpus"), "queue_cpus[%d].cpus" % queue)
        rps = p.get("rps_cpus")
        if rps is not None:
            desired["rps_cpus"] = () if str(rps).strip() in ("none", "0x0") else _canon.cpus_parse(rps, "rps_cpus")
        if desired["channels"] is not None and desired["channels"] < 1:
            raise InvalidInput("combined_channels", desired["channels"], "must be at least 1")
        return desired

    def read_current(self) -> dict[str, Any]:
        ifname = self.ifname
        if not self.sys.netdev_exists(ifname):
            raise NotFound("interface: %r does not exist (host network namespace)" % ifname)
        pci = self.sys.netdev_pci(ifname)
        dev = self.sys.netdev_device_name(ifname)
        numa = self.sys.pci_numa(pci, ifname) if pci else {"numa_node": None, "local_cpus": None}
        msi = self.sys.msi_irqs(pci, ifname) if pci else []
        self.template, queues = find_queue_irqs(ifname, dev, msi, self.sys.interrupts())
        irqs = {}
        for q in queues:
            cpus = self.sys.irq_affinity(q["irq"], ifname)
            irqs[q["name"]] = {"irq": q["irq"], "queue": q["queue"], "kind": q["kind"],
                               "cpus": _canon.cpus_format(cpus) if cpus is not None else None}
        sys_queues = self.sys.queues(ifname)
        rps = {}
        xps = {}
        for n in sys_queues["rx"]:
            cpus = self.sys.queue_cpus(ifname, "rx", n)
            rps["rx-%d" % n] = None if cpus is None else _canon.cpus_format(cpus)
        for n in sys_queues["tx"]:
            cpus = self.sys.queue_cpus(ifname, "tx", n)
            xps["tx-%d" % n] = None if cpus is None else _canon.cpus_format(cpus)
        try:
            channels = _ethtool.get_channels(ifname)
        except Unsupported:
            channels = None
        current = {
            "interface": ifname,
            "pci": pci,
            "numa_node": numa["numa_node"],
            "local_cpus": _canon.cpus_format(numa["local_cpus"]) if numa["local_cpus"] else None,
            "online_cpus": _canon.cpus_format(self.sys.online_cpus()),
            "channels": channels or {"combined": None, "max_combined": None},
            "irqs": irqs,
            "rps_cpus": rps,
            "xps_cpus": xps,
        }
        if self._file_paths():
            current["files"] = _files.read_files(self._file_paths(), self.root)
        return current

    def _file_paths(self) -> list[str]:
        paths = []
        if self.params.get("persist") or self.params.get("irqbalance_ban"):
            paths.append("%s/%s.json" % (boot.IRQ_CONFIG_DIR, self.ifname))
        if self.params.get("persist"):
            paths += [boot.IRQ_SCRIPT_PATH, boot.IRQ_UNIT_PATH, "/etc/udev/rules.d/90-kvmnet-irq-%s.rules" % self.ifname,
                      boot.boot_wants("kvmnet-irq@%s.service" % self.ifname, "irq_affinity")[0]]
        if self.params.get("irqbalance_ban"):
            paths += [boot.IRQBALANCE_POLICY_PATH, IRQBALANCE_DEFAULTS]
        return sorted(paths)

    def targets(self, current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
        """Resolve the options against the host: per-IRQ-name CPUs, per-queue RPS/XPS; validates CPUs."""
        online = _canon.cpus_parse(current["online_cpus"], "online cpus")
        for option, cpus in [("cpus", desired["cpus"]), ("rps_cpus", desired["rps_cpus"])] + [
                ("queue_cpus[%d].cpus" % q, c) for q, c in desired["queue_cpus"].items()]:
            offline = sorted(set(cpus or ()) - set(online))
            if offline:
                raise InvalidInput(option, _canon.cpus_format(cpus), "includes CPUs %s that are not online (online: %s)"
                                   % (_canon.cpus_format(offline), current["online_cpus"]))
        channels = desired["channels"]
        maxc = current["channels"].get("max_combined")
        if channels is not None:
            if maxc is None:
                raise Unsupported("combined_channels: %s does not report channels (no ETHTOOL_GCHANNELS)" % self.ifname)
            if channels > maxc:
                raise InvalidInput("combined_channels", channels, "is above the maximum %d of %s" % (maxc, self.ifname))
        active = channels or current["channels"].get("combined")
        queues = sorted({i["queue"] for i in current["irqs"].values()})
        if active:
            queues = [q for q in queues if q < active]
        for q in desired["queue_cpus"]:
            if q not in queues:
                raise InvalidInput("queue_cpus.queue", q, "is not an active queue of %s (queues: %s)"
                                   % (self.ifname, ", ".join(map(str, queues)) or "none found"))
        cpus = desired["cpus"]
        if cpus is None:
            local = _canon.cpus_parse(current["local_cpus"], "local") if current["local_cpus"] else online
            cpus = tuple(c for c in local if c in online) or online
        per_queue = spread(queues, cpus) if desired["pin_irqs"] else {}
        per_queue.update(desired["queue_cpus"])
        if desired["pin_irqs"] and not queues:
            raise Unsupported("interface: found no queue IRQs of %s in /proc/interrupts (patterns: %s)"
                              % (self.ifname, ", ".join(QUEUE_PATTERNS)))
        irqs = {name: _canon.cpus_format(per_queue[i["queue"]]) for name, i in current["irqs"].items()
                if i["queue"] in per_queue}
        rx = [int(k[3:]) for k in current["rps_cpus"]]
        tx = [int(k[3:]) for k in current["xps_cpus"]]
        if channels is not None:
            rx = tx = list(range(channels))
        rps = {}
        if desired["rps_cpus"] is not None:
            rps = {"rx-%d" % q: _canon.cpus_format(desired["rps_cpus"]) for q in rx}
        xps = {}
        if desired["xps"]:
            missing = [k for k, v in current["xps_cpus"].items() if v is None]
            if missing or not tx:
                raise Unsupported("xps: %s has no xps_cpus on %s (kernel without CONFIG_XPS?)"
                                  % (self.ifname, ", ".join(missing) or "any tx queue"))
            xps = {"tx-%d" % q: _canon.cpus_format(per_queue[q]) for q in tx if q in per_queue}
        return {"channels": channels, "irqs": irqs, "rps_cpus": rps, "xps_cpus": xps, "queue_cpus": per_queue}

    def restore_desired(self, before: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
        """The values read before, exactly (``exact``: channels, IRQ CPUs by IRQ name, RPS / XPS
        by queue); values that could not be read are left alone; no files."""
        before = existing(before)
        exact = {
            "channels": (before.get("channels") or {}).get("combined"),
            "irqs": {name: irq["cpus"] for name, irq in before["irqs"].items() if irq.get("cpus") is not None},
            "rps_cpus": {q: c for q, c in before["rps_cpus"].items() if c is not None},
            "xps_cpus": {q: c for q, c in before["xps_cpus"].items() if c is not None},
        }
        return dict(desired, exact=exact)

    def plan(self, current: dict[str, Any], desired: dict[str, Any]) -> list[Operation]:
        if desired.get("exact") is not None:  # a rollback: the values read before, no files
            return plan_irq(current, desired["exact"])
        target = self.targets(current, desired)
        ops = plan_irq(current, target)
        paths = self._file_paths()
        if paths:
            conf = {
                "interface": self.ifname,
                "queue_pattern": self.template,
                "queue_cpus": {str(q): _canon.cpus_format(c) for q, c in sorted(target["queue_cpus"].items())},
                "rps_cpus": {k[3:]: v for k, v in target["rps_cpus"].items()},
                "xps_cpus": {k[3:]: v for k, v in target["xps_cpus"].items()},
            }
            if target["channels"]:
                conf["combined_channels"] = target["channels"]
            if current.get("pci"):  # irqbalance's policy script finds the NIC by it
                conf["pci"] = current["pci"]
            wanted = {"%s/%s.json" % (boot.IRQ_CONFIG_DIR, self.ifname): json.dumps(conf, indent=2, sort_keys=True) + "\n"}
            scripts = {}
            if desired["persist"]:
                wanted[boot.IRQ_UNIT_PATH] = boot.IRQ_UNIT
                wanted["/etc/udev/rules.d/90-kvmnet-irq-%s.rules" % self.ifname] = boot.IRQ_UDEV.format(ifname=self.ifname)
                path, content = boot.boot_wants("kvmnet-irq@%s.service" % self.ifname, "irq_affinity")
                wanted[path] = content
                scripts[boot.IRQ_SCRIPT_PATH] = boot.IRQ_SCRIPT
            if desired["irqbalance_ban"]:
                wanted[IRQBALANCE_DEFAULTS] = render_irqbalance(desired["irqbalance_mode"])
                scripts[boot.IRQBALANCE_POLICY_PATH] = boot.IRQBALANCE_POLICY
            self.irqbalance_restart = self.irqbalance_restart or any(
                op.target in (IRQBALANCE_DEFAULTS, boot.IRQBALANCE_POLICY_PATH)
                for op in _files.plan_files(current["files"], dict(wanted, **scripts)))
            # files first: the ban is in place before the IRQs move; udev and systemd then read
            # the changed rule / unit, so that the NIC's next appearance re-applies (not only a boot)
            file_ops = _files.plan_files(current["files"], wanted) + _files.plan_files(current["files"], scripts, 0o755)
            ops = file_ops + _files.plan_reloads(file_ops) + ops
        return ops

    def apply_operation(self, op: Operation) -> None:
        if _files.apply_file_operation(op, self.root) or _files.apply_reload_operation(op, self.ifname):
            return
        if op.action == "set_channels":
            _ethtool.set_channels(self.ifname, op.changes["combined"]["after"])
        elif op.action == "set_irq_affinity":
            irq = self._irq_by_name(op.target)
            self.sys.set_irq_affinity(irq, _canon.cpus_parse(op.changes["cpus"]["after"]), "%s (%s)" % (self.ifname,
                                                                                                        op.target))
        elif op.action in ("set_rps", "set_xps"):
            kind, _sep, number = op.params["queue"].partition("-")
            attr = "rps_cpus" if kind == "rx" else "xps_cpus"
            text = op.changes[attr]["after"]
            self.sys.set_queue_cpus(self.ifname, kind, int(number), _canon.cpus_parse(text) if text else ())

    def _irq_by_name(self, name: str) -> int:
        """IRQ number by action name, read now (a channel change may have renumbered them)."""
        for entry in self.sys.interrupts():
            if name in entry["actions"]:
                return entry["irq"]
        raise NotFound("%s: IRQ %s vanished from /proc/interrupts" % (self.ifname, name))

    def predict(self, current: dict[str, Any], desired: dict[str, Any],
                operations: list[Operation]) -> dict[str, Any]:
        after = json.loads(json.dumps(current))
        for op in operations:
            if op.action == "set_channels":
                after["channels"]["combined"] = op.changes["combined"]["after"]
            elif op.action == "set_irq_affinity":
                after["irqs"][op.target]["cpus"] = op.changes["cpus"]["after"]
            elif op.action in ("set_rps", "set_xps"):
                attr = "rps_cpus" if op.action == "set_rps" else "xps_cpus"
                after[attr][op.params["queue"]] = op.changes[attr]["after"]
            elif op.action in ("write_file", "remove_file"):
                after["files"][op.target] = op.params.get("content")
        return after

    def extra_results(self, after: dict[str, Any] | None) -> dict[str, Any]:
        return {"queue_irqs": {n: i["irq"] for n, i in sorted((after or {}).get("irqs", {}).items())},
                "irqbalance_restart_needed": self.irqbalance_restart}
