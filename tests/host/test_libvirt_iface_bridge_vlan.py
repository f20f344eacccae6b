# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""libvirt_iface ``vlan`` of a NIC on a Linux bridge: kept in the domain's metadata (the private
libvirtd's persistent definition, read back with XMLDesc), never as ``<vlan>`` in the XML.

The live retag of a running domain's tap needs the tap in the module's network namespace and a
kernel with bridge VLAN filtering; the test bed's libvirtd runs in a namespace of its own and this
machine's kernel has no CONFIG_BRIDGE_VLAN_FILTERING: the VM tier covers it (and the hook test in
test_linux_bridge_vlan.py runs the hook against a real bridge where the kernel can).
"""

from __future__ import annotations

import pytest
from testbed.libvirtd import bridge_iface
from testbed.util import unique_ifname

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt_iface_vlans as nicvlans
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import InvalidInput
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_iface import LibvirtIfaceResource

MAC = "52:54:00:6b:00:21"


@pytest.fixture
def bridge(libvirtd):
    name = unique_ifname("kvt")
    libvirtd.netns.add_bridge(name)
    yield name
    libvirtd.netns.ip("link", "del", name, check=False)


def run(libvirtd, domain, check_mode=False, **kw):
    params = dict(uri=libvirtd.uri, domain=domain, mac=MAC, state="present", config=True, live=True,
                  allow_config_only=False, detach_timeout=10)
    params.update(kw)
    return execute(LibvirtIfaceResource(params), check_mode=check_mode)


def stored(dom):
    """(the metadata's entries, the <interface> XML) of the persistent definition."""
    root = _libvirt.parse_xml(dom.XMLDesc(_libvirt.XML_INACTIVE))
    iface = [e for e in root.findall("./devices/interface") if e.find("mac").get("address") == MAC][0]
    return nicvlans.read_metadata(root), _libvirt.to_string(iface)


def test_vlan_of_a_linux_bridge_nic_goes_to_the_metadata_idempotent_check_mode_removal(libvirtd, libvirt_domains,
                                                                                       bridge):
    dom = libvirt_domains.define(interfaces=[bridge_iface(bridge, mac=MAC)], start=False)
    name = dom.name()
    res = run(libvirtd, name, vlan={"tags": [100]})
    assert [(o["action"], o["flags"]) for o in res["operations"]] == [("set_bridge_vlans", ["config"])]
    assert any(nicvlans.HOOK_PATH + " is not installed" in w for w in res["warnings"])
    entries, xml = stored(dom)
    assert entries == {MAC: {"pvid": 100, "untagged": "100", "tagged": ""}} and "<vlan" not in xml
    assert res["after"]["config"]["vlan"] == {"tags": [100], "trunk": False, "native_tag": None, "native_mode": None}
    assert run(libvirtd, name, vlan={"tags": [100]})["changed"] is False
    trunk = {"tags": [100, 200, 201], "native_tag": 100, "native_mode": "tagged"}
    pred = run(libvirtd, name, check_mode=True, vlan=trunk)
    assert pred["changed"] and stored(dom)[0] == entries
    assert any(d["before_header"].endswith("of domain %s" % name) and "native_tag: 100" in d["after"]
               for d in pred["diff"])
    res = run(libvirtd, name, vlan=trunk)
    assert res["after"] == pred["after"]
    assert stored(dom)[0] == {MAC: {"pvid": 100, "untagged": "", "tagged": "100,200-201"}}
    # an XML change beside it: check mode predicts the fields the real run reads back (the vlan kept;
    # the XML itself is libvirt's formatting of what was sent)
    pred = run(libvirtd, name, check_mode=True, vlan=trunk, link_state="down")
    assert [o["action"] for o in pred["operations"]] == ["update"]
    real = run(libvirtd, name, vlan=trunk, link_state="down")
    fields = [{k: v for k, v in res["after"]["config"].items() if k != "xml"} for res in (pred, real)]
    assert fields[0] == fields[1] and fields[0]["vlan"]["tags"] == [100, 200, 201]
    # a second NIC's entry is kept beside the first
    run(libvirtd, name, mac="52:54:00:6b:00:22", type="bridge", source=bridge, vlan={"tags": [7]})
    assert set(stored(dom)[0]) == {MAC, "52:54:00:6b:00:22"}
    run(libvirtd, name, vlan={"tags": []})
    assert set(stored(dom)[0]) == {"52:54:00:6b:00:22"}
    # removing the NIC drops its entry
    res = run(libvirtd, name, mac="52:54:00:6b:00:22", state="absent")
    assert [o["action"] for o in res["operations"]] == ["detach", "set_bridge_vlans"]
    assert stored(dom)[0] == {}


def test_bad_vlan_is_refused_with_the_definition_unchanged(libvirtd, libvirt_domains, bridge):
    dom = libvirt_domains.define(interfaces=[bridge_iface(bridge, mac=MAC)], start=False)
    before = dom.XMLDesc(_libvirt.XML_INACTIVE)
    for vlan, words in [({"tags": [4095]}, "vlan.tags: 4095"), ({"tags": [0]}, "vlan.tags: 0"),
                        ({"tags": [5], "native_tag": 6}, "vlan.native_tag: 6 is not one of the tags")]:
        with pytest.raises(InvalidInput) as exc:
            run(libvirtd, dom.name(), vlan=vlan)
        assert words in exc.value.msg
    assert dom.XMLDesc(_libvirt.XML_INACTIVE) == before
