# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ovs_bridge against a private Open vSwitch (userspace datapath) in a fresh network namespace.

Every assertion reads OVSDB back with ovs-vsctl (the test's own eyes, not the module's) or sends
traffic through the bridge (ping between namespaces over VLAN access ports).
"""

from __future__ import annotations

import pytest
from testbed.util import object_diff

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    ApplyFailed,
    BackendUnavailable,
    Conflict,
    InvalidInput,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_bridge import OvsBridgeResource


def params(ovs, **kw):
    base = dict(name="br0", state="present", datapath_type="netdev", database=ovs.db, timeout=10)
    base.update(kw)
    return base


def run(ovs, check=False, **kw):
    return execute(OvsBridgeResource(params(ovs, **kw)), check_mode=check)


def bridges(ovs):
    return set(ovs.vsctl("list-br").split())


def test_bridge_ports_tags_trunks_retag_idempotence(ovs):
    ovs.netns.add_veth("up0", "up0p")
    ports = [{"name": "up0", "trunks": [10, 20]},
             {"name": "vm1", "type": "internal", "tag": 10},
             {"name": "vm2", "type": "internal", "tag": 20, "external_ids": {"owner": "kvt"}}]
    check = run(ovs, check=True, ports=ports, fail_mode="standalone")
    assert check["changed"] and "br0" not in bridges(ovs), "check mode changed OVSDB"
    assert [p["name"] for p in check["after"]["ports"]] == ["up0", "vm1", "vm2"]

    res = run(ovs, ports=ports, fail_mode="standalone")
    assert res["changed"]
    assert [op["action"] for op in res["operations"]] == ["create_bridge", "add_port", "add_port", "add_port"]
    assert ovs.vsctl("get", "bridge", "br0", "datapath_type") == "netdev"
    assert ovs.vsctl("get", "bridge", "br0", "fail_mode") == "standalone"
    assert ovs.vsctl("get", "port", "up0", "trunks") == "[10, 20]"
    assert ovs.vsctl("get", "port", "vm1", "tag") == "10"
    assert ovs.vsctl("get", "port", "vm2", "external_ids:owner") == "kvt"
    assert ovs.vsctl("get", "interface", "vm1", "type") == "internal"
    for name in ("br0", "up0", "vm1", "vm2"):
        assert ovs.ofport(name) > 0
    assert all(p["ofport"] > 0 and p["error"] is None for p in res["after"]["ports"])

    again = run(ovs, ports=ports, fail_mode="standalone")
    assert not again["changed"] and again["operations"] == []

    # the book's `ovs-vsctl set port vm1 tag=3`: only vm1 mentioned, others untouched
    retag = run(ovs, ports=[{"name": "vm1", "tag": 3}])
    assert retag["operations"] == [{"action": "modify_port", "target": "vm1", "bridge": "br0",
                                    "changes": {"tag": {"before": 10, "after": 3}}}]
    assert object_diff(retag["diff"])["before"]["ports"][1]["tag"] == 10 and object_diff(retag["diff"])["after"]["ports"][1]["tag"] == 3
    assert ovs.vsctl("get", "port", "vm1", "tag") == "3"
    assert ovs.vsctl("get", "port", "vm2", "tag") == "20"
    assert ovs.vsctl("get", "bridge", "br0", "fail_mode") == "standalone"

    exclusive = run(ovs, exclusive_ports=True, ports=[{"name": "up0"}, {"name": "vm1"}])
    assert [(o["action"], o["target"]) for o in exclusive["operations"]] == [("delete_port", "vm2")]
    assert sorted(ovs.vsctl("list-ports", "br0").split()) == ["up0", "vm1"]

    gone = run(ovs, state="absent")
    assert gone["changed"] and gone["after"] is None and "br0" not in bridges(ovs)
    assert not run(ovs, state="absent")["changed"]


def test_vlan_access_ports_carry_traffic(ovs, netns_factory):
    """Two VMs on VLAN 10 ping; a third on VLAN 20 does not; retagging it to 10 makes it reachable."""
    vms = {}
    for i, tag in ((1, 10), (2, 10), (3, 20)):
        ns = netns_factory()
        ovs.netns.add_veth("tap%d" % i, "eth0", peer_netns=ns.name)
        ns.add_addr("eth0", "192.0.2.%d/24" % i)
        vms[i] = ns
    ports = [{"name": "tap%d" % i, "tag": tag} for i, tag in ((1, 10), (2, 10), (3, 20))]
    assert run(ovs, ports=ports)["changed"]
    assert vms[1].ping("192.0.2.2", count=2, timeout=3)
    assert not vms[1].ping("192.0.2.3", count=1, timeout=1)
    assert run(ovs, ports=[{"name": "tap3", "tag": 10}])["changed"]
    assert vms[1].ping("192.0.2.3", count=2, timeout=3)


def test_clear_tag_trunks_vlan_mode(ovs, run_playbook):
    """An access port back to untagged (clear: [tag, vlan_mode]), trunks: [] clears, reruns unchanged."""
    ovs.netns.add_veth("up0", "up0p")
    ports = [{"name": "up0", "trunks": [10, 20]},
             {"name": "vm1", "type": "internal", "tag": 10, "vlan_mode": "access"},
             {"name": "vm2", "type": "internal", "tag": 20}]
    assert run(ovs, ports=ports)["changed"]
    assert ovs.vsctl("get", "port", "vm1", "tag") == "10" and ovs.vsctl("get", "port", "vm1", "vlan_mode") == "access"

    untag = [{"name": "vm1", "clear": ["tag", "vlan_mode"]}]
    check = run(ovs, check=True, ports=untag)
    expected = [{"action": "modify_port", "target": "vm1", "bridge": "br0",
                 "changes": {"tag": {"before": 10, "after": None}, "vlan_mode": {"before": "access", "after": None}}}]
    assert check["changed"] and check["operations"] == expected
    assert check["after"]["ports"][1]["tag"] is None and check["after"]["ports"][1]["vlan_mode"] is None
    assert ovs.vsctl("get", "port", "vm1", "tag") == "10", "check mode cleared the tag"

    res = run(ovs, ports=untag)
    assert res["operations"] == expected
    assert object_diff(res["diff"])["before"]["ports"][1]["tag"] == 10 and object_diff(res["diff"])["after"]["ports"][1]["tag"] is None
    assert ovs.vsctl("get", "port", "vm1", "tag") == "[]" and ovs.vsctl("get", "port", "vm1", "vlan_mode") == "[]"
    assert ovs.vsctl("get", "port", "vm2", "tag") == "20", "a port not listed was changed"
    again = run(ovs, ports=untag)
    assert not again["changed"] and again["operations"] == []

    # omitted leaves the trunks; an empty list (or clear: [trunks]) empties them
    assert not run(ovs, ports=[{"name": "up0"}])["changed"]
    assert ovs.vsctl("get", "port", "up0", "trunks") == "[10, 20]"
    trunks = run(ovs, ports=[{"name": "up0", "trunks": []}])
    assert trunks["operations"][0]["changes"] == {"trunks": {"before": [10, 20], "after": []}}
    assert ovs.vsctl("get", "port", "up0", "trunks") == "[]"
    assert not run(ovs, ports=[{"name": "up0", "clear": ["trunks"]}])["changed"]

    # contradictory input fails naming the option and value, before anything is written
    before = ovs.vsctl("show")
    with pytest.raises(InvalidInput) as err:
        run(ovs, ports=[{"name": "vm2", "tag": 30, "clear": ["tag"]}])
    assert err.value.option == "ports[0].tag" and "30" in err.value.msg
    assert ovs.vsctl("show") == before

    # the same through ansible-playbook: --check --diff, then real, then unchanged
    task = {"name": "bridge", "kvmnet.hypervisor.ovs_bridge": {
        "name": "br0", "database": ovs.db, "ports": [{"name": "vm2", "clear": ["tag"]}]}}
    check = run_playbook([task], check=True, diff=True)
    assert not check.failed and check["bridge"].changed, str(check)
    assert object_diff(check["bridge"].diff)["before"]["ports"][2]["tag"] == 20
    assert object_diff(check["bridge"].diff)["after"]["ports"][2]["tag"] is None
    assert ovs.vsctl("get", "port", "vm2", "tag") == "20", "check mode cleared the tag"
    real = run_playbook([task], diff=True)
    assert not real.failed and real["bridge"].changed and ovs.vsctl("get", "port", "vm2", "tag") == "[]"
    assert not run_playbook([task])["bridge"].changed
    bad = run_playbook([{"name": "bridge", "kvmnet.hypervisor.ovs_bridge": dict(
        task["kvmnet.hypervisor.ovs_bridge"], ports=[{"name": "vm2", "clear": ["tag", "mtu"]}])}])
    assert bad["bridge"].failed and "clear" in bad["bridge"].msg and "mtu" in bad["bridge"].msg


def test_cleared_access_port_carries_untagged_traffic(ovs, netns_factory):
    """VM 1 on VLAN 10 cannot reach the untagged VM 2; clearing its tag puts both on untagged."""
    vms = {}
    for i in (1, 2):
        ns = netns_factory()
        ovs.netns.add_veth("tap%d" % i, "eth0", peer_netns=ns.name)
        ns.add_addr("eth0", "192.0.2.%d/24" % i)
        vms[i] = ns
    assert run(ovs, ports=[{"name": "tap1", "tag": 10}, {"name": "tap2"}])["changed"]
    assert not vms[1].ping("192.0.2.2", count=1, timeout=1)
    assert run(ovs, ports=[{"name": "tap1", "clear": ["tag"]}])["changed"]
    assert vms[1].ping("192.0.2.2", count=2, timeout=3)


def test_failed_interface_is_an_error(ovs):
    with pytest.raises(ApplyFailed) as err:
        run(ovs, ports=[{"name": "nosuchdev0"}])
    assert "nosuchdev0" in err.value.msg and "No such device" in err.value.msg
    assert err.value.details["rolled_back"] is True and "br0" not in bridges(ovs)


@pytest.mark.parametrize("ports, option", [
    ([{"name": "vm1", "tag": 4095}], "ports[0].tag"),
    ([{"name": "vm1", "tag": -1}], "ports[0].tag"),
    ([{"name": "vm1", "trunks": [0]}], "ports[0].trunks"),
    ([{"name": "vm1", "trunks": [4095]}], "ports[0].trunks"),
])
def test_bad_input_changes_nothing(ovs, ports, option):
    ovs.add_bridge("br0")
    before = ovs.vsctl("show")
    with pytest.raises(InvalidInput) as err:
        run(ovs, ports=ports)
    assert err.value.option == option
    assert ovs.vsctl("show") == before


def test_datapath_type_vswitchd_lacks_is_refused_before_any_change(ovs):
    """A well-formed datapath type this ovs-vswitchd never registered (Open_vSwitch.datapath_types)
    would give the bridge no datapath and its ports no OpenFlow port: refused at plan time."""
    supported = ovs.vsctl("get", "open_vswitch", ".", "datapath_types")
    assert "netdev" in supported
    with pytest.raises(InvalidInput) as err:
        run(ovs, datapath_type="kvtbogus", ports=[{"name": "vm1", "type": "internal"}])
    assert err.value.option == "datapath_type" and "netdev" in err.value.msg
    assert "br0" not in bridges(ovs)


def test_port_on_another_bridge_is_a_conflict(ovs):
    ovs.add_bridge("br1")
    ovs.vsctl("add-port", "br1", "vm9", "--", "set", "interface", "vm9", "type=internal")
    with pytest.raises(Conflict) as err:
        run(ovs, ports=[{"name": "vm9"}])
    assert "br1" in err.value.msg
    assert "br0" not in bridges(ovs)


def test_socket_missing(tmp_path):
    sock = "unix:%s" % (tmp_path / "nope.sock")
    with pytest.raises(BackendUnavailable) as err:
        execute(OvsBridgeResource(dict(name="br0", state="present", database=sock, timeout=2)))
    assert str(tmp_path / "nope.sock") in err.value.msg


def test_through_ansible_playbook_check_diff(ovs, run_playbook):
    task = {"name": "bridge", "kvmnet.hypervisor.ovs_bridge": {
        "name": "br0", "datapath_type": "netdev", "database": ovs.db,
        "ports": [{"name": "vm1", "type": "internal", "tag": 2}]}}
    check = run_playbook([task], check=True, diff=True)
    assert not check.failed, str(check)
    assert check["bridge"].changed and object_diff(check["bridge"].diff)["after"]["ports"][0]["tag"] == 2
    assert "br0" not in bridges(ovs)
    real = run_playbook([task], diff=True)
    assert not real.failed and real["bridge"].changed
    assert ovs.vsctl("get", "port", "vm1", "tag") == "2"
    again = run_playbook([task])
    assert not again.failed and not again["bridge"].changed
    retag = {"name": "bridge", "kvmnet.hypervisor.ovs_bridge": dict(task["kvmnet.hypervisor.ovs_bridge"],
                                                                    ports=[{"name": "vm1", "tag": 3}])}
    diff = run_playbook([retag], check=True, diff=True)
    assert object_diff(diff["bridge"].diff)["before"]["ports"][0]["tag"] == 2
    assert object_diff(diff["bridge"].diff)["after"]["ports"][0]["tag"] == 3
    assert ovs.vsctl("get", "port", "vm1", "tag") == "2", "check mode retagged"
    bad = run_playbook([{"name": "bridge", "kvmnet.hypervisor.ovs_bridge": dict(
        task["kvmnet.hypervisor.ovs_bridge"], ports=[{"name": "vm1", "tag": 4095}])}])
    assert bad["bridge"].failed and "ports[0].tag" in bad["bridge"].msg and "4095" in bad["bridge"].msg
