# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bad-input sweep's runner and judge (tests/badinput/runner.py) find what they must find:
an accepted input, a traceback, ``changed`` on a refusal, a message that does not name the
option, a changed host -- and pass a proper refusal. Runs a real module's main() in-process."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "badinput"))
import runner  # noqa: E402  # pylint: disable=wrong-import-position

CASE = {"module": "macvtap", "kind": "name", "paths": [["link"]], "params": {"name": "mvt0", "link": "kvt x"}}


def refusal(msg, **extra):
    return {"result": dict({"failed": True, "msg": msg, "error": "invalid_input", "changed": False}, **extra),
            "exception": None}


def test_a_proper_refusal_passes():
    assert runner.judge(CASE, refusal("link: 'kvt x' is not a valid interface name"), {"a": 1}, {"a": 1}) == []
    # the argument spec's wording names a sub-option as "'tag' ... found in 'ports'"
    case = dict(CASE, paths=[["ports", 0, "tag"]])
    spec = {"result": {"failed": True, "msg": "argument 'tag' is of type str found in 'ports'."}, "exception": None}
    assert runner.judge(case, spec, {}, {}) == []
    assert runner.judge(dict(case, paths=[["ports", 0, "tag"]]),
                        refusal("ports[eth1].tag: 4096 is not a VLAN id"), {}, {}) == []


@pytest.mark.parametrize("outcome, before, after, problem", [
    ({"result": {"changed": True, "operations": [{"action": "create", "target": "mvt0"}]}, "exception": None},
     {}, {}, "ACCEPTED"),
    ({"result": None, "exception": "Traceback (most recent call last):\nTypeError: x"}, {}, {}, "Traceback"),
    ({"result": None, "exception": None, "exit": 1, "stdout": "garbage"}, {}, {}, "no JSON result"),
    (refusal("link: bad", changed=True), {}, {}, "changed is true"),
    (refusal("name: 'kvt x' is not a valid interface name"), {}, {}, "does not name link"),
    (refusal("lower_link: bad"), {}, {}, "does not name link"),
    (refusal("link: bad", error="apply_failed"), {}, {}, "apply_failed, not a refusal"),
    (refusal("MacvtapResource: internal error: KeyError: 'x' (link)", error="internal_error"), {}, {},
     "internal error"),
    (refusal("link: bad"), {"links": ["a"]}, {"links": ["a", "mvt0"]}, "the host changed"),
])
def test_what_is_not_a_proper_refusal_is_found(outcome, before, after, problem):
    problems = runner.judge(CASE, outcome, before, after)
    assert any(problem in p for p in problems), problems


def test_a_backend_that_cannot_be_reached_is_a_refusal_of_uri():
    case = {"module": "libvirt_network", "kind": "name", "paths": [["uri"]], "params": {"uri": "qemu:///kvt-nope"}}
    out = refusal("cannot connect to qemu:///kvt-nope", error="backend_unavailable")
    assert runner.judge(case, out, {}, {}) == []
    assert runner.judge(dict(case, paths=[["name"]]), out, {}, {})  # not for any other option


def test_resolve_replaces_placeholders_and_drops_none():
    params = {"netns": "@ns", "db": "@db", "ports": [{"name": "@up0"}], "other": "@literal"}
    assert runner.resolve(params, {"@ns": None, "@db": "unix:x", "@up0": "kvt1up0"}) == {
        "db": "unix:x", "ports": [{"name": "kvt1up0"}], "other": "@literal"}


def test_run_module_is_the_real_entry_point():
    """macvtap's main(): the argument spec, then the Resource's validation, a JSON result."""
    out = runner.run_module("macvtap", {"name": "mvt0", "link": "kvt x"})
    assert out["exception"] is None and out["exit"] == 1
    assert out["result"]["failed"] and out["result"]["error"] == "invalid_input"
    assert runner.judge(CASE, out, {}, {}) == []
    out = runner.run_module("macvtap", {"name": "mvt0", "link": "eth0", "mode": "kvt-bogus"})
    assert out["result"]["failed"] and "mode" in out["result"]["msg"] and "error" not in out["result"]
