"""Central serves a device's journal in the export format, and it verifies independently."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from central_helpers import log_in

from appliance.store.export import verify_export
from bitagora_protocol.journal import JournalError

if TYPE_CHECKING:
    from conftest import CentralTestServer, SimDevice


async def test_device_journal_export_needs_login_and_verifies(
    central_server: CentralTestServer, make_device: Callable[[], SimDevice], tmp_path: Path
) -> None:
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as client:
        shop = make_device()
        await shop.enroll(client, await central_server.make_code("Export shop"))
        for minor in (120, 340, 560):
            shop.sale(minor)
        assert (await shop.push(client)).json() == {"held_seq": 3}
        assert (await shop.heartbeat(client)).status_code == 200  # central keeps its head
        path = f"/devices/{shop.device_id}/journal.jsonl"

        assert (await client.get(path)).status_code == 303  # logged out
        login = await log_in(client, central_server.ops_user, central_server.ops_password)
        assert login.status_code == 303
        assert (await client.get("/devices/dev-unknown/journal.jsonl")).status_code == 404
        response = await client.get(path)
        assert response.status_code == 200
        export = tmp_path / "central.jsonl"
        export.write_bytes(response.content)
        result = verify_export(export)
        assert (result.device_id, result.count) == (shop.device_id, 3)
        assert result.last_hash == shop.records[-1].hash

        # The device signs a head at seq 4 before central has record 4: central's copy is
        # now provably short, and an auditor says so rather than "OK: 3 records".
        shop.sale(780)
        assert (await shop.heartbeat(client)).status_code == 200
        export.write_bytes((await client.get(path)).content)
    with pytest.raises(JournalError) as short:
        verify_export(export)
    assert short.value.seq == 4 and "signed head names seq 4" in short.value.reason
