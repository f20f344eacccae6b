# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
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

    state.json           id, started, timeout, deadline, probes, python
    entries/000001.json  one per module run that changed something: resource, params, root,
                         desired, before
    files/<sha1>.json    the original of one file: path, root, original ({content_b64, mode}
                         or null: did not exist)
    lib/                 the collection's module_utils, as the modules that armed it ran them
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import sys
import tempfile
import time
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _files
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import BackendUnavailable, KvmnetError

#: where a checkpoint lives on the host (under a resource's root)
CHECKPOINT_DIR = "/var/lib/kvmnet/checkpoint"
#: the report of the last rollback or confirmation, kept after the checkpoint is gone
LAST_REPORT = "/var/lib/kvmnet/checkpoint-last.json"


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


def create(root: str, checkpoint_id: str, timeout: int, probes: list[dict[str, Any]]) -> Checkpoint:
    """Open a new checkpoint (the caller made sure none is open)."""
    now = time.time()
    state = {"id": checkpoint_id, "started": now, "timeout": timeout, "deadline": now + timeout,
             "probes": probes, "python": sys.executable}
    checkpoint = Checkpoint(root, state)
    os.makedirs(checkpoint.path, exist_ok=True)
    _write_json(os.path.join(checkpoint.path, "state.json"), state)
    return checkpoint


def copy_library(checkpoint: Checkpoint, modules: list[Any]) -> str:
    """Write the source of ``modules`` (the module_utils the replay needs) under the
    checkpoint's ``lib/`` as a regular package tree, so that the replay runs the code that
    journaled, from the host's disk; returns the ``lib`` directory."""
    lib = os.path.join(checkpoint.path, "lib")
    for module in modules:
        parts = module.__name__.split(".")
        directory = os.path.join(lib, *parts[:-1])
        os.makedirs(directory, exist_ok=True)
        for depth in range(1, len(parts)):
            init = os.path.join(lib, *parts[:depth], "__init__.py")
            if not os.path.exists(init):
                with open(init, "w", encoding="utf-8"):
                    pass
        source = module.__loader__.get_source(module.__name__)
        if source is None:
            raise BackendUnavailable("checkpoint: the source of %s is not available" % module.__name__)
        with open(os.path.join(directory, parts[-1] + ".py"), "w", encoding="utf-8") as handle:
            handle.write(source)
    return lib


def _build(entry: dict[str, Any]) -> Any:
    module_name, class_name = entry["resource"].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(entry["params"], entry.get("root") or "/")


def replay(root: str = "/", log: Any = None) -> dict[str, Any]:
    """Undo the open checkpoint under ``root``: resource entries newest first through the
    engine, then the files, then their reloads. Each step is logged (``log(text)``); a failed
    step does not stop the others. Returns the report (also kept at LAST_REPORT) and closes
    the checkpoint. Nothing to do (no checkpoint open): an empty report."""
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import Operation, restore_to

    say = log or (lambda text: None)
    checkpoint = open_checkpoint(root)
    if checkpoint is None:
        return {"checkpoint": None, "entries": [], "files": [], "errors": [], "verified": True}
    report: dict[str, Any] = {"checkpoint": checkpoint.state.get("id"), "entries": [], "files": [],
                              "reloads": [], "errors": []}
    say("checkpoint %s: rolling back %d module runs and %d files"
        % (report["checkpoint"], len(checkpoint.entries()), len(checkpoint.files())))
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
            text = exc.msg if isinstance(exc, KvmnetError) else "%s: %s" % (type(exc).__name__, exc)
            report["errors"].append({"what": what, "error": text})
            say("%s: FAILED to roll back: %s" % (what, text))
        finally:
            if resource is not None:
                resource.close()
    restored = []
    for kept in reversed(checkpoint.files()):
        try:
            if _files.restore_snapshot(kept["path"], kept["original"], kept.get("root") or root):
                restored.append(kept["path"])
                say("%s: %s" % (kept["path"], "restored" if kept["original"] else "removed (did not exist)"))
        except KvmnetError as exc:
            report["errors"].append({"what": kept["path"], "error": exc.msg})
            say("%s: FAILED to restore: %s" % (kept["path"], exc.msg))
    report["files"] = restored
    for op in _files.plan_reloads([Operation("write_file", path) for path in restored]):
        try:
            _files.apply_reload_operation(op, "checkpoint rollback")
            report["reloads"].append(op.action)
        except KvmnetError as exc:
            report["errors"].append({"what": op.action, "error": exc.msg})
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
