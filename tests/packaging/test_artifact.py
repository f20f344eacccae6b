# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The built collection tarball carries the licence, the changelog and the EE metadata."""

from __future__ import annotations

import json

import yaml

SPDX = b"# SPDX-License-Identifier: GPL-3.0-or-later"
LICENCE_LINE = b"# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)"


def test_copying_is_the_gpl3_text(tarball, repo):
    copying = tarball.get("COPYING")
    assert copying is not None, "COPYING is not in the tarball (build_ignore?)"
    assert copying.startswith(b"                    GNU GENERAL PUBLIC LICENSE\n                       Version 3, 29 June 2007")
    assert b"END OF TERMS AND CONDITIONS" in copying
    assert copying == (repo / "COPYING").read_bytes()


def test_manifest_declares_the_licence(tarball):
    manifest = json.loads(tarball["MANIFEST.json"])
    assert manifest["collection_info"]["license"] == ["GPL-3.0-or-later"]
    assert manifest["collection_info"]["license_file"] is None


def test_every_plugin_file_has_the_spdx_header(tarball):
    plugin_files = sorted(n for n in tarball if n.startswith("plugins/") and n.endswith(".py"))
    assert len(plugin_files) > 20, plugin_files
    missing = []
    for name in plugin_files:
        lines = tarball[name].splitlines()
        body = lines[1:] if lines and lines[0].startswith(b"#!") else lines
        # the header is the first three lines after an optional shebang
        if SPDX not in body[:3] or LICENCE_LINE not in body[:3]:
            missing.append(name)
    assert not missing, f"without the licence + SPDX header: {missing}"


def test_changelog_is_in_the_tarball(tarball, repo):
    assert tarball.get("CHANGELOG.rst") == (repo / "CHANGELOG.rst").read_bytes()


def test_ee_metadata_names_files_that_are_in_the_tarball(tarball):
    meta = yaml.safe_load(tarball["meta/execution-environment.yml"])
    assert set(meta["dependencies"]) == {"python", "system"}
    for path in meta["dependencies"].values():
        assert path in tarball, f"meta/execution-environment.yml names {path}, not in the tarball"
