"""The kiosk at the panel sizes it is built with (800x480, 1024x600, 1280x800, 720x1280
portrait): on the sell, lock, pay cash and pay bitcoin screens every button is at least the
minimum touch target, whole on the screen and clear of the others; what a sale needs is on
screen; the bitcoin QR code is drawn whole or not at all; and each screen matches its snapshot.

Regenerate the snapshots after a deliberate change of a screen's look:
``pytest --snapshot-update tests/test_tui_layouts.py`` (then look at the SVGs before committing).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import coincurve
import pytest
from layout_helpers import (
    PANELS,
    SELECTED_LINE,
    WALKS,
    cut_labels,
    hidden,
    kiosk_at,
    layout_faults,
    screen_at,
    shown,
    step_to,
)
from pytest_textual_snapshot import SVGImageExtension
from syrupy.assertion import SnapshotAssertion
from textual.pilot import Pilot
from textual.widgets import Button, Static
from tui_helpers import text

from appliance.core.btc import bip21_uri
from appliance.tui.app import KioskApp
from appliance.tui.screens.pay_bitcoin import PayBitcoinScreen
from appliance.tui.widgets.product_grid import ProductGrid
from appliance.tui.widgets.qr import QrCode, qr_payload
from appliance.tui.widgets.tap_button import TapButton
from bitagora_devtools.script import wait_until
from bitagora_devtools.sim import bolt11

pytestmark = pytest.mark.timeout(90)

# What each screen must show whole for a sale to go on by touch alone.
NEEDED = {
    "sell": (
        "#lock", "#search-keys", "#qty-minus", "#qty-plus", "#remove-line", "#total",
        "#pay", "#pay-bitcoin", "#pay-split",
    ),
    "lock": ("#pin-display", *(f"#key-{k}" for k in "0123456789"), "#key-clear", "#key-ok"),
    "pay-cash": (
        "#pay-total", "#change-label", "#tender-0", "#key-0", "#key-9",
        "#key-dot", "#key-back", "#cancel", "#confirm",
    ),
    "pay-bitcoin": ("#btc-qr", "#btc-total", "#btc-amount", "#btc-countdown", "#btc-cancel"),
}  # fmt: skip
WALK_IDS = ["lock-sell-pay-cash", "pay-bitcoin"]

# A Lightning invoice that is the same on every run (the simulator's are random), for the
# snapshot's QR code: the espresso's 2,940 sats, as long as the simulator's invoices.
INVOICE = bolt11.encode(
    node_key=coincurve.PrivateKey(hashlib.sha256(b"layout snapshot node").digest()),
    network="bc",
    amount_msat=2_940_000,
    payment_hash=hashlib.sha256(b"layout preimage").digest(),
    payment_secret=hashlib.sha256(b"layout secret").digest(),
    description="BitAgora sale 2026-000001",
    timestamp=1_790_000_000,
    expiry_s=600,
)


def fix_the_qr(app: KioskApp, screen: PayBitcoinScreen) -> None:
    """The same QR code on every run, for the snapshot: the offer's own address and amount,
    with INVOICE for the simulator's."""
    offer = screen.offer
    assert offer is not None and offer.address is not None
    qr = screen.query_one("#btc-qr", QrCode)
    qr.fallbacks = (qr_payload(f"lightning:{INVOICE}"),)
    merchant = app.till.settings.device.merchant_name
    qr.payload = qr_payload(bip21_uri(offer.address, 2_940, label=merchant, lightning=INVOICE))


@pytest.mark.parametrize("language", ["es", "pt_BR", "pt_PT"])
@pytest.mark.parametrize("walk", WALKS, ids=WALK_IDS)
async def test_each_screen_fits_the_smallest_panel_in_each_language(
    tmp_path: Path, walk: tuple[str, ...], language: str, snapshot: SnapshotAssertion
) -> None:
    """Spanish and Portuguese run 20-30 % longer than English: at 800x480 every button still
    fits, shows its whole label, and what a sale needs is on screen; the sell screen matches its
    snapshot in each language (docs/TRANSLATING.md). One app run visits the screens of
    ``walk`` in turn."""
    async with kiosk_at(tmp_path, PANELS["800x480"], language, locked=walk[0] == "lock") as (
        app,
        pilot,
    ):
        for name in walk:
            await step_to(pilot, app, name)
            screen = app.screen
            assert layout_faults(screen) == [], name
            assert cut_labels(screen) == [], name
            assert hidden(screen, *NEEDED[name]) == [], name
            if name == "sell":
                svg = await settled_screenshot(app, pilot)
                assert snapshot(name=name, extension_class=SVGImageExtension) == svg


@pytest.mark.parametrize("panel", list(PANELS))
@pytest.mark.parametrize("walk", WALKS, ids=WALK_IDS)
async def test_each_screen_fits_the_panel_for_fingers(
    tmp_path: Path, walk: tuple[str, ...], panel: str, snapshot: SnapshotAssertion
) -> None:
    """One app run visits the screens of ``walk`` in turn: each one's buttons fit, what a sale
    needs is on it, and it matches its snapshot."""
    size = PANELS[panel]
    async with kiosk_at(tmp_path, size, locked=walk[0] == "lock") as (app, pilot):
        for name in walk:
            await step_to(pilot, app, name)
            await check_the_screen(app, pilot, name, panel)
            svg = await settled_screenshot(app, pilot)
            assert snapshot(name=name, extension_class=SVGImageExtension) == svg


async def settled_screenshot(app: KioskApp, pilot: Pilot[None]) -> str:
    """The screen as an SVG once nothing is caught mid-way: a button's flash, the cart
    scrolling to its new line."""
    screen = app.screen
    await wait_until(pilot, lambda: not screen.query(".-tapped"), "the taps' flash")
    await pilot.wait_for_scheduled_animations()
    return app.export_screenshot()


async def check_the_screen(app: KioskApp, pilot: Pilot[None], name: str, panel: str) -> None:
    """Screen ``name``, shown by ``app`` on ``panel``, fits it for fingers; a bitcoin screen's
    QR code is then made the same on every run, for its snapshot."""
    screen = app.screen
    assert app.size == PANELS[panel]
    assert layout_faults(screen) == [], name
    assert hidden(screen, *NEEDED[name]) == [], name
    if name == "sell":
        assert len(app.sell.cart.lines) == 4
        # the line just added, which + and − change, is on screen (step_to waited for it); so
        # are a row of products
        grid = screen.query_one(ProductGrid)
        whole = [b for b in grid.buttons if b.display and shown(screen, b) == b.region]
        assert len(whole) >= 2
    if isinstance(screen, PayBitcoinScreen):
        qr = screen.query_one("#btc-qr", QrCode)
        code = qr.code
        assert code is not None, "no QR code fits"
        assert shown(screen, qr) == qr.region and qr.region.size == code.size
        # a unified code where it fits; on the short 7" panel, the Lightning invoice alone
        short = panel == "800x480"
        assert qr.shown == (qr.fallbacks[0] if short else qr.payload)
        rails = "Lightning" if short else "On-chain + Lightning"
        assert text(screen, "#btc-rails") == rails
        # where the code leaves the address out, the address is in words beside it
        address = screen.query_one("#btc-address", Static)
        assert screen.offer is not None and screen.offer.address is not None
        if short:
            words = text(screen, "#btc-address").split()
            assert words[0] == "On-chain:" and "".join(words[1:]) == screen.offer.address
            assert {len(w) for w in words[1:-1]} == {4}  # in groups of four
            assert shown(screen, address) == address.region
        else:
            assert not address.display
        fix_the_qr(app, screen)
        await pilot.pause()
        assert qr.code is not None and shown(screen, qr) == qr.region


async def test_the_top_bar_takes_one_more_button_at_800x480(tmp_path: Path) -> None:
    """A further top-bar button (such as a manager's Menu), the longest label and a long staff
    name still leave every button whole; the names give way, but stay readable."""
    async with screen_at(tmp_path, "sell", PANELS["800x480"]) as (app, pilot):
        sell = app.sell
        await sell.query_one("#top-bar").mount(TapButton("Menu", id="extra"), before="#lock")
        sell.query_one("#training", Button).label = "End training"
        sell.query_one("#staff-name", Static).update("Maria Fernanda Oliveira · manager")
        await pilot.pause()
        assert layout_faults(sell) == []
        assert hidden(sell, "#no-sale", "#reprint", "#training", "#extra", "#lock") == []
        assert hidden(sell, "#merchant", "#staff-name") == []
        assert sell.query_one("#merchant").region.width >= 12
        assert sell.query_one("#staff-name").region.width >= 12


async def test_the_selected_cart_line_comes_into_view_when_it_is_laid_out(tmp_path: Path) -> None:
    """A cart line has its place only once laid out, which can be refreshes after it was added
    (later still on a busy till), and again when the panel's size changes: each time, the
    selected line, which − and + act on, is brought into view."""
    async with screen_at(tmp_path, "sell", PANELS["1280x800"]) as (app, pilot):
        lines = app.sell.query_one("#cart-lines")
        assert lines.scroll_y == 0 and hidden(app.screen, SELECTED_LINE) == []
        await pilot.resize_terminal(*PANELS["800x480"])
        await wait_until(pilot, lambda: app.size == PANELS["800x480"], "the smaller panel")
        await wait_until(
            pilot, lambda: not hidden(app.screen, SELECTED_LINE), "the selected line in view"
        )
        assert lines.scroll_y > 0
