# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one home of a libvirt ``<network>``'s XML: its canonical form, its rendering, and the
``<portgroup>`` elements the network update API takes (libvirt_network, libvirt_sriov_network).

Canonical form (:func:`parse_network`, both sides of every comparison)::

    forward_mode  bridge (a Linux bridge), openvswitch (a bridge with <virtualport
                  type='openvswitch'/>), direct (macvtap over devices), hostdev (a VF pool);
                  another libvirt mode (nat, route, open, none) as libvirt names it
    bridge        <bridge name> (bridge, openvswitch), else None
    devices       sorted <forward><interface dev> (direct), else None
    macvtap_mode  the forward mode of a direct network (bridge, vepa, private, passthrough)
    pf            <forward><pf dev> (hostdev), else None
    managed       <forward managed='yes'> (hostdev), else None
    vlan          the network's <vlan> as _libvirt.parse_vlan ({} when none)
    portgroups    [{"name", "default": bool, "vlan": {...}}] sorted by name
    uuid          libvirt's, kept on a redefinition, never compared

Rules: the ``dev`` attribute libvirt adds to ``<forward>`` (its first device), the VF list it
fills in when a hostdev pool starts and whitespace are not part of the form. Rendering edits
the existing definition in place, so what the form does not hold (``<mtu>``, ``<bandwidth>``,
a portgroup's ``<bandwidth>``, a bridge's ``stp``...) stays as it was.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon, _libvirt
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, Resource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import NotFound

#: the forward modes this collection manages, as its options name them
FORWARD_MODES = ("bridge", "openvswitch", "direct", "hostdev")
MACVTAP_MODES = _libvirt.DIRECT_MODES
#: the compared fields of a definition (portgroups are compared one by one, see plan_portgroups)
FIELDS = ("forward_mode", "bridge", "devices", "macvtap_mode", "pf", "managed", "vlan")
#: forward modes whose network (and portgroups) may carry a <vlan> (libvirt's networkValidate)
VLAN_MODES = ("openvswitch", "hostdev")


def parse_network(root: Any) -> dict[str, Any]:
    """A ``<network>`` element -> its canonical dict (see the module docstring)."""
    forward = root.find("forward")
    mode = (forward.get("mode") or "nat") if forward is not None else "none"
    bridge = root.find("bridge")
    vport = root.find("virtualport")
    out: dict[str, Any] = {k: None for k in FIELDS}
    out["uuid"] = root.findtext("uuid")
    if mode == "bridge" and bridge is not None and bridge.get("name"):
        out["forward_mode"] = "openvswitch" if vport is not None and vport.get("type") == "openvswitch" else "bridge"
        out["bridge"] = bridge.get("name")
    elif mode in MACVTAP_MODES:
        out.update(forward_mode="direct", macvtap_mode=mode,
                   devices=sorted(i.get("dev") for i in forward.findall("interface") if i.get("dev")))
        pf = forward.find("pf")
        out["pf"] = pf.get("dev") if pf is not None else None
    elif mode == "hostdev":
        pf = forward.find("pf")
        out.update(forward_mode="hostdev", pf=pf.get("dev") if pf is not None else None,
                   managed=forward.get("managed") == "yes")
    else:
        out["forward_mode"] = mode
    out["vlan"] = _libvirt.parse_vlan(root.find("vlan"))
    out["portgroups"] = sorted((parse_portgroup(pg) for pg in root.findall("portgroup")), key=lambda p: p["name"])
    return out


def parse_portgroup(elem: Any) -> dict[str, Any]:
    """A ``<portgroup>`` -> ``{"name", "default", "vlan"}``."""
    return {"name": elem.get("name"), "default": elem.get("default") == "yes",
            "vlan": _libvirt.parse_vlan(elem.find("vlan"))}


def _vlan_element(vlan: dict[str, Any]) -> Any:
    elem = _libvirt.etree.Element("vlan")
    if vlan.get("trunk"):
        elem.set("trunk", "yes")
    for tag in vlan["tags"]:
        node = _libvirt.etree.SubElement(elem, "tag", id=str(tag))
        if tag == vlan.get("native_tag"):
            node.set("nativeMode", vlan.get("native_mode") or "untagged")
    return elem


def _set_vlan(parent: Any, vlan: dict[str, Any], before: str | None = None) -> None:
    """Replace ``parent``'s ``<vlan>`` with ``vlan`` (none when empty)."""
    for old in parent.findall("vlan"):
        parent.remove(old)
    if vlan:
        anchor = parent.find(before) if before else None
        if anchor is not None:
            anchor.addprevious(_vlan_element(vlan))
        else:
            parent.append(_vlan_element(vlan))


def portgroup_element(portgroup: dict[str, Any], base: Any = None) -> Any:
    """The ``<portgroup>`` of ``portgroup``, edited from ``base`` (the element as libvirt has it:
    its ``<bandwidth>`` and ``<virtualport>`` stay)."""
    elem = _libvirt.etree.Element("portgroup") if base is None else _copy(base)
    elem.set("name", portgroup["name"])
    if portgroup["default"]:
        elem.set("default", "yes")
    else:
        elem.attrib.pop("default", None)
    _set_vlan(elem, portgroup["vlan"])
    return elem


def portgroup_xml(portgroup: dict[str, Any], base: Any = None) -> str:
    """:func:`portgroup_element` as text (what virNetworkUpdate takes)."""
    return _libvirt.etree.tostring(portgroup_element(portgroup, base), encoding="unicode")


def _copy(elem: Any) -> Any:
    return _libvirt.parse_xml(_libvirt.etree.tostring(elem, encoding="unicode"))


def find_portgroup(root: Any, name: str) -> Any:
    """The ``<portgroup name=name>`` of ``root``, or None."""
    for elem in root.findall("portgroup"):
        if elem.get("name") == name:
            return elem
    return None


def render_network(name: str, definition: dict[str, Any], base_xml: str | None = None) -> str:
    """The definition text of network ``name`` with ``definition``'s fields (the canonical form),
    edited from ``base_xml`` (the current persistent definition: its UUID and the elements the
    form does not hold stay) or from scratch."""
    E = _libvirt.etree
    root = _libvirt.parse_xml(base_xml) if base_xml else E.Element("network")
    node = root.find("name")
    if node is None:
        node = E.Element("name")
        root.insert(0, node)
    node.text = name
    mode = definition["forward_mode"]
    for old in root.findall("forward"):
        root.remove(old)
    forward = E.Element("forward")
    root.insert(list(root).index(root.find("uuid")) + 1 if root.find("uuid") is not None else 1, forward)
    if mode in ("bridge", "openvswitch"):
        forward.set("mode", "bridge")
    elif mode == "direct":
        forward.set("mode", definition["macvtap_mode"])
        for dev in definition["devices"]:
            E.SubElement(forward, "interface", dev=dev)
    elif mode == "hostdev":
        forward.set("mode", "hostdev")
        forward.set("managed", "yes" if definition["managed"] else "no")
        E.SubElement(forward, "pf", dev=definition["pf"])
    bridge = root.find("bridge")
    if mode in ("bridge", "openvswitch"):
        if bridge is None:
            bridge = E.Element("bridge")
            forward.addnext(bridge)
        bridge.set("name", definition["bridge"])
    elif bridge is not None:
        root.remove(bridge)
    for vport in root.findall("virtualport"):
        root.remove(vport)
    if mode == "openvswitch":
        root.find("bridge").addnext(E.Element("virtualport", type="openvswitch"))
    _set_vlan(root, definition.get("vlan") or {}, before="virtualport" if mode == "openvswitch" else "portgroup")
    wanted = {pg["name"]: pg for pg in definition.get("portgroups") or []}
    for elem in root.findall("portgroup"):
        if elem.get("name") not in wanted:
            root.remove(elem)
    for pg_name in sorted(wanted):
        old = find_portgroup(root, pg_name)
        new = portgroup_element(wanted[pg_name], old)
        if old is not None:
            old.addprevious(new)
            root.remove(old)
        else:
            root.append(new)
    return _libvirt.to_string(root)


class NetworkResource(Resource):
    """What every libvirt network resource shares (libvirt_network, libvirt_sriov_network): the
    connection, the lookup by name, and the operations on the network object itself."""

    def __init__(self, params: dict[str, Any], root: str = "/") -> None:
        super().__init__(params, root)
        self.virt = _libvirt.Connection(_canon.libvirt_uri(params.get("uri")))

    def open(self) -> None:
        self.virt.open()

    def close(self) -> None:
        self.virt.close()

    def diff_header(self) -> str:
        return "network %s" % self.params["name"]

    def _lookup(self) -> Any:
        """The network named ``name``, or None when libvirt has none."""
        try:
            return self.virt.conn.networkLookupByName(self.params["name"])
        except _libvirt.libvirt.libvirtError as exc:
            if exc.get_error_code() == _libvirt.ERR_NO_NETWORK:
                return None
            raise _libvirt.translate(exc, "network %r" % self.params["name"]) from exc

    def apply_network_operation(self, op: Operation, what: str) -> Any:
        """define, undefine, start, stop, autostart; for another action the network object
        (the caller applies it), so that a vanished network is one error for all of them."""
        if op.action == "define":
            self.virt.call(what, self.virt.conn.networkDefineXML, op.params["xml"])
            return None
        net = self._lookup()
        if net is None:
            raise NotFound("name: network %r vanished before %s" % (op.target, op.action))
        if op.action == "undefine":
            self.virt.call(what, net.undefine)
        elif op.action == "start":
            self.virt.call(what, net.create)
        elif op.action == "stop":
            self.virt.call(what, net.destroy)
        elif op.action == "autostart":
            self.virt.call(what, net.setAutostart, 1 if op.changes["autostart"]["after"] else 0)
        else:
            return net
        return None
