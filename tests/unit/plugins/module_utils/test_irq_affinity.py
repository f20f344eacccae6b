# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""irq_affinity: queue IRQ discovery, CPU spreading, exact operations, files, on a fake tree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _boot_scripts as boot
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _ethtool, _files
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import InvalidInput, NotFound, Unsupported
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._irq_affinity import (
    IrqAffinityResource,
    find_queue_irqs,
    render_irqbalance,
    spread,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._sysfs import parse_interrupts

from test_sysfs import INTERRUPTS_IR, INTERRUPTS_OLD, make_tree  # sibling test module

#: the VM tier's enp0s10 (virtio6, 4 queue pairs) as the guest kernel prints it
INTERRUPTS_MQ = """\
           CPU0       CPU1
 45:          0          0   PCI-MSIX-0000:00:0a.0   0-edge      virtio6-config
 53:         10          0   PCI-MSIX-0000:00:0a.0   1-edge      virtio6-input.0
 54:          0          3   PCI-MSIX-0000:00:0a.0   2-edge      virtio6-output.0
 55:          0          0   PCI-MSIX-0000:00:0a.0   3-edge      virtio6-input.1
 56:          0          0   PCI-MSIX-0000:00:0a.0   4-edge      virtio6-output.1
 57:          0          0   PCI-MSIX-0000:00:0a.0   5-edge      virtio6-input.2
 58:          0          0   PCI-MSIX-0000:00:0a.0   6-edge      virtio6-output.2
 59:          0          0   PCI-MSIX-0000:00:0a.0   7-edge      virtio6-input.3
 60:          0          0   PCI-MSIX-0000:00:0a.0   8-edge      virtio6-output.3
 61:          0          0   PCI-MSIX-0000:00:05.0   1-edge      virtio1-input.0
"""


def test_find_virtio_queues_only_of_the_device():
    template, queues = find_queue_irqs("enp0s10", "virtio6", list(range(45, 61)), parse_interrupts(INTERRUPTS_MQ))
    assert template.startswith("^{dev}-")
    assert [(q["irq"], q["queue"], q["kind"]) for q in queues][:4] == [(53, 0, "rx"), (54, 0, "tx"), (55, 1, "rx"),
                                                                       (56, 1, "tx")]
    assert 61 not in [q["irq"] for q in queues]
    assert len(queues) == 8


def test_find_txrx_queues_skips_the_link_irq():
    _t, queues = find_queue_irqs("enp1s0", "0000:01:00.0", [130, 131, 132], parse_interrupts(INTERRUPTS_IR))
    assert [(q["irq"], q["name"], q["queue"], q["kind"]) for q in queues] == [
        (131, "enp1s0-TxRx-0", 0, "combined"), (132, "enp1s0-TxRx-1", 1, "combined")]


def test_find_without_msi_information_matches_by_name():
    _t, queues = find_queue_irqs("eth0", None, [], parse_interrupts(INTERRUPTS_OLD))
    assert [q["irq"] for q in queues] == [45, 46]
    assert find_queue_irqs("eth1", None, [], parse_interrupts(INTERRUPTS_OLD)) == (None, [])


def test_spread_round_robin():
    assert spread([0, 1, 2, 3], (2, 3)) == {0: (2,), 1: (3,), 2: (2,), 3: (3,)}
    assert spread([0, 1], (0, 1, 2, 3)) == {0: (0,), 1: (1,)}


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


@pytest.fixture
def mq_tree(tmp_path):
    """enp0s10 = virtio6 on 0000:00:0a.0 with 4 queue pairs, CPUs 0-3 online, IRQs on 0-3."""
    root = str(tmp_path / "root")
    dev = make_tree(root, ifname="enp0s10", pci="0000:00:0a.0", totalvfs=None, virtio="virtio6")
    for irq in range(45, 61):
        write(os.path.join(dev, "msi_irqs", str(irq)), "msix\n")
        write(os.path.join(root, "proc/irq/%d/smp_affinity_list" % irq), "0-3\n")
    write(os.path.join(root, "proc/interrupts"), INTERRUPTS_MQ)
    for q in range(4):
        write(os.path.join(root, "sys/class/net/enp0s10/queues/rx-%d/rps_cpus" % q), "0\n")
        write(os.path.join(root, "sys/class/net/enp0s10/queues/tx-%d/xps_cpus" % q), "0\n")
    return root


@pytest.fixture(autouse=True)
def fake_host(monkeypatch):
    """What the tree cannot hold: the NIC's channels (an ioctl) and the udev/systemd reloads.

    Channels: 4 combined of at most 4, changed by set_channels. Commands run are recorded."""
    channels = {"combined": 4, "max_combined": 4}
    commands = []
    monkeypatch.setattr(_ethtool, "get_channels", lambda ifname: dict(channels))
    monkeypatch.setattr(_ethtool, "set_channels", lambda ifname, combined: channels.update(combined=combined))
    monkeypatch.setattr(_files, "run_command", lambda argv, what, **kw: commands.append(argv))
    return {"channels": channels, "commands": commands}


def resource(root, **params):
    base = {"interface": "enp0s10", "queue_cpus": [], "pin_irqs": True, "xps": False, "persist": False,
            "irqbalance_ban": False, "irqbalance_mode": "performance"}
    base.update(params)
    return IrqAffinityResource(base, root=root)


def test_plan_spreads_over_local_cpus_and_sets_xps(mq_tree):
    res = resource(mq_tree, cpus="2-3", xps=True, rps_cpus="0-1")
    result = execute(res, check_mode=True)
    ops = result["operations"]
    assert ops[0] == {"action": "set_irq_affinity", "target": "virtio6-input.0",
                      "changes": {"cpus": {"before": "0-3", "after": "2"}}, "irq": 53}
    assert [(o["target"], o["changes"]["cpus"]["after"]) for o in ops if o["action"] == "set_irq_affinity"] == [
        ("virtio6-input.0", "2"), ("virtio6-input.1", "3"), ("virtio6-input.2", "2"), ("virtio6-input.3", "3"),
        ("virtio6-output.0", "2"), ("virtio6-output.1", "3"), ("virtio6-output.2", "2"), ("virtio6-output.3", "3")]
    assert [(o["queue"], o["changes"]["rps_cpus"]["after"]) for o in ops if o["action"] == "set_rps"][0] == ("rx-0", "0-1")
    assert [(o["queue"], o["changes"]["xps_cpus"]["after"]) for o in ops if o["action"] == "set_xps"] == [
        ("tx-0", "2"), ("tx-1", "3"), ("tx-2", "2"), ("tx-3", "3")]


def test_apply_then_idempotent(mq_tree):
    res = resource(mq_tree, queue_cpus=[{"queue": 1, "cpus": "0"}], rps_cpus="3")
    result = execute(res)
    assert result["changed"]
    assert open(os.path.join(mq_tree, "proc/irq/55/smp_affinity_list")).read() == "0"
    assert open(os.path.join(mq_tree, "proc/irq/53/smp_affinity_list")).read() == "0"
    assert open(os.path.join(mq_tree, "proc/irq/57/smp_affinity_list")).read() == "2"
    assert open(os.path.join(mq_tree, "sys/class/net/enp0s10/queues/rx-2/rps_cpus")).read() == "00000008"
    again = execute(resource(mq_tree, queue_cpus=[{"queue": 1, "cpus": "0"}], rps_cpus="3"))
    assert again["changed"] is False and again["operations"] == []


def test_pin_irqs_false_only_touches_listed_queues(mq_tree):
    result = execute(resource(mq_tree, pin_irqs=False, queue_cpus=[{"queue": 3, "cpus": "1"}]), check_mode=True)
    assert sorted(o["target"] for o in result["operations"]) == ["virtio6-input.3", "virtio6-output.3"]


def test_channels_limit_queues(mq_tree):
    result = execute(resource(mq_tree, combined_channels=2), check_mode=True)
    ops = result["operations"]
    assert ops[0] == {"action": "set_channels", "target": "enp0s10",
                      "changes": {"combined": {"before": 4, "after": 2}}}
    assert {o["target"] for o in ops[1:]} == {"virtio6-input.0", "virtio6-output.0", "virtio6-input.1",
                                              "virtio6-output.1"}


@pytest.mark.parametrize("params,error,msg", [
    ({"cpus": "0-7"}, InvalidInput, r"cpus: '0-7' includes CPUs 4-7 that are not online \(online: 0-3\)"),
    ({"cpus": "3-1"}, InvalidInput, "descending range"),
    ({"queue_cpus": [{"queue": 9, "cpus": "1"}]}, InvalidInput, r"queue_cpus.queue: 9 is not an active queue"),
    ({"combined_channels": 8}, InvalidInput, "above the maximum 4 of enp0s10"),
    ({"rps_cpus": "5"}, InvalidInput, "rps_cpus: '5' includes CPUs 5"),
    ({"interface": "nope0"}, NotFound, "interface: 'nope0' does not exist"),
    ({"cpus": ""}, InvalidInput, r"^cpus: '' is an empty CPU list"),
    ({"cpus": "0,,1"}, InvalidInput, r"^cpus: '0,,1' has an empty item"),
    ({"cpus": "0,"}, InvalidInput, r"^cpus: '0,' has an empty item"),
    ({"rps_cpus": ""}, InvalidInput, r"^rps_cpus: '' is an empty CPU list"),
    ({"queue_cpus": [{"queue": 1, "cpus": "1,,2"}]}, InvalidInput, r"^queue_cpus\[1\].cpus: '1,,2' has an empty"),
    ({"interface": "enp0s10:1"}, InvalidInput, r"^interface: 'enp0s10:1' is not a valid interface name"),
    ({"queue_cpus": [{"queue": 1, "cpus": "0"}, {"queue": 2, "cpus": "1"}, {"queue": 1, "cpus": "1"}]}, InvalidInput,
     r"^queue_cpus\[1\].queue: 1 is listed twice \(items 1 and 3 of queue_cpus\)"),
    ({"queue_cpus": [{"queue": True, "cpus": "0"}]}, InvalidInput, r"^queue_cpus.queue: True is not a queue number"),
    ({"pin_irqs": False, "cpus": "0"}, InvalidInput, r"^cpus: '0' spreads the queue IRQs, which pin_irqs: false"),
    ({"cpus": "0-4294967295"}, InvalidInput, r"^cpus: '0-4294967295' names CPU 4294967295"),
])
def test_bad_input_changes_nothing(mq_tree, params, error, msg):
    with pytest.raises(error, match=msg):
        execute(resource(mq_tree, **params))
    assert open(os.path.join(mq_tree, "proc/irq/53/smp_affinity_list")).read() == "0-3\n"


def test_no_queue_irqs_is_unsupported(mq_tree):
    write(os.path.join(mq_tree, "proc/interrupts"), INTERRUPTS_OLD)
    with pytest.raises(Unsupported, match="found no queue IRQs of enp0s10"):
        execute(resource(mq_tree), check_mode=True)


def test_persist_and_irqbalance_files(mq_tree, fake_host):
    res = resource(mq_tree, cpus="0-1", xps=True, persist=True, irqbalance_ban=True, irqbalance_mode="power-save")
    result = execute(res)
    assert result["irqbalance_restart_needed"] is True
    ops = result["operations"]
    assert [o["target"] for o in ops if o["action"] == "write_file"] == [
        "/etc/default/irqbalance", "/etc/kvmnet/irq/enp0s10.json", "/etc/systemd/system/kvmnet-irq@.service",
        "/etc/systemd/system/multi-user.target.d/kvmnet-irq-enp0s10.conf",
        "/etc/udev/rules.d/90-kvmnet-irq-enp0s10.rules", boot.IRQ_SCRIPT_PATH, boot.IRQBALANCE_POLICY_PATH]
    # files come before the IRQ writes: irqbalance's ban is in place first; then systemd and
    # udev read the new unit and rule (planned, so shown in check mode too)
    assert [o["action"] for o in ops[7:9]] == ["reload_systemd", "reload_udev"]
    assert ops[0]["action"] == "write_file" and ops[-1]["action"] == "set_xps"
    assert fake_host["commands"] == [["systemctl", "daemon-reload"], ["udevadm", "control", "--reload"]]
    conf = json.load(open(os.path.join(mq_tree, "etc/kvmnet/irq/enp0s10.json")))
    assert conf == {"interface": "enp0s10", "pci": "0000:00:0a.0",
                    "queue_pattern": r"^{dev}-(?P<kind>input|output)\.(?P<queue>\d+)$",
                    "queue_cpus": {"0": "0", "1": "1", "2": "0", "3": "1"}, "rps_cpus": {},
                    "xps_cpus": {"0": "0", "1": "1", "2": "0", "3": "1"}}
    assert os.stat(os.path.join(mq_tree, boot.IRQ_SCRIPT_PATH.lstrip("/"))).st_mode & 0o777 == 0o755
    golden = os.path.join(os.path.dirname(__file__), "golden", "kernel")
    for path, name in (("etc/default/irqbalance", "irqbalance-power-save"),
                       ("etc/udev/rules.d/90-kvmnet-irq-enp0s10.rules", "90-kvmnet-irq-enp0s10.rules"),
                       ("etc/systemd/system/multi-user.target.d/kvmnet-irq-enp0s10.conf", "kvmnet-irq-enp0s10.conf")):
        with open(os.path.join(golden, name)) as handle:
            assert open(os.path.join(mq_tree, path)).read() == handle.read()
    again = execute(resource(mq_tree, cpus="0-1", xps=True, persist=True, irqbalance_ban=True,
                             irqbalance_mode="power-save"))
    assert again["changed"] is False and again["irqbalance_restart_needed"] is False
    assert len(fake_host["commands"]) == 2  # nothing rewritten: nothing reloaded


def test_reloads_only_for_the_files_udev_and_systemd_read(mq_tree, fake_host):
    """A changed JSON alone (other CPUs) is read by the script, not by udev or systemd."""
    execute(resource(mq_tree, cpus="0-1", persist=True))
    del fake_host["commands"][:]
    result = execute(resource(mq_tree, cpus="2-3", persist=True), check_mode=True)
    assert [o["target"] for o in result["operations"] if o["action"] == "write_file"] == [
        "/etc/kvmnet/irq/enp0s10.json"]
    assert not [o for o in result["operations"] if o["action"].startswith("reload_")]
    os.unlink(os.path.join(mq_tree, "etc/udev/rules.d/90-kvmnet-irq-enp0s10.rules"))
    result = execute(resource(mq_tree, cpus="0-1", persist=True), check_mode=True)
    assert [o for o in result["operations"] if o["action"].startswith("reload_")] == [
        {"action": "reload_udev", "target": "udev", "command": ["udevadm", "control", "--reload"]}]
    assert fake_host["commands"] == []  # check mode: planned, not run


def test_boot_script_reapplies_what_the_module_persisted(mq_tree):
    """kvmnet-irq-apply run as a process on the fake tree, with the JSON the module wrote.

    Regression (VM tier, hypervisor scenario): the module writes CPU lists as strings ("0-1")
    and the script turned them into masks as if they were integers: TypeError at every boot
    once xps or rps_cpus was set."""
    execute(resource(mq_tree, cpus="0-1", xps=True, rps_cpus="0-1", persist=True))
    names = {entry["irq"]: entry["actions"][0] for entry in parse_interrupts(INTERRUPTS_MQ)}
    for irq in range(45, 61):   # a reboot: affinity and RPS/XPS back to the kernel's defaults
        write(os.path.join(mq_tree, "proc/irq/%d/smp_affinity_list" % irq), "0-3\n")
        if irq in names:
            os.makedirs(os.path.join(mq_tree, "proc/irq/%d" % irq, names[irq]), exist_ok=True)
    for q in range(4):
        write(os.path.join(mq_tree, "sys/class/net/enp0s10/queues/rx-%d/rps_cpus" % q), "0\n")
        write(os.path.join(mq_tree, "sys/class/net/enp0s10/queues/tx-%d/xps_cpus" % q), "0\n")
    script = os.path.join(mq_tree, boot.IRQ_SCRIPT_PATH.lstrip("/"))
    env = dict(os.environ, KVMNET_SYSFS=os.path.join(mq_tree, "sys"), KVMNET_PROC=os.path.join(mq_tree, "proc"),
               KVMNET_IRQ_CONF_DIR=os.path.join(mq_tree, boot.IRQ_CONFIG_DIR.lstrip("/")))
    proc = subprocess.run([sys.executable, script, "enp0s10"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stderr

    def read(path):
        with open(os.path.join(mq_tree, path)) as handle:
            return handle.read().strip()
    assert [read("proc/irq/%d/smp_affinity_list" % irq) for irq in range(53, 61)] == ["0", "0", "1", "1"] * 2
    assert read("proc/irq/45/smp_affinity_list") == "0-3"       # the config IRQ is not a queue
    assert [read("sys/class/net/enp0s10/queues/rx-%d/rps_cpus" % q) for q in range(4)] == ["00000003"] * 4
    assert [read("sys/class/net/enp0s10/queues/tx-%d/xps_cpus" % q) for q in range(4)] == [
        "00000001", "00000002", "00000001", "00000002"]


def test_irqbalance_policy_bans_the_queue_irqs_without_the_nic_in_its_network_namespace(mq_tree):
    """The policy script run as a process, as irqbalance runs it.

    Regression (VM tier, kernel scenario on Debian 13): trixie's irqbalance unit has
    PrivateNetwork=yes, so /sys/class/net inside it lists no host NIC; the script found the NIC
    by name there, banned nothing, irqbalance moved the pinned IRQs and the next run changed
    them back (idempotence failed). It finds the NIC by the PCI address the module keeps."""
    execute(resource(mq_tree, cpus="0-1", irqbalance_ban=True))
    shutil.rmtree(os.path.join(mq_tree, "sys/class/net/enp0s10"))      # irqbalance's own netns
    script = os.path.join(mq_tree, boot.IRQBALANCE_POLICY_PATH.lstrip("/"))
    env = dict(os.environ, KVMNET_SYSFS=os.path.join(mq_tree, "sys"),
               KVMNET_IRQ_CONF_DIR=os.path.join(mq_tree, boot.IRQ_CONFIG_DIR.lstrip("/")))

    def policy(irq):
        proc = subprocess.run(["/bin/sh", script, "/sys/devices/pci0000:00/0000:00:0a.0", str(irq)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout
    assert policy(50) == "ban=true\n"
    assert policy(61) == ""            # not an IRQ of the NIC: irqbalance keeps balancing it


def test_irqbalance_modes():
    assert 'IRQBALANCE_ARGS="--policyscript=/usr/local/sbin/kvmnet-irqbalance-policy"\n' in render_irqbalance(
        "performance")
    assert "--powerthresh=1" in render_irqbalance("power-save")


def test_restore_desired_is_the_state_read_exactly_and_plans_no_files(mq_tree):
    res = resource(mq_tree, cpus="2-3", persist=True)
    desired = res.normalize()
    before = res.read_current()
    target = res.restore_desired(before, desired)
    assert target["exact"]["channels"] == 4
    assert target["exact"]["irqs"]["virtio6-input.0"] == "0-3" and len(target["exact"]["irqs"]) == 8
    assert res.plan(before, target) == []  # nothing to put back, not even the files persist would write
    moved = json.loads(json.dumps(before))
    moved["irqs"]["virtio6-output.3"]["cpus"] = "3"
    moved["channels"]["combined"] = 2
    assert [(o.action, o.target) for o in res.plan(moved, target)] == [("set_channels", "enp0s10"),
                                                                       ("set_irq_affinity", "virtio6-output.3")]
