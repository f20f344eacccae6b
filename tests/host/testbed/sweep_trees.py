# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Host trees under a test root (``Resource(params, root=...)``) for the bad-input sweep: the
parts of /sys, /proc, /lib/modules the sysfs-family modules read, shaped like the ones their
unit tests build (tests/unit/plugins/module_utils/test_sysfs.py make_tree, test_pci_device,
test_vhost_net, test_irq_affinity) and tests/host/test_nic_bond.py host_tree."""

from __future__ import annotations

import os


def write(root, path, text):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w", encoding="utf-8") as handle:
        handle.write(text)


def pci_netdev(root, ifname, pci, totalvfs=None, numvfs=0, virtio=None, vfs=()):
    """A PCI function ``pci`` with the netdev ``ifname`` (through virtioN if given), SR-IOV files
    if ``totalvfs``, VF functions ``vfs`` (their PCI addresses) linked as virtfnN."""
    dev = os.path.join(root, "sys/devices/pci0000:00", pci)
    os.makedirs(os.path.join(dev, "msi_irqs"))
    os.makedirs(os.path.join(root, "sys/bus/pci/devices"), exist_ok=True)
    os.symlink(dev, os.path.join(root, "sys/bus/pci/devices", pci))
    parent = os.path.join(dev, virtio) if virtio else dev
    os.makedirs(os.path.join(parent, "net", ifname))
    os.makedirs(os.path.join(root, "sys/class/net", ifname, "queues"), exist_ok=True)
    os.symlink(parent, os.path.join(root, "sys/class/net", ifname, "device"))
    drivers = os.path.join(root, "sys/bus/pci/drivers/igb")
    os.makedirs(drivers, exist_ok=True)
    os.symlink(drivers, os.path.join(dev, "driver"))
    if totalvfs is not None:
        for name, value in (("sriov_totalvfs", totalvfs), ("sriov_numvfs", numvfs), ("sriov_drivers_autoprobe", 1)):
            write(dev, name, "%d\n" % value)
        for i, vf in enumerate(vfs):
            vf_dev = os.path.join(root, "sys/devices/pci0000:00", vf)
            os.makedirs(vf_dev)
            os.symlink(vf_dev, os.path.join(root, "sys/bus/pci/devices", vf))
            os.symlink("../" + vf, os.path.join(dev, "virtfn%d" % i))
    write(dev, "numa_node", "-1\n")
    write(dev, "local_cpulist", "0-3\n")
    write(root, "sys/devices/system/cpu/online", "0-3\n")
    return dev


def sriov_tree(root, pf, pci="0000:01:00.0"):
    """An SR-IOV PF (igb, 7 VFs possible, 2 enabled) whose netdev is ``pf``."""
    return pci_netdev(root, pf, pci, totalvfs=7, numvfs=2, vfs=("0000:01:10.0", "0000:01:10.2"))


INTERRUPTS_MQ = """\
           CPU0       CPU1
 45:          0          0   PCI-MSIX-0000:00:0a.0   0-edge      virtio6-config
 53:         10          0   PCI-MSIX-0000:00:0a.0   1-edge      virtio6-input.0
 54:          0          3   PCI-MSIX-0000:00:0a.0   2-edge      virtio6-output.0
 55:          0          0   PCI-MSIX-0000:00:0a.0   3-edge      virtio6-input.1
 56:          0          0   PCI-MSIX-0000:00:0a.0   4-edge      virtio6-output.1
 57:          0          0   PCI-MSIX-0000:00:0a.0   5-edge      virtio6-input.2
 58:          0          0   PCI-MSIX-0000:00:0a.0   6-edge      virtio6-output.2
 59:          0          0   PCI-MSIX-0000:00:0a.0   7-edge      virtio6-input.3
 60:          0          0   PCI-MSIX-0000:00:0a.0   8-edge      virtio6-output.3
"""


def irq_tree(root, ifname):
    """``ifname`` = virtio6 on 0000:00:0a.0 with 4 queue pairs, CPUs 0-3 online, IRQs on 0-3."""
    dev = pci_netdev(root, ifname, "0000:00:0a.0", virtio="virtio6")
    for irq in range(45, 61):
        write(dev, "msi_irqs/%d" % irq, "msix\n")
        write(root, "proc/irq/%d/smp_affinity_list" % irq, "0-3\n")
    write(root, "proc/interrupts", INTERRUPTS_MQ)
    for q in range(4):
        write(root, "sys/class/net/%s/queues/rx-%d/rps_cpus" % (ifname, q), "0\n")
        write(root, "sys/class/net/%s/queues/tx-%d/xps_cpus" % (ifname, q), "0\n")
    return root


def pci_tree(root, address="0000:04:00.0"):
    """A NIC ``address`` bound to igb (its netdev enp4s0 down), an IOMMU group, vfio-pci loaded."""
    sys_ = os.path.join(root, "sys")
    dev = os.path.join(sys_, "bus/pci/devices", address)
    os.makedirs(dev)
    for drv in ("igb", "vfio-pci"):
        os.makedirs(os.path.join(sys_, "bus/pci/drivers", drv))
        write(sys_, "bus/pci/drivers/%s/unbind" % drv, "")
        write(sys_, "bus/pci/drivers/%s/bind" % drv, "")
    os.symlink(os.path.join(sys_, "bus/pci/drivers/igb"), os.path.join(dev, "driver"))
    os.makedirs(os.path.join(sys_, "kernel/iommu_groups/14"))
    os.symlink(os.path.join(sys_, "kernel/iommu_groups/14"), os.path.join(dev, "iommu_group"))
    write(dev, "driver_override", "(null)\n")
    write(sys_, "bus/pci/drivers_probe", "")
    write(dev, "net/enp4s0/flags", "0x1002\n")  # down
    return root


def modules_tree(root, release, loaded=(), deps=()):
    """/proc/sys/kernel/osrelease, /lib/modules/<release>/modules.dep (``deps``: module paths),
    and /sys/module/<name>/initstate live for ``loaded``."""
    write(root, "proc/sys/kernel/osrelease", release + "\n")
    write(root, "lib/modules/%s/modules.dep" % release, "".join("%s:\n" % d for d in deps))
    write(root, "lib/modules/%s/modules.builtin" % release, "kernel/net/bridge/bridge.ko\n")
    for name in loaded:
        write(root, "sys/module/%s/initstate" % name, "live\n")
    return root


def vhost_tree(root, release):
    """vhost_net loaded (not in use, experimental_zcopytx=0), /dev/vhost-net present."""
    modules_tree(root, release, loaded=("vhost_net",), deps=(
        "kernel/drivers/vhost/vhost.ko.xz", "kernel/drivers/vhost/vhost_net.ko.xz"))
    write(root, "sys/module/vhost_net/refcnt", "0\n")
    write(root, "sys/module/vhost_net/parameters/experimental_zcopytx", "0\n")
    write(root, "dev/vhost-net", "")
    return root
