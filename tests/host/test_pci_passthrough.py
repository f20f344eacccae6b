# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PCI passthrough pieces on this machine: the node-device tree from the private libvirtd, and the
pci_device preflight on the real sysfs (this kernel has no IOMMU: binding must be refused, nothing
written). Check mode only, so that a machine WITH an IOMMU never gets a real device unbound here.
"""

from __future__ import annotations

import os

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import NotFound, Unsupported
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._pci_device import PciDeviceResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_nodedev_info import LibvirtNodedevInfoResource


def test_nodedev_tree_matches_sysfs(libvirtd):
    res = execute(LibvirtNodedevInfoResource({"uri": libvirtd.uri, "capability": "pci"}))
    assert res["changed"] is False
    want = sorted(os.listdir("/sys/bus/pci/devices"))
    assert sorted(d["pci_address"] for d in res["devices"]) == want
    assert res["tree"].splitlines()[0] == "computer"
    for dev in res["devices"]:
        assert "pci_%s" % dev["pci_address"].replace(":", "_").replace(".", "_") in res["tree"]


def test_pci_device_preflight_on_real_sysfs():
    address = sorted(os.listdir("/sys/bus/pci/devices"))[0]
    if os.listdir("/sys/kernel/iommu_groups"):
        pytest.skip("this host has an IOMMU; the refusal tested here needs one without (unit tests cover the rest)")
    with open("/sys/bus/pci/devices/%s/driver_override" % address) as handle:
        override_before = handle.read()
    with pytest.raises(Unsupported, match="IOMMU is off"):
        execute(PciDeviceResource({"address": address, "driver": "vfio-pci", "force": False}), check_mode=True)
    with open("/sys/bus/pci/devices/%s/driver_override" % address) as handle:
        assert handle.read() == override_before
    with pytest.raises(NotFound, match="0000:7f:1f.7 does not exist"):
        execute(PciDeviceResource({"address": "7f:1f.7", "driver": "vfio-pci", "force": False}), check_mode=True)


def test_sriov_network_pool_define_idempotent_undefine(libvirtd):
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_sriov_network import LibvirtSriovNetworkResource

    name = "kvt-sriov-pool"
    p = dict(uri=libvirtd.uri, name=name, state="present", pf="enp9s0", managed=True, active=None, autostart=True)
    res = execute(LibvirtSriovNetworkResource(p))
    assert [o["action"] for o in res["operations"]] == ["define", "autostart"]
    net = libvirtd.conn().networkLookupByName(name)
    xml = net.XMLDesc(0)
    assert "<forward mode='hostdev' managed='yes'>" in xml and "<pf dev='enp9s0'/>" in xml
    assert net.autostart() == 1
    uuid = net.UUIDString()
    assert execute(LibvirtSriovNetworkResource(p))["changed"] is False
    res = execute(LibvirtSriovNetworkResource(dict(p, pf="enp9s1")))
    assert res["operations"][0]["changes"] == {"pf": {"before": "enp9s0", "after": "enp9s1"}}
    assert libvirtd.conn().networkLookupByName(name).UUIDString() == uuid  # same network, redefined
    execute(LibvirtSriovNetworkResource(dict(p, state="absent")))
    assert name not in libvirtd.conn().listNetworks() + libvirtd.conn().listDefinedNetworks()


def test_libvirt_hostdev_on_stopped_domain(libvirtd, libvirt_domains):
    """Config only: the domain is never started, so no host device is ever detached from its driver."""
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_hostdev import LibvirtHostdevResource

    dom = libvirt_domains.define([], start=False)
    address = sorted(os.listdir("/sys/bus/pci/devices"))[0]
    p = dict(uri=libvirtd.uri, domain=dom.name(), source=address, state="present", managed=None, config=True,
             live=True, allow_config_only=False, detach_timeout=10)
    res = execute(LibvirtHostdevResource(p))
    assert [(o["action"], o["flags"]) for o in res["operations"]] == [("attach", ["config"])]
    root = _libvirt.parse_xml(dom.XMLDesc(_libvirt.XML_INACTIVE))
    assert [_libvirt.parse_hostdev(h)["source"] for h in root.findall("./devices/hostdev")] == [address]
    assert execute(LibvirtHostdevResource(p))["changed"] is False  # libvirt's guest address etc. ignored
    res = execute(LibvirtHostdevResource(dict(p, managed=False)))
    assert [(o["action"], o["changes"]) for o in res["operations"]] == [
        ("detach", {"managed": {"before": True, "after": False}}), ("attach", {"managed": {"before": True, "after": False}})]
    root = _libvirt.parse_xml(dom.XMLDesc(_libvirt.XML_INACTIVE))
    assert [h.get("managed") for h in root.findall("./devices/hostdev")] == ["no"]
    with pytest.raises(NotFound, match="0000:7f:1f.7 does not exist"):
        execute(LibvirtHostdevResource(dict(p, source="7f:1f.7")))
    execute(LibvirtHostdevResource(dict(p, state="absent")))
    assert _libvirt.parse_xml(dom.XMLDesc(_libvirt.XML_INACTIVE)).findall("./devices/hostdev") == []
    assert dom.isActive() == 0
