# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The files that persist a VLAN-aware bridge (linux_bridge persist): networkd, NetworkManager, ifupdown."""

from __future__ import annotations

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _persist_ifupdown, _persist_networkd, _persist_nm
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import InvalidInput
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._linux_bridge import LinuxBridgeResource

CONFIG = {"name": "br0", "ports": ["eth1", "eth2"], "mtu": 9000, "vlan_filtering": True, "default_pvid": 0,
          "port_vlans": {"eth1": {"pvid": 0, "untagged": "", "tagged": "100-110,200"},
                         "eth2": {"pvid": 5, "untagged": "5", "tagged": "7"}},
          "self_vlans": {"pvid": 0, "untagged": "", "tagged": "100"}}


def test_networkd_netdev_and_bridgevlan_sections():
    files = _persist_networkd.render_bridge(CONFIG)
    netdev = files["/etc/systemd/network/30-kvmnet-br0.netdev"]
    assert "[Bridge]\nSTP=no\nVLANFiltering=yes\nDefaultPVID=none\n" in netdev and "(linux_bridge)" in netdev
    assert files["/etc/systemd/network/30-kvmnet-eth1.network"].endswith(
        "[Network]\nBridge=br0\nLinkLocalAddressing=no\n\n[BridgeVLAN]\nVLAN=100-110\n\n[BridgeVLAN]\nVLAN=200\n")
    assert files["/etc/systemd/network/30-kvmnet-eth2.network"].endswith(
        "[BridgeVLAN]\nVLAN=5\n\n[BridgeVLAN]\nVLAN=7\n\n[BridgeVLAN]\nEgressUntagged=5\n\n[BridgeVLAN]\nPVID=5\n")
    assert "[Link]\nMTUBytes=9000\n" in files["/etc/systemd/network/30-kvmnet-br0.network"]
    assert files["/etc/systemd/network/30-kvmnet-br0.network"].endswith("[BridgeVLAN]\nVLAN=100\n")
    assert sorted(files) == sorted(_persist_networkd.bridge_paths(CONFIG))
    plain = _persist_networkd.render_bridge({"name": "br0", "ports": ["eth1"], "vlan_filtering": False})
    assert "VLANFiltering=no\n" in plain["/etc/systemd/network/30-kvmnet-br0.netdev"]
    assert "DefaultPVID" not in plain["/etc/systemd/network/30-kvmnet-br0.netdev"]


def test_nm_keyfiles_bridge_vlans_and_port_vlans():
    files = _persist_nm.render_bridge(CONFIG)
    br = _persist_nm.parse(files["/etc/NetworkManager/system-connections/kvmnet-br0.nmconnection"])
    assert br["bridge"] == {"stp": "false", "vlan-filtering": "true", "vlan-default-pvid": "0", "vlans": "100"}
    assert br["connection"]["type"] == "bridge" and br["ipv4"] == {"method": "disabled"}
    eth2 = _persist_nm.parse(files["/etc/NetworkManager/system-connections/kvmnet-eth2.nmconnection"])
    assert eth2["bridge-port"] == {"vlans": "7,5 pvid untagged"}
    assert (eth2["connection"]["master"], eth2["connection"]["slave-type"]) == ("br0", "bridge")
    eth1 = _persist_nm.parse(files["/etc/NetworkManager/system-connections/kvmnet-eth1.nmconnection"])
    assert eth1["bridge-port"] == {"vlans": "100-110,200"}


def test_ifupdown_writes_bridge_vlan_aware_and_post_up_lines_from_a_new_bridges_state():
    files = _persist_ifupdown.render_bridge(CONFIG, "auto lo\niface lo inet loopback\n")
    text = files["/etc/network/interfaces.d/br0"]
    assert "    bridge_ports eth1 eth2\n    bridge_stp off\n    bridge_fd 0\n    bridge_vlan_aware yes\n" in text
    lines = [line.strip()[len("post-up "):] for line in text.splitlines() if line.strip().startswith("post-up")]
    # default PVID 0 first (the kernel drops VLAN 1 from the ports still on it), then exactly each port's VLANs
    assert lines == ["ip link set dev br0 type bridge vlan_default_pvid 0",
                     "bridge vlan add dev eth1 vid 100-110 master", "bridge vlan add dev eth1 vid 200 master",
                     "bridge vlan add dev eth2 vid 5 pvid untagged master", "bridge vlan add dev eth2 vid 7 master",
                     "bridge vlan add dev br0 vid 100 self"]
    assert files["/etc/network/interfaces"].endswith("source /etc/network/interfaces.d/*\n")
    kept = _persist_ifupdown.render_bridge(dict(CONFIG, default_pvid=1, port_vlans={"eth1": {
        "pvid": 0, "untagged": "", "tagged": "10"}}, self_vlans=None), "source /etc/network/interfaces.d/*\n")
    assert list(kept) == ["/etc/network/interfaces.d/br0"]
    assert "post-up bridge vlan add dev eth1 vid 10 master\n    post-up bridge vlan del dev eth1 vid 1 master\n" in \
        kept["/etc/network/interfaces.d/br0"]


def resource(tmp_path, **kw):
    params = dict(dict(name="br0", state="present", ports=["eth1"], persist="networkd"), **kw)
    res = LinuxBridgeResource(params, root=str(tmp_path))
    want = res.normalize()
    want["port_masters"] = {"eth1": None}
    return res, want


def test_persist_plans_files_from_the_bridge_as_the_run_leaves_it(tmp_path):
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils._linux_bridge import plan_bridge

    res, want = resource(tmp_path, vlan_filtering=True, port_vlans=[{"port": "eth1", "tagged": "100"}])
    ops = plan_bridge(None, want)
    files = {op.target: op.params["content"] for op in res.plan_persist(None, want, ops)}
    # eth1 joins with the default PVID 1 and keeps it (not exclusive): the file says so
    assert files["/etc/systemd/network/30-kvmnet-eth1.network"].endswith(
        "[BridgeVLAN]\nVLAN=1\n\n[BridgeVLAN]\nVLAN=100\n\n[BridgeVLAN]\nEgressUntagged=1\n\n[BridgeVLAN]\nPVID=1\n")
    for path, content in files.items():
        (tmp_path / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path.lstrip("/")).write_text(content)
    assert res.plan_persist(None, want, ops) == []
    res, gone = resource(tmp_path, state="absent")
    removed = res.plan_persist({"ports": ["eth1"]}, gone, [])
    assert sorted(op.target for op in removed if op.action == "remove_file") == sorted(files)


@pytest.mark.parametrize("params, words", [
    (dict(persist="nm", ports=None), "persist: 'nm' needs ports"),
    (dict(persist="ifupdown", netns="ns1"), "persist: 'ifupdown' cannot be used with netns"),
    (dict(persist="ifcfg"), "persist: 'ifcfg' is not one of none, networkd, nm, ifupdown"),
])
def test_persist_input_is_refused(params, words):
    with pytest.raises(InvalidInput, match=words.replace("(", r"\(")):
        LinuxBridgeResource(dict(dict(name="br0", ports=["eth1"]), **params)).normalize()
