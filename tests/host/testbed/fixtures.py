# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pytest fixtures of the host test bed. tests/host/conftest.py does ``from testbed.fixtures import *``;
a benchmark or another conftest can do the same (with tests/host on sys.path).

Function scope unless said otherwise; every fixture cleans up in its teardown, also when the test fails.
"""
from __future__ import annotations

import os

import pytest

from .libvirtd import DomainFactory, Libvirtd, destroy_and_undefine
from .netns import Netns
from .ovs import OvsInstance
from .playbook import run_playbook as _run_playbook

__all__ = [
    "kvt_root", "netns", "netns_factory", "ovs", "ovs_dummy", "ovs_factory", "ovs_session",
    "libvirtd", "libvirt_domains", "libvirt_test", "run_playbook", "kvt_reap_stale",
]


def _need_root():
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, Open vSwitch, libvirtd)")


def _failed(request):
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and rep.failed


@pytest.fixture(scope="session", autouse=True)
def kvt_reap_stale():
    """Once per session (as root): remove kvt- resources of test processes that died uncleanly."""
    if os.geteuid() == 0:
        from . import reap_stale

        reap_stale()
    yield


@pytest.fixture
def kvt_root():
    """Skip the test (with a reason) when not root."""
    _need_root()


@pytest.fixture
def netns_factory():
    """Callable ``make() -> Netns``: as many fresh namespaces as the test needs; all deleted at teardown."""
    _need_root()
    made = []

    def make():
        ns = Netns()
        made.append(ns)
        return ns

    yield make
    errors = []
    for ns in reversed(made):
        try:
            ns.delete()
        except Exception as exc:  # noqa: BLE001 - delete the others, then report
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def netns(netns_factory):
    """A fresh uniquely named network namespace (``kvt-<pid>-<n>``, lo up); deleted with all its links."""
    return netns_factory()


@pytest.fixture
def ovs_factory(request, netns_factory, tmp_path):
    """Callable ``make(netns='new', mode='netdev') -> OvsInstance``; netns: 'new' (a fresh Netns),
    a Netns/name, or None (root namespace). Every instance is stopped (taps deleted) at teardown;
    logs of a failed test are kept in tmp_path/ovs-N."""
    _need_root()
    made = []

    def make(netns="new", mode="netdev"):
        if netns == "new":
            netns = netns_factory()
        inst = OvsInstance(netns=netns, mode=mode)
        made.append(inst)
        return inst

    yield make
    for i, inst in enumerate(reversed(made)):
        if _failed(request):
            inst.save_logs(tmp_path / ("ovs-%d" % i))
        inst.stop()


@pytest.fixture
def ovs(ovs_factory):
    """A private OVS (netdev datapath) running in a fresh netns, reachable as ``ovs.netns`` (a Netns)."""
    return ovs_factory(netns="new", mode="netdev")


@pytest.fixture
def ovs_dummy(ovs_factory):
    """A private OVS with --enable-dummy=override (OVSDB-level tests: any port name works)."""
    return ovs_factory(netns="new", mode="dummy")


@pytest.fixture(scope="session")
def ovs_session():
    """A session-wide private OVS (netdev, own netns ``ovs_session.netns``). Tests must use unique names
    and remove what they add; prefer the function-scoped ``ovs`` (startup is ~0.1 s)."""
    _need_root()
    ns = Netns()
    try:
        inst = OvsInstance(netns=ns, mode="netdev")
        try:
            yield inst
        finally:
            inst.stop()
    finally:
        ns.delete()


@pytest.fixture(scope="session")
def libvirtd():
    """Session-wide private libvirtd (qemu:///system driver, TCG) + virtlogd in its own mount namespace.

    Yields a Libvirtd: ``.uri``, ``.conn()``, ``.netns`` (the Netns the daemons, their domains' taps and
    macvtaps live in: create the bridges / veth lower devices for its domains there), ``.ovs`` (the
    private OVS its ovs-vsctl wrapper points at, in that netns, netdev), ``.kernel``,
    ``.define_domain(interfaces, ...)``. Teardown destroys + undefines
    every domain and stops everything it started.
    """
    _need_root()
    inst = Libvirtd()
    try:
        yield inst
    finally:
        inst.stop()


@pytest.fixture
def libvirt_domains(libvirtd):
    """DomainFactory on the session libvirtd: ``libvirt_domains.define(interfaces=[...], start=True,
    paused=True)`` -> virDomain; every domain defined through it is destroyed + undefined after the test."""
    factory = DomainFactory(libvirtd.conn(), libvirtd.kernel)
    yield factory
    factory.cleanup()


@pytest.fixture
def libvirt_test():
    """A libvirt connection to ``test:///default``; domains the test adds are destroyed + undefined."""
    import libvirt

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = libvirt.open("test:///default")
    before = {d.name() for d in conn.listAllDomains(0)}
    yield conn
    for dom in conn.listAllDomains(0):
        if dom.name() not in before:
            destroy_and_undefine(conn, dom.name())
    conn.close()


@pytest.fixture
def run_playbook():
    """The testbed.playbook.run_playbook function (tasks, check=False, diff=False, extra_vars=None, ...)."""
    return _run_playbook
