#!/usr/bin/python
# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ovs_bond
short_description: Manage a bonded port (LACP, balance-slb, active-backup) on an Open vSwitch bridge
version_added: 0.1.0
description:
  - Creates, reconciles or removes a bond port on an existing Open vSwitch bridge (the book's
    C(ovs-vsctl add-bond br0 bond0 eth2 eth3 lacp=active) and C(set port bond0 bond_mode=balance-slb)).
  - Every attribute of an existing bond is reconciled, members included; options that are not
    given are left as they are. Asking for OVS's default value (for example C(lacp=off) on a bond
    without LACP) is no change.
  - Because a null option is the same as an omitted one, the bond port's VLAN columns are removed
    with I(clear) (what C(ovs-vsctl clear port bond0 tag) does by hand).
    I(clear=[tag]) turns an access bond back into an untagged one, I(clear=[tag, trunks]) empties both.
  - One OVSDB transaction through the python C(ovs) IDL; no C(ovs-vsctl) or C(ovs-appctl) process
    is run. After ovs-vswitchd applied the change, new members are read back (C(Interface.error),
    C(ofport)); a member ovs-vswitchd could not open fails the task.
  - Returns the live bond status per member, read from OVSDB (what C(ovs-appctl bond/show) prints).
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
      - Name of the bond port.
    type: str
    required: true
  bridge:
    description:
      - The existing bridge the bond is on. Required with I(state=present).
    type: str
  state:
    description:
      - C(present) creates or reconciles the bond, C(absent) removes it (its members leave the bridge).
    type: str
    choices: [present, absent]
    default: present
  members:
    description:
      - The member interfaces (kernel devices), at least two. The bond gets exactly these members.
      - Required with I(state=present).
    type: list
    elements: str
  bond_mode:
    description:
      - C(Port.bond_mode). OVS uses C(active-backup) when unset. C(balance-tcp) needs LACP.
    type: str
    choices: [active-backup, balance-slb, balance-tcp]
  lacp:
    description:
      - C(Port.lacp). OVS uses C(off) when unset.
    type: str
    choices: [active, passive, 'off']
  lacp_time:
    description:
      - LACP PDU rate (C(other_config:lacp-time)); OVS uses C(slow) when unset.
      - C(fast) is refused together with I(lacp=off).
    type: str
    choices: [fast, slow]
  lacp_fallback_ab:
    description:
      - Fall back to active-backup when the partner does not speak LACP (C(other_config:lacp-fallback-ab)).
    type: bool
  updelay:
    description:
      - Milliseconds a member's link must be up before it is enabled (C(bond_updelay)), 0 to 2147483647.
    type: int
  downdelay:
    description:
      - Milliseconds a member's link must be down before it is disabled (C(bond_downdelay)), 0 to 2147483647.
    type: int
  link_detection:
    description:
      - How member link state is detected (C(other_config:bond-detect-mode)); OVS uses C(carrier) when unset.
    type: str
    choices: [carrier, miimon]
  miimon_interval:
    description:
      - Milliseconds between miimon checks (C(other_config:bond-miimon-interval)); OVS uses 200 when unset.
      - 1 to 2147483647 (ovs-vswitchd holds it in a C int). Refused together with I(link_detection=carrier).
    type: int
  tag:
    description:
      - Access VLAN of the bond port (C(Port.tag)), 1-4094. Omitted leaves the bond's tag as it is.
      - To remove the tag give I(clear=[tag]). C(0) is refused, because Open vSwitch would store
        it as VLAN 0, not as "no tag".
    type: int
  trunks:
    description:
      - VLANs the bond trunks (C(Port.trunks)), each 1-4094. Omitted leaves them as they are.
      - An empty list clears the column, which Open vSwitch reads as "all VLANs" (the same as
        I(clear=[trunks])).
    type: list
    elements: int
  clear:
    description:
      - VLAN columns of the bond port to empty, like C(ovs-vsctl clear port bond0 COLUMN...).
        Columns already empty are not changed (no change is reported).
      - A column may not be both set and cleared in one task (I(tag=5) with I(clear=[tag])
        fails naming the option and nothing is changed); I(trunks=[]) with I(clear=[trunks])
        is accepted (both clear).
      - Has no effect on a bond this task creates (a new bond starts with these columns empty).
      - Ignored with I(state=absent).
    type: list
    elements: str
    choices: [tag, trunks]
notes:
  - C(bond_status.members.*.enabled) and C(may_enable) are derived from C(Interface.link_state) and
    C(Interface.lacp_current); C(updelay) timing is not modelled.
seealso:
  - name: OVS bond pattern
    description: What to write and what you get, with diagrams.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/patterns/ovs_bond.md
  - module: kvmnet.hypervisor.ovs_bridge
    description: The bridge the bond is a port of.
  - module: kvmnet.hypervisor.nic_bond
    description: A Linux bond instead.
"""

EXAMPLES = r"""
- name: LACP bond of eth2 and eth3 in balance-slb mode (the book's add-bond ... lacp=active)
  kvmnet.hypervisor.ovs_bond:
    name: bond0
    bridge: br0
    members: [eth2, eth3]
    lacp: active
    bond_mode: balance-slb
    lacp_time: fast
  register: bond

- name: Show whether LACP negotiated
  ansible.builtin.debug:
    msg: "{{ bond.bond_status.lacp_status }}"

- name: Switch the existing bond to active-backup without LACP, with a third member
  kvmnet.hypervisor.ovs_bond:
    name: bond0
    bridge: br0
    members: [eth2, eth3, eth4]
    lacp: "off"
    bond_mode: active-backup
    link_detection: miimon
    miimon_interval: 100

- name: Turn the access bond bond0 back into an untagged one (ovs-vsctl clear port bond0 tag)
  kvmnet.hypervisor.ovs_bond:
    name: bond0
    bridge: br0
    members: [eth2, eth3]
    clear: [tag]

- name: Remove the bond
  kvmnet.hypervisor.ovs_bond:
    name: bond0
    state: absent
"""

RETURN = r"""
before:
  description: The bond before the run (OVS defaults filled in), or null.
  returned: always
  type: dict
  sample:
    name: bond0
    bridge: br0
    members: [eth2, eth3]
    bond_mode: active-backup
    lacp: "off"
    lacp_time: slow
    updelay: 0
    downdelay: 0
    link_detection: carrier
    miimon_interval: 200
    lacp_fallback_ab: false
    tag: null
    trunks: []
after:
  description: The bond after the run, read back from OVSDB, or what check mode predicts; null when absent.
  returned: always
  type: dict
operations:
  description:
    - The planned operations (C(create_bond), C(modify_bond), C(delete_bond)), applied in one
      transaction unless in check mode; C(changes) maps each field to C(before)/C(after).
    - A cleared column shows C(after) null (C(tag)) or C([]) (C(trunks)).
  returned: always
  type: list
  elements: dict
  sample:
    - action: modify_bond
      target: bond0
      bridge: br0
      changes:
        bond_mode:
          before: active-backup
          after: balance-slb
bond_status:
  description:
    - Live status read from OVSDB after the run (null when the bond does not exist).
    - C(lacp_status) is C(negotiated), C(configured) or C(off); C(members) maps each member to
      C(enabled), C(may_enable), C(link_state), C(lacp_current), C(active), C(ofport), C(error).
  returned: always
  type: dict
  sample:
    bond_mode: balance-slb
    lacp: active
    lacp_status: negotiated
    active_member: eth2
    active_member_mac: "52:54:00:12:34:56"
    members:
      eth2:
        enabled: true
        may_enable: true
        link_state: up
        lacp_current: true
        active: true
        ofport: 1
        error: null
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._common_args import OVSDB_ARGS
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import run
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_bond import (
    BOND_MODES,
    CLEARABLE,
    LACP_MODES,
    LACP_TIMES,
    LINK_DETECTION,
    OvsBondResource,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._module import new_module


def main() -> None:
    """Hand the parameters over to the engine."""
    module = new_module(
        AnsibleModule,
        argument_spec=dict(
            name=dict(type="str", required=True),
            bridge=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            members=dict(type="list", elements="str"),
            bond_mode=dict(type="str", choices=list(BOND_MODES)),
            lacp=dict(type="str", choices=list(LACP_MODES)),
            lacp_time=dict(type="str", choices=list(LACP_TIMES)),
            lacp_fallback_ab=dict(type="bool"),
            updelay=dict(type="int"),
            downdelay=dict(type="int"),
            link_detection=dict(type="str", choices=list(LINK_DETECTION)),
            miimon_interval=dict(type="int"),
            tag=dict(type="int"),
            trunks=dict(type="list", elements="int"),
            clear=dict(type="list", elements="str", choices=list(CLEARABLE)),
            **OVSDB_ARGS,
        ),
        required_if=[("state", "present", ["bridge", "members"])],
        supports_check_mode=True,
    )
    run(module, OvsBondResource)


if __name__ == "__main__":
    main()
