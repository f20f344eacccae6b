# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
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
    """A fake host: the one read function is replaced, applying is recorded, never executed."""
    state = {"link": dict(LINK), "lower": dict(LOWER), "applied": []}

    def read_current(self):
        self.lower = state["lower"]
        return dict(state["link"]) if state["link"] else None

    monkeypatch.setattr(_macvtap.MacvtapResource, "open", lambda self: None)
    monkeypatch.setattr(_macvtap.MacvtapResource, "close", lambda self: None)
    monkeypatch.setattr(_macvtap.MacvtapResource, "read_current", read_current)
    monkeypatch.setattr(_macvtap.MacvtapResource, "apply_operation",
                        lambda self, op: state["applied"].append(op.to_dict()))
    return state


def test_check_mode_plans_exact_operation_and_applies_nothing(run_module, host):
    result, failed = run_module(macvtap, {"name": "mvt0", "link": "eth1", "mode": "bridge"},
                                check_mode=True, diff=True)
    assert not failed
    assert result["changed"] is True
    assert result["operations"] == [{"action": "modify", "target": "mvt0",
                                     "changes": {"mode": {"before": "vepa", "after": "bridge"}}}]
    assert result["diff"]["before"]["mode"] == "vepa"
    assert result["diff"]["after"]["mode"] == "bridge"
    assert host["applied"] == []


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
    assert host["applied"] == []


def test_lower_missing_is_not_found(run_module, host):
    host["lower"] = None
    host["link"] = None
    result, failed = run_module(macvtap, {"name": "mvt0", "link": "eth9"})
    assert failed
    assert result["error"] == "not_found"
    assert result["msg"] == "link: lower device 'eth9' does not exist"
    assert host["applied"] == []


def test_present_requires_link(run_module, host):
    result, failed = run_module(macvtap, {"name": "mvt0"})
    assert failed and "link" in result["msg"]
