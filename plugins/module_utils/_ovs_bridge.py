# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ovs_bridge resource: an Open vSwitch bridge and, optionally, its ports (pattern 8).

What ``ovs-vsctl add-br br0; add-port br0 eth1; set port tap1 tag=3`` do by hand, in one
OVSDB transaction. Rules:

* Bridge attributes not given are left as they are.
* Ports not listed are left alone, unless ``exclusive_ports`` is true: then every port of the
  bridge that is not listed (except the bridge's own internal port) is removed.
* A listed port's attributes that are not given are left alone; a new port without ``type``
  is a ``system`` port (an existing kernel device).
* Omitted cannot mean "remove" (in Ansible a null option is an omitted one), so a port's VLAN
  columns are emptied on request: ``clear: [tag, vlan_mode, trunks]`` (``ovs-vsctl clear port
  tap1 tag vlan_mode trunks``). ``trunks: []`` clears trunks too. Setting and clearing the same
  column in one entry is an error.
* A port that already exists on another bridge is a Conflict (never moved silently).
"""

from __future__ import annotations

import copy
import ipaddress
import re
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, field_changes
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict, InvalidInput
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_common import (
    COMMON_COLUMNS, PORT_FIELDS, Field, OvsResource, apply_clear, canonical_map, clear_changes, create_values,
    defaults, field_columns, field_names, main_interface, map_change, read_fields, read_port, restore_map, restore_port,
    vlan_list, vlan_tag_to_set, write_changes, write_new,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovsdb import Ovsdb

PORT_TYPES = ("system", "internal", "patch", "vxlan", "geneve", "gre")
TUNNEL_TYPES = ("vxlan", "geneve", "gre")
VLAN_MODES = ("access", "trunk", "native-tagged", "native-untagged")
FAIL_MODES = ("standalone", "secure")
#: a datapath type as ovs-vswitchd registers them (dpif providers: system, netdev; dummy in tests)
DATAPATH_TYPE = re.compile(r"\A[a-z0-9][a-z0-9_-]{0,63}\Z")
#: port columns ``clear`` can empty (OVS then derives vlan_mode from tag/trunks; empty trunks = all VLANs)
CLEARABLE = ("tag", "trunks", "vlan_mode")

#: the bridge's fields on its Bridge row and what OVS does when each is unset (its ports are
#: read with _ovs_common.PORT_FIELDS)
BRIDGE_FIELDS = (
    Field("datapath_type", "Bridge", "datapath_type", default=""),
    Field("fail_mode", "Bridge", "fail_mode", kind="optional"),
    Field("mcast_snooping", "Bridge", "mcast_snooping_enable", value_type=bool, default=False),
    Field("stp", "Bridge", "stp_enable", value_type=bool, default=False),
    Field("other_config", "Bridge", "other_config", kind="map", default={}),
    Field("external_ids", "Bridge", "external_ids", kind="map", default={}),
)
#: a port's type is always given to add_port (a new port without it is a system port)
PORT_VALUE_FIELDS = tuple(f for f in PORT_FIELDS if f.name != "type")

COLUMNS = field_columns(COMMON_COLUMNS, BRIDGE_FIELDS, {"Open_vSwitch": ["datapath_types"]})


# -- normalize -------------------------------------------------------------------------------
def normalize_port(raw: dict[str, Any], index: int, bridge: str) -> dict[str, Any]:
    """One entry of ``ports`` -> canonical desired port (raises InvalidInput naming ports[i].x)."""
    opt = "ports[%d]" % index
    name = raw.get("name")
    if not name:
        raise InvalidInput(opt + ".name", name, "is required")
    _canon.ifname(name, opt + ".name")
    if name == bridge:
        raise InvalidInput(opt + ".name", name, "is the bridge's own internal port; it is managed with the bridge")
    port = {
        "name": str(name),
        "state": raw.get("state") or "present",
        "type": raw.get("type"),
        "tag": vlan_tag_to_set(raw.get("tag"), opt + ".tag"),
        "trunks": vlan_list(raw.get("trunks"), opt + ".trunks"),
        "vlan_mode": raw.get("vlan_mode"),
        "options": canonical_map(raw.get("options")),
        "external_ids": canonical_map(raw.get("external_ids")),
        "interface_external_ids": canonical_map(raw.get("interface_external_ids")),
    }
    if port["type"] is not None and port["type"] not in PORT_TYPES:
        raise InvalidInput(opt + ".type", port["type"], "is not a port type (one of %s)" % ", ".join(PORT_TYPES))
    if port["vlan_mode"] is not None and port["vlan_mode"] not in VLAN_MODES:
        raise InvalidInput(opt + ".vlan_mode", port["vlan_mode"], "is not a VLAN mode (one of %s)"
                           % ", ".join(VLAN_MODES))
    apply_clear(raw, opt, port, CLEARABLE)
    extra = {}
    if raw.get("peer") is not None:
        if port["type"] not in (None, "patch"):
            raise InvalidInput(opt + ".peer", raw["peer"], "is only for type=patch ports")
        _canon.ifname(raw["peer"], opt + ".peer")
        if raw["peer"] == name:
            raise InvalidInput(opt + ".peer", raw["peer"], "is the port itself; a patch port's peer is the port "
                               "on the other bridge")
        extra["peer"] = str(raw["peer"])
    if raw.get("remote_ip") is not None:
        if port["type"] not in TUNNEL_TYPES:
            raise InvalidInput(opt + ".remote_ip", raw["remote_ip"], "is only for tunnel ports (type %s)"
                               % "/".join(TUNNEL_TYPES))
        extra["remote_ip"] = tunnel_remote(raw["remote_ip"], opt + ".remote_ip")
    if extra:
        port["options"] = dict(port["options"] or {}, **extra)
    needs = {"patch": "peer", **{t: "remote_ip" for t in TUNNEL_TYPES}}.get(port["type"])
    if needs and port["state"] == "present" and not (port["options"] or {}).get(needs):
        # ovs-vswitchd refuses the interface ("vxlan type requires valid 'remote_ip' argument")
        raise InvalidInput(opt + "." + needs, raw.get(needs), "is required for a %s port (%s.type=%s; or give "
                           "%s.options.%s)" % (port["type"], opt, port["type"], opt, needs))
    if port["vlan_mode"] == "trunk" and port["tag"] is not None:
        raise InvalidInput(opt + ".tag", raw.get("tag"), "contradicts %s.vlan_mode=trunk: a trunk port has no "
                           "access VLAN (ovs-vswitchd ignores the tag); give trunks, or another vlan_mode" % opt)
    if port["vlan_mode"] == "access" and port["trunks"]:
        raise InvalidInput(opt + ".trunks", raw.get("trunks"), "contradicts %s.vlan_mode=access: an access port "
                           "carries only its tag's VLAN (ovs-vswitchd ignores trunks); give tag, or another "
                           "vlan_mode" % opt)
    return port


def tunnel_remote(value: Any, option: str) -> str:
    """A tunnel's ``remote_ip``: an IPv4 or IPv6 address, or ``flow`` (set per flow), as
    ovs-vswitchd parses it."""
    text = str(value)
    if text != "flow":
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise InvalidInput(option, value, "is not an IP address (or flow)") from None
    return text


def datapath_type(value: Any) -> str | None:
    """``datapath_type``: ``system``, ``netdev`` or another datapath provider's name
    (ovs-vswitchd's are lower-case letters, digits, ``-`` and ``_``); ``""`` is refused."""
    if value is None:
        return None
    text = str(value)
    if not DATAPATH_TYPE.match(text):
        raise InvalidInput("datapath_type", value, "is not a datapath type (system, netdev, or a name of "
                           "a-z, 0-9, - and _)")
    return text


def check_datapath_type(value: str, supported: list[str]) -> None:
    """A datapath type to set must be one ovs-vswitchd registered (``Open_vSwitch.datapath_types``,
    which it fills in at start; empty when it never ran: then it is not checked). Otherwise
    vswitchd cannot create the bridge and gives none of its ports an OpenFlow port."""
    if supported and value not in supported:
        raise InvalidInput("datapath_type", value, "is not a datapath type this ovs-vswitchd supports (%s)"
                           % ", ".join(sorted(supported)))


def normalize_bridge(params: dict[str, Any]) -> dict[str, Any]:
    """Module parameters -> canonical desired bridge."""
    name = _canon.ifname(params["name"], "name")
    desired: dict[str, Any] = {
        "name": name,
        "state": params.get("state") or "present",
        "datapath_type": datapath_type(params.get("datapath_type")),
        "fail_mode": params.get("fail_mode"),
        "mcast_snooping": params.get("mcast_snooping"),
        "stp": params.get("stp"),
        "other_config": canonical_map(params.get("other_config")),
        "external_ids": canonical_map(params.get("external_ids")),
        "exclusive_ports": bool(params.get("exclusive_ports")),
        "ports": None,
    }
    if desired["fail_mode"] is not None and desired["fail_mode"] not in FAIL_MODES:
        raise InvalidInput("fail_mode", desired["fail_mode"], "is not a fail mode (standalone or secure)")
    if params.get("ports") is not None:
        ports = [normalize_port(p, i, name) for i, p in enumerate(params["ports"])]
        seen: set[str] = set()
        for i, port in enumerate(ports):
            if port["name"] in seen:
                raise InvalidInput("ports[%d].name" % i, port["name"], "is listed twice")
            seen.add(port["name"])
        desired["ports"] = ports
    if desired["exclusive_ports"] and desired["ports"] is None:
        raise InvalidInput("exclusive_ports", True, "needs ports (the exact list of ports); give ports: [] to "
                           "remove every port")
    return desired


# -- plan ------------------------------------------------------------------------------------
def new_port(port: dict[str, Any], bridge: str) -> Operation:
    """add_port; a bond port (only ever put back by a rollback) carries its ``members``."""
    extra = {"members": port["members"]} if port.get("members") else {}
    return Operation("add_port", port["name"], bridge=bridge, type=port.get("type") or "system",
                     **create_values(PORT_VALUE_FIELDS, port), **extra)


def row_changes(current: dict[str, Any], desired: dict[str, Any], fields: tuple[Field, ...]) -> dict[str, dict[str, Any]]:
    """Changed scalar columns (engine's field_changes: None = left alone) and map columns (map_change)."""
    changes = field_changes(current, desired, field_names(fields, maps=False))
    for field in field_names(fields, maps=True):
        change = map_change(current.get(field), desired.get(field))
        if change:
            changes[field] = change
    return changes


def plan_port(current: dict[str, Any], port: dict[str, Any]) -> Operation | None:
    """modify_port for an existing port, or None when it already matches."""
    changes = row_changes(current, port, PORT_FIELDS)
    changes.update(clear_changes(current, port))
    if not changes:
        return None
    return Operation("modify_port", port["name"], changes=changes, bridge=current.get("bridge"))


def plan_bridge(current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Operation]:
    """Operations turning ``current`` (canonical bridge or None) into ``desired``. Pure."""
    name = desired["name"]
    if desired["state"] == "absent":
        return [Operation("delete_bridge", name)] if current is not None else []
    ops: list[Operation] = []
    wanted_ports = desired["ports"] or []
    if current is None:
        ops.append(Operation("create_bridge", name, **create_values(BRIDGE_FIELDS, desired)))
        ops.extend(new_port(p, name) for p in wanted_ports if p["state"] == "present")
        return ops
    changes = row_changes(current, desired, BRIDGE_FIELDS)
    changes.update(clear_changes(current, desired))
    if changes:
        ops.append(Operation("modify_bridge", name, changes=changes))
    have = {p["name"]: p for p in current.get("ports") or []}
    for port in wanted_ports:
        existing = have.get(port["name"])
        if port["state"] == "absent":
            if existing is not None:
                ops.append(Operation("delete_port", port["name"], bridge=name))
        elif existing is None:
            ops.append(new_port(port, name))
        else:
            op = plan_port(dict(existing, bridge=name), port)
            if op is not None:
                ops.append(op)
    if desired.get("exclusive_ports"):
        listed = {p["name"] for p in wanted_ports}  # a listed absent port is deleted above, once
        ops.extend(Operation("delete_port", pname, bridge=name, reason="not listed and exclusive_ports is true")
                   for pname in sorted(have) if pname not in listed)
    return ops


def predict_bridge(current: dict[str, Any] | None, operations: list[Operation]) -> dict[str, Any] | None:
    """Check mode: the bridge a real run would leave (without ofport/error, which vswitchd sets)."""
    state = copy.deepcopy(current)
    for op in operations:
        if op.action == "delete_bridge":
            return None
        if op.action == "create_bridge":
            state = dict(name=op.target, **defaults(BRIDGE_FIELDS), ports=[])
            state.update(op.params)
        elif op.action == "modify_bridge":
            for field, change in op.changes.items():
                state[field] = change["after"]
        elif op.action == "add_port":
            params = dict(op.params)
            params.pop("bridge", None)
            port = dict(name=op.target, **defaults(tuple(f for f in PORT_FIELDS if f.table == "Port" or
                                                         "members" not in params)))
            port.update(params)
            state["ports"].append(port)
        elif op.action == "modify_port":
            for port in state["ports"]:
                if port["name"] == op.target:
                    for field, change in op.changes.items():
                        port[field] = change["after"]
        elif op.action == "delete_port":
            state["ports"] = [p for p in state["ports"] if p["name"] != op.target]
    if state is not None:
        state["ports"].sort(key=lambda p: p["name"])
    return state


# -- reading / writing OVSDB -----------------------------------------------------------------
def read_bridge(db: Ovsdb, name: str) -> dict[str, Any] | None:
    """The bridge ``name`` in canonical form (its own internal port excluded), or None."""
    br = db.by_name("Bridge").get(name)
    if br is None:
        return None
    out: dict[str, Any] = {"name": br.name}
    out.update(read_fields(BRIDGE_FIELDS, {"Bridge": br}))
    out["ports"] = sorted((read_port(p) for p in br.ports if p.name != br.name), key=lambda p: p["name"])
    return out


def new_port_rows(txn: Any, db: Ovsdb, name: str, params: dict[str, Any]) -> Any:
    """Insert a Port with one Interface of the same name (a bond: one system Interface per
    member, Port columns only); returns the Port row."""
    port = txn.insert(db.idl.tables["Port"])
    port.name = name
    members = params.get("members")
    if members:
        ifaces = []
        for member in members:
            iface = txn.insert(db.idl.tables["Interface"])
            iface.name = member
            iface.type = ""
            ifaces.append(iface)
        port.interfaces = ifaces
        write_new(tuple(f for f in PORT_VALUE_FIELDS if f.table == "Port"), {"Port": port}, params)
        return port
    iface = txn.insert(db.idl.tables["Interface"])
    iface.name = name
    port.interfaces = [iface]
    write_new(PORT_FIELDS, {"Port": port, "Interface": iface}, dict(params, type=params.get("type") or "system"))
    return port


class _Named(dict):  # type: ignore[type-arg]
    """Rows of a table by name, each looked up (and verified to still exist) when first used."""

    def __init__(self, db: Ovsdb, table: str, what: str) -> None:
        super().__init__()
        self.db, self.table, self.what = db, table, what

    def __missing__(self, name: str) -> Any:
        row = self.db.named(self.table, name, self.what)
        self[name] = row
        return row


def write_operations(txn: Any, db: Ovsdb, operations: list[Operation], what: str = "the transaction") -> None:
    """Turn ovs_bridge operations into IDL writes of one transaction (rows looked up afresh;
    a row another client removed meanwhile is a Conflict naming it)."""
    tables = db.idl.tables
    bridges = _Named(db, "Bridge", what)
    ports = _Named(db, "Port", what)
    new_bridges: dict[str, list[Any]] = {}
    for op in operations:
        if op.action == "create_bridge":
            own = new_port_rows(txn, db, op.target, {"type": "internal"})
            br = txn.insert(tables["Bridge"])
            br.name = op.target
            write_new(BRIDGE_FIELDS, {"Bridge": br}, op.params)
            db.root().addvalue("bridges", br.uuid)
            bridges[op.target] = br
            new_bridges[op.target] = [own]
        elif op.action == "delete_bridge":
            db.root().delvalue("bridges", bridges[op.target].uuid)
            bridges[op.target].delete()
        elif op.action == "modify_bridge":
            write_changes(BRIDGE_FIELDS, {"Bridge": bridges[op.target]}, op.changes)
        elif op.action == "add_port":
            port = new_port_rows(txn, db, op.target, op.params)
            if op.params["bridge"] in new_bridges:
                new_bridges[op.params["bridge"]].append(port)
            else:
                bridges[op.params["bridge"]].addvalue("ports", port.uuid)
        elif op.action == "modify_port":
            write_port_changes(ports[op.target], op.changes)
        elif op.action == "delete_port":
            bridges[op.params["bridge"]].delvalue("ports", ports[op.target].uuid)
            ports[op.target].delete()
    for name, rows in new_bridges.items():
        bridges[name].ports = rows


def write_port_changes(port: Any, changes: dict[str, dict[str, Any]]) -> None:
    """Apply a modify_port's changes to an existing Port row and its (single) Interface."""
    write_changes(PORT_FIELDS, {"Port": port, "Interface": main_interface(port)}, changes)


def restore_bridge(before: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
    """The desired bridge that puts ``before`` (read_bridge's form; None: there was none) back
    after a run that applied ``desired``: every column as read (fail_mode cleared if it was
    unset), maps exactly (keys the run added removed), every port as read (re-added if the run
    removed it), and the ports the run added absent. Ports nobody mentioned stay as they are."""
    if before is None:
        return dict(desired, state="absent")
    target: dict[str, Any] = {"name": desired["name"], "state": "present", "exclusive_ports": False,
                              "clear": ["fail_mode"] if before.get("fail_mode") is None else []}
    for field in field_names(BRIDGE_FIELDS, maps=False):
        target[field] = before.get(field)
    for field in field_names(BRIDGE_FIELDS, maps=True):
        target[field] = restore_map(before.get(field), desired.get(field))
    wanted = {p["name"]: p for p in desired.get("ports") or []}
    had = {p["name"] for p in before.get("ports") or []}
    ports = [restore_port(p, wanted.get(p["name"])) for p in before.get("ports") or []]
    ports += [{"name": name, "state": "absent"} for name, port in wanted.items()
              if port["state"] == "present" and name not in had]
    target["ports"] = ports
    return target


def touched_interfaces(operations: list[Operation]) -> list[str]:
    """Interfaces whose creation or change ovs-vswitchd must confirm (ofport / error)."""
    names = []
    for op in operations:
        if op.action in ("create_bridge", "add_port"):
            names.append(op.target)
        elif op.action == "modify_port" and ({"type", "options"} & set(op.changes)):
            names.append(op.target)
    return names


class OvsBridgeResource(OvsResource):
    """An OVS bridge with (some of) its ports, in one OVSDB transaction."""

    columns = COLUMNS

    def diff_header(self) -> str:
        return "ovs bridge %s" % self.params["name"]

    def normalize(self) -> dict[str, Any]:
        return normalize_bridge(self.params)

    def read_current(self) -> dict[str, Any] | None:
        self.db.refresh()
        return read_bridge(self.db, self.params["name"])

    def plan(self, current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Operation]:
        if desired["state"] == "present":
            where = self.db.bridge_of_port()
            for port in desired["ports"] or []:
                owner = where.get(port["name"])
                if port["state"] == "present" and owner not in (None, desired["name"]):
                    raise Conflict("ports: port %r is already on bridge %r; remove it there first"
                                   % (port["name"], owner))
            wanted = desired["datapath_type"]
            if wanted is not None and wanted != (current or {}).get("datapath_type"):
                check_datapath_type(wanted, list(self.db.root().datapath_types))
        return plan_bridge(current, desired)

    def predict(self, current: dict[str, Any] | None, desired: dict[str, Any],
                operations: list[Operation]) -> dict[str, Any] | None:
        return predict_bridge(current, operations)

    def apply(self, operations: list[Operation]) -> None:
        what = "bridge %s" % self.params["name"]
        self.commit(operations, lambda txn, db: write_operations(txn, db, operations, what), what,
                    touched_interfaces(operations))

    def restore_target(self, before: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
        return restore_bridge(before, desired)
