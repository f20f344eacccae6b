# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Planning of libvirt_sriov_network (pure functions, exact operations)."""

from __future__ import annotations

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt_sriov_network as N
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict, InvalidInput, NotFound


def net(**kw):
    return dict(dict(name="pool", state="present", pf="enp1s0", managed=True, active=None, autostart=None), **kw)


def test_network_define_xml_and_unchanged():
    ops = N.plan_network(None, net(active=True, autostart=True))
    assert [o.action for o in ops] == ["define", "start", "autostart"]
    parsed = N.parse_network(_libvirt.parse_xml(ops[0].params["xml"]))
    assert parsed == {"forward_mode": "hostdev", "pf": "enp1s0", "managed": True, "uuid": None}
    cur = dict(parsed, uuid="u-1", active=True, autostart=True)
    assert N.plan_network(cur, net(active=True, autostart=True)) == []


def test_network_pf_change_keeps_uuid_and_waits_for_restart():
    cur = {"forward_mode": "hostdev", "pf": "enp1s0", "managed": True, "uuid": "u-1", "active": True,
           "autostart": True}
    (op,) = N.plan_network(cur, net(pf="enp2s0"))
    assert op.changes == {"pf": {"before": "enp1s0", "after": "enp2s0"},
                          "restart_needed": {"before": False, "after": True}}
    assert "<uuid>u-1</uuid>" in op.params["xml"]


def test_network_other_forward_mode_is_a_conflict():
    with pytest.raises(Conflict, match="forward mode nat"):
        N.plan_network({"forward_mode": "nat", "pf": None, "managed": False, "uuid": "u", "active": True,
                        "autostart": True}, net())


def params(**kw):
    return dict(dict(uri="test:///default", name="pool", state="present", pf="enp1s0", managed=True, active=None,
                     autostart=None), **kw)


@pytest.mark.parametrize("kw,option", [
    (dict(name=".."), "name"), (dict(name="my pool"), "name"), (dict(name="a;reboot"), "name"),
    (dict(name=""), "name"), (dict(name="a/b"), "name"), (dict(pf=None), "pf"), (dict(pf="en p1"), "pf"),
])
def test_normalize_refuses_naming_option_and_value(kw, option):
    with pytest.raises(InvalidInput) as err:
        N.LibvirtSriovNetworkResource(params(**kw)).normalize()
    assert err.value.option == option
    assert repr(kw[option]) in err.value.msg


@pytest.mark.parametrize("option", ["active", "autostart"])
def test_absent_with_active_or_autostart_is_a_contradiction(option):
    with pytest.raises(InvalidInput, match=r"^%s: True contradicts state=absent" % option) as err:
        N.LibvirtSriovNetworkResource(params(state="absent", pf=None, **{option: True})).normalize()
    assert err.value.option == option
    # false (or not given) is what absent means: accepted
    assert N.LibvirtSriovNetworkResource(params(state="absent", active=False, autostart=False)).normalize()


@pytest.mark.parametrize("uri", ["", "not a uri", "qemu:///system\n", "qemu:///system\x00", "qemu:/system"])
def test_uri_refused_before_connecting(uri):
    with pytest.raises(InvalidInput, match="^uri: ") as err:
        N.LibvirtSriovNetworkResource(params(uri=uri))
    assert err.value.option == "uri"


def test_plan_refuses_a_pf_that_is_not_a_network_interface(tmp_path):
    (tmp_path / "sys" / "class" / "net" / "enp1s0").mkdir(parents=True)
    res = N.LibvirtSriovNetworkResource(params(pf="enp9s0"), root=str(tmp_path))
    with pytest.raises(NotFound, match="pf: 'enp9s0' is not a network interface on this host"):
        res.plan(None, res.normalize())
    res = N.LibvirtSriovNetworkResource(params(), root=str(tmp_path))
    assert [o.action for o in res.plan(None, res.normalize())] == ["define"]
    # taking a pool away needs no PF
    res = N.LibvirtSriovNetworkResource(params(pf="enp9s0", state="absent"), root=str(tmp_path))
    assert res.plan(None, res.normalize()) == []


def test_remove_active_network_is_stop_then_undefine():
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_sriov_network import plan_network
    cur = {"name": "pool", "forward_mode": "hostdev", "pf": "enp1s0", "managed": True, "uuid": "u", "active": True,
           "autostart": True, "xml": "<network/>"}
    want = {"name": "pool", "state": "absent", "pf": None, "managed": True, "active": None, "autostart": None}
    assert [o.action for o in plan_network(cur, want)] == ["stop", "undefine"]
    assert [o.action for o in plan_network(dict(cur, active=False), want)] == ["undefine"]


def test_restore_defines_the_old_xml_and_its_state():
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_sriov_network import (
        LibvirtSriovNetworkResource, plan_network)
    before = {"name": "pool", "forward_mode": "hostdev", "pf": "enp1s0", "managed": True, "uuid": "u", "active": True,
              "autostart": True, "xml": "<network><name>pool</name><uuid>u</uuid></network>"}
    res = LibvirtSriovNetworkResource({"name": "pool", "uri": "test:///default"})
    want = {"name": "pool", "state": "absent", "pf": None, "managed": True, "active": None, "autostart": None}
    target = res.restore_desired(before, want)
    assert target["restore_xml"] == before["xml"] and target["active"] is True
    ops = plan_network(None, target)  # the failed run undefined it
    assert [(o.action, o.params.get("xml")) for o in ops] == [
        ("define", before["xml"]), ("start", None), ("autostart", None)]
    assert plan_network(before, target) == []
    assert res.restore_desired(None, dict(want, state="present"))["state"] == "absent"


def test_check_mode_pf_change_of_an_active_network_diffs_the_xml_and_warns(tmp_path):
    """--check --diff: the definition's XML before and after as a diff of its own, and a
    warning that the active network keeps its old definition until restarted."""
    (tmp_path / "sys" / "class" / "net" / "enp2s0").mkdir(parents=True)
    old_xml = N.network_xml("pool", "enp1s0", True, "u-1")

    class Fake(N.LibvirtSriovNetworkResource):
        def open(self):
            pass

        def close(self):
            pass

        def read_current(self):
            return dict(N.parse_network(_libvirt.parse_xml(old_xml)), name="pool", active=True, autostart=True,
                        xml=old_xml)

    res = execute(Fake({"name": "pool", "pf": "enp2s0", "uri": "test:///default"}, root=str(tmp_path)),
                  check_mode=True)
    obj, definition = res["diff"]
    assert obj["before_header"] == obj["after_header"] == "network pool"
    assert "pf: enp1s0\n" in obj["before"] and "pf: enp2s0\n" in obj["after"] and "xml" not in obj["after"]
    assert definition == {"before": old_xml, "after": old_xml.replace("enp1s0", "enp2s0"),
                          "before_header": "network pool (persistent definition)",
                          "after_header": "network pool (persistent definition)"}
    assert res["warnings"] == [
        "network pool is active and runs its old definition until it is restarted (virsh net-destroy pool; "
        "virsh net-start pool), which takes its VFs away from the running guests that use them"]
