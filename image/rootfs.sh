#!/bin/bash
# BitAgora POS: the root filesystem, built by mmdebstrap from the pins in config.sh.
#
#   image/rootfs.sh ARCH WHEEL TARGET
#
# ARCH is arm64 for the SD image (other architectures run through qemu-user-static/binfmt) or
# the build machine's own (amd64) for `make image-check`. WHEEL is the appliance's wheel
# (`pip wheel --no-deps .`). TARGET is a new or empty directory (what sdcard.sh takes).
# The hooks in hooks/ do the work; this script only chooses sources and packages. Runs as root
# (mmdebstrap --mode=root): the output keeps real owners and device nodes.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=image/config.sh
. "$here/config.sh"

die() {
  echo "rootfs: $*" >&2
  exit 2
}

[ $# -eq 3 ] || die "usage: $0 ARCH WHEEL TARGET (e.g. arm64 dist/bitagora_appliance-0.1.0-py3-none-any.whl rootfs)"
arch=$1 wheel=$2 target=$3
[ "$(id -u)" -eq 0 ] || die "run as root: mmdebstrap --mode=root keeps owners and device nodes"
command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: apt-get install mmdebstrap"
case $wheel in
  *.whl) [ -f "$wheel" ] || die "no wheel at $wheel: build it with pip wheel --no-deps ." ;;
  *) die "$wheel is not a wheel (.whl)" ;;
esac

# snapshot.debian.org is the pin; a build machine that cannot reach it must say which mirror it
# uses instead (the result then depends on that day's mirror).
host=${DEBIAN_MIRROR#*://}
host=${host%%/*}
getent hosts "$host" >/dev/null ||
  die "cannot resolve $host; set DEBIAN_MIRROR and SECURITY_MIRROR to a reachable mirror (e.g. http://deb.debian.org/debian and http://deb.debian.org/debian-security: not pinned, not reproducible)"

packages=("${COMMON_PACKAGES[@]}")
sources=(
  "deb $DEBIAN_MIRROR $SUITE main non-free-firmware"
  "deb $DEBIAN_MIRROR $SUITE-updates main non-free-firmware"
  "deb $SECURITY_MIRROR $SUITE-security main non-free-firmware"
)
if [ "$arch" = arm64 ]; then
  packages+=("${ARM64_PACKAGES[@]}")
  sources+=("deb $RPI_MIRROR $SUITE main")
fi

# What the hooks need to know (mmdebstrap passes the environment on to them).
BITAGORA_ARCH=$arch
BITAGORA_WHEEL=$(realpath "$wheel")
BITAGORA_REPO=$(dirname "$here")
export BITAGORA_ARCH BITAGORA_WHEEL BITAGORA_REPO

mmdebstrap \
  --mode=root \
  --variant=minbase \
  --architectures="$arch" \
  --include="${packages[*]}" \
  --aptopt='Acquire::Check-Valid-Until "false"' \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --setup-hook="$here/hooks/setup.sh" \
  --essential-hook="$here/hooks/essential.sh" \
  --customize-hook="$here/hooks/customize.sh" \
  "$SUITE" "$target" "${sources[@]}"
