# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ovs_patch resource: join two Open vSwitch bridges (pattern 10).

Two ways, as in the book:

* ``link_type: patch``: a pair of patch ports, each with ``options:peer`` naming the other,
  created in one OVSDB transaction (no kernel device at all).
* ``link_type: veth``: a veth pair created over netlink (``ip link add ... type veth``), both
  ends up, one end added to each bridge (one OVSDB transaction).

``state: absent`` removes both ends (and the veth pair). Switching an existing link between
patch and veth is planned as port modifications plus creating/deleting the veth.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    ApplyFailed,
    Conflict,
    InvalidInput,
    KvmnetError,
    NotFound,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._netlink import Netlink
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_bridge import (
    COLUMNS,
    new_port,
    plan_port,
    touched_interfaces,
    write_operations,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_common import (
    OvsResource, read_port, restore_port,
)

LINK_TYPES = ("patch", "veth")
DEFAULT_LINK_TYPE = "patch"


def normalize_patch(params: dict[str, Any]) -> dict[str, Any]:
    """Module parameters -> canonical desired link (ports default to ``<bridge>-to-<peer>``)."""
    bridge = params.get("bridge")
    peer_bridge = params.get("peer_bridge")
    if not bridge:
        raise InvalidInput("bridge", bridge, "is required")
    if not peer_bridge:
        raise InvalidInput("peer_bridge", peer_bridge, "is required")
    _canon.ifname(bridge, "bridge")
    _canon.ifname(peer_bridge, "peer_bridge")
    if bridge == peer_bridge:
        raise InvalidInput("peer_bridge", peer_bridge, "is the same bridge as bridge; a patch joins two bridges")
    link_type = params.get("link_type") or DEFAULT_LINK_TYPE
    if link_type not in LINK_TYPES:
        raise InvalidInput("link_type", link_type, "is not patch or veth")
    port = params.get("port")
    peer_port = params.get("peer_port")
    port = "%s-to-%s" % (bridge, peer_bridge) if port is None else port
    peer_port = "%s-to-%s" % (peer_bridge, bridge) if peer_port is None else peer_port
    for option, name in (("port", port), ("peer_port", peer_port)):
        size = len(str(name).encode("utf-8"))
        if params.get(option) is None and size >= _canon.IFNAMSIZ:
            raise InvalidInput(option, name, "(made from bridge and peer_bridge) is %d bytes long; port names are "
                               "interface names, at most 15 bytes: give %s" % (size, option))
        _canon.ifname(name, option)
    if port == peer_port:
        raise InvalidInput("peer_port", peer_port, "is the same name as port")
    # checked whatever link_type: a patch link does not use it, but a wrong one is still a mistake
    _canon.netns_name(params.get("netns"))
    return {"bridge": bridge, "peer_bridge": peer_bridge, "port": str(port), "peer_port": str(peer_port),
            "link_type": link_type, "state": params.get("state") or "present"}


def restore_patch(before: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
    """The desired state that puts ``before`` back (None: absent): ``restore`` holds the ends
    as read (each a desired port, see _ovs_common.restore_port) and the veth kind."""
    if before is None:
        return dict(desired, state="absent")
    peers = {desired["port"]: desired["peer_port"], desired["peer_port"]: desired["port"]}
    mentioned = {name: {"options": {"peer": peers[name]}} if desired.get("link_type") == "patch" else None
                 for name in peers}
    ends = {name: dict(restore_port(end, mentioned.get(name)), bridge=end["bridge"])
            for name, end in (before.get("ends") or {}).items()}
    return dict(desired, state="present", restore={"ends": ends, "veth": before.get("veth")})


def plan_restore(current: dict[str, Any], target: dict[str, Any]) -> list[Operation]:
    """Operations putting back the ends and veth of ``target["restore"]``. Pure."""
    have = current.get("ends") or {}
    want = target["restore"]["ends"]
    ops: list[Operation] = []
    if target["restore"]["veth"] == "veth" and current.get("veth") is None:
        ops.append(Operation("create_veth", target["port"], peer=target["peer_port"]))
    for name in (target["port"], target["peer_port"]):
        end, now = want.get(name), have.get(name)
        if now is not None and (end is None or now["bridge"] != end["bridge"]):
            ops.append(Operation("delete_port", name, bridge=now["bridge"]))
            now = None
        if end is None:
            continue
        if now is None:
            ops.append(new_port(end, end["bridge"]))
        else:
            op = plan_port(dict(now, bridge=end["bridge"]), end)
            if op is not None:
                ops.append(op)
    if target["restore"]["veth"] is None and current.get("veth") == "veth":
        ops.append(Operation("delete_veth", target["port"], peer=target["peer_port"]))
    return ops


def plan_patch(current: dict[str, Any], desired: dict[str, Any]) -> list[Operation]:
    """Operations turning ``current`` into ``desired``. Pure.

    ``current`` has ``ends`` (port name -> canonical port with ``bridge``, or missing) and
    ``veth`` (kernel link kind of ``port``: ``veth``, another kind, or None). A ``desired``
    with ``restore`` (a rollback's, see restore_patch) is planned by plan_restore.
    """
    if desired["state"] == "present" and desired.get("restore") is not None:
        return plan_restore(current, desired)
    ends = current.get("ends") or {}
    pairs = ((desired["port"], desired["bridge"], desired["peer_port"]),
             (desired["peer_port"], desired["peer_bridge"], desired["port"]))
    ops: list[Operation] = []
    if desired["state"] == "absent":
        for name, _bridge, _peer in pairs:
            if name in ends:
                ops.append(Operation("delete_port", name, bridge=ends[name]["bridge"]))
        if current.get("veth") == "veth":
            ops.append(Operation("delete_veth", desired["port"], peer=desired["peer_port"]))
        return ops
    veth = desired["link_type"] == "veth"
    if veth and current.get("veth") is None:
        ops.append(Operation("create_veth", desired["port"], peer=desired["peer_port"]))
    elif veth and current.get("veth") != "veth":
        raise Conflict("port: %r exists in the kernel as a %s link, not a veth" % (desired["port"], current["veth"]))
    for name, bridge, peer in pairs:
        have = ends.get(name)
        want_type = "system" if veth else "patch"
        want_options = {} if veth else {"peer": peer}
        if have is None:
            params: dict[str, Any] = {"bridge": bridge, "type": want_type}
            if want_options:
                params["options"] = want_options
            ops.append(Operation("add_port", name, **params))
            continue
        if have["bridge"] != bridge:
            raise Conflict("port %r is on bridge %r, not %r; remove it there first" % (name, have["bridge"], bridge))
        changes = {}
        if have.get("type") != want_type:
            changes["type"] = {"before": have.get("type"), "after": want_type}
        options = dict(have.get("options") or {})
        merged = dict(options)
        merged.pop("peer", None)
        merged.update(want_options)
        if merged != options:
            changes["options"] = {"before": options, "after": merged}
        if changes:
            ops.append(Operation("modify_port", name, changes=changes, bridge=bridge))
    if not veth and current.get("veth") == "veth":
        ops.append(Operation("delete_veth", desired["port"], peer=desired["peer_port"]))
    return ops


class OvsPatchResource(OvsResource):
    """A patch-port pair or a veth pair joining two OVS bridges."""

    columns = COLUMNS

    def __init__(self, params: dict[str, Any], root: str = "/") -> None:
        super().__init__(params, root)
        self.nl = Netlink(params.get("netns"))
        self._desired: dict[str, Any] = {}
        #: a veth was seen in this run: keep reading the kernel link (a rollback may need it back)
        self._veth_seen = False

    def close(self) -> None:
        super().close()
        self.nl.close()

    def diff_header(self) -> str:
        return "ovs link %s <-> %s" % (self.params.get("bridge"), self.params.get("peer_bridge"))

    def normalize(self) -> dict[str, Any]:
        self._desired = normalize_patch(self.params)
        return self._desired

    def _veth_kind(self, name: str) -> str | None:
        self.nl.open()
        link = self.nl.link(name)
        return None if link is None else (link.get("kind") or "device")

    def read_current(self) -> dict[str, Any] | None:
        self.db.refresh()
        d = self._desired
        where = self.db.bridge_of_port()
        ports = self.db.by_name("Port")
        ends = {}
        for name in (d["port"], d["peer_port"]):
            if name in ports and name in where:
                ends[name] = dict(read_port(ports[name]), bridge=where[name])
        kind = None
        if d["link_type"] == "veth" or self._veth_seen or any(e.get("type") == "system" for e in ends.values()):
            kind = self._veth_kind(d["port"])
            self._veth_seen = self._veth_seen or kind == "veth"
        if not ends and kind is None:
            return None
        return {"bridge": d["bridge"], "peer_bridge": d["peer_bridge"], "ends": ends, "veth": kind}

    def plan(self, current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Operation]:
        if desired["state"] == "present":
            bridges = self.db.by_name("Bridge")
            for option in ("bridge", "peer_bridge"):
                if desired[option] not in bridges:
                    raise NotFound("%s: %r does not exist (create it with kvmnet.hypervisor.ovs_bridge)"
                                   % (option, desired[option]))
        return plan_patch(current or {}, desired)

    def predict(self, current: dict[str, Any] | None, desired: dict[str, Any],
                operations: list[Operation]) -> dict[str, Any] | None:
        if desired["state"] == "absent":
            return None
        veth = desired["link_type"] == "veth"
        ends = {}
        for name, bridge, peer in ((desired["port"], desired["bridge"], desired["peer_port"]),
                                   (desired["peer_port"], desired["peer_bridge"], desired["port"])):
            ends[name] = {"name": name, "bridge": bridge, "type": "system" if veth else "patch",
                          "options": {} if veth else {"peer": peer}}
        return {"bridge": desired["bridge"], "peer_bridge": desired["peer_bridge"], "ends": ends,
                "veth": "veth" if veth else None}

    def restore_target(self, before: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
        return restore_patch(before, desired)

    def _create_veth(self, op: Operation) -> None:
        self.nl.open()
        self.nl.add_link(op.target, "veth", peer=op.params["peer"])
        for name in (op.target, op.params["peer"]):
            self.nl.set_link(self.nl.index(name), "bringing %s up" % name, state="up")

    def _delete_veth(self, op: Operation) -> None:
        self.nl.open()
        index = self.nl.index(op.target)
        if index is not None:
            self.nl.del_link(index, "deleting veth %s" % op.target)

    def apply(self, operations: list[Operation]) -> None:
        """Steps: create the veth, one transaction for the ports, delete the veth; a failure
        says which step failed and what was applied (the engine then rolls back)."""
        applied: list[Operation] = []

        def step(op: Operation, action: Any) -> None:
            try:
                action(op)
            except KvmnetError as exc:
                raise ApplyFailed("%s failed: %s" % (op.describe(), exc.msg), applied=[a.to_dict() for a in applied],
                                  failed_step=op.to_dict(), cause=exc.kind) from exc
            applied.append(op)

        for op in operations:
            if op.action == "create_veth":
                step(op, self._create_veth)
        db_ops = [op for op in operations if op.action in ("add_port", "modify_port", "delete_port")]
        what = "link %s <-> %s" % (self.params["bridge"], self.params["peer_bridge"])
        if db_ops:
            self.commit(db_ops, lambda txn, db: write_operations(txn, db, db_ops, what), what,
                        touched_interfaces(db_ops), done=applied)
            applied.extend(db_ops)
        for op in operations:
            if op.action == "delete_veth":
                step(op, self._delete_veth)
