# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bad-input sweep's runner: many cases in ONE Python process, each through the module's
real entry point, on the host it runs on (issue 12).

A case (written by tests/badinput/generate.py on the controller, or drawn live by
tests/host/test_bad_input_sweep.py) is ``{"module", "kind", "note", "paths", "params"}``:
``params`` the whole parameter set (a valid base with ONE mutation, or a contradicting group),
``paths`` the option paths a refusal must name (``[["ports", 0, "name"]]``). Values that are
placeholders (``"@netns"``, ``"@db"``, ...) are replaced by what the bed made on this host.

For each case, :func:`run_module` sets ``ansible.module_utils.basic._ANSIBLE_ARGS`` as
AnsiballZ does, calls the module's ``main()`` with stdout captured, catches ``SystemExit`` and
reads the JSON the module printed; :func:`judge` then asserts: ``failed`` is true, the message
names the option, no traceback and no ``MODULE FAILURE`` / internal error, ``changed`` false,
a refusal of the collection is a typed one, and the host snapshot is identical before / after.
A case the module ACCEPTS is a finding too: the strategies only generate invalid input.

Only the standard library (plus ansible's module_utils and the collection, which the payload
puts on sys.path): it runs with the distribution's Python on a managed host. Usage there::

    python3 sweep.pyz CASES.json --report REPORT.json [--env ENV.json]   # generate.py --payload

ENV.json says where the backends are (defaults: the host's own): ``ovs_db``, ``ovs_netns``
(where ovs-vswitchd runs: ports are made there), ``uri``, ``libvirt_netns``, ``pci`` (a PCI
address whose current driver binding is the base of pci_device), ``sriov_pf``, ``irq_if`` (a
multi-queue virtio NIC), ``tmp``. A module whose bed cannot be made here is skipped with the
reason (in the report); the beds and snapshots are beds.py. Exit status 0 when every case was
refused properly, 1 otherwise.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import re
import sys
import time
import traceback

from beds import BEDS, DEFAULT_ENV, Skip  # pylint: disable=import-error

MODULES_PKG = "ansible_collections.kvmnet.hypervisor.plugins.modules."
#: refusals of the collection (the ``error`` key of a failed result): bad input
REFUSAL_KINDS = ("invalid_input", "not_found", "conflict", "unsupported")
#: for the options that say where a backend is (uri, database), "cannot reach it" is a refusal too
CONNECTION_KINDS = REFUSAL_KINDS + ("backend_unavailable",)
CONNECTION_OPTIONS = ("uri", "database")


# ------------------------------------------------------------------------------ the entry point
def _rooted(resource_class, root):
    """``resource_class`` built with ``root=`` (host tier: a sysfs / proc tree under a test root,
    where this machine lacks the device). Named like the original: messages stay the same."""

    class Rooted(resource_class):  # pylint: disable=too-few-public-methods
        def __init__(self, params):
            super().__init__(params, root=root)

    Rooted.__name__ = Rooted.__qualname__ = resource_class.__name__
    return Rooted


def run_module(name, params, check_mode=False, root=None):
    """Run plugins/modules/<name>.py as Ansible runs it, in this process.

    Returns ``{"result": the JSON the module printed (or None), "stdout", "exit": the exit
    status, "exception": a traceback when something other than SystemExit left main()}``.
    ``root``: run the module's Resource on a test root (the module's own ``run`` is wrapped).
    """
    from ansible.module_utils import basic  # pylint: disable=import-outside-toplevel

    mod = importlib.import_module(MODULES_PKG + name)
    args = dict(params, _ansible_check_mode=check_mode, _ansible_diff=False, _ansible_module_name=name)
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode("utf-8", "surrogateescape")
    if hasattr(basic, "_ANSIBLE_PROFILE"):  # ansible-core >= 2.19
        basic._ANSIBLE_PROFILE = "legacy"
    real_run = getattr(mod, "run", None)
    if root is not None and real_run is not None:
        mod.run = lambda module, *resource: real_run(module, *[_rooted(cls, root) for cls in resource])
    out = io.StringIO()
    outcome = {"exit": None, "exception": None}
    try:
        with contextlib.redirect_stdout(out):
            try:
                mod.main()
            except SystemExit as exc:
                outcome["exit"] = exc.code
            except Exception:  # noqa: BLE001 - what Ansible shows as MODULE FAILURE
                outcome["exception"] = traceback.format_exc()
    finally:
        if real_run is not None:
            mod.run = real_run
        basic._ANSIBLE_ARGS = None
    outcome["stdout"] = out.getvalue()
    outcome["result"] = _last_json(outcome["stdout"])
    return outcome


def _last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


# ------------------------------------------------------------------------------ naming the option
def path_label(path):
    """``["ports", 0, "name"]`` -> ``ports[0].name``."""
    out = ""
    for part in path:
        out += "[%d]" % part if isinstance(part, int) else ("." if out else "") + part
    return out


def names_option(msg, path, aliases=()):
    """Whether ``msg`` names the option at ``path``: ``ports[0].name``, ``ports[eth1].name`` or
    ``ports.name``; for a list element, the list's name; an alias counts for the top level."""
    names = [p for p in path if not isinstance(p, int)]
    for head in [names[0]] + list(aliases):
        pattern = r"(?<![\w-])" + re.escape(head)
        for part in names[1:]:
            pattern += r"(\[[^\]]*\])?\." + re.escape(part)
        if re.search(pattern + r"(?![\w-])", msg):
            return True
    return False


def validator_names_option(msg, path, aliases=()):
    """Ansible's argument spec messages name a sub-option as ``'tag' ... found in ports``: every
    name on the path (or an alias of the top one) is a word of the message."""
    names = [p for p in path if not isinstance(p, int)]
    words = set(re.findall(r"[\w-]+", msg))
    return all(n in words for n in names[1:]) and (names[0] in words or bool(words & set(aliases)))


# ------------------------------------------------------------------------------ judging
def judge(case, outcome, before, after, aliases=None):
    """The problems of one case (an empty list: refused properly). ``outcome`` from
    :func:`run_module`; ``before`` / ``after`` the host snapshots."""
    aliases = aliases or {}
    problems = []
    result = outcome.get("result")
    changed_host = before != after
    if outcome.get("exception"):  # what Ansible shows as MODULE FAILURE, with the traceback
        return ["Traceback (MODULE FAILURE): %s" % outcome["exception"].strip().splitlines()[-1]] + (
            ["the host changed: %s" % diff_summary(before, after)] if changed_host else [])
    if result is None:
        problems.append("no JSON result (MODULE FAILURE): exit %r, stdout %r" % (outcome.get("exit"),
                                                                                 outcome.get("stdout", "")[-300:]))
    elif not result.get("failed"):
        ops = [(o.get("action"), o.get("target")) for o in result.get("operations") or []][:6]
        problems.append("ACCEPTED: changed=%s operations=%s" % (result.get("changed"), ops))
    else:
        msg = str(result.get("msg", ""))
        kind = result.get("error")
        if "Traceback" in msg or "MODULE FAILURE" in msg or kind == "internal_error":
            problems.append("internal error / traceback: %s" % msg[:300])
        if result.get("changed"):
            problems.append("changed is true on a refusal")
        connection = any(p[-1] in CONNECTION_OPTIONS for p in case["paths"])
        if kind is not None and kind not in (CONNECTION_KINDS if connection else REFUSAL_KINDS):
            problems.append("%s, not a refusal of bad input: %s" % (kind, msg[:300]))
        named = any(names_option(msg, p, aliases.get(p[0], ())) for p in case["paths"])
        if kind is None:  # the argument spec refused it (Ansible's wording)
            named = named or any(validator_names_option(msg, p, aliases.get(p[0], ())) for p in case["paths"])
        if not named and connection:  # "cannot connect to qemu:///nope": the value names it
            named = any(isinstance(v, str) and v and v in msg for v in _values_at(case["params"], case["paths"]))
        if not named:
            problems.append("the message does not name %s: %s" % (
                " / ".join(path_label(p) for p in case["paths"]), msg[:300]))
    if changed_host:
        problems.append("the host changed: %s" % diff_summary(before, after))
    return problems


def _values_at(params, paths):
    out = []
    for path in paths:
        node = params
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                node = None
                break
        out.append(node)
    return out


def diff_summary(before, after, limit=600):
    """Which parts of two snapshots differ (keys, and the first difference, short)."""
    if isinstance(before, dict) and isinstance(after, dict):
        keys = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        text = "differs in %s" % keys
        if keys:
            text += "; %s: %s" % (keys[0], diff_summary(before.get(keys[0]), after.get(keys[0]), limit))
        return text[:limit]
    return ("%r -> %r" % (before, after))[:limit]


def resolve(value, values):
    """``value`` with every placeholder string (a key of ``values``) replaced; a placeholder whose
    value is None removes the option (the module's default)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = resolve(item, values)
            if not (isinstance(value[key], str) and value[key] in values and item is None):
                out[key] = item
        return out
    if isinstance(value, list):
        return [resolve(v, values) for v in value]
    if isinstance(value, str) and value in values:
        return values[value]
    return value


# ------------------------------------------------------------------------------ the sweep
def run_cases(doc, env=None, log=None):
    """Run every case of ``doc`` (``{"bases": {module: params}, "aliases": {module: {...}},
    "cases": [...]}``) module by module on beds made here; returns the report. A bed that
    cannot be made for a reason other than :class:`Skip`, or a base the module refuses here,
    is a finding of its module (the other modules still run)."""
    env = dict(DEFAULT_ENV, **(env or {}))
    report = {"modules": {}, "findings": [], "cases": 0, "refused": 0}
    by_module = {}
    for case in doc["cases"]:
        by_module.setdefault(case["module"], []).append(case)
    for n, (module, cases) in enumerate(sorted(by_module.items())):
        entry = report["modules"][module] = {"cases": len(cases)}
        bed = BEDS[module](env, "%x%x" % (os.getpid() % 0xfff, n))
        t0 = time.monotonic()
        try:
            bed.setup()
            base = resolve(doc["bases"][module], bed.values)
            outcome = run_module(module, base, check_mode=True, root=bed.root)
            if not outcome["result"] or outcome["result"].get("failed"):
                raise RuntimeError("the valid base is refused on this host: %s" % (
                    (outcome["result"] or {}).get("msg") or outcome["exception"] or outcome["stdout"]))
            for case in cases:
                _run_case(report, module, case, bed, doc.get("aliases", {}).get(module))
        except Skip as exc:
            entry["skipped"] = str(exc)
        except Exception as exc:  # noqa: BLE001 - reported, and the next module runs
            report["findings"].append({"module": module, "kind": "bed", "note": "", "mutation": "(the base)",
                                       "problems": ["%s: %s" % (type(exc).__name__, exc)]})
        finally:
            bed.teardown()
        entry["seconds"] = round(time.monotonic() - t0, 2)
        if log:
            log("%s: %s, %.1f s" % (module, "skipped: " + entry["skipped"] if "skipped" in entry
                                    else "%d cases" % len(cases), entry["seconds"]))
    return report


def _run_case(report, module, case, bed, aliases):
    params = resolve(case["params"], bed.values)
    before = bed.snap()
    outcome = run_module(module, params, root=bed.root)
    after = bed.snap()
    problems = judge(case, outcome, before, after, aliases)
    report["cases"] += 1
    if not problems:
        report["refused"] += 1
        return
    result = outcome.get("result") or {}
    report["findings"].append({"module": module, "kind": case["kind"], "note": case.get("note", ""),
                               "mutation": case.get("label", ""), "problems": problems,
                               "msg": str(result.get("msg", ""))[:300]})
    if before != after:  # the next case starts from a clean bed
        bed.teardown()
        bed.setup()


def format_findings(findings):
    lines = []
    for f in findings:
        note = " (%s)" % f["note"] if f.get("note") else ""
        problems = "; ".join(f["problems"])
        lines.append("- %s [%s] %s%s\n    -> %s" % (f["module"], f["kind"], f["mutation"], note, problems))
    return "\n".join(lines)


def main(argv=None):
    import argparse  # pylint: disable=import-outside-toplevel

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("cases")
    parser.add_argument("--report", required=True)
    parser.add_argument("--env", help="a JSON file: where the backends are")
    parser.add_argument("--modules", help="comma separated: only these modules")
    args = parser.parse_args(argv)
    with open(args.cases, encoding="utf-8") as handle:
        doc = json.load(handle)
    env = {}
    if args.env:
        with open(args.env, encoding="utf-8") as handle:
            env = json.load(handle)
    if args.modules:
        keep = set(args.modules.split(","))
        doc["cases"] = [c for c in doc["cases"] if c["module"] in keep]
    t0 = time.monotonic()
    report = run_cases(doc, env, log=lambda line: print(line, file=sys.stderr, flush=True))
    report["seconds"] = round(time.monotonic() - t0, 2)
    with open(args.report, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=1, sort_keys=True)
    print("%d cases: %d refused properly, %d findings; skipped: %s (%.1f s)"
          % (report["cases"], report["refused"], len(report["findings"]),
             {m: e["skipped"] for m, e in report["modules"].items() if "skipped" in e} or "none", report["seconds"]))
    if report["findings"]:
        print(format_findings(report["findings"]))
    return 1 if report["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
