"""A user's Account page: the language central's pages speak to them (``central.i18n``), theirs
to choose, or the browser's. Every user has it, ops and merchants' owners and managers alike;
the change runs as the user (``as_user``) through ``users.set_own_language``, which changes
their own row and nothing else, and is recorded in the audit log."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from central import i18n
from central.audit import Actor, record
from central.context import central
from central.csrf import checked_form
from central.i18n import _
from central.templating import templates
from central.tenancy import as_user
from central.users import UserError, set_own_language
from central.web_auth import Principal, page


def language_choices() -> list[tuple[str, str]]:
    """(value, name) of each language a user may choose, each named in itself."""
    return [(code, i18n.display_name(code)) for code in i18n.LANGUAGES]


async def _render(
    request: Request, who: Principal, *, error: str = "", status: int = 200
) -> Response:
    return templates.TemplateResponse(
        request,
        "account.html",
        {
            "user": who.name,
            "is_ops": who.is_ops,
            "heading": _("Your account"),
            "language": who.language or "",
            "languages": language_choices(),
            "saved": request.query_params.get("saved") == "1",
            "error": error,
        },
        status_code=status,
    )


@page(ops_only=False)
async def account_page(request: Request, who: Principal) -> Response:
    return await _render(request, who)


@page(ops_only=False)
async def save_account_form(request: Request, who: Principal) -> Response:
    form = await checked_form(request)
    language = str(form.get("language") or "") or None
    try:
        async with as_user(central(request).pool, who.claims) as conn:
            await set_own_language(conn, language)
            target = f"{who.name}: {language or 'browser'}"
            merchant = who.merchant_id
            await record(conn, Actor.of(request, who.name), "user.language", target, merchant)
    except UserError as err:
        return await _render(request, who, error=str(err), status=400)
    return RedirectResponse("/account?saved=1", status_code=303)
