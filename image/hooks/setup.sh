#!/bin/bash
# mmdebstrap setup hook (before apt first runs): trust the Raspberry Pi archive for arm64.
# Its key is fetched and must have the fingerprint pinned in config.sh; a key that does not match
# stops the build. raspberrypi-archive-keyring, installed later, keeps it trusted on the device.
set -euo pipefail
root=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=image/config.sh
. "$here/config.sh"

[ "$BITAGORA_ARCH" = arm64 ] || exit 0
for tool in curl gpg; do
  command -v "$tool" >/dev/null || { echo "setup hook: $tool is missing: apt-get install $tool" >&2; exit 2; }
done
key=$(mktemp)
trap 'rm -f "$key"' EXIT
curl --fail --silent --show-error --location "$RPI_KEY_URL" --output "$key"
# Exactly one key, the pinned one: every key in the file would be trusted by apt.
keys=$(gpg --show-keys --with-colons "$key" | awk -F: '$1 == "pub" { n++ } END { print n + 0 }')
found=$(gpg --show-keys --with-colons "$key" | awk -F: '$1 == "fpr" { print $10; exit }')
if [ "$keys" != 1 ] || [ "$found" != "$RPI_KEY_FINGERPRINT" ]; then
  echo "setup hook: $RPI_KEY_URL holds $keys key(s), first '$found'; expected only $RPI_KEY_FINGERPRINT" >&2
  exit 2
fi
install -d "$root/etc/apt/trusted.gpg.d"
gpg --dearmor <"$key" >"$root/etc/apt/trusted.gpg.d/bitagora-build-raspberrypi.gpg"
