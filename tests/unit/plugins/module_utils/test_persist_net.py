# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Golden-file tests of the bond persistence renderers (networkd, nm, ifcfg, ifupdown).

Regenerate after an intended change with ``KVMNET_UPDATE_GOLDEN=1 pytest ...`` and review the diff.
"""

from __future__ import annotations

import ipaddress
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import (
    _persist_ifcfg,
    _persist_ifupdown,
    _persist_networkd,
    _persist_nm,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._persist_net import bond_option_pairs, detect_stack

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "nic_bond")

#: the book: bond0 (mode=1 miimon=100) of two NICs under br1 carrying the host address
BOOK = {
    "name": "bond0", "mode": "active-backup", "members": ["enp4s0f0", "enp4s0f1"], "bridge": "br1",
    "address": "192.168.20.200/24", "gateway": "192.168.20.1", "mtu": None,
    "options": {"miimon": 100, "updelay": 0, "downdelay": 0, "lacp_rate": "slow", "xmit_hash_policy": "layer2",
                "ad_select": "stable", "primary": "enp4s0f0", "arp_interval": 0, "arp_ip_target": []},
}
#: LACP bond carrying the address itself, no bridge, jumbo frames
LACP = {
    "name": "bond1", "mode": "802.3ad", "members": ["enp0s5", "enp0s6"], "bridge": None,
    "address": "10.8.0.1/24", "gateway": None, "mtu": 9000,
    "options": {"miimon": 100, "updelay": 200, "downdelay": 200, "lacp_rate": "fast",
                "xmit_hash_policy": "layer3+4", "ad_select": "bandwidth", "primary": None, "arp_interval": 0,
                "arp_ip_target": []},
}
#: ARP monitoring, IPv6 address on the bridge, one member
ARP6 = {
    "name": "bond2", "mode": "balance-xor", "members": ["eth3"], "bridge": "br6",
    "address": "2001:db8::10/64", "gateway": "2001:db8::1", "mtu": None,
    "options": {"miimon": 0, "arp_interval": 250, "arp_ip_target": ["192.0.2.1", "192.0.2.2"]},
}
#: no address anywhere (the bridge carries VM traffic only)
BARE = {"name": "bond3", "mode": "balance-rr", "members": [], "bridge": "br3", "address": None, "gateway": None,
        "options": {"miimon": 100}}
#: the book's bond and bridge with jumbo frames: the MTU on the bond, both members and the bridge
JUMBO = dict(BOOK, name="bond4", members=["enp5s0f0", "enp5s0f1"], bridge="br4", mtu=9000,
             options=dict(BOOK["options"], primary="enp5s0f0"))

CASES = {"book": BOOK, "lacp": LACP, "arp6": ARP6, "bare": BARE, "jumbo": JUMBO}
INTERFACES_STOCK = "# interfaces(5)\nsource /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n"
INTERFACES_BARE = "auto lo\niface lo inet loopback"

RENDERERS = {
    "networkd": _persist_networkd.render,
    "nm": _persist_nm.render,
    "ifcfg": _persist_ifcfg.render,
    "ifupdown": lambda config: _persist_ifupdown.render(config, INTERFACES_STOCK),
}


def _flatten(files: dict[str, str]) -> str:
    return "".join("==> %s <==\n%s\n" % (path, files[path]) for path in sorted(files))


@pytest.mark.parametrize("stack", sorted(RENDERERS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(stack, case):
    rendered = _flatten(RENDERERS[stack](CASES[case]))
    path = os.path.join(GOLDEN, "%s-%s.txt" % (stack, case))
    if os.environ.get("KVMNET_UPDATE_GOLDEN"):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(rendered)
    with open(path, encoding="utf-8") as handle:
        assert rendered == handle.read()


def test_paths_cover_rendered_files():
    for case in CASES.values():
        assert sorted(_persist_networkd.render(case)) == sorted(_persist_networkd.paths(case))
        assert sorted(_persist_nm.render(case)) == sorted(_persist_nm.paths(case))
        assert sorted(_persist_ifcfg.render(case)) == sorted(_persist_ifcfg.paths(case))
        assert sorted(_persist_ifupdown.render(case, INTERFACES_STOCK)) == sorted(_persist_ifupdown.paths(case))


def test_ifcfg_reproduces_the_book():
    files = _persist_ifcfg.render(BOOK)
    bond = _persist_ifcfg.parse(files["/etc/sysconfig/network-scripts/ifcfg-bond0"])
    assert bond["DEVICE"] == "bond0" and bond["ONBOOT"] == "yes" and bond["BRIDGE"] == "br1"
    assert bond["BONDING_OPTS"] == "mode=active-backup miimon=100 primary=enp4s0f0"
    nic = _persist_ifcfg.parse(files["/etc/sysconfig/network-scripts/ifcfg-enp4s0f0"])
    assert (nic["TYPE"], nic["BOOTPROTO"], nic["MASTER"], nic["SLAVE"]) == ("Ethernet", "none", "bond0", "yes")
    br = _persist_ifcfg.parse(files["/etc/sysconfig/network-scripts/ifcfg-br1"])
    assert (br["TYPE"], br["IPADDR"], br["NETMASK"], br["GATEWAY"]) == (
        "Bridge", "192.168.20.200", "255.255.255.0", "192.168.20.1")


@pytest.mark.parametrize("case", ["book", "bare"])
def test_no_mtu_written_without_mtu(case):
    """mtu not given: no file of any stack mentions an MTU (the stack's default applies)."""
    for render in RENDERERS.values():
        assert "mtu" not in _flatten(render(CASES[case])).lower()


def test_mtu_on_bond_members_and_bridge_in_every_stack():
    networkd = _persist_networkd.render(JUMBO)
    for ifname in ("bond4", "enp5s0f0", "enp5s0f1", "br4"):
        text = networkd[_persist_networkd.path_for(ifname, "network")]
        assert "\n[Link]\nMTUBytes=9000\n" in text
    assert not any("MTU" in networkd[_persist_networkd.path_for(n, "netdev")] for n in ("bond4", "br4"))
    nm = _persist_nm.render(JUMBO)
    for ifname in ("bond4", "enp5s0f0", "enp5s0f1", "br4"):
        assert _persist_nm.parse(nm[_persist_nm.path_for(ifname)])["ethernet"] == {"mtu": "9000"}
    ifcfg = _persist_ifcfg.render(JUMBO)
    for ifname in ("bond4", "enp5s0f0", "enp5s0f1", "br4"):
        assert _persist_ifcfg.parse(ifcfg[_persist_ifcfg.path_for(ifname)])["MTU"] == "9000"
    stanzas = _persist_ifupdown.render(JUMBO, INTERFACES_STOCK)[_persist_ifupdown.path_for("bond4")].split("\n\n")
    assert [next(line for line in s.split("\n") if line.startswith("iface ")) for s in stanzas] == [
        "iface bond4 inet manual", "iface br4 inet static"]
    assert all("    mtu 9000" in s.split("\n") for s in stanzas)


def test_nm_uuid_is_stable_and_unique():
    files = _persist_nm.render(BOOK)
    uuids = [_persist_nm.parse(text)["connection"]["uuid"] for text in files.values()]
    assert len(set(uuids)) == len(uuids) == 4
    assert _persist_nm.render(BOOK) == files


def test_ifupdown_adds_source_line_only_when_missing():
    assert _persist_ifupdown.INTERFACES not in _persist_ifupdown.render(BOOK, INTERFACES_STOCK)
    files = _persist_ifupdown.render(BOOK, INTERFACES_BARE)
    assert files[_persist_ifupdown.INTERFACES] == INTERFACES_BARE + "\n" + _persist_ifupdown.SOURCE_LINE + "\n"
    files = _persist_ifupdown.render(BOOK, None)
    assert files[_persist_ifupdown.INTERFACES] == _persist_ifupdown.SOURCE_LINE + "\n"
    assert _persist_ifupdown.sources_interfaces_d("source-directory interfaces.d\n")


def test_detect_stack(tmp_path):
    root = str(tmp_path)
    assert detect_stack(root, daemons=set()) is None
    os.makedirs(os.path.join(root, "etc/sysconfig/network-scripts"))
    assert detect_stack(root, daemons=set()) == "ifcfg"
    os.makedirs(os.path.join(root, "etc/network"))
    os.makedirs(os.path.join(root, "sbin"))
    open(os.path.join(root, "etc/network/interfaces"), "w").close()
    open(os.path.join(root, "sbin/ifup"), "w").close()
    assert detect_stack(root, daemons=set()) == "ifupdown"
    assert detect_stack(root, daemons={"systemd-network"}) == "networkd"
    assert detect_stack(root, daemons={"systemd-network", "NetworkManager"}) == "nm"


# -- round trips: what the files say is what was asked -------------------------------------
MODES = ["balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"]
names = st.from_regex(r"\A[a-z][a-z0-9]{0,9}\Z")


@st.composite
def configs(draw):
    name = draw(names)
    members = draw(st.lists(names.filter(lambda n: n != name), unique=True, max_size=3))
    mode = draw(st.sampled_from(MODES))
    options = {"miimon": draw(st.sampled_from([0, 100, 250])),
               "updelay": draw(st.sampled_from([0, 200])),
               "lacp_rate": draw(st.sampled_from(["slow", "fast"])),
               "xmit_hash_policy": draw(st.sampled_from(["layer2", "layer3+4", "layer2+3"]))}
    if members and draw(st.booleans()):
        options["primary"] = members[0]
    net = draw(st.ip_addresses(v=4))
    prefix = draw(st.integers(8, 30))
    address = draw(st.sampled_from([None, "%s/%d" % (net, prefix)]))
    bridge = draw(st.sampled_from([None, "br" + name[:10]]))
    mtu = draw(st.sampled_from([None, 68, 1500, 9000, 65535]))
    return {"name": name, "mode": mode, "members": members, "bridge": bridge, "address": address,
            "gateway": None, "mtu": mtu, "options": options}


def _links(config):
    return [config["name"]] + config["members"] + ([config["bridge"]] if config["bridge"] else [])


@settings(max_examples=60, deadline=None)
@given(configs())
def test_ifcfg_round_trip(config):
    files = _persist_ifcfg.render(config)
    bond = _persist_ifcfg.parse(files[_persist_ifcfg.path_for(config["name"])])
    opts = dict(pair.split("=", 1) for pair in bond["BONDING_OPTS"].split())
    assert opts == dict(bond_option_pairs(config, ","))
    assert opts["mode"] == config["mode"]
    carrier = config["bridge"] or config["name"]
    holder = _persist_ifcfg.parse(files[_persist_ifcfg.path_for(carrier)])
    if config["address"]:
        iface = ipaddress.ip_interface(config["address"])
        assert ipaddress.ip_interface("%s/%s" % (holder["IPADDR"], holder["NETMASK"])) == iface
    else:
        assert "IPADDR" not in holder
    for member in config["members"]:
        assert _persist_ifcfg.parse(files[_persist_ifcfg.path_for(member)])["MASTER"] == config["name"]
    for ifname in _links(config):
        mtu = _persist_ifcfg.parse(files[_persist_ifcfg.path_for(ifname)]).get("MTU")
        assert mtu == (str(config["mtu"]) if config["mtu"] else None)


@settings(max_examples=60, deadline=None)
@given(configs())
def test_nm_round_trip(config):
    files = _persist_nm.render(config)
    bond = _persist_nm.parse(files[_persist_nm.path_for(config["name"])])
    assert bond["bond"] == dict(bond_option_pairs(config, ","))
    assert bond["connection"].get("master") == config["bridge"]
    for member in config["members"]:
        port = _persist_nm.parse(files[_persist_nm.path_for(member)])["connection"]
        assert (port["master"], port["slave-type"], port["interface-name"]) == (config["name"], "bond", member)
    for ifname in _links(config):
        mtu = _persist_nm.parse(files[_persist_nm.path_for(ifname)]).get("ethernet", {}).get("mtu")
        assert mtu == (str(config["mtu"]) if config["mtu"] else None)


@settings(max_examples=60, deadline=None)
@given(configs())
def test_networkd_round_trip(config):
    files = _persist_networkd.render(config)
    for ifname in _links(config):
        text = files[_persist_networkd.path_for(ifname, "network")]
        found = [line.split("=", 1)[1] for line in text.splitlines() if line.startswith("MTUBytes=")]
        assert found == ([str(config["mtu"])] if config["mtu"] else [])


class TestReloadDaemon:
    """reload_daemon tries a refused reload again, then gives up with the daemon's words."""

    @staticmethod
    def _fake(monkeypatch, outcomes):
        from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _persist_net

        calls, sleeps = [], []

        def run_command(argv, what, package=None):
            calls.append((argv, what, package))
            outcome = outcomes.pop(0)
            if outcome is not None:
                raise outcome
        monkeypatch.setattr(_persist_net, "run_command", run_command)
        monkeypatch.setattr(_persist_net.time, "sleep", sleeps.append)
        return _persist_net, calls, sleeps

    def test_second_try_taken(self, monkeypatch):
        from ansible_collections.kvmnet.hypervisor.plugins.module_utils._command import CommandFailed

        refused = CommandFailed("x: networkctl reload failed (rc 1): Numerical result out of range", rc=1)
        mod, calls, sleeps = self._fake(monkeypatch, [refused, None])
        mod.reload_daemon("networkd", "checkpoint rollback")
        assert [c[0] for c in calls] == [["networkctl", "reload"]] * 2
        assert calls[0][1:] == ("checkpoint rollback", "systemd")
        assert sleeps == [mod.RELOAD_RETRY_DELAY]

    def test_last_refusal_raised(self, monkeypatch):
        from ansible_collections.kvmnet.hypervisor.plugins.module_utils._command import CommandFailed

        outcomes = [CommandFailed("nmcli connection reload failed (rc 8) try %d" % i, rc=8) for i in range(3)]
        mod, calls, sleeps = self._fake(monkeypatch, outcomes)
        with pytest.raises(CommandFailed, match="try 2"):
            mod.reload_daemon("nm", "bond0")
        assert len(calls) == mod.RELOAD_ATTEMPTS
        assert calls[0][0] == ["nmcli", "connection", "reload"] and calls[0][2] == "network-manager"
        assert sleeps == [mod.RELOAD_RETRY_DELAY, 2 * mod.RELOAD_RETRY_DELAY]

    def test_timeout_not_retried(self, monkeypatch):
        from ansible_collections.kvmnet.hypervisor.plugins.module_utils._command import CommandFailed

        mod, calls, sleeps = self._fake(monkeypatch, [CommandFailed("did not finish within 60 s", rc=None), None])
        with pytest.raises(CommandFailed, match="did not finish"):
            mod.reload_daemon("networkd", "bond0")
        assert len(calls) == 1 and sleeps == []
