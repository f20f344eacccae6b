# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Planning of libvirt_hostdev (pure functions, exact operations)."""

from __future__ import annotations

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _libvirt
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import InvalidInput, NotFound, Unsupported
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._libvirt_hostdev import LibvirtHostdevResource, plan_hostdev


def test_hostdev_plans():
    live = _libvirt.parse_xml("<hostdev mode='subsystem' type='pci' managed='yes'><driver name='vfio'/><source>"
                              "<address domain='0x0000' bus='0x04' slot='0x00' function='0x0'/></source>"
                              "<alias name='hostdev0'/><address type='pci' domain='0x0000' bus='0x00' slot='0x07' "
                              "function='0x0'/></hostdev>")
    d = dict(domain="vm1", state="present", source="0000:04:00.0", managed=None, config=True, live=True,
             allow_config_only=False)
    current = {"running": True, "persistent": True, "config": None, "live": None}
    (op,) = plan_hostdev(current, d, {})
    assert (op.action, op.params["flags"]) == ("attach", ["config", "live"])
    assert "bus=\"0x04\"" in op.params["xml"] and "managed=\"yes\"" in op.params["xml"]
    current = {"running": True, "persistent": True, "config": _libvirt.parse_hostdev(live), "live": _libvirt.parse_hostdev(live)}
    assert plan_hostdev(current, d, {"config": live, "live": live}) == []
    with pytest.raises(Unsupported, match="cannot change managed"):
        plan_hostdev(current, dict(d, managed=False), {"config": live, "live": live})
    ops = plan_hostdev(current, dict(d, managed=False, allow_config_only=True), {"config": live, "live": live})
    assert [(o.action, o.params["flags"]) for o in ops] == [("detach", ["config"]), ("attach", ["config"])]


def hostdev_params(**kw):
    return dict(dict(uri="test:///default", domain="vm1", source="04:00.0", state="present", managed=None,
                     config=True, live=True, allow_config_only=False, detach_timeout=10), **kw)


@pytest.mark.parametrize("kw,option", [
    (dict(source="04:00"), "source"), (dict(source="0000:04:20.0"), "source"), (dict(source="eth0"), "source"),
    (dict(config=False, live=False), "config"), (dict(detach_timeout=-1), "detach_timeout"),
])
def test_normalize_refuses_naming_option_and_value(kw, option):
    with pytest.raises(InvalidInput) as err:
        LibvirtHostdevResource(hostdev_params(**kw)).normalize()
    assert err.value.option == option
    assert repr(kw[option]) in err.value.msg


def test_source_must_exist_under_root(tmp_path):
    (tmp_path / "sys" / "bus" / "pci" / "devices" / "0000:04:00.0").mkdir(parents=True)
    current = {"running": True, "persistent": True, "config": None, "live": None}
    res = LibvirtHostdevResource(hostdev_params(), root=str(tmp_path))
    assert [(o.action, o.params["flags"]) for o in res.plan(current, res.normalize())] == [("attach", ["config", "live"])]
    res = LibvirtHostdevResource(hostdev_params(source="04:00.1"), root=str(tmp_path))
    with pytest.raises(NotFound, match="source: PCI device 0000:04:00.1 does not exist"):
        res.plan(current, res.normalize())


def test_config_only_managed_change_warns_and_diffs_the_definition():
    """managed cannot change on a running domain: with allow_config_only the definition
    changes (check mode), the XML diff shows it, and a warning names the domain to restart."""
    xml = ("<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x04' "
           "slot='0x00' function='0x0'/></source></hostdev>")

    class Fake(LibvirtHostdevResource):
        def open(self):
            pass

        def close(self):
            pass

        def read_current(self):
            self.elements = {view: _libvirt.parse_xml(xml) for view in ("config", "live")}
            current = {"domain": "vm1", "running": True, "persistent": True}
            for view, elem in self.elements.items():
                current[view] = dict(_libvirt.parse_hostdev(elem), xml=_libvirt.to_string(elem))
            return current

        def plan(self, current, desired):  # the PCI device is not looked up in this test's sysfs
            return plan_hostdev(current, desired, self.elements)

    res = execute(Fake(hostdev_params(managed=False, allow_config_only=True)), check_mode=True)
    assert res["pending_restart"] is True
    assert res["warnings"] == [
        "hostdev 04:00.0 of domain vm1: the running domain differs from the persistent definition (managed: "
        "defined no, running yes); the definition takes effect when domain vm1 is shut down and started again "
        "(a reboot inside the guest is not enough)"]
    obj, definition = res["diff"]
    assert "xml" not in obj["after"] and "  managed: false\n" in obj["after"]
    assert definition["before_header"] == "hostdev 04:00.0 of domain vm1 (persistent definition)"
    assert 'managed="yes"' in definition["before"] and 'managed="no"' in definition["after"]
