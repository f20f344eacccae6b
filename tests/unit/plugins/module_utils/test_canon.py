# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Canonical forms: MACs, names, CPU lists and masks, OVS values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _canon
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import InvalidInput


@pytest.mark.parametrize("text", ["52:54:00:AB:cd:0F", "52-54-00-ab-CD-0f", "5254.00ab.cd0f", "52:54:0:ab:cd:f"])
def test_mac_forms(text):
    assert _canon.mac(text) == "52:54:00:ab:cd:0f"


@pytest.mark.parametrize("text", ["zz:54:00:ab:cd:0f", "52:54:00:ab:cd", "", "52:54:00:ab:cd:0f:11",
                                  # a trailing newline passed "$"; whitespace around it is not a MAC either
                                  "52:54:00:6b:00:1\n", "52:54:00:6b:00:01\n", " 52:54:00:6b:00:01",
                                  "52:54:00:6b:00:01 ", "5254.00ab.cd0f\n", "52:54:00:6b:00:01\t"])
def test_mac_invalid_names_option_and_value(text):
    with pytest.raises(InvalidInput) as info:
        _canon.mac(text, "address")
    assert info.value.option == "address"
    assert repr(text) in info.value.msg


def test_unicast_mac_refuses_multicast():
    with pytest.raises(InvalidInput, match="multicast"):
        _canon.unicast_mac("01:00:5e:00:00:01")
    assert _canon.unicast_mac("02:00:00:00:00:01") == "02:00:00:00:00:01"


@pytest.mark.parametrize("name,ok", [("eth0", True), ("a" * 15, True), ("a" * 16, False), ("a/b", False),
                                     ("a b", False), (".", False), ("", False), ("é" * 8, False),
                                     # the kernel's dev_valid_name(): ':' and its isspace() bytes are refused
                                     ("eth0:1", False), ("a\tb", False), ("a\nb", False), ("a\vb", False),
                                     ("a\fb", False), ("a\rb", False), ("a\x00b", False), ("..", False),
                                     ("à", False),  # UTF-8 c3 a0: 0xa0 is a space to the kernel
                                     ("é", True), ("\u2003x", True),  # e2 80 83: no byte the kernel refuses
                                     ("...", True), (".a", True), ("a-b_c.d@e", True), ("é" * 7, True)])
def test_ifname(name, ok):
    if ok:
        assert _canon.ifname(name) == name
    else:
        with pytest.raises(InvalidInput):
            _canon.ifname(name)


def test_cpu_list_forms_are_one_set():
    assert _canon.cpus_parse("0-3") == _canon.cpus_parse("0,1,2,3") == _canon.mask_to_cpus("f") == (0, 1, 2, 3)
    assert _canon.cpus_parse([0, "2-3", 8]) == (0, 2, 3, 8)
    assert _canon.cpus_format((0, 1, 2, 3, 8, 10, 11)) == "0-3,8,10-11"
    assert _canon.cpus_to_mask((0, 1, 2, 3)) == "0000000f"
    assert _canon.cpus_to_mask((0, 33)) == "00000002,00000001"
    assert _canon.mask_to_cpus("00000002,00000001") == (0, 33)
    assert _canon.cpus_to_mask((), width=4) == "00000000"


@pytest.mark.parametrize("bad", ["3-1", "a", "1,,x", "", -1, True, "1\n2", "\u0661", "8192", "0-99999999999"])
def test_cpu_list_invalid(bad):
    with pytest.raises(InvalidInput):
        _canon.cpus_parse(bad, "cpus")


@given(st.sets(st.integers(min_value=0, max_value=255), min_size=1))
def test_cpu_roundtrips(cpus):
    assert _canon.cpus_parse(_canon.cpus_format(cpus)) == tuple(sorted(cpus))
    assert _canon.mask_to_cpus(_canon.cpus_to_mask(cpus)) == tuple(sorted(cpus))


def test_ovs_values():
    assert _canon.ovs_map({"stp": True, "n": 10, "s": "x"}) == {"stp": "true", "n": "10", "s": "x"}


@pytest.mark.parametrize("bad", [0, 4095, -1, "x", True])
def test_vlan_tag_range(bad):
    with pytest.raises(InvalidInput):
        _canon.vlan_tag(bad)


@pytest.mark.parametrize("value,want", [
    ("0000:01:00.0", "0000:01:00.0"), ("01:10.2", "0000:01:10.2"), ("0000:0A:00.1", "0000:0a:00.1"),
    (" 03:1f.7 ", "0000:03:1f.7"), ("1:2.3", "0000:01:02.3"),
    ({"domain": "0x0000", "bus": "0x04", "slot": "0x00", "function": "0x1"}, "0000:04:00.1"),
    ({"type": "pci", "bus": "4", "slot": "0x10", "function": "0"}, "0000:04:10.0"),
])
def test_pci_address_forms(value, want):
    assert _canon.pci_address(value) == want
    assert _canon.is_pci_address(value)


@pytest.mark.parametrize("value", ["0000:01:00.8", "enp1s0", "0000:03:20.1", "03:10", "zz:10.1", "", "virtio2",
                                   "00000:01:00.0", {"bus": "x"}, {"bus": "0x100"}, {"slot": "0x20"}])
def test_pci_address_refused_naming_option_and_value(value):
    with pytest.raises(InvalidInput) as info:
        _canon.pci_address(value, "source")
    assert info.value.option == "source"
    assert repr(value) in info.value.msg
    assert not _canon.is_pci_address(value)


@pytest.mark.parametrize("value,reason", [(None, "not an interface name"), (True, "not an interface name"),
                                          ("eth0:1", "found byte 0x3a"), ("a b/c", "found bytes 0x20, 0x2f")])
def test_ifname_message_names_option_value_and_bytes(value, reason):
    with pytest.raises(InvalidInput, match=reason) as err:
        _canon.ifname(value, "ports")
    assert err.value.option == "ports" and err.value.value == value
    assert err.value.msg.startswith("ports: %r" % (value,))


@pytest.mark.parametrize("value", ["", " ", "0,,1", "0,", ",1", "0-1,,3", [0, ""], []])
def test_cpu_list_with_an_empty_item_is_refused_naming_option_and_value(value):
    with pytest.raises(InvalidInput) as err:
        _canon.cpus_parse(value, "cpus")
    assert err.value.option == "cpus" and err.value.value == value
    assert "empty" in err.value.msg and err.value.msg.startswith("cpus: %r" % (value,))


def test_cpu_list_spaces_around_items_are_fine():
    assert _canon.cpus_parse("0, 1 ,2-3") == (0, 1, 2, 3)


def test_cpu_numbers_above_the_largest_nr_cpus_are_refused_naming_the_cpu():
    assert _canon.cpus_parse("8191") == (8191,)
    with pytest.raises(InvalidInput, match=r"^cpus: '0-4294967295' names CPU 4294967295; Linux numbers CPUs 0-8191"):
        _canon.cpus_parse("0-4294967295", "cpus")


@pytest.mark.parametrize("name", ["ns1", "kvt-ns.1", "a" * 255, "...", ".a", "a b", "é", "ns;1"])
def test_netns_name_valid(name):
    assert _canon.netns_name(name) == name


def test_netns_name_unset_is_the_hosts_namespace():
    assert _canon.netns_name(None) is None


@pytest.mark.parametrize("name,reason", [
    ("", "is empty; name a namespace of 'ip netns list', or leave netns unset"),
    (".", r"not '\.' or '\.\.'"), ("..", r"not '\.' or '\.\.'"),
    ("a/b", "contains '/'"), ("/run/netns/x", "contains '/'"), ("../x", "contains '/'"),
    ("a\x00b", "contains a NUL byte"),
    ("a" * 256, "is 256 bytes long; a network namespace name is at most 255 bytes"),
    ("é" * 128, "is 256 bytes long"),
    (["ns1"], "is not a network namespace name"), (5, "is not a network namespace name"),
])
def test_netns_name_refused_naming_option_and_value(name, reason):
    with pytest.raises(InvalidInput, match=reason) as err:
        _canon.netns_name(name)
    assert err.value.option == "netns" and err.value.value == name
    assert err.value.msg.startswith("netns: %r" % (name,))


@pytest.mark.parametrize("uri", ["qemu:///system", "qemu:///session", "test:///default", "qemu+ssh://root@hv1/system",
                                 "qemu+tcp://10.0.0.1:16509/system", "qemu+unix:///system?socket=/run/x.sock",
                                 "qemu+ssh://[2001:db8::1]/system?keyfile=/root/.ssh/id", "lxc:///"])
def test_libvirt_uri_accepted(uri):
    assert _canon.libvirt_uri(uri) == uri


def test_libvirt_uri_default():
    assert _canon.libvirt_uri(None) == "qemu:///system"


@pytest.mark.parametrize("uri", ["", " ", "not a uri", "qemu:///system\n", "qemu:///system\x00", "qemu:///sys tem",
                                 "qemu:///system\t", "qemu:/system", "qemu", "///system", "1qemu:///system",
                                 "qemu:///\x7f"])
def test_libvirt_uri_refused_naming_option_and_value(uri):
    with pytest.raises(InvalidInput) as err:
        _canon.libvirt_uri(uri, "uri")
    assert err.value.option == "uri"
    assert err.value.msg.startswith("uri: %r is not a libvirt URI" % uri)
