# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The netns option of the netlink modules."""

from __future__ import annotations


class ModuleDocFragment:
    """netns."""

    DOCUMENTATION = r"""
options:
  netns:
    description:
      - Name of an existing network namespace (as listed by C(ip netns list), a file under
        C(/var/run/netns)) to work in instead of the host's own namespace.
      - The namespace is never created by the module; a missing one is an error.
      - An empty name, C(.), C(..), a name with C(/) or a NUL byte, or one over 255 bytes is
        refused before anything is read; leave I(netns) unset for the host's own namespace.
    type: str
requirements:
  - pyroute2 >= 0.7.2 on the managed host (Debian/Ubuntu package C(python3-pyroute2))
"""
