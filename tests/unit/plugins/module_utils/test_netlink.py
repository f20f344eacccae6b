# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_netlink: every pyroute2 error (NetlinkError, OSError, a message it cannot decode) becomes a
typed error naming the object and the namespace; no bare exception leaves the backend."""

from __future__ import annotations

import errno

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _netlink
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    BackendUnavailable,
    Conflict,
    InvalidInput,
    KvmnetError,
    NotFound,
    Unsupported,
)

pyroute2 = pytest.importorskip("pyroute2")
from pyroute2.netlink.exceptions import NetlinkDecodeError, NetlinkError  # noqa: E402


class RaisingSocket:
    """An IPRoute whose every method raises ``exc`` (and records the call)."""

    def __init__(self, exc):
        self.exc = exc
        self.calls = []
        self.closed = False

    def __getattr__(self, name):
        def method(*args, **kwargs):
            self.calls.append(name)
            raise self.exc
        return method

    def close(self):
        self.closed = True
        raise OSError(errno.EBADF, "already closed")


def opened(exc, netns="ns1"):
    nl = _netlink.Netlink(netns)
    nl._ipr = RaisingSocket(exc)
    return nl


@pytest.mark.parametrize("call,what", [
    (lambda nl: nl.index("eth1"), "looking up interface eth1 in network namespace ns1"),
    (lambda nl: nl.links(), "listing interfaces in network namespace ns1"),
    (lambda nl: nl.link(index=7), "reading interface 7 in network namespace ns1"),
    (lambda nl: nl.addresses(), "reading addresses in network namespace ns1"),
    (lambda nl: nl.addresses(3), "reading the addresses of interface 3 in network namespace ns1"),
    (lambda nl: nl.default_routes(2), "reading routes in network namespace ns1"),
    (lambda nl: nl.vfs(3, "PF eth0"), "PF eth0: reading VF attributes in network namespace ns1"),
    (lambda nl: nl.add_link("mvt0", "macvtap"), "creating macvtap mvt0 in network namespace ns1"),
    (lambda nl: nl.set_link(3, "setting eth1 up", state="up"), "setting eth1 up in network namespace ns1"),
    (lambda nl: nl.add_address(3, "10.0.0.1/24", "adding 10.0.0.1/24 to br1"), "adding 10.0.0.1/24 to br1"),
    (lambda nl: nl.replace_default_route(2, "10.0.0.1", 3, "default route via 10.0.0.1"), "default route via"),
])
@pytest.mark.parametrize("exc,kind", [
    (NetlinkError(errno.EPERM, "Operation not permitted"), BackendUnavailable),
    (OSError(errno.EBADF, "Bad file descriptor"), BackendUnavailable),
    (NetlinkDecodeError(ValueError("truncated")), BackendUnavailable),
    (NetlinkError(errno.EEXIST, "File exists"), Conflict),
    (NetlinkError(errno.EOPNOTSUPP, "Operation not supported"), Unsupported),
])
def test_every_call_raises_a_typed_error_naming_the_object(call, what, exc, kind):
    with pytest.raises(kind) as err:
        call(opened(exc))
    assert err.value.msg.startswith(what), err.value.msg
    assert isinstance(err.value.__cause__, type(exc))


def test_a_link_gone_between_lookup_and_read_is_none():
    assert opened(NetlinkError(errno.ENODEV, "No such device")).link(index=7) is None


def test_enodev_on_a_change_is_not_found_naming_the_interface():
    with pytest.raises(NotFound, match=r"^deleting macvtap mvt0 in network namespace ns1: No such device \(errno 19\)$"):
        opened(NetlinkError(errno.ENODEV, "No such device")).del_link(7, "deleting macvtap mvt0")


def test_unknown_errno_is_backend_unavailable_with_the_kernels_words():
    with pytest.raises(BackendUnavailable, match=r"listing interfaces: No buffer space available \(errno 105\)"):
        opened(NetlinkError(errno.ENOBUFS), netns=None).links()


def test_opening_the_host_socket_fails_typed(monkeypatch):
    def refuse():
        raise OSError(errno.EMFILE, "Too many open files")
    monkeypatch.setattr(_netlink, "IPRoute", refuse)
    with pytest.raises(BackendUnavailable, match=r"^opening a netlink socket in the host's network namespace: "
                                                 r"Too many open files \(errno 24\)$"):
        _netlink.Netlink().open()


def test_entering_a_namespace_fails_typed_naming_it(monkeypatch, tmp_path):
    (tmp_path / "ns1").write_text("")
    monkeypatch.setattr(_netlink, "NETNS_RUN_DIR", str(tmp_path))

    def refuse(name, flags=0):
        raise NetlinkError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(_netlink, "NetNS", refuse)
    with pytest.raises(BackendUnavailable, match=r"^netns: cannot enter network namespace 'ns1'"):
        _netlink.Netlink("ns1").open()
    with pytest.raises(NotFound, match=r"^netns: network namespace 'ns2' does not exist"):
        _netlink.Netlink("ns2").open()


def test_close_after_an_error_does_not_raise_and_is_idempotent():
    nl = opened(OSError(errno.EBADF, "Bad file descriptor"))
    sock = nl._ipr
    nl.close()
    nl.close()
    assert sock.closed and nl._ipr is None


@pytest.mark.parametrize("netns", ["", ".", "..", "x/y", "x\x00y", "n" * 256])
def test_a_bad_netns_name_is_refused_before_any_socket(netns, monkeypatch):
    """Every module with a netns option builds its Netlink from it: refused there, before open()
    (an empty name would otherwise mean the host's own namespace, '..' a path)."""
    monkeypatch.setattr(_netlink, "NetNS", lambda *a, **k: pytest.fail("a namespace was entered"), raising=False)
    monkeypatch.setattr(_netlink, "IPRoute", lambda *a, **k: pytest.fail("a socket was opened"), raising=False)
    with pytest.raises(InvalidInput) as err:
        _netlink.Netlink(netns)
    assert err.value.option == "netns" and err.value.value == netns


def test_no_netns_is_the_hosts_namespace():
    assert _netlink.Netlink().netns is None and _netlink.Netlink(None).where == ""


def test_an_address_already_gone_is_no_error_only_when_allowed():
    """nic_bond's move_address removes the address from its old holder, which a network daemon
    may have dropped meanwhile (systemd-networkd on a new bond member: seen in the safety VM)."""
    gone = NetlinkError(errno.EADDRNOTAVAIL, "Cannot assign requested address")
    opened(gone).del_address(3, "10.8.0.1/24", "removing 10.8.0.1/24 from enp0s5", missing_ok=True)
    with pytest.raises(KvmnetError) as err:
        opened(gone).del_address(3, "10.8.0.1/24", "removing 10.8.0.1/24 from enp0s5")
    assert err.value.msg.startswith("removing 10.8.0.1/24 from enp0s5")
    with pytest.raises(BackendUnavailable):
        opened(NetlinkError(errno.EPERM, "Operation not permitted")).del_address(
            3, "10.8.0.1/24", "removing 10.8.0.1/24 from enp0s5", missing_ok=True)
