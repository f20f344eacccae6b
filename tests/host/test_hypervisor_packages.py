# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/hypervisor.yml installs the packages of every role a host runs in ONE package task,
and the roles' own package tasks then skip; included without the play, each role still installs
its own packages.

Real ansible-playbook runs in check mode (the package manager only simulates: nothing is
installed here), connection local, the distribution's Python (/usr/bin/python3: apt's check mode
needs python3-apt), the test bed's callback recording every task result. The roles chosen do
nothing else on this machine in check mode: irq_tuning, macvtap and virtio_multiqueue with empty
lists, ovs_vlan planning a bridge on a private Open vSwitch. virtio_multiqueue overrides its
package list (virtio_multiqueue_packages); a second case switches macvtap's packages off.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.playbook import REPO

SYSTEM_PYTHON = "/usr/bin/python3"
PACKAGE_ACTIONS = {"ansible.builtin.package", "package", "ansible.legacy.package"}
PLAY_PACKAGE_TASK = "Install the packages of every role this host runs, once (the roles skip them)"
ROLES = ("ovs_vlan", "irq_tuning", "macvtap", "virtio_multiqueue")
#: the role whose tasks install a role's packages (the OVS roles share ovs_service's preamble)
INSTALLER = {"ovs_vlan": "ovs_service"}


def _apt_check_mode_works():
    if not shutil.which("apt-get") or not os.path.exists(SYSTEM_PYTHON):
        return False
    return subprocess.run([SYSTEM_PYTHON, "-c", "import apt, ovs.db.idl"], capture_output=True,
                          check=False).returncode == 0


pytestmark = pytest.mark.skipif(not _apt_check_mode_works(),
                                reason="needs apt-get and /usr/bin/python3 with python3-apt and python3-openvswitch")


def _role_vars(ovs, macvtap_install):
    return {
        "ovs_vlan_bridge": "kvt-pkg-br", "ovs_vlan_manage_service": False, "ovs_vlan_database": ovs.db,
        "ovs_vlan_datapath_type": "netdev",
        "irq_tuning_interfaces": [],
        "macvtap_links": [], "macvtap_install_packages": macvtap_install,
        "virtio_multiqueue_interfaces": [], "virtio_multiqueue_packages": ["python3-libvirt"],
    }


def _run_play(tmp_path, host_vars):
    """The collection's playbook by its FQCN (as users run it), check mode, checkpoint off."""
    inventory = tmp_path / "inventory.json"
    host = dict(host_vars, ansible_connection="local", ansible_become=False,
                ansible_python_interpreter=SYSTEM_PYTHON, kvmnet_checkpoint=False)
    inventory.write_text(json.dumps({"hypervisors": {"hosts": {"h1": host}}}))
    results = tmp_path / "results.json"
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(REPO / "build" / "src"))
    env["ANSIBLE_COLLECTIONS_PATH"] = os.path.abspath(env["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep)[0])
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env.update({"ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_RETRY_FILES_ENABLED": "0", "KVT_RESULTS_FILE": str(results),
                "ANSIBLE_CALLBACK_PLUGINS": str(REPO / "tests" / "host" / "testbed" / "callback_plugins"),
                "ANSIBLE_CALLBACKS_ENABLED": "kvt_results"})
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), "--check",
            "kvmnet.hypervisor.hypervisor"]
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(results.read_text())["tasks"], proc.stdout


def _package_runs(tasks):
    """{task name: package list} of the package tasks that ran (not skipped) on the host."""
    runs = {}
    for task in tasks:
        if task["action"] in PACKAGE_ACTIONS and task["status"] != "skipped":
            assert task["status"] == "ok", task
            assert task["task"] not in runs, "%s ran twice" % task["task"]
            runs[task["task"]] = task["result"]["invocation"]["module_args"]["name"]
    return runs


def _prefix(role):
    return "kvmnet.hypervisor.%s :" % INSTALLER.get(role, role)


def _role_package_tasks(tasks, role):
    return [t for t in tasks if t["action"] in PACKAGE_ACTIONS and t["task"].startswith(_prefix(role))]


@pytest.mark.parametrize("macvtap_install", [True, False], ids=["all-roles-install", "macvtap-packages-off"])
def test_one_package_task_for_the_play_and_each_role_alone_installs_its_own(ovs, tmp_path, run_playbook,
                                                                            macvtap_install):
    role_vars = _role_vars(ovs, macvtap_install)

    # each role without the play: its own package task installs its own list
    alone = run_playbook([{"name": role, "ansible.builtin.include_role": {"name": "kvmnet.hypervisor.%s" % role}}
                          for role in ROLES], check=True,
                         play_vars=dict(role_vars, ansible_python_interpreter=SYSTEM_PYTHON))
    assert alone.rc == 0, alone
    alone_runs = _package_runs([{"task": t.name, "action": t.action, "status": t.status, "result": t.result}
                                for t in alone.tasks])
    by_role = {role: [names for task, names in alone_runs.items() if task.startswith(_prefix(role))] for role in ROLES}
    # ovs_vlan's list comes from its vars/Debian.yml through ovs_service; the override wins for virtio_multiqueue
    assert by_role["ovs_vlan"] == [["openvswitch-switch", "python3-openvswitch"]], alone_runs
    assert by_role["irq_tuning"] == [["irqbalance"]], alone_runs
    assert by_role["virtio_multiqueue"] == [["python3-libvirt"]], alone_runs
    assert by_role["macvtap"] == ([["python3-pyroute2"]] if macvtap_install else []), alone_runs
    wanted = sorted({name for lists in by_role.values() for names in lists for name in names})

    # through the play: one package execution on the host, with exactly that union
    tasks, stdout = _run_play(tmp_path, role_vars)
    runs = _package_runs(tasks)
    assert list(runs) == [PLAY_PACKAGE_TASK], stdout
    assert sorted(runs[PLAY_PACKAGE_TASK]) == wanted, stdout
    for role in ROLES:
        own = _role_package_tasks(tasks, role)
        assert own and all(t["status"] == "skipped" for t in own), (role, own)
    # the roles really ran in the play (their argument validation too), not skipped as a whole
    for role in ROLES:
        assert any(t["task"].startswith("kvmnet.hypervisor.%s : Validating arguments" % role)
                   and t["status"] == "ok" for t in tasks), (role, stdout)
