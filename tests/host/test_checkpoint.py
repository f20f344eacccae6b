# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checkpoints on real components: netlink in a netns, a private OVS, a private libvirtd, files.

The checkpoint is started through ansible-playbook (so lib/ is copied from AnsiballZ's zip)
under a test root, then four modules change the host (linux_bridge in a netns, ovs_bridge on a
private OVS, libvirt_iface on a private libvirtd domain, vhost_net's persisted files under the
root); their resources are built with that root, so the engine journals into the checkpoint.

This machine has no systemd as PID 1: the units are written (write_units, the first half of
arm) and their ExecStart= lines are run as processes, exactly as systemd would run them, with
no PYTHONPATH: the replay imports only the checkpoint's own copy of the code. The timer and
the boot ordering themselves are proven on the VM tier.
"""

from __future__ import annotations

import difflib
import json
import os
import shlex
import socket
import subprocess
import time

import pytest
from testbed.inject import domain_state, files_state, netns_state, ovsdb_state
from testbed.libvirtd import bridge_iface
from testbed.util import unique_ifname

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _checkpoint, _checkpoint_units, _libvirt
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_iface import LibvirtIfaceResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._linux_bridge import LinuxBridgeResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_bridge import OvsBridgeResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._sysfs import Sysfs
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._vhost_net import LOAD_CONF, OPTIONS_CONF, VhostNetResource

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="netns, OVS and libvirtd need root")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAC = "52:54:00:6b:0c:01"
#: the environment of a systemd unit: no PYTHONPATH, nothing of this test's Python set-up
UNIT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def write(root, path, text, mode=0o644):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(full, mode)


@pytest.fixture
def root(tmp_path):
    """A host tree: vhost_net loaded (so only its files change), an older modules-load.d file
    (0600, bytes and mode must come back) and no modprobe.d file (must be removed again)."""
    top = str(tmp_path / "host")
    release = Sysfs().kernel_release()
    write(top, "/proc/sys/kernel/osrelease", release + "\n")
    write(top, "/lib/modules/%s/modules.dep" % release, "kernel/drivers/vhost/vhost_net.ko.xz:\n")
    write(top, "/lib/modules/%s/modules.builtin" % release, "")
    write(top, "/sys/module/vhost_net/initstate", "live\n")
    write(top, "/sys/module/vhost_net/refcnt", "0\n")
    write(top, "/sys/module/vhost_net/parameters/experimental_zcopytx", "0\n")
    write(top, "/dev/vhost-net", "")
    write(top, LOAD_CONF, "# written by hand\nvhost_net\n", 0o600)
    return top


@pytest.fixture
def lab(netns, ovs, libvirtd, libvirt_domains):
    """The four back ends: a netns with a veth pair, a private OVS with bridge kvtb0 (port p0,
    tag 2), a running domain with a bridge NIC on a Linux bridge in libvirtd's netns. IPv6 is
    off on the links the test makes: its link-local addresses and routes come and go with
    carrier, by the kernel's doing (not journaled, see docs/safety.md)."""
    no_ipv6(netns)
    netns.add_veth("ve0", "ve1")
    ovs.add_bridge("kvtb0")
    ovs.vsctl("add-port", "kvtb0", "p0", "tag=2", "--", "set", "interface", "p0", "type=internal")
    names = {key: unique_ifname("kvt") for key in ("br0", "br1")}
    bridges = dict(names)
    for index, name in enumerate(bridges.values()):
        # a fixed MAC and a port that stays: an empty bridge's address and offload limits
        # follow whatever port comes and goes (the kernel's doing, not journaled)
        libvirtd.netns.add_bridge(name)
        libvirtd.netns.ip("link", "set", name, "address", "02:6b:0c:00:00:%02x" % index)
        libvirtd.netns.exec("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % name)
        port, peer = unique_ifname("kvt"), unique_ifname("kvt")
        libvirtd.netns.add_veth(port, peer)
        for link in (port, peer):
            libvirtd.netns.exec("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % link)
        libvirtd.netns.ip("link", "set", port, "master", name)
        names["port%d" % index] = port
    dom = libvirt_domains.define([bridge_iface(bridges["br0"], mac=MAC)])
    tap = _libvirt.parse_xml(dom.XMLDesc(0)).find("./devices/interface/target").get("dev")
    libvirtd.netns.exec("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % tap)
    yield {"netns": netns, "ovs": ovs, "libvirtd": libvirtd, "dom": dom, "bridges": bridges}
    for name in names.values():
        libvirtd.netns.ip("link", "del", name, check=False)


def settled(read, seconds=15.0):
    """``read()`` once no IPv6 address is tentative and two reads half a second apart agree (a
    link just created or brought up is still getting its link-local address: the kernel, not
    a module, changes the state then)."""
    until = time.monotonic() + seconds
    last = read()
    while True:
        time.sleep(0.5)
        now = read()
        if (now == last and '"tentative"' not in json.dumps(now, default=repr)) or time.monotonic() > until:
            return now
        last = now


def differences(before, after):
    """The lines that differ between two snapshots (for assertion messages)."""
    out = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            out += list(difflib.unified_diff(json.dumps(before.get(key), indent=1, sort_keys=True, default=repr).splitlines(),
                                             json.dumps(after.get(key), indent=1, sort_keys=True, default=repr).splitlines(),
                                             key + " before", key + " after", lineterm="", n=1))
    return "\n".join(out[:80])


def links(ns):
    """netns_state without the bridge timers (gc_timer, hello_timer...: they count down by
    themselves; the snapshots here are minutes apart)."""

    def scrub(value):
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items() if not k.endswith("_timer")}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    return scrub(netns_state(ns))


def no_ipv6(ns):
    ns.exec("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")


def snapshot(lab, root):
    """Everything the modules may change, the checkpoint's own files left out."""

    def read():
        files = {k: v for k, v in files_state(root).items() if not k.startswith("var/lib/kvmnet/")}
        return {"netns": links(lab["netns"]), "libvirt netns": links(lab["libvirtd"].netns),
                "ovsdb": ovsdb_state(lab["ovs"]), "domain": domain_state(lab["dom"]), "files": files}

    return settled(read)


def iface_params(lab, **kw):
    base = dict(uri=lab["libvirtd"].uri, domain=lab["dom"].name(), mac=MAC, alias=None, state="present", type=None,
                source=None, source_mode=None, portgroup=None, virtualport=None, pf=None, vf=None, managed=None,
                model=None, driver_name=None, queues=None, rx_queue_size=None, tx_queue_size=None, vlan=None,
                target_dev=None, mtu=None, link_state=None, bandwidth=None, config=True, live=True,
                allow_config_only=False, detach_timeout=10)
    base.update(kw)
    return base


def change_everything(lab, root):
    """Four modules change the host under the open checkpoint (each run journals one entry)."""
    runs = [
        LinuxBridgeResource(dict(name="kvtbr0", state="present", ports=["ve0"], exclusive_ports=False, mtu=None,
                                 admin_state=None, netns=lab["netns"].name), root),
        OvsBridgeResource(dict(name="kvtb0", state="present", datapath_type="netdev", database=lab["ovs"].db,
                               timeout=10, ports=[{"name": "p0", "tag": 3}, {"name": "p1", "type": "internal"}]),
                          root),
        LibvirtIfaceResource(iface_params(lab, source=lab["bridges"]["br1"]), root),
        VhostNetResource(dict(state="present", persist=True, experimental_zcopytx=False), root),
    ]
    for resource in runs:
        assert execute(resource)["changed"] is True, resource.diff_header()
    assert lab["netns"].master_of("ve0") == "kvtbr0"
    assert lab["ovs"].vsctl("get", "port", "p0", "tag").strip() == "3"


def start(run_playbook, root, **more):
    res = run_playbook([{"name": "start", "kvmnet.hypervisor.checkpoint": dict(
        {"state": "started", "root": root, "automatic_rollback": False}, **more)}], env={"PYTHONPATH": ""})
    assert res.rc == 0, res
    return res["start"]


def unit_command(root, unit):
    """The ExecStart= of a unit the checkpoint wrote under root, as an argument list."""
    with open(os.path.join(root, "etc/systemd/system", unit), encoding="utf-8") as handle:
        line = next(line for line in handle if line.startswith("ExecStart="))
    return shlex.split(line[len("ExecStart="):])


def run_unit(root, unit):
    """Run a unit's command as systemd would: its own process, a bare environment."""
    proc = subprocess.run(unit_command(root, unit), env=UNIT_ENV, capture_output=True, text=True, timeout=600,
                          check=False)
    return proc


def test_not_confirmed_the_unit_command_puts_everything_back(lab, root, run_playbook):
    started = start(run_playbook, root, id="kvt-replay", timeout=300)
    assert started.changed and started["id"] == "kvt-replay"
    # lib/ holds every module_utils file, byte for byte the collection's (from AnsiballZ's zip)
    lib = os.path.join(root, "var/lib/kvmnet/checkpoint/lib/ansible_collections/kvmnet/hypervisor/plugins/module_utils")
    shipped = sorted(n for n in os.listdir(os.path.join(REPO, "plugins/module_utils")) if n.endswith(".py"))
    assert sorted(n for n in os.listdir(lib) if n != "__init__.py") == shipped
    for name in shipped:
        with open(os.path.join(lib, name), encoding="utf-8") as copy, \
                open(os.path.join(REPO, "plugins/module_utils", name), encoding="utf-8") as orig:
            assert copy.read() == orig.read(), name
    checkpoint = _checkpoint.open_checkpoint(root)
    written = _checkpoint_units.write_units(checkpoint)  # arm() without systemctl: no systemd runs here
    assert started["rollback_command"] == unit_command(root, _checkpoint_units.SERVICE)
    before = snapshot(lab, root)

    change_everything(lab, root)
    assert len(checkpoint.entries()) == 4 and len(checkpoint.files()) == 2
    assert snapshot(lab, root) != before

    proc = run_unit(root, _checkpoint_units.SERVICE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "rolled back, verified" in proc.stdout
    now = snapshot(lab, root)
    assert now == before, differences(before, now)
    assert _checkpoint.open_checkpoint(root) is None
    report = _checkpoint.last_report(root)
    assert report["outcome"] == "rolled_back" and report["verified"] is True
    assert sorted(report["files"]) == sorted([LOAD_CONF, OPTIONS_CONF])
    # newest first; vhost_net's change was files only: they come back in the file stage
    assert [(e["what"].split()[0], bool(e["reverted"]), e["remaining"]) for e in report["entries"]] == [
        ("kernel", False, []), ("interface", True, []), ("ovs", True, []), ("bridge", True, [])]
    # the units stay until a module disarms them, and do nothing: systemd skips them, their
    # condition (the checkpoint's state.json) is gone
    assert all(os.path.exists(os.path.join(root, p.lstrip("/"))) for p in written)
    for unit in (_checkpoint_units.SERVICE, _checkpoint_units.BOOT):
        with open(os.path.join(root, "etc/systemd/system", unit), encoding="utf-8") as handle:
            condition = next(line for line in handle if line.startswith("ConditionPathExists="))
        assert condition.strip().split("=", 1)[1] == os.path.join(checkpoint.path, "state.json")
    assert not os.path.exists(os.path.join(checkpoint.path, "state.json"))
    now = snapshot(lab, root)
    assert now == before, differences(before, now)


def test_reboot_files_first_then_the_rest(lab, root, run_playbook):
    """At boot the boot unit's command puts the files back before the network starts (the
    checkpoint stays open), then the rollback unit's command does the rest."""
    start(run_playbook, root, id="kvt-boot")
    _checkpoint_units.write_units(_checkpoint.open_checkpoint(root))
    before = snapshot(lab, root)
    change_everything(lab, root)

    boot = run_unit(root, _checkpoint_units.BOOT)
    assert boot.returncode == 0, boot.stdout + boot.stderr
    assert snapshot(lab, root)["files"] == before["files"]
    assert lab["netns"].master_of("ve0") == "kvtbr0"  # links wait for the full replay
    assert _checkpoint.open_checkpoint(root) is not None

    full = run_unit(root, _checkpoint_units.SERVICE)
    assert full.returncode == 0, full.stdout + full.stderr
    now = snapshot(lab, root)
    assert now == before, differences(before, now)
    assert sorted(_checkpoint.last_report(root)["files"]) == sorted([LOAD_CONF, OPTIONS_CONF])


def test_confirmed_keeps_the_changes_and_nothing_is_replayed(lab, root, run_playbook):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    try:
        start(run_playbook, root, id="kvt-confirm", probes=[{"tcp": "127.0.0.1:%d" % port}])
        change_everything(lab, root)
        changed = snapshot(lab, root)
        res = run_playbook([{"name": "confirm", "kvmnet.hypervisor.checkpoint": {
            "state": "confirmed", "root": root, "id": "kvt-confirm"}}], env={"PYTHONPATH": ""})
    finally:
        listener.close()
    assert res.rc == 0, res
    confirm = res["confirm"]
    assert confirm.changed and confirm["entries"] == 4 and confirm["files"] == 2
    assert [p["passed"] for p in confirm["probes"]] == [True]
    assert _checkpoint.open_checkpoint(root) is None
    assert not os.path.exists(os.path.join(root, "var/lib/kvmnet/checkpoint"))
    assert _checkpoint.last_report(root)["outcome"] == "confirmed"
    now = snapshot(lab, root)
    assert now == changed, differences(changed, now)
    # a replay now (a timer firing late) finds nothing to replay: the changes stay
    assert _checkpoint.replay(root)["checkpoint"] is None
    now = snapshot(lab, root)
    assert now == changed, differences(changed, now)
    # confirming again is not an error and changes nothing
    again = run_playbook([{"name": "confirm", "kvmnet.hypervisor.checkpoint": {"state": "confirmed", "root": root}}])
    assert again.rc == 0 and not again["confirm"].changed


def test_failed_probe_rolls_back_at_once(lab, root, run_playbook):
    before_start = snapshot(lab, root)
    start(run_playbook, root, id="kvt-probe")
    change_everything(lab, root)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]  # bound, not listening: connections are refused
    try:
        res = run_playbook([{"name": "confirm", "kvmnet.hypervisor.checkpoint": {
            "state": "confirmed", "root": root, "probes": [{"ping": "127.0.0.1", "count": 1},
                                                           {"tcp": "127.0.0.1:%d" % port, "timeout": 2}]}}])
    finally:
        closed.close()
    confirm = res["confirm"]
    assert confirm.failed and confirm["error"] == "probe_failed" and confirm.changed
    assert "tcp 127.0.0.1:%d" % port in confirm.msg and "rolled back at once" in confirm.msg
    assert "ping 127.0.0.1" not in confirm.msg.split("failed")[0]  # only the failed probe is named
    assert [p["passed"] for p in confirm["probes"]] == [True, False], confirm["probes"]
    assert confirm["verified"] is True and "verified back" in confirm.msg
    now = snapshot(lab, root)
    assert now == before_start, differences(before_start, now)
    assert _checkpoint.open_checkpoint(root) is None
    # confirming a rolled-back checkpoint says the changes are not in place
    late = run_playbook([{"name": "confirm", "kvmnet.hypervisor.checkpoint": {"state": "confirmed", "root": root}}])
    assert late["confirm"].failed and late["confirm"]["error"] == "rolled_back"
    assert "NOT in place" in late["confirm"].msg


def test_second_start_refused_then_rolled_back_on_request(root, run_playbook, netns):
    start(run_playbook, root, id="kvt-first")
    no_ipv6(netns)
    netns.add_veth("ve0", "ve1")
    before = settled(lambda: links(netns))
    execute(LinuxBridgeResource(dict(name="kvtbr0", state="present", ports=["ve0"], exclusive_ports=False, mtu=None,
                                     admin_state=None, netns=netns.name), root))
    res = run_playbook([{"name": "again", "kvmnet.hypervisor.checkpoint": {
        "state": "started", "root": root, "automatic_rollback": False}}])
    again = res["again"]
    assert again.failed and again["error"] == "conflict" and not again.changed
    assert "'kvt-first'" in again.msg and " s ago" in again.msg
    assert "state: rolled_back" in again.msg and "state: confirmed" in again.msg
    assert again["id"] == "kvt-first" and isinstance(again["age"], int)
    assert _checkpoint.open_checkpoint(root).state["id"] == "kvt-first"
    # a wrong id is refused too, the right one rolls back
    wrong = run_playbook([{"name": "undo", "kvmnet.hypervisor.checkpoint": {
        "state": "rolled_back", "root": root, "id": "kvt-other"}}])
    assert wrong["undo"].failed and "'kvt-other' is not the open checkpoint" in wrong["undo"].msg
    undo = run_playbook([{"name": "undo", "kvmnet.hypervisor.checkpoint": {
        "state": "rolled_back", "root": root, "id": "kvt-first"}}])["undo"]
    assert undo.changed and undo["verified"] is True and undo["entries"] == 1
    assert "kvtbr0" in undo.msg and "verified back" in undo.msg
    assert settled(lambda: links(netns)) == before
    # nothing open any more: rolled_back is a no-op, started works again
    assert not run_playbook([{"name": "undo", "kvmnet.hypervisor.checkpoint": {
        "state": "rolled_back", "root": root}}])["undo"].changed
    assert start(run_playbook, root).changed
    run_playbook([{"name": "undo", "kvmnet.hypervisor.checkpoint": {"state": "rolled_back", "root": root}}])


def test_check_mode_does_nothing(root, run_playbook):
    res = run_playbook([{"name": "start", "kvmnet.hypervisor.checkpoint": {"state": "started", "root": root}}],
                       check=True)
    assert res.rc == 0 and not res["start"].changed and "check mode" in res["start"].msg
    assert not os.path.exists(os.path.join(root, "var/lib/kvmnet/checkpoint"))
    assert not os.path.exists(os.path.join(root, "etc/systemd"))
    start(run_playbook, root, id="kvt-check")
    for state in ("confirmed", "rolled_back", "started"):
        res = run_playbook([{"name": "t", "kvmnet.hypervisor.checkpoint": {"state": state, "root": root}}],
                           check=True)
        assert res.rc == 0 and not res["t"].changed and "kvt-check" in res["t"].msg, state
        assert _checkpoint.open_checkpoint(root).state["id"] == "kvt-check"
    run_playbook([{"name": "undo", "kvmnet.hypervisor.checkpoint": {"state": "rolled_back", "root": root}}])


def test_units_are_valid_for_systemd(root, run_playbook):
    """The units as systemd-analyze reads them (its offline checks), and where they point."""
    start(run_playbook, root, id="kvt-units")
    checkpoint = _checkpoint.open_checkpoint(root)
    paths = _checkpoint_units.write_units(checkpoint)
    assert sorted(paths) == sorted(_checkpoint_units.unit_paths())
    timer = open(os.path.join(root, "etc/systemd/system", _checkpoint_units.TIMER), encoding="utf-8").read()
    assert "OnCalendar=%s\n" % _checkpoint.utc(checkpoint.state["deadline"]) in timer
    boot = unit_command(root, _checkpoint_units.BOOT)
    assert boot == checkpoint.command(boot_files=True) and "--boot-files" in boot
    proc = subprocess.run(["systemd-analyze", "calendar", _checkpoint.utc(checkpoint.state["deadline"])],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    # systemd's own offline check of the units (directives, ExecStart, calendar, dependencies)
    units = [os.path.join(root, p.lstrip("/")) for p in paths if p.endswith((".service", ".timer"))]
    proc = subprocess.run(["systemd-analyze", "verify"] + units, capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
