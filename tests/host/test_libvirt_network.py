# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""libvirt_network against the test bed's private libvirtd: each forward mode defined, read back
from libvirt, rerun unchanged; portgroups updated on the running network and its persistent
definition; a restart-needing change warned about, then applied with allow_restart; removal;
bad input refused with libvirt's networks untouched; rollback at each step.

The bridges, the Open vSwitch bridge and the macvtap lower devices live in libvirtd's own
network namespace (libvirtd.netns, where its interface driver looks them up). The hostdev pool
is defined over a veth and never started (no SR-IOV here).
"""

from __future__ import annotations

import pytest
from testbed.inject import check_every_step
from testbed.util import unique_ifname

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt_network_xml as X
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import InvalidInput, NotFound, Unsupported
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_network import LibvirtNetworkResource

NAME = "kvt-net"


@pytest.fixture
def links(libvirtd):
    """In libvirtd's namespace: Linux bridges br0/br1, veths ve0<->ve1, an OVS bridge ovs (netdev)."""
    ns = libvirtd.netns
    names = {key: unique_ifname("kvt") for key in ("br0", "br1", "ve0", "ve1")}
    ns.add_bridge(names["br0"])
    ns.add_bridge(names["br1"])
    ns.add_veth(names["ve0"], names["ve1"])
    names["ovs"] = unique_ifname("kvtovs")
    libvirtd.ovs.vsctl("--may-exist", "add-br", names["ovs"], "--", "set", "bridge", names["ovs"],
                       "datapath_type=netdev")
    yield names
    libvirtd.ovs.vsctl("--if-exists", "del-br", names["ovs"])
    for key in ("br0", "br1", "ve0"):
        ns.ip("link", "del", names[key], check=False)


@pytest.fixture
def net(libvirtd):
    """The network's name; whatever a test left under it is stopped and undefined afterwards."""
    yield NAME
    conn = libvirtd.conn()
    if NAME in conn.listNetworks() + conn.listDefinedNetworks():
        network = conn.networkLookupByName(NAME)
        if network.isActive():
            network.destroy()
        network.undefine()


def params(libvirtd, **kw):
    base = dict(uri=libvirtd.uri, name=NAME, state="present", forward_mode=None, bridge=None, devices=None,
                macvtap_mode=None, pf=None, managed=None, vlan=None, portgroups=None, portgroups_exclusive=False,
                active=None, autostart=None, allow_restart=False)
    base.update(kw)
    return base


def run_net(libvirtd, check_mode=False, **kw):
    return execute(LibvirtNetworkResource(params(libvirtd, **kw)), check_mode=check_mode)


def networks(libvirtd):
    """Every network libvirt has: persistent XML, running XML (None when inactive), autostart."""
    conn = libvirtd.conn()
    out = {}
    for name in conn.listNetworks() + conn.listDefinedNetworks():
        network = conn.networkLookupByName(name)
        out[name] = (network.XMLDesc(1), network.XMLDesc(0) if network.isActive() else None, network.autostart())
    return out


def libvirt_view(libvirtd, live=False):
    """The network as libvirt has it (canonical form of its persistent or running XML)."""
    network = libvirtd.conn().networkLookupByName(NAME)
    return X.parse_network(_libvirt.parse_xml(network.XMLDesc(0 if live else 1)))


OVS_PGS = [{"name": "access10", "default": True, "vlan": {"tags": [10]}},
           {"name": "trunk", "vlan": {"tags": [10, 20, 30], "native_tag": 10}}]


@pytest.mark.parametrize("mode", ["bridge", "openvswitch", "direct", "hostdev"])
def test_each_forward_mode_defined_read_back_rerun_unchanged(libvirtd, links, net, mode):
    kw = {"bridge": dict(bridge=links["br0"], active=True),
          "openvswitch": dict(bridge=links["ovs"], vlan={"tags": [5]}, portgroups=OVS_PGS, active=True),
          "direct": dict(devices=[links["ve1"], links["ve0"]], macvtap_mode="vepa", active=True),
          "hostdev": dict(pf=links["ve0"], portgroups=[{"name": "v7", "vlan": {"tags": [7]}}])}[mode]
    res = run_net(libvirtd, forward_mode=mode, autostart=True, **kw)
    assert res["changed"] and res["operations"][0]["action"] == "define"
    seen = libvirtd.conn().networkLookupByName(net)
    assert seen.autostart() == 1 and seen.isActive() == (mode != "hostdev")
    have = libvirt_view(libvirtd)
    assert have["forward_mode"] == mode
    if mode in ("bridge", "openvswitch"):
        assert have["bridge"] == kw["bridge"]
    if mode == "openvswitch":
        assert "<virtualport type='openvswitch'/>" in seen.XMLDesc(0)
        assert have["vlan"]["tags"] == [5]
        assert [(pg["name"], pg["default"], pg["vlan"]["tags"], pg["vlan"]["native_tag"])
                for pg in have["portgroups"]] == [("access10", True, [10], None), ("trunk", False, [10, 20, 30], 10)]
    if mode == "direct":
        assert (have["devices"], have["macvtap_mode"]) == (sorted([links["ve0"], links["ve1"]]), "vepa")
    if mode == "hostdev":
        assert (have["pf"], have["managed"], have["portgroups"][0]["vlan"]["tags"]) == (links["ve0"], True, [7])
    before = networks(libvirtd)
    again = run_net(libvirtd, forward_mode=mode, autostart=True, **kw)
    assert again["changed"] is False and again["operations"] == []
    assert networks(libvirtd) == before
    assert run_net(libvirtd, state="absent")["operations"] == (
        [{"action": "stop", "target": net}] if mode != "hostdev" else []) + [{"action": "undefine", "target": net}]
    assert net not in networks(libvirtd)
    assert run_net(libvirtd, state="absent")["changed"] is False


def test_portgroups_updated_live_and_persistent(libvirtd, links, net):
    base = dict(forward_mode="openvswitch", bridge=links["ovs"], active=True)
    run_net(libvirtd, portgroups=OVS_PGS, **base)
    uuid = libvirtd.conn().networkLookupByName(net).UUIDString()
    # change access10's tag, add vlan20 as the new default, leave trunk alone (not listed)
    want = [{"name": "access10", "vlan": {"tags": [11]}}, {"name": "vlan20", "default": True, "vlan": {"tags": [20]}}]
    res = run_net(libvirtd, portgroups=want, **base)
    assert [(o["action"], o.get("command"), o.get("flags")) for o in res["operations"]] == [
        ("update", "modify", ["config", "live"]), ("update", "add", ["config", "live"])]
    assert res["warnings"] == [] and res["pending_restart"] is False
    for live in (False, True):  # the running network and its definition alike, without a restart
        pgs = {pg["name"]: (pg["default"], pg["vlan"].get("tags")) for pg in libvirt_view(libvirtd, live)["portgroups"]}
        assert pgs == {"access10": (False, [11]), "trunk": (False, [10, 20, 30]), "vlan20": (True, [20])}
    assert libvirtd.conn().networkLookupByName(net).UUIDString() == uuid
    assert run_net(libvirtd, portgroups=want, **base)["changed"] is False
    # exclusive: trunk goes, live and persistent
    res = run_net(libvirtd, portgroups=want, portgroups_exclusive=True, **base)
    assert [(o["command"], o["changes"].keys()) for o in res["operations"]] == [("delete", {"portgroup trunk"})]
    assert [pg["name"] for pg in libvirt_view(libvirtd, live=True)["portgroups"]] == ["access10", "vlan20"]
    assert [pg["name"] for pg in libvirt_view(libvirtd)["portgroups"]] == ["access10", "vlan20"]
    # an inactive network: the persistent definition only
    libvirtd.conn().networkLookupByName(net).destroy()
    res = run_net(libvirtd, forward_mode="openvswitch", bridge=links["ovs"],
                  portgroups=[{"name": "access10", "vlan": {"tags": [12]}}])
    assert [(o["command"], o["flags"]) for o in res["operations"]] == [("modify", ["config"])]
    assert libvirt_view(libvirtd)["portgroups"][0]["vlan"]["tags"] == [12]


def test_macvtap_pool_devices_updated_live(libvirtd, links, net):
    run_net(libvirtd, forward_mode="direct", devices=[links["ve0"]], active=True)
    res = run_net(libvirtd, forward_mode="direct", devices=[links["ve1"]])
    assert [(o["command"], o["flags"]) for o in res["operations"]] == [
        ("add", ["config", "live"]), ("delete", ["config", "live"])]
    assert res["pending_restart"] is False
    assert libvirt_view(libvirtd)["devices"] == libvirt_view(libvirtd, live=True)["devices"] == [links["ve1"]]
    assert run_net(libvirtd, forward_mode="direct", devices=[links["ve1"]])["changed"] is False


def test_restart_needed_warned_then_applied_with_allow_restart(libvirtd, links, net):
    run_net(libvirtd, forward_mode="bridge", bridge=links["br0"], active=True)
    res = run_net(libvirtd, forward_mode="bridge", bridge=links["br1"])
    assert [o["action"] for o in res["operations"]] == ["define"]
    assert res["operations"][0]["changes"]["restart_needed"] == {"before": False, "after": True}
    assert res["pending_restart"] is True and "allow_restart" in res["warnings"][0]
    assert "bridge" in res["warnings"][0]
    assert libvirt_view(libvirtd)["bridge"] == links["br1"]
    assert libvirt_view(libvirtd, live=True)["bridge"] == links["br0"]  # still the old one, running
    again = run_net(libvirtd, forward_mode="bridge", bridge=links["br1"])
    assert again["changed"] is False and again["pending_restart"] is True  # idempotent, still warning
    res = run_net(libvirtd, forward_mode="bridge", bridge=links["br1"], allow_restart=True)
    assert [o["action"] for o in res["operations"]] == ["stop", "start"]
    assert libvirt_view(libvirtd, live=True)["bridge"] == links["br1"] and res["pending_restart"] is False
    assert res["warnings"] == []


def test_check_mode_predicts_changes_nothing_and_diffs_xml(libvirtd, links, net):
    before = networks(libvirtd)
    pred = run_net(libvirtd, check_mode=True, forward_mode="openvswitch", bridge=links["ovs"], portgroups=OVS_PGS,
                   active=True)
    assert [o["action"] for o in pred["operations"]] == ["define", "start"]
    assert pred["after"]["portgroups"][0]["name"] == "access10" and pred["after"]["active"] is True
    assert networks(libvirtd) == before
    run_net(libvirtd, forward_mode="openvswitch", bridge=links["ovs"], portgroups=OVS_PGS, active=True)
    defined = networks(libvirtd)
    pred = run_net(libvirtd, check_mode=True, forward_mode="openvswitch", bridge=links["ovs"],
                   portgroups=[{"name": "access10", "default": True, "vlan": {"tags": [99]}}])
    assert [(o["action"], o["command"]) for o in pred["operations"]] == [("update", "modify")]
    headers = [d["before_header"] for d in pred["diff"]]
    assert headers == ["network %s" % net, "network %s (persistent definition)" % net,
                       "network %s (running network)" % net]
    assert "<tag id='99'/>" in pred["diff"][1]["after"] or '<tag id="99"/>' in pred["diff"][1]["after"]
    assert networks(libvirtd) == defined


@pytest.mark.parametrize("kw,option,kind", [
    (dict(name=".."), "name", InvalidInput),
    (dict(name="my net"), "name", InvalidInput),
    (dict(name="a/b"), "name", InvalidInput),
    (dict(name=""), "name", InvalidInput),
    (dict(vlan={"tags": [0]}), "vlan.tags", InvalidInput),
    (dict(vlan={"tags": [4095]}), "vlan.tags", InvalidInput),
    (dict(portgroups=[{"name": "a"}, {"name": "a"}]), "portgroups", InvalidInput),
    (dict(portgroups=[{"name": "a", "default": True}, {"name": "b", "default": True}]), "portgroups", InvalidInput),
    (dict(portgroups=[{"name": "a", "vlan": {"tags": [4095]}}]), "portgroups[0].vlan.tags", InvalidInput),
    (dict(devices=["eth0"]), "devices", InvalidInput),
    (dict(pf="eth0"), "pf", InvalidInput),
    (dict(macvtap_mode="vepa"), "macvtap_mode", InvalidInput),
    (dict(bridge="kvtnobr0"), "bridge", NotFound),
])
@pytest.mark.parametrize("check_mode", [False, True])
def test_bad_input_refused_nothing_changed(libvirtd, links, net, kw, option, kind, check_mode):
    run_net(libvirtd, forward_mode="openvswitch", bridge=links["ovs"], portgroups=OVS_PGS, active=True)
    before = networks(libvirtd)
    want = dict(dict(forward_mode="openvswitch", bridge=links["br1"]), **kw)
    with pytest.raises(kind) as err:
        run_net(libvirtd, check_mode=check_mode, **want)
    assert err.value.msg.startswith("%s: " % option), err.value.msg
    assert networks(libvirtd) == before


def test_bad_mode_options_and_missing_devices_refused(libvirtd, links, net):
    before = networks(libvirtd)
    for kw, text in ((dict(forward_mode="bridge", vlan={"tags": [5]}), "vlan: "),
                     (dict(forward_mode="direct", devices=[links["ve0"], "kvtnodev0"]), "devices: 'kvtnodev0'"),
                     (dict(forward_mode="hostdev", pf="kvtnopf0"), "pf: 'kvtnopf0'"),
                     (dict(forward_mode="direct", devices=[]), "devices: []")):
        with pytest.raises((InvalidInput, NotFound)) as err:
            run_net(libvirtd, **dict(dict(bridge=links["br0"]) if kw["forward_mode"] == "bridge" else {}, **kw))
        assert err.value.msg.startswith(text), err.value.msg
    assert networks(libvirtd) == before


def test_through_ansible_check_diff_and_bad_input(libvirtd, links, net, run_playbook):
    task = {"uri": libvirtd.uri, "name": net, "forward_mode": "openvswitch", "bridge": links["ovs"],
            "portgroups": OVS_PGS, "active": True}
    before = networks(libvirtd)
    res = run_playbook([
        {"name": "vlan 0", "kvmnet.hypervisor.libvirt_network": dict(task, vlan={"tags": [0]}), "ignore_errors": True},
        {"name": "pf on openvswitch", "kvmnet.hypervisor.libvirt_network": dict(task, pf="eth0"),
         "ignore_errors": True},
        {"name": "check", "kvmnet.hypervisor.libvirt_network": task, "check_mode": True},
    ], diff=True)
    assert res["vlan 0"].failed and res["vlan 0"].msg.startswith("vlan.tags: 0 "), res["vlan 0"].msg
    assert res["pf on openvswitch"].msg.startswith("pf: 'eth0' applies to forward_mode hostdev only")
    assert res["check"].changed and not res["check"].failed
    assert networks(libvirtd) == before
    res = run_playbook([{"name": "real", "kvmnet.hypervisor.libvirt_network": task},
                        {"name": "again", "kvmnet.hypervisor.libvirt_network": task}])
    assert res["real"].changed and not res["again"].changed


# -- rollback: a failure at each step boundary leaves libvirt's networks as they were -------------
def sweep(libvirtd, steps, **kw):
    def make(wrap):
        return wrap(LibvirtNetworkResource)(params(libvirtd, **kw))

    errors = []
    for after in (False, True):
        errors += check_every_step(make, lambda: networks(libvirtd), steps, after=after)
    return errors


def test_rollback_at_each_step(libvirtd, links, net):
    # new: define, start, autostart; the rollback stops and undefines it
    sweep(libvirtd, 3, forward_mode="openvswitch", bridge=links["ovs"], portgroups=OVS_PGS, active=True,
          autostart=True)
    assert net not in networks(libvirtd)
    run_net(libvirtd, forward_mode="openvswitch", bridge=links["ovs"], portgroups=OVS_PGS, active=True)
    # two live portgroup updates then a redefinition with restart (stop, start) and autostart
    want = [{"name": "access10", "vlan": {"tags": [11]}}, {"name": "vlan20", "default": True, "vlan": {"tags": [20]}}]
    errors = sweep(libvirtd, 2, forward_mode="openvswitch", bridge=links["ovs"], portgroups=want)
    assert [r["action"] for r in errors[3].details["reverted"]][-1] == "update"
    sweep(libvirtd, 4, forward_mode="openvswitch", bridge=links["ovs"], vlan={"tags": [9]}, allow_restart=True,
          autostart=True)
    sweep(libvirtd, 2, state="absent")


# -- a guest on the network: libvirt_iface type network with a portgroup ------------------------
def iface_params(libvirtd, domain, **kw):
    base = dict(uri=libvirtd.uri, domain=domain, mac="52:54:00:6b:01:01", alias=None, state="present",
                type="network", source=NAME, source_mode=None, portgroup=None, virtualport=None, pf=None, vf=None,
                managed=None, model="virtio", driver_name=None, queues=None, rx_queue_size=None, tx_queue_size=None,
                vlan=None, target_dev=None, mtu=None, link_state=None, bandwidth=None, config=True, live=True,
                allow_config_only=False, detach_timeout=10)
    base.update(kw)
    return base


def iface_of_live(dom):
    """The target dev (tap) of the running domain's only interface."""
    return _libvirt.parse_xml(dom.XMLDesc(0)).find("devices/interface/target").get("dev")


def test_linux_bridge_network_port_portgroup_is_config_only(libvirtd, links, net, libvirt_domains):
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_iface import LibvirtIfaceResource

    run_net(libvirtd, forward_mode="bridge", bridge=links["br0"], portgroups=[{"name": "a"}, {"name": "b"}],
            active=True)
    dom = libvirt_domains.define()
    res = execute(LibvirtIfaceResource(iface_params(libvirtd, dom.name(), portgroup="a")))
    assert res["after"]["live"]["type"] == "network" and res["after"]["live"]["source"] == net
    # libvirt 9 keeps a running port's portgroup (an update "succeeds" and changes nothing): refused live
    with pytest.raises(Unsupported, match="^live: libvirt cannot change portgroup"):
        execute(LibvirtIfaceResource(iface_params(libvirtd, dom.name(), portgroup="b")))
    res = execute(LibvirtIfaceResource(iface_params(libvirtd, dom.name(), portgroup="b", allow_config_only=True)))
    assert [(o["action"], o["flags"]) for o in res["operations"]] == [("update", ["config"])]
    assert (res["after"]["live"]["portgroup"], res["after"]["config"]["portgroup"]) == ("a", "b")
    assert res["pending_restart"] is True
    assert libvirtd.netns.link(iface_of_live(dom))["master"] == links["br0"]


def test_guest_nic_on_a_portgroup_gets_its_vlan(libvirtd, links, net, libvirt_domains):
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_iface import LibvirtIfaceResource

    run_net(libvirtd, forward_mode="openvswitch", bridge=links["ovs"], portgroups=OVS_PGS, active=True)
    dom = libvirt_domains.define()
    res = execute(LibvirtIfaceResource(iface_params(libvirtd, dom.name(), portgroup="access10")))
    assert res["changed"] and res["after"]["live"]["portgroup"] == "access10"
    port = res["after"]["live"]["target_dev"]
    assert libvirtd.ovs.vsctl("get", "port", port, "tag").strip() == "10"  # the portgroup's VLAN on the OVS port
    assert execute(LibvirtIfaceResource(iface_params(libvirtd, dom.name(), portgroup="access10")))["changed"] is False
    # another portgroup of an Open vSwitch network: libvirt moves the port only by a reconnect it does
    # not do live, so the running domain's port is refused up front; the definition takes it
    xml = (dom.XMLDesc(0), dom.XMLDesc(2))
    with pytest.raises(Unsupported, match="^live: libvirt cannot change portgroup of interface"):
        execute(LibvirtIfaceResource(iface_params(libvirtd, dom.name(), portgroup="trunk")))
    assert (dom.XMLDesc(0), dom.XMLDesc(2)) == xml
    res = execute(LibvirtIfaceResource(iface_params(libvirtd, dom.name(), portgroup="trunk", live=False)))
    assert res["after"]["config"]["portgroup"] == "trunk" and res["after"]["live"]["portgroup"] == "access10"
    dom.destroy()
    dom.createWithFlags(1)  # VIR_DOMAIN_START_PAUSED: the definition's portgroup now runs
    port = iface_of_live(dom)
    assert libvirtd.ovs.vsctl("get", "port", port, "trunks").strip() == "[10, 20, 30]"
    assert execute(LibvirtIfaceResource(iface_params(libvirtd, dom.name(), portgroup="trunk")))["changed"] is False
    # a portgroup the network does not have, or a network libvirt does not have: refused, domain untouched
    xml = (dom.XMLDesc(0), dom.XMLDesc(2))
    with pytest.raises(NotFound) as err:
        execute(LibvirtIfaceResource(iface_params(libvirtd, dom.name(), portgroup="nope")))
    assert err.value.msg == "portgroup: 'nope' is not a portgroup of network %r (it has: access10, trunk)" % net
    with pytest.raises(NotFound, match="^source: network 'kvt-no-net' does not exist"):
        execute(LibvirtIfaceResource(iface_params(libvirtd, dom.name(), source="kvt-no-net")))
    assert (dom.XMLDesc(0), dom.XMLDesc(2)) == xml
    # the portgroup's VLAN changed on the network: a guest plugged in after it gets the new tag
    run_net(libvirtd, forward_mode="openvswitch", bridge=links["ovs"],
            portgroups=[{"name": "access10", "default": True, "vlan": {"tags": [12]}}])
    dom2 = libvirt_domains.define()
    res = execute(LibvirtIfaceResource(iface_params(libvirtd, dom2.name(), mac="52:54:00:6b:01:02")))
    port = res["after"]["live"]["target_dev"]  # no portgroup named: the default one (access10, now tag 12)
    assert libvirtd.ovs.vsctl("get", "port", port, "tag").strip() == "12"


# -- the libvirt_networks role through ansible-playbook ---------------------------------------------
def test_role_defines_converges_and_does_nothing_when_empty(libvirtd, links, net, run_playbook):
    def role(networks):
        return {"name": "networks", "ansible.builtin.include_role": {"name": "kvmnet.hypervisor.libvirt_networks"},
                "vars": {"libvirt_networks_list": networks, "libvirt_networks_libvirt_uri": libvirtd.uri,
                         "libvirt_networks_install_packages": False}}

    before = networks(libvirtd)
    empty = run_playbook([role([])])
    assert empty.rc == 0 and [t.name for t in empty.tasks if t.changed] == [] and networks(libvirtd) == before
    want = [{"name": net, "forward_mode": "openvswitch", "bridge": links["ovs"], "portgroups": OVS_PGS}]
    res = run_playbook([role(want)])
    assert res.rc == 0, res.stdout + res.stderr
    seen = libvirtd.conn().networkLookupByName(net)
    assert seen.isActive() and seen.autostart()  # started and autostarted unless the entry says otherwise
    assert [pg["name"] for pg in libvirt_view(libvirtd, live=True)["portgroups"]] == ["access10", "trunk"]
    again = run_playbook([role(want)])
    assert again.rc == 0 and [t.name for t in again.tasks if t.changed] == []
    gone = run_playbook([role([{"name": net, "state": "absent"}])])
    assert gone.rc == 0 and net not in networks(libvirtd), gone.stdout + gone.stderr
