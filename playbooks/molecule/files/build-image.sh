#!/usr/bin/env bash
# Build (or reuse) the Debian 12 hypervisor guest image of the VM platform (the create step of
# kvmnet.hypervisor.molecule.create runs it; it needs root).
#
# usage: build-image.sh [--check|--force]
#   (none)   build unless the cached image matches the current inputs
#   --check  exit 0 if the cached image is up to date, 1 if a build is needed
#   --force  rebuild even if up to date
#
# Output in $KVMNET_VM_CACHE (default /var/cache/kvmnet-vm, survives between CI runs):
#   base.qcow2            root filesystem (ext4 without partition table -> root=/dev/vda),
#                         zstd-compressed qcow2; VMs boot copy-on-write overlays of it
#   vmlinuz, initrd.img   the guest kernel for direct kernel boot
#   id_ed25519(.pub)      root's ssh key in the guest (generated once per machine)
#   image.stamp           sha256 of the inputs (this script, guest-setup.sh,
#                         build-netdevsim.sh, image-packages.txt, suite)
#
# Packages come from Debian with mmdebstrap. The apt sources are the HOST's own apt
# configuration, read at run time (files listing the suite): no mirror is named here.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MODE=${1:-build}
NETDEVSIM=${KVMNET_VM_NETDEVSIM:-1}
SIZE=${KVMNET_VM_DISK:-6G}

INPUTS=("$VM_DIR/build-image.sh" "$VM_DIR/guest-setup.sh" "$VM_DIR/build-netdevsim.sh" "$VM_DIR/image-packages.txt")
STAMP=$( { cat "${INPUTS[@]}"; echo "suite=$VM_SUITE netdevsim=$NETDEVSIM size=$SIZE"; } | sha256sum | cut -d' ' -f1)

up_to_date() {
  [ -s "$VM_CACHE/base.qcow2" ] && [ -s "$VM_CACHE/vmlinuz" ] && [ -s "$VM_CACHE/initrd.img" ] &&
    [ -s "$VM_KEY" ] && [ "$(cat "$VM_CACHE/image.stamp" 2>/dev/null)" = "$STAMP" ]
}

case $MODE in
  --check) if up_to_date; then echo "image up to date ($VM_CACHE)"; exit 0; else echo "image needs a build"; exit 1; fi ;;
  --force|build) ;;
  *) echo "usage: $0 [--check|--force]" >&2; exit 2 ;;
esac

for t in mmdebstrap mkfs.ext4 qemu-img ssh-keygen gcc make xz; do
  command -v "$t" >/dev/null || vm_die "missing host tool '$t' (see docs/molecule.md of kvmnet.hypervisor, host packages)"
done
[ "$(id -u)" = 0 ] || vm_die "build-image.sh must run as root (mmdebstrap, chroot)"

mkdir -p "$VM_CACHE"
exec 9>"$VM_CACHE/.build.lock"
flock 9                                  # one build at a time; others wait, then reuse it
if [ "$MODE" != --force ] && up_to_date; then
  vm_log "image up to date: $VM_CACHE/base.qcow2 (stamp ${STAMP:0:12})"
  exit 0
fi

T0=$(date +%s)
# --- host apt sources -> mmdebstrap mirror arguments (file contents are used verbatim)
SOURCES=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
  [ -s "$f" ] || continue
  # only files that list the base suite itself (skips backports and third-party lists)
  grep -qE "^[^#]*(^|[[:space:]])${VM_SUITE}([[:space:]]|$)" "$f" || continue
  SOURCES+=("$f")
done
[ ${#SOURCES[@]} -gt 0 ] || vm_die "no host apt source lists suite $VM_SUITE"
vm_log "apt sources from the host: ${SOURCES[*]}"

[ -s "$VM_KEY" ] || ssh-keygen -q -t ed25519 -N '' -C kvmnet-lab -f "$VM_KEY"

PKGS=$(grep -v '^[[:space:]]*#' "$VM_DIR/image-packages.txt" | tr -s ' \n' '\n' | grep -v '^$' | paste -sd, -)

W=$(mktemp -d "$VM_CACHE/build.XXXXXX")
trap 'rm -rf "$W"' EXIT
ROOT=$W/rootfs
HOOKS=(
  # netdevsim first: it needs the chroot's apt and resolv.conf, which guest-setup replaces
  --customize-hook="[ $NETDEVSIM = 1 ] || exit 0; K=\$(ls \"\$1/lib/modules\" | sort -V | tail -1); '$VM_DIR/build-netdevsim.sh' \"\$1\" \"\$K\""
  --customize-hook="'$VM_DIR/guest-setup.sh' \"\$1\" '$VM_KEY.pub'"
  --customize-hook="cp \"\$(ls \"\$1\"/boot/vmlinuz-* | sort -V | tail -1)\" '$W/vmlinuz'; cp \"\$(ls \"\$1\"/boot/initrd.img-* | sort -V | tail -1)\" '$W/initrd.img'"
)
vm_log "mmdebstrap $VM_SUITE (${PKGS//,/ })"
mmdebstrap --variant=apt --include="$PKGS" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  "${HOOKS[@]}" \
  "$VM_SUITE" "$ROOT" "${SOURCES[@]}"

[ -f "$ROOT/lib/modules/$(ls "$ROOT/lib/modules" | sort -V | tail -1)/updates/netdevsim.ko" ] || [ "$NETDEVSIM" != 1 ] \
  || vm_die "netdevsim.ko missing from the image"

vm_log "ext4 + zstd qcow2"
mkfs.ext4 -q -L root -d "$ROOT" "$W/base.raw" "$SIZE"
rm -rf "$ROOT"
qemu-img convert -c -O qcow2 -o compression_type=zstd "$W/base.raw" "$W/base.qcow2"
rm -f "$W/base.raw"
chmod 644 "$W/vmlinuz" "$W/initrd.img" "$W/base.qcow2"
# rename into place: running VMs keep the old base open, new VMs get the new one
mv -f "$W/vmlinuz" "$VM_CACHE/vmlinuz"
mv -f "$W/initrd.img" "$VM_CACHE/initrd.img"
mv -f "$W/base.qcow2" "$VM_CACHE/base.qcow2"
echo "$STAMP" > "$VM_CACHE/image.stamp"
vm_log "image built in $(( $(date +%s) - T0 )) s: $(du -h "$VM_CACHE/base.qcow2" | cut -f1) $VM_CACHE/base.qcow2"
