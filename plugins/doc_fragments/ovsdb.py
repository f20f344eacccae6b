# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connection options of the Open vSwitch modules."""

from __future__ import annotations


class ModuleDocFragment:
    """database, timeout."""

    DOCUMENTATION = r"""
options:
  database:
    description:
      - OVSDB remote of the C(Open_vSwitch) database, as C(ovs-vsctl --db) takes it.
    type: str
    default: unix:/var/run/openvswitch/db.sock
  timeout:
    description:
      - Seconds to wait for ovsdb-server to answer and for ovs-vswitchd to apply the
        transaction (its C(cur_cfg) reaching C(next_cfg)).
      - At least 1 and at most 2147483 (the OVS library's limit); anything else is refused
        before the database is contacted.
    type: int
    default: 10
requirements:
  - python ovs >= 2.17 on the managed host (Debian/Ubuntu package C(python3-openvswitch))
"""
