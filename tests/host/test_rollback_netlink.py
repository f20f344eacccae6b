# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Rollback of the netlink / sysfs modules (issue 12): a failure injected at every step boundary
of a realistic plan (before the k-th step, and after it did its work) leaves the host exactly as
it was: the namespace's links, addresses and routes (``netns_state``) plus every link's admin
state (``ip`` flags, which netns_state leaves out), the files under the test root, the sysfs and
procfs values under it; and the failure names failed / applied / reverted.

linux_bridge and macvtap run on the real kernel in a fresh network namespace; vhost_net and
irq_affinity on a host tree under a test root (their sysfs / procfs values and persisted files),
as in their unit tests, with the one program they run (modprobe) a recording stand-in.
nic_bond needs the bonding module, which this machine's kernel lacks (see the skip).
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon, _ethtool, _files
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._irq_affinity import IrqAffinityResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._linux_bridge import LinuxBridgeResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._macvtap import MacvtapResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._nic_bond import NicBondResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._sysfs import Sysfs
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._vhost_net import (
    LOAD_CONF,
    OPTIONS_CONF,
    VhostNetResource,
    render_files,
)

from testbed.inject import check_every_step, files_state, netns_state


def _no_timers(value):
    """Without the bridge's running timers (gc_timer, hello_timer, a port's hold_timer...): they
    tick by themselves, like the counters netns_state already leaves out."""
    if isinstance(value, dict):
        return {k: _no_timers(v) for k, v in value.items() if not k.endswith("_timer")}
    if isinstance(value, list):
        return [_no_timers(v) for v in value]
    return value


def snapshot(ns):
    """netns_state (without timers) and each link's admin state (the UP flag, which netns_state
    leaves out with the carrier flags that follow the peer and time)."""
    state = _no_timers(netns_state(ns))
    state["admin_up"] = {link["ifname"]: "UP" in link.get("flags", [])
                         for link in json.loads(ns.ip("-j", "link", "show") or "[]")}
    return state


def sweep(make, snap, steps):
    """check_every_step before and after each step; returns the errors of both sweeps."""
    return check_every_step(make, snap, steps) + check_every_step(make, snap, steps, after=True)


def assert_names_steps(errors, steps):
    for err in errors:
        details = err.details
        assert details["failed_step"]["action"] and "reverted" in details
        assert details["rolled_back"] is True and details["remaining"] == []
    # a failure after the last step leaves everything applied: all of it is reverted
    last = errors[-1].details
    assert len(last["applied"]) == steps - 1 and last["reverted"], last


# -- linux_bridge --------------------------------------------------------------------------------
def bridge_params(ns, **kw):
    return dict(dict(name="br0", state="present", ports=None, exclusive_ports=False, mtu=None, admin_state=None,
                     netns=ns.name), **kw)


def quiet(ns):
    """No IPv6 in the namespace: the kernel gives a link that comes up a link-local address (and
    its routes) when its carrier comes, a moment later, after duplicate address detection: when
    a snapshot is taken decides what it holds. IPv4 addresses and routes are compared."""
    for scope in ("all", "default"):
        ns.exec("sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=1" % scope)
    return ns


@pytest.fixture
def bridge_ns(netns):
    quiet(netns)
    netns.add_veth("eth1", "peer1")
    netns.add_veth("eth2", "peer2")
    # a port that is down: joining brings it up (a step of its own). It was up once, as a host's
    # NIC is: a link never up shows qdisc noop, and after its first up its default qdisc for good
    # (a kernel artefact no netlink call puts back, and no configuration)
    netns.add_veth("eth3", "peer3")
    netns.ip("link", "set", "eth3", "down")
    return netns


def test_linux_bridge_create_with_ports_rolls_back_at_every_step(bridge_ns):
    ns = bridge_ns
    want = bridge_params(ns, ports=["eth1", "eth3"], mtu=1400)
    plan = execute(LinuxBridgeResource(want), check_mode=True)["operations"]
    assert [o["action"] for o in plan] == ["create", "add_port", "add_port", "port_up"]
    errors = sweep(lambda wrap: wrap(LinuxBridgeResource)(want), lambda: snapshot(ns), len(plan))
    assert_names_steps(errors, len(plan))
    assert not ns.exists("br0")
    assert [(o["action"], o["target"]) for o in errors[-1].details["reverted"]] == [
        ("delete", "br0"), ("port_down", "eth3")]


def test_linux_bridge_modify_ports_exclusive_rolls_back_at_every_step(bridge_ns):
    ns = bridge_ns
    ns.add_bridge("br0", up=False)
    ns.set_master("eth1", "br0")  # the bridge takes eth1's MAC, then comes up (its link-local address from it)
    ns.set_up("br0")
    want = bridge_params(ns, ports=["eth2", "eth3"], exclusive_ports=True, mtu=1400, admin_state="down")
    plan = execute(LinuxBridgeResource(want), check_mode=True)["operations"]
    assert [o["action"] for o in plan] == ["modify", "add_port", "add_port", "port_up", "remove_port"]
    errors = sweep(lambda wrap: wrap(LinuxBridgeResource)(want), lambda: snapshot(ns), len(plan))
    assert_names_steps(errors, len(plan))
    assert ns.master_of("eth1") == "br0" and ns.master_of("eth3") is None
    # and without a failure the same plan goes through and is idempotent
    execute(LinuxBridgeResource(want))
    assert execute(LinuxBridgeResource(want))["changed"] is False


def test_linux_bridge_delete_rolls_back_with_the_same_ifindex_and_mac(bridge_ns):
    ns = bridge_ns
    ns.add_bridge("br0", up=False)
    ns.set_master("eth1", "br0")
    ns.set_master("eth2", "br0")
    ns.set_up("br0")
    before = ns.link("br0")
    want = bridge_params(ns, state="absent")
    errors = check_every_step(lambda wrap: wrap(LinuxBridgeResource)(want), lambda: snapshot(ns), 1, after=True)
    assert [o["action"] for o in errors[0].details["reverted"]] == ["create", "add_port", "add_port"]
    after = ns.link("br0")
    assert (after["ifindex"], after["address"]) == (before["ifindex"], before["address"])


# -- macvtap ---------------------------------------------------------------------------------------
def macvtap_params(ns, **kw):
    return dict(dict(name="mvt0", state="present", link="lower0", mode=None, mac=None, mtu=None, admin_state=None,
                     netns=ns.name), **kw)


@pytest.fixture
def macvtap_ns(netns):
    quiet(netns)
    netns.add_veth("lower0", "peer0")
    netns.add_veth("lower1", "peer1")
    return netns


@pytest.mark.parametrize("change", [{"mode": "passthru"}, {"link": "lower1", "mtu": 1400}])
def test_macvtap_delete_and_create_roll_back_to_the_same_device(macvtap_ns, change):
    ns = macvtap_ns
    ns.add_macvtap("mvt0", "lower0", mode="vepa")
    before = ns.link("mvt0")
    want = macvtap_params(ns, **change)
    plan = execute(MacvtapResource(want), check_mode=True)["operations"]
    assert [o["action"] for o in plan] == ["delete", "create"]
    errors = sweep(lambda wrap: wrap(MacvtapResource)(want), lambda: snapshot(ns), len(plan))
    assert_names_steps(errors, len(plan))
    # after the delete (k=1, after) and after the create (k=2, after): the link was put back
    assert [o["action"] for o in errors[2].details["reverted"]] == ["create"]
    assert [o["action"] for o in errors[3].details["reverted"]] == ["delete", "create"]
    after = ns.link("mvt0")
    assert (after["ifindex"], after["address"], after["linkinfo"]["info_data"]["mode"]) == (
        before["ifindex"], before["address"], "vepa")


@pytest.mark.parametrize("up", [True, False])
def test_macvtap_create_and_delete_roll_back(macvtap_ns, up):
    ns = macvtap_ns
    want = macvtap_params(ns, mode="private", mac="02:00:00:00:00:42", mtu=1400)
    errors = sweep(lambda wrap: wrap(MacvtapResource)(want), lambda: snapshot(ns), 1)
    assert errors[1].details["reverted"] == [{"action": "delete", "target": "mvt0"}]
    assert not ns.exists("mvt0")
    # up, or never up (a link set down after it was up keeps its default qdisc, where one never
    # up shows noop: a kernel artefact, not configuration, that a link created again cannot have)
    ns.add_macvtap("mvt0", "lower0", mode="bridge", up=up)
    gone = macvtap_params(ns, state="absent", link=None)
    errors = check_every_step(lambda wrap: wrap(MacvtapResource)(gone), lambda: snapshot(ns), 1, after=True)
    assert [o["action"] for o in errors[0].details["reverted"]] == ["create"]


# -- vhost_net: a host tree under a test root ------------------------------------------------------
RELEASE = "6.1.0-28-amd64"
#: modprobe acting on the tree under $KVT_ROOT the way the kernel shows a module in sysfs
#: (/sys/module/vhost_net/{initstate,refcnt,parameters/experimental_zcopytx}, /dev/vhost-net)
FAKE_MODPROBE = """#!/bin/sh
echo "$@" >> "$KVT_ROOT/../modprobe.log"
mod="$KVT_ROOT/sys/module/vhost_net"
if [ "$1" = "-r" ]; then rm -rf "$mod" "$KVT_ROOT/dev/vhost-net"; exit 0; fi
z=0
case "$2" in experimental_zcopytx=*) z="${2#experimental_zcopytx=}";; esac
mkdir -p "$mod/parameters" "$KVT_ROOT/dev"
echo live > "$mod/initstate"; echo 0 > "$mod/refcnt"; echo "$z" > "$mod/parameters/experimental_zcopytx"
: > "$KVT_ROOT/dev/vhost-net"
"""


def write(root, path, text):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as handle:
        handle.write(text)


@pytest.fixture
def vhost_root(tmp_path, monkeypatch):
    root = str(tmp_path / "root")
    write(root, "/proc/sys/kernel/osrelease", RELEASE + "\n")
    write(root, "/lib/modules/%s/modules.dep" % RELEASE,
          "kernel/drivers/vhost/vhost.ko.xz:\nkernel/drivers/vhost/vhost_net.ko.xz: kernel/drivers/vhost/vhost.ko.xz\n")
    write(root, "/lib/modules/%s/modules.builtin" % RELEASE, "")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "modprobe").write_text(FAKE_MODPROBE)
    (bindir / "modprobe").chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bindir, os.environ["PATH"]))
    monkeypatch.setenv("KVT_ROOT", root)
    return root


def load(root, zcopy):
    write(root, "/sys/module/vhost_net/initstate", "live\n")
    write(root, "/sys/module/vhost_net/refcnt", "0\n")
    write(root, "/sys/module/vhost_net/parameters/experimental_zcopytx", "%d\n" % zcopy)
    write(root, "/dev/vhost-net", "")


def vhost(root, **kw):
    return VhostNetResource(dict({"state": "present", "persist": True, "experimental_zcopytx": None}, **kw), root=root)


def test_vhost_net_option_change_unload_load_rolls_back_at_every_step(vhost_root):
    root = vhost_root
    load(root, 0)
    write(root, LOAD_CONF, render_files({"state": "present", "experimental_zcopytx": None})[LOAD_CONF])

    def make(wrap):
        return wrap(VhostNetResource)({"state": "present", "persist": True, "experimental_zcopytx": True}, root=root)
    plan = execute(vhost(root, experimental_zcopytx=True), check_mode=True)["operations"]
    assert [(o["action"], o["target"]) for o in plan] == [("write_file", OPTIONS_CONF), ("unload", "vhost_net"),
                                                          ("load", "vhost_net")]
    errors = sweep(make, lambda: files_state(root), len(plan))
    assert_names_steps(errors, len(plan))
    # after the unload: loaded again with the option it had; after the load: unloaded and loaded back
    assert [o["action"] for o in errors[4].details["reverted"]] == ["restore_file", "load"]
    assert [(o["action"], o.get("experimental_zcopytx")) for o in errors[5].details["reverted"]] == [
        ("restore_file", None), ("unload", None), ("load", 0)]
    # the same plan without a failure, then nothing to do
    assert execute(vhost(root, experimental_zcopytx=True))["changed"]
    assert execute(vhost(root, experimental_zcopytx=True))["changed"] is False


@pytest.mark.parametrize("start", ["absent", "loaded"])
def test_vhost_net_load_and_unload_roll_back_at_every_step(vhost_root, start):
    root = vhost_root
    state = "present"
    if start == "loaded":
        load(root, 1)
        write(root, LOAD_CONF, "vhost_net\n")  # written by hand: put back as it was, not re-rendered
        state = "absent"

    def make(wrap):
        return wrap(VhostNetResource)({"state": state, "persist": True, "experimental_zcopytx": None}, root=root)
    plan = execute(vhost(root, state=state), check_mode=True)["operations"]
    assert [o["action"] for o in plan] == (["write_file", "load"] if start == "absent" else ["remove_file", "unload"])
    errors = sweep(make, lambda: files_state(root), len(plan))
    assert_names_steps(errors, len(plan))


# -- irq_affinity: a host tree under a test root ----------------------------------------------------
#: a 4-queue virtio-net NIC (virtio6 on 0000:00:0a.0) as /proc/interrupts shows it
INTERRUPTS = "           CPU0       CPU1       CPU2       CPU3\n" + "".join(
    " %d:  0  0  0  0  PCI-MSIX-0000:00:0a.0  %d-edge  virtio6-%s.%d\n" % (53 + 2 * q + i, 1 + 2 * q + i, kind, q)
    for q in range(4) for i, kind in enumerate(("input", "output")))


@pytest.fixture
def irq_root(tmp_path, monkeypatch):
    """enp0s10 = virtio6 on 0000:00:0a.0, 4 queue pairs, CPUs 0-3, IRQs 53-60 on CPUs 0-3 but
    output.1 on CPU 1 (what no option expresses), RPS off but rx-2 on CPU 3; channels (an ioctl,
    not a file) are a dict the test controls; the udev / systemd reloads are recorded, not run on
    this machine."""
    root = str(tmp_path / "root")
    pci = os.path.join(root, "sys/devices/pci0000:00/0000:00:0a.0")
    os.makedirs(os.path.join(pci, "virtio6/net/enp0s10"))
    os.makedirs(os.path.join(root, "sys/bus/pci/devices"))
    os.symlink(pci, os.path.join(root, "sys/bus/pci/devices/0000:00:0a.0"))
    os.makedirs(os.path.join(root, "sys/class/net/enp0s10"))
    os.symlink(os.path.join(pci, "virtio6"), os.path.join(root, "sys/class/net/enp0s10/device"))
    write(root, "/sys/devices/pci0000:00/0000:00:0a.0/numa_node", "-1\n")
    write(root, "/sys/devices/pci0000:00/0000:00:0a.0/local_cpulist", "0-3\n")
    write(root, "/sys/devices/system/cpu/online", "0-3\n")
    write(root, "/proc/interrupts", INTERRUPTS)
    for irq in range(53, 61):
        write(root, "/sys/devices/pci0000:00/0000:00:0a.0/msi_irqs/%d" % irq, "msix\n")
        write(root, "/proc/irq/%d/smp_affinity_list" % irq, "1\n" if irq == 56 else "0-3\n")
    for q in range(4):
        write(root, "/sys/class/net/enp0s10/queues/rx-%d/rps_cpus" % q, "8\n" if q == 2 else "0\n")
        write(root, "/sys/class/net/enp0s10/queues/tx-%d/xps_cpus" % q, "0\n")
    channels = {"combined": 4, "max_combined": 4}
    commands = []
    monkeypatch.setattr(_ethtool, "get_channels", lambda ifname: dict(channels))
    monkeypatch.setattr(_ethtool, "set_channels", lambda ifname, combined: channels.update(combined=combined))
    monkeypatch.setattr(_files, "run_command", lambda argv, what, **kw: commands.append(argv))
    return root, channels, commands


def tree_state(root):
    """files_state, with the values under proc/ and sys/ as the kernel reads them back (a
    procfs / sysfs file shows "0-3\\n" whatever was written to it; a file in the tree shows the
    bytes written), the files under etc/ and usr/ byte for byte."""
    state = files_state(root)
    for path, value in state.items():
        if path.startswith(("proc/", "sys/")) and value[0] != "->":
            text = value[0].decode().strip()
            if path.endswith(("/rps_cpus", "/xps_cpus")):  # a mask: 0, 00000000 and 0,00000000 are one
                text = _canon.mask_to_cpus(text)
            state[path] = text
    return state


def test_irq_affinity_pinning_rps_xps_persisted_rolls_back_at_every_step(irq_root):
    root, channels, commands = irq_root
    options = {"interface": "enp0s10", "cpus": "2-3", "queue_cpus": [], "pin_irqs": True, "rps_cpus": "0-1",
               "xps": True, "combined_channels": 2, "persist": True, "irqbalance_ban": True,
               "irqbalance_mode": "performance"}

    def make(wrap):
        return wrap(IrqAffinityResource)(dict(options), root=root)

    def snap():
        return tree_state(root), dict(channels)
    plan = execute(IrqAffinityResource(dict(options), root=root), check_mode=True)["operations"]
    actions = [o["action"] for o in plan]
    assert actions.count("set_irq_affinity") == 4 and actions.count("set_rps") == 2 and "set_channels" in actions
    assert "write_file" in actions and "reload_udev" in actions
    errors = sweep(make, snap, len(plan))
    assert_names_steps(errors, len(plan))
    # after the last step everything is reverted: the channels, the IRQs, RPS, XPS and files
    reverted = [o["action"] for o in errors[-1].details["reverted"]]
    assert "set_channels" in reverted and "set_irq_affinity" in reverted and "restore_file" in reverted
    with open(os.path.join(root, "proc/irq/56/smp_affinity_list")) as handle:
        assert handle.read().strip() == "1"
    assert execute(IrqAffinityResource(dict(options), root=root))["changed"]
    assert execute(IrqAffinityResource(dict(options), root=root))["changed"] is False


# -- nic_bond: needs the bonding driver ---------------------------------------------------------------
HOST = Sysfs("/")
HOST_RELEASE = HOST.kernel_release()
BONDING = HOST.module_state("bonding") != "absent" or HOST.module_installed("bonding", HOST_RELEASE)


@pytest.fixture
def bond_lab(netns):
    """A bond of enp1 + enp2 (active-backup) in a fresh namespace; enp0 holds the host address
    and the default route; enp3 is free and down. The bonding module is unloaded again if the
    test loaded it (loading it makes a bond0 of its own in the host namespace)."""
    loaded = HOST.module_state("bonding") == "loaded"
    quiet(netns)
    for name in ("enp0", "enp1", "enp2", "enp3"):
        netns.add_veth(name, "p" + name)
    netns.ip("link", "set", "enp3", "down")
    netns.add_addr("enp0", "10.77.0.5/24")
    netns.ip("route", "add", "default", "via", "10.77.0.1", "dev", "enp0")
    netns.ip("link", "add", "bond0", "type", "bond", "mode", "active-backup", "miimon", "100")
    for name in ("enp1", "enp2"):
        netns.ip("link", "set", name, "down")
        netns.set_master(name, "bond0")
        netns.set_up(name)
    netns.set_up("bond0")
    yield netns
    if not loaded and HOST.module_state("bonding") == "loaded":
        subprocess.run(["modprobe", "-r", "bonding"], check=False)


@pytest.mark.skipif(not BONDING, reason="kernel %s has no bonding driver (neither loaded nor in /lib/modules): "
                                        "nic_bond's rollback is swept on the kernel model of "
                                        "tests/unit/plugins/module_utils/test_nic_bond_restore.py, real bonds on "
                                        "the VM tier" % HOST_RELEASE)
def test_nic_bond_mode_change_member_swap_bridge_address_move_rolls_back_at_every_step(bond_lab, tmp_path):
    ns = bond_lab
    root = tmp_path / "root"
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/osrelease").write_text(HOST_RELEASE + "\n")
    (root / "sys/module/bonding").mkdir(parents=True)
    (root / "sys/module/bonding/initstate").write_text("live\n")
    want = {"name": "bond0", "state": "present", "persist": "none", "netns": ns.name, "mode": "balance-xor",
            "members": ["enp1", "enp3"], "bridge": "br1", "address": "10.77.0.5/24"}
    plan = execute(NicBondResource(dict(want), root=str(root)), check_mode=True)["operations"]
    assert [o["action"] for o in plan][:6] == ["remove_member", "bond_down", "release_member", "modify_bond",
                                               "reenslave_member", "bond_up"]
    errors = sweep(lambda wrap: wrap(NicBondResource)(dict(want), root=str(root)), lambda: snapshot(ns), len(plan))
    assert_names_steps(errors, len(plan))
