# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers shared by the Open vSwitch resources (ovs_bridge, ovs_bond, ovs_patch).

Canonical forms of OVSDB rows (rules):

* Interface ``type`` ``""`` is spelled ``system`` (a kernel device); a port with more than one
  interface is a ``bond``.
* ``tag`` is an int or None, ``trunks`` a sorted list of ints (empty = all VLANs),
  ``vlan_mode`` a string or None (OVS then derives it from tag/trunks).
* Map columns (other_config, external_ids, options) are dicts of strings. In desired state a
  map lists only the keys the user mentioned; a key whose value is null is removed; keys not
  mentioned are left alone.
* Omitted never means "remove" (a null option is an omitted one in Ansible): optional VLAN
  columns are emptied with an explicit ``clear`` list (``apply_clear``); ``tag: 0`` is refused.
* Rolling back (``restore_desired``): the state read before the run, as a desired state that
  puts back exactly what the run changed: maps get a null for every key the run set that was
  not there, columns that were unset are listed in ``clear``, rows the run added are absent.
  When no transaction of the run was committed there is nothing of the run's to undo: the
  target is the state as it is now (another client's changes are never undone).
"""

from __future__ import annotations

import copy
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, Resource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import ApplyFailed, InvalidInput, KvmnetError
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovsdb import Ovsdb, first


def iface_type(raw: str) -> str:
    """OVSDB's Interface.type -> the canonical name (``""`` is a ``system`` device)."""
    return raw or "system"


def ovsdb_type(name: str) -> str:
    """Canonical type -> OVSDB's Interface.type."""
    return "" if name == "system" else name


def canonical_map(value: dict[str, Any] | None) -> dict[str, str | None] | None:
    """Desired map: string keys and values, None kept (it means "remove this key")."""
    if value is None:
        return None
    return {str(k): (None if v is None else _canon.ovs_value(v)) for k, v in value.items()}


def merge_map(current: dict[str, str] | None, desired: dict[str, str | None] | None) -> dict[str, str] | None:
    """The map after applying ``desired`` (None: not mentioned -> None; null values remove keys)."""
    if desired is None:
        return None
    merged = dict(current or {})
    for key, value in desired.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def map_change(current: dict[str, str] | None, desired: dict[str, str | None] | None) -> dict[str, Any] | None:
    """``{"before": map, "after": map}`` if applying ``desired`` changes ``current``, else None."""
    merged = merge_map(current, desired)
    if merged is None or merged == (current or {}):
        return None
    return {"before": dict(current or {}), "after": merged}


def vlan_list(value: Any, option: str) -> list[int] | None:
    """A list of VLAN ids (trunks): each 1..4094, sorted, duplicates removed."""
    if value is None:
        return None
    return sorted({_canon.vlan_tag(v, option) for v in value})


def vlan_tag_to_set(value: Any, option: str) -> int | None:
    """``tag``: a VLAN id 1-4094; 0 (a valid OVS value, VLAN 0) is refused with the clearing form."""
    if value is None:
        return None
    try:
        zero = not isinstance(value, bool) and int(value) == 0
    except (TypeError, ValueError):
        zero = False
    if zero:
        raise InvalidInput(option, value, "is not a VLAN id to set (1-4094); to remove the port's tag give "
                           "clear: [tag]")
    return _canon.vlan_tag(value, option)


def apply_clear(raw: dict[str, Any], prefix: str, desired: dict[str, Any], clearable: tuple[str, ...]) -> None:
    """``clear``: known columns, each not also set in the same entry, applied to ``desired``.

    ``prefix`` names the entry in messages (``ports[0]``; ``""`` for top-level module options).
    ``desired`` holds the entry's normalized values: a column listed in ``clear`` must be None
    there (``[]`` for trunks, which clears as well). Clearing trunks is setting them to ``[]``
    (an empty set = all VLANs); the optional columns to empty are stored in
    ``desired["clear"]`` (None there means "left alone", so they are listed), in ``clearable`` order.
    """
    cleared = _clear_list(raw, prefix, desired, clearable)
    if "trunks" in cleared:
        desired["trunks"] = []
    desired["clear"] = [field for field in cleared if field != "trunks"]


def clear_changes(current: dict[str, Any], desired: dict[str, Any],
                  fields: tuple["Field", ...] = ()) -> dict[str, dict[str, Any]]:
    """Changes emptying the columns of ``desired["clear"]`` that are set in ``current``.

    A field of ``fields`` with an OVS default reads as that default when unset: it is cleared
    (``after`` None: the column or key is removed) only when it reads otherwise.
    """
    unset = {f.name: f.default for f in fields}
    return {field: {"before": current[field], "after": None}
            for field in desired.get("clear") or () if current.get(field) not in (None, unset.get(field))}


def _clear_list(raw: dict[str, Any], prefix: str, desired: dict[str, Any], clearable: tuple[str, ...]) -> list[str]:
    """The validated ``clear`` list of one entry (see apply_clear)."""
    def opt(field: str) -> str:
        return "%s.%s" % (prefix, field) if prefix else field

    value = raw.get("clear")
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise InvalidInput(opt("clear"), value, "is not a list of columns (any of %s)" % ", ".join(clearable))
    for item in value:
        if item not in clearable:
            raise InvalidInput(opt("clear"), item, "is not a column that can be cleared (one of %s)"
                               % ", ".join(clearable))
    for field in clearable:
        if field in value and desired[field] not in (None, []):
            raise InvalidInput(opt(field), raw[field], "contradicts %s, which lists %s; set the "
                               "column or clear it, not both" % (opt("clear"), field))
    return [field for field in clearable if field in value]


def set_map(row: Any, column: str, change: dict[str, Any], inserted: bool) -> None:
    """Write a map change: whole value on a new row, setkey/delkey on an existing one.

    setkey/delkey are mutations: keys someone else set meanwhile survive.
    """
    after = change["after"]
    if inserted:
        setattr(row, column, after)
        return
    before = change.get("before") or {}
    for key in before:
        if key not in after:
            row.delkey(column, key)
    for key, value in after.items():
        if before.get(key) != value:
            row.setkey(column, key, value)


def set_optional(row: Any, column: str, value: Any) -> None:
    """Write an optional scalar column (tag, vlan_mode, fail_mode): None clears it."""
    setattr(row, column, [] if value is None else value)


# -- field tables ----------------------------------------------------------------------------
class Field:
    """One field of an OVS resource and its home in OVSDB: one entry drives reading, writing and
    the default (as the vyos resource modules' rm_templates pair a parser's getval and setval).

    ``table``/``column`` is where the value lives; with ``key`` it is that key of the map column
    (OVS stores map values as strings: ``value_type`` int or bool parses and formats them).
    ``kind`` is how the column holds it:

    * ``scalar``: a required column, the value as is (``value_type`` int or bool coerces it);
    * ``optional``: a column of 0 or 1 values (tag, vlan_mode): empty reads None, None empties it;
    * ``set``: a set column (trunks): a sorted list;
    * ``map``: a whole map column: a dict, changed key by key on an existing row;
    * ``iface_type``: Interface.type, where ``""`` is a ``system`` device.

    ``default`` is what OVS does when the column or key is unset: reading fills it in (so that
    asking for the default is no change) and check mode predicts it for a row it creates.
    """

    __slots__ = ("name", "table", "column", "key", "kind", "value_type", "default")

    def __init__(self, name: str, table: str, column: str, kind: str = "scalar", key: str | None = None,
                 value_type: type | None = None, default: Any = None) -> None:
        self.name = name
        self.table = table
        self.column = column
        self.kind = kind
        self.key = key
        self.value_type = value_type
        self.default = default

    def fresh_default(self) -> Any:
        """The default, as a new object (a list or dict default is never shared between rows)."""
        return copy.deepcopy(self.default)

    def read(self, row: Any) -> Any:
        """The field's canonical value in ``row`` (a row of :attr:`table`), the default if unset."""
        raw = getattr(row, self.column)
        if self.key is not None:
            value = self.parse_text(dict(raw).get(self.key))
        elif self.kind == "optional":
            value = first(raw)
        elif self.kind == "set":
            value = sorted(raw)
        elif self.kind == "map":
            value = dict(raw)
        elif self.kind == "iface_type":
            value = iface_type(raw)
        else:
            value = raw if raw is None or self.value_type is None else self.value_type(raw)
        return self.fresh_default() if value is None else value

    def is_unset(self, row: Any) -> bool:
        """Whether the column (or map key) is empty in ``row``: OVS then uses :attr:`default`."""
        raw = getattr(row, self.column)
        if self.key is not None:
            return self.key not in dict(raw)
        return self.kind in ("optional", "set", "map") and not raw

    def parse_text(self, text: str | None) -> Any:
        """A map value (a string, or None when the key is missing) -> the field's value or None."""
        if text is None:
            return None
        if self.value_type is bool:
            return text == "true"
        if self.value_type is int:
            # a value that is not a number reads as the default, which is what OVS then uses
            return int(text) if text.isdigit() else None
        return text

    def format_text(self, value: Any) -> str:
        """The value as a map stores it (``true``/``false``, numbers as text)."""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def write(self, row: Any, change: dict[str, Any], inserted: bool = False) -> None:
        """Write ``change["after"]`` to ``row`` (``change["before"]`` is needed for maps)."""
        after = change["after"]
        if self.key is not None and after is None:
            row.delkey(self.column, self.key)
        elif self.key is not None:
            row.setkey(self.column, self.key, self.format_text(after))
        elif self.kind == "map":
            set_map(row, self.column, change, inserted)
        elif self.kind == "optional":
            set_optional(row, self.column, after)
        elif self.kind == "iface_type":
            setattr(row, self.column, ovsdb_type(after))
        else:
            setattr(row, self.column, after)


def field_names(fields: tuple[Field, ...], maps: bool | None = None) -> tuple[str, ...]:
    """The names of ``fields``: all, only the map columns (``maps=True``) or the others (False)."""
    return tuple(f.name for f in fields if maps is None or (f.kind == "map") == maps)


def defaults(fields: tuple[Field, ...]) -> dict[str, Any]:
    """Field name -> what OVS does when unset (the state of a new row)."""
    return {f.name: f.fresh_default() for f in fields}


def read_fields(fields: tuple[Field, ...], rows: dict[str, Any]) -> dict[str, Any]:
    """Read every field whose table has a row in ``rows`` (table name -> row)."""
    return {f.name: f.read(rows[f.table]) for f in fields if rows.get(f.table) is not None}


def create_values(fields: tuple[Field, ...], desired: dict[str, Any]) -> dict[str, Any]:
    """The values a new row is created with: the fields given (maps without their null keys)."""
    out: dict[str, Any] = {}
    for field in fields:
        value = desired.get(field.name)
        if field.kind == "map":
            if value:
                out[field.name] = {k: v for k, v in value.items() if v is not None}
        elif value is not None and value != []:
            out[field.name] = value
    return out


def write_new(fields: tuple[Field, ...], rows: dict[str, Any], values: dict[str, Any]) -> None:
    """Fill newly inserted ``rows`` (table name -> row) with the fields ``values`` gives.

    Keys of one map column are gathered into one value: a new row's map is set whole.
    """
    gathered: dict[tuple[str, str], dict[str, str]] = {}
    for field in fields:
        value = values.get(field.name)
        if value is None or (field.kind in ("set", "map") and not value):
            continue
        if field.key is not None:
            gathered.setdefault((field.table, field.column), {})[field.key] = field.format_text(value)
        else:
            field.write(rows[field.table], {"before": None, "after": value}, inserted=True)
    for (table, column), value in gathered.items():
        setattr(rows[table], column, value)


def write_changes(fields: tuple[Field, ...], rows: dict[str, Any], changes: dict[str, dict[str, Any]]) -> None:
    """Apply a modify operation's ``changes`` of these fields to existing ``rows``."""
    for field in fields:
        if field.name in changes:
            field.write(rows[field.table], changes[field.name])


def field_columns(*groups: Any) -> dict[str, list[str]]:
    """Table -> columns to register, from field tables and ``{table: [column, ...]}`` dicts."""
    out: dict[str, list[str]] = {}
    for group in groups:
        pairs = ([(f.table, f.column) for f in group] if isinstance(group, tuple)
                 else [(table, col) for table, cols in group.items() for col in cols])
        for table, column in pairs:
            cols = out.setdefault(table, [])
            if column not in cols:
                cols.append(column)
    return out


#: a port of a bridge (ovs_bridge's ports, ovs_patch's ends); OVS derives vlan_mode from tag
#: and trunks when it is unset, and an empty trunks set means all VLANs
PORT_FIELDS = (
    Field("type", "Interface", "type", kind="iface_type", default="system"),
    Field("tag", "Port", "tag", kind="optional"),
    Field("trunks", "Port", "trunks", kind="set", default=[]),
    Field("vlan_mode", "Port", "vlan_mode", kind="optional"),
    Field("external_ids", "Port", "external_ids", kind="map", default={}),
    Field("options", "Interface", "options", kind="map", default={}),
    Field("interface_external_ids", "Interface", "external_ids", kind="map", default={}),
)

#: the columns every OVS resource reads or writes (registered once per run, nothing else): rows
#: are found by name, ports through their bridge, and vswitchd's verdict on an interface is its
#: ofport or error
COMMON_COLUMNS = field_columns({"Bridge": ["name", "ports"], "Port": ["name", "interfaces"],
                                "Interface": ["name", "error", "ofport"]}, PORT_FIELDS)


def main_interface(port: Any) -> Any:
    """The Interface row of the port's own name (the first one if none has it), or None."""
    ifaces = list(port.interfaces)
    return next((i for i in ifaces if i.name == port.name), ifaces[0] if ifaces else None)


def read_port(port: Any) -> dict[str, Any]:
    """A Port row (with its Interface rows) in canonical form.

    A port of one interface has its interface's fields, ofport and error; a port of several is
    a ``bond`` with ``members`` and only the Port fields.
    """
    ifaces = list(port.interfaces)
    single = main_interface(port) if len(ifaces) <= 1 else None
    out: dict[str, Any] = {"name": port.name, "type": None}
    out.update(read_fields(PORT_FIELDS, {"Port": port, "Interface": single}))
    if single is not None:
        out["ofport"] = first(single.ofport)
        out["error"] = first(single.error)
    else:
        out["type"] = "bond" if len(ifaces) > 1 else None
        out["members"] = sorted(i.name for i in ifaces)
    return out


# -- rolling back ------------------------------------------------------------------------------
def restore_map(before: dict[str, str] | None, desired: dict[str, Any] | None) -> dict[str, str | None]:
    """The desired map that puts ``before`` back after a run that applied ``desired``: every key
    as it was, and a null (remove) for each key the run set that was not there."""
    target: dict[str, str | None] = {k: None for k, v in (desired or {}).items() if v is not None}
    target.update(before or {})
    return target


def restore_port(before: dict[str, Any], desired: dict[str, Any] | None) -> dict[str, Any]:
    """A port as read before the run (``read_port``) as a desired port (ovs_bridge's
    ``normalize_port`` shape) that puts it back after the run applied ``desired`` (None: the run
    did not mention it): maps exactly, unset VLAN columns cleared; a bond keeps its members."""
    desired = desired or {}
    port: dict[str, Any] = {"name": before["name"], "state": "present", "type": before.get("type"),
                            "tag": before.get("tag"), "trunks": before.get("trunks"),
                            "vlan_mode": before.get("vlan_mode"),
                            "clear": [f for f in ("tag", "vlan_mode") if before.get(f) is None]}
    for field in field_names(PORT_FIELDS, maps=True):
        if field in before:
            port[field] = restore_map(before[field], desired.get(field))
        else:  # a bond's Interface columns are not read: left alone
            port[field] = None
    if before.get("members") is not None:
        port["members"] = list(before["members"])
    return port


def interface_failures(db: Any, names: list[str]) -> list[str]:
    """Wait until ovs-vswitchd has given each named interface an ofport or an error; list failures."""
    wanted = set(names)

    def settled() -> bool:
        for iface in db.rows("Interface"):
            if iface.name in wanted and not iface.ofport and not iface.error:
                return False
        return True

    db.wait_for(settled)
    failures = []
    for iface in db.rows("Interface"):
        if iface.name not in wanted:
            continue
        error = first(iface.error)
        ofport = first(iface.ofport)
        if error or ofport in (None, -1):
            failures.append("%s: %s" % (iface.name, error or "ovs-vswitchd gave it no OpenFlow port (ofport %s)"
                                        % ofport))
    return failures


def raise_on_failures(failures: list[str], what: str, applied: list[dict[str, Any]] | None = None) -> None:
    """ApplyFailed listing the interfaces ovs-vswitchd could not create; the transaction was
    committed, so its operations are ``applied`` and the failed step is ovs-vswitchd's."""
    if failures:
        raise ApplyFailed("%s: ovs-vswitchd could not set up %s" % (what, "; ".join(failures)),
                          interface_errors=failures, applied=list(applied or []),
                          failed_step={"action": "vswitchd_setup", "target": failures[0].split(":")[0],
                                       "errors": failures})


def ifnames(names: list[tuple[str, Any]]) -> None:
    """Validate ``(option, value)`` pairs as kernel interface names (``_canon.ifname``): every
    OVS bridge, port, bond and interface name becomes a netdev or an OpenFlow port name."""
    for option, value in names:
        if value is not None:
            _canon.ifname(value, option)


class OvsResource(Resource):
    """Base of the OVS resources: one Ovsdb connection (``database``/``timeout`` options) over
    the tables and columns the subclass lists in ``columns``, opened and closed by the engine.

    One transaction applies a plan (:meth:`commit`). :meth:`restore_desired` (used by the
    engine's rollback and a checkpoint's replay) hands :meth:`restore_target` the state to put
    back: the state read before the run, or, when this run tried a transaction and none was
    committed, the state as it is now (nothing of the run's is there to undo).
    """

    columns: dict[str, Any] = {}

    def __init__(self, params: dict[str, Any], root: str = "/") -> None:
        super().__init__(params, root)
        self.db = Ovsdb(params.get("database"), params.get("timeout"), self.columns)

    def open(self) -> None:
        self.db.open()

    def close(self) -> None:
        self.db.close()

    def commit(self, operations: list[Operation], build: Any, what: str, interfaces: list[str],
               done: list[Operation] | None = None) -> None:
        """Run ``build`` as one transaction, then wait for ovs-vswitchd to set up ``interfaces``.

        ApplyFailed names the step that failed and what was applied (``done``: steps of the run
        before the transaction): the commit (its operations not applied; ``unchanged`` when the
        run touched nothing at all, so the engine has nothing to undo), or ovs-vswitchd's work
        after it (every operation applied: the rows are in the database and are rolled back).
        """
        applied = [op.to_dict() for op in done or []]
        try:
            self.db.transact(build, what)
        except KvmnetError as exc:
            details = {k: v for k, v in exc.details.items() if k != "committed"}
            if exc.details.get("committed"):
                raise ApplyFailed(exc.msg, applied=applied + [op.to_dict() for op in operations],
                                  failed_step={"action": "vswitchd_apply", "target": what}, cause=exc.kind,
                                  **details) from exc
            raise ApplyFailed(exc.msg, applied=applied, failed_step={"action": "commit", "target": what},
                              cause=exc.kind, unchanged=not applied and not self.db.uncertain, **details) from exc
        applied += [op.to_dict() for op in operations]
        try:
            failures = interface_failures(self.db, interfaces)
        except KvmnetError as exc:
            raise ApplyFailed("%s: %s" % (what, exc.msg), applied=applied,
                              failed_step={"action": "vswitchd_setup", "target": what}, cause=exc.kind) from exc
        raise_on_failures(failures, what, applied)

    def restore_desired(self, before: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
        if self.db.attempted and not self.db.committed and not self.db.uncertain:
            before = self.read_current()
        return self.restore_target(before, desired)

    def restore_target(self, before: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
        """The desired state that puts ``before`` back (see :meth:`Resource.restore_desired`)."""
        return Resource.restore_desired(self, before, desired)
