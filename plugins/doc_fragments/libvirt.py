# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connection option of the libvirt modules."""

from __future__ import annotations


class ModuleDocFragment:
    """uri."""

    DOCUMENTATION = r"""
options:
  uri:
    description:
      - libvirt connection URI, C(driver[+transport]://[user@][host][:port]/[path][?query]) such as
        C(qemu:///system) or C(qemu+ssh://root@hv1/system). Checked before connecting - an empty
        string, whitespace or a control character is refused.
    type: str
    default: qemu:///system
requirements:
  - libvirt-python >= 8.0 and lxml >= 4.6 on the managed host (Debian/Ubuntu packages C(python3-libvirt), C(python3-lxml))
"""
