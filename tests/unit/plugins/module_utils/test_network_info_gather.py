# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""network_info's gatherer on a fake host: a Linux bond under a bridge (this machine's kernel has
no bonding), read by nic_bond's own reader through a netlink stand-in, and the persistence rule
(the collection's files, recognised by their header, not any file of the stack)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _network_info_vars as V
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._network_info import Gatherer
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._persist_net import HEADER
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._persist_bond import persist_config, render_files
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._persist_networkd import paths

LINKS = [
    {"ifindex": 2, "name": "eth1", "kind": None, "mac": "52:54:00:00:00:01", "mtu": 9000, "admin_state": "up",
     "operstate": "up", "link_index": None, "master_index": 4},
    {"ifindex": 3, "name": "eth2", "kind": None, "mac": "52:54:00:00:00:01", "mtu": 9000, "admin_state": "up",
     "operstate": "up", "link_index": None, "master_index": 4},
    {"ifindex": 4, "name": "bond0", "kind": "bond", "mac": "52:54:00:00:00:01", "mtu": 9000, "admin_state": "up",
     "operstate": "up", "link_index": None, "master_index": 5,
     "bond": {"mode": 4, "miimon": 100, "updelay": 0, "downdelay": 0, "ad_lacp_rate": 1, "xmit_hash_policy": 1,
              "ad_select": 0, "primary": None, "arp_interval": 0, "arp_ip_target": []}},
    {"ifindex": 5, "name": "br1", "kind": "bridge", "mac": "52:54:00:00:00:01", "mtu": 9000, "admin_state": "up",
     "operstate": "up", "link_index": None, "master_index": None, "bridge_options": {}},
]


ADDRESSES = [{"index": 5, "address": "10.8.0.1/24"}, {"index": 5, "address": "fe80::1/64"}]
ROUTES = [{"gateway": "10.8.0.254", "oif": 5}]


@pytest.fixture
def host(tmp_path):
    root = str(tmp_path)
    wants = os.path.join(root, "etc/systemd/system/multi-user.target.wants/systemd-networkd.service")
    os.makedirs(os.path.dirname(wants))
    open(wants, "w").close()
    os.makedirs(os.path.join(root, "proc"))
    return root


@pytest.fixture
def gather(fake_netlink):
    """gather(root): the sections the tests read, gathered from a fake host under ``root``."""
    def _gather(root):
        g = Gatherer(None, None, None, None, root=root)
        g.nl = fake_netlink(LINKS, ADDRESSES, ROUTES)
        links = g.links()
        return {"links": links, "bonds": g.bonds(links), "bridges": g.bridges(links), "default_route": g.default_route()}
    return _gather


def _write(root, path, text):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w", encoding="utf-8") as handle:
        handle.write(text)


def test_bond_under_bridge_as_nic_bond_reads_it(host, gather):
    state = gather(host)
    bond = state["bonds"]["bond0"]
    assert (bond["mode"], bond["lacp_rate"], bond["xmit_hash_policy"], bond["members"], bond["master"]) == \
        ("802.3ad", "fast", "layer3+4", ["eth1", "eth2"], "br1")
    assert bond["stack"] == "networkd" and bond["persist"] == "none"  # no file of the collection
    [br1] = [l for l in state["links"] if l["name"] == "br1"]
    assert br1["addresses"] == ["10.8.0.1/24"]  # link-local left out
    out = V.map_state(state, {})
    assert out["modules"]["nic_bond"] == [{
        "name": "bond0", "mode": "802.3ad", "miimon": 100, "members": ["eth1", "eth2"], "bridge": "br1",
        "address": "10.8.0.1/24", "mtu": 9000, "persist": "none", "lacp_rate": "fast", "ad_select": "stable",
        "xmit_hash_policy": "layer3+4", "gateway": "10.8.0.254"}]
    assert out["vars"]["host_bond_bridge_gateway"] == "10.8.0.254"
    assert "br1" not in {b["name"] for b in out["modules"].get("linux_bridge", [])}  # nic_bond's bridge


def test_persist_is_the_stack_when_nic_bond_wrote_the_files(host, gather):
    config = {"name": "bond0", "members": ["eth1", "eth2"], "bridge": "br1"}
    for path in paths(config):
        _write(host, path, "# written by hand\n")
    assert gather(host)["bonds"]["bond0"]["persist"] == "none"  # the installer's, not ours
    _write(host, paths(config)[0], HEADER + "[NetDev]\nName=bond0\nKind=bond\n")
    assert gather(host)["bonds"]["bond0"]["persist"] == "networkd"


def test_address_gateway_mtu_exactly_as_nic_bond_wrote_them(host, gather):
    """nic_bond writes address / gateway / mtu into its files only when given: gathered are those
    its files hold (found by rendering), so that feeding them back rewrites nothing."""
    bond = gather(host)["bonds"]["bond0"]
    for given, expected in (({"address": "10.8.0.1/24"}, ["address"]),
                            ({"address": "10.8.0.1/24", "gateway": "10.8.0.254", "mtu": 9000},
                             ["address", "gateway", "mtu"]),
                            ({"mtu": 9000}, ["mtu"])):
        desired = dict({"name": "bond0", "bridge": "br1"}, **given)
        for path, text in render_files("networkd", persist_config(desired, bond, ["eth1", "eth2"]), {}).items():
            _write(host, path, text)
        state = gather(host)
        assert state["bonds"]["bond0"]["persist"] == "networkd"
        assert state["bonds"]["bond0"]["persisted_options"] == expected
        [args] = V.map_state(state, {})["modules"]["nic_bond"]
        assert {k for k in ("address", "gateway", "mtu") if k in args} == set(expected)
