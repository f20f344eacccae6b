# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The checkpoint module's logic on a host tree under tmp_path; systemctl is a fake on PATH that
records its arguments (no systemd runs here: the VM tier runs the real one)."""

from __future__ import annotations

import os
import socket

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import (
    _checkpoint,
    _checkpoint_probes,
    _checkpoint_task,
    _checkpoint_units,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    BackendUnavailable,
    Conflict,
    InvalidInput,
    NotFound,
)


@pytest.fixture
def systemctl(tmp_path, monkeypatch):
    """A fake systemctl first on PATH: records its arguments; FAKE_RC makes it fail."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "systemctl.log"
    fake = bindir / "systemctl"
    fake.write_text("#!/bin/sh\necho \"$@\" >> %s\n[ -z \"$FAKE_RC\" ] || { echo 'System has not been booted "
                    "with systemd' >&2; exit \"$FAKE_RC\"; }\n" % log)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bindir, os.environ["PATH"]))
    return log


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "host"
    path.mkdir()
    return str(path)


def run(root, **params):
    return _checkpoint_task.execute(dict({"root": root}, **params))


def test_started_arms_the_units_and_confirmed_disarms(root, systemctl):
    res = run(root, state="started", id="cp1", timeout=120)
    assert res["changed"] and res["armed"] and res["id"] == "cp1"
    assert sorted(res["units"]) == sorted(_checkpoint_units.unit_paths())
    assert systemctl.read_text().splitlines() == ["daemon-reload", "restart kvmnet-checkpoint-rollback.timer"]
    service = open(os.path.join(root, "etc/systemd/system/kvmnet-checkpoint-rollback.service")).read()
    assert "ExecStart=%s\n" % _checkpoint_units.exec_line(res["rollback_command"]) in service
    assert "ConditionPathExists=%s/var/lib/kvmnet/checkpoint/state.json" % root in service
    # the timer starts before state.json exists (the checkpoint opens last): no condition on it
    timer = open(os.path.join(root, "etc/systemd/system/kvmnet-checkpoint-rollback.timer")).read()
    assert "Condition" not in timer and "Unit=kvmnet-checkpoint-rollback.service" in timer
    boot = open(os.path.join(root, "etc/systemd/system/kvmnet-checkpoint-boot.service")).read()
    assert "Before=network-pre.target" in boot and "DefaultDependencies=no" in boot and "--boot-files" in boot
    assert open(os.path.join(root, "etc/systemd/system/sysinit.target.d/kvmnet-checkpoint.conf")).read().endswith(
        "Wants=kvmnet-checkpoint-boot.service\n")
    systemctl.write_text("")
    done = run(root, state="confirmed", id="cp1")
    assert done["changed"] and done["entries"] == 0 and sorted(done["units_removed"]) == sorted(res["units"])
    assert systemctl.read_text().splitlines() == ["stop kvmnet-checkpoint-rollback.timer", "daemon-reload"]
    assert not os.path.exists(os.path.join(root, "etc/systemd/system/kvmnet-checkpoint-rollback.timer"))
    assert not os.path.exists(os.path.join(root, "etc/systemd/system/timers.target.d"))
    assert _checkpoint.open_checkpoint(root) is None
    again = run(root, state="confirmed")
    assert again["changed"] is False and "already confirmed" in again["msg"]


def test_arming_fails_nothing_stays_open(root, systemctl, monkeypatch):
    monkeypatch.setenv("FAKE_RC", "1")
    with pytest.raises(BackendUnavailable, match="checkpoint cp2 not started: .*daemon-reload failed.*nothing is open"):
        run(root, state="started", id="cp2")
    assert _checkpoint.open_checkpoint(root) is None
    assert _checkpoint_units.installed(root) == []
    assert not os.path.exists(os.path.join(root, "var/lib/kvmnet/checkpoint"))


def test_second_start_is_refused_naming_the_open_one(root):
    run(root, state="started", id="first", automatic_rollback=False)
    with pytest.raises(Conflict) as err:
        run(root, state="started", automatic_rollback=False)
    assert "'first'" in err.value.msg and " s ago" in err.value.msg and "deadline in" in err.value.msg
    assert "state: rolled_back" in err.value.msg and "state: confirmed" in err.value.msg
    assert err.value.details["id"] == "first" and isinstance(err.value.details["age"], int)
    with pytest.raises(Conflict, match="id: 'other' is not the open checkpoint"):
        run(root, state="confirmed", id="other")


def test_check_mode_does_nothing(root):
    res = _checkpoint_task.execute({"root": root, "state": "started"}, check_mode=True)
    assert res["changed"] is False and "check mode" in res["msg"] and "none open" in res["msg"]
    assert not os.path.exists(os.path.join(root, "var"))
    run(root, state="started", id="cp3", automatic_rollback=False)
    for state in ("confirmed", "rolled_back"):
        res = _checkpoint_task.execute({"root": root, "state": state}, check_mode=True)
        assert res["changed"] is False and res["id"] == "cp3" and "'cp3'" in res["msg"]
    assert _checkpoint.open_checkpoint(root).state["id"] == "cp3"


def test_rolled_back_without_checkpoint_and_confirmed_without_one(root):
    res = run(root, state="rolled_back")
    assert res["changed"] is False and "no checkpoint is open" in res["msg"]
    with pytest.raises(NotFound, match="no checkpoint is open"):
        run(root, state="confirmed")


def test_probes_at_confirmation(root):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        run(root, state="started", id="cp4", automatic_rollback=False, probes=[{"tcp": "127.0.0.1:%d" % port}])
        res = run(root, state="confirmed")  # the probes given at the start
    finally:
        listener.close()
    assert res["probes"][0]["probe"] == "tcp 127.0.0.1:%d" % port and res["probes"][0]["passed"] is True


@pytest.mark.parametrize("params, option", [
    ({"state": "begun"}, "state"),
    ({"state": "started", "timeout": 5}, "timeout"),
    ({"state": "started", "timeout": 86401}, "timeout"),
    ({"state": "started", "id": "../x"}, "id"),
    ({"state": "started", "id": "-x"}, "id"),
    ({"state": "started", "root": "relative"}, "root"),
    ({"state": "started", "probes": [{"ping": "-f"}]}, "probes[0].ping"),
    ({"state": "started", "probes": [{"ping": "192.0.2.1", "count": 0}]}, "probes[0].count"),
    ({"state": "started", "probes": [{"tcp": "192.0.2.1"}]}, "probes[0].tcp"),
    ({"state": "started", "probes": [{"tcp": "192.0.2.1:70000"}]}, "probes[0].tcp"),
    ({"state": "started", "probes": [{"tcp": "192.0.2.1:22", "count": 2}]}, "probes[0].count"),
    ({"state": "started", "probes": [{"ping": "192.0.2.1", "wait": 601}]}, "probes[0].wait"),
    ({"state": "started", "probes": [{"tcp": "192.0.2.1:22", "wait": -1}]}, "probes[0].wait"),
    ({"state": "started", "probes": [{"ping": "192.0.2.1", "tcp": "192.0.2.1:22"}]}, "probes[0]"),
    ({"state": "started", "probes": [{}]}, "probes[0]"),
    # a trailing newline passed '$' (re.match): the bad-input sweep's findings
    ({"state": "started", "id": "kvt\n"}, "id"),
    ({"state": "started", "probes": [{"ping": "gw.example\n"}]}, "probes[0].ping"),
    ({"state": "started", "probes": [{"tcp": "192.0.2.1:22\n"}]}, "probes[0].tcp"),
    # all-digit last label: a mistyped address, not a host name
    ({"state": "started", "probes": [{"ping": "10.0.0.300"}]}, "probes[0].ping"),
    ({"state": "started", "probes": [{"ping": "1.2.3"}]}, "probes[0].ping"),
    ({"state": "started", "probes": [{"tcp": "10.0.0.300:22"}]}, "probes[0].tcp"),
    # '' is not '/': never the real host by a typo
    ({"state": "started", "root": ""}, "root"),
    # probes do nothing with rolled_back: a contradiction, refused
    ({"state": "rolled_back", "probes": [{"ping": "192.0.2.1"}]}, "probes"),
    ({"state": "rolled_back", "probes": []}, "probes"),
])
def test_bad_input_names_the_option_and_changes_nothing(root, params, option):
    with pytest.raises(InvalidInput) as err:
        _checkpoint_task.execute(dict({"root": root}, **params))
    assert err.value.option == option
    assert not os.path.exists(os.path.join(root, "var"))


def test_probe_forms():
    probes = _checkpoint_probes.normalize([{"ping": "192.0.2.1"}, {"tcp": "[2001:db8::1]:22", "timeout": 3},
                                           {"tcp": "gw.example.net:443"}])
    assert probes == [{"ping": "192.0.2.1", "count": 3, "timeout": 2, "wait": 0},
                      {"tcp": "[2001:db8::1]:22", "host": "2001:db8::1", "port": 22, "timeout": 3, "wait": 0},
                      {"tcp": "gw.example.net:443", "host": "gw.example.net", "port": 443, "timeout": 5, "wait": 0}]
    refused = _checkpoint_probes.run_probe({"tcp": "127.0.0.1:1", "host": "127.0.0.1", "port": 1, "timeout": 1})
    assert refused["passed"] is False and refused["probe"] == "tcp 127.0.0.1:1" and refused["tries"] == 1


def test_probe_wait_tries_again_until_it_passes():
    """A port that starts listening 2.5 s after the first try: passes within wait 10, after
    several tries; without wait the same probe fails at once."""
    import threading

    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    port = spare.getsockname()[1]
    spare.close()
    probe = _checkpoint_probes.normalize([{"tcp": "127.0.0.1:%d" % port, "timeout": 1, "wait": 10}])[0]
    assert _checkpoint_probes.run_probe(dict(probe, wait=0))["passed"] is False
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    timer = threading.Timer(2.5, lambda: (listener.bind(("127.0.0.1", port)), listener.listen(1)))
    timer.start()
    try:
        result = _checkpoint_probes.run_probe(probe)
    finally:
        timer.join()
        listener.close()
    assert result["passed"] is True and result["detail"] == "connected"
    assert 3 <= result["tries"] <= 10 and 2.0 <= result["seconds"] < 10


def test_probe_wait_gives_up_at_its_end():
    probe = _checkpoint_probes.normalize([{"tcp": "127.0.0.1:1", "timeout": 1, "wait": 2}])[0]
    result = _checkpoint_probes.run_probe(probe)
    assert result["passed"] is False and result["tries"] >= 2 and result["seconds"] < 5


def test_exec_line_quotes_what_systemd_would_split_or_expand():
    assert _checkpoint_units.exec_line(["/usr/bin/python3", "-I", "/a b/replay.py", "100%", "$x"]) == \
        '/usr/bin/python3 -I "/a b/replay.py" 100%% $$x'


@pytest.mark.parametrize("host", ["gw.example.", "host-1", "a1.b2.example", "192.0.2.1", "2001:db8::1"])
def test_probe_host_names_and_addresses_accepted(host):
    assert _checkpoint_probes.normalize([{"ping": host}])[0]["ping"] == host
