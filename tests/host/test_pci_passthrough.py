# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PCI passthrough pieces on this machine: the node-device tree from the private libvirtd, and the
pci_device preflight on the real sysfs (this kernel has no IOMMU: binding must be refused, nothing
written). Check mode only, so that a machine WITH an IOMMU never gets a real device unbound here.
libvirt_hostdev and libvirt_sriov_network have their own files.
"""

from __future__ import annotations

import os

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import NotFound, Unsupported
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._pci_device import PciDeviceResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_nodedev_info import LibvirtNodedevInfoResource


def test_nodedev_tree_matches_sysfs(libvirtd):
    res = execute(LibvirtNodedevInfoResource({"uri": libvirtd.uri, "capability": "pci"}))
    assert res["changed"] is False
    want = sorted(os.listdir("/sys/bus/pci/devices"))
    assert sorted(d["pci_address"] for d in res["devices"]) == want
    assert res["tree"].splitlines()[0] == "computer"
    for dev in res["devices"]:
        assert "pci_%s" % dev["pci_address"].replace(":", "_").replace(".", "_") in res["tree"]


def test_pci_device_preflight_on_real_sysfs():
    address = sorted(os.listdir("/sys/bus/pci/devices"))[0]
    if os.listdir("/sys/kernel/iommu_groups"):
        pytest.skip("this host has an IOMMU; the refusal tested here needs one without (unit tests cover the rest)")
    with open("/sys/bus/pci/devices/%s/driver_override" % address) as handle:
        override_before = handle.read()
    with pytest.raises(Unsupported, match="IOMMU is off"):
        execute(PciDeviceResource({"address": address, "driver": "vfio-pci", "force": False}), check_mode=True)
    with open("/sys/bus/pci/devices/%s/driver_override" % address) as handle:
        assert handle.read() == override_before
    with pytest.raises(NotFound, match="0000:7f:1f.7 does not exist"):
        execute(PciDeviceResource({"address": "7f:1f.7", "driver": "vfio-pci", "force": False}), check_mode=True)
