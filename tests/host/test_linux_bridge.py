# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""linux_bridge in a fresh netns on veths; the kernel is read back with `ip -j -d link`."""

from __future__ import annotations

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict, NotFound
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._linux_bridge import LinuxBridgeResource


def params(ns, **kw):
    return dict(dict(name="br0", state="present", ports=None, exclusive_ports=False, mtu=None, admin_state=None,
                     netns=ns.name), **kw)


def test_bridge_ports_idempotent_exclusive_delete(netns):
    netns.add_veth("eth1", "peer1")
    netns.add_veth("eth2", "peer2")
    res = execute(LinuxBridgeResource(params(netns, ports=["eth1"])))
    assert [o["action"] for o in res["operations"]] == ["create", "add_port"]
    assert netns.link("br0")["linkinfo"]["info_kind"] == "bridge" and netns.master_of("eth1") == "br0"
    assert execute(LinuxBridgeResource(params(netns, ports=["eth1"])))["changed"] is False
    netns.set_master("eth2", "br0")
    assert execute(LinuxBridgeResource(params(netns, ports=["eth1"])))["changed"] is False  # not mentioned: kept
    pred = execute(LinuxBridgeResource(params(netns, ports=["eth1"], exclusive_ports=True)), check_mode=True)
    assert pred["after"]["ports"] == ["eth1"] and netns.master_of("eth2") == "br0"
    execute(LinuxBridgeResource(params(netns, ports=["eth1"], exclusive_ports=True)))
    assert netns.master_of("eth2") is None
    netns.add_bridge("br9")
    netns.set_master("eth2", "br9")
    with pytest.raises(Conflict, match="'eth2' is already a port of br9"):
        execute(LinuxBridgeResource(params(netns, ports=["eth2"])))
    with pytest.raises(NotFound, match="'eth7' does not exist"):
        execute(LinuxBridgeResource(params(netns, ports=["eth7"])))
    with pytest.raises(Conflict, match="not a bridge"):
        execute(LinuxBridgeResource(params(netns, name="eth1")))
    execute(LinuxBridgeResource(params(netns, state="absent")))
    assert not netns.exists("br0") and netns.exists("eth1")
