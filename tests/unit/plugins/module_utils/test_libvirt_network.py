# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""libvirt_network: XML render / parse round trips, canonical comparison, planning (exact
operations), validation naming the option and the value, check mode and --diff."""

from __future__ import annotations

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt_network as N
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt_network_xml as X
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict, InvalidInput, NotFound

ACCESS = {"name": "access10", "default": True,
          "vlan": {"tags": [10], "trunk": False, "native_tag": None, "native_mode": None}}
TRUNK = {"name": "trunk", "default": False,
         "vlan": {"tags": [10, 20], "trunk": True, "native_tag": 10, "native_mode": "untagged"}}


def params(**kw):
    base = dict(uri="test:///default", name="net0", state="present", forward_mode="openvswitch", bridge="ovsbr0",
                devices=None, macvtap_mode=None, pf=None, managed=None, vlan=None, portgroups=None,
                portgroups_exclusive=False, active=None, autostart=None, allow_restart=False)
    base.update(kw)
    return base


def desired(**kw):
    return N.LibvirtNetworkResource(params(**kw)).normalize()


def current_of(xml, active=False, running_xml=None, autostart=False):
    """read_current's shape for a persistent definition ``xml`` (and a running one)."""
    cur = X.parse_network(_libvirt.parse_xml(xml))
    cur.update(name="net0", active=active, autostart=autostart, xml=xml, running=None, running_xml=None)
    if active:
        running = X.parse_network(_libvirt.parse_xml(running_xml or xml))
        running.pop("uuid")
        cur.update(running=running, running_xml=running_xml or xml)
    return cur


# -- XML -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("definition", [
    {"forward_mode": "bridge", "bridge": "br0", "devices": None, "macvtap_mode": None, "pf": None, "managed": None,
     "vlan": {}, "portgroups": [{"name": "a", "default": False, "vlan": {}}]},
    {"forward_mode": "openvswitch", "bridge": "ovsbr0", "devices": None, "macvtap_mode": None, "pf": None,
     "managed": None, "vlan": {"tags": [5], "trunk": False, "native_tag": None, "native_mode": None},
     "portgroups": [ACCESS, TRUNK]},
    {"forward_mode": "direct", "bridge": None, "devices": ["eth1", "eth2"], "macvtap_mode": "passthrough", "pf": None,
     "managed": None, "vlan": {}, "portgroups": []},
    {"forward_mode": "hostdev", "bridge": None, "devices": None, "macvtap_mode": None, "pf": "enp1s0", "managed": False,
     "vlan": {}, "portgroups": [dict(TRUNK, default=True)]},
])
def test_render_parse_round_trip(definition):
    xml = X.render_network("net0", definition)
    parsed = X.parse_network(_libvirt.parse_xml(xml))
    assert parsed.pop("uuid") is None
    assert parsed == definition


def test_ovs_xml_is_what_libvirt_reads():
    xml = X.render_network("net0", dict(X.parse_network(_libvirt.parse_xml("<network/>")), forward_mode="openvswitch",
                                        bridge="ovsbr0", vlan={}, portgroups=[TRUNK]))
    assert xml == ("<network>\n  <name>net0</name>\n  <forward mode=\"bridge\"/>\n  <bridge name=\"ovsbr0\"/>\n"
                   "  <virtualport type=\"openvswitch\"/>\n  <portgroup name=\"trunk\">\n"
                   "    <vlan trunk=\"yes\">\n      <tag id=\"10\" nativeMode=\"untagged\"/>\n      <tag id=\"20\"/>\n"
                   "    </vlan>\n  </portgroup>\n</network>\n")


def test_canonical_form_ignores_what_libvirt_generates():
    """libvirt's <forward dev> (its first device), the UUID, device order and whitespace are not compared."""
    ours = X.render_network("net0", dict(desired(forward_mode="direct", bridge=None, devices=["eth2", "eth1"]),
                                         portgroups=[]))
    libvirts = ("<network>\n<name>net0</name><uuid>0b6c7f4a-0000-4000-8000-000000000001</uuid>"
                "<forward dev='eth1' mode='bridge'>  <interface dev='eth2'/><interface dev='eth1'/></forward></network>")
    a, b = X.parse_network(_libvirt.parse_xml(ours)), X.parse_network(_libvirt.parse_xml(libvirts))
    assert b.pop("uuid") and a.pop("uuid") is None
    assert a == b


def test_render_keeps_what_the_module_does_not_manage():
    base = ("<network><name>net0</name><uuid>u-1</uuid><forward mode='bridge'/><bridge name='br0' stp='on'/>"
            "<mtu size='9000'/><portgroup name='a'><bandwidth><inbound average='1000'/></bandwidth></portgroup>"
            "</network>")
    xml = X.render_network("net0", dict(X.parse_network(_libvirt.parse_xml(base)), bridge="br1"), base)
    assert "<uuid>u-1</uuid>" in xml and 'stp="on"' in xml and '<mtu size="9000"/>' in xml
    assert '<inbound average="1000"/>' in xml and 'name="br1"' in xml


@pytest.mark.parametrize("xml,mode", [
    ("<network><name>n</name><forward mode='nat'/></network>", "nat"),
    ("<network><name>n</name><forward/></network>", "nat"),
    ("<network><name>n</name></network>", "none"),
    ("<network><name>n</name><forward mode='vepa'><interface dev='e'/></forward></network>", "direct"),
])
def test_forward_modes_read(xml, mode):
    assert X.parse_network(_libvirt.parse_xml(xml))["forward_mode"] == mode


# -- normalize -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kw,option,text", [
    (dict(name=""), "name", "is empty"),
    (dict(name="/"), "name", "is not a libvirt object name"),
    (dict(name=".."), "name", "is not a libvirt object name"),
    (dict(name="a b"), "name", "is not a libvirt object name"),
    (dict(forward_mode=None), "forward_mode", "is required"),
    (dict(forward_mode="nat"), "forward_mode", "is required with state=present: one of"),
    (dict(bridge=None), "bridge", "is required with forward_mode openvswitch"),
    (dict(bridge="br 0"), "bridge", ""),
    (dict(devices=["eth1"]), "devices", "applies to forward_mode direct only (forward_mode is openvswitch)"),
    (dict(pf="eth1"), "pf", "applies to forward_mode hostdev only"),
    (dict(managed=False), "managed", "applies to forward_mode hostdev only"),
    (dict(macvtap_mode="vepa"), "macvtap_mode", "applies to forward_mode direct only"),
    (dict(forward_mode="bridge", bridge="br0", vlan={"tags": [5]}), "vlan", "needs forward_mode openvswitch"),
    (dict(forward_mode="direct", bridge=None, devices=[]), "devices", "is required with forward_mode direct"),
    (dict(forward_mode="direct", bridge=None, devices=["e1", "e1"]), "devices", "is listed twice"),
    (dict(forward_mode="hostdev", bridge=None), "pf", "is required with forward_mode hostdev"),
    (dict(vlan={"tags": [0]}), "vlan.tags", "out of range"),
    (dict(vlan={"tags": [4095]}), "vlan.tags", "out of range"),
    (dict(vlan={"tags": [5], "native_tag": 6}), "vlan.native_tag", "is not one of the tags"),
    (dict(portgroups=[{"name": "a"}, {"name": "a"}]), "portgroups", "names portgroup 'a' twice (items 0 and 1)"),
    (dict(portgroups=[{"name": "a", "default": True}, {"name": "b", "default": True}]), "portgroups",
     "has more than one default portgroup"),
    (dict(portgroups=[{"name": "a b"}]), "portgroups[0].name", "is not a libvirt object name"),
    (dict(portgroups=[{"name": "a", "vlan": {"tags": [4095]}}]), "portgroups[0].vlan.tags", "out of range"),
    (dict(forward_mode="bridge", bridge="br0", portgroups=[{"name": "a", "vlan": {"tags": [5]}}]),
     "portgroups[0].vlan", "needs forward_mode openvswitch or hostdev"),
    (dict(state="absent", active=True), "active", "contradicts state=absent"),
])
def test_normalize_refuses_naming_option_and_value(kw, option, text):
    with pytest.raises(InvalidInput) as err:
        desired(**kw)
    assert err.value.msg.startswith(option + ": "), err.value.msg
    assert text in err.value.msg


def test_normalize_defaults_per_mode():
    d = desired(forward_mode="direct", bridge=None, devices=["eth2", "eth1"])
    assert (d["devices"], d["macvtap_mode"], d["bridge"]) == (["eth1", "eth2"], "bridge", None)
    d = desired(forward_mode="hostdev", bridge=None, pf="enp1s0")
    assert (d["pf"], d["managed"]) == ("enp1s0", True)
    assert desired(portgroups=[{"name": "b"}, {"name": "a", "vlan": {"tags": [3]}}])["portgroups"] == [
        {"name": "a", "default": False, "vlan": {"tags": [3], "trunk": False, "native_tag": None, "native_mode": None}},
        {"name": "b", "default": False, "vlan": {}}]


# -- plan ----------------------------------------------------------------------------------------
def ovs_xml(portgroups=(ACCESS, TRUNK), vlan=None, bridge="ovsbr0"):
    return X.render_network("net0", {"forward_mode": "openvswitch", "bridge": bridge, "devices": None,
                                     "macvtap_mode": None, "pf": None, "managed": None, "vlan": vlan or {},
                                     "portgroups": list(portgroups)}, "<network><uuid>u-1</uuid></network>")


def test_new_network_define_start_autostart():
    ops = N.plan_network(None, desired(portgroups=[ACCESS], active=True, autostart=True))
    assert [o.action for o in ops] == ["define", "start", "autostart"]
    assert X.parse_network(_libvirt.parse_xml(ops[0].params["xml"]))["portgroups"][0]["name"] == "access10"


def test_unchanged_is_an_empty_plan_active_or_not():
    for active in (False, True):
        cur = current_of(ovs_xml(), active=active)
        assert N.plan_network(cur, desired(portgroups=[ACCESS, TRUNK], active=active)) == []
        assert N.plan_network(cur, desired()) == []  # portgroups and vlan not mentioned: left alone


def test_portgroup_changes_are_updates_in_both_views_of_an_active_network():
    cur = current_of(ovs_xml(), active=True)
    want = [{"name": "access10", "vlan": {"tags": [11]}}, {"name": "vlan20", "default": True, "vlan": {"tags": [20]}}]
    ops = N.plan_network(cur, desired(portgroups=want))
    assert [(o.action, o.params["command"], o.params["flags"]) for o in ops] == [
        ("update", "modify", ["config", "live"]), ("update", "add", ["config", "live"])]
    # access10 loses the default before vlan20 takes it (libvirt refuses two defaults at any time)
    assert 'default' not in ops[0].params["xml"] and "default=\"yes\"" in ops[1].params["xml"]
    ops = N.plan_network(cur, desired(portgroups=want, portgroups_exclusive=True))
    assert [(o.params["command"], o.target) for o in ops][0] == ("delete", "net0")
    assert ops[0].changes == {"portgroup trunk": {"before": TRUNK, "after": None}}


def test_portgroup_update_of_an_inactive_network_is_config_only():
    cur = current_of(ovs_xml())
    (op,) = N.plan_network(cur, desired(portgroups=[dict(TRUNK, vlan={"tags": [30]})]))
    assert (op.params["command"], op.params["flags"]) == ("modify", ["config"])


def test_other_change_of_an_active_network_redefines_and_waits_for_restart():
    cur = current_of(ovs_xml(), active=True)
    (op,) = N.plan_network(cur, desired(bridge="ovsbr1"))
    assert op.action == "define" and "<uuid>u-1</uuid>" in op.params["xml"]
    assert op.changes == {"bridge": {"before": "ovsbr0", "after": "ovsbr1"},
                          "restart_needed": {"before": False, "after": True}}
    ops = N.plan_network(cur, desired(bridge="ovsbr1", allow_restart=True))
    assert [o.action for o in ops] == ["define", "stop", "start"]
    assert ops[1].changes == {"restart": {"before": None, "after": ["bridge"]}}
    # defined but not restarted (a run without allow_restart): a rerun is unchanged, allow_restart restarts
    pending = current_of(ovs_xml(bridge="ovsbr1"), active=True, running_xml=ovs_xml())
    assert N.plan_network(pending, desired(bridge="ovsbr1")) == []
    # a portgroup change meanwhile goes to the definition only: the running network gets it at the restart
    ops = N.plan_network(pending, desired(bridge="ovsbr1", portgroups=[dict(ACCESS, vlan={"tags": [9]})]))
    assert [(o.action, o.params["flags"]) for o in ops] == [("update", ["config"])]
    assert [o.action for o in N.plan_network(pending, desired(bridge="ovsbr1", allow_restart=True))] == [
        "stop", "start"]


def test_macvtap_pool_devices_are_updates_too():
    xml = X.render_network("net0", dict(desired(forward_mode="direct", bridge=None, devices=["eth1", "eth2"]),
                                        portgroups=[]), "<network><uuid>u-1</uuid></network>")
    cur = current_of(xml, active=True)
    ops = N.plan_network(cur, desired(forward_mode="direct", bridge=None, devices=["eth2", "eth3"]))
    assert [(o.params["section"], o.params["command"], o.params["xml"], o.params["flags"]) for o in ops] == [
        ("forward-interface", "add", '<interface dev="eth3"/>', ["config", "live"]),
        ("forward-interface", "delete", '<interface dev="eth1"/>', ["config", "live"])]
    # another macvtap mode is a redefinition (and a restart)
    (op,) = N.plan_network(cur, desired(forward_mode="direct", bridge=None, devices=["eth1", "eth2"],
                                        macvtap_mode="vepa"))
    assert op.action == "define" and op.changes["restart_needed"] == {"before": False, "after": True}


def test_stopping_network_needs_no_restart_and_removal_is_stop_undefine():
    cur = current_of(ovs_xml(), active=True)
    assert [o.action for o in N.plan_network(cur, desired(bridge="ovsbr1", active=False, allow_restart=True))] == [
        "define", "stop"]
    assert [o.action for o in N.plan_network(cur, desired(state="absent"))] == ["stop", "undefine"]
    assert N.plan_network(None, desired(state="absent")) == []


def test_a_network_of_another_mode_is_not_taken_over():
    cur = current_of("<network><name>net0</name><uuid>u</uuid><forward mode='nat'/></network>")
    with pytest.raises(Conflict, match="^name: network 'net0' exists with forward mode nat"):
        N.plan_network(cur, desired())


def test_vlan_left_alone_unless_given_and_dropped_for_modes_without():
    cur = current_of(ovs_xml(vlan={"tags": [5], "trunk": False, "native_tag": None, "native_mode": None}))
    assert N.plan_network(cur, desired()) == []
    (op,) = N.plan_network(cur, desired(vlan={"tags": []}))
    assert op.changes["vlan"]["after"] == {} and "<vlan" not in op.params["xml"].split("<portgroup")[0]
    (op,) = N.plan_network(cur, desired(forward_mode="bridge", bridge="br0"))
    assert op.changes["forward_mode"] == {"before": "openvswitch", "after": "bridge"}
    assert "virtualport" not in op.params["xml"]


def test_restore_puts_back_the_definition_and_the_running_portgroups():
    before = current_of(ovs_xml(), active=True, autostart=True)
    res = N.LibvirtNetworkResource(params())
    target = res.restore_desired(before, desired())
    now = current_of(ovs_xml(portgroups=[ACCESS], bridge="ovsbr1"), active=True,
                     running_xml=ovs_xml(portgroups=[ACCESS]), autostart=True)
    ops = N.plan_network(now, target)
    assert ops[0].action == "define" and ops[0].params["xml"] == before["xml"]
    assert [(o.params["command"], o.params["flags"]) for o in ops[1:]] == [("add", ["live"])]
    assert N.plan_network(before, target) == []
    assert res.restore_desired(None, desired()) == {"name": "net0", "state": "absent"}


# -- the resource with a fake host -----------------------------------------------------------------
class Fake(N.LibvirtNetworkResource):
    state = None
    interfaces = ("ovsbr0", "eth1")

    def open(self):
        pass

    def close(self):
        pass

    def read_current(self):
        return self.state

    def _host_has_interface(self, name):
        return name in self.interfaces


def test_missing_bridge_device_or_pf_refused_before_anything():
    for kw, text in ((dict(bridge="ovsbr9"), "bridge: 'ovsbr9' is not a network interface"),
                     (dict(forward_mode="direct", bridge=None, devices=["eth1", "eth7"]), "devices: 'eth7'"),
                     (dict(forward_mode="hostdev", bridge=None, pf="enp9s0"), "pf: 'enp9s0'")):
        with pytest.raises(NotFound) as err:
            execute(Fake(params(**kw)), check_mode=True)
        assert err.value.msg.startswith(text)
    assert execute(Fake(params()), check_mode=True)["changed"] is True


def test_check_mode_diff_shows_both_xml_views_and_warns():
    Fake.state = current_of(ovs_xml(), active=True)
    try:
        res = execute(Fake(params(bridge="eth1", portgroups=[dict(ACCESS, vlan={"tags": [12]})])), check_mode=True)
    finally:
        Fake.state = None
    headers = [d["before_header"] for d in res["diff"]]
    # the running network keeps its bridge and portgroups until restarted: no diff of it
    assert headers == ["network net0", "network net0 (persistent definition)"]
    assert "ovsbr0" in res["diff"][1]["before"] and 'name="eth1"' in res["diff"][1]["after"]
    assert '<tag id="12"/>' in res["diff"][1]["after"]
    assert res["pending_restart"] is True
    assert res["warnings"][0].startswith("network net0 is active and runs its old definition (bridge, portgroups) until")
    assert "allow_restart: true" in res["warnings"][0]


# -- a guest's interface on a network, as a running domain shows it (libvirt_iface) ----------------
LIVE_PORT = ("<interface type='bridge'><mac address='52:54:00:6B:01:01'/>"
             "<source network='net0' portgroup='access10' portid='4a0c' bridge='ovsbr0'/>"
             "<vlan><tag id='10'/></vlan><virtualport type='openvswitch'><parameters interfaceid='x'/></virtualport>"
             "<target dev='vnet0'/><model type='virtio'/><alias name='net0'/></interface>")


def test_running_network_port_reads_as_a_network_interface():
    iface = _libvirt.parse_interface(_libvirt.parse_xml(LIVE_PORT))
    assert (iface["type"], iface["source"], iface["portgroup"]) == ("network", "net0", "access10")
    assert _libvirt.network_port_has_virtualport(iface) is True
    plain = _libvirt.parse_interface(_libvirt.parse_xml("<interface type='bridge'><source bridge='br0'/></interface>"))
    assert (plain["type"], plain["source"]) == ("bridge", "br0")
    assert _libvirt.network_port_has_virtualport(plain) is False


def test_config_form_hands_the_port_back_as_a_network_interface():
    node = _libvirt.config_form(_libvirt.parse_xml(LIVE_PORT))
    assert node.get("type") == "network"
    assert dict(node.find("source").attrib) == {"network": "net0", "portgroup": "access10"}
    assert node.find("vlan") is None and node.find("virtualport") is None  # the network's, merged in
    assert node.find("mac") is not None and node.find("alias") is not None
    plain = _libvirt.parse_xml("<interface type='bridge'><source bridge='br0'/><vlan><tag id='3'/></vlan></interface>")
    assert _libvirt.config_form(plain) is plain
