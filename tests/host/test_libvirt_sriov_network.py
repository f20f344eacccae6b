# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""libvirt_sriov_network against the test bed's private libvirtd: define / redefine / undefine,
check mode, and bad input refused with libvirt's network list and definitions untouched.

The PFs are a veth pair in this process's network namespace (the module checks the PF is a
network interface of the host it runs on); libvirt only resolves the PF when the pool starts,
which these tests never do (no SR-IOV hardware here).
"""

from __future__ import annotations

import subprocess

import pytest
from testbed.inject import check_every_step
from testbed.util import unique_ifname

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import InvalidInput, NotFound
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_sriov_network import LibvirtSriovNetworkResource

NAME = "kvt-sriov-pool"


@pytest.fixture
def pfs(kvt_root):
    """Two links standing in for PF netdevs, a veth pair (this kernel may lack dummy); removed after."""
    names = [unique_ifname("kvtpf") for dummy in range(2)]
    subprocess.run(["ip", "link", "add", names[0], "type", "veth", "peer", "name", names[1]], check=True)
    yield names
    subprocess.run(["ip", "link", "del", names[0]], check=False)


@pytest.fixture
def pool(libvirtd):
    """The pool's name; whatever a test left under it is undefined afterwards."""
    yield NAME
    conn = libvirtd.conn()
    if NAME in conn.listNetworks() + conn.listDefinedNetworks():
        net = conn.networkLookupByName(NAME)
        if net.isActive():
            net.destroy()
        net.undefine()


def params(libvirtd, **kw):
    return dict(dict(uri=libvirtd.uri, name=NAME, state="present", pf=None, managed=True, active=None,
                     autostart=None), **kw)


def run_net(libvirtd, check_mode=False, **kw):
    return execute(LibvirtSriovNetworkResource(params(libvirtd, **kw)), check_mode=check_mode)


def networks(libvirtd):
    """Every network libvirt has (active and defined), with its persistent XML and autostart."""
    conn = libvirtd.conn()
    out = {}
    for name in conn.listNetworks() + conn.listDefinedNetworks():
        net = conn.networkLookupByName(name)
        out[name] = (net.XMLDesc(1), net.autostart(), net.isActive())
    return out


def test_define_rerun_redefine_undefine(libvirtd, pfs, pool):
    res = run_net(libvirtd, pf=pfs[0], autostart=True)
    assert [o["action"] for o in res["operations"]] == ["define", "autostart"]
    net = libvirtd.conn().networkLookupByName(pool)
    xml = net.XMLDesc(0)
    assert "<forward mode='hostdev' managed='yes'>" in xml and "<pf dev='%s'/>" % pfs[0] in xml
    assert net.autostart() == 1
    uuid = net.UUIDString()
    assert run_net(libvirtd, pf=pfs[0], autostart=True)["changed"] is False
    res = run_net(libvirtd, pf=pfs[1])
    assert res["operations"][0]["changes"] == {"pf": {"before": pfs[0], "after": pfs[1]}}
    assert libvirtd.conn().networkLookupByName(pool).UUIDString() == uuid  # same network, redefined
    assert run_net(libvirtd, pf=pfs[1])["changed"] is False
    run_net(libvirtd, state="absent")
    assert pool not in networks(libvirtd)
    assert run_net(libvirtd, state="absent")["changed"] is False


def test_check_mode_predicts_and_changes_nothing(libvirtd, pfs, pool):
    before = networks(libvirtd)
    pred = run_net(libvirtd, check_mode=True, pf=pfs[0], autostart=True)
    assert pred["changed"] and [o["action"] for o in pred["operations"]] == ["define", "autostart"]
    assert pred["after"]["pf"] == pfs[0] and pred["after"]["autostart"] is True
    assert networks(libvirtd) == before

    run_net(libvirtd, pf=pfs[0])
    defined = networks(libvirtd)
    pred = run_net(libvirtd, check_mode=True, pf=pfs[1], managed=False, autostart=True)
    assert pred["changed"]
    assert pred["operations"][0]["changes"] == {"pf": {"before": pfs[0], "after": pfs[1]},
                                                "managed": {"before": True, "after": False}}
    assert (pred["after"]["pf"], pred["after"]["managed"], pred["after"]["autostart"]) == (pfs[1], False, True)
    assert pred["before"]["pf"] == pfs[0]
    pred = run_net(libvirtd, check_mode=True, state="absent")
    assert pred["changed"] and pred["after"] is None
    assert networks(libvirtd) == defined


@pytest.mark.parametrize("kw,option,kind", [
    (dict(name=".."), "name", InvalidInput),
    (dict(name="my pool"), "name", InvalidInput),
    (dict(name="pool;reboot"), "name", InvalidInput),
    (dict(name=""), "name", InvalidInput),
    (dict(name="a/b"), "name", InvalidInput),
    (dict(pf=None), "pf", InvalidInput),
    (dict(pf="en p1"), "pf", InvalidInput),
    (dict(pf="kvt-no-such-pf"), "pf", NotFound),
])
@pytest.mark.parametrize("check_mode", [False, True])
def test_bad_input_refused_nothing_changed(libvirtd, pfs, pool, kw, option, kind, check_mode):
    run_net(libvirtd, pf=pfs[0])  # an existing pool must stay exactly as it is, too
    before = networks(libvirtd)
    want = dict(dict(pf=pfs[1]), **kw)
    with pytest.raises(kind) as err:
        run_net(libvirtd, check_mode=check_mode, **want)
    assert err.value.msg.startswith("%s: %r" % (option, want[option]))
    assert networks(libvirtd) == before


def test_through_ansible_bad_name_and_missing_pf(libvirtd, pfs, pool, run_playbook):
    task = {"uri": libvirtd.uri, "name": pool, "pf": pfs[0]}
    before = networks(libvirtd)
    res = run_playbook([
        {"name": "bad name", "kvmnet.hypervisor.libvirt_sriov_network": dict(task, name="a b;c"),
         "ignore_errors": True},
        {"name": "no such pf", "kvmnet.hypervisor.libvirt_sriov_network": dict(task, pf="kvtnopf0"),
         "ignore_errors": True},
        {"name": "check", "kvmnet.hypervisor.libvirt_sriov_network": task, "check_mode": True},
    ], diff=True)
    assert res["bad name"].failed and res["bad name"].msg.startswith("name: 'a b;c' is not a libvirt object name")
    assert res["no such pf"].failed and "pf: 'kvtnopf0' is not a network interface" in res["no such pf"].msg
    assert res["check"].changed and not res["check"].failed
    assert networks(libvirtd) == before


# -- rollback: a failure at each step boundary leaves libvirt's networks as they were -------------
def sweep(libvirtd, steps, **kw):
    def make(wrap):
        return wrap(LibvirtSriovNetworkResource)(params(libvirtd, **kw))

    errors = []
    for after in (False, True):
        errors += check_every_step(make, lambda: networks(libvirtd), steps, after=after)
    return errors


def test_rollback_at_each_step_define_redefine_undefine(libvirtd, pfs, pool):
    # a new pool, autostarted: define, autostart; the rollback undefines it
    errors = sweep(libvirtd, 2, pf=pfs[0], autostart=True)
    assert pool not in networks(libvirtd)
    assert [r["action"] for r in errors[3].details["reverted"]] == ["undefine"]
    # an existing pool moved to the other PF and no longer autostarted: its XML (UUID) comes back
    run_net(libvirtd, pf=pfs[0], autostart=True)
    errors = sweep(libvirtd, 2, pf=pfs[1], managed=False, autostart=False)
    assert [r["action"] for r in errors[3].details["reverted"]] == ["define", "autostart"]
    # removed: defined again with its old XML and autostart
    errors = sweep(libvirtd, 1, state="absent")
    assert [r["action"] for r in errors[1].details["reverted"]] == ["define", "autostart"]
    assert networks(libvirtd)[pool][1] == 1


def test_real_failure_at_step_two_through_ansible(libvirtd, pfs, pool, run_playbook):
    """A real failure half-way: the pool is defined (step 1), then libvirt cannot start it (step 2:
    a veth is no SR-IOV PF). The result names the failed step, what was applied and what was
    reverted, the pool is gone again, and Ansible got a typed result, not a MODULE FAILURE. (The
    failed step is ``failed_step`` there: Ansible's own ``failed`` is the boolean.)"""
    before = networks(libvirtd)
    res = run_playbook([{"name": "pool", "kvmnet.hypervisor.libvirt_sriov_network": {
        "uri": libvirtd.uri, "name": pool, "pf": pfs[0], "active": True}, "ignore_errors": True}])
    task = res["pool"]
    assert task.failed and task["error"] == "apply_failed", res
    assert "MODULE FAILURE" not in task.msg
    assert task["failed_step"]["action"] == "start" and [o["action"] for o in task["applied"]] == ["define"]
    assert [o["action"] for o in task["reverted"]] == ["undefine"]
    assert task["rolled_back"] is True and task.changed is False
    assert networks(libvirtd) == before
