# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""libvirt_hostdev against the test bed's private libvirtd: the persistent definition of a stopped
and of a running (paused) domain, check mode, and bad input refused with the domain XML untouched.

This machine has no IOMMU, so nothing here gives a device to a running qemu (that needs vfio):
the live view is only planned (check mode) and refused; the VM tier attaches and detaches live.
The device used is the host's first PCI device; a persistent definition never touches it.
"""

from __future__ import annotations

import os

import pytest
from testbed.inject import check_every_step, domain_state

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import InvalidInput, NotFound
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_hostdev import LibvirtHostdevResource

ADDRESS = sorted(os.listdir("/sys/bus/pci/devices"))[0] if os.path.isdir("/sys/bus/pci/devices") else "0000:00:00.0"


def params(libvirtd, domain, **kw):
    return dict(dict(uri=libvirtd.uri, domain=domain, source=ADDRESS, state="present", managed=None, config=True,
                     live=True, allow_config_only=False, detach_timeout=10), **kw)


def run_hostdev(libvirtd, domain, check_mode=False, **kw):
    return execute(LibvirtHostdevResource(params(libvirtd, domain, **kw)), check_mode=check_mode)


def xml(dom):
    """The running and the persistent definition, as libvirt has them."""
    return dom.XMLDesc(0), dom.XMLDesc(_libvirt.XML_INACTIVE)


def hostdevs(dom, inactive=True):
    root = _libvirt.parse_xml(dom.XMLDesc(_libvirt.XML_INACTIVE if inactive else 0))
    return [_libvirt.parse_hostdev(h) for h in root.findall("./devices/hostdev")]


def test_stopped_domain_attach_rerun_managed_detach(libvirtd, libvirt_domains):
    """Config only: the domain is never started, so no host device is ever detached from its driver."""
    dom = libvirt_domains.define([], start=False)
    name = dom.name()
    res = run_hostdev(libvirtd, name)
    assert [(o["action"], o["flags"]) for o in res["operations"]] == [("attach", ["config"])]
    assert [h["source"] for h in hostdevs(dom)] == [ADDRESS]
    assert run_hostdev(libvirtd, name)["changed"] is False  # libvirt's guest address etc. ignored
    res = run_hostdev(libvirtd, name, managed=False)
    assert [(o["action"], o["changes"]) for o in res["operations"]] == [
        ("detach", {"managed": {"before": True, "after": False}}), ("attach", {"managed": {"before": True, "after": False}})]
    assert [h["managed"] for h in hostdevs(dom)] == [False]
    assert run_hostdev(libvirtd, name, managed=False)["changed"] is False
    res = run_hostdev(libvirtd, name, state="absent")
    assert [(o["action"], o["flags"]) for o in res["operations"]] == [("detach", ["config"])]
    assert hostdevs(dom) == []
    assert run_hostdev(libvirtd, name, state="absent")["changed"] is False
    assert dom.isActive() == 0


def test_check_mode_predicts_and_changes_nothing(libvirtd, libvirt_domains):
    dom = libvirt_domains.define([])  # running, paused
    name = dom.name()
    before = xml(dom)
    pred = run_hostdev(libvirtd, name, check_mode=True)
    assert [(o["action"], o["flags"]) for o in pred["operations"]] == [("attach", ["config", "live"])]
    assert pred["after"]["config"]["source"] == pred["after"]["live"]["source"] == ADDRESS
    assert pred["before"]["config"] is None and pred["before"]["live"] is None
    assert xml(dom) == before

    # in the persistent definition only (no vfio here for the running qemu)
    assert run_hostdev(libvirtd, name, live=False)["changed"] is True
    assert [h["source"] for h in hostdevs(dom)] == [ADDRESS] and hostdevs(dom, inactive=False) == []
    assert run_hostdev(libvirtd, name, live=False)["changed"] is False
    before = xml(dom)
    pred = run_hostdev(libvirtd, name, check_mode=True)
    assert [(o["action"], o["flags"]) for o in pred["operations"]] == [("attach", ["live"])]
    assert pred["after"]["live"]["source"] == ADDRESS
    pred = run_hostdev(libvirtd, name, check_mode=True, state="absent")
    assert [(o["action"], o["flags"]) for o in pred["operations"]] == [("detach", ["config"])]
    assert pred["after"]["config"] is None
    pred = run_hostdev(libvirtd, name, check_mode=True, live=False, managed=False)
    assert [o["action"] for o in pred["operations"]] == ["detach", "attach"]
    assert pred["after"]["config"]["managed"] is False
    assert xml(dom) == before


@pytest.mark.parametrize("kw,option,kind", [
    (dict(source="zz:10.1"), "source", InvalidInput),
    (dict(source="0000:03:20.0"), "source", InvalidInput),
    (dict(source="eth0"), "source", InvalidInput),
    (dict(config=False, live=False), "config", InvalidInput),
    (dict(detach_timeout=-1), "detach_timeout", InvalidInput),
    (dict(source="7f:1f.7"), "source", NotFound),
])
@pytest.mark.parametrize("check_mode", [False, True])
def test_bad_input_refused_domain_unchanged(libvirtd, libvirt_domains, kw, option, kind, check_mode):
    dom = libvirt_domains.define([])
    name = dom.name()
    run_hostdev(libvirtd, name, live=False)  # an existing hostdev must stay exactly as it is, too
    before = xml(dom)
    with pytest.raises(kind) as err:
        run_hostdev(libvirtd, name, check_mode=check_mode, **dict(dict(live=False), **kw))
    assert err.value.msg.startswith("%s: " % option)
    assert repr(kw[option]) in err.value.msg or "0000:7f:1f.7" in err.value.msg
    assert xml(dom) == before


def test_unknown_domain_and_through_ansible(libvirtd, libvirt_domains, run_playbook):
    with pytest.raises(NotFound, match="domain: 'kvt-no-such-domain' does not exist"):
        run_hostdev(libvirtd, "kvt-no-such-domain")
    dom = libvirt_domains.define([], start=False)
    before = xml(dom)
    task = {"uri": libvirtd.uri, "domain": dom.name(), "source": ADDRESS}
    res = run_playbook([
        {"name": "bad source", "kvmnet.hypervisor.libvirt_hostdev": dict(task, source="04:00"), "ignore_errors": True},
        {"name": "check", "kvmnet.hypervisor.libvirt_hostdev": task, "check_mode": True},
    ], diff=True)
    assert res["bad source"].failed and res["bad source"].msg.startswith("source: '04:00' is not a PCI address")
    assert res["check"].changed and not res["check"].failed
    assert "<hostdev" in res.stdout  # the diff shows the XML it would add
    assert xml(dom) == before


# -- rollback: a failure at each step boundary leaves the domain's XML as it was -----------------
def sweep(libvirtd, dom, steps, **kw):
    """Fail before and after each step (one libvirt call each, and the whole apply once); the
    domain's live and persistent XML must be byte-identical afterwards."""
    def make(wrap):
        return wrap(LibvirtHostdevResource)(params(libvirtd, dom.name(), **kw))

    errors = []
    for after in (False, True):
        errors += check_every_step(make, lambda: domain_state(dom), steps, after=after)
        errors += check_every_step(make, lambda: domain_state(dom), 1, after=after, method="apply")
    return errors


def test_rollback_at_each_step_attach_managed_change_detach(libvirtd, libvirt_domains):
    """A stopped domain (the host device is never given to a running qemu): attach, then a
    change of managed (detach + attach: two steps), then a detach, each failing at every step."""
    dom = libvirt_domains.define([], start=False)
    sweep(libvirtd, dom, 1)
    assert hostdevs(dom) == []
    run_hostdev(libvirtd, dom.name())
    errors = sweep(libvirtd, dom, 2, managed=False)
    # errors: before step 1, 2, the whole apply; after step 1, 2, the whole apply. After the detach
    # (step 1) the rollback attaches the old hostdev again; after both, it swaps managed back
    assert [r["action"] for r in errors[3].details["reverted"]] == ["attach"]
    assert [r["action"] for r in errors[4].details["reverted"]] == ["detach", "attach"]
    assert hostdevs(dom)[0]["managed"] is True
    sweep(libvirtd, dom, 1, state="absent")
    assert [h["source"] for h in hostdevs(dom)] == [ADDRESS]


def test_bad_domain_names_refused(libvirtd):
    for name in ("", "a/b", "vm\n1", ".hidden"):
        with pytest.raises(InvalidInput) as err:
            run_hostdev(libvirtd, name)
        assert err.value.msg.startswith("domain: %r " % name)
