"""A device as central sees it, for tests and the fleet benchmark (bench/fleet.py): a real key,
a sealed journal and signed requests."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bitagora_protocol.chain_head import sign_head
from bitagora_protocol.httpsig import sign_request
from bitagora_protocol.journal import (
    Record,
    device_id_for,
    genesis_prev_hash,
    public_key_bytes,
    seal,
)


@dataclass
class SimDevice:
    """A device as central sees it: a key, a sealed journal and signed requests."""

    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    records: list[Record] = field(default_factory=list)

    @property
    def public_key_hex(self) -> str:
        return public_key_bytes(self.key.public_key()).hex()

    @property
    def device_id(self) -> str:
        return device_id_for(public_key_bytes(self.key.public_key()))

    def seal(
        self, kind: str = "sale", body: Mapping[str, Any] | None = None, at: str | None = None
    ) -> Record:
        """Append the next record of this device's chain (signed at ``at``, default now)."""
        prev = self.records[-1].hash if self.records else genesis_prev_hash(self.device_id)
        if body is None:
            body = {"total": {"minor": 1250, "currency": "EUR"}, "lines": []}
        record = seal(self.key, self.device_id, len(self.records) + 1, kind, body, prev, at)
        self.records.append(record)
        return record

    def sale(self, minor: int, currency: str = "EUR") -> Record:
        return self.seal("sale", {"total": {"minor": minor, "currency": currency}, "lines": []})

    def shop_sale(self, minor: int, currency: str = "EUR") -> Record:
        """A one-line cash sale with everything central's sales ledger takes in."""
        return self.seal(
            "sale",
            {
                "sale_id": secrets.token_hex(8),
                "currency": currency,
                "total": {"minor": minor, "currency": currency},
                "staff": {"id": "st-1", "name": "Ana"},
                "lines": [{"sku": "COF", "name": "Coffee", "quantity": 1, "amount": minor}],
                "payments": [{"method": "cash", "amount": minor}],
            },
        )

    def signed(
        self,
        path: str,
        body: bytes,
        *,
        created: int | None = None,
        nonce: str | None = None,
        method: str = "POST",
        expires: int | None = None,
    ) -> dict[str, str]:
        headers = sign_request(
            self.key,
            self.device_id,
            method,
            path,
            body,
            created=int(time.time()) if created is None else created,
            nonce=nonce or secrets.token_urlsafe(16),
            expires=expires,
        )
        return {**headers, "Content-Type": "application/json"}

    async def enroll(
        self, client: httpx.AsyncClient, code: str, version: str = "test-1.0"
    ) -> httpx.Response:
        """Enroll as a real device does: the request signed by the key it enrolls."""
        payload = {"code": code, "public_key": self.public_key_hex, "version": version}
        return await self.post(client, "/api/v1/enroll", payload)

    async def post(
        self, client: httpx.AsyncClient, path: str, payload: Any, **sign: Any
    ) -> httpx.Response:
        body = json.dumps(payload).encode("utf-8")
        return await client.post(path, content=body, headers=self.signed(path, body, **sign))

    def head(self) -> dict[str, Any]:
        """The chain head this device signs over its last record (genesis when it has none)."""
        last = self.records[-1] if self.records else None
        hash_ = last.hash if last else genesis_prev_hash(self.device_id)
        return sign_head(self.key, self.device_id, last.seq if last else 0, hash_).to_dict()

    async def heartbeat(self, client: httpx.AsyncClient, **fields: Any) -> httpx.Response:
        """A heartbeat as a device of this release sends it, head included; ``fields`` add to
        or replace its fields."""
        beat: dict[str, Any] = {
            "version": "test-1.0",
            "uptime_s": 60,
            "backlog": 0,
            "oldest_unsent_age_s": None,
            "last_seq": len(self.records),
            "head": self.head(),
            "printer": {"online": True, "paper": "ok"},
            "clock": int(time.time()),
        }
        return await self.post(client, "/api/v1/heartbeat", {**beat, **fields})

    async def push(
        self, client: httpx.AsyncClient, records: list[Record] | None = None, **sign: Any
    ) -> httpx.Response:
        batch = self.records if records is None else records
        return await self.post(
            client, "/api/v1/journal", {"records": [r.to_dict() for r in batch]}, **sign
        )
