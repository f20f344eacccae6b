# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ovs_bond between two private Open vSwitch instances (each in its own netns) joined by veth pairs.

LACP really negotiates between the two; the module's returned status (read from OVSDB) is
compared with what the test reads itself (ovs-vsctl; ovs-appctl bond/show as the reference).
"""

from __future__ import annotations

import time

import pytest
from testbed.util import object_diff

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import InvalidInput, NotFound
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_bond import OvsBondResource


def bond(ovs, check=False, **kw):
    params = dict(name="bond0", bridge="br0", state="present", database=ovs.db, timeout=10)
    params.update(kw)
    return execute(OvsBondResource(params), check_mode=check)


@pytest.fixture
def pair(ovs_factory):
    """Two OVS instances A and B, bridge br0 on each, veth pairs a1-b1, a2-b2, a3-b3 between them."""
    a = ovs_factory()
    b = ovs_factory()
    for i in (1, 2, 3):
        a.netns.add_veth("a%d" % i, "b%d" % i, peer_netns=b.netns.name)
        b.netns.set_up("b%d" % i)
    a.add_bridge("br0")
    b.add_bridge("br0")
    return a, b


def wait_status(ovs, lacp_status, enabled, timeout=20.0, **kw):
    deadline = time.monotonic() + timeout
    while True:
        res = bond(ovs, **kw)
        assert not res["changed"]
        status = res["bond_status"]
        if (status["lacp_status"] == lacp_status and status["active_member"] is not None
                and all(status["members"][m]["may_enable"] for m in enabled)):
            return status
        if time.monotonic() > deadline:
            raise AssertionError("bond status never reached %s: %s" % (lacp_status, status))
        time.sleep(0.5)


def test_lacp_negotiates_and_every_attribute_reconciles(pair):
    a, b = pair
    spec_a = dict(members=["a1", "a2"], lacp="active", bond_mode="balance-slb", lacp_time="fast")
    check = bond(a, check=True, **spec_a)
    assert check["changed"] and check["bond_status"] is None
    assert "bond0" not in a.vsctl("list-ports", "br0").split(), "check mode created the bond"

    res = bond(a, **spec_a)
    assert res["operations"][0]["action"] == "create_bond"
    assert bond(b, members=["b1", "b2"], lacp="active", bond_mode="balance-slb", lacp_time="fast")["changed"]
    assert a.vsctl("get", "port", "bond0", "bond_mode") == "balance-slb"
    assert a.vsctl("get", "port", "bond0", "lacp") == "active"
    assert a.vsctl("get", "port", "bond0", "other_config:lacp-time") == "fast"

    status = wait_status(a, "negotiated", ["a1", "a2"], **spec_a)
    assert status["members"]["a1"]["lacp_current"] is True
    show = a.appctl("bond/show", "bond0")
    assert "lacp_status: negotiated" in show and "member a1: enabled" in show and "member a2: enabled" in show
    assert status["active_member"] in ("a1", "a2")
    assert "active member mac: %s" % status["active_member_mac"] in show

    again = bond(a, **spec_a)
    assert not again["changed"] and again["operations"] == []

    # everything on the existing bond: mode, lacp, members, delays, detection, fallback, VLANs
    change = dict(members=["a1", "a3"], lacp="off", bond_mode="active-backup", updelay=100, downdelay=50,
                  link_detection="miimon", miimon_interval=100, lacp_fallback_ab=True, trunks=[10, 20])
    diff = bond(a, check=True, **change)
    assert set(diff["operations"][0]["changes"]) == {"members", "lacp", "bond_mode", "updelay", "downdelay",
                                                     "link_detection", "miimon_interval", "lacp_fallback_ab",
                                                     "trunks"}
    assert object_diff(diff["diff"])["after"]["members"] == ["a1", "a3"]
    assert a.vsctl("get", "port", "bond0", "bond_mode") == "balance-slb", "check mode changed the bond"
    res = bond(a, **change)
    assert res["changed"] and res["after"]["members"] == ["a1", "a3"]
    assert a.vsctl("get", "port", "bond0", "bond_mode") == "active-backup"
    assert a.vsctl("get", "port", "bond0", "lacp") == "off"
    assert a.vsctl("get", "port", "bond0", "bond_updelay") == "100"
    assert a.vsctl("get", "port", "bond0", "other_config:bond-detect-mode") == "miimon"
    assert a.vsctl("get", "port", "bond0", "other_config:lacp-fallback-ab").strip('"') == "true"
    assert a.vsctl("get", "port", "bond0", "trunks") == "[10, 20]"
    ifaces = sorted(a.vsctl("--bare", "--columns=name", "list", "interface").split())
    assert "a2" not in ifaces and "a3" in ifaces
    assert "bond_mode: active-backup" in a.appctl("bond/show", "bond0")
    assert res["bond_status"]["lacp_status"] == "off"
    assert not bond(a, **change)["changed"]

    # and back to balance-slb with LACP: B still speaks LACP on b1/b3's peers
    bond(b, members=["b1", "b3"])
    back = bond(a, members=["a1", "a3"], lacp="active", bond_mode="balance-slb")
    assert back["operations"][0]["changes"]["bond_mode"] == {"before": "active-backup", "after": "balance-slb"}
    wait_status(a, "negotiated", ["a1", "a3"], members=["a1", "a3"], lacp="active", bond_mode="balance-slb")

    gone = bond(a, state="absent")
    assert gone["changed"] and "bond0" not in a.vsctl("list-ports", "br0").split()


def test_bad_input_changes_nothing(pair):
    a = pair[0]
    before = a.vsctl("show")
    with pytest.raises(NotFound) as err:
        bond(a, bridge="nosuchbr", members=["a1", "a2"])
    assert "nosuchbr" in err.value.msg and err.value.msg.startswith("bridge")
    for kw, option in (({"members": ["a1"]}, "members"), ({"members": ["a1", "a2"], "tag": 4095}, "tag"),
                       ({"members": ["a1", "a2"], "trunks": [0]}, "trunks")):
        with pytest.raises(InvalidInput) as err:
            bond(a, **kw)
        assert err.value.option == option
    assert a.vsctl("show") == before


@pytest.fixture
def single(ovs):
    """One private OVS with bridge br0 and the veth ends a1, a2 (peers a1p, a2p) for members."""
    for i in (1, 2):
        ovs.netns.add_veth("a%d" % i, "a%dp" % i)
    ovs.add_bridge("br0")
    return ovs


def test_clear_tag_and_trunks(single, run_playbook):
    """An access bond back to untagged (clear: [tag]), trunks cleared, reruns unchanged, contradiction refused."""
    ovs = single
    members = ["a1", "a2"]
    assert bond(ovs, members=members, tag=10)["changed"]
    assert ovs.vsctl("get", "port", "bond0", "tag") == "10"
    assert not bond(ovs, members=members)["changed"], "an omitted tag changed the bond"

    expected = [{"action": "modify_bond", "target": "bond0", "bridge": "br0",
                 "changes": {"tag": {"before": 10, "after": None}}}]
    check = bond(ovs, check=True, members=members, clear=["tag"])
    assert check["changed"] and check["operations"] == expected
    assert check["after"]["tag"] is None
    assert ovs.vsctl("get", "port", "bond0", "tag") == "10", "check mode cleared the tag"

    res = bond(ovs, members=members, clear=["tag"])
    assert res["changed"] and res["operations"] == expected
    assert object_diff(res["diff"])["before"]["tag"] == 10 and object_diff(res["diff"])["after"]["tag"] is None
    assert ovs.vsctl("get", "port", "bond0", "tag") == "[]"
    again = bond(ovs, members=members, clear=["tag"])
    assert not again["changed"] and again["operations"] == []

    # omitted leaves the trunks; clear: [trunks] (or trunks: []) empties them
    assert bond(ovs, members=members, trunks=[10, 20])["changed"]
    assert not bond(ovs, members=members)["changed"]
    trunks = bond(ovs, members=members, clear=["trunks", "tag"])
    assert trunks["operations"][0]["changes"] == {"trunks": {"before": [10, 20], "after": []}}
    assert ovs.vsctl("get", "port", "bond0", "trunks") == "[]"
    assert not bond(ovs, members=members, trunks=[])["changed"]

    # contradictory input fails naming both options and the value, before anything is written
    assert bond(ovs, members=members, tag=20)["changed"]
    before = ovs.vsctl("show")
    with pytest.raises(InvalidInput) as err:
        bond(ovs, members=members, tag=30, clear=["tag"])
    assert err.value.option == "tag" and "30" in err.value.msg and "clear" in err.value.msg
    assert ovs.vsctl("show") == before

    # the same through ansible-playbook: --check --diff, then real, then unchanged
    task = {"name": "bond", "kvmnet.hypervisor.ovs_bond": {
        "name": "bond0", "bridge": "br0", "members": members, "clear": ["tag"], "database": ovs.db}}
    check = run_playbook([task], check=True, diff=True)
    assert not check.failed and check["bond"].changed, str(check)
    assert object_diff(check["bond"].diff)["before"]["tag"] == 20 and object_diff(check["bond"].diff)["after"]["tag"] is None
    assert ovs.vsctl("get", "port", "bond0", "tag") == "20", "check mode cleared the tag"
    real = run_playbook([task], diff=True)
    assert not real.failed and real["bond"].changed and ovs.vsctl("get", "port", "bond0", "tag") == "[]"
    assert not run_playbook([task])["bond"].changed
    bad = run_playbook([{"name": "bond", "kvmnet.hypervisor.ovs_bond": dict(
        task["kvmnet.hypervisor.ovs_bond"], clear=["tag", "vlan_mode"])}])
    assert bad["bond"].failed and "clear" in bad["bond"].msg and "vlan_mode" in bad["bond"].msg


def test_through_ansible_playbook(pair, run_playbook):
    a = pair[0]
    task = {"name": "bond", "kvmnet.hypervisor.ovs_bond": {
        "name": "bond0", "bridge": "br0", "members": ["a1", "a2"], "bond_mode": "balance-slb", "database": a.db}}
    res = run_playbook([task], diff=True)
    assert not res.failed, str(res)
    assert res["bond"].changed and res["bond"]["bond_status"]["bond_mode"] == "balance-slb"
    assert not run_playbook([task])["bond"].changed
    bad = run_playbook([{"name": "bond", "kvmnet.hypervisor.ovs_bond": dict(
        task["kvmnet.hypervisor.ovs_bond"], members=["a1"])}])
    assert bad["bond"].failed and "members" in bad["bond"].msg
