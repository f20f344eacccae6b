# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""macvtap on the real kernel: a fresh network namespace with a veth pair as the lower device.

The engine is driven directly (execute) and through ansible-playbook (check mode, --diff, errors);
every assertion on the host reads the kernel back with `ip -d -j link`.
"""

from __future__ import annotations

import json

import pytest
from testbed.util import object_diff

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import InvalidInput, NotFound
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._macvtap import MacvtapResource


def kernel_link(ns, name):
    """The link as the kernel reports it (`ip -d -j link show`), or None."""
    out = ns.ip("-d", "-j", "link", "show", "dev", name, check=False)
    if not out.strip():
        return None
    return json.loads(out)[0]


def params(ns, **kw):
    base = dict(name="mvt0", state="present", link="lower0", mode=None, mac=None, mtu=None,
                admin_state=None, netns=ns.name)
    base.update(kw)
    return base


@pytest.fixture
def lower_ns(netns):
    netns.add_veth("lower0", "peer0")
    return netns


def test_create_unchanged_modify_delete(lower_ns):
    ns = lower_ns
    res = execute(MacvtapResource(params(ns, mode="bridge", mac="1A:34:34:34:45:42")))
    assert res["changed"] and res["operations"][0]["action"] == "create"
    link = kernel_link(ns, "mvt0")
    assert link["linkinfo"]["info_kind"] == "macvtap"
    assert link["linkinfo"]["info_data"]["mode"] == "bridge"
    assert link["address"] == "1a:34:34:34:45:42"
    assert link["link"] == "lower0"
    assert "UP" in link["flags"]
    assert res["after"]["ifindex"] == link["ifindex"]
    assert res["tap_device"] == "/dev/tap%d" % link["ifindex"]

    again = execute(MacvtapResource(params(ns, mode="bridge", mac="1a:34:34:34:45:42")))
    assert again["changed"] is False and again["operations"] == []

    changed = execute(MacvtapResource(params(ns, mode="vepa", mac="02:00:00:00:00:02")))
    assert changed["operations"] == [{"action": "modify", "target": "mvt0", "changes": {
        "mode": {"before": "bridge", "after": "vepa"},
        "mac": {"before": "1a:34:34:34:45:42", "after": "02:00:00:00:00:02"}}}]
    link = kernel_link(ns, "mvt0")
    assert link["linkinfo"]["info_data"]["mode"] == "vepa"
    assert link["address"] == "02:00:00:00:00:02"
    assert link["ifindex"] == res["after"]["ifindex"], "mode and MAC change in place, not by recreating"

    gone = execute(MacvtapResource(params(ns, state="absent", link=None)))
    assert gone["changed"] and gone["after"] is None
    assert kernel_link(ns, "mvt0") is None
    assert execute(MacvtapResource(params(ns, state="absent", link=None)))["changed"] is False
    assert kernel_link(ns, "lower0") is not None, "the lower device is never touched"


@pytest.mark.parametrize("mode", ["bridge", "vepa", "private", "passthru"])
def test_all_four_modes(lower_ns, mode):
    res = execute(MacvtapResource(params(lower_ns, mode=mode)))
    assert res["changed"]
    assert kernel_link(lower_ns, "mvt0")["linkinfo"]["info_data"]["mode"] == mode
    assert execute(MacvtapResource(params(lower_ns, mode=mode)))["changed"] is False


def test_passthru_transition_recreates_with_the_options_kept(lower_ns):
    execute(MacvtapResource(params(lower_ns, mode="bridge", mtu=1400)))
    first = kernel_link(lower_ns, "mvt0")
    res = execute(MacvtapResource(params(lower_ns, mode="passthru")))
    assert [op["action"] for op in res["operations"]] == ["delete", "create"]
    link = kernel_link(lower_ns, "mvt0")
    assert link["linkinfo"]["info_data"]["mode"] == "passthru"
    assert link["mtu"] == 1400
    assert link["ifindex"] != first["ifindex"]


def test_mtu_and_admin_state(lower_ns):
    execute(MacvtapResource(params(lower_ns)))
    res = execute(MacvtapResource(params(lower_ns, mtu=1400, admin_state="down")))
    assert set(res["operations"][0]["changes"]) == {"mtu", "admin_state"}
    link = kernel_link(lower_ns, "mvt0")
    assert link["mtu"] == 1400 and "UP" not in link["flags"]


def test_check_mode_changes_nothing(lower_ns):
    res = execute(MacvtapResource(params(lower_ns, mode="private")), check_mode=True)
    assert res["changed"] and res["operations"][0]["action"] == "create"
    assert res["after"]["mode"] == "private"
    assert kernel_link(lower_ns, "mvt0") is None
    execute(MacvtapResource(params(lower_ns, mode="bridge")))
    res = execute(MacvtapResource(params(lower_ns, mode="private")), check_mode=True)
    assert res["operations"][0]["changes"] == {"mode": {"before": "bridge", "after": "private"}}
    assert kernel_link(lower_ns, "mvt0")["linkinfo"]["info_data"]["mode"] == "bridge"


@pytest.mark.parametrize("overrides,error,text", [
    ({"link": "nolower"}, NotFound, "link: lower device 'nolower' does not exist"),
    ({"mac": "zz:00:00:00:00:01"}, InvalidInput, "mac: 'zz:00:00:00:00:01' is not a MAC address"),
    ({"name": "macvtap-name-too-long"}, InvalidInput, "name: 'macvtap-name-too-long' is 21 bytes long"),
    ({"mtu": 9000}, InvalidInput, "mtu: 9000 is above the MTU 1500 of lower device lower0"),
])
def test_bad_input_creates_nothing(lower_ns, overrides, error, text):
    before = sorted(link["ifname"] for link in json.loads(lower_ns.ip("-j", "link", "show")))
    with pytest.raises(error) as info:
        execute(MacvtapResource(params(lower_ns, **overrides)))
    assert text in info.value.msg
    after = sorted(link["ifname"] for link in json.loads(lower_ns.ip("-j", "link", "show")))
    assert before == after


def test_missing_netns_is_not_found(lower_ns):
    with pytest.raises(NotFound, match="netns: network namespace 'kvt-does-not-exist' does not exist"):
        execute(MacvtapResource(dict(params(lower_ns), netns="kvt-does-not-exist")))


def test_through_ansible_check_diff_idempotence_and_errors(lower_ns, run_playbook):
    task = {"name": "macvtap", "kvmnet.hypervisor.macvtap": {
        "name": "mvt0", "link": "lower0", "mode": "vepa", "mac": "02:00:00:00:00:09", "netns": lower_ns.name}}
    check = run_playbook([task], check=True, diff=True)
    assert not check.failed, str(check)
    assert check["macvtap"].changed
    assert object_diff(check["macvtap"].diff)["after"]["mode"] == "vepa"
    assert kernel_link(lower_ns, "mvt0") is None, "check mode created the link"

    real = run_playbook([task], diff=True)
    assert not real.failed, str(real)
    assert real["macvtap"].changed and real["macvtap"]["operations"][0]["action"] == "create"
    assert kernel_link(lower_ns, "mvt0")["linkinfo"]["info_data"]["mode"] == "vepa"

    again = run_playbook([task])
    assert not again.failed and not again["macvtap"].changed

    retag = dict(task, **{"kvmnet.hypervisor.macvtap": dict(task["kvmnet.hypervisor.macvtap"], mode="bridge")})
    diff = run_playbook([retag], diff=True)
    assert object_diff(diff["macvtap"].diff)["before"]["mode"] == "vepa"
    assert object_diff(diff["macvtap"].diff)["after"]["mode"] == "bridge"

    bad = dict(task, **{"kvmnet.hypervisor.macvtap": dict(task["kvmnet.hypervisor.macvtap"], mode="hairpin")})
    res = run_playbook([bad])
    assert res["macvtap"].failed and "hairpin" in res["macvtap"].msg
    missing_args = dict(task["kvmnet.hypervisor.macvtap"], name="mvt1", netns="kvt-nope")
    missing = dict(task, **{"kvmnet.hypervisor.macvtap": missing_args})
    res = run_playbook([missing])
    assert res["macvtap"].failed and res["macvtap"]["error"] == "not_found"
    assert "kvt-nope" in res["macvtap"].msg
