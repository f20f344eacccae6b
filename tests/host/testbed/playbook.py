# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run tasks through a real ``ansible-playbook`` (connection local) and hand back per-task results.

    res = run_playbook([{"name": "touch", "ansible.builtin.file": {"path": p, "state": "touch"}}], diff=True)
    assert res.rc == 0 and res["touch"].changed and res["touch"].diff

ansible-playbook is the one next to sys.executable (the venv's); the managed "host" is localhost
with ansible_python_interpreter = sys.executable, so modules import the venv's pyroute2/ovs/libvirt.
ANSIBLE_COLLECTIONS_PATH comes from the environment (the Makefile sets build/src, which holds
ansible_collections/kvmnet/hypervisor -> the repo); if unset, <repo>/build/src is used when present.
Results come from the test bed's own aggregate callback (callback_plugins/kvt_results.py), so no
collection beyond ansible-core is needed; the default stdout callback still prints the usual log.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


@dataclass
class TaskResult:
    """One task's outcome on one host. ``result`` is the full module return (all return values)."""

    name: str
    action: str
    host: str
    status: str  # ok | failed | skipped | unreachable
    result: dict

    @property
    def changed(self):
        return bool(self.result.get("changed", False))

    @property
    def failed(self):
        return self.status in ("failed", "unreachable") or bool(self.result.get("failed", False))

    @property
    def skipped(self):
        return self.status == "skipped"

    @property
    def msg(self):
        return self.result.get("msg")

    @property
    def diff(self):
        return self.result.get("diff")

    def __getitem__(self, key):
        return self.result[key]

    def get(self, key, default=None):
        return self.result.get(key, default)


@dataclass
class PlaybookResult:
    rc: int
    tasks: list = field(default_factory=list)  # [TaskResult] in execution order
    stats: dict = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    playbook: str = ""

    def __getitem__(self, name):
        """The (last) result of the task with this name."""
        for task in reversed(self.tasks):
            if task.name == name:
                return task
        raise KeyError("no task named %r; tasks: %s" % (name, [t.name for t in self.tasks]))

    @property
    def changed(self):
        return any(t.changed for t in self.tasks)

    @property
    def failed(self):
        return self.rc != 0 or any(t.failed for t in self.tasks)

    def __str__(self):
        return "ansible-playbook rc=%d in %.2fs\n%s\n%s" % (self.rc, self.seconds, self.stdout, self.stderr)


def ansible_playbook_bin():
    cand = Path(sys.executable).parent / "ansible-playbook"
    if not cand.exists():
        raise FileNotFoundError("%s not found: install ansible-core in the venv of %s" % (cand, sys.executable))
    return str(cand)


def run_playbook(tasks, check=False, diff=False, extra_vars=None, env=None, timeout=600, verbosity=0,
                 play_vars=None):
    """Run ``tasks`` (a list of task dicts) in a one-play playbook against localhost; return PlaybookResult.

    check/diff map to --check/--diff; extra_vars is a dict passed with -e @file; env adds environment
    variables for ansible-playbook (and so for the modules it runs locally); play_vars are play vars.
    """
    with tempfile.TemporaryDirectory(prefix="kvt-play-") as work:
        work = Path(work)
        play = {
            "name": "kvt test play",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": dict({"ansible_python_interpreter": sys.executable}, **(play_vars or {})),
            "tasks": list(tasks),
        }
        playbook = work / "play.yml"
        playbook.write_text(json.dumps([play], indent=1))  # JSON is YAML
        argv = [ansible_playbook_bin(), "-i", "localhost,", str(playbook)]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        if extra_vars:
            (work / "extra.json").write_text(json.dumps(extra_vars))
            argv += ["-e", "@%s" % (work / "extra.json")]
        if verbosity:
            argv.append("-" + "v" * verbosity)
        results_file = work / "results.json"
        run_env = dict(os.environ)
        run_env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(REPO / "build" / "src"))
        # ansible-playbook runs in a temp dir: make relative search paths (PYTHONPATH=build/src) absolute
        for var in ("ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS", "PYTHONPATH"):
            if run_env.get(var):
                run_env[var] = os.pathsep.join(os.path.abspath(p) if p else p
                                               for p in run_env[var].split(os.pathsep))
        run_env.update({
            "KVT_RESULTS_FILE": str(results_file),
            "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "kvt_results",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_LOCAL_TEMP": str(work / "tmp"),
            "ANSIBLE_HOST_KEY_CHECKING": "0",
            "ANSIBLE_LOCALHOST_WARNING": "0",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
            "ANSIBLE_CONFIG": str(work / "ansible.cfg"),  # ignore any ansible.cfg of the cwd
        })
        (work / "ansible.cfg").write_text("[defaults]\n")
        run_env.update(env or {})
        t0 = time.monotonic()
        proc = subprocess.run(argv, cwd=work, env=run_env, capture_output=True, text=True, timeout=timeout,
                              check=False)
        seconds = time.monotonic() - t0
        data = json.loads(results_file.read_text()) if results_file.exists() else {"tasks": [], "stats": {}}
        return PlaybookResult(
            rc=proc.returncode,
            tasks=[TaskResult(name=t["task"], action=t["action"], host=t["host"], status=t["status"],
                              result=t["result"]) for t in data["tasks"]],
            stats=data.get("stats", {}),
            stdout=proc.stdout,
            stderr=proc.stderr,
            seconds=seconds,
            playbook=playbook.read_text(),
        )
