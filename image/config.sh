# BitAgora POS SD image: the pinned inputs, sourced by rootfs.sh, sdcard.sh and the hooks.
# Change a pin on purpose, in a commit of its own: the same pins give the same image.
# shellcheck shell=bash disable=SC2034  # variables for the scripts that source this file

SUITE=bookworm

# Debian from snapshot.debian.org, frozen at this moment; SOURCE_DATE_EPOCH is the same moment
# (date -u -d 2025-05-20T00:00:00Z +%s), so that files the build makes carry that date.
SNAPSHOT=20250520T000000Z
export SOURCE_DATE_EPOCH=1747699200
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://snapshot.debian.org/archive/debian/$SNAPSHOT}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://snapshot.debian.org/archive/debian-security/$SNAPSHOT}

# Raspberry Pi OS's own archive (kernel, boot firmware, Wi-Fi firmware, GPIO library), arm64 only.
# It has no snapshot service: the versions it gave are listed in the build's manifest. Its key is
# fetched at build time and must have this fingerprint (Raspberry Pi Archive Signing Key).
RPI_MIRROR=${RPI_MIRROR:-https://archive.raspberrypi.com/debian}
RPI_KEY_URL=$RPI_MIRROR/raspberrypi.gpg.key
RPI_KEY_FINGERPRINT=CF8A1AF502A2AA2D763BAE7E82B129927FA3303E

# The SD card's MBR disk signature. Partitions are found by PARTUUID <signature>-<number>
# (the Pi's firmware and kernel understand it without an initramfs).
DISK_ID=b17a6002
BOOT_PARTUUID=$DISK_ID-01
ROOT_PARTUUID=$DISK_ID-02
DATA_PARTUUID=$DISK_ID-03
# The file systems' UUIDs and hash seeds, and their timestamps: fixed, for the same bytes on
# every build (mke2fs would pick random ones).
ROOT_FS_UUID=5b09d157-5ffb-4171-aa70-53bea67b830d
DATA_FS_UUID=a82960f7-a4b1-4670-8747-9b7a0bf2884e
FS_TIMESTAMP=${SNAPSHOT%%T*}000000

# What every image has, whatever the board: systemd, Python for the appliance's virtual
# environment, NetworkManager (first-boot provisioning writes Wi-Fi as its keyfile), time sync
# (the Pi has no clock battery), libusb (USB printers), the file system checkers of the card's
# partitions and growpart (data partition to the card's size), a console font with box drawing
# (console-setup), and a technician's basic tools.
COMMON_PACKAGES=(
  systemd systemd-sysv systemd-timesyncd udev dbus
  python3 python3-venv ca-certificates tzdata
  network-manager iproute2 kmod
  libusb-1.0-0
  e2fsprogs dosfstools fdisk cloud-guest-utils
  console-setup
  sudo less nano
)

# The Raspberry Pi's boot firmware and kernels (v8: Pi 3, 4, Zero 2 W; 2712: Pi 5) and
# initramfs-tools for their initramfs (named, because recommended packages are left out), Wi-Fi
# firmware and regulatory data, the Pi's udev rules (gpio group for /dev/gpiochip*), the archive
# key for later updates, and lgpio (gpiozero's pin factory on bookworm; no cp311 arm64 wheel
# exists, so the virtual environment sees Debian's through --system-site-packages).
ARM64_PACKAGES=(
  raspi-firmware linux-image-rpi-v8 linux-image-rpi-2712 initramfs-tools
  firmware-brcm80211 wireless-regdb
  raspberrypi-sys-mods raspberrypi-archive-keyring
  python3-lgpio
)

# The appliance and where it lives (the systemd units expect these paths): release slots under
# APPLIANCE_PREFIX (releases/<version>, current, previous: appliance/update/slots.py).
APPLIANCE_PREFIX=/opt/bitagora
APPLIANCE=$APPLIANCE_PREFIX/current/bin/bitagora
DATA_DIR=/var/lib/bitagora
HOSTNAME_DEFAULT=bitagora
