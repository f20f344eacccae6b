#!/usr/bin/env bash
# Build (or reuse) the Debian hypervisor guest image of the VM platform, one per release (the
# create step of kvmnet.hypervisor.molecule.create runs it; it needs root).
#
# usage: build-image.sh [--check|--force] [RELEASE]
#   (none)   build unless the cached image matches the current inputs
#   --check  exit 0 if the cached image is up to date, 1 if a build is needed
#   --force  rebuild even if up to date
#   RELEASE  bookworm | trixie (default $KVMNET_VM_RELEASE, else bookworm)
#
# Output in $KVMNET_VM_CACHE/RELEASE (cache default /var/cache/kvmnet-vm, survives between runs):
#   base.qcow2            root filesystem (ext4 without partition table -> root=/dev/vda),
#                         zstd-compressed qcow2; VMs boot copy-on-write overlays of it
#   vmlinuz, initrd.img   the guest kernel for direct kernel boot
#   image.stamp           sha256 of the inputs (this script, guest-setup.sh,
#                         build-netdevsim.sh, image-packages.txt, release)
# and $KVMNET_VM_CACHE/id_ed25519(.pub): root's ssh key in every guest (generated once).
#
# Packages come from Debian with mmdebstrap. The apt sources are the HOST's own apt
# configuration, read at run time: the files that list the host's release; for another
# release the same entries with the release's name in place of the host's (so RELEASE-updates
# and RELEASE-security come from where the host gets its own). No mirror is named here.
# netdevsim.ko is built only for the host's own release (the host's gcc must be the guest
# kernel's compiler; no scenario needs it, the lab lists it).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MODE=build
case ${1:-} in --check|--force) MODE=$1; shift ;; -*) echo "usage: $0 [--check|--force] [RELEASE]" >&2; exit 2 ;; esac
RELEASE=${1:-$VM_RELEASE}
IMG=$(vm_image_dir "$RELEASE") || exit 2
. /etc/os-release
HOST_RELEASE=${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}
NETDEVSIM=${KVMNET_VM_NETDEVSIM:-$([ "$RELEASE" = "$HOST_RELEASE" ] && echo 1 || echo 0)}
SIZE=${KVMNET_VM_DISK:-6G}

INPUTS=("$VM_DIR/build-image.sh" "$VM_DIR/guest-setup.sh" "$VM_DIR/build-netdevsim.sh" "$VM_DIR/image-packages.txt")
STAMP=$( { cat "${INPUTS[@]}"; echo "suite=$RELEASE netdevsim=$NETDEVSIM size=$SIZE"; } | sha256sum | cut -d' ' -f1)

up_to_date() {
  [ -s "$IMG/base.qcow2" ] && [ -s "$IMG/vmlinuz" ] && [ -s "$IMG/initrd.img" ] &&
    [ -s "$VM_KEY" ] && [ "$(cat "$IMG/image.stamp" 2>/dev/null)" = "$STAMP" ]
}

case $MODE in
  --check) if up_to_date; then echo "image up to date ($IMG)"; exit 0; else echo "image needs a build"; exit 1; fi ;;
esac

for t in mmdebstrap mkfs.ext4 qemu-img ssh-keygen gcc make xz; do
  command -v "$t" >/dev/null || vm_die "missing host tool '$t' (see docs/molecule.md of kvmnet.hypervisor, host packages)"
done
[ "$(id -u)" = 0 ] || vm_die "build-image.sh must run as root (mmdebstrap, chroot)"

mkdir -p "$IMG"
exec 9>"$IMG/.build.lock"
flock 9                                  # one build at a time; others wait, then reuse it
if [ "$MODE" != --force ] && up_to_date; then
  vm_log "image up to date: $IMG/base.qcow2 (stamp ${STAMP:0:12})"
  exit 0
fi

T0=$(date +%s)
# --- host apt sources -> mmdebstrap mirror arguments
W=$(mktemp -d "$IMG/build.XXXXXX")
trap 'rm -rf "$W"' EXIT
SOURCES=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
  [ -s "$f" ] || continue
  # only files that list the host's base release itself (skips backports and third-party lists)
  grep -qE "^[^#]*(^|[[:space:]])${HOST_RELEASE}([[:space:]]|$)" "$f" || continue
  if [ "$RELEASE" = "$HOST_RELEASE" ]; then
    SOURCES+=("$f")                      # used verbatim
  else
    # the same entries for RELEASE: bookworm -> trixie, bookworm-updates -> trixie-updates, ...
    n=$W/$(basename "$f")
    sed -E "/^[[:space:]]*(#|$)/!s/(^|[[:space:]])${HOST_RELEASE}(-[a-z]+)?([[:space:]]|$)/\1${RELEASE}\2\3/g" "$f" > "$n"
    SOURCES+=("$n")
  fi
done
[ ${#SOURCES[@]} -gt 0 ] || vm_die "no host apt source lists release $HOST_RELEASE"
vm_log "apt sources from the host: ${SOURCES[*]}"

[ -s "$VM_KEY" ] || ssh-keygen -q -t ed25519 -N '' -C kvmnet-lab -f "$VM_KEY"

PKGS=$(grep -v '^[[:space:]]*#' "$VM_DIR/image-packages.txt" | tr -s ' \n' '\n' | grep -v '^$' | paste -sd, -)

ROOT=$W/rootfs
HOOKS=(
  # netdevsim first: it needs the chroot's apt and resolv.conf, which guest-setup replaces
  --customize-hook="[ $NETDEVSIM = 1 ] || exit 0; K=\$(ls \"\$1/lib/modules\" | sort -V | tail -1); '$VM_DIR/build-netdevsim.sh' \"\$1\" \"\$K\""
  --customize-hook="'$VM_DIR/guest-setup.sh' \"\$1\" '$VM_KEY.pub'"
  --customize-hook="cp \"\$(ls \"\$1\"/boot/vmlinuz-* | sort -V | tail -1)\" '$W/vmlinuz'; cp \"\$(ls \"\$1\"/boot/initrd.img-* | sort -V | tail -1)\" '$W/initrd.img'"
)
vm_log "mmdebstrap $RELEASE (${PKGS//,/ })"
mmdebstrap --variant=apt --include="$PKGS" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  "${HOOKS[@]}" \
  "$RELEASE" "$ROOT" "${SOURCES[@]}"

[ -f "$ROOT/lib/modules/$(ls "$ROOT/lib/modules" | sort -V | tail -1)/updates/netdevsim.ko" ] || [ "$NETDEVSIM" != 1 ] \
  || vm_die "netdevsim.ko missing from the image"

vm_log "ext4 + zstd qcow2"
mkfs.ext4 -q -L root -d "$ROOT" "$W/base.raw" "$SIZE"
rm -rf "$ROOT"
qemu-img convert -c -O qcow2 -o compression_type=zstd "$W/base.raw" "$W/base.qcow2"
rm -f "$W/base.raw"
chmod 644 "$W/vmlinuz" "$W/initrd.img" "$W/base.qcow2"
# rename into place: running VMs keep the old base open, new VMs get the new one
mv -f "$W/vmlinuz" "$IMG/vmlinuz"
mv -f "$W/initrd.img" "$IMG/initrd.img"
mv -f "$W/base.qcow2" "$IMG/base.qcow2"
echo "$STAMP" > "$IMG/image.stamp"
vm_log "image built in $(( $(date +%s) - T0 )) s: $(du -h "$IMG/base.qcow2" | cut -f1) $IMG/base.qcow2"
