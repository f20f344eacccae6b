# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""VLANs of a VLAN-aware Linux bridge (``bridge vlan``): pure model, validation and planning.

Shapes (one fact, one home; linux_bridge and libvirt_iface both use them):

* a VLAN list as written by a user: ``"100-110,200"``, ``[100, "200-210"]``, ``10``; canonical
  as a sorted tuple of VLAN ids, printed back in the first form (:func:`format_vids`).
* a port's VLANs as the kernel holds them (a *view*): ``{"pvid": vid or 0, "vids": {vid:
  untagged}}``; at most one VLAN is the PVID (what untagged frames coming in are put in),
  each VLAN is sent out tagged or untagged.
* a port's VLANs as module input and output (an *entry*): ``{"pvid", "untagged", "tagged"}``
  with ``pvid`` 0 for none and the two lists as text; the PVID is one of the listed VLANs.
  In a desired entry a None field is "not mentioned": the PVID is left as it is, and with
  ``vlans_exclusive`` off VLANs not listed stay.

The kernel's rules the planner follows (net/bridge/br_vlan.c): re-adding a VLAN replaces its
flags (so a VLAN listed as tagged loses ``untagged``); a port or the bridge has one PVID;
a port that joins gets the bridge's default PVID (pvid untagged); changing the default PVID
moves every port (and the bridge itself) whose PVID is still the old default, pvid untagged,
and that does not have the new one yet (:func:`project_default_pvid`).
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import InvalidInput

VID_MIN = 1
VID_MAX = 4094
_RANGE = re.compile(r"([0-9]+)(?:-([0-9]+))?")

#: BRIDGE_VLAN_INFO_* flags (include/uapi/linux/if_bridge.h) and BRIDGE_FLAGS_SELF
FLAG_MASTER = 0x1
FLAG_PVID = 0x2
FLAG_UNTAGGED = 0x4
FLAG_RANGE_BEGIN = 0x8
FLAG_RANGE_END = 0x10
FLAG_BRENTRY = 0x20
BRIDGE_FLAGS_SELF = 0x2


def parse_vids(value: Any, option: str) -> tuple[int, ...]:
    """``"100-110,200"`` / ``[100, "200-210"]`` / ``10`` -> sorted VLAN ids. Refuses, naming
    ``option``: an id outside 1-4094 (0 and 4095 are reserved by 802.1Q), a reversed range,
    ranges or ids given twice (overlapping), text that is not a list of ids and ranges."""
    if value is None:
        return ()
    items = value if isinstance(value, (list, tuple)) else [value]
    parts: list[str] = []
    for item in items:
        if isinstance(item, bool):
            raise InvalidInput(option, value, "is not a VLAN list (ids and ranges like \"100-110,200\")")
        parts += [p.strip() for p in str(item).split(",") if p.strip() or len(items) > 1]
    seen: dict[int, str] = {}
    for part in parts:
        match = _RANGE.fullmatch(part)
        if not match:
            raise InvalidInput(option, value, "is not a VLAN list (ids and ranges like \"100-110,200\"; "
                                              "found %r)" % part)
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        for vid in (first, last):
            if not VID_MIN <= vid <= VID_MAX:
                raise InvalidInput(option, value, "holds VLAN %d: 802.1Q VLAN ids are 1-4094 (0 and 4095 "
                                                  "are reserved)" % vid)
        if last < first:
            raise InvalidInput(option, value, "holds the reversed range %s (write %d-%d)" % (part, last, first))
        for vid in range(first, last + 1):
            if vid in seen:
                raise InvalidInput(option, value, "holds VLAN %d twice (%s overlaps %s)" % (vid, part, seen[vid]))
            seen[vid] = part
    return tuple(sorted(seen))


def runs(vids: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive VLAN ids as ``[(first, last)]``."""
    out: list[tuple[int, int]] = []
    for vid in sorted(vids):
        if out and vid == out[-1][1] + 1:
            out[-1] = (out[-1][0], vid)
        else:
            out.append((vid, vid))
    return out


def format_vids(vids: Iterable[int]) -> str:
    """Sorted VLAN ids as ``"1,100-110,200"`` (``""`` for none)."""
    return ",".join(str(a) if a == b else "%d-%d" % (a, b) for a, b in runs(vids))


def normalize_entry(raw: dict[str, Any], option: str) -> dict[str, Any]:
    """A desired entry (``pvid``, ``untagged``, ``tagged``) checked and canonical:
    ``{"pvid": int or None, "untagged": tuple or None, "tagged": tuple or None}``."""
    untagged = parse_vids(raw.get("untagged"), option + ".untagged") if raw.get("untagged") is not None else None
    tagged = parse_vids(raw.get("tagged"), option + ".tagged") if raw.get("tagged") is not None else None
    both = sorted(set(untagged or ()) & set(tagged or ()))
    if both:
        plural = "s" if len(both) > 1 else ""
        raise InvalidInput(option + ".tagged", raw.get("tagged"), "overlaps %s.untagged in VLAN%s %s (a VLAN leaves "
                           "a port either tagged or untagged)" % (option, plural, format_vids(both)))
    pvid = raw.get("pvid")
    if pvid is not None:
        if isinstance(pvid, bool) or not isinstance(pvid, int) or not 0 <= pvid <= VID_MAX:
            raise InvalidInput(option + ".pvid", pvid, "is not a VLAN id (1-4094, or 0 for no PVID)")
        if pvid and pvid not in set(untagged or ()) | set(tagged or ()):
            raise InvalidInput(option + ".pvid", pvid, "is not one of the VLANs in %s.untagged or %s.tagged "
                               "(list it there: untagged for an access port)" % (option, option))
    return {"pvid": pvid, "untagged": untagged, "tagged": tagged}


def view_from_flags(entries: Iterable[tuple[int, int]]) -> dict[str, Any]:
    """A view from the kernel's ``(vid, flags)`` pairs (uncompressed dump: one per VLAN)."""
    view: dict[str, Any] = {"pvid": 0, "vids": {}}
    for vid, flags in entries:
        view["vids"][vid] = bool(flags & FLAG_UNTAGGED)
        if flags & FLAG_PVID:
            view["pvid"] = vid
    return view


def empty_view() -> dict[str, Any]:
    """A port without VLANs."""
    return {"pvid": 0, "vids": {}}


def entry_of(view: dict[str, Any]) -> dict[str, Any]:
    """The entry (module output) of a view."""
    vids = view["vids"]
    return {"pvid": view["pvid"] if view["pvid"] in vids else 0,
            "untagged": format_vids(v for v, u in vids.items() if u),
            "tagged": format_vids(v for v, u in vids.items() if not u)}


def view_of(entry: dict[str, Any]) -> dict[str, Any]:
    """The view of an entry as read or written (``pvid``, ``untagged``, ``tagged`` text)."""
    vids = {v: True for v in parse_vids(entry["untagged"] or None, "untagged")}
    vids.update({v: False for v in parse_vids(entry["tagged"] or None, "tagged")})
    return {"pvid": entry["pvid"] or 0, "vids": vids}


def copy_view(view: dict[str, Any]) -> dict[str, Any]:
    """A copy to change."""
    return {"pvid": view["pvid"], "vids": dict(view["vids"])}


def plan_view(have: dict[str, Any], want: dict[str, Any], exclusive: bool) -> tuple[list[dict[str, Any]], list[int]]:
    """What makes port view ``have`` match desired entry ``want``: ``(add, delete)``, ``add`` a
    list of ``{"vid", "pvid", "untagged"}`` (sent with those flags: re-adding replaces them),
    ``delete`` VLAN ids. VLANs not listed stay unless ``exclusive``; a None PVID keeps it."""
    untagged = set(want["untagged"] or ())
    listed = untagged | set(want["tagged"] or ())
    delete = sorted(v for v in have["vids"] if v not in listed) if exclusive else []
    pvid = have["pvid"] if want["pvid"] is None else want["pvid"]
    add = []
    for vid in sorted(listed):
        flags = {"vid": vid, "pvid": vid == pvid, "untagged": vid in untagged}
        if have["vids"].get(vid) != flags["untagged"] or (have["pvid"] == vid) != flags["pvid"]:
            add.append(flags)
    old = have["pvid"]
    if want["pvid"] == 0 and old and old in have["vids"] and old not in listed and old not in delete:
        # no PVID wanted: the VLAN that is the PVID now is sent again without the flag
        add.append({"vid": old, "pvid": False, "untagged": have["vids"][old]})
    return add, delete


def apply_view(view: dict[str, Any], add: list[dict[str, Any]], delete: Iterable[int]) -> dict[str, Any]:
    """``view`` after ``add`` then ``delete``, as the kernel does them (for prediction)."""
    out = copy_view(view)
    for item in add:
        out["vids"][item["vid"]] = item["untagged"]
        if item["pvid"]:
            out["pvid"] = item["vid"]
        elif out["pvid"] == item["vid"]:
            out["pvid"] = 0
    for vid in delete:
        out["vids"].pop(vid, None)
        if out["pvid"] == vid:
            out["pvid"] = 0
    return out


def _is_default(view: dict[str, Any], vid: int) -> bool:
    """The kernel's vlan_default_pvid(): ``vid`` is the PVID and egresses untagged."""
    return bool(vid) and view["pvid"] == vid and view["vids"].get(vid) is True


def project_default_pvid(views: dict[str, dict[str, Any]], old: int, new: int) -> None:
    """Change ``views`` (the ports' and the bridge's own, by name) in place as the kernel does
    when the bridge's default PVID goes from ``old`` to ``new`` (0: none); the bridge's own
    VLANs follow the same rule as a port's."""
    if old == new:
        return
    for view in views.values():
        if not new:
            if _is_default(view, old):
                del view["vids"][old]
                view["pvid"] = 0
            continue
        if (old and not _is_default(view, old)) or new in view["vids"]:
            continue
        view["vids"][new] = True
        view["pvid"] = new
        if old:
            view["vids"].pop(old, None)


def group_adds(add: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``add`` items as ``{"vids": "100-110", "pvid", "untagged"}``: consecutive VLANs with the same
    flags in one range (a PVID alone), the form of an operation and of a ``bridge vlan add`` line."""
    out: list[dict[str, Any]] = []
    for item in sorted(add, key=lambda i: i["vid"]):
        last = out[-1] if out else None
        if last and not item["pvid"] and not last["pvid"] and last["untagged"] == item["untagged"] \
                and last["vids"][-1] == item["vid"] - 1:
            last["vids"].append(item["vid"])
        else:
            out.append({"vids": [item["vid"]], "pvid": item["pvid"], "untagged": item["untagged"]})
    return [dict(g, vids=format_vids(g["vids"])) for g in out]


def vlan_info_attrs(add: list[dict[str, Any]]) -> list[list[Any]]:
    """``IFLA_BRIDGE_VLAN_INFO`` attributes for ``add`` (or for a delete: items without flags),
    consecutive VLANs with the same flags sent as one range (a PVID never is a range)."""
    attrs: list[list[Any]] = []
    groups: list[tuple[int, int, int]] = []
    for item in sorted(add, key=lambda i: i["vid"]):
        flags = (FLAG_PVID if item.get("pvid") else 0) | (FLAG_UNTAGGED if item.get("untagged") else 0)
        if groups and not flags & FLAG_PVID and groups[-1][2] == flags and groups[-1][1] == item["vid"] - 1:
            groups[-1] = (groups[-1][0], item["vid"], flags)
        else:
            groups.append((item["vid"], item["vid"], flags))
    for first, last, flags in groups:
        if first == last:
            attrs.append(["IFLA_BRIDGE_VLAN_INFO", {"flags": flags, "vid": first}])
        else:
            attrs.append(["IFLA_BRIDGE_VLAN_INFO", {"flags": flags | FLAG_RANGE_BEGIN, "vid": first}])
            attrs.append(["IFLA_BRIDGE_VLAN_INFO", {"flags": flags | FLAG_RANGE_END, "vid": last}])
    return attrs
