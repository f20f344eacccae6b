# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Planning of linux_bridge (pure functions, exact operations)."""

from __future__ import annotations

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict, InvalidInput
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._linux_bridge import LinuxBridgeResource, plan_bridge


def bridge(**kw):
    return dict(dict(name="br0", state="present", ports=["eth1"], mtu=None, admin_state=None,
                     exclusive_ports=False, port_masters={"eth1": None}), **kw)


def test_bridge_create_and_ports():
    assert plan_bridge(None, bridge()) == [
        Operation("create", "br0", mtu=None, admin_state="up"),
        Operation("add_port", "eth1", changes={"master": {"before": None, "after": "br0"}})]


def test_bridge_unlisted_ports_kept_unless_exclusive():
    cur = {"name": "br0", "kind": "bridge", "mtu": 1500, "admin_state": "up", "ports": ["eth1", "vnet0"]}
    assert plan_bridge(cur, bridge()) == []
    assert plan_bridge(cur, bridge(exclusive_ports=True)) == [
        Operation("remove_port", "vnet0", changes={"master": {"before": "br0", "after": None}})]
    mtu = {"mtu": {"before": 1500, "after": 9000}}
    assert plan_bridge(cur, bridge(mtu=9000)) == [Operation("modify", "br0", changes=mtu)]


def test_bridge_name_taken_by_other_kind():
    with pytest.raises(Conflict, match="not a bridge"):
        plan_bridge({"name": "br0", "kind": "veth", "ports": []}, bridge())


def test_a_port_that_is_down_is_brought_up_in_a_step_of_its_own():
    want = bridge(ports=["eth1", "eth2"], port_masters={"eth1": None, "eth2": None},
                  port_states={"eth1": "up", "eth2": "down"})
    assert [(o.action, o.target) for o in plan_bridge(None, want)] == [
        ("create", "br0"), ("add_port", "eth1"), ("add_port", "eth2"), ("port_up", "eth2")]


def restore(before, **desired):
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils._linux_bridge import LinuxBridgeResource

    res = LinuxBridgeResource({"name": "br0"})
    res.options_read = {"forward_delay": 0}
    return res.restore_desired(before, bridge(**desired))


def test_restore_a_bridge_the_run_created_deletes_it_and_sets_the_ports_it_brought_up_down():
    target = restore(None, ports=["eth1", "eth2"], port_states={"eth1": "up", "eth2": "down"})
    assert target["state"] == "absent" and target["ports_down"] == ["eth2"]
    cur = {"name": "br0", "kind": "bridge", "mtu": 1500, "admin_state": "up", "ports": ["eth1", "eth2"]}
    assert plan_bridge(cur, dict(target, port_states={"eth2": "up"})) == [
        Operation("delete", "br0"),
        Operation("port_down", "eth2", changes={"admin_state": {"before": "up", "after": "down"}})]
    # read back: eth2 is down, the bridge gone: nothing left to do
    assert plan_bridge(None, dict(target, port_states={"eth2": "down"})) == []


def test_restore_puts_back_ports_mtu_state_mac_exactly():
    before = {"name": "br0", "kind": "bridge", "mtu": 1500, "admin_state": "up", "mac": "02:00:00:00:00:01",
              "ifindex": 9, "ports": ["eth1"]}
    target = restore(before, ports=["eth2"], exclusive_ports=True, mtu=9000)
    assert (target["ports"], target["exclusive_ports"], target["mtu"]) == (["eth1"], True, 1500)
    assert target["mac"] == "02:00:00:00:00:01"
    now = dict(before, mtu=9000, mac="02:00:00:00:00:02", ports=["eth2"])
    assert plan_bridge(now, dict(target, port_masters={"eth1": None})) == [
        Operation("modify", "br0", changes={"mtu": {"before": 9000, "after": 1500},
                                            "mac": {"before": "02:00:00:00:00:02", "after": "02:00:00:00:00:01"}}),
        Operation("add_port", "eth1", changes={"master": {"before": None, "after": "br0"}}),
        Operation("remove_port", "eth2", changes={"master": {"before": "br0", "after": None}})]
    # deleted by the run: created again with its ifindex, MAC and options
    assert plan_bridge(None, dict(target, port_masters={"eth1": None}))[0] == Operation(
        "create", "br0", mtu=1500, admin_state="up", mac="02:00:00:00:00:01", ifindex=9,
        options={"forward_delay": 0})


@pytest.mark.parametrize("netns", ["", ".", "..", "ns/1", "ns\x00"])
def test_a_bad_netns_is_refused_naming_it_before_anything_is_read(netns):
    """'' would be the host's own namespace, '..' a path: both refused by the resource's Netlink."""
    with pytest.raises(InvalidInput) as err:
        LinuxBridgeResource({"name": "br0", "state": "present", "ports": None, "mtu": None, "admin_state": None,
                             "exclusive_ports": False, "netns": netns})
    assert err.value.option == "netns" and err.value.value == netns
