# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nic_bond rollback: a failure injected at every step boundary of realistic plans (before the
k-th step and after it did its work) leaves the host model exactly as it was, and the failure
names failed / applied / reverted.

This machine's kernel has no bonding module, so the host tier cannot build a real bond (see
tests/host/test_rollback_netlink.py); here the resource runs on test_nic_bond's model of the
kernel's rules, extended with what a rollback touches: addresses, the default route, deleting a
bond or a bridge releases its ports (and takes its addresses and routes with it).
"""

from __future__ import annotations

import copy
import os

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _nic_bond as nb
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _nic_bond_restore as nbr
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import ApplyFailed

from test_nic_bond import KernelModel, host_tree  # sibling test module


class HostModel(KernelModel):
    """KernelModel with addresses and default routes."""

    def __init__(self):
        super().__init__()
        self.addrs = []  # [(ifindex, "ip/prefix")]
        self.routes = {}  # family -> (gateway, ifindex)

    def addresses(self, index=None):
        return [{"index": i, "address": a} for i, a in self.addrs if index in (None, i)]

    def add_address(self, index, address, what):
        assert (index, address) not in self.addrs, what
        self.addrs.append((index, address))

    def del_address(self, index, address, what, missing_ok=False):
        if missing_ok and (index, address) not in self.addrs:
            return
        self.addrs.remove((index, address))

    def default_routes(self, family):
        return [{"gateway": g, "oif": o} for f, (g, o) in self.routes.items() if f == family]

    def replace_default_route(self, family, gateway, index, what):
        self.routes[family] = (gateway, index)

    def delete_default_route(self, family, gateway, index, what):
        assert self.routes.get(family) == (gateway, index), what
        del self.routes[family]

    def del_link(self, index, what):
        for port in self._ports(index):
            self.set_link(port["ifindex"], what, master=0)
        self.addrs = [(i, a) for i, a in self.addrs if i != index]
        self.routes = {f: r for f, r in self.routes.items() if r[1] != index}
        super().del_link(index, what)

    def snapshot(self):
        """Everything by name (a link created again gets another ifindex, as in the kernel), but
        whether a bridge's MTU was set by hand: netlink does not show it (a bridge a rollback
        creates again gets its MTU set, so it no longer follows its ports')."""
        name = {i: l["name"] for i, l in self.by_index.items()}
        links = {}
        for link in self.by_index.values():
            item = {k: v for k, v in link.items() if k not in ("ifindex", "master_index", "own_mtu", "mtu_by_user")}
            item["master"] = name.get(link["master_index"])
            links[link["name"]] = copy.deepcopy(item)
        return {"links": links, "addrs": sorted((name[i], a) for i, a in self.addrs),
                "routes": {f: (g, name[o]) for f, (g, o) in self.routes.items()}}


def fail_at(cls, k, after=False):
    """The k-th apply_operation raises a plain exception (before, or after it did its work)."""

    class Failing(cls):
        calls = 0

        def apply_operation(self, op):
            type(self).calls += 1
            if type(self).calls == k and not after:
                raise RuntimeError("injected failure at step %d" % k)
            super().apply_operation(op)
            if type(self).calls == k and after:
                raise RuntimeError("injected failure after step %d" % k)

    return Failing


def files(root):
    """Every file under root/etc: content and mode."""
    out = {}
    for base, _dirs, names in os.walk(os.path.join(root, "etc")):
        for name in names:
            path = os.path.join(base, name)
            with open(path, encoding="utf-8") as handle:
                out[os.path.relpath(path, root)] = (handle.read(), os.stat(path).st_mode)
    return out


def sweep(tmp_path, build, options, root=None):
    """Build the host with ``build(model)`` for each k and injection point, run, compare (the
    model, and the files under root/etc)."""
    root = root or str(host_tree(tmp_path / "host", "loaded"))

    def resource(cls, model):
        res = cls(dict({"name": "bond0", "state": "present", "persist": "none"}, **options), root=root)
        res.nl = model
        res.verify_delay = 0
        return res

    model = HostModel()
    build(model)
    plan = [op["action"] for op in execute(resource(nb.NicBondResource, model), check_mode=True)["operations"]]
    errors = []
    for after in (False, True):
        for k in range(1, len(plan) + 1):
            model = HostModel()
            build(model)
            before = model.snapshot(), files(root)
            with pytest.raises(ApplyFailed) as info:
                execute(resource(fail_at(nb.NicBondResource, k, after), model))
            err = info.value
            now = model.snapshot(), files(root)
            assert now == before, "k=%d after=%s: %s\nbefore %r\nnow    %r" % (k, after, err.msg, before, now)
            details = err.details
            assert details["rolled_back"] is True and details["changed"] is False, err.msg
            assert len(details["applied"]) == k - 1 and details["failed_step"]["action"] == plan[k - 1]
            assert ("injected failure %s step %d" % ("after" if after else "at", k)) in err.msg
            errors.append(err)
    # and without a failure: applied, converged
    model = HostModel()
    build(model)
    assert execute(resource(nb.NicBondResource, model))["changed"]
    assert execute(resource(nb.NicBondResource, model))["changed"] is False
    return plan, errors


def uplink(model):
    """eth0 carries the host address and the default route; eth3 is down."""
    eth0 = model.add("eth0")
    model.addrs.append((eth0, "10.0.0.5/24"))
    model.routes[2] = ("10.0.0.1", eth0)
    model.add("eth3")
    model.by_index[model.index("eth3")]["admin_state"] = "down"


def test_mode_change_member_swap_bridge_and_address_move_roll_back_at_every_step(tmp_path):
    def build(model):
        uplink(model)
        model.add("bond0", "bond")
        model.add("eth1", master="bond0")
        model.add("eth2", master="bond0")
    plan, errors = sweep(tmp_path, build, {"mode": "802.3ad", "lacp_rate": "fast", "members": ["eth1", "eth3"],
                                           "bridge": "br1", "address": "10.0.0.5/24"})
    assert plan == ["remove_member", "bond_down", "release_member", "modify_bond", "reenslave_member", "bond_up",
                    "add_member", "create_bridge", "set_master", "move_address"]
    # after the last step: every part put back, the bond's mode while it is down and has no members
    reverted = [op["action"] for op in errors[-1].details["reverted"]]
    assert reverted == ["remove_member", "bond_down", "release_member", "modify_bond", "reenslave_member", "bond_up",
                        "add_member", "delete_bridge", "set_link_state", "add_address", "set_gateway"]


def test_bond_from_nothing_under_a_new_bridge_rolls_back_at_every_step(tmp_path):
    def build(model):
        uplink(model)
        model.add("eth1")
    plan, errors = sweep(tmp_path, build, {"members": ["eth1", "eth3"], "bridge": "br1", "mtu": 9000,
                                           "address": "10.0.0.5/24", "gateway": "10.0.0.1"})
    assert plan == ["create_bond", "add_member", "add_member", "create_bridge", "set_master", "move_address"]
    assert [op["action"] for op in errors[-1].details["reverted"]] == [
        "delete_bond", "delete_bridge", "set_link_state", "add_address", "set_gateway"]


def test_deleting_a_bond_under_a_bridge_rolls_back(tmp_path):
    def build(model):
        model.add("br1", "bridge", mtu=9000)
        model.add("bond0", "bond", mtu=9000, master="br1")
        bond = model.by_index[model.index("bond0")]["bond"]
        bond.update(mode=4, ad_lacp_rate=1, miimon=200)
        model.add("eth1", mtu=9000, master="bond0")
        model.add("eth2", mtu=9000, master="bond0")
    plan, errors = sweep(tmp_path, build, {"state": "absent", "bridge": "br1"})
    assert plan == ["delete_bond", "delete_bridge"]
    assert [op["action"] for op in errors[-1].details["reverted"]] == [
        "create_bond", "add_member", "add_member", "create_bridge", "set_master"]


def test_a_down_bond_keeps_its_state_and_a_primary_it_did_not_have_is_cleared():
    before = {"kind": "bond", "bond": dict(nb.effective_bond(None, {}), members=["eth1"], master=None,
                                           admin_state="down", mtu=1500),
              "links": {"eth1": {"kind": None, "master": "bond0", "mtu": 1500, "admin_state": "up"}}}
    now = copy.deepcopy(before)
    now["bond"].update(admin_state="up", primary="eth1", miimon=200)
    ops = nbr.plan_restore(now, before, "bond0", None)
    assert [(op.action, op.changes) for op in ops] == [
        ("modify_bond", {"primary": {"before": "eth1", "after": None}}),
        ("modify_bond", {"miimon": {"before": 200, "after": 100}, "admin_state": {"before": "up", "after": "down"}})]
    assert nbr.plan_restore(before, before, "bond0", None) == []


def test_restore_target_reads_the_nics_before_names_and_writes_no_files(tmp_path):
    res = nb.NicBondResource({"name": "bond0", "state": "present", "persist": "networkd", "members": ["eth3"]})
    target = res.restore_desired({"bond": {"members": ["eth1"]}, "links": {"eth3": None}, "files": {"/x": "y"}},
                                 res.normalize())
    assert target["persist"] == "none" and target["restore"]["bond"] == {"members": ["eth1"]}
    assert res.restore_members == {"eth1", "eth3"} and res.restoring


def test_persisted_for_networkd_files_and_the_daemons_view_roll_back(tmp_path, monkeypatch):
    """networkd running (its process under root/proc): the files are put back byte for byte and
    networkd re-reads them, once, after a run that had it read the new ones."""
    root = host_tree(tmp_path / "host", "loaded")
    (root / "proc/812").mkdir(parents=True)
    (root / "proc/812/comm").write_text("systemd-network\n")
    (root / "etc/systemd/network").mkdir(parents=True)
    (root / "etc/systemd/network/10-eth1.network").write_text("[Match]\nName=eth1\n[Network]\nDHCP=yes\n")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "networkctl.log"
    (bindir / "networkctl").write_text("#!/bin/sh\necho \"$@\" >> %s\n" % log)
    (bindir / "networkctl").chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bindir, os.environ["PATH"]))

    def build(model):
        model.add("eth1")
        model.add("eth2")
    plan, errors = sweep(tmp_path, build, {"members": ["eth1", "eth2"], "persist": "networkd"}, root=str(root))
    assert plan[:3] == ["create_bond", "add_member", "add_member"] and plan[-1] == "reload"
    assert set(plan[3:-1]) == {"write_file"}
    last = [op["action"] for op in errors[-1].details["reverted"]]
    assert last[-1] == "reload" and last.count("restore_file") == len(plan) - 4
    # a failure before the reload: networkd never read the new files, and is not asked to re-read
    assert "reload" not in [op["action"] for op in errors[len(plan) - 1].details["reverted"]]


def test_a_failure_inside_the_move_address_step_is_rolled_back(tmp_path):
    """move_address makes three changes (address on the bridge, off the NIC, the default route):
    the kernel refusing the second leaves the first done; the rollback plans from what it reads."""

    class Refusing(HostModel):
        def del_address(self, index, address, what, missing_ok=False):
            raise nb.NotFound("%s: no such address (injected)" % what)

    model = Refusing()
    uplink(model)
    model.add("eth1")
    before = model.snapshot()
    res = nb.NicBondResource({"name": "bond0", "state": "present", "persist": "none", "members": ["eth1"],
                              "bridge": "br1", "address": "10.0.0.5/24"}, root=str(host_tree(tmp_path / "h", "loaded")))
    res.nl = model
    res.verify_delay = 0
    with pytest.raises(ApplyFailed) as info:
        execute(res)
    details = info.value.details
    assert details["failed_step"]["action"] == "move_address" and details["rolled_back"] is True
    assert ("br1", "10.0.0.5/24") not in model.snapshot()["addrs"]
    assert model.snapshot() == before
