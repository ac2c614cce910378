"""The merchant's Products pages: the catalog a page at a time (search by sku, name or barcode;
a category filter), one product's form (add, edit, deactivate), and the catalog's CSV import and
export.

Every query runs as the user (``as_user``) and every change goes through ``merchant_catalog``,
which bumps the configuration version in the change's transaction, so the merchant's devices
fetch the new document at their next poll (``uplink.config_s``, every 30 s by default). A product
typed into the form is read by the catalog file's own parser (a one-row file), so the form and
an import accept and refuse exactly the same values.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import time
from urllib.parse import urlencode

import asyncpg
from babel.numbers import format_decimal
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bitagora_protocol import barcode
from bitagora_protocol.catalog import CatalogItem
from bitagora_protocol.catalog_csv import (
    REQUIRED,
    CatalogFileError,
    Problem,
    format_minor,
    format_percent,
    parse_catalog,
)
from bitagora_protocol.money import exponent
from central import i18n, merchant_catalog
from central.audit import Actor, record
from central.context import central
from central.csrf import checked_form
from central.i18n import _
from central.templating import templates
from central.tenancy import as_user
from central.web_auth import Principal, merchant_page

PAGE_SIZE = 50
# A refused file lists its problems on the page up to this many (and how many there were).
SHOWN_PROBLEMS = 500
# A 50,000-product file is about 4 MB; a file far larger is not a catalog.
MAX_UPLOAD_BYTES = 64 * 2**20
_FORM_COLUMNS = (*REQUIRED, "active", "position")


@dataclasses.dataclass(frozen=True)
class Search:
    """What the products page was asked for: text, a category, a page (from 1)."""

    text: str
    category: str
    page: int

    @classmethod
    def of(cls, request: Request) -> Search:
        params = request.query_params
        page = params.get("page", "1")
        return cls(
            params.get("q", "").strip(),
            params.get("category", ""),
            min(int(page), 10**6) if page.isdigit() and int(page) > 0 else 1,
        )


async def find_products(
    conn: asyncpg.Connection, merchant: int, search: Search
) -> tuple[int, list[CatalogItem]]:
    """How many products match, and the asked page of them in sku order: the primary key's
    order, so a page is read from the index even at 50,000 products."""
    where, args = ["merchant_id = $1"], list[object]([merchant])
    if search.text:
        pattern = "%" + search.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args += [pattern + "%", [_barcode_key(search.text)]]
        where.append(
            f"(sku ILIKE ${len(args) - 1} OR name ILIKE ${len(args) - 1}"
            f" OR barcodes @> ${len(args)}::text[])"
        )
    if search.category:
        args.append(search.category)
        where.append(f"category = ${len(args)}")
    condition = " AND ".join(where)
    total = await conn.fetchval(f"SELECT count(*) FROM merchant_products WHERE {condition}", *args)
    rows = await conn.fetch(
        f"SELECT {merchant_catalog.PRODUCT_FIELDS} FROM merchant_products WHERE {condition}"
        f" ORDER BY sku LIMIT {PAGE_SIZE} OFFSET {(search.page - 1) * PAGE_SIZE}",
        *args,
    )
    return int(total), [merchant_catalog.product_of(r) for r in rows]


def _barcode_key(text: str) -> str:
    """A typed or scanned code as the catalog keeps it (EAN-8 and UPC-A are kept as GTIN-13)."""
    try:
        return barcode.parse(text).key
    except barcode.BarcodeError:
        return text


async def _render_list(
    request: Request,
    who: Principal,
    merchant: int,
    *,
    message: str = "",
    problems: list[Problem] | None = None,
    status: int = 200,
) -> Response:
    search = Search.of(request)
    async with as_user(central(request).pool, who.claims) as conn:
        currency = (await merchant_catalog.settings(conn, merchant)).currency
        locale = await i18n.merchant_locale(conn, merchant)
        total, items = await find_products(conn, merchant, search)
        categories = await conn.fetch(
            "SELECT DISTINCT category FROM merchant_products WHERE merchant_id = $1"
            " ORDER BY category",
            merchant,
        )
    pages = max(1, -(-total // PAGE_SIZE))
    shown = problems or []
    return templates.TemplateResponse(
        request,
        "products.html",
        {
            "user": who.name,
            "heading": _("Products"),
            "search": search,
            "total": total,
            "total_shown": format_decimal(total, locale=locale),
            "pages": pages,
            "categories": [r["category"] for r in categories],
            "products": [_shown(item, currency, locale) for item in items],
            "message": message,
            "problems": [str(p) for p in shown[:SHOWN_PROBLEMS]],
            "more_problems": max(0, len(shown) - SHOWN_PROBLEMS),
        },
        status_code=status,
    )


def _shown(item: CatalogItem, currency: str, locale: str) -> dict[str, str]:
    """A product's row in the list: its form's values, the price as the shop's locale writes it."""
    return _form_values(item, currency) | {
        "price_shown": i18n.money(item.price, currency, locale),
        "tax_code": item.tax_code,
    }


@merchant_page()
async def products_page(request: Request, who: Principal, merchant: int) -> Response:
    return await _render_list(request, who, merchant)


@merchant_page()
async def import_form(request: Request, who: Principal, merchant: int) -> Response:
    """A CSV file uploaded through the page becomes the whole catalog, or nothing changes."""
    form = await checked_form(request)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        return await _render_list(
            request, who, merchant, problems=[Problem(None, None, _("choose a file"))], status=400
        )
    if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
        over = _("the file is over %(size)s MB") % {"size": MAX_UPLOAD_BYTES // 2**20}
        too_big = Problem(None, None, over)
        return await _render_list(request, who, merchant, problems=[too_big], status=400)
    data = await upload.read()
    started = time.monotonic()
    try:
        async with as_user(central(request).pool, who.claims) as conn:
            done = await merchant_catalog.import_file(conn, merchant, data)
            target = f"{upload.filename}: {done.products} products, version {done.version}"
            await record(conn, Actor.of(request, who.name), "catalog.import", target, merchant)
    except CatalogFileError as err:
        return await _render_list(request, who, merchant, problems=err.problems, status=400)
    took = time.monotonic() - started
    return await _render_list(
        request,
        who,
        merchant,
        message=_(
            "%(file)s: %(count)s products imported in %(seconds)s s (configuration version"
            " %(version)s); devices get them within a minute."
        )
        % {
            "file": upload.filename,
            "count": format_decimal(done.products, locale=i18n.language()),
            "seconds": format_decimal(round(took, 1), locale=i18n.language()),
            "version": done.version,
        },
    )


@merchant_page()
async def export_file(request: Request, who: Principal, merchant: int) -> Response:
    async with as_user(central(request).pool, who.claims) as conn:
        text, _ = await merchant_catalog.export_file(conn, merchant)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="catalog.csv"'},
    )


async def _render_form(
    request: Request,
    who: Principal,
    values: dict[str, str],
    *,
    new: bool,
    errors: list[str] | None = None,
    status: int = 200,
) -> Response:
    return templates.TemplateResponse(
        request,
        "product.html",
        {
            "user": who.name,
            "heading": _("New product") if new else _("Product %(sku)s") % {"sku": values["sku"]},
            "values": values,
            "new": new,
            "errors": errors or [],
        },
        status_code=status,
    )


def _form_values(item: CatalogItem, currency: str) -> dict[str, str]:
    return {
        "sku": item.sku,
        "name": item.name,
        "category": item.category,
        "price": format_minor(item.price, exponent(currency)),
        "tax_percent": format_percent(item.tax_bp),
        "price_includes_tax": "yes" if item.price_includes_tax else "no",
        "barcodes": " ".join(item.barcodes),
        "active": "yes" if item.active else "no",
        "position": str(item.position),
    }


@merchant_page()
async def product_page(request: Request, who: Principal, merchant: int) -> Response:
    """One product's form (``?sku=``), or an empty one for a new product."""
    sku = request.query_params.get("sku")
    if sku is None:
        empty = dict.fromkeys(_FORM_COLUMNS, "")
        return await _render_form(request, who, empty | {"price_includes_tax": "yes"}, new=True)
    async with as_user(central(request).pool, who.claims) as conn:
        item = await merchant_catalog.product(conn, merchant, sku)
        currency = (await merchant_catalog.settings(conn, merchant)).currency
    if item is None:
        return _no_such_product()
    return await _render_form(request, who, _form_values(item, currency), new=False)


@merchant_page()
async def save_product_form(request: Request, who: Principal, merchant: int) -> Response:
    form = await checked_form(request)
    new = _text(form, "new") == "yes"
    values = {name: _text(form, name) for name in _FORM_COLUMNS}
    values["active"] = "yes" if _text(form, "active") or new else "no"
    async with as_user(central(request).pool, who.claims) as conn:
        currency = (await merchant_catalog.settings(conn, merchant)).currency
        before = await merchant_catalog.product(conn, merchant, values["sku"])
        if before is None and not new:
            return _no_such_product()
        if before is not None:
            values["position"] = str(before.position)
        try:
            item = _one_row(values, currency, await merchant_catalog.tax_codes(conn, merchant))
        except CatalogFileError as err:
            errors = [f"{p.column or _('product')}: {p.message}" for p in err.problems]
            return await _render_form(request, who, values, new=new, errors=errors, status=400)
        errors = []
        if new and before is not None:
            errors.append(_("sku: %(sku)s is already a product") % {"sku": item.sku})
        taken = await conn.fetch(
            "SELECT sku, code FROM merchant_products, unnest(barcodes) AS code"
            " WHERE merchant_id = $1 AND sku <> $2 AND barcodes && $3::text[]"
            " AND code = ANY($3::text[])",
            merchant,
            item.sku,
            list(item.barcodes),
        )
        errors += [
            _("barcodes: %(code)s is the code of %(sku)s") % {"code": r["code"], "sku": r["sku"]}
            for r in taken
        ]
        if errors:
            return await _render_form(request, who, values, new=new, errors=errors, status=400)
        version = await merchant_catalog.put_product(conn, merchant, item)
        action = "product.add" if new else "product.change"
        await record(conn, Actor.of(request, who.name), action, item.sku, merchant)
    return _saved(item.sku, version)


@merchant_page()
async def deactivate_form(request: Request, who: Principal, merchant: int) -> Response:
    """Take a product off the till's screen; it stays in the catalog and in past sales."""
    form = await checked_form(request)
    async with as_user(central(request).pool, who.claims) as conn:
        item = await merchant_catalog.product(conn, merchant, _text(form, "sku"))
        if item is None:
            return _no_such_product()
        version = await merchant_catalog.put_product(
            conn, merchant, dataclasses.replace(item, active=False)
        )
        await record(conn, Actor.of(request, who.name), "product.deactivate", item.sku, merchant)
    return _saved(item.sku, version)


def _no_such_product() -> Response:
    return Response(_("No such product.") + "\n", status_code=404, media_type="text/plain")


def _saved(sku: str, version: int) -> Response:
    """Back to the product's form (a reload then repeats nothing), saying what was done."""
    return RedirectResponse(
        "/merchant/product?" + urlencode({"sku": sku, "saved": version}), status_code=303
    )


def _one_row(values: dict[str, str], currency: str, known: dict[str, int]) -> CatalogItem:
    """The form's product, read as a one-row catalog file by the file's own parser."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_FORM_COLUMNS)
    row = dict(values, barcodes="|".join(values["barcodes"].split()))
    writer.writerow([row[name] for name in _FORM_COLUMNS])
    [item] = parse_catalog(out.getvalue().encode(), currency, known).items
    return item


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""
