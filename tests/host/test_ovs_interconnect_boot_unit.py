# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ovs_interconnect with a patch link removes a veth boot unit an earlier run left (the unit and
its enable link), found with one read: check mode reports it and keeps it, a run removes both, a
rerun finds nothing and changes nothing.

The unit is written into this machine's /etc/systemd/system under a kvt- name and removed in any
case; systemd is not asked anything (the role only deletes files here).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SYSTEMD = Path("/etc/systemd/system")


@pytest.fixture
def stale_unit(kvt_root):
    name = "kvmnet-ovs-veth-kvt-pa%d.service" % os.getpid()
    wants = SYSTEMD / "multi-user.target.wants"
    made_wants = not wants.exists()
    wants.mkdir(parents=True, exist_ok=True)
    unit, link = SYSTEMD / name, wants / name
    unit.write_text("[Unit]\nDescription=left from an earlier run\n")
    link.symlink_to(unit)
    try:
        yield name, unit, link
    finally:
        for path in (link, unit):
            if path.is_symlink() or path.exists():
                path.unlink()
        if made_wants:
            wants.rmdir()


def test_patch_link_removes_a_stale_veth_boot_unit(ovs, run_playbook, stale_unit):
    name, unit, link = stale_unit
    port = name[len("kvmnet-ovs-veth-"):-len(".service")]
    task = {"name": "link", "ansible.builtin.include_role": {"name": "kvmnet.hypervisor.ovs_interconnect"},
            "vars": {"ovs_interconnect_bridge": "br0", "ovs_interconnect_peer_bridge": "br1",
                     "ovs_interconnect_port": port, "ovs_interconnect_link_type": "patch",
                     "ovs_interconnect_datapath_type": "netdev", "ovs_interconnect_database": ovs.db,
                     "ovs_interconnect_install_packages": False, "ovs_interconnect_manage_service": False}}
    removal = "kvmnet.hypervisor.ovs_interconnect : No veth boot unit for a patch link or a removed link"

    for bridge in ("br0", "br1"):  # check mode plans the link on bridges that exist
        ovs.vsctl("add-br", bridge, "--", "set", "bridge", bridge, "datapath_type=netdev")

    check = run_playbook([task], check=True)
    assert check.rc == 0, str(check)
    assert check[removal].changed and unit.exists() and link.is_symlink()

    res = run_playbook([task])
    assert res.rc == 0, str(res)
    assert res[removal].changed
    assert not unit.exists() and not link.is_symlink()
    assert ovs.vsctl("get", "interface", port, "options:peer") == "br1-to-br0"

    again = run_playbook([task])
    assert again.rc == 0 and not [t.name for t in again.tasks if t.changed], str(again)
    assert again[removal].skipped
