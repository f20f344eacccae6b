# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nic_bond on this machine's real kernel, in throwaway network namespaces, with or without the
bonding driver (the VM tier proves bonds across reboots: extensions/molecule/host_bond).

The kernel modules, running daemons and persisted files are looked up under the resource's
``root``: a host tree under a temporary directory says "no bonding here" or "bonding loaded",
so everything that fails or is planned before a bond exists runs on every kernel. What needs a
real bond runs where the kernel has bonding and is skipped, with its reason, where it has not.
Tested for real:

* without bonding the module fails with a clear Unsupported error naming the kernel module,
  before anything is changed (no bridge, no address moved, no file written);
* bad input, missing members and members enslaved elsewhere fail before anything is changed;
* with bonding: a bond of two veths created, left alone on the second run, its mode changed
  (released, changed, re-enslaved) and deleted again, directly and through a playbook;
* the netlink side of the bridge part (create bridge, attach a port, move the host address and
  the default route to the bridge) on a veth standing in for the bond;
* the MTU steps of the bridge and of a member on veths (the bond's own, and the kernel setting
  its members, are for the VM tier);
* persistence: files planned in check mode (nothing written), written under a temporary root by
  the Resource, unchanged on the next run, removed with state=absent.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    Conflict,
    InvalidInput,
    NotFound,
    Unsupported,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._nic_bond import NicBondResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._sysfs import Sysfs

HOST = Sysfs("/")
RELEASE = HOST.kernel_release()
#: whether this machine's kernel can make a bond (what the tests needing a real bond need)
BONDING = HOST.module_state("bonding") != "absent" or HOST.module_installed("bonding", RELEASE)
needs_bonding = pytest.mark.skipif(not BONDING, reason="kernel %s has no bonding driver (neither loaded nor in "
                                                       "/lib/modules): the VM tier covers real bonds" % RELEASE)


def params(ns, **kw):
    base = dict(name="bond0", state="present", persist="none", netns=ns.name)
    base.update(kw)
    return base


def snapshot(ns):
    """Links (name, kind, master, admin up) and addresses of the namespace, as the kernel reports them."""
    links = {n: (l.get("linkinfo", {}).get("info_kind"), l.get("master"), "UP" in l.get("flags", []))
             for n, l in ns.links().items()}
    addrs = json.loads(ns.ip("-j", "addr", "show") or "[]")
    return links, sorted((a["ifname"], i["local"], i["prefixlen"]) for a in addrs for i in a.get("addr_info", []))


@pytest.fixture
def lab(netns):
    """enp1 (holding the host address 10.77.0.5/24 and the default route) and enp2, both veths."""
    netns.add_veth("enp1", "peer1")
    netns.add_veth("enp2", "peer2")
    netns.add_addr("enp1", "10.77.0.5/24")
    netns.ip("route", "add", "default", "via", "10.77.0.1", "dev", "enp1")
    return netns


def host_tree(root, bonding):
    """A host under ``root`` as the resource reads it: this kernel's release, its modules.dep
    without bonding, and bonding loaded (a /sys/module/bonding) or not; no daemon running."""
    release = root / "proc/sys/kernel/osrelease"
    release.parent.mkdir(parents=True)
    release.write_text(RELEASE + "\n")
    modules = root / "lib/modules" / RELEASE
    modules.mkdir(parents=True)
    (modules / "modules.dep").write_text("kernel/drivers/net/dummy.ko.xz:\nkernel/drivers/net/veth.ko.xz:\n")
    (modules / "modules.builtin").write_text("kernel/net/bridge/bridge.ko\n")
    if bonding:
        (root / "sys/module/bonding").mkdir(parents=True)
        (root / "sys/module/bonding/initstate").write_text("live\n")
    return str(root)


@pytest.fixture
def no_bonding(tmp_path):
    """root= of a host whose kernel has no bonding driver, on any kernel."""
    return host_tree(tmp_path / "nobonding", bonding=False)


@pytest.fixture
def fake_bonding(tmp_path):
    """root= of a host whose kernel says bonding is loaded: lets planning reach the member checks."""
    return host_tree(tmp_path / "bonding", bonding=True)


@pytest.fixture
def bonding_module():
    """The bonding module as a real bond needs it; unloaded again if the test loaded it (loading
    it creates a bond0 of its own in the host namespace)."""
    loaded = HOST.module_state("bonding") == "loaded"
    yield
    if not loaded and HOST.module_state("bonding") == "loaded":
        subprocess.run(["modprobe", "-r", "bonding"], check=True)


def test_without_bonding_unsupported_names_module_and_changes_nothing(lab, no_bonding):
    before = snapshot(lab)
    with pytest.raises(Unsupported) as err:
        execute(NicBondResource(params(lab, members=["enp1", "enp2"], bridge="br1", address="10.77.0.5/24",
                                       gateway="10.77.0.1"), root=no_bonding))
    assert "'bonding' kernel module" in err.value.msg and "bond0" in err.value.msg
    assert "(%s)" % RELEASE in err.value.msg
    assert snapshot(lab) == before


@pytest.mark.parametrize("kw,error,text", [
    ({"mode": "fastest"}, InvalidInput, "mode: 'fastest' is not a bond mode"),
    ({"address": "10.77.0.300/24"}, InvalidInput, "address:"),
    ({"address": "10.77.0.6/24", "gateway": "10.78.0.1"}, InvalidInput, "gateway:"),
    ({"mode": "active-backup", "lacp_rate": "fast"}, InvalidInput, "lacp_rate:"),
    ({"members": ["nosuch0"]}, NotFound, "members: NIC 'nosuch0' does not exist"),
    ({"members": ["enp1", "enp2"], "bridge": "peer1"}, Conflict, "bridge: 'peer1' exists as a veth link"),
])
def test_bad_input_changes_nothing(lab, fake_bonding, kw, error, text):
    before = snapshot(lab)
    with pytest.raises(error, match=text.replace("(", r"\(")):
        execute(NicBondResource(params(lab, **kw), root=fake_bonding))
    assert snapshot(lab) == before


def test_member_enslaved_elsewhere(lab, fake_bonding):
    lab.add_bridge("br0")
    lab.set_master("enp2", "br0")
    before = snapshot(lab)
    with pytest.raises(Conflict, match="enp2 is already enslaved to br0"):
        execute(NicBondResource(params(lab, members=["enp1", "enp2"]), root=fake_bonding))
    assert snapshot(lab) == before


def test_member_refusing_the_mtu_changes_nothing(lab, fake_bonding):
    """The driver's MTU range read from the real kernel (IFLA_MIN_MTU / IFLA_MAX_MTU): a tap
    accepts at most 65521 (65535 less its Ethernet header), so mtu 65535 is refused before
    any step, naming the option, the value and the member."""
    lab.ip("tuntap", "add", "dev", "tp0", "mode", "tap")
    assert json.loads(lab.ip("-d", "-j", "link", "show", "dev", "tp0"))[0]["max_mtu"] == 65521
    before = snapshot(lab)
    with pytest.raises(InvalidInput, match=r"mtu: 65535 is refused by member tp0 \(its driver accepts 68-65521"):
        execute(NicBondResource(params(lab, members=["enp1", "tp0"], mtu=65535), root=fake_bonding))
    assert snapshot(lab) == before
    assert [lab.link(n)["mtu"] for n in ("enp1", "tp0")] == [1500, 1500]


def test_name_of_another_kind_is_never_touched(lab, fake_bonding):
    with pytest.raises(Conflict, match="'enp1' already exists as a veth link"):
        execute(NicBondResource(params(lab, name="enp1"), root=fake_bonding))
    assert lab.link("enp1")["linkinfo"]["info_kind"] == "veth"


def test_bridge_part_and_address_move_on_the_real_kernel(lab):
    """The netlink steps of the plan above the bond, with the veth enp2 standing in for the bond."""
    res = NicBondResource(params(lab, name="enp2", bridge="br1", address="10.77.0.5/24"))
    res.open()
    try:
        res.apply([
            Operation("create_bridge", "br1", stp=False, admin_state="up"),
            Operation("set_master", "enp2", changes={"master": {"before": None, "after": "br1"}}),
            Operation("move_address", "10.77.0.5/24", device="br1", gateway="10.77.0.1", add=True,
                      sources=[{"device": "enp1", "address": "10.77.0.5/24"}]),
        ])
    finally:
        res.close()
    br = lab.link("br1")
    assert br["linkinfo"]["info_kind"] == "bridge" and "UP" in br["flags"]
    assert br["linkinfo"]["info_data"]["stp_state"] == 0
    assert lab.master_of("enp2") == "br1"
    addrs = snapshot(lab)[1]
    assert ("br1", "10.77.0.5", 24) in addrs and ("enp1", "10.77.0.5", 24) not in addrs
    routes = json.loads(lab.ip("-j", "route", "show", "default"))
    assert [(r["gateway"], r["dev"]) for r in routes] == [("10.77.0.1", "br1")]


def test_bridge_and_member_mtu_on_the_real_kernel(lab):
    """The MTU steps beside and above the bond, with the veth enp2 standing in for the bond and
    enp1 for a member: a bridge's MTU set after creation stays when a port with another MTU joins
    (the kernel's auto-adjust only follows an MTU nobody set), and a later change sticks too."""
    def mtus():
        return [lab.link(n)["mtu"] for n in ("br1", "enp2", "enp1")]

    res = NicBondResource(params(lab, name="enp2", bridge="br1", mtu=9000))
    res.open()
    try:
        res.apply([
            Operation("create_bridge", "br1", stp=False, admin_state="up", mtu=9000),
            Operation("set_master", "enp2", changes={"master": {"before": None, "after": "br1"}}),
            Operation("modify_member", "enp1", changes={"mtu": {"before": 1500, "after": 9000}}),
        ])
        assert mtus() == [9000, 1500, 9000]
        res.apply([Operation("modify_bridge", "br1", changes={"mtu": {"before": 9000, "after": 1400}})])
        lab.ip("link", "set", "enp2", "mtu", "1300")  # a port changing: the bridge keeps its MTU
        assert mtus() == [1400, 1300, 9000]
        assert "UP" in lab.link("br1")["flags"]
    finally:
        res.close()


def test_read_back_of_bridge_address_and_route(lab, fake_bonding):
    """read_current finds the address holder and default route the plan moves."""
    res = NicBondResource(params(lab, members=["enp1"], bridge="br1", address="10.77.0.5/24"), root=fake_bonding)
    result = execute(res, check_mode=True)
    assert result["before"]["address"] == {"holders": [{"device": "enp1", "address": "10.77.0.5/24"}]}
    assert result["before"]["default_route"] == {"gateway": "10.77.0.1", "device": "enp1"}
    move = [op for op in result["operations"] if op["action"] == "move_address"]
    assert move and move[0]["gateway"] == "10.77.0.1" and move[0]["device"] == "br1"
    assert [op["action"] for op in result["operations"]] == [
        "create_bond", "add_member", "create_bridge", "set_master", "move_address"]


@pytest.mark.parametrize("stack,path", [
    ("networkd", "etc/systemd/network/30-kvmnet-kvtbond0.netdev"),
    ("nm", "etc/NetworkManager/system-connections/kvmnet-kvtbond0.nmconnection"),
    ("ifcfg", "etc/sysconfig/network-scripts/ifcfg-kvtbond0"),
    ("ifupdown", "etc/network/interfaces.d/kvtbond0"),
])
def test_persistence_check_mode_write_rerun_remove(fake_bonding, stack, path):
    """Files go through the Resource under a temporary root. The links are read in the host
    namespace (files describe the host; persist refuses netns), so the bond has a name no host
    has: only files are ever changed."""
    root = fake_bonding
    kw = dict(name="kvtbond0", state="present", persist=stack, mode="802.3ad", lacp_rate="fast", members=[])

    def resource(**more):
        return NicBondResource(dict(kw, **more), root=root)

    # check mode: the files are planned with their content, nothing is written
    planned = execute(resource(), check_mode=True)
    writes = [op for op in planned["operations"] if op["action"] == "write_file"]
    assert any(op["target"] == "/" + path for op in writes)
    assert not os.path.exists(os.path.join(root, path))
    assert planned["after"]["files"]["/" + path] == next(op["content"] for op in writes if op["target"] == "/" + path)
    # the Resource writes them (atomically) when applying the file operations of the plan
    res = resource()
    res.open()
    try:
        res.apply([Operation(op["action"], op["target"], content=op["content"], mode=op["mode"]) for op in writes])
    finally:
        res.close()
    with open(os.path.join(root, path), encoding="utf-8") as handle:
        assert "802.3ad" in handle.read()
    if stack == "nm":
        assert oct(os.stat(os.path.join(root, path)).st_mode & 0o777) == "0o600"
    again = execute(resource(), check_mode=True)
    assert not [op for op in again["operations"] if op["action"].endswith("_file")]
    # state=absent removes them (for real: there is no bond, so only files change), then is idempotent
    gone = execute(resource(state="absent"))
    assert gone["changed"] and not os.path.exists(os.path.join(root, path))
    assert execute(resource(state="absent"))["changed"] is False


def test_bad_input_through_ansible_playbook(lab, run_playbook):
    before = snapshot(lab)
    result = run_playbook([{"name": "bad mode", "ignore_errors": True,
                            "kvmnet.hypervisor.nic_bond": {"name": "bond0", "mode": "fastest", "netns": lab.name}}],
                          check=False, diff=True)
    bad = result["bad mode"]
    assert bad.failed and "mode: 'fastest' is not a bond mode" in bad.msg
    assert bad["error"] == "invalid_input"
    assert snapshot(lab) == before


@pytest.mark.skipif(BONDING, reason="kernel %s has bonding: the playbook makes a real bond there "
                                    "(test_real_bond_through_ansible_playbook)" % RELEASE)
def test_without_bonding_through_ansible_playbook(lab, run_playbook):
    """The module on this host's own root (/sys/module, /lib/modules): no bonding, no change."""
    before = snapshot(lab)
    task = {"kvmnet.hypervisor.nic_bond": {"name": "bond0", "members": ["enp1", "enp2"], "bridge": "br1",
                                           "netns": lab.name, "persist": "none"}, "ignore_errors": True}
    result = run_playbook([dict(task, name="bond without bonding")], check=False, diff=True)
    unsupported = result["bond without bonding"]
    assert unsupported.failed and "'bonding' kernel module" in unsupported.msg
    assert unsupported["error"] == "unsupported"
    assert snapshot(lab) == before


def bond_mode(ns, name="bond0"):
    link = ns.link(name)
    return link["linkinfo"]["info_data"]["mode"] if link and link["linkinfo"]["info_kind"] == "bond" else None


@needs_bonding
def test_real_bond_created_unchanged_mode_changed_and_deleted(bonding_module, lab):
    want = params(lab, members=["enp1", "enp2"], mode="active-backup", miimon=100)
    first = execute(NicBondResource(want))
    assert [op["action"] for op in first["operations"]] == ["create_bond", "add_member", "add_member"]
    assert bond_mode(lab) == "active-backup" and "UP" in lab.link("bond0")["flags"]
    assert [lab.master_of(n) for n in ("enp1", "enp2")] == ["bond0", "bond0"]
    assert execute(NicBondResource(want))["changed"] is False
    # mode: the kernel changes it only while the bond is down and has no members
    changed = execute(NicBondResource(dict(want, mode="balance-xor")))
    assert [op["action"] for op in changed["operations"]] == ["modify_bond"]
    assert changed["operations"][0]["reenslave"] == ["enp1", "enp2"]
    assert bond_mode(lab) == "balance-xor" and changed["after"]["bond"]["mode"] == "balance-xor"
    assert [lab.master_of(n) for n in ("enp1", "enp2")] == ["bond0", "bond0"]
    gone = execute(NicBondResource(dict(want, state="absent")))
    assert gone["changed"] and not lab.exists("bond0")
    assert [lab.master_of(n) for n in ("enp1", "enp2")] == [None, None]  # released, never deleted
    assert lab.exists("enp1") and lab.exists("enp2")


@needs_bonding
def test_real_bond_through_ansible_playbook(bonding_module, lab, run_playbook):
    bond = {"name": "bond0", "members": ["enp1", "enp2"], "bridge": "br1", "netns": lab.name, "persist": "none"}
    result = run_playbook([{"name": "check", "kvmnet.hypervisor.nic_bond": bond, "check_mode": True},
                           {"name": "bond", "kvmnet.hypervisor.nic_bond": bond},
                           {"name": "again", "kvmnet.hypervisor.nic_bond": bond}], check=False, diff=True)
    # check mode planned exactly what the real run then did
    assert result["check"].changed and result["check"]["operations"] == result["bond"]["operations"]
    assert result["bond"].changed and not result["again"].changed
    assert bond_mode(lab) == "active-backup" and lab.master_of("bond0") == "br1"
    assert [lab.master_of(n) for n in ("enp1", "enp2")] == ["bond0", "bond0"]
