# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""VLANs of a guest NIC on a VLAN-aware Linux bridge (libvirt_iface ``vlan`` without Open vSwitch).

libvirt (before 11.1) cannot put a tap on a Linux bridge into VLANs, and it makes a new tap at
every domain start. So the NIC's VLANs are kept in the domain's own XML, as libvirt metadata
(``virDomainSetMetadata``, in the persistent definition and the running domain), keyed by the
NIC's MAC address::

    <metadata>
      <kvmnet:bridge-vlans xmlns:kvmnet="https://github.com/kvmnet/hypervisor/bridge-vlans">
        <kvmnet:interface mac="52:54:00:00:00:01" pvid="100" untagged="100" tagged=""/>
      </kvmnet:bridge-vlans>
    </metadata>

The libvirt qemu hook the linux_bridge role installs (roles/linux_bridge/files/kvmnet-bridge-vlans.py)
reads it from the XML libvirt passes at every start (``started``: the tap exists, on its bridge),
so the VLANs hold across domain restarts, host reboots and migrations in (the metadata travels
with the domain). The module itself sets the running domain's tap at once (live retag), over
netlink, and reads it back. The ``vlan`` option keeps its meaning (``tags``, ``trunk``,
``native_tag``, ``native_mode``); :func:`entry_of_vlan` says how it maps onto bridge VLANs.
"""

from __future__ import annotations

import os
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _bridge_vlans as _vlans
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict, NotFound
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_iface_restore import VIEWS

NAMESPACE = "https://github.com/kvmnet/hypervisor/bridge-vlans"
PREFIX = "kvmnet"
ROOT = "bridge-vlans"
#: libvirt's VIR_DOMAIN_METADATA_ELEMENT
METADATA_ELEMENT = 2
#: where the role installs the hook (libvirt >= 6.5 runs every script of hooks/qemu.d)
HOOK_PATH = "/etc/libvirt/hooks/qemu.d/kvmnet-bridge-vlans"
#: the first line of the hook's source (roles/linux_bridge/files/kvmnet-bridge-vlans.py)
HOOK_HEADER = "# Managed by kvmnet.hypervisor (linux_bridge role)"


def entry_of_vlan(vlan: dict[str, Any]) -> dict[str, Any]:
    """The bridge VLANs (entry: ``pvid``, ``untagged``, ``tagged`` text) of a canonical ``vlan``:
    one tag, no trunk: an access port (PVID, untagged); a trunk: its tags tagged, the native tag
    the PVID (untagged, or tagged with ``native_mode: tagged``); ``{}``: no VLAN of its own,
    the bridge's default PVID (:func:`default_entry`)."""
    tags = list(vlan["tags"])
    if not vlan["trunk"]:
        return {"pvid": tags[0], "untagged": str(tags[0]), "tagged": ""}
    native = vlan.get("native_tag") or 0
    untagged = [native] if native and vlan.get("native_mode") == "untagged" else []
    return {"pvid": native, "untagged": _vlans.format_vids(untagged),
            "tagged": _vlans.format_vids(t for t in tags if t not in untagged)}


def vlan_of_entry(entry: dict[str, Any] | None) -> dict[str, Any]:
    """The canonical ``vlan`` of an entry (the inverse of :func:`entry_of_vlan`); ``{}`` for none."""
    if not entry:
        return {}
    untagged = _vlans.parse_vids(entry.get("untagged") or None, "untagged")
    tagged = _vlans.parse_vids(entry.get("tagged") or None, "tagged")
    tags = sorted(set(untagged) | set(tagged))
    pvid = entry.get("pvid") or None
    if not tagged and len(untagged) == 1 and pvid == untagged[0]:
        return {"tags": tags, "trunk": False, "native_tag": None, "native_mode": None}
    return {"tags": tags, "trunk": True, "native_tag": pvid,
            "native_mode": None if pvid is None else ("untagged" if pvid in untagged else "tagged")}


def default_entry(default_pvid: int) -> dict[str, Any]:
    """What a tap gets when it joins a bridge whose default PVID is ``default_pvid`` (0: none)."""
    return {"pvid": default_pvid, "untagged": str(default_pvid) if default_pvid else "", "tagged": ""}


def read_metadata(root: Any) -> dict[str, dict[str, Any]]:
    """``{mac: entry}`` from a domain's ``<metadata>`` (``{}`` without it)."""
    node = root.find("metadata/{%s}%s" % (NAMESPACE, ROOT))
    out = {}
    # libvirt puts the children in the namespace too (kvmnet:interface)
    for item in node.findall("{%s}interface" % NAMESPACE) + node.findall("interface") if node is not None else []:
        out[item.get("mac", "").lower()] = {"pvid": int(item.get("pvid") or 0),
                                            "untagged": item.get("untagged") or "", "tagged": item.get("tagged") or ""}
    return out


def metadata_xml(entries: dict[str, dict[str, Any]]) -> str:
    """The element given to ``setMetadata`` (libvirt puts it in the namespace)."""
    etree = _libvirt.etree
    node = etree.Element(ROOT)
    for mac in sorted(entries):
        entry = entries[mac]
        etree.SubElement(node, "interface", mac=mac, pvid=str(entry["pvid"]), untagged=entry["untagged"],
                         tagged=entry["tagged"])
    return _libvirt.to_string(node)


def is_linux_bridge_nic(iface: dict[str, Any] | None, desired: dict[str, Any]) -> bool:
    """A ``bridge`` NIC without Open vSwitch virtualport, as desired or else as it is."""
    itype = desired.get("type") or (iface or {}).get("type")
    vport = desired.get("virtualport") or (iface or {}).get("virtualport")
    return itype == "bridge" and vport in (None, "none")


class BridgeVlanPart:
    """libvirt_iface's part for ``vlan`` of a Linux-bridge NIC: the metadata of each view and
    the running tap, read, planned, applied and predicted beside the ``<interface>`` XML."""

    def __init__(self) -> None:
        #: ``{view: {mac: entry}}`` and the running tap (:meth:`TapVlans.read`), as last read
        self.metadata: dict[str, dict[str, dict[str, Any]]] = {}
        self.tap: dict[str, Any] = {}
        #: the same as first read: what a rollback puts back
        self.first: tuple[dict[str, Any], dict[str, Any]] | None = None
        self._taps: TapVlans | None = None
        #: what :meth:`desired` found to do (for the warning)
        self.wanted: dict[str, Any] = {}
        #: the views whose ``vlan`` was read from the metadata
        self.shown: list[str] = []

    def taps(self) -> "TapVlans":
        """The netlink side, opened at first use (only NICs with bridge VLANs need pyroute2)."""
        if self._taps is None:
            self._taps = TapVlans()
        return self._taps

    def close(self) -> None:
        """Close the netlink socket if one was opened."""
        if self._taps is not None:
            self._taps.close()

    def read(self, current: dict[str, Any], roots: dict[str, Any], wanted: bool) -> None:
        """Read each view's metadata; a Linux-bridge NIC that has an entry (or gets one: ``wanted``)
        shows its ``vlan`` from it, and the running one its tap's VLANs as ``tap_vlans``."""
        self.metadata = {view: read_metadata(root) for view, root in roots.items()}
        self.tap = {}
        self.shown = []
        for view in VIEWS:
            iface = current.get(view)
            if iface is None or not is_linux_bridge_nic(iface, {}):
                continue
            entry = self.metadata[view].get(iface["mac"])
            if entry is None and not wanted:
                continue
            iface["vlan"] = vlan_of_entry(entry)
            self.shown.append(view)
            if view == "live":
                self.tap = self.taps().read(iface.get("target_dev"))
                iface["tap_vlans"] = self.tap["entry"]
        if self.first is None:
            self.first = ({v: dict(m) for v, m in self.metadata.items()}, dict(self.tap))

    def desired(self, current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
        """The fields :meth:`plan` needs, or ``{}`` when this part has nothing to do (not a
        Linux-bridge NIC, ``vlan`` not given, or removed with no entry to drop)."""
        self.wanted = self._desired(current, desired)
        return self.wanted

    def _desired(self, current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
        ifaces = [current[v] for v in VIEWS if current.get(v)]
        if not is_linux_bridge_nic(ifaces[0] if ifaces else None, desired):
            return {}
        mac = desired.get("mac") or (ifaces[0]["mac"] if ifaces else desired.get("generated_mac"))
        absent = desired["state"] == "absent"
        if absent and not any(mac in m for m in self.metadata.values()):
            return {}
        if not absent and desired.get("vlan") is None:
            return {}
        views = [v for v in VIEWS if desired[v] and current.get("persistent" if v == "config" else "running")]
        return {"bridge_vlan": entry_of_vlan(desired["vlan"]) if not absent and desired["vlan"] else None,
                "bridge_vlan_views": views, "bridge_vlan_mac": mac, "bridge_vlan_absent": absent}

    def plan(self, desired: dict[str, Any], target: str) -> list[Operation]:
        """``set_bridge_vlans`` per view whose entry differs, then ``retag`` of the running tap
        (exactly the entry's VLANs; with no entry, the bridge's default PVID). A rollback
        (``desired["restore"]``) wants the metadata and the tap as first read."""
        if desired.get("bridge_vlan_views") is None:
            return []
        mac = desired["bridge_vlan_mac"]
        restore = desired.get("restore") is not None and self.first is not None
        ops: list[Operation] = []
        for view in desired["bridge_vlan_views"]:
            want = self.first[0].get(view, {}).get(mac) if restore else desired["bridge_vlan"]  # type: ignore[index]
            have = self.metadata.get(view, {})
            if have.get(mac) == want:
                continue
            entries = dict(have)
            entries.pop(mac, None)
            if want is not None:
                entries[mac] = want
            ops.append(Operation("set_bridge_vlans", target, flags=[view], xml=metadata_xml(entries),
                                 changes={"vlan": {"before": vlan_of_entry(have.get(mac)),
                                                   "after": vlan_of_entry(want)}}))
        if "live" not in desired["bridge_vlan_views"] or desired["bridge_vlan_absent"]:
            return ops
        if restore:
            want = self.first[1].get("entry")  # type: ignore[index]
            if want is None:
                return ops
        else:
            want = desired["bridge_vlan"] or default_entry(self.tap.get("default_pvid") or 0)
        if self.tap.get("name") is not None and not self.tap.get("filtering"):
            raise Conflict("vlan: bridge %s of interface %s has no VLAN filtering; make it VLAN-aware first "
                           "(kvmnet.hypervisor.linux_bridge vlan_filtering: true)" % (self.tap.get("bridge"), mac))
        if self.tap.get("entry") != want:
            ops.append(Operation("retag", target, tap=self.tap.get("name"), vlans=want,
                                 changes={"tap_vlans": {"before": self.tap.get("entry"), "after": want}}))
        return ops

    def apply(self, op: Operation, virt: Any, dom: Any, live_tap: Any) -> bool:
        """Apply ``set_bridge_vlans`` (libvirt metadata) or ``retag`` (netlink; a tap this run
        attached is looked up by ``live_tap()``); False for any other operation."""
        if op.action == "set_bridge_vlans":
            virt.call("domain %s: setting the bridge VLANs of its NICs (%s)" % (op.target.split("/")[0],
                                                                                "+".join(op.params["flags"])),
                      dom.setMetadata, METADATA_ELEMENT, op.params["xml"], PREFIX, NAMESPACE,
                      sum({"config": _libvirt.AFFECT_CONFIG, "live": _libvirt.AFFECT_LIVE}[f] for f in op.params["flags"]))
            return True
        if op.action == "retag":
            tap = op.params["tap"] or live_tap()
            if not tap:
                raise NotFound("%s: the running domain's interface has no tap (target dev) to retag" % op.target)
            self.taps().retag(tap, op.params["vlans"], op.target)
            return True
        return False

    @staticmethod
    def predict(after: dict[str, Any], op: Operation) -> bool:
        """Check mode: ``after`` with ``op`` done; False for an operation not of this part."""
        if op.action == "set_bridge_vlans":
            for view in op.params["flags"]:
                if after.get(view) is not None:
                    after[view] = dict(after[view], vlan=op.changes["vlan"]["after"])
            return True
        if op.action == "retag":
            if after.get("live") is not None:
                after["live"] = dict(after["live"], tap_vlans=op.params["vlans"])
            return True
        return False

    def keep(self, after: dict[str, Any], current: dict[str, Any], operations: list[Operation]) -> None:
        """Check mode: a view whose XML an operation replaced keeps the ``vlan`` read from the
        metadata (and the running one its ``tap_vlans``) unless this part changes them."""
        set_views = {v for op in operations if op.action == "set_bridge_vlans" for v in op.params["flags"]}
        retagged = any(op.action == "retag" for op in operations)
        for view in self.shown:
            if after.get(view) is not None and current.get(view) is not None and view not in set_views:
                after[view] = dict(after[view], vlan=current[view]["vlan"])
            if view == "live" and after.get(view) is not None and current.get(view) is not None and not retagged:
                after[view] = dict(after[view], tap_vlans=current[view].get("tap_vlans"))

    def warnings(self, hook: str, domain: str) -> list[str]:
        """The VLANs of a Linux-bridge NIC hold after the next start only with the hook."""
        if self.wanted.get("bridge_vlan") is None or os.path.exists(hook):
            return []
        return ["vlan: the libvirt qemu hook %s is not installed: the tap keeps its VLANs only until domain %s "
                "is started again (the kvmnet.hypervisor.linux_bridge role installs it)" % (HOOK_PATH, domain)]


class TapVlans:
    """The running domain's tap and its bridge VLANs, over netlink in the host's namespace."""

    def __init__(self) -> None:
        from ansible_collections.kvmnet.hypervisor.plugins.module_utils._netlink import Netlink

        self.nl = Netlink(None)

    def close(self) -> None:
        """Close the socket when it was opened."""
        self.nl.close()

    def read(self, tap: str | None) -> dict[str, Any]:
        """``{"name", "entry", "bridge", "filtering", "default_pvid"}`` of tap ``tap`` (its
        VLANs on its bridge); None values when there is no such tap or it is on no bridge."""
        out: dict[str, Any] = {"name": None, "entry": None, "bridge": None, "filtering": None, "default_pvid": None}
        if not tap:
            return out
        self.nl.open()
        link = self.nl.link(tap)
        if link is None or not link.get("master_index"):
            return out
        master = self.nl.link(index=link["master_index"]) or {}
        options = master.get("bridge_options") or {}
        view = _vlans.view_from_flags(self.nl.bridge_vlans().get(link["ifindex"], []))
        out.update(name=tap, entry=_vlans.entry_of(view), bridge=master.get("name"),
                   filtering=bool(options.get("vlan_filtering")), default_pvid=options.get("vlan_default_pvid", 1))
        return out

    def retag(self, tap: str, entry: dict[str, Any], what: str) -> None:
        """Give ``tap`` exactly the VLANs of ``entry`` (read fresh: a tap made by this run's attach
        has the bridge's default PVID), adds first (the PVID moves), then the deletes."""
        state = self.read(tap)
        if state["name"] is None:
            raise NotFound("%s: tap %s is not on a bridge" % (what, tap))
        want = _vlans.normalize_entry({"pvid": entry["pvid"], "untagged": entry["untagged"] or None,
                                       "tagged": entry["tagged"] or None}, "vlan")
        add, delete = _vlans.plan_view(_vlans.view_of(state["entry"]), want, exclusive=True)
        index = self.nl.index(tap)
        if add:
            self.nl.bridge_vlan("add", index, _vlans.vlan_info_attrs(add), "%s: adding VLANs to %s" % (what, tap))
        if delete:
            self.nl.bridge_vlan("del", index, _vlans.vlan_info_attrs([{"vid": v} for v in delete]),
                                "%s: removing VLANs from %s" % (what, tap))
