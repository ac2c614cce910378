"""The merchant's Settings page (owners only): the receipt's header and footer lines, the currency,
the cash rounding, the payment methods the tills offer, the shop's language, its country and its
timezone.

The first five go to the devices in the configuration document (``merchant_catalog.set_settings``
bumps its version); a language or cash rounding left unset lets each till keep its own
``device.language`` / ``device.cash_rounding``. The country and the timezone stay on central: the
back office's pages write amounts and dates as the country does (``central.i18n``), the sales
reports count days and hours on the timezone.
The currency is fixed once a device is enrolled, as a till refuses a document in another currency
than the one it sells in.
"""

from __future__ import annotations

import re
from zoneinfo import available_timezones

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bitagora_protocol.config_document import MAX_CASH_ROUNDING, PAYMENT_METHODS, Settings
from bitagora_protocol.money import MoneyError, exponent
from central import merchant_catalog
from central.audit import Actor, record
from central.context import central
from central.csrf import checked_form
from central.i18n import _, till_language, till_language_choices
from central.sales_reports import METHOD_NAMES
from central.templating import templates
from central.tenancy import as_user
from central.web_auth import Principal, merchant_page

TIMEZONES = sorted(available_timezones())
MAX_LINES = 8
_COUNTRY = re.compile(r"^[A-Z]{2}$")


async def _render(
    request: Request,
    who: Principal,
    merchant: int,
    *,
    shown: Settings | None = None,
    timezone: str | None = None,
    country: str | None = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> Response:
    async with as_user(central(request).pool, who.claims) as conn:
        current = await merchant_catalog.settings(conn, merchant)
        stored = await conn.fetchrow(
            "SELECT timezone, country FROM merchants WHERE id = $1", merchant
        )
    return templates.TemplateResponse(
        request,
        "settings.html",
        {
            "user": who.name,
            "heading": _("Shop settings"),
            "settings": shown or current,
            "timezone": timezone or stored["timezone"],
            "country": stored["country"] if country is None else country,
            "timezones": TIMEZONES,
            "methods": sorted(PAYMENT_METHODS),
            "method_names": {method: _(name) for method, name in METHOD_NAMES.items()},
            "languages": till_language_choices(),
            "errors": errors or [],
        },
        status_code=status,
    )


@merchant_page(owner_only=True)
async def settings_page(request: Request, who: Principal, merchant: int) -> Response:
    return await _render(request, who, merchant)


def _lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip())


@merchant_page(owner_only=True)
async def save_settings_form(request: Request, who: Principal, merchant: int) -> Response:
    form = await checked_form(request)
    rounding = str(form.get("cash_rounding") or "").strip()
    errors = []
    language = str(form.get("language") or "")
    try:
        shop_language = till_language(language)
    except ValueError:
        errors.append(
            _("language: %(code)r is not a language the tills speak") % {"code": language}
        )
        shop_language = None
    wanted = Settings(
        str(form.get("currency") or "").strip().upper(),
        _lines(str(form.get("header") or "")),
        _lines(str(form.get("footer") or "")),
        tuple(m for m in sorted(PAYMENT_METHODS) if m in form.getlist("methods")),
        int(rounding) if rounding.isdigit() else None,
        shop_language,
    )
    timezone = str(form.get("timezone") or "")
    country = str(form.get("country") or "").strip().upper()
    if rounding and not (rounding.isdigit() and 1 <= int(rounding) <= MAX_CASH_ROUNDING):
        errors.append(
            _("cash rounding: %(value)r is not a whole number from 1 to %(most)s")
            % {"value": rounding, "most": MAX_CASH_ROUNDING}
        )
    try:
        exponent(wanted.currency)
    except MoneyError:
        errors.append(
            _("currency: %(code)r is not a currency code this central knows")
            % {"code": wanted.currency}
        )
    if country and not _COUNTRY.match(country):
        errors.append(
            _("country: %(code)r is not a two-letter country code (ES)") % {"code": country}
        )
    if timezone not in TIMEZONES:
        errors.append(
            _("timezone: %(zone)r is not a timezone name (Europe/Lisbon)") % {"zone": timezone}
        )
    if not wanted.payment_methods:
        errors.append(_("payment methods: offer at least one"))
    if len(wanted.header_lines) > MAX_LINES or len(wanted.footer_lines) > MAX_LINES:
        errors.append(
            _("receipt: at most %(count)s header and %(count)s footer lines") % {"count": MAX_LINES}
        )
    async with as_user(central(request).pool, who.claims) as conn:
        current = await merchant_catalog.settings(conn, merchant)
        if wanted.currency != current.currency and await conn.fetchval(
            "SELECT exists(SELECT 1 FROM devices WHERE merchant_id = $1)", merchant
        ):
            errors.append(
                _(
                    "currency: the tills sell in %(code)s; it cannot change once a device is"
                    " enrolled"
                )
                % {"code": current.currency}
            )
        if not errors:
            await conn.execute(
                "UPDATE merchants SET timezone = $2, country = $3 WHERE id = $1",
                merchant,
                timezone,
                country or None,
            )
            version = await merchant_catalog.set_settings(conn, merchant, wanted)
            target = f"version {version}: {wanted.currency}, {country or '-'}, {timezone}"
            if wanted.language:
                target += f", language {wanted.language}"
            await record(conn, Actor.of(request, who.name), "settings.save", target, merchant)
            return RedirectResponse(f"/merchant/settings?saved={version}", status_code=303)
    return await _render(
        request,
        who,
        merchant,
        shown=wanted,
        timezone=timezone,
        country=country,
        errors=errors,
        status=400,
    )
