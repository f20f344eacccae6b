# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ovs_bond planning: every attribute of an existing bond reconciled; argument validation."""

from __future__ import annotations

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict, InvalidInput
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_common import defaults
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_bond import (
    BOND_FIELDS,
    normalize_bond,
    plan_bond,
    predict_bond,
)


def desired(**kw):
    params = {"name": "bond0", "state": "present", "bridge": "br0", "members": ["eth3", "eth2"]}
    params.update(kw)
    return normalize_bond(params)


def current(**kw):
    base = dict(defaults(BOND_FIELDS), name="bond0", bridge="br0", members=["eth2", "eth3"], tag=None, trunks=[])
    base.update(kw)
    return base


def test_create():
    ops = plan_bond(None, desired(lacp="active", bond_mode="balance-slb", lacp_time="fast", trunks=[20, 10]))
    assert ops == [Operation("create_bond", "bond0", bridge="br0", members=["eth2", "eth3"], bond_mode="balance-slb",
                             lacp="active", trunks=[10, 20], lacp_time="fast")]
    after = predict_bond(None, ops)
    assert after["lacp"] == "active" and after["updelay"] == 0 and after["members"] == ["eth2", "eth3"]


def test_defaults_are_no_change():
    assert plan_bond(current(), desired(lacp="off", bond_mode="active-backup", lacp_time="slow",
                                        link_detection="carrier", lacp_fallback_ab=False)) == []


def test_every_attribute_reconciled():
    ops = plan_bond(current(), desired(members=["eth2", "eth4", "eth5"], bond_mode="balance-slb", lacp="active",
                                       lacp_time="fast", updelay=100, downdelay=50, link_detection="miimon",
                                       miimon_interval=100, lacp_fallback_ab=True, tag=10))
    assert ops == [Operation("modify_bond", "bond0", bridge="br0", changes={
        "members": {"before": ["eth2", "eth3"], "after": ["eth2", "eth4", "eth5"]},
        "bond_mode": {"before": "active-backup", "after": "balance-slb"},
        "lacp": {"before": "off", "after": "active"},
        "updelay": {"before": 0, "after": 100},
        "downdelay": {"before": 0, "after": 50},
        "tag": {"before": None, "after": 10},
        "lacp_time": {"before": "slow", "after": "fast"},
        "link_detection": {"before": "carrier", "after": "miimon"},
        "miimon_interval": {"before": 200, "after": 100},
        "lacp_fallback_ab": {"before": False, "after": True},
    })]


def test_mode_change_only():
    ops = plan_bond(current(bond_mode="balance-slb", lacp="active"), desired(bond_mode="active-backup"))
    assert ops == [Operation("modify_bond", "bond0", bridge="br0", changes={
        "bond_mode": {"before": "balance-slb", "after": "active-backup"}})]


def test_absent_and_other_bridge():
    assert plan_bond(current(), normalize_bond({"name": "bond0", "state": "absent"})) == [
        Operation("delete_bond", "bond0", bridge="br0")]
    assert plan_bond(None, normalize_bond({"name": "bond0", "state": "absent"})) == []
    with pytest.raises(Conflict):
        plan_bond(current(bridge="br1"), desired())


@pytest.mark.parametrize("kw, option", [
    ({"members": ["eth2"]}, "members"),
    ({"members": []}, "members"),
    ({"members": ["eth2", "eth2"]}, "members"),
    ({"members": ["eth2", "bond0"]}, "members"),
    ({"tag": 4095}, "tag"),
    ({"tag": -1}, "tag"),
    ({"trunks": [10, 4096]}, "trunks"),
    ({"updelay": -5}, "updelay"),
    ({"bond_mode": "balance-tcp"}, "bond_mode"),
    ({"bridge": None}, "bridge"),
])
def test_bad_input(kw, option):
    with pytest.raises(InvalidInput) as err:
        desired(**kw)
    assert err.value.option == option


# -- clearing the bond's VLAN columns: omitted = left alone, clear: [...] / trunks: [] = emptied
def test_omitted_vlan_columns_are_left_alone():
    assert plan_bond(current(tag=10, trunks=[20, 30]), desired()) == []


def test_clear_tag_turns_access_bond_untagged():
    cur = current(tag=10)
    ops = plan_bond(cur, desired(clear=["tag"]))
    assert ops == [Operation("modify_bond", "bond0", bridge="br0", changes={"tag": {"before": 10, "after": None}})]
    after = predict_bond(cur, ops)
    assert after["tag"] is None and after["members"] == ["eth2", "eth3"]
    # the state the real run leaves is planned again as nothing to do (idempotence / verify)
    assert plan_bond(after, desired(clear=["tag"])) == []


def test_clear_tag_and_trunks_in_one_modify():
    cur = current(tag=10, trunks=[20, 30])
    ops = plan_bond(cur, desired(clear=["trunks", "tag", "tag"]))
    assert ops == [Operation("modify_bond", "bond0", bridge="br0", changes={
        "tag": {"before": 10, "after": None},
        "trunks": {"before": [20, 30], "after": []}})]
    after = predict_bond(cur, ops)
    assert (after["tag"], after["trunks"]) == (None, [])


def test_clear_of_empty_columns_is_unchanged():
    assert plan_bond(current(), desired(clear=["tag", "trunks"])) == []


def test_clear_one_column_and_set_other_attributes():
    ops = plan_bond(current(tag=10), desired(clear=["tag"], trunks=[5], bond_mode="balance-slb"))
    assert ops[0].changes == {"bond_mode": {"before": "active-backup", "after": "balance-slb"},
                              "trunks": {"before": [], "after": [5]},
                              "tag": {"before": 10, "after": None}}


def test_empty_trunks_list_clears_trunks():
    cur = current(trunks=[20, 30])
    ops = plan_bond(cur, desired(trunks=[]))
    assert ops == [Operation("modify_bond", "bond0", bridge="br0",
                             changes={"trunks": {"before": [20, 30], "after": []}})]
    assert plan_bond(cur, desired(trunks=[], clear=["trunks"])) == ops
    assert plan_bond(current(), desired(trunks=[])) == []


def test_clear_on_a_new_bond_creates_it_plain():
    ops = plan_bond(None, desired(clear=["tag", "trunks"]))
    assert ops == [Operation("create_bond", "bond0", bridge="br0", members=["eth2", "eth3"])]


def test_clear_is_ignored_when_absent():
    params = {"name": "bond0", "state": "absent", "clear": ["tag"]}
    assert plan_bond(current(tag=10), normalize_bond(params)) == [Operation("delete_bond", "bond0", bridge="br0")]


@pytest.mark.parametrize("kw, option, value", [
    ({"tag": 5, "clear": ["tag"]}, "tag", 5),
    ({"trunks": [10], "clear": ["trunks"]}, "trunks", [10]),
    ({"clear": ["tag", "vlan_mode"]}, "clear", "vlan_mode"),
    ({"clear": "tag"}, "clear", "tag"),
])
def test_contradictory_or_bad_clear_names_option_and_value(kw, option, value):
    with pytest.raises(InvalidInput) as err:
        desired(**kw)
    assert err.value.option == option
    assert repr(value) in err.value.msg


def test_contradiction_message_names_both_options():
    with pytest.raises(InvalidInput) as err:
        desired(tag=5, clear=["tag"])
    assert err.value.msg.startswith("tag: 5 contradicts clear, which lists tag"), err.value.msg


def test_tag_zero_points_at_clear():
    with pytest.raises(InvalidInput) as err:
        desired(tag=0)
    assert err.value.option == "tag" and "clear: [tag]" in err.value.msg


@pytest.mark.parametrize("option", ["updelay", "downdelay", "miimon_interval"])
@pytest.mark.parametrize("value", [-1, 2 ** 31, 2 ** 32, 2 ** 70])
def test_delays_beyond_what_vswitchd_holds_are_refused(option, value):
    kw = {"link_detection": "miimon"} if option == "miimon_interval" else {}
    with pytest.raises(InvalidInput) as err:
        desired(**{option: value}, **kw)
    assert err.value.option == option
    assert repr(value) in err.value.msg


@pytest.mark.parametrize("option, value", [("updelay", 0), ("downdelay", 2 ** 31 - 1),
                                           ("miimon_interval", 1), ("miimon_interval", 2 ** 31 - 1)])
def test_delays_at_the_limits_pass(option, value):
    kw = {"link_detection": "miimon"} if option == "miimon_interval" else {}
    assert desired(**{option: value}, **kw)[option] == value


def test_miimon_interval_zero_refused():
    with pytest.raises(InvalidInput) as err:
        desired(miimon_interval=0, link_detection="miimon")
    assert err.value.option == "miimon_interval"


@pytest.mark.parametrize("kw, option, value", [
    ({"lacp": "off", "lacp_time": "fast"}, "lacp_time", "fast"),
    ({"link_detection": "carrier", "miimon_interval": 100}, "miimon_interval", 100),
])
def test_a_setting_of_a_mode_that_is_off_is_refused(kw, option, value):
    with pytest.raises(InvalidInput) as err:
        desired(**kw)
    assert err.value.option == option and repr(value) in err.value.msg
    other = [k for k in kw if k != option][0]
    assert "%s=%s" % (other, kw[other]) in err.value.msg
