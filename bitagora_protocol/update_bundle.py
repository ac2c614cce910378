"""The signed update bundle's format, read the same way by a device and by central.

A bundle is an uncompressed tar (wheels are zip files already)::

    manifest.json   {"format": "bitagora-update/1", "version": "0.2.0",
                     "package": "bitagora-appliance",
                     "requirements": ["bitagora-appliance==0.2.0", "pip"],
                     "files": {"wheels/<name>.whl": "<sha256 hex>", ...}}
    manifest.sig    64 bytes: Ed25519 over the exact bytes of manifest.json
    wheels/*.whl    the release and every dependency, so pip installs with --no-index

``signed_members`` checks the signature with the release key first, then that the tar holds
exactly the files the signed manifest lists; ``verify`` also hashes each of them. A device
extracts while hashing (appliance/update/bundle.py); central only verifies an upload. Files
are the caller's to open: this module reads what it is given.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from dataclasses import dataclass
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

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


def sha256_of(handle: IO[bytes], copy_to: IO[bytes] | None = None) -> str:
    """The SHA-256 (hex) of what ``handle`` holds, copied on the way to ``copy_to`` if given."""
    digest = hashlib.sha256()
    while chunk := handle.read(_CHUNK):
        digest.update(chunk)
        if copy_to is not None:
            copy_to.write(chunk)
    return digest.hexdigest()


def parse_manifest(manifest: bytes) -> BundleManifest:
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


def signed_members(
    tar: tarfile.TarFile, public_key: Ed25519PublicKey
) -> tuple[BundleManifest, dict[str, tarfile.TarInfo]]:
    """The signed manifest and the tar's wheel members (exactly those it lists, not yet
    hashed); BundleError if the signature or the list of files is wrong."""
    members: dict[str, tarfile.TarInfo] = {}
    for member in tar.getmembers():
        if not member.isfile() or member.name in members:
            raise BundleError(f"{member.name} in the bundle is not a single regular file: refused")
        members[member.name] = member
    if MANIFEST not in members or SIGNATURE not in members:
        raise BundleError(f"the bundle has no {MANIFEST} and {SIGNATURE}: not a bundle")
    manifest = _read_member(tar, members.pop(MANIFEST), MAX_MANIFEST_BYTES)
    signature = _read_member(tar, members.pop(SIGNATURE), 1024)
    try:
        public_key.verify(signature, manifest)
    except InvalidSignature:
        raise BundleError(
            "the bundle's signature does not verify with the pinned release key: it was not "
            "signed by the release engineer, or its manifest was changed"
        ) from None
    parsed = parse_manifest(manifest)
    unlisted = sorted(set(members) - set(parsed.files))
    missing = sorted(set(parsed.files) - set(members))
    if unlisted or missing:
        raise BundleError(
            f"the bundle's files differ from its signed manifest (not listed: {unlisted}, "
            f"missing: {missing})"
        )
    return parsed, members


def check_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, expected: str, copy_to: IO[bytes] | None = None
) -> None:
    """Hash one listed member (copying it to ``copy_to``); BundleError if it differs."""
    source = tar.extractfile(member)
    if source is None or sha256_of(source, copy_to) != expected:
        raise BundleError(
            f"{member.name} does not match its hash in the signed manifest: the bundle was "
            "altered after it was signed"
        )


def open_tar(source: IO[bytes]) -> tarfile.TarFile:
    """The tar in ``source`` (a file the caller opened, or bytes in memory)."""
    try:
        return tarfile.open(fileobj=source, mode="r:*")
    except (OSError, tarfile.TarError) as err:
        raise BundleError(f"cannot read an update bundle: {err}") from None


def verify(source: IO[bytes], public_key: Ed25519PublicKey) -> BundleManifest:
    """Check a whole bundle against ``public_key`` without writing anything."""
    with open_tar(source) as tar:
        manifest, members = signed_members(tar, public_key)
        for name, expected in sorted(manifest.files.items()):
            check_member(tar, members[name], expected)
    return manifest
