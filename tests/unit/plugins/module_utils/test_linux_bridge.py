# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning of linux_bridge (pure functions, exact operations)."""

from __future__ import annotations

import pytest

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
