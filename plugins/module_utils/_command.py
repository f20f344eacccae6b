# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one way the collection runs a program: an argument list, a timeout, a typed error.

Only where no API exists: ``modprobe`` with module options, ``nmcli`` / ``networkctl`` reloads,
``dpkg-divert``, ``udevadm control --reload``, ``systemctl daemon-reload``. Never a shell
string. Every call is visible in the performance benchmark's count of forked programs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import BackendUnavailable, KvmnetError

#: where system programs live when the module's PATH lacks the sbin directories (sudo, cron)
SYSTEM_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")

#: seconds a program may run before it is killed and the call fails
DEFAULT_TIMEOUT = 60.0


class CommandFailed(KvmnetError):
    """A program ended with a non-zero status or ran out of time; ``rc``/``stderr`` in details."""

    kind = "command_failed"


def find_program(name: str, what: str, package: str | None = None) -> str:
    """The absolute path of ``name`` (PATH, then the system directories), or BackendUnavailable
    naming ``what`` needs it and, when given, the distribution package that provides it."""
    found = shutil.which(name) or next(
        (os.path.join(d, name) for d in SYSTEM_DIRS if os.access(os.path.join(d, name), os.X_OK)), None)
    if found is None:
        raise BackendUnavailable("%s: %s not found%s" % (
            what, name, "; install the distribution package %s" % package if package else ""))
    return found


def run_command(argv: list[str], what: str, check: bool = True, timeout: float = DEFAULT_TIMEOUT,
                package: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``argv`` (a list, never a shell string) and return the completed process.

    ``what`` names the object in errors (``"bond0: persist"``). With ``check`` a non-zero status
    raises :class:`CommandFailed` with the command, status and stderr; a timeout always raises.
    """
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise KvmnetError("internal error: %s: a command must be a non-empty list of strings, got %r" % (what, argv))
    command = [find_program(argv[0], what, package)] + list(argv[1:])
    run_env: dict[str, Any] | None = None
    if env:
        run_env = dict(os.environ)
        run_env.update(env)
    try:
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                              universal_newlines=True, timeout=timeout, env=run_env)
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed("%s: %s did not finish within %g s" % (what, " ".join(argv), timeout),
                            command=argv, rc=None, stderr=(exc.stderr or "") if isinstance(exc.stderr, str) else "") from exc
    except OSError as exc:
        raise CommandFailed("%s: %s could not be started: %s" % (what, " ".join(argv), exc.strerror or exc),
                            command=argv, rc=None, stderr="") from exc
    if check and proc.returncode:
        output = proc.stderr.strip() or proc.stdout.strip()
        raise CommandFailed("%s: %s failed (rc %d): %s" % (what, " ".join(argv), proc.returncode, output),
                            command=argv, rc=proc.returncode, stderr=proc.stderr)
    return proc
