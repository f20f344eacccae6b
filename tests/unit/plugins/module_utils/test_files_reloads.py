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


def test_a_rollback_reloads_the_running_network_daemon_of_its_files(monkeypatch):
    """network=True (a rollback putting files back): the reload of each running network daemon
    whose directory holds a restored file, run with the package named if its command is missing."""
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _persist_net

    networkd = Operation("remove_file", "/etc/systemd/network/30-kvmnet-bond0.network")
    keyfile = Operation("write_file", "/etc/NetworkManager/system-connections/kvmnet-br1.nmconnection")
    monkeypatch.setattr(_persist_net, "running_daemons", lambda proc="/proc": {"systemd-network"})
    ops = _files.plan_reloads([networkd, keyfile], network=True)
    assert [(o.action, o.target, o.params["command"]) for o in ops] == [
        ("reload_networkd", "networkd", ["networkctl", "reload"])]   # NetworkManager does not run
    assert _files.plan_reloads([networkd]) == []                      # a module's own plan: not here
    ran = []
    monkeypatch.setattr(_persist_net, "run_command", lambda argv, what, package=None: ran.append((argv, package)))
    assert _files.apply_reload_operation(ops[0], "rolling back") is True
    assert ran == [(["networkctl", "reload"], "systemd")]
