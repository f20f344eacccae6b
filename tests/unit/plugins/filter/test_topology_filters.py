# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The topology filters: what they accept, the SVG Graphviz draws, and the message without dot."""

from __future__ import annotations

import os
import shutil

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.kvmnet.hypervisor.plugins.filter import topology as F
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _topology

STATE = os.path.join(os.path.dirname(__file__), "..", "module_utils", "golden", "network_info", "lab-state.yml")


@pytest.fixture(name="state")
def _state():
    with open(STATE, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_filters_registered():
    assert set(F.FilterModule().filters()) == {"topology_mermaid", "topology_dot", "topology_svg"}


def test_accepts_result_topology_or_state(state):
    graph = _topology.build_topology(state)
    expected = _topology.render_mermaid(graph, "lab")
    assert F.topology_mermaid(graph, "lab") == expected
    assert F.topology_mermaid({"topology": graph, "vars": {}}, "lab") == expected
    assert F.topology_mermaid(state, "lab") == expected


@pytest.mark.parametrize("value", [[], "text", {"vars": {}}])
def test_refuses_what_is_no_topology(value):
    with pytest.raises(AnsibleFilterError, match="topology_mermaid: "):
        F.topology_mermaid(value)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")
def test_svg_holds_every_node(state):
    graph = _topology.build_topology(state)
    svg = F.topology_svg(state, "kvmnet-lab")
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    for node in graph["nodes"]:
        # Graphviz writes a node's id as its <title>, '-' as an entity
        assert "<title>%s</title>" % node["id"].replace("-", "&#45;") in svg, node["id"]


def test_svg_without_dot_says_what_to_install(monkeypatch, state):
    monkeypatch.setattr(F.shutil, "which", lambda _name: None)
    with pytest.raises(AnsibleFilterError, match="Graphviz 'dot' is not installed on the controller.*graphviz"):
        F.topology_svg(state)
