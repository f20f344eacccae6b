# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The libvirt qemu hook of the linux_bridge role (roles/linux_bridge/files/kvmnet-bridge-vlans.py), run
for real as a process with a domain XML on stdin, as libvirt runs it, and a fake ``bridge`` on PATH
that keeps the taps' VLANs in a JSON file (what bridge(8) would show)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt_iface_vlans as nicvlans

HOOK = Path(__file__).resolve().parents[4] / "roles" / "linux_bridge" / "files" / "kvmnet-bridge-vlans.py"

FAKE_BRIDGE = r'''#!/usr/bin/env python3
# fake bridge(8): "-j vlan show dev T", "vlan add dev T vid N [pvid] [untagged] master", "vlan del dev T vid N master"
import json, os, sys
args = sys.argv[1:]
state_file = os.environ["KVMNET_TEST_TAPS"]
with open(os.environ["KVMNET_TEST_LOG"], "a") as log:
    log.write(" ".join(args) + "\n")
taps = json.load(open(state_file))
tap = args[args.index("dev") + 1]
if tap not in taps:
    sys.stderr.write('Cannot find device "%s"\n' % tap)
    sys.exit(1)
vlans = taps[tap]
if args[0] == "-j":
    out = [{"ifname": tap, "vlans": [dict({"vlan": int(v)}, flags=[f for f, on in (("PVID", p), ("Egress Untagged", u)) if on])
                                     for v, (p, u) in sorted(vlans.items(), key=lambda i: int(i[0]))]}]
    print(json.dumps(out))
    sys.exit(0)
vid = args[args.index("vid") + 1]
if args[1] == "add":
    if "pvid" in args:
        for other in vlans.values():
            other[0] = False
    vlans[vid] = ["pvid" in args, "untagged" in args]
else:
    vlans.pop(vid, None)
json.dump(taps, open(state_file, "w"))
'''


def domain_xml(interfaces, entries):
    """A domain's live XML as libvirt gives it at "started": metadata as libvirt writes it."""
    opening = '<kvmnet:bridge-vlans xmlns:kvmnet="%s">' % nicvlans.NAMESPACE
    meta = nicvlans.metadata_xml(entries).replace("<bridge-vlans>", opening).replace("</bridge-vlans>",
                                                                                     "</kvmnet:bridge-vlans>")
    # libvirt puts the children in the namespace too (measured with libvirt 9)
    meta = meta.replace("<interface ", "<kvmnet:interface ")
    return "<domain type='kvm'><name>vm1</name><metadata>%s</metadata><devices>%s</devices></domain>" % (
        meta, "".join(interfaces))


def nic(mac, tap, itype="bridge", ovs=False):
    return ("<interface type='%s'><mac address='%s'/><source bridge='br0'/>%s<target dev='%s'/>"
            "<model type='virtio'/></interface>" % (itype, mac, "<virtualport type='openvswitch'/>" if ovs else "", tap))


@pytest.fixture
def hook(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "bridge").write_text(FAKE_BRIDGE.replace("/usr/bin/env python3", sys.executable))
    (bindir / "bridge").chmod(0o755)
    taps = tmp_path / "taps.json"
    log = tmp_path / "bridge.log"
    env = dict(os.environ, PATH="%s:%s" % (bindir, os.environ["PATH"]), KVMNET_TEST_TAPS=str(taps),
               KVMNET_TEST_LOG=str(log))

    def run(xml, operation="started", state=None):
        taps.write_text(json.dumps(state if state is not None else {"vnet0": {"1": [True, True]}}))
        log.write_text("")
        res = subprocess.run([sys.executable, str(HOOK), "vm1", operation, "begin", "-"], input=xml, env=env,
                             capture_output=True, text=True, check=False, timeout=60)
        return res, json.loads(taps.read_text()), log.read_text().splitlines()
    return run


def test_an_access_nic_gets_its_vlan_and_loses_the_default_pvid(hook):
    mac = "52:54:00:00:00:01"
    res, taps, calls = hook(domain_xml([nic(mac.upper(), "vnet0")], {mac: nicvlans.entry_of_vlan(
        {"tags": [100], "trunk": False, "native_tag": None, "native_mode": None})}))
    assert (res.returncode, res.stdout) == (0, "")
    assert taps["vnet0"] == {"100": [True, True]}
    assert calls == ["-j vlan show dev vnet0", "vlan add dev vnet0 vid 100 pvid untagged master",
                     "vlan del dev vnet0 vid 1 master"]


def test_a_trunk_gets_exactly_its_tags_and_an_unrelated_nic_is_left_alone(hook):
    trunk = nicvlans.entry_of_vlan({"tags": [10, 20, 21], "trunk": True, "native_tag": 10, "native_mode": "tagged"})
    xml = domain_xml([nic("52:54:00:00:00:01", "vnet0"), nic("52:54:00:00:00:02", "vnet1"),
                      nic("52:54:00:00:00:03", "vnet2", ovs=True)],
                     {"52:54:00:00:00:01": trunk, "52:54:00:00:00:03": trunk})
    state = {"vnet0": {"1": [True, True], "20": [False, False]}, "vnet1": {"1": [True, True]}, "vnet2": {}}
    res, taps, calls = hook(xml, state=state)
    assert res.returncode == 0, res.stderr
    assert taps == {"vnet0": {"10": [True, False], "20": [False, False], "21": [False, False]},
                    "vnet1": {"1": [True, True]}, "vnet2": {}}
    assert not any("vnet1" in c or "vnet2" in c for c in calls)


@pytest.mark.parametrize("operation", ["prepare", "start", "stopped", "release", "migrate", "restore", "reconnect"])
def test_other_operations_change_nothing_and_print_nothing(hook, operation):
    access = {"52:54:00:00:00:01": {"pvid": 5, "untagged": "5", "tagged": ""}}
    xml = domain_xml([nic("52:54:00:00:00:01", "vnet0")], access)
    res, taps, calls = hook(xml, operation=operation)
    assert (res.returncode, res.stdout, calls) == (0, "", [])
    assert taps == {"vnet0": {"1": [True, True]}}


def test_a_domain_without_metadata_is_left_alone(hook):
    res, _taps, calls = hook("<domain><name>vm1</name><devices>%s</devices></domain>" % nic("52:54:00:00:00:01", "vnet0"))
    assert (res.returncode, calls) == (0, [])


def test_a_tap_that_cannot_be_tagged_fails_the_start_naming_domain_and_nic(hook):
    access = {"52:54:00:00:00:01": {"pvid": 5, "untagged": "5", "tagged": ""}}
    xml = domain_xml([nic("52:54:00:00:00:01", "vnet7")], access)
    res, _taps, _calls = hook(xml)
    assert res.returncode == 1 and res.stdout == ""
    assert "domain vm1, interface 52:54:00:00:00:01 (vnet7)" in res.stderr and 'Cannot find device "vnet7"' in res.stderr


@pytest.mark.parametrize("vlan", [
    {"tags": [7], "trunk": False, "native_tag": None, "native_mode": None},
    {"tags": [7], "trunk": True, "native_tag": None, "native_mode": None},
    {"tags": [7, 8, 9, 300], "trunk": True, "native_tag": 8, "native_mode": "untagged"},
    {"tags": [7, 8], "trunk": True, "native_tag": 7, "native_mode": "tagged"},
])
def test_the_module_reads_back_what_it_wrote(vlan):
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt

    entry = nicvlans.entry_of_vlan(vlan)
    assert nicvlans.vlan_of_entry(entry) == vlan
    root = _libvirt.parse_xml(domain_xml([], {"52:54:00:00:00:01": entry}))
    assert nicvlans.read_metadata(root) == {"52:54:00:00:00:01": entry}
