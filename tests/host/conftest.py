# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Host integration tests (tier 2): real kernel, real Open vSwitch, real libvirtd. Run as root:

    PYTHONPATH=build/src ANSIBLE_COLLECTIONS_PATH=build/src .venv/bin/pytest tests/host

Fixtures come from tests/host/testbed/fixtures.py (see its docstrings).
"""
import os
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

# pytest finds the fixtures by their names in this module: the imports are used
from testbed.fixtures import (  # noqa: E402,F401  # pylint: disable=unused-import
    kvt_reap_stale, kvt_root, libvirt_domains, libvirt_test, libvirtd, netns, netns_factory, ovs, ovs_dummy,
    ovs_factory, ovs_session, run_playbook,
)
from testbed.util import TIMINGS  # noqa: E402


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Expose each phase's report as item.rep_setup / rep_call / rep_teardown (fixtures keep logs on failure)."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def pytest_terminal_summary(terminalreporter):
    if not TIMINGS:
        return
    terminalreporter.section("kvt test bed timings")
    for label in sorted(TIMINGS):
        values = sorted(TIMINGS[label])
        terminalreporter.write_line("%-28s n=%-3d median %7.3f s  max %7.3f s" % (
            label, len(values), values[len(values) // 2], values[-1]))
