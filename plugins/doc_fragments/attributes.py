# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Attributes the modules of the collection declare (ansible-doc and the docs site show them)."""

from __future__ import annotations


class ModuleDocFragment:
    """check_mode, diff_mode, idempotent (modules that change the host); the other fragments by name.

    Fragments are merged in the order a module lists them and the first one wins on a clash, so a
    module takes either the default fragment or INFO_MODULE, never both.
    """

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
seealso:
  - name: How every module works
    description: Read, plan, apply, verify - what C(changed), check mode, diff mode and C(operations) mean.
    link: https://github.com/kvmnet/hypervisor/blob/main/docs/engine.md
"""

    # Read-only modules (*_info): they never change the host, so there is nothing to diff.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return the same result as a normal run.
    support: full
    details:
      - This module does not change the host.
  diff_mode:
    description: Returns no diff.
    support: N/A
    details:
      - This module does not change the host.
  idempotent:
    description: Reports no change and changes nothing, on every run.
    support: full
    details:
      - This module does not change the host.
"""

    PLATFORM = r"""
options: {}
attributes:
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
    details:
      - Linux hosts only (netlink, sysfs, Open vSwitch's database, libvirt, systemd).
"""

    # Every module of meta/runtime.yml's action group, for module_defaults (group/kvmnet.hypervisor.hypervisor).
    ACTION_GROUP = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/kvmnet.hypervisor.hypervisor) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - kvmnet.hypervisor.hypervisor
"""
