#!/usr/bin/python
# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: linux_bridge
short_description: Manage a host Linux bridge and its ports
version_added: 0.1.0
description:
  - Creates, changes or removes a Linux bridge and attaches host NICs to it, the host side of
    the traditional bridged VM network (C(<interface type='bridge'>) in libvirt).
  - Talks to the kernel over netlink (pyroute2); no command is run. A new bridge has STP off.
  - Ports not listed are left on the bridge (the taps of running guests are ports too) unless
    I(exclusive_ports=true). Options not given are left as they are.
  - Runtime state only. The host address and persistence across reboots are not handled here;
    use M(kvmnet.hypervisor.nic_bond) (role C(host_bond_bridge)) or the distribution's network
    configuration for the bridge that carries the host's address.
author:
  - kvmnet.hypervisor contributors (@kvmnet)
extends_documentation_fragment:
  - kvmnet.hypervisor.attributes
  - kvmnet.hypervisor.attributes.platform
  - kvmnet.hypervisor.attributes.action_group
  - kvmnet.hypervisor.netns
options:
  name:
    description:
      - Name of the bridge (the book's C(br0)).
    type: str
    required: true
  state:
    description:
      - C(present) creates or updates the bridge, C(absent) deletes it (its ports are released).
    type: str
    choices: [present, absent]
    default: present
  ports:
    description:
      - Host interfaces to attach (brought up). A port of another bridge is refused.
    type: list
    elements: str
  exclusive_ports:
    description:
      - Release ports of the bridge that are not in I(ports).
    type: bool
    default: false
  mtu:
    description:
      - MTU of the bridge.
    type: int
  admin_state:
    description:
      - Administrative state; a new bridge is brought up when not given.
    type: str
    choices: [up, down]
seealso:
  - name: Traditional Linux bridge pattern
    description: Host bridge over a NIC, VM interfaces with tap + virtio on it.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/patterns/linux_bridge.md
  - module: kvmnet.hypervisor.nic_bond
    description: A bond of host NICs under a bridge that carries the host address, persisted.
  - module: kvmnet.hypervisor.libvirt_iface
    description: Guest interfaces on the bridge.
"""

EXAMPLES = r"""
- name: The book's br0 over eth1, for VM interfaces
  kvmnet.hypervisor.linux_bridge:
    name: br0
    ports: [eth1]

- name: Delete it
  kvmnet.hypervisor.linux_bridge:
    name: br0
    state: absent
"""

RETURN = r"""
before:
  description: The bridge before the run (name, kind, mtu, admin_state, mac, ifindex, ports), or null.
  returned: always
  type: dict
  sample: {name: br0, kind: bridge, mtu: 1500, admin_state: up, mac: "52:54:00:12:34:56", ifindex: 7, ports: [eth1, vnet0]}
after:
  description: The bridge after the run (read back), or what check mode predicts; null when absent.
  returned: always
  type: dict
operations:
  description:
    - The planned operations (C(create), C(modify), C(add_port), C(port_up), C(remove_port), C(delete)), applied
      unless in check mode. C(port_up) brings up a port that was down, after it joined.
  returned: always
  type: list
  elements: dict
  sample:
    - action: add_port
      target: eth1
      changes: {master: {before: null, after: br0}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._common_args import NETNS_ARGS
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import run
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._linux_bridge import LinuxBridgeResource


def main() -> None:
    """Hand the parameters over to the engine."""
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            ports=dict(type="list", elements="str"),
            exclusive_ports=dict(type="bool", default=False),
            mtu=dict(type="int"),
            admin_state=dict(type="str", choices=["up", "down"]),
            **NETNS_ARGS,
        ),
        supports_check_mode=True,
    )
    run(module, LinuxBridgeResource)


if __name__ == "__main__":
    main()
