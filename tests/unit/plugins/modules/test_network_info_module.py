# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The network_info module through Ansible's argument handling, the host read replaced by the
lab's gathered state: read-only in both modes, every part of the result there."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _network_info
from ansible_collections.kvmnet.hypervisor.plugins.modules import network_info

STATE = os.path.join(os.path.dirname(__file__), "..", "module_utils", "golden", "network_info", "lab-state.yml")


@pytest.fixture(autouse=True)
def lab_host(monkeypatch):
    with open(STATE, encoding="utf-8") as handle:
        state = yaml.safe_load(handle)
    seen = []

    def gather(self):
        seen.append((self.netns, self.database, self.uri))
        return state

    monkeypatch.setattr(_network_info.Gatherer, "gather", gather)
    return seen


@pytest.mark.parametrize("check_mode", [False, True])
def test_result(run_module, lab_host, check_mode):
    result, failed = run_module(network_info, {}, check_mode=check_mode)
    assert not failed, result
    assert result["changed"] is False and result["operations"] == []
    assert result["vars"]["host_bond_bridge_name"] == "bond0"
    assert "nic_bond" in result["modules"] and result["unmanaged"][0]["object"] == "libvirt network default"
    assert {"nodes", "edges"} == set(result["topology"]) and result["state"]["bonds"]["bond0"]["mode"] == "802.3ad"
    assert result["notes"] == []
    assert lab_host == [(None, "unix:/var/run/openvswitch/db.sock", "qemu:///system")]


def test_bad_uri_is_refused_before_reading(run_module, lab_host):
    result, failed = run_module(network_info, {"uri": "not a uri"})
    assert failed and result["msg"].startswith("uri: ") and lab_host == []
