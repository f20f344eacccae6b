# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""linux_bridge VLAN filtering in a fresh netns on veths and a tap; read back with `bridge -j vlan show`.

The VLAN tests need a kernel built with CONFIG_BRIDGE_VLAN_FILTERING (every distribution
kernel has it; this machine's 6.18.44-fc kernel does not). On a kernel without it
they are skipped, and the test that such a kernel refuses VLAN filtering with the bridge left as
it was runs instead; the Molecule libvirt scenario's verify checks a VM tap on Debian 12.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import ApplyFailed, InvalidInput
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._linux_bridge import LinuxBridgeResource


def params(ns, **kw):
    return dict(dict(name="br0", state="present", ports=None, exclusive_ports=False, netns=ns.name), **kw)


def can_filter(ns) -> bool:
    """Whether this kernel has VLAN filtering on bridges (a probe bridge in the test's netns)."""
    res = subprocess.run(["ip", "-n", ns.name, "link", "add", "kvtprobe", "type", "bridge", "vlan_filtering", "1"],
                         capture_output=True, check=False)
    subprocess.run(["ip", "-n", ns.name, "link", "del", "kvtprobe"], capture_output=True, check=False)
    return res.returncode == 0


def vlans(ns) -> dict[str, dict[int, set[str]]]:
    """``bridge -j vlan show`` as ``{ifname: {vid: {"PVID", "Egress Untagged"}}}``."""
    out = json.loads(ns.exec("bridge", "-j", "vlan", "show").stdout or "[]")
    table: dict[str, dict[int, set[str]]] = {}
    for dev in out:
        for item in dev.get("vlans", []):
            for vid in range(item["vlan"], item.get("vlanEnd", item["vlan"]) + 1):
                table.setdefault(dev["ifname"], {})[vid] = set(item.get("flags", []))
    return table


def stable(link):
    """A link's ``ip -j -d`` dict without the bridge's running timers (they tick)."""
    if isinstance(link, dict):
        return {k: stable(v) for k, v in link.items() if not k.endswith("_timer")}
    return link


@pytest.fixture
def vlan_netns(netns):
    if not can_filter(netns):
        pytest.skip("this kernel has no VLAN filtering on bridges (CONFIG_BRIDGE_VLAN_FILTERING); any distribution "
                    "kernel has it (the Molecule libvirt scenario's verify checks a VM tap's VLANs on Debian 12)")
    return netns


def test_vlan_aware_bridge_read_back_rerun_unchanged_retag_live(vlan_netns):
    ns = vlan_netns
    ns.add_veth("eth1", "peer1")
    ns.add_tap("vnet0")
    want = params(ns, ports=["eth1", "vnet0"], vlan_filtering=True, vlans_exclusive=True,
                  port_vlans=[{"port": "eth1", "tagged": "100-110,200"},
                              {"port": "vnet0", "pvid": 100, "untagged": ["100"]}],
                  self_vlans={"tagged": "100"})
    res = execute(LinuxBridgeResource(want))
    assert res["changed"] and ns.link("br0")["linkinfo"]["info_data"]["vlan_filtering"] == 1
    table = vlans(ns)
    assert table["eth1"] == {vid: set() for vid in list(range(100, 111)) + [200]}
    assert table["vnet0"] == {100: {"PVID", "Egress Untagged"}}
    assert table["br0"] == {100: set()}
    assert res["after"]["port_vlans"] == [{"port": "eth1", "pvid": 0, "untagged": "", "tagged": "100-110,200"},
                                          {"port": "vnet0", "pvid": 100, "untagged": "100", "tagged": ""}]
    again = execute(LinuxBridgeResource(want))
    assert again["changed"] is False and again["operations"] == []
    # not named, not exclusive: VLAN 300 added by hand stays
    ns.exec("bridge", "vlan", "add", "dev", "eth1", "vid", "300")
    assert execute(LinuxBridgeResource(dict(want, vlans_exclusive=False)))["changed"] is False
    # retag the tap live: check mode first (host unchanged), then for real
    retag = dict(want, vlans_exclusive=False, port_vlans=[{"port": "vnet0", "pvid": 101, "untagged": "101"}])
    pred = execute(LinuxBridgeResource(retag), check_mode=True)
    assert pred["after"]["port_vlans"][1] == {"port": "vnet0", "pvid": 101, "untagged": "100-101", "tagged": ""}
    assert vlans(ns)["vnet0"] == {100: {"PVID", "Egress Untagged"}}
    done = execute(LinuxBridgeResource(retag))
    assert done["after"] == pred["after"]
    assert vlans(ns)["vnet0"] == {100: {"Egress Untagged"}, 101: {"PVID", "Egress Untagged"}}
    execute(LinuxBridgeResource(dict(retag, vlans_exclusive=True)))
    assert vlans(ns)["vnet0"] == {101: {"PVID", "Egress Untagged"}} and 300 in vlans(ns)["eth1"]


def test_default_pvid_moves_the_ports_still_on_it_as_predicted(vlan_netns):
    ns = vlan_netns
    ns.add_veth("eth1", "peer1")
    ns.add_veth("eth2", "peer2")
    execute(LinuxBridgeResource(params(ns, ports=["eth1", "eth2"], vlan_filtering=True,
                                       port_vlans=[{"port": "eth2", "pvid": 1, "tagged": "1"}])))
    want = params(ns, ports=["eth1", "eth2"], vlan_filtering=True, default_pvid=7)
    pred = execute(LinuxBridgeResource(want), check_mode=True)
    res = execute(LinuxBridgeResource(want))
    assert res["after"] == pred["after"]
    assert vlans(ns)["eth1"] == {7: {"PVID", "Egress Untagged"}} and vlans(ns)["eth2"] == {1: {"PVID"}}


def test_bad_vlan_input_is_refused_with_nothing_changed(netns):
    netns.add_veth("eth1", "peer1")
    execute(LinuxBridgeResource(params(netns, ports=["eth1"])))
    before = (stable(netns.link("br0")), stable(netns.link("eth1")), netns.exec("bridge", "-j", "vlan", "show").stdout)
    for bad, words in [
        (dict(vlan_filtering=True, port_vlans=[{"port": "eth1", "tagged": "4095"}]), "port_vlans[eth1].tagged"),
        (dict(vlan_filtering=True, port_vlans=[{"port": "eth1", "tagged": "10-20,15"}]), "VLAN 15 twice"),
        (dict(vlan_filtering=True, port_vlans=[{"port": "eth1", "pvid": 30, "tagged": "10"}]), "pvid: 30"),
        (dict(port_vlans=[{"port": "eth1", "tagged": "10"}]), "vlan_filtering: None must be true"),
    ]:
        with pytest.raises(InvalidInput) as exc:
            execute(LinuxBridgeResource(params(netns, ports=["eth1"], **bad)))
        assert words in exc.value.msg
    assert (stable(netns.link("br0")), stable(netns.link("eth1")),
            netns.exec("bridge", "-j", "vlan", "show").stdout) == before


def test_a_kernel_without_vlan_filtering_refuses_it_and_the_bridge_stays(netns):
    if can_filter(netns):
        pytest.skip("this kernel has VLAN filtering: the tests above cover it")
    netns.add_veth("eth1", "peer1")
    execute(LinuxBridgeResource(params(netns, ports=["eth1"])))
    before = stable(netns.link("br0"))
    with pytest.raises(ApplyFailed) as exc:
        execute(LinuxBridgeResource(params(netns, ports=["eth1"], vlan_filtering=True,
                                           port_vlans=[{"port": "eth1", "tagged": "10"}])))
    assert exc.value.details["cause"] == "unsupported" and exc.value.details["rolled_back"] is True
    assert "setting the VLAN options of bridge br0" in exc.value.msg
    assert stable(netns.link("br0")) == before and netns.master_of("eth1") == "br0"


HOOK = Path(__file__).resolve().parents[2] / "roles" / "linux_bridge" / "files" / "kvmnet-bridge-vlans.py"


def test_the_qemu_hook_gives_a_real_tap_its_vlans_at_started(vlan_netns):
    """The role's libvirt hook, run as libvirt runs it (XML on stdin) inside the netns, with a tap
    that just joined the bridge (default PVID 1), as at a domain start."""
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt_iface_vlans as nicvlans

    ns = vlan_netns
    ns.add_tap("vnet0")
    execute(LinuxBridgeResource(params(ns, ports=["vnet0"], vlan_filtering=True)))
    assert vlans(ns)["vnet0"] == {1: {"PVID", "Egress Untagged"}}
    meta = nicvlans.metadata_xml({"52:54:00:00:00:01": nicvlans.entry_of_vlan(
        {"tags": [10, 20], "trunk": True, "native_tag": 10, "native_mode": "untagged"})})
    meta = meta.replace("<bridge-vlans>", '<kvmnet:bridge-vlans xmlns:kvmnet="%s">' % nicvlans.NAMESPACE).replace(
        "</bridge-vlans>", "</kvmnet:bridge-vlans>").replace("<interface ", "<kvmnet:interface ")
    xml = ("<domain><name>vm1</name><metadata>%s</metadata><devices><interface type='bridge'>"
           "<mac address='52:54:00:00:00:01'/><source bridge='br0'/><target dev='vnet0'/></interface>"
           "</devices></domain>" % meta)
    res = subprocess.run(ns.exec_prefix() + [sys.executable, str(HOOK), "vm1", "started", "begin", "-"], input=xml,
                         capture_output=True, text=True, check=False, timeout=60)
    assert (res.returncode, res.stdout) == (0, ""), res.stderr
    assert vlans(ns)["vnet0"] == {10: {"PVID", "Egress Untagged"}, 20: set()}
    # the module reads the same back: a rerun of the NIC's VLANs through linux_bridge changes nothing
    again = execute(LinuxBridgeResource(params(ns, ports=["vnet0"], vlan_filtering=True, vlans_exclusive=True,
                                               port_vlans=[{"port": "vnet0", "pvid": 10, "untagged": "10",
                                                            "tagged": "20"}])))
    assert again["changed"] is False
