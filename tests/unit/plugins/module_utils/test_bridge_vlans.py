# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The VLAN model of a VLAN-aware bridge: lists, validation, the kernel's rules, the netlink attributes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _bridge_vlans as bv
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import InvalidInput


def test_lists_in_every_form_give_the_same_ids():
    assert bv.parse_vids("100-103,200", "tagged") == (100, 101, 102, 103, 200)
    assert bv.parse_vids(["200", "100-103"], "tagged") == (100, 101, 102, 103, 200)
    assert bv.parse_vids([100, 101, "102-103", 200], "tagged") == (100, 101, 102, 103, 200)
    assert bv.parse_vids(7, "tagged") == (7,)
    assert bv.format_vids((200, 100, 101, 102, 103, 1)) == "1,100-103,200"
    assert bv.format_vids(()) == ""


@pytest.mark.parametrize("value, words", [
    ("0", "VLAN 0: 802.1Q VLAN ids are 1-4094"),
    ("4095", "VLAN 4095"),
    ("4000-4095", "VLAN 4095"),
    ("110-100", "reversed range 110-100 (write 100-110)"),
    ("100-110,105", "VLAN 105 twice (105 overlaps 100-110)"),
    (["100-110", "110-120"], "VLAN 110 twice"),
    ("ten", "not a VLAN list"),
    ("1-2-3", "not a VLAN list"),
    ([True], "not a VLAN list"),
])
def test_bad_lists_are_refused_naming_the_option_and_the_value(value, words):
    with pytest.raises(InvalidInput) as exc:
        bv.parse_vids(value, "port_vlans[eth1].tagged")
    assert exc.value.msg.startswith("port_vlans[eth1].tagged: %r " % (value,)) and words in exc.value.msg


def test_entries_refuse_overlap_and_a_pvid_outside_their_lists():
    with pytest.raises(InvalidInput, match=r"port_vlans\[eth1\].tagged: '10-20' overlaps port_vlans\[eth1\]"
                                           r".untagged in VLAN 10"):
        bv.normalize_entry({"untagged": "10", "tagged": "10-20"}, "port_vlans[eth1]")
    with pytest.raises(InvalidInput, match=r"port_vlans\[eth1\].pvid: 30 is not one of the VLANs"):
        bv.normalize_entry({"pvid": 30, "tagged": "10-20"}, "port_vlans[eth1]")
    with pytest.raises(InvalidInput, match=r"self_vlans.pvid: 4095 is not a VLAN id"):
        bv.normalize_entry({"pvid": 4095}, "self_vlans")
    assert bv.normalize_entry({"pvid": 0, "tagged": "5"}, "x") == {"pvid": 0, "untagged": None, "tagged": (5,)}
    assert bv.normalize_entry({"pvid": 10, "untagged": [10]}, "x") == {"pvid": 10, "untagged": (10,), "tagged": None}


def view(pvid, **vids):
    return {"pvid": pvid, "vids": {int(k[1:]): v for k, v in vids.items()}}


def want(pvid=None, untagged=None, tagged=None):
    return {"pvid": pvid, "untagged": untagged, "tagged": tagged}


def test_plan_adds_what_differs_and_leaves_the_rest_unless_exclusive():
    have = view(1, v1=True, v100=False)
    add, delete = bv.plan_view(have, want(tagged=(100, 101)), exclusive=False)
    assert (add, delete) == ([{"vid": 101, "pvid": False, "untagged": False}], [])
    add, delete = bv.plan_view(have, want(tagged=(100, 101)), exclusive=True)
    assert delete == [1]
    assert bv.plan_view(have, want(tagged=(100,)), exclusive=False) == ([], [])


def test_plan_flags_are_replaced_so_a_tagged_vlan_loses_untagged_and_a_pvid_not_given_is_kept():
    have = view(10, v10=True, v20=True)
    add, dummy = bv.plan_view(have, want(tagged=(10, 20)), exclusive=False)
    # 10 stays the PVID (not mentioned), both egress tagged now
    assert add == [{"vid": 10, "pvid": True, "untagged": False}, {"vid": 20, "pvid": False, "untagged": False}]
    assert bv.apply_view(have, add, []) == view(10, v10=False, v20=False)


def test_plan_pvid_moves_and_pvid_zero_clears_it_on_a_vlan_not_listed():
    have = view(10, v10=True, v20=False)
    assert bv.plan_view(have, want(pvid=20, tagged=(20,)), exclusive=False)[0] == [
        {"vid": 20, "pvid": True, "untagged": False}]
    add, dummy = bv.plan_view(have, want(pvid=0, tagged=(20,)), exclusive=False)
    assert add == [{"vid": 10, "pvid": False, "untagged": True}]
    assert bv.apply_view(have, add, []) == view(0, v10=True, v20=False)


def test_default_pvid_change_moves_only_the_ports_still_on_the_old_default():
    views = {"br0": view(1, v1=True), "eth1": view(1, v1=True, v100=False), "eth2": view(1, v1=False),
             "vnet0": view(30, v30=True), "eth3": view(1, v1=True, v7=False)}
    views["eth3"]["vids"][7] = False
    bv.project_default_pvid(views, 1, 7)
    assert views["br0"] == view(7, v7=True)
    assert views["eth1"] == view(7, v7=True, v100=False)
    assert views["eth2"] == view(1, v1=False)  # not the default any more (tagged): left
    assert views["vnet0"] == view(30, v30=True)
    assert views["eth3"] == view(1, v1=True, v7=False)  # has 7 already: left
    bv.project_default_pvid(views, 7, 0)
    assert views["br0"] == view(0) and views["eth1"] == view(0, v100=False)


def test_netlink_attributes_send_ranges_with_their_flags_and_a_pvid_alone():
    add = [{"vid": v, "pvid": False, "untagged": False} for v in (100, 101, 102, 200)]
    add.append({"vid": 5, "pvid": True, "untagged": True})
    assert bv.vlan_info_attrs(add) == [
        ["IFLA_BRIDGE_VLAN_INFO", {"flags": 6, "vid": 5}],
        ["IFLA_BRIDGE_VLAN_INFO", {"flags": 8, "vid": 100}],
        ["IFLA_BRIDGE_VLAN_INFO", {"flags": 16, "vid": 102}],
        ["IFLA_BRIDGE_VLAN_INFO", {"flags": 0, "vid": 200}]]
    assert bv.vlan_info_attrs([{"vid": 1}, {"vid": 2}]) == [
        ["IFLA_BRIDGE_VLAN_INFO", {"flags": 8, "vid": 1}], ["IFLA_BRIDGE_VLAN_INFO", {"flags": 16, "vid": 2}]]


def test_the_attributes_encode_as_iproute2_sends_them():
    """The bytes of `bridge vlan add dev eth1 vid 5 pvid untagged` (iproute2, read with strace)."""
    ifinfmsg = pytest.importorskip("pyroute2.netlink.rtnl.ifinfmsg").ifinfmsg
    msg = ifinfmsg()
    msg["family"] = 7
    msg["attrs"] = [["IFLA_AF_SPEC", {"attrs": bv.vlan_info_attrs([{"vid": 5, "pvid": True, "untagged": True}])}]]
    msg.encode()
    assert bytes(msg.data[16:]).endswith(bytes.fromhex("".join(["0c001a00", "08000200", "0600", "0500"])))


def test_a_dumped_message_decodes_to_vids_and_flags():
    """What the kernel sends for `bridge vlan show` (an AF_BRIDGE ifinfmsg with IFLA_AF_SPEC), decoded
    by the pyroute2 installed (the VM tier runs Debian 12's 0.7.2) and read by _netlink.vlan_infos."""
    ifinfmsg = pytest.importorskip("pyroute2.netlink.rtnl.ifinfmsg").ifinfmsg
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils._netlink import vlan_infos

    sent = ifinfmsg()
    sent["family"] = 7
    sent["index"] = 4
    sent["attrs"] = [["IFLA_IFNAME", "eth1"], ["IFLA_AF_SPEC", {"attrs": [
        ["IFLA_BRIDGE_VLAN_INFO", {"flags": 6, "vid": 1}], ["IFLA_BRIDGE_VLAN_INFO", {"flags": 0, "vid": 100}]]}]]
    sent.encode()
    got = ifinfmsg(sent.data)
    got.decode()
    assert vlan_infos(got) == [(1, 6), (100, 0)]
    assert bv.view_from_flags(vlan_infos(got)) == {"pvid": 1, "vids": {1: True, 100: False}}


@given(st.sets(st.integers(bv.VID_MIN, bv.VID_MAX), max_size=60))
def test_format_then_parse_round_trips(vids):
    assert bv.parse_vids(bv.format_vids(vids) or None, "x") == tuple(sorted(vids))


@given(st.dictionaries(st.integers(1, 40), st.booleans(), max_size=12), st.integers(0, 40),
       st.sets(st.integers(1, 40), max_size=12), st.sets(st.integers(1, 40), max_size=12), st.booleans())
def test_applying_the_plan_gives_what_was_asked(vids, pvid, untagged, tagged, exclusive):
    tagged -= untagged
    have = {"pvid": pvid if pvid in vids else 0, "vids": vids}
    target = want(pvid=min(untagged | tagged) if untagged | tagged else 0, untagged=tuple(untagged),
                  tagged=tuple(tagged))
    add, delete = bv.plan_view(have, target, exclusive)
    after = bv.apply_view(have, add, delete)
    for vid in untagged | tagged:
        assert after["vids"][vid] is (vid in untagged)
    assert after["pvid"] == target["pvid"]
    if exclusive:
        assert set(after["vids"]) == untagged | tagged
    assert bv.plan_view(after, target, exclusive) == ([], [])
