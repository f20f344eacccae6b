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
    assert bridge == {"name": "brx", "ports": ["vx0"], "mtu": 1500, "netns": ovs.netns.name}  # not the tap
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
