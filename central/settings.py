"""Central's configuration, checked before central touches anything (database, port, files).

Every problem is collected, so one start names them all; ``refuse`` prints them in one short
message, each naming its setting, and exits with status 2. Production mode
(``BITAGORA_CENTRAL_ENV=production``) also refuses weak secrets.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from central.notify import NotifySettings
from central.tokens import SECRET_ENV as SUPABASE_SECRET_ENV
from central.users import PASSWORD_ENV as OPS_PASSWORD_ENV
from central.web_settings import WebSettings

ENV = "BITAGORA_CENTRAL_ENV"
MIN_FREE_MB_ENV = "BITAGORA_CENTRAL_MIN_FREE_MB"
BACKUP_MAX_AGE_ENV = "BITAGORA_CENTRAL_BACKUP_MAX_AGE_H"
# The release-signing public key (PEM) that uploaded update bundles must verify with: the one
# pinned on the devices (docs/OPERATIONS.md, "Rollouts").
UPDATE_KEY_ENV = "BITAGORA_CENTRAL_UPDATE_KEY"
SESSION_SECRET_FILE = "session_secret"
MIN_SECRET_CHARS = 32  # what central makes itself: 32 random bytes, base64
MIN_PRODUCTION_PASSWORD = 12
DEFAULT_MIN_FREE_MB = 512
# Passwords that documentation, demos and habit put about; none protects a production central.
_WEAK_PASSWORDS = {"admin", "password", "changeme", "change-me", "choose-one", "secret", "bitagora"}


@dataclass(frozen=True)
class HealthLimits:
    """What readiness (central/health.py) holds central to."""

    directory: Path | None = None  # central's data directory, whose disk is watched
    min_free_bytes: int = DEFAULT_MIN_FREE_MB * 2**20
    backup_max_age_s: float | None = None  # None: backups are not watched


@dataclass(frozen=True)
class Settings:
    directory: Path  # <data-dir>/central
    production: bool
    health: HealthLimits
    web: WebSettings
    notify: NotifySettings
    update_key: Ed25519PublicKey | None = None  # None: no bundle can be uploaded


class SettingsError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def refuse(problems: list[str]) -> NoReturn:
    """Print every problem in one message and exit 2, as argparse does for a bad argument."""
    lines = "".join(f"\n  {problem}" for problem in problems)
    print(f"bitagora central: configuration refused:{lines}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def database_url_problem(url: str) -> str | None:
    """Why ``url`` is not a PostgreSQL connection URL; never echoes it (it may hold a password)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (parsing the port raises on a bad one)
    except ValueError as err:
        return f"DATABASE_URL: not a URL ({err})"
    if parts.scheme not in ("postgresql", "postgres"):
        return "DATABASE_URL: must start with postgresql:// (or postgres://)"
    if not (parts.hostname or "host=" in parts.query):
        return "DATABASE_URL: names no host"
    return None


def _writable_problem(directory: Path) -> str | None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as err:
        return f"--data-dir: {directory} is not writable ({err.strerror or err})"
    return None


def _update_key(env: Mapping[str, str], problems: list[str]) -> Ed25519PublicKey | None:
    path = env.get(UPDATE_KEY_ENV)
    if not path:
        return None
    try:
        key = load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as err:
        problems.append(f"{UPDATE_KEY_ENV}: cannot read a public key from {path} ({err})")
        return None
    if not isinstance(key, Ed25519PublicKey):
        problems.append(f"{UPDATE_KEY_ENV}: {path} is not an Ed25519 public key")
        return None
    return key


def _number(env: Mapping[str, str], name: str, problems: list[str]) -> float | None:
    text = env.get(name)
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        problems.append(f"{name}: must be a positive number")
        return None
    return value


def check(directory: Path, port: int, env: Mapping[str, str] = os.environ) -> Settings:
    """The settings central serves with, or ``SettingsError`` listing every problem."""
    problems: list[str] = []
    url = env.get("DATABASE_URL")
    if url is not None and (problem := database_url_problem(url)):
        problems.append(problem)
    if not 0 <= port <= 65535:
        problems.append(f"--port: {port} is not a port number (0-65535)")
    if problem := _writable_problem(directory):
        problems.append(problem)
    try:
        session_secret = (directory / SESSION_SECRET_FILE).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        session_secret = ""  # made at start (central.cli.load_session_secret)
    if session_secret and len(session_secret) < MIN_SECRET_CHARS:
        problems.append(
            f"session secret: {directory / SESSION_SECRET_FILE} holds fewer than "
            f"{MIN_SECRET_CHARS} characters (delete it and central makes a strong one)"
        )
    mode = env.get(ENV, "development")
    if mode not in ("development", "production"):
        problems.append(f"{ENV}: must be development or production")
    production = mode == "production"
    if production:
        password = env.get(OPS_PASSWORD_ENV)
        if password is not None and (
            len(password) < MIN_PRODUCTION_PASSWORD or password.lower() in _WEAK_PASSWORDS
        ):
            problems.append(
                f"{OPS_PASSWORD_ENV}: too weak for production (at least "
                f"{MIN_PRODUCTION_PASSWORD} characters, not a well-known one)"
            )
        jwt_secret = env.get(SUPABASE_SECRET_ENV)
        if jwt_secret is not None and len(jwt_secret) < MIN_SECRET_CHARS:
            problems.append(
                f"{SUPABASE_SECRET_ENV}: fewer than {MIN_SECRET_CHARS} characters in production"
            )
    try:
        web = WebSettings.from_env(env)
    except ValueError as err:
        problems.append(str(err))
    try:
        notify = NotifySettings.from_env(env)
    except ValueError as err:
        problems.append(str(err))
    min_free_mb = _number(env, MIN_FREE_MB_ENV, problems)
    max_age_h = _number(env, BACKUP_MAX_AGE_ENV, problems)
    update_key = _update_key(env, problems)
    if problems:
        raise SettingsError(problems)
    return Settings(
        directory=directory,
        production=production,
        health=HealthLimits(
            directory,
            int((min_free_mb or DEFAULT_MIN_FREE_MB) * 2**20),
            None if max_age_h is None else max_age_h * 3600,
        ),
        web=web,
        notify=notify,
        update_key=update_key,
    )
