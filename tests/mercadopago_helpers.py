"""A till paying with Mercado Pago on its simulator over HTTP, on the Point device and by QR
(no tests here)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from http_helpers import serve
from tui_helpers import PROVIDER_POLL_S, till_with_printer

from appliance.services.till import Till
from bitagora_devtools.sim.mercadopago import DEFAULT_POS, DEFAULT_TERMINAL, MercadoPagoSim
from bitagora_devtools.sim.printer import PrinterSimulator


@asynccontextmanager
async def mercadopago_till(
    tmp_path: Path, token: str, **settings: str
) -> AsyncIterator[tuple[Till, PrinterSimulator, MercadoPagoSim]]:
    """A till set up for the simulator's Point device and QR till (polling fast), with the
    simulator taking ``token``; ``settings`` more BITAGORA_MERCADOPAGO_* values (``timeout_s``)."""
    sim = MercadoPagoSim(access_token=token)
    async with serve(sim.app()) as url:
        env = {
            "BITAGORA_MERCADOPAGO_ACCESS_TOKEN": token,
            "BITAGORA_MERCADOPAGO_POINT_TERMINAL_ID": DEFAULT_TERMINAL,
            "BITAGORA_MERCADOPAGO_QR_EXTERNAL_POS_ID": DEFAULT_POS,
            "BITAGORA_MERCADOPAGO_API_BASE": url,
            **{f"BITAGORA_MERCADOPAGO_{key.upper()}": value for key, value in settings.items()},
            "BITAGORA_MERCADOPAGO_POLL_S": str(PROVIDER_POLL_S),
        }
        async with till_with_printer(tmp_path, env) as (till, printer):
            yield till, printer, sim
