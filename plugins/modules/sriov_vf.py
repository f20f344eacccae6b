#!/usr/bin/python
# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: sriov_vf
short_description: Manage the SR-IOV virtual functions of a physical NIC and their attributes
version_added: 0.1.0
description:
  - Sets the number of virtual functions (VFs) of a physical function (PF) through
    C(sriov_numvfs), C(sriov_drivers_autoprobe), and per-VF MAC, VLAN, QoS, spoof checking,
    trust, link state and rate limits through netlink (pyroute2, C(IFLA_VF_*)); no C(ip)
    command is run.
  - The kernel only changes C(sriov_numvfs) from 0 to N, so a change of the count passes
    through 0, which destroys every VF and its settings. That is refused while a VF is the
    C(<hostdev>) of a running libvirt domain, unless I(force=true). Without libvirt-python on
    the host there can be no libvirt domain, and the check is skipped.
  - New VFs appear slowly (udev); the module waits for them up to I(wait_timeout) and
    identifies them by their C(virtfnN) links (PCI addresses), never by netdev name.
  - VF attributes that are not given are left as they are; VFs that are not listed are left alone.
  - With I(persist=true) the state survives reboots and driver reloads, see I(persist).
author:
  - kvmnet.hypervisor contributors (@kvmnet)
extends_documentation_fragment:
  - kvmnet.hypervisor.attributes
  - kvmnet.hypervisor.attributes.platform
  - kvmnet.hypervisor.attributes.action_group
options:
  pf:
    description:
      - The physical function, by interface name (C(enp1s0)) or PCI address (C(0000:01:00.0) or C(01:00.0)).
    type: str
    required: true
  numvfs:
    description:
      - Number of VFs. C(0) removes them all. At most the PF's C(sriov_totalvfs).
      - Not given, the current number is left alone.
    type: int
  drivers_autoprobe:
    description:
      - Whether new VFs get their default driver bound (C(sriov_drivers_autoprobe)). C(false)
        leaves them unbound, ready for C(vfio-pci).
    type: bool
  vfs:
    description:
      - Attributes of individual VFs. Only the attributes given are changed.
    type: list
    elements: dict
    default: []
    suboptions:
      vf:
        description: VF index, from 0 to I(numvfs) - 1.
        type: int
        required: true
      mac:
        description: Unicast MAC address the guest sees.
        type: str
      vlan:
        description: VLAN id the PF tags the VF's traffic with (C(0) = no VLAN).
        type: int
      qos:
        description: 802.1p priority (0-7) of that VLAN; needs I(vlan).
        type: int
      spoofchk:
        description: Whether the PF drops frames the VF sends with another source MAC.
        type: bool
      trust:
        description: Whether the VF may change its MAC and enter promiscuous/multicast modes.
        type: bool
      link_state:
        description: Link state the VF sees; C(auto) follows the PF.
        type: str
        choices: [auto, enable, disable]
      min_tx_rate:
        description: Guaranteed transmit rate in Mbit/s (0 = none). igb does not support it.
        type: int
      max_tx_rate:
        description: Transmit rate limit in Mbit/s (0 = unlimited). Needs the PF up, see I(bring_pf_up).
        type: int
  bring_pf_up:
    description:
      - Bring the PF up when VF rate limits need it. Without it, rate limits on a PF that is
        down fail with a message saying so, before anything is changed.
    type: bool
    default: false
  force:
    description:
      - Change I(numvfs) even while VFs are attached to running libvirt domains (they lose them).
    type: bool
    default: false
  uri:
    description:
      - libvirt connection URI used to find running domains that use the PF's VFs.
    type: str
    default: qemu:///system
  wait_timeout:
    description:
      - Seconds to wait for new VFs to appear after changing I(numvfs).
    type: int
    default: 30
  persist:
    description:
      - Make the state survive reboots and PF driver reloads (VF settings are lost on both).
      - Writes C(/etc/kvmnet/sriov/<PCI>.json) (numvfs, drivers_autoprobe and the VF attributes
        given in this and earlier runs), the re-apply script C(/usr/local/sbin/kvmnet-sriov-apply),
        the oneshot unit C(kvmnet-sriov@.service), started at every boot by the drop-in
        C(/etc/systemd/system/multi-user.target.d/kvmnet-sriov-<PCI>.conf) and again by a udev rule
        C(/etc/udev/rules.d/70-kvmnet-sriov-<PCI>.rules) when the PF's netdev comes back (driver reload).
        When a unit or rule changes, systemd and udev are reloaded in the same run (C(reload_systemd),
        C(reload_udev) operations), so a driver reload re-applies the VFs without a reboot first.
      - For igb PFs also the book's C(options igb max_vfs=N) in C(/etc/modprobe.d/kvmnet-sriov-igb.conf)
        (the module option applies to every igb port of the host).
      - Files are planned like every other change (check mode, diff). C(false) leaves existing files alone.
    type: bool
    default: false
notes:
  - Only the host namespace, since PFs are physical devices.
  - The boot-time script uses C(ip) (iproute2) and python3 of the host; the module itself talks netlink.
requirements:
  - pyroute2 >= 0.7.2 (Debian/Ubuntu package C(python3-pyroute2))
  - optionally libvirt-python (C(python3-libvirt)) to detect VFs in use by running domains
seealso:
  - name: SR-IOV pattern
    description: What to write and what you get.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/patterns/sriov.md
  - module: kvmnet.hypervisor.libvirt_sriov_network
    description: A libvirt network that pools the VFs.
  - module: kvmnet.hypervisor.libvirt_iface
    description: A VF as a guest network interface (C(type=hostdev)).
  - module: kvmnet.hypervisor.pci_device
    description: Bind a VF to vfio-pci.
"""

EXAMPLES = r"""
- name: Seven VFs on the 82576, the first two configured for guests, persisted
  kvmnet.hypervisor.sriov_vf:
    pf: enp1s0
    numvfs: 7
    persist: true
    bring_pf_up: true
    vfs:
      - vf: 0
        mac: 52:54:00:aa:00:00
        vlan: 100
        spoofchk: false
        trust: true
      - vf: 1
        max_tx_rate: 100

- name: Shrink to three VFs even though a domain uses one
  kvmnet.hypervisor.sriov_vf:
    pf: "0000:01:00.0"
    numvfs: 3
    force: true

- name: VFs without a host driver, for vfio-pci passthrough
  kvmnet.hypervisor.sriov_vf:
    pf: enp1s0
    drivers_autoprobe: false
    numvfs: 4
"""

RETURN = r"""
before:
  description: The PF's SR-IOV state before the run (and the persisted files with I(persist)).
  returned: always
  type: dict
  sample:
    pf: enp1s0
    pci: "0000:01:00.0"
    driver: igb
    pf_admin_state: up
    numvfs: 0
    totalvfs: 7
    drivers_autoprobe: true
    vfs: []
after:
  description: The state read back after applying (or predicted in check mode).
  returned: always
  type: dict
operations:
  description:
    - Planned operations, applied unless in check mode. C(action) is one of C(set_pf_up),
      C(set_drivers_autoprobe), C(set_numvfs), C(set_vf), C(write_file), C(remove_file),
      C(reload_systemd), C(reload_udev) (and C(set_pf_down) when a rollback puts a PF back down).
    - A change of the VF count between two non-zero values is two C(set_numvfs) steps, N to 0 and
      0 to M (C(through_zero=true)); a failure half-way names the steps applied and rolls them back.
    - C(reload_systemd) (C(systemctl daemon-reload)) and C(reload_udev) (C(udevadm control --reload))
      follow a written unit / udev rule, so that they are in force from this run on.
  returned: always
  type: list
  elements: dict
  sample:
    - action: set_numvfs
      target: enp1s0
      changes:
        numvfs:
          before: 7
          after: 0
      through_zero: true
    - action: set_numvfs
      target: enp1s0
      changes:
        numvfs:
          before: 0
          after: 3
      through_zero: true
vfs:
  description: The VFs after the run, with PCI address, netdev name (null while udev has not named it or without a driver), driver and attributes.
  returned: always
  type: list
  elements: dict
  sample:
    - vf: 0
      pci: "0000:01:10.0"
      netdev: enp1s0v0
      driver: igbvf
      mac: 52:54:00:aa:00:00
      vlan: 100
      qos: 0
      spoofchk: false
      trust: true
      link_state: auto
      min_tx_rate: 0
      max_tx_rate: 0
pci:
  description: PCI address of the PF.
  returned: always
  type: str
  sample: "0000:01:00.0"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._common_args import LIBVIRT_ARGS
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import run
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._netlink import VF_LINK_STATES
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._sriov_vf import SriovVfResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._module import new_module


def main() -> None:
    """Hand the parameters over to the engine."""
    module = new_module(
        AnsibleModule,
        argument_spec=dict(
            pf=dict(type="str", required=True),
            numvfs=dict(type="int"),
            drivers_autoprobe=dict(type="bool"),
            vfs=dict(type="list", elements="dict", default=[], options=dict(
                vf=dict(type="int", required=True),
                mac=dict(type="str"),
                vlan=dict(type="int"),
                qos=dict(type="int"),
                spoofchk=dict(type="bool"),
                trust=dict(type="bool"),
                link_state=dict(type="str", choices=list(VF_LINK_STATES)),
                min_tx_rate=dict(type="int"),
                max_tx_rate=dict(type="int"),
            )),
            bring_pf_up=dict(type="bool", default=False),
            force=dict(type="bool", default=False),
            **LIBVIRT_ARGS,
            wait_timeout=dict(type="int", default=30),
            persist=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    run(module, SriovVfResource)


if __name__ == "__main__":
    main()
