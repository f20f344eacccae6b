# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""libvirt_nodedev_info: the node-device tree and the parsed node-device XML."""

from __future__ import annotations

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt_nodedev_info as N


def test_device_tree():
    devs = [{"name": "computer", "parent": None}, {"name": "pci_0000_00_00_0", "parent": "computer"},
            {"name": "pci_0000_01_00_0", "parent": "computer"}, {"name": "net_eth0", "parent": "pci_0000_01_00_0"}]
    assert N.device_tree(devs) == "computer\n├─pci_0000_00_00_0\n└─pci_0000_01_00_0\n  └─net_eth0"


VF_XML = """<device><name>pci_0000_01_10_0</name><path>/sys/devices/pci0000:00/0000:01:10.0</path>
<parent>pci_0000_01_00_0</parent><driver><name>igbvf</name></driver>
<capability type='pci'><domain>0</domain><bus>1</bus><slot>16</slot><function>0</function>
<product id='0x10ca'>82576 Virtual Function</product><vendor id='0x8086'>Intel Corporation</vendor>
<capability type='phys_function'><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></capability>
<iommuGroup number='12'/></capability></device>"""


def test_parse_nodedev_vf():
    got = N.parse_nodedev(_libvirt.parse_xml(VF_XML))
    assert got["pci_address"] == "0000:01:10.0"
    assert got["physical_function"] == "0000:01:00.0"
    assert (got["driver"], got["iommu_group"], got["parent"]) == ("igbvf", 12, "pci_0000_01_00_0")
    assert got["capabilities"] == ["pci"]
