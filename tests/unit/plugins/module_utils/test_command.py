# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one subprocess runner: argument lists, status, timeout and a missing program, for real."""

from __future__ import annotations

import sys

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _command
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import BackendUnavailable, KvmnetError


def test_runs_an_argument_list_without_a_shell():
    proc = _command.run_command([sys.executable, "-c", "import sys; print(sys.argv[1])", "a; echo b"], "t")
    assert proc.stdout == "a; echo b\n"


def test_nonzero_status_is_a_typed_error_naming_the_command():
    with pytest.raises(_command.CommandFailed, match=r"^bond0: persist: .* failed \(rc 3\): nope$") as info:
        _command.run_command([sys.executable, "-c", "import sys; sys.stderr.write('nope'); sys.exit(3)"],
                             "bond0: persist")
    assert info.value.details["rc"] == 3
    assert _command.run_command([sys.executable, "-c", "raise SystemExit(4)"], "t", check=False).returncode == 4


def test_timeout_kills_and_fails():
    with pytest.raises(_command.CommandFailed, match="did not finish within 0.5 s"):
        _command.run_command([sys.executable, "-c", "import time; time.sleep(30)"], "t", timeout=0.5)


def test_missing_program_names_the_package():
    with pytest.raises(BackendUnavailable, match="^vhost_net: kvmnet-no-such-program not found; install "
                                                 "the distribution package kmod$"):
        _command.run_command(["kvmnet-no-such-program"], "vhost_net", package="kmod")


def test_a_shell_string_is_refused():
    with pytest.raises(KvmnetError, match="must be a non-empty list"):
        _command.run_command("modprobe vhost_net", "t")  # type: ignore[arg-type]


def test_extra_environment_reaches_the_program():
    proc = _command.run_command([sys.executable, "-c", "import os; print(os.environ['KVMNET_T'])"], "t",
                                env={"KVMNET_T": "x"})
    assert proc.stdout == "x\n"
