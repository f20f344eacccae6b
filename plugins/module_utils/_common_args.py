# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Options several modules share, each with its one default, merged into the modules' specs.

A module adds a group to its own options, as community.docker merges ``DOCKER_COMMON_ARGS``::

    argument_spec=dict(name=dict(type="str", required=True), **OVSDB_ARGS)

(a module option of the same name is a TypeError at import, not a silent override). The doc
fragments ``kvmnet.hypervisor.ovsdb``, ``.libvirt`` and ``.netns`` document the groups; the
defaults below are their one home: ``_ovsdb`` falls back to them, ansible-test's
validate-modules checks every module's documented default against its spec, and
tests/unit/plugins/module_utils/test_common_args.py checks the fragments against these groups.
A group's values are checked where the group is used, once for every module: ``timeout`` by
``_ovsdb.check_timeout`` (when the connection object is made, before anything is read).

This file imports nothing: every module can take it without pulling in a backend.
"""

from __future__ import annotations

#: the OVSDB remote of the Open_vSwitch database (what ``ovs-vsctl`` uses without ``--db``)
DEFAULT_DATABASE = "unix:/var/run/openvswitch/db.sock"
#: seconds to wait for ovsdb-server to answer and for ovs-vswitchd to apply a transaction
DEFAULT_OVSDB_TIMEOUT = 10
#: the libvirt connection URI (the system instance of the QEMU driver)
DEFAULT_LIBVIRT_URI = "qemu:///system"

#: the Open vSwitch modules' connection (doc fragment kvmnet.hypervisor.ovsdb)
OVSDB_ARGS = dict(
    database=dict(type="str", default=DEFAULT_DATABASE),
    timeout=dict(type="int", default=DEFAULT_OVSDB_TIMEOUT),
)

#: the libvirt modules' connection (doc fragment kvmnet.hypervisor.libvirt)
LIBVIRT_ARGS = dict(
    uri=dict(type="str", default=DEFAULT_LIBVIRT_URI),
)

#: a libvirt ``<vlan>`` (libvirt_iface's vlan, libvirt_network's vlan and portgroups' vlan)
VLAN_OPTIONS = dict(
    tags=dict(type="list", elements="int"),
    trunk=dict(type="bool"),
    native_tag=dict(type="int"),
    native_mode=dict(type="str", choices=["tagged", "untagged"]),
)

#: the network namespace the netlink modules work in (doc fragment kvmnet.hypervisor.netns)
NETNS_ARGS = dict(
    netns=dict(type="str"),
)
