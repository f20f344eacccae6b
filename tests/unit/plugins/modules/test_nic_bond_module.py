# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The nic_bond module through Ansible's argument handling, with the host read replaced."""

from __future__ import annotations

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _nic_bond, _nic_bond_plan
from ansible_collections.kvmnet.hypervisor.plugins.modules import nic_bond

BOND = dict(_nic_bond_plan.CREATE_DEFAULTS, members=["eth1", "eth2"], master=None, admin_state="up")


@pytest.fixture
def host(monkeypatch):
    """A fake host: read_current returns ``state['current']`` and counts the reads in
    ``state['reads']``; an operation is recorded in ``state['applied']`` and its bond changes
    are made on ``state['current']`` (so that the read-back after applying finds them)."""
    state = {"applied": [], "reads": 0, "current": {
        "name": "bond0", "kind": "bond", "bond": dict(BOND), "bridge": None, "address": None,
        "default_route": None, "persist": "none", "files": {},
        "links": {"eth1": {"kind": None, "master": "bond0"}, "eth2": {"kind": None, "master": "bond0"}}}}

    def read_current(self):
        state["reads"] += 1
        return state["current"]

    def apply_operation(self, op):
        state["applied"].append(op.to_dict())
        if op.action == "modify_bond":
            state["current"]["bond"].update({k: v["after"] for k, v in op.changes.items()})

    monkeypatch.setattr(_nic_bond.NicBondResource, "open", lambda self: None)
    monkeypatch.setattr(_nic_bond.NicBondResource, "close", lambda self: None)
    monkeypatch.setattr(_nic_bond.NicBondResource, "read_current", read_current)
    monkeypatch.setattr(_nic_bond.NicBondResource, "apply_operation", apply_operation)
    return state


def test_check_mode_mode_change_planned_not_applied(run_module, host):
    result, failed = run_module(nic_bond, {"name": "bond0", "mode": "4", "members": ["eth1", "eth2"],
                                           "persist": "none"}, check_mode=True, diff=True)
    assert not failed, result
    assert result["changed"] is True
    assert [op["action"] for op in result["operations"]] == [
        "bond_down", "release_member", "release_member", "modify_bond", "reenslave_member", "reenslave_member",
        "bond_up"]
    assert result["after"]["bond"]["mode"] == "802.3ad"
    assert "  mode: active-backup\n" in result["diff"][0]["before"]
    assert '  mode: "802.3ad"\n' in result["diff"][0]["after"]
    assert host["applied"] == [] and host["current"]["bond"]["mode"] == "active-backup"


def test_mode_change_applied_and_read_back(run_module, host):
    """The same change without check mode: the planned step is applied, then read back."""
    result, failed = run_module(nic_bond, {"name": "bond0", "mode": "4", "members": ["eth1", "eth2"],
                                           "persist": "none"})
    assert not failed, result
    assert host["applied"] == result["operations"]
    assert [op["action"] for op in host["applied"]] == [
        "bond_down", "release_member", "release_member", "modify_bond", "reenslave_member", "reenslave_member",
        "bond_up"]
    assert result["after"]["bond"]["mode"] == "802.3ad" and host["reads"] == 2  # read, read back


def test_no_change_reports_unchanged(run_module, host):
    result, failed = run_module(nic_bond, {"name": "bond0", "mode": "active-backup", "persist": "none"})
    assert (failed, result["changed"], result["operations"]) == (False, False, [])
    assert host["applied"] == [] and host["reads"] == 1


def test_bad_input_fails_before_the_host_is_read(run_module, host):
    result, failed = run_module(nic_bond, {"name": "bond0", "mode": "fastest", "persist": "none"})
    assert failed
    assert result["error"] == "invalid_input"
    assert "mode: 'fastest' is not a bond mode" in result["msg"]
    assert host["reads"] == 0


def test_gateway_needs_address(run_module, host):
    result, failed = run_module(nic_bond, {"name": "bond0", "gateway": "10.0.0.1"})
    assert failed and "address" in result["msg"] and "gateway" in result["msg"]
    assert host["reads"] == 0


@pytest.mark.parametrize("mtu", [67, 65536])
def test_mtu_out_of_range_fails_naming_option_and_value(run_module, host, mtu):
    result, failed = run_module(nic_bond, {"name": "bond0", "mtu": mtu, "persist": "none"})
    assert failed and result["error"] == "invalid_input"
    assert result["msg"] == "mtu: %d is out of range (68-65535)" % mtu
    assert host["reads"] == 0


def test_mtu_not_an_integer_is_refused_by_the_argument_spec(run_module, host):
    result, failed = run_module(nic_bond, {"name": "bond0", "mtu": "jumbo", "persist": "none"})
    assert failed and "mtu" in result["msg"] and "error" not in result  # Ansible's message, not the engine's
    assert host["reads"] == 0


def test_check_mode_mtu_change_in_operations_and_diff(run_module, host):
    host["current"]["bond"]["mtu"] = 1500
    for link in host["current"]["links"].values():
        link["mtu"] = 1500
    result, failed = run_module(nic_bond, {"name": "bond0", "mtu": "9000", "persist": "none"},
                                check_mode=True, diff=True)
    assert not failed, result
    assert result["operations"] == [
        {"action": "modify_bond", "target": "bond0", "changes": {"mtu": {"before": 1500, "after": 9000}}}]
    assert "  mtu: 1500\n" in result["diff"][0]["before"] and "  mtu: 9000\n" in result["diff"][0]["after"]
    assert [link["mtu"] for link in result["after"]["links"].values()] == [9000, 9000]
    assert host["applied"] == [] and host["current"]["bond"]["mtu"] == 1500


def test_mtu_equal_reports_unchanged(run_module, host):
    host["current"]["bond"]["mtu"] = 9000
    for link in host["current"]["links"].values():
        link["mtu"] = 9000
    result, failed = run_module(nic_bond, {"name": "bond0", "mtu": 9000, "persist": "none"})
    assert (failed, result["changed"], result["operations"]) == (False, False, [])
    assert host["applied"] == []
