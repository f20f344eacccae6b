# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every module that takes a shared option group gets it, defaults included, through Ansible."""

from __future__ import annotations

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._common_args import (
    LIBVIRT_ARGS,
    NETNS_ARGS,
    OVSDB_ARGS,
)
from ansible_collections.kvmnet.hypervisor.plugins.modules import (
    libvirt_hostdev,
    libvirt_iface,
    libvirt_network,
    libvirt_nodedev_info,
    libvirt_sriov_network,
    linux_bridge,
    macvtap,
    network_info,
    nic_bond,
    ovs_bond,
    ovs_bridge,
    ovs_patch,
    sriov_vf,
)

CASES = [
    (ovs_bond, {"name": "bond0", "state": "absent"}, [OVSDB_ARGS]),
    (ovs_bridge, {"name": "br0"}, [OVSDB_ARGS]),
    (ovs_patch, {"bridge": "br0", "peer_bridge": "br1"}, [OVSDB_ARGS, NETNS_ARGS]),
    (libvirt_hostdev, {"domain": "vm1", "source": "0000:03:10.0"}, [LIBVIRT_ARGS]),
    (libvirt_iface, {"domain": "vm1", "mac": "52:54:00:00:00:01"}, [LIBVIRT_ARGS]),
    (libvirt_network, {"name": "net0", "state": "absent"}, [LIBVIRT_ARGS]),
    (libvirt_nodedev_info, {}, [LIBVIRT_ARGS]),
    (libvirt_sriov_network, {"name": "net0", "state": "absent"}, [LIBVIRT_ARGS]),
    (sriov_vf, {"pf": "eth0"}, [LIBVIRT_ARGS]),
    (linux_bridge, {"name": "br0"}, [NETNS_ARGS]),
    (macvtap, {"name": "mvt0", "state": "absent"}, [NETNS_ARGS]),
    (nic_bond, {"name": "bond0"}, [NETNS_ARGS]),
    (network_info, {}, [NETNS_ARGS, OVSDB_ARGS, LIBVIRT_ARGS]),
]


@pytest.fixture
def params_of(monkeypatch, run_module):
    """params_of(module, args) -> the module's parameters after Ansible's argument handling."""

    def _params(module, args):
        # the engine is replaced: the test is about the argument spec, nothing is read or changed
        monkeypatch.setattr(module, "run", lambda ansible_module, _cls: ansible_module.exit_json(
            params=dict(ansible_module.params)))
        result, failed = run_module(module, args)
        assert not failed, result
        return result["params"]

    return _params


@pytest.mark.parametrize("module, args, groups", CASES, ids=[c[0].__name__.rsplit(".", 1)[-1] for c in CASES])
def test_shared_options_and_their_defaults(params_of, module, args, groups):
    params = params_of(module, args)
    for group in groups:
        for name, spec in group.items():
            assert params[name] == spec.get("default"), name


def test_a_shared_option_given_is_passed_on(params_of):
    params = params_of(ovs_patch, {"bridge": "br0", "peer_bridge": "br1", "database": "tcp:192.0.2.1:6640",
                                   "timeout": 3, "netns": "lab"})
    assert (params["database"], params["timeout"], params["netns"]) == ("tcp:192.0.2.1:6640", 3, "lab")


@pytest.mark.parametrize("module, args, option", [
    (ovs_bond, {"name": "bond0", "state": "absent", "lacp": "on"}, "lacp"),
    (ovs_bond, {"name": "bond0", "state": "absent", "bond_mode": "802.3ad"}, "bond_mode"),
    (ovs_bridge, {"name": "br0", "ports": [{"name": "p0", "vlan_mode": "dot1q"}]}, "vlan_mode"),
    (ovs_patch, {"bridge": "br0", "peer_bridge": "br1", "link_type": "tunnel"}, "link_type"),
    (nic_bond, {"name": "bond0", "xmit_hash_policy": "layer5"}, "xmit_hash_policy"),
    (macvtap, {"name": "mvt0", "state": "absent", "mode": "vepa2"}, "mode"),
])
def test_choices_from_module_utils_are_enforced(run_module, module, args, option):
    result, failed = run_module(module, args)
    assert failed
    assert option in result["msg"] and "must be one of" in result["msg"], result["msg"]
