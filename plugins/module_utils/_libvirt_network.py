# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The libvirt_network resource: a libvirt network of the forward modes a hypervisor uses.

A Linux bridge (``bridge``), an Open vSwitch bridge with portgroups and VLANs
(``openvswitch``), a macvtap pool over host NICs (``direct``) and a pool of SR-IOV VFs
(``hostdev``); guests attach with ``<interface type='network'><source network='N'
portgroup='P'/></interface>`` (libvirt_iface ``type: network``). The XML and its canonical
form live in ``_libvirt_network_xml``.

What changes where (libvirt 9's network update API, ``virNetworkUpdate``):

* a portgroup added, changed or removed, a device added to or removed from a macvtap pool: one
  update (section portgroup / forward-interface) each, on the persistent definition and, when the
  network is active, on the running network too (live);
* anything else (forward mode, bridge, macvtap mode, PF, the network's VLAN): the persistent
  definition is defined again (UUID and unmanaged elements kept). A running network keeps its
  old definition until restarted: with ``allow_restart`` the module stops and starts it (guests
  on it lose their connection), else it warns naming the fields that wait for the restart.

What is not mentioned is left alone: a portgroup not listed stays unless
``portgroups_exclusive``; a listed portgroup is complete (``default`` false and no VLAN unless
given); the network's ``vlan`` stays unless given.
"""

from __future__ import annotations

import os
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon, _libvirt
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt_network_xml as X
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, field_changes
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict, InvalidInput, NotFound

#: libvirt's virNetworkUpdateCommand / virNetworkUpdateSection / flags values (stable ABI)
UPDATE_COMMANDS = {"modify": 1, "delete": 2, "add": 3}
UPDATE_SECTIONS = {"forward-interface": 7, "portgroup": 9}
UPDATE_FLAGS = {"live": 1, "config": 2}
NETWORK_XML_INACTIVE = 1
#: the options that belong to one forward mode each (refused on another)
MODE_OPTIONS = (("bridge", ("bridge", "openvswitch")), ("devices", ("direct",)), ("macvtap_mode", ("direct",)),
                ("pf", ("hostdev",)), ("managed", ("hostdev",)))


# -- normalize -------------------------------------------------------------------------------
def canonical_portgroups(value: list[dict[str, Any]] | None, mode: str) -> list[dict[str, Any]] | None:
    """The ``portgroups`` option -> the canonical list (sorted by name), refusing a name given
    twice, two defaults and a VLAN on a forward mode without VLANs."""
    if value is None:
        return None
    seen: dict[str, int] = {}
    out = []
    for index, item in enumerate(value):
        option = "portgroups[%d]" % index
        name = _libvirt.object_name((item or {}).get("name"), option + ".name")
        if name in seen:
            raise InvalidInput("portgroups", name, "names portgroup %r twice (items %d and %d)"
                               % (name, seen[name], index))
        seen[name] = index
        vlan = _libvirt.canonical_vlan(item.get("vlan"), option + ".vlan") or {}
        if vlan and mode not in X.VLAN_MODES:
            raise InvalidInput(option + ".vlan", item.get("vlan"), "needs forward_mode openvswitch or hostdev "
                               "(libvirt has no VLANs on a %s network)" % mode)
        out.append({"name": name, "default": bool(item.get("default")), "vlan": vlan})
    defaults = [pg["name"] for pg in out if pg["default"]]
    if len(defaults) > 1:
        raise InvalidInput("portgroups", defaults, "has more than one default portgroup (libvirt allows one)")
    return sorted(out, key=lambda pg: pg["name"])


def target_definition(current: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
    """The whole canonical definition the run aims at: ``desired`` over ``current`` (what the
    user did not mention: the network's VLAN, unlisted portgroups unless exclusive)."""
    current = current or {}
    mode = desired["forward_mode"]
    target = {field: desired.get(field) for field in X.FIELDS}
    if mode not in X.VLAN_MODES:
        target["vlan"] = {}
    elif target["vlan"] is None:
        target["vlan"] = current.get("vlan") or {}
    wanted = desired.get("portgroups")
    if wanted is None:
        portgroups = list(current.get("portgroups") or [])
    else:
        kept = [] if desired.get("portgroups_exclusive") else [
            pg for pg in current.get("portgroups") or [] if pg["name"] not in {w["name"] for w in wanted}]
        if any(pg["default"] for pg in wanted):  # a new default takes the mark from the old one
            kept = [dict(pg, default=False) for pg in kept]
        portgroups = sorted(kept + list(wanted), key=lambda pg: pg["name"])
    target["portgroups"] = portgroups
    return target


# -- plan ------------------------------------------------------------------------------------
def plan_portgroups(have: list[dict[str, Any]], want: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """``(command, portgroup)`` updates turning ``have`` into ``want``: deletions first, then
    changes that drop a default, then the rest (libvirt refuses two defaults at any time)."""
    have_by = {pg["name"]: pg for pg in have}
    want_by = {pg["name"]: pg for pg in want}
    out = [("delete", have_by[name]) for name in sorted(have_by) if name not in want_by]
    changes = [("modify" if name in have_by else "add", want_by[name]) for name in sorted(want_by)
               if have_by.get(name) != want_by[name]]
    return out + sorted(changes, key=lambda c: c[1]["default"])


def plan_updates(have: dict[str, Any], want: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """``(section, command, item)`` network updates turning the definition ``have`` into ``want``
    for what libvirt updates in place: portgroups (item: the portgroup), and the devices of a
    macvtap pool that stays one (item: the device; additions first, a pool is never empty)."""
    updates: list[tuple[str, str, Any]] = [("portgroup", command, pg)
                                           for command, pg in plan_portgroups(have["portgroups"], want["portgroups"])]
    if devices_updatable(have, want):
        updates += [("forward-interface", "add", dev) for dev in want["devices"] if dev not in have["devices"]]
        updates += [("forward-interface", "delete", dev) for dev in have["devices"] if dev not in want["devices"]]
    return updates


def devices_updatable(have: dict[str, Any] | None, want: dict[str, Any] | None) -> bool:
    """A macvtap pool's devices change by network update (virNetworkUpdate section
    forward-interface, live too) while it stays a macvtap pool."""
    return bool(have and want) and have["forward_mode"] == want["forward_mode"] == "direct"


def needs_redefinition(have: dict[str, Any] | None, want: dict[str, Any] | None) -> list[str]:
    """The fields of ``want`` that differ from ``have`` and no network update changes (a
    definition, or a running network's restart)."""
    if not have or not want:
        return []
    changes = field_changes(have, want, X.FIELDS)
    return sorted(f for f in changes if not (f == "devices" and devices_updatable(have, want)))


def plan_network(current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Operation]:
    """The operations turning ``current`` (read_current's shape) into ``desired`` (normalize's,
    or restore_desired's for a rollback), one libvirt call each."""
    name = desired["name"]
    if desired["state"] == "absent":
        if current is None:
            return []
        return ([Operation("stop", name)] if current["active"] else []) + [Operation("undefine", name)]
    restore = desired.get("restore")
    if current is not None and current["forward_mode"] not in X.FORWARD_MODES and restore is None:
        raise Conflict("name: network %r exists with forward mode %s, which this module does not manage; pick "
                       "another name" % (name, current["forward_mode"]))
    target = restore["definition"] if restore else target_definition(current, desired)
    ops: list[Operation] = []
    active = bool(current and current["active"])
    running = current.get("running") if active and desired.get("active") is not False else None
    live_target = restore["running"] if restore else target
    live_restart = needs_redefinition(running, live_target)
    restart = bool(live_restart) and (bool(desired.get("allow_restart")) or restore is not None)
    redefine = needs_redefinition(current, target)
    base_xml = current.get("xml") if current else None
    config_updates: list[tuple[str, str, Any]] = []
    if current is None or redefine or (restore and current.get("xml") != restore["xml"]
                                       and (redefine or plan_updates(current, target))):
        changes = field_changes(current, target, X.FIELDS) if current else {}
        if current is not None and current["portgroups"] != target["portgroups"]:
            changes["portgroups"] = {"before": current["portgroups"], "after": target["portgroups"]}
        if live_restart and not restart:
            changes["restart_needed"] = {"before": False, "after": True}
        xml = restore["xml"] if restore else X.render_network(name, target, base_xml)
        ops.append(Operation("define", name, changes=changes, xml=xml))
    else:
        config_updates = plan_updates(current, target)
    # a running network that waits for a restart gets everything then: updating it live in the
    # meantime could ask the old network for what only the new one takes (a VLAN on a Linux bridge)
    live_updates = plan_updates(running, live_target) if running and live_target and not live_restart else []
    ops += _update_operations(name, current, config_updates, live_updates, base_xml)
    if restart:
        ops += [Operation("stop", name, changes={"restart": {"before": None, "after": live_restart}}),
                Operation("start", name)]
    want_active = desired.get("active")
    if want_active is not None and active != want_active:
        ops.append(Operation("start" if want_active else "stop", name))
    want_autostart = desired.get("autostart")
    have_autostart = bool(current and current["autostart"])
    if want_autostart is not None and have_autostart != want_autostart:
        ops.append(Operation("autostart", name, changes={"autostart": {"before": have_autostart,
                                                                       "after": want_autostart}}))
    return ops


def _update_operations(name: str, current: dict[str, Any] | None, config_updates: list[tuple[str, str, Any]],
                       live_updates: list[tuple[str, str, Any]], base_xml: str | None) -> list[Operation]:
    """One ``update`` per portgroup or device change, with the views (``config``, ``live``) it
    applies to: the same change in both views is one call."""
    base = _libvirt.parse_xml(base_xml) if base_xml else None
    have = {pg["name"]: pg for pg in (current or {}).get("portgroups") or []}
    running = {pg["name"]: pg for pg in ((current or {}).get("running") or {}).get("portgroups") or []}
    merged: list[tuple[tuple[str, str, Any], list[str]]] = []
    for view, updates in (("config", config_updates), ("live", live_updates)):
        for update in updates:
            for entry in merged:
                if entry[0] == update:
                    entry[1].append(view)
                    break
            else:
                merged.append((update, [view]))
    ops = []
    for (section, command, item), views in merged:
        if section == "forward-interface":
            changes = {"device %s" % item: {"before": None if command == "add" else item,
                                            "after": item if command == "add" else None}}
            xml = _libvirt.etree.tostring(_libvirt.etree.Element("interface", dev=item), encoding="unicode")
        else:
            elem = X.find_portgroup(base, item["name"]) if base is not None else None
            xml = X.portgroup_xml(dict(item, default=False, vlan={}) if command == "delete" else item, elem)
            before = None if command == "add" else (have if "config" in views else running).get(item["name"])
            changes = {"portgroup %s" % item["name"]: {"before": before, "after": None if command == "delete" else item}}
        ops.append(Operation("update", name, changes=changes, command=command, section=section, flags=views, xml=xml))
    return ops


class LibvirtNetworkResource(X.NetworkResource):
    """A libvirt network: bridge, openvswitch, direct (macvtap) or hostdev (VF pool)."""

    # -- normalize ------------------------------------------------------------------------
    def normalize(self) -> dict[str, Any]:
        p = self.params
        name = _libvirt.object_name(p.get("name"), "name")
        state = p.get("state") or "present"
        desired: dict[str, Any] = {"name": name, "state": state, "active": p.get("active"),
                                   "autostart": p.get("autostart"), "allow_restart": bool(p.get("allow_restart")),
                                   "portgroups_exclusive": bool(p.get("portgroups_exclusive"))}
        if state == "absent":
            for option in ("active", "autostart"):
                if p.get(option):
                    raise InvalidInput(option, True, "contradicts state=absent (an absent network is neither "
                                                     "active nor autostarted); drop %s or use state=present" % option)
            return desired
        mode = p.get("forward_mode")
        if mode not in X.FORWARD_MODES:
            raise InvalidInput("forward_mode", mode, "is required with state=present: one of %s"
                               % ", ".join(X.FORWARD_MODES))
        for option, modes in MODE_OPTIONS:
            if p.get(option) is not None and mode not in modes:
                raise InvalidInput(option, p[option], "applies to forward_mode %s only (forward_mode is %s)"
                                   % (" or ".join(modes), mode))
        desired.update({k: None for k in X.FIELDS}, forward_mode=mode)
        if mode in ("bridge", "openvswitch"):
            if not p.get("bridge"):
                raise InvalidInput("bridge", p.get("bridge"), "is required with forward_mode %s (the existing "
                                   "bridge guests are plugged into)" % mode)
            desired["bridge"] = _canon.ifname(p["bridge"], "bridge")
        elif mode == "direct":
            desired["devices"] = self._devices(p.get("devices"))
            desired["macvtap_mode"] = p.get("macvtap_mode") or "bridge"
            if desired["macvtap_mode"] not in X.MACVTAP_MODES:
                raise InvalidInput("macvtap_mode", desired["macvtap_mode"], "is not one of %s"
                                   % ", ".join(X.MACVTAP_MODES))
        else:
            if not p.get("pf"):
                raise InvalidInput("pf", p.get("pf"), "is required with forward_mode hostdev (the PF netdev)")
            desired["pf"] = _canon.ifname(p["pf"], "pf")
            desired["managed"] = p.get("managed") if p.get("managed") is not None else True
        vlan = _libvirt.canonical_vlan(p.get("vlan"))
        if vlan and mode not in X.VLAN_MODES:
            raise InvalidInput("vlan", p.get("vlan"), "needs forward_mode openvswitch or hostdev (libvirt has no "
                               "VLANs on a %s network)" % mode)
        desired["vlan"] = vlan
        desired["portgroups"] = canonical_portgroups(p.get("portgroups"), mode)
        return desired

    @staticmethod
    def _devices(value: list[str] | None) -> list[str]:
        if not value:
            raise InvalidInput("devices", value, "is required with forward_mode direct (the host NICs the "
                               "macvtaps go over)")
        devices = [_canon.ifname(dev, "devices") for dev in value]
        for dev in devices:
            if devices.count(dev) > 1:
                raise InvalidInput("devices", dev, "is listed twice")
        return sorted(devices)

    # -- read ------------------------------------------------------------------------------
    def read_current(self) -> dict[str, Any] | None:
        net = self._lookup()
        if net is None:
            return None
        what = "network %r" % self.params["name"]
        xml = _libvirt.to_string(_libvirt.parse_xml(self.virt.call(what, net.XMLDesc, NETWORK_XML_INACTIVE)))
        current = X.parse_network(_libvirt.parse_xml(xml))
        active = bool(self.virt.call(what, net.isActive))
        current.update(name=self.params["name"], active=active, autostart=bool(self.virt.call(what, net.autostart)),
                       xml=xml, running=None, running_xml=None)
        if active:
            live = _libvirt.to_string(_libvirt.parse_xml(self.virt.call(what, net.XMLDesc, 0)))
            running = X.parse_network(_libvirt.parse_xml(live))
            running.pop("uuid")
            current.update(running=running, running_xml=live)
        return current

    # -- plan ------------------------------------------------------------------------------
    def plan(self, current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Operation]:
        ops = plan_network(current, desired)
        if ops and desired["state"] == "present" and desired.get("restore") is None:
            self._require_host_devices(current, desired)
        return ops

    def _require_host_devices(self, current: dict[str, Any] | None, desired: dict[str, Any]) -> None:
        """NotFound naming the option when a bridge, device or PF the plan newly names is no
        network interface of libvirt's host: libvirt defines (and even starts a bridge network)
        on any name, and guests fail later."""
        current = current or {}
        names = [("bridge", desired["bridge"])] if desired["bridge"] else []
        names += [("devices", dev) for dev in desired["devices"] or [] if dev not in (current.get("devices") or [])]
        names += [("pf", desired["pf"])] if desired["pf"] else []
        for option, name in names:
            if current.get(option) == name:
                continue
            if not self._host_has_interface(name):
                raise NotFound("%s: %r is not a network interface on libvirt's host (%s); create it first, nothing "
                               "was defined" % (option, name, self.virt.uri))

    def _host_has_interface(self, name: str) -> bool:
        """libvirt's interface driver knows ``name``, or (no answer from it) this host's sysfs has it."""
        try:
            self.virt.conn.interfaceLookupByName(name)
            return True
        except _libvirt.libvirt.libvirtError:
            # not found, or no interface driver: a netcf backend knows only configured interfaces
            return os.path.exists(self.host_path("/sys/class/net/" + name))

    def restore_desired(self, before: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
        """Absent when it did not exist; else its persistent definition exactly as read, the
        running network's portgroups (or the whole running definition, by a restart, when the
        run restarted it), active and autostart as they were."""
        if before is None:
            return {"name": desired["name"], "state": "absent"}
        definition = {k: before[k] for k in X.FIELDS + ("portgroups",)}
        return {"name": before["name"], "state": "present", "active": before["active"],
                "autostart": before["autostart"], "allow_restart": True,
                "restore": {"definition": definition, "xml": before["xml"], "running": before.get("running")}}

    # -- apply -----------------------------------------------------------------------------
    def apply_operation(self, op: Operation) -> None:
        net = self.apply_network_operation(op, "network %r: %s" % (op.target, op.describe().split(" ", 1)[0]))
        if op.action == "update":
            flags = sum(UPDATE_FLAGS[view] for view in op.params["flags"])
            self.virt.call("network %r: %s %s %s (%s)" % (op.target, op.params["command"], op.params["section"],
                                                          op.params["xml"], "+".join(op.params["flags"])),
                           net.update, UPDATE_COMMANDS[op.params["command"]], UPDATE_SECTIONS[op.params["section"]],
                           -1, op.params["xml"], flags)

    def predict(self, current: dict[str, Any] | None, desired: dict[str, Any],
                operations: list[Operation]) -> dict[str, Any] | None:
        if desired["state"] == "absent":
            return None
        target = target_definition(current, desired)
        after = dict(current or {"name": desired["name"], "uuid": None, "active": False, "autostart": False,
                                 "running": None, "running_xml": None})
        after.update(target)
        running = dict(after["running"]) if after.get("running") else None
        for op in operations:
            if op.action == "define":
                after["xml"] = op.params["xml"]
            elif op.action == "update":
                if "live" in op.params["flags"] and running is not None:
                    running.update(portgroups=target["portgroups"], devices=target["devices"])
                if "config" in op.params["flags"]:
                    after["xml"] = X.render_network(desired["name"], target, after.get("xml"))
            elif op.action == "start":
                after["active"] = True
                running = {k: target[k] for k in X.FIELDS + ("portgroups",)}
            elif op.action == "stop":
                after["active"], running = False, None
            elif op.action == "autostart":
                after["autostart"] = op.changes["autostart"]["after"]
        after["running"] = running
        after["running_xml"] = X.render_network(desired["name"], running, after.get("xml")) if running else None
        return after

    # -- report ----------------------------------------------------------------------------
    def diff_view(self, state: dict[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, str]]:
        """The persistent definition and the running network are documents of their own."""
        fields, texts = super().diff_view(state)
        if fields is not None:
            for key, title in (("xml", "persistent definition"), ("running_xml", "running network")):
                text = fields.pop(key, None)
                if text is not None:
                    texts["%s (%s)" % (self.diff_header(), title)] = text
        return fields, texts

    @staticmethod
    def pending_restart(after: dict[str, Any] | None) -> list[str]:
        """The fields in which the running network differs from its persistent definition."""
        if not after or not after.get("running"):
            return []
        running = after["running"]
        return sorted(f for f in X.FIELDS + ("portgroups",) if running.get(f) != after.get(f))

    def warnings(self, after: dict[str, Any] | None, operations: list[Operation]) -> list[str]:
        """A new definition of an active network waits for its restart, which the module only
        does with allow_restart."""
        pending = self.pending_restart(after)
        if not pending:
            return []
        name = self.params["name"]
        return ["network %s is active and runs its old definition (%s) until it is restarted: run again with "
                "allow_restart: true, or virsh net-destroy %s; virsh net-start %s. The restart disconnects the "
                "guests on it (their interfaces need a reconnect or a domain restart)"
                % (name, ", ".join(pending), name, name)]

    def extra_results(self, after: dict[str, Any] | None) -> dict[str, Any]:
        return {"pending_restart": bool(self.pending_restart(after))}
