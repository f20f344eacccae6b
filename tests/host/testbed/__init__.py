# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kvmnet.hypervisor host test bed (tier 2): real network namespaces, private Open vSwitch and
libvirtd instances, and an ansible-playbook runner. Used by tests/host/conftest.py (fixtures in
testbed.fixtures) and by the benchmark; every resource is named/prefixed ``kvt-`` and cleaned up.
"""
from .libvirtd import (DomainFactory, Libvirtd, bridge_iface, destroy_and_undefine, direct_iface, domain_xml,
                       get_kernel, ovs_iface)
from .netns import Netns
from .ovs import OvsInstance
from .playbook import PlaybookResult, TaskResult, run_playbook
from .util import TIMINGS, TestbedError, unique_ifname

__all__ = [
    "DomainFactory", "Libvirtd", "Netns", "OvsInstance", "PlaybookResult", "TaskResult", "TIMINGS",
    "TestbedError", "bridge_iface", "destroy_and_undefine", "direct_iface", "domain_xml", "get_kernel",
    "ovs_iface", "run_playbook", "unique_ifname", "reap_stale",
]


def reap_stale():
    """Clean up what dead test processes left behind (their kvt- netns, OVS and libvirtd instances)."""
    from . import libvirtd, netns, ovs

    return libvirtd.reap_stale() + ovs.reap_stale() + netns.reap_stale()
