# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module's DOCUMENTATION declares agrees with the collection: action group, info
modules, seealso targets (validate-modules checks the schema, not these facts)."""

from __future__ import annotations

import importlib
import pathlib

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[4]
DOCS_URL = "https://github.com/kvmnet/hypervisor/blob/main/"
MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
ACTION_GROUP = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())["action_groups"]["hypervisor"]


def documentation(name):
    """The module's DOCUMENTATION, parsed (fragments not merged)."""
    module = importlib.import_module(f"ansible_collections.kvmnet.hypervisor.plugins.modules.{name}")
    return yaml.safe_load(module.DOCUMENTATION)


def test_modules_found():
    assert "macvtap" in MODULES and "libvirt_nodedev_info" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_action_group_attribute_matches_runtime_yml(name):
    fragments = documentation(name).get("extends_documentation_fragment", [])
    assert ("kvmnet.hypervisor.attributes.action_group" in fragments) == (name in ACTION_GROUP)


@pytest.mark.parametrize("name", MODULES)
def test_platform_attribute(name):
    assert "kvmnet.hypervisor.attributes.platform" in documentation(name).get("extends_documentation_fragment", [])


@pytest.mark.parametrize("name", MODULES)
def test_info_modules_take_the_read_only_attributes(name):
    doc = documentation(name)
    fragments = doc.get("extends_documentation_fragment", [])
    if name.endswith("_info"):
        assert "kvmnet.hypervisor.attributes.info_module" in fragments
        assert "kvmnet.hypervisor.attributes" not in fragments
    else:
        assert "kvmnet.hypervisor.attributes.info_module" not in fragments
        # a module that changes the host declares check/diff/idempotent: the default fragment or its own
        assert "kvmnet.hypervisor.attributes" in fragments or {"check_mode", "diff_mode"} <= set(doc.get("attributes", {}))


@pytest.mark.parametrize("name", MODULES)
def test_seealso_targets_exist(name):
    seealso = documentation(name).get("seealso") or []
    assert seealso, f"{name} has no seealso"
    for entry in seealso:
        if "module" in entry:
            namespace, collection, module = entry["module"].split(".")
            assert (namespace, collection) == ("kvmnet", "hypervisor") and module in MODULES, entry
            assert module != name, entry
        else:
            assert entry["link"].startswith(DOCS_URL), entry
            assert (REPO / entry["link"][len(DOCS_URL):]).is_file(), entry
