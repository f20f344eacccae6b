# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared stand-ins of the module_utils unit tests."""

from __future__ import annotations

import pytest


class FakeNetlink:
    """The reads of _netlink.Netlink that network_info's gatherer and the modules' readers use
    (links, addresses, default routes, bridge VLANs), from the given host."""

    netns = None
    where = ""

    def __init__(self, links, addresses=(), routes=(), vlans=None):
        self._links, self._addresses, self._routes, self._vlans = links, addresses, routes, vlans or {}

    def open(self):
        return self

    def close(self):
        pass

    def links(self):
        return [dict(l) for l in self._links]

    def link(self, name=None, index=None):
        for l in self._links:
            if l["name"] == name or (index is not None and l["ifindex"] == index):
                return dict(l)
        return None

    def addresses(self, index=None):
        return [dict(a) for a in self._addresses if index in (None, a["index"])]

    def default_routes(self, family):
        return [dict(r) for r in self._routes]

    def bridge_vlans(self):
        return {k: list(v) for k, v in self._vlans.items()}


@pytest.fixture
def fake_netlink():
    """The FakeNetlink class: ``fake_netlink(links, addresses, routes, vlans)``."""
    return FakeNetlink
