# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the checkpoint module does: start, confirm or roll back a checkpoint.

Not a Resource on the engine: a checkpoint is the journal the engine writes into, so running
it through :func:`_engine.execute` would journal the checkpoint into itself. It keeps the
house style instead: the options are validated before anything is done (InvalidInput naming
the option), every failure is a typed error, and :func:`run` is the one place that ends the
module (exit_json / fail_json).

- ``started``: refused while a checkpoint is open (the message names it, its age and how to
  clear it). Otherwise, holding the lock: prepare the directory, copy the collection's
  module_utils into ``lib/`` (from the module's own AnsiballZ payload), write ``replay.py``,
  arm the units (``automatic_rollback``), then write state.json: from that moment the
  checkpoint is open and every module of the collection journals into it. A failure before
  that removes everything again: nothing is open.
- ``confirmed``: run the probes on the host; all pass: disarm and drop the journal; one
  fails: roll back at once (the replay script, exactly as the units run it), disarm, fail.
- ``rolled_back``: roll back now (the replay script), disarm; fails when the host is not
  verified back.
"""

from __future__ import annotations

import os
import re
import time
import traceback
import uuid
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import (
    _checkpoint,
    _checkpoint_probes,
    _checkpoint_units,
    _files,
)
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import error_text
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._command import run_command
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    BackendUnavailable,
    Conflict,
    InvalidInput,
    KvmnetError,
    NotFound,
)

STATES = ("started", "confirmed", "rolled_back")
#: bounds of ``timeout`` (seconds): long enough to reconnect, at most a day
TIMEOUT_MIN, TIMEOUT_MAX, TIMEOUT_DEFAULT = 30, 86400, 600
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # fullmatch: '$' would let a trailing newline in
#: how long the module waits for a replay it runs (the unit allows the same)
REPLAY_TIMEOUT = _checkpoint_units.REPLAY_TIMEOUT


class ProbeFailed(KvmnetError):
    """A probe failed at confirmation; the checkpoint was rolled back."""

    kind = "probe_failed"


class RolledBack(KvmnetError):
    """The checkpoint to confirm is gone: it was rolled back (timer, boot or on request)."""

    kind = "rolled_back"


def normalize(params: dict[str, Any]) -> dict[str, Any]:
    """Validate the options (before anything is read or changed); canonical parameters."""
    state = params.get("state")
    if state not in STATES:
        raise InvalidInput("state", state, "must be one of %s" % ", ".join(STATES))
    timeout = params.get("timeout")
    timeout = TIMEOUT_DEFAULT if timeout is None else timeout
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not TIMEOUT_MIN <= timeout <= TIMEOUT_MAX:
        raise InvalidInput("timeout", timeout, "must be a number of seconds from %d to %d" % (TIMEOUT_MIN, TIMEOUT_MAX))
    ident = params.get("id")
    if ident is not None and (not isinstance(ident, str) or not _ID.fullmatch(ident)):
        raise InvalidInput("id", ident, "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter "
                                        "or digit")
    root = params.get("root")
    root = "/" if root is None else root
    if not isinstance(root, str) or not os.path.isabs(root) or "\x00" in root:
        # '' is not '/': a typo must not put the checkpoint on the real host
        raise InvalidInput("root", root, "must be an absolute path")
    if state == "rolled_back" and params.get("probes") is not None:
        raise InvalidInput("probes", params["probes"], "does not apply to state=rolled_back (it reverts at once, "
                                                       "without checks); probes go with state=started or confirmed")
    return {
        "state": state,
        "id": ident,
        "timeout": timeout,
        "probes": None if params.get("probes") is None else _checkpoint_probes.normalize(params["probes"]),
        "automatic_rollback": params.get("automatic_rollback", True) is not False,
        "root": os.path.normpath(root),
    }


def new_id() -> str:
    """``kvmnet-20261130T081500Z-1a2b3c``"""
    return "kvmnet-%s-%s" % (time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), uuid.uuid4().hex[:6])


def _counts(checkpoint: _checkpoint.Checkpoint) -> dict[str, Any]:
    return {"id": checkpoint.state.get("id"), "age": int(checkpoint.age()),
            "deadline": _checkpoint.utc(checkpoint.state.get("deadline")),
            "entries": len(checkpoint.entries()), "files": len(checkpoint.files())}


def _clear_hint(checkpoint: _checkpoint.Checkpoint) -> str:
    return ("checkpoint %s is open; clear it with kvmnet.hypervisor.checkpoint state: rolled_back (revert what "
            "was changed under it) or state: confirmed (keep it), with id: %s"
            % (checkpoint.describe(), checkpoint.state.get("id")))


def _match_id(checkpoint: _checkpoint.Checkpoint, params: dict[str, Any]) -> None:
    if params["id"] is not None and params["id"] != checkpoint.state.get("id"):
        raise Conflict("id: %r is not the open checkpoint: %s" % (params["id"], _clear_hint(checkpoint)),
                       id=checkpoint.state.get("id"), age=int(checkpoint.age()))


def summarize(report: dict[str, Any]) -> str:
    """What a replay reverted, in one line."""
    parts = []
    for entry in report.get("entries", []):
        ops = "; ".join("%s %s" % (op.get("action"), op.get("target")) for op in entry.get("reverted", []))
        parts.append("%s: %s" % (entry.get("what"), ops or "already as before"))
    if report.get("files"):
        parts.append("files: %s" % ", ".join(report["files"]))
    if report.get("reloads"):
        parts.append("reloads: %s" % ", ".join(report["reloads"]))
    text = "; ".join(parts) or "nothing had changed"
    if report.get("verified"):
        return text + "; verified back"
    problems = ["%s: %s" % (e.get("what"), e.get("error")) for e in report.get("errors", [])]
    problems += ["%s still differs" % e.get("what") for e in report.get("entries", []) if e.get("remaining")]
    return text + "; NOT verified back: " + "; ".join(problems)


def rollback_now(checkpoint: _checkpoint.Checkpoint) -> dict[str, Any]:
    """Run the checkpoint's replay script as the units run it (the caller does not hold the
    lock: the script takes it); the report it left, with its log."""
    ident = checkpoint.state.get("id")
    proc = run_command(checkpoint.command(), "checkpoint %s: rollback" % ident, check=False,
                       timeout=REPLAY_TIMEOUT)
    report = _checkpoint.last_report(checkpoint.root)
    log = [line for line in proc.stdout.splitlines() if line.strip()]
    if not report or report.get("id") != ident or report.get("outcome") != "rolled_back":
        raise BackendUnavailable(
            "checkpoint %s: the rollback did not complete (rc %d): %s; it stays open and its units stay armed"
            % (ident, proc.returncode, (proc.stderr.strip() or "\n".join(log[-5:]))[-2000:]),
            changed=True, log=log)
    return dict(report, log=log)


def start(params: dict[str, Any]) -> dict[str, Any]:
    """state=started."""
    root = params["root"]
    probes = params["probes"] or []
    _checkpoint_probes.require_programs(probes)
    with _checkpoint.locked(root):
        current = _checkpoint.open_checkpoint(root)
        if current is not None:
            raise Conflict("state: started refused: " + _clear_hint(current),
                           id=current.state.get("id"), age=int(current.age()))
        checkpoint = _checkpoint.prepare(root, params["id"] or new_id(), params["timeout"], probes,
                                         armed=params["automatic_rollback"])
        units: list[str] = []
        try:
            sources = _checkpoint.library_sources()
            _checkpoint.copy_library(checkpoint, sources)
            _checkpoint.write_script(checkpoint)
            if params["automatic_rollback"]:
                units = _checkpoint_units.arm(checkpoint)
            checkpoint.commit()
        except BaseException as exc:
            problem = error_text(exc)
            cleanup = ""
            try:
                _checkpoint_units.disarm(root)
            except KvmnetError as undo:  # no systemd to tell: the files go all the same
                for path in _checkpoint_units.installed(root):
                    _files.remove(path, root)
                cleanup = "; its units were removed, but systemd could not be told (%s)" % undo.msg
            _checkpoint.discard(checkpoint)
            raise BackendUnavailable("checkpoint %s not started: %s; nothing is open%s"
                                     % (checkpoint.state["id"], problem, cleanup)) from exc
    result = _counts(checkpoint)
    result.update(changed=True, armed=params["automatic_rollback"], units=units, timeout=params["timeout"],
                  rollback_command=checkpoint.command(), library=len(sources),
                  msg="checkpoint %s started: %s" % (checkpoint.state["id"], (
                      "the host rolls back by itself at %s unless it is confirmed" % result["deadline"]
                      if params["automatic_rollback"] else
                      "no automatic rollback: only state=rolled_back or a failed probe at confirmation reverts it")))
    return result


def _not_open(params: dict[str, Any]) -> dict[str, Any]:
    """state=confirmed with no checkpoint open: fine if the last one was confirmed, an error if
    it was rolled back (the changes are not in place) or if there never was one."""
    last = _checkpoint.last_report(params["root"])
    same = last is not None and (params["id"] is None or params["id"] == last.get("id"))
    if same and last.get("outcome") == "confirmed":
        return {"changed": False, "id": last.get("id"), "report": last,
                "msg": "checkpoint %s was already confirmed" % last.get("id")}
    if same and last.get("outcome") == "rolled_back":
        raise RolledBack("checkpoint %s is no longer open: it was rolled back at %s (not confirmed within its "
                         "timeout, the host rebooted, or on request): the changes made under it are NOT in place; "
                         "reverted: %s" % (last.get("id"), _checkpoint.utc(last.get("ended")), summarize(last)),
                         id=last.get("id"), report=last)
    raise NotFound("state: confirmed: no checkpoint is open under %s%s" % (
        params["root"], " with id %r" % params["id"] if params["id"] else ""), report=last)


def confirm(params: dict[str, Any]) -> dict[str, Any]:
    """state=confirmed."""
    root = params["root"]
    with _checkpoint.locked(root):
        checkpoint = _checkpoint.open_checkpoint(root)
        if checkpoint is None:
            return _not_open(params)
        _match_id(checkpoint, params)
        probes = params["probes"] if params["probes"] is not None else checkpoint.state.get("probes") or []
        _checkpoint_probes.require_programs(probes)
        results = _checkpoint_probes.run_probes(probes)
        counts = _counts(checkpoint)
        failed = [r for r in results if not r["passed"]]
        if not failed:
            removed = _checkpoint_units.disarm(root)
            _checkpoint.close(checkpoint, "confirmed", {"probes": results, "entries": counts["entries"],
                                                        "files": counts["files"]})
            counts.update(changed=True, probes=results, units_removed=removed,
                          report=_checkpoint.last_report(root),
                          msg="checkpoint %s confirmed%s: %d module runs and %d files stay as changed" % (
                              counts["id"], " (probes passed: %s)" % ", ".join(r["probe"] for r in results)
                              if results else "", counts["entries"], counts["files"]))
            return counts
    # a probe failed: roll back at once (the replay takes the lock itself)
    report = rollback_now(checkpoint)
    removed = _checkpoint_units.disarm(root)
    raise ProbeFailed("checkpoint %s: probe %s failed (%s): rolled back at once: %s" % (
        counts["id"], ", ".join(r["probe"] for r in failed), "; ".join(r["detail"] for r in failed),
        summarize(report)), changed=True, probes=results, report=report, verified=bool(report.get("verified")),
        units_removed=removed, **{k: counts[k] for k in ("id", "age", "entries", "files")})


def roll_back(params: dict[str, Any]) -> dict[str, Any]:
    """state=rolled_back."""
    root = params["root"]
    with _checkpoint.locked(root):
        checkpoint = _checkpoint.open_checkpoint(root)
        if checkpoint is not None:
            _match_id(checkpoint, params)
        else:  # nothing open: leftover units of an ended checkpoint are removed
            removed = _checkpoint_units.disarm(root)
            last = _checkpoint.last_report(root)
            return {"changed": bool(removed), "units_removed": removed, "report": last,
                    "id": last.get("id") if last else None,
                    "msg": "no checkpoint is open under %s%s" % (
                        root, "; removed the units left behind" if removed else "")}
    counts = _counts(checkpoint)
    report = rollback_now(checkpoint)
    removed = _checkpoint_units.disarm(root)
    text = "checkpoint %s rolled back: %s" % (counts["id"], summarize(report))
    if not report.get("verified"):
        raise BackendUnavailable(text, changed=True, report=report, verified=False, units_removed=removed,
                                 **{k: counts[k] for k in ("id", "age", "entries", "files")})
    counts.update(changed=True, report=report, verified=True, units_removed=removed, msg=text)
    return counts


def check_mode_result(params: dict[str, Any]) -> dict[str, Any]:
    """Check mode does nothing (a checkpoint journals real changes only) and says so."""
    checkpoint = _checkpoint.open_checkpoint(params["root"])
    result: dict[str, Any] = {"changed": False, "check_mode": True}
    state = "none open" if checkpoint is None else "open: %s" % checkpoint.describe()
    if checkpoint is not None:
        result.update(_counts(checkpoint))
    result["msg"] = "check mode: the checkpoint module does nothing (state=%s not run; checkpoint %s)" % (
        params["state"], state)
    return result


def execute(params: dict[str, Any], check_mode: bool = False) -> dict[str, Any]:
    """Run the checkpoint module without Ansible: the result, or a typed error."""
    canon = normalize(params)
    if check_mode:
        return check_mode_result(canon)
    if canon["state"] == "started":
        return start(canon)
    if canon["state"] == "confirmed":
        return confirm(canon)
    return roll_back(canon)


def run(module: Any) -> None:
    """The one place that ends the checkpoint module (exit_json / fail_json)."""
    try:
        result = execute(dict(module.params), check_mode=module.check_mode)
    except KvmnetError as exc:
        details = dict(exc.details)
        module.fail_json(msg=exc.msg, error=exc.kind, exception=traceback.format_exc(),
                         changed=bool(details.pop("changed", False)), **details)
    except Exception as exc:  # a bug: still a result, never a traceback
        module.fail_json(msg="checkpoint: internal error: %s: %s (please report it with the exception below)"
                         % (type(exc).__name__, exc), error="internal_error", exception=traceback.format_exc(),
                         changed=False)
    else:
        module.exit_json(**result)
