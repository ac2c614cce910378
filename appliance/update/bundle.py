"""Signed update bundles: a tar of wheels, a manifest of their hashes, an Ed25519 signature.

Layout of the tar (uncompressed: wheels are zip files already)::

    manifest.json   {"format": "bitagora-update/1", "version": "0.2.0",
                     "package": "bitagora-appliance",
                     "requirements": ["bitagora-appliance==0.2.0", "pip"],
                     "files": {"wheels/<name>.whl": "<sha256 hex>", ...}}
    manifest.sig    64 bytes: Ed25519 over the exact bytes of manifest.json
    wheels/*.whl    the release and every dependency, so pip installs with --no-index

A device checks the signature with its pinned public key first, then extracts only the files the
signed manifest lists, hashing each on the way; anything else in the tar, a missing file or a hash
that differs refuses the bundle before anything is installed. Members are read as data and
written under names we build, so a tar's own paths (``../``, links) never reach the disk.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

FORMAT = "bitagora-update/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
WHEELS = "wheels"
MAX_MANIFEST_BYTES = 1 << 20
# A version names a directory (releases/<version>), so it may not hold a path separator.
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_-]{0,63}")
WHEEL_MEMBER = re.compile(r"wheels/[A-Za-z0-9][A-Za-z0-9._+-]*\.whl")
_CHUNK = 1 << 20


class BundleError(RuntimeError):
    """The bundle cannot be built, or cannot be trusted; the message says why."""


@dataclass(frozen=True)
class BundleManifest:
    version: str
    package: str
    requirements: tuple[str, ...]
    files: dict[str, str]


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


def _sha256(handle: IO[bytes], copy_to: IO[bytes] | None = None) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(_CHUNK):
        digest.update(chunk)
        if copy_to is not None:
            copy_to.write(chunk)
    return digest.hexdigest()


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
            files[f"{WHEELS}/{path.name}"] = _sha256(handle)
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


def _parse(manifest: bytes) -> BundleManifest:
    try:
        data: Any = json.loads(manifest)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleError(f"the signed manifest is not JSON: {err}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BundleError(f"the bundle is not in the {FORMAT} format")
    version, package = data.get("version"), data.get("package")
    requirements, files = data.get("requirements"), data.get("files")
    if not isinstance(version, str) or not VERSION.fullmatch(version):
        raise BundleError(f"the manifest's version {version!r} cannot name a release slot")
    if not isinstance(package, str) or not isinstance(requirements, list) or not requirements:
        raise BundleError("the manifest lacks its package or requirements")
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and WHEEL_MEMBER.fullmatch(k) and isinstance(v, str)
        for k, v in files.items()
    ):
        raise BundleError("the manifest's file list is not a map of wheels to hashes")
    return BundleManifest(version, package, tuple(str(r) for r in requirements), files)


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, limit: int) -> bytes:
    handle = tar.extractfile(member)
    if handle is None or member.size > limit:
        raise BundleError(f"{member.name} in the bundle is not a small regular file")
    return handle.read()


def open_verified(bundle: Path, public_key: Ed25519PublicKey, staging: Path) -> BundleManifest:
    """Check ``bundle`` against the pinned key and extract its wheels into ``staging/wheels``;
    BundleError (and nothing extracted that the caller should use) if any check fails."""
    try:
        tar = tarfile.open(bundle, "r:*")
    except (OSError, tarfile.TarError) as err:
        raise BundleError(f"cannot read {bundle} as an update bundle: {err}") from None
    with tar:
        members: dict[str, tarfile.TarInfo] = {}
        for member in tar.getmembers():
            if not member.isfile() or member.name in members:
                raise BundleError(
                    f"{member.name} in the bundle is not a single regular file: refused"
                )
            members[member.name] = member
        if MANIFEST not in members or SIGNATURE not in members:
            raise BundleError(f"{bundle} has no {MANIFEST} and {SIGNATURE}: not a bundle")
        manifest = _read_member(tar, members.pop(MANIFEST), MAX_MANIFEST_BYTES)
        signature = _read_member(tar, members.pop(SIGNATURE), 1024)
        try:
            public_key.verify(signature, manifest)
        except InvalidSignature:
            raise BundleError(
                "the bundle's signature does not verify with the pinned release key: it was "
                "not signed by the release engineer, or its manifest was changed"
            ) from None
        parsed = _parse(manifest)
        unlisted = sorted(set(members) - set(parsed.files))
        missing = sorted(set(parsed.files) - set(members))
        if unlisted or missing:
            raise BundleError(
                f"the bundle's files differ from its signed manifest (not listed: {unlisted}, "
                f"missing: {missing})"
            )
        (staging / WHEELS).mkdir(parents=True, exist_ok=True)
        for name, expected in sorted(parsed.files.items()):
            source = tar.extractfile(members[name])
            assert source is not None  # isfile() was checked above
            with (staging / name).open("xb") as target:
                if _sha256(source, target) != expected:
                    raise BundleError(
                        f"{name} does not match its hash in the signed manifest: the bundle "
                        "was altered after it was signed"
                    )
    return parsed
