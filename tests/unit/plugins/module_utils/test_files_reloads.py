# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""plan_reloads: a reload only after a file of its daemon changed."""

from __future__ import annotations

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _files
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation


def test_reloads_follow_the_files_that_changed():
    unit = Operation("write_file", "/etc/systemd/system/kvmnet-irq@.service")
    rule = Operation("remove_file", "/etc/udev/rules.d/90-kvmnet-irq-eth0.rules")
    network = Operation("write_file", "/etc/systemd/network/30-bond0.network")
    assert [o.action for o in _files.plan_reloads([unit, rule])] == ["reload_systemd", "reload_udev"]
    assert [o.action for o in _files.plan_reloads([rule])] == ["reload_udev"]
    assert _files.plan_reloads([network, Operation("set_affinity", "eth0")]) == []
