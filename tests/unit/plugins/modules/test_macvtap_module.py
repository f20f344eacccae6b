# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The macvtap module through Ansible's argument handling, with the host read replaced."""

from __future__ import annotations

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _macvtap
from ansible_collections.kvmnet.hypervisor.plugins.modules import macvtap

LOWER = {"name": "eth1", "kind": None, "mtu": 1500, "ifindex": 2}
LINK = {"name": "mvt0", "kind": "macvtap", "link": "eth1", "mode": "vepa", "mac": "1a:34:34:34:45:42",
        "mtu": 1500, "admin_state": "up", "ifindex": 7}


@pytest.fixture
def host(monkeypatch):
    """A fake host: the one read function is replaced; applying records the operation and
    changes the fake state as the kernel would, so a real run reads its change back."""
    state = {"link": dict(LINK), "lower": dict(LOWER), "applied": []}

    def read_current(self):
        self.lower = state["lower"]
        return dict(state["link"]) if state["link"] else None

    def apply_operation(self, op):
        state["applied"].append(op.to_dict())
        if op.action == "delete":
            state["link"] = None
        elif op.action == "create":
            state["link"] = dict(op.params, name=op.target, kind="macvtap", ifindex=8)
        else:
            state["link"].update({field: change["after"] for field, change in op.changes.items()})

    monkeypatch.setattr(_macvtap.MacvtapResource, "open", lambda self: None)
    monkeypatch.setattr(_macvtap.MacvtapResource, "close", lambda self: None)
    monkeypatch.setattr(_macvtap.MacvtapResource, "read_current", read_current)
    monkeypatch.setattr(_macvtap.MacvtapResource, "apply_operation", apply_operation)
    return state


MODE_CHANGE = [{"action": "modify", "target": "mvt0", "changes": {"mode": {"before": "vepa", "after": "bridge"}}}]


@pytest.mark.parametrize("check_mode", [True, False])
def test_mode_change_planned_the_same_and_applied_only_without_check_mode(run_module, host, check_mode):
    result, failed = run_module(macvtap, {"name": "mvt0", "link": "eth1", "mode": "bridge"},
                                check_mode=check_mode, diff=True)
    assert not failed, result
    assert result["changed"] is True
    assert result["operations"] == MODE_CHANGE
    (diff,) = result["diff"]  # the link as YAML text; a link has no file to show
    assert "\nmode: vepa\n" in diff["before"] and "\nmode: bridge\n" in diff["after"]
    # the same arguments reach the host without check mode: the recorder proves check mode held it back
    assert host["applied"] == ([] if check_mode else MODE_CHANGE)
    assert host["link"]["mode"] == ("vepa" if check_mode else "bridge")


def test_no_diff_key_without_diff_mode(run_module, host):
    result, failed = run_module(macvtap, {"name": "mvt0", "link": "eth1"}, check_mode=True)
    assert not failed
    assert "diff" not in result
    assert result["changed"] is False
    assert result["tap_device"] == "/dev/tap7"


def test_unknown_mode_rejected_by_argument_spec(run_module, host):
    result, failed = run_module(macvtap, {"name": "mvt0", "link": "eth1", "mode": "hairpin"})
    assert failed
    assert "mode" in result["msg"] and "hairpin" in result["msg"]


@pytest.mark.parametrize("lower", [dict(LOWER, name="eth9"), None], ids=["lower-present", "lower-missing"])
def test_new_link_created_only_on_an_existing_lower_device(run_module, host, lower):
    host["lower"] = lower
    host["link"] = None
    result, failed = run_module(macvtap, {"name": "mvt0", "link": "eth9"})
    if lower is None:
        assert failed
        assert result["error"] == "not_found"
        assert result["msg"] == "link: lower device 'eth9' does not exist"
        assert host["applied"] == [] and host["link"] is None
    else:
        assert not failed, result
        assert host["applied"] == [{"action": "create", "target": "mvt0", "link": "eth9", "mode": "bridge",
                                    "admin_state": "up"}]
        assert result["changed"] is True and result["tap_device"] == "/dev/tap8"


def test_present_requires_link(run_module, host):
    result, failed = run_module(macvtap, {"name": "mvt0"})
    assert failed and "link" in result["msg"]
