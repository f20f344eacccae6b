#!/usr/bin/python
# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: libvirt_hostdev
short_description: Give a host PCI device to a libvirt domain (PCI passthrough)
version_added: 0.1.0
description:
  - Adds or removes one PCI C(<hostdev mode='subsystem' type='pci'>) of a domain, keyed by the
    host PCI address, in the persistent definition and/or the running domain, without redefining it.
  - For SR-IOV VFs prefer M(kvmnet.hypervisor.libvirt_iface) with C(type=hostdev), which also sets
    the MAC and VLAN the guest gets.
  - libvirt's generated values (guest PCI address, alias, the default vfio driver) are kept and never
    reported as a change. I(managed) cannot change on a running domain (refused unless I(allow_config_only)).
  - A live detach is asynchronous (the guest must release the device); the module re-reads until it
    is gone or I(detach_timeout) expires.
author:
  - kvmnet.hypervisor contributors (@kvmnet)
extends_documentation_fragment:
  - kvmnet.hypervisor.attributes
  - kvmnet.hypervisor.attributes.platform
  - kvmnet.hypervisor.attributes.action_group
  - kvmnet.hypervisor.libvirt
options:
  domain:
    description:
      - Name or UUID of the domain.
    type: str
    required: true
  source:
    description:
      - Host PCI address of the device, C(dddd:bb:ss.f) or C(bb:ss.f) (see M(kvmnet.hypervisor.libvirt_nodedev_info)).
    type: str
    required: true
  state:
    description:
      - C(present) gives the device to the domain, C(absent) takes it back.
    type: str
    choices: [present, absent]
    default: present
  managed:
    description:
      - libvirt detaches the device from its host driver (to vfio-pci) when the domain starts and gives it
        back after. A new hostdev is managed when not given; with C(false) bind it first
        (M(kvmnet.hypervisor.pci_device)).
    type: bool
  config:
    description:
      - Manage the persistent definition.
    type: bool
    default: true
  live:
    description:
      - Manage the running domain too. Ignored while the domain is shut off.
    type: bool
    default: true
  allow_config_only:
    description:
      - When a change cannot be made on the running domain, apply it to the persistent definition only.
    type: bool
    default: false
  detach_timeout:
    description:
      - Seconds to wait for the guest to release a live-detached device; with C(0) it reads back once and does not wait.
    type: int
    default: 10
seealso:
  - name: PCI passthrough pattern
    description: Find the device, bind it to vfio-pci, give it (or an SR-IOV VF) to a guest.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/patterns/pci_passthrough.md
  - module: kvmnet.hypervisor.pci_device
    description: Bind the device to vfio-pci first (or let libvirt do it with I(managed=true)).
  - module: kvmnet.hypervisor.libvirt_nodedev_info
    description: Find the device's PCI address.
  - module: kvmnet.hypervisor.libvirt_iface
    description: An SR-IOV VF as a guest network interface (C(type=hostdev)) keeps its MAC and VLAN.
"""

EXAMPLES = r"""
- name: The book's pci_0000_04_00_0 given to vm1 (libvirt binds it to vfio-pci at start)
  kvmnet.hypervisor.libvirt_hostdev:
    domain: vm1
    source: "0000:04:00.0"
"""

RETURN = r"""
before:
  description: The hostdev before the run per view (C(config), C(live); null when absent), with its XML.
  returned: always
  type: dict
  sample:
    domain: vm1
    running: false
    persistent: true
    config: {source: "0000:04:00.0", managed: true, alias: null, xml: "<hostdev ...>...</hostdev>"}
    live: null
after:
  description: The same, read back after the run (or predicted in check mode).
  returned: always
  type: dict
operations:
  description: The planned libvirt calls (C(attach), C(detach); a change of I(managed) is a detach + attach) with C(flags) and C(xml).
  returned: always
  type: list
  elements: dict
pending_restart:
  description: True when the running domain differs from the persistent definition.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._common_args import LIBVIRT_ARGS
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import run
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_hostdev import LibvirtHostdevResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._module import new_module


def main() -> None:
    """Hand the parameters over to the engine."""
    module = new_module(
        AnsibleModule,
        argument_spec=dict(
            **LIBVIRT_ARGS,
            domain=dict(type="str", required=True),
            source=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            managed=dict(type="bool"),
            config=dict(type="bool", default=True),
            live=dict(type="bool", default=True),
            allow_config_only=dict(type="bool", default=False),
            detach_timeout=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    run(module, LibvirtHostdevResource)


if __name__ == "__main__":
    main()
