# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Typed errors raised by module_utils; the engine's runner turns them into fail_json.

Every error carries a message that names the object (interface, bridge, domain) and, for bad
input, the option and the value. ``details`` are extra, JSON-serialisable keys returned with
the failure (for example ``applied`` operations after a half-way failure).
"""

from __future__ import annotations

from typing import Any


class KvmnetError(Exception):
    """Base of every error the collection raises on purpose."""

    kind = "error"

    def __init__(self, msg: str, **details: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.details = details


class InvalidInput(KvmnetError):
    """An option has a value that cannot be applied; raised before anything is changed."""

    kind = "invalid_input"

    def __init__(self, option: str, value: Any, reason: str, **details: Any) -> None:
        super().__init__("%s: %r %s" % (option, value, reason), option=option, **details)
        self.option = option
        self.value = value


class NotFound(KvmnetError):
    """A referenced object (device, namespace, bridge, domain) does not exist."""

    kind = "not_found"


class Unsupported(KvmnetError):
    """The host, kernel, daemon or backend cannot do what was asked."""

    kind = "unsupported"


class Conflict(KvmnetError):
    """The request clashes with existing state (name taken by another kind, device in use)."""

    kind = "conflict"


class BackendUnavailable(KvmnetError):
    """A daemon or API (netlink namespace, ovsdb-server, libvirtd) cannot be reached."""

    kind = "backend_unavailable"


class ApplyFailed(KvmnetError):
    """Applying the plan failed half-way; ``applied`` lists what had been done."""

    kind = "apply_failed"


class VerificationFailed(KvmnetError):
    """After applying, reading the state back still differs from what was asked."""

    kind = "verification_failed"


class MissingDependency(KvmnetError):
    """A Python library the module needs cannot be imported on the managed host."""

    kind = "missing_dependency"

    def __init__(self, library: str, package: str, import_error: str | None) -> None:
        super().__init__(
            "Python library %s is missing; install the distribution package %s" % (library, package),
            library=library,
            package=package,
        )
        self.library = library
        self.package = package
        self.import_error = import_error
