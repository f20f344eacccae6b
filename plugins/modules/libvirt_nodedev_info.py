#!/usr/bin/python
# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: libvirt_nodedev_info
short_description: The host's device tree as libvirt sees it (virsh nodedev-list --tree)
version_added: 0.1.0
description:
  - Returns every node device libvirt knows (C(listAllDevices)) with its parent, capabilities,
    PCI address, driver, IOMMU group, SR-IOV physical/virtual functions and network interface,
    and the same as the text tree C(virsh nodedev-list --tree) prints.
  - Read-only; never reports a change.
author:
  - kvmnet.hypervisor contributors (@kvmnet)
extends_documentation_fragment:
  - kvmnet.hypervisor.attributes.info_module
  - kvmnet.hypervisor.attributes.platform
  - kvmnet.hypervisor.attributes.action_group
  - kvmnet.hypervisor.libvirt
options:
  capability:
    description:
      - Only return devices with this capability (C(pci), C(net), ...); the tree always shows all.
    type: str
seealso:
  - name: PCI passthrough pattern
    description: Find the device, bind it to vfio-pci, give it (or an SR-IOV VF) to a guest.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/patterns/pci_passthrough.md
  - module: kvmnet.hypervisor.pci_device
    description: Bind a device found here to a driver.
  - module: kvmnet.hypervisor.libvirt_hostdev
    description: Give a device found here to a guest.
"""

EXAMPLES = r"""
- name: Find the PCI devices and the VFs of the SR-IOV NIC
  kvmnet.hypervisor.libvirt_nodedev_info:
    capability: pci
  register: nodedevs

- name: Show the tree
  ansible.builtin.debug:
    msg: "{{ nodedevs.tree.splitlines() }}"
"""

RETURN = r"""
devices:
  description: The node devices, sorted by name.
  returned: always
  type: list
  elements: dict
  sample:
    - name: pci_0000_04_00_0
      parent: pci_0000_00_1c_0
      capabilities: [pci]
      driver: igb
      pci_address: "0000:04:00.0"
      iommu_group: 14
      virtual_functions: ["0000:04:10.0", "0000:04:10.2"]
tree:
  description: The device tree as text, like C(virsh nodedev-list --tree).
  returned: always
  type: str
  sample: "computer\n└─pci_0000_00_1c_0\n  └─pci_0000_04_00_0"
before:
  description: Always empty (read-only module).
  returned: always
  type: dict
after:
  description: Always empty (read-only module).
  returned: always
  type: dict
operations:
  description: Always empty (read-only module).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._common_args import LIBVIRT_ARGS
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import run
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_nodedev_info import LibvirtNodedevInfoResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._module import new_module


def main() -> None:
    """Hand the parameters over to the engine."""
    module = new_module(
        AnsibleModule,
        argument_spec=dict(
            **LIBVIRT_ARGS,
            capability=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    run(module, LibvirtNodedevInfoResource)


if __name__ == "__main__":
    main()
