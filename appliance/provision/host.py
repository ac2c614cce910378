"""The operating system's side of provisioning: files under a root folder, tools when present.

``Host.root`` is ``/`` on a device; tests give a temporary folder, and then no system tool is
run (``timedatectl``, ``localectl``, ``nmcli`` and ``iw`` act on the running system, not on a
folder). Every file is written atomically with its final mode from the start.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from appliance.config import CREDENTIAL_SETTINGS
from appliance.provision.setup_file import Wifi, write_atomically

log = logging.getLogger(__name__)

NM_CONNECTIONS = Path("etc/NetworkManager/system-connections")
# cfg80211's regulatory domain, read when the Wi-Fi driver loads (a Pi's brcmfmac loads it).
WIFI_COUNTRY_CONF = Path("etc/modprobe.d/bitagora-wifi-country.conf")
CONFIG = Path("etc/bitagora/appliance.toml")
CREDENTIALS = Path("etc/bitagora/credentials")
TOOL_TIMEOUT_S = 30


class HostError(RuntimeError):
    """A system file or tool failed; the message names which and why."""


@dataclass(frozen=True)
class Host:
    root: Path = Path("/")

    @property
    def live(self) -> bool:
        """Acting on the running system (tools may be run), not on a folder."""
        return self.root.resolve() == Path("/")

    def path(self, relative: Path) -> Path:
        return self.root / relative

    @property
    def config_path(self) -> Path:
        return self.path(CONFIG)

    @property
    def credentials_dir(self) -> Path:
        return self.path(CREDENTIALS)

    def write(self, relative: Path, data: str, mode: int, dir_mode: int = 0o755) -> bool:
        """Write a file unless it already holds ``data``; return whether it changed."""
        target = self.path(relative)
        try:
            if target.is_file() and target.read_text(encoding="utf-8") == data:
                if target.stat().st_mode & 0o777 != mode:
                    os.chmod(target, mode)
                return False
            if not target.parent.is_dir():
                target.parent.mkdir(parents=True)
                os.chmod(target.parent, dir_mode)  # whatever the umask
            write_atomically(target, data.encode("utf-8"), mode)
        except OSError as err:
            raise HostError(f"cannot write {target}: {err.strerror or err}") from None
        return True

    def run(self, *argv: str) -> None:
        """Run a system tool if this is the live system and the tool is installed."""
        if not self.live or shutil.which(argv[0]) is None:
            return
        try:
            result = subprocess.run(
                argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise HostError(f"{argv[0]} failed: {err}") from None
        if result.returncode != 0:
            raise HostError(f"{' '.join(argv)} failed: {result.stderr.strip()}")

    # -- what provisioning writes ----------------------------------------------------------

    def write_credentials(self, secrets: dict[str, str]) -> None:
        """One root-only file each, the name systemd's LoadCredential= in the units reads."""
        for name, value in secrets.items():
            self.write(CREDENTIALS / name, value + "\n", 0o600, dir_mode=0o700)

    def read_credentials(self, directory: Path | None = None) -> dict[str, str]:
        """The secrets already given to the services (from ``directory``, by default ours); an
        unreadable or blank one counts as none."""
        found: dict[str, str] = {}
        for name in CREDENTIAL_SETTINGS:
            try:
                value = ((directory or self.credentials_dir) / name).read_text("utf-8").strip()
            except (OSError, UnicodeDecodeError):
                continue
            if value:
                found[name] = value
        return found

    def write_wifi(self, wifi: Wifi) -> None:
        """A NetworkManager keyfile (0600: it holds the passphrase). With the passphrase erased
        from the setup file, the keyfile written before is kept as it is."""
        relative = NM_CONNECTIONS / "bitagora-wifi.nmconnection"
        target = self.path(relative)
        if not wifi.passphrase:
            if _keyfile_ssid(target) == _escape(wifi.ssid):
                return
            raise HostError(
                f"wifi.passphrase: needed for the network {wifi.ssid!r} (it is not set up yet)"
            )
        changed = self.write(relative, _keyfile(wifi, _keyfile_uuid(target)), 0o600, 0o755)
        self.write(WIFI_COUNTRY_CONF, f"options cfg80211 ieee80211_regdom={wifi.country}\n", 0o644)
        self.run("iw", "reg", "set", wifi.country)
        if changed:
            self.run("nmcli", "connection", "reload")

    def set_timezone(self, name: str) -> None:
        if self.live and shutil.which("timedatectl"):
            self.run("timedatectl", "set-timezone", name)
            return
        link = self.path(Path("etc/localtime"))
        link.parent.mkdir(parents=True, exist_ok=True)
        target = f"/usr/share/zoneinfo/{name}"
        if not (link.is_symlink() and os.readlink(link) == target):
            tmp = link.with_name(".localtime.new")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(target)
            os.replace(tmp, link)
        self.write(Path("etc/timezone"), name + "\n", 0o644)

    def set_locale(self, name: str) -> None:
        if self.live and shutil.which("localectl"):
            self.run("localectl", "set-locale", f"LANG={name}")
            return
        self.write(Path("etc/default/locale"), f"LANG={name}\n", 0o644)


def _keyfile(wifi: Wifi, connection_uuid: str) -> str:
    """NetworkManager's keyfile format (nm-settings-keyfile(5)): WPA-PSK, connect at boot."""
    return (
        "[connection]\n"
        "id=bitagora-wifi\n"
        f"uuid={connection_uuid}\n"
        "type=wifi\n"
        "autoconnect=true\n"
        "\n[wifi]\n"
        "mode=infrastructure\n"
        f"ssid={_escape(wifi.ssid)}\n"
        "\n[wifi-security]\n"
        "key-mgmt=wpa-psk\n"
        f"psk={_escape(wifi.passphrase)}\n"
        "\n[ipv4]\nmethod=auto\n"
        "\n[ipv6]\nmethod=auto\n"
    )


def _escape(value: str) -> str:
    """A GKeyFile string value: backslash escapes, and a leading space kept."""
    escaped = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
    return "\\s" + escaped[1:] if escaped.startswith(" ") else escaped


def _keyfile_field(path: Path, key: str) -> str | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        name, sep, value = line.partition("=")
        if sep and name.strip() == key:
            return value.strip()
    return None


def _keyfile_ssid(path: Path) -> str | None:
    return _keyfile_field(path, "ssid")


def _keyfile_uuid(path: Path) -> str:
    """The connection keeps its uuid when rewritten, so NetworkManager sees one connection."""
    return _keyfile_field(path, "uuid") or str(uuid.uuid4())
