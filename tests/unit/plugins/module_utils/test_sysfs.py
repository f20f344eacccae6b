# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sysfs/procfs backend on a fake tree; /proc/interrupts parsing with real kernel output."""

from __future__ import annotations

import os

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import NotFound
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._sysfs import Sysfs, parse_interrupts

#: this machine's kernel 6.18 (virtio-net eth0 = virtio2)
INTERRUPTS_6 = """\
           CPU0       CPU1
 24:          1          0  IO-APIC   5-edge      ACPI:Ged
 26:          0         15  IO-APIC   4-edge      ttyS0
 37:          0          0 PCI-MSIX-0000:00:03.0   0-edge      virtio2-config
 38:          0       8256 PCI-MSIX-0000:00:03.0   1-edge      virtio2-input.0
 39:       5653          0 PCI-MSIX-0000:00:03.0   2-edge      virtio2-output.0
NMI:          0          0   Non-maskable interrupts
LOC:      45404      54725   Local timer interrupts
ERR:          0
"""

#: a 4.x/5.x host with interrupt remapping and an igb/ixgbe-style NIC, plus a shared IRQ
INTERRUPTS_IR = """\
            CPU0       CPU1       CPU2       CPU3
   0:         35          0          0          0   IO-APIC    2-edge      timer
   9:          0          0          0          0   IO-APIC    9-fasteoi   acpi, i801_smbus
 130:     120034          0          0          0  IR-PCI-MSI 1572864-edge      enp1s0
 131:          0      88881          0          0  IR-PCI-MSI 1572865-edge      enp1s0-TxRx-0
 132:          0          0      99812          0  IR-PCI-MSI 1572866-edge      enp1s0-TxRx-1
"""

#: a 3.x kernel: chip and trigger in one word
INTERRUPTS_OLD = """\
           CPU0       CPU1
  0:        127          0   IO-APIC-edge      timer
 45:     155473          0   PCI-MSI-edge      eth0-TxRx-0
 46:          0     150093   PCI-MSI-edge      eth0-TxRx-1
"""


def test_parse_interrupts_6x():
    entries = parse_interrupts(INTERRUPTS_6)
    assert [e["irq"] for e in entries] == [24, 26, 37, 38, 39]
    assert entries[3] == {"irq": 38, "counts": [0, 8256], "chip": "PCI-MSIX-0000:00:03.0 1-edge",
                          "actions": ["virtio2-input.0"]}
    assert entries[0]["actions"] == ["ACPI:Ged"]


def test_parse_interrupts_remapped_and_shared():
    entries = {e["irq"]: e for e in parse_interrupts(INTERRUPTS_IR)}
    assert entries[9]["actions"] == ["acpi", "i801_smbus"]
    assert entries[131]["actions"] == ["enp1s0-TxRx-0"]
    assert entries[130]["actions"] == ["enp1s0"]
    assert entries[132]["counts"] == [0, 0, 99812, 0]


def test_parse_interrupts_old_layout():
    entries = {e["irq"]: e for e in parse_interrupts(INTERRUPTS_OLD)}
    assert entries[45]["actions"] == ["eth0-TxRx-0"]
    assert entries[45]["chip"] == "PCI-MSI-edge"
    assert entries[0]["actions"] == ["timer"]


def make_tree(root, ifname="enp1s0", pci="0000:01:00.0", totalvfs=7, numvfs=0, virtio=None):
    """A fake sysfs: /sys/devices/pci0000:00/<pci>, bus link, class/net link, optional virtioN."""
    dev = os.path.join(root, "sys/devices/pci0000:00", pci)
    os.makedirs(os.path.join(dev, "msi_irqs"))
    os.makedirs(os.path.join(root, "sys/bus/pci/devices"), exist_ok=True)
    os.symlink(dev, os.path.join(root, "sys/bus/pci/devices", pci))
    netparent = os.path.join(dev, virtio) if virtio else dev
    os.makedirs(os.path.join(netparent, "net", ifname))
    os.makedirs(os.path.join(root, "sys/class/net", ifname, "queues"), exist_ok=True)
    os.symlink(netparent, os.path.join(root, "sys/class/net", ifname, "device"))
    if totalvfs is not None:
        os.makedirs(os.path.join(root, "sys/bus/pci/drivers/igb"), exist_ok=True)
        os.symlink(os.path.join(root, "sys/bus/pci/drivers/igb"), os.path.join(dev, "driver"))
        for name, value in (("sriov_totalvfs", totalvfs), ("sriov_numvfs", numvfs), ("sriov_drivers_autoprobe", 1)):
            with open(os.path.join(dev, name), "w") as handle:
                handle.write("%d\n" % value)
    for name, value in (("numa_node", "-1"), ("local_cpulist", "0-3")):
        with open(os.path.join(dev, name), "w") as handle:
            handle.write(value + "\n")
    os.makedirs(os.path.join(root, "sys/devices/system/cpu"), exist_ok=True)
    with open(os.path.join(root, "sys/devices/system/cpu/online"), "w") as handle:
        handle.write("0-3\n")
    return dev


def test_sriov_and_numa(tmp_path):
    root = str(tmp_path)
    dev = make_tree(root, numvfs=2)
    for i, vf in enumerate(("0000:01:10.0", "0000:01:10.2")):
        os.symlink("../" + vf, os.path.join(dev, "virtfn%d" % i))
    sysfs = Sysfs(root)
    assert sysfs.netdev_pci("enp1s0") == "0000:01:00.0"
    assert sysfs.pci_netdevs("0000:01:00.0") == ["enp1s0"]
    assert sysfs.sriov("0000:01:00.0", "enp1s0") == {
        "numvfs": 2, "totalvfs": 7, "drivers_autoprobe": True, "vfs": {0: "0000:01:10.0", 1: "0000:01:10.2"}}
    assert sysfs.pci_numa("0000:01:00.0", "enp1s0") == {"numa_node": -1, "local_cpus": (0, 1, 2, 3)}
    assert sysfs.online_cpus() == (0, 1, 2, 3)


def test_virtio_netdev_resolves_to_pci_parent(tmp_path):
    root = str(tmp_path)
    make_tree(root, ifname="eth0", pci="0000:00:03.0", totalvfs=None, virtio="virtio2")
    sysfs = Sysfs(root)
    assert sysfs.netdev_pci("eth0") == "0000:00:03.0"
    assert sysfs.netdev_device_name("eth0") == "virtio2"
    assert sysfs.pci_netdevs("0000:00:03.0") == ["eth0"]
    assert sysfs.sriov("0000:00:03.0", "eth0") is None


def test_queue_masks_and_irq_affinity(tmp_path):
    root = str(tmp_path)
    make_tree(root)
    qdir = os.path.join(root, "sys/class/net/enp1s0/queues")
    for q in ("rx-0", "rx-1", "tx-0"):
        os.makedirs(os.path.join(qdir, q))
    with open(os.path.join(qdir, "rx-1/rps_cpus"), "w") as handle:
        handle.write("00000000,0000000c\n")
    os.makedirs(os.path.join(root, "proc/irq/131"))
    sysfs = Sysfs(root)
    assert sysfs.queues("enp1s0") == {"rx": [0, 1], "tx": [0]}
    assert sysfs.queue_cpus("enp1s0", "rx", 1) == (2, 3)
    assert sysfs.queue_cpus("enp1s0", "tx", 0) is None
    sysfs.set_queue_cpus("enp1s0", "rx", 1, (0, 33))
    assert open(os.path.join(qdir, "rx-1/rps_cpus")).read() == "00000002,00000001"
    sysfs.set_irq_affinity(131, (1, 2, 3), "enp1s0")
    assert sysfs.irq_affinity(131, "enp1s0") == (1, 2, 3)
    assert open(os.path.join(root, "proc/irq/131/smp_affinity_list")).read() == "1-3"


def test_write_error_is_typed_and_prefixed(tmp_path):
    sysfs = Sysfs(str(tmp_path))
    with pytest.raises(NotFound, match=r"^enp9s0: writing 3 to /sys/bus/pci/devices/0000:09:00.0/sriov_numvfs"):
        sysfs.set_numvfs("0000:09:00.0", 3, "enp9s0")


def test_module_state(tmp_path):
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "sys/module/vhost_net"))
    os.makedirs(os.path.join(root, "sys/module/bridge"))
    with open(os.path.join(root, "sys/module/vhost_net/initstate"), "w") as handle:
        handle.write("live\n")
    sysfs = Sysfs(root)
    assert sysfs.module_state("vhost_net") == "loaded"
    assert sysfs.module_state("bridge") == "builtin"
    assert sysfs.module_state("bonding") == "absent"
