# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""libvirt_iface planning: exact operations (attach/update/detach + flags), live refusals, validation."""

from __future__ import annotations

import os

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt_iface as L
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import InvalidInput, NotFound, Unsupported

MAC = "52:54:00:aa:00:02"
OVS_LIVE = """<interface type='bridge'><mac address='52:54:00:aa:00:02'/><source bridge='ovs0'/>
<virtualport type='openvswitch'><parameters interfaceid='0f3b1c2e-1111-2222-3333-444455556666'/></virtualport>
<vlan><tag id='2'/></vlan><target dev='vnet3'/><model type='virtio'/><alias name='net0'/>
<address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/></interface>"""
OVS_CONFIG = """<interface type='bridge'><mac address='52:54:00:aa:00:02'/><source bridge='ovs0'/>
<virtualport type='openvswitch'><parameters interfaceid='0f3b1c2e-1111-2222-3333-444455556666'/></virtualport>
<vlan><tag id='2'/></vlan><model type='virtio'/>
<address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/></interface>"""


def desired(**kw):
    d = {f: None for f in L.FIELDS}
    d.update(domain="vm1", state="present", mac=MAC, config=True, live=True, allow_config_only=False)
    d.update(kw)
    return d


def state(config=OVS_CONFIG, live=OVS_LIVE, running=True):
    elements = {}
    current = {"running": running, "persistent": True, "config": None, "live": None}
    for view, xml in (("config", config), ("live", live if running else None)):
        if xml:
            elements[view] = _libvirt.parse_xml(xml)
            current[view] = _libvirt.parse_interface(elements[view])
    return current, elements


def plan(d, **kw):
    current, elements = state(**kw)
    return L.plan_interface(current, d, elements)


def test_same_ovs_interface_is_unchanged_despite_generated_values():
    d = desired(type="bridge", source="ovs0", virtualport="openvswitch", model="virtio",
                vlan=_libvirt.canonical_vlan({"tags": [2]}), link_state="up", queues=1)
    assert plan(d) == []


def test_retag_is_one_update_per_view_keeping_interfaceid():
    ops = plan(desired(vlan=_libvirt.canonical_vlan({"tags": [3]})))
    assert [(o.action, o.params["flags"]) for o in ops] == [("update", ["config"]), ("update", ["live"])]
    for op in ops:
        assert op.changes == {"vlan": {"before": {"tags": [2], "trunk": False, "native_tag": None, "native_mode": None},
                                       "after": {"tags": [3], "trunk": False, "native_tag": None, "native_mode": None}}}
        assert "0f3b1c2e-1111-2222-3333-444455556666" in op.params["xml"]
        assert '<tag id="3"/>' in op.params["xml"] and '<tag id="2"/>' not in op.params["xml"]
    assert "vnet3" in ops[1].params["xml"] and "vnet3" not in ops[0].params["xml"]


def test_attach_both_views_is_one_call():
    d = desired(mac="52:54:00:aa:00:09", type="bridge", source="br0", model="virtio", driver_name="vhost", queues=4)
    ops = plan(d, config=None, live=None)
    assert len(ops) == 1 and ops[0].action == "attach" and ops[0].params["flags"] == ["config", "live"]
    got = _libvirt.parse_interface(_libvirt.parse_xml(ops[0].params["xml"]))
    assert (got["mac"], got["source"], got["driver_name"], got["queues"]) == ("52:54:00:aa:00:09", "br0", "vhost", 4)
    assert L.flags_value(ops[0].params["flags"]) == 3


def test_new_ovs_interface_gets_one_interfaceid_for_both_views():
    d = desired(mac="52:54:00:aa:00:09", type="bridge", source="ovs0", virtualport="openvswitch",
                interfaceid="11111111-2222-3333-4444-555555555555")
    xml = plan(d, config=None, live=None)[0].params["xml"]
    assert 'interfaceid="11111111-2222-3333-4444-555555555555"' in xml


def test_detach_absent_and_unknown_mac():
    ops = plan(desired(state="absent"))
    assert [(o.action, o.params["flags"]) for o in ops] == [("detach", ["config", "live"])]
    assert plan(desired(state="absent", mac="52:54:00:aa:00:ff"), config=None, live=None) == []
    assert [o.params["flags"] for o in plan(desired(state="absent", live=False))] == [["config"]]


def test_stopped_domain_only_config():
    ops = plan(desired(queues=4), running=False)
    assert [(o.action, o.params["flags"], list(o.changes)) for o in ops] == [("update", ["config"], ["queues"])]


@pytest.mark.parametrize("change", [dict(queues=4), dict(model="e1000"), dict(driver_name="qemu"),
                                    dict(virtualport="none"), dict(mtu=9000), dict(target_dev="tap9"),
                                    dict(type="direct", source="eth1")])
def test_live_refusals(change):
    with pytest.raises(Unsupported, match="cannot change .* on the running domain 'vm1'.*allow_config_only"):
        plan(desired(**change))


def test_allow_config_only_splits_the_change():
    ops = plan(desired(queues=4, link_state="down", allow_config_only=True))
    assert [(o.params["flags"], sorted(o.changes)) for o in ops] == [(["config"], ["link_state", "queues"]),
                                                                     (["live"], ["link_state"])]


def test_live_source_bridge_change_is_allowed_but_not_direct_dev():
    assert [o.params["flags"] for o in plan(desired(source="ovs1"))] == [["config"], ["live"]]
    direct = "<interface type='direct'><mac address='52:54:00:aa:00:02'/><source dev='eth1' mode='bridge'/></interface>"
    with pytest.raises(Unsupported, match="source"):
        plan(desired(source="eth2"), config=direct, live=direct)


def test_update_unknown_mac_needs_type_and_source():
    with pytest.raises(NotFound, match="no interface with 52:54:00:aa:00:ff on domain 'vm1'.*give type and source"):
        plan(desired(mac="52:54:00:aa:00:ff", link_state="down"), config=None, live=None)


def test_type_change_needs_source():
    with pytest.raises(InvalidInput, match="source"):
        plan(desired(type="network", allow_config_only=True))


def test_transient_domain_refuses_config():
    current, elements = state()
    current["persistent"] = False
    with pytest.raises(Unsupported, match="transient"):
        L.plan_interface(current, desired(link_state="down"), elements)


def test_apply_fields_type_change_rebuilds_source():
    node = L.apply_fields(_libvirt.parse_xml(OVS_CONFIG), {"type": "direct", "source": "eth1", "source_mode": "vepa"})
    got = _libvirt.parse_interface(node)
    assert (got["type"], got["source"], got["source_mode"], got["virtualport"]) == ("direct", "eth1", "vepa", "none")
    assert node.find("address") is not None  # the guest address is kept


def base_params(**kw):
    p = dict(uri="test:///default", domain="vm1", mac=MAC, alias=None, state="present", type=None, source=None,
             source_mode=None, portgroup=None, virtualport=None, pf=None, vf=None, managed=None, model=None,
             driver_name=None, queues=None, rx_queue_size=None, tx_queue_size=None, vlan=None, target_dev=None,
             mtu=None, link_state=None, bandwidth=None, config=True, live=True, allow_config_only=False,
             detach_timeout=10)
    p.update(kw)
    return p


@pytest.mark.parametrize("kw,option", [
    (dict(mac="01:00:5e:00:00:01"), "mac"), (dict(mac=None), "mac"), (dict(alias="net0", mac=None), "alias"),
    (dict(queues=0), "queues"), (dict(queues=300), "queues"), (dict(rx_queue_size=300), "rx_queue_size"),
    (dict(queues=2, model="e1000"), "queues"), (dict(mtu=10), "mtu"), (dict(target_dev="vnet0"), "target_dev"),
    (dict(type="bridge", source_mode="vepa"), "source_mode"),
    (dict(type="direct", virtualport="openvswitch"), "virtualport"),
    (dict(type="hostdev", source="99:99.9"), "source"), (dict(config=False, live=False), "config"),
    (dict(vf=1), "vf"), (dict(vlan={"tags": [0]}), "vlan.tags"),
    (dict(bandwidth={"inbound": {"average": 1000, "peak": 10}}), "bandwidth.inbound.peak"),
    (dict(bandwidth={"outbound": {"average": 1, "burst": 2 ** 32}}), "bandwidth.outbound.burst"),
    (dict(type="bridge", source="br0", bandwidth={"inbound": {"average": 10, "floor": 5}}), "bandwidth.inbound.floor"),
    (dict(uri=""), "uri"), (dict(uri="qemu:///system\n"), "uri"),
    (dict(model="kvt\x00x"), "model"), (dict(portgroup="a\nb"), "portgroup"), (dict(driver_name="vhost\t"), "driver_name"),
    # found by the bad-input sweep: libvirt refuses these only when it defines the domain
    (dict(model="kvt bogus"), "model"), (dict(model="virtio;x"), "model"),
    # ... and a negative timeout was taken when nothing is detached live
    (dict(live=False, config=True, detach_timeout=-1), "detach_timeout"),
])
def test_normalize_rejects(kw, option):
    with pytest.raises(InvalidInput) as err:
        L.LibvirtIfaceResource(base_params(**kw)).normalize()
    assert err.value.option == option


def test_floor_on_a_network_interface_is_accepted():
    d = L.LibvirtIfaceResource(base_params(type="network", source="default",
                                           bandwidth={"inbound": {"average": 10, "floor": 5}})).normalize()
    assert d["bandwidth"] == {"inbound": {"average": 10, "floor": 5}}


def test_resolve_vf_from_sysfs(tmp_path):
    dev = tmp_path / "class" / "net" / "enp1s0"
    pfdir = tmp_path / "devices" / "0000:01:00.0"
    (pfdir).mkdir(parents=True)
    (tmp_path / "devices" / "0000:01:10.4").mkdir()
    os.symlink("../0000:01:10.4", pfdir / "virtfn2")
    (pfdir / "sriov_numvfs").write_text("3\n")
    dev.mkdir(parents=True)
    os.symlink(str(pfdir), dev / "device")
    assert L.resolve_vf("enp1s0", 2, str(tmp_path)) == "0000:01:10.4"
    with pytest.raises(NotFound, match="enp1s0 has no VF 5 \\(sriov_numvfs is 3\\)"):
        L.resolve_vf("enp1s0", 5, str(tmp_path))
    with pytest.raises(NotFound, match="pf: network device 'eth9'"):
        L.resolve_vf("eth9", 0, str(tmp_path))


def test_root_points_pf_and_source_checks_at_a_test_tree(tmp_path):
    """root= moves every host path (the VF lookup, the PCI device check) and nothing else."""
    pfdir = tmp_path / "sys" / "devices" / "0000:01:00.0"
    pfdir.mkdir(parents=True)
    (tmp_path / "sys" / "devices" / "0000:01:10.0").mkdir()
    os.symlink("../0000:01:10.0", pfdir / "virtfn0")
    (tmp_path / "sys" / "class" / "net" / "enp1s0").mkdir(parents=True)
    os.symlink(str(pfdir), tmp_path / "sys" / "class" / "net" / "enp1s0" / "device")
    (tmp_path / "sys" / "bus" / "pci" / "devices" / "0000:01:10.0").mkdir(parents=True)
    res = L.LibvirtIfaceResource(base_params(type="hostdev", pf="enp1s0", vf=0), root=str(tmp_path))
    desired = res.normalize()
    assert desired["source"] == "0000:01:10.0"
    current = {"running": False, "persistent": True, "config": None, "live": None}
    assert [o.action for o in res.plan(current, desired)] == ["attach"]
    other = L.LibvirtIfaceResource(base_params(type="hostdev", source="01:11.0"), root=str(tmp_path))
    with pytest.raises(NotFound, match="source: PCI device 0000:01:11.0 does not exist"):
        other.plan(current, other.normalize())


@pytest.mark.parametrize("timeout,attempts", [(None, 20), (10, 20), (0, 1), (2.5, 5)])
def test_detach_timeout_to_attempts(timeout, attempts):
    assert L.detach_attempts(timeout, 0.5) == attempts


@pytest.mark.parametrize("timeout", [-1, "10", True])
def test_detach_timeout_refused(timeout):
    with pytest.raises(InvalidInput) as err:
        L.detach_attempts(timeout, 0.5)
    assert err.value.option == "detach_timeout"


class FakeResource(L.LibvirtIfaceResource):
    """The module with the one read point replaced (no libvirt); an update replaces the XML of
    its views (``views``: the domain's interface per view, as libvirt would return it)."""

    def __init__(self, params, views=None):
        super().__init__(params)
        self.views = dict(views or {"config": OVS_CONFIG, "live": OVS_LIVE})

    def open(self):
        pass

    def close(self):
        pass

    def read_current(self):
        current, self.elements = state(**self.views)
        current["domain"] = "vm1"
        for view in ("config", "live"):
            if current[view]:
                current[view]["xml"] = _libvirt.to_string(self.elements[view])
        return current

    def apply_operation(self, op):
        assert op.action == "update"
        for view in op.params["flags"]:
            self.views[view] = op.params["xml"]


def test_check_mode_predicts_and_diff_is_xml():
    res = execute(FakeResource(base_params(link_state="down")), check_mode=True)
    assert res["changed"] and res["after"]["live"]["link_state"] == "down"
    assert res["after"]["config"]["link_state"] == "down"
    header = "interface %s of domain vm1" % MAC
    obj, config, live = res["diff"]
    # the object: its fields as YAML, without the XML (a document of its own per view)
    assert obj["before_header"] == obj["after_header"] == header
    assert "  link_state: up\n" in obj["before"] and "  link_state: down\n" in obj["after"]
    assert "xml" not in obj["before"] + obj["after"] and "<interface" not in obj["after"]
    # one XML diff per view, named by the interface, the domain and the view
    assert (config["before_header"], live["before_header"]) == (header + " (persistent definition)",
                                                                header + " (running domain)")
    assert config["before"] == _libvirt.to_string(_libvirt.parse_xml(OVS_CONFIG))
    assert live["before"] == _libvirt.to_string(_libvirt.parse_xml(OVS_LIVE))
    for entry in (config, live):
        assert entry["before_header"] == entry["after_header"]
        assert '<link state="down"/>' in entry["after"] and "<link" not in entry["before"]
        assert entry["after"].replace('  <link state="down"/>\n', "") == entry["before"]
    assert res["pending_restart"] is False and res["warnings"] == []
    again = execute(FakeResource(base_params(link_state="up")), check_mode=True)
    assert again["changed"] is False and again["operations"] == []
    assert len(again["diff"]) == 1 and again["diff"][0]["before"] == again["diff"][0]["after"]


def test_real_run_shows_the_diff_check_mode_predicted():
    resource = FakeResource(base_params(link_state="down"))
    predicted = execute(FakeResource(base_params(link_state="down")), check_mode=True)
    res = execute(resource)
    assert res["changed"] and res["after"]["live"]["link_state"] == "down"
    assert "state=\"down\"" in resource.views["live"]
    assert res["diff"] == predicted["diff"]


def test_config_only_change_on_a_running_domain_warns_to_restart_it():
    """queues cannot change live: with allow_config_only the definition changes, the running
    domain does not, and the module says the domain needs a restart (it does not restart it)."""
    params = base_params(queues=4, driver_name="vhost", allow_config_only=True)
    for check_mode in (True, False):
        resource = FakeResource(params)
        res = execute(resource, check_mode=check_mode)
        assert [(op["action"], op["flags"]) for op in res["operations"]] == [("update", ["config"])]
        assert res["pending_restart"] is True
        assert res["warnings"] == [
            "interface %s of domain vm1: the running domain differs from the persistent definition "
            "(driver_name: defined vhost, running unset; queues: defined 4, running 1); the definition "
            "takes effect when domain vm1 is shut down and started again (a reboot inside the guest is not "
            "enough)" % MAC]
        assert [e["before_header"].rsplit(" (", 1)[-1] for e in res["diff"][1:]] == ["persistent definition)"]
        assert "<driver name=\"vhost\" queues=\"4\"/>" in res["diff"][1]["after"]
        assert ("queues=" in resource.views["config"]) is not check_mode
    # the same interface on a stopped domain: nothing waits for a restart
    stopped = execute(FakeResource(params, views={"config": OVS_CONFIG, "live": None, "running": False}))
    assert stopped["pending_restart"] is False and stopped["warnings"] == []


def with_xml(current):
    for view in ("config", "live"):
        if current[view] is not None:
            current[view]["xml"] = {"config": OVS_CONFIG, "live": OVS_LIVE}[view]
    return current


def test_restore_puts_each_view_back_with_its_own_xml():
    before = with_xml(state()[0])
    res = L.LibvirtIfaceResource({"domain": "vm1", "mac": MAC})
    target = res.restore_desired(before, desired(vlan={"tags": [3], "trunk": False, "native_tag": None,
                                                       "native_mode": None}))
    assert target["restore"] == {"config": before["config"], "live": before["live"]}
    # the failed run retagged both views: each gets its own XML back (live with its generated values)
    now, elements = state(config=OVS_CONFIG.replace("id='2'", "id='3'"), live=OVS_LIVE.replace("id='2'", "id='3'"))
    ops = L.plan_restore(now, target["restore"], elements, "vm1/" + MAC)
    assert [(o.action, o.params["flags"], o.params["xml"]) for o in ops] == [
        ("update", ["config"], OVS_CONFIG), ("update", ["live"], OVS_LIVE)]
    assert ops[0].changes == {"vlan": {"before": {"tags": [3], "trunk": False, "native_tag": None, "native_mode": None},
                                       "after": {"tags": [2], "trunk": False, "native_tag": None, "native_mode": None}}}
    # it added the interface to the config only: detached there; it removed it: attached with the old XML
    now, elements = state()
    assert L.plan_restore(now, {"config": None, "live": before["live"]}, elements, "t") == [
        L.Operation("detach", "t", flags=["config"], xml=_libvirt.to_string(elements["config"]))]
    now, elements = state(config=None)
    assert [(o.action, o.params["flags"], o.params["xml"]) for o in
            L.plan_restore(now, target["restore"], elements, "t")] == [("attach", ["config"], OVS_CONFIG)]
    # a stopped domain has no live view to restore; nothing differs: nothing to do
    now, elements = state(running=False)
    assert L.plan_restore(now, target["restore"], elements, "t") == []
    now, elements = state()
    assert L.plan_restore(with_xml(now), target["restore"], elements, "t") == []


@pytest.mark.parametrize("name", ["", " ", "a/b", "vm\n1", ".hidden", "vm1 ", "x" * 251])
def test_bad_domain_names_refused(name):
    with pytest.raises(InvalidInput) as err:
        L.LibvirtIfaceResource({"domain": name, "mac": MAC}).normalize()
    assert err.value.msg.startswith("domain: %r " % name)


def test_domain_names_libvirt_accepts_are_kept():
    for name in ("vm1", "my vm", "db-01.example", "0f3b1c2e-1111-2222-3333-444455556666"):
        assert L.LibvirtIfaceResource({"domain": name, "mac": MAC}).normalize()["domain"] == name


class _NoInterface(_libvirt.libvirt.libvirtError if _libvirt.libvirt else Exception):
    def __init__(self, code):  # pylint: disable=super-init-not-called
        self.code = code

    def get_error_code(self):
        return self.code


class _Conn:
    def __init__(self, known, code=_libvirt.ERR_NO_INTERFACE):
        self.known, self.code = known, code

    def interfaceLookupByName(self, name):  # noqa: N802 - libvirt's name
        if name not in self.known:
            raise _NoInterface(self.code)
        return object()


@pytest.mark.skipif(_libvirt.libvirt is None, reason="libvirt-python")
def test_source_must_be_an_interface_of_libvirts_host(tmp_path):
    (tmp_path / "sys" / "class" / "net" / "br-local").mkdir(parents=True)
    res = L.LibvirtIfaceResource(base_params(type="bridge", source="br-x"), root=str(tmp_path))
    res.virt.conn = _Conn({"br-lv"})
    with pytest.raises(NotFound, match=r"^source: 'br-nope' is not a network interface on libvirt's host"):
        res.require_host_interface("br-nope")
    res.require_host_interface("br-lv")  # libvirt's interface driver knows it
    res.require_host_interface("br-local")  # a netcf backend knows configured ones only: sysfs has it
    # no interface driver (libvirt 10+ without virtinterfaced, as on Debian 13): this host's sysfs
    # decides; libvirt would not check a persistent definition at all
    res.virt.conn = _Conn(set(), code=_libvirt.ERR_NO_SUPPORT)
    res.require_host_interface("br-local")
    with pytest.raises(NotFound, match=r"^source: 'br-nope' is not a network interface on libvirt's host"):
        res.require_host_interface("br-nope")
