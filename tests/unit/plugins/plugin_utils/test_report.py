# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report page (plugin_utils/_report.py): counts, statuses, operations, the golden page,
and the fleet_report filter and drift callback that feed it."""

from __future__ import annotations

import copy
import os
import re
from types import SimpleNamespace

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.kvmnet.hypervisor.plugins.callback import drift as D
from ansible_collections.kvmnet.hypervisor.plugins.filter import report as F
from ansible_collections.kvmnet.hypervisor.plugins.plugin_utils import _report as R
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _topology

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")
#: the lab hypervisor's gathered state (network_info's golden files)
LAB = os.path.join(os.path.dirname(__file__), "..", "module_utils", "golden")


def _load(*path):
    root = LAB if path[0] == "network_info" else GOLDEN
    with open(os.path.join(root, *path), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def lab_info():
    """network_info's result for the lab hypervisor, from the golden gathered state."""
    state = _load("network_info", "lab-state.yml")
    return {"changed": False, "state": state, "topology": _topology.build_topology(state),
            "unmanaged": _load("network_info", "lab-unmanaged.yml"), "notes": [], "vars": {}, "modules": {}}


def fleet():
    """Three copies of the lab: in sync, drifted, unreachable (golden/report/fleet-check.yml)."""
    infos = {"kvmnet-lab": lab_info(), "kvmnet-lab-drifted": lab_info(),
             "kvmnet-lab-down": {"unreachable": True, "changed": False,
                                 "msg": "Failed to connect to the host via ssh"}}
    return infos, _load("report", "fleet-check.yml")


def test_lab_counts():
    counts = R.host_counts(lab_info()["state"])
    # bond0 (Linux) and ovsbond0 (OVS); VF 3 is guest2's hostdev; VLANs: OVS tags/trunks, VF 0's 100
    assert counts == {"bonds": 2, "vfs": 4, "vfs_in_use": 1, "vms": 2, "vms_running": 2, "vlans": [10, 20, 100]}
    assert R.vfs_in_use(lab_info()["state"]) == ["0000:01:10.6"]


def test_counts_of_an_empty_host():
    assert R.host_counts({"links": [], "notes": ["no Open vSwitch database"]}) == {
        "bonds": 0, "vfs": 0, "vfs_in_use": 0, "vms": 0, "vms_running": 0, "vlans": []}


def test_vlans_of_vlan_links_and_guest_interfaces():
    state = {"links": [{"name": "eth0.30", "kind": "vlan", "vlan_id": 30, "lower": "eth0"}],
             "libvirt": {"domains": {"g": {"config": {"interfaces": [{"type": "bridge", "vlan": {"tags": [7, 8]}}]}}}}}
    assert R.vlans(state) == [7, 8, 30]


@pytest.mark.parametrize("info, check, status", [
    (None, None, "not gathered"),
    ({"failed": True, "msg": "boom"}, {"tasks": []}, "not gathered"),
    ({"unreachable": True}, {"unreachable": True}, "unreachable"),
    ({"unreachable": True}, None, "unreachable"),
    ({"state": {}}, None, "not checked"),
    ({"state": {}}, {"unreachable": True, "tasks": []}, "unreachable"),
    ({"state": {}}, {"failed": True, "tasks": []}, "check failed"),
    ({"state": {}}, {"tasks": [{"task": "t", "changed": False}]}, "in sync"),
    ({"state": {}}, {"tasks": [{"task": "t", "changed": True}]}, "drifting"),
])
def test_host_status(info, check, status):
    assert R.host_status(info, check) == status


def test_describe_operation():
    assert R.describe_operation({"action": "create", "target": "br1"}) == "create br1"
    assert R.describe_operation({"action": "modify", "target": "bond0", "mode": "802.3ad",
                                 "changes": {"miimon": {"before": 100, "after": 200}, "mtu": {"before": None,
                                                                                              "after": 9000}},
                                 "members": ["a", "b"]}) == \
        "modify bond0 (miimon: 100 -> 200, mtu: None -> 9000) [mode=802.3ad]"


def test_page_golden():
    infos, check = fleet()
    hosts = [{"name": n, "info": i, "check": check["hosts"].get(n)} for n, i in infos.items()]
    page = R.render_html(hosts, title="kvmnet lab fleet", generated="2026-11-30T17:00:00Z")
    path = os.path.join(GOLDEN, "report", "fleet.html")
    if os.environ.get("KVMNET_UPDATE_GOLDEN"):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(page)
    with open(path, encoding="utf-8") as handle:
        assert page == handle.read()


def test_page_says_who_drifts_and_what():
    infos, check = fleet()
    page = F.fleet_report(infos, check=check, pictures=False)
    assert re.search(r'<ul id="drifting-hosts"><li data-host="kvmnet-lab-drifted">', page)
    assert page.count("<li data-host=") == 1  # the unreachable host is not called drifting
    assert "<code>modify bond0 (miimon: 100 -&gt; 200)</code>" in page
    assert "<code>modify_port br-vm/vm10 (tag: 10 -&gt; 30)</code>" in page
    assert "would change (the task returns no operations)" in page
    assert 'data-host="kvmnet-lab-down" data-status="unreachable"' in page
    assert "network_info did not return: Failed to connect to the host via ssh" in page
    assert 'data-host="kvmnet-lab" data-status="in sync"' in page


def test_page_is_self_contained():
    infos, check = fleet()
    page = F.fleet_report(infos, check=check, pictures=False)
    # nothing the browser would fetch: no script, stylesheet link, image, frame or remote URL
    for needle in ("<script", "<link", "<img", "<iframe", "http://", "https://", "url(", "@import"):
        assert needle not in page, needle


def test_page_escapes_what_hosts_report():
    info = lab_info()
    info["unmanaged"] = [{"object": "<b>tap9</b>", "reason": "a \"stray\" tap & more"}]
    page = R.render_html([{"name": "h<1>", "info": info, "check": {"tasks": []}}])
    assert "<b>tap9</b>" not in page and "&lt;b&gt;tap9&lt;/b&gt;" in page
    assert "h&lt;1&gt;" in page and 'id="host-h_1_"' in page


def test_not_checked_without_check():
    infos, dummy = fleet()
    page = F.fleet_report({"kvmnet-lab": infos["kvmnet-lab"]}, pictures=False)
    assert 'data-status="not checked"' in page and "No host drifts" in page


def test_filter_draws_each_gathered_host(monkeypatch):
    drawn = []
    monkeypatch.setattr(F, "topology_svg", lambda info, title: drawn.append(title) or "<?xml?><svg>%s</svg>" % title)
    infos, check = fleet()
    page = F.fleet_report(infos, check=check)
    assert sorted(drawn) == ["kvmnet-lab", "kvmnet-lab-drifted"]  # not the host never gathered
    assert '<div class="picture"><svg>kvmnet-lab</svg></div>' in page and "<?xml" not in page


@pytest.mark.parametrize("value, check, match", [
    ([], None, "expected a dict of host name"),
    ({"h": "text"}, None, "the network_info result of host h is a str"),
    ({}, {"h": {}}, "check must be the drift callback's output"),
])
def test_filter_refuses_bad_input(value, check, match):
    with pytest.raises(AnsibleFilterError, match="fleet_report: " + match):
        F.fleet_report(value, check=check, pictures=False)


def test_filter_registered():
    assert set(F.FilterModule().filters()) == {"fleet_report"}


# -- the drift callback ---------------------------------------------------------------------
def test_callback_records_loop_items_that_change():
    result = {"changed": True, "results": [
        {"changed": False, "item": {"domain": "g1"}, "_ansible_item_label": "g1 aa"},
        {"changed": True, "item": {"domain": "g2"}, "_ansible_item_label": "g2 bb",
         "operations": [{"action": "attach", "target": "g2/bb"}]},
    ]}
    assert D.records("ifaces", "kvmnet.hypervisor.libvirt_iface", result) == [
        {"task": "ifaces", "action": "kvmnet.hypervisor.libvirt_iface", "item": "g2 bb", "changed": True,
         "failed": False, "msg": "", "operations": [{"action": "attach", "target": "g2/bb"}]}]


def test_callback_ignores_unchanged_and_keeps_failures():
    assert D.records("t", "a", {"changed": False, "operations": []}) == []
    assert D.records("t", "a", {"failed": True, "msg": "no such bridge"}) == [
        {"task": "t", "action": "a", "item": None, "changed": False, "failed": True, "msg": "no such bridge"}]


def _result(host, name, action, res):
    return SimpleNamespace(_host=SimpleNamespace(get_name=lambda: host),
                           _task=SimpleNamespace(get_name=lambda: name, action=action), _result=res)


def test_callback_document(monkeypatch):
    cb = D.CallbackModule()
    printed = []
    monkeypatch.setattr(cb, "_display", SimpleNamespace(display=printed.append))
    cb.v2_runner_on_ok(_result("h1", "bond", "kvmnet.hypervisor.nic_bond",
                               {"changed": True, "operations": [{"action": "create", "target": "bond0"}]}))
    # ansible-core does not always put "failed" in the result it hands to on_failed
    cb.v2_runner_on_failed(_result("h2", "bridge", "kvmnet.hypervisor.linux_bridge", {"msg": "boom"}))
    cb.v2_runner_on_unreachable(_result("h3", "setup", "ansible.builtin.setup", {"msg": "no route"}))
    summaries = {"h1": {"failures": 0, "unreachable": 0}, "h2": {"failures": 1, "unreachable": 0},
                 "h3": {"failures": 0, "unreachable": 1}}
    cb.v2_playbook_on_stats(SimpleNamespace(processed=dict.fromkeys(summaries), summarize=summaries.get))
    doc = yaml.safe_load(printed[0])
    assert doc["hosts"]["h1"]["tasks"][0]["operations"] == [{"action": "create", "target": "bond0"}]
    assert doc["hosts"]["h2"]["failed"] and doc["hosts"]["h2"]["msg"] == "bridge: boom"
    assert doc["hosts"]["h2"]["tasks"] == [{"task": "bridge", "action": "kvmnet.hypervisor.linux_bridge", "item": None,
                                            "changed": False, "failed": True, "msg": "boom"}]
    assert doc["hosts"]["h3"]["unreachable"] and doc["hosts"]["h3"]["msg"] == "no route"
    statuses = {h: R.host_status({"state": {}}, c) for h, c in copy.deepcopy(doc["hosts"]).items()}
    assert statuses == {"h1": "drifting", "h2": "check failed", "h3": "unreachable"}
