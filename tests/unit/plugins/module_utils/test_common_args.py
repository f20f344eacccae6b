# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shared option groups and the doc fragments that document them state the same options."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.kvmnet.hypervisor.plugins.doc_fragments import libvirt, netns, ovsdb
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _common_args


@pytest.mark.parametrize("fragment, group", [
    (ovsdb, _common_args.OVSDB_ARGS),
    (libvirt, _common_args.LIBVIRT_ARGS),
    (netns, _common_args.NETNS_ARGS),
], ids=["ovsdb", "libvirt", "netns"])
def test_fragment_documents_the_group(fragment, group):
    options = yaml.safe_load(fragment.ModuleDocFragment.DOCUMENTATION)["options"]
    assert sorted(options) == sorted(group)
    for name, spec in group.items():
        doc = options[name]
        assert (doc.get("type"), doc.get("default")) == (spec.get("type"), spec.get("default")), name


def test_the_defaults_are_the_documented_ones():
    # the values users read in the docs (and the roles' READMEs): changing one is a breaking change
    assert _common_args.DEFAULT_DATABASE == "unix:/var/run/openvswitch/db.sock"
    assert _common_args.DEFAULT_OVSDB_TIMEOUT == 10
    assert _common_args.DEFAULT_LIBVIRT_URI == "qemu:///system"
