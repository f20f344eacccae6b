# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Small boot-time re-apply scripts and systemd/udev units written by sriov_vf and irq_affinity.

Why scripts at all: SR-IOV VF settings are lost whenever the PF driver (re)loads, and IRQ
numbers change across boots, so neither can be persisted as plain values. The modules write
their desired state as JSON under ``/etc/kvmnet/``; a udev rule on the device's ``add`` event
(``systemctl --no-block start``) and a boot drop-in start a oneshot systemd unit (not
RemainAfterExit: it must be able to run again) which runs one of these scripts to re-apply that JSON: it
resolves VFs by their ``virtfnN`` links and queue IRQs by interface name, never by numbers
remembered from a previous boot. The scripts run at boot with the host's python3 and
iproute2; the modules themselves never run them.
"""

from __future__ import annotations

MANAGED = "# Managed by kvmnet.hypervisor (%s); changes are overwritten.\n"

SRIOV_SCRIPT_PATH = "/usr/local/sbin/kvmnet-sriov-apply"
SRIOV_UNIT_PATH = "/etc/systemd/system/kvmnet-sriov@.service"
SRIOV_CONFIG_DIR = "/etc/kvmnet/sriov"


def sriov_config_path(pci: str) -> str:
    """The boot config of the PF at PCI address ``pci`` (what SRIOV_SCRIPT re-applies)."""
    return "%s/%s.json" % (SRIOV_CONFIG_DIR, pci)


IRQ_SCRIPT_PATH = "/usr/local/sbin/kvmnet-irq-apply"
IRQ_UNIT_PATH = "/etc/systemd/system/kvmnet-irq@.service"
IRQ_CONFIG_DIR = "/etc/kvmnet/irq"
IRQBALANCE_POLICY_PATH = "/usr/local/sbin/kvmnet-irqbalance-policy"

SRIOV_SCRIPT = r'''#!/usr/bin/python3
# Managed by kvmnet.hypervisor (sriov_vf); changes are overwritten.
# Re-applies /etc/kvmnet/sriov/<PF PCI address>.json: numvfs (through 0), drivers_autoprobe,
# then each VF's attributes with iproute2. Started by kvmnet-sriov@<PCI>.service from udev.
import json, os, subprocess, sys, time

pci = sys.argv[1]
# the environment overrides exist for the collection's tests only
base = os.environ.get("KVMNET_SYSFS", "/sys") + "/bus/pci/devices/" + pci
udev_data = os.environ.get("KVMNET_UDEV_DATA", "/run/udev/data")
with open("%s/%s.json" % (os.environ.get("KVMNET_SRIOV_CONF_DIR", "/etc/kvmnet/sriov"), pci)) as handle:
    conf = json.load(handle)


def read(path):
    with open(path) as handle:
        return handle.read().strip()


def write(path, value):
    with open(path, "w") as handle:
        handle.write(value)


def pf_name():
    """The PF's netdev name now (None while it has none)."""
    try:
        names = sorted(os.listdir(base + "/net"))
    except OSError:
        return None
    return names[0] if names else None


def ready():
    # The kernel names a NIC ethN first and udev renames it (enp1s0) while it processes the
    # device, then records it in its database: only then is the name final.
    name = pf_name()
    if not name or not os.path.exists(base + "/sriov_numvfs"):
        return False
    try:
        ifindex = read(base + "/net/%s/ifindex" % name)
    except OSError:
        return False
    return os.path.exists(udev_data + "/n" + ifindex)


def ip_link(*args):
    """ip link set dev <PF> ARGS; the name is looked up at each try (it may still change)."""
    return subprocess.call(["ip", "link", "set", "dev", pf_name() or pci] + list(args))


def pf_is_up():
    """IFF_UP of the PF itself, read through its PCI device (not through a name)."""
    try:
        return bool(int(read(base + "/net/%s/flags" % pf_name()), 16) & 1)
    except (OSError, TypeError, ValueError):
        return False


# at boot the unit may start before udev has probed the PF's driver: wait for it generously
deadline = time.time() + 300
while not ready():
    if time.time() > deadline:
        sys.exit("%s: PF not ready (no sriov_numvfs, no netdev or udev not done with it)" % pci)
    time.sleep(0.5)
deadline = time.time() + 90
pf = pf_name()
if conf.get("drivers_autoprobe") is not None:
    write(base + "/sriov_drivers_autoprobe", "1" if conf["drivers_autoprobe"] else "0")
numvfs = conf.get("numvfs")
if numvfs is not None and int(read(base + "/sriov_numvfs")) != numvfs:
    write(base + "/sriov_numvfs", "0")
    if numvfs:
        write(base + "/sriov_numvfs", str(numvfs))
while numvfs and len([e for e in os.listdir(base) if e.startswith("virtfn")]) < numvfs:
    if time.time() > deadline:
        sys.exit("%s: VFs did not appear" % pf)
    time.sleep(0.5)
if conf.get("bring_pf_up"):
    # checked through sysfs, not by ip's exit code: the name can change between the lookup and
    # the call, and the PF's old kernel name (eth3) may by then belong to one of its VFs, which
    # `ip link set dev eth3 up` then brings up instead (seen at boot in a VM: the PF stayed down)
    while not pf_is_up():
        if time.time() > deadline:
            sys.exit("%s: could not set the PF up" % pci)
        ip_link("up")
        time.sleep(1)
failed = 0
for vf, attrs in sorted(conf.get("vfs", {}).items(), key=lambda kv: int(kv[0])):
    args = []
    if attrs.get("mac"):
        args += ["mac", attrs["mac"]]
    if attrs.get("vlan") is not None or attrs.get("qos") is not None:
        args += ["vlan", str(attrs.get("vlan") or 0)]
        if attrs.get("vlan"):
            args += ["qos", str(attrs.get("qos") or 0)]
    for flag in ("spoofchk", "trust"):
        if attrs.get(flag) is not None:
            args += [flag, "on" if attrs[flag] else "off"]
    if attrs.get("link_state"):
        args += ["state", attrs["link_state"]]
    for rate in ("min_tx_rate", "max_tx_rate"):
        if attrs.get(rate) is not None:
            args += [rate, str(attrs[rate])]
    # rate limits fail until the PF link is up at full speed: retry until the deadline
    while args and ip_link("vf", str(vf), *args):
        if time.time() > deadline + 30:
            print("%s: VF %s: %s refused until the deadline (PF %s, admin %s)" % (
                pci, vf, " ".join(args), pf_name(), "up" if pf_is_up() else "down"), file=sys.stderr)
            failed += 1
            break
        time.sleep(1)
sys.exit(1 if failed else 0)
'''

SRIOV_UNIT = """# Managed by kvmnet.hypervisor (sriov_vf); changes are overwritten.
[Unit]
Description=kvmnet: SR-IOV VFs of PF %I (numvfs and VF attributes)
Documentation=https://github.com/kvmnet/hypervisor/blob/main/docs/patterns/sriov.md
DefaultDependencies=no
After=systemd-udevd.service systemd-udev-trigger.service
Before=libvirtd.service network-online.target

[Service]
Type=oneshot
ExecStart=/usr/bin/python3 /usr/local/sbin/kvmnet-sriov-apply %I
"""

#: why RUN and not ENV{SYSTEMD_WANTS}: systemd acts on a device's wants when the device unit
#: becomes active, which did not start the unit again when the PF's netdev came back after a
#: driver reload (Debian 12, systemd 252: the add event carried SYSTEMD_WANTS, the unit never
#: ran). ``--no-block``: udev waits for RUN programs, and the script waits for udev.
SRIOV_UDEV = """# Managed by kvmnet.hypervisor (sriov_vf); changes are overwritten.
# When the PF's netdev appears (boot, driver reload), re-apply its VFs.
ACTION=="add", SUBSYSTEM=="net", KERNELS=="{pci}", RUN+="/usr/bin/systemctl --no-block start kvmnet-sriov@{pci}.service"
"""

IRQ_SCRIPT = r'''#!/usr/bin/python3
# Managed by kvmnet.hypervisor (irq_affinity); changes are overwritten.
# Re-applies /etc/kvmnet/irq/<interface>.json: channels, queue IRQ affinity, RPS/XPS.
# IRQ numbers change across boots: queues are found again by the interface's MSI IRQs and
# their names in /proc/interrupts. Started by kvmnet-irq@<interface>.service from udev.
import array, fcntl, json, os, re, socket, struct, sys, time

ifname = sys.argv[1]
# the environment overrides exist for the collection's tests only
SYS = os.environ.get("KVMNET_SYSFS", "/sys")
PROC = os.environ.get("KVMNET_PROC", "/proc")
with open("%s/%s.json" % (os.environ.get("KVMNET_IRQ_CONF_DIR", "/etc/kvmnet/irq"), ifname)) as handle:
    conf = json.load(handle)


def cpu_list(text):
    """'0-2,5' -> [0, 1, 2, 5] (the module writes CPU lists as in smp_affinity_list)."""
    cpus = []
    for part in str(text).split(","):
        part = part.strip()
        if "-" in part:
            first, last = part.split("-", 1)
            cpus.extend(range(int(first), int(last) + 1))
        elif part:
            cpus.append(int(part))
    return cpus


def mask(cpus):
    number = 0
    for cpu in cpu_list(cpus):
        number |= 1 << cpu
    words = max(1, (number.bit_length() + 31) // 32)
    return ",".join("%08x" % (number >> (32 * g) & 0xFFFFFFFF) for g in reversed(range(words)))


def write(path, value):
    with open(path, "w") as handle:
        handle.write(value)


if conf.get("combined_channels"):
    buf = array.array("B", struct.pack("9I", 0x3c, *([0] * 8)))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ifr = struct.pack("16sP", ifname.encode(), buf.buffer_info()[0]) + b"\0" * 16
    fcntl.ioctl(sock.fileno(), 0x8946, ifr)
    values = list(struct.unpack("9I", buf.tobytes()))
    if values[8] != conf["combined_channels"]:
        values[0], values[8] = 0x3d, conf["combined_channels"]
        buf = array.array("B", struct.pack("9I", *values))
        ifr = struct.pack("16sP", ifname.encode(), buf.buffer_info()[0]) + b"\0" * 16
        fcntl.ioctl(sock.fileno(), 0x8946, ifr)
    sock.close()

dev = os.path.realpath(SYS + "/class/net/%s/device" % ifname)
pci = dev if os.path.isdir(dev + "/msi_irqs") else os.path.dirname(dev)
devname = os.path.basename(dev)
pattern = re.compile(conf["queue_pattern"].replace("{ifname}", re.escape(ifname)).replace("{dev}", re.escape(devname)))
deadline = time.time() + 30
failed = 0
while True:
    msi = set(int(x) for x in os.listdir(pci + "/msi_irqs")) if os.path.isdir(pci + "/msi_irqs") else set()
    found = {}
    for irq in msi:
        for name in os.listdir(PROC + "/irq/%d" % irq) if os.path.isdir(PROC + "/irq/%d" % irq) else []:
            match = pattern.search(name)
            if match:
                found[irq] = int(match.group("queue"))
    if len(set(found.values())) >= len(conf["queue_cpus"]) or time.time() > deadline:
        break
    time.sleep(0.5)
for irq, queue in sorted(found.items()):
    cpus = conf["queue_cpus"].get(str(queue))
    if cpus:
        try:
            write(PROC + "/irq/%d/smp_affinity_list" % irq, cpus)
        except OSError as exc:
            print("irq %d: %s" % (irq, exc), file=sys.stderr)
            failed += 1
for kind, attr in (("rx", "rps_cpus"), ("tx", "xps_cpus")):
    for queue, cpus in sorted(conf.get(attr, {}).items()):
        path = SYS + "/class/net/%s/queues/%s-%s/%s" % (ifname, kind, queue, attr)
        if os.path.exists(path):
            try:
                write(path, mask(cpus))
            except OSError as exc:
                print("%s: %s" % (path, exc), file=sys.stderr)
                failed += 1
sys.exit(1 if failed else 0)
'''

IRQ_UNIT = """# Managed by kvmnet.hypervisor (irq_affinity); changes are overwritten.
[Unit]
Description=kvmnet: queue IRQ affinity, RPS/XPS and channels of %I
Documentation=https://github.com/kvmnet/hypervisor/blob/main/docs/patterns/irq_tuning.md
Wants=sys-subsystem-net-devices-%i.device
After=sys-subsystem-net-devices-%i.device irqbalance.service

[Service]
Type=oneshot
ExecStart=/usr/bin/python3 /usr/local/sbin/kvmnet-irq-apply %I
"""

#: RUN with ``systemctl --no-block start``, as :data:`SRIOV_UDEV` (and for the same reason)
IRQ_UDEV = """# Managed by kvmnet.hypervisor (irq_affinity); changes are overwritten.
# When {ifname} appears (boot, driver reload), pin its queue IRQs again. Numbered after
# 80-net-setup-link.rules so that NAME holds the name udev gives the interface; KERNEL covers
# interfaces that keep their kernel name.
ACTION=="add", SUBSYSTEM=="net", NAME=="{ifname}", RUN+="/usr/bin/systemctl --no-block start kvmnet-irq@{ifname}.service"
ACTION=="add", SUBSYSTEM=="net", KERNEL=="{ifname}", RUN+="/usr/bin/systemctl --no-block start kvmnet-irq@{ifname}.service"
"""

IRQBALANCE_POLICY = r'''#!/bin/sh
# Managed by kvmnet.hypervisor (irq_affinity); changes are overwritten.
# irqbalance --policyscript: called as "<sysfs device path> <irq>"; prints ban=true for the
# MSI IRQs of every interface listed in /etc/kvmnet/irq/*.json, so irqbalance leaves the
# affinity kvmnet set alone. Resolved at run time: IRQ numbers change across boots.
# The NIC is found by the PCI address its file keeps: irqbalance may run in a network
# namespace of its own (Debian 13's unit has PrivateNetwork=yes), where /sys/class/net does
# not list the host's NICs; by name only for a file without one.
irq="$2"
conf_dir=${KVMNET_IRQ_CONF_DIR:-/etc/kvmnet/irq}
sys=${KVMNET_SYSFS:-/sys}
for conf in "$conf_dir"/*.json; do
    [ -e "$conf" ] || continue
    pci=$(sed -n 's/^ *"pci": "\([0-9A-Fa-f:.]*\)",\{0,1\}$/\1/p' "$conf")
    if [ -n "$pci" ]; then
        dev=$sys/bus/pci/devices/$pci
    else
        ifname=$(basename "$conf" .json)
        dev=$(readlink -f "$sys/class/net/$ifname/device") || continue
        [ -d "$dev/msi_irqs" ] || dev=$(dirname "$dev")
    fi
    if [ -e "$dev/msi_irqs/$irq" ]; then
        echo ban=true
        exit 0
    fi
done
exit 0
'''


BOOT_WANTS_DIR = "/etc/systemd/system/multi-user.target.d"


def boot_wants(unit: str, owner: str) -> tuple[str, str]:
    """A drop-in making multi-user.target want ``unit`` at every boot: ``(path, content)``.

    A plain file (no ``systemctl enable`` symlink needed), so it is planned, diffed and written
    like every other persisted file. The udev rules start the same units when a device comes
    back later (driver reload); this drop-in is what runs them at boot.
    """
    name = unit.replace("@", "-").replace(":", "_").rsplit(".service", 1)[0]
    content = MANAGED % owner + "# Start %s at every boot.\n[Unit]\nWants=%s\n" % (unit, unit)
    return "%s/%s.conf" % (BOOT_WANTS_DIR, name), content
