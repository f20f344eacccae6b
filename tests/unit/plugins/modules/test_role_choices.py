# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A role option that feeds a module option offers exactly the module's choices.

The choices live once in module_utils; the module's argument spec imports them and
validate-modules holds the module's DOCUMENTATION to the spec. Role argument specs are plain
YAML that Ansible checks on the controller, so this test is what keeps them in step: a choice
added to the module but not to the role (or the reverse) fails here.
"""

from __future__ import annotations

import importlib
import os

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))

#: (role, path of the role option, module, path of the module option); a path goes through
#: list/dict suboptions by name
FEEDS = [
    ("host_bond_bridge", ["host_bond_bridge_lacp_rate"], "nic_bond", ["lacp_rate"]),
    ("host_bond_bridge", ["host_bond_bridge_xmit_hash_policy"], "nic_bond", ["xmit_hash_policy"]),
    ("host_bond_bridge", ["host_bond_bridge_ad_select"], "nic_bond", ["ad_select"]),
    ("host_bond_bridge", ["host_bond_bridge_persist"], "nic_bond", ["persist"]),
    ("irq_tuning", ["irq_tuning_irqbalance_mode"], "irq_affinity", ["irqbalance_mode"]),
    ("libvirt_networks", ["libvirt_networks_list", "state"], "libvirt_network", ["state"]),
    ("libvirt_networks", ["libvirt_networks_list", "forward_mode"], "libvirt_network", ["forward_mode"]),
    ("libvirt_networks", ["libvirt_networks_list", "macvtap_mode"], "libvirt_network", ["macvtap_mode"]),
    ("libvirt_networks", ["libvirt_networks_list", "vlan", "native_mode"], "libvirt_network", ["vlan", "native_mode"]),
    ("libvirt_networks", ["libvirt_networks_list", "portgroups", "vlan", "native_mode"], "libvirt_network",
     ["portgroups", "vlan", "native_mode"]),
    ("linux_bridge", ["linux_bridge_persist"], "linux_bridge", ["persist"]),
    ("macvtap", ["macvtap_links", "mode"], "macvtap", ["mode"]),
    ("macvtap", ["macvtap_links", "admin_state"], "macvtap", ["admin_state"]),
    ("macvtap", ["macvtap_links", "state"], "macvtap", ["state"]),
    ("ovs_bond", ["ovs_bond_mode"], "ovs_bond", ["bond_mode"]),
    ("ovs_bond", ["ovs_bond_lacp"], "ovs_bond", ["lacp"]),
    ("ovs_bond", ["ovs_bond_lacp_time"], "ovs_bond", ["lacp_time"]),
    ("ovs_bond", ["ovs_bond_link_detection"], "ovs_bond", ["link_detection"]),
    ("ovs_bond", ["ovs_bond_clear"], "ovs_bond", ["clear"]),
    ("ovs_interconnect", ["ovs_interconnect_link_type"], "ovs_patch", ["link_type"]),
    ("ovs_interconnect", ["ovs_interconnect_state"], "ovs_patch", ["state"]),
    ("sriov", ["sriov_vfs", "link_state"], "sriov_vf", ["vfs", "link_state"]),
    ("vhost_net", ["vhost_net_state"], "vhost_net", ["state"]),
    ("virtio_multiqueue", ["virtio_multiqueue_driver"], "libvirt_iface", ["driver_name"]),
]


def _walk(options, path, where):
    node = None
    for name in path:
        assert name in options, "%s: no option %r" % (where, name)
        node = options[name]
        options = node.get("options") or node.get("suboptions") or {}
    return node


def role_option(role, path):
    with open(os.path.join(REPO, "roles", role, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
    return _walk(spec, path, "role %s" % role)


def module_option(module, path):
    mod = importlib.import_module("ansible_collections.kvmnet.hypervisor.plugins.modules.%s" % module)
    return _walk(yaml.safe_load(mod.DOCUMENTATION)["options"], path, "module %s" % module)


@pytest.mark.parametrize("role,role_path,module,module_path", FEEDS,
                         ids=["%s.%s" % (f[0], ".".join(f[1])) for f in FEEDS])
def test_role_offers_the_module_choices(role, role_path, module, module_path):
    role_choices = role_option(role, role_path).get("choices")
    module_choices = module_option(module, module_path).get("choices")
    assert module_choices, "module %s option %s has no choices" % (module, ".".join(module_path))
    assert sorted(map(str, role_choices or [])) == sorted(map(str, module_choices))


def test_every_role_option_with_choices_is_checked():
    """A new role option with choices must be added to FEEDS (or its choices are a second home)."""
    checked = {(role, tuple(path)) for role, path, _m, _p in FEEDS}
    found = set()
    for role in sorted(os.listdir(os.path.join(REPO, "roles"))):
        path = os.path.join(REPO, "roles", role, "meta", "argument_specs.yml")
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as handle:
            options = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
        stack = [((), options)]
        while stack:
            prefix, opts = stack.pop()
            for name, node in opts.items():
                if node.get("choices"):
                    found.add((role, prefix + (name,)))
                sub = node.get("options") or node.get("suboptions")
                if sub:
                    stack.append((prefix + (name,), sub))
    unchecked = found - checked
    # role-level switches that no module takes (how the role drives a service)
    unchecked.discard(("irq_tuning", ("irq_tuning_irqbalance",)))
    assert not unchecked, "role options with choices not compared with a module: %s" % sorted(unchecked)
