# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""network_info on a real kernel, a private Open vSwitch and libvirt's test driver.

The round trip: a topology built by hand (ip / ovs-vsctl, as an operator does, not with the
collection) in a network namespace, gathered through ansible-playbook, then every gathered
``modules`` argument dict run through its module: nothing may change. Also a host without
ovsdb-server or libvirtd (empty sections with a note, no failure), and playbooks/gather.yml.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import yaml
from testbed.playbook import REPO, ansible_playbook_bin
from testbed.util import unique_ifname

TEST_URI = "test:///default"


def _operator_topology(ovs):
    """What an operator made by hand: Linux bridge + macvtap + a stray tap, OVS VLAN ports, a
    bond, a patch pair and a veth pair between OVS bridges."""
    ns = ovs.netns
    ns.add_bridge("brx")
    ns.add_veth("vx0", "vx1")
    ns.set_master("vx0", "brx")
    ns.add_macvtap("mvt0", "vx1", mode="vepa")
    ns.add_tap("tapx")
    ns.set_master("tapx", "brx")
    for name in ("br0", "br1", "br2"):
        ovs.add_bridge(name)
    ovs.vsctl("add-port", "br0", "p10", "tag=10", "--", "set", "interface", "p10", "type=internal")
    ns.add_veth("up0", "up0p")
    ovs.vsctl("add-port", "br0", "up0", "trunks=10,20")
    ns.add_veth("ba", "bap")
    ns.add_veth("bb", "bbp")
    ovs.vsctl("add-bond", "br0", "bond0", "ba", "bb", "bond_mode=balance-slb", "lacp=active")
    ovs.vsctl("add-port", "br0", "pa", "--", "set", "interface", "pa", "type=patch", "options:peer=pb",
              "--", "add-port", "br1", "pb", "--", "set", "interface", "pb", "type=patch", "options:peer=pa")
    ns.add_veth("v12a", "v12b")
    ovs.vsctl("add-port", "br1", "v12a")
    ovs.vsctl("add-port", "br2", "v12b")


def _gather(run_playbook, check, **args):
    res = run_playbook([{"name": "gather", "kvmnet.hypervisor.network_info": args}], check=check)
    assert res.rc == 0, res.stdout[-3000:]
    assert not res["gather"].changed
    return res["gather"].result


def test_round_trip_in_a_namespace(ovs, run_playbook):
    _operator_topology(ovs)
    info = _gather(run_playbook, True, netns=ovs.netns.name, database=ovs.db, timeout=10, uri=TEST_URI)
    modules = info["modules"]

    bridge = modules["linux_bridge"][0]
    assert bridge == {"name": "brx", "ports": ["vx0"], "mtu": 1500, "vlan_filtering": False,
                      "netns": ovs.netns.name}  # not the tap
    assert modules["macvtap"][0]["link"] == "vx1" and modules["macvtap"][0]["mode"] == "vepa"
    br0 = {b["name"]: b for b in modules["ovs_bridge"]}["br0"]
    assert br0["datapath_type"] == "netdev"
    assert br0["ports"] == [{"name": "p10", "type": "internal", "tag": 10},
                            {"name": "up0", "type": "system", "trunks": [10, 20]}]
    bond = modules["ovs_bond"][0]
    assert (bond["name"], bond["bridge"], bond["members"], bond["bond_mode"], bond["lacp"]) == \
        ("bond0", "br0", ["ba", "bb"], "balance-slb", "active")
    links = sorted((l["link_type"], l["port"], l["peer_port"]) for l in modules["ovs_patch"])
    assert links == [("patch", "pa", "pb"), ("veth", "v12a", "v12b")]
    assert modules["libvirt_iface"][0]["domain"] == "test"
    assert info["vars"] == {}  # the roles work in the host's namespace
    unmanaged = {u["object"] for u in info["unmanaged"]}
    assert {"tun link tapx", "libvirt network default", "role variables"} <= unmanaged

    edges = {(e["from"], e["to"]): e for e in info["topology"]["edges"]}
    assert edges[("if:p10", "ovs:br0")]["label"] == "tag 10"
    assert edges[("ovs:br0", "if:up0")]["label"] == "trunks 10,20"
    assert ("ovs:br0", "ovsbond:br0:bond0") in edges and ("ovsbond:br0:bond0", "if:ba") in edges
    assert edges[("ovs:br0", "ovs:br1")]["kind"] == "patch" and edges[("ovs:br1", "ovs:br2")]["kind"] == "veth"
    assert ("if:brx", "if:vx0") in edges and ("if:tapx", "if:brx") in edges
    assert edges[("if:mvt0", "if:vx1")]["label"] == "vepa"
    assert ("vm:test", "vnic:test:aa:bb:cc:dd:ee:ff") in edges

    # the round trip: every gathered argument dict through its module, real run
    tasks = [{"name": "%s %d" % (module, i), "kvmnet.hypervisor." + module: args}
             for module, entries in sorted(modules.items()) for i, args in enumerate(entries)]
    before = ovs.vsctl("show")
    res = run_playbook(tasks, diff=True)
    assert res.rc == 0, res.stdout[-3000:]
    assert len(res.tasks) == len(tasks) >= 8
    changed = [(t.name, t.result.get("operations")) for t in res.tasks if t.changed or t.failed]
    assert changed == []
    assert ovs.vsctl("show") == before

    # and gathering again gives the same
    again = _gather(run_playbook, False, netns=ovs.netns.name, database=ovs.db, timeout=10, uri=TEST_URI)
    assert again["modules"] == modules


def _virsh(libvirtd, *args):
    subprocess.run(["virsh", "-q", "-c", libvirtd.uri, *args], check=True, capture_output=True, text=True, timeout=60)


def test_hand_made_brownfield_guest(libvirtd, libvirt_domains, run_playbook, tmp_path):
    """The libvirt half of the brownfield VM scenario (extensions/molecule/brownfield) on the test
    bed's libvirtd and its OVS (netdev), in their namespace: objects made with ip / ovs-vsctl as the
    book does (a bridge, a macvtap with its own MAC, OVS access ports, a bond, patch ports joined in
    the book's three steps), a paused domain whose NICs virsh adds persistent and live (a tap on the
    bridge, an OVS port in VLAN 10, a macvtap). The guest's devices are the guest's (not bridge or
    OVS ports, not host macvtaps), its NICs are gathered once with nothing differing between the
    definition and the running domain, nothing of it is listed as unmanaged, and every gathered
    argument dict changes nothing."""
    ns, ovs = libvirtd.netns, libvirtd.ovs
    br0, lower, mvt, brvm, brtr, m1, m2 = (unique_ifname(p) for p in ("kvb", "kvl", "kvm", "kvv", "kvt", "kva", "kvc"))
    try:
        ns.ip("link", "add", br0, "type", "bridge")
        ns.ip("link", "set", br0, "up")
        ns.add_veth(lower, unique_ifname("kvp"))
        ns.ip("link", "add", "link", lower, "name", mvt, "type", "macvtap", "mode", "bridge")
        ns.ip("link", "set", mvt, "address", "1a:34:34:34:45:42", "up")
        ns.add_veth(m1, unique_ifname("kvp"))
        ns.add_veth(m2, unique_ifname("kvp"))
        for bridge in (brvm, brtr):
            ovs.vsctl("add-br", bridge, "--", "set", "bridge", bridge, "datapath_type=netdev")
        for port, tag in (("vm10", 10), ("vm20", 20)):
            ovs.vsctl("add-port", brvm, port, "tag=%d" % tag, "--", "set", "interface", port, "type=internal")
        ovs.vsctl("add-bond", brvm, "ovsbond0", m1, m2, "lacp=active")
        ovs.vsctl("set", "port", "ovsbond0", "bond_mode=balance-slb")
        for bridge, port, other in ((brvm, "patch-to-tr", "patch-to-vm"), (brtr, "patch-to-vm", "patch-to-tr")):
            ovs.vsctl("add-port", bridge, port)
            ovs.vsctl("set", "interface", port, "type=patch")
            ovs.vsctl("set", "interface", port, "options:peer=" + other)
        dom = libvirt_domains.define([])
        name = dom.name()
        _virsh(libvirtd, "attach-interface", name, "bridge", br0, "--model", "virtio", "--mac", "52:54:00:30:00:01",
               "--config", "--live")
        for mac, xml in (("52:54:00:30:00:02", "<interface type='bridge'><mac address='%s'/><source bridge='%s'/>"
                          "<virtualport type='openvswitch'/><vlan><tag id='10'/></vlan><model type='virtio'/>"
                          "</interface>" % ("52:54:00:30:00:02", brvm)),
                         ("52:54:00:30:00:03", "<interface type='direct'><mac address='%s'/><source dev='%s' "
                          "mode='bridge'/><model type='virtio'/></interface>" % ("52:54:00:30:00:03", lower))):
            path = tmp_path / (mac.replace(":", "") + ".xml")
            path.write_text(xml)
            _virsh(libvirtd, "attach-device", name, str(path), "--config", "--live")

        info = _gather(run_playbook, True, netns=ns.name, database=ovs.db, timeout=10, uri=libvirtd.uri)
        modules = info["modules"]
        ifaces = [{k: v for k, v in i.items() if k != "uri"} for i in modules["libvirt_iface"] if i["domain"] == name]
        assert ifaces == [
            {"domain": name, "mac": "52:54:00:30:00:01", "type": "bridge", "source": br0, "model": "virtio"},
            {"domain": name, "mac": "52:54:00:30:00:02", "type": "bridge", "source": brvm, "model": "virtio",
             "virtualport": "openvswitch", "vlan": {"tags": [10], "trunk": False}},
            {"domain": name, "mac": "52:54:00:30:00:03", "type": "direct", "source": lower, "source_mode": "bridge",
             "model": "virtio"}]
        assert {"name": br0, "ports": [], "mtu": 1500, "vlan_filtering": False, "netns": ns.name} \
            in modules["linux_bridge"]
        macvtaps = [m for m in modules["macvtap"] if m["link"] == lower]
        assert macvtaps == [{"name": mvt, "link": lower, "mode": "bridge", "mac": "1a:34:34:34:45:42", "mtu": 1500,
                             "admin_state": "up", "netns": ns.name}]  # not the guest's
        bridges = {b["name"]: b for b in modules["ovs_bridge"]}
        assert bridges[brvm]["ports"] == [{"name": "vm10", "type": "internal", "tag": 10},
                                          {"name": "vm20", "type": "internal", "tag": 20}]
        assert bridges[brtr]["ports"] == []
        assert [(b["name"], b["members"], b["bond_mode"], b["lacp"]) for b in modules["ovs_bond"]
                if b["bridge"] == brvm] == [("ovsbond0", sorted([m1, m2]), "balance-slb", "active")]
        first, second = sorted([(brvm, "patch-to-tr"), (brtr, "patch-to-vm")])  # gathered in bridge name order
        assert [(p["bridge"], p["port"], p["peer_bridge"], p["peer_port"], p["link_type"]) for p in modules["ovs_patch"]
                if brvm in (p["bridge"], p["peer_bridge"])] == [first + second + ("patch",)]
        # OVS's own links on its userspace datapath (taps, members without a master) included
        ours = {br0, mvt, brvm, brtr, m1, m2, "vm10", "vm20", "ovs-netdev", name}
        listed = [u for u in info["unmanaged"] if any(n in u["object"] for n in ours)]
        assert listed == [], json.dumps(info["unmanaged"])

        tasks = [{"name": "%s %d" % (module, i), "kvmnet.hypervisor." + module: args}
                 for module, entries in sorted(modules.items()) for i, args in enumerate(entries)]
        before = ovs.vsctl("show")
        res = run_playbook(tasks, diff=True)
        assert res.rc == 0, res.stdout[-3000:]
        assert [(t.name, t.result.get("operations")) for t in res.tasks if t.changed or t.failed] == []
        assert ovs.vsctl("show") == before
    finally:
        for bridge in (brvm, brtr):
            ovs.vsctl("--if-exists", "del-br", bridge)
        for link in (br0, lower, mvt, m1, m2):
            ns.ip("link", "del", link, check=False)


def test_a_host_without_ovs_or_libvirtd(netns, run_playbook, tmp_path):
    netns.add_veth("e0", "e1")
    info = _gather(run_playbook, False, netns=netns.name, database="unix:%s/db.sock" % tmp_path, timeout=2,
                   uri="qemu+unix:///system?socket=%s/libvirt-sock" % tmp_path)
    assert info["state"]["ovs"] is None and info["state"]["libvirt"] is None
    assert [n.split(":")[0] for n in info["notes"]] == ["ovs", "libvirt", "sriov, vfio, irq"]
    assert "db.sock" in info["notes"][0] and "libvirt-sock" in info["notes"][1]
    assert info["modules"] == {}
    assert {n["id"] for n in info["topology"]["nodes"]} == {"if:e0", "if:e1"}
    assert {u["object"] for u in info["unmanaged"]} == {"veth link e0", "veth link e1", "role variables"}


def _gather_playbook(tmp_path, *extra):
    inventory = tmp_path / "inventory" / "hosts.yml"
    inventory.parent.mkdir(exist_ok=True)
    inventory.write_text(yaml.safe_dump({"hypervisors": {"hosts": {"hv1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(REPO / "build" / "src"))
    env["ANSIBLE_COLLECTIONS_PATH"] = os.path.abspath(env["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep)[0])
    extra_vars = {"kvmnet_gather_database": "unix:%s/db.sock" % tmp_path,
                  "kvmnet_gather_uri": "qemu+unix:///system?socket=%s/libvirt-sock" % tmp_path,
                  "kvmnet_gather_pictures": ["mermaid", "svg"] if shutil.which("dot") else ["mermaid"]}
    argv = [ansible_playbook_bin(), "-i", str(inventory), "kvmnet.hypervisor.gather", "-e", json.dumps(extra_vars)]
    return subprocess.run(argv + list(extra), capture_output=True, text=True, env=env, timeout=300, check=False,
                          cwd=str(tmp_path))


def test_gather_playbook(tmp_path):
    checked = _gather_playbook(tmp_path, "--check")
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-2000:]
    host_vars = tmp_path / "inventory" / "host_vars" / "hv1.yml"
    assert not host_vars.exists() and "host_vars of hv1: gathered by kvmnet.hypervisor.gather" in checked.stdout

    done = _gather_playbook(tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    text = host_vars.read_text()
    assert text.startswith("---\n# host_vars of hv1: gathered by kvmnet.hypervisor.gather\n# at 20")
    assert "# Not gathered:\n#   - ovs: not gathered" in text
    assert isinstance(yaml.safe_load(text), dict)
    pictures = tmp_path / "inventory" / "pictures"
    assert (pictures / "hv1.mmd").read_text().startswith("---\ntitle: hv1\n---\nflowchart LR\n")
    if shutil.which("dot"):
        assert "<svg" in (pictures / "hv1.svg").read_text()
