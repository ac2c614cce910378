#!/bin/bash
# BitAgora POS: the SD card image from a root filesystem that rootfs.sh built, by genimage
# (layout in genimage.cfg). Runs as root, so that owners survive into the file systems.
#
#   image/sdcard.sh ROOTFS_DIR OUTPUT.img
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=image/config.sh
. "$here/config.sh"

die() {
  echo "sdcard: $*" >&2
  exit 2
}

[ $# -eq 2 ] || die "usage: $0 ROOTFS_DIR OUTPUT.img"
rootfs=$(realpath "$1")
out=$2
[ -x "$rootfs$APPLIANCE" ] || die "$rootfs has no $APPLIANCE: build it with image/rootfs.sh first"
[ "$(id -u)" -eq 0 ] || die "run as root: the file systems must keep the files' owners"
for tool in genimage mkdosfs mcopy mke2fs; do
  command -v "$tool" >/dev/null || die "$tool is missing: apt-get install genimage dosfstools mtools e2fsprogs"
done

# Files the root filesystem's build changed after its hooks (mmdebstrap's clean-up) take the
# pinned date too, so that the file systems' bytes do not depend on the day of the build.
find "$rootfs" -newermt "@$SOURCE_DATE_EPOCH" -print0 |
  xargs -0r touch --no-dereference --date="@$SOURCE_DATE_EPOCH"

work=$(mktemp -d "$(dirname "$(realpath -m "$out")")/sdcard.XXXXXX")
trap 'rm -rf "$work"' EXIT
DISK_SIGNATURE=0x$DISK_ID
export DISK_ID DISK_SIGNATURE ROOT_FS_UUID DATA_FS_UUID FS_TIMESTAMP
genimage --config "$here/genimage.cfg" --rootpath "$rootfs" --tmppath "$work/tmp" \
  --inputpath "$work/in" --outputpath "$work/out"
mv "$work/out/bitagora-sdcard.img" "$out"
echo "sdcard: $out ($(du --block-size=1M --apparent-size "$out" | cut -f1) MiB)"
