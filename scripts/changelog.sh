#!/usr/bin/env bash
# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# scripts/changelog.sh update|check - CHANGELOG.rst for the version in galaxy.yml.
#
# Until that version is released, CHANGELOG.rst is the changelog `antsibull-changelog release`
# will write for it: the release is made in a scratch copy (build/changelog), so
# changelogs/changelog.yaml and the fragments stay as they are. Once the version is released
# (the real `antsibull-changelog release` in the repo, which moves the fragments into
# changelog.yaml), the same command here reproduces the released CHANGELOG.rst.
#   update  write CHANGELOG.rst (`make changelog`; after adding or editing a fragment)
#   check   fail when CHANGELOG.rst differs from what update would write (`make lint`)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRATCH=$REPO/build/changelog
mode=${1:-}
case $mode in update|check) ;; *) echo "usage: $0 update|check" >&2; exit 2 ;; esac

rm -rf "$SCRATCH"
mkdir -p "$SCRATCH"
# What antsibull-changelog reads: galaxy.yml, changelogs/, and the plugins (for new modules).
cp -a "$REPO/galaxy.yml" "$REPO/changelogs" "$REPO/plugins" "$REPO/meta" "$SCRATCH/"
rm -f "$SCRATCH/changelogs/.plugin-cache.yaml"
(cd "$SCRATCH" && antsibull-changelog release --reload-plugins >"$SCRATCH.log" 2>&1) || {
  cat "$SCRATCH.log" >&2; echo "changelog: antsibull-changelog release failed" >&2; exit 1; }

if [ "$mode" = update ]; then
  cp "$SCRATCH/CHANGELOG.rst" "$REPO/CHANGELOG.rst"
  echo "changelog: CHANGELOG.rst written"
elif diff -u "$REPO/CHANGELOG.rst" "$SCRATCH/CHANGELOG.rst"; then
  echo "changelog: CHANGELOG.rst is up to date with changelogs/"
else
  echo "changelog: CHANGELOG.rst is stale (or edited by hand): run 'make changelog' and commit it" >&2
  exit 1
fi
