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

    python3 runner.py CASES.json --report REPORT.json [--env ENV.json]

ENV.json says where the backends are (defaults: the host's own): ``ovs_db``, ``ovs_netns``
(where ovs-vswitchd runs: ports are made there), ``uri``, ``libvirt_netns``, ``pci`` (a PCI
address whose current driver binding is the base of pci_device), ``sriov_pf``, ``irq_if`` (a
multi-queue virtio NIC), ``tmp``. A module whose bed cannot be made here is skipped with the
reason (in the report). Exit status 0 when every case was refused properly, 1 otherwise.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback

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


# ------------------------------------------------------------------------------ snapshots
def sh(argv, check=True, netns=None):
    """Run a command (an argument list, never a shell string), in ``netns`` if given."""
    if netns:
        argv = ["ip", "netns", "exec", netns] + list(argv)
    proc = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=120)
    if check and proc.returncode:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), proc.returncode, proc.stderr.strip()))
    return proc.stdout


#: what moves by itself in ``ip -j`` output (counters, timers, lifetimes, operational state)
VOLATILE = frozenset(("stats", "stats64", "operstate", "linkmode", "carrier_changes", "carrier_up_count",
                      "carrier_down_count", "flags", "linkinfo_slave_data_lacp", "preferred_life_time",
                      "valid_life_time", "hello_timer", "tcn_timer", "topology_change_timer", "gc_timer"))


def _scrub(value):
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_scrub(v) for v in value if not (isinstance(v, dict) and (
            str(v.get("local") or v.get("dst") or "").startswith("fe80:")))]
    return value


def links_state(netns=None, names=None):
    """``ip -d -j link`` / ``addr`` / ``route`` of a namespace (or of the named links only)."""
    base = ["ip", "-n", netns] if netns else ["ip"]
    out = {}
    for what in (["-d", "-j", "link", "show"], ["-j", "addr", "show"], ["-j", "route", "show", "table", "all"]):
        data = json.loads(sh(base + what, check=False) or "[]")
        if names is not None:
            data = [d for d in data if d.get("ifname") in names or d.get("dev") in names]
        out[" ".join(what)] = _scrub(data)
    return out


def ovsdb_state(db):
    """The Open_vSwitch database (``ovsdb-client dump``) without the columns that move by themselves."""
    drop = {"_version", "statistics", "status", "next_cfg", "cur_cfg", "error", "link_resets", "link_state",
            "admin_state", "mtu", "ofport", "ifindex", "lacp_current", "bond_active_slave", "mac_in_use",
            "link_speed", "duplex", "datapath_version", "datapath_id", "rstp_status", "stp_enable"}
    tables = {}
    for line in sh(["ovsdb-client", "-f", "json", "dump", db, "Open_vSwitch"]).splitlines():
        if line.strip().startswith("{"):
            table = json.loads(line)
            heads = table.get("headings", [])
            keep = [i for i, h in enumerate(heads) if h not in drop]
            tables[table.get("caption", "")] = sorted(json.dumps([row[i] for i in keep], sort_keys=True)
                                                      for row in table.get("data", []))
    return tables


def libvirt_state(uri, domains=()):
    """Every network of ``uri`` (XML, active, autostart) and the live + config XML of ``domains``."""
    import libvirt  # pylint: disable=import-outside-toplevel

    libvirt.registerErrorHandler(lambda *_: None, None)
    conn = libvirt.open(uri)
    try:
        out = {"networks": {}, "domains": {}}
        for net in conn.listAllNetworks():
            out["networks"][net.name()] = (net.XMLDesc(0), net.isActive(), net.autostart())
        for name in domains:
            dom = conn.lookupByName(name)
            out["domains"][name] = (dom.XMLDesc(0) if dom.isActive() else None,
                                    dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) if dom.isPersistent() else None)
        return out
    finally:
        conn.close()


def files_state(paths):
    """Every file under each of ``paths`` (a file or a directory): bytes and mode; links by target.
    Unreadable sysfs attributes are recorded as such."""
    out = {}
    for top in paths:
        walk = [(os.path.dirname(top), [], [os.path.basename(top)])] if not os.path.isdir(top) else os.walk(top)
        for base, dirs, files in walk:
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(base, name)
                if os.path.islink(path):
                    out[path] = ("->", os.readlink(path))
                    continue
                try:
                    with open(path, "rb") as handle:
                        out[path] = (handle.read(), os.stat(path).st_mode)
                except OSError as exc:
                    out[path] = ("unreadable", exc.errno)
    return out


#: persisted configuration any module may write on a managed host (compared in every snapshot)
PERSISTED = ("/etc/systemd/network", "/etc/NetworkManager/system-connections", "/etc/network/interfaces",
             "/etc/network/interfaces.d", "/etc/sysconfig/network-scripts", "/etc/modprobe.d", "/etc/modules-load.d",
             "/etc/kvmnet", "/etc/systemd/system", "/etc/udev/rules.d", "/var/lib/kvmnet", "/etc/default/irqbalance",
             "/etc/sysconfig/irqbalance")


# ------------------------------------------------------------------------------ beds (this host)
class Skip(Exception):
    """This host cannot hold the module's bed (the reason is the message)."""


class Bed:
    """Objects a module's valid base needs, made on this host with unique names, and the host
    snapshot that must not change. ``values`` maps the base's placeholders to what was made."""

    def __init__(self, env, tag):
        self.env = env
        self.tag = tag  # a short unique hex: names stay within 15 bytes
        self.values = {}
        self.root = None
        self._undo = []

    def name(self, suffix):
        return "kvt%s%s" % (self.tag, suffix)

    def undo(self, *argv, netns=None):
        self._undo.append((list(argv), netns))

    def setup(self):
        raise NotImplementedError

    def snap(self):
        raise NotImplementedError

    def teardown(self):
        for argv, netns in reversed(self._undo):
            sh(argv, check=False, netns=netns)
        self._undo = []

    # building blocks
    def netns(self):
        name = self.name("ns")
        sh(["ip", "netns", "add", name])
        self.undo("ip", "netns", "del", name)
        for key in ("all", "default"):  # no IPv6 link-local addresses appearing by themselves
            sh(["sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % key], netns=name)
        return name

    def veth(self, a, b, netns=None, up=False):
        base = ["ip", "-n", netns] if netns else ["ip"]
        sh(base + ["link", "add", a, "type", "veth", "peer", "name", b])
        if not netns:
            self.undo("ip", "link", "del", a)
        if up:
            for end in (a, b):
                sh(base + ["link", "set", end, "up"])

    def vsctl(self, *args):
        sh(["ovs-vsctl", "--db=" + self.env["ovs_db"], "--timeout=10"] + list(args))

    def ovs_bridge(self, name):
        self.vsctl("--may-exist", "add-br", name, "--", "set", "bridge", name,
                   "datapath_type=" + self.env.get("ovs_datapath", "system"))
        self.undo("ovs-vsctl", "--db=" + self.env["ovs_db"], "--timeout=10", "--if-exists", "del-br", name)


class NetnsBed(Bed):
    links = ()

    def setup(self):
        ns = self.netns()
        for a, b in self.links:
            self.veth(a, b, netns=ns)
        self.values["@netns"] = ns

    def snap(self):
        return {"netns": links_state(self.values["@netns"]), "files": files_state(PERSISTED)}


class LinuxBridgeBed(NetnsBed):
    links = (("eth1", "peer1"), ("eth2", "peer2"))


class MacvtapBed(NetnsBed):
    links = (("lower0", "peer0"),)


class NicBondBed(NetnsBed):
    links = (("enp1", "peer1"), ("enp2", "peer2"))

    def setup(self):
        if not os.path.isdir("/sys/module/bonding") and subprocess.run(
                ["modprobe", "-q", "bonding"], check=False).returncode:
            raise Skip("no bonding module in this kernel")
        super().setup()
        ns = self.values["@netns"]
        sh(["ip", "-n", ns, "addr", "add", "10.77.0.5/24", "dev", "enp1"])
        sh(["ip", "-n", ns, "link", "set", "enp1", "up"])
        sh(["ip", "-n", ns, "route", "add", "default", "via", "10.77.0.1", "dev", "enp1"])


class OvsBed(Bed):
    """Veths and bridges of the OVS at ``ovs_db`` (whose vswitchd runs in ``ovs_netns``)."""

    links = ()
    bridges = ()

    def setup(self):
        if not self.env.get("ovs_db"):
            raise Skip("no Open vSwitch database (env ovs_db)")
        ns = self.env.get("ovs_netns")
        for a, b in self.links:
            self.values["@" + a], self.values["@" + b] = self.name(a), self.name(b)
            self.veth(self.name(a), self.name(b), netns=ns)
            if ns:
                self.undo("ip", "-n", ns, "link", "del", self.name(a))
        for br in self.bridges:
            self.values["@" + br] = self.name(br)
            self.ovs_bridge(self.name(br))
        self.values.update({"@db": self.env["ovs_db"], "@ovsns": ns, "@datapath": self.env.get("ovs_datapath",
                                                                                                "system")})
        for name in self.names:
            self.values["@" + name] = self.name(name)

    names = ()

    def snap(self):
        return {"ovsdb": ovsdb_state(self.env["ovs_db"]), "links": links_state(self.env.get("ovs_netns")),
                "files": files_state(PERSISTED)}


class OvsBridgeBed(OvsBed):
    links = (("up0", "up0p"),)
    names = ("br0",)


class OvsBondBed(OvsBed):
    links = (("a1", "b1"), ("a2", "b2"))
    bridges = ("br0",)
    names = ("bond0",)


class OvsPatchBed(OvsBed):
    bridges = ("br0", "br1")
    names = ("vpa", "vpb")


class LibvirtBed(Bed):
    """A defined (not started) domain with a virtio NIC on an OVS bridge and one on a Linux
    bridge; an unused OVS bridge; unique network names."""

    MAC = "52:54:00:6b:5e:01"

    def connect(self):
        try:
            import libvirt  # pylint: disable=import-outside-toplevel
        except ImportError:
            raise Skip("no libvirt-python") from None
        libvirt.registerErrorHandler(lambda *_: None, None)
        try:
            return libvirt.open(self.env["uri"])
        except libvirt.libvirtError as exc:
            raise Skip("libvirtd at %s: %s" % (self.env["uri"], exc)) from None

    def setup(self):
        self.values.update({"@uri": self.env["uri"], "@net": "kvt-sweep-net-" + self.tag})
        self.conn = self.connect()

    def teardown(self):
        try:
            for net in self.conn.listAllNetworks():
                if net.name().startswith("kvt-sweep-") or net.name() in (".", ".."):
                    if net.isActive():
                        net.destroy()
                    if net.isPersistent():
                        net.undefine()
            for dom in self.conn.listAllDomains():
                if dom.name().startswith("kvt-sweep-"):
                    if dom.isActive():
                        dom.destroy()
                    dom.undefine()
            self.conn.close()
        finally:
            super().teardown()

    def snap(self):
        return {"libvirt": libvirt_state(self.env["uri"], [v for k, v in self.values.items() if k == "@domain"]),
                "ovsdb": ovsdb_state(self.env["ovs_db"]) if self.env.get("ovs_db") else None,
                "files": files_state(PERSISTED)}

    def domain(self):
        ovsbr, ovsbr2, linbr = self.name("s1"), self.name("s2"), self.name("lb")
        if not self.env.get("ovs_db"):
            raise Skip("no Open vSwitch database (env ovs_db)")
        self.ovs_bridge(ovsbr)
        self.ovs_bridge(ovsbr2)
        ns = self.env.get("libvirt_netns")
        sh((["ip", "-n", ns] if ns else ["ip"]) + ["link", "add", linbr, "type", "bridge"])
        self.undo(*((["ip", "-n", ns] if ns else ["ip"]) + ["link", "del", linbr]))
        name = "kvt-sweep-" + self.tag
        emulator = self.env.get("emulator", "/usr/bin/qemu-system-x86_64")
        xml = ("<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
               "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices><emulator>%s</emulator>"
               "<interface type='bridge'><mac address='%s'/><source bridge='%s'/>"
               "<virtualport type='openvswitch'/><vlan><tag id='10'/></vlan><model type='virtio'/></interface>"
               "<interface type='bridge'><source bridge='%s'/><model type='virtio'/></interface>"
               "</devices></domain>" % (name, emulator, self.MAC, ovsbr, linbr))
        self.conn.defineXML(xml)
        self.values.update({"@domain": name, "@ovsbr": ovsbr, "@ovsbr2": ovsbr2, "@mac": self.MAC})


class LibvirtIfaceBed(LibvirtBed):
    def setup(self):
        super().setup()
        self.domain()


class LibvirtHostdevBed(LibvirtBed):
    def setup(self):
        super().setup()
        devices = sorted(os.listdir("/sys/bus/pci/devices")) if os.path.isdir("/sys/bus/pci/devices") else []
        if not devices:
            raise Skip("no PCI devices")
        self.domain()
        self.values["@pci"] = devices[0]


class LibvirtNetworkBed(LibvirtBed):
    def setup(self):
        super().setup()
        if not self.env.get("ovs_db"):
            raise Skip("no Open vSwitch database (env ovs_db)")
        self.values["@ovsbr"] = self.name("ov")
        self.ovs_bridge(self.values["@ovsbr"])


class LibvirtSriovNetworkBed(LibvirtBed):
    """A veth in this namespace stands in for the PF (the pool is defined, never started)."""

    def setup(self):
        super().setup()
        self.values["@pf"] = self.name("pf")
        self.veth(self.values["@pf"], self.name("pq"))


class CheckpointBed(Bed):
    def setup(self):
        self.root = None
        self.values["@root"] = tempfile.mkdtemp(prefix="kvt-sweep-checkpoint-", dir=self.env.get("tmp"))
        self.undo("rm", "-rf", "--one-file-system", self.values["@root"])

    def snap(self):
        return {"root": files_state([self.values["@root"]]), "files": files_state(PERSISTED)}


class VhostNetBed(Bed):
    def setup(self):
        if not os.path.exists("/dev/vhost-net") and subprocess.run(
                ["modprobe", "-q", "--dry-run", "vhost_net"], check=False).returncode:
            raise Skip("no vhost_net module in this kernel")

    def snap(self):
        return {"files": files_state(PERSISTED), "loaded": sorted(m for m in os.listdir("/sys/module")
                                                                  if m.startswith("vhost"))}


def _sysfs_state(paths):
    return files_state([p for p in paths if os.path.exists(p)])


class PciDeviceBed(Bed):
    """The PCI device ``env.pci`` as it is bound now (pci_device's base asks for its current driver)."""

    def setup(self):
        pci = self.env.get("pci")
        if not pci:
            raise Skip("no PCI device named (env pci)")
        dev = "/sys/bus/pci/devices/" + pci
        driver = os.path.basename(os.readlink(dev + "/driver")) if os.path.islink(dev + "/driver") else None
        if not driver:
            raise Skip("%s has no driver bound" % pci)
        self.values.update({"@pci": pci, "@pci_driver": driver})

    def snap(self):
        dev = "/sys/bus/pci/devices/" + self.values["@pci"]
        return {"sysfs": _sysfs_state([dev + "/driver", dev + "/driver_override"]), "links": links_state(),
                "files": files_state(PERSISTED)}


class SriovVfBed(Bed):
    """The SR-IOV PF ``env.sriov_pf`` with its VFs as they are (1 or more enabled; an igb: 7 possible)."""

    def setup(self):
        pf = self.env.get("sriov_pf")
        if not pf:
            raise Skip("no SR-IOV PF named (env sriov_pf)")
        with open("/sys/class/net/%s/device/sriov_numvfs" % pf, encoding="ascii") as handle:
            numvfs = int(handle.read())
        if not 1 <= numvfs <= 6:
            raise Skip("%s has %d VFs enabled; the base needs 1 to 6 (of 7)" % (pf, numvfs))
        self.values.update({"@sriov_pf": pf, "@numvfs": numvfs, "@uri": self.env["uri"]})

    def snap(self):
        dev = "/sys/class/net/%s/device" % self.values["@sriov_pf"]
        return {"sysfs": _sysfs_state([dev + "/sriov_numvfs", dev + "/sriov_drivers_autoprobe"]),
                "links": links_state(), "files": files_state(PERSISTED)}


class IrqAffinityBed(Bed):
    """The multi-queue virtio NIC ``env.irq_if`` (4 queue pairs; the base pins to CPUs 0-1).
    Only that NIC's IRQs are compared: irqbalance moves the others by itself."""

    def setup(self):
        ifname = self.env.get("irq_if")
        if not ifname:
            raise Skip("no multi-queue NIC named (env irq_if)")
        if len(os.sched_getaffinity(0)) < 2:
            raise Skip("fewer than 2 CPUs")
        self.values.update({"@irq_if": ifname, "@irq_cpus": "0-1"})

    def snap(self):
        ifname = self.values["@irq_if"]
        queues = "/sys/class/net/%s/queues" % ifname
        paths = [os.path.join(queues, q, f) for q in sorted(os.listdir(queues)) for f in ("rps_cpus", "xps_cpus")]
        device = os.path.realpath("/sys/class/net/%s/device" % ifname)
        for where in (device, os.path.dirname(device)):  # virtio: the PCI function is the parent
            if os.path.isdir(os.path.join(where, "msi_irqs")):
                paths += ["/proc/irq/%s/smp_affinity_list" % irq for irq in sorted(os.listdir(
                    os.path.join(where, "msi_irqs")))]
                break
        return {"sysfs": _sysfs_state(paths), "files": files_state(PERSISTED)}


#: module -> the bed class on a real host (the VM tier; tests/host runs the same beds)
BEDS = {
    "linux_bridge": LinuxBridgeBed, "macvtap": MacvtapBed, "nic_bond": NicBondBed,
    "ovs_bridge": OvsBridgeBed, "ovs_bond": OvsBondBed, "ovs_patch": OvsPatchBed,
    "libvirt_iface": LibvirtIfaceBed, "libvirt_hostdev": LibvirtHostdevBed, "libvirt_network": LibvirtNetworkBed,
    "libvirt_sriov_network": LibvirtSriovNetworkBed, "checkpoint": CheckpointBed, "vhost_net": VhostNetBed,
    "pci_device": PciDeviceBed, "sriov_vf": SriovVfBed, "irq_affinity": IrqAffinityBed,
}

DEFAULT_ENV = {"ovs_db": "unix:/run/openvswitch/db.sock", "ovs_netns": None, "ovs_datapath": "system",
               "uri": "qemu:///system", "libvirt_netns": None, "pci": None, "sriov_pf": None, "irq_if": None,
               "tmp": None}


# ------------------------------------------------------------------------------ the sweep
def run_cases(doc, env=None, log=None):
    """Run every case of ``doc`` (``{"bases": {module: params}, "aliases": {module: {...}},
    "cases": [...]}``) module by module on beds made here; returns the report."""
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
        except Skip as exc:
            entry["skipped"] = str(exc)
            bed.teardown()
            if log:
                log("%s: skipped: %s" % (module, exc))
            continue
        try:
            base = resolve(doc["bases"][module], bed.values)
            outcome = run_module(module, base, check_mode=True, root=bed.root)
            if not outcome["result"] or outcome["result"].get("failed"):
                raise RuntimeError("%s: the valid base is refused on this host: %s" % (
                    module, (outcome["result"] or {}).get("msg") or outcome["exception"] or outcome["stdout"]))
            for case in cases:
                params = resolve(case["params"], bed.values)
                before = bed.snap()
                outcome = run_module(module, params, root=bed.root)
                after = bed.snap()
                problems = judge(case, outcome, before, after, doc.get("aliases", {}).get(module))
                report["cases"] += 1
                if problems:
                    result = outcome.get("result") or {}
                    report["findings"].append({"module": module, "kind": case["kind"], "note": case.get("note", ""),
                                               "mutation": case.get("label", ""), "problems": problems,
                                               "msg": str(result.get("msg", ""))[:300]})
                    if before != after:  # the next case starts from a clean bed
                        bed.teardown()
                        bed.setup()
                else:
                    report["refused"] += 1
        finally:
            bed.teardown()
        entry["seconds"] = round(time.monotonic() - t0, 2)
        if log:
            log("%s: %d cases, %.1f s" % (module, len(cases), entry["seconds"]))
    return report


def format_findings(findings):
    return "\n".join("- %s [%s] %s%s\n    -> %s" % (f["module"], f["kind"], f["mutation"],
                                                   " (%s)" % f["note"] if f.get("note") else "",
                                                   "; ".join(f["problems"])) for f in findings)


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
