# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Canonical form of libvirt <interface>/<hostdev>: generated values ignored, real changes found."""

from __future__ import annotations

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon, _libvirt
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    BackendUnavailable, InvalidInput, KvmnetError, NotFound, Unsupported)

ASKED = """<interface type='bridge'><mac address='52:54:00:AA:00:02'/><source bridge='ovs0'/>
<virtualport type='openvswitch'/><vlan><tag id='2'/></vlan><model type='virtio'/></interface>"""

# what libvirt returns for it on a running domain: alias, guest address, target, interfaceid
LIVE = """<interface type='bridge'>
  <mac address='52:54:00:aa:00:02'/>
  <source bridge='ovs0'/>
  <vlan><tag id='2'/></vlan>
  <virtualport type='openvswitch'><parameters interfaceid='0f3b1c2e-1111-2222-3333-444455556666'/></virtualport>
  <target dev='vnet3'/>
  <model type='virtio'/>
  <alias name='net0'/>
  <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
</interface>"""


def test_generated_values_do_not_change_canonical_xml():
    assert _libvirt.canonical_xml(_libvirt.parse_xml(ASKED)) == _libvirt.canonical_xml(_libvirt.parse_xml(LIVE))


def test_real_change_is_found():
    changed = LIVE.replace("<tag id='2'/>", "<tag id='3'/>")
    assert _libvirt.canonical_xml(_libvirt.parse_xml(changed)) != _libvirt.canonical_xml(_libvirt.parse_xml(LIVE))
    a, b = _libvirt.parse_interface(_libvirt.parse_xml(LIVE)), _libvirt.parse_interface(_libvirt.parse_xml(changed))
    assert {k for k in a if a[k] != b[k]} == {"vlan"}


def test_user_alias_and_target_kept_when_asked():
    xml = LIVE.replace("net0", "ua-uplink")
    assert 'name="ua-uplink"' in _libvirt.canonical_xml(_libvirt.parse_xml(xml))
    assert "vnet3" in _libvirt.canonical_xml(_libvirt.parse_xml(LIVE), keep_target=True)


def test_parse_interface_defaults():
    got = _libvirt.parse_interface(_libvirt.parse_xml(LIVE))
    assert got == {
        "type": "bridge", "mac": "52:54:00:aa:00:02", "alias": "net0", "source": "ovs0", "source_mode": None,
        "portgroup": None, "managed": None, "virtualport": "openvswitch", "model": "virtio", "driver_name": None,
        "queues": 1, "rx_queue_size": None, "tx_queue_size": None,
        "vlan": {"tags": [2], "trunk": False, "native_tag": None, "native_mode": None},
        "target_dev": "vnet3", "mtu": None, "link_state": "up", "bandwidth": {}}


def test_parse_direct_hostdev_network_and_extras():
    direct = _libvirt.parse_interface(_libvirt.parse_xml("<interface type='direct'><source dev='eth1'/></interface>"))
    assert (direct["source"], direct["source_mode"]) == ("eth1", "vepa")  # libvirt's default mode
    hostdev = _libvirt.parse_interface(_libvirt.parse_xml(
        "<interface type='hostdev' managed='yes'><source><address type='pci' domain='0x0000' bus='0x03' "
        "slot='0x10' function='0x1'/></source><driver name='vfio'/></interface>"))
    assert (hostdev["source"], hostdev["managed"]) == ("0000:03:10.1", True)
    net = _libvirt.parse_interface(_libvirt.parse_xml(
        "<interface type='network'><source network='default' portgroup='web' bridge='virbr0'/>"
        "<driver name='vhost' queues='4' rx_queue_size='512'/><mtu size='9000'/><link state='down'/>"
        "<vlan trunk='yes'><tag id='2'/><tag id='3' nativeMode='untagged'/></vlan>"
        "<bandwidth><inbound average='1000' peak='5000' burst='1024'/><outbound average='128'/></bandwidth>"
        "</interface>"))
    assert (net["source"], net["portgroup"], net["driver_name"], net["queues"], net["rx_queue_size"]) == \
        ("default", "web", "vhost", 4, 512)
    assert (net["mtu"], net["link_state"]) == (9000, "down")
    assert net["vlan"] == {"tags": [2, 3], "trunk": True, "native_tag": 3, "native_mode": "untagged"}
    assert net["bandwidth"] == {"inbound": {"average": 1000, "peak": 5000, "burst": 1024},
                                "outbound": {"average": 128}}


def test_hostdev_canonical_ignores_guest_address_and_default_driver():
    asked = ("<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x04' "
             "slot='0x00' function='0x0'/></source></hostdev>")
    live = ("<hostdev mode='subsystem' type='pci' managed='yes'><driver name='vfio'/><source><address "
            "domain='0x0000' bus='0x04' slot='0x00' function='0x0'/></source><alias name='hostdev0'/>"
            "<address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/></hostdev>")
    assert _libvirt.canonical_xml(_libvirt.parse_xml(asked)) == _libvirt.canonical_xml(_libvirt.parse_xml(live))
    assert _libvirt.parse_hostdev(_libvirt.parse_xml(live)) == {"source": "0000:04:00.0", "managed": True, "alias": None}


def test_pci_address_attrs_round_trip():
    """The attributes written into <address> parse back (through _canon) to the same address."""
    attrs = _libvirt.pci_address_attrs("0000:af:1f.7")
    assert attrs == {"type": "pci", "domain": "0x0000", "bus": "0xaf", "slot": "0x1f", "function": "0x7"}
    assert _canon.pci_address(attrs) == "0000:af:1f.7"


@pytest.mark.parametrize("name", ["sriov-pool", "pool_1", "a", "Pool.2+x"])
def test_object_name_accepts(name):
    assert _libvirt.object_name(name) == name


@pytest.mark.parametrize("name", ["", "..", ".", "-x", "a b", "a;b", "a/b", "pool\n", "x" * 251, None])
def test_object_name_refuses_naming_option_and_value(name):
    with pytest.raises(InvalidInput) as err:
        _libvirt.object_name(name, "name")
    assert err.value.option == "name" and repr(name) in err.value.msg


def test_canonical_vlan():
    assert _libvirt.canonical_vlan(None) is None
    assert _libvirt.canonical_vlan({"tags": []}) == {}
    assert _libvirt.canonical_vlan({"tags": [3, 2, 3]}) == {"tags": [2, 3], "trunk": True, "native_tag": None,
                                                            "native_mode": None}
    assert _libvirt.canonical_vlan({"tags": [2, 3], "native_tag": 3})["native_mode"] == "untagged"
    with pytest.raises(InvalidInput, match="native_tag"):
        _libvirt.canonical_vlan({"tags": [2], "native_tag": 5})
    with pytest.raises(InvalidInput, match="vlan.tags"):
        _libvirt.canonical_vlan({"tags": [4095]})
    with pytest.raises(InvalidInput, match="trunk"):
        _libvirt.canonical_vlan({"tags": [2, 3], "trunk": False})


def test_canonical_bandwidth():
    assert _libvirt.canonical_bandwidth({}) == {}
    assert _libvirt.canonical_bandwidth({"inbound": {"average": 10, "peak": None}}) == {"inbound": {"average": 10}}
    with pytest.raises(InvalidInput, match="bandwidth.outbound"):
        _libvirt.canonical_bandwidth({"outbound": {"peak": 3}})
    with pytest.raises(InvalidInput, match="bandwidth.inbound.average"):
        _libvirt.canonical_bandwidth({"inbound": {"average": -1}})


def test_canonical_bandwidth_limits_accepted():
    top = 2 ** 32 - 1
    value = {"inbound": {"average": top, "peak": top, "burst": top // 1024, "floor": top},
             "outbound": {"average": 1, "peak": 1, "burst": 1}}
    assert _libvirt.canonical_bandwidth(value) == value
    assert _libvirt.canonical_bandwidth({"inbound": {"floor": 100}}) == {"inbound": {"floor": 100}}


@pytest.mark.parametrize("value,msg", [
    # unsigned int in libvirt's API (virDomainSetInterfaceParameters)
    ({"inbound": {"average": 2 ** 32}}, r"^bandwidth\.inbound\.average: 4294967296 is out of range \(1-4294967295 KiB/s"),
    ({"outbound": {"average": 10, "peak": 2 ** 32}}, r"^bandwidth\.outbound\.peak: 4294967296 is out of range"),
    ({"inbound": {"average": 10, "floor": 2 ** 64}}, r"^bandwidth\.inbound\.floor: 18446744073709551616 is out"),
    # tc keeps a burst as 32-bit bytes
    ({"outbound": {"average": 10, "burst": 4194304}}, r"^bandwidth\.outbound\.burst: 4194304 is out of range "
                                                      r"\(1-4194303 KiB"),
    ({"outbound": {"average": 10, "burst": 2 ** 32}}, r"^bandwidth\.outbound\.burst: 4294967296 is out of range"),
    # libvirt writes 0 as "not set": it would never converge
    ({"inbound": {"average": 0}}, r"^bandwidth\.inbound\.average: 0 is out of range"),
    ({"inbound": {"average": 10, "peak": True}}, r"^bandwidth\.inbound\.peak: True is not an integer"),
    ({"inbound": {"average": 1000, "peak": 10}}, r"^bandwidth\.inbound\.peak: 10 is below bandwidth\.inbound\.average "
                                                 r"1000"),
    ({"outbound": {"average": 1000, "peak": 999}}, r"^bandwidth\.outbound\.peak: 999 is below"),
    ({"inbound": {"floor": 10, "peak": 20}}, r"^bandwidth\.inbound\.peak: 20 needs bandwidth\.inbound\.average"),
    ({"inbound": {"floor": 10, "burst": 20}}, r"^bandwidth\.inbound\.burst: 20 needs bandwidth\.inbound\.average"),
    ({"outbound": {"average": 10, "floor": 5}}, r"^bandwidth\.outbound\.floor: 5 is only valid for inbound"),
])
def test_canonical_bandwidth_refused_naming_the_sub_option(value, msg):
    with pytest.raises(InvalidInput, match=msg):
        _libvirt.canonical_bandwidth(value)


class FakeLibvirtError(Exception):
    def __init__(self, code, msg="boom"):
        super().__init__(msg)
        self.code = code
        self.msg = msg

    def get_error_code(self):
        return self.code

    def get_error_message(self):
        return self.msg


@pytest.mark.parametrize("code,kind", [(_libvirt.ERR_NO_DOMAIN, NotFound), (_libvirt.ERR_OPERATION_UNSUPPORTED, Unsupported),
                                       (_libvirt.ERR_CONFIG_UNSUPPORTED, Unsupported), (_libvirt.ERR_RPC, BackendUnavailable),
                                       (_libvirt.ERR_OPERATION_FAILED, KvmnetError)])
def test_translate(code, kind):
    err = _libvirt.translate(FakeLibvirtError(code), "domain 'vm1': update interface")
    assert err.__class__ is kind and err.msg.startswith("domain 'vm1': update interface: boom")
