# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The libvirt_iface resource: one ``<interface>`` of a domain, keyed by MAC (or alias).

Two views of the domain are managed: the persistent definition (``config``) and the running
domain (``live``, only when it runs). Each view gets at most one libvirt call per task
(attachDeviceFlags / updateDeviceFlags / detachDeviceFlags with VIR_DOMAIN_AFFECT_CONFIG or
_LIVE); an attach or detach needed in both views is one call with both flags.

An existing interface is edited in place: everything the user did not mention is kept as
libvirt has it, including what libvirt generated (alias, guest PCI address, target dev, the
OVS ``interfaceid``), so an OVS port keeps its identity and a second run finds nothing to do.

What qemu cannot change on a running guest (model, driver/queues, target dev, MTU, type,
virtualport, the source of a direct/hostdev interface) is refused for the live view with an
error saying so, unless ``allow_config_only`` is true: then such changes go to the persistent
definition only and take effect at the next start.
"""

from __future__ import annotations

import os
import random
import re
import uuid
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon, _libvirt
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, Resource, existing, field_changes
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_iface_restore import VIEWS, plan_restore
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_iface_vlans import HOOK_PATH, BridgeVlanPart
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    InvalidInput,
    NotFound,
    Unsupported,
    VerificationFailed,
)

#: compared fields, in the order they are reported
FIELDS = ("type", "source", "source_mode", "portgroup", "virtualport", "managed", "model", "driver_name",
          "queues", "rx_queue_size", "tx_queue_size", "vlan", "target_dev", "mtu", "link_state", "bandwidth",
          "alias")
#: fields qemu/libvirt can change on a running domain (source: see live_changeable)
LIVE_FIELDS = ("link_state", "bandwidth", "vlan")  # not portgroup: libvirt 9 keeps a running port's
#: how the diff names each view
VIEW_TITLES = (("config", "persistent definition"), ("live", "running domain"))
_ALIAS_RE = re.compile(r"^ua-[A-Za-z0-9_-]+$")
#: queue sizes qemu accepts for virtio-net
QUEUE_SIZES = (256, 512, 1024)
MAX_QUEUES = 256
#: a NIC model as libvirt accepts it (domain_conf.c: letters, digits, "_" and "-" only)
_MODEL_RE = re.compile(r"[A-Za-z0-9_-]+")


def live_changeable(field: str, current: dict[str, Any], desired: dict[str, Any]) -> bool:
    """Whether libvirt can change ``field`` of ``current`` on the running domain."""
    if field in LIVE_FIELDS:
        return True
    if field == "source":
        # a new bridge / network is a reconnect of the tap; a new lower dev or PCI device is not
        return current.get("type") in ("bridge", "network") and desired.get("type") in (None, current.get("type")) \
            and not _libvirt.network_port_has_virtualport(current)
    return False


def _shown(value: Any) -> str:
    """A field's value in a message (None: unset)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "unset" if value is None else str(value)


def resolve_vf(pf: str, vf: int, sysfs: str = "/sys") -> str:
    """PCI address of VF ``vf`` of the PF netdev ``pf`` (``<sysfs>/class/net/<pf>/device/virtfn<vf>``)."""
    _canon.ifname(pf, "pf")
    pf_dev = os.path.join(sysfs, "class", "net", pf, "device")
    if not os.path.exists(pf_dev):
        raise NotFound("pf: network device %r does not exist on this host" % pf)
    link = os.path.join(pf_dev, "virtfn%d" % vf)
    if not os.path.exists(link):
        numvfs = None
        try:
            with open(os.path.join(pf_dev, "sriov_numvfs"), encoding="ascii") as handle:
                numvfs = int(handle.read().strip())
        except (OSError, ValueError):
            pass
        raise NotFound("vf: %s has no VF %d (sriov_numvfs is %s); create the VFs first (sriov_vf module)"
                       % (pf, vf, numvfs if numvfs is not None else "not available: not an SR-IOV PF"))
    return _canon.pci_address(os.path.basename(os.path.realpath(link)), "vf")


def require_pci_device(path: str, address: str) -> None:
    """NotFound naming ``source`` when the host has no PCI device ``address`` (its sysfs ``path``)."""
    if not os.path.exists(path):
        raise NotFound("source: PCI device %s does not exist on this host (%s missing)" % (address, path))


def random_mac() -> str:
    """A locally random MAC in the 52:54:00 prefix libvirt/qemu use."""
    return "52:54:00:%02x:%02x:%02x" % tuple(random.randint(0, 255) for dummy in range(3))


# -- XML building ---------------------------------------------------------------------------
def _set_source(elem: Any, itype: str, values: dict[str, Any]) -> None:
    """(Re)write ``<source>`` of ``elem`` for ``itype`` with ``values`` (source, source_mode, portgroup)."""
    etree = _libvirt.etree
    source = elem.find("source")
    if source is None:
        source = etree.SubElement(elem, "source")
    if itype == "hostdev":
        for child in list(source):
            source.remove(child)
        source.attrib.clear()
        etree.SubElement(source, "address", _libvirt.pci_address_attrs(values["source"]))
        return
    key = {"bridge": "bridge", "direct": "dev", "network": "network"}[itype]
    if values.get("source") is not None and source.get(key) != values["source"]:
        keep = {k: v for k, v in source.attrib.items() if k in ("mode", "portgroup")}
        source.attrib.clear()
        source.attrib.update(keep)
        source.set(key, values["source"])
    if itype == "direct" and values.get("source_mode") is not None:
        source.set("mode", values["source_mode"])
    if itype == "network" and values.get("portgroup") is not None:
        if values["portgroup"]:
            source.set("portgroup", values["portgroup"])
        else:
            source.attrib.pop("portgroup", None)


def _replace(elem: Any, tag: str) -> Any:
    for old in elem.findall(tag):
        elem.remove(old)
    return _libvirt.etree.SubElement(elem, tag)


def _child(elem: Any, tag: str) -> Any:
    found = elem.find(tag)
    return found if found is not None else _libvirt.etree.SubElement(elem, tag)


def apply_fields(elem: Any, values: dict[str, Any]) -> Any:
    """Write the canonical ``values`` (field -> wanted) into a copy of ``elem``; return the copy.

    Only the given fields are touched: whatever else the element holds (generated alias, guest
    address, target dev, OVS interfaceid) stays as it is.
    """
    etree = _libvirt.etree
    node = _libvirt.parse_xml(etree.tostring(elem))
    itype = values.get("type") or node.get("type")
    if values.get("type") is not None and values["type"] != node.get("type"):
        node.set("type", itype)
        for tag in ("source", "virtualport"):
            for old in node.findall(tag):
                node.remove(old)
        if itype != "hostdev":
            node.attrib.pop("managed", None)
    if {"source", "source_mode", "portgroup"} & set(values) or values.get("type"):
        if values.get("source") is not None or node.find("source") is not None:
            _set_source(node, itype, values)
    if values.get("virtualport") is not None:
        current = node.find("virtualport")
        if values["virtualport"] == "none":
            if current is not None:
                node.remove(current)
        elif current is None or current.get("type") != values["virtualport"]:
            vport = _replace(node, "virtualport")
            vport.set("type", values["virtualport"])
            if values["virtualport"] == "openvswitch" and values.get("interfaceid"):
                # given, not left to libvirt: with CONFIG|LIVE libvirt would generate one per view
                _libvirt.etree.SubElement(vport, "parameters", interfaceid=values["interfaceid"])
    if values.get("managed") is not None:
        node.set("managed", "yes" if values["managed"] else "no")
    if values.get("model") is not None:
        _child(node, "model").set("type", values["model"])
    for field, attr in (("driver_name", "name"), ("queues", "queues"), ("rx_queue_size", "rx_queue_size"),
                        ("tx_queue_size", "tx_queue_size")):
        if values.get(field) is not None:
            driver = _child(node, "driver")
            if field == "queues" and values[field] == 1:
                driver.attrib.pop("queues", None)
            else:
                driver.set(attr, str(values[field]))
    if values.get("vlan") is not None:
        for old in node.findall("vlan"):
            node.remove(old)
        vlan = values["vlan"]
        if vlan:
            vnode = etree.SubElement(node, "vlan")
            if vlan["trunk"]:
                vnode.set("trunk", "yes")
            for tag in vlan["tags"]:
                tnode = etree.SubElement(vnode, "tag", id=str(tag))
                if tag == vlan.get("native_tag"):
                    tnode.set("nativeMode", vlan["native_mode"])
    if values.get("target_dev") is not None:
        _child(node, "target").set("dev", values["target_dev"])
    if values.get("mtu") is not None:
        _child(node, "mtu").set("size", str(values["mtu"]))
    if values.get("link_state") is not None:
        _child(node, "link").set("state", values["link_state"])
    if values.get("bandwidth") is not None:
        for old in node.findall("bandwidth"):
            node.remove(old)
        if values["bandwidth"]:
            bnode = etree.SubElement(node, "bandwidth")
            for direction in ("inbound", "outbound"):
                if direction in values["bandwidth"]:
                    etree.SubElement(bnode, direction, {k: str(v) for k, v in values["bandwidth"][direction].items()})
    if values.get("alias") is not None:
        _child(node, "alias").set("name", values["alias"])
    return node


def build_interface(desired: dict[str, Any], mac: str) -> Any:
    """A new ``<interface>`` element from the desired state (defaults for a new one applied)."""
    etree = _libvirt.etree
    node = etree.Element("interface", type=desired["type"])
    etree.SubElement(node, "mac", address=mac)
    values = {k: desired.get(k) for k in FIELDS if desired.get(k) is not None}
    values["interfaceid"] = desired.get("interfaceid") or str(uuid.uuid4())
    if desired["type"] == "direct" and values.get("source_mode") is None:
        values["source_mode"] = "bridge"
    if desired["type"] == "hostdev" and values.get("managed") is None:
        values["managed"] = True
    if values.get("link_state") == "up":
        values.pop("link_state")
    if values.get("vlan") == {}:
        values.pop("vlan")
    if values.get("bandwidth") == {}:
        values.pop("bandwidth")
    if values.get("virtualport") == "none":
        values.pop("virtualport")
    return apply_fields(node, values)


# -- planning -------------------------------------------------------------------------------
def target_name(desired: dict[str, Any]) -> str:
    """``domain/mac`` (or ``domain/alias``): how operations name the interface."""
    return "%s/%s" % (desired["domain"], desired.get("mac") or desired.get("alias"))


def plan_interface(current: dict[str, Any], desired: dict[str, Any], elements: dict[str, Any]) -> list[Operation]:
    """Operations (attach/update/detach with their flags and XML) for one interface.

    ``current`` is ``{"running": bool, "persistent": bool, "config": iface|None, "live": iface|None}``
    (canonical dicts from ``_libvirt.parse_interface``); ``elements`` holds the matching raw
    elements per view. Pure: raises InvalidInput / Unsupported on what cannot be done.
    """
    target = target_name(desired)
    views = [v for v in VIEWS if desired[v] and (v == "config" or current["running"])]
    if "config" in views and not current.get("persistent", True):
        raise Unsupported("config: domain %r is transient (no persistent definition); set config=false"
                          % desired["domain"])
    if desired["state"] == "absent":
        gone = [v for v in views if current.get(v) is not None]
        if not gone:
            return []
        # libvirt matches the device by MAC (and guest address/alias when given): the view's own element
        xml = _libvirt.to_string(elements[gone[0]])
        return [Operation("detach", target, flags=gone, xml=xml)]

    missing = [v for v in views if current.get(v) is None]
    ops: list[Operation] = []
    if missing:
        if desired.get("type") is None or desired.get("source") is None:
            raise NotFound("%s: no interface with %s on domain %r (%s); to create it give type and source"
                           % ("mac" if desired.get("mac") else "alias", desired.get("mac") or desired.get("alias"),
                              desired["domain"], " and ".join(missing)))
        existing = [current[v]["mac"] for v in views if current.get(v) is not None]
        mac = desired.get("mac") or (existing[0] if existing else desired.get("generated_mac") or random_mac())
        xml = _libvirt.to_string(build_interface(desired, mac))
        ops.append(Operation("attach", target, flags=missing, xml=xml))
    for view in views:
        cur = current.get(view)
        if cur is None:
            continue
        want = dict(desired)
        if want.get("type") is not None and want["type"] != cur["type"]:
            if want.get("source") is None:
                raise InvalidInput("source", None, "is required to change type %s -> %s" % (cur["type"], want["type"]))
        elif cur["type"] != "direct":
            want["source_mode"] = None
        changes = field_changes(cur, want, FIELDS)
        if view == "live":
            frozen = {f: c for f, c in changes.items() if not live_changeable(f, cur, want)}
            if frozen and not desired["allow_config_only"]:
                raise Unsupported(
                    "live: libvirt cannot change %s of interface %s on the running domain %r (%s); nothing was "
                    "changed. Set allow_config_only=true to change only the persistent definition (effective at "
                    "the next start), or live=false"
                    % (", ".join(sorted(frozen)), cur["mac"], desired["domain"],
                       "; ".join("%s: %s -> %s" % (f, c["before"], c["after"]) for f, c in sorted(frozen.items()))))
            for field in frozen:
                changes.pop(field)
        if changes:
            values = {f: c["after"] for f, c in changes.items()}
            values["interfaceid"] = desired.get("interfaceid")
            node = apply_fields(elements[view], values)
            ops.append(Operation("update", target, changes=changes, flags=[view], xml=_libvirt.to_string(node)))
    return ops


def detach_attempts(timeout: Any, delay: float) -> int:
    """How many read-backs fit in ``detach_timeout`` seconds (None: 10 s; 0: read back once)."""
    if timeout is None:
        timeout = 10
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
        raise InvalidInput("detach_timeout", timeout, "is not a number of seconds (0 or more)")
    return max(1, int(float(timeout) / delay))


def flags_value(flags: list[str]) -> int:
    """``["config", "live"]`` -> VIR_DOMAIN_AFFECT_CONFIG | VIR_DOMAIN_AFFECT_LIVE."""
    value = 0
    if "config" in flags:
        value |= _libvirt.AFFECT_CONFIG
    if "live" in flags:
        value |= _libvirt.AFFECT_LIVE
    return value


# -- the resource -----------------------------------------------------------------------------
class LibvirtIfaceResource(Resource):
    """One interface of a libvirt domain, in its persistent and/or live definition."""

    #: canonical dict of one device element (the hostdev resource parses <hostdev> instead)
    parse_device = staticmethod(_libvirt.parse_interface)

    verify_delay = 0.5
    #: the fields a running domain's device may differ in from the definition until a restart
    #: (libvirt fills in the alias and target dev of the running one)
    restart_fields = tuple(f for f in FIELDS if f not in ("alias", "target_dev"))

    def __init__(self, params: dict[str, Any], root: str = "/") -> None:
        super().__init__(params, root)
        self.virt = _libvirt.Connection(_canon.libvirt_uri(params.get("uri")))
        self.dom: Any = None
        self.elements: dict[str, Any] = {}
        #: ``vlan`` of a Linux-bridge NIC: domain metadata + the running tap (_libvirt_iface_vlans)
        self.bridge_vlans = BridgeVlanPart()

    def open(self) -> None:
        self.virt.open()

    def close(self) -> None:
        self.bridge_vlans.close()
        self.virt.close()

    def diff_header(self) -> str:
        return "interface %s of domain %s" % (self.params.get("mac") or self.params.get("alias"), self.params["domain"])

    def normalize(self) -> dict[str, Any]:
        p = self.params
        d: dict[str, Any] = {k: p.get(k) for k in FIELDS}
        d.update(domain=_libvirt.domain_name(p["domain"], "domain"), state=p.get("state") or "present",
                 config=p.get("config", True),
                 live=p.get("live", True), allow_config_only=bool(p.get("allow_config_only")))
        if not d["config"] and not d["live"]:
            raise InvalidInput("config", False, "and live=false leave nothing to manage; enable one of them")
        for key in FIELDS:  # what goes into the XML as text: no control character (XML 1.0 cannot hold it)
            value = d.get(key)
            if isinstance(value, str) and any(ord(c) < 0x20 or ord(c) == 0x7f for c in value):
                raise InvalidInput(key, value, "contains a control character (no libvirt name or value has one)")
        d["mac"] = _canon.unicast_mac(p["mac"], "mac") if p.get("mac") else None
        if not d["mac"] and not d["alias"]:
            raise InvalidInput("mac", None, "or alias is needed to identify the interface")
        if d["alias"] is not None and not _ALIAS_RE.fullmatch(d["alias"]):
            raise InvalidInput("alias", d["alias"], "is not a user alias: libvirt needs 'ua-' followed by "
                               "letters, digits, '_' or '-'")
        itype = d["type"]
        if itype is not None and itype not in _libvirt.IFACE_TYPES:
            raise InvalidInput("type", itype, "is not one of %s" % ", ".join(_libvirt.IFACE_TYPES))
        self._check_type_options(d, p)
        if itype == "hostdev":
            if p.get("pf") is not None:
                if d["source"] is not None:
                    raise InvalidInput("pf", p["pf"], "and source are mutually exclusive (give one)")
                d["source"] = resolve_vf(p["pf"], int(p.get("vf") or 0), self.host_path("/sys"))
            elif d["source"] is not None:
                d["source"] = _canon.pci_address(d["source"], "source")
        elif d["source"] is not None and itype in ("bridge", "direct"):
            _canon.ifname(d["source"], "source")
        if d["model"] is not None and not _MODEL_RE.fullmatch(str(d["model"])):
            raise InvalidInput("model", d["model"], "is not a NIC model name: libvirt takes letters, digits, '_' "
                                                    "and '-' (virtio, e1000e, rtl8139, ...)")
        if d["queues"] is not None and not 1 <= d["queues"] <= MAX_QUEUES:
            raise InvalidInput("queues", d["queues"], "is out of range (1-%d)" % MAX_QUEUES)
        for field in ("rx_queue_size", "tx_queue_size"):
            if d[field] is not None and d[field] not in QUEUE_SIZES:
                raise InvalidInput(field, d[field], "is not one of %s (a power of two qemu accepts)"
                                   % ", ".join(map(str, QUEUE_SIZES)))
        if d["queues"] is not None and d["queues"] > 1 and d["model"] not in (None, "virtio"):
            raise InvalidInput("queues", d["queues"], "needs model virtio (model is %s)" % d["model"])
        if d["mtu"] is not None and not 68 <= d["mtu"] <= 65535:
            raise InvalidInput("mtu", d["mtu"], "is out of range (68-65535)")
        if d["target_dev"] is not None:
            _canon.ifname(d["target_dev"], "target_dev")
            if re.match(r"^(vnet|macvtap|macvlan)\d", d["target_dev"]):
                raise InvalidInput("target_dev", d["target_dev"], "uses a prefix libvirt reserves for generated "
                                   "names (vnet, macvtap, macvlan)")
        d["vlan"] = _libvirt.canonical_vlan(p.get("vlan"))
        d["bandwidth"] = _libvirt.canonical_bandwidth(p.get("bandwidth"))
        floor = ((d["bandwidth"] or {}).get("inbound") or {}).get("floor")
        if floor is not None and itype not in (None, "network"):
            # libvirt parses floor only for <interface type='network'> (QoS of a libvirt network)
            raise InvalidInput("bandwidth.inbound.floor", floor, "applies to type=network only (type is %s)" % itype)
        if d["state"] == "present" and not d["mac"]:
            d["generated_mac"] = random_mac()
        if d["virtualport"] == "openvswitch":
            d["interfaceid"] = str(uuid.uuid4())
        # checked whether or not this run detaches live: a negative timeout is a mistake either way
        attempts = detach_attempts(p.get("detach_timeout"), self.verify_delay)
        if d["live"]:
            self.verify_attempts = attempts
        return d

    @staticmethod
    def _check_type_options(d: dict[str, Any], p: dict[str, Any]) -> None:
        itype = d["type"]
        rules = (("source_mode", "direct"), ("portgroup", "network"), ("managed", "hostdev"), ("pf", "hostdev"))
        for option, needs in rules:
            if p.get(option) is not None and itype not in (None, needs):
                raise InvalidInput(option, p[option], "applies to type=%s only (type is %s)" % (needs, itype))
        if d["virtualport"] not in (None, "none") and itype not in (None, "bridge", "network"):
            raise InvalidInput("virtualport", d["virtualport"], "applies to type bridge or network only")
        if p.get("vf") is not None and p.get("pf") is None:
            raise InvalidInput("vf", p["vf"], "needs pf (the physical function's netdev)")
        if p.get("vf") is not None and p["vf"] < 0:
            raise InvalidInput("vf", p["vf"], "is negative")

    def _find(self, root: Any) -> Any:
        mac, alias = self.params.get("mac"), self.params.get("alias")
        mac = _canon.mac(mac) if mac else None
        for elem in root.findall("./devices/interface"):
            node = elem.find("mac")
            if mac is not None:
                if node is not None and _canon.mac(node.get("address")) == mac:
                    return elem
            else:
                anode = elem.find("alias")
                if anode is not None and anode.get("name") == alias:
                    return elem
        return None

    def read_current(self) -> dict[str, Any] | None:
        if self.dom is None:
            self.dom = self.virt.domain(self.params["domain"])
        name = self.params["domain"]
        running = bool(self.virt.call("domain %r: state" % name, self.dom.isActive))
        persistent = bool(self.virt.call("domain %r: persistence" % name, self.dom.isPersistent))
        current: dict[str, Any] = {"domain": self.virt.call("domain %r" % name, self.dom.name),
                                   "running": running, "persistent": persistent, "config": None, "live": None}
        self.elements = {}
        roots = {}
        sources = []
        if persistent:
            sources.append(("config", _libvirt.XML_INACTIVE))
        if running:
            sources.append(("live", 0))
        for view, flags in sources:
            root = roots[view] = _libvirt.parse_xml(self.virt.call("domain %r: reading XML" % name, self.dom.XMLDesc, flags))
            elem = self._find(root)
            if elem is not None:
                self.elements[view] = _libvirt.config_form(elem)
                iface = _libvirt.parse_interface(elem)
                iface["xml"] = _libvirt.to_string(elem)
                current[view] = iface
        self.bridge_vlans.read(current, roots, self.params.get("vlan") is not None)
        return current

    def plan(self, current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Operation]:
        current = existing(current)
        if desired.get("restore") is not None:
            return plan_restore(current, desired["restore"], self.elements, target_name(desired)) \
                + self.bridge_vlans.plan(desired, target_name(desired))
        desired.update(self.bridge_vlans.desired(current, desired))
        if desired["state"] == "present" and desired["type"] == "hostdev" and desired["source"] is not None:
            require_pci_device(self.host_path("/sys/bus/pci/devices/" + desired["source"]), desired["source"])
        views = [current.get(v) for v in VIEWS if current.get(v)]
        itype = desired["type"] or (views[0]["type"] if views else None)
        network = desired["source"] or next((v["source"] for v in views), None)  # a portgroup is its network's
        if desired["state"] == "present" and itype == "network" and network and (desired["source"] or desired["portgroup"]):
            self.virt.require_network(network, desired["portgroup"] or None)
        # a Linux bridge NIC's vlan is no <vlan> of its XML (libvirt 9 cannot apply one) but metadata
        linux_vlan = desired.get("bridge_vlan_views") is not None
        ops = plan_interface(current, dict(desired, vlan=None) if linux_vlan else desired, self.elements)
        if ops and desired["state"] == "present" and desired["source"] is not None and itype in ("bridge", "direct") \
                and any(v.get("source") != desired["source"] for v in views + [{}]):
            self.require_host_interface(desired["source"])
        return ops + self.bridge_vlans.plan(desired, target_name(desired))

    def require_host_interface(self, name: str) -> None:
        """NotFound naming ``source`` when neither libvirt's host (its interface driver) nor this host's sysfs
        has a network interface ``name``: libvirt itself checks only when the NIC is plugged (a running
        domain, the next start), never a persistent definition. A netcf backend knows only configured
        interfaces, and libvirt 10+ runs without an interface driver (virtinterfaced) unless installed:
        this host's sysfs decides then (the bad-input sweep found a config-only NIC on a missing bridge
        accepted on Debian 13)."""
        try:
            self.virt.conn.interfaceLookupByName(name)
            return
        except _libvirt.libvirt.libvirtError:
            pass
        if not os.path.exists(self.host_path("/sys/class/net/" + name)):
            raise NotFound("source: %r is not a network interface on libvirt's host (%s); create the bridge "
                           "or device first" % (name, self.virt.uri))

    def restore_desired(self, before: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
        """Each view (persistent definition, running domain) back to the device as read before,
        XML included: the read state holds both views, which one desired state cannot say."""
        before = existing(before)
        return dict(desired, state="present", config=True, live=True,
                    restore={view: before.get(view) for view in VIEWS})

    def apply(self, operations: list[Operation]) -> None:
        """One libvirt call per operation, live first (the view libvirt is most likely to refuse,
        and nothing is half-done then); a failure names the steps applied before it."""
        super().apply(sorted(operations, key=lambda o: {"set_bridge_vlans": 2, "retag": 3}.get(
            o.action, 0 if "live" in o.params.get("flags", ()) else 1)))

    def apply_operation(self, op: Operation) -> None:
        if self.bridge_vlans.apply(op, self.virt, self.dom, lambda: (self.read_current()["live"] or {}).get("target_dev")):
            return
        calls = {"attach": self.dom.attachDeviceFlags, "update": self.dom.updateDeviceFlags,
                 "detach": self.dom.detachDeviceFlags}
        what = "domain %r: %s %s (%s)" % (self.params["domain"], op.action, op.target.split("/", 1)[-1],
                                          "+".join(op.params["flags"]))
        self.virt.call(what, calls[op.action], op.params["xml"], flags_value(op.params["flags"]))

    def verify(self, desired: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return super().verify(desired)
        except VerificationFailed as exc:
            if any(op.get("action") == "detach" and "live" in op.get("flags", []) for op in exc.details["remaining"]):
                exc.msg += ("; libvirt asked the guest to release the device but it did not within %.0f s "
                            "(a live detach needs the guest OS to acknowledge the PCI unplug; raise "
                            "detach_timeout or use live=false)" % (self.verify_attempts * self.verify_delay))
                exc.args = (exc.msg,)
            raise

    def predict(self, current: dict[str, Any] | None, desired: dict[str, Any],
                operations: list[Operation]) -> dict[str, Any] | None:
        after = dict(current or {})
        for op in operations:
            for view in [] if self.bridge_vlans.predict(after, op) else op.params["flags"]:
                if op.action == "detach":
                    after[view] = None
                else:
                    device = self.parse_device(_libvirt.parse_xml(op.params["xml"]))
                    device["xml"] = op.params["xml"]
                    after[view] = device
        self.bridge_vlans.keep(after, current or {}, operations)
        return after

    def diff_view(self, state: dict[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, str]]:
        """The device's XML in each view (persistent definition, running domain) is a document
        of its own; the fields without it are the object."""
        fields, texts = super().diff_view(state)
        if fields is None:
            return fields, texts
        for view, title in VIEW_TITLES:
            device = fields.get(view)
            if device is not None:
                fields[view] = {k: v for k, v in device.items() if k != "xml"}
                texts["%s (%s)" % (self.diff_header(), title)] = device["xml"]
        return fields, texts

    def pending_restart(self, after: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
        """The fields in which the running domain's device differs from the persistent definition
        (a config-only change that waits for the next start of the domain), as
        ``{field: {"running": x, "defined": y}}``."""
        if not (after and after.get("running") and after.get("config") and after.get("live")):
            return {}
        return {f: {"running": after["live"].get(f), "defined": after["config"].get(f)}
                for f in self.restart_fields if after["config"].get(f) != after["live"].get(f)}

    def warnings(self, after: dict[str, Any] | None, operations: list[Operation]) -> list[str]:
        """A config-only change waits for the domain's restart, which the module does not do."""
        pending = self.pending_restart(after)
        hook = self.bridge_vlans.warnings(self.host_path(HOOK_PATH), self.params["domain"]) if operations else []
        if not pending:
            return hook
        fields = "; ".join("%s: defined %s, running %s" % (f, _shown(v["defined"]), _shown(v["running"]))
                           for f, v in sorted(pending.items()))
        return ["%s: the running domain differs from the persistent definition (%s); the definition takes "
                "effect when domain %s is shut down and started again (a reboot inside the guest is not enough)"
                % (self.diff_header(), fields, self.params["domain"])] + hook

    def extra_results(self, after: dict[str, Any] | None) -> dict[str, Any]:
        return {"pending_restart": bool(self.pending_restart(after))}
