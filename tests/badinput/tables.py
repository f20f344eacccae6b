# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bad-input sweep's tables, one home for both places it runs (issue 12): the host tier
(tests/host/test_bad_input_sweep.py, hypothesis drawing live) and a managed host of the VM tier
(tests/badinput/generate.py writes the cases, tests/badinput/runner.py runs them there).

Per module: ``BASES`` a VALID parameter set, with placeholders (``"@netns"``, ``"@db"``,
``"@br0"``, ...) for what a bed makes on the host it runs on (tests/badinput/beds.py on
a managed host, the beds of tests/host/test_bad_input_sweep.py on this machine); ``MODULES``
the name class of each str option (``+``: it refers to an existing object, so well-formed names
of missing objects are drawn too), extra bad ints, options where a huge int is valid (timeouts
are bounds), contradicting option groups, and aliases (a refusal may name the alias); ``SEEDS``
the inputs always run (the issue's and one reproducer of each past finding).
"""

from __future__ import annotations

from testbed.sweep import Mutation


def P(*parts):  # noqa: N802 - a path, short for the tables
    return tuple(parts)


MAC = "52:54:00:6b:5e:01"

#: the valid base of each module, with the beds' placeholders
BASES = {
    "linux_bridge": dict(name="br0", state="present", ports=["eth1"], exclusive_ports=False, mtu=1500,
                         admin_state="up", netns="@netns"),
    "macvtap": dict(name="mvt0", state="present", link="lower0", mode="bridge", mac="02:00:00:6b:5e:02", mtu=1400,
                    admin_state="up", netns="@netns"),
    "nic_bond": dict(name="bond0", state="present", members=["enp1", "enp2"], mode="active-backup", miimon=100,
                     primary="enp1", arp_ip_target=None, persist="none", netns="@netns"),
    "ovs_bridge": dict(name="@br0", state="present", datapath_type="@datapath", database="@db", timeout=3,
                       fail_mode="standalone", stp=False, external_ids={"kvt": "1"},
                       ports=[{"name": "@up0", "tag": 10}]),
    "ovs_bond": dict(name="@bond0", bridge="@br0", state="present", members=["@a1", "@a2"], bond_mode="balance-slb",
                     lacp="off", tag=10, database="@db", timeout=3),
    # link_type=veth: both port names are kernel interface names, made where ovs-vswitchd runs
    "ovs_patch": dict(bridge="@br0", peer_bridge="@br1", port="@vpa", peer_port="@vpb", link_type="veth",
                      state="present", netns="@ovsns", database="@db", timeout=3),
    # config only: a defined domain is enough (never started on a managed host)
    "libvirt_iface": dict(uri="@uri", domain="@domain", mac=MAC, state="present", type="bridge", source="@ovsbr2",
                          virtualport="openvswitch", model="virtio", link_state="down", vlan={"tags": [20]},
                          bandwidth={"inbound": {"average": 1000}, "outbound": {"average": 1000}},
                          config=True, live=False, allow_config_only=True, detach_timeout=10),
    "libvirt_hostdev": dict(uri="@uri", domain="@domain", source="@pci", state="present", managed=True, config=True,
                            live=False, allow_config_only=True, detach_timeout=10),
    "libvirt_sriov_network": dict(uri="@uri", name="@net", state="present", pf="@pf", managed=True, active=False,
                                  autostart=False),
    "libvirt_network": dict(uri="@uri", name="@net", state="present", forward_mode="openvswitch", bridge="@ovsbr",
                            vlan={"tags": [5]}, portgroups=[{"name": "pg1", "default": True, "vlan": {"tags": [10]}}],
                            portgroups_exclusive=False, active=False, autostart=False, allow_restart=False),
    "pci_device": dict(address="@pci", driver="@pci_driver", force=False),
    # the PF's VFs as they are (@numvfs: 1 to 6 of 7 possible on an igb)
    "sriov_vf": dict(pf="@sriov_pf", numvfs="@numvfs", drivers_autoprobe=True, bring_pf_up=False, force=False, persist=False,
                     uri="@uri", wait_timeout=1,
                     vfs=[{"vf": 0, "mac": "02:00:00:6b:5e:10", "vlan": 10, "qos": 0, "spoofchk": True,
                           "trust": False, "link_state": "auto", "min_tx_rate": 0, "max_tx_rate": 100}]),
    # a virtio NIC with 4 queue pairs; @irq_cpus: 2-3 on the host tier's tree (CPUs 0-3), 0-1 on a VM
    "irq_affinity": dict(interface="@irq_if", cpus="@irq_cpus", queue_cpus=[{"queue": 1, "cpus": "0"}], pin_irqs=True,
                         rps_cpus="1", xps=False, combined_channels=None, persist=False, irqbalance_ban=False,
                         irqbalance_mode="performance"),
    "vhost_net": dict(state="present", persist=False, experimental_zcopytx=False),
    # no systemd timer armed: automatic_rollback false, under a root of its own
    "checkpoint": dict(state="started", id="kvt-sweep", timeout=600, automatic_rollback=False, root="@root",
                       probes=[{"ping": "192.0.2.1", "count": 1, "timeout": 1}]),
}


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
        classes={"name": IFN, "ports[]": REF, "netns": "netns+"},
        ranges={"mtu": [0, 67, 65536]},
        contradictions=[
            ({P("ports"): ["eth1", "br0"]}, "the bridge as its own port"),
            ({P("name"): "eth2", P("ports"): ["eth1"]}, "the name of an existing veth"),
        ]),
    "macvtap": dict(
        classes={"name": IFN, "link": REF, "mac": "mac", "netns": "netns+"},
        ranges={"mtu": [0, 67, 65536]},
        aliases={"link": ("lower",), "mac": ("address",)},
        contradictions=[
            ({P("link"): "mvt0"}, "the macvtap as its own lower device"),
            ({P("name"): "lower0", P("link"): "lower0"}, "the name of its lower device"),
        ]),
    "nic_bond": dict(
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
            ({P("ports"): [{"name": "@up0", "tag": 10}, {"name": "@up0", "tag": 20}]}, "a port listed twice"),
            ({P("ports", 0, "name"): "@br0"}, "the bridge's own name as a port"),
        ]),
    "ovs_bond": dict(
        classes={"name": IFN, "bridge": "ifname", "members[]": IFN, "database": "database"},
        ranges={"tag": [4096], "trunks[]": [4096]},
        huge_ok={"timeout"},
        contradictions=[
            ({P("members"): ["@a1"]}, "a bond of one member"),
            ({P("members"): ["@a1", "@a1"]}, "a member listed twice"),
            ({P("bond_mode"): "balance-tcp", P("lacp"): "off"}, "balance-tcp needs LACP"),
            ({P("lacp_time"): "fast", P("lacp"): "off"}, "lacp_time with lacp off"),
            ({P("clear"): ["tag"], P("tag"): 10}, "clear tag and set tag"),
            ({P("trunks"): [10, 20], P("clear"): ["trunks"]}, "clear trunks and set trunks"),
            ({P("link_detection"): "carrier", P("miimon_interval"): 100}, "miimon_interval with carrier"),
            ({P("name"): "@br0", P("bridge"): "@br0"}, "the bond named like its bridge"),
            ({P("members"): ["@a1", "@bond0"], P("name"): "@bond0"}, "the bond as its own member"),
        ]),
    "ovs_patch": dict(
        classes={"bridge": REF, "peer_bridge": REF, "port": IFN, "peer_port": IFN, "netns": "netns+",
                 "database": "database"},
        huge_ok={"timeout"},
        contradictions=[
            ({P("peer_bridge"): "@br0", P("bridge"): "@br0"}, "a bridge patched to itself"),
            ({P("peer_port"): "@vpa", P("port"): "@vpa"}, "both ends with one name"),
            ({P("port"): "@br1", P("peer_bridge"): "@br1"}, "a port named like the peer bridge"),
        ]),
    "libvirt_iface": dict(
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
            # (virtualport none with vlan is valid: a Linux bridge's VLAN filter, _libvirt_iface_vlans)
            ({P("vlan", "tags"): [10, 20], P("vlan", "trunk"): False}, "two tags without trunk"),
            ({P("vlan", "native_mode"): "tagged", P("vlan", "native_tag"): None}, "native_mode without native_tag"),
            ({P("bandwidth", "inbound", "peak"): 10, P("bandwidth", "inbound", "average"): 1000},
             "peak below average"),
            # (driver qemu with queues is valid: qemu's own multi-queue tap)
            ({P("model"): "e1000", P("queues"): 4}, "queues on a model that is not virtio"),
        ]),
    "libvirt_hostdev": dict(
        classes={"domain": "domain+", "source": "pci+", "uri": "uri"},
        huge_ok={"detach_timeout"},
        contradictions=[
            ({P("live"): False, P("config"): False}, "neither live nor config"),
        ]),
    "libvirt_sriov_network": dict(
        classes={"name": "libvirt_name", "pf": REF, "uri": "uri"},
        contradictions=[
            ({P("state"): "absent", P("active"): True}, "absent and active"),
            ({P("state"): "absent", P("autostart"): True}, "absent and autostart"),
            ({P("active"): True, P("managed"): False, P("pf"): None}, "active without a PF"),
        ]),
    "libvirt_network": dict(
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
        classes={"address": "pci+", "driver": "driver+"},
        contradictions=[]),
    "sriov_vf": dict(
        classes={"pf": REF, "vfs[].mac": "vf_mac", "uri": "uri_syntax"},
        ranges={"numvfs": [8], "vfs[].vf": [7, 99], "vfs[].vlan": [4096], "vfs[].qos": [8]},
        huge_ok={"wait_timeout"},
        contradictions=[
            ({P("vfs", 0, "min_tx_rate"): 200, P("vfs", 0, "max_tx_rate"): 100}, "min_tx_rate above max_tx_rate"),
            ({P("vfs", 0, "qos"): 3, P("vfs", 0, "vlan"): 0}, "qos without a VLAN"),
            ({P("vfs"): [{"vf": 0, "vlan": 10}, {"vf": 0, "vlan": 20}]}, "a VF listed twice"),
        ]),
    "checkpoint": dict(
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
        classes={"interface": REF, "cpus": "cpus", "rps_cpus": "rps_cpus", "queue_cpus[].cpus": "cpus"},
        ranges={"combined_channels": [0], "queue_cpus[].queue": [4, 99]},
        contradictions=[
            ({P("pin_irqs"): False, P("cpus"): "0"}, "cpus with pin_irqs false"),
            ({P("queue_cpus"): [{"queue": 1, "cpus": "0"}, {"queue": 1, "cpus": "1"}]}, "a queue listed twice"),
        ]),
    "vhost_net": dict(
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
