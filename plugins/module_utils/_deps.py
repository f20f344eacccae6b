# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Optional third-party imports, checked once per module run with a precise message.

Backends import their library inside ``try``/``except ImportError`` and keep the traceback;
they call :func:`require` before first use, so a missing library becomes
:class:`MissingDependency` naming the distribution package to install (never pip on a
production hypervisor).
"""

from __future__ import annotations

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import MissingDependency

#: library import name -> Debian/Ubuntu/RHEL package that provides it
DISTRO_PACKAGES = {
    "pyroute2": "python3-pyroute2",
    "ovs": "python3-openvswitch",
    "libvirt": "python3-libvirt",
    "lxml": "python3-lxml",
}


def require(library: str, import_error: str | None) -> None:
    """Raise MissingDependency if ``library`` failed to import (``import_error`` is its traceback)."""
    if import_error is not None:
        raise MissingDependency(library, DISTRO_PACKAGES.get(library, library), import_error)
