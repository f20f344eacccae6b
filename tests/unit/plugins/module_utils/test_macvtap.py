# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""macvtap planning: exact operations from a current link and the desired one."""

from __future__ import annotations

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict, InvalidInput
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._macvtap import (
    MacvtapResource,
    canonical_mode,
    plan_macvtap,
)

CURRENT = {"name": "mvt0", "kind": "macvtap", "link": "eth1", "mode": "vepa",
           "mac": "1a:34:34:34:45:42", "mtu": 1500, "admin_state": "up", "ifindex": 7}


def desired(**kw):
    base = {"name": "mvt0", "state": "present", "link": "eth1", "mode": None, "mac": None,
            "mtu": None, "admin_state": None}
    base.update(kw)
    return base


def test_create_uses_defaults():
    assert plan_macvtap(None, desired(mac="1a:34:34:34:45:42")) == [
        Operation("create", "mvt0", link="eth1", mode="bridge", admin_state="up", mac="1a:34:34:34:45:42")]


def test_unchanged_when_everything_matches():
    assert plan_macvtap(CURRENT, desired(mode="vepa", mac="1a:34:34:34:45:42", mtu=1500, admin_state="up")) == []


def test_not_mentioned_left_alone():
    assert plan_macvtap(CURRENT, desired()) == []


def test_mode_and_mac_modified_in_place():
    ops = plan_macvtap(CURRENT, desired(mode="bridge", mac="02:00:00:00:00:01"))
    assert ops == [Operation("modify", "mvt0", changes={
        "mode": {"before": "vepa", "after": "bridge"},
        "mac": {"before": "1a:34:34:34:45:42", "after": "02:00:00:00:00:01"}})]


def test_lower_change_deletes_then_creates_keeping_mac():
    ops = plan_macvtap(CURRENT, desired(link="eth2"))
    assert ops == [Operation("delete", "mvt0", reason="lower device eth1 -> eth2"),
                   Operation("create", "mvt0", link="eth2", mode="vepa", mac="1a:34:34:34:45:42", mtu=1500,
                             admin_state="up")]


def test_passthru_transition_deletes_then_creates():
    ops = plan_macvtap(CURRENT, desired(mode="passthru"))
    assert [op.action for op in ops] == ["delete", "create"]
    assert ops[1].params["mode"] == "passthru"
    assert "cannot change in place" in ops[0].params["reason"]


def test_restore_brings_back_the_link_as_read_with_its_ifindex():
    res = MacvtapResource({"name": "mvt0", "link": "eth2", "netns": None})
    before = dict(CURRENT, ifindex=12)
    target = res.restore_desired(before, desired(link="eth2", mode="passthru"))
    assert target == {"name": "mvt0", "state": "present", "link": "eth1", "mode": "vepa",
                      "mac": "1a:34:34:34:45:42", "mtu": 1500, "admin_state": "up", "ifindex": 12}
    # deleted by the run: created again as the same device
    assert plan_macvtap(None, target) == [Operation("create", "mvt0", link="eth1", mode="vepa",
                                                    mac="1a:34:34:34:45:42", mtu=1500, admin_state="up", ifindex=12)]
    # recreated by the run (a new ifindex, passthru on eth2): deleted and created again
    now = dict(CURRENT, link="eth2", mode="passthru", ifindex=13)
    ops = plan_macvtap(now, target)
    assert [(o.action, o.params.get("ifindex")) for o in ops] == [("delete", None), ("create", 12)]
    assert plan_macvtap(before, target) == []
    assert res.restore_desired(None, desired())["state"] == "absent"


def test_absent():
    assert plan_macvtap(CURRENT, desired(state="absent", link=None)) == [Operation("delete", "mvt0")]
    assert plan_macvtap(None, desired(state="absent", link=None)) == []


@pytest.mark.parametrize("state", ["present", "absent"])
def test_other_kind_is_never_touched(state):
    veth = dict(CURRENT, kind="veth")
    with pytest.raises(Conflict, match="already exists as a veth link"):
        plan_macvtap(veth, desired(state=state))


def test_passthrough_alias():
    assert canonical_mode("passthrough") == "passthru"
    with pytest.raises(InvalidInput, match="mode"):
        canonical_mode("hairpin")


@pytest.mark.parametrize("params,option", [
    ({"mac": "zz"}, "mac"),
    ({"mac": "01:00:5e:00:00:01"}, "mac"),
    ({"name": "x" * 16}, "name"),
    ({"link": "y" * 16}, "link"),
    ({"mtu": 10}, "mtu"),
    ({"link": "mvt0"}, "link"),
    ({"mac": "52:54:00:6b:00:1\n"}, "mac"),
    ({"mac": "52:54:00:6b:00:01 "}, "mac"),
    ({"netns": ""}, "netns"),
    ({"netns": ".."}, "netns"),
    ({"netns": "a/b"}, "netns"),
])
def test_bad_input_names_option(params, option):
    base = {"name": "mvt0", "state": "present", "link": "eth1", "mode": None, "mac": None, "mtu": None,
            "admin_state": None, "netns": None}
    base.update(params)
    with pytest.raises(InvalidInput) as info:
        MacvtapResource(base).normalize()
    assert info.value.option == option
