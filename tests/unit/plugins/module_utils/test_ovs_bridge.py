# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ovs_bridge planning: current-state dict + desired -> exact operations; argument validation."""

from __future__ import annotations

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import InvalidInput
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_bridge import (
    check_datapath_type,
    normalize_bridge,
    plan_bridge,
    predict_bridge,
    touched_interfaces,
)


def port(name, **kw):
    base = {"name": name, "type": "system", "tag": None, "trunks": [], "vlan_mode": None, "external_ids": {},
            "options": {}, "interface_external_ids": {}, "ofport": 1, "error": None}
    base.update(kw)
    return base


def current(*ports, **kw):
    base = {"name": "br0", "datapath_type": "", "fail_mode": None, "mcast_snooping": False, "stp": False,
            "other_config": {}, "external_ids": {}, "ports": list(ports)}
    base.update(kw)
    return base


def desired(**kw):
    params = {"name": "br0", "state": "present"}
    params.update(kw)
    return normalize_bridge(params)


def test_create_bridge_with_ports():
    ops = plan_bridge(None, desired(datapath_type="netdev", ports=[
        {"name": "eth1"}, {"name": "tap1", "tag": 2}, {"name": "p0", "type": "patch", "peer": "p1"}]))
    assert ops == [
        Operation("create_bridge", "br0", datapath_type="netdev"),
        Operation("add_port", "eth1", bridge="br0", type="system"),
        Operation("add_port", "tap1", bridge="br0", type="system", tag=2),
        Operation("add_port", "p0", bridge="br0", type="patch", options={"peer": "p1"}),
    ]
    assert touched_interfaces(ops) == ["br0", "eth1", "tap1", "p0"]


def test_retag_is_one_modify_and_unlisted_ports_left_alone():
    cur = current(port("eth1"), port("tap1", tag=2), port("tap2", tag=5))
    ops = plan_bridge(cur, desired(ports=[{"name": "tap1", "tag": 3}]))
    assert ops == [Operation("modify_port", "tap1", changes={"tag": {"before": 2, "after": 3}}, bridge="br0")]
    after = predict_bridge(cur, ops)
    assert [p["tag"] for p in after["ports"]] == [None, 3, 5]


def test_unchanged_is_empty_plan():
    cur = current(port("tap1", tag=2, trunks=[10, 20]))
    assert plan_bridge(cur, desired(ports=[{"name": "tap1", "tag": 2, "trunks": [20, 10, 10]}])) == []
    assert plan_bridge(cur, desired()) == []


def test_exclusive_ports_removes_unlisted_only():
    cur = current(port("eth1"), port("tap1"), port("tap9"))
    ops = plan_bridge(cur, desired(exclusive_ports=True, ports=[{"name": "eth1"}, {"name": "tap1"}]))
    assert ops == [Operation("delete_port", "tap9", bridge="br0", reason="not listed and exclusive_ports is true")]


def test_port_absent_and_bridge_attributes():
    cur = current(port("tap1"), other_config={"a": "1", "b": "2"})
    ops = plan_bridge(cur, desired(fail_mode="secure", stp=True, other_config={"a": None, "c": 3},
                                   ports=[{"name": "tap1", "state": "absent"}, {"name": "gone", "state": "absent"}]))
    assert ops == [
        Operation("modify_bridge", "br0", changes={
            "fail_mode": {"before": None, "after": "secure"},
            "stp": {"before": False, "after": True},
            "other_config": {"before": {"a": "1", "b": "2"}, "after": {"b": "2", "c": "3"}}}),
        Operation("delete_port", "tap1", bridge="br0"),
    ]


def test_map_keys_not_mentioned_are_kept():
    cur = current(port("vx0", type="vxlan", options={"remote_ip": "192.0.2.1", "key": "5"}))
    ops = plan_bridge(cur, desired(ports=[{"name": "vx0", "type": "vxlan", "remote_ip": "192.0.2.2"}]))
    assert ops[0].changes == {"options": {"before": {"remote_ip": "192.0.2.1", "key": "5"},
                                          "after": {"remote_ip": "192.0.2.2", "key": "5"}}}


def test_absent_bridge():
    assert plan_bridge(current(), desired(state="absent")) == [Operation("delete_bridge", "br0")]
    assert plan_bridge(None, desired(state="absent")) == []
    assert predict_bridge(current(), [Operation("delete_bridge", "br0")]) is None


@pytest.mark.parametrize("ports, option, value", [
    ([{"name": "t", "tag": 4095}], "ports[0].tag", 4095),
    ([{"name": "t", "tag": -1}], "ports[0].tag", -1),
    ([{"name": "t", "tag": 0}], "ports[0].tag", 0),
    ([{"name": "t", "trunks": [10, 5000]}], "ports[0].trunks", 5000),
    ([{"name": "t"}, {"name": "t"}], "ports[1].name", "t"),
    ([{"name": "br0"}], "ports[0].name", "br0"),
    ([{"name": "p", "type": "patch", "peer": "p"}], "ports[0].peer", "p"),
    ([{"name": "t", "remote_ip": "192.0.2.1"}], "ports[0].remote_ip", "192.0.2.1"),
    ([{"name": "averyveryverylongname", "type": "internal"}], "ports[0].name", "averyveryverylongname"),
])
def test_bad_port_input_names_option_and_value(ports, option, value):
    with pytest.raises(InvalidInput) as err:
        desired(ports=ports)
    assert err.value.option == option
    assert repr(value) in err.value.msg


def test_bad_bridge_input():
    with pytest.raises(InvalidInput) as err:
        desired(name="a-bridge-name-too-long")
    assert err.value.option == "name"
    with pytest.raises(InvalidInput) as err:
        desired(exclusive_ports=True)
    assert err.value.option == "exclusive_ports"


# -- clearing VLAN columns: omitted = left alone, clear: [...] / trunks: [] = emptied ---------
def test_omitted_vlan_columns_are_left_alone():
    cur = current(port("tap1", tag=2, trunks=[10], vlan_mode="native-untagged"))
    assert plan_bridge(cur, desired(ports=[{"name": "tap1"}])) == []


def test_clear_tag_turns_access_port_untagged():
    cur = current(port("eth1", trunks=[2, 3]), port("tap1", tag=2), port("tap2", tag=3))
    ops = plan_bridge(cur, desired(ports=[{"name": "tap1", "clear": ["tag"]}]))
    assert ops == [Operation("modify_port", "tap1", changes={"tag": {"before": 2, "after": None}}, bridge="br0")]
    after = predict_bridge(cur, ops)
    assert [(p["name"], p["tag"]) for p in after["ports"]] == [("eth1", None), ("tap1", None), ("tap2", 3)]
    # the state the real run leaves is planned again as nothing to do (idempotence / verify)
    assert plan_bridge(after, desired(ports=[{"name": "tap1", "clear": ["tag"]}])) == []


def test_clear_every_vlan_column_in_one_modify():
    cur = current(port("tap1", tag=2, trunks=[10, 20], vlan_mode="native-tagged"))
    ops = plan_bridge(cur, desired(ports=[{"name": "tap1", "clear": ["vlan_mode", "trunks", "tag", "tag"]}]))
    assert ops == [Operation("modify_port", "tap1", bridge="br0", changes={
        "tag": {"before": 2, "after": None},
        "trunks": {"before": [10, 20], "after": []},
        "vlan_mode": {"before": "native-tagged", "after": None}})]
    after = predict_bridge(cur, ops)
    assert (after["ports"][0]["tag"], after["ports"][0]["trunks"], after["ports"][0]["vlan_mode"]) == (None, [], None)


def test_clear_of_empty_columns_is_unchanged():
    cur = current(port("tap1"))
    assert plan_bridge(cur, desired(ports=[{"name": "tap1", "clear": ["tag", "trunks", "vlan_mode"]}])) == []


def test_clear_one_column_and_set_another():
    cur = current(port("tap1", tag=2, vlan_mode="access"))
    ops = plan_bridge(cur, desired(ports=[{"name": "tap1", "clear": ["tag"], "vlan_mode": "trunk",
                                           "trunks": [5]}]))
    assert ops[0].changes == {"tag": {"before": 2, "after": None}, "trunks": {"before": [], "after": [5]},
                              "vlan_mode": {"before": "access", "after": "trunk"}}


def test_empty_trunks_list_clears_trunks():
    cur = current(port("eth1", trunks=[2, 3]))
    ops = plan_bridge(cur, desired(ports=[{"name": "eth1", "trunks": []}]))
    assert ops == [Operation("modify_port", "eth1", changes={"trunks": {"before": [2, 3], "after": []}},
                             bridge="br0")]
    assert plan_bridge(cur, desired(ports=[{"name": "eth1", "trunks": [], "clear": ["trunks"]}])) == ops
    assert plan_bridge(current(port("eth1")), desired(ports=[{"name": "eth1", "trunks": []}])) == []


def test_clear_on_a_new_port_adds_it_plain():
    ops = plan_bridge(current(), desired(ports=[{"name": "tap1", "clear": ["tag", "trunks", "vlan_mode"]}]))
    assert ops == [Operation("add_port", "tap1", bridge="br0", type="system")]


@pytest.mark.parametrize("entry, option, value", [
    ({"name": "t", "tag": 5, "clear": ["tag"]}, "ports[0].tag", 5),
    ({"name": "t", "trunks": [10], "clear": ["trunks"]}, "ports[0].trunks", [10]),
    ({"name": "t", "vlan_mode": "access", "clear": ["vlan_mode"]}, "ports[0].vlan_mode", "access"),
    ({"name": "t", "clear": ["tag", "mtu"]}, "ports[0].clear", "mtu"),
    ({"name": "t", "clear": "tag"}, "ports[0].clear", "tag"),
])
def test_contradictory_or_bad_clear_names_option_and_value(entry, option, value):
    with pytest.raises(InvalidInput) as err:
        desired(ports=[entry])
    assert err.value.option == option
    assert repr(value) in err.value.msg


def test_tag_zero_points_at_clear():
    with pytest.raises(InvalidInput) as err:
        desired(ports=[{"name": "t", "tag": 0}])
    assert err.value.option == "ports[0].tag" and "clear: [tag]" in err.value.msg


# -- refused up front what ovs-vswitchd would refuse or ignore (issue 12's bad-input sweep) -----
@pytest.mark.parametrize("entry, option, value", [
    ({"name": "vx0", "type": "vxlan"}, "ports[0].remote_ip", None),
    ({"name": "gn0", "type": "geneve", "options": {"key": "5"}}, "ports[0].remote_ip", None),
    ({"name": "gr0", "type": "gre"}, "ports[0].remote_ip", None),
    ({"name": "p0", "type": "patch"}, "ports[0].peer", None),
    ({"name": "vx0", "type": "vxlan", "remote_ip": "10.0.0.300"}, "ports[0].remote_ip", "10.0.0.300"),
    ({"name": "vx0", "type": "vxlan", "remote_ip": "192.0.2.1\n"}, "ports[0].remote_ip", "192.0.2.1\n"),
    ({"name": "t", "vlan_mode": "trunk", "tag": 10}, "ports[0].tag", 10),
    ({"name": "t", "vlan_mode": "access", "trunks": [10, 20]}, "ports[0].trunks", [10, 20]),
])
def test_port_vswitchd_would_refuse_or_ignore(entry, option, value):
    with pytest.raises(InvalidInput) as err:
        desired(ports=[entry])
    assert err.value.option == option
    assert repr(value) in err.value.msg
    if "vlan_mode" in entry:  # a contradiction names both options
        assert "ports[0].vlan_mode" in err.value.msg


@pytest.mark.parametrize("entry", [
    {"name": "vx0", "type": "vxlan", "remote_ip": "192.0.2.1"},
    {"name": "vx0", "type": "vxlan", "remote_ip": "2001:db8::1"},
    {"name": "vx0", "type": "vxlan", "remote_ip": "flow"},
    {"name": "vx0", "type": "vxlan", "options": {"remote_ip": "192.0.2.1"}},
    {"name": "p0", "type": "patch", "options": {"peer": "p1"}},
    {"name": "p0", "type": "patch", "state": "absent"},
    {"name": "t", "vlan_mode": "trunk", "trunks": [10]},
    {"name": "t", "vlan_mode": "access", "tag": 10, "trunks": []},
    {"name": "t", "vlan_mode": "native-untagged", "tag": 10, "trunks": [10, 20]},
])
def test_port_good_input_passes(entry):
    assert desired(ports=[entry])["ports"][0]["name"] == entry["name"]


@pytest.mark.parametrize("value", ["", "kvt bogus", "kvt\nx", "kvt\x00x", "System", "-x", "a" * 65])
def test_bad_datapath_type(value):
    with pytest.raises(InvalidInput) as err:
        desired(datapath_type=value)
    assert err.value.option == "datapath_type"
    assert repr(value) in err.value.msg


@pytest.mark.parametrize("value", ["system", "netdev", "dummy", "my_dp-2"])
def test_datapath_type(value):
    assert desired(datapath_type=value)["datapath_type"] == value


def test_datapath_type_vswitchd_does_not_support():
    with pytest.raises(InvalidInput) as err:
        check_datapath_type("kvtbogus", ["netdev", "system"])
    assert err.value.option == "datapath_type" and "netdev, system" in err.value.msg
    check_datapath_type("netdev", ["netdev", "system"])
    check_datapath_type("kvtbogus", [])  # ovs-vswitchd never ran: nothing to check against
