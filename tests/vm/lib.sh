# shellcheck shell=bash
# The project's side of the VM lab (tier 3): sourced by the scripts in tests/vm/ (molecule.sh,
# molecule-all.sh, lab-up.sh, lab-down.sh). The VM platform itself (image build, vm-up.sh,
# vm-down.sh, vm-restart.sh, cleanup-stale.sh, the lock and ssh helpers) ships in the
# collection: playbooks/molecule/files/, sourced from there (VM_DIR is that directory).
#
# Environment (all optional), besides the platform's (playbooks/molecule/files/lib.sh):
#   KVMNET_VENV      Python venv holding ansible-core + molecule        [<repo>/.venv]

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$LAB_DIR/../.." && pwd)
# shellcheck source=../../playbooks/molecule/files/lib.sh
. "$REPO_ROOT/playbooks/molecule/files/lib.sh"

# the venv with ansible-core + molecule: the project's .venv, or KVMNET_VENV
vm_venv() {
  local v=${KVMNET_VENV:-$REPO_ROOT/.venv}
  [ -x "$v/bin/ansible-playbook" ] || vm_die "no ansible-playbook in $v (run 'make setup' or set KVMNET_VENV)"
  printf '%s\n' "$v"
}

# build/src/ansible_collections/kvmnet/hypervisor -> the repository (working tree), so that
# ANSIBLE_COLLECTIONS_PATH=build/src resolves kvmnet.hypervisor to the checked-out code.
vm_collection_path() {
  local base=$REPO_ROOT/build/src/ansible_collections/kvmnet
  if [ ! -e "$base/hypervisor" ]; then
    mkdir -p "$base"
    ln -sfn ../../../.. "$base/hypervisor"
  fi
  printf '%s\n' "$REPO_ROOT/build/src"
}
