#!/usr/bin/python
# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: network_info
short_description: Gather a hypervisor's virtual networking as role variables, module arguments and a graph
version_added: 0.1.0
description:
  - Reads everything the collection manages on the host, once, read-only, each object with the
    reader of the module that manages it - Linux bonds, bridges and macvtaps, vhost_net, Open
    vSwitch bridges, ports, bonds, patch and veth links, SR-IOV PFs and their VFs, PCI devices
    on vfio-pci, libvirt domains' interfaces and PCI hostdevs (persistent definition and running
    domain), VF pool networks, and the queue IRQ affinity / RPS / XPS / channels irq_affinity set.
  - Returns it as C(vars), the variables of the roles as C(kvmnet.hypervisor.hypervisor) (playbooks/hypervisor.yml)
    consumes them (a ready C(host_vars/<host>.yml)); as C(modules), the same as argument dicts
    per module; C(unmanaged), what exists but the collection cannot express, each with the reason;
    and C(topology), the graph VM -> vNIC -> tap / macvtap / VF -> bridge -> bond -> NIC as data
    (draw it with the C(kvmnet.hypervisor.topology_mermaid) and C(kvmnet.hypervisor.topology_svg)
    filters).
  - The round trip is the contract - C(vars) fed back to the playbook, or C(modules) to the
    modules, on the same host plan no change. Values are the ones read, also where a role's
    default differs; persistence (C(persist), C(vhost_net_persist), C(sriov_persist), the OVS
    roles' boot units) is gathered as on only when the collection's own files are there; what
    belongs to a guest (its taps, libvirt's macvtaps and OVS ports, VFs libvirt binds for a
    managed hostdev) is gathered as the guest's interface.
  - Runs on any Linux host. Without Open vSwitch, libvirtd, their Python libraries or SR-IOV
    hardware those sections are empty and C(notes) says why; that is never a failure.
  - Queue IRQ affinity, RPS / XPS and channels are gathered for the interfaces
    M(kvmnet.hypervisor.irq_affinity) pinned, from its own record (C(/etc/kvmnet/irq/<interface>.json));
    on other NICs what the kernel or irqbalance chose cannot be told apart from a choice, and is
    left out.
author:
  - kvmnet.hypervisor contributors (@kvmnet)
extends_documentation_fragment:
  - kvmnet.hypervisor.attributes.info_module
  - kvmnet.hypervisor.attributes.platform
  - kvmnet.hypervisor.attributes.action_group
  - kvmnet.hypervisor.netns
  - kvmnet.hypervisor.ovsdb
  - kvmnet.hypervisor.libvirt
notes:
  - With I(netns), links, bonds, bridges, macvtaps and Open vSwitch ports are read in that
    namespace; SR-IOV, vfio-pci devices and IRQs are not (sysfs shows the host's), and C(vars) is
    empty (the roles work in the host's namespace) - use C(modules), which carry I(netns).
  - libvirt is opened read-only (C(virConnectOpenReadOnly)).
seealso:
  - name: The topology page
    description: What the graph shows and how to draw it.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/topology.md
  - name: The gather playbook
    description: C(kvmnet.hypervisor.gather) writes host_vars/<host>.yml for every host of an inventory.
    link: https://github.com/kvmnet/hypervisor/blob/main/playbooks/gather.yml
"""

EXAMPLES = r"""
- name: Read the host's virtual networking
  kvmnet.hypervisor.network_info:
  register: net

- name: What the collection cannot express here
  ansible.builtin.debug:
    var: net.unmanaged

- name: The host's variables, ready for host_vars/
  ansible.builtin.copy:
    content: "{{ net.vars | to_nice_yaml(indent=2, sort_keys=true) }}"
    dest: "host_vars/{{ inventory_hostname }}.yml"
    mode: "0644"
  delegate_to: localhost

- name: The picture, as Mermaid text for a Markdown page
  ansible.builtin.copy:
    content: "{{ net.topology | kvmnet.hypervisor.topology_mermaid(title=inventory_hostname) }}"
    dest: "pictures/{{ inventory_hostname }}.mmd"
    mode: "0644"
  delegate_to: localhost

- name: Only what lives in a network namespace, against a private OVS
  kvmnet.hypervisor.network_info:
    netns: lab1
    database: unix:/run/lab1/db.sock
"""

RETURN = r"""
vars:
  description:
    - The roles' variables for this host as C(kvmnet.hypervisor.hypervisor) consumes them, sorted by name.
    - A role manages one bond, bridge, OVS bridge, OVS bond, link or PF per host; further ones are
      in C(modules) and in C(unmanaged).
  returned: always
  type: dict
  sample:
    host_bond_bridge_name: bond0
    host_bond_bridge_members: [enp0s7, enp0s8]
    host_bond_bridge_mode: 802.3ad
    host_bond_bridge_bridge: br1
    host_bond_bridge_address: 10.8.0.1/24
    host_bond_bridge_persist: networkd
    ovs_vlan_bridge: br-vm
    ovs_vlan_ports:
      - {name: vm10, tag: 10, type: internal}
    vhost_net_state: present
    vhost_net_persist: true
modules:
  description:
    - Module name (C(kvmnet.hypervisor.<name>)) -> the list of argument dicts, one per object,
      that reproduce the host as it is.
  returned: always
  type: dict
  sample:
    nic_bond:
      - {name: bond0, mode: 802.3ad, miimon: 100, members: [enp0s7, enp0s8], bridge: br1, persist: networkd}
    ovs_bridge:
      - name: br-vm
        ports:
          - {name: vm10, tag: 10, type: internal}
unmanaged:
  description: What exists but is not in C(vars) (and, where no module takes it, not in C(modules)), with the reason.
  returned: always
  type: list
  elements: dict
  contains:
    object:
      description: What it is (C(vlan link eth0.100), C(bond bond1), C(libvirt network default)).
      type: str
    reason:
      description: Why the variables do not carry it.
      type: str
    module:
      description: The module whose arguments in C(modules) carry it, when one does.
      type: str
      returned: when a module takes it
  sample:
    - object: libvirt network default
      reason: "forward mode nat: the collection manages bridge, openvswitch, direct (over host NICs) and hostdev (VF pool) networks"
topology:
  description:
    - The graph VM -> vNIC (model, queues, vhost) -> tap / macvtap / VF -> Linux bridge / OVS bridge
      (VLAN tags and trunks on the edges) -> bond (mode, LACP) -> physical NIC (driver, speed,
      PCI address), with patch and veth links between OVS bridges.
    - C(nodes) are C({id, kind, label, attrs}); C(edges) are C({from, to, kind, label}), both sorted.
  returned: always
  type: dict
  sample:
    nodes:
      - {id: "if:bond0", kind: bond, label: bond0, attrs: {mode: 802.3ad, lacp: negotiated}}
      - {id: "if:enp0s7", kind: nic, label: enp0s7, attrs: {driver: virtio_net, pci: "0000:00:07.0"}}
    edges:
      - {from: "if:bond0", to: "if:enp0s7", kind: member, label: ""}
state:
  description: The state as read (links, bonds, bridges, macvtaps, vhost_net, ovs, sriov, vfio, irq, libvirt, notes), what the rest is made of.
  returned: always
  type: dict
notes:
  description: Why a section is empty (no Open vSwitch database, no libvirtd, a missing library).
  returned: always
  type: list
  elements: str
  sample:
    - "ovs: not gathered (database: no OVSDB socket at /var/run/openvswitch/db.sock)"
before:
  description: Always empty (read-only module).
  returned: always
  type: dict
after:
  description: Always empty (read-only module).
  returned: always
  type: dict
operations:
  description: Always empty (read-only module).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._common_args import (
    LIBVIRT_ARGS,
    NETNS_ARGS,
    OVSDB_ARGS,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import run
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._network_info import NetworkInfoResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._module import new_module


def main() -> None:
    """Hand the parameters over to the engine."""
    module = new_module(
        AnsibleModule,
        argument_spec=dict(**NETNS_ARGS, **OVSDB_ARGS, **LIBVIRT_ARGS),
        supports_check_mode=True,
    )
    run(module, NetworkInfoResource)


if __name__ == "__main__":
    main()
