# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Failure injection at step boundaries, and host snapshots to compare before / after.

``fail_at(cls, k)`` subclasses a Resource so that its k-th step raises :class:`InjectedFailure`
(a plain exception, as an untyped backend error would be): the default ``Resource.apply``
calls ``apply_operation`` once per step, so ``k`` counts operations; ``after=True`` raises
after the k-th step did its work (the failure is then in the middle of the plan's effects).
Transactional resources (OVSDB, libvirt) count their own steps in ``apply``: pass
``method="apply"`` to fail their whole apply after (``after=True``) or before it ran.

``check_every_step(make, snap, steps)`` is the sweep the safety tests run for a module: for
k = 1..steps, snapshot, execute a resource that fails at step k, and assert that the snapshot
afterwards is identical, that the result names failed / applied / reverted, and that it says
the host is back.

Snapshot primitives (each returns plain data, compared with ==): ``netns_state`` (ip -d -j
link / addr / route of a namespace, without counters), ``files_state`` (every file under a
directory: bytes and mode), ``ovsdb_state`` (the OVSDB tables as ovsdb-client dumps them,
without the _version column), ``domain_state`` (a libvirt domain's live and config XML).
"""

from __future__ import annotations

import json
import os

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import ApplyFailed

from .util import run


class InjectedFailure(Exception):
    """What an injected step raises: untyped, like a raw backend exception."""


def fail_at(cls, k, after=False, method="apply_operation"):
    """A subclass of ``cls`` whose k-th call of ``method`` raises InjectedFailure (before the
    real call, or after it with ``after=True``). Only the first run's calls count: the engine's
    rollback runs after the failure and is not injected."""

    class Failing(cls):  # pylint: disable=too-few-public-methods
        injected_calls = 0

        def _step(self, real, *args):
            type(self).injected_calls += 1
            if type(self).injected_calls == k and not after:
                raise InjectedFailure("injected failure at step %d" % k)
            result = real(*args)
            if type(self).injected_calls == k and after:
                raise InjectedFailure("injected failure after step %d" % k)
            return result

    def hook(self, *args):
        return self._step(getattr(super(Failing, self), method), *args)  # pylint: disable=bad-super-call

    setattr(Failing, method, hook)
    Failing.__name__ = Failing.__qualname__ = "Failing" + cls.__name__
    return Failing


def check_every_step(make, snap, steps, after=False, method="apply_operation"):
    """For k in 1..steps: ``make(cls_wrapper)`` builds the resource from a class factory
    (``make(lambda cls: fail_at(cls, k))``), runs it, and asserts the host is back. Returns the
    ApplyFailed of each k (for more assertions)."""
    errors = []
    for k in range(1, steps + 1):
        before = snap()
        err = None
        try:
            execute(make(lambda cls, k=k: fail_at(cls, k, after=after, method=method)))
        except ApplyFailed as exc:
            err = exc
        if err is None:
            raise AssertionError("step %d: no failure: the plan has fewer than %d steps" % (k, k))
        after_snap = snap()
        assert after_snap == before, "step %d: the host differs after the rollback: %s" % (k, err.msg)
        details = err.details
        assert details["rolled_back"] is True, "step %d: %s" % (k, err.msg)
        assert details["changed"] is False
        assert details["failed_step"], "step %d: no failed step named" % k
        assert "injected failure" in err.msg
        if method == "apply_operation":  # the failed step is never counted as applied
            assert len(details["applied"]) == k - 1, "step %d: applied %r" % (k, details["applied"])
        errors.append(err)
    return errors


_VOLATILE = ("stats", "stats64", "operstate", "linkmode", "carrier_changes", "carrier_up_count",
             "carrier_down_count", "flags", "linkinfo_slave_data_lacp", "addr_info_volatile",
             "preferred_life_time", "valid_life_time",
             # a bridge's timers tick by themselves
             "hello_timer", "tcn_timer", "topology_change_timer", "gc_timer")


def _is_kernel_ipv6(entry):
    """An IPv6 link-local address or route: the kernel adds it when a link comes up (after
    duplicate address detection, so at a moment of its own), no module writes it."""
    text = str(entry.get("local") or entry.get("dst") or "")
    return entry.get("family") == "inet6" and entry.get("scope") == "link" or text.startswith("fe80:")


def _scrub(value):
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_scrub(v) for v in value if not (isinstance(v, dict) and _is_kernel_ipv6(v))]
    return value


def netns_state(ns):
    """Links (with their details), addresses and routes of a namespace, as ``ip -j`` shows them
    (counters, operstate, lifetimes, bridge timers and the kernel's IPv6 link-local addresses and
    routes left out: they move by themselves)."""
    out = {}
    for what in (("-d", "link", "show"), ("addr", "show"), ("route", "show", "table", "all")):
        text = ns.ip("-j", *what, check=False) if what[0] != "-d" else ns.ip("-d", "-j", "link", "show")
        out[" ".join(what)] = _scrub(json.loads(text or "[]"))
    return out


def files_state(directory):
    """Every file under ``directory``: ``{relative path: (bytes, mode)}``; symlinks by target."""
    out = {}
    for base, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(base, name)
            rel = os.path.relpath(path, directory)
            if os.path.islink(path):
                out[rel] = ("->", os.readlink(path))
            else:
                with open(path, "rb") as handle:
                    out[rel] = (handle.read(), os.stat(path).st_mode)
    return out


def ovsdb_state(ovs):
    """The Open_vSwitch database of a private OVS as JSON (``ovsdb-client dump``), without the
    columns that move by themselves (_version, statistics, status, next_cfg/cur_cfg, ofport
    requests stay)."""
    text = run(["ovsdb-client", "-f", "json", "dump", ovs.db, "Open_vSwitch"]).stdout
    tables = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        data = json.loads(line)
        for heading in data if isinstance(data, list) else [data]:
            tables[heading.get("caption", "")] = heading
    return _drop_columns(tables, ("_version", "statistics", "status", "next_cfg", "cur_cfg", "error",
                                  "link_resets", "link_state", "admin_state", "mtu", "ofport", "ifindex",
                                  "lacp_current", "bond_active_slave", "mac_in_use", "link_speed", "duplex",
                                  "datapath_version", "datapath_id", "rstp_status", "stp_enable"))


def _drop_columns(tables, columns):
    out = {}
    for caption, table in tables.items():
        headings = table.get("headings", [])
        keep = [i for i, h in enumerate(headings) if h not in columns]
        rows = sorted(json.dumps([row[i] for i in keep], sort_keys=True) for row in table.get("data", []))
        out[caption] = ([headings[i] for i in keep], rows)
    return out


def domain_state(domain):
    """A libvirt domain's live XML (if running) and persistent XML."""
    import libvirt  # pylint: disable=import-outside-toplevel

    live = domain.XMLDesc(0) if domain.isActive() else None
    config = domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) if domain.isPersistent() else None
    return {"live": live, "config": config}
