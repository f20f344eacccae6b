# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters drawing network_info's topology: ``topology_mermaid`` (text) and ``topology_svg``
(the distribution's Graphviz ``dot`` on the controller). Documented in topology_mermaid.yml and
topology_svg.yml beside this file; the graph and both texts come from module_utils/_topology.py."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _topology

#: seconds dot may take for one host's graph (a few hundred nodes take well under one)
DOT_TIMEOUT = 60


def _graph(value: Any, name: str) -> dict[str, Any]:
    """The topology in ``value``: a topology, network_info's whole result, or its ``state``."""
    if not isinstance(value, dict):
        raise AnsibleFilterError("%s: expected network_info's result or its topology (a dict), got %s"
                                 % (name, type(value).__name__))
    if "nodes" in value and "edges" in value:
        return value
    if isinstance(value.get("topology"), dict):
        return value["topology"]
    if "links" in value:
        return _topology.build_topology(value)
    raise AnsibleFilterError("%s: the dict holds no topology (nodes and edges), no network_info result and no "
                             "gathered state; register kvmnet.hypervisor.network_info and pass it" % name)


def topology_mermaid(value: Any, title: str | None = None) -> str:
    """The graph as Mermaid flowchart text, for a Markdown ``mermaid`` block."""
    return _topology.render_mermaid(_graph(value, "topology_mermaid"), title)


def topology_dot(value: Any, title: str | None = None) -> str:
    """The graph as Graphviz DOT text."""
    return _topology.render_dot(_graph(value, "topology_dot"), title)


def topology_svg(value: Any, title: str | None = None) -> str:
    """The graph drawn by Graphviz ``dot -Tsvg`` on the controller, as SVG text."""
    dot = shutil.which("dot")
    if dot is None:
        raise AnsibleFilterError("topology_svg: Graphviz 'dot' is not installed on the controller; install the "
                                 "distribution's graphviz package (Debian/Ubuntu: apt install graphviz, RHEL: "
                                 "dnf install graphviz), or draw with topology_mermaid instead")
    text = _topology.render_dot(_graph(value, "topology_svg"), title)
    try:
        done = subprocess.run([dot, "-Tsvg"], input=text.encode("utf-8"), capture_output=True,
                              timeout=DOT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AnsibleFilterError("topology_svg: running %s -Tsvg failed: %s" % (dot, exc)) from exc
    if done.returncode != 0:
        raise AnsibleFilterError("topology_svg: %s -Tsvg exited with %d: %s"
                                 % (dot, done.returncode, done.stderr.decode("utf-8", "replace").strip()))
    return done.stdout.decode("utf-8")


class FilterModule:
    """kvmnet.hypervisor's topology filters."""

    def filters(self) -> dict[str, Any]:
        return {"topology_mermaid": topology_mermaid, "topology_dot": topology_dot, "topology_svg": topology_svg}
