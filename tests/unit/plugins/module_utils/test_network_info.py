# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""network_info's mapping of a gathered state to role variables, module arguments and what is
unmanaged: golden files of the lab hypervisor, and the rules the round trip depends on."""

from __future__ import annotations

import copy
import importlib
import os
import pathlib
import re

import pytest
import yaml


class _Dumper(yaml.SafeDumper):  # pylint: disable=too-many-ancestors
    """Block lists indented under their key, as yamllint (ansible-lint) wants the golden files."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _network_info_vars as V

REPO = pathlib.Path(__file__).resolve().parents[4]
GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "network_info")


def lab_state():
    with open(os.path.join(GOLDEN, "lab-state.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _golden(name, value):
    text = yaml.dump(value, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120, explicit_start=True)
    path = os.path.join(GOLDEN, name)
    if os.environ.get("KVMNET_UPDATE_GOLDEN"):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    with open(path, encoding="utf-8") as handle:
        assert text == handle.read()


@pytest.mark.parametrize("part", ["vars", "modules", "unmanaged"])
def test_lab_golden(part):
    _golden("lab-%s.yml" % part, V.map_state(lab_state(), {})[part])


def _role_variables():
    names = set()
    for spec in (REPO / "roles").glob("*/meta/argument_specs.yml"):
        for entry in yaml.safe_load(spec.read_text())["argument_specs"].values():
            names.update(entry.get("options") or {})
    return names


def test_every_var_is_a_role_variable_the_playbook_reads():
    playbook = (REPO / "playbooks" / "hypervisor.yml").read_text()
    known = _role_variables()
    for name in V.map_state(lab_state(), {})["vars"]:
        assert name in known or (name.startswith("kvmnet_") and name in playbook), name


def _module_options(module):
    doc = yaml.safe_load(importlib.import_module(
        "ansible_collections.kvmnet.hypervisor.plugins.modules." + module).DOCUMENTATION)
    options = set(doc.get("options") or {})
    for fragment in doc.get("extends_documentation_fragment") or []:
        name = fragment.split(".")[2]
        if name != "attributes":
            frag = importlib.import_module("ansible_collections.kvmnet.hypervisor.plugins.doc_fragments." + name)
            options.update(yaml.safe_load(frag.ModuleDocFragment.DOCUMENTATION).get("options") or {})
    return options


def test_every_module_argument_is_an_option_of_its_module():
    modules = V.map_state(lab_state(), {"netns": "ns1", "database": "unix:/tmp/x.sock",
                                        "uri": "test:///default"})["modules"]
    assert set(modules) >= {"nic_bond", "linux_bridge", "macvtap", "ovs_bridge", "ovs_bond", "ovs_patch",
                            "sriov_vf", "libvirt_iface", "libvirt_sriov_network", "vhost_net"}
    for module, entries in modules.items():
        options = _module_options(module)
        for args in entries:
            assert set(args) <= options, (module, set(args) - options)


def test_role_defaults_never_decide():
    """Values where a role's default differs from the host are written out."""
    state = lab_state()
    state["bonds"]["bond0"].update(miimon=0, arp_interval=0)
    state["bonds"]["bond0"]["mode"] = "active-backup"
    mapped = V.map_state(state, {})["vars"]
    assert mapped["host_bond_bridge_miimon"] == 0            # the role's default is 100
    assert "host_bond_bridge_lacp_rate" not in mapped      # 802.3ad only
    assert mapped["sriov_numvfs"] == 4                      # the role's default is 7
    assert mapped["ovs_bond_lacp_time"] == "fast"           # the role's default is slow


def test_guest_devices_are_the_guests():
    out = V.map_state(lab_state(), {})
    assert out["vars"]["linux_bridge_ports"] == []                               # vnet0: guest1's tap
    assert [l["name"] for l in out["vars"]["macvtap_links"]] == ["macvtap0"]   # macvtap1: guest2's
    assert [p["name"] for p in out["vars"]["ovs_vlan_ports"]] == ["vm10", "vm20"]  # vnet1: attached-mac
    assert [vf["vf"] for vf in out["vars"]["sriov_vfs"]] == [0, 1]              # VF 3: guest2's hostdev
    assert "pci_passthrough_bind_devices" not in out["vars"]                     # libvirt binds VF 3


def test_vf_macs_the_boot_config_does_not_pin_are_not_gathered():
    """A VF MAC that sriov_vf's boot config does not name is the VF driver's random one: fed back
    it would be pinned and the config rewritten (the sriov scenario's round trip found this). It
    is listed as unmanaged, never dropped silently; without a config every MAC is gathered."""
    state = lab_state()
    state["sriov"]["enp1s0"]["persisted_vfs"] = {0: ["mac", "spoofchk", "trust", "vlan"], 1: ["max_tx_rate"]}
    out = V.map_state(state, {})
    by_vf = {vf["vf"]: vf for vf in out["vars"]["sriov_vfs"]}
    assert by_vf[0]["mac"] == "52:54:00:aa:00:00"
    assert "mac" not in by_vf.get(1, {})
    assert [u for u in out["unmanaged"] if u["object"].startswith("MACs of the VFs")] == [{
        "object": "MACs of the VFs 1 (52:54:00:aa:00:01) of enp1s0",
        "reason": "not in sriov_vf's boot config: the VF driver's own (new at each VF creation) or set by hand "
                  "at runtime; pin one with sriov_vfs[].mac",
        "module": "kvmnet.hypervisor.sriov_vf"}]
    state["sriov"]["enp1s0"]["persisted_vfs"] = None
    assert {vf["vf"]: vf.get("mac") for vf in V.map_state(state, {})["vars"]["sriov_vfs"]}[1] == "52:54:00:aa:00:01"


def test_the_boot_config_s_vf_attributes():
    gatherer = importlib.import_module("ansible_collections.kvmnet.hypervisor.plugins.module_utils._network_info")
    parse = gatherer.Gatherer.sriov_persisted_vfs
    assert parse('{"numvfs": 2, "vfs": {"0": {"mac": "52:54:00:aa:00:00", "vlan": 100}, "1": {}}}') == \
        {0: ["mac", "vlan"], 1: []}
    assert parse(None) is None
    assert parse("not json") is None
    assert parse('{"numvfs": 0}') == {}


def test_persistence_only_with_the_collections_files():
    state = lab_state()
    state["bonds"]["bond0"]["persist"] = "none"
    state["vhost_net"]["persisted"] = False
    state["ovs"]["units"] = []
    out = V.map_state(state, {})
    assert out["vars"]["host_bond_bridge_persist"] == "none"
    assert out["vars"]["vhost_net_persist"] is False
    assert out["vars"]["ovs_bond_links_up"] is False
    assert any(u["object"] == "persistence of bond bond0" and "networkd" in u["reason"] for u in out["unmanaged"])


def test_one_object_per_role_the_others_are_listed():
    state = lab_state()
    state["links"].append({"name": "bond1", "kind": "bond", "mtu": 1500, "addresses": []})
    state["bonds"]["bond1"] = dict(copy.deepcopy(state["bonds"]["bond0"]), members=["eth9"], master=None)
    state["bridges"]["br9"] = {"ports": [], "mtu": 1500, "admin_state": "up", "addresses": []}
    state["ovs"]["bridges"]["br-x"] = {"name": "br-x", "datapath_type": "", "ports": [
        {"name": "x10", "type": "internal", "tag": 10, "trunks": []}]}
    out = V.map_state(state, {})
    assert out["vars"]["host_bond_bridge_name"] == "bond0"
    assert [b["name"] for b in out["modules"]["nic_bond"]] == ["bond0", "bond1"]
    reasons = {u["object"]: u for u in out["unmanaged"]}
    assert reasons["bond bond1"]["module"] == "kvmnet.hypervisor.nic_bond"
    assert "bridge br9" in reasons
    assert reasons["OVS bridge br-x"]["module"] == "kvmnet.hypervisor.ovs_bridge"
    assert out["vars"]["ovs_vlan_bridge"] == "br-vm"
    assert {b["name"] for b in out["modules"]["ovs_bridge"]} == {"br-tr", "br-vm", "br-x"}
    assert "OVS bridge br-tr" not in reasons  # ovs_interconnect makes it


def test_running_domain_differing_from_its_definition():
    state = lab_state()
    state["libvirt"]["domains"]["guest1"]["config"]["interfaces"][0]["queues"] = 8
    out = V.map_state(state, {})
    iface = out["modules"]["libvirt_iface"][0]
    assert iface["queues"] == 8 and iface["live"] is False
    assert any("differs from its definition in queues" in u["reason"] for u in out["unmanaged"])


def test_unknown_links_and_networks_are_unmanaged():
    state = lab_state()
    state["links"].append({"name": "eth0.100", "kind": "vlan", "lower": "enp0s4", "addresses": []})
    out = V.map_state(state, {})
    objects = {u["object"]: u["reason"] for u in out["unmanaged"]}
    assert objects["vlan link eth0.100"] == "no module of the collection manages vlan links"
    assert "forward mode nat" in objects["libvirt network default"]


def test_userspace_datapath_links_are_ovs_s():
    """On datapath_type netdev, OVS's internal and local ports are taps and its members have no
    master: gathered with their bridge and bond, not listed as stray taps and veths."""
    state = lab_state()
    state["ovs"]["bridges"]["br-vm"]["datapath_type"] = "netdev"
    state["ovs"]["bonds"]["ovsbond0"]["members"] = ["ve0", "enp0s6"]
    for name in ("br-vm", "vm10", "ovs-netdev", "tap9"):
        state["links"].append({"name": name, "kind": "tun", "addresses": []})
    for name in ("ve0", "ve9"):
        state["links"].append({"name": name, "kind": "veth", "peer": None, "addresses": []})
    objects = [u["object"] for u in V.map_state(state, {})["unmanaged"]]
    assert [o for o in objects if o.startswith(("tun link", "veth link"))] == ["tun link tap9", "veth link ve9"]


def test_netns_gives_module_arguments_only():
    out = V.map_state(lab_state(), {"netns": "lab1", "database": "unix:/run/lab1/db.sock"})
    assert out["vars"] == {}
    assert out["modules"]["nic_bond"][0]["netns"] == "lab1"
    assert out["modules"]["ovs_bridge"][0]["database"] == "unix:/run/lab1/db.sock"
    assert out["unmanaged"][-1]["object"] == "role variables"


def test_a_host_without_ovs_or_libvirt():
    state = {"links": [{"name": "eth0", "mac": "52:54:00:00:00:01", "mtu": 1500, "addresses": ["192.0.2.1/24"]}],
             "bonds": {}, "bridges": {}, "macvtaps": {}, "vhost_net": None, "ovs": None, "sriov": {}, "vfio": [],
             "libvirt": None, "notes": ["ovs: not gathered (...)", "libvirt: not gathered (...)"]}
    assert V.map_state(state, {}) == {"vars": {}, "modules": {}, "unmanaged": []}


def test_brownfield_scenario_expectations():
    """The brownfield VM scenario's verify (extensions/molecule/brownfield/verify.yml) against the
    mapping of a state like its hand-made guest's: every value it expects is gathered, it finds
    at least kvmnet_rt_min_vars variables, and its list of allowed unmanaged objects covers all."""
    with open(os.path.join(GOLDEN, "brownfield-state.yml"), encoding="utf-8") as handle:
        state = yaml.safe_load(handle)
    plays = yaml.safe_load((REPO / "extensions" / "molecule" / "brownfield" / "verify.yml").read_text())
    tasks = {t["name"]: t for t in plays[1]["tasks"]}
    roundtrip = tasks["Round trip of the hand-made host"]["vars"]
    allowed = tasks["The unmanaged list holds only what the collection cannot express"]["vars"]["bf_expected_unmanaged"]
    out = V.map_state(state, {})
    assert {k: out["vars"].get(k, "(not gathered)") for k in roundtrip["kvmnet_rt_expect"]} == \
        roundtrip["kvmnet_rt_expect"]
    assert len(out["vars"]) >= roundtrip["kvmnet_rt_min_vars"]
    assert [v for v in out["vars"]["sriov_vfs"] if v["vf"] == 0] == [{"vf": 0, "mac": "52:54:00:aa:00:00", "vlan": 100}]
    assert [u["object"] for u in out["unmanaged"]] == ["persistence of bond bond0"]
    assert all(re.match(allowed, u["object"]) for u in out["unmanaged"])
    state["libvirt"]["networks"]["default"] = {"forward_mode": "nat", "active": True, "autostart": True}
    assert all(re.match(allowed, u["object"]) for u in V.map_state(state, {})["unmanaged"])
