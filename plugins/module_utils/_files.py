# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Files that make state survive a reboot, written atomically and only when their content changes.

Persistence renderers (networkd, NetworkManager keyfiles, ifcfg, ifupdown, modprobe.d,
modules-load.d, systemd units, udev rules) produce ``{path: content}``; this module reads the
current content, plans one ``write_file`` / ``remove_file`` operation per file that differs,
and applies it with write-to-temp + fsync + rename, so a crash never leaves half a file.
``root`` (default ``/``) lets tests point everything at a temporary directory.

With ``--diff`` every file a plan writes or removes is shown as its own unified diff
(:func:`diff_entries`), headed by its path, from the plan: check mode shows the same.

udev and systemd read their rules and units when told to: a plan that writes or removes one
ends with ``reload_udev`` / ``reload_systemd`` (:func:`plan_reloads`), so the rule or unit is in
force from this run on, not from the next boot.
"""

from __future__ import annotations

import base64
import os
import stat
import tempfile
from typing import Any, Callable

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._command import run_command
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import BackendUnavailable


def host_path(path: str, root: str = "/") -> str:
    """``path`` (absolute, as on the host) under ``root``."""
    return os.path.join(root, path.lstrip("/"))


def read_text(path: str, root: str = "/") -> str | None:
    """Content of a file, or None if it does not exist."""
    try:
        with open(host_path(path, root), encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BackendUnavailable("cannot read %s: %s" % (path, exc.strerror)) from exc


def read_files(paths: list[str], root: str = "/") -> dict[str, str | None]:
    """Current content of each path (None for a missing file)."""
    return {path: read_text(path, root) for path in paths}


def plan_files(current: dict[str, str | None], desired: dict[str, str | None],
               mode: int = 0o644) -> list[Operation]:
    """One operation per file whose content differs; a desired None removes the file."""
    ops = []
    for path in sorted(desired):
        want = desired[path]
        have = current.get(path)
        if want == have:
            continue
        if want is None:
            ops.append(Operation("remove_file", path))
        else:
            ops.append(Operation("write_file", path, mode="%04o" % mode, content=want))
    return ops


def diff_entries(operations: list[Operation], root: str = "/") -> list[dict[str, str]]:
    """One Ansible diff entry per ``write_file`` / ``remove_file`` of ``operations``: the file's
    text now (``''`` for a file that does not exist) and its planned text (``''`` for a file to
    remove), both headers the path. Called on the plan before it is applied: a real run and
    check mode show the same."""
    entries = []
    for op in operations:
        if op.action not in ("write_file", "remove_file"):
            continue
        after = op.params["content"] if op.action == "write_file" else ""
        entries.append({"before": read_text(op.target, root) or "", "after": after,
                        "before_header": op.target, "after_header": op.target})
    return entries


#: callables ``guard(path, root)`` run before any file is written or removed: the engine's
#: :class:`FileJournal` of the run and an open checkpoint's journal keep the original there
_GUARDS: list[Callable[[str, str], None]] = []


def add_guard(guard: Callable[[str, str], None]) -> None:
    """Run ``guard(path, root)`` before every write or removal until :func:`remove_guard`."""
    _GUARDS.append(guard)


def remove_guard(guard: Callable[[str, str], None]) -> None:
    """Stop running ``guard``; nothing if it is not registered."""
    if guard in _GUARDS:
        _GUARDS.remove(guard)


def _before_change(path: str, root: str) -> None:
    for guard in list(_GUARDS):
        guard(path, root)


def before_command(paths: list[str], root: str = "/") -> None:
    """Run the guards for the files an external command is about to change (``dpkg-divert``
    moves a file and rewrites dpkg's list of diversions): the journals keep their originals,
    so a rollback puts them back byte for byte as if this module had written them."""
    for path in paths:
        _before_change(path, root)


def snapshot(path: str, root: str = "/") -> dict[str, Any] | None:
    """The original of a file as JSON: ``{"content_b64", "mode"}`` (bytes, permission bits),
    None when it does not exist. :func:`restore_snapshot` puts it back byte for byte."""
    target = host_path(path, root)
    try:
        with open(target, "rb") as handle:
            data = handle.read()
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BackendUnavailable("cannot read %s: %s" % (path, exc.strerror)) from exc
    return {"content_b64": base64.b64encode(data).decode("ascii"), "mode": "%04o" % mode}


def restore_snapshot(path: str, original: dict[str, Any] | None, root: str = "/") -> bool:
    """Put back what :func:`snapshot` took (remove the file if it did not exist); True if the
    file was different and is now restored. Bypasses the guards: this *is* the undo."""
    if snapshot(path, root) == original:
        return False
    if original is None:
        _unlink(path, root)
        return True
    _write_bytes(path, base64.b64decode(original["content_b64"]), int(original["mode"], 8), root)
    return True


class FileJournal:
    """The originals of the files changed during one run (first sight wins), to undo them."""

    def __init__(self) -> None:
        self.originals: dict[tuple[str, str], dict[str, Any] | None] = {}

    def __call__(self, path: str, root: str) -> None:
        key = (root, path)
        if key not in self.originals:
            self.originals[key] = snapshot(path, root)

    def restore(self) -> list[str]:
        """Put every file back as it was, newest first; the paths that were different."""
        restored = []
        for (root, path), original in reversed(list(self.originals.items())):
            if restore_snapshot(path, original, root):
                restored.append(path)
        return restored


def write_atomic(path: str, content: str, mode: int = 0o644, root: str = "/") -> None:
    """Write ``content`` to ``path`` through a temporary file in the same directory and a rename."""
    _before_change(path, root)
    _write_bytes(path, content.encode("utf-8"), mode, root)


def _write_bytes(path: str, data: bytes, mode: int, root: str) -> None:
    target = host_path(path, root)
    directory = os.path.dirname(target)
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".kvmnet-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, mode)
            os.rename(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise BackendUnavailable("cannot write %s: %s" % (path, exc.strerror)) from exc


def remove(path: str, root: str = "/") -> None:
    """Remove a file if it exists."""
    _before_change(path, root)
    _unlink(path, root)


def _unlink(path: str, root: str) -> None:
    try:
        os.unlink(host_path(path, root))
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise BackendUnavailable("cannot remove %s: %s" % (path, exc.strerror)) from exc


def apply_file_operation(op: Operation, root: str = "/") -> bool:
    """Apply a ``write_file`` / ``remove_file`` operation; False if ``op`` is not a file operation."""
    if op.action == "write_file":
        write_atomic(op.target, op.params["content"], int(op.params.get("mode", "0644"), 8), root)
        return True
    if op.action == "remove_file":
        remove(op.target, root)
        return True
    return False


def files_state(files: dict[str, Any]) -> dict[str, Any]:
    """Files in the shape shown in before/after (content, or null for a missing file)."""
    return {path: files[path] for path in sorted(files)}


#: who reads files under a directory and the command that makes it read them again, as
#: ``(action, directory prefix, argv, package)``; systemd first, so that a unit a new udev
#: rule wants is known when udev acts on the rule
RELOADS = (
    # units and their drop-ins only: /etc/systemd/network (networkd) is not systemd's to reload
    ("reload_systemd", "/etc/systemd/system/", ("systemctl", "daemon-reload"), "systemd"),
    ("reload_udev", "/etc/udev/", ("udevadm", "control", "--reload"), "udev"),
)


def network_reloads() -> tuple[tuple[str, str, tuple[str, ...], str], ...]:
    """Entries like :data:`RELOADS`' (action, directory, argv, package) for the network daemons
    that run: their files are re-read by the daemon's own reload (``networkctl reload``,
    ``nmcli connection reload``)."""
    # imported here: the stacks' modules are the home of their directories and commands
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _persist_net, _persist_networkd, _persist_nm

    return tuple(("reload_" + stack, directory + "/", tuple(_persist_net.RELOAD_COMMANDS[stack]),
                  _persist_net.RELOAD_PACKAGES[stack])
                 for stack, directory in (("networkd", _persist_networkd.DIRECTORY), ("nm", _persist_nm.DIRECTORY))
                 if _persist_net.DAEMONS[stack] in _persist_net.running_daemons())


def plan_reloads(operations: list[Operation], network: bool = False) -> list[Operation]:
    """``reload_systemd`` / ``reload_udev`` after the file operations among ``operations`` that
    write or remove a systemd unit / udev rule (none when no such file changes). With
    ``network`` (a rollback putting files back, not a module's own plan: nic_bond and
    linux_bridge plan their daemon's reload themselves) also the reload of each running network
    daemon whose files changed."""
    changed = [op.target for op in operations if op.action in ("write_file", "remove_file")]
    return [Operation(action, action[len("reload_"):], command=list(argv))
            for action, prefix, argv, _package in RELOADS + (network_reloads() if network else ())
            if any(path.startswith(prefix) for path in changed)]


def apply_reload_operation(op: Operation, what: str) -> bool:
    """Run the command of a ``reload_*`` operation; False if ``op`` is not one."""
    for action, _prefix, argv, package in RELOADS:
        if op.action == action:
            run_command(list(argv), what, package=package)
            return True
    if op.action in ("reload_networkd", "reload_nm"):  # a network daemon's (network_reloads)
        from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _persist_net

        _persist_net.reload_daemon(op.target, what)
        return True
    return False
