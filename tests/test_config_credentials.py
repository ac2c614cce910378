"""Secret settings from systemd credentials ($CREDENTIALS_DIRECTORY, LoadCredential= in a unit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import ConfigError, load_settings

CLNREST = '[lightning]\nkind = "clnrest"\nurl = "https://node.lan:3010"\n'


def settings_file(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "appliance.toml"
    path.write_text(CLNREST + extra)
    return path


def credentials(tmp_path: Path, **values: str) -> Path:
    directory = tmp_path / "credentials"
    directory.mkdir()
    for name, value in values.items():
        (directory / name.replace("_", ".")).write_text(value)
    return directory


def test_the_rune_comes_from_its_credential(tmp_path: Path) -> None:
    env = {"CREDENTIALS_DIRECTORY": str(credentials(tmp_path, lightning_rune="from-cred\n"))}
    settings = load_settings(tmp_path, settings_file(tmp_path), env)
    assert settings.lightning.rune == "from-cred"  # the file's trailing newline is not part of it
    assert "from-cred" not in repr(settings)


def test_credential_beats_the_file_and_the_environment_beats_both(tmp_path: Path) -> None:
    config = settings_file(tmp_path, 'rune = "from-file"\n')
    env = {"CREDENTIALS_DIRECTORY": str(credentials(tmp_path, lightning_rune="from-cred"))}
    assert load_settings(tmp_path, config, env).lightning.rune == "from-cred"
    env["BITAGORA_LIGHTNING_RUNE"] = "from-env"
    assert load_settings(tmp_path, config, env).lightning.rune == "from-env"


def test_a_blank_or_missing_credential_counts_as_none(tmp_path: Path) -> None:
    # The kiosk unit's SetCredential=lightning.rune:\n fallback hands over a lone newline when
    # /etc/bitagora/credentials/lightning.rune does not exist.
    config = settings_file(tmp_path, 'rune = "from-file"\n')
    env = {"CREDENTIALS_DIRECTORY": str(credentials(tmp_path, lightning_rune="\n"))}
    assert load_settings(tmp_path, config, env).lightning.rune == "from-file"
    (tmp_path / "credentials" / "lightning.rune").unlink()
    assert load_settings(tmp_path, config, env).lightning.rune == "from-file"
    with pytest.raises(ConfigError, match=r"lightning\.rune: clnrest needs a rune"):
        load_settings(tmp_path, settings_file(tmp_path), env)


def test_only_secret_settings_are_taken_from_credentials(tmp_path: Path) -> None:
    env = {"CREDENTIALS_DIRECTORY": str(credentials(tmp_path, lightning_url="https://evil:1"))}
    config = settings_file(tmp_path, 'rune = "r"\n')
    assert load_settings(tmp_path, config, env).lightning.url == "https://node.lan:3010"


def test_an_unreadable_credential_is_named(tmp_path: Path) -> None:
    directory = credentials(tmp_path)
    (directory / "lightning.rune").mkdir()  # reading a directory fails for root too
    env = {"CREDENTIALS_DIRECTORY": str(directory)}
    with pytest.raises(ConfigError, match=r"lightning\.rune: cannot read the credential"):
        load_settings(tmp_path, settings_file(tmp_path), env)
