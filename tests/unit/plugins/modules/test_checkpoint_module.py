# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The checkpoint module file: it names every module_utils file for AnsiballZ (which ships only
what a module imports; the checkpoint copies what was shipped, without importing it), and its
argument spec."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _checkpoint
from ansible_collections.kvmnet.hypervisor.plugins.modules import checkpoint


def _payload_imports():
    """The module_utils names imported in checkpoint._payload (what AnsiballZ ships)."""
    with open(checkpoint.__file__, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    payload = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "_payload")
    return sorted(alias.name for node in ast.walk(payload) if isinstance(node, ast.ImportFrom)
                  for alias in node.names)


def test_every_module_utils_file_is_shipped():
    directory = os.path.dirname(_checkpoint.__file__)
    files = sorted(n[:-3] for n in os.listdir(directory) if n.endswith(".py") and n != "__init__.py")
    # _checkpoint_task is imported at the top (it runs the module); the rest only for AnsiballZ
    assert _payload_imports() == [n for n in files if n != "_checkpoint_task"]


def test_library_sources_reads_every_file_without_importing_the_backends():
    """What a checkpoint copies: every module_utils file's source, and no backend library loaded
    on the way (importing them all cost every checkpoint task seconds in the VM tier)."""
    code = ("import sys, json\n"
            "from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _checkpoint\n"
            "sources = _checkpoint.library_sources()\n"
            "print(json.dumps({'names': sorted(sources), 'loaded': sorted(m for m in sys.modules if m.split('.')[0] in "
            "('pyroute2', 'ovs', 'libvirt', 'lxml') or m.endswith('._netlink'))}))\n")
    proc = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=True)
    out = json.loads(proc.stdout)
    directory = os.path.dirname(_checkpoint.__file__)
    files = sorted(n[:-3] for n in os.listdir(directory) if n.endswith(".py") and n != "__init__.py")
    assert [n.rsplit(".", 1)[1] for n in out["names"]] == files
    assert out["loaded"] == []


def test_started_then_rolled_back_through_the_argument_spec(run_module, tmp_path):
    root = str(tmp_path)
    result, failed = run_module(checkpoint, {"state": "started", "root": root, "automatic_rollback": False,
                                             "probes": [{"ping": "192.0.2.1", "count": 2}]})
    assert not failed, result
    assert result["changed"] and result["library"] == len(_payload_imports()) + 1
    assert _checkpoint.open_checkpoint(root).state["probes"] == [{"ping": "192.0.2.1", "count": 2, "timeout": 2, "wait": 0}]
    again, failed = run_module(checkpoint, {"state": "started", "root": root})
    assert failed and again["error"] == "conflict" and again["id"] == result["id"]
    undo, failed = run_module(checkpoint, {"state": "rolled_back", "root": root})
    assert not failed, undo
    assert undo["changed"] and undo["verified"] is True and undo["entries"] == 0


def test_probe_needs_ping_or_tcp(run_module, tmp_path):
    result, failed = run_module(checkpoint, {"state": "started", "root": str(tmp_path), "probes": [{"count": 2}]})
    assert failed and "ping" in result["msg"] and "tcp" in result["msg"]
    assert not os.path.exists(os.path.join(str(tmp_path), "var"))


def test_check_mode(run_module, tmp_path):
    result, failed = run_module(checkpoint, {"state": "started", "root": str(tmp_path)}, check_mode=True)
    assert not failed and result["changed"] is False and "check mode" in result["msg"]
    assert not os.path.exists(os.path.join(str(tmp_path), "var"))
