# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Rolling back the OVS resources (pure): the restore target of each resource, planned from the
state a run left (predicted), leads back to the state read before; planned from that state, it
is no change at all. The host tier (tests/host/test_ovs_safety.py) proves it on a real OVS."""

from __future__ import annotations

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, Resource, execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    ApplyFailed,
    BackendUnavailable,
    InvalidInput,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_bond import (
    BOND_FIELDS,
    normalize_bond,
    plan_bond,
    predict_bond,
    restore_bond,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_bridge import (
    normalize_bridge,
    plan_bridge,
    predict_bridge,
    restore_bridge,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_common import defaults
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_patch import (
    normalize_patch,
    plan_patch,
    restore_patch,
)


def port(name, **kw):
    base = {"name": name, "type": "internal", "tag": None, "trunks": [], "vlan_mode": None, "external_ids": {},
            "options": {}, "interface_external_ids": {}}
    base.update(kw)
    return base


def bond_port(name, members, **kw):
    base = {"name": name, "type": "bond", "members": members, "tag": None, "trunks": [], "vlan_mode": None,
            "external_ids": {}}
    base.update(kw)
    return base


BEFORE = {"name": "br0", "datapath_type": "netdev", "fail_mode": None, "mcast_snooping": False, "stp": False,
          "other_config": {"mac-aging-time": "300"}, "external_ids": {"owner": "ops"},
          "ports": [bond_port("bond9", ["e1", "e2"], tag=7), port("vm1", tag=10, external_ids={"vm": "one"}),
                    port("vm2", trunks=[20, 30], vlan_mode="trunk")]}


def bridge(**kw):
    params = {"name": "br0", "state": "present"}
    params.update(kw)
    return normalize_bridge(params)


def roundtrip(before, desired):
    """State after the run (predicted), then after the rollback's plan (predicted)."""
    after = predict_bridge(before, plan_bridge(before, desired))
    target = restore_bridge(before, desired)
    return after, predict_bridge(after, plan_bridge(after, target))


@pytest.mark.parametrize("desired", [
    bridge(fail_mode="secure", stp=True, other_config={"mac-aging-time": None, "mac-table-size": 4096},
           external_ids={"owner": "kvt"},
           ports=[{"name": "vm1", "tag": 20, "external_ids": {"vm": None, "x": "y"}, "options": {"k": "v"}},
                  {"name": "vm2", "clear": ["trunks", "vlan_mode"]}, {"name": "vm3", "type": "internal"}]),
    bridge(exclusive_ports=True, ports=[{"name": "vm1"}, {"name": "vm2", "state": "absent"}]),
    bridge(state="absent"),
])
def test_bridge_rollback_leads_back_to_before(desired):
    after, back = roundtrip(BEFORE, desired)
    assert after != BEFORE
    assert back == BEFORE
    assert plan_bridge(BEFORE, restore_bridge(BEFORE, desired)) == []


def test_bridge_rollback_of_a_new_bridge_deletes_it_and_fail_mode_is_cleared():
    desired = bridge(ports=[{"name": "nosuchdev0"}])
    assert plan_bridge(current := predict_bridge(None, plan_bridge(None, desired)),
                       restore_bridge(None, desired)) == [Operation("delete_bridge", "br0")]
    assert current["ports"][0]["name"] == "nosuchdev0"
    ops = plan_bridge(dict(BEFORE, fail_mode="secure"), restore_bridge(BEFORE, bridge(fail_mode="secure")))
    assert ops == [Operation("modify_bridge", "br0", changes={"fail_mode": {"before": "secure", "after": None}})]


def test_bridge_rollback_re_adds_a_bond_port_with_its_members():
    ops = plan_bridge(None, restore_bridge(BEFORE, bridge(state="absent")))
    assert ops[1] == Operation("add_port", "bond9", bridge="br0", type="bond", tag=7, members=["e1", "e2"])


def test_exclusive_and_absent_delete_a_port_once():
    ops = plan_bridge(BEFORE, bridge(exclusive_ports=True, ports=[{"name": "vm1"}, {"name": "vm2", "state": "absent"}]))
    assert sorted(op.target for op in ops) == ["bond9", "vm2"]


def bond(**kw):
    params = {"name": "bond0", "state": "present", "bridge": "br0", "members": ["e1", "e2"]}
    params.update(kw)
    return normalize_bond(params)


BOND_BEFORE = dict(defaults(BOND_FIELDS), name="bond0", bridge="br0", members=["e1", "e2"], tag=None, trunks=[])


@pytest.mark.parametrize("desired", [
    bond(members=["e3", "e4"], bond_mode="balance-tcp", lacp="active", lacp_time="fast", link_detection="miimon",
         miimon_interval=50, lacp_fallback_ab=True, updelay=10, downdelay=20, tag=5, trunks=[7, 8]),
    bond(state="absent"),
])
def test_bond_rollback_leads_back_to_before(desired):
    after = predict_bond(BOND_BEFORE, plan_bond(BOND_BEFORE, desired))
    target = restore_bond(BOND_BEFORE, desired)
    assert after != BOND_BEFORE
    assert predict_bond(after, plan_bond(after, target)) == BOND_BEFORE
    assert plan_bond(BOND_BEFORE, target) == []


def test_bond_defaults_are_cleared_unless_set_explicitly():
    desired = bond(bond_mode="balance-slb", lacp_time="fast")
    after = predict_bond(BOND_BEFORE, plan_bond(BOND_BEFORE, desired))
    unset = plan_bond(after, restore_bond(BOND_BEFORE, desired))[0].changes
    assert unset == {"bond_mode": {"before": "balance-slb", "after": None},
                     "lacp_time": {"before": "fast", "after": None}}
    explicit = plan_bond(after, restore_bond(BOND_BEFORE, desired, frozenset({"lacp_time"})))[0].changes
    assert explicit["lacp_time"] == {"before": "fast", "after": "slow"}
    assert plan_bond(None, restore_bond(BOND_BEFORE, bond(state="absent")))[0] == Operation(
        "create_bond", "bond0", bridge="br0", members=["e1", "e2"], updelay=0, downdelay=0)


def link(**kw):
    params = {"bridge": "br0", "peer_bridge": "br1", "port": "p0", "peer_port": "p1"}
    params.update(kw)
    return normalize_patch(params)


def end(name, bridge_name, type_, **options):
    return port(name, type=type_, options=options, bridge=bridge_name)


VETH = {"bridge": "br0", "peer_bridge": "br1", "veth": "veth",
        "ends": {"p0": end("p0", "br0", "system", mtu="1"), "p1": end("p1", "br1", "system")}}
PATCHED = {"bridge": "br0", "peer_bridge": "br1", "veth": None,
           "ends": {"p0": end("p0", "br0", "patch", mtu="1", peer="p1"), "p1": end("p1", "br1", "patch", peer="p0")}}


def test_patch_rollback_of_a_switch_makes_the_veth_again_and_puts_the_ports_back():
    target = restore_patch(VETH, link(link_type="patch"))
    ops = plan_patch(PATCHED, target)
    assert ops == [
        Operation("create_veth", "p0", peer="p1"),
        Operation("modify_port", "p0", bridge="br0", changes={
            "type": {"before": "patch", "after": "system"},
            "options": {"before": {"mtu": "1", "peer": "p1"}, "after": {"mtu": "1"}}}),
        Operation("modify_port", "p1", bridge="br1", changes={
            "type": {"before": "patch", "after": "system"},
            "options": {"before": {"peer": "p0"}, "after": {}}}),
    ]
    assert plan_patch(VETH, target) == []
    assert plan_patch(PATCHED, restore_patch(PATCHED, link(link_type="veth"))) == []


def test_patch_rollback_of_a_new_link_removes_it():
    target = restore_patch(None, link(link_type="veth"))
    assert plan_patch(VETH, target) == [Operation("delete_port", "p0", bridge="br0"),
                                        Operation("delete_port", "p1", bridge="br1"),
                                        Operation("delete_veth", "p0", peer="p1")]
    half = {"bridge": "br0", "peer_bridge": "br1", "veth": None, "ends": {"p0": PATCHED["ends"]["p0"]}}
    assert plan_patch(PATCHED, restore_patch(half, link())) == [Operation("delete_port", "p1", bridge="br1")]


@pytest.mark.parametrize("name", ["p" * 16, "a b", "a/b", "..", "a\nb", "eth:1", "\u00e0"])
def test_names_no_kernel_device_can_have_are_refused(name):
    for params, option in ((dict(ports=[{"name": "vm1"}, {"name": "vm2"}, {"name": name}]), "ports[2].name"),
                           (dict(ports=[{"name": "p9", "type": "patch", "peer": name}]), "ports[0].peer"),
                           (dict(name=name), "name")):
        with pytest.raises(InvalidInput) as err:
            bridge(**params)
        assert err.value.option == option and repr(name) in err.value.msg
    for params, option in ((dict(members=["e1", name]), "members[1]"), (dict(bridge=name), "bridge"),
                           (dict(name=name), "name")):
        with pytest.raises(InvalidInput) as err:
            bond(**params)
        assert err.value.option == option
    for option in ("bridge", "peer_bridge", "port", "peer_port"):
        with pytest.raises(InvalidInput) as err:
            link(**{option: name})
        assert err.value.option == option


class Untouched(Resource):
    """A transactional resource whose commit was never sent and whose backend is then gone."""

    def normalize(self):
        return {"name": "x", "state": "present"}

    def read_current(self):
        if self.params.get("gone"):
            raise BackendUnavailable("database: cannot reach the server")
        return None

    def plan(self, current, desired):
        return [Operation("create", "x")]

    def apply(self, operations):
        self.params["gone"] = True
        raise ApplyFailed("database: the connection was lost before the transaction was sent", applied=[],
                          failed_step={"action": "commit", "target": "x"}, cause="backend_unavailable",
                          unchanged=self.params["unchanged"])


def test_engine_does_not_read_back_a_host_the_apply_left_untouched():
    with pytest.raises(ApplyFailed) as err:
        execute(Untouched({"unchanged": True}))
    assert err.value.details["changed"] is False and err.value.details["reverted"] == []
    assert "nothing was applied" in err.value.msg and err.value.details["cause"] == "backend_unavailable"
    with pytest.raises(ApplyFailed) as err:  # not known to be untouched: the rollback must read, and cannot
        execute(Untouched({"unchanged": False}))
    assert err.value.details["changed"] is True and "cannot reach the server" in err.value.details["rollback_error"]
