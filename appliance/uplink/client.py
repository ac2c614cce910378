"""The device's HTTP client for central: enrollment, signed journal pushes, heartbeats, the
configuration document (a conditional GET), remote actions (fetched, results posted) and
staged updates (offer, bundle, report).

Every answer other than success becomes an exception of a small hierarchy, so the daemon decides
what to do from the type alone:

- ``Transient``: ``Unreachable`` (network errors, timeouts: no answer) or ``ServerFailed`` (408,
  429, 5xx: an answer that says "not now"); ``retry_after`` from ``Retry-After``.
- ``Rejected`` (central understood and refused): ``GapRejected``, ``ForkRejected``,
  ``ChainRejected``, ``AuthRejected``, ``EnrollmentRejected``, ``TooLarge``, and plain
  ``Rejected`` for anything else (400 malformed or invalid_value, 404, an unexpected answer).

A Raspberry Pi has no battery clock, so the signature's ``created`` may be far off until NTP has
synchronised. On a 401 ``clock_skew`` the client adopts central's ``server_time`` as an offset,
signs the request again once, and keeps the offset for later requests.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from appliance import __version__
from appliance.store.identity import DeviceIdentity
from appliance.store.journal import WireRecord
from bitagora_protocol.httpsig import sign_request

log = logging.getLogger(__name__)

ENROLL_PATH = "/api/v1/enroll"
JOURNAL_PATH = "/api/v1/journal"
HEARTBEAT_PATH = "/api/v1/heartbeat"
_HEX64 = re.compile(r"[0-9a-f]{64}")
CONFIG_PATH = "/api/v1/config"
ACTIONS_PATH = "/api/v1/actions"
UPDATE_PATH = "/api/v1/update"
UPDATE_BUNDLE_PATH = "/api/v1/update/bundle"
UPDATE_REPORT_PATH = "/api/v1/update/report"


@dataclass(frozen=True)
class Enrollment:
    """What central answered: ``central_key`` (64 hex) signs the configuration documents and is
    pinned with the enrollment."""

    device_id: str
    merchant: str
    merchant_id: int
    central_key: str


@dataclass(frozen=True)
class FetchedConfig:
    """A configuration document as central served it (decompressed), with its ``etag``;
    ``wire_bytes`` is what came over the network (gzip-compressed when central compressed it)."""

    etag: str | None
    body: bytes
    wire_bytes: int


class UplinkError(Exception):
    """Anything that kept a request to central from succeeding."""


class Transient(UplinkError):
    """Worth retrying later: central unreachable, overloaded or failing (``retry_after`` in s)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unreachable(Transient):
    """No answer came: the connection failed, dropped or timed out."""


class ServerFailed(Transient):
    """Central answered, but with 408, 429 or a 5xx: it could not serve the request now."""


# What each network failure means, in words: httpx's own messages are often empty.
NETWORK_FAILURES: tuple[tuple[type[httpx.HTTPError], str], ...] = (
    (httpx.ConnectTimeout, "no connection within the timeout"),
    (httpx.ConnectError, "could not connect (refused, no route, or the name does not resolve)"),
    (httpx.ReadTimeout, "no answer within the timeout"),
    (httpx.WriteTimeout, "could not send the request within the timeout"),
    (httpx.PoolTimeout, "no free connection within the timeout"),
    (httpx.ReadError, "the connection broke while waiting for the answer"),
    (httpx.WriteError, "the connection broke while sending the request"),
    (httpx.RemoteProtocolError, "the connection was closed without a valid answer"),
)


def describe_network_failure(err: httpx.HTTPError) -> str:
    """``err`` in words, with the operating system's reason where there is one."""
    words = next((w for kind, w in NETWORK_FAILURES if isinstance(err, kind)), "network error")
    cause = err.__cause__ or err.__context__
    detail = str(err) or (f"{type(cause).__name__}: {cause}" if cause is not None else "")
    return f"{words} ({type(err).__name__}{': ' + detail if detail else ''})"


class Rejected(UplinkError):
    """Central answered and refused; ``error`` is its machine-readable code."""

    def __init__(self, status: int, error: str, payload: Mapping[str, Any] | None = None) -> None:
        self.status = status
        self.error = error
        self.payload: Mapping[str, Any] = payload or {}
        detail = {k: v for k, v in self.payload.items() if k != "error"}
        super().__init__(f"HTTP {status} {error}" + (f" {detail}" if detail else ""))


class GapRejected(Rejected):
    """Central holds up to ``held_seq`` and wants ``expected_seq`` next."""

    def __init__(self, status: int, payload: Mapping[str, Any]) -> None:
        super().__init__(status, "gap", payload)
        self.expected_seq = _int_field(payload, "expected_seq", status)
        held = _optional_int(payload, "held_seq")
        self.held_seq = held if held is not None else self.expected_seq - 1


class ForkRejected(Rejected):
    """Central holds a different record for ``seq``: the chains diverged."""

    def __init__(self, status: int, payload: Mapping[str, Any]) -> None:
        super().__init__(status, "fork", payload)
        self.seq = _int_field(payload, "seq", status)
        self.held_seq = _optional_int(payload, "held_seq")


class ChainRejected(Rejected):
    """Record ``seq`` does not verify (hash, signature or link to the held chain)."""

    def __init__(self, status: int, payload: Mapping[str, Any]) -> None:
        super().__init__(status, "invalid_chain", payload)
        self.seq = _optional_int(payload, "seq")
        reason = payload.get("reason")
        self.reason = reason if isinstance(reason, str) else "unspecified"


class AuthRejected(Rejected):
    """401: ``code`` is bad_signature, unknown_device, replay, clock_skew, missing_signature, ..."""

    def __init__(self, status: int, payload: Mapping[str, Any]) -> None:
        code = payload.get("error")
        self.code = code if isinstance(code, str) else "unauthorized"
        super().__init__(status, self.code, payload)
        self.server_time = _optional_int(payload, "server_time")


class EnrollmentRejected(Rejected):
    """The enrollment code is ``unknown``, ``used`` or ``expired``."""

    def __init__(self, status: int, payload: Mapping[str, Any]) -> None:
        super().__init__(status, "enrollment_code_invalid", payload)
        reason = payload.get("reason")
        self.reason = reason if isinstance(reason, str) else "unknown"


class TooLarge(Rejected):
    """413: the batch's body is over central's limit; send fewer records at a time."""


def _int_field(payload: Mapping[str, Any], name: str, status: int) -> int:
    value = payload.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise Rejected(status, "bad_response", {"reason": f"{name} missing or not an integer"})
    return value


def _optional_int(payload: Mapping[str, Any], name: str) -> int | None:
    value = payload.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_retry_after(value: str | None, date: str | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date).

    An HTTP date is measured against the response's own ``Date`` when there is one, so a device
    whose clock is wrong still waits the intended time.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
        reference = parsedate_to_datetime(date) if date else datetime.now(UTC)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=UTC)
    return max(0.0, (when - reference).total_seconds())


def _payload(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def error_for(response: httpx.Response, path: str = "") -> UplinkError:
    """The exception that describes a non-success answer (to a request for ``path``)."""
    status = response.status_code
    payload = _payload(response)
    error = payload.get("error")
    if status in (408, 429) or status >= 500:
        retry_after = parse_retry_after(
            response.headers.get("retry-after"), response.headers.get("date")
        )
        where = f" to {path}" if path else ""
        code = f" ({error})" if isinstance(error, str) else ""
        phrase = f" {response.reason_phrase}" if response.reason_phrase else ""
        return ServerFailed(f"central answered HTTP {status}{phrase}{where}{code}", retry_after)
    try:
        if status == 401:
            return AuthRejected(status, payload)
        if status == 409 and error == "gap":
            return GapRejected(status, payload)
        if status == 409 and error == "fork":
            return ForkRejected(status, payload)
        if status == 422 and error == "invalid_chain":
            return ChainRejected(status, payload)
        if status == 403 and error == "enrollment_code_invalid":
            return EnrollmentRejected(status, payload)
    except Rejected as unexpected:  # a recognised error with a field missing
        return unexpected
    if status == 413:
        return TooLarge(status, "too_large", payload)
    return Rejected(status, error if isinstance(error, str) else f"http_{status}", payload)


class CentralClient:
    """Talks to one central; ``http`` is owned by the caller (tests point it at a local server)."""

    def __init__(
        self,
        base_url: str,
        identity: DeviceIdentity,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.identity = identity
        self.http = http
        self._clock = clock
        # central's time minus ours, learned from a clock_skew answer; kept for later requests.
        self.clock_offset_s = 0.0
        self.last_server_time: int | None = None
        # The last heartbeat's answer said remote actions wait for this device.
        self.actions_waiting = False

    def now(self) -> float:
        """Our best idea of central's clock (seconds since the epoch)."""
        return self._clock() + self.clock_offset_s

    async def enroll(self, code: str, version: str = __version__) -> Enrollment:
        """Redeem a one-time enrollment code for this device's public key; the request is
        signed with that key, which proves to central that this device holds it."""
        body = _encode(
            {"code": code, "public_key": self.identity.public_key_hex, "version": version}
        )
        headers = {"Content-Type": "application/json"}
        response = await self._signed("POST", ENROLL_PATH, body, headers, ok=(201,))
        data = _payload(response)
        device_id, merchant = data.get("device_id"), data.get("merchant")
        merchant_id, central_key = data.get("merchant_id"), data.get("central_key")
        if (
            not isinstance(device_id, str)
            or not isinstance(merchant, str)
            or not isinstance(merchant_id, int)
            or not isinstance(central_key, str)
            or not _HEX64.fullmatch(central_key)
        ):
            raise Rejected(
                response.status_code,
                "bad_response",
                {
                    "reason": "enrollment answer lacks device_id, merchant, merchant_id or "
                    "central_key (64 lowercase hex)"
                },
            )
        if device_id != self.identity.device_id:
            raise Rejected(
                response.status_code,
                "bad_response",
                {
                    "reason": f"central named this device {device_id}, "
                    f"but its key makes it {self.identity.device_id}"
                },
            )
        return Enrollment(device_id, merchant, merchant_id, central_key)

    async def push(self, records: Sequence[WireRecord]) -> int:
        """Send a contiguous run of records (their JSON as stored, store.journal.wire_record);
        return the highest seq central holds."""
        body = '{"records":[' + ",".join(record.json for record in records) + "]}"
        response = await self._signed_post(JOURNAL_PATH, body.encode("utf-8"))
        return _int_field(_payload(response), "held_seq", response.status_code)

    async def heartbeat(self, payload: Mapping[str, Any]) -> int:
        """Report status; return the highest seq central holds."""
        response = await self._signed_post(HEARTBEAT_PATH, payload)
        data = _payload(response)
        server_time = _optional_int(data, "server_time")
        if server_time is not None:
            self.last_server_time = server_time
        self.actions_waiting = data.get("actions") is True
        return _int_field(data, "held_seq", response.status_code)

    async def fetch_actions(self) -> list[Any]:
        """The signed remote actions central holds for this device (each still to verify)."""
        response = await self._signed("GET", ACTIONS_PATH, b"", {}, ok=(200,))
        actions = _payload(response).get("actions")
        if not isinstance(actions, list):
            raise Rejected(response.status_code, "bad_response", {"reason": "no actions list"})
        return actions

    async def post_action_result(
        self, action_id: int, state: str, result: Mapping[str, Any]
    ) -> str:
        """Report what became of an action; return the state central holds for it (a repeated
        report is answered with the first one's)."""
        path = f"{ACTIONS_PATH}/{action_id}/result"
        response = await self._signed_post(path, {"state": state, "result": result})
        held = _payload(response).get("state")
        return held if isinstance(held, str) else state

    async def fetch_config(self, etag: str | None) -> FetchedConfig | None:
        """The configuration document, or None when central answers 304 (``etag`` is still
        current) or 404 (the merchant has no configuration yet, or central serves none)."""
        headers = {"Accept-Encoding": "gzip"}
        if etag is not None:
            headers["If-None-Match"] = etag
        response = await self._signed("GET", CONFIG_PATH, b"", headers, ok=(200, 304, 404))
        if response.status_code in (304, 404):
            return None
        wire = response.num_bytes_downloaded
        return FetchedConfig(response.headers.get("etag"), response.content, wire)

    async def fetch_update_offer(self, etag: str | None) -> tuple[dict[str, Any], str] | None:
        """The update central offers this device now with its ETag, or None (no offer: 204; or
        ``etag`` is still the offer's: 304)."""
        headers = {"If-None-Match": etag} if etag else {}
        response = await self._signed("GET", UPDATE_PATH, b"", headers, ok=(200, 204, 304))
        if response.status_code != 200:
            return None
        return _payload(response), response.headers.get("etag", "")

    async def download_bundle(self, target: Path) -> None:
        """Write the offered bundle's bytes to ``target`` (streamed: a bundle is tens of MB)."""
        response = await self._signed("GET", UPDATE_BUNDLE_PATH, b"", {}, ok=(200,), stream=True)
        try:
            with target.open("wb") as handle:
                async for chunk in response.aiter_bytes():
                    handle.write(chunk)
        except httpx.HTTPError as err:
            raise Unreachable(f"{self.base_url}{UPDATE_BUNDLE_PATH}: {err}") from err
        finally:
            await response.aclose()

    async def report_update(self, report: Mapping[str, Any]) -> None:
        await self._signed_post(UPDATE_REPORT_PATH, report)

    async def _signed_post(self, path: str, payload: Mapping[str, Any] | bytes) -> httpx.Response:
        """POST ``payload`` as JSON (bytes: encoded already)."""
        body = payload if isinstance(payload, bytes) else _encode(payload)
        headers = {"Content-Type": "application/json"}
        return await self._signed("POST", path, body, headers, ok=(200,))

    async def _signed(
        self,
        method: str,
        path: str,
        body: bytes,
        extra_headers: Mapping[str, str],
        ok: tuple[int, ...],
        *,
        stream: bool = False,
    ) -> httpx.Response:
        url = httpx.URL(self.base_url + path)
        signed_path = url.raw_path.decode("ascii")  # as central receives it, prefix included
        corrected = False
        while True:
            headers = sign_request(
                self.identity.private_key,
                self.identity.device_id,
                method,
                signed_path,
                body,
                created=int(self.now()),
                nonce=secrets.token_urlsafe(16),
            )
            headers.update(extra_headers)
            response = await self._send(method, path, body, headers, stream=stream)
            if response.status_code in ok:
                return response
            if stream:
                await response.aread()  # an error's body is small; read it to describe it
            error = error_for(response, path)
            if (
                isinstance(error, AuthRejected)
                and error.code == "clock_skew"
                and error.server_time is not None
                and not corrected
            ):
                previous = self.clock_offset_s
                self.clock_offset_s = error.server_time - self._clock()
                corrected = True
                log.warning(
                    "clock skew: central's time differs from ours by %+.0f s; signing with "
                    "central's time from now on",
                    self.clock_offset_s,
                    extra={"clock_offset_s": self.clock_offset_s, "previous_s": previous},
                )
                continue
            raise error

    async def _send(
        self, method: str, path: str, body: bytes, headers: dict[str, str], *, stream: bool = False
    ) -> httpx.Response:
        try:
            request = self.http.build_request(
                method, self.base_url + path, content=body or None, headers=headers
            )
            return await self.http.send(request, stream=stream)
        except httpx.HTTPError as err:
            failure = describe_network_failure(err)
            raise Unreachable(f"{self.base_url}{path}: {failure}") from err


def _encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
