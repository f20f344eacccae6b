# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/hypervisor.yml's rollout: a batch that loses hosts (unreachable, not failed) stops
the run like max_fail_percentage does for failed hosts (Ansible does not count unreachable ones).

A real ansible-playbook over a fleet of four inventory hosts in batches [1, 2, 1]: three reach
this machine with the local connection, one is an ssh host on a loopback port nothing listens
on. No role variable is set, so the play changes nothing here; the checkpoint is off (it would
arm a systemd timer on this machine).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens on it from here on
    return port


def _run(tmp_path, max_fail):
    inv = tmp_path / "inventory.yml"
    local = {"ansible_connection": "local", "ansible_become": False,
             "ansible_python_interpreter": sys.executable}
    inv.write_text(textwrap.dedent("""\
        hypervisors:
          hosts:
            h1: {local}
            h2: {{ansible_host: 127.0.0.1, ansible_port: {port}, ansible_user: nobody,
                  ansible_ssh_common_args: "-o ConnectTimeout=3 -o StrictHostKeyChecking=no"}}
            h3: {local}
            h4: {local}
        """).format(local=repr(local).replace("'", '"').replace("False", "false"), port=_free_port()))
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(REPO / "build" / "src"))
    env.update({"ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0",
                "ANSIBLE_HOST_KEY_CHECKING": "0", "ANSIBLE_CONFIG": str(tmp_path / "none.cfg")})
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inv),
            str(REPO / "playbooks" / "hypervisor.yml"),
            "-e", '{"kvmnet_checkpoint": false, "kvmnet_serial": [1, 2, 1], '
                  '"kvmnet_max_fail_percentage": %d}' % max_fail]
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    recap = proc.stdout[proc.stdout.rfind("PLAY RECAP"):]
    hosts = {line.split()[0]: line for line in recap.splitlines()[1:] if ":" in line}
    return proc, hosts


def test_a_batch_that_loses_a_host_stops_the_rollout(tmp_path):
    proc, hosts = _run(tmp_path, max_fail=0)
    assert proc.returncode != 0, proc.stdout
    assert "unreachable=1" in hosts["h2"], proc.stdout
    # h3 (the same batch) finished its part, then the rollout stopped: h4 never started
    assert "ok=" in hosts["h3"] and "failed=1" in hosts["h3"], proc.stdout
    assert "h4" not in hosts, proc.stdout
    assert "the rollout stops: h2 of this batch (1/2)" in proc.stdout


@pytest.mark.parametrize("max_fail", [50])
def test_a_lost_host_within_the_percentage_lets_the_rollout_go_on(tmp_path, max_fail):
    proc, hosts = _run(tmp_path, max_fail=max_fail)
    # 1 of 2 is 50 %: not more than kvmnet_max_fail_percentage, so h4 runs
    assert "unreachable=1" in hosts["h2"], proc.stdout
    assert "failed=0" in hosts["h4"] and "failed=0" in hosts["h3"], proc.stdout
    assert proc.returncode == 4, proc.stdout  # ansible-playbook's exit code for unreachable hosts
