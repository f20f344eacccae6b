#!/usr/bin/python
# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: libvirt_iface
short_description: Manage one network interface of a libvirt domain, live and/or persistent
version_added: 0.1.0
description:
  - Adds, changes or removes one C(<interface>) of a libvirt domain, identified by its MAC
    address (or its user alias), without redefining the domain.
  - Works on the persistent definition (I(config)) and on the running domain (I(live)) with
    libvirt's attach/update/detach device calls; at most one call per view and task, one call
    for both views when an interface is attached or detached in both.
  - An existing interface is edited in place. Options that are not given are left as they are,
    and so is everything libvirt generated (alias, guest PCI address, target dev, the OVS
    C(interfaceid)); libvirt's generated values never cause a change, and an Open vSwitch port
    keeps its identity across runs.
  - Changes qemu cannot make on a running guest (I(type), I(model), I(driver_name), I(queues),
    queue sizes, I(target_dev), I(mtu), I(virtualport), I(alias), I(portgroup), the I(source) of a
    C(direct) or C(hostdev) interface, and of a C(network) interface on an Open vSwitch network) are refused with an error naming them, nothing changed, unless
    I(allow_config_only=true), in which case they go to the persistent definition only and take effect at the
    next start, and C(pending_restart) says so.
  - Live changes libvirt can make are I(link_state), I(bandwidth), I(vlan), and the I(source) bridge
    or network of a C(bridge)/C(network) interface (libvirt 9 keeps the portgroup of a running port,
    so a new one takes effect at the next start of the domain).
  - A live detach is asynchronous (the guest must release the PCI device); the module re-reads
    until the interface is gone or I(detach_timeout) expires.
author:
  - kvmnet.hypervisor contributors (@kvmnet)
extends_documentation_fragment:
  - kvmnet.hypervisor.attributes
  - kvmnet.hypervisor.attributes.platform
  - kvmnet.hypervisor.attributes.action_group
  - kvmnet.hypervisor.libvirt
options:
  domain:
    description:
      - Name or UUID of the domain.
    type: str
    required: true
  mac:
    description:
      - MAC address identifying the interface (any case). When an interface is created without
        it (only I(alias) given), a random C(52:54:00) address is used.
    type: str
  alias:
    description:
      - User alias of the interface (C(ua-) prefix, libvirt's rule). Identifies the interface
        when I(mac) is not given; otherwise it is set on it (persistent definition only).
    type: str
  state:
    description:
      - C(present) adds or updates the interface, C(absent) removes it (no change when no
        interface has that MAC).
    type: str
    choices: [present, absent]
    default: present
  type:
    description:
      - C(bridge) (Linux bridge, or Open vSwitch with I(virtualport=openvswitch)), C(direct)
        (MacVTap on a host NIC), C(network) (a libvirt network), C(hostdev) (a PCI network device
        such as an SR-IOV VF given to the guest).
      - Needed, with I(source), to create an interface. Left alone when not given.
    type: str
    choices: [bridge, direct, network, hostdev]
  source:
    description:
      - The bridge (C(bridge)), the lower host device (C(direct)), the network name
        (C(network)) or the PCI address C(dddd:bb:ss.f) (C(hostdev)).
    type: str
  source_mode:
    description:
      - MacVTap mode of a C(direct) interface. A new one is created in C(bridge) mode when not given.
    type: str
    choices: [bridge, vepa, private, passthrough]
  portgroup:
    description:
      - Port group of a C(network) interface (see M(kvmnet.hypervisor.libvirt_network)); an empty string
        removes it. The network and the portgroup must exist in libvirt (refused otherwise, nothing changed).
    type: str
  virtualport:
    description:
      - C(openvswitch) attaches a C(bridge) interface to an Open vSwitch bridge; C(none) removes
        the virtual port. The C(interfaceid) libvirt generated is kept.
    type: str
    choices: [openvswitch, none]
  pf:
    description:
      - With C(type=hostdev), the netdev of an SR-IOV physical function; the PCI address of its
        VF I(vf) is read from C(/sys/class/net/<pf>/device/virtfn<vf>). Exclusive with I(source).
    type: str
  vf:
    description:
      - Index of the VF of I(pf) (default 0).
    type: int
  managed:
    description:
      - For C(hostdev), whether libvirt detaches the device from its host driver and binds it to
        vfio-pci itself. A new hostdev interface is managed when not given; with C(false), bind the
        device first (M(kvmnet.hypervisor.pci_device)).
    type: bool
  model:
    description:
      - Guest NIC model (C(virtio), C(e1000), C(e1000e), C(rtl8139), ...).
    type: str
  driver_name:
    description:
      - Backend driver of a virtio NIC. C(vhost) moves the data path into the host kernel
        (vhost-net); C(qemu) keeps it in user space.
    type: str
    choices: [vhost, qemu]
  queues:
    description:
      - Number of virtio queue pairs (multi-queue virtio-net, 1-256). Cannot change live.
    type: int
  rx_queue_size:
    description:
      - Size of the virtio receive queue (256, 512 or 1024).
    type: int
  tx_queue_size:
    description:
      - Size of the virtio transmit queue (256, 512 or 1024).
    type: int
  vlan:
    description:
      - VLAN configuration (Open vSwitch ports, hostdev VFs, NICs on a VLAN-aware Linux bridge).
        C(tags=[]) removes it.
      - On a Linux bridge (I(type=bridge) without I(virtualport)) the VLANs are not written as
        C(<vlan>) (libvirt before 11.1 cannot apply that) but kept in the domain's metadata, keyed
        by the MAC address, and the running domain's tap is retagged at once (it gets exactly these
        VLANs; with C(tags=[]) the bridge's default PVID). One tag is an access port (PVID,
        untagged); a trunk carries its tags tagged, the I(native_tag) as PVID. The libvirt qemu hook
        of the C(kvmnet.hypervisor.linux_bridge) role applies them at every start, also after a host
        reboot or a migration (the metadata travels with the domain); the module warns when the hook
        is missing. The bridge must have VLAN filtering (M(kvmnet.hypervisor.linux_bridge)).
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
  target_dev:
    description:
      - Name of the host tap device (the book's C(tap0)); names starting with vnet/macvtap are reserved by libvirt.
    type: str
  mtu:
    description:
      - MTU of the host side device (68-65535).
    type: int
  link_state:
    description:
      - Link state the guest sees (virtual cable plugged or not).
    type: str
    choices: [up, down]
  bandwidth:
    description:
      - Traffic shaping of the interface, in KiB/s and KiB. When given it is the whole setting;
        a direction not given is removed; C({}) removes all limits.
      - Rates are 1 to 4294967295 KiB/s (an unsigned int in libvirt's API), I(burst) 1 to 4194303 KiB
        (tc keeps it as 32-bit bytes); leave a key out for no limit. I(peak) needs I(average) and is
        not below it; I(floor) is inbound only, on C(type=network).
    type: dict
    suboptions:
      inbound:
        description: Limits of traffic towards the guest.
        type: dict
        suboptions:
          average: {description: Average rate in KiB/s., type: int}
          peak: {description: Peak rate in KiB/s., type: int}
          burst: {description: Burst size in KiB., type: int}
          floor: {description: Guaranteed rate (network interfaces only)., type: int}
      outbound:
        description: Limits of traffic from the guest.
        type: dict
        suboptions:
          average: {description: Average rate in KiB/s., type: int}
          peak: {description: Peak rate in KiB/s., type: int}
          burst: {description: Burst size in KiB., type: int}
  config:
    description:
      - Manage the persistent definition (what the domain has at its next start).
    type: bool
    default: true
  live:
    description:
      - Manage the running domain too. Ignored while the domain is shut off.
    type: bool
    default: true
  allow_config_only:
    description:
      - When a change cannot be made on the running domain, apply it to the persistent
        definition only instead of failing. The running domain keeps the old value until it is
        restarted (C(pending_restart) is true).
    type: bool
    default: false
  detach_timeout:
    description:
      - Seconds to wait for the guest to release a live-detached interface; with C(0) it reads back once and does not wait.
    type: int
    default: 10
notes:
  - Removal is per interface (I(state=absent)); the module never removes interfaces it was not asked about.
  - The host-side objects (Linux bridge, OVS bridge, MacVTap lower device, VFs) must exist; see
    M(kvmnet.hypervisor.macvtap), M(kvmnet.hypervisor.sriov_vf) and the patterns in C(docs/patterns/).
seealso:
  - name: VM side of the host patterns
    description: libvirt_iface snippets for each host pattern.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/patterns/vm_interfaces.md
  - name: Traditional Linux bridge pattern
    description: Host bridge over a NIC, VM interfaces with tap + virtio on it.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/patterns/linux_bridge.md
  - name: Multi-queue virtio-net pattern
    description: vhost driver with N queues, and the IRQs of those queues.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/patterns/virtio_multiqueue.md
  - module: kvmnet.hypervisor.linux_bridge
    description: The host bridge a C(type=bridge) interface joins.
  - module: kvmnet.hypervisor.ovs_bridge
    description: The Open vSwitch bridge a C(type=bridge) interface with I(virtualport=openvswitch) joins.
  - module: kvmnet.hypervisor.macvtap
    description: MacVTap links on the host side; a C(type=direct) interface is the guest side.
  - module: kvmnet.hypervisor.sriov_vf
    description: The VFs a C(type=hostdev) interface takes.
  - module: kvmnet.hypervisor.libvirt_sriov_network
    description: A pool of VFs for C(type=network) interfaces.
"""

EXAMPLES = r"""
- name: Traditional bridge (pattern 1) with vhost-net (pattern 2)
  kvmnet.hypervisor.libvirt_iface:
    domain: vm1
    mac: "00:16:42:34:45:6f"
    type: bridge
    source: br0
    model: virtio
    driver_name: vhost

- name: Open vSwitch port with VLAN 2 (pattern 8); a rerun keeps libvirt's interfaceid
  kvmnet.hypervisor.libvirt_iface:
    domain: vm1
    mac: "52:54:00:00:00:02"
    type: bridge
    source: ovsbr0
    virtualport: openvswitch
    vlan:
      tags: [2]

- name: Retag the running port (the book's ovs-vsctl set port tap1 tag=3)
  kvmnet.hypervisor.libvirt_iface:
    domain: vm1
    mac: "52:54:00:00:00:02"
    vlan:
      tags: [3]

- name: A NIC on VLAN 100 of the VLAN-aware Linux bridge br0 (retagged live; the role's hook keeps it)
  kvmnet.hypervisor.libvirt_iface:
    domain: vm1
    mac: "52:54:00:00:01:01"
    type: bridge
    source: br0
    vlan:
      tags: [100]

- name: MacVTap (pattern 3)
  kvmnet.hypervisor.libvirt_iface:
    domain: vm1
    mac: "1a:34:34:34:45:42"
    type: direct
    source: eth1
    source_mode: bridge

- name: Four queues (pattern 4); qemu cannot change this live, so it waits for the next start
  kvmnet.hypervisor.libvirt_iface:
    domain: vm1
    mac: "00:16:42:34:45:6f"
    driver_name: vhost
    queues: 4
    allow_config_only: true

- name: VF 3 of enp1s0 given to the guest (pattern 7)
  kvmnet.hypervisor.libvirt_iface:
    domain: vm1
    mac: "52:54:00:00:07:03"
    type: hostdev
    pf: enp1s0
    vf: 3
    vlan:
      tags: [42]

- name: Unplug the virtual cable
  kvmnet.hypervisor.libvirt_iface:
    domain: vm1
    mac: "00:16:42:34:45:6f"
    link_state: down

- name: Remove it from the persistent definition only
  kvmnet.hypervisor.libvirt_iface:
    domain: vm1
    mac: "00:16:42:34:45:6f"
    state: absent
    live: false
"""

RETURN = r"""
before:
  description:
    - The interface before the run in each view; C(config) and C(live) are null when the
      interface is absent there (C(live) is null while the domain is shut off).
    - C(xml) is the interface's XML as libvirt returned it.
    - A Linux-bridge NIC with bridge VLANs shows them as C(vlan) (from the domain's metadata), and
      in C(live) its tap's VLANs as read from the kernel, C(tap_vlans) (C(pvid), C(untagged), C(tagged)).
  returned: always
  type: dict
  sample:
    domain: vm1
    running: true
    persistent: true
    config:
      mac: "52:54:00:00:00:02"
      type: bridge
      source: ovsbr0
      virtualport: openvswitch
      vlan: {tags: [2], trunk: false, native_tag: null, native_mode: null}
      link_state: up
      queues: 1
      xml: "<interface type='bridge'>...</interface>"
    live: {}
after:
  description: The same, read back from libvirt after the run (or predicted in check mode).
  returned: always
  type: dict
operations:
  description:
    - The planned libvirt calls, applied unless in check mode. C(action) is C(attach),
      C(update) or C(detach); C(flags) the views (C(config), C(live)); C(xml) the device XML
      passed; C(changes) the changed fields with C(before) and C(after).
    - For the I(vlan) of a Linux-bridge NIC, C(set_bridge_vlans) sets the domain's metadata in the
      views of C(flags) (C(xml) the element), and C(retag) gives the running tap C(tap) the VLANs
      C(vlans) (C(pvid), C(untagged), C(tagged)).
  returned: always
  type: list
  elements: dict
  sample:
    - action: update
      target: vm1/52:54:00:00:00:02
      flags: [live]
      changes:
        vlan:
          before: {tags: [2], trunk: false, native_tag: null, native_mode: null}
          after: {tags: [3], trunk: false, native_tag: null, native_mode: null}
      xml: "<interface type='bridge'>...</interface>"
pending_restart:
  description: True when the running domain's interface differs from the persistent definition (a change waits for the next start).
  returned: always
  type: bool
  sample: false
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._common_args import LIBVIRT_ARGS, VLAN_OPTIONS
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import run
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt import DIRECT_MODES, IFACE_TYPES
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_iface import LibvirtIfaceResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._module import new_module

_RATE = dict(average=dict(type="int"), peak=dict(type="int"), burst=dict(type="int"))


def main() -> None:
    """Hand the parameters over to the engine."""
    module = new_module(
        AnsibleModule,
        argument_spec=dict(
            **LIBVIRT_ARGS,
            domain=dict(type="str", required=True),
            mac=dict(type="str"),
            alias=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            type=dict(type="str", choices=list(IFACE_TYPES)),
            source=dict(type="str"),
            source_mode=dict(type="str", choices=list(DIRECT_MODES)),
            portgroup=dict(type="str"),
            virtualport=dict(type="str", choices=["openvswitch", "none"]),
            pf=dict(type="str"),
            vf=dict(type="int"),
            managed=dict(type="bool"),
            model=dict(type="str"),
            driver_name=dict(type="str", choices=["vhost", "qemu"]),
            queues=dict(type="int"),
            rx_queue_size=dict(type="int"),
            tx_queue_size=dict(type="int"),
            vlan=dict(type="dict", options=VLAN_OPTIONS),
            target_dev=dict(type="str"),
            mtu=dict(type="int"),
            link_state=dict(type="str", choices=["up", "down"]),
            bandwidth=dict(type="dict", options=dict(
                inbound=dict(type="dict", options=dict(_RATE, floor=dict(type="int"))),
                outbound=dict(type="dict", options=dict(_RATE)),
            )),
            config=dict(type="bool", default=True),
            live=dict(type="bool", default=True),
            allow_config_only=dict(type="bool", default=False),
            detach_timeout=dict(type="int", default=10),
        ),
        required_one_of=[("mac", "alias")],
        mutually_exclusive=[("source", "pf")],
        supports_check_mode=True,
    )
    run(module, LibvirtIfaceResource)


if __name__ == "__main__":
    main()
