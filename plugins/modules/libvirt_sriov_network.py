#!/usr/bin/python
# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: libvirt_sriov_network
short_description: A libvirt network that is a pool of the SR-IOV VFs of one PF
version_added: 0.1.0
description:
  - Defines C(<network><forward mode='hostdev' managed='yes'><pf dev='PF'/></forward></network>).
    Guests with C(<interface type='network'><source network='NAME'/></interface>) (see
    M(kvmnet.hypervisor.libvirt_iface) with C(type=network)) each get a free VF of the PF.
  - Compared on what is given; libvirt's UUID and the VF list it fills in at start are kept.
  - A changed definition of a running network applies at its next start (C(restart_needed) in
    the operation); the module never restarts it, which would take VFs from running guests.
author:
  - kvmnet.hypervisor contributors (@kvmnet)
extends_documentation_fragment:
  - kvmnet.hypervisor.attributes
  - kvmnet.hypervisor.attributes.platform
  - kvmnet.hypervisor.attributes.action_group
  - kvmnet.hypervisor.libvirt
options:
  name:
    description:
      - Name of the libvirt network, as libvirt asks for it (it is the name of the definition's file)
        with letters, digits, C(-), C(_), C(.) and C(+), starting with a letter or digit.
    type: str
    required: true
  state:
    description:
      - C(present) defines it, C(absent) stops and undefines it.
    type: str
    choices: [present, absent]
    default: present
  pf:
    description:
      - Netdev of the SR-IOV physical function whose VFs make the pool. Required with I(state=present);
        it must be a network interface of the host (refused otherwise, before anything is defined).
    type: str
  managed:
    description:
      - libvirt binds each VF to vfio-pci when a guest starts and gives it back after.
    type: bool
    default: true
  active:
    description:
      - Start (C(true)) or stop (C(false)) the network; left alone when not given.
    type: bool
  autostart:
    description:
      - Start the network when libvirtd starts; left alone when not given.
    type: bool
seealso:
  - name: SR-IOV pattern
    description: What to write and what you get.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/patterns/sriov.md
  - name: PCI passthrough pattern
    description: Find the device, bind it to vfio-pci, give it (or an SR-IOV VF) to a guest.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/patterns/pci_passthrough.md
  - module: kvmnet.hypervisor.sriov_vf
    description: Create the VFs of the PF first.
  - module: kvmnet.hypervisor.libvirt_iface
    description: Guest interfaces of C(type=network) that take a VF from the pool.
  - module: kvmnet.hypervisor.libvirt_network
    description: The same pool (C(forward_mode=hostdev)) with portgroups and VLANs; both render the network XML in one place.
"""

EXAMPLES = r"""
- name: VF pool of enp1s0, started now and at boot
  kvmnet.hypervisor.libvirt_sriov_network:
    name: sriov-enp1s0
    pf: enp1s0
    active: true
    autostart: true
"""

RETURN = r"""
before:
  description:
    - The network before the run (forward_mode, pf, managed, uuid, active, autostart, and C(xml), its persistent
      definition, which a rollback defines again), or null.
  returned: always
  type: dict
  sample: {name: sriov-enp1s0, forward_mode: hostdev, pf: enp1s0, managed: true, active: true, autostart: true,
           uuid: 5b1c2b8e-0000-4000-8000-000000000001}
after:
  description: The network after the run (read back), or what check mode predicts; null when absent.
  returned: always
  type: dict
operations:
  description:
    - The planned C(define), C(start), C(stop), C(autostart), C(undefine) operations, one host change each
      (an active network to remove is C(stop) then C(undefine)); C(define) carries the XML.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._common_args import LIBVIRT_ARGS
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import run
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_sriov_network import LibvirtSriovNetworkResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._module import new_module


def main() -> None:
    """Hand the parameters over to the engine."""
    module = new_module(
        AnsibleModule,
        argument_spec=dict(
            **LIBVIRT_ARGS,
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            pf=dict(type="str"),
            managed=dict(type="bool", default=True),
            active=dict(type="bool"),
            autostart=dict(type="bool"),
        ),
        required_if=[("state", "present", ["pf"])],
        supports_check_mode=True,
    )
    run(module, LibvirtSriovNetworkResource)


if __name__ == "__main__":
    main()
