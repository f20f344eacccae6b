# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
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
"""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Resource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import ApplyFailed, InvalidInput
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovsdb import Ovsdb, first

#: the columns every OVS resource reads or writes (registered once per run, nothing else)
PORT_COLUMNS = ["name", "interfaces", "tag", "trunks", "vlan_mode", "external_ids"]
INTERFACE_COLUMNS = ["name", "type", "options", "external_ids", "error", "ofport"]
BRIDGE_COLUMNS = ["name", "ports", "datapath_type"]


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


def clear_changes(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Changes emptying the columns of ``desired["clear"]`` that are set in ``current``."""
    return {field: {"before": current[field], "after": None}
            for field in desired.get("clear") or () if current.get(field) is not None}


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


def read_port(port: Any) -> dict[str, Any]:
    """A Port row (with its Interface rows) in canonical form."""
    ifaces = list(port.interfaces)
    main = next((i for i in ifaces if i.name == port.name), ifaces[0] if ifaces else None)
    out: dict[str, Any] = {
        "name": port.name,
        "type": "bond" if len(ifaces) > 1 else iface_type(main.type) if main is not None else None,
        "tag": first(port.tag),
        "trunks": sorted(port.trunks),
        "vlan_mode": first(port.vlan_mode),
        "external_ids": dict(port.external_ids),
    }
    if len(ifaces) <= 1 and main is not None:
        out["options"] = dict(main.options)
        out["interface_external_ids"] = dict(main.external_ids)
        out["ofport"] = first(main.ofport)
        out["error"] = first(main.error)
    else:
        out["members"] = sorted(i.name for i in ifaces)
    return out


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


def raise_on_failures(failures: list[str], what: str) -> None:
    """ApplyFailed listing the interfaces ovs-vswitchd could not create."""
    if failures:
        raise ApplyFailed("%s: ovs-vswitchd could not set up %s (the database holds the configuration; "
                          "fix the cause or remove it with state=absent)" % (what, "; ".join(failures)),
                          interface_errors=failures)


def check_port_name(value: Any, option: str) -> str:
    """Port and bridge names: non-empty strings; kernel-backed ones are also interface names."""
    if value is None or str(value) == "":
        raise InvalidInput(option, value, "is empty")
    return str(value)


class OvsResource(Resource):
    """Base of the OVS resources: one Ovsdb connection (``database``/``timeout`` options) over
    the tables and columns the subclass lists in ``columns``, opened and closed by the engine."""

    columns: dict[str, Any] = {}

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.db = Ovsdb(params.get("database"), params.get("timeout"), self.columns)

    def open(self) -> None:
        self.db.open()

    def close(self) -> None:
        self.db.close()
