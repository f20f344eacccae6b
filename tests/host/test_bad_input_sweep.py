# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A generated bad-input sweep of every module (issue 12), on the real host test bed.

The tables (a valid base per module with placeholders, name classes, ranges, contradicting
groups, seeds) are tests/badinput/tables.py; the strategies drawn from each module's own
argument spec are testbed/sweep.py; each input runs through the module's REAL entry point
(its ``main()``, with ``_ANSIBLE_ARGS`` set as AnsiballZ sets it, SystemExit caught, its JSON
read) and is judged by tests/badinput/runner.py -- the same runner and judge a managed host of
the VM tier runs (tests/badinput/README.md). The beds here are this machine's: netns + veths,
a private OVS, the private libvirtd with a paused domain, and for what this kernel lacks
(bonding, SR-IOV, PCI binding, virtio IRQs, vhost_net) a sysfs/proc tree under a test root
that the module's Resource is built on (``root=``).

The base is proven first (the module takes it in check mode on this bed). Then hypothesis
draws ONE mutation at a time (wrong types, out-of-range ints, impossible names of the option's
class, well-formed names of objects that do not exist, values outside choices, contradicting
groups). Every input must be refused: ``failed``, a message naming the option (the argument
path: ``ports[0].name``; ``ports[eth1].name`` or ``ports.name`` count), a typed refusal
(invalid_input / not_found / conflict / unsupported; backend_unavailable for uri / database),
``changed`` false, no traceback, and the host snapshot identical. An input the module accepts
is a finding, and so is any traceback (``bandwidth: 5`` once made ansible-core's validator
raise: plugins/module_utils/_module.py). Findings are collected for all examples of a module
and reported together.

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
from testbed.sweep import mutations
from testbed.util import unique_ifname

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TESTS, "perf"))
sys.path.insert(0, os.path.join(TESTS, "badinput"))
from engine_bench import module_contract  # noqa: E402  # pylint: disable=wrong-import-position
from runner import format_findings, judge, resolve, run_module  # noqa: E402  # pylint: disable=wrong-import-position
from tables import BASES, MAC, MODULES, SEEDS  # noqa: E402  # pylint: disable=wrong-import-position

EXAMPLES = int(os.environ.get("KVT_SWEEP_EXAMPLES", "30"))
MODULES_DIR = os.path.join(os.path.dirname(TESTS), "plugins", "modules")
RELEASE = os.uname().release

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces, OVS, libvirtd: needs root")


# ------------------------------------------------------------------------------ test beds
class Bed:
    """One module's test bed: ``values()`` what the placeholders of the module's base
    (tests/badinput/tables.py BASES) are here, ``snap()`` the host snapshot, ``root`` a test root
    for the module's Resource (None: the real host), ``reset()`` a fresh bed after a mutation
    changed the host (the finding is recorded; the next example starts clean)."""

    root = None

    def __init__(self, module, request, tmp_path):
        self.module = module
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

    def base(self):
        return resolve(BASES[self.module], self.values())

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
        return {"netns": netns_state(self.ns), "files": files_state(self.root) if self.root else None}


class LinuxBridgeBed(NetnsBed):
    links = (("eth1", "peer1"), ("eth2", "peer2"))

    def values(self):
        return {"@netns": self.ns.name}


class MacvtapBed(NetnsBed):
    links = (("lower0", "peer0"),)

    def values(self):
        return {"@netns": self.ns.name}


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

    def values(self):
        return {"@netns": self.ns.name}


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

    def values(self):
        return {"@db": self.ovs.db, "@datapath": "netdev", "@br0": "br0", "@up0": "up0"}


class OvsBondBed(OvsBed):
    links = (("a1", "b1"), ("a2", "b2"))
    bridges = ("br0",)

    def values(self):
        return {"@db": self.ovs.db, "@br0": "br0", "@bond0": "bond0", "@a1": "a1", "@a2": "a2"}


class OvsPatchBed(OvsBed):
    """link_type=veth: both port names are kernel interface names and netns is where they go (with
    link_type=patch they are OVSDB names only, and netns is not used)."""

    bridges = ("br0", "br1")

    def values(self):
        return {"@db": self.ovs.db, "@ovsns": self.ovs.netns.name, "@br0": "br0", "@br1": "br1", "@vpa": "vpa", "@vpb": "vpb"}


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
    def values(self):
        return {"@uri": self.libvirtd.uri, "@domain": self.dom.name(), "@ovsbr2": self.ovsbr2}


HOST_PCI = sorted(os.listdir("/sys/bus/pci/devices"))[0] if os.path.isdir("/sys/bus/pci/devices") else None


class LibvirtHostdevBed(LibvirtBed):
    """A persistent definition only (this host has no IOMMU: nothing is ever given to qemu)."""

    def snap(self):
        return {"domain": domain_state(self.dom)}

    def values(self):
        return {"@uri": self.libvirtd.uri, "@domain": self.dom.name(), "@pci": HOST_PCI}


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

    def values(self):
        return {"@uri": self.libvirtd.uri, "@net": self.pool, "@pf": self.pf}


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

    def values(self):
        return {"@uri": self.libvirtd.uri, "@net": self.net, "@ovsbr": self.bridge}


class PciDeviceBed(Bed):
    def setup(self):
        self.root = sweep_trees.pci_tree(self.fresh_dir("pci"))

    def snap(self):
        return files_state(self.root)

    def values(self):
        return {"@pci": "04:00.0", "@pci_driver": "vfio-pci"}


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

    def values(self):
        return {"@sriov_pf": self.pf, "@numvfs": 2, "@uri": self.fixture("libvirtd").uri}


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

    def values(self):
        return {"@irq_if": self.ifname, "@irq_cpus": "2-3"}


class VhostNetBed(Bed):
    def setup(self):
        self.root = sweep_trees.vhost_tree(self.fresh_dir("vhost"), RELEASE)

    def snap(self):
        return files_state(self.root)

    def values(self):
        return {}


class CheckpointBed(Bed):
    """A checkpoint under a directory of its own (its ``root`` option; no systemd here:
    automatic_rollback false, nothing is armed)."""

    def setup(self):
        self.dir = self.fresh_dir("checkpoint")

    def snap(self):
        return files_state(self.dir)

    def values(self):
        return {"@root": self.dir}


BEDS = {"linux_bridge": LinuxBridgeBed, "macvtap": MacvtapBed, "nic_bond": NicBondBed, "ovs_bridge": OvsBridgeBed,
        "ovs_bond": OvsBondBed, "ovs_patch": OvsPatchBed, "libvirt_iface": LibvirtIfaceBed,
        "libvirt_hostdev": LibvirtHostdevBed, "libvirt_sriov_network": SriovNetworkBed, "libvirt_network": NetworkBed,
        "pci_device": PciDeviceBed, "sriov_vf": SriovVfBed, "checkpoint": CheckpointBed,
        "irq_affinity": IrqAffinityBed, "vhost_net": VhostNetBed}


def all_modules():
    names = sorted(f[:-3] for f in os.listdir(MODULES_DIR) if f.endswith(".py") and not f.startswith("_"))
    return [n for n in names if not n.endswith("_info")]


def test_every_module_has_a_sweep():
    """A new module gets a row in the tables and a bed here, or this fails."""
    assert sorted(MODULES) == sorted(BASES) == sorted(BEDS) == all_modules()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_bad_input_sweep(module, request, tmp_path):
    conf = MODULES[module]
    spec, _kwargs, _resource_class = module_contract(module)
    bed = BEDS[module](module, request, tmp_path)
    try:
        # the base is valid and works on this test bed: the module takes it in check mode
        before = bed.snap()
        outcome = run_module(module, bed.base(), check_mode=True, root=bed.root)
        assert outcome["result"] and not outcome["result"].get("failed"), \
            "%s: the base is refused: %s" % (module, outcome)
        assert bed.snap() == before

        findings = []
        seen = set()
        seconds = {"refused": 0.0, "findings": 0.0}
        strategy = mutations(spec, BASES[module], classes=conf.get("classes"), ranges=conf.get("ranges"),
                             huge_ok=conf.get("huge_ok", ()), contradictions=conf.get("contradictions", ()))

        def one(mutation):
            key = repr(mutation)
            if key in seen:
                return
            seen.add(key)
            case = mutation.case(module, BASES[module])
            params = resolve(case["params"], bed.values())
            t0 = time.monotonic()
            snap0 = bed.snap()
            outcome = run_module(module, params, root=bed.root)
            snap1 = bed.snap()
            problems = judge(case, outcome, snap0, snap1, conf.get("aliases"))
            seconds["findings" if problems else "refused"] += time.monotonic() - t0
            if problems:
                findings.append({"module": module, "kind": mutation.kind, "note": mutation.note,
                                 "mutation": mutation.label(), "problems": problems})
                if snap0 != snap1 or any(p.startswith("ACCEPTED") for p in problems):
                    bed.reset()

        run = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                       phases=[Phase.explicit, Phase.generate],
                       suppress_health_check=list(HealthCheck))(given(strategy)(one))
        for seed in SEEDS.get(module, []):
            run = example(seed)(run)
        run()
        print("\n%s: %d distinct inputs, %d findings (%.1f s on the refused ones, %.1f s on the findings)"
              % (module, len(seen), len(findings), seconds["refused"], seconds["findings"]))
        assert not findings, "%s: %d of %d bad inputs not refused properly:\n%s" % (
            module, len(findings), len(seen), format_findings(findings))
    finally:
        bed.teardown()
