#!/usr/bin/python
# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pci_device
short_description: Bind a host PCI device to a driver (vfio-pci for passthrough)
version_added: 0.1.0
description:
  - Binds a PCI device to I(driver) the way an operator does by hand for PCI passthrough with
    C(managed='no'), by writing C(driver_override), unbinding the current driver and asking
    the kernel to probe (C(drivers_probe)).
  - The kernel offers sysfs only for this, so the module writes those sysfs files (no command is run).
  - Preflight before anything changes; binding to vfio-pci needs the IOMMU on
    (C(/sys/kernel/iommu_groups) not empty) and the device in an IOMMU group; the driver must be
    loaded; a device whose host network interface is up or enslaved (bond, bridge, OVS) is in use
    and is not unbound unless I(force=true).
  - Not needed when the guest's C(<hostdev>) or C(<interface type='hostdev'>) is C(managed)
    (libvirt binds the device itself when the domain starts).
author:
  - kvmnet.hypervisor contributors (@kvmnet)
extends_documentation_fragment:
  - kvmnet.hypervisor.attributes
  - kvmnet.hypervisor.attributes.platform
  - kvmnet.hypervisor.attributes.action_group
options:
  address:
    description:
      - PCI address of the device, C(dddd:bb:ss.f) or C(bb:ss.f).
    type: str
    required: true
  driver:
    description:
      - Driver to bind the device to; the host driver name (for example C(igb)) gives it back to the host.
      - An empty string is refused (it is not a driver name).
    type: str
    default: vfio-pci
  force:
    description:
      - Unbind even when a host network interface of the device is up or enslaved to a bond, bridge or
        OVS (it disappears from the host).
    type: bool
    default: false
notes:
  - Other devices of the same IOMMU group must be bound to vfio-pci too (or be bridges) before a guest can use the device.
  - The binding does not survive a reboot; the M(kvmnet.hypervisor.pci_device) task belongs in the play run at boot,
    or use C(managed) hostdevs.
seealso:
  - name: PCI passthrough pattern
    description: Find the device, bind it to vfio-pci, give it (or an SR-IOV VF) to a guest.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/patterns/pci_passthrough.md
  - module: kvmnet.hypervisor.libvirt_nodedev_info
    description: Find the device's PCI address and driver.
  - module: kvmnet.hypervisor.libvirt_hostdev
    description: Give the device to a guest.
  - module: kvmnet.hypervisor.sriov_vf
    description: Create VFs to bind.
"""

EXAMPLES = r"""
- name: Give the NIC at 0000:04:00.0 to vfio-pci (the book's nodedev-dettach, by hand)
  kvmnet.hypervisor.pci_device:
    address: "0000:04:00.0"

- name: Give it back to the host's igb driver
  kvmnet.hypervisor.pci_device:
    address: "0000:04:00.0"
    driver: igb
"""

RETURN = r"""
before:
  description: The device before the run (driver, driver_override, iommu_group, netdevs).
  returned: always
  type: dict
  sample:
    address: "0000:04:00.0"
    driver: igb
    driver_override: null
    iommu_group: 14
    vendor: "0x8086"
    device: "0x10c9"
    netdevs: [{name: enp4s0f0, up: false, master: null}]
after:
  description: The device after the run, read back from sysfs (predicted in check mode).
  returned: always
  type: dict
operations:
  description:
    - The planned steps, applied in order unless in check mode - C(set_driver_override), C(unbind)
      (when a driver is bound) and C(probe); a failure half-way names the steps applied and rolls them back.
  returned: always
  type: list
  elements: dict
  sample:
    - action: set_driver_override
      target: "0000:04:00.0"
      changes: {driver_override: {before: null, after: vfio-pci}}
    - action: unbind
      target: "0000:04:00.0"
      changes: {driver: {before: igb, after: null}}
      driver: igb
    - action: probe
      target: "0000:04:00.0"
      changes: {driver: {before: null, after: vfio-pci}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import run
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._pci_device import PciDeviceResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._module import new_module


def main() -> None:
    """Hand the parameters over to the engine."""
    module = new_module(
        AnsibleModule,
        argument_spec=dict(
            address=dict(type="str", required=True),
            driver=dict(type="str", default="vfio-pci"),
            force=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    run(module, PciDeviceResource)


if __name__ == "__main__":
    main()
