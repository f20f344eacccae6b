# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A private Open vSwitch: its own ovsdb-server + ovs-vswitchd, db, sockets, pidfiles and logs.

Debian's openvswitch-switch binaries, no kernel datapath: ovs-vswitchd runs with --disable-system,
so bridges must use ``datapath_type=netdev`` (userspace datapath; ports are real veth/tap devices
or internal/patch ports) -- or mode='dummy' (--enable-dummy=override instead of --disable-system:
every datapath and netdev type, ``system`` included, becomes a dummy, so any bridge/port/bond name
works and nothing is created in the kernel; for OVSDB-level tests). A ``system`` bridge fails while ovs-vsctl still
exits 0: read Interface.error / ofport back.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from .util import (PREFIX, TMP_ROOT, TestbedError, kill_pid, owner_dead, pid_alive, read_pidfile,
                   record_timing, require_binary, run, wait_until, write_owner)

SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
# sun_path is 108 bytes; ovs-vswitchd's control socket is RUNDIR/ovs-vswitchd.<pid>.ctl
_MAX_RUNDIR = 80


class OvsInstance:
    """Start a private OVS in ``tmpdir`` (a fresh /tmp/kvt-ovs-* dir if None), optionally in ``netns``.

    netns: a Netns, a namespace name, or None (the root namespace: netdev taps then appear there).
    mode: 'netdev' (default) or 'dummy'.
    Attributes: db ("unix:.../db.sock"), rundir, dbdir, logdir, netns_name, mode.
    """

    def __init__(self, tmpdir=None, netns=None, mode="netdev", start=True):
        if mode not in ("netdev", "dummy"):
            raise ValueError("mode must be 'netdev' or 'dummy', not %r" % (mode,))
        for binary in ("ovsdb-server", "ovs-vswitchd", "ovsdb-tool", "ovs-vsctl", "ovs-appctl"):
            require_binary(binary)
        if not SCHEMA.exists():
            raise TestbedError("%s missing: install openvswitch-common" % SCHEMA)
        self.mode = mode
        self.netns = netns  # as given: a Netns object (handy for tests) or a name or None
        self.netns_name = getattr(netns, "name", netns)
        self._own_tmp = []
        if tmpdir is None:
            tmpdir = tempfile.mkdtemp(prefix=PREFIX + "ovs-", dir=TMP_ROOT)
            self._own_tmp.append(tmpdir)
        self.dir = Path(tmpdir).absolute()
        self.dbdir = self.dir / "db"
        self.logdir = self.dir / "log"
        self.etcdir = self.dir / "etc"
        self.rundir = self.dir / "run"
        if len(str(self.rundir)) > _MAX_RUNDIR:  # unix socket paths are short: use a short run dir
            short = tempfile.mkdtemp(prefix=PREFIX + "ovsrun-", dir=TMP_ROOT)
            self._own_tmp.append(short)
            self.rundir = Path(short)
        self.sock = self.rundir / "db.sock"
        self.db = "unix:%s" % self.sock
        self._taps = set()
        self._started = False
        if start:
            self.start()

    # -- environment / helpers -----------------------------------------------------------
    @property
    def env(self):
        env = dict(os.environ)
        env.update(OVS_RUNDIR=str(self.rundir), OVS_DBDIR=str(self.dbdir), OVS_LOGDIR=str(self.logdir),
                   OVS_SYSCONFDIR=str(self.etcdir))
        return env

    def _in_ns(self, argv):
        return (["ip", "netns", "exec", self.netns_name] if self.netns_name else []) + list(argv)

    def pidfile(self, daemon):
        return self.rundir / ("%s.pid" % daemon)

    def pid(self, daemon):
        """PID of 'ovsdb-server' or 'ovs-vswitchd' from its pidfile (None if not running)."""
        pid = read_pidfile(self.pidfile(daemon))
        return pid if pid and pid_alive(pid) else None

    def vsctl(self, *args, timeout=10, check=True):
        """ovs-vsctl against this instance (test setup and asserts only); returns stripped stdout."""
        argv = ["ovs-vsctl", "--db=%s" % self.db, "--timeout=%d" % timeout, *args]
        return run(argv, check=check, timeout=timeout + 5, env=self.env).stdout.strip()

    def appctl(self, *args, target="ovs-vswitchd", timeout=10):
        """ovs-appctl to this instance's ovs-vswitchd (or ovsdb-server); returns stripped stdout."""
        pid = self.pid(target)
        if pid is None:
            raise TestbedError("%s of %s is not running" % (target, self.dir))
        ctl = self.rundir / ("%s.%d.ctl" % (target, pid))
        return run(["ovs-appctl", "-t", ctl, "--timeout=%d" % timeout, *args], timeout=timeout + 5,
                   env=self.env).stdout.strip()

    def add_bridge(self, name, *extra):
        """add-br with the datapath_type this mode needs (netdev); extra are more vsctl args."""
        self.vsctl("add-br", name, "--", "set", "bridge", name, "datapath_type=netdev", *extra)
        return name

    def ofport(self, iface):
        """Interface.ofport as an int; -1 when OVS could not open the interface (ofport -1 or empty)."""
        value = self.vsctl("get", "interface", iface, "ofport")
        return int(value) if value not in ("[]", "") else -1

    def db_ready(self):
        proc = subprocess.run(["ovs-vsctl", "--db=%s" % self.db, "--timeout=2", "--no-wait", "show"],
                              capture_output=True, env=self.env, check=False, timeout=10)
        return proc.returncode == 0

    # -- lifecycle -------------------------------------------------------------------------
    def start(self):
        t0 = time.monotonic()
        for d in (self.dbdir, self.logdir, self.etcdir, self.rundir):
            d.mkdir(parents=True, exist_ok=True)
        write_owner(self.dir)
        if self.rundir.parent != self.dir:
            write_owner(self.rundir)
            (self.dir / "rundir").write_text(str(self.rundir))
        conf = self.dbdir / "conf.db"
        try:
            if not conf.exists():
                run(["ovsdb-tool", "create", conf, SCHEMA], env=self.env)
            self.start_ovsdb()
            self.vsctl("--no-wait", "init")
            # dummy: override replaces every datapath and netdev type (system ones too) by dummies
            extra = ["--enable-dummy=override"] if self.mode == "dummy" else ["--disable-system"]
            run(self._in_ns(["ovs-vswitchd", self.db, *extra,
                             "--pidfile=%s" % self.pidfile("ovs-vswitchd"),
                             "--log-file=%s" % (self.logdir / "ovs-vswitchd.log"),
                             "-vconsole:off", "--no-chdir", "--detach"]), env=self.env, timeout=30)
            self._started = True
            # waits (no --no-wait) until ovs-vswitchd has applied the config: cur_cfg >= next_cfg
            self.vsctl("set", "Open_vSwitch", ".", "external_ids:kvt-testbed=1", timeout=20)
        except Exception:
            self.stop()
            raise
        record_timing("ovs start (%s)" % self.mode, time.monotonic() - t0)
        return self

    def start_ovsdb(self):
        """Start (or restart after kill_ovsdb) ovsdb-server and wait until the db socket answers."""
        run(self._in_ns(["ovsdb-server", self.dbdir / "conf.db", "--remote=punix:%s" % self.sock,
                         "--remote=db:Open_vSwitch,Open_vSwitch,manager_options",
                         "--pidfile=%s" % self.pidfile("ovsdb-server"),
                         "--log-file=%s" % (self.logdir / "ovsdb-server.log"),
                         "-vconsole:off", "--no-chdir", "--detach"]), env=self.env, timeout=30)
        self._started = True
        wait_until(self.db_ready, timeout=10, what="ovsdb-server at %s" % self.db)

    def kill_ovsdb(self, sig=signal.SIGKILL):
        """Fault injection: kill ovsdb-server (SIGKILL by default); ovs-vswitchd keeps running."""
        pid = self.pid("ovsdb-server")
        if pid is None:
            raise TestbedError("ovsdb-server is not running")
        kill_pid(pid, expect="ovsdb-server", sig=sig)
        wait_until(lambda: not self.sock.exists() or not self.db_ready(), timeout=5, what="ovsdb-server gone")

    def _remember_taps(self):
        """Names of the kernel taps the netdev datapath made (internal ports, bridges, ovs-netdev).

        ovs-netdev is only deleted inside a private namespace: in the root namespace it may belong to
        another instance (one netdev OVS per network namespace, really: they share that name).
        """
        if self.netns_name:
            self._taps.add("ovs-netdev")
        if self.pid("ovsdb-server") is None:
            return
        try:
            out = self.vsctl("--bare", "--columns=name", "find", "interface", "type=internal", timeout=5)
        except TestbedError:
            return
        self._taps.update(n for n in out.split() if n)

    def save_logs(self, dest):
        """Copy the daemons' logs to dest (e.g. a failed test's tmp_path) before stop() removes them."""
        if self.logdir.is_dir():
            shutil.copytree(self.logdir, Path(dest), dirs_exist_ok=True)

    def stop(self):
        """Stop both daemons by PID from their pidfiles, then delete the taps OVS leaves behind. Idempotent."""
        self._remember_taps()
        pid = self.pid("ovs-vswitchd")
        if pid is not None:
            subprocess.run(["ovs-appctl", "-t", str(self.rundir / ("ovs-vswitchd.%d.ctl" % pid)), "--timeout=5",
                            "exit", "--cleanup"], capture_output=True, check=False, timeout=15, env=self.env)
        for daemon in ("ovs-vswitchd", "ovsdb-server"):
            kill_pid(read_pidfile(self.pidfile(daemon)), expect=daemon)
        self._delete_taps()
        self._started = False
        for d in self._own_tmp:
            shutil.rmtree(d, ignore_errors=True)
        self._own_tmp = []

    def _delete_taps(self):
        ipx = ["ip", "-n", self.netns_name] if self.netns_name else ["ip"]
        if self.netns_name and not Path("/run/netns", self.netns_name).exists():
            return
        for tap in sorted(self._taps):
            if subprocess.run(ipx + ["link", "show", tap], capture_output=True, check=False).returncode == 0:
                subprocess.run(ipx + ["link", "del", tap], capture_output=True, check=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return "OvsInstance(%s, netns=%s, mode=%s)" % (self.dir, self.netns_name, self.mode)


def reap_stale():
    """Stop private OVS instances (/tmp/kvt-ovs-*) whose owning test process died; remove their dirs."""
    reaped = []
    for d in sorted(TMP_ROOT.glob(PREFIX + "ovs-*")):
        if not d.is_dir() or not owner_dead(d):
            continue
        rundir = Path((d / "rundir").read_text()) if (d / "rundir").exists() else d / "run"
        for daemon in ("ovs-vswitchd", "ovsdb-server"):
            kill_pid(read_pidfile(rundir / ("%s.pid" % daemon)), expect=daemon)
        shutil.rmtree(d, ignore_errors=True)
        if rundir.parent != d:
            shutil.rmtree(rundir, ignore_errors=True)
        reaped.append(str(d))
    return reaped
