# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""irq_affinity on this machine's real IRQs: the queue IRQs of a virtio-net NIC of the host.

IRQs belong to the host, not to a network namespace, so this tier uses the host's own NIC:
its queue IRQs are moved to one CPU and read back from /proc/irq/N/smp_affinity_list, then
restored to what they were (always, in a finally). RPS is set and restored the same way.
Multi-queue spreading, channels, XPS and persistence across a reboot are proven on the VM tier
(extensions/molecule/hypervisor), where the guest has a 4-queue virtio-net NIC.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from testbed.util import object_diff

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _boot_scripts as boot
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import InvalidInput, NotFound, Unsupported
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._irq_affinity import IrqAffinityResource, find_queue_irqs
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._sysfs import Sysfs

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="writes /proc/irq: needs root")


def host_nic_with_queue_irqs():
    """(ifname, {irq: name}) of the first host NIC whose queue IRQs we can find, or (None, {})."""
    sysfs = Sysfs()
    for ifname in sorted(os.listdir("/sys/class/net")):
        pci = sysfs.netdev_pci(ifname)
        if not pci:
            continue
        _t, queues = find_queue_irqs(ifname, sysfs.netdev_device_name(ifname), sysfs.msi_irqs(pci, ifname),
                                     sysfs.interrupts())
        if queues:
            return ifname, {q["irq"]: q["name"] for q in queues}
    return None, {}


IFNAME, QUEUE_IRQS = host_nic_with_queue_irqs()
ONLINE = Sysfs().online_cpus()
needs_nic = pytest.mark.skipif(IFNAME is None, reason="no host NIC with MSI queue IRQs here (VM tier covers it)")


def affinity(irq):
    with open("/proc/irq/%d/smp_affinity_list" % irq) as handle:
        return handle.read().strip()


@pytest.fixture
def saved_affinity():
    """Restore the NIC's queue IRQ affinity and rx-0 RPS after the test, whatever happens."""
    saved = {irq: affinity(irq) for irq in QUEUE_IRQS}
    rps_path = "/sys/class/net/%s/queues/rx-0/rps_cpus" % IFNAME
    rps = open(rps_path).read().strip() if os.path.exists(rps_path) else None
    yield saved
    for irq, cpus in saved.items():
        with open("/proc/irq/%d/smp_affinity_list" % irq, "w") as handle:
            handle.write(cpus)
    if rps is not None:
        with open(rps_path, "w") as handle:
            handle.write(rps)


def params(**kw):
    base = {"interface": IFNAME, "cpus": None, "queue_cpus": [], "pin_irqs": True, "rps_cpus": None, "xps": False,
            "combined_channels": None, "persist": False, "irqbalance_ban": False, "irqbalance_mode": "performance"}
    base.update(kw)
    return base


@needs_nic
def test_pin_read_back_idempotent_restore(saved_affinity):
    target = str(ONLINE[-1])
    res = execute(IrqAffinityResource(params(cpus=target, rps_cpus=str(ONLINE[0]))))
    assert res["changed"] or all(v == target for v in saved_affinity.values())
    for irq in QUEUE_IRQS:
        assert affinity(irq) == target, "IRQ %d not pinned to %s" % (irq, target)
    rps = open("/sys/class/net/%s/queues/rx-0/rps_cpus" % IFNAME).read().strip()
    assert int(rps.replace(",", ""), 16) == 1 << ONLINE[0]
    assert set(res["queue_irqs"].values()) == set(QUEUE_IRQS)
    again = execute(IrqAffinityResource(params(cpus=target, rps_cpus=str(ONLINE[0]))))
    assert again["changed"] is False and again["operations"] == []


@needs_nic
def test_explicit_queue_map_and_check_mode(saved_affinity):
    other = str(ONLINE[0])
    check = execute(IrqAffinityResource(params(pin_irqs=False, queue_cpus=[{"queue": 0, "cpus": other}])),
                    check_mode=True)
    assert {irq: affinity(irq) for irq in QUEUE_IRQS} == saved_affinity, "check mode changed an IRQ"
    expected = [name for irq, name in sorted(QUEUE_IRQS.items()) if saved_affinity[irq] != other]
    assert sorted(op["target"] for op in check["operations"]) == sorted(expected)
    execute(IrqAffinityResource(params(pin_irqs=False, queue_cpus=[{"queue": 0, "cpus": other}])))
    assert all(affinity(irq) == other for irq, name in QUEUE_IRQS.items() if name.endswith("0"))


@needs_nic
def test_through_ansible_check_diff_and_bad_input(saved_affinity, run_playbook):
    target = str(ONLINE[-1])
    task = {"name": "irq", "kvmnet.hypervisor.irq_affinity": {"interface": IFNAME, "cpus": target}}
    check = run_playbook([task], check=True, diff=True)
    assert not check.failed, str(check)
    assert {irq: affinity(irq) for irq in QUEUE_IRQS} == saved_affinity
    real = run_playbook([task], diff=True)
    assert not real.failed, str(real)
    assert all(affinity(irq) == target for irq in QUEUE_IRQS)
    assert all(v["cpus"] == target for v in object_diff(real["irq"].diff)["after"]["irqs"].values())
    assert not run_playbook([task])["irq"].changed

    for bad, kind, words in [
        ({"interface": "kvt-nope0"}, "not_found", "kvt-nope0"),
        ({"interface": IFNAME, "cpus": "0-1023"}, "invalid_input", "not online"),
        ({"interface": IFNAME, "cpus": "a-b"}, "invalid_input", "not a CPU list"),
    ]:
        res = run_playbook([{"name": "irq", "kvmnet.hypervisor.irq_affinity": bad}])
        assert res["irq"].failed and res["irq"]["error"] == kind and words in res["irq"].msg, res["irq"].msg
    assert all(affinity(irq) == target for irq in QUEUE_IRQS), "a failed run changed an IRQ"


@needs_nic
def test_channels_are_read_and_limited():
    res = execute(IrqAffinityResource(params(pin_irqs=False)), check_mode=True)
    channels = res["before"]["channels"]
    if channels.get("max_combined") is None:
        pytest.skip("%s does not report channels" % IFNAME)
    same = execute(IrqAffinityResource(params(pin_irqs=False, combined_channels=channels["combined"])),
                   check_mode=True)
    assert same["operations"] == []
    with pytest.raises(InvalidInput, match="above the maximum"):
        execute(IrqAffinityResource(params(pin_irqs=False, combined_channels=channels["max_combined"] + 1)))


def test_unknown_interface():
    with pytest.raises(NotFound, match="interface: 'kvt-nope0' does not exist"):
        execute(IrqAffinityResource(params(interface="kvt-nope0")))


def test_interface_without_queue_irqs():
    with pytest.raises(Unsupported, match="found no queue IRQs of lo"):
        execute(IrqAffinityResource(params(interface="lo")), check_mode=True)


@needs_nic
def test_boot_script_resolves_queues_by_name_on_real_irqs(saved_affinity, tmp_path):
    """The boot-time script (what kvmnet-irq@.service runs) pins the host NIC's real IRQs from
    a JSON written by the module, resolving them by queue name, not by remembered numbers."""
    # the JSON and the script as the module would write them (check mode: the host's /etc and
    # /usr/local are left alone), written under tmp_path
    planned = execute(IrqAffinityResource(params(cpus=str(ONLINE[-1]), persist=True)), check_mode=True)
    for op in planned["operations"]:
        if op["action"] == "write_file" and op["target"] in (boot.IRQ_SCRIPT_PATH,
                                                             "%s/%s.json" % (boot.IRQ_CONFIG_DIR, IFNAME)):
            path = tmp_path / op["target"].lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(op["content"])
    for irq in QUEUE_IRQS:  # move them away again, as a reboot would leave them
        with open("/proc/irq/%d/smp_affinity_list" % irq, "w") as handle:
            handle.write(str(ONLINE[0]))
    script = tmp_path / boot.IRQ_SCRIPT_PATH.lstrip("/")
    conf_dir = tmp_path / boot.IRQ_CONFIG_DIR.lstrip("/")
    proc = subprocess.run([sys.executable, str(script), IFNAME], env=dict(os.environ, KVMNET_IRQ_CONF_DIR=str(conf_dir)),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert all(affinity(irq) == str(ONLINE[-1]) for irq in QUEUE_IRQS), {irq: affinity(irq) for irq in QUEUE_IRQS}
