# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sysfs and procfs, read and written through one object whose root tests can move.

Everything the kernel family of modules (sriov_vf, irq_affinity, vhost_net) reads or writes
outside netlink goes through :class:`Sysfs`: SR-IOV knobs of a PCI function (``sriov_numvfs``,
``sriov_totalvfs``, ``sriov_drivers_autoprobe``, ``virtfnN`` links), a device's NUMA node and
local CPUs, its MSI IRQs, per-queue RPS/XPS masks, ``/proc/interrupts`` and
``/proc/irq/N/smp_affinity_list``, and ``/sys/module``. ``root`` (default ``/``) points all of
it at a fake tree in unit tests. Errors are typed and start with the object they are about
(the interface or PCI address), e.g. ``enp1s0: writing sriov_numvfs=9: Invalid argument``.
"""

from __future__ import annotations

import errno
import os
import re
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    BackendUnavailable,
    Conflict,
    KvmnetError,
    NotFound,
    Unsupported,
)

_ERRNO_ERRORS = {
    errno.ENOENT: NotFound,
    errno.ENODEV: NotFound,
    errno.EINVAL: Unsupported,
    errno.EOPNOTSUPP: Unsupported,
    errno.ERANGE: Unsupported,
    errno.EIO: Unsupported,
    errno.EBUSY: Conflict,
    errno.EPERM: BackendUnavailable,
    errno.EACCES: BackendUnavailable,
}


def os_error(exc: OSError, what: str) -> KvmnetError:
    """An OSError from a sysfs/procfs access as a typed error prefixed with ``what``."""
    code = exc.errno or 0
    cls = _ERRNO_ERRORS.get(code, KvmnetError)
    return cls("%s: %s (errno %d)" % (what, exc.strerror or exc, code), errno=code)


def parse_interrupts(text: str) -> list[dict[str, Any]]:
    """Parse ``/proc/interrupts`` into ``[{irq, counts, chip, actions}]`` (numbered IRQs only).

    Handles both layouts the kernel has printed: ``PCI-MSI-edge      eth0-TxRx-0`` (chip and
    trigger in one word, before 4.x) and ``PCI-MSIX-0000:00:03.0   1-edge      virtio2-input.0``
    (chip, hwirq-trigger, then the actions). Actions are the handler names, comma separated
    when an IRQ is shared.
    """
    lines = text.splitlines()
    if not lines:
        return []
    ncpu = len(lines[0].split())
    out = []
    for line in lines[1:]:
        head, sep, rest = line.partition(":")
        if not sep or not head.strip().isdigit():
            continue
        tokens = rest.split()
        counts = []
        for tok in tokens[:ncpu]:
            if not tok.isdigit():
                break
            counts.append(int(tok))
        tail = tokens[len(counts):]
        # the actions follow the last word that carries the trigger type (…-edge, …-fasteoi)
        split_at = 0
        for i, tok in enumerate(tail):
            if re.search(r"(^|-)(edge|level|fasteoi|simple|percpu)$", tok, re.I):
                split_at = i + 1
        if split_at == 0 and len(tail) >= 2:
            split_at = len(tail) - 1
        chip = " ".join(tail[:split_at])
        actions = [a.strip() for a in " ".join(tail[split_at:]).split(",") if a.strip()]
        out.append({"irq": int(head.strip()), "counts": counts, "chip": chip, "actions": actions})
    return out


class Sysfs:
    """sysfs/procfs under ``root``; every path argument is as on the host (``/sys/...``)."""

    def __init__(self, root: str = "/") -> None:
        self.root = root or "/"

    # -- primitives --------------------------------------------------------------------------
    def path(self, path: str) -> str:
        """Host path ``path`` under the root."""
        return os.path.join(self.root, path.lstrip("/"))

    def exists(self, path: str) -> bool:
        """Whether ``path`` exists."""
        return os.path.exists(self.path(path))

    def read(self, path: str, what: str) -> str | None:
        """Stripped content of ``path``, or None if it does not exist; other errors typed."""
        try:
            with open(self.path(path), encoding="utf-8") as handle:
                return handle.read().strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise os_error(exc, "%s: reading %s" % (what, path)) from exc

    def write(self, path: str, value: str, what: str) -> None:
        """Write ``value`` to a sysfs/procfs attribute (one write, as ``echo`` does)."""
        try:
            with open(self.path(path), "w", encoding="utf-8") as handle:
                handle.write(value)
        except OSError as exc:
            raise os_error(exc, "%s: writing %s to %s" % (what, value, path)) from exc

    def read_int(self, path: str, what: str) -> int | None:
        """An integer attribute, or None if missing."""
        text = self.read(path, what)
        if text in (None, ""):
            return None
        try:
            return int(text)
        except ValueError as exc:
            raise Unsupported("%s: %s holds %r, not an integer" % (what, path, text)) from exc

    def listdir(self, path: str) -> list[str]:
        """Entries of a directory, [] if it does not exist."""
        try:
            return sorted(os.listdir(self.path(path)))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise os_error(exc, "listing %s" % path) from exc

    def link_target(self, path: str) -> str | None:
        """Basename of a symlink's target (``virtfn0`` -> ``0000:01:10.0``), or None."""
        try:
            return os.path.basename(os.readlink(self.path(path)))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise os_error(exc, "reading link %s" % path) from exc

    # -- network devices -------------------------------------------------------------------
    def netdev_exists(self, ifname: str) -> bool:
        """Whether /sys/class/net/<ifname> exists (host namespace)."""
        return self.exists("/sys/class/net/%s" % ifname)

    def netdev_pci(self, ifname: str) -> str | None:
        """The PCI function behind a netdev (for virtio-net: the PCI parent of virtioN), or None."""
        real = os.path.realpath(self.path("/sys/class/net/%s/device" % ifname))
        if not os.path.exists(real):
            return None
        for candidate in (real, os.path.dirname(real)):
            if _canon.is_pci_address(os.path.basename(candidate)):
                return _canon.pci_address(os.path.basename(candidate))
        return None

    def netdev_device_name(self, ifname: str) -> str | None:
        """Basename of the netdev's device (``virtio2`` for virtio-net, the PCI address otherwise)."""
        real = os.path.realpath(self.path("/sys/class/net/%s/device" % ifname))
        return os.path.basename(real) if os.path.exists(real) else None

    def pci_netdevs(self, addr: str) -> list[str]:
        """Netdev names of a PCI function (``net/`` directly or under ``virtioN/net``)."""
        base = "/sys/bus/pci/devices/%s" % addr
        names = self.listdir(base + "/net")
        for entry in self.listdir(base):
            if entry.startswith("virtio"):
                names += self.listdir("%s/%s/net" % (base, entry))
        return names

    def pci_exists(self, addr: str) -> bool:
        """Whether the PCI function exists."""
        return self.exists("/sys/bus/pci/devices/%s" % addr)

    def pci_driver(self, addr: str) -> str | None:
        """Name of the driver bound to the PCI function, or None."""
        return self.link_target("/sys/bus/pci/devices/%s/driver" % addr)

    # -- SR-IOV ----------------------------------------------------------------------------
    def sriov(self, addr: str, what: str) -> dict[str, Any] | None:
        """``{numvfs, totalvfs, drivers_autoprobe, vfs: {index: vf_pci}}`` or None if not SR-IOV capable."""
        base = "/sys/bus/pci/devices/%s" % addr
        total = self.read_int(base + "/sriov_totalvfs", what)
        if total is None:
            return None
        autoprobe = self.read_int(base + "/sriov_drivers_autoprobe", what)
        vfs = {}
        for entry in self.listdir(base):
            match = re.match(r"^virtfn(\d+)$", entry)
            if match:
                vfs[int(match.group(1))] = self.link_target("%s/%s" % (base, entry))
        return {
            "numvfs": self.read_int(base + "/sriov_numvfs", what) or 0,
            "totalvfs": total,
            "drivers_autoprobe": None if autoprobe is None else bool(autoprobe),
            "vfs": dict(sorted(vfs.items())),
        }

    def set_numvfs(self, addr: str, count: int, what: str) -> None:
        """Write sriov_numvfs (the caller passes through 0 first, as the kernel requires)."""
        self.write("/sys/bus/pci/devices/%s/sriov_numvfs" % addr, str(count), what)

    def set_drivers_autoprobe(self, addr: str, value: bool, what: str) -> None:
        """Write sriov_drivers_autoprobe (whether new VFs get their driver bound)."""
        self.write("/sys/bus/pci/devices/%s/sriov_drivers_autoprobe" % addr, "1" if value else "0", what)

    # -- NUMA, CPUs, IRQs ------------------------------------------------------------------
    def online_cpus(self) -> tuple[int, ...]:
        """CPUs online now (/sys/devices/system/cpu/online)."""
        text = self.read("/sys/devices/system/cpu/online", "cpus")
        if not text:
            raise BackendUnavailable("cannot read /sys/devices/system/cpu/online")
        return _canon.cpus_parse(text, "online cpus")

    def pci_numa(self, addr: str, what: str) -> dict[str, Any]:
        """``{numa_node, local_cpus}`` of a PCI function (numa_node -1 = no NUMA information)."""
        base = "/sys/bus/pci/devices/%s" % addr
        node = self.read_int(base + "/numa_node", what)
        local = self.read(base + "/local_cpulist", what)
        return {"numa_node": node, "local_cpus": _canon.cpus_parse(local, "local_cpulist") if local else None}

    def msi_irqs(self, addr: str, what: str) -> list[int]:
        """IRQ numbers of the PCI function's MSI/MSI-X vectors."""
        return sorted(int(x) for x in self.listdir("/sys/bus/pci/devices/%s/msi_irqs" % addr) if x.isdigit())

    def interrupts(self) -> list[dict[str, Any]]:
        """Parsed /proc/interrupts."""
        text = self.read("/proc/interrupts", "interrupts")
        if text is None:
            raise BackendUnavailable("cannot read /proc/interrupts")
        return parse_interrupts(text)

    def irq_affinity(self, irq: int, what: str) -> tuple[int, ...] | None:
        """CPUs of /proc/irq/N/smp_affinity_list, or None if the IRQ does not exist."""
        text = self.read("/proc/irq/%d/smp_affinity_list" % irq, what)
        return _canon.cpus_parse(text, "smp_affinity_list") if text else None

    def set_irq_affinity(self, irq: int, cpus: tuple[int, ...], what: str) -> None:
        """Write /proc/irq/N/smp_affinity_list."""
        self.write("/proc/irq/%d/smp_affinity_list" % irq, _canon.cpus_format(cpus), what)

    # -- queues (RPS/XPS) ------------------------------------------------------------------
    def queues(self, ifname: str) -> dict[str, list[int]]:
        """``{"rx": [0, 1], "tx": [0, 1]}`` from /sys/class/net/<if>/queues."""
        out: dict[str, list[int]] = {"rx": [], "tx": []}
        for entry in self.listdir("/sys/class/net/%s/queues" % ifname):
            match = re.match(r"^(rx|tx)-(\d+)$", entry)
            if match:
                out[match.group(1)].append(int(match.group(2)))
        return {k: sorted(v) for k, v in out.items()}

    def queue_cpus(self, ifname: str, kind: str, queue: int) -> tuple[int, ...] | None:
        """CPUs of rx-N/rps_cpus (kind rx) or tx-N/xps_cpus (kind tx); None if the file is absent."""
        attr = "rps_cpus" if kind == "rx" else "xps_cpus"
        text = self.read("/sys/class/net/%s/queues/%s-%d/%s" % (ifname, kind, queue, attr), ifname)
        return None if text is None else _canon.mask_to_cpus(text, attr)

    def set_queue_cpus(self, ifname: str, kind: str, queue: int, cpus: tuple[int, ...]) -> None:
        """Write rps_cpus / xps_cpus of a queue as a hex mask."""
        attr = "rps_cpus" if kind == "rx" else "xps_cpus"
        self.write("/sys/class/net/%s/queues/%s-%d/%s" % (ifname, kind, queue, attr),
                   _canon.cpus_to_mask(cpus), ifname)

    # -- kernel modules --------------------------------------------------------------------
    def module_state(self, name: str) -> str:
        """``loaded`` (loadable module, live), ``builtin`` (in the kernel image), or ``absent``."""
        base = "/sys/module/%s" % name.replace("-", "_")
        if not self.exists(base):
            return "absent"
        initstate = self.read(base + "/initstate", name)
        if initstate is None:
            return "builtin"
        return "loaded" if initstate == "live" else initstate

    def kernel_release(self) -> str:
        """The running kernel's release (``uname -r``), from /proc/sys/kernel/osrelease."""
        release = self.read("/proc/sys/kernel/osrelease", "kernel release")
        if not release:
            raise BackendUnavailable("cannot read the kernel release from /proc/sys/kernel/osrelease")
        return release

    def module_installed(self, name: str, release: str) -> bool:
        """Whether kernel ``release`` can provide module ``name``: a loadable module listed in
        /lib/modules/<release>/modules.dep, or one built in (modules.builtin)."""
        base = "/lib/modules/%s/" % release
        for index in ("modules.dep", "modules.builtin"):
            for line in (self.read(base + index, "kernel modules") or "").splitlines():
                stem = line.split(":", 1)[0].rsplit("/", 1)[-1].split(".ko")[0]
                if stem.replace("-", "_") == name:
                    return True
        return False
