"""The node clients against the Core Lightning simulator: pyln-client over the real unix socket,
and clnrest over HTTP and HTTPS with a rune."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import bolt11
import pytest
from http_helpers import closed_port

from appliance.config import ConfigError, LightningSettings
from appliance.wallet.lightning import (
    ClnRestNode,
    InvoiceNotFound,
    InvoiceNotUnpaid,
    LabelExists,
    LightningNode,
    NodeUnreachable,
    RuneRefused,
    SocketNode,
    make_node,
    sale_label,
)
from bitagora_devtools.sim.lightning import LightningSim
from tests.lightning_helpers import RUNE, ln_sim, make_tls

__all__ = ["ln_sim"]


@pytest.fixture(params=["socket", "clnrest"])
async def node(
    request: pytest.FixtureRequest, ln_sim: tuple[LightningSim, Path]
) -> AsyncIterator[tuple[LightningSim, LightningNode]]:
    sim, path = ln_sim
    client: LightningNode
    if request.param == "socket":
        client = SocketNode(str(path), wait_chunk_s=1)
    else:
        port = await sim.start_rest()
        client = ClnRestNode(f"http://127.0.0.1:{port}", RUNE, wait_chunk_s=1)
    try:
        yield sim, client
    finally:
        await client.aclose()


async def test_getinfo(ln_sim: tuple[LightningSim, Path]) -> None:
    sim, path = ln_sim
    info = await SocketNode(str(path)).getinfo()
    assert info.node_id == sim.node_id
    assert info.network == "regtest"


async def test_invoice_is_a_real_bolt11(node: tuple[LightningSim, LightningNode]) -> None:
    sim, client = node
    before = int(time.time())
    inv = await client.invoice(1_234_567, sale_label("s1"), "BitAgora sale s1 — 2 items", 900)
    decoded = bolt11.decode(inv.bolt11, strict=True)
    assert inv.bolt11.startswith("lnbcrt")
    assert decoded.amount_msat == 1_234_567
    assert decoded.payment_hash == inv.payment_hash
    assert decoded.expiry == 900
    assert decoded.description == "BitAgora sale s1 — 2 items"
    assert decoded.payee == sim.node_id  # the signature recovers the node's key
    assert before <= decoded.date <= int(time.time())
    assert inv.expires_at == decoded.date + 900
    assert inv.label == "bitagora-s1"


async def test_label_exists(node: tuple[LightningSim, LightningNode]) -> None:
    _, client = node
    await client.invoice(1000, "bitagora-dup", "d", 60)
    with pytest.raises(LabelExists, match="bitagora-dup"):
        await client.invoice(1000, "bitagora-dup", "d", 60)


async def test_list_and_wait_any_resumes_from_pay_index(
    node: tuple[LightningSim, LightningNode],
) -> None:
    sim, client = node
    for name in ("a", "b", "c"):
        await client.invoice(1000, f"bitagora-{name}", name, 600)
    assert await client.list_invoice("bitagora-none") is None
    state = await client.list_invoice("bitagora-a")
    assert state is not None and state.status == "unpaid" and state.pay_index is None

    await sim.pay("bitagora-b")
    await sim.pay("bitagora-a", 1500)  # overpaid: the node reports what arrived
    first = await client.wait_any_invoice(0, timeout=5)
    assert first is not None and (first.label, first.pay_index) == ("bitagora-b", 1)
    second = await client.wait_any_invoice(first.pay_index, timeout=5)
    assert second is not None and second.label == "bitagora-a"
    assert (second.pay_index, second.amount_msat, second.amount_received_msat) == (2, 1000, 1500)
    state = await client.list_invoice("bitagora-a")
    assert state is not None and state.status == "paid" and state.pay_index == 2

    # Nothing after pay_index 2 yet: the wait ends empty after its timeout.
    assert await client.wait_any_invoice(2, timeout=1) is None

    # A payment made while someone waits wakes the waiter.
    waiter = asyncio.create_task(client.wait_any_invoice(2, timeout=30))
    await sim.pay("bitagora-c")
    third = await asyncio.wait_for(waiter, 10)
    assert third is not None and (third.label, third.pay_index) == ("bitagora-c", 3)


async def test_wait_is_cancellable(node: tuple[LightningSim, LightningNode]) -> None:
    _, client = node
    waiter = asyncio.create_task(client.wait_any_invoice(0, timeout=600))
    await asyncio.sleep(0)  # let it start its first call
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiter, 5)


async def test_delete_unpaid(node: tuple[LightningSim, LightningNode]) -> None:
    sim, client = node
    await client.invoice(1000, "bitagora-del", "d", 600)
    await client.delete_unpaid("bitagora-del")
    assert await client.list_invoice("bitagora-del") is None
    with pytest.raises(InvoiceNotFound):
        await client.delete_unpaid("bitagora-del")

    await client.invoice(1000, "bitagora-paid", "d", 600)
    await sim.pay("bitagora-paid")
    with pytest.raises(InvoiceNotUnpaid) as caught:
        await client.delete_unpaid("bitagora-paid")
    assert caught.value.status == "paid"
    state = await client.list_invoice("bitagora-paid")
    assert state is not None and state.status == "paid"

    await client.invoice(1000, "bitagora-old", "d", 600)
    sim.expire("bitagora-old")
    with pytest.raises(InvoiceNotUnpaid) as caught:
        await client.delete_unpaid("bitagora-old")
    assert caught.value.status == "expired"


async def test_node_down_is_a_clear_error(ln_sim: tuple[LightningSim, Path]) -> None:
    sim, path = ln_sim
    client = SocketNode(str(path))
    await sim.set_reachable(False)
    with pytest.raises(NodeUnreachable, match=f"no Lightning node at {path}"):
        await client.getinfo()
    await sim.set_reachable(True)
    assert (await client.getinfo()).node_id == sim.node_id


async def test_clnrest_down_is_a_clear_error() -> None:
    port = closed_port()
    client = ClnRestNode(f"http://127.0.0.1:{port}", RUNE)
    try:
        with pytest.raises(NodeUnreachable, match="cannot reach the Lightning node"):
            await client.getinfo()
    finally:
        await client.aclose()


async def test_rune_refused(ln_sim: tuple[LightningSim, Path]) -> None:
    sim, _ = ln_sim
    port = await sim.start_rest()
    wrong = ClnRestNode(f"http://127.0.0.1:{port}", "not-the-rune")
    right = ClnRestNode(f"http://127.0.0.1:{port}", RUNE)
    try:
        with pytest.raises(RuneRefused) as caught:
            await wrong.invoice(1000, "bitagora-x", "d", 60)
        assert "not-the-rune" not in str(caught.value)
        # The till's rune is restricted to the invoice methods: no getinfo, and no pay.
        with pytest.raises(RuneRefused, match="getinfo"):
            await right.getinfo()
        assert "not-the-rune" not in repr(wrong) and RUNE not in repr(right)
    finally:
        await wrong.aclose()
        await right.aclose()


async def test_clnrest_over_https_checks_the_ca(
    ln_sim: tuple[LightningSim, Path], tmp_path: Path
) -> None:
    sim, _ = ln_sim
    tls = make_tls(tmp_path)
    port = await sim.start_rest(tls=tls.server)
    settings = LightningSettings(
        kind="clnrest", url=f"https://127.0.0.1:{port}", rune=RUNE, ca_cert=str(tls.ca_cert)
    )
    settings.check()
    assert RUNE not in repr(settings)
    client = make_node(settings)
    assert client is not None
    try:
        inv = await client.invoice(2000, "bitagora-tls", "over TLS", 60)
        assert bolt11.decode(inv.bolt11).amount_msat == 2000
    finally:
        await client.aclose()
    # Without our CA the node's certificate is not trusted: no rune is sent to it.
    untrusting = ClnRestNode(f"https://127.0.0.1:{port}", RUNE)
    try:
        with pytest.raises(NodeUnreachable):
            await untrusting.invoice(2000, "bitagora-tls2", "x", 60)
    finally:
        await untrusting.aclose()
    assert "bitagora-tls2" not in sim.invoices


def test_settings_name_the_key() -> None:
    assert make_node(LightningSettings()) is None
    with pytest.raises(ConfigError, match="lightning.kind"):
        LightningSettings(kind="lnd").check()
    with pytest.raises(ConfigError, match="lightning.socket_path"):
        LightningSettings(kind="socket").check()
    with pytest.raises(ConfigError, match="lightning.url: plain http"):
        LightningSettings(kind="clnrest", url="http://node.lan:3010", rune="r").check()
    with pytest.raises(ConfigError, match="lightning.rune"):
        LightningSettings(kind="clnrest", url="https://node.lan:3010").check()
    with pytest.raises(ConfigError, match="lightning.ca_cert"):
        LightningSettings(
            kind="clnrest", url="https://node.lan:3010", rune="r", ca_cert="/nonexistent.pem"
        ).check()
    assert isinstance(make_node(LightningSettings(kind="socket", socket_path="/x/rpc")), SocketNode)


async def test_pyln_client_speaks_to_the_simulator_unmodified(
    ln_sim: tuple[LightningSim, Path],
) -> None:
    """The wire format itself: objects with no framing in, each answer ends with a blank line."""
    sim, path = ln_sim
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        # Two requests in one write, the second split across writes, as a stream may deliver.
        writer.write(b'{"jsonrpc":"2.0","id":1,"method":"getinfo","params":{}}{"jsonrpc":"2.0",')
        writer.write(b'"id":"x","method":"nosuch","params":[]}')
        await writer.drain()
        first = json.loads(await reader.readuntil(b"\n\n"))
        second = json.loads(await reader.readuntil(b"\n\n"))
        assert first["id"] == 1 and first["result"]["id"] == sim.node_id
        assert second["id"] == "x" and second["error"]["code"] == -32601
    finally:
        writer.close()
        await writer.wait_closed()


async def test_bitagora_sim_lightning_command() -> None:
    """`bitagora sim lightning --socket PATH` serves pyln-client until told to stop."""
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ln-") as folder:
        path = Path(folder) / "rpc"
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "appliance.cli",
            "sim",
            "lightning",
            "--socket",
            str(path),
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            banner = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
            assert f"JSON-RPC on {path}" in banner
            client = SocketNode(str(path))
            info = await client.getinfo()
            assert info.node_id in banner
            inv = await client.invoice(3000, "bitagora-cli", "from the command", 60)
            assert bolt11.decode(inv.bolt11).amount_msat == 3000
        finally:
            proc.terminate()
            assert await asyncio.wait_for(proc.wait(), 10) == 0
