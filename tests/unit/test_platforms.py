# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the collection claims is what the tests run: platforms, package names, ansible-core, Python.

playbooks/molecule/files/lib.sh (VM_RELEASES) is the one home of the Debian releases the VM tier
boots, tests/platforms.yml of the managed hosts' Python range; requirements-dev.txt (the newest ansible-core, every tier) and
tests/matrix/ansible-core-*.txt (the older lines: sanity, units, docs) are the one home of the
ansible-core lines. Every role's meta/main.yml, its package-name files, meta/runtime.yml's
requires_ansible and the README's table of what is tested are held to them here.
"""

from __future__ import annotations

import ast
import glob
import os
import re
import sys

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROLES = sorted(os.path.basename(p) for p in glob.glob(os.path.join(REPO, "roles", "*")) if os.path.isdir(p))
#: galaxy platform name -> ansible_facts.os_family (the name of the role's vars file)
OS_FAMILY = {"Debian": "Debian", "EL": "RedHat", "Ubuntu": "Debian", "Fedora": "RedHat"}
#: Python library imported by module code -> its Debian package
DEBIAN_PACKAGE = {"pyroute2": "python3-pyroute2", "ovs": "python3-openvswitch", "libvirt": "python3-libvirt",
                  "lxml": "python3-lxml"}
#: (role, library) a role's modules import but work without: the role need not install it
OPTIONAL_LIBRARIES = {
    # sriov_vf refuses to destroy VFs a running domain uses; without libvirt-python there is no domain
    ("sriov", "libvirt"),
}
#: standard-library modules Python 3.12 and 3.13 removed (PEP 594, PEP 632, lib2to3): an import of
#: one works on 3.9 to 3.11 and breaks on 3.13
REMOVED_BY_313 = {
    "aifc", "asynchat", "asyncore", "audioop", "cgi", "cgitb", "chunk", "crypt", "distutils", "imghdr", "imp",
    "lib2to3", "mailcap", "msilib", "nis", "nntplib", "ossaudiodev", "pipes", "smtpd", "sndhdr", "spwd", "sunau",
    "telnetlib", "uu", "xdrlib",
}


def _yaml(*parts):
    with open(os.path.join(REPO, *parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


PLATFORMS = _yaml("tests", "platforms.yml")


def _vm_releases():
    """The Debian releases the VM platform builds and boots: VM_RELEASES in the shipped
    platform's lib.sh (its one home; the platform cannot read tests/)."""
    with open(os.path.join(REPO, "playbooks", "molecule", "files", "lib.sh"), encoding="utf-8") as handle:
        match = re.search(r"^VM_RELEASES=\(([^)]*)\)$", handle.read(), re.M)
    assert match, "no VM_RELEASES=(...) in playbooks/molecule/files/lib.sh"
    return match.group(1).split()


VM_RELEASES = _vm_releases()


def _series(version):
    return tuple(int(part) for part in version.split(".")[:2])


def _pinned_core(path):
    with open(path, encoding="utf-8") as handle:
        match = re.search(r"^ansible-core==(\d+\.\d+\.\d+)\s*$", handle.read(), re.M)
    assert match, "%s pins no ansible-core==X.Y.Z" % os.path.relpath(path, REPO)
    return match.group(1)


def _core_lines():
    """(newest line, [older lines of the matrix]) as 'X.Y' strings."""
    newest = ".".join(_pinned_core(os.path.join(REPO, "requirements-dev.txt")).split(".")[:2])
    matrix = []
    for path in sorted(glob.glob(os.path.join(REPO, "tests", "matrix", "ansible-core-*.txt")), key=lambda p: _series(
            os.path.basename(p)[len("ansible-core-"):-len(".txt")])):
        line = os.path.basename(path)[len("ansible-core-"):-len(".txt")]
        pinned = _pinned_core(path)
        assert pinned.startswith(line + "."), "%s pins ansible-core %s, not a %s release" % (path, pinned, line)
        matrix.append(line)
    return newest, matrix


@pytest.mark.parametrize("role", ROLES)
def test_role_claims_exactly_the_releases_the_vm_tier_runs(role):
    meta = _yaml("roles", role, "meta", "main.yml")["galaxy_info"]
    assert meta["platforms"] == [{"name": "Debian", "versions": VM_RELEASES}]


@pytest.mark.parametrize("role", ROLES)
def test_role_min_ansible_version_is_requires_ansible(role):
    floor = re.match(r"^>=\s*(\d+\.\d+)", _yaml("meta", "runtime.yml")["requires_ansible"]).group(1)
    assert str(_yaml("roles", role, "meta", "main.yml")["galaxy_info"]["min_ansible_version"]) == floor


def _tasks(role, name="main.yml"):
    path = os.path.join(REPO, "roles", role, "tasks", name)
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or []


def _walk(tasks):
    for task in tasks:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _walk(task.get(key) or [])


def _package_lists(role):
    """(task name, the package list it installs) of the role: its package tasks, and the list it
    hands to the internal role ovs_service (which installs what its caller gives it)."""
    found = []
    for path in glob.glob(os.path.join(REPO, "roles", role, "tasks", "*.yml")):
        for task in _walk(_tasks(role, os.path.basename(path))):
            module = task.get("ansible.builtin.package") or task.get("package")
            if module:
                found.append((task.get("name"), module["name"]))
            if (task.get("ansible.builtin.import_role") or {}).get("name") == "kvmnet.hypervisor.ovs_service":
                found.append((task.get("name"), task["vars"]["__ovs_service_packages"]))
    return found


def _text(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _role_inputs(role):
    spec = _yaml("roles", role, "meta", "argument_specs.yml")["argument_specs"]["main"]
    return set(spec.get("options") or {})


def _family_packages(role):
    """os_family -> __<role>_packages of roles/<role>/vars/<os_family>.yml."""
    found = {}
    for path in glob.glob(os.path.join(REPO, "roles", role, "vars", "*.yml")):
        family = os.path.basename(path)[:-len(".yml")]
        if family == "main":
            continue
        found[family] = (_yaml("roles", role, "vars", family + ".yml") or {}).get("__%s_packages" % role)
    return found


@pytest.mark.parametrize("role", ROLES)
def test_role_package_names_are_data_per_claimed_os_family(role):
    """A role that installs packages names them in vars/<os_family>.yml, one file per claimed family."""
    package_lists = _package_lists(role)
    families = _family_packages(role)
    if all(isinstance(listed[1], str) and listed[1].strip("{} ") in _role_inputs(role) for listed in package_lists):
        # installs nothing, or only what its caller gives it (ovs_service)
        assert not families, "%s names no packages of its own but has package files %s" % (role, sorted(families))
        return
    claimed = {OS_FAMILY[p["name"]] for p in _yaml("roles", role, "meta", "main.yml")["galaxy_info"]["platforms"]}
    assert set(families) == claimed, "vars/<os_family>.yml of %s: %s, claimed families: %s" % (
        role, sorted(families), sorted(claimed))
    for family, packages in families.items():
        assert packages and all(isinstance(p, str) and p for p in packages), \
            "roles/%s/vars/%s.yml: __%s_packages is not a list of names" % (role, family, role)
    service = "__%s_service" % role
    if any(service in _text(path) for path in glob.glob(os.path.join(REPO, "roles", role, "tasks", "*.yml"))):
        for family in families:
            assert (_yaml("roles", role, "vars", family + ".yml") or {}).get(service), \
                "roles/%s/vars/%s.yml names no %s, which the tasks use" % (role, family, service)
    for task_name, name in package_lists:
        assert isinstance(name, str) and "__%s_packages" % role in name, \
            "%s: task %r installs %r, not the OS family's __%s_packages" % (role, task_name, name, role)


def _imported_libraries(path, seen):
    """Third-party libraries of DEBIAN_PACKAGE that a plugin file imports, through its module_utils."""
    if path in seen or not os.path.exists(path):
        return set()
    seen.add(path)
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [node.module + "." + alias.name for alias in node.names]
        for name in names:
            if name.split(".")[0] in DEBIAN_PACKAGE:
                found.add(name.split(".")[0])
            match = re.match(r"ansible_collections\.kvmnet\.hypervisor\.plugins\.module_utils\.(\w+)", name)
            if match:
                found |= _imported_libraries(os.path.join(REPO, "plugins", "module_utils", match.group(1) + ".py"), seen)
    return found


@pytest.mark.parametrize("role", [r for r in ROLES if "Debian" in _family_packages(r)])
def test_role_installs_the_libraries_its_modules_import(role):
    """The Debian list holds the package of every library the modules of the role's main tasks import
    (the VM image preinstalls some, so a missing one passes the VM tier: ovs_interconnect's veth
    links need pyroute2)."""
    modules = set()
    for task in _walk(_tasks(role)):
        modules |= {key.split(".")[-1] for key in task if key.startswith("kvmnet.hypervisor.")}
    needed = set()
    for module in modules:
        needed |= _imported_libraries(os.path.join(REPO, "plugins", "modules", module + ".py"), set())
    packages = set(_family_packages(role)["Debian"])
    missing = {lib for lib in needed if (role, lib) not in OPTIONAL_LIBRARIES and DEBIAN_PACKAGE[lib] not in packages}
    assert not missing, "roles/%s/vars/Debian.yml lacks %s (imported by %s)" % (
        role, sorted(DEBIAN_PACKAGE[lib] for lib in missing), sorted(modules))


def test_requires_ansible_is_the_oldest_tested_line_and_every_line_between_is_tested():
    newest, matrix = _core_lines()
    floor = re.match(r"^>=\s*(\d+\.\d+)\.\d+$", _yaml("meta", "runtime.yml")["requires_ansible"]).group(1)
    tested = [_series(line) for line in matrix + [newest]]
    assert min(tested) == _series(floor), "requires_ansible >= %s, oldest tested line %s" % (floor, min(tested))
    major = _series(newest)[0]
    claimed = [(major, minor) for minor in range(_series(floor)[1], _series(newest)[1] + 1)]
    assert sorted(tested) == claimed, "lines claimed by requires_ansible: %s, tested: %s" % (claimed, sorted(tested))


def test_readme_says_which_ansible_core_lines_run_which_tiers():
    newest, matrix = _core_lines()
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    assert "| controller: ansible-core %s | every tier |" % newest in readme
    assert "| controller: ansible-core %s | sanity, units, docs rendering |" % ", ".join(matrix) in readme
    releases = VM_RELEASES
    row = [line for line in readme.splitlines() if line.startswith("| managed host: Debian")]
    assert len(row) == 1 and all(release in row[0] for release in releases), row
    assert "Controller: ansible-core >= %s." % re.match(
        r"^>=\s*(\d+\.\d+)", _yaml("meta", "runtime.yml")["requires_ansible"]).group(1) in readme


def _plugin_sources():
    return sorted(glob.glob(os.path.join(REPO, "plugins", "**", "*.py"), recursive=True))


@pytest.mark.parametrize("path", _plugin_sources(), ids=lambda p: os.path.relpath(p, REPO))
def test_plugin_parses_as_the_oldest_managed_python(path):
    """ansible-test's compile check runs on the interpreters a machine has (scripts/interpreters.sh),
    which may not include the oldest: its grammar is checked here wherever the units run (match
    statements, parenthesized context managers, except* and the like fail)."""
    oldest = _series(PLATFORMS["managed_python"]["min"])
    with open(path, encoding="utf-8") as handle:
        ast.parse(handle.read(), filename=path, feature_version=oldest)


@pytest.mark.parametrize("path", _plugin_sources(), ids=lambda p: os.path.relpath(p, REPO))
def test_plugin_imports_nothing_the_newest_managed_python_removed(path):
    assert _series(PLATFORMS["managed_python"]["max"]) >= (3, 13), "REMOVED_BY_313 covers up to 3.13 only"
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported.add(node.module.split(".")[0])
    assert not imported & REMOVED_BY_313, "%s imports %s, gone in Python 3.13" % (path, sorted(imported & REMOVED_BY_313))


def test_newest_managed_python_is_not_older_than_this_interpreter():
    """The range in tests/platforms.yml covers the Python the units run on."""
    assert _series(PLATFORMS["managed_python"]["min"]) <= sys.version_info[:2] <= _series(
        PLATFORMS["managed_python"]["max"])
