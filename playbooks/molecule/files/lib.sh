# shellcheck shell=bash
# Common settings of the qemu VM platform (kvmnet.hypervisor.molecule.* playbooks and the
# scripts beside this file). Sourced by every script in this directory; it knows nothing of
# the source tree, so the platform works from an installed collection.
#
# Environment (all optional):
#   KVMNET_VM_CACHE  image cache, survives between runs on one machine  [/var/cache/kvmnet-vm]
#   KVMNET_VM_RUN    state of running VMs (overlays, pid files, logs)   [/tmp/kvmnet-vm]
#   KVMNET_VM_ACCEL  qemu accelerator: tcg | kvm                        [tcg]
#   KVMNET_VM_RELEASE  Debian release of the guest (bookworm | trixie)  [bookworm]
#                      (a Molecule platform's `release` key wins; KVMNET_VM_SUITE is the old name)

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_CACHE=${KVMNET_VM_CACHE:-/var/cache/kvmnet-vm}
VM_RUN=${KVMNET_VM_RUN:-/tmp/kvmnet-vm}
VM_ACCEL=${KVMNET_VM_ACCEL:-tcg}
VM_KEY=$VM_CACHE/id_ed25519
# the releases the platform builds and boots (one home: create.yml and tests read it here)
VM_RELEASES=(bookworm trixie)
VM_RELEASE=${KVMNET_VM_RELEASE:-${KVMNET_VM_SUITE:-bookworm}}

# vm_image_dir RELEASE : where the image of RELEASE is cached (base.qcow2, vmlinuz, initrd.img,
# image.stamp); dies on a release the platform does not know
vm_image_dir() {
  local r
  for r in "${VM_RELEASES[@]}"; do
    [ "$r" = "$1" ] && { echo "$VM_CACHE/$1"; return 0; }
  done
  vm_die "unknown guest release '$1' (known: ${VM_RELEASES[*]})"
}

# ssh options for the lab: every guest shares the image's host keys and is thrown away,
# so there is no host key to pin.
VM_SSH_OPTS=(-o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=no
  -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR)

vm_log() { printf '[vm %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
vm_die() { vm_log "ERROR: $*"; exit 1; }

# vm_ssh PORT CMD... : run a command in the guest as root
vm_ssh() {
  local port=$1; shift
  ssh -i "$VM_KEY" -p "$port" "${VM_SSH_OPTS[@]}" root@127.0.0.1 "$@"
}

# vm_pid_alive DIR : true if the qemu whose pid file is DIR/qemu.pid runs and really is
# that VM (the pid is checked against the command line, so a recycled pid is never hit).
vm_pid_alive() {
  local d=$1 pid
  [ -s "$d/qemu.pid" ] || return 1
  pid=$(cat "$d/qemu.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$d/qemu.pid"
}

# A run that owns VMs exports KVMNET_VM_OWNER=$(vm_owner_token $$); vm-up.sh stores it.
# cleanup-stale.sh removes VMs whose owner process is gone (an interrupted run).
vm_owner_token() { printf '%s:%s\n' "$1" "$(awk '{print $22}' "/proc/$1/stat" 2>/dev/null)"; }
vm_owner_alive() {
  local tok=$1 pid=${1%%:*}
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] && [ "$(vm_owner_token "$pid")" = "$tok" ]
}

# Take the machine-wide VM lock (fd 9) unless the caller already holds it: one run of
# VMs at a time on this machine (2 cores). Waits for the holder to finish.
vm_lock() {
  [ -n "${KVMNET_VM_LOCKED:-}" ] && return 0
  mkdir -p "$VM_RUN"
  exec 9>"$VM_RUN/.lock"
  if ! flock -n 9; then
    vm_log "another VM run holds $VM_RUN/.lock; waiting for it"
    flock 9
  fi
  export KVMNET_VM_LOCKED=1
}

# vm_poll_ssh DIR PORT TIMEOUT : wait until a real command runs over ssh (the forwarded port
# answers before sshd does); returns 0 (ssh up), 1 (no ssh within TIMEOUT s), 2 (qemu died).
vm_poll_ssh() {
  local d=$1 port=$2 end
  end=$(( $(date +%s) + $3 ))
  until vm_ssh "$port" true 2>/dev/null; do
    vm_pid_alive "$d" || return 2
    [ "$(date +%s)" -lt "$end" ] || return 1
    sleep 1
  done
}

# vm_wait_ssh DIR NAME PORT TIMEOUT T0 : vm_poll_ssh, or die with the console's tail if qemu
# dies or the timeout passes. T0 (date +%s.%N at qemu's start) is for the boot time message.
vm_wait_ssh() {
  local d=$1 name=$2 port=$3 timeout=$4 t0=$5 rc=0
  vm_poll_ssh "$d" "$port" "$timeout" || rc=$?
  case $rc in
    1) tail -30 "$d/console.log" >&2; vm_die "$name: no ssh after ${timeout}s" ;;
    2) tail -30 "$d/console.log" >&2; vm_die "qemu of $name died while booting" ;;
  esac
  awk -v n="$name" -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "[vm] %s: ssh up after %.1f s\n", n, b-a}' >&2
}

# vm_tap_netns DIR: with --tap-netns, put the VM's tap (the host end of enp0s10) into the
# network namespace recorded in DIR/netns, up, with the address in DIR/netns-address: a second
# path to the guest that only processes inside that namespace reach (`ip netns exec NS ssh ...`).
# Called by vm-up.sh after qemu started and by vm-restart.sh after each power-on (qemu attaches
# to the tap by name in its own namespace: vm_tap_home moves it back first).
vm_tap_netns() {
  local d=$1 ns tap addr
  [ -s "$d/netns" ] || return 0
  ns=$(cat "$d/netns"); tap=$(cat "$d/tap"); addr=$(cat "$d/netns-address" 2>/dev/null || true)
  ip netns list | grep -qx "$ns\( (id: [0-9]*)\)\?" || ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip link set "$tap" netns "$ns" || vm_die "could not move tap $tap into netns $ns"
  ip -n "$ns" link set "$tap" up
  [ -z "$addr" ] || ip -n "$ns" addr replace "$addr" dev "$tap"
}
vm_tap_home() {
  local d=$1 ns tap
  [ -s "$d/netns" ] || return 0
  ns=$(cat "$d/netns"); tap=$(cat "$d/tap")
  ip -n "$ns" link show "$tap" >/dev/null 2>&1 || return 0
  ip -n "$ns" link set "$tap" netns 1
}
