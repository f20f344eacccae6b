#!/usr/bin/python
# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: checkpoint
short_description: Commit-confirm for a whole play - the host reverts by itself unless confirmed
version_added: 0.1.0
description:
  - C(state=started) opens a checkpoint on the host and arms a rollback that depends neither on
    the ssh session nor on the module's process - a systemd timer at the deadline, and a revert
    early in the next boot while the checkpoint is open.
  - While a checkpoint is open, every module of the collection journals on the host, before it
    applies a non-empty plan, the state of its object as read and the original bytes and mode of
    every file it writes or removes. Nothing is journaled for an empty plan or in check mode.
  - C(state=confirmed), run by a later task over a new connection (a C(reset_connection) meta task
    before it), runs the I(probes) on the host. If they all pass it disarms the rollback and drops
    the journal. If one fails it rolls back at once and fails.
  - Not confirmed by the deadline (the controller lost the host, the play failed, Ctrl-C), the
    host puts the files back byte for byte and runs the reloads they need (systemd, udev, a running
    systemd-networkd or NetworkManager), replays the journal newest first through the same engine the
    modules use, verifies, and logs to journald
    (C(journalctl -t kvmnet-checkpoint)).
  - C(state=rolled_back) reverts at once, on request. It also clears a stale checkpoint.
  - A second C(state=started) while one is open is refused. The message names the open
    checkpoint, its age and how to clear it.
  - See U(https://github.com/kvmnet/hypervisor/blob/main/docs/safety.md) for what is and is not
    covered.
author:
  - kvmnet.hypervisor contributors (@kvmnet)
extends_documentation_fragment:
  - kvmnet.hypervisor.attributes.platform
attributes:
  check_mode:
    description: In check mode the module does nothing (it reports an open checkpoint) and says so in C(msg).
    support: partial
    details:
      - Nothing is created, confirmed or rolled back, and C(changed) is always false. Modules run in check
        mode under an open checkpoint journal nothing either.
  diff_mode:
    description: No diff is returned.
    support: none
  idempotent:
    description:
      - C(confirmed) of a checkpoint already confirmed and C(rolled_back) with none open report no change.
      - C(started) is refused while a checkpoint is open.
    support: partial
options:
  state:
    description:
      - C(started) opens a checkpoint and arms its rollback.
      - C(confirmed) runs the probes, then keeps the changes (all pass) or rolls back (one fails).
      - C(rolled_back) reverts everything journaled under the open checkpoint now.
    type: str
    choices: [started, confirmed, rolled_back]
    required: true
  id:
    description:
      - Names the checkpoint (1 to 64 letters, digits, C(.), C(_), C(-)).
      - With C(started), default a generated C(kvmnet-<UTC time>-<random>).
      - With C(confirmed) and C(rolled_back), the open checkpoint must have this id (default any).
    type: str
  timeout:
    description:
      - With C(started), seconds until the host rolls back by itself unless confirmed (30 to 86400).
      - Leave time for the whole play, a reconnection and the probes.
    type: int
    default: 600
  probes:
    description:
      - Checks run on the managed host before the confirmation. All must pass.
      - Given with C(started) they are kept and run at confirmation, unless C(confirmed) gives its own.
      - An empty list confirms without checks. The confirmation task reaching the host is itself
        the first check.
      - Refused with C(state=rolled_back), which reverts without checks.
    type: list
    elements: dict
    suboptions:
      ping:
        description: An address or host name that must answer at least one of I(count) echo requests (runs C(ping)).
        type: str
      tcp:
        description: C(HOST:PORT) (C([ADDRESS]:PORT) for IPv6) that must accept a TCP connection.
        type: str
      count:
        description: Echo requests a I(ping) probe sends (1 to 20, default 3).
        type: int
      timeout:
        description: Seconds to wait for each reply or for the connection (1 to 60; default 2 for ping, 5 for tcp).
        type: int
      wait:
        description:
          - Seconds a failing probe is tried again, a second apart, counted from its first try (0 to 600, default 0 - one try).
          - For a network that takes a while to settle after the play's last change - a network
            daemon applying the files it was just given, LACP negotiating, a bridge port learning.
          - Keep it well under the checkpoint's I(timeout) - the confirmation holds the rollback back while it waits.
        type: int
  automatic_rollback:
    description:
      - Arm the host's own rollback with C(started) - the systemd units (timer at the deadline, revert at boot).
      - C(false) only journals. Nothing reverts by itself. Only C(state=rolled_back) or a failed
        probe at confirmation reverts the changes. Use it on hosts without systemd, or for plays that
        cannot cut the controller off and want an undo on request (a C(rescue) with C(state=rolled_back)).
    type: bool
    default: true
  root:
    description:
      - The directory the host's file system is under. The checkpoint, its lock and its units are
        written under it.
      - The collection's modules always work on C(/). A checkpoint under another root journals only
        what the collection's Python API applies with that root (the collection's tests use it).
    type: path
    default: /
notes:
  - The journal, the copy of the collection's code the rollback runs and the replay script are kept in
    C(/var/lib/kvmnet/checkpoint/), the last outcome in C(/var/lib/kvmnet/checkpoint-last.json).
  - "The units: C(kvmnet-checkpoint-rollback.timer), C(kvmnet-checkpoint-rollback.service),
    C(kvmnet-checkpoint-boot.service) and drop-ins C(kvmnet-checkpoint.conf) under
    C(/etc/systemd/system/{sysinit,multi-user,timers}.target.d/)."
  - Only what the collection's modules change is journaled. Changes made by other modules, and
    daemons' runtime state that no module of the collection wrote, are not rolled back.
seealso:
  - name: Safe changes
    description: Rollback on failure, the checkpoint timeline, what is not covered, clearing a stale checkpoint.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/safety.md
  - module: kvmnet.hypervisor.nic_bond
    description: Host uplink changes, the usual reason to open a checkpoint.
  - module: kvmnet.hypervisor.ovs_bridge
    description: Moving the management address onto an OVS bridge, the other one.
"""

EXAMPLES = r"""
- name: Open a checkpoint; the host reverts by itself in 15 minutes unless confirmed
  kvmnet.hypervisor.checkpoint:
    state: started
    timeout: 900
    probes:
      - ping: 192.0.2.1
      - tcp: 192.0.2.10:22

- name: Move the host address onto a bond under br1 (may cut this connection)
  ansible.builtin.include_role:
    name: kvmnet.hypervisor.host_bond_bridge

- name: Reconnect over a new connection - the old one may be gone
  ansible.builtin.meta: reset_connection

- name: Confirm - the probes run on the host, a failed one rolls back at once
  kvmnet.hypervisor.checkpoint:
    state: confirmed

# Undo on request, or clear a stale checkpoint a failed run left open
- name: Roll back the open checkpoint
  kvmnet.hypervisor.checkpoint:
    state: rolled_back
  register: undo

- name: Show what was reverted
  ansible.builtin.debug:
    msg: "{{ undo.msg }}"

# A play-level undo without a timer
- name: OVS changes with an undo on failure
  block:
    - name: Journal only, no automatic rollback
      kvmnet.hypervisor.checkpoint:
        state: started
        automatic_rollback: false
    - name: Bridge with its ports
      kvmnet.hypervisor.ovs_bridge:
        name: br-vm
        ports:
          - name: eth2
    - name: Keep it
      kvmnet.hypervisor.checkpoint:
        state: confirmed
  rescue:
    - name: Put everything back
      kvmnet.hypervisor.checkpoint:
        state: rolled_back
"""

RETURN = r"""
id:
  description: The checkpoint's id (the open one, the one ended, or the last one).
  returned: success
  type: str
  sample: kvmnet-20261130T081500Z-1a2b3c
age:
  description: Seconds since the checkpoint was started.
  returned: when a checkpoint was open
  type: int
  sample: 312
deadline:
  description: When the host rolls back by itself unless confirmed.
  returned: when a checkpoint was open
  type: str
  sample: "2026-11-30 08:25:00 UTC"
entries:
  description: Module runs journaled under the checkpoint (one per run that changed something).
  returned: when a checkpoint was open
  type: int
  sample: 4
files:
  description: Files whose originals the checkpoint kept.
  returned: when a checkpoint was open
  type: int
  sample: 2
armed:
  description: Whether the automatic rollback (systemd units) was armed.
  returned: state=started
  type: bool
units:
  description: The unit and drop-in files written.
  returned: state=started
  type: list
  elements: str
rollback_command:
  description: The command line the units run to roll back (the same the module runs for C(rolled_back)).
  returned: state=started
  type: list
  elements: str
  sample: [/usr/bin/python3, -I, /var/lib/kvmnet/checkpoint/replay.py, /]
library:
  description: How many module_utils files were copied for the rollback to run.
  returned: state=started
  type: int
probes:
  description: Each probe's result - C(probe), C(passed), C(detail) (of its last try), C(seconds), C(tries).
  returned: state=confirmed
  type: list
  elements: dict
report:
  description:
    - How the checkpoint ended - C(outcome) (C(confirmed) or C(rolled_back)), C(id), C(started), C(ended).
    - After a rollback, C(entries) (per module run - C(what), C(reverted), C(remaining)), C(files)
      restored, C(reloads) run, C(errors), C(verified) and the C(log) lines.
  returned: state=confirmed, state=rolled_back
  type: dict
verified:
  description: After a rollback, whether the host was read back as before the checkpoint.
  returned: when rolled back
  type: bool
units_removed:
  description: The unit and drop-in files removed.
  returned: state=confirmed, state=rolled_back
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._checkpoint_task import TIMEOUT_DEFAULT, run
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._module import new_module


def _payload() -> None:  # pragma: no cover - read by AnsiballZ, never called
    """Every module_utils file of the collection, for AnsiballZ: it ships the module_utils a
    module imports (it reads the source, imports inside functions too), and a checkpoint copies
    all of them to the host so that the rollback can replay whatever module journaled. Never
    called: the copy reads their sources without importing them (importing pyroute2,
    python-ovs and libvirt took seconds on every checkpoint task)."""
    # pylint: disable=import-outside-toplevel,unused-import
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils import (  # noqa: F401
        _boot_scripts,
        _bridge_vlans,
        _canon,
        _checkpoint,
        _checkpoint_probes,
        _checkpoint_units,
        _command,
        _common_args,
        _deps,
        _engine,
        _errors,
        _ethtool,
        _files,
        _irq_affinity,
        _libvirt,
        _libvirt_hostdev,
        _libvirt_iface,
        _libvirt_iface_restore,
        _libvirt_iface_vlans,
        _libvirt_network,
        _libvirt_network_xml,
        _libvirt_nodedev_info,
        _libvirt_sriov_network,
        _linux_bridge,
        _macvtap,
        _module,
        _netlink,
        _network_info,
        _network_info_vars,
        _nic_bond,
        _nic_bond_nm,
        _nic_bond_plan,
        _nic_bond_restore,
        _ovs_bond,
        _ovs_bridge,
        _ovs_common,
        _ovs_patch,
        _ovsdb,
        _pci_device,
        _persist_bond,
        _persist_ifcfg,
        _persist_ifupdown,
        _persist_net,
        _persist_networkd,
        _persist_nm,
        _sriov_vf,
        _sysfs,
        _topology,
        _vhost_net,
    )


def main() -> None:
    """Hand the parameters over to the checkpoint runner."""
    module = new_module(
        AnsibleModule,
        argument_spec=dict(
            state=dict(type="str", choices=["started", "confirmed", "rolled_back"], required=True),
            id=dict(type="str"),
            timeout=dict(type="int", default=TIMEOUT_DEFAULT),
            probes=dict(type="list", elements="dict", options=dict(
                ping=dict(type="str"),
                tcp=dict(type="str"),
                count=dict(type="int"),
                timeout=dict(type="int"),
                wait=dict(type="int"),
            ), mutually_exclusive=[["ping", "tcp"]], required_one_of=[["ping", "tcp"]]),
            automatic_rollback=dict(type="bool", default=True),
            root=dict(type="path", default="/"),
        ),
        supports_check_mode=True,
    )
    run(module)


if __name__ == "__main__":
    main()
