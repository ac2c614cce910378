"""A remote action: one job ops ask a device to do (docs/PROTOCOL.md 2.7), signed by central.

Central serves ``{"action": A, "signature": S}`` where ``A`` is
``{"format": "bitagora-action/1", "id", "device_id", "kind", "parameters", "issued_at",
"expires_at"}`` (times in unix seconds, central's clock) and ``S`` central's signature over it
(``central_signature``, the key the device pinned at enrollment). The device id, the action id
and the expiry are inside the signed bytes: an action cannot be sent to another device, and a
device that runs each id once and none after its expiry cannot be made to run it again later.

``verify`` checks the signature first, then every field, then the device and the expiry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bitagora_protocol import central_signature
from bitagora_protocol.central_signature import SignedObjectError

FORMAT = "bitagora-action/1"
# What each kind is, and who runs it on the device: the uplink (no device needed) or the kiosk
# (it owns the printer and the drawer).
UPLINK_KINDS = ("doctor", "logs")
KIOSK_KINDS = ("test_print", "drawer_test", "restart")
KINDS = UPLINK_KINDS + KIOSK_KINDS
MAX_LOG_LINES = 1000
DEFAULT_LOG_LINES = 200
FIELDS = frozenset({"device_id", "expires_at", "format", "id", "issued_at", "kind", "parameters"})
# A result's state as the device reports it.
RESULT_STATES = ("done", "failed")


class ActionRefused(SignedObjectError):
    """An action the device must not run: forged, malformed, for another device, or expired."""


@dataclass(frozen=True)
class RemoteAction:
    id: int
    device_id: str
    kind: str
    parameters: dict[str, Any]
    issued_at: int
    expires_at: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "id": self.id,
            "device_id": self.device_id,
            "kind": self.kind,
            "parameters": dict(self.parameters),
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
        }


def check_parameters(kind: str, parameters: Any) -> dict[str, Any]:
    """``parameters`` of a ``kind``, checked (``logs``: ``{"lines": 1..MAX_LOG_LINES}``, the
    others ``{}``); ``ActionRefused`` names what is wrong."""
    if kind not in KINDS:
        raise ActionRefused(f"kind {kind!r} is not one of {list(KINDS)}")
    if not isinstance(parameters, dict):
        raise ActionRefused("parameters must be an object")
    expected = {"lines"} if kind == "logs" else set()
    if set(parameters) != expected:
        raise ActionRefused(f"parameters of {kind} must have exactly {sorted(expected)}")
    if kind == "logs":
        lines = parameters["lines"]
        if not isinstance(lines, int) or isinstance(lines, bool) or not 1 <= lines <= MAX_LOG_LINES:
            raise ActionRefused(f"parameters.lines must be 1..{MAX_LOG_LINES}")
    return dict(parameters)


def sign(key: Ed25519PrivateKey, action: RemoteAction) -> dict[str, Any]:
    """The signed form ``{"action", "signature"}`` central serves."""
    body = action.to_dict()
    return {"action": body, "signature": central_signature.signature_of(key, body)}


def verify(signed: Any, pinned_key: bytes, device_id: str, now: float) -> RemoteAction:
    """The action in ``signed`` (its parsed JSON) if central's pinned key signed it for
    ``device_id`` and it has not expired at ``now`` (central's clock as the device knows it);
    ``ActionRefused`` (or ``SignatureMismatch``) otherwise."""
    if not isinstance(signed, dict) or set(signed) != {"action", "signature"}:
        raise ActionRefused("not a signed action: expected exactly 'action' and 'signature'")
    body = signed["action"]
    if not isinstance(body, dict):
        raise ActionRefused("'action' must be an object")
    central_signature.check(signed["signature"], body, pinned_key, "action")
    action = read(body)
    if action.device_id != device_id:
        raise ActionRefused(f"action {action.id} is for {action.device_id}, not {device_id}")
    if action.expires_at <= now:
        raise ActionRefused(f"action {action.id} expired at {action.expires_at}")
    return action


def read(body: Mapping[str, Any]) -> RemoteAction:
    if set(body) != FIELDS:
        missing, extra = sorted(FIELDS - set(body)), sorted(set(body) - FIELDS)
        raise ActionRefused(f"action: missing {missing}, unexpected {extra}")
    if body["format"] != FORMAT:
        raise ActionRefused(f"format must be {FORMAT!r}")
    numbers = {name: body[name] for name in ("id", "issued_at", "expires_at")}
    for name, value in numbers.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ActionRefused(f"{name} must be a positive integer")
    device_id, kind = body["device_id"], body["kind"]
    if not isinstance(device_id, str) or not device_id:
        raise ActionRefused("device_id must be a non-empty string")
    if not isinstance(kind, str):
        raise ActionRefused("kind must be a string")
    return RemoteAction(
        numbers["id"],
        device_id,
        kind,
        check_parameters(kind, body["parameters"]),
        numbers["issued_at"],
        numbers["expires_at"],
    )
