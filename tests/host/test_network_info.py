# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""network_info on a real kernel, a private Open vSwitch and libvirt's test driver.

The round trip: a topology built by hand (ip / ovs-vsctl, as an operator does, not with the
collection) in a network namespace, gathered through ansible-playbook, then every gathered
``modules`` argument dict run through its module: nothing may change. The brownfield VM
scenario's hand-made host as far as this kernel allows (a paused guest with NICs virsh added, OVS
made in the book's steps), down to playbooks/hypervisor.yml in check mode with only the gathered
role variables. Also a host without ovsdb-server or libvirtd (empty sections with a note, no
failure), and playbooks/gather.yml.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from types import SimpleNamespace

import pytest
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


@pytest.fixture
def brownfield(libvirtd, libvirt_domains, tmp_path):
    """The libvirt and OVS half of the brownfield VM scenario's hand-made host
    (extensions/molecule/brownfield/prepare.yml) in the test bed's libvirtd namespace, with its OVS
    (netdev): made with ip / ovs-vsctl / virsh as the book does: a Linux bridge, a macvtap with the
    book's MAC on a veth, OVS access ports in VLAN 10 and 20, an LACP bond, patch ports to a second
    bridge joined in the book's three steps, and a paused domain whose NICs virsh adds persistent and
    live: a tap on the bridge, an OVS port in VLAN 10, a macvtap. Yields the names; removes it all."""
    ns, ovs = libvirtd.netns, libvirtd.ovs
    names = SimpleNamespace(**{k: unique_ifname(p) for k, p in (("br0", "kvb"), ("lower", "kvl"), ("mvt", "kvm"),
                                                                ("brvm", "kvv"), ("brtr", "kvt"), ("m1", "kva"),
                                                                ("m2", "kvc"))})
    try:
        ns.ip("link", "add", names.br0, "type", "bridge")
        ns.ip("link", "set", names.br0, "up")
        ns.add_veth(names.lower, unique_ifname("kvp"))
        ns.ip("link", "add", "link", names.lower, "name", names.mvt, "type", "macvtap", "mode", "bridge")
        ns.ip("link", "set", names.mvt, "address", "1a:34:34:34:45:42", "up")
        ns.add_veth(names.m1, unique_ifname("kvp"))
        ns.add_veth(names.m2, unique_ifname("kvp"))
        for bridge in (names.brvm, names.brtr):
            ovs.vsctl("add-br", bridge, "--", "set", "bridge", bridge, "datapath_type=netdev")
        for port, tag in (("vm10", 10), ("vm20", 20)):
            ovs.vsctl("add-port", names.brvm, port, "tag=%d" % tag, "--", "set", "interface", port, "type=internal")
        ovs.vsctl("add-bond", names.brvm, "ovsbond0", names.m1, names.m2, "lacp=active")
        ovs.vsctl("set", "port", "ovsbond0", "bond_mode=balance-slb")
        for bridge, port, other in ((names.brvm, "patch-to-tr", "patch-to-vm"),
                                    (names.brtr, "patch-to-vm", "patch-to-tr")):
            ovs.vsctl("add-port", bridge, port)
            ovs.vsctl("set", "interface", port, "type=patch")
            ovs.vsctl("set", "interface", port, "options:peer=" + other)
        names.domain = libvirt_domains.define([]).name()
        _virsh(libvirtd, "attach-interface", names.domain, "bridge", names.br0, "--model", "virtio",
               "--mac", "52:54:00:30:00:01", "--config", "--live")
        for mac, xml in (("52:54:00:30:00:02", "<interface type='bridge'><mac address='%s'/><source bridge='%s'/>"
                          "<virtualport type='openvswitch'/><vlan><tag id='10'/></vlan><model type='virtio'/>"
                          "</interface>" % ("52:54:00:30:00:02", names.brvm)),
                         ("52:54:00:30:00:03", "<interface type='direct'><mac address='%s'/><source dev='%s' "
                          "mode='bridge'/><model type='virtio'/></interface>" % ("52:54:00:30:00:03", names.lower))):
            path = tmp_path / (mac.replace(":", "") + ".xml")
            path.write_text(xml)
            _virsh(libvirtd, "attach-device", names.domain, str(path), "--config", "--live")
        yield names
    finally:
        for bridge in (names.brvm, names.brtr):
            ovs.vsctl("--if-exists", "del-br", bridge)
        for link in (names.br0, names.lower, names.mvt, names.m1, names.m2):
            ns.ip("link", "del", link, check=False)


def _guest_ifaces(name, brvm, br0, lower):
    """The gathered interfaces of the brownfield guest (libvirt_iface arguments)."""
    return [{"domain": name, "mac": "52:54:00:30:00:01", "type": "bridge", "source": br0, "model": "virtio"},
            {"domain": name, "mac": "52:54:00:30:00:02", "type": "bridge", "source": brvm, "model": "virtio",
             "virtualport": "openvswitch", "vlan": {"tags": [10], "trunk": False}},
            {"domain": name, "mac": "52:54:00:30:00:03", "type": "direct", "source": lower, "source_mode": "bridge",
             "model": "virtio"}]


def test_hand_made_brownfield_guest(libvirtd, brownfield, run_playbook):
    """The guest's devices are the guest's (not bridge or OVS ports, not host macvtaps), its NICs
    are gathered once with nothing differing between the definition and the running domain,
    nothing of the hand-made objects is listed as unmanaged, and every gathered argument dict
    changes nothing."""
    ns, ovs, bf = libvirtd.netns, libvirtd.ovs, brownfield
    info = _gather(run_playbook, True, netns=ns.name, database=ovs.db, timeout=10, uri=libvirtd.uri)
    modules = info["modules"]
    ifaces = [{k: v for k, v in i.items() if k != "uri"} for i in modules["libvirt_iface"] if i["domain"] == bf.domain]
    assert ifaces == _guest_ifaces(bf.domain, bf.brvm, bf.br0, bf.lower)
    assert {"name": bf.br0, "ports": [], "mtu": 1500, "vlan_filtering": False, "netns": ns.name} \
        in modules["linux_bridge"]
    macvtaps = [m for m in modules["macvtap"] if m["link"] == bf.lower]
    assert macvtaps == [{"name": bf.mvt, "link": bf.lower, "mode": "bridge", "mac": "1a:34:34:34:45:42", "mtu": 1500,
                         "admin_state": "up", "netns": ns.name}]  # not the guest's
    bridges = {b["name"]: b for b in modules["ovs_bridge"]}
    assert bridges[bf.brvm]["ports"] == [{"name": "vm10", "type": "internal", "tag": 10},
                                         {"name": "vm20", "type": "internal", "tag": 20}]
    assert bridges[bf.brtr]["ports"] == []
    assert [(b["name"], b["members"], b["bond_mode"], b["lacp"]) for b in modules["ovs_bond"]
            if b["bridge"] == bf.brvm] == [("ovsbond0", sorted([bf.m1, bf.m2]), "balance-slb", "active")]
    first, second = sorted([(bf.brvm, "patch-to-tr"), (bf.brtr, "patch-to-vm")])  # gathered in bridge name order
    assert [(p["bridge"], p["port"], p["peer_bridge"], p["peer_port"], p["link_type"]) for p in modules["ovs_patch"]
            if bf.brvm in (p["bridge"], p["peer_bridge"])] == [first + second + ("patch",)]
    # OVS's own links on its userspace datapath (taps, members without a master) included
    ours = {bf.br0, bf.mvt, bf.brvm, bf.brtr, bf.m1, bf.m2, "vm10", "vm20", "ovs-netdev", bf.domain}
    listed = [u for u in info["unmanaged"] if any(n in u["object"] for n in ours)]
    assert listed == [], json.dumps(info["unmanaged"])

    tasks = [{"name": "%s %d" % (module, i), "kvmnet.hypervisor." + module: args}
             for module, entries in sorted(modules.items()) for i, args in enumerate(entries)]
    before = ovs.vsctl("show")
    res = run_playbook(tasks, diff=True)
    assert res.rc == 0, res.stdout[-3000:]
    assert [(t.name, t.result.get("operations")) for t in res.tasks if t.changed or t.failed] == []
    assert ovs.vsctl("show") == before


def _ansible_in_netns(ns, tmp_path, *args):
    """ansible-playbook inside network namespace ``ns`` (ip netns exec: its links, and its sysfs,
    are what the modules see as the host's)."""
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(REPO / "build" / "src"))
    env["ANSIBLE_COLLECTIONS_PATH"] = os.path.abspath(env["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep)[0])
    env.update({"ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0", "ANSIBLE_CONFIG": str(tmp_path / "none.cfg"),
                "ANSIBLE_STDOUT_CALLBACK": "default"})
    return subprocess.run(ns.exec_prefix() + [ansible_playbook_bin(), *args], capture_output=True, text=True,
                          env=env, timeout=600, check=False, cwd=str(tmp_path))


def test_hand_made_brownfield_playbook_round_trip(libvirtd, brownfield, tmp_path):
    """The VM scenario's round trip at the level of the roles, as far as this kernel allows (no
    bonding, SR-IOV or vhost-net here): inside the test bed's namespace network_info gathers the
    role variables (it gives them for the host's namespace only), and playbooks/hypervisor.yml in
    check mode with those variables changes nothing. The play also gets what the test bed differs
    in from a hypervisor: its OVS and Python libraries are not the distribution's service and
    packages, and no checkpoint (as extensions/molecule/shared/tasks/roundtrip.yml)."""
    ns, bf = libvirtd.netns, brownfield
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"hypervisors": {"hosts": {"hv1": {
        "ansible_connection": "local", "ansible_become": False, "ansible_python_interpreter": sys.executable}}}}))
    gathered = tmp_path / "vars.json"
    gather = tmp_path / "gather.yml"
    gather.write_text(yaml.safe_dump([{"name": "Gather", "hosts": "hypervisors", "gather_facts": False, "tasks": [
        {"name": "network_info", "kvmnet.hypervisor.network_info": {"database": libvirtd.ovs.db, "uri": libvirtd.uri},
         "register": "info"},
        {"name": "vars", "ansible.builtin.copy": {"content": "{{ info.vars | to_json }}", "dest": str(gathered),
                                                  "mode": "0600"}}]}]))
    proc = _ansible_in_netns(ns, tmp_path, "-i", str(inventory), str(gather))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    found = json.loads(gathered.read_text())
    assert (found["linux_bridge_name"], found["linux_bridge_ports"]) == (bf.br0, [])
    assert found["macvtap_links"] == [{"name": bf.mvt, "link": bf.lower, "mode": "bridge",
                                       "mac": "1a:34:34:34:45:42", "mtu": 1500, "admin_state": "up"}]
    assert (found["ovs_vlan_bridge"], found["ovs_bond_name"], found["ovs_interconnect_link_type"]) == \
        (bf.brvm, "ovsbond0", "patch")
    assert found["ovs_vlan_database"] == libvirtd.ovs.db
    assert [{k: v for k, v in i.items() if k != "uri"} for i in found["kvmnet_domain_interfaces"]
            if i["domain"] == bf.domain] == _guest_ifaces(bf.domain, bf.brvm, bf.br0, bf.lower)

    testbed = {"kvmnet_checkpoint": False, "linux_bridge_install_packages": False, "macvtap_install_packages": False}
    testbed.update({"%s_%s" % (role, key): False for role in ("ovs_vlan", "ovs_bond", "ovs_interconnect")
                    for key in ("install_packages", "manage_service")})
    before = libvirtd.ovs.vsctl("show")
    proc = _ansible_in_netns(ns, tmp_path, "--check", "-i", str(inventory), "-e", "@%s" % gathered,
                             "-e", json.dumps(testbed), str(REPO / "playbooks" / "hypervisor.yml"))
    recap = proc.stdout[proc.stdout.rfind("PLAY RECAP"):]
    assert proc.returncode == 0 and "changed=0" in recap and "failed=0" in recap, \
        proc.stdout[-6000:] + proc.stderr[-2000:]
    for role in ("linux_bridge", "macvtap", "ovs_vlan", "ovs_bond", "ovs_interconnect"):
        assert "kvmnet.hypervisor.%s :" % role in proc.stdout  # the role ran
    assert libvirtd.ovs.vsctl("show") == before


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
