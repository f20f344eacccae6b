#!/usr/bin/python
# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: irq_affinity
short_description: Pin a NIC's queue IRQs to CPUs, set RPS/XPS and channels, keep irqbalance away
version_added: 0.1.0
description:
  - Finds the queue IRQs of I(interface) among its device's MSI IRQs by their names in
    C(/proc/interrupts) (C(virtio2-input.0), C(eth0-TxRx-0), C(i40e-eth0-TxRx-3)...) and writes
    C(/proc/irq/N/smp_affinity_list) so that queue N's IRQs go to the N-th CPU of I(cpus)
    (round robin), or to the CPUs given in I(queue_cpus). Verified by reading
    C(smp_affinity_list) back.
  - Sets RPS (C(rx-N/rps_cpus)) and XPS (C(tx-N/xps_cpus)) masks, and the number of combined
    channels (what C(ethtool -L IF combined N) does, through the SIOCETHTOOL ioctl; no process is run).
  - IRQ numbers change across boots; state is keyed by IRQ name. With I(persist) a udev-started
    oneshot unit resolves the queues again at boot and re-applies; with I(irqbalance_ban)
    irqbalance is told (through a C(--policyscript)) to leave the pinned IRQs alone.
  - Only what is asked is changed; other IRQs and queues are left alone.
author:
  - kvmnet.hypervisor contributors (@kvmnet)
extends_documentation_fragment:
  - kvmnet.hypervisor.attributes
  - kvmnet.hypervisor.attributes.platform
  - kvmnet.hypervisor.attributes.action_group
options:
  interface:
    description: The network interface (host network namespace).
    type: str
    required: true
  cpus:
    description:
      - CPU list (C(0-3,8)) to spread the queue IRQs over, one CPU per queue in turn.
      - Default, the online CPUs local to the NIC's NUMA node (C(local_cpulist) of the PCI
        device), or all online CPUs when the device has no NUMA information.
      - CPUs that are not online are refused.
    type: str
  queue_cpus:
    description: Explicit CPUs of given queues (each queue once); overrides the spreading for those queues.
    type: list
    elements: dict
    default: []
    suboptions:
      queue:
        description: Queue number (the N of C(input.N), C(TxRx-N)).
        type: int
        required: true
      cpus:
        description: CPU list for that queue's IRQs.
        type: str
        required: true
  pin_irqs:
    description:
      - Whether to spread the queue IRQs over I(cpus). C(false) leaves the IRQs not listed in
        I(queue_cpus) alone (to set only RPS/XPS/channels); I(cpus) is then refused.
    type: bool
    default: true
  rps_cpus:
    description:
      - CPU list written to every receive queue's C(rps_cpus) (Receive Packet Steering);
        C(none) turns RPS off. Not given, RPS is left alone.
    type: str
  xps:
    description:
      - Set each transmit queue's C(xps_cpus) to the CPUs of the IRQs of the queue with the
        same number. C(false) leaves XPS alone.
    type: bool
    default: false
  combined_channels:
    description:
      - Number of combined channels (queue pairs), at most the device's maximum. Not given, left alone.
    type: int
  persist:
    description:
      - Re-apply at boot and whenever the interface appears. Writes C(/etc/kvmnet/irq/<interface>.json),
        C(/usr/local/sbin/kvmnet-irq-apply), C(kvmnet-irq@.service), the boot drop-in
        C(/etc/systemd/system/multi-user.target.d/kvmnet-irq-<interface>.conf) and the udev rule
        C(/etc/udev/rules.d/90-kvmnet-irq-<interface>.rules); when a unit or rule changes, systemd and
        udev are reloaded (C(reload_systemd), C(reload_udev) operations). C(false) leaves existing files alone.
    type: bool
    default: false
  irqbalance_ban:
    description:
      - Keep irqbalance away from the interface's IRQs. Writes the policy script
        C(/usr/local/sbin/kvmnet-irqbalance-policy) (prints C(ban=true) for the MSI IRQs of every
        interface in C(/etc/kvmnet/irq/)) and owns C(/etc/default/irqbalance) with
        C(IRQBALANCE_ARGS="--policyscript=... [mode arguments]").
      - irqbalance reads this when it starts; C(irqbalance_restart_needed) says when to restart it.
    type: bool
    default: false
  irqbalance_mode:
    description:
      - With I(irqbalance_ban), how irqbalance balances the other IRQs. C(performance) is
        irqbalance's default (no power threshold); C(power-save) adds C(--powerthresh=1) so
        irqbalance may leave a CPU idle when the load is low. Use the same mode in every task of a host.
    type: str
    choices: [performance, power-save]
    default: performance
notes:
  - Host network namespace only (IRQs belong to the host).
  - IRQ affinity needs real MSI queue IRQs; on a VM test bed use a multi-queue virtio-net NIC.
seealso:
  - name: IRQ tuning pattern
    description: NIC interrupts, RPS/XPS, channels and irqbalance - what to write and what you get.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/patterns/irq_tuning.md
  - name: Multi-queue virtio-net pattern
    description: vhost driver with N queues, and the IRQs of those queues.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/patterns/virtio_multiqueue.md
  - module: kvmnet.hypervisor.libvirt_iface
    description: The number of queues of a guest NIC (I(queues)).
"""

EXAMPLES = r"""
- name: Four queues, IRQs spread over the NIC's NUMA-local CPUs, XPS to match, persisted
  kvmnet.hypervisor.irq_affinity:
    interface: enp0s10
    combined_channels: 4
    xps: true
    persist: true
    irqbalance_ban: true
  register: irq
  notify: Restart irqbalance

- name: Explicit CPUs for queue 0, RPS on CPUs 2-3
  kvmnet.hypervisor.irq_affinity:
    interface: eth0
    cpus: "0-3"
    queue_cpus:
      - queue: 0
        cpus: "1"
    rps_cpus: "2-3"
"""

RETURN = r"""
before:
  description: Queue IRQs (keyed by name, with number, queue, kind and CPUs), RPS/XPS CPUs, channels, NUMA information, files.
  returned: always
  type: dict
  sample:
    interface: enp0s10
    pci: "0000:00:0a.0"
    numa_node: -1
    local_cpus: "0-1"
    online_cpus: "0-1"
    channels: {combined: 2, max_combined: 4}
    irqs:
      virtio6-input.0: {irq: 53, queue: 0, kind: rx, cpus: "0-1"}
    rps_cpus: {rx-0: ""}
    xps_cpus: {tx-0: "0"}
after:
  description: The same, read back after applying (or predicted in check mode).
  returned: always
  type: dict
operations:
  description:
    - Planned operations; C(action) is one of C(write_file), C(reload_systemd), C(reload_udev),
      C(set_channels), C(set_irq_affinity), C(set_rps), C(set_xps).
    - C(reload_systemd) (C(systemctl daemon-reload)) and C(reload_udev) (C(udevadm control --reload))
      follow a written unit / udev rule, so that they are in force from this run on.
  returned: always
  type: list
  elements: dict
queue_irqs:
  description: Queue IRQ name -> IRQ number after the run.
  returned: always
  type: dict
  sample: {virtio6-input.0: 53, virtio6-output.0: 54}
irqbalance_restart_needed:
  description: Whether irqbalance's configuration was (or in check mode would be) rewritten; restart irqbalance then.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import run
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._irq_affinity import IRQBALANCE_MODES, IrqAffinityResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._module import new_module


def main() -> None:
    """Hand the parameters over to the engine."""
    module = new_module(
        AnsibleModule,
        argument_spec=dict(
            interface=dict(type="str", required=True),
            cpus=dict(type="str"),
            queue_cpus=dict(type="list", elements="dict", default=[], options=dict(
                queue=dict(type="int", required=True),
                cpus=dict(type="str", required=True),
            )),
            pin_irqs=dict(type="bool", default=True),
            rps_cpus=dict(type="str"),
            xps=dict(type="bool", default=False),
            combined_channels=dict(type="int"),
            persist=dict(type="bool", default=False),
            irqbalance_ban=dict(type="bool", default=False),
            irqbalance_mode=dict(type="str", choices=list(IRQBALANCE_MODES), default="performance"),
        ),
        supports_check_mode=True,
    )
    run(module, IrqAffinityResource)


if __name__ == "__main__":
    main()
