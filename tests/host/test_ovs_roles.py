# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ovs_vlan, ovs_bond and ovs_interconnect roles through ansible-playbook on a private OVS.

Package install and service management are switched off (the private OVS is not the distro
service); everything else is the role as users run it: converge, idempotence, change.
"""

from __future__ import annotations


def role(name, **role_vars):
    return {"name": name, "ansible.builtin.include_role": {"name": "kvmnet.hypervisor.%s" % name}, "vars": role_vars}


# No systemd here (not PID 1): the roles' boot units (links up, veth re-created at boot) are
# proven on the VM tier (extensions/molecule/ovs); here they are switched off.
BOOT_UNITS_OFF = {"ovs_bond": "ovs_bond_links_up", "ovs_vlan": "ovs_vlan_uplink_up",
                  "ovs_interconnect": "ovs_interconnect_persist_veth"}


def common(prefix, ovs):
    return {prefix + "_install_packages": False, prefix + "_manage_service": False, prefix + "_database": ovs.db,
            BOOT_UNITS_OFF[prefix]: False}


def changed(res):
    return [t.name for t in res.tasks if t.changed]


def task_names(res, tasks=None):
    """Task names without the role's prefix (the callback reports ``role : task``)."""
    return [t.name.split(" : ")[-1] for t in (res.tasks if tasks is None else tasks)]


def test_ovs_vlan_role_retag(ovs, run_playbook):
    ovs.netns.add_veth("up0", "up0p")
    ports = [{"name": "vm1", "type": "internal", "tag": 2}, {"name": "vm2", "type": "internal", "tag": 3}]
    task = role("ovs_vlan", ovs_vlan_bridge="br0", ovs_vlan_uplink="up0", ovs_vlan_uplink_trunks=[2, 3],
                ovs_vlan_ports=ports, ovs_vlan_datapath_type="netdev", **common("ovs_vlan", ovs))
    res = run_playbook([task])
    assert res.rc == 0, res.stdout + res.stderr
    assert ovs.vsctl("get", "port", "vm1", "tag") == "2" and ovs.vsctl("get", "port", "up0", "trunks") == "[2, 3]"
    again = run_playbook([task])
    assert again.rc == 0 and changed(again) == []
    task["vars"]["ovs_vlan_ports"] = [dict(ports[0], tag=3), ports[1]]
    retag = run_playbook([task], diff=True)
    assert retag.rc == 0 and ovs.vsctl("get", "port", "vm1", "tag") == "3"
    # untag vm1: dropping its tag from the entry leaves it; clear: [tag] removes it; rerun unchanged
    task["vars"]["ovs_vlan_ports"] = [{"name": "vm1"}, ports[1]]
    kept = run_playbook([task])
    assert kept.rc == 0 and changed(kept) == [] and ovs.vsctl("get", "port", "vm1", "tag") == "3"
    task["vars"]["ovs_vlan_ports"] = [{"name": "vm1", "clear": ["tag"]}, ports[1]]
    untag = run_playbook([task], diff=True)
    assert untag.rc == 0 and len(changed(untag)) == 1, untag.stdout + untag.stderr
    assert ovs.vsctl("get", "port", "vm1", "tag") == "[]" and ovs.vsctl("get", "port", "vm2", "tag") == "3"
    again = run_playbook([task])
    assert again.rc == 0 and changed(again) == []


def test_ovs_bond_and_interconnect_roles(ovs, run_playbook):
    for i in (1, 2):
        ovs.netns.add_veth("eth%d" % i, "peer%d" % i)
    bond = role("ovs_bond", ovs_bond_members=["eth1", "eth2"], ovs_bond_bridge="br0", ovs_bond_mode="balance-slb", ovs_bond_lacp="off",
                ovs_bond_datapath_type="netdev", **common("ovs_bond", ovs))
    link = role("ovs_interconnect", ovs_interconnect_bridge="br0", ovs_interconnect_peer_bridge="br1",
                ovs_interconnect_datapath_type="netdev", **common("ovs_interconnect", ovs))
    res = run_playbook([bond, link])
    assert res.rc == 0, res.stdout + res.stderr
    assert ovs.vsctl("get", "port", "bond0", "bond_mode") == "balance-slb"
    assert ovs.vsctl("get", "interface", "br0-to-br1", "options:peer") == "br1-to-br0"
    again = run_playbook([bond, link])
    assert again.rc == 0 and changed(again) == []
    bond["vars"]["ovs_bond_mode"] = "active-backup"
    res = run_playbook([bond])
    assert res.rc == 0 and ovs.vsctl("get", "port", "bond0", "bond_mode") == "active-backup"


def test_ovs_bond_role_clear(ovs, run_playbook):
    """ovs_bond_clear reaches the module: a tag on the bond is removed, a rerun reports no change."""
    for i in (1, 2):
        ovs.netns.add_veth("eth%d" % i, "peer%d" % i)
    bond = role("ovs_bond", ovs_bond_members=["eth1", "eth2"], ovs_bond_bridge="br0", ovs_bond_lacp="off", ovs_bond_trunks=[10, 20],
                ovs_bond_datapath_type="netdev", **common("ovs_bond", ovs))
    res = run_playbook([bond])
    assert res.rc == 0, res.stdout + res.stderr
    ovs.vsctl("set", "port", "bond0", "tag=30")  # the role has no tag variable: tagged by hand
    bond["vars"].update(ovs_bond_trunks=[], ovs_bond_clear=["tag", "trunks"])
    untag = run_playbook([bond], diff=True)
    assert untag.rc == 0 and len(changed(untag)) == 1, untag.stdout + untag.stderr
    assert ovs.vsctl("get", "port", "bond0", "tag") == "[]" and ovs.vsctl("get", "port", "bond0", "trunks") == "[]"
    again = run_playbook([bond])
    assert again.rc == 0 and changed(again) == []


CHECK_TASK = "Check the variables before anything changes"


def test_roles_refuse_missing_members_or_bridge_before_any_change(ovs, run_playbook):
    """An empty or one-NIC member list, a null or empty bridge: the role's first task fails naming
    the variable, and OVSDB holds no bridge afterwards (nothing ran after the check)."""
    for i in (1, 2):
        ovs.netns.add_veth("eth%d" % i, "peer%d" % i)
    cases = [
        ("ovs_bond", {"ovs_bond_members": [], "ovs_bond_bridge": "br0"}, "ovs_bond_members"),
        ("ovs_bond", {"ovs_bond_members": ["eth1"], "ovs_bond_bridge": "br0"}, "ovs_bond_members"),
        ("ovs_bond", {"ovs_bond_members": ["eth1", ""], "ovs_bond_bridge": "br0"}, "ovs_bond_members"),
        ("ovs_bond", {"ovs_bond_members": ["eth1", "eth2"], "ovs_bond_bridge": None}, "ovs_bond_bridge"),
        ("ovs_vlan", {"ovs_vlan_bridge": ""}, "ovs_vlan_bridge"),
        ("ovs_interconnect", {"ovs_interconnect_bridge": "br0", "ovs_interconnect_peer_bridge": None},
         "ovs_interconnect_peer_bridge"),
    ]
    for name, role_vars, variable in cases:
        res = run_playbook([role(name, **dict(common(name, ovs), **role_vars))])
        assert res.rc != 0, (role_vars, res.stdout)
        failed = [t for t in res.tasks if t.failed]
        assert task_names(res, failed) == [CHECK_TASK], (role_vars, res.stdout)
        assert variable in str(failed[0].result), (variable, failed[0].result)
        assert changed(res) == []
        assert ovs.vsctl("list-br") == "", (role_vars, ovs.vsctl("list-br"))


def test_ovs_bond_role_without_members_fails_the_argument_spec(ovs, run_playbook):
    task = role("ovs_bond", **common("ovs_bond", ovs))
    res = run_playbook([task])
    assert res.rc != 0
    failed = [t for t in res.tasks if t.failed]
    assert len(failed) == 1 and "ovs_bond_members" in failed[0].msg, res.stdout
    assert ovs.vsctl("list-br") == ""


def test_shared_preamble_carries_the_tags_of_the_role(ovs, run_playbook):
    """The preamble is imported: with --tags, its tasks run under the tags given to the role
    (reported, here skipped by their switches), and the role's own tasks run as well."""
    for i in (1, 2):
        ovs.netns.add_veth("eth%d" % i, "peer%d" % i)
    bond = role("ovs_bond", ovs_bond_members=["eth1", "eth2"], ovs_bond_bridge="br0", ovs_bond_lacp="off",
                ovs_bond_datapath_type="netdev", **common("ovs_bond", ovs))
    bond["ansible.builtin.include_role"]["apply"] = {"tags": ["uplink"]}
    bond["tags"] = ["uplink"]
    res = run_playbook([bond], env={"ANSIBLE_RUN_TAGS": "uplink"})
    assert res.rc == 0, res.stdout + res.stderr
    names = task_names(res)
    assert "Ensure Open vSwitch is running and enabled" in names, names
    assert "Install Open vSwitch and its Python bindings" in names, names
    assert ovs.vsctl("get", "port", "bond0", "bond_mode") == "balance-slb"
    other = run_playbook([bond], env={"ANSIBLE_RUN_TAGS": "elsewhere"})
    assert other.rc == 0 and "Bonded uplink" not in task_names(other)
