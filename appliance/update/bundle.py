"""Signed update bundles on the device: build one (the release engineer), and check one against
the pinned key while extracting its wheels (the format: ``bitagora_protocol.update_bundle``).

Members are read as data and written under names we build, so a tar's own paths (``../``,
links) never reach the disk; anything the signed manifest does not list, a missing file or a
hash that differs refuses the bundle before anything is installed.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from bitagora_protocol.update_bundle import (
    FORMAT,
    MANIFEST,
    SIGNATURE,
    VERSION,
    WHEEL_MEMBER,
    WHEELS,
    BundleError,
    BundleManifest,
    check_member,
    open_tar,
    sha256_of,
    signed_members,
    verify,
)

__all__ = [
    "WHEELS",
    "BundleError",
    "BundleManifest",
    "build",
    "generate_key",
    "open_verified",
    "verify_file",
]


def normalize(name: str) -> str:
    """A distribution name as wheel file names spell it (PEP 427/503)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def wheel_version(filename: str, package: str) -> str | None:
    """The version in a wheel's file name if the wheel is ``package``'s."""
    parts = filename.removesuffix(".whl").split("-")
    if len(parts) >= 5 and normalize(parts[0]) == normalize(package):
        return parts[1]
    return None


def generate_key(private_path: Path) -> Path:
    """Make a release-signing key pair: the private key (0600) and ``<name>.pub`` to pin."""
    key = Ed25519PrivateKey.generate()
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    public_path = private_path.with_suffix(".pub")
    public_path.write_bytes(
        key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    return public_path


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = load_pem_public_key(path.read_bytes())
    except FileNotFoundError:
        raise BundleError(
            f"no release-signing key is pinned at {path} (update.public_key): no bundle can "
            "be trusted"
        ) from None
    except (OSError, ValueError) as err:
        raise BundleError(f"cannot read the pinned key {path}: {err}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError(f"the pinned key {path} is not an Ed25519 public key")
    return key


def build(wheels: Path, private_key: Path, out: Path, package: str) -> BundleManifest:
    """Sign every wheel in ``wheels`` into a bundle for ``package`` (whose wheel must be there);
    pip's own wheel, if present, is installed too, so the new release can install the next."""
    try:
        key = load_pem_private_key(private_key.read_bytes(), password=None)
    except (OSError, ValueError) as err:
        raise BundleError(f"cannot read the signing key {private_key}: {err}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError(f"{private_key} is not an Ed25519 private key")
    found = sorted(wheels.glob("*.whl"))
    versions = {v for path in found if (v := wheel_version(path.name, package)) is not None}
    if len(versions) != 1:
        raise BundleError(
            f"{wheels} must hold exactly one wheel of {package}, found {len(versions)}"
        )
    (version,) = versions
    if not VERSION.fullmatch(version):
        raise BundleError(f"{version!r} cannot name a release slot")
    files = {}
    for path in found:
        if not WHEEL_MEMBER.fullmatch(f"{WHEELS}/{path.name}"):
            raise BundleError(f"{path.name} is not a wheel file name this format accepts")
        with path.open("rb") as handle:
            files[f"{WHEELS}/{path.name}"] = sha256_of(handle)
    requirements = [f"{package}=={version}"]
    if any(wheel_version(path.name, "pip") for path in found):
        requirements.append("pip")
    document = {
        "format": FORMAT,
        "version": version,
        "package": package,
        "requirements": requirements,
        "files": files,
    }
    manifest = json.dumps(document, indent=2, sort_keys=True).encode("utf-8") + b"\n"
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in ((MANIFEST, manifest), (SIGNATURE, key.sign(manifest))):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        for path in found:
            tar.add(path, arcname=f"{WHEELS}/{path.name}", recursive=False)
    tmp.replace(out)
    return BundleManifest(version, package, tuple(requirements), files)


def _opened(bundle: Path) -> IO[bytes]:
    try:
        return bundle.open("rb")
    except OSError as err:
        raise BundleError(f"cannot read {bundle} as an update bundle: {err}") from None


def verify_file(bundle: Path, public_key: Ed25519PublicKey) -> BundleManifest:
    """Check the whole of ``bundle`` against the pinned key, extracting nothing."""
    with _opened(bundle) as handle:
        return verify(handle, public_key)


def open_verified(bundle: Path, public_key: Ed25519PublicKey, staging: Path) -> BundleManifest:
    """Check ``bundle`` against the pinned key and extract its wheels into ``staging/wheels``;
    BundleError (and nothing extracted that the caller should use) if any check fails."""
    with _opened(bundle) as handle, open_tar(handle) as tar:
        parsed, members = signed_members(tar, public_key)
        (staging / WHEELS).mkdir(parents=True, exist_ok=True)
        for name, expected in sorted(parsed.files.items()):
            with (staging / name).open("xb") as target:
                check_member(tar, members[name], expected, target)
    return parsed
