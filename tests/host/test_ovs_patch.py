# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ovs_patch on a private Open vSwitch: patch pair and veth pair between br0 and br1 carry traffic.

VM A hangs off br0, VM B off br1 (veth ends moved into their own namespaces); they reach each
other only through the link ovs_patch makes.
"""

from __future__ import annotations

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import InvalidInput, NotFound
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_patch import OvsPatchResource


def link(ovs, check=False, **kw):
    params = dict(bridge="br0", peer_bridge="br1", port="pa", peer_port="pb", link_type="patch", state="present",
                  netns=ovs.netns.name, database=ovs.db, timeout=10)
    params.update(kw)
    return execute(OvsPatchResource(params), check_mode=check)


@pytest.fixture
def two_bridges(ovs, netns_factory):
    vm_a, vm_b = netns_factory(), netns_factory()
    ovs.add_bridge("br0")
    ovs.add_bridge("br1")
    ovs.netns.add_veth("tapa", "eth0", peer_netns=vm_a.name)
    ovs.netns.add_veth("tapb", "eth0", peer_netns=vm_b.name)
    vm_a.add_addr("eth0", "192.0.2.1/24")
    vm_b.add_addr("eth0", "192.0.2.2/24")
    ovs.vsctl("add-port", "br0", "tapa")
    ovs.vsctl("add-port", "br1", "tapb")
    return ovs, vm_a, vm_b


def test_patch_then_veth_then_absent(two_bridges):
    ovs, vm_a = two_bridges[:2]
    assert not vm_a.ping("192.0.2.2", count=1, timeout=1)

    check = link(ovs, check=True)
    assert check["changed"] and ovs.vsctl("list-ports", "br0").split() == ["tapa"]

    res = link(ovs)
    assert [o["action"] for o in res["operations"]] == ["add_port", "add_port"]
    assert ovs.vsctl("get", "interface", "pa", "type") == "patch"
    assert ovs.vsctl("get", "interface", "pa", "options:peer") == "pb"
    assert ovs.vsctl("get", "interface", "pb", "options:peer") == "pa"
    assert ovs.ofport("pa") > 0 and ovs.ofport("pb") > 0
    assert vm_a.ping("192.0.2.2", count=2, timeout=3)
    assert not link(ovs)["changed"]

    # same names, now a veth pair: the ports become system ports, the kernel gets the veth
    veth = link(ovs, link_type="veth")
    assert [o["action"] for o in veth["operations"]] == ["create_veth", "modify_port", "modify_port"]
    assert ovs.netns.link("pa")["linkinfo"]["info_kind"] == "veth"
    assert ovs.vsctl("get", "interface", "pa", "type") == '""'
    assert vm_a.ping("192.0.2.2", count=2, timeout=3)
    assert not link(ovs, link_type="veth")["changed"]

    gone = link(ovs, state="absent")
    assert [o["action"] for o in gone["operations"]] == ["delete_port", "delete_port", "delete_veth"]
    assert not ovs.netns.exists("pa") and "pa" not in ovs.vsctl("list-ports", "br0").split()
    assert not vm_a.ping("192.0.2.2", count=1, timeout=1)
    assert not link(ovs, state="absent")["changed"]


def test_bad_input_changes_nothing(two_bridges):
    ovs = two_bridges[0]
    before = ovs.vsctl("show")
    with pytest.raises(NotFound) as err:
        link(ovs, peer_bridge="nosuchbr")
    assert err.value.msg.startswith("peer_bridge") and "nosuchbr" in err.value.msg
    with pytest.raises(InvalidInput) as err:
        link(ovs, peer_bridge="br0")
    assert err.value.option == "peer_bridge"
    assert ovs.vsctl("show") == before
    assert not ovs.netns.exists("pa")


def test_through_ansible_playbook_check_diff(two_bridges, run_playbook):
    ovs = two_bridges[0]
    task = {"name": "veth", "kvmnet.hypervisor.ovs_patch": {
        "bridge": "br0", "peer_bridge": "br1", "port": "va", "peer_port": "vb", "link_type": "veth",
        "netns": ovs.netns.name, "database": ovs.db}}
    check = run_playbook([task], check=True, diff=True)
    assert not check.failed, str(check)
    assert check["veth"].changed and not ovs.netns.exists("va")
    real = run_playbook([task], diff=True)
    assert not real.failed and real["veth"].changed and ovs.netns.exists("va")
    assert not run_playbook([task])["veth"].changed
