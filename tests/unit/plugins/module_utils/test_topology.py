# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The topology graph of a gathered state and its pictures (golden files of the lab hypervisor)."""

from __future__ import annotations

import os

import pytest
import yaml


class _Dumper(yaml.SafeDumper):  # pylint: disable=too-many-ancestors
    """Block lists indented under their key, as yamllint (ansible-lint) wants the golden files."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _topology as T

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "network_info")


def lab():
    with open(os.path.join(GOLDEN, "lab-state.yml"), encoding="utf-8") as handle:
        return T.build_topology(yaml.safe_load(handle))


def _golden(name, text):
    path = os.path.join(GOLDEN, name)
    if os.environ.get("KVMNET_UPDATE_GOLDEN"):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    with open(path, encoding="utf-8") as handle:
        assert text == handle.read()


def test_lab_graph_golden():
    _golden("lab-topology.yml", yaml.dump(lab(), Dumper=_Dumper, sort_keys=False, width=120, explicit_start=True))


def test_lab_mermaid_golden():
    _golden("lab.mmd", T.render_mermaid(lab(), "kvmnet-lab"))


def test_lab_dot_golden():
    _golden("lab.dot", T.render_dot(lab(), "kvmnet-lab"))


def _edges(graph):
    return {(e["from"], e["to"]): e for e in graph["edges"]}


@pytest.mark.parametrize("chain", [
    # bridge tap with vhost and 4 queues: VM -> vNIC -> tap -> Linux bridge
    ["vm:guest1", "vnic:guest1:52:54:00:c0:00:01", "if:vnet0", "if:br0"],
    # OVS port on VLAN 10 -> OVS bridge -> OVS bond -> NIC
    ["vm:guest1", "vnic:guest1:52:54:00:c0:00:02", "if:vnet1", "ovs:br-vm", "ovsbond:br-vm:ovsbond0", "if:enp0s5"],
    # macvtap in bridge mode on its lower NIC
    ["vm:guest2", "vnic:guest2:52:54:00:c0:00:03", "if:macvtap1", "if:enp0s10"],
    # VF as a hostdev -> its PF
    ["vm:guest2", "vnic:guest2:52:54:00:c0:00:04", "pci:0000:01:10.6", "if:enp1s0"],
    # the host's bridge over the Linux bond over its NICs
    ["if:br1", "if:bond0", "if:enp0s7"],
])
def test_chains(chain):
    edges = _edges(lab())
    for hop in zip(chain, chain[1:]):
        assert hop in edges, hop


def test_labels_and_attributes():
    graph = lab()
    nodes = {n["id"]: n for n in graph["nodes"]}
    edges = _edges(graph)
    assert edges[("if:vnet1", "ovs:br-vm")]["label"] == "tag 10"
    assert edges[("ovs:br-vm", "ovsbond:br-vm:ovsbond0")]["label"] == "trunks 10,20"
    assert edges[("ovs:br-tr", "ovs:br-vm")]["kind"] == "patch"
    assert nodes["vnic:guest1:52:54:00:c0:00:01"]["attrs"] == {"model": "virtio", "queues": 4, "driver": "vhost",
                                                               "type": "bridge"}
    assert nodes["if:bond0"]["attrs"]["mode"] == "802.3ad" and nodes["if:bond0"]["attrs"]["lacp"] == "negotiated"
    assert nodes["if:enp1s0"]["attrs"]["driver"] == "igb" and nodes["if:enp1s0"]["attrs"]["numvfs"] == 4
    assert nodes["if:enp0s7"]["attrs"]["speed"] == 10000
    # a VF's netdev is the VF, not a second node; OVS's own netdevs are not nodes
    assert "if:enp1s0v0" not in nodes and "if:ovs-system" not in nodes and "if:br-vm" not in nodes


def test_veth_between_ovs_bridges():
    state = {"links": [{"name": "va", "kind": "veth", "peer": "vb"}, {"name": "vb", "kind": "veth", "peer": "va"}],
             "ovs": {"bridges": {"br0": {"ports": [{"name": "va", "type": "system"}]},
                                 "br1": {"ports": [{"name": "vb", "type": "system"}]}}}}
    edges = T.build_topology(state)["edges"]
    assert edges == [{"from": "ovs:br0", "to": "ovs:br1", "kind": "veth", "label": "veth va - vb"}]


def test_empty_host():
    graph = T.build_topology({"links": [], "ovs": None, "libvirt": None})
    assert graph == {"nodes": [], "edges": []}
    assert T.render_mermaid(graph) == "flowchart LR\n"


def test_mermaid_escapes_quotes_and_ids():
    graph = {"nodes": [{"id": "if:a\"b", "kind": "nic", "label": 'a"b', "attrs": {}},
                       {"id": "if:a-b", "kind": "nic", "label": "a-b", "attrs": {}}],
             "edges": [{"from": "if:a\"b", "to": "if:a-b", "kind": "uplink", "label": 'x"y'}]}
    text = T.render_mermaid(graph)
    assert 'n_if_a_b["a#quot;b"]' in text and 'n_if_a_b_["a-b"]' in text
    assert 'n_if_a_b -->|"x#quot;y"| n_if_a_b_' in text


def test_docs_picture_is_the_rendered_lab():
    """docs/topology.md shows the lab VM (its state captured after make lab) as the project
    renders it, not a hand-edited copy."""
    page = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "docs", "topology.md")
    with open(page, encoding="utf-8") as handle:
        text = handle.read()
    with open(os.path.join(GOLDEN, "lab-vm-state.yml"), encoding="utf-8") as handle:
        lab_vm = T.build_topology(yaml.safe_load(handle))
    block = text.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert block == T.render_mermaid(lab_vm, "kvmnet-lab")


def test_vlan_aware_linux_bridge_labels():
    """A VLAN-aware bridge shows its own VLANs, its uplink's and its guest taps' on the edges."""
    state = {
        "links": [{"name": "eth3", "kind": None, "master": "br0"}, {"name": "vnet0", "kind": "tun", "master": "br0"},
                  {"name": "br0", "kind": "bridge"}, {"name": "br9", "kind": "bridge"},
                  {"name": "eth9", "kind": None, "master": "br9"}],
        "bridges": {
            "br0": {"vlan_filtering": True, "self_vlans": {"pvid": 1, "untagged": "1", "tagged": "10"},
                    "port_vlans": [{"port": "eth3", "pvid": 1, "untagged": "1", "tagged": "10,20"},
                                   {"port": "vnet0", "pvid": 10, "untagged": "10", "tagged": ""}]},
            # not VLAN-aware: the kernel still lists VLAN 1 on its ports, which says nothing
            "br9": {"vlan_filtering": False, "port_vlans": [{"port": "eth9", "pvid": 1, "untagged": "1", "tagged": ""}]}},
    }
    topo = T.build_topology(state)
    edges = {(e["from"], e["to"]): e["label"] for e in topo["edges"]}
    assert edges[("if:br0", "if:eth3")] == "pvid 1 untagged 1 tagged 10,20"
    assert edges[("if:vnet0", "if:br0")] == "vlan 10"
    assert edges[("if:br9", "if:eth9")] == ""
    nodes = {n["id"]: n for n in topo["nodes"]}
    assert nodes["if:br0"]["attrs"]["vlans"] == "pvid 1 untagged 1 tagged 10"
    assert "vlans" not in nodes["if:br9"]["attrs"]
