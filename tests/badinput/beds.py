# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bad-input sweep's beds and snapshots on the host the runner runs on (runner.py).

A bed makes what a module's valid base needs (tables.py BASES), with unique names, and says
what the placeholders of the base are here (``values``); its ``snap()`` is the host snapshot a
refused case must leave identical. Standard library only (libvirt-python where libvirt is
concerned): it runs with the distribution's Python on a managed host. ``env`` says where the
backends are (runner.py docstring); a bed that cannot be made here raises :class:`Skip`.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile


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
        datapath = self.env.get("ovs_datapath", "system")
        self.values.update({"@db": self.env["ovs_db"], "@ovsns": ns, "@datapath": datapath})
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
        if getattr(self, "conn", None) is None:  # libvirtd could not be reached: nothing made there
            super().teardown()
            return
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
            self.conn = None
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
