# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""network_info: a gathered state as module arguments, role variables and what neither can say.

Pure functions of the state ``_network_info.Gatherer`` reads. The rule is the round trip: the
``modules`` arguments, and the ``vars`` fed to ``playbooks/hypervisor.yml``, must plan nothing on
the host they were gathered from. So:

* every value is the one read, including where a role's default differs (``sriov_numvfs``,
  ``host_bond_bridge_miimon``, ``ovs_bond_lacp``...): a default never decides;
* what the collection persists is gathered only when its own files are there (``persist``,
  ``vhost_net_persist``, ``sriov_persist``, the OVS roles' boot units): a bond the installer
  persists is gathered with ``persist: none`` and left to the installer's files;
* what belongs to a guest (its taps, libvirt's macvtaps, OVS ports libvirt adds, VFs libvirt
  binds to vfio-pci for a managed hostdev) is gathered as the guest's interface, not as host
  configuration that would outlive the guest;
* a role manages one object per host (one bond, one OVS bridge...): the others are in
  ``modules`` and listed in ``unmanaged`` with the reason, as is everything the collection has
  no option for (VLAN links, OVS tunnels with other options, other libvirt networks...).
"""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._common_args import (
    DEFAULT_DATABASE, DEFAULT_LIBVIRT_URI,
)

#: link kinds that are some module's business (or a guest's, or OVS's own); the others are unmanaged
KNOWN_KINDS = (None, "device", "bond", "bridge", "macvtap", "tun", "tap", "veth", "openvswitch")
#: nic_bond options that only mean something in some modes (the kernel reports them in all)
LACP_ONLY = ("lacp_rate", "ad_select")
HASH_MODES = ("802.3ad", "balance-xor", "balance-tlb", "balance-alb")
PRIMARY_MODES = ("active-backup", "balance-tlb", "balance-alb")
#: libvirt_iface fields copied from a gathered interface when set
IFACE_FIELDS = ("type", "source", "source_mode", "portgroup", "model", "driver_name", "rx_queue_size",
                "tx_queue_size", "target_dev", "mtu")
#: fields of a domain's interface compared between its definition and the running domain
IFACE_COMPARED = IFACE_FIELDS[:-2] + ("mtu", "virtualport", "managed", "queues", "vlan", "link_state", "bandwidth")
VF_DEFAULTS = {"spoofchk": True, "trust": False, "link_state": "auto"}
#: the tap of Open vSwitch's userspace datapath (datapath_type netdev), named after the datapath
NETDEV_DATAPATH_TAP = "ovs-netdev"


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


class _Mapper:
    def __init__(self, state: dict[str, Any], params: dict[str, Any]) -> None:
        self.s = state
        self.links = {l["name"]: l for l in state.get("links") or []}
        self.modules: dict[str, list[dict[str, Any]]] = {}
        self.vars: dict[str, Any] = {}
        self.unmanaged: list[dict[str, Any]] = []
        self.netns = params.get("netns")
        self.database = params.get("database") if params.get("database") not in (None, DEFAULT_DATABASE) else None
        self.uri = params.get("uri") if params.get("uri") not in (None, DEFAULT_LIBVIRT_URI) else None
        libvirt = state.get("libvirt") or {}
        self.doms = libvirt.get("domains") or {}
        #: netdevs and PCI devices that belong to a guest (libvirt made them for a running domain)
        self.guest_devs: set[str] = set()
        self.guest_pci: set[str] = set()
        for dom in self.doms.values():
            for iface in (dom.get("live") or {}).get("interfaces") or []:
                if iface.get("target_dev"):
                    self.guest_devs.add(iface["target_dev"])
                if iface.get("type") == "hostdev" and iface.get("managed") and iface.get("source"):
                    self.guest_pci.add(iface["source"])
            for view in ("config", "live"):
                for dev in (dom.get(view) or {}).get("hostdevs") or []:
                    if dev.get("managed") and dev.get("source"):
                        self.guest_pci.add(dev["source"])

    def add(self, module: str, args: dict[str, Any]) -> dict[str, Any]:
        self.modules.setdefault(module, []).append(args)
        return args

    def skip(self, what: str, reason: str, module: str | None = None) -> None:
        entry = {"object": what, "reason": reason}
        if module:
            entry["module"] = "kvmnet.hypervisor." + module
        self.unmanaged.append(entry)

    def _ns(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.netns:
            args["netns"] = self.netns
        return args

    def _db(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.database:
            args["database"] = self.database
        return args

    def _uri(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.uri:
            args["uri"] = self.uri
        return args

    # -- Linux ------------------------------------------------------------------------------
    def bonds(self) -> set[str]:
        bridges_of_bonds = set()
        route = self.s.get("default_route") or {}
        first = True
        for name, bond in sorted((self.s.get("bonds") or {}).items()):
            mode = bond.get("mode")
            carrier = bond.get("master") if (self.links.get(bond.get("master") or "") or {}).get("kind") == "bridge" \
                else None
            if carrier:
                bridges_of_bonds.add(carrier)
            holder = self.links.get(carrier or name) or {}
            addresses = holder.get("addresses") or []
            args = {"name": name, "mode": mode, "miimon": bond.get("miimon") or 0,
                    "updelay": bond.get("updelay") or None, "downdelay": bond.get("downdelay") or None,
                    "members": list(bond.get("members") or []), "bridge": carrier,
                    "address": addresses[0] if addresses else None, "mtu": (self.links.get(name) or {}).get("mtu"),
                    "persist": bond.get("persist") or "none"}
            if mode == "802.3ad":
                args.update({k: bond.get(k) for k in LACP_ONLY})
            if mode in HASH_MODES:
                args["xmit_hash_policy"] = bond.get("xmit_hash_policy")
            if mode in PRIMARY_MODES and bond.get("primary"):
                args["primary"] = bond["primary"]
            if bond.get("arp_interval"):
                args.update(arp_interval=bond["arp_interval"], arp_ip_target=bond.get("arp_ip_target") or [])
            if args["address"] and route.get("device") == (carrier or name) and route.get("gateway"):
                args["gateway"] = route["gateway"]
            kept = bond.get("persisted_options")
            if bond.get("persist") not in (None, "none") and kept is not None:
                # nic_bond writes address, gateway and mtu into its files only when given: give
                # exactly those its files hold, or the first run would rewrite them
                for key in ("address", "gateway", "mtu"):
                    if key not in kept and args.get(key) is not None:
                        self.skip("%s of bond %s" % (key, name), "not in nic_bond's files (%s): not given, "
                                  "left as it is" % bond["persist"], "nic_bond")
                        args[key] = None
            elif bond.get("persist") not in (None, "none"):
                self.skip("files of bond %s" % name, "nic_bond's files of the bond differ from what it renders "
                          "(edited by hand?): the first run rewrites them", "nic_bond")
            args = self.add("nic_bond", self._ns(_drop_none(args)))
            if len(addresses) > 1:
                self.skip("addresses of %s" % (carrier or name), "nic_bond takes one address; gathered %s, left "
                          "alone: %s" % (addresses[0], ", ".join(addresses[1:])), "nic_bond")
            if bond.get("persist") == "none":
                self.skip("persistence of bond %s" % name, "no file of the collection persists it%s; gathered "
                          "with persist: none, whatever persists it now is left alone"
                          % (" (the host's stack is %s)" % bond["stack"] if bond.get("stack") not in (None, "none")
                             else ""), "nic_bond")
            if first and not self.netns:
                first = False
                self.vars.update({"host_bond_bridge_" + k: v for k, v in args.items()
                                  if k not in ("arp_interval", "arp_ip_target")})
                if "arp_interval" in args:
                    self.skip("ARP monitoring of bond %s" % name, "the host_bond_bridge role passes no "
                              "arp_interval / arp_ip_target: see modules.nic_bond", "nic_bond")
            elif not self.netns:
                self.skip("bond %s" % name, "the host_bond_bridge role manages one bond per host", "nic_bond")
        return bridges_of_bonds

    def bridges(self, bridges_of_bonds: set[str]) -> None:
        first = True
        for name, bridge in sorted((self.s.get("bridges") or {}).items()):
            if name in bridges_of_bonds:
                continue  # nic_bond makes it, with the bond as its port
            ports = [p for p in bridge.get("ports") or []
                     if p not in self.guest_devs and (self.links.get(p) or {}).get("kind") not in ("tun", "tap")]
            persist = bridge.get("persist") if ports == bridge.get("host_ports", ports) else None
            # persisted without an MTU: the MTU is not given (its files would gain one)
            mtu = bridge.get("mtu") if not persist or bridge.get("persist_mtu") else None
            args = {"name": name, "ports": ports, "mtu": mtu, "persist": persist}
            if bridge.get("vlan_filtering"):
                entries = {e["port"]: e for e in bridge.get("port_vlans") or []}
                args.update(vlan_filtering=True, default_pvid=bridge.get("default_pvid"),
                            port_vlans=[dict(entries[p]) for p in ports if p in entries] or None,
                            self_vlans=bridge.get("self_vlans"))
            elif "vlan_filtering" in bridge:
                args["vlan_filtering"] = False
            args = self.add("linux_bridge", self._ns(_drop_none(args)))
            if bridge.get("addresses"):
                self.skip("addresses of bridge %s" % name, "linux_bridge sets no address (%s left alone)"
                          % ", ".join(bridge["addresses"]), "linux_bridge")
            if bridge.get("persist_stack") or (bridge.get("persist") and not persist):
                self.skip("persistence of bridge %s" % name, "its linux_bridge files (%s) are not what linux_bridge "
                          "renders for it now (edited by hand, or other ports): gathered with persist: none, "
                          "the files are left alone" % (bridge.get("persist_stack") or bridge.get("persist")),
                          "linux_bridge")
            if first and not self.netns:
                first = False
                self.vars.update({"linux_bridge_" + k: v for k, v in args.items() if k != "netns"})
                if args.get("vlan_filtering"):  # the role installs the qemu hook unless told not to
                    self.vars["linux_bridge_vlan_hook"] = bool(self.s.get("bridge_vlan_hook"))
            elif not self.netns:
                self.skip("bridge %s" % name, "the linux_bridge role manages one bridge per host", "linux_bridge")

    def macvtaps(self) -> None:
        links = []
        for name, mvt in sorted((self.s.get("macvtaps") or {}).items()):
            if name in self.guest_devs:
                continue  # libvirt made it for a running domain's <interface type='direct'>
            args = self.add("macvtap", self._ns(_drop_none({"name": name, "link": mvt.get("link"),
                                                            "mode": mvt.get("mode"), "mac": mvt.get("mac"),
                                                            "mtu": mvt.get("mtu"),
                                                            "admin_state": mvt.get("admin_state")})))
            links.append({k: v for k, v in args.items() if k != "netns"})
        if links and not self.netns:
            self.vars["macvtap_links"] = links

    def ovs_netdevs(self) -> set[str]:
        """Links that are Open vSwitch's: its ports, bond members and bridges' local ports, and the
        userspace datapath's tap. On that datapath (netdev) they have no master, and internal ports
        and local ports are taps."""
        ovs = self.s.get("ovs") or {}
        bridges = ovs.get("bridges") or {}
        names = set(bridges) | {p["name"] for br in bridges.values() for p in br.get("ports") or []}
        for bond in (ovs.get("bonds") or {}).values():
            names.update(bond.get("members") or [])
        if any(br.get("datapath_type") == "netdev" for br in bridges.values()):
            names.add(NETDEV_DATAPATH_TAP)
        return names

    def other_links(self) -> None:
        ovs_devs = self.ovs_netdevs()
        for name, link in sorted(self.links.items()):
            kind = link.get("kind")
            if name in ovs_devs:
                continue  # gathered with its OVS bridge or bond
            if kind in ("tun", "tap") and name not in self.guest_devs:
                self.skip("%s link %s" % (kind, name), "a tap no running domain uses: a tap belongs to the "
                          "program that holds it open, it is not gathered as a bridge port")
            elif kind == "veth" and not link.get("master"):
                self.skip("veth link %s" % name, "a veth pair outside any bridge: no module creates one alone")
            elif kind not in KNOWN_KINDS:
                self.skip("%s link %s" % (kind, name), "no module of the collection manages %s links" % kind)

    def vhost_net(self) -> None:
        vhost = self.s.get("vhost_net") or {}
        if vhost.get("module") in ("loaded", "builtin"):
            args = {"state": "present", "persist": bool(vhost.get("persisted"))}
            self.add("vhost_net", args)
            self.vars.update(vhost_net_state="present", vhost_net_persist=args["persist"])

    # -- Open vSwitch -----------------------------------------------------------------------
    def ovs(self) -> None:
        ovs = self.s.get("ovs") or {}
        bridges = ovs.get("bridges") or {}
        units = set(ovs.get("units") or [])
        port_bridge = {p["name"]: b for b, br in bridges.items() for p in br.get("ports") or []}
        links_done: set[str] = set()
        interconnect = None
        for name, br in sorted(bridges.items()):
            for port in br.get("ports") or []:
                pname = port["name"]
                if pname in links_done:
                    continue
                peer = None
                if port.get("type") == "patch":
                    peer, kind = (port.get("options") or {}).get("peer"), "patch"
                elif (self.links.get(pname) or {}).get("kind") == "veth":
                    peer, kind = (self.links.get(pname) or {}).get("peer"), "veth"
                if peer and peer in port_bridge and port_bridge[peer] != name:
                    links_done.update((pname, peer))
                    args = self._ns(self._db({"bridge": name, "peer_bridge": port_bridge[peer], "port": pname,
                                              "peer_port": peer, "link_type": kind}))
                    self.add("ovs_patch", args)
                    if interconnect is None and not self.netns:
                        interconnect = args
                        self.vars.update(ovs_interconnect_bridge=name, ovs_interconnect_peer_bridge=port_bridge[peer],
                                         ovs_interconnect_port=pname, ovs_interconnect_peer_port=peer,
                                         ovs_interconnect_link_type=kind)
                        if kind == "veth":
                            self.vars["ovs_interconnect_persist_veth"] = \
                                "kvmnet-ovs-veth-%s.service" % pname in units
                    elif not self.netns:
                        self.skip("%s link %s - %s" % (kind, pname, peer),
                                  "the ovs_interconnect role manages one link per host", "ovs_patch")
        vlan_bridge = None
        for name, br in sorted(bridges.items()):
            ports = []
            for port in br.get("ports") or []:
                if port["name"] in links_done or port.get("type") == "bond":
                    continue
                if "attached-mac" in (port.get("interface_external_ids") or {}) or port["name"] in self.guest_devs:
                    continue  # libvirt adds and removes it with the guest
                entry = {"name": port["name"], "type": port.get("type") or "system", "tag": port.get("tag"),
                         "trunks": port.get("trunks") or None, "vlan_mode": port.get("vlan_mode")}
                options = dict(port.get("options") or {})
                if port.get("type") in ("vxlan", "geneve", "gre") and options.get("remote_ip"):
                    entry["remote_ip"] = options.pop("remote_ip")
                if options:
                    entry["options"] = options
                ports.append(_drop_none(entry))
            args = self._db(_drop_none({"name": name, "datapath_type": br.get("datapath_type") or None,
                                        "fail_mode": br.get("fail_mode"), "ports": ports}))
            self.add("ovs_bridge", args)
            if br.get("other_config") or br.get("external_ids") or br.get("stp") or br.get("mcast_snooping"):
                self.skip("bridge %s settings" % name, "stp, mcast_snooping, other_config and external_ids are "
                          "ovs_bridge options no role passes: see modules.ovs_bridge", "ovs_bridge")
            if ports and vlan_bridge is None and not self.netns:
                vlan_bridge = name
                self.vars.update(ovs_vlan_bridge=name, ovs_vlan_ports=ports)
                for key in ("datapath_type", "fail_mode"):
                    if args.get(key):
                        self.vars["ovs_vlan_" + key] = args[key]
        first = True
        for name, bond in sorted((ovs.get("bonds") or {}).items()):
            args = {"name": name, "bridge": bond["bridge"], "members": bond["members"],
                    "bond_mode": bond.get("bond_mode"), "lacp": bond.get("lacp"), "lacp_time": bond.get("lacp_time"),
                    "lacp_fallback_ab": bond.get("lacp_fallback_ab"), "updelay": bond.get("updelay"),
                    "downdelay": bond.get("downdelay"), "link_detection": bond.get("link_detection"),
                    "trunks": bond.get("trunks") or None, "tag": bond.get("tag")}
            if bond.get("link_detection") == "miimon":
                args["miimon_interval"] = bond.get("miimon_interval")
            args = self.add("ovs_bond", self._db(_drop_none(args)))
            if first and not self.netns:
                first = False
                for key in ("bridge", "name", "members", "lacp", "lacp_time", "lacp_fallback_ab", "updelay",
                            "downdelay", "link_detection", "miimon_interval", "trunks"):
                    if key in args:
                        self.vars["ovs_bond_" + key] = args[key]
                self.vars["ovs_bond_mode"] = args["bond_mode"]
                self.vars["ovs_bond_links_up"] = "kvmnet-ovs-bond-%s.service" % name in units
                dp = (bridges.get(bond["bridge"]) or {}).get("datapath_type")
                if dp:
                    self.vars["ovs_bond_datapath_type"] = dp
                if args.get("tag") is not None:
                    self.skip("tag of OVS bond %s" % name, "the ovs_bond role passes no tag (left alone)", "ovs_bond")
            elif not self.netns:
                self.skip("OVS bond %s" % name, "the ovs_bond role manages one bond per host", "ovs_bond")
        covered = {self.vars.get(k) for k in ("ovs_vlan_bridge", "ovs_bond_bridge", "ovs_interconnect_bridge",
                                              "ovs_interconnect_peer_bridge")}
        for name in sorted(bridges):
            if name not in covered and not self.netns:
                self.skip("OVS bridge %s" % name, "the roles manage one OVS bridge with VLAN ports (ovs_vlan), the "
                          "bond's (ovs_bond) and the two of a link (ovs_interconnect) per host", "ovs_bridge")
        if self.database and not self.netns:
            for role in ("ovs_vlan", "ovs_bond", "ovs_interconnect"):
                if role + "_bridge" in self.vars:
                    self.vars[role + "_database"] = self.database

    # -- SR-IOV, PCI ------------------------------------------------------------------------
    def sriov(self) -> None:
        first = True
        for pf, cur in sorted((self.s.get("sriov") or {}).items()):
            if not cur.get("numvfs"):
                continue
            vfs = []
            # with sriov_vf's boot config on the host, a VF MAC it does not name is not the
            # operator's (the VF driver picks a random one at each creation): not gathered, or the
            # playbook would pin it and rewrite the config
            declared = cur.get("persisted_vfs")
            unpinned = []
            for vf in cur.get("vfs") or []:
                if vf.get("pci") in self.guest_pci:
                    continue  # libvirt sets its MAC / VLAN from the guest's <interface type='hostdev'>
                entry = {"vf": vf["vf"]}
                if vf.get("mac") and vf["mac"] != "00:00:00:00:00:00":
                    if declared is None or "mac" in declared.get(vf["vf"], ()):
                        entry["mac"] = vf["mac"]
                    else:
                        unpinned.append("%s (%s)" % (vf["vf"], vf["mac"]))
                for key in ("vlan", "qos", "min_tx_rate", "max_tx_rate"):
                    if vf.get(key):
                        entry[key] = vf[key]
                for key, default in VF_DEFAULTS.items():
                    if vf.get(key) is not None and vf[key] != default:
                        entry[key] = vf[key]
                if len(entry) > 1:
                    vfs.append(entry)
            if unpinned:
                self.skip("MACs of the VFs %s of %s" % (", ".join(unpinned), pf),
                          "not in sriov_vf's boot config: the VF driver's own (new at each VF creation) or "
                          "set by hand at runtime; pin one with sriov_vfs[].mac", "sriov_vf")
            args = {"pf": pf, "numvfs": cur["numvfs"], "vfs": vfs, "persist": bool(cur.get("persisted")),
                    "bring_pf_up": cur.get("pf_admin_state") == "up"}
            self.add("sriov_vf", args)
            if first:
                first = False
                self.vars.update(sriov_pf=pf, sriov_numvfs=args["numvfs"], sriov_vfs=vfs,
                                 sriov_persist=args["persist"], sriov_bring_pf_up=args["bring_pf_up"])
            else:
                self.skip("SR-IOV PF %s" % pf, "the sriov role manages one PF per host", "sriov_vf")

    def vfio(self) -> None:
        bind = []
        for dev in self.s.get("vfio") or []:
            if dev["address"] in self.guest_pci:
                continue  # libvirt binds it for a managed hostdev and gives it back
            self.add("pci_device", {"address": dev["address"], "driver": "vfio-pci"})
            bind.append(dev["address"])
        if bind:
            self.vars["pci_passthrough_bind_devices"] = bind

    def irq(self) -> None:
        irq = self.s.get("irq") or {}
        entries = []
        for name, conf in sorted((irq.get("interfaces") or {}).items()):
            entry: dict[str, Any] = {"interface": name}
            queues = conf.get("queue_cpus") or {}
            if queues:
                entry["queue_cpus"] = [{"queue": int(q), "cpus": queues[q]} for q in sorted(queues, key=int)]
            rps = set((conf.get("rps_cpus") or {}).values())
            if len(rps) == 1:
                entry["rps_cpus"] = rps.pop() or "none"
            elif rps:
                self.skip("RPS of %s" % name, "different RPS CPUs per queue: irq_affinity sets one list for all "
                          "(left alone)", "irq_affinity")
            if conf.get("xps_cpus"):
                entry["xps"] = True
            if conf.get("combined_channels"):
                entry["combined_channels"] = conf["combined_channels"]
            self.add("irq_affinity", dict(entry, persist=bool(irq.get("persisted")),
                                          irqbalance_ban=bool(irq.get("irqbalance_ban")),
                                          irqbalance_mode=irq.get("irqbalance_mode") or "performance"))
            entries.append(entry)
        if not entries:
            return
        self.vars.update(irq_tuning_interfaces=entries, irq_tuning_persist=bool(irq.get("persisted")),
                         irq_tuning_irqbalance="running" if irq.get("irqbalance_running") else "stopped",
                         irq_tuning_irqbalance_mode=irq.get("irqbalance_mode") or "performance")
        if irq.get("irqbalance_running") and not irq.get("irqbalance_ban"):
            self.skip("irqbalance", "runs without the collection's ban of the pinned IRQs: the irq_tuning role "
                      "would add the ban (and restart irqbalance)", "irq_affinity")

    # -- libvirt ----------------------------------------------------------------------------
    def domains(self) -> None:
        ifaces, hostdevs = [], []
        for dom_name, dom in sorted(self.doms.items()):
            config = {i["mac"]: i for i in (dom.get("config") or {}).get("interfaces") or [] if i.get("mac")}
            live = {i["mac"]: i for i in (dom.get("live") or {}).get("interfaces") or [] if i.get("mac")}
            for mac in sorted(set(config) | set(live)):
                ifaces.append(self.interface(dom_name, dom, mac, config.get(mac), live.get(mac)))
            devs: dict[str, dict[str, Any]] = {}
            for view in ("config", "live"):
                for dev in (dom.get(view) or {}).get("hostdevs") or []:
                    devs.setdefault(dev["source"], {"domain": dom_name, "address": dev["source"],
                                                    "managed": dev.get("managed"), "views": set()})["views"].add(view)
            for addr, dev in sorted(devs.items()):
                views = dev.pop("views")
                args = self._uri({"domain": dom_name, "source": addr, "managed": dev["managed"]})
                if dom.get("persistent") and "config" not in views:
                    args["config"] = False
                if dom.get("running") and "live" not in views:
                    args["live"] = False
                self.add("libvirt_hostdev", args)
                hostdevs.append(_drop_none(dict(dev, config=args.get("config"), live=args.get("live"))))
        if ifaces:
            self.vars["kvmnet_domain_interfaces"] = [{k: v for k, v in i.items() if k != "uri" or self.uri}
                                                     for i in ifaces]
        if hostdevs:
            self.vars["pci_passthrough_hostdevs"] = hostdevs
        if self.uri and hostdevs:
            self.vars["pci_passthrough_libvirt_uri"] = self.uri

    def interface(self, dom_name: str, dom: dict[str, Any], mac: str, config: dict[str, Any] | None,
                  live: dict[str, Any] | None) -> dict[str, Any]:
        base = config or live or {}
        args: dict[str, Any] = {"domain": dom_name, "mac": mac}
        for key in IFACE_FIELDS:
            if base.get(key) is not None:
                args[key] = base[key]
        if config is None:
            args.pop("target_dev", None)  # the running domain's name for it is libvirt's
        if base.get("virtualport") not in (None, "none"):
            args["virtualport"] = base["virtualport"]
        if base.get("type") == "hostdev":
            args["managed"] = bool(base.get("managed"))
        if (base.get("queues") or 1) > 1:
            args["queues"] = base["queues"]
        if base.get("vlan"):
            args["vlan"] = _drop_none(dict(base["vlan"]))
        if base.get("link_state") == "down":
            args["link_state"] = "down"
        if base.get("bandwidth"):
            args["bandwidth"] = base["bandwidth"]
        if dom.get("persistent") and config is None:
            args["config"] = False
        if dom.get("running") and live is None:
            args["live"] = False
        elif config is not None and live is not None:
            differ = sorted(k for k in IFACE_COMPARED if config.get(k) != live.get(k))
            if differ:
                args["live"] = False
                self.skip("interface %s of domain %s" % (mac, dom_name), "the running domain differs from its "
                          "definition in %s (effective at the next start): gathered from the definition, with "
                          "live: false" % ", ".join(differ), "libvirt_iface")
        return self.add("libvirt_iface", self._uri(args))

    def networks(self) -> None:
        pools, networks = [], []
        for name, net in sorted(((self.s.get("libvirt") or {}).get("networks") or {}).items()):
            if net.get("forward_mode") == "hostdev" and net.get("pf"):
                args = self._uri({"name": name, "pf": net["pf"], "managed": bool(net.get("managed")),
                                  "active": bool(net.get("active")), "autostart": bool(net.get("autostart"))})
                self.add("libvirt_sriov_network", args)
                pools.append({"name": name, "pf": net["pf"], "active": args["active"], "autostart": args["autostart"]})
                if not net.get("managed"):
                    self.skip("network %s managed" % name, "the pci_passthrough role passes no managed "
                              "(the module's default is true): see modules.libvirt_sriov_network",
                              "libvirt_sriov_network")
            elif net.get("forward_mode") in ("bridge", "openvswitch", "direct") and not net.get("pf"):
                entry = _drop_none({
                    "name": name, "forward_mode": net["forward_mode"], "bridge": net.get("bridge"),
                    "devices": net.get("devices") or None, "macvtap_mode": net.get("macvtap_mode"),
                    "vlan": _drop_none(net["vlan"]) if net.get("vlan") else None,
                    "portgroups": [_drop_none({"name": pg["name"], "default": pg.get("default") or None,
                                               "vlan": _drop_none(pg["vlan"]) if pg.get("vlan") else None})
                                   for pg in net.get("portgroups") or []] or None,
                    "active": bool(net.get("active")), "autostart": bool(net.get("autostart"))})
                self.add("libvirt_network", self._uri(dict(entry)))
                networks.append(entry)
            else:
                self.skip("libvirt network %s" % name, "forward mode %s: the collection manages bridge, openvswitch, "
                          "direct (over host NICs) and hostdev (VF pool) networks"
                          % (net.get("forward_mode") or "none (isolated)"))
        if pools:
            self.vars["pci_passthrough_sriov_networks"] = pools
        if networks:
            self.vars["libvirt_networks_list"] = networks
            if self.uri:
                self.vars["libvirt_networks_libvirt_uri"] = self.uri


def map_state(state: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"vars", "modules", "unmanaged"}`` for a gathered ``state`` (``params``: network_info's
    own, so that a non-default ``netns`` / ``database`` / ``uri`` is carried into the arguments)."""
    m = _Mapper(state, params or {})
    m.vhost_net()
    m.bridges(m.bonds())
    m.macvtaps()
    m.other_links()
    m.ovs()
    m.sriov()
    m.vfio()
    m.irq()
    m.domains()
    m.networks()
    if m.netns:
        m.skip("role variables", "gathered inside network namespace %s: the roles work in the host's namespace; "
               "use modules (their netns option)" % m.netns)
        m.vars = {}
    return {"vars": {k: v for k, v in sorted(m.vars.items()) if v is not None}, "modules": dict(sorted(m.modules.items())),
            "unmanaged": m.unmanaged}
