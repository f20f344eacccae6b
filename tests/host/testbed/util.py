# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Small process helpers shared by the test-bed fixtures (argument lists only, never a shell)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import yaml

TMP_ROOT = Path(os.environ.get("KVT_TMP", "/tmp"))
# Everything the test bed creates carries this prefix (netns names, temp dirs, domains, links).
PREFIX = "kvt-"


class TestbedError(RuntimeError):
    """A real component of the test bed could not be started or stopped."""

    __test__ = False  # not a pytest test class


def run(argv, check=True, timeout=60, env=None, input=None):
    """Run argv (a list), capture text output; raise TestbedError with stderr on failure."""
    try:
        proc = subprocess.run(
            [str(a) for a in argv], capture_output=True, text=True, timeout=timeout, env=env, input=input,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise TestbedError("timeout after %ss: %s" % (timeout, " ".join(map(str, argv)))) from exc
    if check and proc.returncode != 0:
        raise TestbedError(
            "command failed (rc=%d): %s\n%s%s" % (proc.returncode, " ".join(map(str, argv)), proc.stdout, proc.stderr)
        )
    return proc


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    """Poll predicate() until it returns a truthy value; raise TestbedError after timeout."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last error
            last_exc = exc
        if time.monotonic() >= deadline:
            raise TestbedError("timed out after %.1fs waiting for %s (last error: %r)" % (timeout, what, last_exc))
        time.sleep(interval)


def require_binary(name):
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin")
    if not path:
        raise TestbedError(
            "%s not found: install the host packages listed in scripts/packages-host.txt "
            "(apt-get install --no-install-recommends $(cat scripts/packages-host.txt))" % name
        )
    return path


def pid_alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open("/proc/%d/status" % pid, encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("State:"):
                    return "Z" not in line.split()[1]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return True


def pid_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            return [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return []


def read_pidfile(path):
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def kill_pid(pid, expect=None, sig=signal.SIGTERM, timeout=10.0):
    """Send sig to pid (only if its argv[0] ends with `expect`, to survive PID reuse); wait for it to go.

    Escalates to SIGKILL after timeout. Returns True if a process was signalled.
    """
    if pid is None or pid <= 1 or not pid_alive(pid):
        return False
    if expect is not None:
        argv = pid_cmdline(pid)
        if not argv or not os.path.basename(argv[0]).startswith(expect):
            return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + 5
        time.sleep(0.02)
    return True


def write_owner(directory):
    """Mark a resource directory as owned by this process (the reaper cleans up after dead owners)."""
    Path(directory, "owner.pid").write_text("%d\n" % os.getpid())


def owner_dead(directory):
    pid = read_pidfile(Path(directory, "owner.pid"))
    return pid is None or not pid_alive(pid)


def unique_ifname(prefix="kv"):
    """A short interface name unlikely to clash with a concurrent run (<= 15 chars, IFNAMSIZ)."""
    return (prefix + os.urandom(6).hex())[:15]


# Measured durations of test-bed operations (label -> [seconds]); conftest prints a summary.
TIMINGS = {}


def record_timing(label, seconds):
    TIMINGS.setdefault(label, []).append(seconds)


def object_diff(diff):
    """The object's before / after (dicts) from a module's ``diff`` list: its first entry holds
    them as YAML text ('' for an object that does not exist)."""
    return {side: yaml.safe_load(diff[0][side]) or {} for side in ("before", "after")}
