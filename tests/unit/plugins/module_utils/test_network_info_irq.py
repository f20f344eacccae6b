# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""network_info's IRQ section on a fake tree: what irq_affinity pinned is gathered from its own
record, and the gathered arguments plan nothing (the round trip); nothing else is gathered."""

from __future__ import annotations

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _network_info_vars as V
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._network_info import Gatherer

from test_irq_affinity import fake_host, mq_tree, resource  # noqa: F401  # pylint: disable=unused-import


def gathered(root):
    section = Gatherer(None, None, None, None, root=root).irq()
    return section, V.map_state({"irq": section}, {})


def test_nothing_pinned_nothing_gathered(mq_tree):
    section, mapped = gathered(mq_tree)
    assert section["interfaces"] == {} and mapped == {"vars": {}, "modules": {}, "unmanaged": []}


@pytest.mark.parametrize("params", [
    {"cpus": "0-1", "xps": True, "rps_cpus": "2", "persist": True, "irqbalance_ban": True,
     "irqbalance_mode": "power-save", "combined_channels": 4},
    {"queue_cpus": [{"queue": 1, "cpus": "3"}], "combined_channels": 2, "persist": True},
    {"cpus": "2-3", "irqbalance_ban": True},
])
def test_round_trip(mq_tree, params):
    assert execute(resource(mq_tree, **params))["changed"]
    section, mapped = gathered(mq_tree)
    [args] = mapped["modules"]["irq_affinity"]
    assert args["interface"] == "enp0s10"
    assert args["persist"] is bool(params.get("persist")) and args["irqbalance_ban"] is bool(params.get("irqbalance_ban"))
    again = execute(resource(mq_tree, **args))
    assert again["operations"] == [] and again["changed"] is False
    entry = mapped["vars"]["irq_tuning_interfaces"][0]
    assert entry == {k: v for k, v in args.items() if k not in ("persist", "irqbalance_ban", "irqbalance_mode")}
    assert mapped["vars"]["irq_tuning_irqbalance"] == "stopped"  # no irqbalance process in the tree
    assert mapped["vars"]["irq_tuning_irqbalance_mode"] == params.get("irqbalance_mode", "performance")
