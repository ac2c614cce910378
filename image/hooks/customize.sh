#!/bin/bash
# mmdebstrap customize hook (every package installed): the appliance and its services.
# The SD image and `make image-check` both run this hook, so what the check proves inside the
# check's root filesystem is what the card gets.
set -euo pipefail
root=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=image/config.sh
. "$here/config.sh"
systemd_dir=$BITAGORA_REPO/systemd

in_root() {
  chroot "$root" "$@"
}

# -- The appliance as its first release slot (the layout appliance updates use, see
# appliance/update/slots.py): a virtual environment at /opt/bitagora/releases/<version> from the
# wheel, dependencies at the versions in constraints.txt, and /opt/bitagora/current pointing at
# it (the units' ExecStart=). --system-site-packages lets it see Debian's python3-lgpio on the
# Pi (no arm64 wheel of it exists for Python 3.11).
# pip gets a clean environment (the build machine's pip settings name its own paths); only an
# index (PIP_INDEX_URL) and a CA bundle for a TLS-inspecting proxy (PIP_CERT) are passed on.
stage=/tmp/bitagora-install
install -d "$root$stage"
install -m 0644 "$BITAGORA_WHEEL" "$here/constraints.txt" "$root$stage/"
# SOURCE_DATE_EPOCH makes its byte code hash-checked rather than dated (see the end).
pip_env=(PATH=/usr/bin:/bin HOME=/root PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
  PIP_ROOT_USER_ACTION=ignore PIP_INDEX_URL="${PIP_INDEX_URL:-https://pypi.org/simple}"
  SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH")
if [ -n "${PIP_CERT:-}" ]; then
  install -m 0644 "$PIP_CERT" "$root$stage/ca.pem"
  pip_env+=(PIP_CERT="$stage/ca.pem")
fi
wheel=$(basename "$BITAGORA_WHEEL")
version=$(cut -d- -f2 <<<"$wheel")
release=$APPLIANCE_PREFIX/releases/$version
in_root python3 -m venv --system-site-packages "$release"
in_root env -i "${pip_env[@]}" "$release/bin/pip" install --quiet \
  --constraint "$stage/constraints.txt" "$stage/$wheel"
rm -rf "${root:?}$stage"
ln -s "releases/$version" "$root$APPLIANCE_PREFIX/current"

# -- The project's systemd/ folder, all of it: units as the distribution's own (so that
# `systemctl edit` overrides land in /etc), the system user, the directories, the udev rules
# (in /etc: the technician edits the device ids there).
shopt -s nullglob
units=()
for unit in "$systemd_dir"/*.service "$systemd_dir"/*.timer "$systemd_dir"/*.socket "$systemd_dir"/*.path; do
  install -m 0644 "$unit" "$root/usr/lib/systemd/system/"
  units+=("$(basename "$unit")")
done
for file in "$systemd_dir"/*.sysusers; do
  install -m 0644 "$file" "$root/usr/lib/sysusers.d/$(basename "$file" .sysusers).conf"
done
tmpfiles=()
for file in "$systemd_dir"/*.tmpfiles; do
  tmpfiles+=("/usr/lib/tmpfiles.d/$(basename "$file" .tmpfiles).conf")
  install -m 0644 "$file" "$root${tmpfiles[-1]}"
done
install -d "$root/etc/udev/rules.d"
for file in "$systemd_dir"/*.rules; do
  install -m 0644 "$file" "$root/etc/udev/rules.d/"
done
shopt -u nullglob

# -- The image's own files (journal in memory, the data partition's growth).
(cd "$here/rootfs" && find . -type f) | while read -r file; do
  mode=0644
  [ -x "$here/rootfs/$file" ] && mode=0755
  install -D -m "$mode" "$here/rootfs/$file" "$root/${file#./}"
done
data_device=/dev/disk/by-partuuid/$DATA_PARTUUID
data_device_unit=$(systemd-escape --path --suffix=device "$data_device")
data_mount_unit=$(systemd-escape --path --suffix=mount "$DATA_DIR")
cat >"$root/usr/lib/systemd/system/bitagora-grow-data.service" <<UNIT
# BitAgora POS: the data partition fills the SD card (at first boot; a no-op afterwards).
[Unit]
Description=Grow the BitAgora data partition to the end of the card
DefaultDependencies=no
BindsTo=$data_device_unit
After=$data_device_unit
Before=$data_mount_unit shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/lib/bitagora/grow-data $data_device
# It needs root and the raw disk, nothing else.
NoNewPrivileges=yes
PrivateNetwork=yes
ProtectHome=yes

[Install]
WantedBy=local-fs.target
UNIT
units+=(bitagora-grow-data.service)

# -- Users, directories and services. sysusers now, so that the image's /etc/passwd already
# has the user; tmpfiles runs again at every boot and lays out the (empty) data partition.
in_root systemd-sysusers
in_root systemd-tmpfiles --create "${tmpfiles[@]}"
in_root systemctl enable "${units[@]}"
# tty1 belongs to the kiosk (Conflicts=getty@tty1.service); boot must not have to choose.
in_root systemctl disable getty@tty1.service
# Software changes come as signed appliance releases, not from apt on its own schedule.
in_root systemctl disable apt-daily.timer apt-daily-upgrade.timer
printf 'LANG=C.UTF-8\n' >"$root/etc/default/locale"

# -- The Raspberry Pi's boot partition: our config.txt and a command line that finds root by
# PARTUUID and keeps kernel messages off tty1 (the kiosk's).
if [ "$BITAGORA_ARCH" = arm64 ]; then
  install -m 0644 "$here/boot/config.txt" "$root/boot/firmware/config.txt"
  echo "console=tty3 root=PARTUUID=$ROOT_PARTUUID rootfstype=ext4 fsck.repair=yes rootwait quiet loglevel=3 logo.nologo vt.global_cursor_default=0" \
    >"$root/boot/firmware/cmdline.txt"
fi

# -- Reproducible leftovers: the build host's resolver (NetworkManager writes the device's), a
# manifest of every package and Python distribution in the image, and no file dated after the
# pinned moment (the byte code checks hashes, not dates, so it stays valid).
rm -f "$root/etc/resolv.conf"
# The build reads a dated snapshot, so it lets apt accept its expired Release files; mmdebstrap
# keeps its apt options in the image. The device itself must refuse stale (replayed) archives.
sed -i '/Check-Valid-Until/d' "$root/etc/apt/apt.conf.d/99mmdebstrap"
echo "$HOSTNAME_DEFAULT" >"$root/etc/hostname"
manifest=$root/usr/share/bitagora/image-manifest.txt
install -d "$(dirname "$manifest")"
{
  echo "# BitAgora POS image: Debian $SUITE from $DEBIAN_MIRROR, $BITAGORA_ARCH"
  echo "# appliance: $wheel"
  echo "# Debian packages"
  # shellcheck disable=SC2016  # dpkg-query's own ${field} syntax
  in_root dpkg-query --show --showformat '${Package} ${Version}\n'
  echo "# Python distributions in $release"
  in_root "$release/bin/pip" --disable-pip-version-check list --format=freeze --local
} >"$manifest"
# (mmdebstrap has the kernel's file systems mounted on /dev, /proc and /sys while hooks run.)
find "$root" \( -path "$root/dev" -o -path "$root/proc" -o -path "$root/sys" \) -prune -o \
  -newermt "@$SOURCE_DATE_EPOCH" -print0 |
  xargs -0r touch --no-dereference --date="@$SOURCE_DATE_EPOCH"
