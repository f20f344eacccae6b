# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ovs_patch planning: patch peers, veth pairs, switching between them; validation."""

from __future__ import annotations

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict, InvalidInput
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_patch import normalize_patch, plan_patch


def desired(**kw):
    params = {"bridge": "br0", "peer_bridge": "br1", "port": "p0", "peer_port": "p1"}
    params.update(kw)
    return normalize_patch(params)


def end(name, bridge, type_="patch", **options):
    return {"name": name, "bridge": bridge, "type": type_, "options": options}


def test_patch_pair_created_with_peers():
    assert plan_patch({}, desired()) == [
        Operation("add_port", "p0", bridge="br0", type="patch", options={"peer": "p1"}),
        Operation("add_port", "p1", bridge="br1", type="patch", options={"peer": "p0"}),
    ]


def test_patch_pair_unchanged_and_wrong_peer_fixed():
    ok = {"ends": {"p0": end("p0", "br0", peer="p1"), "p1": end("p1", "br1", peer="p0")}, "veth": None}
    assert plan_patch(ok, desired()) == []
    wrong = {"ends": {"p0": end("p0", "br0", peer="x"), "p1": end("p1", "br1", peer="p0")}, "veth": None}
    assert plan_patch(wrong, desired()) == [Operation("modify_port", "p0", bridge="br0", changes={
        "options": {"before": {"peer": "x"}, "after": {"peer": "p1"}}})]


def test_veth_pair_and_switch_back_to_patch():
    assert plan_patch({}, desired(link_type="veth")) == [
        Operation("create_veth", "p0", peer="p1"),
        Operation("add_port", "p0", bridge="br0", type="system"),
        Operation("add_port", "p1", bridge="br1", type="system"),
    ]
    veth = {"ends": {"p0": end("p0", "br0", "system"), "p1": end("p1", "br1", "system")}, "veth": "veth"}
    assert plan_patch(veth, desired(link_type="veth")) == []
    ops = plan_patch(veth, desired())
    assert [o.action for o in ops] == ["modify_port", "modify_port", "delete_veth"]
    assert ops[0].changes["type"] == {"before": "system", "after": "patch"}


def test_absent_removes_both_ends():
    veth = {"ends": {"p0": end("p0", "br0", "system"), "p1": end("p1", "br1", "system")}, "veth": "veth"}
    assert plan_patch(veth, desired(state="absent")) == [
        Operation("delete_port", "p0", bridge="br0"), Operation("delete_port", "p1", bridge="br1"),
        Operation("delete_veth", "p0", peer="p1")]
    assert plan_patch({}, desired(state="absent")) == []


def test_conflicts():
    with pytest.raises(Conflict):
        plan_patch({"ends": {"p0": end("p0", "br9", peer="p1")}, "veth": None}, desired())
    with pytest.raises(Conflict):
        plan_patch({"ends": {}, "veth": "bridge"}, desired(link_type="veth"))


@pytest.mark.parametrize("kw, option", [
    ({"peer_bridge": "br0"}, "peer_bridge"),
    ({"peer_port": "p0"}, "peer_port"),
    ({"port": None, "link_type": "veth", "bridge": "bridge-long", "peer_bridge": "other"}, "port"),
    ({"bridge": None}, "bridge"),
])
def test_bad_input(kw, option):
    with pytest.raises(InvalidInput) as err:
        desired(**kw)
    assert err.value.option == option


@pytest.mark.parametrize("link_type", ["patch", "veth"])
@pytest.mark.parametrize("kw, option", [
    ({"port": ""}, "port"),
    ({"peer_port": ""}, "peer_port"),
    ({"port": "p\x000"}, "port"),
    ({"netns": ""}, "netns"),
    ({"netns": "."}, "netns"),
    ({"netns": ".."}, "netns"),
    ({"netns": "ns/x"}, "netns"),
    ({"netns": "ns\nx"}, "netns"),
    ({"netns": "ns\x00x"}, "netns"),
    ({"netns": "n" * 256}, "netns"),
])
def test_empty_names_and_bad_netns_refused_for_either_link_type(kw, option, link_type):
    """'' is not "the default name"; netns is checked even where a patch link does not use it."""
    with pytest.raises(InvalidInput) as err:
        desired(link_type=link_type, **kw)
    assert err.value.option == option
    assert repr(kw[option]) in err.value.msg


def test_default_port_names_and_a_good_netns():
    d = desired(port=None, peer_port=None, netns="kvt-ns_1.a")
    assert (d["port"], d["peer_port"]) == ("br0-to-br1", "br1-to-br0")
