# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The AnsibleModule of every module: refusals by the argument spec name the option.

ansible-core's own argument validation and logging have three gaps (found by the
bad-input sweep, tests/badinput):

* a string where a dict goes (``bandwidth: 'fast'``): the first error AnsibleModule reports
  is the one of its no_log scan, ``dictionary requested, could not parse JSON or key=value``,
  which names no option; the error naming ``bandwidth`` comes after it;
* a NUL byte in a string (``name: "br\\x00"``): AnsibleModule logs the invocation to syslog,
  which refuses it, and fails the task with ``Failed to log to syslog`` before the module's
  validation can name the option (Python 3.13's syslog refuses it, 3.11's cuts the message
  there: found by the sweep in a Debian 13 VM);
* a number or a list where a dict goes (``bandwidth: 5``, ``vfs: [5]``): its validator raises
  TypeError (``set_fallbacks`` iterates the value), which leaves ``AnsibleModule()`` as a
  traceback and the task ends in MODULE FAILURE.

:func:`new_module` builds the module with all three fixed: the first refusal that names an option
is reported, and a value that is not a dict where sub-options go is refused naming its path
(``vfs[0]``, ``bandwidth.inbound``). Nothing else changes: same validation, same result.
"""

from __future__ import annotations

from typing import Any

from ansible.module_utils.errors import NoLogError

_CLASSES: dict[type, type] = {}


def _subclass(module_class: type) -> type:
    if module_class not in _CLASSES:

        class KvmnetModule(module_class):  # type: ignore[valid-type,misc]
            """``module_class`` with argument-spec refusals that name the option."""

            def __init__(self, argument_spec: dict[str, Any], **kwargs: Any) -> None:
                try:
                    super().__init__(argument_spec, **kwargs)
                except TypeError:
                    # raised by ansible-core's validator, before any code of the module ran
                    where = not_a_dict(argument_spec, getattr(self, "params", None) or {})
                    if where is None:
                        raise
                    path, value = where
                    self.fail_json(msg="value of %s must be a dict of its sub-options, got %s: %r"
                                       % (path, type(value).__name__, value))

            def log(self, msg: Any, log_args: Any = None) -> None:
                # syslog refuses a NUL byte (ValueError, Python 3.13): AnsibleModule's logging of the
                # invocation would fail the task ("Failed to log to syslog") before the
                # module's own validation names the option; the log shows it escaped instead
                def clean(value: Any) -> Any:
                    return value.replace("\x00", "\\x00") if isinstance(value, str) else value

                super().log(clean(msg), log_args={k: clean(v) for k, v in log_args.items()} if log_args else log_args)

            def fail_json(self, msg: Any = None, **kwargs: Any) -> None:  # type: ignore[override]
                result = getattr(self, "validation_result", None)
                errors = list(getattr(result, "errors", None) or [])
                if errors and msg == errors[0].args[0] and isinstance(errors[0], NoLogError):
                    named = [e for e in errors if not isinstance(e, NoLogError)]
                    if named:
                        msg = named[0].args[0]
                super().fail_json(msg=msg, **kwargs)

        _CLASSES[module_class] = KvmnetModule
    return _CLASSES[module_class]


def new_module(module_class: type, **kwargs: Any) -> Any:
    """``module_class(**kwargs)`` (``module_class`` is ``AnsibleModule``), with the refusals of
    its argument spec naming the option (see the module docstring)."""
    return _subclass(module_class)(**kwargs)


def not_a_dict(spec: dict[str, Any], params: Any, prefix: str = "") -> tuple[str, Any] | None:
    """The first ``(path, value)`` where an option with sub-options holds a value that is
    neither a dict nor a string (ansible-core parses ``k=v`` strings itself), else None."""
    if not isinstance(params, dict):
        return None
    for name, opts in spec.items():
        sub = opts.get("options")
        value = params.get(name)
        if value is None:
            for alias in opts.get("aliases") or ():
                value = params.get(alias) if value is None else value
        if not sub or value is None:
            continue
        path = prefix + name
        if opts.get("type", "str") == "dict":
            items = [(path, value)]
        elif opts.get("type") == "list" and opts.get("elements") == "dict" and isinstance(value, list):
            items = [("%s[%d]" % (path, i), item) for i, item in enumerate(value)]
        else:
            continue
        for item_path, item in items:
            if not isinstance(item, (dict, str)):
                return item_path, item
            found = not_a_dict(sub, item, item_path + ".")
            if found:
                return found
    return None
