"""``bitagora demo``: the whole path on one machine.

It starts the same processes a shop and its fleet run — central (on an embedded PostgreSQL), the
ESC/POS printer simulator, the bitcoin simulators (an Esplora API, a Core Lightning node on a unix
socket, the exchanges' rate tickers) and the uplink daemon — enrolls the demo device, and then
either shows the kiosk (interactive) or drives scripted sales and checks that central acknowledged
them and that the chain verifies on both sides (``--headless``). The headless run sells for cash
through the real kiosk app, then one sale paid by Lightning through the till's bitcoin payment
service (an offer, paid on the simulated node the way ``bitagora sim pay`` pays the sale on a
kiosk's screen).

Everything lives under one folder (``--data-dir``, default ./demo-data): ``device/`` (the device's
data directory), ``central/`` (central's data and PostgreSQL cluster), ``printer/`` (receipts),
``lightning/`` (the node's socket, unless the folder's path is too long for one) and ``logs/``.
The simulators start at the same time as central, so they add little to the start.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from appliance import bootstrap
from appliance.config import load_settings
from appliance.payments.bitcoin import PaymentUnavailable, Status
from appliance.services.till import SaleResult, Till
from appliance.store import lightning as ln_store
from appliance.store import outbox
from appliance.store.db import open_db
from appliance.store.export import VerifyResult, verify_database, verify_export
from bitagora_devtools.seed import seed_demo
from bitagora_devtools.sim.mercadopago import DEFAULT_POS as MERCADOPAGO_SIM_POS
from bitagora_devtools.sim.mercadopago import DEFAULT_TERMINAL as MERCADOPAGO_SIM_TERMINAL
from bitagora_devtools.sim.mercadopago import DEFAULT_TOKEN as MERCADOPAGO_SIM_TOKEN
from bitagora_devtools.sim.pay import PayError, pay_latest

DEFAULT_DEMO_DIR = Path("demo-data")
DEMO_OPS_PASSWORD = "demo-admin"
DEMO_PIN = "1234"  # Ana, cashier (bitagora_devtools.seed)
# What the rates simulator quotes a bitcoin at, by the demo shop's currency (others: EUR's).
DEMO_RATES = {"EUR": "61234.50", "BRL": "365000.00", "USD": "66000.00", "MXN": "1250000.00"}
START_TIMEOUT_S = 60.0
ACK_TIMEOUT_S = 60.0
PAY_TIMEOUT_S = 30.0
STILL_WAITING_S = 10.0  # how often the start says what it still waits for

# The demo shop's watch-only wallet: BIP84's test vector account (m/84'/0'/0' of the published
# "abandon … about" seed). Anyone can spend what is sent there, so it suits simulated payments
# and nothing else. Receive index 0 is bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu.
# The TRON account m/44'/195'/0' of the "abandon … about" test seed: watch-only.
TRON_XPUB = (
    "xpub6D1AabNHCupeiLM65ZR9UStMhJ1vCpyV4XbZdyhMZBiJXALQtmn9p42VTQckoHVn8WNqS7dqnJokZHAHcHGoaQgmv8"
    "D45oNUKx6DZMNZBCd"
)
BIP84_ZPUB = (
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf3"
    "1mGDtKsAYz2oz2AGutZYs"
)
# A unix socket's path must fit sun_path: 108 bytes on Linux, 104 on macOS and the BSDs, with the
# terminating NUL. A longer path cannot be bound at all.
SOCKET_PATH_MAX = 103


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which and why."""


def free_port(wanted: int = 0, what: str = "a port") -> int:
    """``wanted`` if it can be listened on (any free one for 0), else DemoError saying what to do.

    SO_REUSEADDR, as every server sets it (uvicorn does): without it, a port whose last
    connections are still in TIME_WAIT (a minute or so after the previous demo quit) looked
    taken when it is free."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", wanted))
            sock.listen()
        except OSError as err:
            raise DemoError(
                f"port {wanted} ({what}) is in use by another program ({err.strerror}): "
                "stop it first (another `bitagora demo` on the same folder? "
                f"`ss -ltnp 'sport = {wanted}'` names it), or start the demo with another "
                "--data-dir"
            ) from err
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Stored:
    """What an earlier run of this demo left in the device's store."""

    central_url: str | None  # where the device enrolled
    pay_index: int  # the Lightning count the till has seen (store.lightning.highest_pay_index)


async def stored(database: Path) -> Stored:
    """What this demo device kept from its earlier runs (nothing on the first).

    The simulated Lightning node forgets its invoices when it stops; it is told to count on from
    the stored ``pay_index``, as a real node that kept its database does (a count that starts
    again is taken too, but only noticed when a wait for the next settlement ends: up to 30 s
    late for the first payment)."""
    if not await asyncio.to_thread(database.is_file):
        return Stored(None, 0)
    conn = await open_db(database)
    try:
        central_url = await outbox.get_state(conn, "central_url")
        return Stored(central_url, await ln_store.highest_pay_index(conn))
    finally:
        await conn.close()


def central_port_for(central_url: str | None) -> int:
    """The port central had when this demo device enrolled: the device keeps talking to that URL."""
    port = httpx.URL(central_url).port if central_url else None
    what = "central's, where this demo's device enrolled"
    return free_port(port, what) if port else free_port()


def bitagora(*args: str) -> list[str]:
    return [sys.executable, "-m", "appliance.cli", *args]


@dataclass(frozen=True)
class Service:
    """A child process of the demo: ``ready`` is what its stdout says once it serves."""

    name: str
    argv: list[str]
    ready: str
    log: Path
    env: dict[str, str] = field(default_factory=dict)


@asynccontextmanager
async def service(
    name: str, argv: list[str], ready: str, log: Path, env: dict[str, str] | None = None
) -> AsyncIterator[str]:
    """Run a child process until the context ends; yield its first stdout line containing
    ``ready``. Its output goes to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as log_file:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=log_file,
            env={**os.environ, **(env or {})},
        )
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(_line_with(proc.stdout, ready, log_file), START_TIMEOUT_S)
        except (TimeoutError, EOFError):
            proc.kill()
            await proc.wait()
            raise DemoError(f"{name} did not start (exit {proc.returncode}); see {log}") from None
        except BaseException:  # cancelled while starting (another service failed, Ctrl-C)
            proc.kill()
            await proc.wait()
            raise
        # Keep draining stdout into the log so the child never blocks on a full pipe.
        drain = asyncio.create_task(_copy(proc.stdout, log_file))
        try:
            yield line
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 20)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            drain.cancel()
            await asyncio.gather(drain, return_exceptions=True)


Progress = Callable[[str], None]


def say(text: str) -> None:
    """A step of the demo's start, on the terminal (stderr: stdout is the headless summary)."""
    print(f"demo: {text}", file=sys.stderr, flush=True)


async def start_all(
    stack: AsyncExitStack, services: Sequence[Service], progress: Progress = say
) -> list[str]:
    """Start ``services`` at the same time (each is mostly waiting: for PostgreSQL, for Python to
    import); their ready lines in order, each said to ``progress`` as it comes. Each stops when
    ``stack`` closes; if one fails, the others that started stop with the stack too and the
    first failure is raised."""
    began = time.monotonic()
    waiting = {s.name for s in services}

    async def start(s: Service) -> str:
        line = await stack.enter_async_context(service(s.name, s.argv, s.ready, s.log, s.env))
        waiting.discard(s.name)
        progress(f"{s.name} ready ({time.monotonic() - began:.0f} s)")
        return line

    async def still_waiting() -> None:
        while True:
            await asyncio.sleep(STILL_WAITING_S)  # a display's pace, not a wait for a state
            if waiting:
                names = ", ".join(sorted(waiting))
                progress(f"still starting {names} ({time.monotonic() - began:.0f} s)")

    ticker = asyncio.create_task(still_waiting())
    try:
        results = await asyncio.gather(*(start(s) for s in services), return_exceptions=True)
    finally:
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [str(r) for r in results]


async def _line_with(stream: asyncio.StreamReader, marker: str, log_file: object) -> str:
    while True:
        raw = await stream.readline()
        if not raw:
            raise EOFError
        log_file.write(raw)  # type: ignore[attr-defined]
        text = raw.decode(errors="replace").strip()
        if marker in text:
            return text


async def _copy(stream: asyncio.StreamReader, log_file: object) -> None:
    while raw := await stream.readline():
        log_file.write(raw)  # type: ignore[attr-defined]
        log_file.flush()  # type: ignore[attr-defined]


def lightning_socket_path(root: Path, stack: AsyncExitStack) -> Path:
    """Where the Lightning simulator listens: in the demo folder when the path fits a unix
    socket, else in a fresh short-named temporary folder that ``stack`` removes at the end."""
    path = root / "lightning" / "lightning-rpc"
    if len(os.fsencode(path)) <= SOCKET_PATH_MAX:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
    folder = Path(tempfile.mkdtemp(prefix="bitagora-ln-"))
    stack.callback(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "lightning-rpc"
    if len(os.fsencode(path)) > SOCKET_PATH_MAX:
        raise DemoError(
            f"no short enough path for the Lightning socket ({path} is over "
            f"{SOCKET_PATH_MAX} bytes): set TMPDIR to a short folder such as /tmp"
        )
    return path


def _url_after(marker: str, line: str) -> str:
    """The http URL following ``marker`` in a simulator's ready line."""
    found = re.search(re.escape(marker) + r"\s*(http://\S+)", line)
    if found is None:
        raise DemoError(f"cannot find the URL in {line!r}")
    return found.group(1)


def _rates_base_urls(line: str) -> list[str]:
    """``[rates] base_urls`` from the rates simulator's ``BITAGORA_RATES_BASE_URLS='…'`` line."""
    name, _, value = shlex.split(line)[0].partition("=")
    if name != "BITAGORA_RATES_BASE_URLS" or not value:
        raise DemoError(f"unexpected line from the rates simulator: {line!r}")
    return value.split("|")


def _shown(path: Path) -> Path:
    """``path`` relative to the current folder when it is inside it (shorter to type)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _toml(value: Any) -> str:
    # JSON strings and arrays of strings are valid TOML basic strings and arrays.
    return json.dumps(value)


def device_config(
    *,
    printer_port: int,
    central_url: str,
    esplora_url: str,
    ln_socket: Path,
    rate_base_urls: list[str],
    mercadopago_url: str,
    trongrid_url: str | None = None,
    trongrid_key: str = "",
    data_dir: Path | None = None,
    language: str = "en",
    currency: str = "EUR",
) -> str:
    """The demo device's appliance.toml: a café that takes cash, on-chain, Lightning and
    Mercado Pago (Point and QR, on the simulator), and USDT on TRON when ``trongrid_url`` names
    the TronGrid simulator, in ``language`` and ``currency`` (``BITAGORA_DEVICE_LANGUAGE`` and
    ``_CURRENCY``)."""
    tron = (
        ""
        if trongrid_url is None
        else "\n# The simulated TronGrid (USDT on TRON). To pay the USDT sale on the screen:\n"
        f'#   curl -H \'content-type: application/json\' -d \'{{"address": "T…", '
        f'"units": N, "solid": true}}\' {trongrid_url}/_sim/pay\n'
        f"[tron]\nxpub = {_toml(TRON_XPUB)}  # a test seed's account: watch-only\n"
        f"trongrid_url = {_toml(trongrid_url)}\napi_key = {_toml(trongrid_key)}\npoll_s = 2\n"
    )
    where = shlex.quote(str(data_dir)) if data_dir is not None else "DEVICE_DIR"
    return (
        "# Written by `bitagora demo` on each start.\n"
        "#\n"
        "# To pay the bitcoin sale on the kiosk's screen (tap Pay bitcoin first), in another\n"
        "# terminal, from the repository's folder:\n"
        f"#   .venv/bin/bitagora sim pay --data-dir {where}            # its Lightning invoice\n"
        f"#   .venv/bin/bitagora sim pay --data-dir {where} --onchain  # its bitcoin address\n"
        "\n"
        '[device]\nmerchant_name = "BitAgora Demo Café"\n'
        'header_lines = ["Rua Augusta 1", "Lisboa"]\n'
        f"language = {_toml(language)}\ncurrency = {_toml(currency)}\n\n"
        f'[printer]\nhost = "127.0.0.1"\nport = {printer_port}\n\n'
        f'[uplink]\ncentral_url = "{central_url}"\nheartbeat_s = 5\nbackoff_max_s = 5\n\n'
        "# The simulated chain (`bitagora sim pay --onchain` pays through it). Below 100,000 sats\n"
        "# a payment that does not signal RBF is accepted unconfirmed; larger ones wait for a\n"
        f"# block: curl -d '{{\"blocks\": 1}}' {esplora_url}/_sim/mine\n"
        f"[onchain]\nwallet = {_toml(BIP84_ZPUB)}  # BIP84 test vector: watch-only\n"
        f'network = "mainnet"\nesplora_url = {_toml(esplora_url)}\n'
        "zero_conf_max_sats = 100000\npoll_s = 2\n\n"
        "# The simulated Lightning node (`bitagora sim pay` pays the sale's invoice on it).\n"
        f'[lightning]\nkind = "socket"\nsocket_path = {_toml(str(ln_socket))}\n\n'
        "# Every exchange's ticker is the rates simulator.\n"
        f"[rates]\nbase_urls = {_toml(rate_base_urls)}\n\n"
        "# The Mercado Pago simulator (its own test token, not a secret). The customer pays on\n"
        "# the simulated Point device or scans the QR as a test payer (APRO approves, FUND\n"
        "# is declined for insufficient funds, TIME lets the order expire):\n"
        f'#   curl -d \'{{"name": "APRO"}}\' {mercadopago_url}/_sim/point\n'
        f'#   curl -d \'{{"name": "APRO"}}\' {mercadopago_url}/_sim/qr\n'
        f"[mercadopago]\naccess_token = {_toml(MERCADOPAGO_SIM_TOKEN)}\n"
        f"point_terminal_id = {_toml(MERCADOPAGO_SIM_TERMINAL)}\n"
        f"qr_external_pos_id = {_toml(MERCADOPAGO_SIM_POS)}\n"
        f"api_base = {_toml(mercadopago_url)}\n" + tron
    )


async def _run(root: Path, headless: bool, sales: int, progress: Progress = say) -> str:
    device_dir, central_dir, printer_dir, logs = (
        root / "device",
        root / "central",
        root / "printer",
        root / "logs",
    )
    for folder in (device_dir, central_dir, printer_dir):
        folder.mkdir(parents=True, exist_ok=True)
    earlier = await stored(load_settings(device_dir, env={}).database_path)
    central_port, printer_port = central_port_for(earlier.central_url), free_port()
    central_url = f"http://127.0.0.1:{central_port}"
    ops_password = os.environ.get("BITAGORA_OPS_PASSWORD", DEMO_OPS_PASSWORD)
    # The shop's language and money, as a device takes them; the demo's rate for the currency.
    language = os.environ.get("BITAGORA_DEVICE_LANGUAGE", "en")
    currency = os.environ.get("BITAGORA_DEVICE_CURRENCY", "EUR")
    rate = DEMO_RATES.get(currency, DEMO_RATES["EUR"])

    trongrid_key = root / "trongrid.key"  # the simulator's API key, kept across starts
    async with AsyncExitStack() as stack:
        ln_socket = lightning_socket_path(root, stack)
        first = earlier.central_url is None
        progress(
            "starting PostgreSQL and central"
            + (" (the first start creates their database: up to a minute)" if first else "")
            + ", the printer and the bitcoin simulators; logs in "
            + str(logs)
        )
        lines = await start_all(
            stack,
            [
                Service(
                    "central",
                    bitagora(
                        "central", "--data-dir", str(central_dir), "--port", str(central_port)
                    ),
                    "central listening",
                    logs / "central.log",
                    env={"BITAGORA_OPS_PASSWORD": ops_password},
                ),
                Service(
                    "printer simulator",
                    bitagora(
                        "sim", "printer", "--port", str(printer_port), "--out", str(printer_dir)
                    ),
                    "listening",
                    logs / "printer.log",
                ),
                Service(
                    "Esplora simulator",
                    bitagora("sim", "esplora", "--port", "0", "--network", "mainnet"),
                    "esplora simulator on",
                    logs / "esplora.log",
                ),
                Service(
                    "Lightning simulator",
                    bitagora(
                        "sim",
                        "lightning",
                        "--socket",
                        str(ln_socket),
                        "--network",
                        "bitcoin",
                        "--pay-index",
                        str(earlier.pay_index),
                    ),
                    "JSON-RPC on",
                    logs / "lightning.log",
                ),
                Service(
                    "rates simulator",
                    bitagora("sim", "rates", "--port", "0", "--rate", f"{currency}={rate}"),
                    "BITAGORA_RATES_BASE_URLS=",
                    logs / "rates.log",
                ),
                Service(
                    "Mercado Pago simulator",
                    bitagora("sim", "mercadopago", "--port", "0"),
                    "mercadopago simulator on",
                    logs / "mercadopago.log",
                ),
                Service(
                    "TronGrid simulator",
                    bitagora("sim", "trongrid", "--port", "0", "--api-key-file", str(trongrid_key)),
                    "trongrid simulator on",
                    logs / "trongrid.log",
                ),
            ],
            progress,
        )
        esplora_url = _url_after("esplora simulator on", lines[2])
        trongrid_url = _url_after("trongrid simulator on", lines[6])
        (device_dir / "appliance.toml").write_text(
            device_config(
                printer_port=printer_port,
                central_url=central_url,
                esplora_url=esplora_url,
                ln_socket=ln_socket,
                rate_base_urls=_rates_base_urls(lines[4]),
                mercadopago_url=_url_after("mercadopago simulator on", lines[5]),
                trongrid_url=trongrid_url,
                trongrid_key=trongrid_key.read_text(encoding="utf-8").strip(),
                data_dir=_shown(device_dir),
                language=language,
                currency=currency,
            ),
            encoding="utf-8",
        )
        settings = load_settings(device_dir, env={})
        progress("opening the till" + (" and loading the demo catalog and staff" if first else ""))
        till = await bootstrap.open_till(settings)
        stack.push_async_callback(till.close)
        await seed_demo(till.conn, till.currency)
        await till.sales.record_catalog()  # a `catalog` record: the demo's sales name it
        if await outbox.get_state(till.conn, "device_id") is None:
            progress("enrolling the demo device with central")
            await _enroll(central_dir, device_dir)
        progress("starting the uplink")
        await stack.enter_async_context(
            service(
                "uplink",
                bitagora("uplink", "--data-dir", str(device_dir)),
                "uplink running",
                logs / "uplink.log",
            )
        )

        if not headless:
            from appliance.tui.app import KioskApp

            progress(f"opening the kiosk: PIN {DEMO_PIN} (Ana) or 9999 (Marco); Ctrl+Q quits")
            await KioskApp(till, quiet_gc=True).run_async()
            return (
                f"demo stopped; central dashboard was {central_url} (admin / {ops_password}), "
                f"receipts in {printer_dir}"
            )

        from bitagora_devtools.script import run_scripted_sales

        progress(
            f"selling {sales} scripted cash sale{'s' if sales != 1 else ''} and one by Lightning"
        )
        results = await run_scripted_sales(till, sales, DEMO_PIN)
        lightning = await lightning_sale(till)
        problems = [p for r in [*results, lightning] for p in r.problems]
        if problems:
            raise DemoError(f"sales committed but devices failed: {problems[0]}")
        progress("waiting for central to acknowledge every record, then checking both journals")
        await _wait_acknowledged(till)
        local = verify_database(settings.database_path)
        remote, held = await _verify_on_central(central_url, local.device_id, ops_password, root)
        if remote.last_hash != local.last_hash:
            raise DemoError("central's copy of the chain ends elsewhere than the device's")
        if not any(_paid_by_lightning(record, lightning.sale_id) for record in held):
            raise DemoError(f"central holds no Lightning sale {lightning.sale_id}")
        return (
            f"demo OK: {len(results)} cash sales and 1 Lightning sale; journal of "
            f"{local.device_id} verified on device ({local.count} records) and central "
            f"({remote.count}); receipts in {printer_dir}"
        )
    raise AssertionError("unreachable")


async def lightning_sale(till: Till) -> SaleResult:
    """The catalog's first product paid by Lightning through the till's payment service: the
    offer (rate lock, invoice), then the simulated node pays it, as a customer's wallet would."""
    payments = till.bitcoin
    if payments is None or "lightning" not in payments.rails:
        raise DemoError("the demo till has no Lightning payments (see device/appliance.toml)")
    staff = await till.access.unlock(DEMO_PIN)
    products = await till.sales.products()
    if not products:
        raise DemoError("the catalog is empty: nothing to sell")
    cart = await till.sales.start_cart()  # priced from the catalog version in force
    cart.add(products[0], 1)
    try:
        offer = await payments.offer(cart, staff)
    except PaymentUnavailable as err:
        raise DemoError(f"no Lightning offer: {err}") from None
    if offer.bolt11 is None:
        with suppress(Exception):
            await payments.cancel(offer.sale_id)
        raise DemoError(f"no Lightning invoice: {'; '.join(offer.notes)}")
    statuses: asyncio.Queue[Status] = asyncio.Queue()
    unsubscribe = till.watch_payment(offer.sale_id, statuses.put_nowait)
    try:
        # As a newcomer pays the sale on the screen (`bitagora sim pay`, the appliance.toml's
        # comments): the newest open checkout, on the node the settings name.
        try:
            paid = await pay_latest(till.settings)
        except PayError as err:
            raise DemoError(str(err)) from None
        if paid.sale_id != offer.sale_id:
            raise DemoError(f"`bitagora sim pay` paid sale {paid.sale_id}, not {offer.sale_id}")
        try:
            async with asyncio.timeout(PAY_TIMEOUT_S):
                while not (status := await statuses.get()).final:
                    pass
        except TimeoutError:
            raise DemoError(
                f"the Lightning payment was not taken within {PAY_TIMEOUT_S:g} s; "
                "see logs/kiosk.log and logs/lightning.log"
            ) from None
    except BaseException:
        with suppress(Exception):  # leave nothing payable behind
            await payments.cancel(offer.sale_id)
        raise
    finally:
        unsubscribe()
    if status.state != "paid" or not isinstance(status.result, SaleResult):
        raise DemoError(f"the Lightning sale ended {status.state}: {status.message}")
    return status.result


def _paid_by_lightning(record: dict[str, Any], sale_id: str) -> bool:
    body = record.get("body", {})
    return (
        record.get("kind") == "sale"
        and body.get("sale_id") == sale_id
        and [p.get("method") for p in body.get("payments", [])] == ["lightning"]
    )


async def _enroll(central_dir: Path, device_dir: Path) -> None:
    code_proc = await asyncio.create_subprocess_exec(
        *bitagora(
            "central",
            "enroll-code",
            "--merchant",
            "BitAgora Demo Café",
            "--data-dir",
            str(central_dir),
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await code_proc.communicate()
    if code_proc.returncode != 0:
        raise DemoError(f"enroll-code failed: {err.decode(errors='replace').strip()}")
    code = out.decode().strip().splitlines()[-1]
    enroll = await asyncio.create_subprocess_exec(
        *bitagora("uplink", "enroll", "--code", code, "--data-dir", str(device_dir)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await enroll.communicate()
    if enroll.returncode != 0:
        raise DemoError(f"enrollment failed: {err.decode(errors='replace').strip()}")


async def _wait_acknowledged(till: Till) -> None:
    """Wait (bounded) until central has acknowledged every journal record."""
    async with asyncio.timeout(ACK_TIMEOUT_S):
        # Another process (the uplink) empties the outbox; SQLite cannot signal us across it.
        while (await outbox.backlog(till.conn)).count:  # noqa: ASYNC110
            await asyncio.sleep(0.2)


async def _verify_on_central(
    central_url: str, device_id: str, password: str, root: Path
) -> tuple[VerifyResult, list[dict[str, Any]]]:
    """Central's copy of the device's journal, verified; and its records."""
    async with httpx.AsyncClient(base_url=central_url, timeout=30) as http:
        # The login form carries the session's CSRF token; a browser posts it back.
        form = await http.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        login = await http.post(
            "/login",
            data={"username": "admin", "password": password, "csrf": token[1] if token else ""},
        )
        if login.status_code != 303:
            raise DemoError("could not log in to central's ops dashboard")
        response = await http.get(f"/devices/{device_id}/journal.jsonl")
        if response.status_code != 200:
            raise DemoError(f"central export failed: HTTP {response.status_code}")
    result = await asyncio.to_thread(_verify_downloaded, response.content, root)
    records = [json.loads(line) for line in response.text.splitlines()[1:] if line.strip()]
    return result, records


def _verify_downloaded(content: bytes, root: Path) -> VerifyResult:
    with tempfile.NamedTemporaryFile("wb", dir=root, suffix=".jsonl", delete=False) as handle:
        handle.write(content)
    path = Path(handle.name)
    try:
        return verify_export(path)
    finally:
        path.unlink()


def demo_root(data_dir: Path | None) -> Path:
    return (data_dir or Path(os.environ.get("BITAGORA_DATA_DIR", DEFAULT_DEMO_DIR))).resolve()


def run_demo(root: Path, headless: bool, sales: int) -> int:
    if headless and sales < 1:
        print("demo FAILED: --sales must be at least 1", file=sys.stderr)
        return 2
    try:
        summary = asyncio.run(_run(root, headless, sales))
    except (DemoError, OSError, TimeoutError) as err:
        reason = str(err) or type(err).__name__
        print(f"demo FAILED: {reason}", file=sys.stderr)
        return 1
    print(summary)
    return 0
