# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/hypervisor.yml's one package task installs exactly what the roles it includes would
install alone, and each role's own package task skips under the play's fact.

Ansible's own templating evaluates the expressions as they are written in the files: the play's
vars and include conditions, each role's defaults, its vars/<os_family>.yml and the `when` and
`name` of its package task (for the OVS roles: the ovs_service preamble with the variables the
role imports it with). The inventories are the lab's (tests/vm/lab/group_vars/hypervisors.yml)
and the lab's with the roles' switches and overrides turned. Variable precedence as Ansible's:
role defaults < inventory < play vars < included vars files. tests/host/test_hypervisor_packages.py
runs the same through ansible-playbook on a few roles.
"""
from __future__ import annotations

import os

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

try:  # ansible-core >= 2.19 templates only strings marked as trusted (as its loader marks a playbook's)
    from ansible.template import trust_as_template
except ImportError:  # older lines template every string
    def trust_as_template(value):
        return value

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FAMILY = "Debian"
PACKAGE_MODULES = ("ansible.builtin.package", "package")


def _yaml(*parts):
    with open(os.path.join(REPO, *parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _trusted(value):
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {key: _trusted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_trusted(item) for item in value]
    return value


def _evaluate(variables, expression):
    templar = Templar(loader=DataLoader(), variables=_trusted(variables))
    return templar.template(trust_as_template("{{ %s }}" % expression.strip()))


def _all_true(variables, when):
    conditions = when if isinstance(when, list) else [when]
    for condition in conditions:  # Ansible's `when` list: all must hold, evaluated in order
        result = _evaluate(variables, str(condition))
        assert isinstance(result, bool), (condition, result)
        if not result:
            return False
    return True


def _walk(tasks):
    for task in tasks or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _walk(task.get(key))


PLAY = _yaml("playbooks", "hypervisor.yml")[0]
LAB = _yaml("tests", "vm", "lab", "group_vars", "hypervisors.yml")
INCLUDES = {task["ansible.builtin.include_role"]["name"].split(".")[-1]: task
            for task in _walk(PLAY["tasks"]) if "ansible.builtin.include_role" in task}


def _family_vars(role):
    path = os.path.join(REPO, "roles", role, "vars", FAMILY + ".yml")
    return _yaml(path) if os.path.exists(path) else {}


def _play(inventory):
    """(roles the play includes, the packages of its one package task) for one host."""
    variables = dict(inventory, **PLAY["vars"])
    roles = _evaluate(variables, "__kvmnet_roles")
    included = [role for role, task in INCLUDES.items() if _all_true(variables, task["when"])]
    assert sorted(roles) == sorted(included), "the roles the play loads names for are not the ones it includes"
    for role in roles:  # the play's include_vars task
        variables.update(_family_vars(role))
    return included, _evaluate(variables, "__kvmnet_packages")


def _package_task(role):
    """(the variables the task adds, the package task) of the role: its own, or ovs_service's."""
    for task in _walk(_yaml("roles", role, "tasks", "main.yml")):
        for module in PACKAGE_MODULES:
            if module in task:
                return {}, task
        if (task.get("ansible.builtin.import_role") or {}).get("name") == "kvmnet.hypervisor.ovs_service":
            return task["vars"], _package_task("ovs_service")[1]
    return {}, None


def _role_alone(role, inventory, ensured=None):
    """What the role's package task installs on this host, None when it is skipped."""
    variables = dict(_yaml("roles", role, "defaults", "main.yml") or {})
    variables.update(inventory)
    variables.update(_family_vars(role))
    if ensured is not None:
        variables["__kvmnet_packages_ensured"] = ensured
    task_vars, task = _package_task(role)
    assert task is not None, "%s has no package task" % role
    variables.update(task_vars)
    if not _all_true(variables, task.get("when", True)):
        return None
    module = next(task[m] for m in PACKAGE_MODULES if m in task)
    return _evaluate(variables, module["name"].strip("{} "))


#: the lab, and the lab with every kind of switch and override turned
INVENTORIES = {
    "lab": LAB,
    "lab-switches-and-overrides": dict(
        LAB,
        vhost_net_state="absent",                      # the role runs, installs nothing
        macvtap_install_packages=False,
        irq_tuning_irqbalance="stopped",               # no irqbalance package then
        ovs_interconnect_install_packages=False,
        ovs_bond_packages=["openvswitch-switch"],      # an override smaller than the family's list
        linux_bridge_packages=["python3-pyroute2", "bridge-utils"],
        libvirt_networks_list=[],                      # the role is not included at all
    ),
    "lab-guest-roles": dict(
        LAB,
        virtio_multiqueue_interfaces=[{"domain": "g1", "mac": "52:54:00:00:00:01"}],
        pci_passthrough_bind_devices=["0000:01:00.0"],
        pci_passthrough_packages=["python3-libvirt", "driverctl"],
        sriov_install_packages=False,
    ),
}


def test_every_include_of_the_play_reads_the_play_switch_of_its_role():
    """One home for the switches: the includes and the package union read __kvmnet_roles_run."""
    assert set(INCLUDES) == set(PLAY["vars"]["__kvmnet_roles_run"]) == set(PLAY["vars"]["__kvmnet_role_packages"])
    for role, task in INCLUDES.items():
        assert task["when"] == "__kvmnet_roles_run.%s | bool" % role, task


@pytest.mark.parametrize("name", sorted(INVENTORIES))
def test_the_play_installs_exactly_what_its_roles_install_alone(name):
    inventory = INVENTORIES[name]
    included, packages = _play(inventory)
    assert included, "the inventory includes no role"
    alone = {role: _role_alone(role, inventory) for role in included}
    wanted = [package for role in included for package in alone[role] or []]
    assert sorted(packages) == sorted(set(wanted)), alone
    assert len(packages) == len(set(packages)), packages
    # under the play's fact every role's own package task is skipped; alone, it runs when it installs
    for role in included:
        assert _role_alone(role, inventory, ensured=packages) is None, role
        assert alone[role] is None or alone[role], (role, "a package task that runs installs something")


def test_the_lab_play_covers_every_role_that_installs():
    """The lab runs eleven roles, and each installs packages (vhost_net, the bond, the bridge, three
    OVS roles, SR-IOV, the libvirt networks, irqbalance, macvtap, PCI passthrough for its guest's
    VF): one task for all of them."""
    included, packages = _play(LAB)
    installing = [role for role in included if _role_alone(role, LAB)]
    assert len(included) == 11 and installing == included, (included, installing)
    assert "irqbalance" in packages and "openvswitch-switch" in packages, packages


def test_a_role_whose_names_the_play_did_not_install_still_installs_them():
    """The skip compares package names: a role whose list the play left out installs its own."""
    packages = _play(LAB)[1]
    partial = [p for p in packages if p != "python3-pyroute2"]
    assert _role_alone("macvtap", LAB, ensured=partial) == ["python3-pyroute2"]
    assert _role_alone("ovs_interconnect", LAB, ensured=partial) is not None
