# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host test bed itself: every fixture starts something real and cleans it up."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from lxml import etree

from testbed import Libvirtd, Netns, bridge_iface, ovs_iface, unique_ifname
from testbed.netns import list_netns
from testbed.util import TestbedError, pid_alive, read_pidfile

pytestmark = pytest.mark.usefixtures("kvt_root")


def root_link_exists(name):
    return Path("/sys/class/net", name).exists()


@pytest.fixture
def lv_bridge(libvirtd):
    """A Linux bridge in the session libvirtd's network namespace, deleted afterwards."""
    name = libvirtd.netns.add_bridge(unique_ifname("kvb"))
    yield name
    libvirtd.netns.ip("link", "del", name, check=False)


def iface_targets(dom):
    root = etree.fromstring(dom.XMLDesc(0))
    return [i.find("target").get("dev") for i in root.findall("./devices/interface")]


# -- network namespaces ----------------------------------------------------------------------
def test_netns_veth_ping_across(netns, netns_factory):
    other = netns_factory()
    assert netns.name.startswith("kvt-") and netns.name != other.name
    netns.add_veth("kv0", "kv1", peer_netns=other)
    netns.add_addr("kv0", "192.0.2.1/24")
    other.add_addr("kv1", "192.0.2.2/24")
    assert netns.link("kv0")["linkinfo"]["info_kind"] == "veth"
    assert other.exists("kv1") and not netns.exists("kv1")
    assert not root_link_exists("kv0") and not root_link_exists("kv1")
    assert netns.ping("192.0.2.2")
    assert not netns.ping("192.0.2.99", timeout=1)


def test_netns_bridge_tap_macvtap(netns):
    netns.add_bridge("br0")
    netns.add_tap("tap0")
    netns.add_veth("ve0", "ve1")
    netns.set_master("tap0", "br0")
    netns.set_master("ve0", "br0")
    netns.add_macvtap("mvt0", "ve1", mode="bridge")
    assert netns.master_of("tap0") == "br0" and netns.master_of("ve0") == "br0"
    assert netns.link("mvt0")["linkinfo"]["info_data"]["mode"] == "bridge"
    ipr = netns.ipr()  # pyroute2 sees the same links inside the namespace
    names = {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
    assert {"br0", "tap0", "ve0", "ve1", "mvt0"} <= names


def test_netns_teardown_even_on_error():
    with pytest.raises(RuntimeError):
        with Netns() as ns:
            ns.add_veth("kv0", "kv1")
            name = ns.name
            assert name in list_netns()
            raise RuntimeError("test failed half-way")
    assert name not in list_netns()


# -- Open vSwitch ----------------------------------------------------------------------------
def test_ovs_netdev_bridge_internal_port(ovs):
    assert ovs.db.startswith("unix:") and Path(ovs.db[5:]).is_socket()
    ovs.add_bridge("br0")
    ovs.vsctl("add-port", "br0", "p10", "tag=10", "--", "set", "interface", "p10", "type=internal")
    ovs.netns.add_veth("pv0", "pv1")
    ovs.vsctl("add-port", "br0", "pv0", "trunks=10,20")
    assert ovs.ofport("p10") >= 1 and ovs.ofport("pv0") >= 1
    assert ovs.vsctl("get", "interface", "p10", "error") == "[]"
    assert ovs.vsctl("get", "port", "p10", "tag") == "10"
    # the netdev datapath made real taps, inside the instance's namespace only
    assert ovs.netns.exists("p10") and ovs.netns.exists("br0") and not root_link_exists("p10")
    assert "br0" in ovs.appctl("dpif/show")


def test_ovs_system_bridge_fails_but_vsctl_exits_0(ovs):
    ovs.vsctl("add-br", "brsys")  # datapath_type system: no kernel datapath here
    ovs.vsctl("add-port", "brsys", "q1", "--", "set", "interface", "q1", "type=internal")
    assert ovs.ofport("q1") == -1 or ovs.vsctl("get", "interface", "q1", "error") != "[]"


def test_two_ovs_instances_side_by_side(ovs_factory):
    a, b = ovs_factory(), ovs_factory()
    assert a.db != b.db and a.netns.name != b.netns.name
    a.netns.add_veth("a1", "b1", peer_netns=b.netns)
    for inst, trunk, vm_ip in ((a, "a1", "192.0.2.1/24"), (b, "b1", "192.0.2.2/24")):
        inst.add_bridge("br0")  # same names in both: they are independent
        inst.vsctl("add-port", "br0", trunk)
        inst.vsctl("add-port", "br0", "vm10", "tag=10", "--", "set", "interface", "vm10", "type=internal")
        inst.netns.add_addr("vm10", vm_ip)
        inst.netns.set_up("vm10")
    assert a.vsctl("list-br") == "br0" and b.vsctl("list-br") == "br0"
    a.vsctl("add-br", "only-a", "--", "set", "bridge", "only-a", "datapath_type=netdev")
    assert "only-a" not in b.vsctl("list-br").split()
    assert a.netns.ping("192.0.2.2", count=3), "VLAN 10 access ports should reach each other over the trunk"
    b.vsctl("set", "port", "vm10", "tag=30")
    assert not a.netns.ping("192.0.2.2", count=1, timeout=1), "retagged port must not answer"


def test_ovs_stop_kills_daemons_and_deletes_taps(ovs):
    ns = ovs.netns  # stop() must clean the namespace up even though the namespace itself stays
    ovs.add_bridge("br0")
    ovs.vsctl("add-port", "br0", "p1", "--", "set", "interface", "p1", "type=internal")
    assert ns.exists("br0") and ns.exists("p1") and ns.exists("ovs-netdev")
    pids = [ovs.pid("ovsdb-server"), ovs.pid("ovs-vswitchd")]
    assert all(pids)
    inst = ovs
    inst.stop()
    assert not any(pid_alive(p) for p in pids)
    assert set(ns.links()) == {"lo"}, "netdev taps left behind"
    assert not inst.dir.exists()
    inst.stop()  # idempotent


def test_ovs_kill_ovsdb_and_restart(ovs):
    ovs.add_bridge("br0")
    vswitchd = ovs.pid("ovs-vswitchd")
    ovs.kill_ovsdb()
    with pytest.raises(TestbedError):
        ovs.vsctl("list-br", timeout=1)
    assert pid_alive(vswitchd)
    ovs.start_ovsdb()
    assert ovs.vsctl("list-br") == "br0"


def test_ovs_dummy_mode_any_port_name(ovs_dummy):
    ovs_dummy.vsctl("add-br", "br0")
    ovs_dummy.vsctl("add-bond", "br0", "bond0", "eth-not-there1", "eth-not-there2", "lacp=active")
    assert ovs_dummy.ofport("eth-not-there1") >= 1
    assert ovs_dummy.vsctl("get", "port", "bond0", "lacp") == "active"
    assert not ovs_dummy.netns.exists("eth-not-there1")


def test_ovs_session_instance(ovs_session):
    br = unique_ifname("kvs")
    ovs_session.add_bridge(br)
    try:
        assert br in ovs_session.vsctl("list-br").split()
    finally:
        ovs_session.vsctl("del-br", br)


# -- libvirt -----------------------------------------------------------------------------------
def test_libvirt_test_driver(libvirt_test):
    from testbed import domain_xml

    dom = libvirt_test.defineXML(domain_xml("kvt-test-dom", "/nonexistent/vmlinuz", [bridge_iface("br0")]))
    dom.create()
    assert dom.isActive() and "kvt-test-dom" in {d.name() for d in libvirt_test.listAllDomains(0)}
    assert etree.fromstring(dom.XMLDesc(0)).find("./devices/interface/source").get("bridge") == "br0"


def test_libvirtd_domain_tap_on_linux_bridge(libvirtd, libvirt_domains, lv_bridge):
    assert libvirtd.uri.startswith("qemu:///system?socket=")
    dom = libvirt_domains.define([bridge_iface(lv_bridge, mac="52:54:00:4b:00:01")])
    assert dom.isActive()
    (tap,) = iface_targets(dom)
    ns = libvirtd.netns
    assert ns.master_of(tap) == lv_bridge
    assert ns.link(tap)["address"] == "fe:54:00:4b:00:01"
    assert not root_link_exists(tap), "the tap belongs in libvirtd's namespace"
    assert not Path("/etc/libvirt/qemu/%s.xml" % dom.name()).exists(), "private /etc/libvirt expected"
    name = dom.name()
    libvirt_domains.cleanup()
    assert name not in {d.name() for d in libvirtd.conn().listAllDomains(0)}
    assert not ns.exists(tap)


def test_libvirtd_ovs_virtualport_with_vlan(libvirtd, libvirt_domains):
    br = libvirtd.ovs.add_bridge(unique_ifname("kvo"))
    try:
        dom = libvirt_domains.define([ovs_iface(br, vlan=7)])
        (tap,) = iface_targets(dom)
        assert libvirtd.ovs.vsctl("get", "port", tap, "tag") == "7"
        assert libvirtd.ovs.vsctl("port-to-br", tap) == br
        assert "add-port %s %s" % (br, tap) in libvirtd.ovs_vsctl_log.read_text()
    finally:
        libvirt_domains.cleanup()
        libvirtd.ovs.vsctl("--if-exists", "del-br", br)


def test_libvirtd_second_instance_teardown_leaves_nothing(libvirtd):
    # a second private libvirtd runs beside the session one (no shared driver lock, state or netns)
    with Libvirtd(kernel=libvirtd.kernel) as lv:
        br = lv.netns.add_bridge("br0")
        ovs_br = lv.ovs.add_bridge("ovsbr0")
        dom = lv.define_domain([bridge_iface(br), ovs_iface(ovs_br, vlan=3)], paused=False)
        taps = iface_targets(dom)
        pids = [read_pidfile(lv.dir / "pid" / "libvirtd.pid"), read_pidfile(lv.dir / "pid" / "virtlogd.pid"),
                lv.ovs.pid("ovsdb-server"), lv.ovs.pid("ovs-vswitchd")]
        pids += lv.qemu_pids()
        assert len(pids) == 5 and all(pid_alive(p) for p in pids)
        assert lv.netns.master_of(taps[0]) == br and lv.ovs.vsctl("port-to-br", taps[1]) == ovs_br
        instance_dir, ns_name = lv.dir, lv.netns.name
    assert not any(pid_alive(p) for p in pids)
    assert ns_name not in list_netns()
    assert not instance_dir.exists()
    assert libvirtd.conn().getLibVersion() > 0  # the session daemon is untouched


# -- ansible-playbook ----------------------------------------------------------------------------
def test_run_playbook_changed_diff_check_and_failure(run_playbook, tmp_path):
    path = str(tmp_path / "motd")
    task = {"name": "write file", "ansible.builtin.copy": {"dest": path, "content": "{{ greeting }}\n"}}
    res = run_playbook([task], check=True, diff=True, extra_vars={"greeting": "hello"})
    assert res.rc == 0, res
    assert res["write file"].changed and not os.path.exists(path)  # check mode changes nothing
    res = run_playbook([task], diff=True, extra_vars={"greeting": "hello"})
    assert res.rc == 0, res
    first = res["write file"]
    assert first.changed and first.diff[0]["after"] == "hello\n" and first["dest"] == path
    assert Path(path).read_text() == "hello\n"
    res = run_playbook([task], extra_vars={"greeting": "hello"})
    assert not res["write file"].changed, "idempotent rerun must not change"
    res = run_playbook([{"name": "boom", "ansible.builtin.fail": {"msg": "bad input"}}])
    assert res.rc != 0 and res["boom"].failed and res["boom"].msg == "bad input"
