# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""libvirt_iface against the test bed's private libvirtd (qemu driver, TCG, disk-less domains),
which runs in its own network namespace: bridges, veths and the OVS bridge are made there.

Domains are started paused (the taps/macvtaps/OVS ports exist, no OS ever boots). Every check
reads the real components back: the kernel (`ip -j -d link`), the private OVS (ovs-vsctl) and
libvirt's own XML (persistent and live), never the module's return value alone.
"""

from __future__ import annotations

import pytest
from testbed.inject import check_every_step, domain_state
from testbed.libvirtd import bridge_iface, ovs_iface
from testbed.util import unique_ifname

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    ApplyFailed,
    BackendUnavailable,
    InvalidInput,
    NotFound,
    Unsupported,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_iface import LibvirtIfaceResource

MAC = "52:54:00:6b:00:01"


@pytest.fixture
def host_links(libvirtd):
    """Links in libvirtd's own network namespace (where its taps appear): bridges br0/br1, veth ve0<->ve1."""
    ns = libvirtd.netns
    names = {key: unique_ifname("kvt") for key in ("br0", "br1", "ve0", "ve1")}
    ns.add_bridge(names["br0"])
    ns.add_bridge(names["br1"])
    ns.add_veth(names["ve0"], names["ve1"])
    yield names
    for key in ("br0", "br1", "ve0"):
        ns.ip("link", "del", names[key], check=False)


@pytest.fixture
def ovs_bridge(libvirtd):
    name = unique_ifname("kvtovs")
    libvirtd.ovs.vsctl("--may-exist", "add-br", name, "--", "set", "bridge", name, "datapath_type=netdev")
    yield name
    libvirtd.ovs.vsctl("--if-exists", "del-br", name)


def params(libvirtd, domain, **kw):
    base = dict(uri=libvirtd.uri, domain=domain, mac=MAC, alias=None, state="present", type=None, source=None,
                source_mode=None, portgroup=None, virtualport=None, pf=None, vf=None, managed=None, model=None,
                driver_name=None, queues=None, rx_queue_size=None, tx_queue_size=None, vlan=None, target_dev=None,
                mtu=None, link_state=None, bandwidth=None, config=True, live=True, allow_config_only=False,
                detach_timeout=10)
    base.update(kw)
    return base


def run_iface(libvirtd, domain, check_mode=False, **kw):
    return execute(LibvirtIfaceResource(params(libvirtd, domain, **kw)), check_mode=check_mode)


def iface_of(dom, mac=MAC, inactive=False):
    """The canonical interface with ``mac`` from libvirt's XML (persistent with inactive=True)."""
    root = _libvirt.parse_xml(dom.XMLDesc(_libvirt.XML_INACTIVE if inactive else 0))
    for elem in root.findall("./devices/interface"):
        if elem.find("mac").get("address").lower() == mac:
            return _libvirt.parse_interface(elem), elem
    return None, None


def test_bridge_attach_live_changes_and_idempotence(libvirtd, libvirt_domains, host_links):
    dom = libvirt_domains.define([])
    name = dom.name()
    res = run_iface(libvirtd, name, type="bridge", source=host_links["br0"], model="virtio")
    assert res["changed"]
    assert [(o["action"], o["flags"]) for o in res["operations"]] == [("attach", ["config", "live"])]
    live = iface_of(dom)[0]
    conf = iface_of(dom, inactive=True)[0]
    assert live["source"] == conf["source"] == host_links["br0"]
    tap = live["target_dev"]
    assert libvirtd.netns.link(tap)["master"] == host_links["br0"]  # the kernel says the tap is on the bridge

    again = run_iface(libvirtd, name, type="bridge", source=host_links["br0"], model="virtio")
    assert again["changed"] is False and again["operations"] == []

    # live: link down + move to the other bridge, both views
    res = run_iface(libvirtd, name, source=host_links["br1"], link_state="down")
    assert res["changed"]
    assert sorted(o["flags"][0] for o in res["operations"]) == ["config", "live"]
    live = iface_of(dom)[0]
    conf = iface_of(dom, inactive=True)[0]
    assert live["link_state"] == conf["link_state"] == "down"
    assert live["source"] == conf["source"] == host_links["br1"]
    assert libvirtd.netns.link(tap)["master"] == host_links["br1"]
    assert run_iface(libvirtd, name, source=host_links["br1"], link_state="down")["changed"] is False

    # check mode predicts and changes nothing
    xml_before = dom.XMLDesc(0), dom.XMLDesc(_libvirt.XML_INACTIVE)
    pred = run_iface(libvirtd, name, check_mode=True, link_state="up")
    assert pred["changed"] and pred["after"]["live"]["link_state"] == "up"
    assert (dom.XMLDesc(0), dom.XMLDesc(_libvirt.XML_INACTIVE)) == xml_before
    # --diff: the interface's fields as YAML, then its XML in each view as a text diff of its own
    assert "  link_state: down\n" in pred["diff"][0]["before"] and "  link_state: up\n" in pred["diff"][0]["after"]
    views = [e["before_header"].rsplit("(", 1)[-1] for e in pred["diff"][1:]]
    assert views == ["persistent definition)", "running domain)"]
    for entry in pred["diff"][1:]:
        assert "<link state=\"down\"/>" in entry["before"] and "<link state=\"up\"/>" in entry["after"]


def test_refuse_live_queue_change_unless_config_only(libvirtd, libvirt_domains, host_links):
    dom = libvirt_domains.define([])
    name = dom.name()
    run_iface(libvirtd, name, type="bridge", source=host_links["br0"], model="virtio", driver_name="qemu")
    before = dom.XMLDesc(0), dom.XMLDesc(_libvirt.XML_INACTIVE)
    with pytest.raises(Unsupported, match=r"cannot change queues .*allow_config_only"):
        run_iface(libvirtd, name, queues=4)
    assert (dom.XMLDesc(0), dom.XMLDesc(_libvirt.XML_INACTIVE)) == before

    res = run_iface(libvirtd, name, queues=4, allow_config_only=True)
    assert res["changed"] and [o["flags"] for o in res["operations"]] == [["config"]]
    assert res["pending_restart"] is True
    assert "queues: defined 4, running 1" in res["warnings"][0] and name in res["warnings"][0]
    assert iface_of(dom, inactive=True)[0]["queues"] == 4
    assert iface_of(dom)[0]["queues"] == 1
    assert run_iface(libvirtd, name, queues=4, allow_config_only=True)["changed"] is False

    # bridge -> OVS is not a live change either
    with pytest.raises(Unsupported, match="virtualport"):
        run_iface(libvirtd, name, source="whatever", virtualport="openvswitch")
    assert (dom.XMLDesc(0)) == before[0]


def test_ovs_virtualport_vlan_keeps_interfaceid(libvirtd, libvirt_domains, ovs_bridge):
    dom = libvirt_domains.define([])
    name = dom.name()
    want = dict(type="bridge", source=ovs_bridge, virtualport="openvswitch", vlan={"tags": [2]}, model="virtio")
    res = run_iface(libvirtd, name, **want)
    assert res["changed"]
    live, elem = iface_of(dom)
    port = live["target_dev"]
    assert libvirtd.ovs.vsctl("get", "port", port, "tag").strip() == "2"
    ifaceid = elem.find("virtualport/parameters").get("interfaceid")
    conf_id = iface_of(dom, inactive=True)[1].find("virtualport/parameters").get("interfaceid")
    assert ifaceid == conf_id

    again = run_iface(libvirtd, name, **want)
    assert again["changed"] is False, again["operations"]
    assert iface_of(dom)[1].find("virtualport/parameters").get("interfaceid") == ifaceid

    # retag live (the book's `ovs-vsctl set port tap1 tag=3`)
    res = run_iface(libvirtd, name, vlan={"tags": [3]})
    assert res["changed"]
    assert libvirtd.ovs.vsctl("get", "port", port, "tag").strip() == "3"
    assert iface_of(dom, inactive=True)[0]["vlan"]["tags"] == [3]
    assert iface_of(dom)[1].find("virtualport/parameters").get("interfaceid") == ifaceid
    retagged = dict(want)
    retagged["vlan"] = {"tags": [3]}
    assert run_iface(libvirtd, name, **retagged)["changed"] is False


def test_direct_macvtap_on_veth(libvirtd, libvirt_domains, host_links):
    dom = libvirt_domains.define([])
    name = dom.name()
    res = run_iface(libvirtd, name, type="direct", source=host_links["ve0"], source_mode="bridge")
    assert res["changed"]
    live = iface_of(dom)[0]
    mvt = libvirtd.netns.link(live["target_dev"])
    assert mvt["linkinfo"]["info_kind"] == "macvtap"
    assert mvt["link"] == host_links["ve0"]
    assert mvt["address"] == MAC
    assert run_iface(libvirtd, name, type="direct", source=host_links["ve0"], source_mode="bridge")["changed"] is False
    with pytest.raises(Unsupported, match="source_mode"):
        run_iface(libvirtd, name, source_mode="vepa")


def test_config_only_detach_and_absent(libvirtd, libvirt_domains, host_links):
    dom = libvirt_domains.define([])
    name = dom.name()
    run_iface(libvirtd, name, type="bridge", source=host_links["br0"])
    res = run_iface(libvirtd, name, state="absent", live=False)
    assert [(o["action"], o["flags"]) for o in res["operations"]] == [("detach", ["config"])]
    assert iface_of(dom, inactive=True)[0] is None
    assert iface_of(dom)[0] is not None  # the running domain still has it
    assert run_iface(libvirtd, name, state="absent", live=False)["changed"] is False


def test_stopped_domain_config_only(libvirtd, libvirt_domains, host_links):
    dom = libvirt_domains.define([], start=False)
    res = run_iface(libvirtd, dom.name(), type="bridge", source=host_links["br0"], queues=2, model="virtio")
    assert [(o["action"], o["flags"]) for o in res["operations"]] == [("attach", ["config"])]
    assert iface_of(dom, inactive=True)[0]["queues"] == 2
    assert run_iface(libvirtd, dom.name(), queues=2)["changed"] is False


def test_bad_input_leaves_domain_unchanged(libvirtd, libvirt_domains, host_links):
    dom = libvirt_domains.define([])
    name = dom.name()
    run_iface(libvirtd, name, type="bridge", source=host_links["br0"])
    before = dom.XMLDesc(0), dom.XMLDesc(_libvirt.XML_INACTIVE)
    with pytest.raises(NotFound, match="domain: 'kvt-no-such-domain' does not exist"):
        run_iface(libvirtd, "kvt-no-such-domain", type="bridge", source=host_links["br0"])
    # absent for an unknown MAC: fine, unchanged
    assert run_iface(libvirtd, name, mac="52:54:00:6b:ff:ff", state="absent")["changed"] is False
    # an update of an unknown MAC: not found, says how to create
    with pytest.raises(NotFound, match="no interface with 52:54:00:6b:ff:ff .*give type and source"):
        run_iface(libvirtd, name, mac="52:54:00:6b:ff:ff", link_state="down")
    with pytest.raises(InvalidInput, match="queues: 0 is out of range"):
        run_iface(libvirtd, name, queues=0)
    with pytest.raises(NotFound, match="PCI device 0000:7f:1f.7 does not exist"):
        run_iface(libvirtd, name, mac="52:54:00:6b:00:07", type="hostdev", source="0000:7f:1f.7")
    with pytest.raises(Unsupported, match="cannot change model"):
        run_iface(libvirtd, name, model="e1000")
    assert (dom.XMLDesc(0), dom.XMLDesc(_libvirt.XML_INACTIVE)) == before
    with pytest.raises(BackendUnavailable, match="/nonexistent/sock"):
        run_iface(libvirtd, name, uri="qemu:///system?socket=/nonexistent/sock", link_state="down")


def test_through_ansible_check_mode_and_diff(libvirtd, libvirt_domains, host_links, run_playbook):
    dom = libvirt_domains.define([])
    task = {"kvmnet.hypervisor.libvirt_iface": {
        "uri": libvirtd.uri, "domain": dom.name(), "mac": MAC, "type": "bridge", "source": host_links["br0"],
        "model": "virtio", "driver_name": "vhost"}}
    checked = run_playbook([dict(task, name="attach (check mode)")], check=True, diff=True)
    assert not checked.failed, checked
    assert checked["attach (check mode)"].changed
    assert iface_of(dom)[0] is None
    assert "driver name=\"vhost\"" in checked.stdout  # the diff shows the XML
    done = run_playbook([dict(task, name="attach"), dict(task, name="attach (idempotency)")], diff=True)
    assert not done.failed, done
    assert done["attach"].changed and not done["attach (idempotency)"].changed
    assert iface_of(dom)[0]["driver_name"] == "vhost"
    bad = run_playbook([{"name": "bad", "kvmnet.hypervisor.libvirt_iface": dict(
        task["kvmnet.hypervisor.libvirt_iface"], queues=8)}])
    assert bad.failed and "cannot change queues" in bad.stdout + bad.stderr


def test_roles_ovs_vlan_guest_and_virtio_multiqueue(libvirtd, libvirt_domains, ovs_bridge, run_playbook):
    dom = libvirt_domains.define([])
    name = dom.name()
    guest = {"name": "OVS guest side",
             "ansible.builtin.include_role": {"name": "kvmnet.hypervisor.ovs_vlan", "tasks_from": "guest"},
             "vars": {"ovs_vlan_bridge": ovs_bridge, "ovs_vlan_guest_libvirt_uri": libvirtd.uri,
                      "ovs_vlan_guest_interfaces": [{"domain": name, "mac": MAC, "tag": 5}]}}
    mq = {"name": "multiqueue", "ansible.builtin.include_role": {"name": "kvmnet.hypervisor.virtio_multiqueue"},
          "vars": {"virtio_multiqueue_libvirt_uri": libvirtd.uri, "virtio_multiqueue_install_packages": False,
                   "virtio_multiqueue_queues": 2, "virtio_multiqueue_interfaces": [{"domain": name, "mac": MAC}]}}
    first = run_playbook([guest, mq])
    assert not first.failed, first
    live, elem = iface_of(dom)
    assert libvirtd.ovs.vsctl("get", "port", live["target_dev"], "tag").strip() == "5"
    assert iface_of(dom, inactive=True)[0]["queues"] == 2 and live["queues"] == 1  # waits for the next start
    assert "applies at the next start" in first.stdout
    again = run_playbook([guest, mq])
    assert not again.failed, again
    assert not again.changed, [t.name for t in again.tasks if t.changed]


def test_live_detach_is_asynchronous_bounded_wait(libvirtd, libvirt_domains, host_links):
    """A paused guest with no OS never acknowledges the PCI unplug: the wait is bounded and says
    why, and the rollback gives the persistent definition (which lost it at once) its interface back."""
    dom = libvirt_domains.define([])
    name = dom.name()
    run_iface(libvirtd, name, type="bridge", source=host_links["br0"])
    before = domain_state(dom)
    with pytest.raises(ApplyFailed, match="did not within 2 s .*guest OS to acknowledge") as err:
        run_iface(libvirtd, name, state="absent", detach_timeout=2)
    assert err.value.details["cause"] == "verification_failed" and err.value.details["rolled_back"] is True
    assert err.value.details["reverted"][0]["action"] == "attach"
    assert domain_state(dom) == before


# -- rollback: a failure at each step boundary leaves libvirt's XML (live + persistent) as it was --
def _rollback_sweep(libvirtd, dom, steps, **kw):
    """check_every_step over libvirt_iface's steps (one libvirt call each), failing before and
    after each; the domain's live and persistent XML must be byte-identical afterwards."""
    def make(wrap):
        return wrap(LibvirtIfaceResource)(params(libvirtd, dom.name(), **kw))

    errors = []
    for after in (False, True):
        errors += check_every_step(make, lambda: domain_state(dom), steps, after=after)
    for err in errors:
        assert err.details["failed_step"]["target"] == "%s/%s" % (dom.name(), MAC)
        assert err.details["cause"] == "backend_unavailable"  # the injected error is untyped: typed now
    return errors


def test_rollback_of_a_live_and_config_update_at_each_step(libvirtd, libvirt_domains, ovs_bridge):
    """An OVS port retagged and its link set down, in both views (two steps, live first)."""
    dom = libvirt_domains.define([ovs_iface(ovs_bridge, vlan=2, mac=MAC)])
    port_tag = libvirtd.ovs.vsctl("get", "port", iface_of(dom)[0]["target_dev"], "tag").strip()
    want = dict(link_state="down", vlan={"tags": [3]})
    plan = run_iface(libvirtd, dom.name(), check_mode=True, **want)["operations"]
    assert [(o["action"], o["flags"]) for o in plan] == [("update", ["config"]), ("update", ["live"])]
    errors = _rollback_sweep(libvirtd, dom, 2, **want)
    # live is applied first: failing after step 1 has the live view to put back, after step 2 both
    assert [len([r for r in e.details["reverted"] if r["action"] == "update"]) for e in errors] == [0, 1, 1, 2]
    assert libvirtd.ovs.vsctl("get", "port", iface_of(dom)[0]["target_dev"], "tag").strip() == port_tag == "2"
    assert run_iface(libvirtd, dom.name(), **want)["changed"]  # and the change itself still goes through


def test_rollback_of_attach_and_detach_on_a_stopped_domain(libvirtd, libvirt_domains, host_links):
    dom = libvirt_domains.define([bridge_iface(host_links["br1"])], start=False)
    _rollback_sweep(libvirtd, dom, 1, type="bridge", source=host_links["br0"], model="virtio")
    assert iface_of(dom, inactive=True)[0] is None
    run_iface(libvirtd, dom.name(), type="bridge", source=host_links["br0"], model="virtio")
    errors = _rollback_sweep(libvirtd, dom, 1, state="absent")
    assert errors[1].details["reverted"][0]["action"] == "attach"  # detached, then attached with its old XML
    assert iface_of(dom, inactive=True)[0]["source"] == host_links["br0"]


def test_real_libvirt_refusal_names_the_failed_step(libvirtd, libvirt_domains, host_links):
    """A real libvirt error in a step: libvirt refuses to move the live interface to a device that
    is no bridge (a veth; a bridge that does not exist is refused before, naming source). The
    live view is applied first, so nothing was applied; the result says so."""
    dom = libvirt_domains.define([bridge_iface(host_links["br0"], mac=MAC)])
    before = domain_state(dom)
    with pytest.raises(ApplyFailed) as err:
        run_iface(libvirtd, dom.name(), source=host_links["ve0"])
    assert err.value.details["applied"] == [] and err.value.details["rolled_back"] is True
    assert err.value.details["failed_step"]["flags"] == ["live"] and host_links["ve0"] in err.value.msg
    assert domain_state(dom) == before


def test_a_missing_bridge_is_refused_naming_source(libvirtd, libvirt_domains, host_links):
    """libvirt's host has no interface of that name: NotFound naming source, before any step."""
    dom = libvirt_domains.define([bridge_iface(host_links["br0"], mac=MAC)])
    before = domain_state(dom)
    with pytest.raises(NotFound, match=r"^source: 'kvtnobr0' is not a network interface on libvirt's host"):
        run_iface(libvirtd, dom.name(), source="kvtnobr0")
    assert domain_state(dom) == before
