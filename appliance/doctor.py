"""``bitagora doctor``: the technician's self-test, one line per check with what to do.

Each check returns a ``Check`` (OK, WARN, FAIL or SKIP, what was seen, and for WARN/FAIL what to
do about it). A check never raises: whatever goes wrong becomes its FAIL line, so one broken part
never hides the report on the others. The exit status is 1 when any check failed.

What was seen and what to do are in the UI language (``bitagora doctor``: the device's); the
check's name and status are data (``--json`` readers, the update check) and stay as they are.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import stat
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from typing import Literal

import httpx

from appliance.config import ConfigError, Settings
from appliance.i18n import N_, _
from appliance.store import outbox
from appliance.store.db import integrity_check, open_db, prove_writable
from appliance.store.export import VerifyError, verify_database
from bitagora_protocol.journal import JournalError

Status = Literal["OK", "WARN", "FAIL", "SKIP"]

DISK_FAIL_BYTES = 100 * 1024**2
DISK_WARN_BYTES = 1024**3
# Device requests are refused beyond ±600 s of central's clock (docs/PROTOCOL.md 2.2).
CLOCK_FAIL_S = 600
CLOCK_WARN_S = 60
# No device can honestly be running before this software was written.
EARLIEST_PLAUSIBLE = 1764547200  # 2025-12-01T00:00:00Z
ESPLORA_TIMEOUT_S = 10.0
# Where a public Esplora API of each network is, for the message when the URL serves another.
ESPLORA_EXAMPLES = {
    "mainnet": "https://mempool.space/api",
    "testnet": "https://mempool.space/testnet4/api or https://mempool.space/testnet/api",
    "signet": "https://mempool.space/signet/api",
    "regtest": "the electrs or mempool API of your regtest node",
}


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    action: str = ""

    def line(self) -> str:
        text = f"{self.status:<4}  {self.name:<9} {self.detail}"
        return f"{text}\n      -> {self.action}" if self.action else text


@dataclass(frozen=True)
class Options:
    offline: bool = False  # skip everything that needs the network (central, rates, Esplora)
    print_test_page: bool = True
    # A technician's or manager's PIN to pulse the drawer with (journaled as a "test" opening);
    # None: the drawer is not pulsed.
    drawer_pin: str | None = None
    card_wait_s: float = 0.0  # how long to wait for a card on the NFC reader; 0: look once


PRINTER_ACTIONS = {
    "Printer out of paper": N_("load a new roll"),
    "Printer cover open": N_("close the printer's cover"),
    "Printer offline": N_("check the printer's power and its error light"),
}


def config_check(load: Callable[[], Settings]) -> tuple[Check, Settings | None]:
    try:
        settings = load()
    except ConfigError as err:
        return Check(
            "config",
            "FAIL",
            str(err),
            _("fix that key in appliance.toml or its BITAGORA_* variable"),
        ), None
    detail = _("settings valid, data in {folder}").format(folder=settings.data_dir)
    return Check("config", "OK", detail), settings


async def database_check(settings: Settings) -> Check:
    path = settings.database_path
    if not path.is_file():
        return Check(
            "database",
            "WARN",
            _("{path} does not exist yet").format(path=path),
            _("start the kiosk once"),
        )
    try:
        conn = await open_db(path)
    except (sqlite3.Error, OSError) as err:
        return Check("database", "FAIL", f"{path}: {err}", _(DISK_OR_OWNER))
    try:
        verdict = await integrity_check(conn)
        await prove_writable(conn)
    except sqlite3.Error as err:
        return Check("database", "FAIL", f"{path}: {err}", _(DISK_OR_OWNER))
    finally:
        await conn.close()
    if verdict != ["ok"]:
        return Check(
            "database",
            "FAIL",
            _("integrity check: {verdict}").format(verdict=verdict[0]),
            _("restore from a backup (docs/TECHNICIAN.md); do not sell on this database"),
        )
    return Check("database", "OK", _("{path} writable, integrity ok").format(path=path))


DISK_OR_OWNER = N_("check the disk and the folder's owner")


async def journal_check(settings: Settings) -> Check:
    try:
        result = await asyncio.to_thread(verify_database, settings.database_path)
    except JournalError as err:
        return Check(
            "journal",
            "FAIL",
            f"seq {err.seq}: {err.reason}",
            _("the journal was altered: stop selling and call central ops"),
        )
    except VerifyError as err:
        return Check("journal", "WARN", str(err), _("start the kiosk once to create the device"))
    return Check(
        "journal",
        "OK",
        _("{count} records of {device} verify").format(count=result.count, device=result.device_id),
    )


def disk_check(settings: Settings) -> Check:
    try:
        free = shutil.disk_usage(settings.data_dir).free
    except OSError as err:
        return Check("disk", "FAIL", f"{settings.data_dir}: {err}", _("create the data directory"))
    detail = _("{gib} GiB free in {folder}").format(
        gib=f"{free / 1024**3:.1f}", folder=settings.data_dir
    )
    if free < DISK_FAIL_BYTES:
        return Check("disk", "FAIL", detail, _("free space now: sales need room to be written"))
    if free < DISK_WARN_BYTES:
        return Check("disk", "WARN", detail, _("free some space (old logs, backups)"))
    return Check("disk", "OK", detail)


async def printer_check(settings: Settings, print_test_page: bool) -> Check:
    from appliance.bootstrap import printer_from_settings
    from appliance.drivers.printer import PrinterError, PrinterNameUnknown

    printer = printer_from_settings(settings.printer)
    name = printer.describe()
    try:
        status = await printer.status()
        if status.ready and print_test_page:
            status = await printer.print_test_page()
            name = _("{printer}, test page printed").format(printer=name)
    except PrinterNameUnknown as err:
        return Check("printer", "FAIL", f"{name}: {err}", _("fix printer.host"))
    except PrinterError as err:
        return Check(
            "printer", "FAIL", f"{name}: {err}", _("check power, cable or network and printer.*")
        )
    if status.problem:
        return Check(
            "printer",
            "FAIL",
            f"{name}: {_(status.problem)}",
            _(PRINTER_ACTIONS[status.problem]),
        )
    if status.warning:
        return Check("printer", "WARN", f"{name}: {_(status.warning)}", _("have a new roll ready"))
    if not status.known:
        return Check(
            "printer", "OK", _("{printer} (it does not report paper or cover)").format(printer=name)
        )
    return Check(
        "printer", "OK", _("{printer}, paper {paper}").format(printer=name, paper=status.paper)
    )


async def drawer_check(settings: Settings, pin: str | None) -> Check:
    from appliance import bootstrap
    from appliance.services.till import AuthError, DrawerError, LockedOut

    if settings.drawer.kind == "none":
        return Check("drawer", "SKIP", _("no cash drawer (drawer.kind = none)"))
    if pin is None:
        return Check(
            "drawer",
            "SKIP",
            _("{kind} drawer not pulsed (no PIN given)").format(kind=settings.drawer.kind),
        )
    try:
        till = await bootstrap.open_till(settings, print_worker=False)
    except Exception as err:  # the store or the drawer's pins: reported, never raised
        return Check(
            "drawer",
            "FAIL",
            _("cannot open the till: {error}").format(error=err),
            _("see the lines above"),
        )
    try:
        opening = await till.drawer.test(pin)
    except LockedOut as err:
        return Check("drawer", "FAIL", str(err), _("wait, or: bitagora staff unlock --till"))
    except AuthError as err:
        return Check("drawer", "FAIL", str(err), _("use a technician's or manager's PIN"))
    except DrawerError as err:
        return Check("drawer", "FAIL", str(err), _("check drawer.* and the wiring"))
    finally:
        await till.close()
    if opening.problem:
        return Check(
            "drawer",
            "FAIL",
            _("pulse failed (journal #{seq}): {problem}").format(
                seq=opening.record.seq, problem=opening.problem
            ),
            _("check the drawer cable and drawer.* settings"),
        )
    return Check(
        "drawer",
        "OK",
        _("{kind} drawer pulsed (journal #{seq}); did it open?").format(
            kind=settings.drawer.kind, seq=opening.record.seq
        ),
    )


async def nfc_check(settings: Settings, card_wait_s: float) -> Check:
    from appliance.bootstrap import nfc_from_settings
    from appliance.drivers.nfc import NfcError

    if settings.nfc.kind == "none":
        return Check("nfc", "SKIP", _("no NFC reader (nfc.kind = none)"))
    reader = nfc_from_settings(settings.nfc)
    try:
        firmware = await reader.firmware_version()
        deadline = time.monotonic() + card_wait_s
        tap = await reader.read_card()
        while tap is None and time.monotonic() < deadline:
            await asyncio.sleep(0.25)  # the reader answers "no card" at once: poll, gently
            tap = await reader.read_card()
    except NfcError as err:
        return Check(
            "nfc",
            "FAIL",
            f"{settings.nfc.port}: {err}",
            _("check the wiring, the HSU switches and nfc.port (stop the kiosk first)"),
        )
    finally:
        await reader.close()
    if tap is None:
        return Check("nfc", "OK", _("{firmware}; no card on the reader").format(firmware=firmware))
    found = tap.uri or " / ".join(tap.texts) or _("empty")
    ndef = f", NDEF {found}" if not tap.ndef_error else ""
    card = _("{firmware}; card {uid}").format(firmware=firmware, uid=tap.uid)
    return Check("nfc", "OK", card + ndef)


def touch_check(settings: Settings) -> Check:
    """Present, readable by us, an input device with X/Y axes whose ranges the calibration
    matches (the kernel announces them: EVIOCGABS)."""
    from appliance.drivers import touch as evdev

    path = settings.touch.device
    if not path:
        return Check("touch", "SKIP", _("no touchscreen (touch.device is empty)"))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return Check(
            "touch",
            "FAIL",
            _("{path} does not exist").format(path=path),
            _("check the panel's USB cable and the udev rule (docs/TECHNICIAN.md, Touchscreen)"),
        )
    except OSError as err:
        return Check(
            "touch",
            "FAIL",
            f"{path}: {err.strerror}",
            _("the kiosk's user must read it: check the udev rule's GROUP and MODE"),
        )
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISFIFO(mode):
            return Check(
                "touch",
                "OK",
                _("{path} is a FIFO (a replay): no axis ranges to show").format(path=path),
            )
        if not stat.S_ISCHR(mode):
            return Check(
                "touch",
                "FAIL",
                _("{path} is not a device").format(path=path),
                _(TOUCH_DEVICE_ACTION),
            )
        try:
            name, axes = evdev.device_name(fd), evdev.absinfo(fd)
        except OSError as err:
            return Check(
                "touch",
                "FAIL",
                _("{path} is not an input device ({error})").format(path=path, error=err.strerror),
                _(TOUCH_DEVICE_ACTION),
            )
    finally:
        os.close(fd)
    x = axes.get(evdev.ABS_MT_POSITION_X) or axes.get(evdev.ABS_X)
    y = axes.get(evdev.ABS_MT_POSITION_Y) or axes.get(evdev.ABS_Y)
    if x is None or y is None:
        return Check(
            "touch",
            "FAIL",
            _("{path} ({name}) has no X/Y axes").format(path=path, name=name),
            _(TOUCH_DEVICE_ACTION),
        )
    detail = f"{path} ({name}): x {x[1]}..{x[2]}, y {y[1]}..{y[2]}"
    t = settings.touch
    if (t.min_x, t.max_x, t.min_y, t.max_y) != (x[1], x[2], y[1], y[2]):
        return Check(
            "touch",
            "WARN",
            detail
            + "; "
            + _("calibration is x {min_x}..{max_x}, y {min_y}..{max_y}").format(
                min_x=t.min_x, max_x=t.max_x, min_y=t.min_y, max_y=t.max_y
            ),
            _(
                "set touch.min_x/max_x/min_y/max_y to the device's ranges, unless you calibrated "
                "by hand (docs/TECHNICIAN.md, Touchscreen)"
            ),
        )
    return Check("touch", "OK", detail)


TOUCH_DEVICE_ACTION = N_("point touch.device at the touchscreen's /dev/input/event* node")


async def lightning_check(settings: Settings) -> Check:
    from appliance.wallet.lightning import LightningError, RuneRefused, make_node

    node = make_node(settings.lightning)
    if node is None:
        return Check("lightning", "SKIP", _("no Lightning node (lightning.kind = none)"))
    try:
        info = await node.getinfo()
    except RuneRefused:
        return Check(
            "lightning",
            "WARN",
            _("the node answers, but the till's rune may not call getinfo"),
            _("fine for selling; add method=getinfo to the rune to see the node here"),
        )
    except LightningError as err:
        return Check(
            "lightning", "FAIL", str(err), _("check lightning.* and that lightningd is running")
        )
    finally:
        await node.aclose()
    return Check(
        "lightning",
        "OK",
        _("{node} on {network}, block {height}").format(
            node=info.alias or info.node_id[:16], network=info.network, height=info.blockheight
        ),
    )


async def mercadopago_check(settings: Settings, offline: bool) -> Check:
    """The access token works (``GET /users/me``) and the Point device is on the account and in
    PDV mode, the mode in which it takes the till's orders."""
    from appliance.payments.mercadopago import MercadoPagoApi, MercadoPagoError

    mp = settings.mercadopago
    if not mp.enabled:
        return Check("mercadopago", "SKIP", "no Mercado Pago (no Point device nor QR POS set)")
    if offline:
        return Check("mercadopago", "SKIP", "offline: Mercado Pago not asked")
    api = MercadoPagoApi(mp)
    fix = "check mercadopago.* (docs/TECHNICIAN.md, Mercado Pago)"
    try:
        account = await api.account()
        detail = f"account {account.get('nickname') or account.get('id')}"
        if mp.qr:
            detail += f", QR on POS {mp.qr_external_pos_id}"
        if not mp.point:
            return Check("mercadopago", "OK", detail)
        device = await api.point_device()
    except MercadoPagoError as err:
        return Check("mercadopago", "FAIL", str(err), fix)
    mode = device.get("operating_mode")
    if mode != "PDV":
        return Check(
            "mercadopago",
            "FAIL",
            f"{detail}; Point {mp.point_terminal_id} is in {mode} mode, not PDV",
            "switch the Point device to PDV mode (docs/TECHNICIAN.md, Mercado Pago)",
        )
    return Check("mercadopago", "OK", f"{detail}, Point {mp.point_terminal_id} in PDV mode")


async def rates_check(settings: Settings, offline: bool) -> Check:
    """A rate can be had now: the rate, the sources that gave it, why the others did not."""
    from appliance.wallet.rates import NoRate, RateService, decimal_string

    if settings.lightning.kind == "none" and not settings.onchain.enabled:
        return Check(
            "rates", "SKIP", _("no bitcoin payments (lightning.kind = none, onchain.wallet empty)")
        )
    if offline:
        return Check("rates", "SKIP", _("exchanges not asked (--offline)"))
    currency = settings.device.currency
    async with httpx.AsyncClient() as http:  # RateService bounds each request by timeout_s
        try:
            rate = await RateService.from_settings(settings, http).refresh()
        except NoRate as err:
            why = "; ".join(f"{name}: {reason}" for name, reason in sorted(err.failures.items()))
            return Check(
                "rates",
                "FAIL",
                _("no {currency} rate, bitcoin payments will be refused: {reason}").format(
                    currency=currency, reason=err.reason
                )
                + (f" ({why})" if why else ""),
                _(
                    "check the network to the exchanges (DNS, firewall, proxy), rates.sources and "
                    "rates.base_urls"
                ),
            )
    detail = _("{rate} {currency}/BTC from {sources}").format(
        rate=decimal_string(rate.rate.normalize()),
        currency=currency,
        sources=", ".join(q.source for q in rate.quotes),
    )
    trouble = [f"{name}: {reason}" for name, reason in rate.failed]
    trouble += [
        _("{source}: {rate} dropped, over {share} off").format(
            source=q.source, rate=decimal_string(q.rate), share=f"{settings.rates.outlier_pct}%"
        )
        for q in rate.dropped
    ]
    if trouble:
        return Check(
            "rates",
            "WARN",
            f"{detail}; {'; '.join(trouble)}",
            _(
                "bitcoin payments work now, but with fewer than {count} agreeing sources they "
                "would be refused: check why the others fail"
            ).format(count=settings.rates.min_sources),
        )
    return Check("rates", "OK", detail)


ESPLORA_ODD_ANSWER = (httpx.InvalidURL, KeyError, TypeError, ValueError)  # beyond ChainError


async def onchain_check(settings: Settings, offline: bool) -> Check:
    """The watch-only wallet parses (its receive address #0 shown, to compare with the merchant's
    wallet) and the chain source answers: the Esplora API takes addresses of the wallet's
    network, or bitcoind is on that network and its watch-only wallet holds the descriptor."""
    from appliance.wallet.chain import ChainError, ChainRejected, EsploraSource

    onchain = settings.onchain
    if not onchain.enabled:
        return Check("onchain", "SKIP", _("not configured (onchain.wallet is empty)"))
    try:
        wallet = onchain.watch_only()
        first = wallet.receive_address(0)
    except (ConfigError, ValueError) as err:  # the config check refuses these first
        return Check("onchain", "FAIL", str(err), _("check onchain.wallet and onchain.network"))
    seen = _("{kind} wallet on {network}, receive #0 {address}").format(
        kind=wallet.kind, network=wallet.network, address=first
    )
    if onchain.source == "bitcoind":
        if offline:
            return Check("onchain", "OK", seen + "; " + _("bitcoind not asked (--offline)"))
        return await bitcoind_check(settings, seen, first)
    if offline:
        return Check("onchain", "OK", seen + "; " + _("Esplora not asked (--offline)"))
    url = onchain.esplora_url
    async with httpx.AsyncClient(timeout=ESPLORA_TIMEOUT_S) as http:
        source = EsploraSource(http, url)
        try:
            tip = await source.tip_height()
        except (ChainError, *ESPLORA_ODD_ANSWER) as err:
            return esplora_trouble(seen, err)
        try:
            await source.address_activity(first)
        except ChainRejected as err:
            if err.status != 400:
                return esplora_trouble(seen, err)
            return Check(  # the API refuses our own, valid address: it serves another network
                "onchain",
                "FAIL",
                seen + "; " + _("the API refuses it ({error})").format(error=err),
                _(
                    "onchain.esplora_url serves another network than onchain.network = "
                    "{network}: use a {network} API ({example}), or fix onchain.network and the "
                    "wallet"
                ).format(network=wallet.network, example=ESPLORA_EXAMPLES[wallet.network]),
            )
        except (ChainError, *ESPLORA_ODD_ANSWER) as err:
            return esplora_trouble(seen, err)
    return Check("onchain", "OK", seen + "; " + _("{url} at block {tip}").format(url=url, tip=tip))


async def bitcoind_check(settings: Settings, seen: str, first: str) -> Check:
    """bitcoind answers on the wallet's network and its watch-only wallet is loaded (created and
    given the descriptor if need be, as the till would at its first payment) and watches
    receive address #0."""
    from appliance.wallet.chain import (
        BitcoinCoreSource,
        ChainError,
        ChainUnavailable,
        chain_from_settings,
    )

    url = settings.onchain.bitcoind_url
    async with httpx.AsyncClient(timeout=ESPLORA_TIMEOUT_S) as http:
        source = chain_from_settings(settings.onchain, http)
        assert isinstance(source, BitcoinCoreSource)
        try:
            node = await source.prepare()
            await source.address_activity(first)
        except ChainUnavailable as err:
            return Check(
                "onchain",
                "FAIL",
                seen + "; " + _("bitcoind unreachable: {error}").format(error=err),
                _(
                    "check that bitcoind runs and onchain.bitcoind_url: on-chain payments cannot "
                    "be seen until it answers"
                ),
            )
        except (ChainError, *ESPLORA_ODD_ANSWER) as err:
            status = getattr(err, "status", None)
            return Check(
                "onchain",
                "FAIL",
                f"{seen}; {str(err) or type(err).__name__}"[:300],
                _(
                    "check onchain.bitcoind_user and bitcoind_password (an rpcauth line on the "
                    "node) or onchain.bitcoind_cookie"
                )
                if status in (401, 403)
                else _("check onchain.bitcoind_* against the node (docs/TECHNICIAN.md, [onchain])"),
            )
    done = _(", created now") if node.created else ""
    done += _(", descriptor imported now") if node.imported else ""
    detail = (
        seen
        + "; "
        + _("bitcoind {url} on {chain} at block {blocks}").format(
            url=url, chain=node.chain, blocks=node.blocks
        )
    )
    detail += _(", wallet {wallet} watches it").format(wallet=repr(node.wallet)) + done
    if node.syncing:
        return Check(
            "onchain",
            "WARN",
            detail
            + "; "
            + _("still syncing ({blocks} of {headers} blocks)").format(
                blocks=node.blocks, headers=node.headers
            ),
            _("wait for bitcoind to catch up: payments in blocks it has not reached are not seen"),
        )
    return Check("onchain", "OK", detail)


def esplora_trouble(seen: str, err: Exception) -> Check:
    from appliance.wallet.chain import ChainUnavailable

    if isinstance(err, ChainUnavailable):
        return Check(
            "onchain",
            "FAIL",
            seen + "; " + _("Esplora unreachable: {error}").format(error=err),
            _(
                "check the network and onchain.esplora_url: on-chain payments cannot be seen "
                "until it answers"
            ),
        )
    why = str(err) or type(err).__name__
    return Check(
        "onchain",
        "FAIL",
        (seen + "; " + _("not an Esplora API: {error}").format(error=why))[:300],
        _("onchain.esplora_url is an Esplora API's root, e.g. {example}").format(
            example=ESPLORA_EXAMPLES["mainnet"]
        ),
    )


async def tron_check(settings: Settings, offline: bool) -> Check:
    """USDT on TRON: the account xpub parses (receive address #0 shown, to compare with the
    merchant's wallet), TronGrid answers and accepts the API key, knows the USDT contract and
    lists the address's transfers, and a fiat → USDT rate can be had."""
    from appliance.wallet.chain import ChainError, ChainUnavailable
    from appliance.wallet.rates import NoRate, RateService, decimal_string
    from appliance.wallet.trongrid import TronGridSource

    tron = settings.tron
    if not tron.enabled:
        return Check("tron", "SKIP", "not configured (tron.xpub is empty)")
    try:
        first = tron.account().receive_address(0)
    except (ConfigError, ValueError) as err:  # the config check refuses these first
        return Check("tron", "FAIL", str(err), "check tron.xpub")
    seen = f"TRON account, receive #0 {first}"
    if offline:
        return Check("tron", "OK", f"{seen}; TronGrid not asked (--offline)")
    async with httpx.AsyncClient(timeout=ESPLORA_TIMEOUT_S) as http:
        source = TronGridSource(http, tron.trongrid_url, tron.api_key, tron.contract)
        try:
            name = await source.check()
            await source.address_activity(first)
        except ChainUnavailable as err:
            return Check(
                "tron",
                "FAIL",
                f"{seen}; {err}",
                "check the network to tron.trongrid_url: USDT payments cannot be seen until "
                "TronGrid answers",
            )
        except ChainError as err:
            status = getattr(err, "status", None)
            return Check(
                "tron",
                "FAIL",
                f"{seen}; {err}"[:300],
                "check tron.api_key (a key from trongrid.io, docs/TECHNICIAN.md)"
                if status in (401, 403)
                else f"check tron.contract ({tron.contract}) against tron.trongrid_url's "
                "network: mainnet's USDT is TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",
            )
        currency = settings.device.currency
        try:
            rate = await RateService.from_settings(settings, http, asset="USDT").refresh()
        except NoRate as err:
            return Check(
                "tron",
                "FAIL",
                f"{seen}; contract {name}; no {currency} rate for USDT: {err.reason}",
                "check the network to the exchanges, rates.sources and rates.base_urls: USDT "
                "payments are refused without a rate",
            )
    priced = f"{decimal_string(rate.rate.normalize())} {currency}/USDT"
    return Check("tron", "OK", f"{seen}; contract {name} at {tron.trongrid_url}; {priced}")


async def uplink_check(settings: Settings, offline: bool) -> tuple[Check, float | None]:
    """Enrolled, and central answering; also returns central's clock minus ours, if known."""
    from appliance.uplink.daemon import load_enrollment

    if not settings.database_path.is_file():
        return Check(
            "uplink",
            "WARN",
            _("not enrolled (no database yet)"),
            _(ENROLL),
        ), None
    try:
        conn = await open_db(settings.database_path)
    except (sqlite3.Error, OSError) as err:
        return Check("uplink", "FAIL", _("cannot read enrollment: {error}").format(error=err)), None
    try:
        state = await load_enrollment(conn)
        refused = await outbox.get_state(conn, outbox.UPLINK_REFUSED)
    finally:
        await conn.close()
    refusal = json.loads(refused) if refused else None
    if state is not None and isinstance(refusal, dict):
        reason = f": {refusal['reason']}" if refusal.get("reason") else ""
        return Check(
            "uplink",
            "FAIL",
            _(
                "central refuses the outbox's next batch for good (HTTP {status} {error}); the "
                "records are kept"
            ).format(status=refusal.get("status"), error=f"{refusal.get('error')}{reason}"),
            _("call central ops: the device retries it every uplink.refused_retry_s"),
        ), None
    if state is None:
        return Check(
            "uplink",
            "WARN",
            _("not enrolled: sales are kept but not reported"),
            _(ENROLL),
        ), None
    if offline:
        enrolled = _("enrolled as {device}; --offline").format(device=state.device_id)
        return Check("uplink", "SKIP", enrolled), None
    url = f"{state.central_url}/healthz"
    try:
        async with httpx.AsyncClient(timeout=settings.uplink.timeout_s) as http:
            sent = time.time()
            response = await http.get(url)
            received = time.time()
    except httpx.HTTPError as err:
        return Check(
            "uplink",
            "FAIL",
            _("central at {url} unreachable: {error}").format(
                url=state.central_url, error=err or type(err).__name__
            ),
            _("check the network, DNS and that central is up"),
        ), None
    if response.status_code != 200:
        return Check(
            "uplink",
            "FAIL",
            _("central at {url} answers HTTP {status}").format(
                url=state.central_url, status=response.status_code
            ),
            _("central is unwell: tell central ops"),
        ), None
    skew = None
    if "date" in response.headers:
        central_time = parsedate_to_datetime(response.headers["date"]).timestamp()
        skew = central_time - (sent + received) / 2
    reachable = _("enrolled as {device}, central reachable").format(device=state.device_id)
    return Check("uplink", "OK", reachable), skew


ENROLL = N_("bitagora uplink enroll --code CODE (code from central ops)")


def clock_check(now: float, skew: float | None) -> Check:
    if now < EARLIEST_PLAUSIBLE:
        return Check(
            "clock",
            "FAIL",
            _("the clock says {date}").format(date=time.strftime("%Y-%m-%d", time.gmtime(now))),
            _("connect to the network so NTP can set the time (a Pi has no clock battery)"),
        )
    if skew is None:
        return Check("clock", "OK", _("plausible (central's time not known)"))
    detail = _("{seconds} s from central").format(seconds=f"{skew:+.0f}")
    if abs(skew) > CLOCK_FAIL_S:
        return Check("clock", "FAIL", detail, _("enable NTP (timedatectl set-ntp true)"))
    if abs(skew) > CLOCK_WARN_S:
        return Check("clock", "WARN", detail, _("enable NTP (timedatectl set-ntp true)"))
    return Check("clock", "OK", detail)


async def run_checks(load: Callable[[], Settings], options: Options) -> list[Check]:
    config, settings = config_check(load)
    if settings is None:
        return [config]
    checks = [config, await database_check(settings)]
    if checks[-1].status == "OK":
        checks.append(await journal_check(settings))
    checks.append(await printer_check(settings, options.print_test_page))
    checks.append(await drawer_check(settings, options.drawer_pin))
    checks.append(await nfc_check(settings, options.card_wait_s))
    checks.append(touch_check(settings))
    checks.append(await lightning_check(settings))
    checks.append(await mercadopago_check(settings, options.offline))
    checks.append(await rates_check(settings, options.offline))
    checks.append(await onchain_check(settings, options.offline))
    checks.append(await tron_check(settings, options.offline))
    uplink, skew = await uplink_check(settings, options.offline)
    checks.append(uplink)
    checks.append(clock_check(time.time(), skew))
    checks.append(disk_check(settings))
    return checks


def report(checks: list[Check], as_json: bool) -> str:
    if as_json:
        return json.dumps({"checks": [asdict(c) for c in checks], "ok": passed(checks)}, indent=2)
    return "\n".join(c.line() for c in checks)


def passed(checks: list[Check]) -> bool:
    return all(c.status != "FAIL" for c in checks)
