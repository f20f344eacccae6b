# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every role refuses to run without its required variables, naming each one, before any task
runs: no lab default (a bridge called br0, a PF called enp1s0) is ever applied to a host."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]

#: role -> the variables it must be given (its argument spec says required, no default)
REQUIRED = {
    "host_bond_bridge": ["host_bond_bridge_members", "host_bond_bridge_bridge"],
    "linux_bridge": ["linux_bridge_name"],
    "ovs_vlan": ["ovs_vlan_bridge"],
    "ovs_bond": ["ovs_bond_members", "ovs_bond_bridge"],
    "ovs_interconnect": ["ovs_interconnect_bridge", "ovs_interconnect_peer_bridge"],
    "sriov": ["sriov_pf"],
    "macvtap": ["macvtap_links"],
    "irq_tuning": ["irq_tuning_interfaces"],
    "virtio_multiqueue": ["virtio_multiqueue_interfaces"],
}


def spec_and_defaults(role):
    root = REPO_ROOT / "roles" / role
    spec = yaml.safe_load((root / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    defaults_file = root / "defaults" / "main.yml"
    defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.exists() else {}
    return spec, defaults or {}


@pytest.mark.parametrize("role", sorted(REQUIRED))
def test_required_variables_have_no_default(role):
    spec, defaults = spec_and_defaults(role)
    for var in REQUIRED[role]:
        assert spec[var].get("required") is True, (role, var)
        assert "default" not in spec[var], (role, var)
        assert var not in defaults, (role, var, defaults.get(var))


@pytest.mark.parametrize("role", sorted(REQUIRED))
def test_role_without_its_required_variables_fails_before_any_task(role, run_playbook):
    res = run_playbook([{"name": "the role", "ansible.builtin.include_role": {"name": "kvmnet.hypervisor.%s" % role}}])
    assert res.rc != 0, res.stdout
    failed = [t for t in res.tasks if t.failed]
    assert len(failed) == 1, res.stdout
    assert "Validating arguments" in failed[0].name, failed[0].name
    for var in REQUIRED[role]:
        assert var in failed[0].msg, (var, failed[0].msg)
    assert [t.name for t in res.tasks if t.changed] == []
