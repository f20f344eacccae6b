#!/usr/bin/python
# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: vhost_net
short_description: Load the vhost_net kernel module, persist it and its options
version_added: 0.1.0
description:
  - Makes the in-kernel virtio-net back end available (C(/dev/vhost-net)), so that guests'
    virtio NICs with C(<driver name='vhost'/>) skip QEMU's user space on the data path.
  - Loads (or with I(state=absent) unloads) C(vhost_net) with C(modprobe), run with an argument
    list. This is the one module of the collection that runs a process, because the kernel has no API
    to load a module with its dependencies and C(/etc/modprobe.d) options.
  - With I(persist) (default) the module is listed in C(/etc/modules-load.d/kvmnet-vhost_net.conf)
    and its options written to C(/etc/modprobe.d/kvmnet-vhost_net.conf).
  - Fails with an C(unsupported) error, before anything is changed, when the running kernel has
    no vhost_net (neither in C(modules.dep) nor built in).
author:
  - kvmnet.hypervisor contributors (@kvmnet)
extends_documentation_fragment:
  - kvmnet.hypervisor.attributes
  - kvmnet.hypervisor.attributes.platform
  - kvmnet.hypervisor.attributes.action_group
options:
  state:
    description:
      - C(present) loads the module, C(absent) unloads it (refused while guests use it) and
        removes the persisted files.
    type: str
    choices: [present, absent]
    default: present
  experimental_zcopytx:
    description:
      - The module's zero-copy transmit option. The parameter is read-only once loaded, so a
        change unloads the module and loads it again (two steps), which is refused while guests
        hold C(/dev/vhost-net).
      - Not given, the current value and an existing options file are left alone.
      - Refused with I(state=absent) (the option of a module that is unloaded).
    type: bool
  persist:
    description:
      - Write the C(modules-load.d) and C(modprobe.d) files (C(false) leaves them alone).
    type: bool
    default: true
seealso:
  - name: vhost-net pattern
    description: What to write and what you get.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/patterns/vhost_net.md
  - module: kvmnet.hypervisor.libvirt_iface
    description: The guest NIC with the vhost driver (C(driver_name=vhost)).
"""

EXAMPLES = r"""
- name: vhost_net loaded now and at every boot
  kvmnet.hypervisor.vhost_net:
  register: vhost

- name: Fail early when guests could not use vhost
  ansible.builtin.assert:
    that: vhost.usable

- name: With zero-copy transmit
  kvmnet.hypervisor.vhost_net:
    experimental_zcopytx: true
"""

RETURN = r"""
before:
  description:
    - C(module) (C(loaded), C(builtin) or C(absent)), whether the kernel has it (C(available)), C(refcnt),
      C(experimental_zcopytx), whether C(/dev/vhost-net) exists (C(device)), the persisted files.
  returned: always
  type: dict
  sample:
    kernel: 6.1.0-28-amd64
    module: absent
    available: true
    refcnt: 0
    experimental_zcopytx: null
    device: false
    files:
      /etc/modules-load.d/kvmnet-vhost_net.conf: null
      /etc/modprobe.d/kvmnet-vhost_net.conf: null
after:
  description: The same, read back after the run (or predicted in check mode).
  returned: always
  type: dict
operations:
  description:
    - Planned operations; C(action) is one of C(write_file), C(remove_file), C(load), C(unload).
    - A change of C(experimental_zcopytx) is an C(unload) then a C(load).
  returned: always
  type: list
  elements: dict
usable:
  description: Whether vhost can be used now (module loaded or built in, and C(/dev/vhost-net) present).
  returned: always
  type: bool
  sample: true
device:
  description: The device node QEMU opens.
  returned: always
  type: str
  sample: /dev/vhost-net
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import run
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._vhost_net import VhostNetResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._module import new_module


def main() -> None:
    """Hand the parameters over to the engine."""
    module = new_module(
        AnsibleModule,
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            experimental_zcopytx=dict(type="bool"),
            persist=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    run(module, VhostNetResource)


if __name__ == "__main__":
    main()
