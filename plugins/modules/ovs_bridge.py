#!/usr/bin/python
# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ovs_bridge
short_description: Manage an Open vSwitch bridge and its ports in one transaction
version_added: 0.1.0
description:
  - Creates, changes or removes an Open vSwitch bridge and, optionally, the ports on it
    (the book's C(ovs-vsctl add-br br0; add-port br0 eth1; set port tap1 tag=3)).
  - Talks to ovsdb-server through the python C(ovs) IDL; no C(ovs-vsctl) process is run.
    The whole change is one OVSDB transaction; the module then waits for ovs-vswitchd to apply
    it and reads back each new or changed interface. An interface ovs-vswitchd could not
    create (C(Interface.error), C(ofport) -1) fails the task.
  - Bridge attributes that are not given are left as they are. Ports that are not listed are
    left alone unless I(exclusive_ports=true). Attributes of a listed port that are not given are
    left alone, so a task may list only C(name) and C(tag) of a port to retag it.
  - Because a null option is the same as an omitted one, a port's VLAN columns are removed with
    the port's I(clear) list (what C(ovs-vsctl clear port tap1 tag) does by hand).
    I(clear=[tag]) turns an access port back into an untagged port,
    I(clear=[tag, vlan_mode, trunks]) empties all three.
  - Map options (I(other_config), I(external_ids), port I(options)...) set the keys given; a key
    with a null value is removed; other keys are left alone.
author:
  - kvmnet.hypervisor developers (@kvmnet)
extends_documentation_fragment:
  - kvmnet.hypervisor.attributes
  - kvmnet.hypervisor.attributes.platform
  - kvmnet.hypervisor.attributes.action_group
  - kvmnet.hypervisor.ovsdb
options:
  name:
    description:
      - Name of the bridge (also the name of its own internal port), a Linux interface name (1 to 15 bytes,
        not C(.) or C(..), no C(/), C(:) or white space), checked before anything is read or changed.
    type: str
    required: true
    aliases: [bridge]
  state:
    description:
      - C(present) creates or updates the bridge and the listed ports; C(absent) removes the
        bridge with all its ports.
    type: str
    choices: [present, absent]
    default: present
  datapath_type:
    description:
      - C(Bridge.datapath_type), for example C(system) (kernel datapath) or C(netdev) (userspace).
        A bridge created without it uses the kernel datapath.
      - A name of lower-case letters, digits, C(-) and C(_); anything else (C("") too) is refused.
    type: str
  fail_mode:
    description:
      - What the bridge does without an OpenFlow controller.
    type: str
    choices: [standalone, secure]
  mcast_snooping:
    description:
      - Enable multicast snooping (C(Bridge.mcast_snooping_enable)).
    type: bool
  stp:
    description:
      - Enable the 802.1D spanning tree protocol (C(Bridge.stp_enable)).
    type: bool
  other_config:
    description:
      - Keys of C(Bridge.other_config) to set (null value removes the key).
    type: dict
  external_ids:
    description:
      - Keys of C(Bridge.external_ids) to set (null value removes the key).
    type: dict
  ports:
    description:
      - Ports of the bridge to manage. Ports not listed are left alone unless
        I(exclusive_ports=true).
      - A port that exists on another bridge fails the task; it is never moved silently.
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - Port name, for every type a Linux interface name (1 to 15 bytes, not C(.) or C(..), no C(/), C(:) or
            white space), as the kernel and ovs-vswitchd need it; a bad name fails naming C(ports[N].name).
        type: str
        required: true
      state:
        description:
          - C(absent) removes the port from the bridge.
        type: str
        choices: [present, absent]
        default: present
      type:
        description:
          - Interface type. C(system) is an existing kernel device (NIC, tap, veth);
            C(internal) is created by OVS; C(patch) needs I(peer); tunnels need I(remote_ip).
          - A port created without it is a C(system) port.
        type: str
        choices: [system, internal, patch, vxlan, geneve, gre]
      tag:
        description:
          - Access VLAN (C(Port.tag)), 1-4094. Omitted leaves the port's tag as it is.
          - To remove the tag give I(clear=[tag]). C(0) is refused, because Open vSwitch would
            store it as VLAN 0, not as "no tag".
        type: int
      trunks:
        description:
          - VLANs the port trunks (C(Port.trunks)), each 1-4094. Omitted leaves them as they are.
          - An empty list clears the column, which Open vSwitch reads as "all VLANs" (the same as
            I(clear=[trunks])).
        type: list
        elements: int
      vlan_mode:
        description:
          - C(Port.vlan_mode). Omitted leaves it as it is; I(clear=[vlan_mode]) removes it, and
            Open vSwitch then derives the mode (C(access) when the port has a tag, else C(trunk)).
          - C(trunk) with I(tag), and C(access) with I(trunks), are refused (Open vSwitch would
            ignore the tag or the trunks).
        type: str
        choices: [access, trunk, native-tagged, native-untagged]
      clear:
        description:
          - VLAN columns of the port to empty, like C(ovs-vsctl clear port NAME COLUMN...).
            Columns already empty are not changed (no change is reported).
          - I(clear=[tag]) removes the access VLAN; a port whose I(vlan_mode) was set to C(access)
            keeps that mode (an untagged-only port), so give I(clear=[tag, vlan_mode]) for a plain
            port again.
          - A column may not be both set and cleared in one entry (I(tag=5) with I(clear=[tag])
            fails naming the option and nothing is changed); I(trunks=[]) with I(clear=[trunks])
            is accepted (both clear).
          - Has no effect on a port this task creates (a new port starts with these columns empty).
        type: list
        elements: str
        choices: [tag, trunks, vlan_mode]
      peer:
        description:
          - For C(type=patch) the name of the patch port on the other bridge (C(options:peer)).
          - Required with C(type=patch) (here or as I(options.peer)).
        type: str
      remote_ip:
        description:
          - For tunnel ports the remote endpoint (C(options:remote_ip)), an IPv4 or IPv6 address
            or C(flow).
          - Required with C(type=vxlan), C(geneve) or C(gre) (here or as I(options.remote_ip)).
        type: str
      options:
        description:
          - Keys of C(Interface.options) to set (null value removes the key).
        type: dict
      external_ids:
        description:
          - Keys of C(Port.external_ids) to set (null value removes the key).
        type: dict
      interface_external_ids:
        description:
          - Keys of C(Interface.external_ids) to set, as libvirt does (C(iface-id), C(attached-mac)).
        type: dict
  exclusive_ports:
    description:
      - When true, I(ports) is the exact list; every other port of the bridge (except the
        bridge's own internal port) is removed.
    type: bool
    default: false
seealso:
  - name: Open vSwitch with VLANs pattern
    description: What to write and what you get, with diagrams.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/patterns/ovs_vlan.md
  - module: kvmnet.hypervisor.ovs_bond
    description: A bonded port on the bridge.
  - module: kvmnet.hypervisor.ovs_patch
    description: Join two bridges.
  - module: kvmnet.hypervisor.libvirt_iface
    description: Guest interfaces on the bridge, with a VLAN tag.
"""

EXAMPLES = r"""
- name: Bridge br0 on uplink eth1 with two VM ports on VLANs 2 and 3
  kvmnet.hypervisor.ovs_bridge:
    name: br0
    ports:
      - name: eth1
      - name: tap1
        tag: 2
      - name: tap2
        tag: 3

- name: Retag tap1 (the book's ovs-vsctl set port tap1 tag=3); other ports are left alone
  kvmnet.hypervisor.ovs_bridge:
    name: br0
    ports:
      - name: tap1
        tag: 3

- name: Turn the access port tap1 back into an untagged port (ovs-vsctl clear port tap1 tag vlan_mode)
  kvmnet.hypervisor.ovs_bridge:
    name: br0
    ports:
      - name: tap1
        clear: [tag, vlan_mode]

- name: Let the uplink trunk every VLAN again (an empty list clears Port.trunks)
  kvmnet.hypervisor.ovs_bridge:
    name: br0
    ports:
      - name: eth1
        trunks: []

- name: Userspace bridge with a VXLAN tunnel and a trunk, exactly these ports
  kvmnet.hypervisor.ovs_bridge:
    name: br-tun
    datapath_type: netdev
    fail_mode: standalone
    exclusive_ports: true
    ports:
      - name: vx0
        type: vxlan
        remote_ip: 192.0.2.20
        options:
          key: "5001"
      - name: uplink0
        trunks: [10, 20]

- name: Remove the bridge
  kvmnet.hypervisor.ovs_bridge:
    name: br-tun
    state: absent
"""

RETURN = r"""
before:
  description: The bridge before the run (its own internal port not listed), or null.
  returned: always
  type: dict
  sample:
    name: br0
    datapath_type: ""
    fail_mode: null
    mcast_snooping: false
    stp: false
    other_config: {}
    external_ids: {}
    ports:
      - name: tap1
        type: system
        tag: 2
        trunks: []
        vlan_mode: null
        options: {}
        external_ids: {}
        interface_external_ids: {}
        ofport: 1
        error: null
after:
  description:
    - The bridge after the run, read back from OVSDB, or what check mode predicts; null when absent.
    - Ports carry C(ofport) and C(error) as ovs-vswitchd reported them; a bond port shows
      C(type=bond) and its C(members).
  returned: always
  type: dict
operations:
  description:
    - The planned operations, applied in one transaction unless in check mode.
    - C(action) is one of C(create_bridge), C(modify_bridge), C(delete_bridge), C(add_port),
      C(modify_port), C(delete_port); C(changes) maps each changed field to C(before)/C(after).
    - A cleared column shows C(after) null (C(tag), C(vlan_mode)) or C([]) (C(trunks)).
  returned: always
  type: list
  elements: dict
  sample:
    - action: modify_port
      target: tap1
      bridge: br0
      changes:
        tag:
          before: 2
          after: 3
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._common_args import OVSDB_ARGS
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import run
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_bridge import (
    CLEARABLE,
    FAIL_MODES,
    PORT_TYPES,
    VLAN_MODES,
    OvsBridgeResource,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._module import new_module


def main() -> None:
    """Hand the parameters over to the engine."""
    port_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        type=dict(type="str", choices=list(PORT_TYPES)),
        tag=dict(type="int"),
        trunks=dict(type="list", elements="int"),
        vlan_mode=dict(type="str", choices=list(VLAN_MODES)),
        clear=dict(type="list", elements="str", choices=list(CLEARABLE)),
        peer=dict(type="str"),
        remote_ip=dict(type="str"),
        options=dict(type="dict"),
        external_ids=dict(type="dict"),
        interface_external_ids=dict(type="dict"),
    )
    module = new_module(
        AnsibleModule,
        argument_spec=dict(
            name=dict(type="str", required=True, aliases=["bridge"]),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            datapath_type=dict(type="str"),
            fail_mode=dict(type="str", choices=list(FAIL_MODES)),
            mcast_snooping=dict(type="bool"),
            stp=dict(type="bool"),
            other_config=dict(type="dict"),
            external_ids=dict(type="dict"),
            ports=dict(type="list", elements="dict", options=port_spec),
            exclusive_ports=dict(type="bool", default=False),
            **OVSDB_ARGS,
        ),
        supports_check_mode=True,
    )
    run(module, OvsBridgeResource)


if __name__ == "__main__":
    main()
