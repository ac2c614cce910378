#!/bin/bash
# mmdebstrap essential hook (Essential:yes installed, before the other packages): what those
# packages' scripts look at while they install. The mount table and the boot partition's
# mountpoint come first so that the kernel's install hooks find /boot/firmware.
set -euo pipefail
root=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=image/config.sh
. "$here/config.sh"

# Root is written by the system and by provisioning and updates only; the till's data is on its
# own partition (docs/ARCHITECTURE.md, "SD image"). The boot partition holds the setup file with
# secrets until first boot consumes it: root only. No executable, device or set-uid file has any
# business on the data partition.
cat >"$root/etc/fstab" <<FSTAB
# <file system>          <mount point>      <type> <options>                                   <dump> <pass>
PARTUUID=$ROOT_PARTUUID  /                  ext4   defaults,noatime                            0      1
PARTUUID=$BOOT_PARTUUID  /boot/firmware     vfat   defaults,noatime,fmask=0077,dmask=0077      0      2
PARTUUID=$DATA_PARTUUID  $DATA_DIR  ext4   defaults,noatime,nodev,nosuid,noexec,x-systemd.growfs 0 2
tmpfs                    /tmp               tmpfs  mode=1777,nodev,nosuid,size=25%             0      0
FSTAB
install -d -m 0755 "$root/boot/firmware" "$root$DATA_DIR"

echo "$HOSTNAME_DEFAULT" >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
  "$HOSTNAME_DEFAULT" >"$root/etc/hosts"
