# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every public role and playbook is announced in the changelog, with its own description.

antsibull-changelog finds new modules by itself (version_added) but not roles and playbooks:
they are announced by ``add object.role`` / ``add object.playbook`` fragments, which a release
moves into changelogs/changelog.yaml. A role added without such an entry, or whose
short_description changed without it, fails here.
"""

from __future__ import annotations

import glob
import os

import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def _announced(kind):
    """name -> description of the objects of ``kind`` in the fragments and in changelog.yaml."""
    found = {}
    for fragment in sorted(glob.glob(os.path.join(REPO, "changelogs", "fragments", "*.yml"))):
        for entry in _load(fragment).get(f"add object.{kind}", []):
            found[entry["name"]] = entry["description"]
    for release in (_load(os.path.join(REPO, "changelogs", "changelog.yaml")).get("releases") or {}).values():
        for entry in release.get("objects", {}).get(kind, []):
            found[entry["name"]] = entry["description"]
    return found


def _public_roles():
    roles = {}
    for spec in sorted(glob.glob(os.path.join(REPO, "roles", "*", "meta", "argument_specs.yml"))):
        role = spec.split(os.sep)[-3]
        description = _load(spec)["argument_specs"]["main"]["short_description"]
        if not description.startswith("Internal:"):
            roles[role] = description
    return roles


def test_every_public_role_is_announced_with_its_short_description():
    roles = _public_roles()
    assert len(roles) >= 11, roles
    assert _announced("role") == roles


def test_every_playbook_is_announced():
    playbooks = {os.path.basename(p)[:-len(".yml")] for p in glob.glob(os.path.join(REPO, "playbooks", "*.yml"))}
    assert playbooks, "no playbooks found"
    assert set(_announced("playbook")) == playbooks
