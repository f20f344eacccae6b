# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Resource contract and the one runner every module hands over to.

A module describes *one* resource type by subclassing :class:`Resource`; the engine drives it
through five verbs, always in this order::

    normalize()              params -> canonical desired state (bad input raises InvalidInput
                             here, before anything is read or changed)
    read_current()           the host's current state, read once, in the same canonical shape
                             (None when the resource does not exist)
    plan(current, desired)   the list of Operations that turns current into desired;
                             an empty plan means "nothing to do"
    apply(operations)        carry the plan out (skipped in check mode)
    verify(desired)          read back and re-plan: the plan must now be empty (bounded retries)

``changed`` is ``bool(plan)``, exactly. Check mode plans and predicts the result with
:meth:`Resource.predict` instead of applying; the ``diff`` and ``operations`` return values are
derived from the same plan in both modes, so ``--check --diff`` shows what a real run will do.
``diff`` is a list of Ansible diff entries (:func:`diff_entries`): the object before/after as
YAML text, one entry per file the plan writes or removes (``_files.diff_entries``), one per
text document of the object (libvirt XML, :meth:`Resource.diff_view`).

:func:`run` is the only place in the collection that calls ``exit_json`` / ``fail_json``.
Everything below it raises the typed errors of ``_errors`` and can be tested with plain pytest
through :func:`execute`, without Ansible.
"""

from __future__ import annotations

import json
import os
import re
import time
import traceback
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import (
    ApplyFailed,
    BackendUnavailable,
    KvmnetError,
    MissingDependency,
    VerificationFailed,
)


class Operation:
    """One step of a plan: an ``action`` on a ``target`` with JSON-serialisable details.

    ``changes`` maps a field to ``{"before": x, "after": y}`` for modifications; other keyword
    arguments carry what the step needs (the attributes of a link to create, say). Operations
    compare equal by value, which is what unit tests assert on.
    """

    __slots__ = ("action", "target", "changes", "params")

    def __init__(self, action: str, target: str, changes: dict[str, dict[str, Any]] | None = None,
                 **params: Any) -> None:
        self.action = action
        self.target = target
        self.changes = changes or {}
        self.params = params

    def to_dict(self) -> dict[str, Any]:
        """The form returned to the user in ``operations``."""
        out: dict[str, Any] = {"action": self.action, "target": self.target}
        if self.changes:
            out["changes"] = self.changes
        out.update(self.params)
        return out

    def describe(self) -> str:
        """A short human text: ``modify macvtap0 (mode: vepa -> bridge)``."""
        text = "%s %s" % (self.action, self.target)
        if self.changes:
            text += " (%s)" % ", ".join(
                "%s: %s -> %s" % (k, v.get("before"), v.get("after")) for k, v in sorted(self.changes.items()))
        return text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Operation) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return "Operation(%r)" % (self.to_dict(),)


def field_changes(current: dict[str, Any] | None, desired: dict[str, Any],
                  fields: list[str] | tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Compare the listed fields; a desired value of None means "not mentioned": left alone.

    Both sides must already be canonical (see ``_canon``), so plain equality is the comparison.
    """
    current = current or {}
    changes = {}
    for field in fields:
        want = desired.get(field)
        if want is None:
            continue
        have = current.get(field)
        if have != want:
            changes[field] = {"before": have, "after": want}
    return changes


def existing(current: dict[str, Any] | None) -> dict[str, Any]:
    """For resources whose read_current() always returns a state (a domain's, a device's):
    the state, typed as present; an internal error if the invariant is ever broken."""
    if current is None:
        raise KvmnetError("internal error: no current state was read")
    return current


class Resource:
    """Base class of every managed object; subclasses implement the five verbs.

    The constructor only stores parameters (and the root the host's files are under): it must
    not touch the host. Backends are opened in
    :meth:`open` and closed in :meth:`close` (the engine calls both around the run).
    """

    #: how many times verify() re-reads before giving up, and the pause between reads (seconds)
    verify_attempts = 10
    verify_delay = 0.2
    #: the desired fields that name the object (kept when a read state lacks them)
    identity_fields: tuple[str, ...] = ("name",)

    def __init__(self, params: dict[str, Any], root: str = "/") -> None:
        self.params = params
        #: where the host's file systems are: ``/`` on a host. Tests build a tree under a
        #: temporary directory (``sys/``, ``proc/``, ``etc/``, ``lib/modules/``) and pass it
        #: here; it is the one way to point a resource elsewhere, and it changes no branch.
        self.root = root or "/"

    def host_path(self, path: str) -> str:
        """The host path ``path`` (``/sys/...``, ``/etc/...``) under :attr:`root`."""
        return os.path.join(self.root, path.lstrip("/"))

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        """Connect to backends (netlink socket, OVSDB, libvirt). Default: nothing."""

    def close(self) -> None:
        """Release what open() took. Must be safe to call after a failed open()."""

    # -- the five verbs --------------------------------------------------------------------
    def normalize(self) -> dict[str, Any]:
        """Validate ``self.params`` and return the canonical desired state."""
        raise NotImplementedError

    def read_current(self) -> dict[str, Any] | None:
        """Return the current state in the canonical shape, or None if it does not exist."""
        raise NotImplementedError

    def plan(self, current: dict[str, Any] | None, desired: dict[str, Any]) -> list[Operation]:
        """Return the operations that make ``current`` match ``desired`` (empty: nothing to do)."""
        raise NotImplementedError

    def apply(self, operations: list[Operation]) -> None:
        """Carry out the plan, one operation at a time through :meth:`apply_operation`.

        Resources whose backend has transactions (OVSDB, libvirt) override this to apply the
        whole plan at once. On a failure half-way, ApplyFailed says which step failed and what
        was already applied; :func:`execute` then rolls back. An operation that makes several
        host changes is split into several operations, so ``applied`` is true step by step.
        """
        applied: list[Operation] = []
        for op in operations:
            try:
                self.apply_operation(op)
            except Exception as exc:  # untyped too: what was applied before it must not be lost
                raise ApplyFailed(
                    "%s failed: %s%s" % (op.describe(), error_text(exc),
                                         "; applied before it: " + "; ".join(a.describe() for a in applied)
                                         if applied else ""),
                    applied=[a.to_dict() for a in applied],
                    failed_step=op.to_dict(),
                    cause=exc.kind if isinstance(exc, KvmnetError) else BackendUnavailable.kind,
                ) from exc
            applied.append(op)

    def apply_operation(self, op: Operation) -> None:
        """Apply one operation (used by the default :meth:`apply`)."""
        raise NotImplementedError

    def predict(self, current: dict[str, Any] | None, desired: dict[str, Any],
                operations: list[Operation]) -> dict[str, Any] | None:
        """Check mode: the state a real run would leave. Default: desired fields over current."""
        if desired.get("state") == "absent":
            return None
        after = dict(current or {})
        after.update({k: v for k, v in desired.items() if v is not None})
        return after

    def verify(self, desired: dict[str, Any]) -> dict[str, Any] | None:
        """Read back until a fresh plan is empty, or raise VerificationFailed."""
        remaining: list[Operation] = []
        after = None
        for attempt in range(max(1, self.verify_attempts)):
            if attempt:
                time.sleep(self.verify_delay)
            after = self.read_current()
            remaining = self.plan(after, desired)
            if not remaining:
                return after
        raise VerificationFailed(
            "state read back after applying still differs: %s" % "; ".join(op.describe() for op in remaining),
            remaining=[op.to_dict() for op in remaining],
        )

    def restore_desired(self, before: dict[str, Any] | None, desired: dict[str, Any]) -> dict[str, Any]:
        """The desired state (in :meth:`normalize`'s shape) that puts back ``before``, the state
        :meth:`read_current` returned before the run (None: the object did not exist); used to
        roll back a failed run and to replay a checkpoint. Default: absent when it did not
        exist, else every field as read (a desired field the read state lacks: left alone, but
        for :attr:`identity_fields`, taken from ``desired``), present. Resources whose read
        state is not a valid desired state override this."""
        if before is None:
            return dict(desired, state="absent")
        target: dict[str, Any] = {k: None for k in desired}
        target.update({k: desired.get(k) for k in self.identity_fields})
        target.update(before)
        target["state"] = "present"
        return target

    def extra_results(self, after: dict[str, Any] | None) -> dict[str, Any]:
        """Module-specific return values computed from the final state (default: none)."""
        return {}

    def diff_header(self) -> str:
        """Names the object in the --diff output."""
        return self.__class__.__name__

    def diff_view(self, state: dict[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, str]]:
        """``state`` split for ``--diff``: the fields shown as the object's YAML, and the text
        documents shown as diffs of their own, by header (libvirt XML). Default: the state
        without ``files`` (every file the plan writes or removes is an entry of its own, from
        the plan), no documents."""
        if state is None:
            return None, {}
        return {k: v for k, v in state.items() if k != "files"}, {}

    def warnings(self, after: dict[str, Any] | None, operations: list[Operation]) -> list[str]:
        """What the host still needs and the module did not do (a domain to restart, say), one
        warning each, from the final (check mode: predicted) state and the plan. Default: none."""
        return []


def execute(resource: Resource, check_mode: bool = False, diff: bool = True) -> dict[str, Any]:
    """Drive ``resource`` through the contract and return the module result (no Ansible needed).

    A failure while applying is undone (:func:`rollback`) and raised as :class:`ApplyFailed`
    saying what failed, what was applied, what was reverted and whether the host is back.
    ``diff=False`` (a run without ``--diff``) leaves the ``diff`` key out and reads no file for it.
    """
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _checkpoint, _files

    try:
        resource.open()
        desired = resource.normalize()
        current = resource.read_current()
        operations = resource.plan(current, desired)
        files_diff = _files.diff_entries(operations, resource.root) if diff else []  # before any change
        if not operations:
            after = current
        elif check_mode:
            after = resource.predict(current, desired, operations)
        else:
            journal = _files.FileJournal()
            checkpoint = _checkpoint.open_checkpoint(resource.root)
            if checkpoint is not None:
                checkpoint.record(resource, desired, current)
            guards = [journal] + ([checkpoint.file_guard] if checkpoint is not None else [])
            for guard in guards:
                _files.add_guard(guard)
            try:
                resource.apply(operations)
                after = resource.verify(desired)
            except Exception as exc:  # every failure is undone, typed or not
                raise rollback(resource, current, desired, operations, journal, exc) from exc
            finally:
                for guard in guards:
                    _files.remove_guard(guard)
        extra = resource.extra_results(after)
        warnings = resource.warnings(after, operations)
    finally:
        resource.close()
    result: dict[str, Any] = {
        "changed": bool(operations),
        "operations": [op.to_dict() for op in operations],
        "before": current,
        "after": after,
        "warnings": warnings,
    }
    if diff:
        result["diff"] = diff_entries(resource, current, after, files_diff)
    result.update(extra)
    return result


def diff_entries(resource: Resource, before: dict[str, Any] | None, after: dict[str, Any] | None,
                 files_diff: list[dict[str, str]]) -> list[dict[str, str]]:
    """The ``diff`` result: Ansible diff entries whose before/after are texts, which Ansible's
    callback shows as a unified diff. First the object (its fields as YAML, headed by
    :meth:`Resource.diff_header`; ``''`` when it does not exist), then ``files_diff`` (one entry per
    file, headed by its path), then every document of :meth:`Resource.diff_view` that differs."""
    header = resource.diff_header()
    fields_before, texts_before = resource.diff_view(before)
    fields_after, texts_after = resource.diff_view(after)
    entries = [{"before": yaml_text(fields_before), "after": yaml_text(fields_after),
                "before_header": header, "after_header": header}]
    entries += files_diff
    for name in list(texts_before) + [n for n in texts_after if n not in texts_before]:
        old, new = texts_before.get(name) or "", texts_after.get(name) or ""
        if old != new:
            entries.append({"before": old, "after": new, "before_header": name, "after_header": name})
    return entries


#: strings YAML reads as themselves without quotes (no YAML 1.1 boolean / null, no number)
_YAML_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./-]*\Z")
_YAML_RESERVED = ("y", "n", "yes", "no", "true", "false", "on", "off", "null")


def yaml_text(value: Any) -> str:
    """``value`` (JSON-like: dicts, lists, scalars) as block-style YAML text, keys sorted, for
    a diff a person reads; ``''`` for None (no object). Strings that YAML would read as
    something else are double-quoted (what is not printable escaped); multi-line text is a
    literal block. A small emitter: the managed host need not have PyYAML."""
    if value is None:
        return ""
    return "".join(line + "\n" for line in _yaml_block(value, 0))


def _yaml_block(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict) and value:
        lines: list[str] = []
        for key in sorted(value, key=str):
            lines += _yaml_entry(pad + _yaml_scalar(str(key)) + ":", value[key], indent)
        return lines
    if isinstance(value, (list, tuple)) and value:
        lines = []
        for item in value:
            lines += _yaml_entry(pad + "-", item, indent)
        return lines
    return [pad + _yaml_scalar(value)]


def _yaml_entry(head: str, value: Any, indent: int) -> list[str]:
    """``head`` (``key:`` or ``-`` at ``indent``) followed by ``value``."""
    if isinstance(value, (dict, list, tuple)) and value:
        nested = _yaml_block(value, indent + 2)
        if head.endswith("-"):  # "- key: value" with the item's other keys under it
            return [head + " " + nested[0].lstrip()] + nested[1:]
        return [head] + nested
    literal = _yaml_literal(value)
    if literal is not None:
        indicator, lines = literal
        return [head + " " + indicator] + [" " * (indent + 2) + line if line else "" for line in lines]
    return [head + " " + _yaml_scalar(value)]


def _yaml_literal(value: Any) -> tuple[str, list[str]] | None:
    """``("|" or "|-", lines)`` for multi-line text a literal block holds as it is, else None."""
    if not isinstance(value, str) or "\n" not in value.rstrip("\n") or value.endswith("\n\n"):
        return None
    if not all(c == "\n" or c.isprintable() for c in value):  # tabs, YAML 1.1 line breaks: quoted
        return None
    lines = value[:-1].split("\n") if value.endswith("\n") else value.split("\n")
    # a block's indentation is taken from its first non-empty line; blank lines must be empty
    if any(line.strip() == "" and line for line in lines) or next(line for line in lines if line).startswith(" "):
        return None
    return ("|" if value.endswith("\n") else "|-"), lines


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, (list, tuple)):
        return "[]"
    text = str(value)
    if _YAML_PLAIN.match(text) and text.lower() not in _YAML_RESERVED:
        return text
    return '"%s"' % "".join(_yaml_char(c) for c in text)


def _yaml_char(char: str) -> str:
    """One character inside a double-quoted YAML string: as it is when printable, else escaped."""
    if char in '"\\':
        return "\\" + char
    if char.isprintable():
        return char
    code = ord(char)
    return "\\x%02x" % code if code < 0x100 else "\\u%04x" % code if code < 0x10000 else "\\U%08x" % code


def error_text(exc: BaseException) -> str:
    """What a failure says: a typed error's message, else ``unexpected <type>: <text>``."""
    return exc.msg if isinstance(exc, KvmnetError) else "unexpected %s: %s" % (type(exc).__name__, exc)


#: plans of a restore (:func:`restore_to`): the first, and again while the read-back differs
RESTORE_PASSES = 3


def restore_to(resource: Resource, before: dict[str, Any] | None,
               desired: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Plan from the host as it is now back to ``before`` and apply it; returns ``(reverted,
    remaining)``: the operations applied, and what a fresh plan still finds different (empty:
    the host is verified back). Used by :func:`rollback` and by a checkpoint's replay."""
    target = resource.restore_desired(before, desired)
    applied: list[dict[str, Any]] = []
    # a step can change more than it says (a bond's deletion sets its released members down; a
    # network daemon re-reading its files acts on the links): plan again from what is read then
    for attempt in range(RESTORE_PASSES):
        operations = resource.plan(resource.read_current(), target)
        if operations:
            resource.apply(operations)
            applied += [op.to_dict() for op in operations]
        try:
            resource.verify(target)
        except VerificationFailed as exc:
            if attempt + 1 < RESTORE_PASSES and operations:
                continue
            return applied, list(exc.details.get("remaining", []))
        return applied, []
    return applied, []


def rollback(resource: Resource, before: dict[str, Any] | None, desired: dict[str, Any],
             operations: list[Operation], journal: Any, exc: BaseException) -> ApplyFailed:
    """Undo a failed apply: restore the files the run changed (byte for byte, with the reloads
    they need), plan from the host as it is now back to ``before`` and apply that, read back.

    Returns the :class:`ApplyFailed` to raise: the failed step, what was applied, what was
    reverted, whether the host is verified back, and ``changed`` (true when the host is not
    back: something changed and stays changed)."""
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _files

    error = exc if isinstance(exc, KvmnetError) else BackendUnavailable(
        "%s: %s" % (resource.diff_header(), error_text(exc)))
    details = dict(error.details) if isinstance(error, ApplyFailed) else {}
    if isinstance(error, VerificationFailed):  # everything was applied; the read-back differs
        details = {"applied": [op.to_dict() for op in operations], "failed_step": {"action": "verify",
                   "target": resource.diff_header(), "remaining": error.details.get("remaining", [])}}
    applied = details.get("applied", [])
    failed = details.get("failed_step") or (operations[len(applied)].to_dict() if len(applied) < len(operations) else None)
    cause = details.get("cause", error.kind)
    reverted: list[dict[str, Any]] = []
    remaining: list[dict[str, Any]] = []
    problem = None
    untouched = False
    try:
        restored = journal.restore()
        reverted += [{"action": "restore_file", "target": path} for path in restored]
        reloads = _files.plan_reloads([Operation("write_file", path) for path in restored], network=True)
        for op in reloads:
            _files.apply_reload_operation(op, "rolling back %s" % resource.diff_header())
            reverted.append(op.to_dict())
        # a resource that knows its failed apply left the host untouched (a transaction that was
        # never sent or was refused) says unchanged=True: nothing to undo, nothing to read back
        untouched = bool(details.get("unchanged")) and not applied
        if not untouched:
            undo, remaining = restore_to(resource, before, desired)
            reverted += undo
    except Exception as undo_exc:  # the rollback itself failed: say what stands
        problem = error_text(undo_exc)
    back = problem is None and not remaining
    text = error.msg if isinstance(error, ApplyFailed) else "%s failed: %s" % (
        Operation(**failed).describe() if failed else resource.diff_header(), error.msg)
    if back and untouched:
        text += "; nothing was applied, so there was nothing to roll back"
    elif back:
        text += "; rolled back: the host is verified back to its state before the run"
    elif problem is not None:
        text += "; the rollback failed (%s): the host is NOT back to its state before the run" % problem
    else:
        text += "; rolled back, but the host still differs from its state before the run: %s" % "; ".join(
            Operation(**op).describe() for op in remaining)
    return ApplyFailed(text, failed_step=failed, applied=applied, reverted=reverted, remaining=remaining,
                       rolled_back=back, rollback_error=problem, cause=cause, changed=not back)


def run(module: Any, resource_class: type[Resource]) -> None:
    """Run a module: build the resource from the params, execute, exit_json or fail_json.

    This is the only function of the collection that ends a module run.
    """
    try:
        resource = resource_class(module.params)
        result = execute(resource, check_mode=module.check_mode, diff=module._diff)
    except MissingDependency as exc:
        from ansible.module_utils.basic import missing_required_lib
        module.fail_json(
            msg="%s Install the distribution package %s on the managed host."
                % (missing_required_lib(exc.library), exc.package),
            exception=exc.import_error, error=exc.kind, **exc.details)
    except KvmnetError as exc:
        details = dict(exc.details)
        module.fail_json(msg=exc.msg, error=exc.kind, exception=traceback.format_exc(),
                         changed=bool(details.pop("changed", False)), **details)
    except Exception as exc:  # a bug or an untyped backend error: still a result, never a traceback
        module.fail_json(msg="%s: internal error: %s: %s (please report it with the exception below)"
                         % (resource_class.__name__, type(exc).__name__, exc),
                         error="internal_error", exception=traceback.format_exc(), changed=False)
    else:
        for warning in result.pop("warnings"):
            module.warn(warning)
        module.exit_json(**result)
