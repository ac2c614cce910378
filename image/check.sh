#!/bin/bash
# `make image-check`: build the image's root filesystem for this machine's architecture with the
# same rootfs.sh and hooks as the SD card, then check it from the inside (chroot), the way the
# device would find it at first boot: an empty data partition, tmpfiles laying it out, the
# service user, every unit verified and enabled, and `bitagora doctor --offline` passing against
# a printer simulator. The image has no simulators (they are the development tools, never on a
# device): DEV_BITAGORA, the development environment's `bitagora`, runs it on the build machine,
# whose network the root filesystem shares.
#
#   image/check.sh WHEEL WORKDIR DEV_BITAGORA   (as root; the root filesystem goes to WORKDIR/rootfs)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
systemd_dir=$(dirname "$here")/systemd
# shellcheck source=image/config.sh
. "$here/config.sh"

[ $# -eq 3 ] || { echo "usage: $0 WHEEL WORKDIR DEV_BITAGORA" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "image-check: run as root (sudo make image-check)" >&2; exit 2; }
# A mount namespace of our own: whatever the checks mount into the root filesystem is gone when
# this script ends, however it ends, and never shows on the build machine.
if [ -z "${BITAGORA_CHECK_NAMESPACE:-}" ]; then
  exec unshare --mount --propagation private env BITAGORA_CHECK_NAMESPACE=1 "$0" "$@"
fi
wheel=$1
work=$(realpath -m "$2")
dev_bitagora=$(realpath "$3")
root=$work/rootfs
arch=$(dpkg --print-architecture)

# -- Build -----------------------------------------------------------------------------------
if [ -e "$root" ]; then
  if findmnt --list --noheadings --output TARGET | grep -q "^$root/"; then
    echo "image-check: something is mounted under $root; unmount it first" >&2
    exit 2
  fi
  rm -rf --one-file-system "$root"
fi
mkdir -p "$root"
started=$SECONDS
"$here/rootfs.sh" "$arch" "$wheel" "$root"
built=$((SECONDS - started))

# -- Inside the image ------------------------------------------------------------------------
# The kernel's file systems, and tmpfs where the device has a fresh file system at first boot:
# /run, /tmp and the data partition.
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /dev "$root/dev"
for dir in /run /tmp "$DATA_DIR"; do
  mount -t tmpfs tmpfs "$root$dir"
done

in_root() {
  chroot "$root" "$@"
}
# A command as the service user, with nothing of the caller's environment. Each program execs
# the next, so the process started is the command itself (and killing it ends it).
as_service_user=(chroot "$root" setpriv --reuid=bitagora --regid=bitagora --init-groups
  env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME="$DATA_DIR")

failures=0
pass() { printf 'ok    %s\n' "$1"; }
fail() {
  printf 'FAIL  %s\n' "$1"
  failures=$((failures + 1))
}

# The service user, from the image's own /etc/passwd (sysusers ran at build time).
IFS=: read -r _ _ _ _ _ home shell < <(in_root getent passwd bitagora || true)
if [ "${home:-}" = "$DATA_DIR" ] && [ "${shell:-}" = /usr/sbin/nologin ]; then
  pass "user bitagora (home $home, shell $shell)"
else
  fail "user bitagora: not in the image's passwd, or home/shell wrong (${home:-?}, ${shell:-?})"
fi
groups=" $(in_root id -nG bitagora 2>&1) "
missing=""
# its own group, and every group our sysusers files add it to
for group in bitagora $(awk '$1 == "m" && $2 == "bitagora" { print $3 }' "$systemd_dir"/*.sysusers); do
  [[ $groups == *" $group "* ]] || missing+=" $group"
done
if [ -z "$missing" ]; then pass "user bitagora in groups${groups% }"; else fail "user bitagora not in:$missing"; fi

# tmpfiles at boot, onto the empty data partition: every directory of our tmpfiles files, with
# the mode and owners those files give.
for file in "$systemd_dir"/*.tmpfiles; do
  in_root systemd-tmpfiles --create "/usr/lib/tmpfiles.d/$(basename "$file" .tmpfiles).conf"
done
while read -r type path mode user group _; do
  [ "$type" = d ] || continue
  found=$(in_root stat --format '%a %U %G' "$path" 2>&1) || true
  if [ "$found" = "${mode#0} $user $group" ]; then
    pass "tmpfiles made $path ($found)"
  else
    fail "tmpfiles: $path is '$found', expected '${mode#0} $user $group'"
  fi
done < <(cat "$systemd_dir"/*.tmpfiles | grep -v '^#')

# Every unit the recipe installed: systemd-analyze verify has nothing to say, and it is enabled.
# bitagora-update-confirm.service runs the previous release, which a fresh image does not have
# (its ConditionPathExists= skips it); verify wants every ExecStart= program to exist, so the
# first release stands in as the previous one while verify runs.
mapfile -t units < <(cd "$root/usr/lib/systemd/system" && ls bitagora-*)
ln -s "$(readlink "$root$APPLIANCE_PREFIX/current")" "$root$APPLIANCE_PREFIX/previous"
if output=$(in_root systemd-analyze verify --man=no "${units[@]}" 2>&1) && [ -z "$output" ]; then
  pass "systemd-analyze verify: ${units[*]}"
else
  fail "systemd-analyze verify: $output"
fi
rm "$root$APPLIANCE_PREFIX/previous"
for unit in "${units[@]}"; do
  state=$(in_root systemctl is-enabled "$unit" 2>&1) || true
  if [ "$state" = enabled ]; then pass "$unit enabled"; else fail "$unit is $state, not enabled"; fi
done
state=$(in_root systemctl is-enabled getty@tty1.service 2>&1) || true
if [ "$state" = disabled ]; then pass "getty@tty1 disabled"; else fail "getty@tty1 is $state"; fi
# The mount table as systemd reads it at boot: its generator makes the data partition's mount
# (and the file system's growth), and verifying that with the unit that grows the partition and
# local-fs.target finds any ordering cycle between them.
generated=/run/systemd/generator
mkdir -p "$root$generated" "$root$generated.early" "$root$generated.late"
data_mount=$(in_root systemd-escape --path --suffix=mount "$DATA_DIR")
if output=$(in_root /lib/systemd/system-generators/systemd-fstab-generator \
  "$generated" "$generated.early" "$generated.late" 2>&1) &&
  [ -f "$root$generated/$data_mount" ] &&
  output+=$(in_root systemd-analyze verify --man=no "$generated/$data_mount" \
    "$generated/systemd-growfs@${data_mount%.mount}.service" bitagora-grow-data.service \
    local-fs.target 2>&1) && [ -z "$output" ]; then
  pass "/etc/fstab: $data_mount, growfs and bitagora-grow-data.service verify together"
else
  fail "/etc/fstab at boot: ${output:-no $data_mount generated}"
fi
if grep -rqs 'Check-Valid-Until' "$root/etc/apt/"; then
  fail "apt on the device would accept expired (replayed) archives: Check-Valid-Until is set"
else
  pass "apt checks that archives are current"
fi
for rules in "$systemd_dir"/*.rules; do
  if cmp --quiet "$rules" "$root/etc/udev/rules.d/$(basename "$rules")"; then
    pass "udev rules $(basename "$rules") installed"
  else
    fail "udev rules $(basename "$rules") missing or different"
  fi
done

# The appliance as the service user: a technician added (the store is made), the doctor with a
# test page and a drawer pulse through the printer simulator of the development tools, on the
# build machine (the pulse is the device's first signed journal record), then that journal
# verified.
coproc printer {
  exec "$dev_bitagora" sim printer --host 127.0.0.1 --port 0 --out "$work/receipts"
}
# shellcheck disable=SC2154  # printer_PID is set by coproc
trap 'kill "$printer_PID" 2>/dev/null || true' EXIT
if read -r -t 60 line <&"${printer[0]}" && [[ $line =~ listening\ on\ 127.0.0.1:([0-9]+) ]]; then
  port=${BASH_REMATCH[1]}
  pass "printer simulator (development tools) on port $port"
else
  fail "printer simulator did not start: ${line:-no output}"
  port=9
fi
bitagora() {
  "${as_service_user[@]}" BITAGORA_PRINTER_PORT="$port" "$APPLIANCE" "$@" 2>&1
}
if output=$(echo 4242 | bitagora staff add tech --name Technician --role technician --pin-stdin); then
  pass "bitagora staff add: $output"
else
  fail "bitagora staff add: $output"
fi
doctor_ok=yes
output=$(bitagora doctor --offline --drawer-pin 4242) || doctor_ok=no
for expected in "OK    config" "OK    database" "test page printed" "OK    drawer"; do
  [[ $output == *"$expected"* ]] || doctor_ok=no
done
if [ "$doctor_ok" = yes ]; then pass "bitagora doctor --offline passes"; else fail "bitagora doctor --offline"; fi
grep -v ' INFO ' <<<"$output" | sed 's/^/      /'
if output=$(bitagora journal verify "$DATA_DIR/appliance.sqlite3") && [[ $output == OK:* ]]; then
  pass "bitagora journal verify: $output"
else
  fail "bitagora journal verify: $output"
fi

# -- Figures -----------------------------------------------------------------------------------
checked=$((SECONDS - started - built))
size=$(du --summarize --one-file-system --block-size=1M "$root" | cut -f1)
appliance=$(du --summarize --block-size=1M "$root$APPLIANCE_PREFIX/releases" | cut -f1)
if [ "$failures" -gt 0 ]; then
  echo "image-check: $failures check(s) FAILED in $root"
  exit 1
fi
echo "image-check: OK: $arch root filesystem built in ${built} s, checked in ${checked} s;" \
  "${size} MiB (appliance ${appliance} MiB) in $root"
