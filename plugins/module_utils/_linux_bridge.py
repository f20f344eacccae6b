# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The linux_bridge resource: a host Linux bridge and its ports (pattern 1 of the seed, host side).

What ``ip link add br0 type bridge; ip link set eth0 master br0; ip link set br0 up`` do by
hand, over netlink. Ports not listed are left on the bridge unless ``exclusive_ports`` is set
(the taps libvirt adds for running guests are ports too: never remove them by accident). The
host address is not handled here (see nic_bond / host_bond_bridge); ``persist`` writes the files
of one network stack (``_persist_networkd``, ``_persist_nm``, ``_persist_ifupdown``) that make the
bridge, its listed ports and their VLANs again at boot.

VLAN filtering (``bridge vlan``): ``vlan_filtering``, ``default_pvid``, the VLANs of listed
ports (``port_vlans``) and of the bridge device itself (``self_vlans``), planned with the
kernel's rules in ``_bridge_vlans``. VLANs not listed stay unless ``vlans_exclusive``.

Rollback (:meth:`LinuxBridgeResource.restore_desired`): a bridge the run created is deleted; one
it deleted is created again with its ifindex, MAC, MTU and state; ports go back to the list read
before (``exclusive_ports``), and a port the run brought up is set down again; the VLAN options
and every port's VLANs go back exactly as read.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _bridge_vlans as _vlans
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon, _files, _persist_ifupdown, _persist_networkd, _persist_nm
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, field_changes
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict, InvalidInput, NotFound
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._netlink import NetlinkResource


#: ``persist``: the renderers (``render_bridge``, ``bridge_paths``) and the files' mode, per stack
PERSIST = {"networkd": (_persist_networkd, 0o644), "nm": (_persist_nm, _persist_nm.FILE_MODE),
           "ifupdown": (_persist_ifupdown, 0o644)}
PERSIST_CHOICES = ("none",) + tuple(PERSIST)

#: the VLAN options of a bridge the kernel creates (IFLA_BR_VLAN_FILTERING, _DEFAULT_PVID)
NEW_BRIDGE_VLAN_OPTIONS = {"vlan_filtering": False, "default_pvid": 1}
VLAN_FIELDS = tuple(NEW_BRIDGE_VLAN_OPTIONS)


def expand_groups(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``add`` items of an operation's groups."""
    return [{"vid": vid, "pvid": g["pvid"], "untagged": g["untagged"]}
            for g in groups for vid in _vlans.parse_vids(g["vids"], "vids")]


def plan_vlans(current: dict[str, Any] | None, desired: dict[str, Any], ports_after: list[str],
               ) -> tuple[list[Operation], dict[str, dict[str, Any]]]:
    """The ``vlan_add`` / ``vlan_del`` steps for the listed ports and the bridge itself, and
    every port's view after the run (the bridge's own under its name). The views read are first
    moved as the kernel moves them when the run changes the default PVID or adds ports."""
    name = desired["name"]
    have = current or {}
    views = {e["port"]: _vlans.view_of(e) for e in have.get("port_vlans") or [] if e["port"] in ports_after}
    old = have.get("default_pvid", 1) if current else NEW_BRIDGE_VLAN_OPTIONS["default_pvid"]
    views[name] = _vlans.view_of(have["self_vlans"]) if have.get("self_vlans") else (
        _vlans.empty_view() if current else {"pvid": old, "vids": {old: True}})
    new = old if desired.get("default_pvid") is None else desired["default_pvid"]
    _vlans.project_default_pvid(views, old, new)
    for port in ports_after:  # a port that joins gets the default PVID
        views.setdefault(port, {"pvid": new, "vids": {new: True}} if new else _vlans.empty_view())
    wanted = dict(desired.get("port_vlans") or {})
    if desired.get("self_vlans") is not None:
        wanted[name] = desired["self_vlans"]
    ops: list[Operation] = []
    for port, want in wanted.items():
        if port not in views:
            raise Conflict("port_vlans: %r is not a port of %s (list it in ports)" % (port, name))
        add, delete = _vlans.plan_view(views[port], want, bool(desired.get("vlans_exclusive")))
        where = {"bridge_self": True} if port == name else {}
        if add:
            after = _vlans.apply_view(views[port], add, [])
            ops.append(Operation("vlan_add", port, changes={"vlans": {"before": _vlans.entry_of(views[port]),
                                                                      "after": _vlans.entry_of(after)}},
                                 vlans=_vlans.group_adds(add), **where))
            views[port] = after
        if delete:
            after = _vlans.apply_view(views[port], [], delete)
            ops.append(Operation("vlan_del", port, changes={"vlans": {"before": _vlans.entry_of(views[port]),
                                                                      "after": _vlans.entry_of(after)}},
                                 vids=_vlans.format_vids(delete), **where))
            views[port] = after
    return ops, views


def plan_bridge(current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Operation]:
    """Operations turning ``current`` (bridge dict with ``ports``, or None) into ``desired``."""
    name = desired["name"]
    if current is not None and current.get("kind") != "bridge":
        raise Conflict("name: %r already exists as a %s link, not a bridge" % (name, current.get("kind") or "physical"))
    states = desired.get("port_states") or {}
    # a rollback: the ports the run brought up go down again once they have left the bridge
    downs = [Operation("port_down", port, changes={"admin_state": {"before": "up", "after": "down"}})
             for port in desired.get("ports_down") or []
             if states.get(port) == "up" and (desired["state"] == "absent" or port not in (desired["ports"] or []))]
    if desired["state"] == "absent":
        return ([Operation("delete", name)] if current else []) + downs
    ops: list[Operation] = []
    if current is None:
        # ifindex, mac, options: only when a rollback puts back a bridge the run deleted
        again = {k: desired[k] for k in ("mac", "ifindex", "options") if desired.get(k)}
        ops.append(Operation("create", name, mtu=desired["mtu"], admin_state=desired["admin_state"] or "up", **again))
        # the VLAN options before the ports join: a port joins with the default PVID of then
        changes = field_changes(NEW_BRIDGE_VLAN_OPTIONS, desired, VLAN_FIELDS)
        if changes:
            ops.append(Operation("modify", name, changes=changes))
        have: list[str] = []
    else:
        changes = field_changes(current, desired, ("mtu", "admin_state", "mac") + VLAN_FIELDS)
        if changes:
            ops.append(Operation("modify", name, changes=changes))
        have = current["ports"]
    for port in desired["ports"] or []:
        if port not in have:
            ops.append(Operation("add_port", port, changes={"master": {"before": desired["port_masters"].get(port),
                                                                       "after": name}}))
            if states.get(port) == "down":  # a port forwards only while up: a step of its own
                ops.append(Operation("port_up", port, changes={"admin_state": {"before": "down", "after": "up"}}))
    ports_after = list(have) + [p for p in desired["ports"] or [] if p not in have]
    if desired["exclusive_ports"] and desired["ports"] is not None:
        for port in have:
            if port not in desired["ports"]:
                ops.append(Operation("remove_port", port, changes={"master": {"before": name, "after": None}}))
                ports_after.remove(port)
    return ops + plan_vlans(current, desired, ports_after)[0] + downs


def exact(entry: dict[str, Any]) -> dict[str, Any]:
    """A desired entry that asks for exactly the VLANs of ``entry`` as read (a rollback's)."""
    view = _vlans.view_of(entry)
    return {"pvid": view["pvid"], "untagged": tuple(v for v, u in sorted(view["vids"].items()) if u),
            "tagged": tuple(v for v, u in sorted(view["vids"].items()) if not u)}


def restore_vlans(before: dict[str, Any]) -> dict[str, Any]:
    """``port_vlans`` / ``self_vlans`` that put back exactly the VLANs read before; none when
    the kernel reported no bridge VLAN at all (built without VLAN filtering: nothing to put back)."""
    entries = list(before.get("port_vlans") or []) + [dict(before.get("self_vlans") or {}, port=None)]
    if not any(e.get("untagged") or e.get("tagged") for e in entries):
        return {"port_vlans": None, "self_vlans": None}
    return {"port_vlans": {e["port"]: exact(e) for e in before.get("port_vlans") or []},
            "self_vlans": exact(before["self_vlans"])}


def persist_config(name: str, ports: list[str] | None, mtu: int | None, after: dict[str, Any]) -> dict[str, Any]:
    """What ``persist`` renders for bridge ``name`` as ``after`` shows it (the state the run leaves):
    the listed ``ports`` only (a guest's tap is libvirt's), ``mtu`` when given, and the VLANs of
    the ports and of the bridge itself when VLAN filtering is on. network_info renders the same
    to find out whether a bridge's files are the collection's as it is now."""
    filtering = bool(after.get("vlan_filtering"))
    entries = {e["port"]: {k: e[k] for k in ("pvid", "untagged", "tagged")} for e in after.get("port_vlans") or []}
    return {"name": name, "ports": list(ports or []), "mtu": mtu,
            "vlan_filtering": filtering, "default_pvid": after.get("default_pvid") if filtering else None,
            "port_vlans": {p: entries.get(p) for p in ports or []} if filtering else {},
            "self_vlans": after.get("self_vlans") if filtering else None}


def persist_files(stack: str, config: dict[str, Any], root: str) -> dict[str, str]:
    """``{path: text}`` of the files ``persist: stack`` writes for ``config`` (:func:`persist_config`)."""
    renderer = PERSIST[stack][0]
    if stack == "ifupdown":
        return renderer.render_bridge(config, _files.read_text(_persist_ifupdown.INTERFACES, root))
    return renderer.render_bridge(config)


class LinuxBridgeResource(NetlinkResource):
    """A Linux bridge by name, optionally inside a named network namespace."""

    def __init__(self, params: dict[str, Any], root: str = "/") -> None:
        super().__init__(params, root)
        #: the bridge's options (forward_delay, stp_state...) as first read: what a rollback gives
        #: a bridge the run deleted (not module options, so not in the returned state)
        self.options_read: dict[str, Any] | None = None

    def diff_header(self) -> str:
        return "bridge %s%s" % (self.params["name"], self.nl.where)

    def normalize(self) -> dict[str, Any]:
        p = self.params
        name = _canon.ifname(p["name"], "name")
        ports = None
        if p.get("ports") is not None:
            ports = []
            for port in p["ports"]:
                port = _canon.ifname(port, "ports")
                if port == name:
                    raise InvalidInput("ports", port, "is the bridge itself")
                if port not in ports:
                    ports.append(port)
        if p.get("mtu") is not None and not 68 <= p["mtu"] <= 65535:
            raise InvalidInput("mtu", p["mtu"], "is out of range (68-65535)")
        # port_masters / port_states: filled by plan() from the host (the ports' masters and
        # admin states then), which restore_desired() reads back after a failure
        persist = p.get("persist") or "none"
        if persist not in PERSIST_CHOICES:
            raise InvalidInput("persist", persist, "is not one of %s" % ", ".join(PERSIST_CHOICES))
        if persist != "none" and p.get("netns"):
            raise InvalidInput("persist", persist, "cannot be used with netns: the files configure the host namespace")
        if persist != "none" and ports is None and (p.get("state") or "present") == "present":
            raise InvalidInput("persist", persist, "needs ports: the uplinks the files attach at boot (a guest's tap "
                               "is libvirt's, never persisted)")
        return dict({"name": name, "state": p.get("state") or "present", "ports": ports, "mtu": p.get("mtu"),
                     "admin_state": p.get("admin_state"), "exclusive_ports": bool(p.get("exclusive_ports")),
                     "port_masters": {}, "port_states": {}, "persist": persist}, **self._normalize_vlans(name))

    def _normalize_vlans(self, name: str) -> dict[str, Any]:
        """``vlan_filtering``, ``default_pvid``, ``port_vlans`` (by port), ``self_vlans``,
        ``vlans_exclusive``, checked before anything is read: each value, then that VLAN options
        come with ``vlan_filtering=true``."""
        p = self.params
        pvid = p.get("default_pvid")
        if pvid is not None and (isinstance(pvid, bool) or not 0 <= pvid <= _vlans.VID_MAX):
            raise InvalidInput("default_pvid", pvid, "is not a VLAN id (1-4094, or 0 for no default PVID)")
        port_vlans = None
        if p.get("port_vlans") is not None:
            port_vlans = {}
            for item in p["port_vlans"]:
                port = _canon.ifname((item or {}).get("port"), "port_vlans.port")
                if port == name:
                    raise InvalidInput("port_vlans.port", port, "is the bridge itself; its own VLANs go in self_vlans")
                if port in port_vlans:
                    raise InvalidInput("port_vlans.port", port, "is listed twice")
                port_vlans[port] = _vlans.normalize_entry(item, "port_vlans[%s]" % port)
        self_vlans = None
        if p.get("self_vlans") is not None:
            self_vlans = _vlans.normalize_entry(p["self_vlans"], "self_vlans")
        # the values first (a bad one is named), then whether VLAN options are given at all
        given = [k for k in ("default_pvid", "port_vlans", "self_vlans") if p.get(k) is not None]
        if given and p.get("state", "present") != "absent" and p.get("vlan_filtering") is not True:
            raise InvalidInput("vlan_filtering", p.get("vlan_filtering"), "must be true when %s %s given (a bridge "
                               "without VLAN filtering ignores its VLANs)" % (", ".join(given),
                                                                              "is" if len(given) == 1 else "are"))
        return {"vlan_filtering": p.get("vlan_filtering"), "default_pvid": pvid, "port_vlans": port_vlans,
                "self_vlans": self_vlans, "vlans_exclusive": bool(p.get("vlans_exclusive"))}

    def read_current(self) -> dict[str, Any] | None:
        link = self.nl.link(self.params["name"])
        if link is None:
            return None
        if self.options_read is None:
            self.options_read = dict(link.get("bridge_options") or {})
        members = {l["ifindex"]: l["name"] for l in self.nl.links() if l.get("master_index") == link["ifindex"]}
        state = {"name": link["name"], "kind": link["kind"], "mtu": link["mtu"], "admin_state": link["admin_state"],
                 "mac": link["mac"], "ifindex": link["ifindex"], "ports": sorted(members.values())}
        if link["kind"] != "bridge":
            return state
        options = link.get("bridge_options") or {}
        vlans = self.nl.bridge_vlans()
        state.update(vlan_filtering=bool(options.get("vlan_filtering")), default_pvid=options.get("vlan_default_pvid", 1),
                     port_vlans=[dict(port=members[index], **_vlans.entry_of(_vlans.view_from_flags(vlans.get(index, []))))
                                 for index in sorted(members, key=members.get)],
                     self_vlans=_vlans.entry_of(_vlans.view_from_flags(vlans.get(link["ifindex"], []))))
        return state

    def plan(self, current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Operation]:
        if desired["state"] == "present" or desired.get("ports_down"):
            by_index = {l["ifindex"]: l for l in self.nl.links()}
            by_name = {l["name"]: l for l in by_index.values()}
            for port in desired.get("ports_down") or []:
                if port in by_name:
                    desired["port_states"][port] = by_name[port]["admin_state"]
        if desired["state"] == "present":
            for port in desired["ports"] or []:
                link = by_name.get(port)
                if link is None:
                    raise NotFound("ports: %r does not exist%s" % (port, self.nl.where))
                master = by_index.get(link.get("master_index"))
                desired["port_masters"][port] = master["name"] if master else None
                desired["port_states"][port] = link["admin_state"]
                if master is not None and master["name"] != desired["name"]:
                    raise Conflict("ports: %r is already a port of %s; release it first" % (port, master["name"]))
        ops = plan_bridge(current, desired)
        return ops + self.plan_persist(current, desired, ops)

    def plan_persist(self, current: dict[str, Any] | None, desired: dict[str, Any],
                     ops: list[Operation]) -> list[Operation]:
        """The files of ``persist`` (``write_file`` / ``remove_file``), rendered from the bridge as
        the run leaves it (check mode's prediction): the listed ports only, their VLANs and the
        bridge's own as they will be, when VLAN filtering is on."""
        if desired.get("persist", "none") == "none":
            return []
        renderer, mode = PERSIST[desired["persist"]]
        name = desired["name"]
        if desired["state"] == "absent":
            config = {"name": name, "ports": sorted(set((current or {}).get("ports") or []))}
            paths = _persist_ifupdown.paths(config) if desired["persist"] == "ifupdown" else renderer.bridge_paths(config)
            return _files.plan_files(_files.read_files(paths, self.root), {path: None for path in paths}, mode)
        after = self.predict(current, desired, ops) or {}
        files = persist_files(desired["persist"], persist_config(name, desired["ports"], desired.get("mtu"), after),
                              self.root)
        return _files.plan_files(_files.read_files(sorted(files), self.root), files, mode)

    def restore_desired(self, before: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
        """The bridge as read before: absent if it was; else its MTU, state, MAC (a bridge's MAC
        follows its ports) and exactly its ports; the ports the run brought up go down again; a
        bridge the run deleted comes back with its ifindex."""
        brought_up = sorted(p for p, state in (desired.get("port_states") or {}).items()
                            if state == "down" and p not in (before or {}).get("ports", []))
        if before is None:
            return dict(desired, state="absent", port_states={}, ports_down=brought_up, persist="none")
        return {"name": before["name"], "state": "present", "ports": list(before["ports"]), "mtu": before["mtu"],
                "admin_state": before["admin_state"], "exclusive_ports": True, "port_masters": {},
                "port_states": {}, "mac": before["mac"], "ifindex": before["ifindex"], "ports_down": brought_up,
                "options": self.options_read or {}, "vlan_filtering": before.get("vlan_filtering"),
                "default_pvid": before.get("default_pvid"), "vlans_exclusive": True, "persist": "none",
                **restore_vlans(before)}

    def predict(self, current: dict[str, Any] | None, desired: dict[str, Any],
                operations: list[Operation]) -> dict[str, Any] | None:
        if desired["state"] == "absent":
            return None
        after = dict(current or {"name": desired["name"], "kind": "bridge", "ports": [], "admin_state": "up"})
        for key in ("mtu", "admin_state"):
            if desired[key] is not None:
                after[key] = desired[key]
        ports = set(after["ports"]) | set(desired["ports"] or [])
        if desired["exclusive_ports"] and desired["ports"] is not None:
            ports = set(desired["ports"])
        after["ports"] = sorted(ports)
        for field in VLAN_FIELDS:
            after[field] = desired[field] if desired.get(field) is not None else after.get(
                field, NEW_BRIDGE_VLAN_OPTIONS[field])
        views = plan_vlans(current, desired, after["ports"])[1]
        after["port_vlans"] = [dict(port=port, **_vlans.entry_of(views[port])) for port in after["ports"]]
        after["self_vlans"] = _vlans.entry_of(views[desired["name"]])
        return after

    def _index(self, name: str) -> int:
        index = self.nl.index(name)
        if index is None:
            raise NotFound("%s does not exist%s" % (name, self.nl.where))
        return index

    def apply_operation(self, op: Operation) -> None:
        name = self.params["name"]
        if _files.apply_file_operation(op, self.root):
            return
        if op.action == "delete":
            self.nl.del_link(self._index(name), "deleting bridge %s" % name)
        elif op.action == "create":
            attrs = {"mtu": op.params["mtu"]} if op.params.get("mtu") else {}
            if op.params.get("mac"):
                attrs["address"] = op.params["mac"]
            if op.params.get("ifindex"):
                attrs["index"] = op.params["ifindex"]
            self.nl.add_link(name, "bridge", **attrs)
            made = self.nl.link(name) or {}
            # options the kernel's defaults do not give (sent only when they differ: a kernel
            # without VLAN filtering refuses even vlan_filtering=0)
            options = {"br_" + k: v for k, v in (op.params.get("options") or {}).items()
                       if (made.get("bridge_options") or {}).get(k) != v}
            if options:
                self.nl.set_link(self._index(name), "setting the options of bridge %s" % name, kind="bridge", **options)
            if op.params["admin_state"] == "up":
                self.nl.set_link(self._index(name), "setting %s up" % name, state="up")
        elif op.action == "modify":
            vlan_options = {"br_vlan_filtering" if k == "vlan_filtering" else "br_vlan_default_pvid":
                            int(op.changes[k]["after"]) for k in VLAN_FIELDS if k in op.changes}
            if vlan_options:
                self.nl.set_link(self._index(name), "setting the VLAN options of bridge %s" % name, kind="bridge",
                                 **vlan_options)
            if "mac" in op.changes:
                self.nl.set_link(self._index(name), "setting the MAC of %s" % name, address=op.changes["mac"]["after"])
            if "mtu" in op.changes:
                self.nl.set_link(self._index(name), "setting MTU of %s" % name, mtu=op.changes["mtu"]["after"])
            if "admin_state" in op.changes:
                self.nl.set_link(self._index(name), "setting %s %s" % (name, op.changes["admin_state"]["after"]),
                                 state=op.changes["admin_state"]["after"])
        elif op.action == "add_port":
            self.nl.set_link(self._index(op.target), "attaching %s to %s" % (op.target, name), master=self._index(name))
        elif op.action in ("port_up", "port_down"):
            state = op.changes["admin_state"]["after"]
            self.nl.set_link(self._index(op.target), "setting %s %s" % (op.target, state), state=state)
        elif op.action == "remove_port":
            self.nl.set_link(self._index(op.target), "releasing %s from %s" % (op.target, name), master=0)
        elif op.action == "vlan_add":
            self.nl.bridge_vlan("add", self._index(op.target), _vlans.vlan_info_attrs(expand_groups(op.params["vlans"])),
                                "adding VLANs to %s" % op.target, self_=bool(op.params.get("bridge_self")))
        elif op.action == "vlan_del":
            items = [{"vid": vid} for vid in _vlans.parse_vids(op.params["vids"], "vids")]
            self.nl.bridge_vlan("del", self._index(op.target), _vlans.vlan_info_attrs(items),
                                "removing VLANs %s from %s" % (op.params["vids"], op.target),
                                self_=bool(op.params.get("bridge_self")))
