#!/usr/bin/python
# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: libvirt_network
short_description: Define, update and remove a libvirt network (Linux bridge, Open vSwitch, macvtap, VF pool)
version_added: 0.1.0
description:
  - Defines a libvirt network of one of the forward modes a hypervisor uses, so that guests attach
    with C(<interface type='network'><source network='NAME' portgroup='PG'/></interface>) (see
    M(kvmnet.hypervisor.libvirt_iface) with C(type=network) and I(portgroup)) instead of naming
    the bridge, NIC or VF themselves.
  - C(bridge) - an existing Linux bridge (C(<forward mode='bridge'/><bridge name='br0'/>)).
  - C(openvswitch) - an existing Open vSwitch bridge (C(<virtualport type='openvswitch'/>)) with
    portgroups and VLANs (access tags, trunks, native VLAN).
  - C(direct) - a pool of macvtap lower devices (C(<forward mode='bridge|vepa|private|passthrough'>)
    with C(<interface dev=.../>)); libvirt picks a device for each guest.
  - C(hostdev) - a pool of the SR-IOV VFs of a PF, the case of M(kvmnet.hypervisor.libvirt_sriov_network)
    (both render the network XML from one place).
  - Compared on its canonical form (forward mode, bridge, devices, PF, managed, VLAN, portgroups);
    libvirt's UUID, the C(dev) attribute it adds to C(<forward>), the VF list it fills in at start
    and elements the module does not manage (C(<mtu>), C(<bandwidth>)...) are kept, never compared.
  - Portgroups, and the devices of a macvtap pool, are changed with libvirt's network update API, on the
    persistent definition and, when the network is active, on the running network at once. Any other change defines the persistent
    definition again; an active network runs its old definition until restarted. The module restarts
    it only with I(allow_restart=true) (guests on it lose their connection); otherwise it warns naming
    the fields that wait for the restart and returns C(pending_restart=true).
  - What is not mentioned is left alone; see I(portgroups) and I(vlan).
  - A bridge, device or PF that is not a network interface of libvirt's host is refused before
    anything is defined (libvirt itself accepts any name and fails when a guest starts).
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
      - Name of the libvirt network (the name of its definition's file) with letters, digits, C(-),
        C(_), C(.) and C(+), starting with a letter or digit (no spaces, C(/), C(..)).
    type: str
    required: true
  state:
    description:
      - C(present) defines it, C(absent) stops and undefines it (whatever its forward mode, as the name says which).
    type: str
    choices: [present, absent]
    default: present
  forward_mode:
    description:
      - The kind of network. Required with I(state=present).
      - A network of another forward mode (C(nat), C(route), C(open), isolated) is not this module's,
        and a name that holds one is refused.
    type: str
    choices: [bridge, openvswitch, direct, hostdev]
  bridge:
    description:
      - The existing bridge guests are plugged into (I(forward_mode=bridge) or C(openvswitch)).
    type: str
  devices:
    description:
      - The host NICs the macvtaps go over (I(forward_mode=direct)), compared as a set.
    type: list
    elements: str
  macvtap_mode:
    description:
      - The macvtap mode of a I(forward_mode=direct) network; C(bridge) when not given.
    type: str
    choices: [bridge, vepa, private, passthrough]
  pf:
    description:
      - Netdev of the SR-IOV physical function whose VFs make the pool (I(forward_mode=hostdev)).
    type: str
  managed:
    description:
      - libvirt binds each VF to vfio-pci when a guest starts and gives it back after
        (I(forward_mode=hostdev)); C(true) when not given.
    type: bool
  vlan:
    description:
      - The network's VLAN (I(forward_mode=openvswitch) or C(hostdev); libvirt has none on the
        others), used by guests whose portgroup has none. C(tags=[]) removes it; left alone when
        not given.
    type: dict
    suboptions:
      tags:
        description:
          - VLAN ids (1-4094). One tag is an access port; several make a trunk.
        type: list
        elements: int
      trunk:
        description:
          - Trunk even with a single tag.
        type: bool
      native_tag:
        description:
          - The tag of the native VLAN of a trunk (one of I(tags)).
        type: int
      native_mode:
        description:
          - How the native VLAN is carried; C(untagged) when I(native_tag) is given without it.
        type: str
        choices: [tagged, untagged]
  portgroups:
    description:
      - Portgroups guests choose with C(<source portgroup=.../>). Each one listed is complete
        (not default and without VLAN unless given); one listed as default takes the mark from the
        previous default. Portgroups not listed stay unless I(portgroups_exclusive=true).
      - A name given twice or two defaults are refused.
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - The portgroup's name (the same characters as I(name)).
        type: str
        required: true
      default:
        description:
          - Guests that name no portgroup get this one.
        type: bool
        default: false
      vlan:
        description:
          - The portgroup's VLAN (I(forward_mode=openvswitch) or C(hostdev)), with the suboptions of I(vlan).
        type: dict
        suboptions:
          tags:
            description: VLAN ids (1-4094); several make a trunk.
            type: list
            elements: int
          trunk:
            description: Trunk even with a single tag.
            type: bool
          native_tag:
            description: The tag of the native VLAN of a trunk (one of I(tags)).
            type: int
          native_mode:
            description: How the native VLAN is carried; C(untagged) when I(native_tag) is given without it.
            type: str
            choices: [tagged, untagged]
  portgroups_exclusive:
    description:
      - Remove the portgroups that I(portgroups) does not list.
    type: bool
    default: false
  active:
    description:
      - Start (C(true)) or stop (C(false)) the network; left alone when not given.
    type: bool
  autostart:
    description:
      - Start the network when libvirtd starts; left alone when not given.
    type: bool
  allow_restart:
    description:
      - When a change of an active network is one libvirt cannot make on the running network (anything
        but portgroups and macvtap pool devices), stop and start it so that it runs the new definition. Guests on it lose their
        connection. Without it the running network keeps its old definition and the module warns.
    type: bool
    default: false
notes:
  - Changing an active network's forward mode, bridge, macvtap mode, PF or VLAN needs a restart of the
    network (see I(allow_restart)); a portgroup or macvtap pool device change does not.
seealso:
  - name: libvirt networks pattern
    description: What to write and what you get.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/patterns/libvirt_networks.md
  - module: kvmnet.hypervisor.libvirt_iface
    description: Guest interfaces of C(type=network) with a I(portgroup).
  - module: kvmnet.hypervisor.ovs_bridge
    description: Create the Open vSwitch bridge first.
  - module: kvmnet.hypervisor.linux_bridge
    description: Create the Linux bridge first.
  - module: kvmnet.hypervisor.libvirt_sriov_network
    description: The VF pool with the options of that case only.
"""

EXAMPLES = r"""
- name: Open vSwitch network with a default access portgroup and a trunk portgroup
  kvmnet.hypervisor.libvirt_network:
    name: ovs-vms
    forward_mode: openvswitch
    bridge: ovsbr0
    portgroups:
      - name: vlan10
        default: true
        vlan: {tags: [10]}
      - name: trunk
        vlan: {tags: [10, 20, 30], native_tag: 10}
    active: true
    autostart: true

- name: The host's Linux bridge br0 as a libvirt network
  kvmnet.hypervisor.libvirt_network:
    name: lan
    forward_mode: bridge
    bridge: br0
    active: true
    autostart: true

- name: Macvtap pool over two NICs, guests on it reach each other
  kvmnet.hypervisor.libvirt_network:
    name: macvtap-pool
    forward_mode: direct
    macvtap_mode: bridge
    devices: [eth1, eth2]
    active: true

- name: Move the network to another bridge and restart it now (guests reconnect)
  kvmnet.hypervisor.libvirt_network:
    name: lan
    forward_mode: bridge
    bridge: br1
    allow_restart: true

- name: A guest NIC on the trunk portgroup
  kvmnet.hypervisor.libvirt_iface:
    domain: vm1
    mac: "52:54:00:12:34:56"
    type: network
    source: ovs-vms
    portgroup: trunk
"""

RETURN = r"""
before:
  description:
    - The network before the run, or null. Its canonical fields (forward_mode, bridge, devices, macvtap_mode,
      pf, managed, vlan, portgroups), uuid, active, autostart, C(xml) (the persistent definition, which a
      rollback defines again), and when active C(running) (the running network's canonical fields) and
      C(running_xml).
  returned: always
  type: dict
  sample: {name: ovs-vms, forward_mode: openvswitch, bridge: ovsbr0, devices: null, macvtap_mode: null, pf: null,
           managed: null, vlan: {}, portgroups: [{name: vlan10, default: true, vlan: {tags: [10], trunk: false,
           native_tag: null, native_mode: null}}], active: true, autostart: true}
after:
  description: The network after the run (read back), or what check mode predicts; null when absent.
  returned: always
  type: dict
operations:
  description:
    - The planned C(define) (with the XML), C(update) (one portgroup or macvtap pool device C(add), C(modify) or
      C(delete), its C(section) C(portgroup) or C(forward-interface), the views it applies to, C(config) and/or
      C(live)), C(start), C(stop), C(autostart) and C(undefine)
      operations, one libvirt call each.
  returned: always
  type: list
  elements: dict
  sample: [{action: update, target: ovs-vms, command: modify, section: portgroup, flags: [config, live],
            xml: "<portgroup name='vlan10' default='yes'><vlan><tag id='11'/></vlan></portgroup>"}]
pending_restart:
  description: True when the active network runs another definition than its persistent one (see I(allow_restart)).
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._common_args import LIBVIRT_ARGS, VLAN_OPTIONS
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import run
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_network import LibvirtNetworkResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_network_xml import FORWARD_MODES, MACVTAP_MODES
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._module import new_module


def main() -> None:
    """Hand the parameters over to the engine."""
    module = new_module(
        AnsibleModule,
        argument_spec=dict(
            **LIBVIRT_ARGS,
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            forward_mode=dict(type="str", choices=list(FORWARD_MODES)),
            bridge=dict(type="str"),
            devices=dict(type="list", elements="str"),
            macvtap_mode=dict(type="str", choices=list(MACVTAP_MODES)),
            pf=dict(type="str"),
            managed=dict(type="bool"),
            vlan=dict(type="dict", options=VLAN_OPTIONS),
            portgroups=dict(type="list", elements="dict", options=dict(
                name=dict(type="str", required=True),
                default=dict(type="bool", default=False),
                vlan=dict(type="dict", options=VLAN_OPTIONS),
            )),
            portgroups_exclusive=dict(type="bool", default=False),
            active=dict(type="bool"),
            autostart=dict(type="bool"),
            allow_restart=dict(type="bool", default=False),
        ),
        required_if=[("state", "present", ["forward_mode"])],
        supports_check_mode=True,
    )
    run(module, LibvirtNetworkResource)


if __name__ == "__main__":
    main()
