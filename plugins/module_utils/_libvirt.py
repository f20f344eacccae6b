# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The libvirt backend: a connection by URI, typed errors, and the canonical form of devices.

Canonical form of an ``<interface>`` (what is compared, :func:`parse_interface`)::

    mac, alias, type, source, source_mode, portgroup, virtualport, managed, model, driver_name,
    queues, rx_queue_size, tx_queue_size, vlan, target_dev, mtu, link_state, bandwidth

Rules (one place, applied to both the desired and the current side):

* Values libvirt generates are never compared unless the user asked for them: the device
  ``<alias>`` (user aliases start with ``ua-``), the guest PCI ``<address>``, the ``<target dev>``
  (vnetN / macvtapN), the OVS ``interfaceid``, the ``<model>`` and ``<driver>`` attributes a
  user did not give. In the engine a desired value of None means "not mentioned": left alone.
* MAC: lower case (``_canon.mac``). PCI addresses: ``dddd:bb:ss.f``, lower case hex
  (``_canon.pci_address``).
* ``link_state``: an absent ``<link>`` is ``up``. ``queues``: absent is 1. ``source_mode`` of
  a ``direct`` interface: absent is ``vepa`` (libvirt's default).
* ``virtualport``: its ``type`` (``openvswitch``, ...), ``none`` when there is no element.
* ``vlan``: ``{}`` when there is none, else ``{"tags": [sorted ids], "trunk": bool,
  "native_tag": id|None, "native_mode": "tagged"|"untagged"|None}``; more than one tag is a trunk.
* ``bandwidth``: ``{}`` when there is none, else ``{"inbound"|"outbound": {"average", "peak",
  "burst", "floor"}: int}`` with absent attributes left out.

:func:`canonical_xml` gives the same rules as text (generated values removed, attributes and
children in a fixed order) for display and for golden comparisons.
"""

from __future__ import annotations

import copy
import re
import traceback
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._deps import require
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    BackendUnavailable,
    InvalidInput,
    KvmnetError,
    NotFound,
    Unsupported,
)

LIBVIRT_IMPORT_ERROR = None
LXML_IMPORT_ERROR = None
try:
    import libvirt
except ImportError:
    libvirt = None
    LIBVIRT_IMPORT_ERROR = traceback.format_exc()
try:
    from lxml import etree
except ImportError:
    etree = None
    LXML_IMPORT_ERROR = traceback.format_exc()

# numeric values of the libvirt constants used here (stable ABI; usable without libvirt-python)
AFFECT_LIVE = 1
AFFECT_CONFIG = 2
XML_INACTIVE = 2
ERR_NO_DOMAIN = 42
ERR_OPERATION_UNSUPPORTED = 84
ERR_CONFIG_UNSUPPORTED = 67
ERR_OPERATION_INVALID = 55
ERR_OPERATION_FAILED = 9
ERR_NO_CONNECT = 5
ERR_SYSTEM_ERROR = 38
ERR_RPC = 39
ERR_NO_NODE_DEVICE = 53
ERR_NO_NETWORK = 43
ERR_NO_INTERFACE = 57
ERR_XML_ERROR = 27
ERR_INVALID_ARG = 8
ERR_NO_SUPPORT = 3

IFACE_TYPES = ("bridge", "direct", "network", "hostdev")
DIRECT_MODES = ("bridge", "vepa", "private", "passthrough")
BANDWIDTH_KEYS = ("average", "peak", "burst", "floor")
#: the largest value of each (an unsigned int in libvirt's API; a burst is 32-bit bytes in tc)
BANDWIDTH_MAX = {"average": 2 ** 32 - 1, "peak": 2 ** 32 - 1, "floor": 2 ** 32 - 1, "burst": (2 ** 32 - 1) // 1024}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


def require_libs() -> None:
    """Raise MissingDependency when libvirt-python or lxml is missing."""
    require("libvirt", LIBVIRT_IMPORT_ERROR)
    require("lxml", LXML_IMPORT_ERROR)


# -- canonical values ---------------------------------------------------------------------
def object_name(value: Any, option: str = "name") -> str:
    """A name for a libvirt object this collection creates (network, ...) or InvalidInput naming
    ``option``.

    libvirt itself refuses only ``/`` in a network name (``virXMLCheckIllegalChars("name", name,
    "/")`` in network_conf.c) and a newline in a domain's or pool's; its network XML reference
    asks for alphanumeric names, and the name becomes the file name of the persistent definition
    (``/etc/libvirt/qemu/networks/<name>.xml``) and a ``virsh`` argument. Stricter here: letters,
    digits and ``-``, ``_``, ``.``, ``+``, starting with a letter or digit (so no ``.``, ``..``,
    hidden files, spaces, ``/``, control or shell characters), at most 250 bytes.
    """
    text = "" if value is None else str(value)
    if not text:
        raise InvalidInput(option, value, "is empty; a libvirt object needs a name")
    if len(text.encode("utf-8")) > 250:
        raise InvalidInput(option, value, "is longer than 250 bytes (the name is a file name)")
    if not _NAME_RE.fullmatch(text):
        raise InvalidInput(option, value, "is not a libvirt object name: use letters, digits, '-', '_', '.' "
                           "or '+', starting with a letter or digit")
    return text


def domain_name(value: Any, option: str = "domain") -> str:
    """The name (or UUID) of an existing domain to look up, or InvalidInput naming ``option``.

    libvirt refuses a domain name with ``/`` (domain_conf.c) or a newline (every driver's
    define: ``virXMLCheckIllegalChars("name", def->name, "\\n")``). Stricter here, as the name is
    the file name of the definition (``/etc/libvirt/qemu/<name>.xml``): no control characters,
    not starting with ``.`` and at most 250 bytes. Spaces stay allowed: libvirt accepts them and
    existing domains have them.
    """
    text = "" if value is None else str(value)
    if not text.strip():
        raise InvalidInput(option, value, "is empty; give the name or UUID of a libvirt domain")
    if len(text.encode("utf-8")) > 250:
        raise InvalidInput(option, value, "is longer than 250 bytes (the name is a file name)")
    if "/" in text:
        raise InvalidInput(option, value, "is not a libvirt domain name: libvirt refuses '/' in names")
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise InvalidInput(option, value, "is not a libvirt domain name: it holds a control character (newline, tab...)")
    if text.startswith(".") or text != text.strip():
        raise InvalidInput(option, value, "is not a libvirt domain name: it starts with '.' or with/ends in a space")
    return text


def pci_address_attrs(address: str) -> dict[str, str]:
    """``0000:03:10.1`` -> the attributes of libvirt's ``<address type='pci' .../>``."""
    dom, bus, rest = address.split(":")
    slot, func = rest.split(".")
    return {"type": "pci", "domain": "0x" + dom, "bus": "0x" + bus, "slot": "0x" + slot, "function": "0x" + func}


def canonical_vlan(value: dict[str, Any] | None, option: str = "vlan") -> dict[str, Any] | None:
    """Desired ``vlan`` option -> canonical form; None stays None (left alone); no tags -> ``{}``."""
    if value is None:
        return None
    tags = value.get("tags") or []
    canon_tags = sorted({_canon.vlan_tag(t, option + ".tags") for t in tags})
    for tag in canon_tags:
        if not 1 <= tag <= 4094:
            raise InvalidInput(option + ".tags", tag, "is not an 802.1Q VLAN id (1-4094)")
    if not canon_tags:
        if value.get("trunk") or value.get("native_tag") is not None:
            raise InvalidInput(option, value, "has no tags; trunk and native_tag need tags")
        return {}
    native_tag = value.get("native_tag")
    native_mode = value.get("native_mode")
    if native_tag is not None:
        native_tag = _canon.vlan_tag(native_tag, option + ".native_tag")
        if native_tag not in canon_tags:
            raise InvalidInput(option + ".native_tag", native_tag, "is not one of the tags %s" % canon_tags)
        native_mode = native_mode or "untagged"
    elif native_mode is not None:
        raise InvalidInput(option + ".native_mode", native_mode, "needs native_tag")
    trunk = bool(value.get("trunk")) or len(canon_tags) > 1 or native_tag is not None
    if value.get("trunk") is False and len(canon_tags) > 1:
        raise InvalidInput(option + ".trunk", False, "contradicts %d tags (more than one tag is a trunk)"
                           % len(canon_tags))
    return {"tags": canon_tags, "trunk": trunk, "native_tag": native_tag, "native_mode": native_mode}


def canonical_bandwidth(value: dict[str, Any] | None, option: str = "bandwidth") -> dict[str, Any] | None:
    """Desired ``bandwidth`` option -> canonical form (None: left alone; ``{}``: no limits).

    libvirt's rules (virNetDevBandwidthParse): a direction needs average or floor, peak and burst
    need average, floor is inbound only. Its ranges are tighter than the XML's unsigned long
    long: the live API (virDomainSetInterfaceParameters) carries every value as an unsigned int,
    and tc keeps a burst as 32-bit bytes (virNetDevBandwidthSet caps it at UINT_MAX / 1024 KiB).
    0 is refused: libvirt writes a 0 as "not set", so the interface would never match it. A peak
    below the average is a contradiction (the ceiling of the rate)."""
    if value is None:
        return None
    out: dict[str, Any] = {}
    for direction in ("inbound", "outbound"):
        spec = value.get(direction)
        if not spec:
            continue
        rates = {}
        for key in BANDWIDTH_KEYS:
            if spec.get(key) is None:
                continue
            rate = spec[key]
            name = "%s.%s.%s" % (option, direction, key)
            if isinstance(rate, bool) or not isinstance(rate, int):
                raise InvalidInput(name, rate, "is not an integer")
            top = BANDWIDTH_MAX[key]
            if not 1 <= rate <= top:
                raise InvalidInput(name, rate, "is out of range (1-%d %s; leave it out for no limit)"
                                   % (top, "KiB" if key == "burst" else "KiB/s"))
            rates[key] = rate
        if direction == "outbound" and "floor" in rates:
            raise InvalidInput("%s.outbound.floor" % option, rates["floor"], "is only valid for inbound")
        if "average" not in rates:
            if "floor" not in rates:
                raise InvalidInput("%s.%s" % (option, direction), spec, "needs average (KiB/s)")
            for key in ("peak", "burst"):
                if key in rates:
                    raise InvalidInput("%s.%s.%s" % (option, direction, key), rates[key],
                                       "needs %s.%s.average (libvirt's rule)" % (option, direction))
        elif rates.get("peak", rates["average"]) < rates["average"]:
            raise InvalidInput("%s.%s.peak" % (option, direction), rates["peak"], "is below %s.%s.average %d "
                               "(the peak rate is the ceiling of the average)" % (option, direction, rates["average"]))
        out[direction] = rates
    return out


# -- XML parsing --------------------------------------------------------------------------
def _int(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    return int(text, 0)


def parse_interface(elem: Any) -> dict[str, Any]:
    """An ``<interface>`` element -> its canonical dict (see the module docstring)."""
    itype = elem.get("type")
    if itype in ("bridge", "direct", "hostdev") and elem.find("source") is not None and \
            elem.find("source").get("network"):
        # a running domain shows a network interface with the type of the port libvirt gave it
        # (<interface type='bridge'><source network='N' portgroup='P' bridge='br0'/>): it is a network one
        itype = "network"
    out: dict[str, Any] = {"type": itype}
    mac = elem.find("mac")
    out["mac"] = _canon.mac(mac.get("address")) if mac is not None and mac.get("address") else None
    alias = elem.find("alias")
    out["alias"] = alias.get("name") if alias is not None else None
    source = elem.find("source")
    out["source"] = out["source_mode"] = out["portgroup"] = None
    if source is not None:
        if itype == "bridge":
            out["source"] = source.get("bridge")
        elif itype == "direct":
            out["source"] = source.get("dev")
            out["source_mode"] = source.get("mode") or "vepa"
        elif itype == "network":
            out["source"] = source.get("network")
            out["portgroup"] = source.get("portgroup")
        elif itype == "hostdev":
            addr = source.find("address")
            out["source"] = _canon.pci_address(dict(addr.attrib), "source") if addr is not None else None
        else:
            out["source"] = source.get("bridge") or source.get("dev") or source.get("network")
    out["managed"] = (elem.get("managed") == "yes") if itype == "hostdev" else None
    vport = elem.find("virtualport")
    out["virtualport"] = (vport.get("type") or "none") if vport is not None else "none"
    model = elem.find("model")
    out["model"] = model.get("type") if model is not None else None
    driver = elem.find("driver")
    out["driver_name"] = driver.get("name") if driver is not None else None
    out["queues"] = (_int(driver.get("queues")) if driver is not None else None) or 1
    out["rx_queue_size"] = _int(driver.get("rx_queue_size")) if driver is not None else None
    out["tx_queue_size"] = _int(driver.get("tx_queue_size")) if driver is not None else None
    out["vlan"] = _parse_vlan(elem.find("vlan"))
    target = elem.find("target")
    out["target_dev"] = target.get("dev") if target is not None else None
    mtu = elem.find("mtu")
    out["mtu"] = _int(mtu.get("size")) if mtu is not None else None
    link = elem.find("link")
    out["link_state"] = (link.get("state") or "up") if link is not None else "up"
    out["bandwidth"] = _parse_bandwidth(elem.find("bandwidth"))
    return out


def config_form(elem: Any) -> Any:
    """The ``<interface>`` to hand back to libvirt (update, detach) for ``elem`` as read: a running
    domain shows a network interface as the port libvirt gave it (type bridge/direct/hostdev,
    ``<source network bridge dev portid>``, the network's ``<virtualport>`` and the portgroup's
    ``<vlan>`` merged in); libvirt takes it back only as written in a definition (type network,
    ``<source network portgroup>``), else it plugs the tap into the bridge as a plain one. The
    merged-in virtualport and VLAN come from the network again."""
    source = elem.find("source")
    if elem.get("type") == "network" or source is None or not source.get("network"):
        return elem
    node = copy.deepcopy(elem)
    node.set("type", "network")
    node_source = node.find("source")
    for attr in list(node_source.attrib):
        if attr not in ("network", "portgroup"):
            del node_source.attrib[attr]
    for tag in ("virtualport", "vlan"):
        for child in node.findall(tag):
            node.remove(child)
    return node


def network_port_has_virtualport(iface: dict[str, Any]) -> bool:
    """Whether ``iface`` (a canonical interface of a running domain) is a network interface whose
    port has a virtualport (an Open vSwitch network): libvirt 9 moves such a port to another
    network or portgroup only by a reconnect it does not do live (qemuDomainChangeNet: "unable
    to change config on 'network' network type"); a Linux bridge network's port moves live."""
    return iface.get("type") == "network" and iface.get("virtualport") not in (None, "none")


def _parse_vlan(vlan: Any) -> dict[str, Any]:
    if vlan is None:
        return {}
    tags = []
    native_tag = native_mode = None
    for tag in vlan.findall("tag"):
        tags.append(int(tag.get("id")))
        if tag.get("nativeMode"):
            native_tag, native_mode = int(tag.get("id")), tag.get("nativeMode")
    if not tags:
        return {}
    return {"tags": sorted(set(tags)), "trunk": vlan.get("trunk") == "yes" or len(tags) > 1 or native_tag is not None,
            "native_tag": native_tag, "native_mode": native_mode}


def parse_vlan(vlan: Any) -> dict[str, Any]:
    """A ``<vlan>`` element (of an interface, a network or a portgroup; None: no element) -> the
    canonical ``vlan`` of the module docstring."""
    return _parse_vlan(vlan)


def _parse_bandwidth(bw: Any) -> dict[str, Any]:
    if bw is None:
        return {}
    out = {}
    for direction in ("inbound", "outbound"):
        node = bw.find(direction)
        if node is not None:
            out[direction] = {k: int(node.get(k)) for k in BANDWIDTH_KEYS if node.get(k) is not None}
    return out


def parse_hostdev(elem: Any) -> dict[str, Any]:
    """A PCI ``<hostdev>`` -> ``{"source": "dddd:bb:ss.f", "managed": bool, "alias": str|None}``.

    The guest-side ``<address>``, the generated alias and the default ``<driver name='vfio'/>``
    are not part of the canonical form.
    """
    addr = elem.find("source/address")
    alias = elem.find("alias")
    return {
        "source": _canon.pci_address(dict(addr.attrib), "source") if addr is not None else None,
        "managed": elem.get("managed") == "yes",
        "alias": alias.get("name") if alias is not None and (alias.get("name") or "").startswith("ua-") else None,
    }


#: generated children/attributes that canonical_xml drops
_GENERATED_CHILDREN = ("alias", "address")


def canonical_xml(elem: Any, keep_target: bool = False) -> str:
    """Text form of a device without libvirt's generated values, in a fixed order.

    Drops ``<alias>`` (unless a user alias ``ua-...``), the guest ``<address>`` (not the one
    inside ``<source>``), ``<target>`` unless ``keep_target``, the OVS ``<parameters
    interfaceid>``, and the default ``<driver name='vfio'/>`` of hostdevs. Attributes are
    sorted, children are sorted by tag then by their own text, whitespace is removed.
    """
    node = copy.deepcopy(elem)
    for child in list(node):
        if not isinstance(child.tag, str):
            node.remove(child)
            continue
        tag = child.tag
        if tag == "alias" and (child.get("name") or "").startswith("ua-"):
            continue
        if tag in _GENERATED_CHILDREN or (tag == "target" and not keep_target):
            node.remove(child)
        elif tag == "virtualport":
            for params in child.findall("parameters"):
                params.attrib.pop("interfaceid", None)
                if not params.attrib:
                    child.remove(params)
        elif tag == "driver" and node.tag == "hostdev" and dict(child.attrib) == {"name": "vfio"}:
            node.remove(child)
        elif tag == "mac" and child.get("address"):
            child.set("address", _canon.mac(child.get("address")))
    return _render_sorted(node)


def _render_sorted(node: Any) -> str:
    attrs = "".join(' %s="%s"' % (k, v) for k, v in sorted(node.attrib.items()))
    children = sorted(_render_sorted(c) for c in node if isinstance(c.tag, str))
    text = (node.text or "").strip()
    if not children and not text:
        return "<%s%s/>" % (node.tag, attrs)
    return "<%s%s>%s%s</%s>" % (node.tag, attrs, text, "".join(children), node.tag)


def to_string(elem: Any) -> str:
    """Pretty text of one element (for diffs), without the tail."""
    node = copy.deepcopy(elem)
    node.tail = None
    for sub in node.iter():
        if isinstance(sub.tag, str) and len(sub) and (sub.text or "").strip() == "":
            sub.text = None
        if (sub.tail or "").strip() == "":
            sub.tail = None
    return etree.tostring(node, pretty_print=True, encoding="unicode")


def parse_xml(text: str) -> Any:
    """Parse libvirt XML text (whitespace between elements dropped)."""
    parser = etree.XMLParser(remove_blank_text=True)
    return etree.fromstring(text.encode("utf-8") if isinstance(text, str) else text, parser)


# -- errors -------------------------------------------------------------------------------
def translate(exc: Exception, what: str) -> KvmnetError:
    """A libvirtError -> the typed error; ``what`` names the object and the action."""
    code = exc.get_error_code() if hasattr(exc, "get_error_code") else None
    message = exc.get_error_message() if hasattr(exc, "get_error_message") else str(exc)
    text = "%s: %s" % (what, message or exc)
    if code == ERR_NO_DOMAIN:
        return NotFound(text, libvirt_error=code)
    if code in (ERR_OPERATION_UNSUPPORTED, ERR_CONFIG_UNSUPPORTED, ERR_NO_SUPPORT):
        return Unsupported(text, libvirt_error=code)
    if code in (ERR_NO_NODE_DEVICE, ERR_NO_NETWORK):
        return NotFound(text, libvirt_error=code)
    if code in (ERR_NO_CONNECT, ERR_RPC):
        return BackendUnavailable(text, libvirt_error=code)
    return KvmnetError(text, libvirt_error=code)


class Connection:
    """One libvirt connection (``libvirt.open(uri)``; ``read_only``: ``libvirt.openReadOnly``,
    for readers such as network_info), opened lazily by :meth:`open`."""

    def __init__(self, uri: str, read_only: bool = False) -> None:
        self.uri = uri
        self.read_only = read_only
        self.conn: Any = None

    def open(self) -> None:
        """Connect; a failure is BackendUnavailable naming the URI."""
        require_libs()
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors are raised, not printed
        try:
            self.conn = libvirt.openReadOnly(self.uri) if self.read_only else libvirt.open(self.uri)
        except libvirt.libvirtError as exc:
            raise BackendUnavailable("uri: cannot connect to libvirt at %r: %s" % (self.uri, exc.get_error_message()),
                                     uri=self.uri) from exc
        if self.conn is None:
            raise BackendUnavailable("uri: cannot connect to libvirt at %r" % self.uri, uri=self.uri)

    def close(self) -> None:
        """Close the connection (safe when open() failed)."""
        if self.conn is not None:
            try:
                self.conn.close()
            except libvirt.libvirtError:
                pass
            self.conn = None

    def domain(self, ident: str) -> Any:
        """A virDomain by name or UUID; NotFound names the domain."""
        try:
            if _UUID_RE.match(ident):
                try:
                    return self.conn.lookupByUUIDString(ident)
                except libvirt.libvirtError as exc:
                    if exc.get_error_code() != ERR_NO_DOMAIN:
                        raise
            return self.conn.lookupByName(ident)
        except libvirt.libvirtError as exc:
            err = translate(exc, "domain: %r on %s" % (ident, self.uri))
            if isinstance(err, NotFound):
                raise NotFound("domain: %r does not exist on %s" % (ident, self.uri), domain=ident) from exc
            raise err from exc

    def require_network(self, name: str, portgroup: str | None = None) -> None:
        """NotFound naming ``source`` when libvirt has no network ``name``, or ``portgroup`` when
        that network has no such portgroup (libvirt would only refuse it when the guest starts)."""
        try:
            net = self.conn.networkLookupByName(name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == ERR_NO_NETWORK:
                raise NotFound("source: network %r does not exist on %s; define it first (libvirt_network)"
                               % (name, self.uri)) from exc
            raise translate(exc, "network %r" % name) from exc
        if portgroup is None:
            return
        root = parse_xml(self.call("network %r" % name, net.XMLDesc, 1))  # VIR_NETWORK_XML_INACTIVE
        names = sorted(pg.get("name") for pg in root.findall("portgroup"))
        if portgroup not in names:
            raise NotFound("portgroup: %r is not a portgroup of network %r (it has: %s)"
                           % (portgroup, name, ", ".join(names) or "none"))

    def call(self, what: str, func: Any, *args: Any) -> Any:
        """Call a libvirt function; a libvirtError becomes the typed error naming ``what``."""
        try:
            return func(*args)
        except libvirt.libvirtError as exc:
            raise translate(exc, what) from exc
