# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks of what `make build` produced: the collection tarball, the collection installed from
it, and the execution-environment build context of `ansible-builder create`.

`make build` runs these right after it built them (KVMNET_DIST, KVMNET_INSTALLED,
KVMNET_EE_CONTEXT name the directories; the defaults are the Makefile's). A missing artifact
fails the test: there is nothing to skip to.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"


def _artifact_dir(variable, default):
    path = Path(os.environ.get(variable, default))
    if not path.is_dir():
        pytest.fail(f"{path} does not exist ({variable}): run `make build` first")
    return path


@pytest.fixture(scope="session")
def repo():
    """The source tree the artifacts were built from."""
    return REPO


@pytest.fixture(scope="session")
def tarball_path():
    """The one collection tarball in the build's dist directory."""
    found = sorted(_artifact_dir("KVMNET_DIST", BUILD / "dist").glob("kvmnet-hypervisor-*.tar.gz"))
    assert len(found) == 1, f"expected one kvmnet-hypervisor tarball, found {found}"
    return found[0]


@pytest.fixture(scope="session")
def tarball(tarball_path):
    """Member name -> bytes of every regular file in the tarball."""
    with tarfile.open(tarball_path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


@pytest.fixture(scope="session")
def installed():
    """The collections path `ansible-galaxy collection install` filled from the tarball."""
    path = _artifact_dir("KVMNET_INSTALLED", BUILD / "collections")
    if not (path / "ansible_collections" / "kvmnet" / "hypervisor").is_dir():
        pytest.fail(f"kvmnet.hypervisor is not installed in {path}")
    return path


@pytest.fixture(scope="session")
def ee_context():
    """The build context `ansible-builder create` wrote."""
    return _artifact_dir("KVMNET_EE_CONTEXT", BUILD / "ee")
