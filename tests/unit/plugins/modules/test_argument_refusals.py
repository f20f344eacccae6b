# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Refusals by the argument spec name the option (_module.new_module), through the modules'
real main(): what the bad-input sweep (tests/badinput) found ansible-core alone does not do."""

from __future__ import annotations

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._module import not_a_dict
from ansible_collections.kvmnet.hypervisor.plugins.modules import checkpoint, libvirt_iface, libvirt_network, sriov_vf

IFACE = {"domain": "vm1", "mac": "52:54:00:00:00:01"}


@pytest.mark.parametrize("args, named", [
    # ansible-core's validator raises TypeError on these (a traceback, MODULE FAILURE, without the fix)
    (dict(IFACE, bandwidth=5), "value of bandwidth must be a dict"),
    (dict(IFACE, bandwidth=[1, 2]), "value of bandwidth must be a dict"),
    (dict(IFACE, bandwidth={"inbound": 5}), "value of bandwidth.inbound must be a dict"),
])
def test_a_value_that_is_no_dict_where_sub_options_go_is_refused_naming_it(run_module, args, named):
    result, failed = run_module(libvirt_iface, args)
    assert failed
    assert result["msg"].startswith(named), result["msg"]


@pytest.mark.parametrize("module, args, words", [
    # ansible-core reports its no_log scan's "dictionary requested, could not parse JSON or key=value" first
    (libvirt_iface, dict(IFACE, bandwidth="fast"), ("bandwidth",)),
    (libvirt_network, {"name": "n1", "forward_mode": "openvswitch", "bridge": "br0",
                       "portgroups": [{"name": "pg", "vlan": "ten"}]}, ("vlan", "portgroups")),
    # a list of dicts holding a number: ansible-core names it by itself (kept so)
    (sriov_vf, {"pf": "enp1s0", "vfs": [{"vf": 0}, 7]}, ("vfs",)),
])
def test_a_string_where_sub_options_go_is_refused_naming_the_option(run_module, module, args, words):
    result, failed = run_module(module, args)
    assert failed
    assert not result["msg"].startswith("dictionary requested"), result["msg"]
    for word in words:
        assert "'%s'" % word in result["msg"], result["msg"]


def test_other_refusals_are_unchanged(run_module):
    result, failed = run_module(libvirt_iface, dict(IFACE, state="bogus"))
    assert failed
    assert result["msg"].startswith("value of state must be one of: present, absent"), result["msg"]


def test_not_a_dict_walks_sub_options_and_aliases():
    inner = {"c": {"type": "list", "elements": "dict", "options": {"d": {"type": "int"}}}}
    spec = {"a": {"type": "dict", "aliases": ["b"], "options": inner}}
    assert not_a_dict(spec, {"a": {"c": [{"d": 1}]}}) is None
    assert not_a_dict(spec, {"a": "c=1"}) is None  # ansible-core parses k=v strings itself
    assert not_a_dict(spec, {"b": 3}) == ("a", 3)
    assert not_a_dict(spec, {"a": {"c": [{"d": 1}, [2]]}}) == ("a.c[1]", [2])


def test_a_nul_byte_is_refused_naming_the_option_where_syslog_refuses_it(run_module, monkeypatch):
    """Python 3.13's syslog raises ValueError on a NUL byte: without the fix AnsibleModule fails
    the task while logging the invocation ("Failed to log to syslog"), naming no option."""
    import syslog  # pylint: disable=import-outside-toplevel

    logged = []

    def strict_syslog(priority, msg):
        if "\x00" in msg:
            raise ValueError("embedded null character")
        logged.append(msg)

    monkeypatch.setattr(syslog, "syslog", strict_syslog)
    result, failed = run_module(checkpoint, {"state": "started", "id": "kvt\x00x"}, check_mode=True)
    assert failed
    assert "id" in result["msg"] and "syslog" not in result["msg"], result["msg"]
    assert any("kvt\\x00x" in line for line in logged), logged
