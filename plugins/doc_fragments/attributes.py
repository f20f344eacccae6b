# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attributes every module of the collection declares."""

from __future__ import annotations


class ModuleDocFragment:
    """check_mode, diff_mode, idempotent."""

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return the changed status and operations it would apply, without changing the host.
    support: full
  diff_mode:
    description:
      - In diff mode, shows the object before and after as YAML, and a unified diff of every file the module
        writes or removes and of every libvirt XML it changes (the same in check mode).
    support: full
  idempotent:
    description:
      - When run twice with the same options, the second run reports no change.
      - C(changed) is true exactly when the planned C(operations) list is not empty.
    support: full
"""
