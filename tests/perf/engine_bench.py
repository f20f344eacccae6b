# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine alone: run playbook-shaped tasks of our modules through ``execute()``, no Ansible.

usage: PYTHONPATH=build/src python engine_bench.py TASKS.json
TASKS.json is a list of tasks as bench.py writes them ({"name": ..., "kvmnet.hypervisor.X": params}).
Each module's parameters are validated with the module's own argument spec (Ansible's
ArgumentSpecValidator: defaults filled in, types converted) *before* the clock starts, so the
time is the Resource's work only: normalize, read, plan, apply, verify. Prints one JSON line.
"""
from __future__ import annotations

import importlib
import json
import sys
import time

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute

PREFIX = "kvmnet.hypervisor."


class _Captured(Exception):
    """Raised by the stand-in run() once the argument spec and the Resource class are known."""


def module_spec(name):
    """(argument_spec, Resource class) of plugins/modules/<name>.py, taken from its main():
    AnsibleModule and run() are replaced while main() runs, so what they receive is captured."""
    spec, _kwargs, resource = module_contract(name)
    return spec, resource


def module_contract(name):
    """(argument_spec, the other keyword arguments given to AnsibleModule (required_if,
    mutually_exclusive, supports_check_mode, ...), Resource class) of plugins/modules/<name>.py
    (None for a module that is no Resource: checkpoint)."""
    mod = importlib.import_module("ansible_collections.kvmnet.hypervisor.plugins.modules.%s" % name)
    captured = {}

    class FakeModule:  # pylint: disable=too-few-public-methods
        """Takes the place of AnsibleModule (a class: the modules subclass it, _module.new_module)."""

        def __init__(self, argument_spec, **kwargs):
            captured.update(spec=argument_spec, kwargs=kwargs)

    def fake_run(module, resource_class=None):  # checkpoint's run() takes the module alone
        captured["resource"] = resource_class
        raise _Captured()

    real = mod.AnsibleModule, mod.run
    mod.AnsibleModule, mod.run = FakeModule, fake_run
    try:
        mod.main()
    except _Captured:
        pass
    finally:
        mod.AnsibleModule, mod.run = real
    if "spec" not in captured or "resource" not in captured:
        raise SystemExit("engine_bench: cannot find the argument spec / Resource of %s" % name)
    return captured["spec"], captured["kwargs"], captured["resource"]


def main():
    tasks = json.load(open(sys.argv[1], encoding="utf-8"))
    prepared = []
    for task in tasks:
        (key, params), = [(k, v) for k, v in task.items() if k.startswith(PREFIX)]
        spec, resource_class = module_spec(key[len(PREFIX):])
        result = ArgumentSpecValidator(spec).validate(params)
        if result.error_messages:
            raise SystemExit("engine_bench: %s: %s" % (key, result.error_messages))
        prepared.append((task.get("name", key), resource_class, result.validated_parameters))
    out = {"changed": 0, "items": 0, "failed": 0, "errors": [], "tasks": []}
    t0 = time.perf_counter()
    for name, resource_class, params in prepared:
        t1 = time.perf_counter()
        try:
            res = execute(resource_class(params), check_mode=False)
            out["changed"] += bool(res["changed"])
        except Exception as exc:  # noqa: BLE001 - report, keep measuring the rest
            out["failed"] += 1
            out["errors"].append("%s: %s" % (name, getattr(exc, "msg", exc)))
        out["items"] += 1
        out["tasks"].append([name, time.perf_counter() - t1])
    out["seconds"] = time.perf_counter() - t0
    print(json.dumps(out))


if __name__ == "__main__":
    main()
