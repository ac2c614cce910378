"""HTTP Message Signatures (RFC 9421) for device requests, Ed25519, pure (no I/O).

Every device request after enrollment carries three headers:

- ``Content-Digest: sha-256=:<base64 SHA-256 of the body>:`` (RFC 9530)
- ``Signature-Input: sig1=("@method" "@path" "content-digest");created=<unix>;keyid="<device id>";
  alg="ed25519";nonce="<random>"``
- ``Signature: sig1=:<base64 Ed25519 signature over the signature base>:``

The signature base is the RFC 9421 one, e.g.::

    "@method": POST
    "@path": /api/v1/journal
    "content-digest": sha-256=:...:
    "@signature-params": ("@method" "@path" "content-digest");created=...;keyid="...";alg=...

This module signs and checks the cryptography only. The freshness window of ``created``, an
``expires`` in the past and nonce replay are policy of the verifier (central), which owns a
clock and a nonce table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import http_sf
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from http_message_signatures import (
    ContentDigest,
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
)
from http_message_signatures.algorithms import ED25519

LABEL = "sig1"
COVERED_COMPONENTS = ("@method", "@path", "content-digest")
MAX_NONCE_LENGTH = 128
# The library needs an absolute URL; only "@path" is signed, so the authority is a placeholder.
_PLACEHOLDER_ORIGIN = "https://device.invalid"

ERROR_CODES = frozenset({"missing_signature", "bad_digest", "unknown_device", "bad_signature"})


class SignatureError(Exception):
    """A request whose signature headers are missing or do not verify.

    ``code`` is one of ``missing_signature``, ``bad_digest``, ``unknown_device``,
    ``bad_signature``; central answers 401 ``{"error": code}``.
    """

    def __init__(self, code: str, message: str) -> None:
        assert code in ERROR_CODES, code
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SignedBy:
    """Who signed a verified request, and the signed freshness parameters (``expires`` is
    None when the signer set none)."""

    key_id: str
    created: int
    nonce: str
    expires: int | None = None


@dataclass
class _Message:
    """The request view the library resolves components from."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


def _message(method: str, path: str, headers: dict[str, str]) -> _Message:
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/': {path!r}")
    return _Message(method.upper(), _PLACEHOLDER_ORIGIN + path, headers)


class _PrivateKey(HTTPSignatureKeyResolver):
    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key

    def resolve_private_key(self, key_id: str) -> Ed25519PrivateKey:
        return self._key


class _PublicKeys(HTTPSignatureKeyResolver):
    """Adapts ``resolve_key`` and remembers a miss, so it can be told apart from a bad signature."""

    def __init__(self, resolve_key: Callable[[str], Ed25519PublicKey | None]) -> None:
        self._resolve_key = resolve_key
        self.unknown_key_id: str | None = None

    def resolve_public_key(self, key_id: str) -> Ed25519PublicKey | None:
        key = self._resolve_key(key_id)
        if key is None:
            self.unknown_key_id = key_id
        return key


class _Verifier(HTTPMessageVerifier):
    # The freshness window is central's policy (it answers clock_skew with its time), so the
    # library's own 5-second future check must not pre-empt it.
    max_clock_skew = timedelta(days=36500)


def content_digest(body: bytes) -> str:
    """The RFC 9530 ``Content-Digest`` value (sha-256) of a body."""
    return str(ContentDigest.create(body))


def sign_request(
    key: Ed25519PrivateKey,
    key_id: str,
    method: str,
    path: str,
    body: bytes,
    *,
    created: int,
    nonce: str,
    expires: int | None = None,
) -> dict[str, str]:
    """Headers to add to a request: ``Content-Digest``, ``Signature-Input``, ``Signature``.

    ``path`` is the request path exactly as the server receives it (no scheme or host);
    ``expires`` (unix s), if given, is signed too and central refuses the request after it.
    """
    message = _message(method, path, {})
    signer = HTTPMessageSigner(signature_algorithm=ED25519, key_resolver=_PrivateKey(key))
    signer.sign(
        message,
        key_id=key_id,
        created=datetime.fromtimestamp(created, UTC),
        expires=None if expires is None else datetime.fromtimestamp(expires, UTC),
        nonce=nonce,
        label=LABEL,
        covered_component_ids=COVERED_COMPONENTS,
        body=body,
    )
    wanted = {
        "content-digest": "Content-Digest",
        "signature-input": "Signature-Input",
        "signature": "Signature",
    }
    return {
        wanted[name.lower()]: value
        for name, value in message.headers.items()
        if name.lower() in wanted
    }


def _combined(headers: Mapping[str, str]) -> dict[str, str]:
    # Repeated field lines combine with ", " (RFC 9110 5.3); a Starlette Headers object yields
    # every line from items(), a plain dict one per name.
    combined: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        combined[lower] = f"{combined[lower]}, {value}" if lower in combined else value
    return combined


def signature_key_id(headers: Mapping[str, str]) -> str | None:
    """The ``keyid`` named by the request's single signature, before any verification.

    Lets a verifier fetch the one key it needs (e.g. from a database) before calling
    ``verify_request``. ``None`` if the header is missing, malformed or ambiguous.
    """
    value = _combined(headers).get("signature-input")
    if value is None:
        return None
    try:
        parsed = http_sf.parse(value.encode("ascii"), tltype="dictionary")
    except (ValueError, TypeError, UnicodeEncodeError):
        return None
    if not isinstance(parsed, dict) or len(parsed) != 1:
        return None
    member = next(iter(parsed.values()))
    key_id = member[1].get("keyid") if isinstance(member, tuple) else None
    return key_id if isinstance(key_id, str) else None


def verify_request(
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    resolve_key: Callable[[str], Ed25519PublicKey | None],
) -> SignedBy:
    """Check a signed request; return its signer or raise ``SignatureError``.

    Requires exactly one signature covering "@method", "@path" and "content-digest", with
    ``created``, ``keyid`` and ``nonce``; ``alg`` if present must be ``ed25519``.
    """
    fields = _combined(headers)
    if "signature" not in fields or "signature-input" not in fields:
        raise SignatureError("missing_signature", "Signature and Signature-Input are required")
    digest = fields.get("content-digest")
    if digest is None:
        raise SignatureError("bad_digest", "Content-Digest is required")
    try:
        ContentDigest.verify(digest, body)
    except HTTPMessageSignaturesException as err:
        raise SignatureError("bad_digest", str(err)) from None

    keys = _PublicKeys(resolve_key)
    verifier = _Verifier(signature_algorithm=ED25519, key_resolver=keys)
    try:
        message = _message(method, path, fields)
        results = verifier.verify(
            message, max_age=None, require_components=COVERED_COMPONENTS, body=body
        )
    except (HTTPMessageSignaturesException, ValueError) as err:
        if keys.unknown_key_id is not None:
            raise SignatureError(
                "unknown_device", f"no key for keyid {keys.unknown_key_id!r}"
            ) from None
        raise SignatureError("bad_signature", str(err) or "signature does not verify") from None

    params = results[0].parameters
    key_id, created, nonce = params.get("keyid"), params.get("created"), params.get("nonce")
    if not isinstance(key_id, str) or not isinstance(created, int):
        raise SignatureError("bad_signature", "keyid and created are required")
    if not isinstance(nonce, str) or not 0 < len(nonce) <= MAX_NONCE_LENGTH:
        raise SignatureError(
            "bad_signature", f"a nonce of 1 to {MAX_NONCE_LENGTH} characters is required"
        )
    expires = params.get("expires")
    if expires is not None and (not isinstance(expires, int) or expires < created):
        raise SignatureError("bad_signature", "expires must be an integer not before created")
    return SignedBy(key_id=key_id, created=created, nonce=nonce, expires=expires)
