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


# -- VLAN filtering ------------------------------------------------------------------------------
def vlan_params(**kw):
    return dict(dict(name="br0", state="present", ports=["eth1"], vlan_filtering=True), **kw)


@pytest.mark.parametrize("params, words", [
    (dict(vlan_filtering=None, port_vlans=[{"port": "eth1", "tagged": "10"}]),
     "vlan_filtering: None must be true when port_vlans is given"),
    (dict(vlan_filtering=False, default_pvid=5, self_vlans={"tagged": "5"}),
     "vlan_filtering: False must be true when default_pvid, self_vlans are given"),
    (dict(default_pvid=4095), "default_pvid: 4095 is not a VLAN id"),
    (dict(port_vlans=[{"port": "br0", "tagged": "10"}]), "port_vlans.port: 'br0' is the bridge itself"),
    (dict(port_vlans=[{"port": "eth1", "tagged": "10"}, {"port": "eth1", "tagged": "11"}]),
     "port_vlans.port: 'eth1' is listed twice"),
    (dict(port_vlans=[{"port": "eth1", "tagged": "0"}]), "port_vlans[eth1].tagged: '0' holds VLAN 0"),
    (dict(port_vlans=[{"port": "eth1", "tagged": "20-10"}]), "port_vlans[eth1].tagged: '20-10' holds the reversed"),
    (dict(port_vlans=[{"port": "eth1", "pvid": 7, "tagged": "10-20"}]), "port_vlans[eth1].pvid: 7 is not one of"),
    (dict(self_vlans={"untagged": "5", "tagged": "1-9"}), "self_vlans.tagged: '1-9' overlaps self_vlans.untagged"),
])
def test_vlan_input_is_refused_naming_the_option_before_the_host_is_read(params, words):
    with pytest.raises(InvalidInput) as exc:
        LinuxBridgeResource(vlan_params(**params)).normalize()
    assert words in exc.value.msg


def vlan_bridge(ports=("eth1",), default_pvid=1, filtering=True, self_vlans=None, **port_vlans):
    entries = [dict(port=p, **port_vlans.get(p, {"pvid": default_pvid, "untagged": str(default_pvid), "tagged": ""}))
               for p in ports]
    return {"name": "br0", "kind": "bridge", "mtu": 1500, "admin_state": "up", "ports": list(ports),
            "vlan_filtering": filtering, "default_pvid": default_pvid, "port_vlans": entries,
            "self_vlans": self_vlans or {"pvid": default_pvid, "untagged": str(default_pvid), "tagged": ""}}


def desired_of(**params):
    res = LinuxBridgeResource(vlan_params(**params))
    want = res.normalize()
    want["port_masters"] = {p: None for p in want["ports"] or []}
    return res, want


def test_new_vlan_aware_bridge_sets_the_options_before_the_ports_join_and_exclusive_drops_the_default():
    res, want = desired_of(default_pvid=0, port_vlans=[{"port": "eth1", "tagged": "100-102"}],
                           self_vlans={"pvid": 100, "untagged": "100"}, vlans_exclusive=True)
    ops = plan_bridge(None, want)
    assert [(o.action, o.target) for o in ops] == [("create", "br0"), ("modify", "br0"), ("add_port", "eth1"),
                                                   ("vlan_add", "eth1"), ("vlan_add", "br0")]
    assert ops[1].changes == {"vlan_filtering": {"before": False, "after": True},
                              "default_pvid": {"before": 1, "after": 0}}
    # default PVID 0: eth1 joins without VLANs, the bridge's own VLAN 1 is gone: nothing to delete
    assert ops[3].params == {"vlans": [{"vids": "100-102", "pvid": False, "untagged": False}]}
    assert ops[4].params == {"vlans": [{"vids": "100", "pvid": True, "untagged": True}], "bridge_self": True}
    after = res.predict(None, want, ops)
    assert after["port_vlans"] == [{"port": "eth1", "pvid": 0, "untagged": "", "tagged": "100-102"}]
    assert after["self_vlans"] == {"pvid": 100, "untagged": "100", "tagged": ""}
    # with the default PVID kept, exclusive removes VLAN 1 from the new port
    res, want = desired_of(port_vlans=[{"port": "eth1", "tagged": "100"}], vlans_exclusive=True)
    ops = plan_bridge(None, want)
    assert ops[-1] == Operation("vlan_del", "eth1", vids="1", changes={"vlans": {
        "before": {"pvid": 1, "untagged": "1", "tagged": "100"}, "after": {"pvid": 0, "untagged": "", "tagged": "100"}}})


def test_vlans_not_named_stay_and_a_rerun_is_empty():
    cur = vlan_bridge(ports=("eth1", "vnet0"), eth1={"pvid": 1, "untagged": "1", "tagged": "100-110"},
                      vnet0={"pvid": 100, "untagged": "100", "tagged": ""})
    dummy, want = desired_of(port_vlans=[{"port": "eth1", "tagged": "100-110"}])
    assert plan_bridge(cur, want) == []
    dummy, want = desired_of(port_vlans=[{"port": "eth1", "tagged": "100-110"}], vlans_exclusive=True)
    assert [(o.action, o.target, o.params) for o in plan_bridge(cur, want)] == [("vlan_del", "eth1", {"vids": "1"})]
    dummy, want = desired_of(port_vlans=[{"port": "eth9", "tagged": "5"}])
    with pytest.raises(Conflict, match="port_vlans: 'eth9' is not a port of br0"):
        plan_bridge(cur, want)


def test_restore_puts_back_every_port_vlan_and_the_options_exactly():
    before = dict(vlan_bridge(eth1={"pvid": 1, "untagged": "1", "tagged": "100"}), mac="02:00:00:00:00:01",
                  ifindex=9)
    res = LinuxBridgeResource({"name": "br0"})
    res.options_read = {}
    target = res.restore_desired(before, bridge())
    now = vlan_bridge(default_pvid=1, filtering=True, eth1={"pvid": 0, "untagged": "", "tagged": "100-110"})
    ops = plan_bridge(dict(now, mac="02:00:00:00:00:01"), dict(target, port_masters={}))
    assert [(o.action, o.target) for o in ops] == [("vlan_add", "eth1"), ("vlan_del", "eth1")]
    assert ops[1].params["vids"] == "101-110"
    # a kernel that reports no bridge VLAN (no CONFIG_BRIDGE_VLAN_FILTERING): nothing to put back
    bare = vlan_bridge(filtering=False, eth1={"pvid": 0, "untagged": "", "tagged": ""},
                       self_vlans={"pvid": 0, "untagged": "", "tagged": ""})
    assert res.restore_desired(dict(bare, mac=None, ifindex=9), bridge())["port_vlans"] is None
