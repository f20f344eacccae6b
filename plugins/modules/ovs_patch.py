#!/usr/bin/python
# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ovs_patch
short_description: Join two Open vSwitch bridges with a patch-port pair or a veth pair
version_added: 0.1.0
description:
  - Connects two existing Open vSwitch bridges, the two ways the book shows.
  - C(link_type=patch) creates a pair of patch ports whose C(options:peer) name each other, in one
    OVSDB transaction (python C(ovs) IDL, no C(ovs-vsctl) process).
  - C(link_type=veth) creates a veth pair over netlink (pyroute2, no C(ip) process), brings both
    ends up and adds one end to each bridge in one OVSDB transaction. If that transaction fails,
    the veth pair is removed again.
  - C(state=absent) removes both ports (and the veth pair).
  - The ports' other attributes (VLAN tags...) are left alone; manage them with M(kvmnet.hypervisor.ovs_bridge).
author:
  - kvmnet.hypervisor developers (@kvmnet)
extends_documentation_fragment:
  - kvmnet.hypervisor.attributes
  - kvmnet.hypervisor.attributes.platform
  - kvmnet.hypervisor.attributes.action_group
  - kvmnet.hypervisor.ovsdb
  - kvmnet.hypervisor.netns
options:
  bridge:
    description:
      - One of the two bridges; it must exist.
    type: str
    required: true
  peer_bridge:
    description:
      - The other bridge; it must exist and differ from I(bridge).
    type: str
    required: true
  port:
    description:
      - Name of the port on I(bridge). Defaults to C(<bridge>-to-<peer_bridge>).
      - An interface name (1 to 15 bytes, not C(.) or C(..), no C(/), C(:) or white space) for either
        I(link_type); give it when the default would be longer.
    type: str
  peer_port:
    description:
      - Name of the port on I(peer_bridge). Defaults to C(<peer_bridge>-to-<bridge>).
      - An interface name, like I(port).
    type: str
  link_type:
    description:
      - C(patch) (OVS patch ports, no kernel device) or C(veth) (a kernel veth pair).
    type: str
    choices: [patch, veth]
    default: patch
  state:
    description:
      - C(present) creates or fixes the link, C(absent) removes both ends.
    type: str
    choices: [present, absent]
    default: present
notes:
  - I(netns) is the network namespace where ovs-vswitchd runs, in which the veth pair is created.
seealso:
  - name: OVS interconnect pattern
    description: What to write and what you get, with diagrams.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/patterns/ovs_interconnect.md
  - module: kvmnet.hypervisor.ovs_bridge
    description: The bridges to join.
"""

EXAMPLES = r"""
- name: Patch ports between br0 and br1 (the book's patch-to-br0 / patch-to-br1)
  kvmnet.hypervisor.ovs_patch:
    bridge: br0
    peer_bridge: br1
    port: patch-to-br1
    peer_port: patch-to-br0

- name: A veth pair instead
  kvmnet.hypervisor.ovs_patch:
    bridge: br0
    peer_bridge: br1
    port: veth0
    peer_port: veth1
    link_type: veth

- name: Remove it
  kvmnet.hypervisor.ovs_patch:
    bridge: br0
    peer_bridge: br1
    port: veth0
    peer_port: veth1
    state: absent
"""

RETURN = r"""
before:
  description:
    - The link before the run, or null. C(ends) maps each existing port to its state (with its
      C(bridge)); C(veth) is the kernel link kind of I(port) (C(veth)) or null.
  returned: always
  type: dict
  sample:
    bridge: br0
    peer_bridge: br1
    veth: null
    ends:
      patch-to-br1:
        name: patch-to-br1
        bridge: br0
        type: patch
        options:
          peer: patch-to-br0
after:
  description: The link after the run (read back), or what check mode predicts; null when absent.
  returned: always
  type: dict
operations:
  description:
    - The planned operations (C(create_veth), C(add_port), C(modify_port), C(delete_port),
      C(delete_veth)); the port operations are one OVSDB transaction.
  returned: always
  type: list
  elements: dict
  sample:
    - action: add_port
      target: patch-to-br1
      bridge: br0
      type: patch
      options:
        peer: patch-to-br0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._common_args import NETNS_ARGS, OVSDB_ARGS
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import run
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_patch import (
    DEFAULT_LINK_TYPE,
    LINK_TYPES,
    OvsPatchResource,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._module import new_module


def main() -> None:
    """Hand the parameters over to the engine."""
    module = new_module(
        AnsibleModule,
        argument_spec=dict(
            bridge=dict(type="str", required=True),
            peer_bridge=dict(type="str", required=True),
            port=dict(type="str"),
            peer_port=dict(type="str"),
            link_type=dict(type="str", choices=list(LINK_TYPES), default=DEFAULT_LINK_TYPE),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            **NETNS_ARGS,
            **OVSDB_ARGS,
        ),
        supports_check_mode=True,
    )
    run(module, OvsPatchResource)


if __name__ == "__main__":
    main()
