# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ovs_bond resource: a bonded port on an Open vSwitch bridge (pattern 9).

``ovs-vsctl add-bond br0 bond0 eth2 eth3 lacp=active; set port bond0 bond_mode=balance-slb``
declaratively, and unlike ``add-bond`` every attribute of an existing bond is reconciled:
members, bond_mode, lacp, lacp_time, up/down delays, link detection, LACP fallback, VLANs.

Canonical form: OVS's defaults are filled in when reading (an unset ``bond_mode`` is
``active-backup``, ``lacp`` ``off``, ``lacp_time`` ``slow``, delays 0, link detection
``carrier``, miimon interval 200 ms, no fallback) so that asking for a default is no change.
Options not given are left alone; the bond port's VLAN columns are emptied on request with
``clear: [tag, trunks]`` (``ovs-vsctl clear port bond0 tag trunks``), ``trunks: []`` clears
trunks too, and setting and clearing the same column is an error. The live status (what
``ovs-appctl bond/show`` prints) is read from OVSDB: Port.bond_active_slave,
Interface.lacp_current / link_state / mac_in_use.
"""

from __future__ import annotations

import copy
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, field_changes
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict, InvalidInput, NotFound
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_common import (
    COMMON_COLUMNS, Field, OvsResource, apply_clear, clear_changes, create_values, defaults, field_columns,
    field_names, read_fields, vlan_list, vlan_tag_to_set, write_changes,
    write_new,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovsdb import Ovsdb, first

BOND_MODES = ("active-backup", "balance-slb", "balance-tcp")
LACP_MODES = ("active", "passive", "off")
LACP_TIMES = ("fast", "slow")
LINK_DETECTION = ("carrier", "miimon")
#: bond port columns ``clear`` can empty (an empty trunks set = all VLANs)
CLEARABLE = ("tag", "trunks")

#: the bond's fields on its Port row (``members`` are its Interface rows, handled apart), each
#: with its column or other_config key and what OVS does when it is unset
BOND_FIELDS = (
    Field("bond_mode", "Port", "bond_mode", kind="optional", default="active-backup"),
    Field("lacp", "Port", "lacp", kind="optional", default="off"),
    Field("updelay", "Port", "bond_updelay", value_type=int, default=0),
    Field("downdelay", "Port", "bond_downdelay", value_type=int, default=0),
    Field("tag", "Port", "tag", kind="optional"),
    Field("trunks", "Port", "trunks", kind="set", default=[]),
    Field("lacp_time", "Port", "other_config", key="lacp-time", default="slow"),
    Field("link_detection", "Port", "other_config", key="bond-detect-mode", default="carrier"),
    Field("miimon_interval", "Port", "other_config", key="bond-miimon-interval", value_type=int, default=200),
    Field("lacp_fallback_ab", "Port", "other_config", key="lacp-fallback-ab", value_type=bool, default=False),
)
BY_NAME = {f.name: f for f in BOND_FIELDS}
FIELDS = ("members",) + field_names(BOND_FIELDS)

COLUMNS = field_columns(COMMON_COLUMNS, BOND_FIELDS, {"Port": ["bond_active_slave"],
                                                      "Interface": ["lacp_current", "link_state", "mac_in_use"]})


#: the largest delay or interval: OVSDB stores bond_updelay/bond_downdelay as 64-bit integers,
#: but ovs-vswitchd keeps them (and bond-miimon-interval, parsed with smap_get_int) in a C int
MAX_MSEC = 2 ** 31 - 1


def milliseconds(value: Any, option: str, minimum: int) -> int | None:
    """A delay or interval in ms, ``minimum``..MAX_MSEC (None: not given)."""
    if value is None:
        return None
    try:
        number = None if isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or str(number) != str(value).strip():
        raise InvalidInput(option, value, "is not a whole number of milliseconds")
    if not minimum <= number <= MAX_MSEC:
        raise InvalidInput(option, value, "is out of range: a number of milliseconds from %d to %d (what "
                           "ovs-vswitchd can hold)" % (minimum, MAX_MSEC))
    return number


def normalize_bond(params: dict[str, Any]) -> dict[str, Any]:
    """Module parameters -> canonical desired bond (InvalidInput names the option and value)."""
    name = _canon.ifname(params["name"], "name")
    desired: dict[str, Any] = {"name": name, "state": params.get("state") or "present",
                               "bridge": params.get("bridge")}
    if desired["bridge"] is not None:
        _canon.ifname(desired["bridge"], "bridge")
    if desired["state"] == "absent":
        return desired
    if not desired["bridge"]:
        raise InvalidInput("bridge", desired["bridge"], "is required with state=present")
    members = params.get("members")
    if members is None or len(members) < 2:
        raise InvalidInput("members", members, "must list at least two interfaces (a bond of one is a plain port; "
                           "use ovs_bridge)")
    names = [_canon.ifname(m, "members[%d]" % i) for i, m in enumerate(members)]
    if len(set(names)) != len(names):
        raise InvalidInput("members", members, "lists an interface twice")
    if name in names:
        raise InvalidInput("members", members, "contains the bond's own name %r" % name)
    desired["members"] = sorted(names)
    for field, choices in (("bond_mode", BOND_MODES), ("lacp", LACP_MODES), ("lacp_time", LACP_TIMES),
                           ("link_detection", LINK_DETECTION)):
        value = params.get(field)
        if value is not None and value not in choices:
            raise InvalidInput(field, value, "is not one of %s" % ", ".join(choices))
        desired[field] = value
    for field in ("updelay", "downdelay", "miimon_interval"):
        desired[field] = milliseconds(params.get(field), field, 1 if field == "miimon_interval" else 0)
    if desired["lacp"] == "off" and desired["lacp_time"] == "fast":
        # slow, OVS's default, stays allowed: it is how the rate is put back when LACP is turned off
        raise InvalidInput("lacp_time", desired["lacp_time"], "contradicts lacp=off: no LACP PDUs are sent; "
                           "give lacp: active or passive, or lacp_time: slow")
    if desired["link_detection"] == "carrier" and desired["miimon_interval"] is not None:
        raise InvalidInput("miimon_interval", desired["miimon_interval"], "contradicts link_detection=carrier: "
                           "the interval is for miimon link detection; omit miimon_interval, or give "
                           "link_detection: miimon")
    desired["lacp_fallback_ab"] = params.get("lacp_fallback_ab")
    desired["tag"] = vlan_tag_to_set(params.get("tag"), "tag")
    desired["trunks"] = vlan_list(params.get("trunks"), "trunks")
    apply_clear(params, "", desired, CLEARABLE)
    if desired["bond_mode"] == "balance-tcp" and desired["lacp"] in (None, "off"):
        raise InvalidInput("bond_mode", "balance-tcp", "needs LACP (lacp: active or passive)")
    return desired


def read_bond(port: Any, bridge: str) -> dict[str, Any]:
    """A bond Port row in canonical form, OVS defaults filled in."""
    out: dict[str, Any] = {"name": port.name, "bridge": bridge, "members": sorted(i.name for i in port.interfaces)}
    out.update(read_fields(BOND_FIELDS, {"Port": port}))
    return out


def plan_bond(current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Operation]:
    """Operations turning ``current`` (canonical bond or None) into ``desired``. Pure."""
    name = desired["name"]
    if desired["state"] == "absent":
        return [Operation("delete_bond", name, bridge=current["bridge"])] if current else []
    if current is None:
        return [Operation("create_bond", name, bridge=desired["bridge"], members=desired["members"],
                          **create_values(BOND_FIELDS, desired))]
    if current["bridge"] != desired["bridge"]:
        raise Conflict("name: port %r is on bridge %r, not %r; remove it there first"
                       % (name, current["bridge"], desired["bridge"]))
    changes = field_changes(current, desired, FIELDS)
    changes.update(clear_changes(current, desired, BOND_FIELDS))
    return [Operation("modify_bond", name, changes=changes, bridge=current["bridge"])] if changes else []


def predict_bond(current: dict[str, Any] | None, operations: list[Operation]) -> dict[str, Any] | None:
    """Check mode: the bond a real run would leave."""
    state = copy.deepcopy(current)
    for op in operations:
        if op.action == "delete_bond":
            return None
        if op.action == "create_bond":
            state = dict(name=op.target, **defaults(BOND_FIELDS))
            state.update(op.params)
        elif op.action == "modify_bond":
            for field, change in op.changes.items():
                state[field] = BY_NAME[field].fresh_default() if change["after"] is None and field in BY_NAME \
                    else change["after"]
    return state


def restore_bond(before: dict[str, Any] | None, desired: dict[str, Any], explicit: frozenset[str] = frozenset()
                 ) -> dict[str, Any]:
    """The desired bond that puts ``before`` (read_bond's form; None: there was none) back:
    its bridge, members and every field as read. A field that reads as OVS's default is cleared
    (unset, as a bond made without it), unless ``explicit`` names it: set to the default."""
    if before is None:
        return dict(desired, state="absent")
    target: dict[str, Any] = {"name": desired["name"], "state": "present", "bridge": before["bridge"],
                              "members": list(before["members"]), "clear": []}
    for field in BOND_FIELDS:
        value = before.get(field.name)
        clearable = field.kind == "optional" or field.key is not None
        if clearable and value == field.default and field.name not in explicit:
            target[field.name] = None
            target["clear"].append(field.name)
        else:
            target[field.name] = value
    return target


def write_bond(txn: Any, db: Ovsdb, operations: list[Operation], what: str = "the transaction") -> None:
    """ovs_bond operations -> IDL writes of one transaction (a row another client removed
    meanwhile is a Conflict naming it)."""
    tables = db.idl.tables

    def new_iface(name: str) -> Any:
        iface = txn.insert(tables["Interface"])
        iface.name = name
        iface.type = ""
        return iface

    for op in operations:
        if op.action == "delete_bond":
            port = db.named("Port", op.target, what)
            db.named("Bridge", op.params["bridge"], what).delvalue("ports", port.uuid)
            port.delete()
        elif op.action == "create_bond":
            port = txn.insert(tables["Port"])
            port.name = op.target
            port.interfaces = [new_iface(m) for m in op.params["members"]]
            write_new(BOND_FIELDS, {"Port": port}, op.params)
            db.named("Bridge", op.params["bridge"], what).addvalue("ports", port.uuid)
        elif op.action == "modify_bond":
            port = db.named("Port", op.target, what)
            members = op.changes.get("members")
            if members is not None:  # set whole: a delete mutation first could leave 0 (refused)
                have = {i.name: i for i in port.interfaces}
                port.interfaces = [have[m] if m in have else new_iface(m) for m in members["after"]]
            write_changes(BOND_FIELDS, {"Port": port}, op.changes)


def bond_status(db: Ovsdb, name: str) -> dict[str, Any] | None:
    """The live bond status from OVSDB (what ``ovs-appctl bond/show`` prints), or None.

    ``may_enable``: link up and, with LACP, the partner's LACP PDUs current (``lacp_current``).
    ``lacp_status``: ``off``; ``negotiated`` when a member's LACP is current; else ``configured``.
    ``active_member``: the member whose MAC is Port.bond_active_slave.
    """
    port = db.by_name("Port").get(name)
    if port is None:
        return None
    lacp = BY_NAME["lacp"].read(port)
    active_mac = (first(port.bond_active_slave) or "").lower()
    if active_mac == "00:00:00:00:00:00":
        active_mac = ""
    members = {}
    active = None
    negotiated = False
    for iface in sorted(port.interfaces, key=lambda i: i.name):
        current = first(iface.lacp_current)
        link = first(iface.link_state)
        may_enable = link == "up" and (lacp == "off" or bool(current))
        negotiated = negotiated or bool(current)
        mac = (first(iface.mac_in_use) or "").lower()
        is_active = bool(active_mac) and mac == active_mac
        if is_active:
            active = iface.name
        members[iface.name] = {"enabled": may_enable, "may_enable": may_enable, "link_state": link,
                               "lacp_current": current, "active": is_active, "ofport": first(iface.ofport),
                               "error": first(iface.error)}
    return {
        "bond_mode": BY_NAME["bond_mode"].read(port),
        "lacp": lacp,
        "lacp_status": "off" if lacp == "off" else "negotiated" if negotiated else "configured",
        "active_member": active,
        "active_member_mac": active_mac or None,
        "members": members,
    }


class OvsBondResource(OvsResource):
    """A bond port on an existing OVS bridge, every attribute reconciled, in one transaction."""

    columns = COLUMNS

    def __init__(self, params: dict[str, Any], root: str = "/") -> None:
        super().__init__(params, root)
        #: the first state read (the one a rollback puts back) and its fields that are set to
        #: OVS's default value explicitly (the canonical state cannot tell them from unset ones)
        self._first_read: dict[str, Any] | None = None
        self._explicit: frozenset[str] = frozenset()
        self._read_once = False

    def diff_header(self) -> str:
        return "ovs bond %s" % self.params["name"]

    def normalize(self) -> dict[str, Any]:
        return normalize_bond(self.params)

    def read_current(self) -> dict[str, Any] | None:
        self.db.refresh()
        name = self.params["name"]
        for br in self.db.rows("Bridge"):
            for port in br.ports:
                if port.name == name:
                    if len(port.interfaces) < 2:
                        raise Conflict("name: port %r on bridge %r is a plain port (interface %s), not a bond; "
                                       "remove it first" % (name, br.name, ", ".join(i.name for i in port.interfaces)))
                    state = read_bond(port, br.name)
                    if not self._read_once:
                        self._first_read = state
                        self._explicit = frozenset(f.name for f in BOND_FIELDS if not f.is_unset(port))
                    self._read_once = True
                    return state
        self._read_once = True
        return None

    def plan(self, current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Operation]:
        if desired["state"] == "present":
            bridges = self.db.by_name("Bridge")
            if desired["bridge"] not in bridges:
                raise NotFound("bridge: %r does not exist (create it with kvmnet.hypervisor.ovs_bridge)"
                               % desired["bridge"])
            owners = {}
            for br in bridges.values():
                for port in br.ports:
                    for iface in port.interfaces:
                        owners[iface.name] = (port.name, br.name)
            for member in desired["members"]:
                owner = owners.get(member)
                if owner and owner[0] != desired["name"]:
                    raise Conflict("members: interface %r is already in port %r on bridge %r; remove it there first"
                                   % (member, owner[0], owner[1]))
        return plan_bond(current, desired)

    def predict(self, current: dict[str, Any] | None, desired: dict[str, Any],
                operations: list[Operation]) -> dict[str, Any] | None:
        return predict_bond(current, operations)

    def apply(self, operations: list[Operation]) -> None:
        what = "bond %s" % self.params["name"]
        added = []
        for op in operations:
            if op.action == "create_bond":
                added.extend(op.params["members"])
            elif op.action == "modify_bond" and "members" in op.changes:
                added.extend(m for m in op.changes["members"]["after"]
                             if m not in op.changes["members"]["before"])
        self.commit(operations, lambda txn, db: write_bond(txn, db, operations, what), what, added)

    def restore_target(self, before: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
        return restore_bond(before, desired, self._explicit if before is self._first_read else frozenset())

    def extra_results(self, after: dict[str, Any] | None) -> dict[str, Any]:
        if after is None or self.db.idl is None:
            return {"bond_status": None}
        self.db.refresh()
        return {"bond_status": bond_status(self.db, self.params["name"])}
