"""Selling: the product grid by category, search, barcode scans, and the cart with its totals.

The grid shows a page of a category or of search results, read by index (``SalesService.page``
and ``search``) in a worker, the latest view winning (a keystroke cancels the read of the one
before), and reads the next page when the cashier scrolls near the end: the screen never holds
the whole catalog, so it is as quick at 50,000 products as with the demo's few. The catalog
version is checked every few seconds while the cart is empty: an import that landed is shown
then (never under a sale in progress, whose cart keeps its version and prices). A product
scanned or tapped is priced from the cart's version in a worker (a page read after an import
shows the new catalog's products and prices; the cart takes them at the sale's version, and
refuses one that version did not sell).

Every key reaches this screen (nothing on it takes focus). Printable keys go to a ``ScanBuffer``
and to the search text; an Enter that ends a fast burst is a barcode scan (and the burst leaves
the search text again), an Enter after slow typing looks up a typed barcode (digits only) or
adds the only product the search shows. A serial scanner's codes arrive as ``BarcodeRead``
messages and take the same lookup path. The notice says which of "not a valid barcode" (wrong
check digit) and "unknown product" (valid, but not in the catalog) a failed lookup was.

At a login that changes the UI language (a staff member's own, docs/TRANSLATING.md) the app has
the screen composed again (``speak``): the sale, the view and the banners stay as they were.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive, var
from textual.screen import Screen
from textual.widgets import Button, Static

from appliance.core.cart import Cart, CartError
from appliance.core.catalog import CatalogRef, Product
from appliance.core.roles import ROLE_NAMES
from appliance.i18n import N_, _
from appliance.services.sales import NotInSaleCatalog, PageKey
from appliance.services.till import (
    AuthError,
    DrawerState,
    NothingToReprint,
    PrinterState,
    Staff,
    Till,
)
from appliance.tui.scan import Clock, ScanBuffer
from appliance.tui.widgets.cart_view import CartView
from appliance.tui.widgets.category_bar import CategoryBar
from appliance.tui.widgets.product_grid import ProductGrid
from appliance.tui.widgets.search_bar import SearchBar
from appliance.tui.widgets.tap_button import TapButton
from bitagora_protocol.barcode import BarcodeError

log = logging.getLogger(__name__)

MIN_TYPED_BARCODE = 4
PAGE = 40  # products read at a time (two screenfuls at 120×40 cells)
CATALOG_CHECK_S = 3.0  # how often an idle till looks for a new catalog version
TRAINING_BANNER = N_("TRAINING MODE · practice sales: no money, not in any total")
NO_SHIFT_BANNER = N_(
    "No shift open. Sales are recorded; to count a float, open a shift in the Menu."
)
# One line: the notice's. The shop's catalog comes from a file (docs/CATALOG.md) or, once the
# back office sends one, from central.
NO_PRODUCTS = N_("No products yet: bitagora catalog import FILE.csv, or wait for central's")


class SellScreen(Screen[None]):
    CSS_PATH = "sell.tcss"
    AUTO_FOCUS = None

    staff: reactive[Staff | None] = reactive(None, init=False)
    # The Cart is a mutable core object; every change to it bumps this, which redraws it.
    cart_revision: reactive[int] = reactive(0, init=False)
    selected: reactive[int | None] = reactive(None, init=False)
    category: reactive[str | None] = reactive(None, init=False)
    search: reactive[str] = reactive("", init=False)
    notice: reactive[str] = reactive("", init=False, always_update=True)
    # Products scanned or tapped being priced (from the cart's catalog version): no pay till then.
    pending_lookups: reactive[int] = reactive(0, init=False)
    printer_banner: reactive[str | None] = reactive(None, init=False)
    catalog_loaded: var[bool] = var(False)
    # The (category, search) the grid shows now; (None, text) for a search.
    shown_view: var[tuple[str | None, str] | None] = var(None)
    drawer: reactive[DrawerState] = reactive(DrawerState(None), init=False)

    class PrinterChanged(Message):
        """The print worker has news (a problem, receipts waiting, all clear)."""

        def __init__(self, state: PrinterState) -> None:
            super().__init__()
            self.state = state

    class LockRequested(Message):
        """The cashier tapped Lock."""

    class MenuRequested(Message):
        """Staff tapped Menu: the shift, refunds, voids (``ManagerMenuScreen``)."""

        def __init__(self, staff: Staff) -> None:
            super().__init__()
            self.staff = staff

    class NoSaleRequested(Message):
        """Staff tapped No sale: open the drawer outside a sale (on a manager's PIN)."""

        def __init__(self, staff: Staff) -> None:
            super().__init__()
            self.staff = staff

    class DrawerChanged(Message):
        """The drawer's open sensor changed, or it has been open too long."""

        def __init__(self, state: DrawerState) -> None:
            super().__init__()
            self.state = state

    class PayRequested(Message):
        """The cashier tapped Pay cash (``method`` "cash"), Pay bitcoin ("bitcoin"), Pay card
        ("card"), Mercado Pago Point or QR ("mercadopago_point", "mercadopago_qr"), USDT ("usdt")
        or Split ("split": paid in parts) on a cart that is ready to pay."""

        def __init__(self, cart: Cart, staff: Staff, method: str = "cash") -> None:
            super().__init__()
            self.cart = cart
            self.staff = staff
            self.method = method

    class BarcodeRead(Message):
        """A code from a scanner that does not type (serial): looked up like a keyboard scan."""

        def __init__(self, code: str) -> None:
            super().__init__()
            self.code = code

    class PageRead(Message):
        """A page of products read for ``view``; ``after`` is where it was read from (None: a
        new view), ``next`` where the following page starts (None: the last page)."""

        def __init__(
            self,
            view: tuple[str | None, str],
            products: list[Product],
            after: PageKey | int | None,
            next: PageKey | int | None,
        ) -> None:
            super().__init__()
            self.view = view
            self.products = products
            self.after = after
            self.next = next

    class Notice(Message):
        """Something staff should know: the scanner (unplugged, back, sent garbage), or a bitcoin
        payment that settled with no payment screen open (after a restart, or late)."""

        def __init__(self, text: str, error: bool = False) -> None:
            super().__init__()
            self.text = text
            self.error = error

    def __init__(self, till: Till, clock: Clock) -> None:
        super().__init__()
        self.till = till
        self.scanner = ScanBuffer(clock)
        self._next: PageKey | int | None = None  # where the grid's next page starts
        self._enter_pending = False  # Enter typed before the search's page was read
        # The catalog version the grid shows and a new cart is priced from.
        self.catalog_version: CatalogRef | None = None
        self.notice_is_error = False
        self._notice_unread = False  # it came while the screen was covered (locked, paying)
        self.cart: Cart = till.sales.new_cart()
        self._categories: list[str] = []  # as the category bar shows them

    def compose(self) -> ComposeResult:
        with Horizontal(id="top-bar"):
            yield Static(self.till.merchant_name, id="merchant", markup=False)
            yield Static("", id="staff-name", markup=False)
            yield TapButton(_("No sale"), "default", id="no-sale", disabled=True)
            yield TapButton(_("Reprint"), "default", id="reprint", disabled=True)
            yield TapButton(_("Training"), "default", id="training", disabled=True)
            yield TapButton(_("Menu"), "primary", id="menu", disabled=True)
            yield TapButton(_("Lock"), "warning", id="lock")
        yield Static(_(TRAINING_BANNER), id="training-banner", markup=False)
        yield Static(_(NO_SHIFT_BANNER), id="shift-banner", markup=False)
        yield Static("", id="drawer-banner", markup=False)
        yield Static("", id="printer-banner", markup=False)
        with Horizontal(id="body"):
            with Vertical(id="catalog"):
                yield CategoryBar(id="categories")
                yield SearchBar(id="search").data_bind(text=SellScreen.search)
                yield Static("", id="notice", markup=False)
                yield ProductGrid(id="products")
            with Vertical(id="side"):
                yield CartView(id="cart")
                yield TapButton(_("Pay cash"), "success", id="pay", classes="pay", disabled=True)
                yield TapButton(
                    _("Pay bitcoin"), "primary", id="pay-bitcoin", classes="pay", disabled=True
                )
                yield TapButton(
                    _("Pay card"), "primary", id="pay-card", classes="pay", disabled=True
                )
                yield TapButton(
                    _("Mercado Pago Point"),
                    "primary",
                    id="pay-mercadopago_point",
                    classes="pay",
                    disabled=True,
                )
                yield TapButton(
                    _("Mercado Pago QR"),
                    "primary",
                    id="pay-mercadopago_qr",
                    classes="pay",
                    disabled=True,
                )
                yield TapButton(_("USDT"), "primary", id="pay-usdt", classes="pay", disabled=True)
                yield TapButton(_("Split"), "default", id="pay-split", classes="pay", disabled=True)

    def on_mount(self) -> None:
        self._show_state()
        self.load_catalog()
        self.set_interval(CATALOG_CHECK_S, self.check_catalog)
        # From now on the app hands the bus's drawer and printer events down (tui/bridge.py).
        self.drawer = self.till.drawer.state
        self.post_message(self.PrinterChanged(self.till.receipts.state))

    def _show_state(self) -> None:
        """Put the screen's state on its widgets (as composed, they show none of it)."""
        self._show_cart()
        capabilities = self.till.capabilities
        self.query_one("#no-sale").display = capabilities.drawer
        self.query_one("#pay-bitcoin").display = capabilities.bitcoin
        self.query_one("#pay-card").display = capabilities.card
        for method in ("mercadopago_point", "mercadopago_qr"):
            self.query_one(f"#pay-{method}").display = method in capabilities.mercadopago
        self.query_one("#pay-usdt").display = capabilities.usdt
        self._show_training()
        self.watch_staff(self.staff)
        self.watch_notice(self.notice)
        self.watch_drawer(self.drawer)
        self.watch_printer_banner(self.printer_banner)

    async def speak(self) -> None:
        """Compose the screen again in the UI language now in use, showing the same sale, view
        and banners; returns when done. It runs on the screen's own message loop, so that none
        of its handlers (a printer or drawer event, a page read) meets its widgets half
        replaced."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def again() -> None:
            try:
                await self.recompose()
                self._show_state()
                if self.catalog_loaded:
                    bar = self.query_one(CategoryBar)
                    await bar.show_categories(self._categories)
                    bar.active = None if self.search else self.category
                    self.shown_view = None
                    self.read_view()
            except asyncio.CancelledError:
                done.cancel()
                raise
            except Exception as err:  # the app logs it and carries on
                done.set_exception(err)
            else:
                done.set_result(None)

        self.call_next(again)
        await done

    @on(PrinterChanged)
    def _printer_changed(self, event: PrinterChanged) -> None:
        self.printer_banner = event.state.banner
        self.set_class(event.state.problem is not None, "-printer-problem")

    def watch_printer_banner(self, banner: str | None) -> None:
        label = self.query_one("#printer-banner", Static)
        label.update(banner or "")
        label.display = banner is not None

    # -- called by the app ----------------------------------------------------------------------

    def start_shift(self, staff: Staff) -> None:
        """Someone unlocked the till. A cart is kept for the same person, cleared for another.
        A notice that came while the till was locked (a bitcoin payment found at boot, a scan
        ignored) stays for them to read; an older one is cleared."""
        unread = self._notice_unread
        if self.staff is not None and self.staff.id != staff.id and not self.cart.is_empty:
            self.cart.clear()
            self.selected = None
            self.cart_revision += 1
            cleared = _("The cart {name} left was cleared").format(name=self.staff.name)
            if unread:
                self.show_notice(f"{cleared}. {self.notice}", error=self.notice_is_error)
            else:
                self.show_notice(cleared)
        elif not unread:
            self.show_notice("")
        self._notice_unread = False
        self.staff = staff
        self.scanner.reset()

    def next_customer(self) -> None:
        """A sale is done (the till emptied the cart): start afresh."""
        self.cart.clear()
        self.selected = None
        self.search = ""
        self.scanner.reset()
        self.show_notice("")
        self.cart_revision += 1
        self.check_catalog()

    # -- state ---------------------------------------------------------------------------------

    def show_notice(self, text: str, error: bool = False) -> None:
        self.notice_is_error = error
        self.notice = text
        self._notice_unread = bool(text) and not self.is_active

    def watch_notice(self, notice: str) -> None:
        label = self.query_one("#notice", Static)
        label.update(notice)
        label.set_class(self.notice_is_error, "-error")

    def watch_staff(self, staff: Staff | None) -> None:
        text = f"{staff.name} · {_(ROLE_NAMES.get(staff.role, staff.role))}" if staff else ""
        self.query_one("#staff-name", Static).update(text)
        self.query_one("#no-sale", TapButton).disabled = staff is None
        self.query_one("#reprint", TapButton).disabled = staff is None
        self.query_one("#training", TapButton).disabled = staff is None
        self.query_one("#menu", TapButton).disabled = staff is None
        self._update_pay()

    def show_shift(self, is_open: bool) -> None:
        """Whether a shift is open (the app asks the shift service): a banner when none is."""
        self.query_one("#shift-banner").display = not is_open

    @on(DrawerChanged)
    def _drawer_changed(self, event: DrawerChanged) -> None:
        self.drawer = event.state

    def watch_drawer(self, state: DrawerState) -> None:
        banner = self.query_one("#drawer-banner", Static)
        if state.warning:
            limit = self.till.drawer.warn_after_s
            banner.update(
                _("⚠ The cash drawer has been open for over {seconds} s: close it").format(
                    seconds=f"{limit:g}"
                )
            )
        elif state.open:
            banner.update(_("Cash drawer open"))
        banner.display = bool(state.open)
        banner.set_class(state.warning, "-warning")

    def watch_cart_revision(self) -> None:
        self._show_cart()

    def watch_selected(self) -> None:
        self._show_cart()

    def watch_pending_lookups(self) -> None:
        self._update_pay()
        self._tell_activity()

    def watch_category(self, category: str | None) -> None:
        self.query_one(CategoryBar).active = None if self.search else category
        self._filter()

    def watch_search(self, search: str) -> None:
        self._enter_pending = False
        self.query_one(CategoryBar).active = None if search else self.category
        self._filter()

    def _filter(self) -> None:
        if self.catalog_loaded:
            self.read_view()

    @property
    def view_settled(self) -> bool:
        """The grid shows the category or search asked for (its first page is read)."""
        return self.catalog_loaded and self.shown_view == self._view()

    def _view(self) -> tuple[str | None, str]:
        query = self.search.strip()
        return (None, query) if query else (self.category, "")

    def _show_cart(self) -> None:
        self.query_one(CartView).show(self.cart, self.selected)
        self._update_pay()
        self._tell_activity()

    def _tell_activity(self) -> None:
        """Busy from the first item (or its lookup) until the sale is done or the cart cleared;
        a payment screen is only ever over a cart that is not empty."""
        busy = not self.cart.is_empty or self.pending_lookups > 0
        self.run_worker(self.till.activity.set_busy(busy), group="activity")

    def _update_pay(self) -> None:
        ready = not self.cart.is_empty and self.pending_lookups == 0 and self.staff is not None
        for pay in self.query(".pay").results(TapButton):
            pay.disabled = not ready

    # -- catalog -------------------------------------------------------------------------------

    @work(exclusive=True, group="catalog", exit_on_error=False)
    async def load_catalog(self) -> None:
        """The categories and the version they belong to; then the grid's first page."""
        try:
            version = await self.till.sales.catalog_version()
            categories = list(await self.till.sales.categories())
        except Exception as err:
            log.exception("could not load the catalog")
            self.show_notice(
                _("Could not load the products: {error}").format(error=err), error=True
            )
            return
        self.catalog_version = version
        self._categories = categories
        await self.query_one(CategoryBar).show_categories(categories)
        self.catalog_loaded = True
        if self.category not in categories:
            self.set_reactive(SellScreen.category, categories[0] if categories else None)
            self.query_one(CategoryBar).active = None if self.search else self.category
        self.read_view()
        if not categories:
            self.show_notice(_(NO_PRODUCTS), error=True)

    @work(exclusive=True, group="catalog-check", exit_on_error=False)
    async def check_catalog(self) -> None:
        """Between sales, show a catalog version that landed since the grid was read."""
        if not self.cart.is_empty or self.pending_lookups or not self.catalog_loaded:
            return  # a sale in progress (or starting) keeps the catalog it started with
        try:
            version = await self.till.sales.catalog_version()
        except Exception:
            log.exception("could not read the catalog version")
            return
        if version != self.catalog_version and self.cart.is_empty:
            log.info("catalog changed: showing it", extra={"version": version and version.version})
            self.load_catalog()

    @work(exclusive=True, group="view", exit_on_error=False)
    async def read_view(self) -> None:
        """The first page of the category or search shown (a newer view cancels this read)."""
        view = self._view()
        category, query = view
        try:
            after: PageKey | int | None
            if query:
                products = await self.till.sales.search(query, 0, PAGE)
                after = len(products) if len(products) == PAGE else None
            elif category is not None:
                products, after = await self.till.sales.page(category, None, PAGE)
            else:
                products, after = [], None
        except Exception as err:
            log.exception("could not read the products")
            self.show_notice(
                _("Could not read the products: {error}").format(error=err), error=True
            )
            return
        self.post_message(self.PageRead(view, products, None, after))

    @on(ProductGrid.NeedMore)
    def _need_more(self) -> None:
        if self.shown_view == self._view() and self._next is not None:
            self.read_more(self.shown_view, self._next)

    @work(exclusive=True, group="more", exit_on_error=False)
    async def read_more(self, view: tuple[str | None, str], after: PageKey | int) -> None:
        category, query = view
        try:
            following: PageKey | int | None
            if isinstance(after, int):
                products = await self.till.sales.search(query, after, PAGE)
                following = after + len(products) if len(products) == PAGE else None
            else:
                assert category is not None
                products, following = await self.till.sales.page(category, after, PAGE)
        except Exception as err:
            log.exception("could not read more products")
            self.show_notice(
                _("Could not read the products: {error}").format(error=err), error=True
            )
            return
        self.post_message(self.PageRead(view, products, after, following))

    @on(PageRead)
    async def _page_read(self, event: PageRead) -> None:
        if event.view != self._view():
            return  # read for a view the cashier has left
        grid = self.query_one(ProductGrid)
        if event.after is None:
            query = event.view[1]
            no_match = _("No product matches “{query}”").format(query=query) if query else ""
            await grid.show_products(event.products, event.next is not None, no_match)
        elif event.view == self.shown_view and event.after == self._next:
            await grid.append_products(event.products, event.next is not None)
        else:
            return
        self._next = event.next
        self.shown_view = event.view
        if self._enter_pending and event.after is None:
            self._enter_pending = False
            self._typed_enter()

    @on(CategoryBar.Selected)
    def _category_selected(self, event: CategoryBar.Selected) -> None:
        self.search = ""
        self.category = event.category
        self.query_one(CategoryBar).active = event.category

    @on(Button.Pressed, "#search-clear")
    def _clear_search(self) -> None:
        self.scanner.reset()
        self.search = ""

    # -- cart ----------------------------------------------------------------------------------

    @on(ProductGrid.Chosen)
    def _product_chosen(self, event: ProductGrid.Chosen) -> None:
        self.choose(event.product)

    def choose(self, product: Product) -> None:
        """A product tapped (or the only one a search shows): priced from the cart's catalog
        version, since a page the grid read after an import shows the new catalog's."""
        self._start_lookup()
        self._take(lambda: self.till.sales.priced_for(product, self.cart), product.name)

    def scan(self, code: str) -> None:
        """Look a barcode up and add its product (the lookup runs in a worker)."""
        self._start_lookup()
        self._take(lambda: self.till.sales.product_for_barcode(code, self.cart), code)

    def _start_lookup(self) -> None:
        """Before a product is priced: an empty cart starts at the catalog version the grid
        shows, is priced from it and names it, even if an import lands before it is paid."""
        if self.cart.is_empty:
            self.cart.catalog = self.catalog_version
        self.pending_lookups += 1  # counted out by _take

    @work(group="lookup", exit_on_error=False)
    async def _take(self, lookup: Callable[[], Awaitable[Product | None]], what: str) -> None:
        """Add the product ``lookup`` finds, priced from the cart's catalog version; ``what`` (a
        barcode, or a tapped product's name) is what a notice names when it finds none."""
        product = None
        try:
            product = await lookup()
        except BarcodeError:
            self.show_notice(
                _(
                    "Not a valid barcode: {code} has a wrong check digit. Scan or type it again."
                ).format(code=what),
                error=True,
            )
        except NotInSaleCatalog as err:
            self._not_in_sale_catalog(err)
        except Exception as err:
            log.exception("product lookup failed")
            self.show_notice(
                _("Could not look up {code}: {error}").format(code=what, error=err), error=True
            )
        else:
            if product is None:
                self.show_notice(
                    _("Unknown product: no product has barcode {code}").format(code=what),
                    error=True,
                )
        finally:
            self.pending_lookups -= 1
        if product is not None:
            self.add_product(product)

    def _not_in_sale_catalog(self, err: NotInSaleCatalog) -> None:
        if self.cart.is_empty:
            # No sale yet: the grid is behind an import that just landed. Show the new catalog
            # (once this lookup is counted out), from which the next try is priced.
            self.show_notice(_("The catalog has just changed: scan or tap it again"), error=True)
            self.call_later(self.check_catalog)
        else:
            self.show_notice(str(err), error=True)

    def add_product(self, product: Product) -> None:
        """Put a product priced from the cart's catalog version in the cart."""
        try:
            line = self.cart.add(product)
        except CartError as err:
            self.show_notice(str(err), error=True)
            return
        self.show_notice(_("Added {name}").format(name=product.name))
        self.set_reactive(SellScreen.selected, self.cart.lines.index(line))
        self.cart_revision += 1

    @on(CartView.LineSelected)
    def _line_selected(self, event: CartView.LineSelected) -> None:
        if 0 <= event.index < len(self.cart.lines):
            self.selected = event.index

    @on(Button.Pressed, "#qty-plus")
    def _plus(self) -> None:
        self.change_quantity(+1)

    @on(Button.Pressed, "#qty-minus")
    def _minus(self) -> None:
        self.change_quantity(-1)

    @on(Button.Pressed, "#remove-line")
    def _remove(self) -> None:
        self.remove_selected()

    def change_quantity(self, delta: int) -> None:
        """Change the selected line's quantity; down to zero removes the line."""
        index = self.selected
        if index is None or index >= len(self.cart.lines):
            return
        try:
            self.cart.set_quantity(index, self.cart.lines[index].quantity + delta)
        except CartError as err:
            self.show_notice(str(err), error=True)
            return
        if index >= len(self.cart.lines):  # the line went away
            self.set_reactive(
                SellScreen.selected, len(self.cart.lines) - 1 if self.cart.lines else None
            )
        self.cart_revision += 1

    def remove_selected(self) -> None:
        index = self.selected
        if index is None or index >= len(self.cart.lines):
            return
        try:
            self.cart.remove(index)
        except CartError as err:
            self.show_notice(str(err), error=True)
            return
        remaining = len(self.cart.lines)
        self.set_reactive(SellScreen.selected, min(index, remaining - 1) if remaining else None)
        self.cart_revision += 1

    # -- buttons up ----------------------------------------------------------------------------

    @on(Button.Pressed, ".pay")
    def _pay(self, event: Button.Pressed) -> None:
        if self.cart.is_empty or self.pending_lookups or self.staff is None:
            return
        self.scanner.reset()
        methods = {
            "pay-bitcoin": "bitcoin",
            "pay-card": "card",
            "pay-split": "split",
            "pay-mercadopago_point": "mercadopago_point",
            "pay-mercadopago_qr": "mercadopago_qr",
            "pay-usdt": "usdt",
        }
        method = methods.get(event.button.id or "", "cash")
        self.post_message(self.PayRequested(self.cart, self.staff, method))

    @on(Button.Pressed, "#no-sale")
    def _no_sale(self) -> None:
        if self.staff is None:
            return
        self.scanner.reset()
        self.post_message(self.NoSaleRequested(self.staff))

    @on(Button.Pressed, "#reprint")
    def _reprint_pressed(self) -> None:
        if self.staff is not None:
            self.reprint_last(self.staff)

    @work(exclusive=True, group="reprint", exit_on_error=False)
    async def reprint_last(self, staff: Staff) -> None:
        """Journal a reprint of the last receipt; the copy prints through the queue."""
        try:
            record = await self.till.receipts.reprint_last(staff)
        except NothingToReprint:
            self.show_notice(_("No receipt to reprint yet"), error=True)
            return
        except Exception as err:
            log.exception("reprint failed")
            self.show_notice(_("Could not reprint: {error}").format(error=err), error=True)
            return
        self.show_notice(
            _("Copy of receipt #{seq} sent to the printer (journal #{journal})").format(
                seq=record.body["original_seq"], journal=record.seq
            )
        )

    @on(Button.Pressed, "#training")
    def _training_pressed(self) -> None:
        if self.staff is not None:
            self.switch_training(self.staff)

    @work(exclusive=True, group="training", exit_on_error=False)
    async def switch_training(self, staff: Staff) -> None:
        """Training mode on or off (a manager's right, checked by the till)."""
        try:
            await self.till.access.set_training(staff, not self.till.training)
        except AuthError as err:
            self.show_notice(str(err), error=True)
            return
        self._show_training()
        self.show_notice(_("Training mode: sales are practice") if self.till.training else "")

    def _show_training(self) -> None:
        self.set_class(self.till.training, "-training")
        self.query_one("#training", TapButton).label = (
            _("End training") if self.till.training else _("Training")
        )

    @on(Button.Pressed, "#menu")
    def _menu(self) -> None:
        if self.staff is not None:
            self.scanner.reset()
            self.post_message(self.MenuRequested(self.staff))

    @on(Button.Pressed, "#lock")
    def _lock(self) -> None:
        self.scanner.reset()
        self.post_message(self.LockRequested())

    # -- keys: scanner bursts, search typing, line keys ----------------------------------------

    def on_key(self, event: events.Key) -> None:
        key = event.key
        if key == "enter":
            code = self.scanner.enter()
            if code is not None:
                if self.search.endswith(code):  # the burst typed itself into the search text
                    self.search = self.search[: -len(code)]
                self.scan(code)
            else:
                self._typed_enter()
        elif key == "backspace":
            self.scanner.reset()
            self.search = self.search[:-1]
        elif key == "escape":
            self.scanner.reset()
            self.search = ""
        elif key in ("up", "down"):
            self._move_selection(-1 if key == "up" else 1)
        elif key == "delete":
            self.remove_selected()
        elif event.is_printable and event.character:
            self.scanner.key(event.character)
            self.search += event.character
        else:
            return
        event.stop()
        event.prevent_default()

    def _typed_enter(self) -> None:
        typed = self.search.strip()
        if typed.isdigit() and len(typed) >= MIN_TYPED_BARCODE:
            self.search = ""
            self.scan(typed)
            return
        if typed:
            if self.shown_view != self._view():
                self._enter_pending = True  # decided when the search's page is read
                return
            grid = self.query_one(ProductGrid)
            matches = grid.buttons
            if len(matches) == 1 and not grid.more:
                self.search = ""
                self.choose(matches[0].product)

    def _move_selection(self, step: int) -> None:
        if not self.cart.lines:
            return
        current = self.selected
        start = (-1 if step > 0 else len(self.cart.lines)) if current is None else current
        self.selected = max(0, min(len(self.cart.lines) - 1, start + step))

    # -- a scanner that is not a keyboard (serial) ---------------------------------------------

    @on(BarcodeRead)
    def _barcode_read(self, event: BarcodeRead) -> None:
        if not self.is_active or self.staff is None:
            # Locked, or a payment is open over the cart: a scan must not change what is paid.
            log.info("scan ignored while the sell screen is covered", extra={"code": event.code})
            text = _("Scan of {code} ignored: the till was locked or taking payment").format(
                code=event.code
            )
            self.show_notice(text, error=True)  # still there when the sell screen shows again
            self.app.notify(text, severity="warning", timeout=4)
            return
        self.scan(event.code)

    @on(Notice)
    def _notice(self, event: Notice) -> None:
        self.show_notice(event.text, error=event.error)
