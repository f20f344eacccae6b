# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nic_bond with NetworkManager running: the hand-over of a plan, and nmcli to apply it.

NetworkManager owns the links of the profiles it runs: when it re-reads the keyfiles nic_bond
wrote, changing the same bond over netlink races with it. So the plan keeps its live steps (they
show what changes) but marks them ``by: NetworkManager``, and one ``activate`` step has
NetworkManager apply the profiles (:func:`hand_to_networkmanager`, :class:`NetworkManager`).

Debian's NetworkManager also runs ifupdown's hooks for the interfaces it manages, and ifenslave's
post-down hook there releases the ports of NetworkManager's bonds: :func:`plan_ifenslave_guard`
diverts that hook and puts a guard in its place (see ``_persist_nm``).
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _persist_net, _persist_nm
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._command import run_command
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Conflict
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._files import plan_files
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._netlink import Netlink

#: seconds nmcli waits for the activation, and how long the read-back waits for NetworkManager's
#: asynchronous steps (members enslaved, MTU, addresses) after it
NM_ACTIVATE_WAIT = 90
NM_VERIFY_SECONDS = 30
#: nmcli ends a ``--wait`` on its own; the runner's timeout only catches an nmcli that hangs
NM_COMMAND_TIMEOUT = NM_ACTIVATE_WAIT + 30
#: how long an activation NetworkManager started by itself may run before nic_bond goes on
NM_SETTLE_SECONDS, NM_POLL = 30, 0.5
NM_AUTOCONNECT_GRACE = 2.0
#: in the files nic_bond writes (an older version of a file of ours)
HEADER_LINE = _persist_net.HEADER.strip()


def plan_ifenslave_guard(current: dict[str, Any], desired: dict[str, Any]) -> list[Operation]:
    """Divert ifenslave's post-down hook where NetworkManager's dispatcher runs it (see _persist_nm).

    Read only when the dispatcher script is there (``nm_runs_ifupdown_hooks``); nothing to do
    without ifenslave. An older guard of ours is rewritten in place (already diverted).
    """
    files = current.get("files") or {}
    hook = files.get(_persist_nm.IFENSLAVE_HOOK)
    if not current.get("nm_runs_ifupdown_hooks") or hook is None or hook == _persist_nm.IFENSLAVE_GUARD:
        return []
    ours = HEADER_LINE in hook
    if not desired["divert_ifenslave_hook"]:
        if ours:
            return []
        raise Conflict("divert_ifenslave_hook: false, but NetworkManager's dispatcher %s runs ifenslave's "
                       "post-down hook %s for the interfaces NetworkManager manages, and it releases the ports of "
                       "the bonds NetworkManager activates and deletes them (Debian bug #982841); set "
                       "divert_ifenslave_hook to true, or remove the package ifenslave if no ifupdown bond needs it"
                       % (_persist_nm.NM_IFUPDOWN_DISPATCHER, _persist_nm.IFENSLAVE_HOOK))
    ops = []
    if not ours:
        ops.append(Operation("divert_file", _persist_nm.IFENSLAVE_HOOK,
                             {"diverted_to": {"before": None, "after": _persist_nm.IFENSLAVE_HOOK_DIVERTED}}))
    return ops + plan_files(files, {_persist_nm.IFENSLAVE_HOOK: _persist_nm.IFENSLAVE_GUARD}, 0o755)


def hand_to_networkmanager(ops: list[Operation], desired: dict[str, Any]) -> list[Operation]:
    """NetworkManager runs and owns the profiles: it brings the links up, not netlink.

    Changing the live bond over netlink while NetworkManager activates the profiles it has just
    re-read races with it (it releases and re-enslaves members on its own, and a member was left
    out). So the live steps stay in the plan (they are what changes) but are marked
    ``by: NetworkManager``; the files are written, NetworkManager re-reads them, and one
    ``activate`` step has NetworkManager apply them (see :meth:`NetworkManager.activate`).
    Addresses NetworkManager does not own (the moved address still on a NIC that is not a
    member) are removed after. For ``state: absent`` the profiles go first, then the links
    that are still there.
    """
    live = [op for op in ops if not op.action.endswith("_file") and op.action != "reload"]
    persist = [op for op in ops if op.action.endswith("_file") or op.action == "reload"]
    if not live:
        return ops
    if desired["state"] == "absent":
        return persist + live
    for op in live:
        op.params["by"] = "NetworkManager"
    leftovers, gateway = [], None
    for op in live:
        if op.action == "move_address":
            leftovers += op.params["sources"]
            if op.params.get("gateway") and not desired.get("gateway"):
                gateway = op.params["gateway"]  # the default route moved with the address (not in the profile)
    bond, bridge = desired["name"], desired.get("bridge")
    activate = Operation("activate", _persist_nm.connection_id(bond),
                         bond=bond, bridge=bridge, device=bridge or bond, leftovers=leftovers, gateway=gateway)
    return live + persist + [activate]


class NetworkManager:
    """nmcli for the profiles of one bond: the ``activate`` step of a handed-over plan.

    ``what`` names the object in errors (``bond0: persist``); :attr:`reloaded` is set by whoever
    ran ``nmcli connection reload`` in this run, so the activation gives NetworkManager's own
    autoconnect a moment to begin.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        #: time.monotonic() of the last ``nmcli connection reload`` (0: none in this run)
        self.reloaded = 0.0

    def nmcli(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess:
        """nmcli with an argument list; with ``check`` a failure raises CommandFailed."""
        return run_command(["nmcli"] + args, self.what, check=check, timeout=NM_COMMAND_TIMEOUT,
                           package=_persist_net.RELOAD_PACKAGES["nm"])

    def settled_state(self, connection: str) -> str:
        """The profile's activation state once it is not activating or deactivating (bounded)."""
        state = ""
        for dummy in range(int(NM_SETTLE_SECONDS / NM_POLL)):
            state = self.nmcli(["-g", "GENERAL.STATE", "connection", "show", "id", connection],
                               check=False).stdout.strip()
            if state not in ("activating", "deactivating"):
                return state
            time.sleep(NM_POLL)
        return state

    def activate(self, nl: Netlink, p: dict[str, Any]) -> None:
        """NetworkManager applies the profiles: the bridge first, then the bond and its members.

        Each ``nmcli`` call waits for its activation. Before a profile is touched, an activation
        NetworkManager started on its own (autoconnect after the reload) is left to finish rather
        than superseded half-way.
        An active bridge gets ``nmcli device reapply`` (address, MTU; no port is dropped), or is
        re-activated when NetworkManager cannot reapply the change; an active bond is taken down
        and brought up again (``autoconnect-slaves`` brings the members up with it). The moved
        address left on a NIC that is not a member (``leftovers``) is removed after.
        """
        # NetworkManager starts autoconnecting new profiles shortly after a reload: let it begin
        pause = NM_AUTOCONNECT_GRACE - (time.monotonic() - self.reloaded) if self.reloaded else 0
        if pause > 0:
            time.sleep(pause)
        wait = ["--wait", str(NM_ACTIVATE_WAIT)]
        if p.get("bridge"):
            bridge_id = _persist_nm.connection_id(p["bridge"])
            if (self.settled_state(bridge_id) != "activated"
                    or self.nmcli(["device", "reapply", p["bridge"]], check=False).returncode):
                self.nmcli(wait + ["connection", "up", "id", bridge_id])
        bond_id = _persist_nm.connection_id(p["bond"])
        index = nl.index(p["bond"])
        if self.settled_state(bond_id) == "activated":
            # taken down first and brought up again: one clean activation with the new profile
            self.nmcli(wait + ["connection", "down", "id", bond_id])
        elif index is not None:
            # a bond NetworkManager did not create from the profile (made over netlink before,
            # by hand, or by the bonding module on load) is deleted, and NetworkManager creates
            # it from the profile with all of its settings instead of taking over a device whose
            # options it did not set.
            nl.del_link(index, "deleting bond %s (not NetworkManager's) so that NetworkManager creates it" % p["bond"])
            time.sleep(NM_POLL)
        self.nmcli(wait + ["connection", "up", "id", bond_id])
        held = {(x["index"], x["address"]) for x in nl.addresses()} if p.get("leftovers") else set()
        for holder in p.get("leftovers") or []:
            index = nl.index(holder["device"])
            if (index, holder["address"]) in held:
                nl.del_address(index, holder["address"], "removing %s from %s" % (holder["address"], holder["device"]))
