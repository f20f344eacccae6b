# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The systemd units that roll an open checkpoint back by themselves.

Nothing here depends on the ssh session or on the module's process: systemd runs the
checkpoint's replay script (``python -I <checkpoint>/replay.py ROOT``, see
:meth:`_checkpoint.Checkpoint.command`) in three cases:

- ``kvmnet-checkpoint-rollback.timer`` fires at the deadline and starts
  ``kvmnet-checkpoint-rollback.service`` (oneshot): the full replay, after Open vSwitch,
  libvirtd and the network services so their back ends answer;
- at boot with a checkpoint still open, ``kvmnet-checkpoint-boot.service`` runs early
  (Before=network-pre.target) and puts the files back, so networkd / NetworkManager / ifupdown
  bring up the configuration from before the checkpoint; multi-user.target then runs the same
  rollback service for the rest (resources, reloads);
- both services have ``ConditionPathExists=`` on the checkpoint's state.json: once the
  checkpoint is confirmed or rolled back they do nothing, even when they are still installed.
  The timer has none: it is started before state.json is written (the checkpoint opens last),
  and a condition that fails when a unit starts leaves it inactive.

They are "enabled" by drop-ins on their targets (sysinit, multi-user, timers), plain files like
every other unit the collection writes; :func:`arm` writes them and runs ``systemctl
daemon-reload`` and ``systemctl restart`` of the timer; :func:`disarm` stops the timer,
removes them and reloads. Their output goes to journald (``journalctl -t kvmnet-checkpoint``).
"""

from __future__ import annotations

import os
import re

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _files
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._checkpoint import Checkpoint, utc
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._command import CommandFailed, run_command

UNIT_DIR = "/etc/systemd/system"
SERVICE = "kvmnet-checkpoint-rollback.service"
TIMER = "kvmnet-checkpoint-rollback.timer"
BOOT = "kvmnet-checkpoint-boot.service"
#: the drop-ins that pull the units in: (target, unit)
WANTS = (("sysinit.target", BOOT), ("multi-user.target", SERVICE), ("timers.target", TIMER))
DROPIN = "kvmnet-checkpoint.conf"
DOCS = "https://github.com/kvmnet/hypervisor/blob/main/docs/safety.md"
#: the daemons whose back ends the replay talks to (Debian and RHEL names; absent ones are ignored)
AFTER = ("network.target", "systemd-networkd.service", "NetworkManager.service", "networking.service",
         "openvswitch-switch.service", "openvswitch.service", "ovsdb-server.service", "ovs-vswitchd.service",
         "libvirtd.service", "virtqemud.service", "virtnetworkd.service", BOOT)
#: how long the full replay may run before systemd stops it
REPLAY_TIMEOUT = 900


def unit_paths() -> list[str]:
    """Every file :func:`arm` writes (host paths, without root)."""
    return ["%s/%s" % (UNIT_DIR, unit) for unit in (BOOT, SERVICE, TIMER)] + [
        "%s/%s.d/%s" % (UNIT_DIR, target, DROPIN) for target, _unit in WANTS]


def exec_line(argv: list[str]) -> str:
    """``argv`` as an ExecStart= value: each argument quoted when it must be, ``%`` and ``$``
    doubled (systemd expands specifiers and variables there)."""
    out = []
    for arg in argv:
        text = arg.replace("%", "%%").replace("$", "$$")
        if not text or re.search(r"[\s\"'\\;]", text):
            text = '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')
        out.append(text)
    return " ".join(out)


def render(checkpoint: Checkpoint) -> dict[str, str]:
    """The units and drop-ins of ``checkpoint``: ``{host path: content}``."""
    ident = checkpoint.state.get("id")
    state = os.path.join(checkpoint.path, "state.json")
    head = "# Written by kvmnet.hypervisor (checkpoint %s); removed when the checkpoint ends.\n" % ident
    condition = "ConditionPathExists=%s\n" % state
    files = {
        "%s/%s" % (UNIT_DIR, SERVICE): head + (
            "[Unit]\n"
            "Description=kvmnet.hypervisor: roll back checkpoint %(id)s (not confirmed)\n"
            "Documentation=%(docs)s\n"
            "%(condition)s"
            "After=%(after)s\n"
            "\n[Service]\n"
            "Type=oneshot\n"
            "ExecStart=%(exec)s\n"
            "TimeoutStartSec=%(timeout)d\n"
            "StandardOutput=journal\n"
            "StandardError=journal\n"
            "SyslogIdentifier=kvmnet-checkpoint\n"
        ) % {"id": ident, "docs": DOCS, "condition": condition, "after": " ".join(AFTER),
             "exec": exec_line(checkpoint.command()), "timeout": REPLAY_TIMEOUT},
        "%s/%s" % (UNIT_DIR, TIMER): head + (
            "[Unit]\n"
            "Description=kvmnet.hypervisor: deadline of checkpoint %(id)s\n"
            "Documentation=%(docs)s\n"
            "\n[Timer]\n"
            "OnCalendar=%(deadline)s\n"
            "AccuracySec=1s\n"
            "Unit=%(service)s\n"
        ) % {"id": ident, "docs": DOCS, "deadline": utc(checkpoint.state["deadline"]), "service": SERVICE},
        "%s/%s" % (UNIT_DIR, BOOT): head + (
            "[Unit]\n"
            "Description=kvmnet.hypervisor: put back the files of checkpoint %(id)s before the network starts\n"
            "Documentation=%(docs)s\n"
            "%(condition)s"
            "DefaultDependencies=no\n"
            "After=local-fs.target\n"
            "Wants=network-pre.target\n"
            "Before=network-pre.target systemd-networkd.service NetworkManager.service networking.service "
            "shutdown.target\n"
            "Conflicts=shutdown.target\n"
            "\n[Service]\n"
            "Type=oneshot\n"
            "ExecStart=%(exec)s\n"
            "StandardOutput=journal\n"
            "StandardError=journal\n"
            "SyslogIdentifier=kvmnet-checkpoint\n"
        ) % {"id": ident, "docs": DOCS, "condition": condition, "exec": exec_line(checkpoint.command(boot_files=True))},
    }
    for target, unit in WANTS:
        files["%s/%s.d/%s" % (UNIT_DIR, target, DROPIN)] = head + "[Unit]\nWants=%s\n" % unit
    return files


def write_units(checkpoint: Checkpoint) -> list[str]:
    """Write the units and drop-ins under the checkpoint's root; the paths written."""
    files = render(checkpoint)
    for path in sorted(files):
        _files.write_atomic(path, files[path], 0o644, checkpoint.root)
    return sorted(files)


def arm(checkpoint: Checkpoint) -> list[str]:
    """Install the units and start the timer (systemd must run the host); the paths written."""
    written = write_units(checkpoint)
    what = "checkpoint %s: arm the rollback" % checkpoint.state.get("id")
    run_command(["systemctl", "daemon-reload"], what, package="systemd")
    run_command(["systemctl", "restart", TIMER], what, package="systemd")
    return written


def installed(root: str = "/") -> list[str]:
    """The checkpoint units and drop-ins present under ``root``."""
    return [path for path in unit_paths() if os.path.lexists(_files.host_path(path, root))]


def disarm(root: str = "/") -> list[str]:
    """Stop the timer, remove the units and drop-ins, reload systemd; the paths removed (none
    installed: nothing is run)."""
    present = installed(root)
    if not present:
        return []
    what = "checkpoint: disarm the rollback"
    try:
        run_command(["systemctl", "stop", TIMER], what, package="systemd")
    except CommandFailed as exc:
        if exc.details.get("rc") != 5:  # 5: the unit is not loaded, so not running either
            raise
    for path in present:
        _files.remove(path, root)
    for target, _unit in WANTS:
        try:
            os.rmdir(_files.host_path("%s/%s.d" % (UNIT_DIR, target), root))
        except OSError:
            pass  # not empty (other drop-ins) or already gone
    run_command(["systemctl", "daemon-reload"], what, package="systemd")
    return present
