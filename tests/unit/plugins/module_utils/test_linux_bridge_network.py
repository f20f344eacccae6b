# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning of linux_bridge and libvirt_sriov_network (pure functions, exact operations)."""

from __future__ import annotations

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt_network as N
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _virt
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._linux_bridge import plan_bridge


def bridge(**kw):
    return dict(dict(name="br0", state="present", ports=["eth1"], mtu=None, admin_state=None,
                     exclusive_ports=False, port_masters={"eth1": None}), **kw)


def test_bridge_create_and_ports():
    assert plan_bridge(None, bridge()) == [
        Operation("create", "br0", mtu=None, admin_state="up"),
        Operation("add_port", "eth1", changes={"master": {"before": None, "after": "br0"}})]


def test_bridge_unlisted_ports_kept_unless_exclusive():
    cur = {"name": "br0", "kind": "bridge", "mtu": 1500, "admin_state": "up", "ports": ["eth1", "vnet0"]}
    assert plan_bridge(cur, bridge()) == []
    assert plan_bridge(cur, bridge(exclusive_ports=True)) == [
        Operation("remove_port", "vnet0", changes={"master": {"before": "br0", "after": None}})]
    mtu = {"mtu": {"before": 1500, "after": 9000}}
    assert plan_bridge(cur, bridge(mtu=9000)) == [Operation("modify", "br0", changes=mtu)]


def test_bridge_name_taken_by_other_kind():
    with pytest.raises(Conflict, match="not a bridge"):
        plan_bridge({"name": "br0", "kind": "veth", "ports": []}, bridge())


def net(**kw):
    return dict(dict(name="pool", state="present", pf="enp1s0", managed=True, active=None, autostart=None), **kw)


def test_network_define_xml_and_unchanged():
    ops = N.plan_network(None, net(active=True, autostart=True))
    assert [o.action for o in ops] == ["define", "start", "autostart"]
    parsed = N.parse_network(_virt.parse_xml(ops[0].params["xml"]))
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


def test_hostdev_plans():
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Unsupported
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_hostdev import plan_hostdev

    live = _virt.parse_xml("<hostdev mode='subsystem' type='pci' managed='yes'><driver name='vfio'/><source>"
                           "<address domain='0x0000' bus='0x04' slot='0x00' function='0x0'/></source>"
                           "<alias name='hostdev0'/><address type='pci' domain='0x0000' bus='0x00' slot='0x07' "
                           "function='0x0'/></hostdev>")
    d = dict(domain="vm1", state="present", source="0000:04:00.0", managed=None, config=True, live=True,
             allow_config_only=False)
    current = {"running": True, "persistent": True, "config": None, "live": None}
    (op,) = plan_hostdev(current, d, {})
    assert (op.action, op.params["flags"]) == ("attach", ["config", "live"])
    assert "bus=\"0x04\"" in op.params["xml"] and "managed=\"yes\"" in op.params["xml"]
    current = {"running": True, "persistent": True, "config": _virt.parse_hostdev(live), "live": _virt.parse_hostdev(live)}
    assert plan_hostdev(current, d, {"config": live, "live": live}) == []
    with pytest.raises(Unsupported, match="cannot change managed"):
        plan_hostdev(current, dict(d, managed=False), {"config": live, "live": live})
    ops = plan_hostdev(current, dict(d, managed=False, allow_config_only=True), {"config": live, "live": live})
    assert [(o.action, o.params["flags"]) for o in ops] == [("detach", ["config"]), ("attach", ["config"])]
