# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning of nic_bond: exact operations for the cases that matter (pure, no kernel)."""

from __future__ import annotations

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _nic_bond as nb
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict, InvalidInput, NotFound
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._persist_net import RELOAD_COMMANDS


def params(**kw):
    base = {"name": "bond0", "state": "present", "persist": "none"}
    base.update(kw)
    return base


def desired(**kw):
    return nb.normalize_params(params(**kw))


def bond_state(**kw):
    state = dict(nb.CREATE_DEFAULTS, members=["eth1", "eth2"], master=None, admin_state="up")
    state.update(kw)
    return state


def current(bond=None, links=None, bridge=None, address=None, route=None, persist="none", files=None, reload=False):
    return {"name": "bond0", "kind": "bond" if bond else None, "bond": bond, "links": links or {},
            "bridge": bridge, "address": address, "default_route": route, "persist": persist,
            "files": files or {}, "reload": reload}


FREE = {"kind": None, "master": None}


# -- normalize -------------------------------------------------------------------------------
@pytest.mark.parametrize("mode,expected", [(1, "active-backup"), ("4", "802.3ad"), ("802.3AD", "802.3ad"),
                                           ("balance-alb", "balance-alb"), (0, "balance-rr")])
def test_mode_by_name_or_number(mode, expected):
    assert desired(mode=mode)["mode"] == expected


@pytest.mark.parametrize("kw,option", [
    ({"mode": "fastest"}, "mode"),
    ({"mode": 7}, "mode"),
    ({"address": "192.168.20.300/24"}, "address"),
    ({"address": "192.168.20.200"}, "address"),
    ({"address": "10.0.0.1/24", "gateway": "10.0.1.1"}, "gateway"),
    ({"gateway": "10.0.0.1"}, "gateway"),
    ({"miimon": 100, "arp_interval": 200, "arp_ip_target": ["10.0.0.1"]}, "arp_interval"),
    ({"arp_ip_target": ["10.0.0.300"]}, "arp_ip_target"),
    ({"members": ["eth1", "eth1"]}, "members"),
    ({"members": ["bond0"]}, "members"),
    ({"members": ["eth1"], "bridge": "eth1"}, "bridge"),
    ({"members": ["this-name-is-far-too-long"]}, "members"),
    ({"miimon": -1}, "miimon"),
    ({"persist": "netplan"}, "persist"),
    ({"persist": "networkd", "netns": "x"}, "persist"),
])
def test_bad_input_names_option(kw, option):
    with pytest.raises(InvalidInput) as err:
        desired(**kw)
    assert err.value.option == option


@pytest.mark.parametrize("kw,option", [
    ({"mode": "active-backup", "lacp_rate": "fast"}, "lacp_rate"),
    ({"mode": "802.3ad", "primary": "eth1", "members": ["eth1"]}, "primary"),
    ({"mode": "802.3ad", "arp_interval": 100, "miimon": 0, "arp_ip_target": ["10.0.0.1"]}, "arp_interval"),
    ({"updelay": 150}, "updelay"),
    ({"miimon": 0, "downdelay": 200}, "downdelay"),
    ({"primary": "eth9", "members": ["eth1"]}, "primary"),
])
def test_mode_rules_checked_before_anything(kw, option):
    with pytest.raises(InvalidInput) as err:
        nb.plan_nic_bond(current(links={"eth1": FREE}), desired(**kw))
    assert err.value.option == option


# -- plans -----------------------------------------------------------------------------------
def test_create_book_bond_under_bridge_moving_host_address():
    """The book: bond0 (mode 1, miimon 100) of two NICs under br1; the host IP sat on enp4s0f0."""
    want = desired(mode=1, miimon=100, members=["enp4s0f0", "enp4s0f1"], bridge="br1",
                   address="192.168.20.200/24", gateway="192.168.20.1")
    cur = current(links={"enp4s0f0": FREE, "enp4s0f1": FREE},
                  address={"holders": [{"device": "enp4s0f0", "address": "192.168.20.200/24"}]},
                  route={"gateway": "192.168.20.1", "device": "enp4s0f0"})
    ops = nb.plan_nic_bond(cur, want)
    assert ops == [
        Operation("create_bond", "bond0", mode="active-backup", miimon=100, updelay=0, downdelay=0, lacp_rate="slow",
                  xmit_hash_policy="layer2", ad_select="stable", primary=None, arp_interval=0, arp_ip_target=[]),
        Operation("add_member", "enp4s0f0", changes={"master": {"before": None, "after": "bond0"}}),
        Operation("add_member", "enp4s0f1", changes={"master": {"before": None, "after": "bond0"}}),
        Operation("create_bridge", "br1", stp=False, admin_state="up"),
        Operation("set_master", "bond0", changes={"master": {"before": None, "after": "br1"}}),
        Operation("move_address", "192.168.20.200/24",
                  changes={"device": {"before": ["enp4s0f0"], "after": "br1"}}, device="br1",
                  sources=[{"device": "enp4s0f0", "address": "192.168.20.200/24"}], gateway="192.168.20.1",
                  risk=nb.RISK_MOVE % "enp4s0f0", add=True),
    ]


def test_move_keeps_default_route_without_gateway_option():
    want = desired(members=["eth1"], bridge="br1", address="10.0.0.5/24")
    cur = current(bond=bond_state(members=["eth1"], master="br1"),
                  bridge={"name": "br1", "kind": "bridge", "admin_state": "up"},
                  address={"holders": [{"device": "eth9", "address": "10.0.0.5/16"}]},
                  route={"gateway": "10.0.0.1", "device": "eth9"})
    ops = nb.plan_nic_bond(cur, want)
    assert [op.action for op in ops] == ["move_address"]
    assert ops[0].params["gateway"] == "10.0.0.1"


def test_converged_is_empty():
    want = desired(mode="active-backup", miimon=100, members=["eth1", "eth2"], bridge="br1",
                   address="10.0.0.5/24", gateway="10.0.0.1")
    cur = current(bond=bond_state(master="br1"), links={"eth1": {"kind": None, "master": "bond0"},
                                                        "eth2": {"kind": None, "master": "bond0"}},
                  bridge={"name": "br1", "kind": "bridge", "admin_state": "up"},
                  address={"holders": [{"device": "br1", "address": "10.0.0.5/24"}]},
                  route={"gateway": "10.0.0.1", "device": "br1"})
    assert nb.plan_nic_bond(cur, want) == []


def test_mode_change_on_existing_bond_releases_and_reenslaves():
    want = desired(mode="802.3ad", lacp_rate="fast", members=["eth1", "eth2"])
    cur = current(bond=bond_state(), links={"eth1": {"kind": None, "master": "bond0"},
                                            "eth2": {"kind": None, "master": "bond0"}})
    ops = nb.plan_nic_bond(cur, want)
    assert ops == [Operation(
        "modify_bond", "bond0",
        changes={"mode": {"before": "active-backup", "after": "802.3ad"},
                 "lacp_rate": {"before": "slow", "after": "fast"}},
        set_down=True, reenslave=["eth1", "eth2"],
        note="the kernel changes mode, lacp_rate only while the bond is down and has no members: "
             "traffic through bond0 stops briefly")]


def test_mode_change_with_member_swap():
    want = desired(mode=4, members=["eth2", "eth3"])
    cur = current(bond=bond_state(), links={"eth2": {"kind": None, "master": "bond0"}, "eth3": FREE})
    ops = nb.plan_nic_bond(cur, want)
    assert [(op.action, op.target) for op in ops] == [
        ("remove_member", "eth1"), ("modify_bond", "bond0"), ("add_member", "eth3")]
    assert ops[1].params["reenslave"] == ["eth2"]


def test_runtime_option_change_needs_no_downtime():
    want = desired(miimon=200, updelay=400)
    ops = nb.plan_nic_bond(current(bond=bond_state()), want)
    changes = {"miimon": {"before": 100, "after": 200}, "updelay": {"before": 0, "after": 400}}
    assert ops == [Operation("modify_bond", "bond0", changes=changes)]


def test_member_added_and_removed():
    want = desired(members=["eth2", "eth3"])
    cur = current(bond=bond_state(), links={"eth2": {"kind": None, "master": "bond0"}, "eth3": FREE})
    assert nb.plan_nic_bond(cur, want) == [
        Operation("remove_member", "eth1", changes={"master": {"before": "bond0", "after": None}}),
        Operation("add_member", "eth3", changes={"master": {"before": None, "after": "bond0"}}),
    ]


def test_members_not_given_are_left_alone():
    assert nb.plan_nic_bond(current(bond=bond_state()), desired(mode=1)) == []


def test_member_missing_or_enslaved_elsewhere():
    with pytest.raises(NotFound, match="members: NIC 'eth7' does not exist"):
        nb.plan_nic_bond(current(links={"eth7": None}), desired(members=["eth7"]))
    with pytest.raises(Conflict, match="eth1 is already enslaved to br0"):
        nb.plan_nic_bond(current(links={"eth1": {"kind": None, "master": "br0"}}), desired(members=["eth1"]))
    with pytest.raises(InvalidInput, match="is a bridge"):
        nb.plan_nic_bond(current(links={"br0": {"kind": "bridge", "master": None}}), desired(members=["br0"]))


def test_name_taken_by_other_kind():
    cur = current()
    cur["kind"] = "veth"
    with pytest.raises(Conflict, match="as a veth link"):
        nb.plan_nic_bond(cur, desired())


def test_bridge_name_taken_by_other_kind():
    with pytest.raises(Conflict, match="not a Linux bridge"):
        nb.plan_nic_bond(current(bond=bond_state(), bridge={"name": "br1", "kind": "veth", "admin_state": "up"}),
                         desired(bridge="br1"))


def test_absent():
    cur = current(bond=bond_state(master="br1"), bridge={"name": "br1", "kind": "bridge", "admin_state": "up"})
    assert nb.plan_nic_bond(cur, desired(state="absent")) == [
        Operation("delete_bond", "bond0", members=["eth1", "eth2"])]
    assert nb.plan_nic_bond(cur, desired(state="absent", bridge="br1"))[-1] == Operation("delete_bridge", "br1")
    assert nb.plan_nic_bond(current(), desired(state="absent")) == []


def test_persist_writes_files_then_reloads_once():
    want = desired(mode=1, members=["eth1", "eth2"], persist="networkd")
    cur = current(bond=bond_state(), persist="networkd", reload=True,
                  links={"eth1": {"kind": None, "master": "bond0"}, "eth2": {"kind": None, "master": "bond0"}})
    ops = nb.plan_nic_bond(cur, want)
    assert [op.action for op in ops] == ["write_file"] * 4 + ["reload"]
    assert ops[-1] == Operation("reload", "networkd", command=RELOAD_COMMANDS["networkd"])
    converged = dict(cur, files={op.target: op.params["content"] for op in ops[:-1]})
    assert nb.plan_nic_bond(converged, want) == []


def test_persist_nm_files_are_private():
    want = desired(members=["eth1"], persist="nm")
    cur = current(bond=bond_state(members=["eth1"]), persist="nm", links={"eth1": {"kind": None, "master": "bond0"}})
    ops = nb.plan_nic_bond(cur, want)
    assert {op.params["mode"] for op in ops} == {"0600"}
    assert not any(op.action == "reload" for op in ops)  # NetworkManager not running


def test_persist_absent_removes_files_but_keeps_interfaces():
    files = {"/etc/network/interfaces.d/bond0": "x", "/etc/network/interfaces": "source ..."}
    ops = nb.plan_nic_bond(current(persist="ifupdown", files=files), desired(state="absent", persist="ifupdown"))
    assert ops == [Operation("remove_file", "/etc/network/interfaces.d/bond0")]


def test_file_paths_include_released_members():
    paths = nb.file_paths("ifcfg", desired(members=["eth2"], bridge="br1"), ["eth1"])
    assert paths == ["/etc/sysconfig/network-scripts/ifcfg-bond0", "/etc/sysconfig/network-scripts/ifcfg-eth1",
                     "/etc/sysconfig/network-scripts/ifcfg-eth2", "/etc/sysconfig/network-scripts/ifcfg-br1"]


def test_encode_decode_round_trip():
    fields = {"mode": "802.3ad", "miimon": 100, "updelay": 200, "downdelay": 0, "lacp_rate": "fast",
              "xmit_hash_policy": "layer3+4", "ad_select": "count", "primary": "eth1", "arp_interval": 0,
              "arp_ip_target": ["10.0.0.2", "10.0.0.10"]}
    raw = nb._encode_bond(fields, {"eth1": 7}.get)
    raw = dict(raw, ad_lacp_rate=raw["ad_lacp_rate"])
    assert nb._decode_bond(raw, {7: "eth1"}.get) == fields


def test_bonding_available(tmp_path):
    assert not nb.bonding_available(str(tmp_path / "lib"), str(tmp_path / "sys"))
    (tmp_path / "sys" / "bonding").mkdir(parents=True)
    assert nb.bonding_available(str(tmp_path / "lib"), str(tmp_path / "sys"))
