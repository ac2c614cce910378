"""RFC 9421 request signatures: signing, verification and each refusal code."""

from __future__ import annotations

import base64
import hashlib
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from starlette.datastructures import Headers

from bitagora_protocol.httpsig import (
    SignatureError,
    SignedBy,
    sign_request,
    signature_key_id,
    verify_request,
)

KEY = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()
PATH = "/api/v1/journal"
BODY = b'{"records":[]}'
NOW = 1_700_000_000


def _resolve(key_id: str) -> Ed25519PublicKey | None:
    return KEY.public_key() if key_id == "dev-a" else None


def _signed(
    key: Ed25519PrivateKey = KEY, key_id: str = "dev-a", body: bytes = BODY, created: int = NOW
) -> dict[str, str]:
    return sign_request(key, key_id, "POST", PATH, body, created=created, nonce="n-1")


def _code(method: str, path: str, headers: dict[str, str], body: bytes) -> str:
    with pytest.raises(SignatureError) as caught:
        verify_request(method, path, headers, body, _resolve)
    return caught.value.code


def test_round_trip_returns_signer_and_params() -> None:
    headers = _signed()
    assert set(headers) == {"Content-Digest", "Signature-Input", "Signature"}
    assert verify_request("POST", PATH, headers, BODY, _resolve) == SignedBy("dev-a", NOW, "n-1")


def test_headers_follow_rfc_9421_and_9530_by_hand() -> None:
    """Rebuild the signature base from the RFC text and check the signature independently."""
    headers = _signed()
    digest = base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    assert headers["Content-Digest"] == f"sha-256=:{digest}:"
    label, params = headers["Signature-Input"].split("=", 1)
    assert label == "sig1"
    assert params.startswith('("@method" "@path" "content-digest");')
    assert f"created={NOW}" in params and 'keyid="dev-a"' in params
    assert 'alg="ed25519"' in params and 'nonce="n-1"' in params
    base = (
        f'"@method": POST\n"@path": {PATH}\n"content-digest": sha-256=:{digest}:\n'
        f'"@signature-params": {params}'
    ).encode()
    assert headers["Signature"].startswith("sig1=:") and headers["Signature"].endswith(":")
    KEY.public_key().verify(base64.b64decode(headers["Signature"][6:-1]), base)


def test_lowercase_multi_line_headers_as_starlette_gives_them() -> None:
    raw = [(k.lower().encode(), v.encode()) for k, v in _signed().items()]
    raw.append((b"content-type", b"application/json"))
    headers = Headers(raw=raw)
    assert verify_request("POST", PATH, headers, BODY, _resolve).key_id == "dev-a"
    assert signature_key_id(headers) == "dev-a"


def test_missing_headers() -> None:
    headers = _signed()
    assert _code("POST", PATH, {}, BODY) == "missing_signature"
    without_sig = {k: v for k, v in headers.items() if k != "Signature"}
    assert _code("POST", PATH, without_sig, BODY) == "missing_signature"


def test_body_changed_or_digest_missing_is_bad_digest() -> None:
    headers = _signed()
    assert _code("POST", PATH, headers, BODY + b" ") == "bad_digest"
    no_digest = {k: v for k, v in headers.items() if k != "Content-Digest"}
    assert _code("POST", PATH, no_digest, BODY) == "bad_digest"


def test_digest_swapped_with_body_is_bad_signature() -> None:
    """Changing body and digest together still breaks the signature over the digest."""
    headers = _signed()
    other = b'{"records":[1]}'
    headers["Content-Digest"] = _signed(body=other)["Content-Digest"]
    assert _code("POST", PATH, headers, other) == "bad_signature"


def test_method_or_path_changed_is_bad_signature() -> None:
    headers = _signed()
    assert _code("POST", "/api/v1/heartbeat", headers, BODY) == "bad_signature"
    assert _code("PUT", PATH, headers, BODY) == "bad_signature"


def test_other_key_is_bad_signature_and_unknown_keyid_is_unknown_device() -> None:
    assert _code("POST", PATH, _signed(key=OTHER), BODY) == "bad_signature"
    assert _code("POST", PATH, _signed(key_id="dev-zzz"), BODY) == "unknown_device"


def test_nonce_and_covered_components_are_required() -> None:
    headers = _signed()
    # Drop the nonce from the signed parameters: the signature no longer matches, and even a
    # valid one without a nonce would be refused.
    headers["Signature-Input"] = headers["Signature-Input"].replace(';nonce="n-1"', "")
    assert _code("POST", PATH, headers, BODY) == "bad_signature"
    from http_message_signatures import HTTPMessageSigner
    from http_message_signatures.algorithms import ED25519

    from bitagora_protocol import httpsig

    class Msg:
        method = "POST"
        url = "https://x.invalid" + PATH
        headers: dict[str, str] = {}

    msg = Msg()
    msg.headers = {}
    signer = HTTPMessageSigner(signature_algorithm=ED25519, key_resolver=httpsig._PrivateKey(KEY))
    signer.sign(
        msg, key_id="dev-a", label="sig1", nonce="x", covered_component_ids=("@method",), body=BODY
    )  # covers the digest but not "@path"
    assert _code("POST", PATH, msg.headers, BODY) == "bad_signature"


def test_freshness_is_left_to_the_caller() -> None:
    """A signature from long ago still verifies here; central applies its window."""
    old = _signed(created=int(time.time()) - 86400 * 365)
    assert verify_request("POST", PATH, old, BODY, _resolve).created < time.time()


def test_signature_key_id_of_garbage_is_none() -> None:
    assert signature_key_id({}) is None
    assert signature_key_id({"Signature-Input": "(((("}) is None
    assert signature_key_id({"Signature-Input": 'a=();keyid="x", b=();keyid="y"'}) is None
