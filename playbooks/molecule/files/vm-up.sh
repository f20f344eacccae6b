#!/usr/bin/env bash
# Boot one throw-away lab hypervisor VM from the cached image (copy-on-write overlay).
#
# usage: vm-up.sh NAME SSH_PORT [--iommu 0|1] [--igb 0|1] [--mq 0|1]
#                                   [--mem MiB] [--smp N] [--release R] [--no-wait]
#                                   [--tap-netns NS [--tap-netns-address ADDR/LEN]]
#   --iommu 1   emulated intel-iommu + intel_iommu=on iommu=pt   (default 1: vfio/hostdev work)
#   --igb 1     Intel 82576 PF with SR-IOV (7 VFs) on a pcie-root-port   (default 1)
#   --mq 1      4-queue virtio-net with RSS on a multi-queue tap (needs root)   (default 1)
#   --mem 3072  guest RAM in MiB;  --smp 2  vCPUs (TCG: one host thread per vCPU)
#   --release R Debian release of the guest: bookworm | trixie (default $KVMNET_VM_RELEASE
#               or bookworm); its image must be built (build-image.sh [R])
#   --no-wait   return right after qemu started (default: wait until a real ssh command works)
#   --tap-netns NS  (with --mq 1) the host end of enp0s10 lives in the network namespace NS
#               (created if missing, deleted by vm-down.sh), up, with --tap-netns-address: a
#               second path to the guest, reached only from inside NS (`ip netns exec NS ssh`)
#
# qemu runs with -no-reboot: a reboot inside the guest ends qemu, and vm-restart.sh (beside
# this script) powers the same VM (same disk, same devices) on again. A warm reset of qemu 10
# under TCG with intel-iommu + igb hung the guest's second vCPU at the next boot on these
# machines (rcu stalls, no ssh); a fresh qemu process boots the guest reliably.
#   --group G   VMs of one group (one Molecule scenario) may run together; a VM of another
#               group makes this wait until it is gone (2 cores: one VM run at a time).
#               Default: the VM's own name. KVMNET_VM_ALLOW_PARALLEL=1 skips the wait,
#               KVMNET_VM_QUEUE_TIMEOUT (s, default 2700) bounds it.
#
# Guest NIC layout (fixed MACs and PCI slots -> stable predictable names):
#   enp0s4   52:54:00:00:00:01  virtio mgmt: qemu user-net, host 127.0.0.1:SSH_PORT -> guest :22
#   enp0s5   52:54:00:00:01:01  virtio a1, hub 1 <-> enp0s7 52:54:00:00:02:01 b1
#   enp0s6   52:54:00:00:01:02  virtio a2, hub 2 <-> enp0s8 52:54:00:00:02:02 b2
#            (a1+a2 are wired back-to-back to b1+b2: bond members and their LACP partner
#             inside one VM; speed=10000,duplex=full or 802.3ad never sends LACPDUs)
#   enp1s0   52:54:00:00:03:01  igb 82576 SR-IOV PF behind pcie-root-port (hub 3)
#   enp0s10  52:54:00:00:04:01  virtio mq=on queues=4 vectors=10 rss=on, tap backend
#
# State in $KVMNET_VM_RUN/NAME: disk.qcow2 (overlay), qemu.pid, port, release, tap, cmdline, console.log
set -euo pipefail
. "$(dirname "$0")/lib.sh"

usage() { sed -n '4,10p' "$0" >&2; exit 2; }
[ $# -ge 2 ] || usage
NAME=$1; PORT=$2; shift 2
IOMMU=1 IGB=1 MQ=1 MEM=3072 SMP=2 RELEASE=$VM_RELEASE WAIT=1 WAIT_TIMEOUT=${KVMNET_VM_BOOT_TIMEOUT:-300} GROUP=
TAP_NETNS= TAP_NETNS_ADDRESS=
while [ $# -gt 0 ]; do
  case $1 in
    --iommu) IOMMU=$2; shift 2 ;;
    --igb) IGB=$2; shift 2 ;;
    --mq) MQ=$2; shift 2 ;;
    --mem) MEM=$2; shift 2 ;;
    --smp) SMP=$2; shift 2 ;;
    --release) RELEASE=$2; shift 2 ;;
    --no-wait) WAIT=0; shift ;;
    --group) GROUP=$2; shift 2 ;;
    --tap-netns) TAP_NETNS=$2; shift 2 ;;
    --tap-netns-address) TAP_NETNS_ADDRESS=$2; shift 2 ;;
    *) usage ;;
  esac
done
[[ $NAME =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || vm_die "bad VM name '$NAME'"
[[ $PORT =~ ^[0-9]+$ ]] || vm_die "bad ssh port '$PORT'"
GROUP=${GROUP:-$NAME}
if [ -n "$TAP_NETNS" ]; then
  [ "$MQ" = 1 ] || vm_die "--tap-netns needs --mq 1 (the tap of enp0s10)"
  [[ $TAP_NETNS =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$ ]] || vm_die "bad --tap-netns '$TAP_NETNS'"
  [ -z "$TAP_NETNS_ADDRESS" ] || [[ $TAP_NETNS_ADDRESS =~ ^[0-9a-fA-F.:]+/[0-9]+$ ]] \
    || vm_die "bad --tap-netns-address '$TAP_NETNS_ADDRESS' (ADDRESS/PREFIXLEN)"
fi
IMG=$(vm_image_dir "$RELEASE") || exit 2
for f in "$IMG/base.qcow2" "$IMG/vmlinuz" "$IMG/initrd.img" "$VM_KEY"; do
  [ -s "$f" ] || vm_die "no $f: run $VM_DIR/build-image.sh $RELEASE first"
done

D=$VM_RUN/$NAME
mkdir -p "$VM_RUN"
# --- one VM run at a time on this machine: wait while a VM of another group runs.
# The check and the start are serialized by the boot lock (fd 8), released once qemu runs.
exec 8>"$VM_RUN/.boot.lock"
flock 8
others() {
  local d
  for d in "$VM_RUN"/*/; do
    d=${d%/}
    [ "$(cat "$d/group" 2>/dev/null)" = "$GROUP" ] && continue
    vm_pid_alive "$d" && basename "$d"
  done
  return 0
}
if [ "${KVMNET_VM_ALLOW_PARALLEL:-0}" != 1 ]; then
  QEND=$(( $(date +%s) + ${KVMNET_VM_QUEUE_TIMEOUT:-2700} )); n=0
  while busy=$(others) && [ -n "$busy" ]; do
    [ $((n % 60)) = 0 ] && vm_log "$NAME waits: VM(s) $(echo $busy) still running (one VM run at a time; KVMNET_VM_ALLOW_PARALLEL=1 overrides)"
    [ "$(date +%s)" -lt "$QEND" ] || vm_die "$NAME: gave up waiting for $(echo $busy) (stop it: $VM_DIR/vm-down.sh NAME)"
    flock -u 8; sleep 5; n=$((n + 5)); flock 8
  done
fi
if vm_pid_alive "$D"; then vm_die "VM $NAME already runs (pid $(cat "$D/qemu.pid")); $VM_DIR/vm-down.sh $NAME"; fi
[ -d "$D" ] && "$VM_DIR/vm-down.sh" "$NAME"          # leftovers of a dead VM
if ss -Hltn "sport = :$PORT" 2>/dev/null | grep -q .; then
  vm_die "port 127.0.0.1:$PORT is already in use"
fi
mkdir -p "$D"
echo "$PORT" > "$D/port"
# owner: the run that will destroy this VM (empty for interactive VMs and the lab VM)
echo "${KVMNET_VM_OWNER:-}" > "$D/owner"
echo "$GROUP" > "$D/group"
echo "$RELEASE" > "$D/release"
if [ -n "$TAP_NETNS" ]; then echo "$TAP_NETNS" > "$D/netns"; echo "$TAP_NETNS_ADDRESS" > "$D/netns-address"; fi
qemu-img create -q -f qcow2 -F qcow2 -b "$IMG/base.qcow2" "$D/disk.qcow2"

APPEND="root=/dev/vda rw console=ttyS0 quiet systemd.show_status=0 mitigations=off"
MACHINE=q35
ARGS=(-name "$NAME" -accel "$VM_ACCEL" -cpu max -smp "$SMP" -m "$MEM")
if [ "$IOMMU" = 1 ]; then
  [ "$VM_ACCEL" = kvm ] && MACHINE=q35,kernel-irqchip=split
  ARGS+=(-device intel-iommu,intremap=on,caching-mode=on)
  APPEND+=" intel_iommu=on iommu=pt"
fi
ARGS=(-machine "$MACHINE" "${ARGS[@]}")
V="speed=10000,duplex=full"
ARGS+=(-kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.img" -append "$APPEND"
  -drive "file=$D/disk.qcow2,if=none,id=d0,format=qcow2,cache=unsafe,discard=unmap"
  -device virtio-blk-pci,drive=d0,addr=0x3
  -netdev "user,id=mgmt,hostfwd=tcp:127.0.0.1:${PORT}-:22"
  -device virtio-net-pci,netdev=mgmt,mac=52:54:00:00:00:01,addr=0x4
  -netdev hubport,id=ha1,hubid=1 -device "virtio-net-pci,netdev=ha1,mac=52:54:00:00:01:01,$V,addr=0x5"
  -netdev hubport,id=ha2,hubid=2 -device "virtio-net-pci,netdev=ha2,mac=52:54:00:00:01:02,$V,addr=0x6"
  -netdev hubport,id=hb1,hubid=1 -device "virtio-net-pci,netdev=hb1,mac=52:54:00:00:02:01,$V,addr=0x7"
  -netdev hubport,id=hb2,hubid=2 -device "virtio-net-pci,netdev=hb2,mac=52:54:00:00:02:02,$V,addr=0x8")
if [ "$IGB" = 1 ]; then
  ARGS+=(-device pcie-root-port,id=rp1,chassis=1,slot=1,addr=0x9
    -netdev hubport,id=higb,hubid=3 -device igb,netdev=higb,bus=rp1,mac=52:54:00:00:03:01)
fi
if [ "$MQ" = 1 ]; then
  TAP=kvmq-$(printf '%s' "$NAME" | sha1sum | cut -c1-8)     # <= 15 chars, unique per VM name
  ip link show "$TAP" >/dev/null 2>&1 || ip tuntap add dev "$TAP" mode tap multi_queue
  echo "$TAP" > "$D/tap"
  ip link set "$TAP" up
  ARGS+=(-netdev "tap,id=mq,ifname=$TAP,queues=4,script=no,downscript=no,vhost=off"
    -device "virtio-net-pci,netdev=mq,mq=on,vectors=10,rss=on,$V,mac=52:54:00:00:04:01,addr=0xa")
fi
ARGS+=(-no-reboot -display none -serial "file:$D/console.log" -monitor none
  -qmp "unix:$D/qmp.sock,server=on,wait=off" -pidfile "$D/qemu.pid" -daemonize)
printf '%q ' qemu-system-x86_64 "${ARGS[@]}" > "$D/cmdline"; echo >> "$D/cmdline"
printf '%s\0' "${ARGS[@]}" > "$D/args"        # vm-restart.sh starts the same qemu again

T0=$(date +%s.%N)
# close the lock fds (8, 9) so the daemonized qemu never holds them
qemu-system-x86_64 "${ARGS[@]}" 8>&- 9>&- </dev/null >"$D/qemu.out" 2>&1 || {
  cat "$D/qemu.out" >&2; vm_die "qemu failed to start $NAME"; }
flock -u 8; exec 8>&-
vm_tap_netns "$D"
vm_log "$NAME: qemu pid $(cat "$D/qemu.pid"), ssh 127.0.0.1:$PORT (release=$RELEASE iommu=$IOMMU igb=$IGB mq=$MQ mem=$MEM smp=$SMP)"
[ "$WAIT" = 1 ] || exit 0

vm_wait_ssh "$D" "$NAME" "$PORT" "$WAIT_TIMEOUT" "$T0"
