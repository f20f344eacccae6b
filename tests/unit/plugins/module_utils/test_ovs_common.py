# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The OVS field tables: one entry per field reads, writes and defaults it.

Rows are stand-ins for python-ovs IDL rows, holding columns the way the IDL shows them (an
optional column is a list of 0 or 1 values) and recording map mutations (setkey/delkey).
"""

from __future__ import annotations

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import InvalidInput
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_bond import (
    BOND_FIELDS,
    COLUMNS as BOND_COLUMNS,
    OvsBondResource,
    normalize_bond,
    plan_bond,
    predict_bond,
    read_bond,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_bridge import (
    BRIDGE_FIELDS,
    COLUMNS as BRIDGE_COLUMNS,
    OvsBridgeResource,
    normalize_bridge,
    plan_bridge,
    predict_bridge,
    write_port_changes,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_common import (
    PORT_FIELDS,
    read_fields,
    read_port,
    write_changes,
    write_new,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovs_patch import OvsPatchResource
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._ovsdb import MAX_TIMEOUT, check_timeout


class Row:
    """An IDL row stand-in: columns as attributes; setkey/delkey change a map and are recorded."""

    def __init__(self, **columns):
        self.__dict__.update(columns)
        self.mutations = []

    def setkey(self, column, key, value):
        getattr(self, column)[key] = value
        self.mutations.append(("setkey", column, key, value))

    def delkey(self, column, key):
        del getattr(self, column)[key]
        self.mutations.append(("delkey", column, key))


def bond_port(**columns):
    """A bond Port row as OVSDB holds it when nothing but its members was set."""
    base = dict(name="bond0", interfaces=[Row(name="eth2"), Row(name="eth3")], bond_mode=[], lacp=[],
                bond_updelay=0, bond_downdelay=0, tag=[], trunks=[], other_config={})
    base.update(columns)
    return Row(**base)


def bridge_row(**columns):
    base = dict(name="br0", datapath_type="", fail_mode=[], mcast_snooping_enable=False, stp_enable=False,
                other_config={}, external_ids={})
    base.update(columns)
    return Row(**base)


def iface_row(**columns):
    base = dict(name="tap1", type="", options={}, external_ids={}, ofport=[5], error=[])
    base.update(columns)
    return Row(**base)


def port_row(iface, **columns):
    base = dict(name=iface.name, interfaces=[iface], tag=[], trunks=[], vlan_mode=[], external_ids={})
    base.update(columns)
    return Row(**base)


# -- reading: OVS's defaults filled in, values parsed as OVS parses them ---------------------
def test_unset_bond_columns_read_as_ovs_defaults():
    assert read_bond(bond_port(), "br0") == {
        "name": "bond0", "bridge": "br0", "members": ["eth2", "eth3"], "bond_mode": "active-backup", "lacp": "off",
        "updelay": 0, "downdelay": 0, "tag": None, "trunks": [], "lacp_time": "slow", "link_detection": "carrier",
        "miimon_interval": 200, "lacp_fallback_ab": False}


def test_bond_other_config_values_parsed():
    port = bond_port(bond_mode=["balance-slb"], lacp=["active"], bond_updelay=100, tag=[10], trunks=[30, 20],
                     other_config={"lacp-time": "fast", "bond-detect-mode": "miimon", "bond-miimon-interval": "150",
                                   "lacp-fallback-ab": "true"})
    read = read_bond(port, "br0")
    assert (read["bond_mode"], read["lacp"], read["updelay"], read["tag"], read["trunks"]) == (
        "balance-slb", "active", 100, 10, [20, 30])
    assert (read["lacp_time"], read["link_detection"], read["miimon_interval"], read["lacp_fallback_ab"]) == (
        "fast", "miimon", 150, True)


def test_unparsable_other_config_values_read_as_the_default():
    # OVS ignores a miimon interval it cannot parse and any fallback value but "true"
    read = read_bond(bond_port(other_config={"bond-miimon-interval": "often", "lacp-fallback-ab": "yes"}), "br0")
    assert (read["miimon_interval"], read["lacp_fallback_ab"]) == (200, False)


def test_unset_bridge_and_port_columns_read_as_defaults():
    assert read_fields(BRIDGE_FIELDS, {"Bridge": bridge_row()}) == {
        "datapath_type": "", "fail_mode": None, "mcast_snooping": False, "stp": False, "other_config": {},
        "external_ids": {}}
    assert read_port(port_row(iface_row())) == {
        "name": "tap1", "type": "system", "tag": None, "trunks": [], "vlan_mode": None, "external_ids": {},
        "options": {}, "interface_external_ids": {}, "ofport": 5, "error": None}


def test_a_port_of_several_interfaces_reads_as_a_bond():
    port = port_row(iface_row(name="eth2"), name="bond0", interfaces=[iface_row(name="eth3"), iface_row(name="eth2")])
    read = read_port(port)
    assert (read["type"], read["members"]) == ("bond", ["eth2", "eth3"])
    assert "options" not in read and "ofport" not in read


# -- writing: what a real run leaves reads back as what check mode predicts -------------------
def test_created_bond_reads_back_as_predicted():
    desired = normalize_bond({"name": "bond0", "bridge": "br0", "members": ["eth3", "eth2"], "lacp": "active",
                              "bond_mode": "balance-tcp", "lacp_time": "fast", "miimon_interval": 100,
                              "link_detection": "miimon", "lacp_fallback_ab": True, "updelay": 50, "tag": 7})
    ops = plan_bond(None, desired)
    port = bond_port(other_config=None)
    write_new(BOND_FIELDS, {"Port": port}, ops[0].params)
    # a new row's map is set whole, in one value, with OVS's string forms
    assert port.other_config == {"lacp-time": "fast", "bond-miimon-interval": "100", "bond-detect-mode": "miimon",
                                 "lacp-fallback-ab": "true"}
    assert (port.bond_mode, port.lacp, port.bond_updelay, port.tag) == ("balance-tcp", "active", 50, 7)
    assert read_bond(port, "br0") == predict_bond(None, ops)


def test_modified_bond_reads_back_as_predicted():
    port = bond_port(lacp=["active"], tag=[10], trunks=[5], other_config={"lacp-time": "fast", "other": "kept"})
    current = read_bond(port, "br0")
    desired = normalize_bond({"name": "bond0", "bridge": "br0", "members": ["eth2", "eth3"], "lacp": "off",
                              "lacp_time": "slow", "lacp_fallback_ab": True, "downdelay": 20, "clear": ["tag"],
                              "trunks": []})
    ops = plan_bond(current, desired)
    write_changes(BOND_FIELDS, {"Port": port}, ops[0].changes)
    # other_config keys are mutated one by one: keys the module does not manage survive
    assert sorted(port.mutations) == [("setkey", "other_config", "lacp-fallback-ab", "true"),
                                      ("setkey", "other_config", "lacp-time", "slow")]
    assert (port.lacp, port.tag, port.trunks, port.bond_downdelay) == ("off", [], [], 20)
    assert port.other_config["other"] == "kept"
    assert read_bond(port, "br0") == predict_bond(current, ops)
    assert plan_bond(read_bond(port, "br0"), desired) == []


def test_created_bridge_and_port_read_back_as_predicted():
    desired = normalize_bridge({"name": "br0", "datapath_type": "netdev", "fail_mode": "secure", "stp": True,
                                "other_config": {"a": 1, "gone": None}, "ports": [
                                    {"name": "tap1", "type": "internal", "tag": 3, "vlan_mode": "access",
                                     "external_ids": {"vm": "one"}, "interface_external_ids": {"iface-id": "x"}}]})
    ops = plan_bridge(None, desired)
    assert [op.action for op in ops] == ["create_bridge", "add_port"]
    br = bridge_row(other_config=None)
    write_new(BRIDGE_FIELDS, {"Bridge": br}, ops[0].params)
    iface = iface_row(type=None, ofport=[], external_ids=None)
    port = port_row(iface, external_ids=None)
    write_new(PORT_FIELDS, {"Port": port, "Interface": iface}, ops[1].params)
    assert (br.fail_mode, br.stp_enable, br.other_config) == ("secure", True, {"a": "1"})
    assert (iface.type, port.tag, port.external_ids, iface.external_ids) == (
        "internal", 3, {"vm": "one"}, {"iface-id": "x"})
    predicted = predict_bridge(None, ops)
    read = dict(read_fields(BRIDGE_FIELDS, {"Bridge": br}), name="br0", ports=[read_port(port)])
    del read["ports"][0]["ofport"], read["ports"][0]["error"]  # set by ovs-vswitchd, not predicted
    assert read == predicted


def test_modified_port_reads_back_as_predicted():
    iface = iface_row(name="vx0", type="vxlan", options={"remote_ip": "192.0.2.1", "key": "5"})
    port = port_row(iface, tag=[2], vlan_mode=["access"])
    current = {"name": "br0", **read_fields(BRIDGE_FIELDS, {"Bridge": bridge_row()}), "ports": [read_port(port)]}
    desired = normalize_bridge({"name": "br0", "ports": [{"name": "vx0", "type": "geneve", "remote_ip": "192.0.2.2",
                                                          "clear": ["tag", "vlan_mode"], "trunks": [4]}]})
    ops = plan_bridge(current, desired)
    write_port_changes(port, ops[0].changes)
    assert iface.mutations == [("setkey", "options", "remote_ip", "192.0.2.2")]
    assert (iface.type, port.tag, port.vlan_mode, port.trunks) == ("geneve", [], [], [4])
    predicted = predict_bridge(current, ops)["ports"][0]
    assert read_port(port) == predicted


def test_registered_columns_cover_every_field():
    for columns, fields in ((BOND_COLUMNS, BOND_FIELDS + PORT_FIELDS), (BRIDGE_COLUMNS, BRIDGE_FIELDS + PORT_FIELDS)):
        for field in fields:
            assert field.column in columns[field.table], field.name


def test_operation_is_unchanged_by_the_table():
    # create_bond lists exactly the given fields, never the defaults
    ops = plan_bond(None, normalize_bond({"name": "bond0", "bridge": "br0", "members": ["eth2", "eth3"],
                                          "lacp_fallback_ab": False, "trunks": []}))
    assert ops == [Operation("create_bond", "bond0", bridge="br0", members=["eth2", "eth3"], lacp_fallback_ab=False)]


# -- the OVSDB option group's timeout: checked once, in Ovsdb, for every OVS resource ----------
@pytest.mark.parametrize("value", [-1, 0, -10 ** 15, 2 ** 31, 10 ** 400, True, "x"])
@pytest.mark.parametrize("resource", ["bridge", "bond", "patch"])
def test_bad_timeout_refused_before_connecting(resource, value):
    cls = {"bridge": OvsBridgeResource, "bond": OvsBondResource, "patch": OvsPatchResource}[resource]
    params = {"name": "br0", "bridge": "br0", "peer_bridge": "br1", "timeout": value,
              "database": "unix:/nonexistent/db.sock"}
    with pytest.raises(InvalidInput) as err:
        cls(params)
    assert err.value.option == "timeout"
    assert repr(value)[:20] in err.value.msg


@pytest.mark.parametrize("value, seconds", [(None, 10.0), (1, 1.0), (0.5, 0.5), (MAX_TIMEOUT, float(MAX_TIMEOUT))])
def test_good_timeout(value, seconds):
    assert check_timeout(value) == seconds
