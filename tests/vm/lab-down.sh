#!/usr/bin/env bash
# `make lab-down`: stop the lab VM of lab-up.sh (by the pid in its pid file) and delete its
# overlay and tap. Idempotent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
NAME=${KVMNET_LAB_NAME:-kvmnet-lab}
if [ -d "$VM_RUN/$NAME" ]; then "$VM_DIR/vm-down.sh" "$NAME"; else vm_log "no lab VM $NAME"; fi
