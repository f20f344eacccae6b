# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 12 for the OVS modules: a failed run is rolled back, errors are typed, bad names refused.

Each scenario snapshots the private OVS (``ovsdb_state``: every table as ovsdb-client dumps it;
``netns_state``: the links, addresses and routes of the OVS namespace) before a run that fails,
and compares after the rollback. Failures are injected at the step boundaries of the
transactional apply (``fail_at(..., method="apply")``: before the transaction, and after it
committed and ovs-vswitchd applied it) and come for real from ovs-vswitchd refusing an
interface after the commit, from another OVSDB client deleting a row between the read and the
commit, and from ovsdb-server being killed or stopped.

A run that deleted rows puts them back as new rows (new UUIDs, and the columns the modules do
not manage at their defaults): those scenarios compare ``named_ovsdb_state``, the dump with each
UUID replaced by the table and name of its row, and only the names of the links (a tap made
again has a new ifindex and MAC).
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute, restore_to
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import ApplyFailed, InvalidInput
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_bond import OvsBondResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_bridge import OvsBridgeResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_patch import OvsPatchResource
from testbed.inject import check_every_step, netns_state, ovsdb_state

BRIDGE = dict(name="br0", state="present", datapath_type="netdev", timeout=10)
BOND = dict(name="bond0", bridge="br0", state="present", timeout=10)
PATCH = dict(bridge="br0", peer_bridge="br1", port="pa", peer_port="pb", link_type="patch", state="present",
             timeout=10)


def named_ovsdb_state(ovs):
    """ovsdb_state with every UUID replaced by ``Table:name`` of its row (``Table:#n`` for rows
    without a name), rows sorted again: equal when the same rows hold the same values."""
    state = ovsdb_state(ovs)
    names = {}
    for caption, (headings, rows) in state.items():
        table = caption.split(" ")[0]
        for i, text in enumerate(rows):
            row = dict(zip(headings, json.loads(text)))
            names[row["_uuid"][1]] = "%s:%s" % (table, row["name"] if "name" in row else "#%d" % i)

    def rename(value):
        if isinstance(value, list) and len(value) == 2 and value[0] == "uuid":
            return names.get(value[1], "foreign")
        if isinstance(value, list) and len(value) == 2 and value[0] == "set":
            return ["set", sorted((rename(v) for v in value[1]), key=json.dumps)]
        if isinstance(value, list):
            return [rename(v) for v in value]
        return value

    return {caption: (headings, sorted(json.dumps(rename(json.loads(text))) for text in rows))
            for caption, (headings, rows) in state.items()}


def link_names(ns):
    return sorted(link["ifname"] for link in json.loads(ns.ip("-j", "link", "show")))


def exact(ovs):
    return lambda: {"ovsdb": ovsdb_state(ovs), "netns": netns_state(ovs.netns)}


def by_name(ovs):
    return lambda: {"ovsdb": named_ovsdb_state(ovs), "links": link_names(ovs.netns)}


def sweep(cls, params, snap):
    """The step boundaries of a transactional apply: the whole apply fails before it ran, and
    after it committed (ovs-vswitchd has applied it). Returns the two ApplyFailed."""
    errors = []
    for after in (False, True):
        errors += check_every_step(lambda wrap: wrap(cls)(dict(params)), snap, 1, after=after, method="apply")
    assert errors[0].details["applied"] == [] and errors[0].details["reverted"] == []
    assert errors[1].details["reverted"], "nothing was reverted after the transaction committed"
    return errors


def vsctl_bridge(ovs):
    """br0 with settings and ports made with ovs-vsctl, the way an operator's host has them."""
    ovs.add_bridge("br0", "other_config:mac-aging-time=300", "external_ids:owner=ops")
    ovs.vsctl("add-port", "br0", "vm1", "tag=10", "external_ids:vm=one", "--", "set", "interface", "vm1",
              "type=internal", "external_ids:iface-id=abc")
    ovs.vsctl("add-port", "br0", "vm2", "trunks=20,30", "--", "set", "interface", "vm2", "type=internal")


# -- ovs_bridge ---------------------------------------------------------------------------------
def test_bridge_create_rolled_back_at_every_step(ovs):
    params = dict(BRIDGE, database=ovs.db, fail_mode="secure", other_config={"mac-aging-time": 60},
                  external_ids={"owner": "kvt"}, ports=[{"name": "vm1", "type": "internal", "tag": 10},
                                                        {"name": "vm2", "type": "internal", "trunks": [2, 3]}])
    errors = sweep(OvsBridgeResource, params, exact(ovs))
    assert [op["action"] for op in errors[1].details["reverted"]] == ["delete_bridge"]
    assert "br0" not in ovs.vsctl("list-br").split()


def test_bridge_modify_rolled_back_exactly(ovs):
    """Retag, clear, new keys, removed keys, fail_mode set where it was unset, a port added:
    every column and map key back as it was (keys the run added removed, unset columns unset)."""
    vsctl_bridge(ovs)
    params = dict(BRIDGE, database=ovs.db, fail_mode="secure", stp=True,
                  other_config={"mac-aging-time": None, "mac-table-size": 4096}, external_ids={"owner": "kvt"},
                  ports=[{"name": "vm1", "tag": 20, "external_ids": {"vm": None, "extra": "x"},
                          "interface_external_ids": {"iface-id": "def"}},
                         {"name": "vm2", "clear": ["trunks"], "vlan_mode": "trunk"},
                         {"name": "vm3", "type": "internal", "tag": 30}])
    errors = sweep(OvsBridgeResource, params, exact(ovs))
    reverted = {op["target"]: op for op in errors[1].details["reverted"]}
    assert reverted["vm3"]["action"] == "delete_port"
    assert reverted["br0"]["changes"]["fail_mode"] == {"before": "secure", "after": None}
    assert ovs.vsctl("get", "port", "vm1", "tag") == "10"
    assert ovs.vsctl("get", "bridge", "br0", "fail_mode") == "[]"


def test_bridge_deletions_rolled_back(ovs):
    """exclusive_ports and state: absent remove ports, state: absent the whole bridge; a rollback
    adds them back with every column the module manages."""
    vsctl_bridge(ovs)
    ovs.netns.add_veth("up0", "up0p")
    ovs.vsctl("add-port", "br0", "up0", "vlan_mode=native-untagged", "tag=5", "--", "set", "interface", "up0",
              "options:foo=bar")
    ovs.netns.add_veth("e1", "e1p")
    ovs.netns.add_veth("e2", "e2p")
    ovs.vsctl("add-bond", "br0", "bond9", "e1", "e2", "tag=7", "--", "set", "port", "bond9", "external_ids:b=1")
    exclusive = dict(BRIDGE, database=ovs.db, exclusive_ports=True,
                     ports=[{"name": "vm1"}, {"name": "up0", "state": "absent"}])
    errors = sweep(OvsBridgeResource, exclusive, by_name(ovs))
    assert {op["target"] for op in errors[1].details["reverted"]} == {"vm2", "up0", "bond9"}
    assert sorted(ovs.vsctl("list-ports", "br0").split()) == ["bond9", "up0", "vm1", "vm2"]
    assert ovs.vsctl("get", "port", "bond9", "tag") == "7"
    gone = dict(BRIDGE, database=ovs.db, state="absent")
    errors = sweep(OvsBridgeResource, gone, by_name(ovs))
    assert [op["action"] for op in errors[1].details["reverted"]][:1] == ["create_bridge"]


def test_bridge_port_vswitchd_refuses_is_rolled_back(ovs):
    """The case of the issue: the rows are committed, ovs-vswitchd cannot open the device; the
    rollback removes the rows again, and the result says so (changed: false)."""
    vsctl_bridge(ovs)
    before = exact(ovs)()
    with pytest.raises(ApplyFailed) as err:
        execute(OvsBridgeResource(dict(BRIDGE, database=ovs.db,
                                       ports=[{"name": "vm1", "tag": 11}, {"name": "nosuchdev0"}])))
    details = err.value.details
    assert exact(ovs)() == before
    assert details["rolled_back"] is True and details["changed"] is False
    assert details["failed_step"]["action"] == "vswitchd_setup" and details["failed_step"]["target"] == "nosuchdev0"
    assert [op["action"] for op in details["applied"]] == ["modify_port", "add_port"]
    assert {(op["action"], op["target"]) for op in details["reverted"]} == {("modify_port", "vm1"),
                                                                            ("delete_port", "nosuchdev0")}
    assert "nosuchdev0" in err.value.msg and "verified back" in err.value.msg

    before = exact(ovs)()
    with pytest.raises(ApplyFailed) as err:
        execute(OvsBridgeResource(dict(BRIDGE, name="br9", database=ovs.db, ports=[{"name": "nosuchdev1"}])))
    assert err.value.details["rolled_back"] is True and exact(ovs)() == before
    assert "br9" not in ovs.vsctl("list-br").split()


@pytest.mark.parametrize("name, why", [
    ("p" * 16, "16 bytes"), ("a b", "0x20"), ("a/b", "0x2f"), ("..", "'.' or '..'"), ("a\nb", "0x0a"),
    ("eth:1", "0x3a"), ("à", "0xa0"),
])
def test_bridge_refuses_names_no_kernel_device_can_have(ovs, name, why):
    vsctl_bridge(ovs)
    before = exact(ovs)()
    for ports, option in (([{"name": "vm1"}, {"name": "vm2"}, {"name": name}], "ports[2].name"),
                          ([{"name": "vm9", "type": "patch", "peer": name}], "ports[0].peer")):
        with pytest.raises(InvalidInput) as err:
            execute(OvsBridgeResource(dict(BRIDGE, database=ovs.db, ports=ports)))
        assert err.value.option == option and repr(name) in err.value.msg and why in err.value.msg
    with pytest.raises(InvalidInput) as err:
        execute(OvsBridgeResource(dict(BRIDGE, name=name, database=ovs.db)))
    assert err.value.option == "name"
    assert exact(ovs)() == before


class DeleteRowBeforeCommit(OvsBridgeResource):
    """Another OVSDB client (ovs-vsctl) deletes port vm2 after this run read the database."""

    ovs = None

    def apply(self, operations):
        if not self.db.attempted:
            self.ovs.vsctl("--no-wait", "del-port", "br0", "vm2")
        super().apply(operations)


def test_row_deleted_between_read_and_commit_is_a_typed_error(ovs):
    vsctl_bridge(ovs)
    DeleteRowBeforeCommit.ovs = ovs
    with pytest.raises(ApplyFailed) as err:
        execute(DeleteRowBeforeCommit(dict(BRIDGE, database=ovs.db,
                                           ports=[{"name": "vm1", "tag": 11}, {"name": "vm2", "tag": 12}])))
    details = err.value.details
    assert details["cause"] == "conflict" and details["changed"] is False and details["applied"] == []
    assert "port 'vm2' was removed by another OVSDB client" in err.value.msg and "bridge br0" in err.value.msg
    assert ovs.vsctl("get", "port", "vm1", "tag") == "10", "half of the plan was committed"
    assert sorted(ovs.vsctl("list-ports", "br0").split()) == ["vm1"], "the rollback undid the other client"


def test_ovsdb_server_killed_before_the_commit(ovs):
    class KillFirst(OvsBridgeResource):
        def apply(self, operations):
            ovs.kill_ovsdb()
            super().apply(operations)

    t0 = time.monotonic()
    with pytest.raises(ApplyFailed) as err:
        execute(KillFirst(dict(BRIDGE, database=ovs.db, timeout=3, ports=[{"name": "vm1", "type": "internal"}])))
    assert time.monotonic() - t0 < 3
    details = err.value.details
    assert details["cause"] == "backend_unavailable" and ovs.db in err.value.msg and "bridge br0" in err.value.msg
    assert details["changed"] is False and details["reverted"] == [] and "nothing was applied" in err.value.msg
    ovs.start_ovsdb()
    assert "br0" not in ovs.vsctl("list-br").split()


def test_ovsdb_server_stops_answering(ovs):
    """SIGSTOP: the socket stays, no answer comes. The run gives up after its timeout, cannot
    say whether the transaction will be applied, and does not claim the host is back."""
    pid = ovs.pid("ovsdb-server")
    stopped = []

    class StopFirst(OvsBridgeResource):
        def apply(self, operations):
            os.kill(pid, signal.SIGSTOP)  # kill_ovsdb's probe would outlast the IDL's inactivity probe
            stopped.append(time.monotonic())
            super().apply(operations)

    try:
        with pytest.raises(ApplyFailed) as err:
            execute(StopFirst(dict(BRIDGE, database=ovs.db, timeout=2, ports=[{"name": "vm1",
                                                                              "type": "internal"}])))
        took = time.monotonic() - stopped[0]
    finally:
        os.kill(pid, signal.SIGCONT)
    details = err.value.details
    assert 2 <= took < 3, "not within the timeout: %.1f s" % took
    assert details["cause"] == "backend_unavailable" and ovs.db in err.value.msg and "bridge br0" in err.value.msg
    assert "may or may not have been applied" in err.value.msg
    assert details["rolled_back"] is False and details["changed"] is True
    assert ovs.db in details["rollback_error"]


# -- ovs_bond -----------------------------------------------------------------------------------
@pytest.fixture
def bonded(ovs):
    """br0 with veths e1..e4 to bond (their peers stay in the namespace)."""
    ovs.add_bridge("br0")
    for i in (1, 2, 3, 4):
        ovs.netns.add_veth("e%d" % i, "e%dp" % i)
    return ovs


def test_bond_create_rolled_back_at_every_step(bonded):
    params = dict(BOND, database=bonded.db, members=["e1", "e2"], bond_mode="balance-tcp", lacp="active",
                  lacp_time="fast", tag=10)
    errors = sweep(OvsBondResource, params, exact(bonded))
    assert [op["action"] for op in errors[1].details["reverted"]] == ["delete_bond"]


def test_bond_modify_rolled_back_exactly(bonded):
    """Columns and other_config keys that were unset are unset again (not set to OVS's default);
    one set explicitly to its default value keeps it."""
    bonded.vsctl("add-bond", "br0", "bond0", "e1", "e2", "other_config:lacp-time=slow")
    params = dict(BOND, database=bonded.db, members=["e1", "e2", "e3"], bond_mode="balance-slb", lacp="active",
                  lacp_time="fast", link_detection="miimon", miimon_interval=100, lacp_fallback_ab=True, updelay=50,
                  trunks=[5, 6])
    errors = sweep(OvsBondResource, params, exact(bonded))
    change = errors[1].details["reverted"][0]["changes"]
    assert change["bond_mode"]["after"] is None and change["lacp_time"]["after"] == "slow"
    assert change["members"] == {"before": ["e1", "e2", "e3"], "after": ["e1", "e2"]}
    assert bonded.vsctl("get", "port", "bond0", "other_config") == '{lacp-time=slow}'
    # a member the run removed comes back as a new Interface row
    sweep(OvsBondResource, dict(params, members=["e3", "e4"]), by_name(bonded))
    assert bonded.vsctl("get", "port", "bond0", "bond_mode") == "[]"


def test_bond_member_vswitchd_refuses_is_rolled_back(bonded):
    bonded.vsctl("add-bond", "br0", "bond0", "e1", "e2")
    before = exact(bonded)()
    with pytest.raises(ApplyFailed) as err:
        execute(OvsBondResource(dict(BOND, database=bonded.db, members=["e1", "e2", "nosuch0"], lacp="active")))
    details = err.value.details
    assert exact(bonded)() == before
    assert details["rolled_back"] is True and details["changed"] is False
    assert details["failed_step"]["target"] == "nosuch0" and "nosuch0" in err.value.msg


def test_bond_delete_rolled_back(bonded):
    bonded.vsctl("add-bond", "br0", "bond0", "e1", "e2", "bond_mode=balance-slb", "tag=9",
                 "other_config:bond-detect-mode=miimon")
    errors = sweep(OvsBondResource, dict(BOND, database=bonded.db, state="absent"), by_name(bonded))
    assert [op["action"] for op in errors[1].details["reverted"]] == ["create_bond"]
    assert bonded.vsctl("get", "port", "bond0", "bond_mode") == "balance-slb"


def test_bond_refuses_bad_names(bonded):
    before = exact(bonded)()
    for params, option in ((dict(members=["e1", "e 2"]), "members[1]"), (dict(bridge="br/0", members=["e1", "e2"]),
                                                                         "bridge"),
                           (dict(name="b" * 16, members=["e1", "e2"]), "name")):
        with pytest.raises(InvalidInput) as err:
            execute(OvsBondResource(dict(BOND, database=bonded.db, **params)))
        assert err.value.option == option
    assert exact(bonded)() == before


# -- ovs_patch ----------------------------------------------------------------------------------
@pytest.fixture
def bridges(ovs):
    ovs.add_bridge("br0")
    ovs.add_bridge("br1")
    return ovs


def test_patch_create_rolled_back_at_every_step(bridges):
    for link_type in ("patch", "veth"):
        params = dict(PATCH, database=bridges.db, netns=bridges.netns.name, link_type=link_type)
        errors = sweep(OvsPatchResource, params, exact(bridges))
        actions = sorted(op["action"] for op in errors[1].details["reverted"])
        assert actions == (["delete_port", "delete_port"] + (["delete_veth"] if link_type == "veth" else []))


def test_patch_switch_rolled_back(bridges):
    """veth -> patch changes both ports in place and deletes the veth: the rollback puts the
    ports back exactly and makes the veth again (a new pair: the links are compared by name)."""
    params = dict(PATCH, database=bridges.db, netns=bridges.netns.name)
    assert execute(OvsPatchResource(dict(params, link_type="veth")))["changed"]

    def snap():
        return {"ovsdb": ovsdb_state(bridges), "links": link_names(bridges.netns)}

    errors = sweep(OvsPatchResource, params, snap)
    assert {op["action"] for op in errors[1].details["reverted"]} == {"create_veth", "modify_port"}
    assert bridges.ofport("pa") > 0 and bridges.ofport("pb") > 0


def test_patch_end_vswitchd_refuses_is_rolled_back(bridges):
    """br2's datapath (system) cannot be opened in this OVS: its patch end gets an error."""
    bridges.vsctl("add-br", "br2")
    before = exact(bridges)()
    with pytest.raises(ApplyFailed) as err:
        execute(OvsPatchResource(dict(PATCH, peer_bridge="br2", database=bridges.db, netns=bridges.netns.name,
                                      timeout=3)))
    details = err.value.details
    assert exact(bridges)() == before
    assert details["rolled_back"] is True and details["changed"] is False
    assert details["failed_step"]["action"] == "vswitchd_setup" and details["failed_step"]["target"] == "pb"
    assert details["failed_step"]["errors"][0].startswith("pb: ") and "pb: " in err.value.msg


def test_patch_refuses_bad_names(bridges):
    before = exact(bridges)()
    for params, option in ((dict(port="p a"), "port"), (dict(peer_port="x" * 16), "peer_port"),
                           (dict(port=None, peer_port=None, bridge="br0", peer_bridge="br1-long-name"), "port")):
        with pytest.raises(InvalidInput) as err:
            execute(OvsPatchResource(dict(PATCH, database=bridges.db, netns=bridges.netns.name, **params)))
        assert err.value.option == option
    assert exact(bridges)() == before


# -- through Ansible ----------------------------------------------------------------------------
def test_failed_task_through_ansible_playbook(ovs, run_playbook):
    vsctl_bridge(ovs)
    before = exact(ovs)()
    task = {"name": "bridge", "kvmnet.hypervisor.ovs_bridge": {
        "name": "br0", "datapath_type": "netdev", "database": ovs.db,
        "ports": [{"name": "vm1", "tag": 11}, {"name": "nosuchdev0"}]}}
    res = run_playbook([task])
    result = res["bridge"]
    assert result.failed and "MODULE FAILURE" not in (result.msg or "") and "MODULE FAILURE" not in res.stdout
    assert result.changed is False and result["rolled_back"] is True
    assert result["error"] == "apply_failed" and "nosuchdev0" in result.msg
    assert [op["target"] for op in result["applied"]] == ["vm1", "nosuchdev0"]
    assert {op["target"] for op in result["reverted"]} == {"vm1", "nosuchdev0"}
    assert exact(ovs)() == before


# -- a checkpoint's replay: a new resource puts back the state journaled before a run that succeeded
@pytest.mark.parametrize("cls, setup, params", [
    (OvsBridgeResource, vsctl_bridge, dict(BRIDGE, fail_mode="secure", external_ids={"owner": "kvt"},
                                           ports=[{"name": "vm1", "tag": 20}, {"name": "vm3", "type": "internal"}])),
    (OvsBondResource, lambda ovs: (ovs.add_bridge("br0"), ovs.netns.add_veth("e1", "e1p"),
                                   ovs.netns.add_veth("e2", "e2p"), ovs.vsctl("add-bond", "br0", "bond0", "e1", "e2")),
     dict(BOND, members=["e1", "e2"], bond_mode="balance-slb", lacp="active", lacp_time="fast")),
])
def test_replay_by_a_new_resource_restores_the_state_before(ovs, cls, setup, params):
    setup(ovs)
    params = dict(params, database=ovs.db)
    before_snap = exact(ovs)()
    first = cls(params, "/")
    result = execute(first)
    assert result["changed"]
    replay = cls(params, "/")  # what _checkpoint._build does: params and root
    replay.open()
    try:
        desired = replay.normalize()
        reverted, remaining = restore_to(replay, result["before"], desired)
    finally:
        replay.close()
    assert reverted and remaining == []
    assert exact(ovs)() == before_snap
