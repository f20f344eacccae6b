# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checkpoints: commit-confirm for a whole play, journaled on the host.

While a checkpoint is open (``/var/lib/kvmnet/checkpoint/state.json`` exists), every module of
the collection journals, before it applies a non-empty plan, the state of its resource as read
(canonical: the engine can plan back to it) with what is needed to build the resource again
(its class and parameters), and, before any file is written or removed, the file's original
bytes and mode (the first original per path wins). :func:`replay` undoes it all: the resource
entries newest first through the engine (plan from the host as it is now back to the
journaled state, apply, verify), then the files byte for byte, then the reloads those files
need. It runs from the checkpoint's own copy of this code (``lib/``), as a systemd unit: it
depends neither on the ssh session nor on the module's process.

Layout of the checkpoint directory::

    state.json           id, started, timeout, deadline, probes, python, armed; written last:
                         its presence is what "a checkpoint is open" means
    entries/000001.json  one per module run that changed something: resource, params, root,
                         desired, before
    files/<sha1>.json    the original of one file: path, root, original ({content_b64, mode}
                         or null: did not exist)
    lib/                 the collection's module_utils, as the modules that armed it ran them
    replay.py            the entry point: ``python -I replay.py [--boot-files] ROOT`` (what the
                         systemd units run, see _checkpoint_units)
    boot-files.json      the files the early-boot stage (--boot-files) already put back

Who changes the checkpoint (start, confirm, replay) holds ``/var/lib/kvmnet/checkpoint.lock``
(flock): a rollback fired by the timer and a confirmation never run at the same time.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import importlib.util
import json
import os
import pkgutil
import shutil
import sys
import tempfile
import time
from typing import Any, Iterator

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _files
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import BackendUnavailable, KvmnetError

#: where a checkpoint lives on the host (under a resource's root)
CHECKPOINT_DIR = "/var/lib/kvmnet/checkpoint"
#: the report of the last rollback or confirmation, kept after the checkpoint is gone
LAST_REPORT = "/var/lib/kvmnet/checkpoint-last.json"
#: held (flock) by whoever starts, confirms or replays a checkpoint
LOCK = "/var/lib/kvmnet/checkpoint.lock"
#: the package every module_utils file of the collection lives in
LIBRARY_PACKAGE = "ansible_collections.kvmnet.hypervisor.plugins.module_utils"
#: the entry point the units run, next to lib/ in the checkpoint directory
REPLAY_SCRIPT = "replay.py"
BOOT_FILES = "boot-files.json"

SCRIPT = '''#!/usr/bin/python3
# Written by kvmnet.hypervisor (checkpoint %(id)s); removed with the checkpoint.
# Rolls the open checkpoint back with the code that journaled it (lib/ next to this file):
#   python -I replay.py ROOT               resources newest first, then files, then reloads
#   python -I replay.py --boot-files ROOT  early boot: only put the files back
# Run by kvmnet-checkpoint-rollback.service (timer, boot) and kvmnet-checkpoint-boot.service.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._checkpoint import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
'''


def _write_json(path: str, data: Any) -> None:
    """Write JSON through a temporary file, fsync and rename: a journal entry is whole or absent."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".kvmnet-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


class Checkpoint:
    """An open checkpoint: its directory (under ``root``) and its state."""

    def __init__(self, root: str, state: dict[str, Any]) -> None:
        self.root = root or "/"
        self.state = state
        self.path = _files.host_path(CHECKPOINT_DIR, self.root)

    # -- journaling (called by the engine) ------------------------------------------------
    def entries(self) -> list[str]:
        """The entry files, oldest first."""
        directory = os.path.join(self.path, "entries")
        try:
            return sorted(os.path.join(directory, n) for n in os.listdir(directory) if n.endswith(".json"))
        except FileNotFoundError:
            return []

    def record(self, resource: Any, desired: dict[str, Any], before: dict[str, Any] | None) -> None:
        """Journal a resource about to change: what builds it again and its state as read."""
        cls = type(resource)
        seq = len(self.entries()) + 1
        entry = {
            "seq": seq,
            "time": time.time(),
            "resource": "%s:%s" % (cls.__module__, cls.__qualname__),
            "what": resource.diff_header(),
            "params": resource.params,
            "root": resource.root,
            "desired": desired,
            "before": before,
        }
        try:
            _write_json(os.path.join(self.path, "entries", "%06d.json" % seq), entry)
        except (OSError, TypeError, ValueError) as exc:
            raise BackendUnavailable("checkpoint %s: cannot journal %s: %s"
                                     % (self.state.get("id"), entry["what"], exc)) from exc

    def file_guard(self, path: str, root: str) -> None:
        """Keep the original of a file before its first change under this checkpoint."""
        key = hashlib.sha1(("%s\0%s" % (root, path)).encode("utf-8")).hexdigest()
        target = os.path.join(self.path, "files", key + ".json")
        if os.path.exists(target):
            return
        try:
            _write_json(target, {"path": path, "root": root, "original": _files.snapshot(path, root),
                                 "time": time.time()})
        except OSError as exc:
            raise BackendUnavailable("checkpoint %s: cannot keep the original of %s: %s"
                                     % (self.state.get("id"), path, exc)) from exc

    def files(self) -> list[dict[str, Any]]:
        """The kept originals, in the order they were taken."""
        directory = os.path.join(self.path, "files")
        try:
            found = [_read_json(os.path.join(directory, n)) for n in os.listdir(directory) if n.endswith(".json")]
        except FileNotFoundError:
            return []
        return sorted(found, key=lambda f: f.get("time", 0))

    def age(self) -> float:
        return max(0.0, time.time() - float(self.state.get("started", time.time())))

    def script(self) -> str:
        """The replay script's path (on this host, under root)."""
        return os.path.join(self.path, REPLAY_SCRIPT)

    def command(self, boot_files: bool = False) -> list[str]:
        """The command line that rolls this checkpoint back: the recorded python, isolated
        (no PYTHONPATH, no user site: only lib/ next to the script), the script, the root."""
        return [self.state["python"], "-I", self.script()] + (["--boot-files"] if boot_files else []) + [self.root]

    def commit(self) -> None:
        """Open the checkpoint: write state.json, the last step of starting one."""
        _write_json(os.path.join(self.path, "state.json"), self.state)

    def describe(self) -> str:
        """``'ID' (started 2026-11-30 08:00:00 UTC, 125 s ago, deadline in 475 s)``"""
        left = float(self.state.get("deadline", 0)) - time.time()
        return "%r (started %s, %d s ago, %s)" % (
            self.state.get("id"), utc(self.state.get("started")), self.age(),
            "deadline in %d s" % left if left >= 0 else "deadline passed %d s ago" % -left)


def utc(stamp: Any) -> str:
    """A time stamp (seconds since the epoch) as ``YYYY-MM-DD HH:MM:SS UTC``."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(stamp or 0)))


def open_checkpoint(root: str = "/") -> Checkpoint | None:
    """The open checkpoint under ``root``, or None."""
    path = _files.host_path(os.path.join(CHECKPOINT_DIR, "state.json"), root)
    try:
        state = _read_json(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise BackendUnavailable("checkpoint: cannot read %s: %s" % (path, exc)) from exc
    return Checkpoint(root, state)


def prepare(root: str, checkpoint_id: str, timeout: int, probes: list[dict[str, Any]],
            armed: bool = True) -> Checkpoint:
    """A new checkpoint's directory, not open yet (no state.json: :meth:`Checkpoint.commit`
    opens it). What an interrupted start left there is removed first. The caller holds the
    lock and made sure none is open."""
    now = time.time()
    state = {"id": checkpoint_id, "started": now, "timeout": timeout, "deadline": now + timeout,
             "probes": probes, "python": sys.executable, "armed": armed}
    checkpoint = Checkpoint(root, state)
    shutil.rmtree(checkpoint.path, ignore_errors=True)
    shutil.rmtree(checkpoint.path + ".closing", ignore_errors=True)
    os.makedirs(checkpoint.path)
    return checkpoint


def create(root: str, checkpoint_id: str, timeout: int, probes: list[dict[str, Any]]) -> Checkpoint:
    """Open a new checkpoint at once (the journal alone: no library, script or units)."""
    checkpoint = prepare(root, checkpoint_id, timeout, probes)
    checkpoint.commit()
    return checkpoint


def discard(checkpoint: Checkpoint) -> None:
    """Remove a checkpoint that was prepared but never opened."""
    shutil.rmtree(checkpoint.path, ignore_errors=True)


@contextlib.contextmanager
def locked(root: str = "/", wait: float = 900.0) -> Iterator[None]:
    """Hold the checkpoint lock under ``root`` (waiting at most ``wait`` seconds: a rollback
    in progress holds it)."""
    path = _files.host_path(LOCK, root or "/")
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise BackendUnavailable("checkpoint: cannot open the lock %s: %s" % (path, exc.strerror)) from exc
    try:
        until = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > until:
                    raise BackendUnavailable("checkpoint: %s is still held after %d s (a rollback in progress?)"
                                             % (path, wait)) from None
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)


def last_report(root: str = "/") -> dict[str, Any] | None:
    """How the last checkpoint under ``root`` ended (None: never one, or unreadable)."""
    try:
        return _read_json(_files.host_path(LAST_REPORT, root or "/"))
    except (OSError, ValueError):
        return None


def library_sources() -> dict[str, str]:
    """Name -> source of every module of the collection's module_utils this process can import
    (for a module run by Ansible: what AnsiballZ shipped), read without importing them: what
    :func:`copy_library` copies. Importing them all would load pyroute2, python-ovs and libvirt
    (seconds on a slow host) for nothing."""
    package = importlib.import_module(LIBRARY_PACKAGE)
    sources = {}
    for info in pkgutil.iter_modules(list(package.__path__), LIBRARY_PACKAGE + "."):
        if info.ispkg:
            continue
        spec = importlib.util.find_spec(info.name)
        source = spec.loader.get_source(info.name) if spec is not None and spec.loader is not None else None
        if source is None:
            raise BackendUnavailable("checkpoint: the source of %s is not available" % info.name)
        sources[info.name] = source
    if not sources:
        raise BackendUnavailable("checkpoint: no module of %s found to copy" % LIBRARY_PACKAGE)
    return sources


def write_script(checkpoint: Checkpoint) -> str:
    """The replay entry point next to ``lib/``; returns its path."""
    path = checkpoint.script()
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(SCRIPT % {"id": checkpoint.state.get("id")})
    os.chmod(path, 0o755)
    return path


def copy_library(checkpoint: Checkpoint, sources: dict[str, str]) -> str:
    """Write ``sources`` (name -> source: the module_utils the replay needs) under the
    checkpoint's ``lib/`` as a regular package tree, so that the replay runs the code that
    journaled, from the host's disk; returns the ``lib`` directory."""
    lib = os.path.join(checkpoint.path, "lib")
    for name, source in sorted(sources.items()):
        parts = name.split(".")
        directory = os.path.join(lib, *parts[:-1])
        os.makedirs(directory, exist_ok=True)
        for depth in range(1, len(parts)):
            init = os.path.join(lib, *parts[:depth], "__init__.py")
            if not os.path.exists(init):
                with open(init, "w", encoding="utf-8"):
                    pass
        with open(os.path.join(directory, parts[-1] + ".py"), "w", encoding="utf-8") as handle:
            handle.write(source)
    return lib


def restore_files(root: str = "/", log: Any = None) -> dict[str, Any]:
    """Early boot (before the network starts): put back the open checkpoint's files only, so
    networkd / NetworkManager / ifupdown bring up the configuration from before it. The
    checkpoint stays open: the full :func:`replay` follows once the daemons run, and does the
    reloads these files need (kept in boot-files.json)."""
    say = log or (lambda text: None)
    checkpoint = open_checkpoint(root)
    if checkpoint is None:
        say("no checkpoint open under %s: nothing to do" % root)
        return {"checkpoint": None, "files": [], "errors": [], "verified": True}
    report: dict[str, Any] = {"checkpoint": checkpoint.state.get("id"), "files": [], "errors": []}
    say("checkpoint %s: early boot, putting back %d files" % (report["checkpoint"], len(checkpoint.files())))
    for kept in reversed(checkpoint.files()):
        try:
            if _files.restore_snapshot(kept["path"], kept["original"], kept.get("root") or root):
                report["files"].append(kept["path"])
                say("%s: %s" % (kept["path"], "restored" if kept["original"] else "removed (did not exist)"))
        except KvmnetError as exc:
            report["errors"].append({"what": kept["path"], "error": exc.msg})
            say("%s: FAILED to restore: %s" % (kept["path"], exc.msg))
    earlier = _boot_files(checkpoint)
    _write_json(os.path.join(checkpoint.path, BOOT_FILES),
                {"files": earlier + [p for p in report["files"] if p not in earlier]})
    report["verified"] = not report["errors"]
    return report


def _boot_files(checkpoint: Checkpoint) -> list[str]:
    try:
        return list(_read_json(os.path.join(checkpoint.path, BOOT_FILES)).get("files", []))
    except (OSError, ValueError):
        return []


def main(argv: list[str] | None = None) -> int:
    """The replay script: ``[--boot-files] ROOT``; logs to stdout (journald under systemd).
    Exit status 0 when the host is verified back (or nothing was open), 1 otherwise."""
    args = list(sys.argv[1:] if argv is None else argv)
    boot_files = "--boot-files" in args
    args = [a for a in args if a != "--boot-files"]
    if len(args) != 1:
        sys.stderr.write("usage: replay.py [--boot-files] ROOT\n")
        return 2

    def say(text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    try:
        with locked(args[0]):
            report = restore_files(args[0], say) if boot_files else replay(args[0], say)
    except KvmnetError as exc:
        say("checkpoint rollback FAILED: %s" % exc.msg)
        return 1
    return 0 if report.get("verified") else 1


def _build(entry: dict[str, Any]) -> Any:
    module_name, class_name = entry["resource"].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(entry["params"], entry.get("root") or "/")


def replay(root: str = "/", log: Any = None) -> dict[str, Any]:
    """Undo the open checkpoint under ``root``: the files and their reloads, the resource entries
    newest first through the engine, then the files once more. Each step is logged (``log(text)``); a failed
    step does not stop the others. Returns the report (also kept at LAST_REPORT) and closes
    the checkpoint. Nothing to do (no checkpoint open): an empty report."""
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, error_text, restore_to

    say = log or (lambda text: None)
    checkpoint = open_checkpoint(root)
    if checkpoint is None:
        say("no checkpoint open under %s: nothing to do" % root)
        return {"checkpoint": None, "entries": [], "files": [], "errors": [], "verified": True}
    report: dict[str, Any] = {"checkpoint": checkpoint.state.get("id"), "entries": [], "files": [],
                              "reloads": [], "errors": []}
    say("checkpoint %s: rolling back %d module runs and %d files"
        % (report["checkpoint"], len(checkpoint.entries()), len(checkpoint.files())))
    # the files first, with the reloads they need (as a module's own rollback does): a network
    # daemon then acts on the restored configuration, and the entries below plan from the host
    # as it is after that; the files once more after them (a resource whose state is a file may
    # have rewritten one), byte for byte

    def put_back_files(boot: bool) -> None:
        restored = []
        for kept in reversed(checkpoint.files()):
            try:
                if _files.restore_snapshot(kept["path"], kept["original"], kept.get("root") or root):
                    restored.append(kept["path"])
                    say("%s: %s" % (kept["path"], "restored" if kept["original"] else "removed (did not exist)"))
            except KvmnetError as exc:
                report["errors"].append({"what": kept["path"], "error": exc.msg})
                say("%s: FAILED to restore: %s" % (kept["path"], exc.msg))
        if boot:  # files the early-boot stage put back count too: the daemons read them before, reload them
            restored += [path for path in _boot_files(checkpoint) if path not in restored]
        report["files"] += [path for path in restored if path not in report["files"]]
        for op in _files.plan_reloads([Operation("write_file", path) for path in restored], network=True):
            try:
                _files.apply_reload_operation(op, "checkpoint rollback")
                report["reloads"].append(op.action)
            except KvmnetError as exc:
                report["errors"].append({"what": op.action, "error": exc.msg})

    put_back_files(boot=True)
    for path in reversed(checkpoint.entries()):
        entry = _read_json(path)
        what = entry.get("what", entry["resource"])
        resource = None
        try:
            resource = _build(entry)
            resource.open()
            resource.normalize()
            reverted, remaining = restore_to(resource, entry["before"], entry["desired"])
            report["entries"].append({"what": what, "reverted": reverted, "remaining": remaining})
            say("%s: %s%s" % (what, "; ".join(Operation(**op).describe() for op in reverted) or "already as before",
                              "; STILL DIFFERENT: " + "; ".join(Operation(**op).describe() for op in remaining)
                              if remaining else ""))
        except Exception as exc:  # log it and go on with the others
            text = error_text(exc)
            report["errors"].append({"what": what, "error": text})
            say("%s: FAILED to roll back: %s" % (what, text))
        finally:
            if resource is not None:
                resource.close()
    put_back_files(boot=False)
    report["verified"] = not report["errors"] and not any(e["remaining"] for e in report["entries"])
    close(checkpoint, "rolled_back", report)
    say("checkpoint %s: %s" % (report["checkpoint"], "rolled back, verified" if report["verified"]
                               else "rolled back WITH ERRORS: %s" % json.dumps(report["errors"])))
    return report


def close(checkpoint: Checkpoint, outcome: str, report: dict[str, Any] | None = None) -> None:
    """Drop the checkpoint's journal, keeping a report of how it ended at LAST_REPORT."""
    summary = dict(report or {}, outcome=outcome, id=checkpoint.state.get("id"), ended=time.time(),
                   started=checkpoint.state.get("started"))
    _write_json(_files.host_path(LAST_REPORT, checkpoint.root), summary)
    # first make it not open (one rename), then remove the rest
    gone = checkpoint.path + ".closing"
    shutil.rmtree(gone, ignore_errors=True)
    os.rename(checkpoint.path, gone)
    shutil.rmtree(gone, ignore_errors=True)
