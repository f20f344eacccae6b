# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A generated bad-input sweep of every module (issue 12), on the real host test bed.

For each module of plugins/modules (not the *_info ones) the argument spec and the Resource are
taken from the module itself (tests/perf/engine_bench.py module_contract). A VALID base parameter
set is proven on the test bed first (netns + veths, a private OVS, the private libvirtd with a
paused domain, a sysfs/proc tree under a test root): it passes the argument spec and plans in
check mode. Then hypothesis draws ONE mutation at a time from strategies built from the spec
(testbed/sweep.py: wrong types, out-of-range ints, impossible names of the option's class,
well-formed names of objects that do not exist, values outside choices, the module's
contradicting option pairs below). Each mutated set is validated with Ansible's
ArgumentSpecValidator as AnsibleModule would; what it accepts runs through _engine.execute (no
check mode). Every input must be refused: by the spec naming the option, or with a typed refusal
(invalid_input / not_found / conflict / unsupported; backend_unavailable for uri / database)
naming the option (``ports[0].name``, ``ports.name`` or ``ports[eth1].name`` count), no other
exception, and the host snapshot identical before and after. An exception raised inside
ansible-core's own validator on a wrong-type value (``bandwidth: 5``, ansible-core's bug)
counts as refused by Ansible: the task fails before the module's code runs (sweep.py judge). Findings are collected for all
examples of a module and reported together (the test fails listing every one).

Deterministic (derandomize=True); ``KVT_SWEEP_EXAMPLES`` (default 30) sets the examples per
module, e.g. KVT_SWEEP_EXAMPLES=300 for a thorough run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from testbed import sweep_trees
from testbed.inject import domain_state, files_state, netns_state, ovsdb_state
from testbed.libvirtd import bridge_iface, ovs_iface
from testbed.sweep import Mutation, format_findings, judge, mutations
from testbed.util import unique_ifname

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _checkpoint_task
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "perf"))
from engine_bench import module_contract  # noqa: E402  # pylint: disable=wrong-import-position

EXAMPLES = int(os.environ.get("KVT_SWEEP_EXAMPLES", "30"))
MODULES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           "plugins", "modules")
RELEASE = os.uname().release
MAC = "52:54:00:6b:5e:01"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces, OVS, libvirtd: needs root")


def P(*parts):  # noqa: N802 - a path, short for the tables
    return tuple(parts)


# ------------------------------------------------------------------------------ test beds
class Bed:
    """One module's test bed: ``base()`` the valid parameters, ``snap()`` the host snapshot,
    ``make(cls, params)`` the Resource (with root=), ``reset()`` a fresh bed after a mutation
    changed the host (the finding is recorded; the next example starts clean)."""

    root = "/"

    def __init__(self, request, tmp_path):
        self.request = request
        self.tmp_path = tmp_path
        self.generation = 0
        self.setup()

    def fixture(self, name):
        return self.request.getfixturevalue(name)

    def fresh_dir(self, name):
        self.generation += 1
        path = self.tmp_path / ("%s-%d" % (name, self.generation))
        path.mkdir()
        return str(path)

    def make(self, cls, params):
        return cls(params) if self.root == "/" else cls(params, root=self.root)

    def run(self, cls, params, check_mode=False):
        """Run the module's code on validated parameters (the engine, with the bed's Resource)."""
        return execute(self.make(cls, params), check_mode=check_mode)

    def reset(self):
        self.teardown()
        self.setup()

    def setup(self):
        raise NotImplementedError

    def teardown(self):
        """Most beds are removed by their fixtures at the end of the test."""


def quiet(ns):
    """No IPv6 in a test namespace: link-local addresses and their routes appear (and leave the
    tentative state) by themselves some time after a link is made, which a snapshot must not see."""
    for key in ("all", "default"):
        ns.exec("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % key)
    return ns


def host_veth(prefix, up=False):
    """A veth pair in the host namespace (a PF or NIC stand-in); returns the first end's name."""
    name, peer = unique_ifname(prefix), unique_ifname(prefix)
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", peer], check=True)
    if up:
        for end in (name, peer):
            subprocess.run(["ip", "link", "set", end, "up"], check=True)
    return name


def host_link(name):
    """What a snapshot compares of a host-namespace link: name, MAC, MTU, up, kind, VFs."""
    out = subprocess.run(["ip", "-d", "-j", "link", "show", "dev", name], check=False, capture_output=True,
                         text=True).stdout
    return [dict({k: link.get(k) for k in ("ifname", "address", "mtu", "linkinfo", "vfinfo_list", "master")},
                 up="UP" in link.get("flags", [])) for link in json.loads(out or "[]")]


class NetnsBed(Bed):
    links = ()

    def setup(self):
        self.ns = quiet(self.fixture("netns_factory")())
        for a, b in self.links:
            self.ns.add_veth(a, b)

    def snap(self):
        return {"netns": netns_state(self.ns), "files": files_state(self.root) if self.root != "/" else None}


class LinuxBridgeBed(NetnsBed):
    links = (("eth1", "peer1"), ("eth2", "peer2"))

    def base(self):
        return dict(name="br0", state="present", ports=["eth1"], exclusive_ports=False, mtu=1500, admin_state="up",
                    netns=self.ns.name)


class MacvtapBed(NetnsBed):
    links = (("lower0", "peer0"),)

    def base(self):
        return dict(name="mvt0", state="present", link="lower0", mode="bridge", mac="02:00:00:6b:5e:02", mtu=1400,
                    admin_state="up", netns=self.ns.name)


class NicBondBed(NetnsBed):
    """enp1 (10.77.0.5/24, default route) and enp2; a host tree saying bonding is loaded (this
    kernel may have none: planning reaches every check, applying would fail)."""

    links = (("enp1", "peer1"), ("enp2", "peer2"))

    def setup(self):
        super().setup()
        self.ns.add_addr("enp1", "10.77.0.5/24")
        self.ns.ip("route", "add", "default", "via", "10.77.0.1", "dev", "enp1")
        self.root = sweep_trees.modules_tree(self.fresh_dir("bonding"), RELEASE, loaded=("bonding",),
                                             deps=("kernel/drivers/net/veth.ko.xz",))

    def base(self):
        return dict(name="bond0", state="present", members=["enp1", "enp2"], mode="active-backup", miimon=100,
                    primary="enp1", arp_ip_target=None, persist="none", netns=self.ns.name)


class OvsBed(Bed):
    links = ()
    bridges = ()

    def setup(self):
        self.ovs = self.fixture("ovs_factory")(netns=quiet(self.fixture("netns_factory")()))
        for a, b in self.links:
            self.ovs.netns.add_veth(a, b)
        for br in self.bridges:
            self.ovs.add_bridge(br)

    def snap(self):
        return {"ovsdb": ovsdb_state(self.ovs), "netns": netns_state(self.ovs.netns)}


class OvsBridgeBed(OvsBed):
    links = (("up0", "up0p"),)

    def base(self):
        return dict(name="br0", state="present", datapath_type="netdev", database=self.ovs.db, timeout=3,
                    fail_mode="standalone", stp=False, external_ids={"kvt": "1"},
                    ports=[{"name": "up0", "tag": 10}])


class OvsBondBed(OvsBed):
    links = (("a1", "b1"), ("a2", "b2"))
    bridges = ("br0",)

    def base(self):
        return dict(name="bond0", bridge="br0", state="present", members=["a1", "a2"], bond_mode="balance-slb",
                    lacp="off", tag=10, database=self.ovs.db, timeout=3)


class OvsPatchBed(OvsBed):
    """link_type=veth: both port names are kernel interface names and netns is where they go (with
    link_type=patch they are OVSDB names only, and netns is not used)."""

    bridges = ("br0", "br1")

    def base(self):
        return dict(bridge="br0", peer_bridge="br1", port="vpa", peer_port="vpb", link_type="veth", state="present",
                    netns=self.ovs.netns.name, database=self.ovs.db, timeout=3)


class LibvirtBed(Bed):
    """A paused domain on the private libvirtd, with one virtio NIC (MAC) on an OVS bridge of the
    private OVS libvirtd uses (its netns); a Linux bridge there too."""

    def setup(self):
        self.libvirtd = self.fixture("libvirtd")
        ns = self.libvirtd.netns
        self.ovsbr = unique_ifname("kvtsw")
        self.libvirtd.ovs.vsctl("--may-exist", "add-br", self.ovsbr, "--", "set", "bridge", self.ovsbr,
                                "datapath_type=netdev")
        self.ovsbr2 = unique_ifname("kvtsw")
        self.libvirtd.ovs.vsctl("--may-exist", "add-br", self.ovsbr2, "--", "set", "bridge", self.ovsbr2,
                                "datapath_type=netdev")
        self.linbr = unique_ifname("kvtsb")
        ns.add_bridge(self.linbr)
        self.dom = self.fixture("libvirt_domains").define(
            interfaces=[ovs_iface(self.ovsbr, vlan=10, mac=MAC), bridge_iface(self.linbr)])

    def teardown(self):
        self.libvirtd.ovs.vsctl("--if-exists", "del-br", self.ovsbr)
        self.libvirtd.ovs.vsctl("--if-exists", "del-br", self.ovsbr2)
        self.libvirtd.netns.ip("link", "del", self.linbr, check=False)

    def snap(self):
        return {"domain": domain_state(self.dom), "ovsdb": ovsdb_state(self.libvirtd.ovs)}


class LibvirtIfaceBed(LibvirtBed):
    def base(self):
        return dict(uri=self.libvirtd.uri, domain=self.dom.name(), mac=MAC, state="present", type="bridge",
                    source=self.ovsbr2, virtualport="openvswitch", model="virtio", link_state="down",
                    vlan={"tags": [20]}, bandwidth={"inbound": {"average": 1000}, "outbound": {"average": 1000}},
                    config=True, live=True, allow_config_only=False, detach_timeout=10)


HOST_PCI = sorted(os.listdir("/sys/bus/pci/devices"))[0] if os.path.isdir("/sys/bus/pci/devices") else None


class LibvirtHostdevBed(LibvirtBed):
    """A persistent definition only (this host has no IOMMU: nothing is ever given to qemu)."""

    def snap(self):
        return {"domain": domain_state(self.dom)}

    def base(self):
        return dict(uri=self.libvirtd.uri, domain=self.dom.name(), source=HOST_PCI, state="present", managed=True,
                    config=True, live=False, allow_config_only=True, detach_timeout=10)


class SriovNetworkBed(Bed):
    """A veth standing in for the PF (this process's netns: the module checks the PF is a host
    interface); the pool's name is unique; libvirt's networks are the snapshot."""

    def setup(self):
        self.libvirtd = self.fixture("libvirtd")
        self.pf = host_veth("kvtpf")
        self.pool = "kvt-sweep-%x-%d" % (os.getpid(), self.generation)

    def teardown(self):
        conn = self.libvirtd.conn()
        for name in conn.listNetworks() + conn.listDefinedNetworks():
            if name.startswith("kvt-sweep-") or name in ("..", "."):
                net = conn.networkLookupByName(name)
                if net.isActive():
                    net.destroy()
                if net.isPersistent():
                    net.undefine()
        subprocess.run(["ip", "link", "del", self.pf], check=False)

    def snap(self):
        conn = self.libvirtd.conn()
        out = {}
        for name in conn.listNetworks() + conn.listDefinedNetworks():
            net = conn.networkLookupByName(name)
            out[name] = (net.XMLDesc(0), net.isActive(), net.autostart())
        return out

    def base(self):
        return dict(uri=self.libvirtd.uri, name=self.pool, state="present", pf=self.pf, managed=True, active=False,
                    autostart=False)


class NetworkBed(Bed):
    """An Open vSwitch bridge in libvirtd's namespace (where its interface driver finds it); the
    network's name is unique; libvirt's networks are the snapshot."""

    def setup(self):
        self.libvirtd = self.fixture("libvirtd")
        self.bridge = unique_ifname("kvtovs")
        self.libvirtd.ovs.vsctl("--may-exist", "add-br", self.bridge, "--", "set", "bridge", self.bridge,
                                "datapath_type=netdev")
        self.net = "kvt-sweep-net-%x-%d" % (os.getpid(), self.generation)

    def teardown(self):
        conn = self.libvirtd.conn()
        for name in conn.listNetworks() + conn.listDefinedNetworks():
            if name.startswith("kvt-sweep-net-"):
                net = conn.networkLookupByName(name)
                if net.isActive():
                    net.destroy()
                net.undefine()
        self.libvirtd.ovs.vsctl("--if-exists", "del-br", self.bridge)

    snap = SriovNetworkBed.snap

    def base(self):
        return dict(uri=self.libvirtd.uri, name=self.net, state="present", forward_mode="openvswitch",
                    bridge=self.bridge, vlan={"tags": [5]},
                    portgroups=[{"name": "pg1", "default": True, "vlan": {"tags": [10]}}],
                    portgroups_exclusive=False, active=False, autostart=False, allow_restart=False)


class PciDeviceBed(Bed):
    def setup(self):
        self.root = sweep_trees.pci_tree(self.fresh_dir("pci"))

    def snap(self):
        return files_state(self.root)

    def base(self):
        return dict(address="04:00.0", driver="vfio-pci", force=False)


class SriovVfBed(Bed):
    """A veth in the host namespace (netlink) standing in for the PF, whose sysfs under the test
    root says: igb, 7 VFs possible, 2 enabled."""

    def setup(self):
        self.pf = host_veth("kvtpf", up=True)  # VF rate limits need the PF up
        self.root = self.fresh_dir("sriov")
        sweep_trees.sriov_tree(self.root, self.pf)

    def teardown(self):
        subprocess.run(["ip", "link", "del", self.pf], check=False)

    def snap(self):
        return {"files": files_state(self.root), "link": host_link(self.pf)}

    def base(self):
        libvirtd = self.fixture("libvirtd")
        return dict(pf=self.pf, numvfs=2, drivers_autoprobe=True, bring_pf_up=False, force=False, persist=False,
                    uri=libvirtd.uri, wait_timeout=1,
                    vfs=[{"vf": 0, "mac": "02:00:00:6b:5e:10", "vlan": 10, "qos": 0, "spoofchk": True,
                          "trust": False, "link_state": "auto", "min_tx_rate": 0, "max_tx_rate": 100}])


class IrqAffinityBed(Bed):
    """A virtio NIC with 4 queue pairs under the test root (CPUs 0-3), named like a veth of the
    host namespace (its channels are read with an ioctl on the real device)."""

    def setup(self):
        self.ifname = host_veth("kvtirq")
        self.root = sweep_trees.irq_tree(self.fresh_dir("irq"), self.ifname)

    def teardown(self):
        subprocess.run(["ip", "link", "del", self.ifname], check=False)

    def snap(self):
        return files_state(self.root)

    def base(self):
        return dict(interface=self.ifname, cpus="2-3", queue_cpus=[{"queue": 1, "cpus": "0"}], pin_irqs=True,
                    rps_cpus="1", xps=False, combined_channels=None, persist=False, irqbalance_ban=False,
                    irqbalance_mode="performance")


class VhostNetBed(Bed):
    def setup(self):
        self.root = sweep_trees.vhost_tree(self.fresh_dir("vhost"), RELEASE)

    def snap(self):
        return files_state(self.root)

    def base(self):
        return dict(state="present", persist=False, experimental_zcopytx=False)


class CheckpointBed(Bed):
    """A checkpoint under a test root (no systemd here: automatic_rollback false, nothing is
    armed). Not a Resource: the module's own runner (_checkpoint_task.execute) is run."""

    def setup(self):
        self.root = self.fresh_dir("checkpoint")

    def snap(self):
        return files_state(self.root)

    def run(self, cls, params, check_mode=False):
        return _checkpoint_task.execute(params, check_mode=check_mode)

    def base(self):
        return dict(state="started", id="kvt-sweep", timeout=600, automatic_rollback=False, root=self.root,
                    probes=[{"ping": "192.0.2.1", "count": 1, "timeout": 1}])


def tcp_probe(value):
    """The base's ping probe turned into a tcp probe of this value (the sweep mutates the sub-options
    of a list's first item; a ping and a tcp in one probe is refused by the spec)."""
    return {P("probes", 0, "ping"): None, P("probes", 0, "count"): None, P("probes", 0, "tcp"): value}


# ------------------------------------------------------------------------------ the tables
IFN, REF = "ifname", "ifname+"
#: per module: the bed, the name class of each str option (``+``: refers to an existing object),
#: extra bad ints, options where a huge int is valid (timeouts are bounds), contradicting pairs,
#: and aliases (a refusal may name the alias the user could have typed).
MODULES = {
    "linux_bridge": dict(
        bed=LinuxBridgeBed,
        classes={"name": IFN, "ports[]": REF, "netns": "netns+"},
        ranges={"mtu": [0, 67, 65536]},
        contradictions=[
            ({P("ports"): ["eth1", "br0"]}, "the bridge as its own port"),
            ({P("name"): "eth2", P("ports"): ["eth1"]}, "the name of an existing veth"),
        ]),
    "macvtap": dict(
        bed=MacvtapBed,
        classes={"name": IFN, "link": REF, "mac": "mac", "netns": "netns+"},
        ranges={"mtu": [0, 67, 65536]},
        aliases={"link": ("lower",), "mac": ("address",)},
        contradictions=[
            ({P("link"): "mvt0"}, "the macvtap as its own lower device"),
            ({P("name"): "lower0", P("link"): "lower0"}, "the name of its lower device"),
        ]),
    "nic_bond": dict(
        bed=NicBondBed,
        classes={"name": IFN, "members[]": REF, "bridge": IFN, "primary": REF, "address": "cidr", "gateway": "ip",
                 "arp_ip_target[]": "ip", "mode": "free", "netns": "netns+"},
        ranges={"mtu": [0, 67, 65536]},
        contradictions=[
            ({P("mode"): "active-backup", P("lacp_rate"): "fast"}, "lacp_rate needs 802.3ad"),
            ({P("mode"): "active-backup", P("xmit_hash_policy"): "layer3+4"}, "xmit_hash_policy in active-backup"),
            ({P("address"): "10.77.0.6/24", P("gateway"): "10.78.0.1"}, "gateway outside the subnet"),
            ({P("primary"): "peer1", P("members"): ["enp1", "enp2"]}, "primary not a member"),
            ({P("mode"): "802.3ad", P("primary"): "enp1"}, "primary in 802.3ad"),
            ({P("members"): ["enp1", "enp1"]}, "a member listed twice"),
            ({P("members"): ["enp1", "bond0"]}, "the bond as its own member"),
            ({P("bridge"): "bond0", P("name"): "bond0"}, "the bridge named like the bond"),
            ({P("bridge"): "enp2", P("members"): ["enp1", "enp2"]}, "the bridge named like a member"),
            ({P("gateway"): "10.77.0.1"}, "gateway without address"),
            ({P("arp_interval"): 100, P("arp_ip_target"): None}, "arp_interval without arp_ip_target"),
        ]),
    "ovs_bridge": dict(
        bed=OvsBridgeBed,
        classes={"name": IFN, "ports[].name": IFN, "ports[].peer": "ovs_name", "ports[].remote_ip": "ip",
                 "datapath_type": "free", "database": "database"},
        ranges={"ports[].tag": [4096], "ports[].trunks[]": [4096]},
        huge_ok={"timeout"},
        aliases={"name": ("bridge",)},
        contradictions=[
            ({P("ports", 0, "type"): "patch"}, "a patch port without peer"),
            ({P("ports", 0, "type"): "vxlan"}, "a vxlan port without remote_ip"),
            ({P("ports", 0, "peer"): "pb", P("ports", 0, "type"): "system"}, "peer on a system port"),
            ({P("ports", 0, "remote_ip"): "192.0.2.1", P("ports", 0, "type"): "system"}, "remote_ip on a system port"),
            ({P("ports", 0, "clear"): ["tag"], P("ports", 0, "tag"): 10}, "clear tag and set tag"),
            ({P("ports", 0, "vlan_mode"): "trunk", P("ports", 0, "tag"): 10}, "tag on a trunk port"),
            ({P("ports"): [{"name": "up0", "tag": 10}, {"name": "up0", "tag": 20}]}, "a port listed twice"),
            ({P("ports", 0, "name"): "br0"}, "the bridge's own name as a port"),
        ]),
    "ovs_bond": dict(
        bed=OvsBondBed,
        classes={"name": IFN, "bridge": "ifname", "members[]": IFN, "database": "database"},
        ranges={"tag": [4096], "trunks[]": [4096]},
        huge_ok={"timeout"},
        contradictions=[
            ({P("members"): ["a1"]}, "a bond of one member"),
            ({P("members"): ["a1", "a1"]}, "a member listed twice"),
            ({P("bond_mode"): "balance-tcp", P("lacp"): "off"}, "balance-tcp needs LACP"),
            ({P("lacp_time"): "fast", P("lacp"): "off"}, "lacp_time with lacp off"),
            ({P("clear"): ["tag"], P("tag"): 10}, "clear tag and set tag"),
            ({P("trunks"): [10, 20], P("clear"): ["trunks"]}, "clear trunks and set trunks"),
            ({P("link_detection"): "carrier", P("miimon_interval"): 100}, "miimon_interval with carrier"),
            ({P("name"): "br0", P("bridge"): "br0"}, "the bond named like its bridge"),
            ({P("members"): ["a1", "bond0"], P("name"): "bond0"}, "the bond as its own member"),
        ]),
    "ovs_patch": dict(
        bed=OvsPatchBed,
        classes={"bridge": REF, "peer_bridge": REF, "port": IFN, "peer_port": IFN, "netns": "netns+",
                 "database": "database"},
        huge_ok={"timeout"},
        contradictions=[
            ({P("peer_bridge"): "br0", P("bridge"): "br0"}, "a bridge patched to itself"),
            ({P("peer_port"): "vpa", P("port"): "vpa"}, "both ends with one name"),
            ({P("port"): "br1", P("peer_bridge"): "br1"}, "a port named like the peer bridge"),
        ]),
    "libvirt_iface": dict(
        bed=LibvirtIfaceBed,
        classes={"domain": "domain+", "mac": "mac", "source": REF, "pf": REF, "target_dev": IFN,
                 "alias": "libvirt_name", "model": "free", "portgroup": "free", "uri": "uri"},
        ranges={"mtu": [0, 67, 65536], "queues": [0, 1025], "rx_queue_size": [0, 100, 300, 2048],
                "tx_queue_size": [0, 100, 300, 2048], "vlan.tags[]": [4096], "vlan.native_tag": [4096]},
        huge_ok={"detach_timeout"},
        contradictions=[
            ({P("live"): False, P("config"): False}, "neither live nor config"),
            ({P("type"): "hostdev", P("pf"): None, P("vf"): None}, "hostdev without pf/vf"),
            ({P("vf"): 0, P("type"): "bridge"}, "vf on a bridge interface"),
            ({P("pf"): "eth0", P("type"): "bridge"}, "pf on a bridge interface"),
            ({P("source_mode"): "vepa", P("type"): "bridge"}, "source_mode on a bridge interface"),
            ({P("virtualport"): "none", P("vlan", "tags"): [20]}, "vlan without openvswitch"),
            ({P("vlan", "tags"): [10, 20], P("vlan", "trunk"): False}, "two tags without trunk"),
            ({P("vlan", "native_mode"): "tagged", P("vlan", "native_tag"): None}, "native_mode without native_tag"),
            ({P("bandwidth", "inbound", "peak"): 10, P("bandwidth", "inbound", "average"): 1000},
             "peak below average"),
            ({P("driver_name"): "qemu", P("queues"): 4}, "queues without vhost"),
        ]),
    "libvirt_hostdev": dict(
        bed=LibvirtHostdevBed,
        classes={"domain": "domain+", "source": "pci+", "uri": "uri"},
        huge_ok={"detach_timeout"},
        contradictions=[
            ({P("live"): False, P("config"): False}, "neither live nor config"),
        ]),
    "libvirt_sriov_network": dict(
        bed=SriovNetworkBed,
        classes={"name": "libvirt_name", "pf": REF, "uri": "uri"},
        contradictions=[
            ({P("state"): "absent", P("active"): True}, "absent and active"),
            ({P("state"): "absent", P("autostart"): True}, "absent and autostart"),
            ({P("active"): True, P("managed"): False, P("pf"): None}, "active without a PF"),
        ]),
    "libvirt_network": dict(
        bed=NetworkBed,
        classes={"name": "libvirt_name", "bridge": REF, "uri": "uri", "portgroups[].name": "libvirt_name",
                 "devices[]": IFN, "pf": IFN},
        ranges={"vlan.tags[]": [0, 4095, 4096], "vlan.native_tag": [0, 4095], "portgroups[].vlan.tags[]": [0, 4095],
                "portgroups[].vlan.native_tag": [0, 4095]},
        contradictions=[
            ({P("state"): "absent", P("active"): True}, "absent and active"),
            ({P("portgroups"): [{"name": "a", "default": True}, {"name": "b", "default": True}]}, "two defaults"),
            ({P("portgroups"): [{"name": "a", "default": False}, {"name": "a", "default": False}]}, "a name twice"),
            ({P("pf"): "eth0"}, "a hostdev option on openvswitch"),
            ({P("forward_mode"): "bridge"}, "a VLAN on a Linux bridge network"),
            ({P("forward_mode"): "direct"}, "direct without devices"),
        ]),
    "pci_device": dict(
        bed=PciDeviceBed,
        classes={"address": "pci+", "driver": "driver+"},
        contradictions=[]),
    "sriov_vf": dict(
        bed=SriovVfBed,
        classes={"pf": REF, "vfs[].mac": "vf_mac", "uri": "uri_syntax"},
        ranges={"numvfs": [8], "vfs[].vf": [2, 7, 99], "vfs[].vlan": [4096], "vfs[].qos": [8]},
        huge_ok={"wait_timeout"},
        contradictions=[
            ({P("vfs", 0, "min_tx_rate"): 200, P("vfs", 0, "max_tx_rate"): 100}, "min_tx_rate above max_tx_rate"),
            ({P("vfs", 0, "qos"): 3, P("vfs", 0, "vlan"): 0}, "qos without a VLAN"),
            ({P("vfs"): [{"vf": 0, "vlan": 10}, {"vf": 0, "vlan": 20}]}, "a VF listed twice"),
        ]),
    "checkpoint": dict(
        bed=CheckpointBed,
        classes={"id": "checkpoint_id", "probes[].ping": "probe_host", "probes[].tcp": "host_port"},
        ranges={"timeout": [0, 29, 86401], "probes[].count": [0, 21], "probes[].timeout": [0, 61]},
        contradictions=[
            ({P("state"): "rolled_back"}, "probes with state rolled_back"),
            ({**tcp_probe("192.0.2.1:22"), P("probes", 0, "count"): 2}, "count on a tcp probe"),
            ({P("probes", 0, "tcp"): "192.0.2.1:22"}, "ping and tcp in one probe"),
            ({P("probes", 0, "ping"): None}, "a probe with neither ping nor tcp"),
            ({P("probes", 0, "kvt_bogus"): 1}, "an unknown key in a probe"),
        ]),
    "irq_affinity": dict(
        bed=IrqAffinityBed,
        classes={"interface": REF, "cpus": "cpus", "rps_cpus": "rps_cpus", "queue_cpus[].cpus": "cpus"},
        ranges={"combined_channels": [0], "queue_cpus[].queue": [4, 99]},
        contradictions=[
            ({P("pin_irqs"): False, P("cpus"): "0"}, "cpus with pin_irqs false"),
            ({P("queue_cpus"): [{"queue": 1, "cpus": "0"}, {"queue": 1, "cpus": "1"}]}, "a queue listed twice"),
        ]),
    "vhost_net": dict(
        bed=VhostNetBed,
        classes={},
        contradictions=[
            ({P("state"): "absent", P("experimental_zcopytx"): True}, "absent with a module option"),
        ]),
}


def contra(module, note):
    """The contradiction of MODULES[module] with this note, as a Mutation."""
    (sets,) = [c[0] for c in MODULES[module]["contradictions"] if c[1] == note]
    return Mutation("contradiction", sets, note)


#: always run (hypothesis explicit examples), whatever is drawn: the inputs the issue names, and
#: one reproducer of each finding of the thorough run (KVT_SWEEP_EXAMPLES=150) on main as of
#: this test's commit, so that a fix is seen by the default run (and a regression too)
SEEDS = {
    "checkpoint": [Mutation("name", tcp_probe(v))
                   for v in ("192.0.2.1:0", "192.0.2.1:65536", "192.0.2.1:22\n", "2001:db8::1:22", "-x:22", "192.0.2.1")]
    + [Mutation("name", {P("id"): v}) for v in ("kvt/x", "kvt\x00x", "..", "kvt\n", "../kvt")]
    + [Mutation("name", {P("probes", 0, "ping"): v}) for v in ("-c1", "kvt\n", "192.0.2.1\n")]
    + [Mutation("range", {P("timeout"): 29}), Mutation("range", {P("timeout"): 86401}),
       Mutation("range", {P("probes", 0, "count"): 0}), Mutation("range", {P("probes", 0, "timeout"): 0}),
       contra("checkpoint", "probes with state rolled_back"), contra("checkpoint", "count on a tcp probe"),
       contra("checkpoint", "an unknown key in a probe"), contra("checkpoint", "a probe with neither ping nor tcp")],
    "irq_affinity": [Mutation("name", {P("cpus"): ""}), Mutation("name", {P("cpus"): "0,,1"}),
                     Mutation("name", {P("rps_cpus"): "0,,1"}), Mutation("name", {P("queue_cpus", 0, "cpus"): "0,,1"}),
                     contra("irq_affinity", "cpus with pin_irqs false"), contra("irq_affinity", "a queue listed twice")],
    "libvirt_iface": [Mutation("range", {P("bandwidth", "outbound", "burst"): 2 ** 32}),
                      Mutation("name", {P("model"): "kvt\x00x"}), Mutation("missing", {P("source"): "kvtnoy"}),
                      Mutation("range", {P("bandwidth", "inbound", "average"): 2 ** 32 + 1}),
                      contra("libvirt_iface", "peak below average"),
                      Mutation("type", {P("bandwidth"): 5})],
    "libvirt_sriov_network": [Mutation("missing", {P("pf"): "kvtnopf0"}), Mutation("name", {P("name"): ".."}),
                              Mutation("name", {P("name"): "kvt x;y"}),
                              contra("libvirt_sriov_network", "absent and active"),
                              contra("libvirt_sriov_network", "absent and autostart")],
    "linux_bridge": [Mutation("name", {P("netns"): ""}), Mutation("name", {P("netns"): ".."}),
                     Mutation("name", {P("name"): "kvt\x00"})],
    "macvtap": [Mutation("name", {P("name"): "kvt\x00x"}), Mutation("name", {P("mac"): "52:54:00:6b:00:1\n"}),
                Mutation("name", {P("netns"): ""})],
    "nic_bond": [Mutation("range", {P("miimon"): 2 ** 32}), Mutation("name", {P("netns"): ""})],
    "ovs_bond": [Mutation("range", {P("downdelay"): 2 ** 32}), Mutation("range", {P("miimon_interval"): 2 ** 32}),
                 Mutation("range", {P("updelay"): 2 ** 70}), Mutation("range", {P("timeout"): -1}),
                 Mutation("name", {P("name"): "kvt\x00"})],
    "ovs_bridge": [Mutation("name", {P("ports", 0, "name"): v}) for v in ("a" * 16, "kvt x", "kvt/x", "..", "kvt\nx")]
    + [Mutation("name", {P("datapath_type"): "kvt bogus"}), Mutation("name", {P("ports", 0, "peer"): "kvt x"}),
       Mutation("range", {P("timeout"): -1}), Mutation("name", {P("name"): "kvt\x00x"}),
       contra("ovs_bridge", "a patch port without peer"), contra("ovs_bridge", "a vxlan port without remote_ip"),
       contra("ovs_bridge", "tag on a trunk port")],
    "ovs_patch": [Mutation("name", {P("port"): ""}), Mutation("name", {P("netns"): ""}),
                  Mutation("name", {P("netns"): ".."}), Mutation("range", {P("timeout"): -1}),
                  Mutation("name", {P("port"): "kvt\x00"})],
    "pci_device": [Mutation("name", {P("driver"): ""}), Mutation("name", {P("driver"): ".."})],
    "sriov_vf": [Mutation("range", {P("vfs", 0, "max_tx_rate"): 2 ** 32}), Mutation("name", {P("uri"): ""}),
                 Mutation("range", {P("vfs", 0, "vf"): 7})],
    "vhost_net": [contra("vhost_net", "absent with a module option")],
}


def all_modules():
    names = sorted(f[:-3] for f in os.listdir(MODULES_DIR) if f.endswith(".py") and not f.startswith("_"))
    return [n for n in names if not n.endswith("_info")]


def test_every_module_has_a_sweep():
    """A new module gets a row in MODULES (and a valid base on the test bed), or this fails."""
    assert sorted(MODULES) == all_modules()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_bad_input_sweep(module, request, tmp_path):
    conf = MODULES[module]
    spec, kwargs, resource_class = module_contract(module)
    bed = conf["bed"](request, tmp_path)
    try:
        # the base is valid and works on this test bed: the spec takes it, the Resource plans it
        base = bed.base()
        checked = ArgumentSpecValidator(spec, **{k: v for k, v in kwargs.items() if k != "supports_check_mode"}) \
            .validate(base)
        assert not checked.error_messages, "%s: the base is refused: %s" % (module, checked.error_messages)
        before = bed.snap()
        bed.run(resource_class, checked.validated_parameters, check_mode=True)
        assert bed.snap() == before

        findings = []
        seen = set()
        seconds = {"refused": 0.0, "findings": 0.0}
        strategy = mutations(spec, base, classes=conf.get("classes"), ranges=conf.get("ranges"),
                             huge_ok=conf.get("huge_ok", ()), contradictions=conf.get("contradictions", ()))

        def one(mutation):
            key = repr(mutation)
            if key in seen:
                return
            seen.add(key)
            params = mutation.apply(bed.base())
            t0 = time.monotonic()
            found = judge(module, spec, kwargs, resource_class, params, mutation, bed.snap, bed.make,
                          aliases=conf.get("aliases"), runner=bed.run)
            seconds["findings" if found else "refused"] += time.monotonic() - t0
            if found:
                found["params"] = {k: v for k, v in params.items() if v is not None}
                findings.append(found)
                if found.get("host_changed") or found["what"].startswith("ACCEPTED"):
                    bed.reset()

        run = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                       phases=[Phase.explicit, Phase.generate],
                       suppress_health_check=list(HealthCheck))(given(strategy)(one))
        for seed in SEEDS.get(module, []):
            run = example(seed)(run)
        run()
        print("\n%s: %d distinct inputs, %d findings (%.1f s on the refused ones, %.1f s on the findings)"
              % (module, len(seen), len(findings), seconds["refused"], seconds["findings"]))
        if findings:
            print(format_findings(findings))
        assert not findings, "%s: %d of %d bad inputs not refused properly:\n%s" % (
            module, len(findings), len(seen), format_findings(findings))
    finally:
        bed.teardown()
