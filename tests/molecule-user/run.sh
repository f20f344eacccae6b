#!/usr/bin/env bash
# The sample user repo's Molecule run: what a user's infra repo with nothing but the installed
# collection does (docs/molecule.md). Part of tier 3: tests/vm/molecule-all.sh runs it as its
# last entry, `user-repo`.
#
# usage: tests/molecule-user/run.sh [SUBCOMMAND [ARGS...]]      (SUBCOMMAND default: test)
#   1. installs the built collection (build/dist/kvmnet-hypervisor-*.tar.gz of `make build`, or
#      KVMNET_COLLECTION_TARBALL) into a fresh collections path in a temp dir
#   2. copies this repo (roles/, molecule/) next to it, outside the source tree
#   3. runs `molecule SUBCOMMAND` there with ANSIBLE_COLLECTIONS_PATH = that path only (no
#      sys.path scan): kvmnet.hypervisor, its roles and its VM platform (create / destroy
#      playbooks and their scripts) all come from the installed tarball
# The scenario (molecule/default): destroy, create, converge, idempotence, verify, destroy on
# the smallest VM; verify reads the guest's kernel back.
# env: KVMNET_VENV (the venv with ansible-core + molecule, default <repo>/.venv),
#      KVMNET_USER_REPO_KEEP=1 keeps the temp dir (its path is printed)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO_ROOT=$(cd "$HERE/../.." && pwd)
SUB=${1:-test}; [ $# -gt 0 ] && shift
log() { printf '[user-repo %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

VENV=${KVMNET_VENV:-$REPO_ROOT/.venv}
[ -x "$VENV/bin/molecule" ] || die "no molecule in $VENV (make setup, or set KVMNET_VENV)"
TARBALL=${KVMNET_COLLECTION_TARBALL:-}
if [ -z "$TARBALL" ]; then
  shopt -s nullglob
  t=("$REPO_ROOT"/build/dist/kvmnet-hypervisor-*.tar.gz)
  shopt -u nullglob
  [ ${#t[@]} = 1 ] || die "want one build/dist/kvmnet-hypervisor-*.tar.gz, found ${#t[@]}: run 'make build' first"
  TARBALL=${t[0]}
fi
[ -s "$TARBALL" ] || die "no collection tarball $TARBALL"
log "collection: $TARBALL (built $(date -r "$TARBALL" '+%F %T'))"

W=$(mktemp -d /tmp/kvmnet-user-repo.XXXXXX)
if [ "${KVMNET_USER_REPO_KEEP:-0}" = 1 ]; then log "temp dir kept: $W"; else trap 'rm -rf "$W"' EXIT; fi
export PATH="$VENV/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH=$W/collections ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-0} PY_COLORS=${PY_COLORS:-0}
unset MOLECULE_PROJECT_DIRECTORY ANSIBLE_CONFIG ANSIBLE_ROLES_PATH

ansible-galaxy collection install --offline -p "$W/collections" "$TARBALL" >&2
COLL=$W/collections/ansible_collections/kvmnet/hypervisor
# Ansible sees exactly one kvmnet.hypervisor: the copy just installed
where=$(ansible-galaxy collection list kvmnet.hypervisor --format json |
  python3 -c 'import json, sys; print(" ".join(sorted(json.load(sys.stdin))))')
[ "$where" = "$W/collections/ansible_collections" ] ||
  die "kvmnet.hypervisor resolves to '$where', not only to $W/collections/ansible_collections"
[ -f "$COLL/playbooks/molecule/create.yml" ] || die "the installed collection has no playbooks/molecule/create.yml"

# the platform's VM lock and run ownership, from the installed collection (molecule-all.sh
# already holds the lock and owns the run: then these are no-ops)
# shellcheck source=../../playbooks/molecule/files/lib.sh
. "$COLL/playbooks/molecule/files/lib.sh"
case $SUB in syntax|list|matrix) ;; *) vm_lock ;; esac     # these boot nothing
if [ "$SUB" = test ] && [ -z "${KVMNET_VM_OWNER:-}" ]; then
  KVMNET_VM_OWNER=$(vm_owner_token $$); export KVMNET_VM_OWNER
fi

# the user's repo, outside the source tree (a fixed name: Molecule's state dir is per project)
mkdir -p "$W/site-infra"
cp -r "$HERE/roles" "$HERE/molecule" "$W/site-infra/"
cd "$W/site-infra"
log "molecule $SUB in $PWD (ANSIBLE_COLLECTIONS_PATH=$ANSIBLE_COLLECTIONS_PATH)"
rc=0
molecule "$SUB" -s default "$@" || rc=$?
exit $rc
