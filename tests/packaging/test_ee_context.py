# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The execution-environment build context (`ansible-builder create` of
tests/ee/execution-environment.yml) installs the built collection, and ansible-builder's own
introspection reads the collection's dependencies as meta/ee-*.txt declare them.

No container engine runs here: the image itself is never built.
"""

from __future__ import annotations

import subprocess
import sys

import yaml


def _requirement_lines(path):
    return [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def test_containerfile_installs_the_collection_from_the_context(ee_context):
    containerfile = ee_context / "Containerfile"
    assert containerfile.is_file(), f"no Containerfile in {ee_context}"
    text = containerfile.read_text()
    assert "FROM $EE_BASE_IMAGE AS base" in text
    assert "COPY _build /build" in text
    assert 'ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml' in text
    # the dependencies of installed collections are read in the image build
    assert "/output/scripts/introspect.py introspect" in text
    requirements = yaml.safe_load((ee_context / "_build" / "requirements.yml").read_text())
    assert requirements["collections"] == [
        {"name": "/build/collections/kvmnet-hypervisor.tar.gz", "type": "file"},
    ]


def test_context_carries_the_built_tarball(ee_context, tarball_path):
    in_context = ee_context / "_build" / "collections" / "kvmnet-hypervisor.tar.gz"
    assert in_context.is_file(), f"{in_context} is missing"
    assert in_context.read_bytes() == tarball_path.read_bytes()


def test_introspection_finds_the_declared_dependencies(ee_context, installed, repo, tmp_path):
    """Run the context's introspect.py (what the image build runs) on the installed collection."""
    collection = installed / "ansible_collections" / "kvmnet" / "hypervisor"
    meta = yaml.safe_load((collection / "meta" / "execution-environment.yml").read_text())
    assert meta["dependencies"] == {"python": "meta/ee-requirements.txt", "system": "meta/ee-bindep.txt"}
    for path in meta["dependencies"].values():
        assert (collection / path).is_file(), f"{path} is not in the installed collection"

    script = ee_context / "_build" / "scripts" / "introspect.py"
    out = subprocess.run(
        [sys.executable, str(script), "introspect", str(installed),
         "--write-pip", str(tmp_path / "requirements.txt"), "--write-bindep", str(tmp_path / "bindep.txt")],
        check=True, capture_output=True, text=True,
    ).stdout
    found = yaml.safe_load(out[out.index("---"):])
    expected_pip = _requirement_lines(repo / "meta" / "ee-requirements.txt")
    expected_bindep = _requirement_lines(repo / "meta" / "ee-bindep.txt")
    assert [line.split("  #")[0] for line in found["python"]] == expected_pip
    assert [line.split("  #")[0] for line in found["system"]] == expected_bindep
