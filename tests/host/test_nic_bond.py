# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nic_bond on this machine's real kernel, which has NO bonding driver (the VM tier proves bonds:
extensions/molecule/host_bond). What is tested here for real, in throwaway network namespaces:

* without bonding the module fails with a clear Unsupported error naming the kernel module,
  before anything is changed (no bridge, no address moved, no file written);
* bad input, missing members and members enslaved elsewhere fail before anything is changed;
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

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    Conflict,
    InvalidInput,
    NotFound,
    Unsupported,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._nic_bond import NicBondResource, bonding_available

pytestmark = pytest.mark.skipif(
    bonding_available(), reason="this kernel has bonding: these tests cover a kernel without it "
                                "(the VM tier covers real bonds)")


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


@pytest.fixture
def fake_bonding(tmp_path):
    """A /sys/module look-alike that says bonding is loaded: lets planning reach the member checks."""
    (tmp_path / "sysmod" / "bonding").mkdir(parents=True)
    return str(tmp_path / "sysmod")


def test_without_bonding_unsupported_names_module_and_changes_nothing(lab, tmp_path):
    before = snapshot(lab)
    with pytest.raises(Unsupported) as err:
        execute(NicBondResource(params(lab, members=["enp1", "enp2"], bridge="br1", address="10.77.0.5/24",
                                       gateway="10.77.0.1")))
    assert "'bonding' kernel module" in err.value.msg and "bond0" in err.value.msg
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
        execute(NicBondResource(params(lab, sys_module=fake_bonding, **kw)))
    assert snapshot(lab) == before


def test_member_enslaved_elsewhere(lab, fake_bonding):
    lab.add_bridge("br0")
    lab.set_master("enp2", "br0")
    before = snapshot(lab)
    with pytest.raises(Conflict, match="enp2 is already enslaved to br0"):
        execute(NicBondResource(params(lab, members=["enp1", "enp2"], sys_module=fake_bonding)))
    assert snapshot(lab) == before


def test_member_refusing_the_mtu_changes_nothing(lab, fake_bonding):
    """The driver's MTU range read from the real kernel (IFLA_MIN_MTU / IFLA_MAX_MTU): a tap
    accepts at most 65521 (65535 less its Ethernet header), so mtu 65535 is refused before
    any step, naming the option, the value and the member."""
    lab.ip("tuntap", "add", "dev", "tp0", "mode", "tap")
    assert json.loads(lab.ip("-d", "-j", "link", "show", "dev", "tp0"))[0]["max_mtu"] == 65521
    before = snapshot(lab)
    with pytest.raises(InvalidInput, match=r"mtu: 65535 is refused by member tp0 \(its driver accepts 68-65521"):
        execute(NicBondResource(params(lab, members=["enp1", "tp0"], mtu=65535, sys_module=fake_bonding)))
    assert snapshot(lab) == before
    assert [lab.link(n)["mtu"] for n in ("enp1", "tp0")] == [1500, 1500]


def test_name_of_another_kind_is_never_touched(lab, fake_bonding):
    with pytest.raises(Conflict, match="'enp1' already exists as a veth link"):
        execute(NicBondResource(params(lab, name="enp1", sys_module=fake_bonding)))
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
    res = NicBondResource(params(lab, members=["enp1"], bridge="br1", address="10.77.0.5/24",
                                 sys_module=fake_bonding))
    result = execute(res, check_mode=True)
    assert result["before"]["address"] == {"holders": [{"device": "enp1", "address": "10.77.0.5/24"}]}
    assert result["before"]["default_route"] == {"gateway": "10.77.0.1", "device": "enp1"}
    move = [op for op in result["operations"] if op["action"] == "move_address"]
    assert move and move[0]["gateway"] == "10.77.0.1" and move[0]["device"] == "br1"
    assert [op["action"] for op in result["operations"]] == [
        "create_bond", "add_member", "create_bridge", "set_master", "move_address"]


@pytest.mark.parametrize("stack,path", [
    ("networkd", "etc/systemd/network/30-kvmnet-bond0.netdev"),
    ("nm", "etc/NetworkManager/system-connections/kvmnet-bond0.nmconnection"),
    ("ifcfg", "etc/sysconfig/network-scripts/ifcfg-bond0"),
    ("ifupdown", "etc/network/interfaces.d/bond0"),
])
def test_persistence_check_mode_write_rerun_remove(netns, tmp_path, stack, path):
    """Files go through the Resource under a temporary root (no netns: files describe the host)."""
    netns.add_veth("enp1", "peer1")
    root = str(tmp_path)
    kw = dict(name="bond0", state="present", persist=stack, persist_root=root, proc_root=str(tmp_path / "noproc"),
              sys_module=str(tmp_path / "sysmod"), mode="802.3ad", lacp_rate="fast", members=["enp1"])
    os.makedirs(os.path.join(root, "sysmod", "bonding"))
    # check mode: the files are planned with their content, nothing is written
    planned = execute(NicBondResource(dict(kw, netns=None, members=[])), check_mode=True)
    writes = [op for op in planned["operations"] if op["action"] == "write_file"]
    assert any(op["target"] == "/" + path for op in writes)
    assert not os.path.exists(os.path.join(root, path))
    assert planned["after"]["files"]["/" + path] == next(op["content"] for op in writes if op["target"] == "/" + path)
    # the Resource writes them (atomically) when applying the file operations of the plan
    res = NicBondResource(dict(kw, netns=None, members=[]))
    res.open()
    try:
        res.apply([Operation(op["action"], op["target"], content=op["content"], mode=op["mode"]) for op in writes])
    finally:
        res.close()
    with open(os.path.join(root, path), encoding="utf-8") as handle:
        assert "802.3ad" in handle.read()
    if stack == "nm":
        assert oct(os.stat(os.path.join(root, path)).st_mode & 0o777) == "0o600"
    again = execute(NicBondResource(dict(kw, netns=None, members=[])), check_mode=True)
    assert not [op for op in again["operations"] if op["action"].endswith("_file")]
    # state=absent removes them (for real: there is no bond, so only files change), then is idempotent
    gone = execute(NicBondResource(dict(kw, netns=None, members=[], state="absent")))
    assert gone["changed"] and not os.path.exists(os.path.join(root, path))
    assert execute(NicBondResource(dict(kw, netns=None, members=[], state="absent")))["changed"] is False


def test_through_ansible_playbook(lab, run_playbook):
    before = snapshot(lab)
    task = {"kvmnet.hypervisor.nic_bond": {"name": "bond0", "members": ["enp1", "enp2"], "bridge": "br1",
                                           "netns": lab.name, "persist": "none"}, "ignore_errors": True}
    result = run_playbook([dict(task, name="bond without bonding"),
                           {"name": "bad mode", "ignore_errors": True,
                            "kvmnet.hypervisor.nic_bond": {"name": "bond0", "mode": "fastest", "netns": lab.name}}],
                          check=False, diff=True)
    unsupported, bad = result["bond without bonding"], result["bad mode"]
    assert unsupported.failed and "'bonding' kernel module" in unsupported.msg
    assert unsupported["error"] == "unsupported"
    assert bad.failed and "mode: 'fastest' is not a bond mode" in bad.msg
    assert snapshot(lab) == before
