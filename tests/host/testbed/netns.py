# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Throwaway network namespaces with helpers for veth pairs, bridges and taps inside them.

Every namespace is named ``kvt-<owner pid hex>-<n>`` so that a later run can reap the namespaces of
a test process that died without cleaning up (see ``reap_stale``), without touching the
namespaces of a concurrent run.
"""
from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
from pathlib import Path

from .util import PREFIX, TestbedError, pid_alive, require_binary, run

_COUNTER = itertools.count()
_NAME_RE = re.compile(r"^%s([0-9a-f]+)-\d+$" % re.escape(PREFIX))
NETNS_DIR = Path("/run/netns")


def list_netns():
    return sorted(p.name for p in NETNS_DIR.iterdir()) if NETNS_DIR.is_dir() else []


def reap_stale():
    """Delete kvt- namespaces whose creating process is gone. Returns the names deleted."""
    gone = []
    for name in list_netns():
        m = _NAME_RE.match(name)
        if m and not pid_alive(int(m.group(1), 16)):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
            gone.append(name)
    return gone


class Netns:
    """A fresh, uniquely named network namespace (``lo`` up). Use as a context manager or call delete()."""

    def __init__(self, name=None):
        require_binary("ip")
        self.name = name or "%s%x-%d" % (PREFIX, os.getpid(), next(_COUNTER))
        self._ipr = None
        run(["ip", "netns", "add", self.name])
        try:
            self.ip("link", "set", "lo", "up")
        except Exception:
            self.delete()
            raise

    # -- running things inside ---------------------------------------------------------------
    def ip(self, *args, check=True):
        """``ip -n NAME args...``; returns stdout."""
        return run(["ip", "-n", self.name, *args], check=check).stdout

    def exec(self, *argv, check=True, timeout=60):
        """Run argv inside the namespace (``ip netns exec``); returns the CompletedProcess."""
        return run(["ip", "netns", "exec", self.name, *argv], check=check, timeout=timeout)

    def exec_prefix(self):
        """The argv prefix that runs a command in this namespace."""
        return ["ip", "netns", "exec", self.name]

    def ipr(self):
        """A pyroute2 IPRoute bound to this namespace (closed by delete())."""
        if self._ipr is None:
            from pyroute2 import IPRoute  # imported lazily: the plain `ip` helpers need no pyroute2

            self._ipr = IPRoute(netns=self.name)
        return self._ipr

    # -- links ------------------------------------------------------------------------------
    def add_veth(self, name, peer, peer_netns=None, up=True):
        """veth pair ``name`` (here) <-> ``peer`` (here, or in peer_netns: a Netns or a name)."""
        args = ["link", "add", name, "type", "veth", "peer", "name", peer]
        if peer_netns is not None:
            args += ["netns", getattr(peer_netns, "name", peer_netns)]
        self.ip(*args)
        if up:
            self.set_up(name)
            if peer_netns is None:
                self.set_up(peer)
            else:
                run(["ip", "-n", getattr(peer_netns, "name", peer_netns), "link", "set", peer, "up"])
        return name, peer

    def add_bridge(self, name, up=True, stp=False, forward_delay=0):
        self.ip("link", "add", name, "type", "bridge", "stp_state", "1" if stp else "0",
                "forward_delay", str(forward_delay))
        if up:
            self.set_up(name)
        return name

    def add_tap(self, name, up=True, multi_queue=False):
        args = ["tuntap", "add", "dev", name, "mode", "tap"]
        if multi_queue:
            args.append("multi_queue")
        self.ip(*args)
        if up:
            self.set_up(name)
        return name

    def add_macvtap(self, name, lower, mode="bridge", up=True):
        self.ip("link", "add", "link", lower, "name", name, "type", "macvtap", "mode", mode)
        if up:
            self.set_up(name)
        return name

    def set_master(self, name, master):
        self.ip("link", "set", name, "master", master)

    def set_up(self, name):
        self.ip("link", "set", name, "up")

    def add_addr(self, name, cidr):
        self.ip("addr", "add", cidr, "dev", name)

    def links(self):
        """{ifname: link dict from ``ip -j -d link show``}."""
        return {link["ifname"]: link for link in json.loads(self.ip("-j", "-d", "link", "show") or "[]")}

    def link(self, name):
        """The ``ip -j -d link show`` dict of one link, or None if it does not exist."""
        return self.links().get(name)

    def exists(self, name):
        return self.link(name) is not None

    def master_of(self, name):
        link = self.link(name)
        return link.get("master") if link else None

    def ping(self, address, count=1, timeout=2):
        """True if ``ping`` from inside the namespace gets an answer."""
        proc = self.exec("ping", "-c", str(count), "-W", str(timeout), "-i", "0.2", address,
                         check=False, timeout=count * (timeout + 1) + 5)
        return proc.returncode == 0

    # -- teardown ---------------------------------------------------------------------------
    def delete(self):
        """Delete the namespace; every link in it goes with it. Idempotent."""
        if self._ipr is not None:
            try:
                self._ipr.close()
            except Exception:  # noqa: BLE001 - teardown must go on
                pass
            self._ipr = None
        if (NETNS_DIR / self.name).exists():
            proc = subprocess.run(["ip", "netns", "del", self.name], capture_output=True, text=True, check=False)
            if proc.returncode != 0 and (NETNS_DIR / self.name).exists():
                raise TestbedError("cannot delete netns %s: %s" % (self.name, proc.stderr))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.delete()

    def __repr__(self):
        return "Netns(%r)" % self.name
