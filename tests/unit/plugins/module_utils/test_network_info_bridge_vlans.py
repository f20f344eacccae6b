# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""network_info on VLAN-aware Linux bridges and libvirt networks (issue 18): a bridge's VLAN
filtering, its ports' and its own VLANs, the stack whose linux_bridge files persist it (found by
rendering, so that feeding the gathered values back rewrites nothing), a guest tap's VLANs from
the domain's metadata, and bridge / openvswitch / direct libvirt networks as the
libvirt_networks role takes them."""

from __future__ import annotations

import os

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _bridge_vlans as BV
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _network_info_vars as V
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_iface_vlans import HOOK_HEADER, HOOK_PATH
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._linux_bridge import persist_config, persist_files
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._network_info import Gatherer

PU = BV.FLAG_PVID | BV.FLAG_UNTAGGED
LINKS = [
    {"ifindex": 2, "name": "eth3", "kind": None, "mac": "52:54:00:00:00:03", "mtu": 1500, "admin_state": "up",
     "operstate": "up", "link_index": None, "master_index": 6},
    {"ifindex": 3, "name": "vnet0", "kind": "tun", "mac": "fe:54:00:20:00:02", "mtu": 1500, "admin_state": "up",
     "operstate": "up", "link_index": None, "master_index": 6},
    {"ifindex": 6, "name": "br0", "kind": "bridge", "mac": "52:54:00:00:00:03", "mtu": 1500, "admin_state": "up",
     "operstate": "up", "link_index": None, "master_index": None,
     "bridge_options": {"vlan_filtering": 1, "vlan_default_pvid": 1}},
]
VLANS = {2: [(1, PU), (10, 0), (20, 0)], 3: [(10, PU)], 6: [(1, PU), (10, 0)]}


@pytest.fixture
def gather(fake_netlink):
    """gather(root): the sections the tests read, gathered from a fake host under ``root``."""
    def _gather(root):
        g = Gatherer(None, None, None, None, root=root)
        g.nl = fake_netlink(LINKS, vlans=VLANS)
        links = g.links()
        return {"links": links, "bonds": {}, "bridges": g.bridges(links)}
    return _gather


def _write_files(root, files):
    for path, text in files.items():
        full = os.path.join(root, path.lstrip("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as handle:
            handle.write(text)


@pytest.fixture
def host(tmp_path):
    os.makedirs(os.path.join(str(tmp_path), "proc"))
    return str(tmp_path)


def test_vlan_aware_bridge_as_linux_bridge_takes_it(host, gather):
    state = gather(host)
    br0 = state["bridges"]["br0"]
    assert br0["host_ports"] == ["eth3"]                      # vnet0 is a guest's tap
    assert br0["persist"] is None                             # no file of linux_bridge
    out = V.map_state(state, {})
    assert out["modules"]["linux_bridge"] == [{
        "name": "br0", "ports": ["eth3"], "mtu": 1500, "vlan_filtering": True, "default_pvid": 1,
        "port_vlans": [{"port": "eth3", "pvid": 1, "untagged": "1", "tagged": "10,20"}],
        "self_vlans": {"pvid": 1, "untagged": "1", "tagged": "10"}}]
    assert out["vars"]["linux_bridge_port_vlans"] == [{"port": "eth3", "pvid": 1, "untagged": "1", "tagged": "10,20"}]
    assert out["vars"]["linux_bridge_vlan_filtering"] is True
    assert "linux_bridge_persist" not in out["vars"]


@pytest.mark.parametrize("stack", ["networkd", "nm", "ifupdown"])
@pytest.mark.parametrize("with_mtu", [False, True])
def test_persist_found_by_rendering_the_same_files(host, gather, stack, with_mtu):
    """The files linux_bridge wrote (with or without an MTU) are recognised; the gathered arguments
    render exactly them again, so the round trip writes nothing."""
    current = gather(host)["bridges"]["br0"]
    _write_files(host, persist_files(stack, persist_config("br0", ["eth3"], 1500 if with_mtu else None, current), host))
    br0 = gather(host)["bridges"]["br0"]
    assert (br0["persist"], br0["persist_mtu"]) == (stack, with_mtu)
    [args] = V.map_state(gather(host), {})["modules"]["linux_bridge"]
    assert args["persist"] == stack and ("mtu" in args) == with_mtu
    again = persist_files(stack, persist_config("br0", args["ports"], args.get("mtu"), br0), host)
    for path, text in again.items():
        with open(os.path.join(host, path.lstrip("/")), encoding="utf-8") as handle:
            assert handle.read() == text


def test_files_edited_by_hand_are_not_claimed(host, gather):
    current = gather(host)["bridges"]["br0"]
    files = persist_files("networkd", persist_config("br0", ["eth3"], None, current), host)
    first = sorted(files)[0]
    files[first] += "# and a line by hand\n"
    _write_files(host, files)
    state = gather(host)
    assert state["bridges"]["br0"]["persist"] is None
    out = V.map_state(state, {})
    assert "persist" not in out["modules"]["linux_bridge"][0]
    assert any(u["object"] == "persistence of bridge br0" for u in out["unmanaged"])


def test_guest_tap_vlan_from_the_domains_metadata():
    root = _libvirt.parse_xml(
        "<domain><name>g</name><metadata><kvmnet:bridge-vlans xmlns:kvmnet='https://github.com/kvmnet/hypervisor/bridge-vlans'>"
        "<kvmnet:interface mac='52:54:00:20:00:02' pvid='10' untagged='10' tagged=''/></kvmnet:bridge-vlans></metadata>"
        "<devices><interface type='bridge'><mac address='52:54:00:20:00:02'/><source bridge='br0'/>"
        "<model type='virtio'/></interface>"
        "<interface type='bridge'><mac address='52:54:00:20:00:09'/><source bridge='br0'/></interface>"
        "</devices></domain>")
    tagged, plain = Gatherer.interfaces(root)
    assert tagged["vlan"] == {"tags": [10], "trunk": False, "native_tag": None, "native_mode": None}
    assert not plain["vlan"]


TRUNK = {"tags": [10, 20], "trunk": True, "native_tag": 10, "native_mode": "untagged"}


def test_bridge_openvswitch_direct_networks_for_the_libvirt_networks_role():
    state = {"libvirt": {"domains": {}, "networks": {
        "lan": {"forward_mode": "bridge", "bridge": "br0", "vlan": {}, "portgroups": [], "active": True,
                "autostart": True},
        "ovs-vm": {"forward_mode": "openvswitch", "bridge": "br-vm", "vlan": {},
                   "portgroups": [{"name": "trunk", "default": False,
                                   "vlan": {"tags": [10, 20], "trunk": True, "native_tag": 10,
                                            "native_mode": "untagged"}},
                                  {"name": "vlan10", "default": True,
                                   "vlan": {"tags": [10], "trunk": False, "native_tag": None, "native_mode": None}}],
                   "active": True, "autostart": True},
        "mvt": {"forward_mode": "direct", "devices": ["enp0s10"], "macvtap_mode": "bridge", "vlan": {},
                "portgroups": [], "active": True, "autostart": False},
        "default": {"forward_mode": "nat", "active": False, "autostart": False}}}}
    out = V.map_state(state, {})
    assert out["vars"]["libvirt_networks_list"] == [
        {"name": "lan", "forward_mode": "bridge", "bridge": "br0", "active": True, "autostart": True},
        {"name": "mvt", "forward_mode": "direct", "devices": ["enp0s10"], "macvtap_mode": "bridge",
         "active": True, "autostart": False},
        {"name": "ovs-vm", "forward_mode": "openvswitch", "bridge": "br-vm",
         "portgroups": [{"name": "trunk", "vlan": TRUNK},
                        {"name": "vlan10", "default": True, "vlan": {"tags": [10], "trunk": False}}],
         "active": True, "autostart": True}]
    assert len(out["modules"]["libvirt_network"]) == 3
    assert [u["object"] for u in out["unmanaged"]] == ["libvirt network default"]


def test_the_qemu_hook_is_gathered_as_the_role_variable(host, gather):
    """linux_bridge_vlan_hook says whether the role's hook is installed: a host whose VLAN-aware
    bridge runs without it must not get it from the round trip."""
    repo = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..")
    with open(os.path.join(repo, "roles", "linux_bridge", "files", "kvmnet-bridge-vlans.py"), encoding="utf-8") as f:
        source = f.read()
    assert source.startswith(HOOK_HEADER)
    g = Gatherer(None, None, None, None, root=host)
    assert g.bridge_vlan_hook() is False
    _write_files(host, {HOOK_PATH: "#!/usr/bin/python3\n" + source})
    assert g.bridge_vlan_hook() is True
    state = gather(host)
    for installed in (False, True):
        state["bridge_vlan_hook"] = installed
        assert V.map_state(state, {})["vars"]["linux_bridge_vlan_hook"] is installed


def test_networks_are_read_whole_as_libvirt_network_reads_them():
    """The gatherer reads a network with libvirt_network's own parser (bridge, portgroups, VLANs),
    not the VF pools' short form: fed back, a bridge network needs its bridge (found by make lab's
    round trip)."""
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _network_info
    root = _libvirt.parse_xml(
        "<network><name>ovs-vm</name><forward mode='bridge'/><bridge name='br-vm'/>"
        "<virtualport type='openvswitch'/><portgroup name='vlan10' default='yes'><vlan><tag id='10'/></vlan>"
        "</portgroup></network>")
    net = _network_info.parse_network(root)
    net.update(active=True, autostart=True)
    out = V.map_state({"libvirt": {"domains": {}, "networks": {"ovs-vm": net}}}, {})
    assert out["vars"]["libvirt_networks_list"] == [
        {"name": "ovs-vm", "forward_mode": "openvswitch", "bridge": "br-vm",
         "portgroups": [{"name": "vlan10", "default": True, "vlan": {"tags": [10], "trunk": False}}],
         "active": True, "autostart": True}]
