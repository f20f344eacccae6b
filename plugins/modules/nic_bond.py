#!/usr/bin/python
# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: nic_bond
short_description: Manage a Linux bond of host NICs, optionally under a bridge carrying the host address
version_added: 0.1.0
description:
  - Creates, changes or removes a Linux bond (the kernel's C(bonding) driver) and its member NICs,
    optionally puts it under a Linux bridge that carries the host's address and default gateway
    (the book's C(bond0) under C(br1) with C(IPADDR)/C(NETMASK)), and persists all of it for the
    network stack in use (systemd-networkd, NetworkManager keyfiles, RHEL ifcfg, Debian ifupdown).
  - The running state is changed over netlink (pyroute2); no C(ip) command is run.
  - Bond options that are not given are left as they are on an existing bond. A bond created
    without them gets C(mode=active-backup), C(miimon=100) and the kernel's defaults.
  - I(members), when given, is the complete member set; NICs not listed are released from the bond
    (never deleted). Without I(members) the members are left alone.
  - The kernel changes I(mode) only while the bond is down and has no members, and I(lacp_rate)
    and I(ad_select) only while it is down. Such a change is planned as steps, one per host change,
    C(bond_down), C(release_member) per member (mode only), C(modify_bond) (the attributes),
    C(reenslave_member) per member and C(bond_up). Traffic through the bond stops meanwhile.
  - A failure half-way is rolled back to the state read before the run (bond, members, bridge,
    master, address, default route; the files byte for byte, re-read by a running network daemon);
    the failure names the failed step, what was applied and what was reverted. Under a running
    NetworkManager (which applies the profiles itself) the live part of that rollback is not proven.
  - A NIC is enslaved after being set down (the kernel requires it), then set up again.
  - When the host already holds I(address) on another interface (typically the NIC that becomes a
    member), the plan has one C(move_address) step that adds the address to the bridge (or bond),
    removes it from the old interface and moves the default route along. This is risky on a remote
    host, because a session to that address drops if the new carrier has no working uplink. Run such a
    change inside a checkpoint (M(kvmnet.hypervisor.checkpoint); C(playbooks/hypervisor.yml) opens one
    by default), so that a host the controller lost puts itself back when the checkpoint's timeout passes.
  - Addresses other than I(address) on the bridge are left alone.
  - I(mtu) is the MTU of the bond and, with I(bridge), of the bridge. The kernel gives a NIC the bond's
    MTU when it is enslaved and sets every member when the bond's MTU changes, so the C(modify_bond) step
    covers the members; a member whose MTU was changed by hand while the bond's is right gets a
    C(modify_member) step. Without I(mtu) no MTU is changed or written to the files.
  - Persisted files are written only when their content changes and are shown in C(--diff);
    the daemon (C(networkctl reload), C(nmcli connection reload); argument lists, no shell) is asked
    to re-read them only then, and only if it is running. These commands (and C(nmcli) and C(dpkg-divert), see
    below and I(divert_ifenslave_hook)) are the only processes the module starts; netlink has no API for them.
  - With I(persist=nm) and NetworkManager running, NetworkManager applies the change, not netlink, because
    changing the links under it races with its own activation of the profiles. The live steps are reported
    with C(by=NetworkManager), the keyfiles are written and reloaded, and one C(activate) step has
    NetworkManager apply them, each C(nmcli) call with an argument list. It lets an activation NetworkManager
    started by itself finish, runs C(nmcli device reapply) on an active bridge (or C(nmcli connection up)
    when that cannot be reapplied or the bridge is not active), then C(nmcli connection up) of the bond,
    whose C(autoconnect-slaves) brings up the members (taken down first when active; a bond NetworkManager did
    not create from the profile is deleted first, so that the profile creates its own).
    The read-back then waits up to 30 seconds. With the keyfiles, C(/etc/modprobe.d/kvmnet-bonding.conf)
    (C(options bonding max_bonds=0)) keeps the bonding module from creating a bond0 of its own at boot.
  - I(mtu) (or, without it, the bond's MTU for NICs being enslaved) is checked against the MTU range
    each member's driver reports (an igb NIC accepts up to 9216) before anything changes.
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
      - Name of the bond, at most 15 bytes. A link of another kind with this name is never touched.
    type: str
    required: true
  state:
    description:
      - C(present) creates or updates the bond; C(absent) deletes it (the kernel releases its members)
        and removes its persisted files. With I(state=absent) and I(bridge) the bridge is deleted too.
    type: str
    choices: [present, absent]
    default: present
  mode:
    description:
      - Bonding mode by name or number, C(balance-rr)/C(0), C(active-backup)/C(1), C(balance-xor)/C(2),
        C(broadcast)/C(3), C(802.3ad)/C(4), C(balance-tlb)/C(5), C(balance-alb)/C(6).
      - C(802.3ad) needs an LACP partner (a switch or another bond) and members that report speed and duplex.
    type: str
  miimon:
    description: MII link monitoring interval in milliseconds (0 disables it; at most 2147483647, as for
      I(updelay), I(downdelay) and I(arp_interval)).
    type: int
  updelay:
    description: Milliseconds to wait before enabling a member whose link came up; a multiple of I(miimon).
    type: int
  downdelay:
    description: Milliseconds to wait before disabling a member whose link went down; a multiple of I(miimon).
    type: int
  lacp_rate:
    description: How often the LACP partner is asked to send LACPDUs (C(802.3ad) only).
    type: str
    choices: [slow, fast]
  xmit_hash_policy:
    description: How transmitted traffic is spread over the members (C(balance-xor), C(802.3ad), C(balance-tlb)).
    type: str
    choices: [layer2, layer3+4, layer2+3, encap2+3, encap3+4, vlan+srcmac]
  ad_select:
    description: Aggregator selection policy (C(802.3ad) only).
    type: str
    choices: [stable, bandwidth, count]
  primary:
    description:
      - The member that is active whenever it is up (C(active-backup), C(balance-tlb), C(balance-alb)).
        Must be one of the members.
    type: str
  arp_interval:
    description:
      - ARP link monitoring interval in milliseconds; cannot be combined with I(miimon) > 0 and is not
        available in C(802.3ad), C(balance-tlb), C(balance-alb). Needs I(arp_ip_target).
    type: int
  arp_ip_target:
    description: IPv4 addresses probed by ARP monitoring (at most 16). The list replaces the bond's list.
    type: list
    elements: str
  members:
    description:
      - The NICs of the bond (the complete set). They must exist and must not belong to another master.
    type: list
    elements: str
  bridge:
    description:
      - A Linux bridge above the bond (created if missing, with STP off). The bond is made a port of it.
        Without this option the bond's master is left alone.
    type: str
  address:
    description:
      - The host address with prefix length (C(192.168.20.200/24), or IPv6), put on I(bridge), or on the
        bond when there is no bridge. See the description for moving it from another interface.
    type: str
  gateway:
    description:
      - Default gateway through the address's interface (C(ip route replace default via ...)).
        Must be inside the subnet of I(address).
    type: str
  mtu:
    description:
      - MTU in bytes (68 to 65535) of the bond, its members and, when I(bridge) is given, the bridge
        (C(9000) for jumbo frames). The members must support it. The kernel refuses an MTU one of them
        cannot take (a change of the bond's MTU is then undone on every member) and the module fails,
        listing the steps already applied.
      - The bridge's MTU is set explicitly, so it stays when other ports (VM taps) join. The MTU of those
        other ports is left alone.
      - Persisted for every stack in its own syntax, for the bond, each member and the bridge
        (C(MTUBytes=) in the C([Link]) section of the networkd C(.network) files, C(mtu=) in the
        C([ethernet]) section of the keyfiles, C(MTU=) in the ifcfg files, C(mtu) in the ifupdown stanzas of
        bond and bridge, the members taking the bond's).
      - Not given, the MTUs are left as they are and no file mentions one.
    type: int
  persist:
    description:
      - Which network configuration stack to write files for, so the bond survives a reboot.
      - C(auto) detects it (first match wins) from NetworkManager running (C(nm)), systemd-networkd running or
        enabled (C(networkd)), C(/etc/network/interfaces) with ifupdown installed (C(ifupdown)),
        C(/etc/sysconfig/network-scripts) (C(ifcfg)); it fails when none is found.
      - C(networkd) writes C(/etc/systemd/network/30-kvmnet-*.netdev)/C(.network); C(nm) writes keyfiles
        C(/etc/NetworkManager/system-connections/kvmnet-*.nmconnection) (mode 0600); C(ifcfg) writes
        C(/etc/sysconfig/network-scripts/ifcfg-*) (C(BONDING_OPTS), C(BRIDGE=), C(MASTER=)/C(SLAVE=yes));
        C(ifupdown) writes C(/etc/network/interfaces.d/<name>) and adds a C(source) line to
        C(/etc/network/interfaces) if it lacks one. C(none) writes nothing.
      - The files describe the options given (plus the bond's effective mode and options); an
        existing file with the same path is overwritten.
      - With I(netns) nothing is persisted (C(auto) means C(none); another value is an error).
      - C(networkd), C(nm) and C(ifupdown) are proven through reboots on Debian test VMs; C(ifcfg) (RHEL)
        is covered by unit tests of the files it renders only.
    type: str
    choices: [auto, networkd, nm, ifcfg, ifupdown, none]
    default: auto
  divert_ifenslave_hook:
    description:
      - Only with I(persist=nm) (or C(auto) finding NetworkManager), I(state=present), on a host where
        NetworkManager's dispatcher runs the ifupdown hooks (Debian's C(/etc/NetworkManager/dispatcher.d/01-ifupdown))
        and the package C(ifenslave) is installed.
      - That dispatcher runs C(/etc/network/if-post-down.d/ifenslave) whenever an interface NetworkManager manages
        goes down, and the hook releases the interface from its bond, or deletes the bond, after NetworkManager
        has already brought it back (Debian bug 982841); bond ports then vanish from bonds NetworkManager reports
        as activated.
      - C(true) diverts the hook (C(dpkg-divert --local --rename) to C(ifenslave.distrib), so package upgrades
        go there) and writes in its place a wrapper that skips the interfaces NetworkManager manages and runs
        the original for those ifupdown brings down. Both are steps of the plan (check mode, C(--diff)); they are
        never undone, also not with I(state=absent).
      - C(false) fails before any change when the hook is exposed, naming it.
    type: bool
    default: true
notes:
  - Needs the kernel's C(bonding) module (loaded, or installed so the kernel loads it); without it the
    module fails before changing anything, naming the module.
seealso:
  - name: Host bond under a bridge pattern
    description: What to write and what you get, with the files each stack gets.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/patterns/host_bond_bridge.md
  - name: Safe changes
    description: Rollback on failure, the checkpoint timeline, what is not covered, clearing a stale checkpoint.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/safety.md
  - module: kvmnet.hypervisor.linux_bridge
    description: A bridge without a bond or a host address.
  - module: kvmnet.hypervisor.ovs_bond
    description: A bond on an Open vSwitch bridge instead.
  - module: kvmnet.hypervisor.checkpoint
    description: Commit-confirm around an uplink change.
"""

EXAMPLES = r"""
- name: The book's bond0 (active-backup, miimon 100) under br1 carrying the host address
  kvmnet.hypervisor.nic_bond:
    name: bond0
    mode: active-backup
    miimon: 100
    members: [enp4s0f0, enp4s0f1]
    bridge: br1
    address: 192.168.20.200/24
    gateway: 192.168.20.1
    persist: ifcfg

- name: LACP towards a switch, fast LACPDUs, layer3+4 hashing, persisted for whatever stack runs
  kvmnet.hypervisor.nic_bond:
    name: bond1
    mode: 802.3ad
    lacp_rate: fast
    xmit_hash_policy: layer3+4
    members: [enp0s5, enp0s6]
    bridge: br-vm

- name: Jumbo frames on the bond, its members and the bridge, now and after a reboot
  kvmnet.hypervisor.nic_bond:
    name: bond0
    members: [enp4s0f0, enp4s0f1]
    bridge: br1
    mtu: 9000

- name: Only change the monitoring interval; members, mode and bridge are left alone
  kvmnet.hypervisor.nic_bond:
    name: bond0
    miimon: 200
    persist: none

- name: Remove the bond and its files
  kvmnet.hypervisor.nic_bond:
    name: bond1
    state: absent
"""

RETURN = r"""
before:
  description:
    - The state before the run. C(bond) is null when the bond did not exist; C(files) maps each
      persisted path to its content (null when missing); C(address.holders) lists where the host
      address was found; C(persist) is the stack used; C(links) holds the member NICs (given and
      current) with their master and MTU.
  returned: always
  type: dict
  sample:
    name: bond0
    kind: bond
    bond:
      mode: active-backup
      miimon: 100
      updelay: 0
      downdelay: 0
      lacp_rate: slow
      xmit_hash_policy: layer2
      ad_select: stable
      primary: null
      arp_interval: 0
      arp_ip_target: []
      members: [enp0s5, enp0s6]
      master: br1
      admin_state: up
      mtu: 1500
    bridge: {name: br1, kind: bridge, admin_state: up, mtu: 1500}
    links:
      enp0s5: {kind: null, master: bond0, mtu: 1500}
      enp0s6: {kind: null, master: bond0, mtu: 1500}
    address: {holders: [{device: br1, address: 10.8.0.1/24}]}
    default_route: null
    persist: networkd
    files: {}
after:
  description: The state after the run, read back from the kernel and the files (predicted in check mode).
  returned: always
  type: dict
  sample: {}
operations:
  description:
    - The planned operations, applied unless in check mode; empty when nothing had to change.
    - C(action) is one of C(create_bond), C(modify_bond), C(bond_down), C(bond_up), C(add_member),
      C(remove_member), C(release_member), C(reenslave_member), C(modify_member),
      C(create_bridge), C(modify_bridge), C(set_master), C(add_address), C(move_address), C(set_gateway),
      C(delete_bond), C(delete_bridge), C(write_file), C(remove_file), C(reload), C(activate). C(changes) maps a
      changed field to its C(before) and C(after) values (C(mtu) among them); C(write_file) carries the file's
      C(content) and C(mode).
    - C(by=NetworkManager) marks a live step NetworkManager carries out (see the notes); C(activate) carries
      the C(command) run.
  returned: always
  type: list
  elements: dict
  sample:
    - action: bond_down
      target: bond0
      changes: {admin_state: {before: up, after: down}}
      note: "the kernel changes mode only while the bond is down and has no members: traffic through bond0 stops briefly"
    - {action: release_member, target: enp0s5, changes: {master: {before: bond0, after: null}}}
    - action: modify_bond
      target: bond0
      changes:
        mode: {before: active-backup, after: 802.3ad}
    - {action: reenslave_member, target: enp0s5, changes: {master: {before: null, after: bond0}}}
    - {action: bond_up, target: bond0, changes: {admin_state: {before: down, after: up}}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._common_args import NETNS_ARGS
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import run
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._nic_bond import (
    AD_SELECTS,
    LACP_RATES,
    PERSIST_CHOICES,
    XMIT_HASH_POLICIES,
    NicBondResource,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._module import new_module


def main() -> None:
    """Hand the parameters over to the engine."""
    module = new_module(
        AnsibleModule,
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            mode=dict(type="str"),
            miimon=dict(type="int"),
            updelay=dict(type="int"),
            downdelay=dict(type="int"),
            lacp_rate=dict(type="str", choices=list(LACP_RATES)),
            xmit_hash_policy=dict(type="str", choices=list(XMIT_HASH_POLICIES)),
            ad_select=dict(type="str", choices=list(AD_SELECTS)),
            primary=dict(type="str"),
            arp_interval=dict(type="int"),
            arp_ip_target=dict(type="list", elements="str"),
            members=dict(type="list", elements="str"),
            bridge=dict(type="str"),
            address=dict(type="str"),
            gateway=dict(type="str"),
            mtu=dict(type="int"),
            persist=dict(type="str", choices=list(PERSIST_CHOICES), default="auto"),
            divert_ifenslave_hook=dict(type="bool", default=True),
            **NETNS_ARGS,
        ),
        required_by={"gateway": ["address"]},
        supports_check_mode=True,
    )
    run(module, NicBondResource)


if __name__ == "__main__":
    main()
