# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write the bad-input sweep's cases (JSON) and the payload that runs them on a managed host.

On the controller (hypothesis is a dev dependency there, not on a managed host)::

    PYTHONPATH=build/src python tests/badinput/generate.py --examples 12 --seed 12 \\
        --cases build/badinput/cases.json --payload build/badinput/sweep.pyz

``--cases``: per module the seeds of tests/badinput/tables.py (the inputs always run) plus
``--examples`` mutations drawn from the module's own argument spec with a fixed ``--seed``
(the same strategies as the host tier, tests/host/testbed/sweep.py), with the module's valid
base and aliases. ``--payload``: a zip application holding tests/badinput/runner.py, this
controller's ``ansible.module_utils`` (what AnsiballZ would ship) and the collection's
modules and module_utils: ``python3 sweep.pyz cases.json --report report.json`` on the host.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "host"))
sys.path.insert(0, os.path.join(TESTS, "perf"))
sys.path.insert(0, HERE)

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from engine_bench import module_contract  # noqa: E402  # pylint: disable=wrong-import-position
from tables import BASES, MODULES, SEEDS  # noqa: E402  # pylint: disable=wrong-import-position
from testbed.sweep import mutations  # noqa: E402  # pylint: disable=wrong-import-position


def draw(module, examples, seed_value):
    """The seeds and ``examples`` distinct drawn mutations of ``module``, as runner cases."""
    conf = MODULES[module]
    spec, _kwargs, _resource = module_contract(module)
    strategy = mutations(spec, BASES[module], classes=conf.get("classes"), ranges=conf.get("ranges"),
                         huge_ok=conf.get("huge_ok", ()), contradictions=conf.get("contradictions", ()))
    cases, seen = [], set()

    def keep(mutation):
        key = repr(mutation)
        if key not in seen:
            seen.add(key)
            cases.append(mutation.case(module, BASES[module]))

    for mutation in SEEDS.get(module, []):
        keep(mutation)
    drawn = []

    @seed(seed_value)
    @settings(max_examples=examples * 3, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(mutation):
        if len(drawn) < examples and repr(mutation) not in seen:
            drawn.append(mutation)
            keep(mutation)

    collect()
    return cases


def write_cases(path, examples, seed_value, modules=None):
    doc = {"seed": seed_value, "examples": examples, "bases": BASES,
           "aliases": {m: {k: list(v) for k, v in c.get("aliases", {}).items()} for m, c in MODULES.items()},
           "cases": []}
    for module in sorted(modules or MODULES):
        doc["cases"].extend(draw(module, examples, seed_value))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(doc, handle, indent=0, sort_keys=True)
    return doc


def write_payload(path):
    """A zip application: runner.py (and beds.py) as __main__, ansible.module_utils and the collection's code."""
    import ansible  # pylint: disable=import-outside-toplevel
    from ansible_collections.kvmnet.hypervisor import plugins  # pylint: disable=import-outside-toplevel

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("runner.py", "beds.py"):
            zf.write(os.path.join(HERE, name), name)
        zf.writestr("__main__.py", "import sys\nimport runner\nsys.exit(runner.main())\n")
        zf.writestr("ansible/__init__.py", "")
        core = os.path.join(os.path.dirname(ansible.__file__), "module_utils")
        _add_tree(zf, core, "ansible/module_utils")
        for pkg in ("ansible_collections", "ansible_collections/kvmnet", "ansible_collections/kvmnet/hypervisor",
                    "ansible_collections/kvmnet/hypervisor/plugins"):
            zf.writestr(pkg + "/__init__.py", "")
        base = os.path.dirname(plugins.__file__) if plugins.__file__ else list(plugins.__path__)[0]
        for sub in ("modules", "module_utils"):
            _add_tree(zf, os.path.join(base, sub), "ansible_collections/kvmnet/hypervisor/plugins/" + sub)
    return path


def _add_tree(zf, top, arcdir):
    for base, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        rel = os.path.relpath(base, top)
        for name in sorted(files):
            if name.endswith(".py"):
                zf.write(os.path.join(base, name), os.path.normpath(os.path.join(arcdir, rel, name)))
        if "__init__.py" not in files:
            zf.writestr(os.path.normpath(os.path.join(arcdir, rel, "__init__.py")), "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--cases")
    parser.add_argument("--payload")
    parser.add_argument("--examples", type=int, default=12, help="drawn mutations per module (plus the seeds)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--modules", help="comma separated (default, or empty: all)")
    args = parser.parse_args()
    if args.cases:
        doc = write_cases(args.cases, args.examples, args.seed, args.modules.split(",") if args.modules else None)
        print("%s: %d cases" % (args.cases, len(doc["cases"])))
    if args.payload:
        print(write_payload(args.payload))


if __name__ == "__main__":
    main()
