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
  - VLAN filtering (what C(ip link set br0 type bridge vlan_filtering 1) and C(bridge vlan add)
    do by hand) with I(vlan_filtering), I(default_pvid), I(port_vlans) and I(self_vlans). VLANs
    of a listed port that are not named stay unless I(vlans_exclusive=true); ports not listed in
    I(port_vlans) are left alone. A guest's tap gets its VLANs from
    M(kvmnet.hypervisor.libvirt_iface) (I(vlan) of a Linux-bridge NIC), which keeps them across
    domain restarts.
  - Runtime state, and with I(persist) the files of one network stack that make the bridge, the
    ports of I(ports) and their VLANs again at boot. The host address is not handled here; use
    M(kvmnet.hypervisor.nic_bond) (role C(host_bond_bridge)) or the distribution's network
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
  vlan_filtering:
    description:
      - Make the bridge VLAN-aware (C(IFLA_BR_VLAN_FILTERING)). Must be C(true) when I(default_pvid),
        I(port_vlans) or I(self_vlans) are given. Omitted leaves it as it is.
      - Needs a kernel built with C(CONFIG_BRIDGE_VLAN_FILTERING) (every distribution kernel);
        elsewhere the module fails with C(unsupported), the bridge as it was.
    type: bool
  default_pvid:
    description:
      - The VLAN a port gets as PVID, untagged, when it joins the bridge (1-4094), C(0) for none.
        The kernel moves ports (and the bridge itself) whose PVID is still the old default.
    type: int
  port_vlans:
    description:
      - VLANs of bridge ports (uplinks or taps), one item per port. A port must be a port of the
        bridge, or be listed in I(ports).
      - A VLAN list is ids and ranges, as text (C("100-110,200")) or a list (C([100, "200-210"])).
        VLAN ids are 1-4094; a reversed range, a VLAN given twice or in both I(untagged) and
        I(tagged) is refused, naming the option, before anything changes.
    type: list
    elements: dict
    suboptions:
      port:
        description: Name of the port.
        type: str
        required: true
      pvid:
        description:
          - The VLAN untagged frames coming in are put in; one of I(untagged) or I(tagged). C(0) for
            none. Omitted leaves the PVID as it is.
        type: int
      untagged:
        description: VLANs sent out of the port untagged (an access port's VLAN).
        type: list
        elements: str
      tagged:
        description: VLANs sent out of the port tagged (a trunk's VLANs).
        type: list
        elements: str
  self_vlans:
    description:
      - VLANs of the bridge device itself (C(bridge vlan add dev br0 vid 10 self)), for the host's own
        traffic through the bridge, an address on C(br0) (untagged, with I(pvid)) or on a VLAN
        device C(br0.10) over it (tagged). Same suboptions as an item of I(port_vlans), without I(port).
    type: dict
    suboptions:
      pvid:
        description: As in I(port_vlans).
        type: int
      untagged:
        description: As in I(port_vlans).
        type: list
        elements: str
      tagged:
        description: As in I(port_vlans).
        type: list
        elements: str
  persist:
    description:
      - Write the files that make the bridge again at boot, for C(networkd) (C(.netdev) with
        C(VLANFiltering=) / C(DefaultPVID=), C(.network) files with C([BridgeVLAN]) sections),
        C(nm) (keyfiles with C(bridge.vlan-filtering), C(bridge.vlan-default-pvid), C(bridge.vlans),
        C(bridge-port.vlans)) or C(ifupdown) (C(/etc/network/interfaces.d/<name>) with
        C(bridge_vlan_aware yes); Debian's bridge-utils hook knows no other VLAN keyword, so the
        default PVID and the VLANs are C(post-up) lines running C(ip link) / C(bridge vlan)).
        C(none) writes nothing and leaves files alone.
      - The files describe the bridge as the run leaves it (the VLANs of the listed ports and of the
        bridge itself as read or predicted, when VLAN filtering is on); I(ports) is required, taps are
        never persisted. They are read at the next boot; the running state is set over netlink now.
        With I(state=absent) they are removed. Not with I(netns).
    type: str
    choices: [none, networkd, nm, ifupdown]
    default: none
  vlans_exclusive:
    description:
      - Remove the VLANs of each port in I(port_vlans) (and of the bridge, with I(self_vlans)) that
        are not listed there, the default PVID a port got when it joined included.
    type: bool
    default: false
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

- name: A VLAN-aware br0, eth1 a trunk of VLANs 100-110 and 200, the host on VLAN 100 (br0.100)
  kvmnet.hypervisor.linux_bridge:
    name: br0
    ports: [eth1]
    vlan_filtering: true
    default_pvid: 0
    port_vlans:
      - port: eth1
        tagged: "100-110,200"
    self_vlans:
      tagged: "100"
    vlans_exclusive: true
    persist: networkd

- name: Delete it
  kvmnet.hypervisor.linux_bridge:
    name: br0
    state: absent
"""

RETURN = r"""
before:
  description:
    - The bridge before the run (name, kind, mtu, admin_state, mac, ifindex, ports, vlan_filtering,
      default_pvid, port_vlans of every port, self_vlans), or null. C(pvid) 0 is none.
  returned: always
  type: dict
  sample:
    name: br0
    kind: bridge
    mtu: 1500
    admin_state: up
    mac: "52:54:00:12:34:56"
    ifindex: 7
    ports: [eth1, vnet0]
    vlan_filtering: true
    default_pvid: 1
    port_vlans:
      - {port: eth1, pvid: 0, untagged: "", tagged: "100-110,200"}
      - {port: vnet0, pvid: 100, untagged: "100", tagged: ""}
    self_vlans: {pvid: 0, untagged: "", tagged: "100"}
after:
  description: The bridge after the run (read back), or what check mode predicts; null when absent.
  returned: always
  type: dict
operations:
  description:
    - The planned operations (C(create), C(modify), C(add_port), C(port_up), C(remove_port), C(vlan_add),
      C(vlan_del), C(delete), C(write_file), C(remove_file)), applied unless in check mode. C(port_up) brings up a port that was down,
      after it joined. C(vlan_add) sends C(vlans) (a VLAN sent again gets the flags given), C(vlan_del)
      removes C(vids); C(bridge_self) marks the bridge device's own VLANs.
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
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._linux_bridge import PERSIST_CHOICES, LinuxBridgeResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._module import new_module

_VLANS = dict(pvid=dict(type="int"), untagged=dict(type="list", elements="str"), tagged=dict(type="list", elements="str"))


def main() -> None:
    """Hand the parameters over to the engine."""
    module = new_module(
        AnsibleModule,
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            ports=dict(type="list", elements="str"),
            exclusive_ports=dict(type="bool", default=False),
            mtu=dict(type="int"),
            admin_state=dict(type="str", choices=["up", "down"]),
            vlan_filtering=dict(type="bool"),
            default_pvid=dict(type="int"),
            port_vlans=dict(type="list", elements="dict", options=dict(port=dict(type="str", required=True), **_VLANS)),
            self_vlans=dict(type="dict", options=_VLANS),
            vlans_exclusive=dict(type="bool", default=False),
            persist=dict(type="str", choices=list(PERSIST_CHOICES), default="none"),
            **NETNS_ARGS,
        ),
        supports_check_mode=True,
    )
    run(module, LinuxBridgeResource)


if __name__ == "__main__":
    main()
