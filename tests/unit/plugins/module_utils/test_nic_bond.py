# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nic_bond: exact operations for the cases that matter (pure planning), and the resource on a
model of the kernel's rules with a host tree under ``root``."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _command, _files, _netlink
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _nic_bond as nb
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _nic_bond_nm as nbnm
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _nic_bond_plan as nbp
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _nic_bond_restore as nbr
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _persist_bond as pb
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _persist_nm as nmp
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    ApplyFailed,
    Conflict,
    InvalidInput,
    NotFound,
    Unsupported,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._persist_net import RELOAD_COMMANDS
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._persist_nm import (
    MODPROBE as NM_MODPROBE,
    MODPROBE_CONTENT as NM_MODPROBE_CONTENT,
)


def params(**kw):
    base = {"name": "bond0", "state": "present", "persist": "none"}
    base.update(kw)
    return base


def desired(**kw):
    return nb.normalize_params(params(**kw))


def bond_state(**kw):
    state = dict(nbp.CREATE_DEFAULTS, members=["eth1", "eth2"], master=None, admin_state="up")
    state.update(kw)
    return state


def current(bond=None, links=None, bridge=None, address=None, route=None, persist="none", files=None, reload=False):
    return {"name": "bond0", "kind": "bond" if bond else None, "bond": bond, "links": links or {},
            "bridge": bridge, "address": address, "default_route": route, "persist": persist,
            "files": files or {}, "reload": reload}


FREE = {"kind": None, "master": None}
#: the steps of a mode change on a bond of eth1 + eth2 (the kernel changes it while down, without members)
MODE_STEPS = ["bond_down", "release_member", "release_member", "modify_bond", "reenslave_member", "reenslave_member",
              "bond_up"]


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
    ({"miimon": 2 ** 32}, "miimon"),
    ({"miimon": 2 ** 31}, "miimon"),
    ({"updelay": 2 ** 32}, "updelay"),
    ({"downdelay": 2 ** 70}, "downdelay"),
    ({"arp_interval": 2 ** 31, "arp_ip_target": ["10.0.0.1"], "miimon": 0}, "arp_interval"),
    ({"persist": "netplan"}, "persist"),
    ({"persist": "networkd", "netns": "x"}, "persist"),
    ({"mtu": 67}, "mtu"),
    ({"mtu": 65536}, "mtu"),
    ({"mtu": 0}, "mtu"),
    ({"mtu": True}, "mtu"),
    ({"mtu": "jumbo"}, "mtu"),
])
def test_bad_input_names_option(kw, option):
    with pytest.raises(InvalidInput) as err:
        desired(**kw)
    assert err.value.option == option


@pytest.mark.parametrize("value", [67, 65536, -1])
def test_mtu_out_of_range_names_option_and_value(value):
    with pytest.raises(InvalidInput, match=r"^mtu: %d is out of range \(68-65535\)$" % value):
        desired(mtu=value)


@pytest.mark.parametrize("value", [68, 1500, 9000, 65535])
def test_mtu_in_range(value):
    assert desired(mtu=value)["mtu"] == value
    assert desired()["mtu"] is None


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
        nbp.plan_nic_bond(current(links={"eth1": FREE}), desired(**kw))
    assert err.value.option == option


# -- plans -----------------------------------------------------------------------------------
def test_create_book_bond_under_bridge_moving_host_address():
    """The book: bond0 (mode 1, miimon 100) of two NICs under br1; the host IP sat on enp4s0f0."""
    want = desired(mode=1, miimon=100, members=["enp4s0f0", "enp4s0f1"], bridge="br1",
                   address="192.168.20.200/24", gateway="192.168.20.1")
    cur = current(links={"enp4s0f0": FREE, "enp4s0f1": FREE},
                  address={"holders": [{"device": "enp4s0f0", "address": "192.168.20.200/24"}]},
                  route={"gateway": "192.168.20.1", "device": "enp4s0f0"})
    ops = nbp.plan_nic_bond(cur, want)
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
                  risk=nbp.RISK_MOVE % "enp4s0f0", add=True),
    ]


def test_move_keeps_default_route_without_gateway_option():
    want = desired(members=["eth1"], bridge="br1", address="10.0.0.5/24")
    cur = current(bond=bond_state(members=["eth1"], master="br1"),
                  bridge={"name": "br1", "kind": "bridge", "admin_state": "up"},
                  address={"holders": [{"device": "eth9", "address": "10.0.0.5/16"}]},
                  route={"gateway": "10.0.0.1", "device": "eth9"})
    ops = nbp.plan_nic_bond(cur, want)
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
    assert nbp.plan_nic_bond(cur, want) == []


def test_mode_change_on_existing_bond_releases_and_reenslaves():
    want = desired(mode="802.3ad", lacp_rate="fast", members=["eth1", "eth2"])
    cur = current(bond=bond_state(), links={"eth1": {"kind": None, "master": "bond0"},
                                            "eth2": {"kind": None, "master": "bond0"}})
    ops = nbp.plan_nic_bond(cur, want)
    released = {"master": {"before": "bond0", "after": None}}
    enslaved = {"master": {"before": None, "after": "bond0"}}
    assert ops == [
        Operation("bond_down", "bond0", changes={"admin_state": {"before": "up", "after": "down"}},
                  note="the kernel changes mode, lacp_rate only while the bond is down and has no members: "
                       "traffic through bond0 stops briefly"),
        Operation("release_member", "eth1", changes=released),
        Operation("release_member", "eth2", changes=released),
        Operation("modify_bond", "bond0", changes={"mode": {"before": "active-backup", "after": "802.3ad"},
                                                   "lacp_rate": {"before": "slow", "after": "fast"}}),
        Operation("reenslave_member", "eth1", changes=enslaved),
        Operation("reenslave_member", "eth2", changes=enslaved),
        Operation("bond_up", "bond0", changes={"admin_state": {"before": "down", "after": "up"}})]


def test_lacp_rate_change_sets_the_bond_down_without_releasing_members():
    want = desired(lacp_rate="fast")
    ops = nbp.plan_nic_bond(current(bond=bond_state(mode="802.3ad")), want)
    assert [op.action for op in ops] == ["bond_down", "modify_bond", "bond_up"]
    assert ops[0].params["note"].startswith("the kernel changes lacp_rate only while the bond is down: ")


def test_mode_change_on_a_bond_that_is_down_needs_no_bond_down_step():
    cur = current(bond=bond_state(admin_state="down"))
    assert [op.action for op in nbp.plan_nic_bond(cur, desired(mode=0))] == [
        "release_member", "release_member", "modify_bond", "reenslave_member", "reenslave_member", "bond_up"]


def test_mode_change_with_member_swap():
    want = desired(mode=4, members=["eth2", "eth3"])
    cur = current(bond=bond_state(), links={"eth2": {"kind": None, "master": "bond0"}, "eth3": FREE})
    ops = nbp.plan_nic_bond(cur, want)
    assert [(op.action, op.target) for op in ops] == [
        ("remove_member", "eth1"), ("bond_down", "bond0"), ("release_member", "eth2"), ("modify_bond", "bond0"),
        ("reenslave_member", "eth2"), ("bond_up", "bond0"), ("add_member", "eth3")]


def test_runtime_option_change_needs_no_downtime():
    want = desired(miimon=200, updelay=400)
    ops = nbp.plan_nic_bond(current(bond=bond_state()), want)
    changes = {"miimon": {"before": 100, "after": 200}, "updelay": {"before": 0, "after": 400}}
    assert ops == [Operation("modify_bond", "bond0", changes=changes)]


def test_member_added_and_removed():
    want = desired(members=["eth2", "eth3"])
    cur = current(bond=bond_state(), links={"eth2": {"kind": None, "master": "bond0"}, "eth3": FREE})
    assert nbp.plan_nic_bond(cur, want) == [
        Operation("remove_member", "eth1", changes={"master": {"before": "bond0", "after": None}}),
        Operation("add_member", "eth3", changes={"master": {"before": None, "after": "bond0"}}),
    ]


def test_members_not_given_are_left_alone():
    assert nbp.plan_nic_bond(current(bond=bond_state()), desired(mode=1)) == []


def test_member_missing_or_enslaved_elsewhere():
    with pytest.raises(NotFound, match="members: NIC 'eth7' does not exist"):
        nbp.plan_nic_bond(current(links={"eth7": None}), desired(members=["eth7"]))
    with pytest.raises(Conflict, match="eth1 is already enslaved to br0"):
        nbp.plan_nic_bond(current(links={"eth1": {"kind": None, "master": "br0"}}), desired(members=["eth1"]))
    with pytest.raises(InvalidInput, match="is a bridge"):
        nbp.plan_nic_bond(current(links={"br0": {"kind": "bridge", "master": None}}), desired(members=["br0"]))


def test_name_taken_by_other_kind():
    cur = current()
    cur["kind"] = "veth"
    with pytest.raises(Conflict, match="as a veth link"):
        nbp.plan_nic_bond(cur, desired())


def test_bridge_name_taken_by_other_kind():
    with pytest.raises(Conflict, match="not a Linux bridge"):
        nbp.plan_nic_bond(current(bond=bond_state(), bridge={"name": "br1", "kind": "veth", "admin_state": "up"}),
                          desired(bridge="br1"))


def test_absent():
    cur = current(bond=bond_state(master="br1"), bridge={"name": "br1", "kind": "bridge", "admin_state": "up"})
    assert nbp.plan_nic_bond(cur, desired(state="absent")) == [
        Operation("delete_bond", "bond0", members=["eth1", "eth2"])]
    assert nbp.plan_nic_bond(cur, desired(state="absent", bridge="br1"))[-1] == Operation("delete_bridge", "br1")
    assert nbp.plan_nic_bond(current(), desired(state="absent")) == []


# -- mtu -------------------------------------------------------------------------------------
def mtu_current(bond_mtu=1500, member_mtus=(1500, 1500), bridge_mtu=1500, **kw):
    """bond0 (eth1, eth2) under br1, with the given MTUs."""
    links = {"eth%d" % (i + 1): {"kind": None, "master": "bond0", "mtu": m} for i, m in enumerate(member_mtus)}
    return current(bond=bond_state(master="br1", mtu=bond_mtu), links=links,
                   bridge={"name": "br1", "kind": "bridge", "admin_state": "up", "mtu": bridge_mtu}, **kw)


def test_mtu_equal_everywhere_plans_nothing():
    assert nbp.plan_nic_bond(mtu_current(9000, (9000, 9000), 9000),
                             desired(members=["eth1", "eth2"], bridge="br1", mtu=9000)) == []


def test_mtu_omitted_leaves_every_mtu_alone():
    assert nbp.plan_nic_bond(mtu_current(1500, (9000, 1400), 9000), desired(members=["eth1", "eth2"], bridge="br1")) == []


def test_mtu_change_on_bond_and_bridge():
    """The kernel sets the members with the bond (bond_change_mtu): no step of their own."""
    ops = nbp.plan_nic_bond(mtu_current(), desired(members=["eth1", "eth2"], bridge="br1", mtu=9000))
    assert ops == [
        Operation("modify_bond", "bond0", changes={"mtu": {"before": 1500, "after": 9000}}),
        Operation("modify_bridge", "br1", changes={"mtu": {"before": 1500, "after": 9000}}),
    ]


def test_mtu_without_bridge_option_leaves_the_bridge_alone():
    ops = nbp.plan_nic_bond(mtu_current(), desired(mtu=9000))
    assert ops == [Operation("modify_bond", "bond0", changes={"mtu": {"before": 1500, "after": 9000}})]


def test_member_mtu_differing_from_a_right_bond_is_planned():
    """Members without the option too: the bond's members now."""
    ops = nbp.plan_nic_bond(mtu_current(9000, (9000, 1500), 9000), desired(bridge="br1", mtu=9000))
    assert ops == [Operation("modify_member", "eth2", changes={"mtu": {"before": 1500, "after": 9000}})]


def test_member_being_released_gets_no_mtu_step():
    cur = mtu_current(9000, (1500, 9000), 9000)
    ops = nbp.plan_nic_bond(cur, desired(members=["eth2"], mtu=9000))
    assert ops == [Operation("remove_member", "eth1", changes={"master": {"before": "bond0", "after": None}})]


def test_mtu_on_create_bond_and_bridge():
    want = desired(members=["eth1"], bridge="br1", mtu=9000)
    ops = nbp.plan_nic_bond(current(links={"eth1": dict(FREE, mtu=1500)}), want)
    assert [(op.action, op.target, op.params.get("mtu")) for op in ops] == [
        ("create_bond", "bond0", 9000), ("add_member", "eth1", None), ("create_bridge", "br1", 9000),
        ("set_master", "bond0", None)]


def test_mtu_with_mode_change_is_part_of_the_modify_bond_step():
    cur = mtu_current()
    ops = nbp.plan_nic_bond(cur, desired(mode="802.3ad", members=["eth1", "eth2"], mtu=9000))
    assert [op.action for op in ops] == MODE_STEPS
    assert ops[3].changes == {"mode": {"before": "active-backup", "after": "802.3ad"},
                              "mtu": {"before": 1500, "after": 9000}}


def test_mtu_persisted_for_bond_members_and_bridge_then_converged():
    want = desired(members=["eth1", "eth2"], bridge="br1", mtu=9000, persist="nm")
    cur = mtu_current(9000, (9000, 9000), 9000, persist="nm")
    ops = nbp.plan_nic_bond(cur, want)
    assert [op.action for op in ops] == ["write_file"] * 5
    profiles = [op for op in ops if op.target.endswith(".nmconnection")]
    assert len(profiles) == 4 and all("\n[ethernet]\nmtu=9000\n" in op.params["content"] for op in profiles)
    converged = dict(cur, files={op.target: op.params["content"] for op in ops})
    assert nbp.plan_nic_bond(converged, want) == []


def test_persist_writes_files_then_reloads_once():
    want = desired(mode=1, members=["eth1", "eth2"], persist="networkd")
    cur = current(bond=bond_state(), persist="networkd", reload=True,
                  links={"eth1": {"kind": None, "master": "bond0"}, "eth2": {"kind": None, "master": "bond0"}})
    ops = nbp.plan_nic_bond(cur, want)
    assert [op.action for op in ops] == ["write_file"] * 4 + ["reload"]
    assert ops[-1] == Operation("reload", "networkd", command=RELOAD_COMMANDS["networkd"])
    converged = dict(cur, files={op.target: op.params["content"] for op in ops[:-1]})
    assert nbp.plan_nic_bond(converged, want) == []


def test_persist_nm_files_are_private():
    want = desired(members=["eth1"], persist="nm")
    cur = current(bond=bond_state(members=["eth1"]), persist="nm", links={"eth1": {"kind": None, "master": "bond0"}})
    ops = nbp.plan_nic_bond(cur, want)
    assert {op.target: op.params["mode"] for op in ops} == {
        "/etc/NetworkManager/system-connections/kvmnet-bond0.nmconnection": "0600",
        "/etc/NetworkManager/system-connections/kvmnet-eth1.nmconnection": "0600",
        NM_MODPROBE: "0644"}
    assert "options bonding max_bonds=0\n" in [op for op in ops if op.target == NM_MODPROBE][0].params["content"]
    assert not any(op.action == "reload" for op in ops)  # NetworkManager not running


@pytest.mark.parametrize("kw,bond_mtu,text", [
    ({"mtu": 9500}, 1500, "mtu: 9500 is refused by member eth2 (its driver accepts 1280-9216"),
    ({"mtu": 60}, 1500, "mtu: 60 is"),  # below ETH_MIN_MTU: refused by normalize first
    ({"mtu": 600}, 1500, "mtu: 600 is refused by member eth2 (its driver accepts 1280-9216"),
])
def test_member_refusing_the_mtu_fails_before_any_step(kw, bond_mtu, text):
    links = {"eth1": {"kind": None, "master": "bond0", "mtu": bond_mtu, "min_mtu": 68, "max_mtu": 0},
             "eth2": {"kind": None, "master": "bond0", "mtu": bond_mtu, "min_mtu": 1280, "max_mtu": 9216}}
    with pytest.raises(InvalidInput, match=text.replace("(", r"\(")):
        nbp.plan_nic_bond(current(bond=bond_state(mtu=bond_mtu), links=links),
                          desired(members=["eth1", "eth2"], **kw))


def test_member_refusing_the_bonds_current_mtu_is_not_enslaved():
    links = {"eth1": {"kind": None, "master": "bond0", "mtu": 9000, "max_mtu": 0},
             "eth3": {"kind": None, "master": None, "mtu": 1500, "max_mtu": 1500}}
    with pytest.raises(InvalidInput, match=r"members: 'eth3' accepts MTU 0-1500 only, not the MTU 9000 of bond0"):
        nbp.plan_nic_bond(current(bond=bond_state(members=["eth1"], mtu=9000), links=links),
                          desired(members=["eth1", "eth3"]))
    # within range: planned as usual
    links["eth3"]["max_mtu"] = 9216
    ops = nbp.plan_nic_bond(current(bond=bond_state(members=["eth1"], mtu=9000), links=links),
                            desired(members=["eth1", "eth3"]))
    assert [op.action for op in ops] == ["add_member"]


# -- NetworkManager running: it activates the profiles, nic_bond does not race it ------------
MEMBERS_IN_BOND0 = {"eth1": {"kind": None, "master": "bond0", "mtu": 1500},
                    "eth2": {"kind": None, "master": "bond0", "mtu": 1500}}


def nm_converged(want, **hook):
    """current() of a converged NetworkManager bond (profiles written, NetworkManager running)."""
    files = pb.render_files("nm", pb.persist_config(want, nbp.effective_bond(None, want), ["eth1", "eth2"]), {})
    files[NM_MODPROBE] = NM_MODPROBE_CONTENT
    files.update(hook)
    return dict(current(bond=bond_state(), persist="nm", reload=True, links=MEMBERS_IN_BOND0, files=files),
                nm_runs_ifupdown_hooks=True)


def test_nm_running_mode_change_is_handed_to_networkmanager():
    want = desired(mode="802.3ad", members=["eth1", "eth2"], bridge="br1", persist="nm")
    cur = current(bond=bond_state(master="br1"), persist="nm", reload=True, links=MEMBERS_IN_BOND0,
                  bridge={"name": "br1", "kind": "bridge", "admin_state": "up", "mtu": 1500})
    ops = nbp.plan_nic_bond(cur, want)
    assert [op.action for op in ops] == MODE_STEPS + ["write_file"] * 5 + ["reload", "activate"]
    assert all(op.params["by"] == "NetworkManager" for op in ops[:7]) and ops[3].changes["mode"]["after"] == "802.3ad"
    assert ops[-2] == Operation("reload", "nm", command=RELOAD_COMMANDS["nm"])
    assert ops[-1].target == "kvmnet-bond0"
    assert (ops[-1].params["bond"], ops[-1].params["bridge"], ops[-1].params["device"]) == ("bond0", "br1", "br1")
    assert not any(op.params.get("by") for op in ops[7:])  # files, reload and activate are ours
    # the bond brings up its members (autoconnect-slaves); the bridge does not re-activate the bond
    files = {op.target: op.params["content"] for op in ops if op.action == "write_file"}
    assert "autoconnect-slaves" not in files["/etc/NetworkManager/system-connections/kvmnet-br1.nmconnection"]
    assert "autoconnect-slaves=1" in files["/etc/NetworkManager/system-connections/kvmnet-bond0.nmconnection"]
    assert "autoconnect-slaves" not in files["/etc/NetworkManager/system-connections/kvmnet-eth1.nmconnection"]


def test_nm_not_running_keeps_netlink_and_no_activation():
    want = desired(mode="802.3ad", members=["eth1", "eth2"], persist="nm")
    cur = current(bond=bond_state(), persist="nm", reload=False, links=MEMBERS_IN_BOND0)
    ops = nbp.plan_nic_bond(cur, want)
    assert [op.action for op in ops] == MODE_STEPS + ["write_file"] * 4
    assert not any(op.params.get("by") for op in ops)


def test_nm_running_live_drift_only_activates_without_reload():
    want = desired(mode="active-backup", members=["eth1", "eth2"], persist="nm")
    cur = dict(nm_converged(want), bond=bond_state(mode="balance-xor"))
    ops = nbp.plan_nic_bond(cur, want)
    assert [op.action for op in ops] == MODE_STEPS + ["activate"]
    assert ops[-1].params["bond"] == "bond0" and ops[-1].params["bridge"] is None


def test_nm_running_converged_plans_nothing():
    want = desired(mode="active-backup", members=["eth1", "eth2"], persist="nm")
    assert nbp.plan_nic_bond(nm_converged(want), want) == []


def test_nm_running_moved_address_leftovers_and_gateway_after_activation():
    want = desired(members=["eth1", "eth2"], bridge="br1", address="10.0.0.5/24", persist="nm")
    cur = current(bond=bond_state(master="br1"), persist="nm", reload=True, links=MEMBERS_IN_BOND0,
                  bridge={"name": "br1", "kind": "bridge", "admin_state": "up", "mtu": 1500},
                  address={"holders": [{"device": "eth0", "address": "10.0.0.5/24"}]},
                  route={"gateway": "10.0.0.1", "device": "eth0"})
    ops = nbp.plan_nic_bond(cur, want)
    assert ops[0].action == "move_address" and ops[0].params["by"] == "NetworkManager"
    activate = ops[-1]
    assert activate.params["leftovers"] == [{"device": "eth0", "address": "10.0.0.5/24"}]
    assert activate.params["gateway"] == "10.0.0.1" and activate.params["device"] == "br1"


def test_nm_running_absent_removes_profiles_before_the_links():
    files = {"/etc/NetworkManager/system-connections/kvmnet-bond0.nmconnection": "x",
             "/etc/NetworkManager/system-connections/kvmnet-eth1.nmconnection": "y"}
    cur = current(bond=bond_state(members=["eth1"]), persist="nm", reload=True, files=files)
    files[NM_MODPROBE] = NM_MODPROBE_CONTENT
    ops = nbp.plan_nic_bond(dict(cur, files=files), desired(state="absent", persist="nm"))
    assert [op.action for op in ops] == ["remove_file", "remove_file", "reload", "delete_bond"]
    assert NM_MODPROBE not in [op.target for op in ops]  # shared by every bond: kept
    assert not any(op.params.get("by") for op in ops)


@pytest.mark.parametrize("bridge_state,reapply_rc,expected", [
    # an active bridge is reapplied (no port dropped), then the bond re-activated
    ("activated", 0, ["-g GENERAL.STATE connection show id kvmnet-br1", "device reapply br1",
                      "-g GENERAL.STATE connection show id kvmnet-bond0",
                      "--wait 90 connection down id kvmnet-bond0", "--wait 90 connection up id kvmnet-bond0"]),
    # NetworkManager cannot reapply that change: the bridge is re-activated
    ("activated", 1, ["-g GENERAL.STATE connection show id kvmnet-br1", "device reapply br1",
                      "--wait 90 connection up id kvmnet-br1",
                      "-g GENERAL.STATE connection show id kvmnet-bond0",
                      "--wait 90 connection down id kvmnet-bond0", "--wait 90 connection up id kvmnet-bond0"]),
    # a bridge profile not active yet is brought up
    # nothing active yet: both brought up, no down
    ("", 0, ["-g GENERAL.STATE connection show id kvmnet-br1", "--wait 90 connection up id kvmnet-br1",
             "-g GENERAL.STATE connection show id kvmnet-bond0", "--wait 90 connection up id kvmnet-bond0"]),
])
def test_nm_apply_leaves_the_kernel_to_networkmanager(kernel, tmp_path, monkeypatch, bridge_state, reapply_rc,
                                                      expected):
    """Applied: the live steps touch nothing, nmcli is called in order (bridge, then bond), the
    moved address left on a non-member is removed afterwards, and a link already removed by
    NetworkManager is not an error."""
    model = kernel[0]
    model.add("eth1")
    calls = tmp_path / "nmcli.calls"
    fake = tmp_path / "bin" / "nmcli"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n"
                    "echo \"$@\" >> %s\n"
                    "case \"$*\" in\n"
                    "  *'show id kvmnet-br1') echo '%s' ;;\n"
                    "  *'show id kvmnet-bond0') echo %s ;;\n"
                    "  'device reapply'*) exit %d ;;\n"
                    "esac\n" % (calls, bridge_state, bridge_state or "''", reapply_rc))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (fake.parent, os.environ["PATH"]))
    deleted = []
    model.addresses = lambda index=None: [{"index": model.index("eth1"), "address": "10.0.0.5/24"}]
    model.del_address = lambda index, address, what: deleted.append((index, address))
    res = nb.NicBondResource(dict(params(persist="nm", members=["eth1"])))
    res.nl = model
    res.apply([Operation("create_bond", "bond0", by="NetworkManager", mode="802.3ad", miimon=100),
               Operation("activate", "kvmnet-bond0", bond="bond0", bridge="br1", device="br1",
                         leftovers=[{"device": "eth1", "address": "10.0.0.5/24"},
                                    {"device": "gone0", "address": "10.0.0.5/24"}], gateway=None),
               Operation("delete_bridge", "br9")])
    assert model.index("bond0") is None  # NetworkManager's job, not done over netlink
    assert calls.read_text().splitlines() == expected
    assert deleted == [(model.index("eth1"), "10.0.0.5/24")]
    assert res.verify_attempts * res.verify_delay >= nbnm.NM_VERIFY_SECONDS


def test_nm_apply_deletes_a_bond_networkmanager_did_not_create(kernel, tmp_path, monkeypatch):
    """A bond made over netlink (or by the bonding module on load) is deleted before the
    profile is brought up, so that the profile creates it with all of its settings."""
    model = kernel[0]
    model.add("bond0", "bond")
    calls = tmp_path / "nmcli.calls"
    fake = tmp_path / "bin" / "nmcli"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho \"$@\" >> %s\n" % calls)  # kvmnet-bond0 not active: prints nothing
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (fake.parent, os.environ["PATH"]))
    res = nb.NicBondResource(dict(params(persist="nm")))
    res.nl = model
    res.apply([Operation("activate", "kvmnet-bond0", bond="bond0", bridge=None, device="bond0", leftovers=[],
                         gateway=None)])
    assert model.index("bond0") is None
    assert calls.read_text().splitlines() == ["-g GENERAL.STATE connection show id kvmnet-bond0",
                                              "--wait 90 connection up id kvmnet-bond0"]


def test_persist_absent_removes_files_but_keeps_interfaces():
    files = {"/etc/network/interfaces.d/bond0": "x", "/etc/network/interfaces": "source ..."}
    ops = nbp.plan_nic_bond(current(persist="ifupdown", files=files), desired(state="absent", persist="ifupdown"))
    assert ops == [Operation("remove_file", "/etc/network/interfaces.d/bond0")]


def test_file_paths_include_released_members():
    paths = pb.file_paths("ifcfg", desired(members=["eth2"], bridge="br1"), ["eth1"])
    assert paths == ["/etc/sysconfig/network-scripts/ifcfg-bond0", "/etc/sysconfig/network-scripts/ifcfg-eth1",
                     "/etc/sysconfig/network-scripts/ifcfg-eth2", "/etc/sysconfig/network-scripts/ifcfg-br1"]


def test_encode_decode_round_trip():
    fields = {"mode": "802.3ad", "miimon": 100, "updelay": 200, "downdelay": 0, "lacp_rate": "fast",
              "xmit_hash_policy": "layer3+4", "ad_select": "count", "primary": "eth1", "arp_interval": 0,
              "arp_ip_target": ["10.0.0.2", "10.0.0.10"]}
    raw = _netlink.encode_bond(dict(fields, mtu=9000, admin_state="up"), {"eth1": 7}.get)
    assert raw == {"mode": 4, "miimon": 100, "updelay": 200, "downdelay": 0, "ad_lacp_rate": 1,
                   "xmit_hash_policy": 1, "ad_select": 2, "primary": 7, "arp_interval": 0,
                   "arp_ip_target": ["10.0.0.2", "10.0.0.10"]}
    assert set(raw) == set(_netlink.BOND_ATTRS)
    assert _netlink.decode_bond(raw, {7: "eth1"}.get) == fields


def test_decode_keeps_a_value_of_a_newer_kernel_as_text():
    assert _netlink.decode_bond({"mode": 9, "primary": 0}, {}.get)["mode"] == "9"


def host_tree(root, bonding=None, release="6.1.0-28-amd64"):
    """A host under ``root``: the kernel release, no daemon running, and bonding ``loaded``,
    ``installed`` (in modules.dep), ``builtin`` (modules.builtin) or ``None`` (nowhere)."""
    for path, text in (("proc/sys/kernel/osrelease", release + "\n"),
                       ("lib/modules/%s/modules.dep" % release, "kernel/drivers/net/dummy.ko.xz:\n"),
                       ("lib/modules/%s/modules.builtin" % release, "kernel/net/bridge/bridge.ko\n")):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    if bonding == "loaded":
        (root / "sys/module/bonding").mkdir(parents=True)
        (root / "sys/module/bonding/initstate").write_text("live\n")
    elif bonding == "installed":
        with open(root / ("lib/modules/%s/modules.dep" % release), "a") as handle:
            handle.write("kernel/drivers/net/bonding/bonding.ko.xz: kernel/net/tls/tls.ko.xz\n")
    elif bonding == "builtin":
        with open(root / ("lib/modules/%s/modules.builtin" % release), "a") as handle:
            handle.write("kernel/drivers/net/bonding/bonding.ko\n")
    return root


@pytest.mark.parametrize("bonding", ["loaded", "installed", "builtin"])
def test_bond_planned_where_the_kernel_has_bonding(tmp_path, bonding):
    model = KernelModel()
    model.add("eth1")
    res = nb.NicBondResource(params(members=["eth1"]), root=str(host_tree(tmp_path, bonding)))
    res.nl = model
    assert [op["action"] for op in execute(res, check_mode=True)["operations"]] == ["create_bond", "add_member"]


def test_no_bonding_in_the_kernel_fails_naming_module_and_release(tmp_path):
    model = KernelModel()
    model.add("eth1")
    res = nb.NicBondResource(params(members=["eth1"]), root=str(host_tree(tmp_path, release="6.9.0-test")))
    res.nl = model
    with pytest.raises(Unsupported, match=r"^name: cannot create bond bond0: the running kernel \(6.9.0-test\) "
                                          r"has no bonding support; the 'bonding' kernel module"):
        execute(res, check_mode=True)


# -- mtu through the resource, on a model of the kernel's MTU rules --------------------------
class KernelModel:
    """The few kernel rules nic_bond's MTU handling relies on, in place of the netlink socket:

    * enslaving a NIC sets it to the bond's MTU; releasing it restores its own (bond_enslave,
      bond_release); changing the bond's MTU changes every member's (bond_change_mtu);
    * a bridge whose MTU was never set by hand follows the smallest MTU of its ports when ports
      join or change; once set by hand it keeps it (br_mtu_auto_adjust, BROPT_MTU_SET_BY_USER);
      setting the MTU a link already has is no change at all (dev_set_mtu);
    * a bond's mode changes only while it is down and has no members, lacp_rate and ad_select
      only while it is down (bond_option_mode_set, BOND_OPTFLAG_NOSLAVES / IFDOWN).
    """

    where = ""

    def __init__(self):
        self.by_index = {}

    def add(self, name, kind=None, mtu=1500, master=None):
        index = max(self.by_index, default=0) + 1  # never an index in use (after a deletion)
        self.by_index[index] = {"ifindex": index, "name": name, "kind": kind, "mtu": mtu, "admin_state": "up",
                                "master_index": self.index(master) if master else None, "own_mtu": mtu,
                                "mtu_by_user": False}
        if kind == "bond":
            self.by_index[index]["bond"] = {"mode": 1, "miimon": 100, "updelay": 0, "downdelay": 0,
                                            "ad_lacp_rate": 0, "xmit_hash_policy": 0, "ad_select": 0,
                                            "primary": None, "arp_interval": 0, "arp_ip_target": []}
        return index

    def mtu(self, name):
        return self.by_index[self.index(name)]["mtu"]

    # the Netlink API used by NicBondResource
    def open(self):
        return self

    def close(self):
        pass

    def index(self, name):
        return next((i for i, l in self.by_index.items() if l["name"] == name), None)

    def link(self, name=None, index=None):
        index = self.index(name) if index is None else index
        link = self.by_index.get(index)
        return None if link is None else dict(link, bond=dict(link["bond"]) if "bond" in link else None)

    def links(self):
        return [self.link(index=i) for i in self.by_index]

    def _ports(self, index):
        return [l for l in self.by_index.values() if l["master_index"] == index]

    def _auto_adjust(self, bridge):
        ports = self._ports(bridge["ifindex"])
        if bridge["kind"] == "bridge" and not bridge["mtu_by_user"] and ports:
            bridge["mtu"] = min(p["mtu"] for p in ports)

    def add_link(self, name, kind, **attrs):
        index = self.add(name, kind)
        self.by_index[index]["admin_state"] = "down"
        for key, value in attrs.items():
            self.by_index[index]["bond"][key[len("bond_"):]] = value

    def set_bond(self, index, what, **attrs):
        link = self.by_index[index]
        if set(attrs) & {"mode", "ad_lacp_rate", "ad_select"}:
            assert link["admin_state"] == "down", "the kernel changes %s only while the bond is down" % sorted(attrs)
        if "mode" in attrs:
            assert not self._ports(index), "the kernel changes a bond's mode only while it has no members"
        link["bond"].update(attrs)

    def set_link(self, index, what, state=None, master=None, mtu=None):
        link = self.by_index[index]
        if state is not None:
            link["admin_state"] = state
        if master == 0 and link["master_index"]:
            old = self.by_index[link["master_index"]]
            link["master_index"] = None
            if old["kind"] == "bond":
                link["mtu"] = link["own_mtu"]
            self._auto_adjust(old)
        elif master:
            new = self.by_index[master]
            link["master_index"] = master
            if new["kind"] == "bond":
                assert link["admin_state"] == "down", "the kernel enslaves a NIC only while it is down"
                link["own_mtu"], link["mtu"] = link["mtu"], new["mtu"]
            self._auto_adjust(new)
        if mtu is not None and mtu != link["mtu"]:
            link["mtu"] = mtu
            if link["kind"] == "bond":
                for port in self._ports(index):
                    port["mtu"] = mtu
            if link["kind"] == "bridge":
                link["mtu_by_user"] = True
            if link["master_index"]:
                self._auto_adjust(self.by_index[link["master_index"]])

    def del_link(self, index, what):
        del self.by_index[index]

    def addresses(self, index=None):
        return []

    def default_routes(self, family):
        return []


@pytest.fixture
def kernel(tmp_path):
    """(model, run): run(**options) executes nic_bond on the model and returns the result."""
    model = KernelModel()
    default_root = str(host_tree(tmp_path / "host", "loaded"))

    def run(check_mode=False, root=default_root, **kw):
        res = nb.NicBondResource(params(**kw), root=root)
        res.nl = model
        res.verify_delay = 0
        return execute(res, check_mode=check_mode)

    return model, run


JUMBO = {"members": ["eth1", "eth2"], "bridge": "br1", "mtu": 9000}


def test_mtu_from_nothing_converges_and_predict_matches(kernel):
    model, run = kernel
    model.add("eth1")
    model.add("eth2")
    predicted = run(check_mode=True, **JUMBO)
    result = run(**JUMBO)  # verify() re-plans after applying: it raises unless the plan is empty
    assert [op["action"] for op in result["operations"]] == [
        "create_bond", "add_member", "add_member", "create_bridge", "set_master"]
    assert [model.mtu(n) for n in ("bond0", "eth1", "eth2", "br1")] == [9000] * 4
    for key in ("bond", "bridge", "links"):
        assert predicted["after"][key] == result["after"][key]
    assert run(**JUMBO)["changed"] is False


@pytest.mark.parametrize("old,new", [(1500, 9000), (9000, 1500)])
def test_mtu_change_on_a_live_bond_under_a_bridge_with_other_ports(kernel, old, new):
    model, run = kernel
    model.add("br1", "bridge", mtu=old)
    model.add("bond0", "bond", mtu=old, master="br1")
    model.add("eth1", mtu=old, master="bond0")
    model.add("eth2", mtu=old, master="bond0")
    model.add("vnet0", "tun", mtu=1500, master="br1")  # a VM's tap: left alone
    want = dict(JUMBO, mtu=new)
    predicted = run(check_mode=True, **want)
    result = run(**want)
    assert [op["action"] for op in result["operations"]] == ["modify_bond", "modify_bridge"]
    assert [model.mtu(n) for n in ("bond0", "eth1", "eth2", "br1", "vnet0")] == [new, new, new, new, 1500]
    for key in ("bond", "bridge", "links"):
        assert predicted["after"][key] == result["after"][key]
    assert run(**want)["changed"] is False


def test_member_mtu_set_by_hand_is_put_back(kernel):
    model, run = kernel
    model.add("br1", "bridge", mtu=9000)
    model.add("bond0", "bond", mtu=9000, master="br1")
    model.add("eth1", mtu=9000, master="bond0")
    model.add("eth2", mtu=1500, master="bond0")  # ip link set eth2 mtu 1500, by hand
    result = run(**JUMBO)
    assert result["operations"] == [
        {"action": "modify_member", "target": "eth2", "changes": {"mtu": {"before": 1500, "after": 9000}}}]
    assert model.mtu("eth2") == 9000 and run(**JUMBO)["changed"] is False


def test_mtu_with_mode_change_reenslaved_members_follow(kernel):
    model, run = kernel
    model.add("bond0", "bond")
    model.add("eth1", master="bond0")
    model.add("eth2", master="bond0")
    want = {"members": ["eth1", "eth2"], "mode": "802.3ad", "mtu": 9000}
    result = run(**want)
    assert [op["action"] for op in result["operations"]] == MODE_STEPS
    assert [model.mtu(n) for n in ("bond0", "eth1", "eth2")] == [9000] * 3
    assert run(**want)["changed"] is False


def test_mtu_omitted_changes_no_mtu(kernel):
    model, run = kernel
    model.add("bond0", "bond", mtu=9000)
    model.add("eth1", mtu=9000, master="bond0")
    model.add("eth3", mtu=1400)
    result = run(members=["eth1", "eth3"], miimon=200)
    assert [(op["action"], sorted(op.get("changes", {}))) for op in result["operations"]] == [
        ("modify_bond", ["miimon"]), ("add_member", ["master"])]
    assert model.mtu("bond0") == 9000 and model.mtu("eth3") == 9000  # the kernel's doing, on enslaving


def test_member_swap_with_mtu_new_member_gets_it_when_enslaved(kernel):
    model, run = kernel
    model.add("br1", "bridge", mtu=9000)
    model.add("bond0", "bond", mtu=9000, master="br1")
    model.add("eth1", mtu=9000, master="bond0")
    model.add("eth2", mtu=9000, master="bond0")
    model.add("eth3", mtu=1500)
    want = dict(JUMBO, members=["eth2", "eth3"])
    predicted = run(check_mode=True, **want)
    result = run(**want)
    assert [(op["action"], op["target"]) for op in result["operations"]] == [
        ("remove_member", "eth1"), ("add_member", "eth3")]
    assert model.mtu("eth3") == 9000
    for key in ("bond", "bridge", "links"):
        assert predicted["after"][key] == result["after"][key]


# -- ifenslave's post-down hook run by NetworkManager's dispatcher (Debian bug #982841) -------
IFENSLAVE_ORIGINAL = ("#!/bin/sh\n# free $IFACE if it is currently enslaved to a bonding device.\n"
                      "echo \"-$IFACE\" > \"/sys/class/net/$IFACE/master/bonding/slaves\"\n")


def test_ifenslave_hook_is_diverted_before_the_profiles_are_activated():
    want = desired(mode="active-backup", members=["eth1", "eth2"], persist="nm")
    cur = nm_converged(want, **{nmp.IFENSLAVE_HOOK: IFENSLAVE_ORIGINAL})
    cur["bond"] = bond_state(mode="balance-xor")
    ops = nbp.plan_nic_bond(cur, want)
    assert [(op.action, op.target) for op in ops][7:] == [
        ("divert_file", nmp.IFENSLAVE_HOOK), ("write_file", nmp.IFENSLAVE_HOOK), ("activate", "kvmnet-bond0")]
    assert [op.action for op in ops][:7] == MODE_STEPS
    assert ops[7].changes == {"diverted_to": {"before": None, "after": nmp.IFENSLAVE_HOOK_DIVERTED}}
    assert ops[8].params == {"mode": "0755", "content": nmp.IFENSLAVE_GUARD}
    # nothing else to do once the guard is there
    assert nbp.plan_nic_bond(nm_converged(want, **{nmp.IFENSLAVE_HOOK: nmp.IFENSLAVE_GUARD}), want) == []


def test_ifenslave_hook_guard_of_an_older_version_is_rewritten_not_diverted_again():
    want = desired(mode="active-backup", members=["eth1", "eth2"], persist="nm")
    older = "#!/bin/sh\n" + nbnm.HEADER_LINE + "\nexit 0\n"
    ops = nbp.plan_nic_bond(nm_converged(want, **{nmp.IFENSLAVE_HOOK: older}), want)
    assert [(op.action, op.target) for op in ops] == [("write_file", nmp.IFENSLAVE_HOOK)]  # no reload for it


@pytest.mark.parametrize("hooks,dispatcher", [({}, True), ({nmp.IFENSLAVE_HOOK: IFENSLAVE_ORIGINAL}, False)])
def test_no_ifenslave_or_no_dispatcher_leaves_the_hooks_alone(hooks, dispatcher):
    want = desired(mode="active-backup", members=["eth1", "eth2"], persist="nm")
    cur = nm_converged(want, **hooks)
    cur["nm_runs_ifupdown_hooks"] = dispatcher
    assert nbp.plan_nic_bond(cur, want) == []


def test_divert_ifenslave_hook_false_fails_naming_the_option():
    want = desired(mode="active-backup", members=["eth1", "eth2"], persist="nm", divert_ifenslave_hook=False)
    with pytest.raises(Conflict, match=r"divert_ifenslave_hook: false, but .*01-ifupdown runs ifenslave's "
                                       r"post-down hook /etc/network/if-post-down.d/ifenslave"):
        nbp.plan_nic_bond(nm_converged(want, **{nmp.IFENSLAVE_HOOK: IFENSLAVE_ORIGINAL}), want)
    # a guard already there is left as it is
    assert nbp.plan_nic_bond(nm_converged(want, **{nmp.IFENSLAVE_HOOK: nmp.IFENSLAVE_GUARD}), want) == []


def test_absent_keeps_the_ifenslave_guard():
    files = {"/etc/NetworkManager/system-connections/kvmnet-bond0.nmconnection": "x",
             nmp.IFENSLAVE_HOOK: nmp.IFENSLAVE_GUARD, NM_MODPROBE: NM_MODPROBE_CONTENT}
    ops = nbp.plan_nic_bond(current(persist="nm", files=files), desired(state="absent", persist="nm"))
    assert ops == [Operation("remove_file", "/etc/NetworkManager/system-connections/kvmnet-bond0.nmconnection")]


FAKE_DPKG_DIVERT = r'''#!/bin/sh
# fake dpkg-divert: records its arguments, does the --rename of --add under --root
echo "$@" >> "$KVMNET_TEST_LOG"
while [ $# -gt 0 ]; do
  case $1 in --root) root=$2; shift 2 ;; --divert) to=$2; shift 2 ;; --add) file=$2; shift 2 ;; *) shift ;; esac
done
mv "$root$file" "$root$to"
'''


def _divert_bed(kernel, tmp_path, monkeypatch):
    """A files root with NetworkManager's ifupdown dispatcher and ifenslave's hook, and a fake
    dpkg-divert on PATH; returns ``(run, opts, root)``."""
    model, run = kernel
    model.add("eth1")
    root = host_tree(tmp_path / "root", "loaded")  # no proc/<pid>: NetworkManager not running (netlink, no nmcli)
    dispatcher = root / nmp.NM_IFUPDOWN_DISPATCHER.lstrip("/")
    dispatcher.parent.mkdir(parents=True)
    dispatcher.write_text("#!/bin/sh\n")
    dispatcher.chmod(0o755)
    hook = root / nmp.IFENSLAVE_HOOK.lstrip("/")
    hook.parent.mkdir(parents=True)
    hook.write_text(IFENSLAVE_ORIGINAL)
    hook.chmod(0o755)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "dpkg-divert").write_text(FAKE_DPKG_DIVERT)
    (bindir / "dpkg-divert").chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bindir, os.environ["PATH"]))
    monkeypatch.setenv("KVMNET_TEST_LOG", str(tmp_path / "divert.log"))
    return run, dict(members=["eth1"], persist="nm", root=str(root)), root


def test_ifenslave_hook_diverted_and_guarded_for_real(kernel, tmp_path, monkeypatch):
    """Applied on a files root: dpkg-divert (a fake on PATH) moves the package's hook aside, the
    guard is written in its place (0755); the second run changes nothing."""
    run, opts, root = _divert_bed(kernel, tmp_path, monkeypatch)
    hook = root / nmp.IFENSLAVE_HOOK.lstrip("/")
    first = run(**opts)
    assert first["changed"] is True
    assert (tmp_path / "divert.log").read_text().split() == [
        "--root", str(root), "--local", "--rename", "--divert", nmp.IFENSLAVE_HOOK_DIVERTED, "--add",
        nmp.IFENSLAVE_HOOK]
    assert (root / nmp.IFENSLAVE_HOOK_DIVERTED.lstrip("/")).read_text() == IFENSLAVE_ORIGINAL
    assert hook.read_text() == nmp.IFENSLAVE_GUARD and hook.stat().st_mode & 0o777 == 0o755
    assert run(**opts)["changed"] is False


def test_the_files_dpkg_divert_changes_are_journaled_before_it_runs(kernel, tmp_path, monkeypatch):
    """The run's journal and an open checkpoint's see every file dpkg-divert changes (the hook,
    its diverted name, dpkg's list of diversions) before it runs: a rollback undoes the
    diversion byte for byte (the safety scenario found the hook gone after a checkpoint's
    rollback under NetworkManager, moved to .distrib)."""
    run, opts, root = _divert_bed(kernel, tmp_path, monkeypatch)
    seen = []

    def guard(path, where):
        seen.append((path, (tmp_path / "divert.log").exists()))

    _files.add_guard(guard)
    try:
        assert run(**opts)["changed"] is True
    finally:
        _files.remove_guard(guard)
    before_divert = [path for path, ran in seen if not ran]
    for path in (nmp.IFENSLAVE_HOOK, nmp.IFENSLAVE_HOOK_DIVERTED) + nmp.DPKG_DIVERSIONS:
        assert path in before_divert, seen


@pytest.mark.parametrize("method,runs", [("NetworkManager", False), ("manual", True), ("static", True)])
def test_ifenslave_guard_skips_only_networkmanagers_interfaces(tmp_path, method, runs):
    """The guard, run as ifupdown / the dispatcher run it: the original hook runs, with the
    same environment, for every method but NetworkManager's."""
    original = tmp_path / "ifenslave.distrib"
    original.write_text("#!/bin/sh\necho \"$IFACE $METHOD\" > %s\n" % (tmp_path / "ran"))
    original.chmod(0o755)
    guard = tmp_path / "ifenslave"
    guard.write_text(nmp.IFENSLAVE_GUARD.replace(nmp.IFENSLAVE_HOOK_DIVERTED, str(original)))
    guard.chmod(0o755)
    proc = subprocess.run([str(guard)], env=dict(os.environ, IFACE="enp0s6", METHOD=method), check=False)
    assert proc.returncode == 0
    assert (tmp_path / "ran").exists() is runs
    if runs:
        assert (tmp_path / "ran").read_text() == "enp0s6 %s\n" % method
    original.unlink()  # ifenslave removed: the guard does nothing and succeeds
    assert subprocess.run([str(guard)], env=dict(os.environ, IFACE="x", METHOD="manual"), check=False).returncode == 0


# -- applying: the table of steps, the programs run ------------------------------------------
def test_every_planned_action_has_a_step():
    """Each action the planning files can put in a plan is applied by a method of STEPS (or is
    a file operation): a new action without its step fails here, not on a host."""
    planned = set()
    for module in (nbp, nbnm, nbr):
        with open(module.__file__, encoding="utf-8") as handle:
            planned |= set(re.findall(r'Operation\("(\w+)"', handle.read()))
    assert {"create_bond", "move_address", "activate", "divert_file", "reload"} <= planned
    assert planned - {"write_file", "remove_file"} <= set(nb.NicBondResource.STEPS)


@pytest.fixture
def fake_program(tmp_path, monkeypatch):
    """fake_program(name, rc): ``name`` first on PATH, failing with ``rc`` and a message on stderr;
    PATH holds nothing else (a program not faked is missing)."""
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.setattr(_command, "SYSTEM_DIRS", ())

    def make(name, rc):
        (bindir / name).write_text("#!/bin/sh\necho \"$0 says no\" >&2\nexit %d\n" % rc)
        (bindir / name).chmod(0o755)

    return make


def test_reload_failure_names_the_bond_and_the_command(fake_program):
    fake_program("networkctl", 3)
    res = nb.NicBondResource(params(persist="networkd"))
    with pytest.raises(ApplyFailed, match=r"^reload networkd failed: bond0: persist: networkctl reload failed "
                                          r"\(rc 3\): .*networkctl says no$") as err:
        res.apply([Operation("reload", "networkd", command=RELOAD_COMMANDS["networkd"])])
    assert err.value.details["cause"] == "command_failed"


def test_missing_nmcli_names_its_package(fake_program):
    res = nb.NicBondResource(params(persist="nm"))
    res.nl = KernelModel()
    with pytest.raises(ApplyFailed, match="bond0: persist: nmcli not found; install the distribution package "
                                          "network-manager") as err:
        res.apply([Operation("activate", "kvmnet-bond0", bond="bond0", bridge=None, device="bond0", leftovers=[],
                             gateway=None)])
    assert err.value.details["cause"] == "backend_unavailable"


@pytest.mark.parametrize("key", ["miimon", "updelay", "downdelay", "arp_interval"])
def test_bond_timers_range_is_the_kernels_int_max(key):
    """bond_options.c bond_intmax_tbl: 0..INT_MAX; a u32 beyond was an untyped struct.error at apply."""
    assert desired(**{key: 2 ** 31 - 1})[key] == 2 ** 31 - 1
    with pytest.raises(InvalidInput, match=r"^%s: 2147483648 is out of range \(0-2147483647 milliseconds" % key) as err:
        desired(**{key: 2 ** 31})
    assert err.value.option == key and err.value.value == 2 ** 31


@pytest.mark.parametrize("netns", ["", "..", "a/b"])
def test_a_bad_netns_is_refused_naming_it(netns):
    with pytest.raises(InvalidInput) as err:
        nb.NicBondResource(params(netns=netns))
    assert err.value.option == "netns" and err.value.value == netns
