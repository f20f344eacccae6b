# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""network_info: read everything the collection manages on a host, once, read-only.

:func:`gather` returns the host's *state*: plain JSON data, one section per backend::

    links      every netdev: kind, MAC, MTU, state, master, lower device / veth peer, addresses,
               and for a PCI NIC its driver, speed and PCI address
    bonds      Linux bonds: the kernel's bond options, members, master, LACP partner, the stack
               whose files persist them
    bridges    Linux bridges, their ports, VLAN filtering, the ports' and their own VLANs, the
               stack whose linux_bridge files persist them;  macvtaps: lower device, mode, MAC
    vhost_net  the kernel module, its option, whether the collection's file loads it at boot
    ovs        Open vSwitch bridges, ports (type, tag, trunks, vlan_mode, options), bonds with
               their LACP status, the collection's boot units
    sriov      SR-IOV PFs: numvfs, per-VF attributes, persistence;  vfio  PCI devices on vfio-pci
    irq        the interfaces irq_affinity pinned (its own record, /etc/kvmnet/irq/<if>.json), its
               boot unit and irqbalance ban, whether irqbalance runs
    libvirt    domains' interfaces and PCI hostdevs (persistent definition and running domain),
               networks
    notes      why a section is empty (no OVS, no libvirtd, no library): never a failure

Every object is read by the reader its own module uses (one fact, one home): the resources'
``read_current`` with this run's backend handed over (LinuxBridge, Macvtap, NicBond, SriovVf,
VhostNet, IrqAffinity), or the readers those resources are built on (``_ovs_bridge.read_bridge``,
``_ovs_bond.read_bond`` / ``bond_status``, ``_libvirt.parse_interface`` / ``parse_hostdev``,
``_libvirt_network_xml.parse_network``, ``_pci_device.read_pci_device``). What the state means
as role variables, module arguments and a graph is pure code elsewhere
(``_network_info_vars``, ``_topology``), tested on gathered dicts.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import re
import socket
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon, _files, _libvirt
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _persist_ifupdown, _persist_networkd, _persist_nm
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _boot_scripts as boot
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _network_info_vars, _topology
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Resource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import KvmnetError, NotFound
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._irq_affinity import (
    IRQBALANCE_DEFAULTS, IrqAffinityResource,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_iface_vlans import (
    HOOK_HEADER, HOOK_PATH, is_linux_bridge_nic, read_metadata, vlan_of_entry,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _linux_bridge
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._linux_bridge import LinuxBridgeResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_network_xml import parse_network
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._macvtap import MacvtapResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._netlink import Netlink
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._nic_bond import NicBondResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_bond import COLUMNS as BOND_COLUMNS
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_bond import bond_status, read_bond
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_bridge import COLUMNS as BRIDGE_COLUMNS
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_bridge import read_bridge
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_common import field_columns
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovsdb import Ovsdb
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._pci_device import read_pci_device
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._persist_bond import (
    file_paths, persist_config, render_files,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._persist_net import BRIDGE_HEADER, HEADER
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._sriov_vf import SriovVfResource, persisted_config
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._sysfs import Sysfs
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._vhost_net import VhostNetResource

#: where the roles' boot units live (ovs_bond / ovs_vlan / ovs_interconnect templates)
SYSTEMD_DIR = "/etc/systemd/system"
OVS_UNIT_PREFIX = "kvmnet-ovs-"
VFIO_DRIVER_DIR = "/sys/bus/pci/drivers/vfio-pci"
#: the libvirt network forward mode of a VF pool (libvirt_sriov_network)
POOL_FORWARD = "hostdev"


def _global(address: str) -> bool:
    ip = ipaddress.ip_interface(address).ip
    return not (ip.is_loopback or ip.is_link_local)


class Gatherer:
    """One read of a host: a netlink socket (in ``netns`` or the host's namespace), the OVSDB
    at ``database``, libvirt at ``uri`` (read-only), sysfs under ``root``."""

    def __init__(self, netns: str | None, database: str | None, timeout: int | None, uri: str | None,
                 root: str = "/") -> None:
        self.netns = netns
        self.database = database
        self.timeout = timeout
        self.uri = _canon.libvirt_uri(uri)
        self.root = root
        self.nl = Netlink(netns)
        self.sys = Sysfs(root)
        self.notes: list[str] = []
        #: the links as read by links() (persisted_options looks up the bond's carrier there)
        self.links_read: list[dict[str, Any]] = []

    def close(self) -> None:
        """Close the netlink socket."""
        self.nl.close()

    def _with_nl(self, resource: Any) -> Any:
        """A resource of another module reading through this run's netlink socket."""
        resource.nl = self.nl
        return resource

    # -- kernel links ----------------------------------------------------------------------
    def links(self) -> list[dict[str, Any]]:
        """Every link with its master / lower device by name, its addresses, NIC details."""
        raw = self.nl.links()
        by_index = {l["ifindex"]: l for l in raw}
        addresses: dict[int, list[str]] = {}
        for addr in self.nl.addresses():
            if _global(addr["address"]):
                addresses.setdefault(addr["index"], []).append(addr["address"])
        out = []
        for link in sorted(raw, key=lambda l: l["name"]):
            if link["name"] == "lo":
                continue
            entry = {k: link.get(k) for k in ("name", "kind", "mac", "mtu", "admin_state", "operstate", "mode")}
            master = by_index.get(link.get("master_index"))
            entry["master"] = master["name"] if master else None
            lower = by_index.get(link.get("link_index")) if link.get("link_index") != link["ifindex"] else None
            if link.get("kind") == "veth":
                # a veth's IFLA_LINK is its peer (an index in another namespace when the peer is there)
                entry["peer"] = lower["name"] if lower and lower.get("link_index") == link["ifindex"] else None
            elif lower is not None:
                entry["lower"] = lower["name"]
            entry["addresses"] = sorted(addresses.get(link["ifindex"], []))
            if not self.netns:  # sysfs shows the host's namespace only
                entry.update(self.nic_details(link["name"]))
            out.append({k: v for k, v in entry.items() if v is not None})
        self.links_read = out
        return out

    def nic_details(self, name: str) -> dict[str, Any]:
        """Driver, speed (Mb/s) and PCI address of a NIC; empty for a virtual link."""
        if not self.sys.exists("/sys/class/net/%s/device" % name):
            return {}
        speed = None
        try:
            speed = self.sys.read_int("/sys/class/net/%s/speed" % name, name)
        except KvmnetError:  # a link that is down refuses to tell (EINVAL)
            speed = None
        return {"driver": self.sys.link_target("/sys/class/net/%s/device/driver" % name),
                "speed": speed if speed and speed > 0 else None, "pci": self.sys.netdev_pci(name)}

    def default_route(self) -> dict[str, Any] | None:
        """The IPv4 default route: gateway and device."""
        for route in self.nl.default_routes(socket.AF_INET):
            dev = self.nl.link(index=route["oif"]) if route.get("oif") else None
            return {"gateway": route["gateway"], "device": dev["name"] if dev else None}
        return None

    def bridges(self, links: list[dict[str, Any]]) -> dict[str, Any]:
        """Linux bridges as linux_bridge reads them, with the stack whose linux_bridge files persist them."""
        out = {}
        kinds = {link["name"]: link.get("kind") for link in links}
        for link in links:
            if link.get("kind") == "bridge":
                res = self._with_nl(LinuxBridgeResource({"name": link["name"], "netns": self.netns}, self.root))
                current = res.read_current()
                if current is not None:
                    keys = ("ports", "mtu", "admin_state", "mac", "vlan_filtering", "default_pvid", "port_vlans",
                            "self_vlans")
                    out[link["name"]] = {k: current.get(k) for k in keys}
                    out[link["name"]]["addresses"] = link.get("addresses") or []
                    # the ports a host configures: libvirt adds and removes the guests' taps
                    host_ports = [p for p in current["ports"] if kinds.get(p) not in ("tun", "tap")]
                    out[link["name"]]["host_ports"] = host_ports
                    out[link["name"]].update(self.bridge_persisted(link["name"], current, host_ports))
        return out

    def bridge_vlan_hook(self) -> bool:
        """Whether the linux_bridge role's libvirt qemu hook (VM taps' VLANs at each domain start)
        is installed: the role's file at its place (its header)."""
        return HOOK_HEADER in (_files.read_text(HOOK_PATH, self.root) or "")

    def bridge_persisted(self, name: str, bridge: dict[str, Any], ports: list[str]) -> dict[str, Any]:
        """Which stack's linux_bridge files persist bridge ``name`` (its own file carries the
        header linux_bridge writes) and whether they hold the MTU: ``{"persist", "persist_mtu"}``
        of the rendering (with the bridge's ``ports`` as gathered) that equals the files, or
        ``{"persist": None, "persist_stack": stack}`` when the files differ (edited by hand)."""
        for stack in ("networkd", "nm", "ifupdown"):
            own = (_persist_networkd.path_for(name, "netdev") if stack == "networkd"
                   else _persist_nm.path_for(name) if stack == "nm" else _persist_ifupdown.path_for(name))
            if BRIDGE_HEADER not in (_files.read_text(own, self.root) or ""):
                continue
            for mtu in (None, bridge.get("mtu")):
                want = _linux_bridge.persist_files(stack, _linux_bridge.persist_config(name, ports, mtu, bridge),
                                                   self.root)
                if all(_files.read_text(path, self.root) == text for path, text in want.items()):
                    return {"persist": stack, "persist_mtu": mtu is not None}
            return {"persist": None, "persist_stack": stack}
        return {"persist": None}

    def macvtaps(self, links: list[dict[str, Any]]) -> dict[str, Any]:
        """macvtap links as the macvtap module reads them."""
        out = {}
        for link in links:
            if link.get("kind") == "macvtap":
                res = self._with_nl(MacvtapResource({"name": link["name"], "netns": self.netns}, self.root))
                current = res.read_current()
                if current is not None:
                    out[link["name"]] = {k: current[k] for k in ("link", "mode", "mac", "mtu", "admin_state")}
        return out

    def bonds(self, links: list[dict[str, Any]]) -> dict[str, Any]:
        """Linux bonds as nic_bond reads them, with the stack whose collection files persist them."""
        out = {}
        names = {l["name"]: l for l in links}
        for link in links:
            if link.get("kind") != "bond":
                continue
            name = link["name"]
            master = names.get(link.get("master") or "")
            params = {"name": name, "state": "present", "persist": "auto", "netns": self.netns,
                      "bridge": master["name"] if master and master.get("kind") == "bridge" else None}
            res = self._with_nl(NicBondResource(params, self.root))
            res.normalize()
            try:
                current = res.read_current()
            except KvmnetError:  # no network stack found: nothing of the collection persists it
                res.desired["persist"] = "none"
                current = res.read_current()
            bond = dict(current["bond"] or {})
            bond.pop("admin_state", None)
            persisted = None
            if current["persist"] != "none":
                # the bond's files of that stack, written by nic_bond (its header), not the installer's
                paths = file_paths(current["persist"], res.desired, bond.get("members") or [])
                own = [p for p in paths if HEADER in ((current.get("files") or {}).get(p) or "")]
                persisted = current["persist"] if own else None
            bond["persist"] = persisted or "none"
            bond["stack"] = current["persist"]
            if persisted:
                bond["persisted_options"] = self.persisted_options(persisted, name, bond, master, current)
            if not self.netns:
                partner = self.sys.read("/sys/class/net/%s/bonding/ad_partner_mac" % name, name)
                if bond.get("mode") == "802.3ad":
                    bond["lacp"] = {"state": "negotiated" if partner and partner.strip("0:\n") else "no partner",
                                    "partner_mac": partner.strip() if partner else None}
            out[name] = bond
        return out

    def persisted_options(self, stack: str, name: str, bond: dict[str, Any], master: dict[str, Any] | None,
                          current: dict[str, Any]) -> list[str] | None:
        """Which of address, gateway, mtu nic_bond's files of the bond hold: the combination whose
        rendering (nic_bond's renderer) equals the files; None when none does (edited by hand)."""
        carrier = master if master and master.get("kind") == "bridge" else None
        holder = next((l for l in self.links_read if l["name"] == (carrier or {}).get("name", name)), {})
        route = self.default_route() or {}
        values = {"address": (holder.get("addresses") or [None])[0], "mtu": bond.get("mtu"),
                  "gateway": route.get("gateway") if route.get("device") == holder.get("name") else None}
        files = current.get("files") or {}
        names = [k for k in ("address", "gateway", "mtu") if values[k] is not None]
        for size in range(len(names), -1, -1):
            for chosen in itertools.combinations(names, size):
                if "gateway" in chosen and "address" not in chosen:
                    continue
                desired = {"name": name, "bridge": carrier["name"] if carrier else None}
                desired.update({k: values[k] if k in chosen else None for k in names})
                want = render_files(stack, persist_config(desired, bond, list(bond.get("members") or [])), files)
                if all(files.get(path) == text for path, text in want.items()):
                    return list(chosen)
        return None

    # -- kernel features and devices -------------------------------------------------------
    def vhost_net(self) -> dict[str, Any]:
        """vhost_net as its module reads it (files included)."""
        current = VhostNetResource({"state": "present", "persist": True}, self.root).read_current()
        files = current.pop("files", {})
        current["persisted"] = any(v is not None for v in files.values())
        return current

    def sriov(self, links: list[dict[str, Any]]) -> dict[str, Any]:
        """SR-IOV capable PFs as sriov_vf reads them."""
        out = {}
        for link in links:
            pci = link.get("pci")
            if not pci or self.sys.sriov(pci, link["name"]) is None:
                continue
            res = self._with_nl(SriovVfResource({"pf": link["name"], "persist": True}, self.root))
            current = res.read_current()
            files = current.pop("files", {})
            current["persisted"] = any(v is not None for v in files.values())
            current["persisted_vfs"] = self.sriov_persisted_vfs(files.get(boot.sriov_config_path(pci)))
            out[link["name"]] = current
        return out

    @staticmethod
    def sriov_persisted_vfs(content: str | None) -> dict[int, list[str]] | None:
        """The VF attributes sriov_vf's boot config names, per VF (None: no readable config).

        What the config names is what an earlier run set; a VF MAC it does not name is the VF
        driver's own (random at each creation) or set by hand at runtime.
        """
        conf = persisted_config(content)
        if conf is None:
            return None
        try:
            return {int(index): sorted(attrs) for index, attrs in (conf.get("vfs") or {}).items()}
        except (ValueError, TypeError):
            return None

    def vfio(self) -> list[dict[str, Any]]:
        """PCI devices bound to vfio-pci, as pci_device reads them."""
        out = []
        for entry in sorted(self.sys.listdir(VFIO_DRIVER_DIR)):
            if _canon.is_pci_address(entry):
                dev = read_pci_device(os.path.join(self.root, "sys"), entry)
                if dev is not None:
                    out.append({k: dev[k] for k in ("address", "driver", "driver_override", "iommu_group",
                                                    "vendor", "device")})
        return out

    def irq(self) -> dict[str, Any]:
        """The interfaces whose queue IRQs irq_affinity pinned, as it reads them (its record, the
        boot unit, irqbalance's ban); what the kernel or irqbalance chose is not a choice to gather."""
        interfaces = {}
        mode = None
        persisted = banned = False
        for entry in self.sys.listdir(boot.IRQ_CONFIG_DIR):
            if not entry.endswith(".json"):
                continue
            name = entry[:-len(".json")]
            res = IrqAffinityResource({"interface": name, "persist": True, "irqbalance_ban": True}, self.root)
            try:
                current = res.read_current()
            except NotFound:
                where = "%s/%s" % (boot.IRQ_CONFIG_DIR, entry)
                self.notes.append("irq: %s names interface %s, which does not exist" % (where, name))
                continue
            files = current["files"]
            config = json.loads(files.get("%s/%s" % (boot.IRQ_CONFIG_DIR, entry)) or "{}")
            interfaces[name] = {k: config.get(k) for k in ("queue_cpus", "rps_cpus", "xps_cpus", "combined_channels")}
            persisted = persisted or files.get(boot.IRQ_UNIT_PATH) is not None
            defaults = files.get(IRQBALANCE_DEFAULTS) or ""
            if boot.IRQBALANCE_POLICY_PATH in defaults:
                banned = True
                found = re.search(r"^# mode: (\S+)$", defaults, re.M)
                mode = found.group(1) if found else mode
        return {"interfaces": interfaces, "persisted": persisted, "irqbalance_ban": banned, "irqbalance_mode": mode,
                "irqbalance_running": self.running("irqbalance")}

    def running(self, program: str) -> bool:
        """Whether a process called ``program`` runs (``/proc/<pid>/comm``)."""
        for pid in self.sys.listdir("/proc"):
            if pid.isdigit():
                try:
                    if self.sys.read("/proc/%s/comm" % pid, "process %s" % pid) == program:
                        return True
                except KvmnetError:  # gone meanwhile, or not ours to read
                    continue
        return False

    # -- Open vSwitch ----------------------------------------------------------------------
    def ovs(self) -> dict[str, Any] | None:
        """Bridges (ovs_bridge's reader) and bonds (ovs_bond's) with their LACP status."""
        db = Ovsdb(self.database, self.timeout, field_columns(BRIDGE_COLUMNS, BOND_COLUMNS))
        try:
            db.open()
            db.refresh()
            bridges, bonds = {}, {}
            for br in sorted(db.rows("Bridge"), key=lambda b: b.name):
                bridges[br.name] = read_bridge(db, br.name)
                for port in br.ports:
                    if len(port.interfaces) > 1:
                        bond = read_bond(port, br.name)
                        status = bond_status(db, port.name) or {}
                        bond["lacp_status"] = status.get("lacp_status")
                        bond["active_member"] = status.get("active_member")
                        bonds[port.name] = bond
        finally:
            db.close()
        for bridge in bridges.values():
            for port in bridge["ports"]:
                port.pop("ofport", None)
                port.pop("error", None)
        units = sorted(f for f in self.sys.listdir(SYSTEMD_DIR) if f.startswith(OVS_UNIT_PREFIX))
        return {"bridges": bridges, "bonds": bonds, "units": units}

    # -- libvirt ---------------------------------------------------------------------------
    def libvirt(self) -> dict[str, Any]:
        """Domains' interfaces and PCI hostdevs (definition and running domain), networks."""
        virt = _libvirt.Connection(self.uri, read_only=True)
        virt.open()
        try:
            conn = virt.conn
            domains = {}
            for dom in sorted(virt.call("listing domains", conn.listAllDomains, 0), key=lambda d: d.name()):
                name = dom.name()
                what = "domain %r" % name
                entry: dict[str, Any] = {"running": bool(virt.call(what, dom.isActive)),
                                         "persistent": bool(virt.call(what, dom.isPersistent))}
                views = ([("config", _libvirt.XML_INACTIVE)] if entry["persistent"] else []) + \
                    ([("live", 0)] if entry["running"] else [])
                for view, flags in views:
                    root = _libvirt.parse_xml(virt.call(what + ": reading XML", dom.XMLDesc, flags))
                    entry[view] = {
                        "interfaces": self.interfaces(root),
                        "hostdevs": [_libvirt.parse_hostdev(e) for e in root.findall("./devices/hostdev")
                                     if e.get("type") == "pci" and e.find("source/address") is not None],
                    }
                domains[name] = entry
            networks = {}
            for net in sorted(virt.call("listing networks", conn.listAllNetworks, 0), key=lambda n: n.name()):
                what = "network %r" % net.name()
                try:  # the persistent definition, as libvirt_sriov_network reads it
                    xml = virt.call(what, net.XMLDesc, 1)  # VIR_NETWORK_XML_INACTIVE
                except KvmnetError:  # a driver without the flag (test:///): its one definition
                    xml = virt.call(what, net.XMLDesc, 0)
                parsed = parse_network(_libvirt.parse_xml(xml))
                parsed.pop("uuid", None)
                parsed.update(active=bool(virt.call(what, net.isActive)), autostart=bool(virt.call(what, net.autostart)))
                networks[net.name()] = parsed
        finally:
            virt.close()
        return {"uri": self.uri, "domains": domains, "networks": networks}

    @staticmethod
    def interfaces(root: Any) -> list[dict[str, Any]]:
        """A domain view's interfaces as libvirt_iface reads them: a Linux-bridge NIC's ``vlan``
        is the entry libvirt_iface keeps for its MAC in the domain's metadata (libvirt has no
        ``<vlan>`` on a Linux bridge)."""
        metadata = read_metadata(root)
        out = []
        for elem in root.findall("./devices/interface"):
            iface = _libvirt.parse_interface(elem)
            if is_linux_bridge_nic(iface, {}) and (iface.get("mac") or "").lower() in metadata:
                iface["vlan"] = vlan_of_entry(metadata[iface["mac"].lower()])
            out.append(iface)
        return out

    # -- the whole host --------------------------------------------------------------------
    def _section(self, name: str, reader: Any, *args: Any) -> Any:
        """A section, or None with a note when its backend or library is missing."""
        try:
            return reader(*args)
        except KvmnetError as exc:
            self.notes.append("%s: not gathered (%s)" % (name, exc.msg))
            return None

    def gather(self) -> dict[str, Any]:
        """The whole state (see the module docstring)."""
        self.nl.open()
        links = self.links()
        state: dict[str, Any] = {
            "netns": self.netns,
            "links": links,
            "default_route": self.default_route(),
            "bonds": self.bonds(links),
            "bridges": self.bridges(links),
            "bridge_vlan_hook": self.bridge_vlan_hook(),
            "macvtaps": self.macvtaps(links),
            "vhost_net": self._section("vhost_net", self.vhost_net),
            "sriov": self._section("sriov", self.sriov, links) if not self.netns else {},
            "vfio": self._section("vfio", self.vfio) if not self.netns else [],
            "irq": self._section("irq", self.irq) if not self.netns else None,
            "ovs": self._section("ovs", self.ovs),
            "libvirt": self._section("libvirt", self.libvirt),
        }
        if self.netns:
            self.notes.append("sriov, vfio, irq: not gathered inside network namespace %s (sysfs shows the "
                              "host's devices)" % self.netns)
        state["notes"] = list(self.notes)
        return state


class NetworkInfoResource(Resource):
    """Read-only: the host's networking as state, role variables, module arguments and a graph."""

    def __init__(self, params: dict[str, Any], root: str = "/") -> None:
        super().__init__(params, root)
        self.gatherer = Gatherer(params.get("netns"), params.get("database"), params.get("timeout"),
                                 params.get("uri"), self.root)
        self.state: dict[str, Any] = {}

    def close(self) -> None:
        self.gatherer.close()

    def diff_header(self) -> str:
        return "network of the host"

    def normalize(self) -> dict[str, Any]:
        return {}

    def read_current(self) -> dict[str, Any] | None:
        self.state = self.gatherer.gather()
        return {}

    def plan(self, current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Any]:
        return []

    def extra_results(self, after: dict[str, Any] | None) -> dict[str, Any]:
        mapped = _network_info_vars.map_state(self.state, self.params)
        return {"state": self.state, "vars": mapped["vars"], "modules": mapped["modules"],
                "unmanaged": mapped["unmanaged"], "notes": self.state["notes"],
                "topology": _topology.build_topology(self.state)}
