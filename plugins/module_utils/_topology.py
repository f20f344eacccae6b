# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hypervisor's virtual network as a graph, and its pictures (Mermaid text, Graphviz DOT).

Pure functions of the state ``network_info`` gathers (``_network_info.gather``): nothing here
reads the host, so the same code draws on the managed host (the module's ``topology``) and on
the controller (the ``topology_mermaid`` / ``topology_svg`` filters).

The graph reads from the guest down to the wire, one edge per hop::

    VM -> vNIC (model, queues, vhost) -> tap / macvtap / VF -> Linux bridge / OVS bridge
       -> bond (mode, LACP) -> physical NIC (driver, speed, PCI address)

plus ``patch`` / ``veth`` edges between OVS bridges and ``vf`` edges from a VF to its PF.
Node ids name what they are: ``vm:<domain>``, ``vnic:<domain>:<mac>``, ``if:<netdev>``,
``ovs:<bridge>``, ``ovsbond:<bridge>:<bond>``, ``pci:<address>``, ``net:<libvirt network>``.
A node is ``{"id", "kind", "label", "attrs"}``; an edge ``{"from", "to", "kind", "label"}``
(``label`` carries the VLAN tags and trunks of an OVS port, the mode of a macvtap...).
Nodes and edges are sorted, so the same host always gives the same text.
"""

from __future__ import annotations

import re
from typing import Any

#: node kinds -> (Mermaid shape open, close; Graphviz shape, fill colour)
NODE_STYLES = {
    "vm": ("[[", "]]", "box3d", "#dbeafe"),
    "vnic": ("(", ")", "ellipse", "#e0f2fe"),
    "tap": ("([", "])", "oval", "#f1f5f9"),
    "macvtap": ("([", "])", "oval", "#fef9c3"),
    "vf": ("([", "])", "oval", "#fce7f3"),
    "pci": ("[/", "/]", "parallelogram", "#fce7f3"),
    "linux_bridge": ("{{", "}}", "hexagon", "#dcfce7"),
    "ovs_bridge": ("{{", "}}", "hexagon", "#d1fae5"),
    "ovs_port": ("([", "])", "oval", "#f1f5f9"),
    "bond": ("[(", ")]", "cylinder", "#ffedd5"),
    "ovs_bond": ("[(", ")]", "cylinder", "#fed7aa"),
    "network": ("[\\", "\\]", "trapezium", "#ede9fe"),
    "nic": ("[", "]", "box", "#e5e7eb"),
    "link": ("([", "])", "oval", "#f8fafc"),
}
#: link kinds that are a guest's side of a bridge port (they point at the bridge, the bridge at
#: its uplinks)
GUEST_PORT_KINDS = ("tun", "tap", "macvtap")


def _num(value: Any) -> str:
    return "" if value is None else str(value)


def nic_label(link: dict[str, Any]) -> list[str]:
    """The lines under a physical NIC's name: driver, speed, PCI address."""
    lines = []
    if link.get("driver"):
        lines.append(link["driver"])
    if link.get("speed"):
        lines.append("%s Mb/s" % link["speed"])
    if link.get("pci"):
        lines.append(link["pci"])
    return lines


def vlan_label(port: dict[str, Any]) -> str:
    """An OVS port's VLAN settings as an edge label: ``tag 10``, ``trunks 10,20``, with the mode."""
    parts = []
    if port.get("tag") is not None:
        parts.append("tag %s" % port["tag"])
    if port.get("trunks"):
        parts.append("trunks %s" % ",".join(str(t) for t in port["trunks"]))
    if port.get("vlan_mode"):
        parts.append(port["vlan_mode"])
    return " ".join(parts)


def bridge_vlan_label(entry: dict[str, Any] | None) -> str:
    """A port's VLANs on a VLAN-aware Linux bridge (``pvid``, ``untagged``, ``tagged`` as
    linux_bridge reads them) as an edge label: ``vlan 10`` for an access port, else
    ``pvid 1 untagged 1 tagged 10,20``."""
    if not entry or not (entry.get("untagged") or entry.get("tagged")):
        return ""
    if not entry.get("tagged") and entry.get("untagged") == str(entry.get("pvid")):
        return "vlan %s" % entry["untagged"]
    parts = ["pvid %s" % entry["pvid"]] if entry.get("pvid") else []
    parts += ["%s %s" % (k, entry[k]) for k in ("untagged", "tagged") if entry.get(k)]
    return " ".join(parts)


def iface_vlan_label(vlan: dict[str, Any] | None) -> str:
    """A libvirt ``<vlan>`` as an edge label."""
    if not vlan or not vlan.get("tags"):
        return ""
    tags = ",".join(str(t) for t in vlan["tags"])
    return ("trunks %s" % tags) if vlan.get("trunk") else ("tag %s" % tags)


class _Graph:
    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: dict[tuple[str, str, str], dict[str, Any]] = {}

    def node(self, node_id: str, kind: str, label: str, **attrs: Any) -> str:
        have = self.nodes.get(node_id)
        if have is None or have["kind"] in ("link", "nic") and kind not in ("link", "nic"):
            self.nodes[node_id] = {"id": node_id, "kind": kind, "label": label,
                                   "attrs": {k: v for k, v in attrs.items() if v not in (None, "", [], {})}}
        else:
            have["attrs"].update({k: v for k, v in attrs.items() if v not in (None, "", [], {})})
        return node_id

    def edge(self, src: str, dst: str, kind: str, label: str = "") -> None:
        self.edges[(src, dst, kind)] = {"from": src, "to": dst, "kind": kind, "label": label}

    def result(self) -> dict[str, Any]:
        # an edge may name a netdev nobody described (a bridge port in another namespace): keep it
        for src, dst, dummy in list(self.edges):
            for end in (src, dst):
                if end not in self.nodes:
                    self.node(end, "link", end.split(":", 1)[-1])
        return {"nodes": [self.nodes[k] for k in sorted(self.nodes)],
                "edges": [self.edges[k] for k in sorted(self.edges)]}


def _link_node(g: _Graph, link: dict[str, Any], bridge: dict[str, Any] | None = None) -> str:
    """The node of a netdev (``bridge``: its entry of the state's bridges, for its own VLANs)."""
    bridge = bridge or {}
    kind = link.get("kind")
    name = link["name"]
    if kind is None or kind == "device":
        return g.node("if:" + name, "nic", name, driver=link.get("driver"), speed=link.get("speed"),
                      pci=link.get("pci"), mac=link.get("mac"), mtu=link.get("mtu"),
                      operstate=link.get("operstate"))
    if kind == "bridge":
        return g.node("if:" + name, "linux_bridge", name, mtu=link.get("mtu"), addresses=link.get("addresses"),
                      vlans=bridge_vlan_label(bridge.get("self_vlans")) if bridge.get("vlan_filtering") else None)
    if kind == "bond":
        return g.node("if:" + name, "bond", name, mtu=link.get("mtu"), addresses=link.get("addresses"))
    if kind in ("tun", "tap"):
        return g.node("if:" + name, "tap", name, mac=link.get("mac"))
    if kind == "macvtap":
        return g.node("if:" + name, "macvtap", name, mode=link.get("mode"), mac=link.get("mac"))
    return g.node("if:" + name, "link", name, type=kind, mtu=link.get("mtu"))


def build_topology(state: dict[str, Any]) -> dict[str, Any]:
    """Nodes and edges of the host's virtual network from a gathered ``state``."""
    g = _Graph()
    links = {l["name"]: l for l in state.get("links") or []}
    ovs = state.get("ovs") or {}
    ovs_bridges = ovs.get("bridges") or {}
    ovs_port_of = {}  # port name -> bridge
    for br_name, bridge in ovs_bridges.items():
        for port in bridge.get("ports") or []:
            ovs_port_of[port["name"]] = br_name

    vf_pci = {vf.get("pci") for pf in (state.get("sriov") or {}).values() for vf in pf.get("vfs") or []}
    for link in links.values():
        if link.get("kind") == "openvswitch":  # OVS's own internal netdevs (ovs-system, bridges)
            continue
        if link.get("pci") and link["pci"] in vf_pci:  # a VF's netdev: drawn as the VF (_sriov)
            continue
        if link["name"] in ovs_port_of and link.get("kind") not in (None, "device", "veth", "tun", "tap", "bond"):
            continue
        _link_node(g, link, (state.get("bridges") or {}).get(link["name"]))

    bonds = state.get("bonds") or {}
    for name, bond in bonds.items():
        lacp = (bond.get("lacp") or {}).get("state")
        g.node("if:" + name, "bond", name, mode=bond.get("mode"), miimon=bond.get("miimon"),
               lacp_rate=bond.get("lacp_rate") if bond.get("mode") == "802.3ad" else None, lacp=lacp)
    # Linux masters: a bridge's guest ports point at it, it points at its uplinks (with their
    # VLANs on a VLAN-aware bridge); a bond points at its members
    port_vlans = {(name, e["port"]): e for name, br in (state.get("bridges") or {}).items()
                  if br.get("vlan_filtering") for e in br.get("port_vlans") or []}
    for link in links.values():
        master = link.get("master")
        if not master or master not in links or link["name"] in ovs_port_of:
            continue
        mkind = links[master].get("kind")
        if mkind == "bridge":
            label = bridge_vlan_label(port_vlans.get((master, link["name"])))
            if link.get("kind") in GUEST_PORT_KINDS:
                g.edge("if:" + link["name"], "if:" + master, "port", label)
            else:
                g.edge("if:" + master, "if:" + link["name"], "uplink", label)
        elif mkind == "bond":
            g.edge("if:" + master, "if:" + link["name"], "member")
    for link in links.values():
        if link.get("kind") in ("macvtap", "macvlan", "vlan") and link.get("lower"):
            label = link.get("mode") or ""
            if link.get("kind") == "vlan" and link.get("vlan_id") is not None:
                label = "vlan %s" % link["vlan_id"]
            g.edge("if:" + link["name"], "if:" + link["lower"], "lower", label)

    # Open vSwitch
    veth_peers = {l["name"]: l.get("peer") for l in links.values() if l.get("kind") == "veth"}
    for br_name, bridge in ovs_bridges.items():
        br = g.node("ovs:" + br_name, "ovs_bridge", br_name, datapath_type=bridge.get("datapath_type") or None,
                    fail_mode=bridge.get("fail_mode"))
        for port in bridge.get("ports") or []:
            ptype = port.get("type")
            label = vlan_label(port)
            if ptype == "bond":
                bond_id = g.node("ovsbond:%s:%s" % (br_name, port["name"]), "ovs_bond", port["name"],
                                 **_ovs_bond_attrs(ovs, port["name"]))
                g.edge(br, bond_id, "uplink", label)
                for member in port.get("members") or []:
                    g.node("if:" + member, "nic", member)
                    g.edge(bond_id, "if:" + member, "member")
            elif ptype == "patch":
                peer = (port.get("options") or {}).get("peer")
                peer_br = ovs_port_of.get(peer)
                if peer_br and (peer_br, peer) > (br_name, port["name"]):
                    g.edge(br, "ovs:" + peer_br, "patch", "patch %s - %s" % (port["name"], peer))
            elif ptype == "internal":
                node = g.node("if:" + port["name"], "ovs_port", port["name"], type="internal")
                g.edge(node, br, "port", label)
            elif port["name"] in veth_peers and veth_peers[port["name"]] in ovs_port_of:
                peer = veth_peers[port["name"]]
                peer_br = ovs_port_of[peer]
                if (peer_br, peer) > (br_name, port["name"]):
                    g.edge(br, "ovs:" + peer_br, "veth", "veth %s - %s" % (port["name"], peer))
            elif _guest_port(port, links):
                g.node("if:" + port["name"], "tap", port["name"])
                g.edge("if:" + port["name"], br, "port", label)
            else:
                if "if:" + port["name"] not in g.nodes:
                    g.node("if:" + port["name"], "ovs_port" if ptype not in (None, "system") else "nic",
                           port["name"], type=ptype if ptype not in (None, "system") else None)
                g.edge(br, "if:" + port["name"], "uplink", label)

    _sriov(g, state)
    _domains(g, state, set(ovs_bridges))
    return g.result()


def _guest_port(port: dict[str, Any], links: dict[str, dict[str, Any]]) -> bool:
    ext = port.get("interface_external_ids") or {}
    return "attached-mac" in ext or (links.get(port["name"]) or {}).get("kind") in ("tun", "tap")


def _ovs_bond_attrs(ovs: dict[str, Any], name: str) -> dict[str, Any]:
    bond = (ovs.get("bonds") or {}).get(name) or {}
    return {"mode": bond.get("bond_mode"), "lacp": bond.get("lacp"), "lacp_status": bond.get("lacp_status")}


def _sriov(g: _Graph, state: dict[str, Any]) -> None:
    for pf_name, pf in (state.get("sriov") or {}).items():
        pf_id = "if:" + pf_name
        g.node(pf_id, "nic", pf_name, driver=pf.get("driver"), pci=pf.get("pci"))
        g.nodes[pf_id]["attrs"].update(numvfs=pf.get("numvfs"), totalvfs=pf.get("totalvfs"))
        for vf in pf.get("vfs") or []:
            vf_id = "pci:" + vf["pci"] if vf.get("pci") else "vf:%s:%s" % (pf_name, vf["vf"])
            g.node(vf_id, "vf", "%s vf %s" % (pf_name, vf["vf"]), pci=vf.get("pci"), driver=vf.get("driver"),
                   netdev=vf.get("netdev"), mac=vf.get("mac") if vf.get("mac") != "00:00:00:00:00:00" else None,
                   vlan=vf.get("vlan") or None)
            g.edge(vf_id, pf_id, "vf", ("vlan %s" % vf["vlan"]) if vf.get("vlan") else "")


def _domains(g: _Graph, state: dict[str, Any], ovs_names: set[str]) -> None:
    libvirt = state.get("libvirt") or {}
    pools = {n: net for n, net in (libvirt.get("networks") or {}).items() if net.get("forward_mode") == "hostdev"}
    for name, net in pools.items():
        g.node("net:" + name, "network", name, forward="hostdev pool")
        if net.get("pf"):
            g.edge("net:" + name, "if:" + net["pf"], "pool")
    for dom_name, dom in (libvirt.get("domains") or {}).items():
        vm = g.node("vm:" + dom_name, "vm", dom_name, state="running" if dom.get("running") else "shut off")
        live = {i.get("mac"): i for i in (dom.get("live") or {}).get("interfaces") or []}
        config = {i.get("mac"): i for i in (dom.get("config") or {}).get("interfaces") or []}
        for mac in sorted(set(config) | set(live), key=str):
            iface = live.get(mac) or config[mac]
            _vnic(g, vm, dom_name, iface, ovs_names)
        hostdevs = {h["source"]: h for view in ("config", "live")
                    for h in (dom.get(view) or {}).get("hostdevs") or [] if h.get("source")}
        for addr in sorted(hostdevs):
            pci = "pci:" + addr
            if pci not in g.nodes:
                g.node(pci, "pci", addr)
            g.edge(vm, pci, "hostdev", "managed" if hostdevs[addr].get("managed") else "")


def _vnic(g: _Graph, vm: str, dom_name: str, iface: dict[str, Any], ovs_names: set[str]) -> None:
    mac = iface.get("mac") or "?"
    queues = iface.get("queues") or 1
    vnic = g.node("vnic:%s:%s" % (dom_name, mac), "vnic", mac, model=iface.get("model"),
                  queues=queues if queues > 1 else None, driver=iface.get("driver_name"),
                  type=iface.get("type"))
    g.edge(vm, vnic, "vnic")
    itype, source, dev = iface.get("type"), iface.get("source"), iface.get("target_dev")
    vlan = iface_vlan_label(iface.get("vlan"))
    if itype == "bridge" and source:
        ovs = source in ovs_names or iface.get("virtualport") == "openvswitch"
        upper = ("ovs:" if ovs else "if:") + source
        if dev:
            g.node("if:" + dev, "tap", dev)
            g.edge(vnic, "if:" + dev, "tap")
            g.edge("if:" + dev, upper, "port", vlan)
        else:
            g.edge(vnic, upper, "port", vlan)
    elif itype == "direct" and source:
        if dev:
            g.node("if:" + dev, "macvtap", dev, mode=iface.get("source_mode"))
            g.edge(vnic, "if:" + dev, "macvtap")
            g.edge("if:" + dev, "if:" + source, "lower", iface.get("source_mode") or "")
        else:
            g.edge(vnic, "if:" + source, "lower", iface.get("source_mode") or "")
    elif itype == "hostdev" and source:
        g.edge(vnic, "pci:" + source, "hostdev", vlan)
    elif itype == "network" and source:
        g.edge(vnic, "net:" + source, "network", vlan)


# -- pictures -------------------------------------------------------------------------------
def node_text(node: dict[str, Any]) -> list[str]:
    """The lines a picture shows for a node: its name, then what matters for its kind."""
    a = node["attrs"]
    lines = [node["label"]]
    kind = node["kind"]
    if kind == "vnic":
        parts = (a.get("model"), ("%s queues" % a["queues"]) if a.get("queues") else "", a.get("driver"))
        lines.append(" ".join(x for x in parts if x))
    elif kind == "nic":
        lines += nic_label(a)
        if a.get("numvfs"):
            lines.append("%s/%s VFs" % (a["numvfs"], a.get("totalvfs") or "?"))
    elif kind in ("bond", "ovs_bond"):
        parts = (a.get("mode"), ("LACP %s" % a["lacp"]) if a.get("lacp") else "", a.get("lacp_status"))
        lines.append(" ".join(x for x in parts if x))
    elif kind == "macvtap" and a.get("mode"):
        lines.append(a["mode"])
    elif kind == "vf":
        lines += [x for x in (a.get("pci"), a.get("mac")) if x]
    elif kind == "vm":
        lines.append(a.get("state") or "")
    elif kind in ("linux_bridge", "bond"):
        lines += a.get("addresses") or []
        if a.get("vlans"):
            lines.append("VLAN-aware, itself %s" % a["vlans"])
    elif kind == "link" and a.get("type"):
        lines.append(a["type"])
    return [line for line in lines if line]


_ID_CHARS = re.compile(r"[^A-Za-z0-9_]")


def mermaid_id(node_id: str) -> str:
    """A Mermaid-safe node id (letters, digits, ``_``), still readable."""
    return "n_" + _ID_CHARS.sub("_", node_id)


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def render_mermaid(topology: dict[str, Any], title: str | None = None) -> str:
    """The graph as a Mermaid ``flowchart`` (left to right), for a Markdown ``mermaid`` block."""
    out = []
    if title:
        out += ["---", "title: %s" % _mermaid_text(title), "---"]
    out.append("flowchart LR")
    ids = {}
    used: set[str] = set()
    for node in topology["nodes"]:
        mid = mermaid_id(node["id"])
        while mid in used:  # two ids differing only in punctuation
            mid += "_"
        used.add(mid)
        ids[node["id"]] = mid
        opening, closing = NODE_STYLES.get(node["kind"], NODE_STYLES["link"])[:2]
        out.append('  %s%s"%s"%s' % (mid, opening, _mermaid_text("<br/>".join(node_text(node))), closing))
    for edge in topology["edges"]:
        arrow = "-.-" if edge["kind"] in ("patch", "veth") else "-->"
        label = '|"%s"|' % _mermaid_text(edge["label"]) if edge["label"] else ""
        out.append("  %s %s%s %s" % (ids[edge["from"]], arrow, label, ids[edge["to"]]))
    for kind in sorted({n["kind"] for n in topology["nodes"]}):
        members = ",".join(ids[n["id"]] for n in topology["nodes"] if n["kind"] == kind)
        out.append("  classDef %s fill:%s,stroke:#334155" % (kind, NODE_STYLES.get(kind, NODE_STYLES["link"])[3]))
        out.append("  class %s %s" % (members, kind))
    return "\n".join(out) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def render_dot(topology: dict[str, Any], title: str | None = None) -> str:
    """The graph in Graphviz DOT (``dot -Tsvg`` draws it)."""
    out = ["digraph topology {", '  rankdir="LR";',
           '  node [fontname="Helvetica", fontsize=10, style=filled];', '  edge [fontname="Helvetica", fontsize=9];']
    if title:
        out.append('  label="%s"; labelloc="t";' % _dot_text(title))
    for node in topology["nodes"]:
        style = NODE_STYLES.get(node["kind"], NODE_STYLES["link"])
        out.append('  "%s" [label="%s", shape=%s, fillcolor="%s", class="%s"];' % (
            _dot_text(node["id"]), "\\n".join(_dot_text(line) for line in node_text(node)), style[2], style[3],
            node["kind"]))
    for edge in topology["edges"]:
        attrs = ['label="%s"' % _dot_text(edge["label"])] if edge["label"] else []
        if edge["kind"] in ("patch", "veth"):
            attrs += ["style=dashed", "dir=both"]
        extra = " [%s]" % ", ".join(attrs) if attrs else ""
        out.append('  "%s" -> "%s"%s;' % (_dot_text(edge["from"]), _dot_text(edge["to"]), extra))
    out.append("}")
    return "\n".join(out) + "\n"
