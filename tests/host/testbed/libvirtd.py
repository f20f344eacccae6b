# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A private libvirtd (qemu:///system driver, TCG) + virtlogd, and disk-less test domains.

Isolation: both daemons run in their own network namespace (``netns``, a fresh kvt- Netns by
default: the taps/macvtaps of its domains, its Linux bridges and its private OVS live there, so
nothing appears on the host and two instances never fight over names like ``ovs-netdev``) and in
their own mount namespace (``unshare -m``) in which /run/libvirt,
/var/lib/libvirt, /etc/libvirt (a copy, default-network autostart removed) and /var/log/libvirt
are bind mounts of directories in the instance dir. So the instance shares no driver lock, domain
config or state with the host or with a concurrent test run, and nothing it wrote survives its
teardown. The client socket lives in the instance dir: ``uri`` is
``qemu:///system?socket=<dir>/sock/libvirt-sock``.

Two traps of this machine (see the hostlab README) are handled here:
- /dev/kvm is 0600 root without udev: libvirt then re-probes QEMU on every call (44-68 s per
  define). The private mount namespace gets a 0660 root:kvm node bind-mounted over /dev/kvm.
- libvirtd scrubs its environment, so <virtualport type='openvswitch'/> runs a plain
  ``ovs-vsctl`` from its PATH: a wrapper first on that PATH points it at the private OVS ``ovs``
  (in ``netns``, netdev datapath) and logs every call to ``ovs_vsctl_log``.
"""
from __future__ import annotations

import fcntl
import glob
import itertools
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from xml.sax.saxutils import quoteattr

from .netns import Netns
from .ovs import OvsInstance
from .util import (PREFIX, TMP_ROOT, TestbedError, kill_pid, owner_dead, pid_cmdline, read_pidfile, record_timing, require_binary, run,
                   wait_until, write_owner)

CACHE_DIR = Path(os.environ.get("KVT_CACHE_DIR", "/var/cache/kvmnet-testbed"))
PRIVATE_DIRS = {  # mount point -> subdir of the instance dir
    "/run/libvirt": "root/run",
    "/var/lib/libvirt": "root/lib",
    "/etc/libvirt": "root/etc",
    "/var/log/libvirt": "root/log",
}
_DOM_COUNTER = itertools.count()


# -- kernel for <os><kernel> ----------------------------------------------------------------
def get_kernel(cache_dir=CACHE_DIR):
    """Path of a vmlinuz extracted from Debian's linux-image-*-cloud-amd64 package (cached)."""
    kdir = Path(cache_dir) / "kernel"
    vmlinuz = kdir / "vmlinuz"
    if vmlinuz.is_file() and vmlinuz.stat().st_size > 0:
        return vmlinuz
    kdir.mkdir(parents=True, exist_ok=True)
    with open(kdir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if vmlinuz.is_file() and vmlinuz.stat().st_size > 0:
            return vmlinuz
        pkg = None
        for meta in ("linux-image-cloud-amd64", "linux-image-amd64"):
            out = run(["apt-cache", "depends", meta], check=False).stdout
            deps = [line.split()[-1] for line in out.splitlines() if "Depends: linux-image-" in line]
            deps = [d for d in deps if d[len("linux-image-"):][:1].isdigit()]
            if deps:
                pkg = deps[0]
                break
        if pkg is None:
            raise TestbedError("no linux-image package known to apt (run apt-get update)")
        work = Path(tempfile.mkdtemp(prefix="kernel-", dir=kdir))
        try:
            subprocess.run(["apt-get", "download", "-qq", pkg], cwd=work, capture_output=True, text=True,
                           timeout=600, check=True)
            deb = next(work.glob("*.deb"))
            run(["dpkg-deb", "-x", deb, work / "x"], timeout=300)
            found = sorted((work / "x" / "boot").glob("vmlinuz-*"))
            if not found:
                raise TestbedError("%s has no /boot/vmlinuz-*" % deb.name)
            shutil.copyfile(found[0], kdir / "vmlinuz.tmp")
            os.chmod(kdir / "vmlinuz.tmp", 0o644)
            os.replace(kdir / "vmlinuz.tmp", vmlinuz)
            (kdir / "SOURCE").write_text("%s\n" % deb.name)
        except subprocess.CalledProcessError as exc:
            raise TestbedError("apt-get download %s failed: %s" % (pkg, exc.stderr)) from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return vmlinuz


# -- interface XML helpers -------------------------------------------------------------------
def _opt(tag, **attrs):
    items = " ".join("%s=%s" % (k.rstrip("_"), quoteattr(str(v))) for k, v in attrs.items() if v is not None)
    return "<%s %s/>" % (tag, items)


def bridge_iface(bridge, mac=None, target=None, model="virtio"):
    """<interface type='bridge'> on a Linux bridge."""
    return ("<interface type='bridge'>%s<source bridge=%s/>%s<model type=%s/></interface>"
            % (_opt("mac", address=mac) if mac else "", quoteattr(bridge),
               _opt("target", dev=target) if target else "", quoteattr(model)))


def ovs_iface(bridge, vlan=None, mac=None, target=None, model="virtio"):
    """<interface type='bridge'> on an OVS bridge (<virtualport type='openvswitch'/>), optional access VLAN."""
    return ("<interface type='bridge'>%s<source bridge=%s/><virtualport type='openvswitch'/>%s%s"
            "<model type=%s/></interface>"
            % (_opt("mac", address=mac) if mac else "", quoteattr(bridge),
               "<vlan><tag id='%d'/></vlan>" % vlan if vlan is not None else "",
               _opt("target", dev=target) if target else "", quoteattr(model)))


def direct_iface(dev, mode="bridge", mac=None, model="virtio"):
    """<interface type='direct'> (macvtap on ``dev``)."""
    return ("<interface type='direct'>%s<source dev=%s mode=%s/><model type=%s/></interface>"
            % (_opt("mac", address=mac) if mac else "", quoteattr(dev), quoteattr(mode), quoteattr(model)))


def domain_xml(name, kernel, interfaces=(), memory_mib=128, dtype="qemu"):
    """A disk-less domain: kernel only, no root fs; ``interfaces`` are <interface> XML strings."""
    return """<domain type=%s>
  <name>%s</name>
  <memory unit='MiB'>%d</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>%s</kernel><cmdline>console=ttyS0 panic=0</cmdline></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    %s
  </devices>
</domain>""" % (quoteattr(dtype), name, memory_mib, kernel, "\n    ".join(interfaces))


def _silence_libvirt():
    import libvirt

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    return libvirt


def destroy_and_undefine(conn, name):
    """Destroy (if running) and undefine a domain by name; ignore 'no such domain'."""
    libvirt = _silence_libvirt()
    try:
        dom = conn.lookupByName(name)
    except libvirt.libvirtError:
        return False
    try:
        if dom.isActive():
            dom.destroy()
    except libvirt.libvirtError:
        pass
    try:
        if dom.isPersistent():
            dom.undefine()
    except libvirt.libvirtError:
        pass
    return True


class DomainFactory:
    """Defines/starts disk-less domains on a connection and destroys + undefines all of them in cleanup()."""

    def __init__(self, conn, kernel, prefix=PREFIX):
        self.conn = conn
        self.kernel = str(kernel)
        self.prefix = prefix
        self.names = []

    def new_name(self):
        return "%s%x-%d" % (self.prefix, os.getpid(), next(_DOM_COUNTER))

    def define(self, interfaces=(), name=None, start=True, paused=True, memory_mib=128, xml=None):
        """Define a domain (and start it, paused by default: the taps exist, no CPU is burnt booting).

        Returns the libvirt virDomain. ``xml`` overrides the generated domain XML.
        """
        libvirt = _silence_libvirt()
        name = name or self.new_name()
        self.names.append(name)
        t0 = time.monotonic()
        dom = self.conn.defineXMLFlags(xml or domain_xml(name, self.kernel, interfaces, memory_mib),
                                       libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        record_timing("libvirt define", time.monotonic() - t0)
        if start:
            t0 = time.monotonic()
            dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED if paused else 0)
            record_timing("libvirt start domain", time.monotonic() - t0)
        return dom

    def cleanup(self):
        """Destroy + undefine every domain this factory defined (names it made or was given)."""
        for name in reversed(self.names):
            t0 = time.monotonic()
            destroy_and_undefine(self.conn, name)
            record_timing("libvirt destroy+undefine", time.monotonic() - t0)
        self.names = []


class Libvirtd:
    """Start virtlogd + libvirtd privately (see module doc). Attributes: uri, dir, ovs, kernel."""

    def __init__(self, instance_dir=None, kernel=None, with_ovs=True, start=True, netns="new"):
        """netns: "new" (a fresh Netns, deleted by stop()), a Netns/name to use, or None (root namespace)."""
        for binary in ("libvirtd", "virtlogd", "unshare", "mount", "qemu-system-x86_64"):
            require_binary(binary)
        self.dir = Path(instance_dir or tempfile.mkdtemp(prefix=PREFIX + "libvirt-", dir=TMP_ROOT)).absolute()
        self.sockdir = self.dir / "sock"
        self.piddir = self.dir / "pid"
        self.bindir = self.dir / "bin"
        self.logdir = self.dir / "root" / "log"
        self.uri = "qemu:///system?socket=%s" % (self.sockdir / "libvirt-sock")
        self.ovs_vsctl_log = self.dir / "ovs-vsctl-calls.log"
        self.kernel = Path(kernel) if kernel else None
        self.with_ovs = with_ovs
        self.netns = netns
        self._own_netns = False
        self.ovs = None
        self._conn = None
        self.domains = None
        if start:
            self.start()

    def start(self):
        t0 = time.monotonic()
        for d in (self.sockdir, self.piddir, self.bindir, self.dir / "dev"):
            d.mkdir(parents=True, exist_ok=True)
        write_owner(self.dir)
        try:
            if self.kernel is None:
                self.kernel = get_kernel()
            if self.netns == "new":
                self.netns = Netns()
                self._own_netns = True
            if self.with_ovs:
                self.ovs = OvsInstance(self.dir / "ovs", netns=self.netns, mode="netdev")
            self._write_tree()
            ns_name = getattr(self.netns, "name", self.netns)
            prefix = ["ip", "netns", "exec", ns_name] if ns_name else []
            run(prefix + ["unshare", "-m", "--propagation", "private", "/bin/sh", self.dir / "start.sh"],
                timeout=60)
            wait_until(self._answers, timeout=60, interval=0.1, what="libvirtd at %s" % self.uri)
            self.domains = DomainFactory(self.conn(), self.kernel)
        except Exception:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        record_timing("libvirtd start", self.startup_seconds)
        return self

    def _write_tree(self):
        root = self.dir / "root"
        for sub in PRIVATE_DIRS.values():
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        for host_dir in PRIVATE_DIRS:
            Path(host_dir).mkdir(parents=True, exist_ok=True)  # mount points (no systemd-tmpfiles here)
        # private copies of the packaged config and state (small on a test host), minus autostarts
        run(["cp", "-a", "/etc/libvirt/.", root / "etc"])
        run(["cp", "-a", "/var/lib/libvirt/.", root / "lib"])
        for stale in glob.glob(str(root / "etc" / "qemu" / "*.xml")) + \
                glob.glob(str(root / "etc" / "qemu" / "autostart" / "*")) + \
                glob.glob(str(root / "etc" / "qemu" / "networks" / "autostart" / "*")):
            os.unlink(stale)
        conf = self.dir / "libvirtd.conf"
        conf.write_text(
            'unix_sock_dir = "%s"\nunix_sock_group = "root"\nunix_sock_rw_perms = "0700"\n'
            'auth_unix_rw = "none"\nauth_unix_ro = "none"\n'
            'log_outputs = "3:file:%s/libvirtd.log"\n' % (self.sockdir, self.dir))
        wrapper = self.bindir / "ovs-vsctl"
        if self.ovs is not None:
            wrapper.write_text('#!/bin/sh\n# libvirtd scrubs its environment: point its ovs-vsctl at the private OVS\n'
                               'echo "$(date +%%s.%%N) $*" >> %s\nexec /usr/bin/ovs-vsctl --db=%s "$@"\n'
                               % (self.ovs_vsctl_log, self.ovs.db))
            wrapper.chmod(0o755)
        lines = ["set -e"]
        if Path("/dev/kvm").exists():
            kvm = self.dir / "dev" / "kvm"
            if not kvm.exists():
                os.mknod(kvm, 0o660 | 0o020000, os.makedev(10, 232))
                try:
                    shutil.chown(kvm, group="kvm")
                except (LookupError, OSError):
                    pass
                os.chmod(kvm, 0o660)
            lines.append("mount --bind %s /dev/kvm" % kvm)
        for host_dir, sub in PRIVATE_DIRS.items():
            lines.append("mount --bind %s %s" % (self.dir / sub, host_dir))
        lines += [
            "export PATH=%s:/usr/sbin:/usr/bin:/sbin:/bin" % self.bindir,
            "virtlogd -d -p %s" % (self.piddir / "virtlogd.pid"),
            "exec libvirtd -d -f %s -p %s" % (conf, self.piddir / "libvirtd.pid"),
        ]
        (self.dir / "start.sh").write_text("\n".join(lines) + "\n")

    def _answers(self):
        return subprocess.run(["virsh", "-q", "-c", self.uri, "version"], capture_output=True,
                              check=False, timeout=30).returncode == 0 if shutil.which("virsh") else self._py_answers()

    def _py_answers(self):
        libvirt = _silence_libvirt()
        try:
            libvirt.open(self.uri).close()
            return True
        except libvirt.libvirtError:
            return False

    def conn(self):
        """A libvirt connection to this daemon (cached; closed by stop())."""
        if self._conn is None:
            libvirt = _silence_libvirt()
            self._conn = libvirt.open(self.uri)
        return self._conn

    def new_domain_factory(self):
        return DomainFactory(self.conn(), self.kernel)

    def define_domain(self, interfaces=(), **kwargs):
        """Define (+ start paused) a disk-less domain; it is destroyed + undefined by stop()."""
        return self.domains.define(interfaces, **kwargs)

    def qemu_pids(self):
        """PIDs of the qemu processes of this daemon's running domains."""
        return _qemu_pids(self.dir)

    def stop(self):
        """Destroy + undefine every domain, stop the daemons by PID, stop the OVS, delete the dir."""
        if self._conn is not None:
            libvirt = _silence_libvirt()
            try:
                if self.domains is not None:
                    self.domains.cleanup()
                for dom in self._conn.listAllDomains(0):  # private daemon: every domain is ours
                    destroy_and_undefine(self._conn, dom.name())
            except libvirt.libvirtError:
                pass
            try:
                self._conn.close()
            except libvirt.libvirtError:
                pass
            self._conn = None
        _stop_daemons(self.dir)
        if self.ovs is not None:
            self.ovs.stop()
        if self._own_netns and self.netns is not None:
            self.netns.delete()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _qemu_pids(directory):
    pids = []
    for pidfile in glob.glob(str(Path(directory) / "root" / "run" / "qemu" / "*.pid")):
        pid = read_pidfile(pidfile)  # driver.pid (the driver lock) holds libvirtd's own PID: skip it
        argv = pid_cmdline(pid) if pid else []
        if argv and os.path.basename(argv[0]).startswith("qemu-system"):
            pids.append(pid)
    return pids


def _stop_daemons(directory):
    for pid in _qemu_pids(directory):
        kill_pid(pid, expect="qemu-system")
    kill_pid(read_pidfile(Path(directory) / "pid" / "libvirtd.pid"), expect="libvirtd")
    kill_pid(read_pidfile(Path(directory) / "pid" / "virtlogd.pid"), expect="virtlogd")


def reap_stale():
    """Stop private libvirtds (/tmp/kvt-libvirt-*) whose owning test process died; remove their dirs."""
    reaped = []
    for d in sorted(TMP_ROOT.glob(PREFIX + "libvirt-*")):
        if d.is_dir() and owner_dead(d):
            _stop_daemons(d)
            if (d / "ovs").is_dir():
                _ovs_stop_dir(d / "ovs")
            shutil.rmtree(d, ignore_errors=True)
            reaped.append(str(d))
    return reaped


def _ovs_stop_dir(ovs_dir):
    rundir = Path((ovs_dir / "rundir").read_text()) if (ovs_dir / "rundir").exists() else ovs_dir / "run"
    for daemon in ("ovs-vswitchd", "ovsdb-server"):
        kill_pid(read_pidfile(rundir / ("%s.pid" % daemon)), expect=daemon)
    if rundir.parent != ovs_dir:
        shutil.rmtree(rundir, ignore_errors=True)
