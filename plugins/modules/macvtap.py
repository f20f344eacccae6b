#!/usr/bin/python
# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: macvtap
short_description: Manage a MacVTap link on a lower device
version_added: 0.1.0
description:
  - Creates, changes or removes a MacVTap link, the host side of a VM NIC that bypasses the
    host bridge (C(<interface type='direct'>) in libvirt).
  - Talks to the kernel over netlink (pyroute2); no C(ip) command is run.
  - Options that are not given are left as they are on an existing link.
  - The kernel cannot change the lower device of a link, nor move it into or out of
    C(passthru) mode in place; such a change is planned as two steps, C(delete) (with the
    C(reason)) then C(create), keeping the MAC and the options not given. A guest attached to
    the old link loses it.
  - A failure half-way is rolled back; a link the run deleted comes back with its ifindex
    (the same C(/dev/tapN)).
author:
  - kvmnet.hypervisor developers (@kvmnet)
extends_documentation_fragment:
  - kvmnet.hypervisor.attributes
  - kvmnet.hypervisor.attributes.platform
  - kvmnet.hypervisor.attributes.action_group
  - kvmnet.hypervisor.netns
options:
  name:
    description:
      - Name of the macvtap link, at most 15 bytes.
      - A link of another kind with this name is never touched; the module fails instead.
    type: str
    required: true
  state:
    description:
      - C(present) creates or updates the link, C(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  link:
    description:
      - The lower device the macvtap sits on (the book's C(eth1)). Required with I(state=present).
    type: str
    aliases: [lower]
  mode:
    description:
      - How the macvtap exchanges frames with its siblings on the same lower device.
      - C(bridge) lets them talk directly, C(vepa) sends everything to the external switch
        (which must hairpin), C(private) isolates them, C(passthru) gives the lower device to
        one guest. C(passthrough) (libvirt's spelling) means C(passthru).
      - When a link is created without this option it is created in C(bridge) mode.
    type: str
    choices: [bridge, vepa, private, passthru, passthrough]
  mac:
    description:
      - Unicast MAC address of the link (any case; C(-) or C(:) separated). Without it the
        kernel picks a random one at creation. Surrounding whitespace is refused.
    type: str
    aliases: [address]
  mtu:
    description:
      - MTU of the link; at most the MTU of the lower device.
    type: int
  admin_state:
    description:
      - Administrative state. A link created without this option is brought C(up).
    type: str
    choices: [up, down]
notes:
  - The character device a hypervisor opens is C(/dev/tapN) where N is the link's ifindex;
    it is created by udev in the host namespace only.
seealso:
  - name: MacVTap pattern
    description: What to write and what you get, with diagrams.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/patterns/macvtap.md
  - module: kvmnet.hypervisor.libvirt_iface
    description: The guest side, C(type=direct).
"""

EXAMPLES = r"""
- name: MacVTap in bridge mode on eth1 with a fixed MAC (the book's macvtap0)
  kvmnet.hypervisor.macvtap:
    name: macvtap0
    link: eth1
    mode: bridge
    mac: 1a:34:34:34:45:42

- name: Switch it to VEPA (changed in place, the guest keeps its device)
  kvmnet.hypervisor.macvtap:
    name: macvtap0
    link: eth1
    mode: vepa

- name: Only bring it down; everything else is left alone
  kvmnet.hypervisor.macvtap:
    name: macvtap0
    link: eth1
    admin_state: down

- name: A macvtap inside a network namespace, with its char device
  kvmnet.hypervisor.macvtap:
    name: mvt1
    link: veth0
    netns: tenant1
  register: mvt

- name: Remove it
  kvmnet.hypervisor.macvtap:
    name: macvtap0
    state: absent
"""

RETURN = r"""
before:
  description: The link before the run, or null if it did not exist.
  returned: always
  type: dict
  sample:
    name: macvtap0
    kind: macvtap
    link: eth1
    mode: vepa
    mac: 1a:34:34:34:45:42
    mtu: 1500
    admin_state: up
    ifindex: 7
after:
  description: The link after the run (read back from the kernel), or what check mode predicts; null when absent.
  returned: always
  type: dict
  sample:
    name: macvtap0
    kind: macvtap
    link: eth1
    mode: bridge
    mac: 1a:34:34:34:45:42
    mtu: 1500
    admin_state: up
    ifindex: 7
operations:
  description:
    - The planned operations, applied unless in check mode. Empty when nothing had to change.
    - C(action) is one of C(create), C(modify), C(delete); C(changes) maps each
      changed field to its C(before) and C(after) values.
  returned: always
  type: list
  elements: dict
  sample:
    - action: modify
      target: macvtap0
      changes:
        mode:
          before: vepa
          after: bridge
tap_device:
  description: Path of the link's character device C(/dev/tapN), null when the link is absent.
  returned: always
  type: str
  sample: /dev/tap7
tap_device_exists:
  description: Whether that device node exists; null when I(netns) is set (C(/dev) shows the host namespace's devices only).
  returned: always
  type: bool
  sample: true
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._common_args import NETNS_ARGS
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import run
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._macvtap import MODE_ALIASES, MODES, MacvtapResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._module import new_module


def main() -> None:
    """Hand the parameters over to the engine."""
    module = new_module(
        AnsibleModule,
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            link=dict(type="str", aliases=["lower"]),
            mode=dict(type="str", choices=list(MODES) + list(MODE_ALIASES)),
            mac=dict(type="str", aliases=["address"]),
            mtu=dict(type="int"),
            admin_state=dict(type="str", choices=["up", "down"]),
            **NETNS_ARGS,
        ),
        required_if=[("state", "present", ["link"])],
        supports_check_mode=True,
    )
    run(module, MacvtapResource)


if __name__ == "__main__":
    main()
