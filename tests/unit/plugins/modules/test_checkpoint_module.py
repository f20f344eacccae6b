# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The checkpoint module file: it imports every module_utils file (AnsiballZ ships only what a
module imports, and the checkpoint copies what was shipped), and its argument spec."""

from __future__ import annotations

import os

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _checkpoint
from ansible_collections.kvmnet.hypervisor.plugins.modules import checkpoint


def test_every_module_utils_file_is_imported_and_listed():
    directory = os.path.dirname(_checkpoint.__file__)
    files = sorted(n[:-3] for n in os.listdir(directory) if n.endswith(".py") and n != "__init__.py")
    listed = sorted(m.__name__.rsplit(".", 1)[1] for m in checkpoint.LIBRARY)
    # _checkpoint_task runs the module; the replay never needs it (it is copied all the same)
    assert listed == [n for n in files if n != "_checkpoint_task"]


def test_started_then_rolled_back_through_the_argument_spec(run_module, tmp_path):
    root = str(tmp_path)
    result, failed = run_module(checkpoint, {"state": "started", "root": root, "automatic_rollback": False,
                                             "probes": [{"ping": "192.0.2.1", "count": 2}]})
    assert not failed, result
    assert result["changed"] and result["library"] >= len(checkpoint.LIBRARY)
    assert _checkpoint.open_checkpoint(root).state["probes"] == [{"ping": "192.0.2.1", "count": 2, "timeout": 2}]
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
