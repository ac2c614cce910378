"""The merchant's Staff page: who works at its tills, their role, badges and own screen language
(the tills switch to it at their login; "the shop's" when unset); add, change, deactivate.

Central never holds a PIN (docs/ARCHITECTURE.md, "PINs"): a person added here gets their PIN at
the till from a manager, or works with a badge. Changes go through ``merchant_catalog.put_staff``,
which bumps the configuration version the devices fetch.
"""

from __future__ import annotations

import dataclasses

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bitagora_protocol.badge_uid import BadgeUidError, normalize_uid
from bitagora_protocol.config_document import ROLES, StaffEntry
from central import merchant_catalog
from central.audit import Actor, record
from central.context import central
from central.csrf import checked_form
from central.i18n import N_, _, display_name, till_language, till_language_choices
from central.templating import templates
from central.tenancy import as_user
from central.web_auth import Principal, merchant_page

_LIMITS = {"staff_id": 64, "name": 200}
# The tills' roles (bitagora_protocol.config_document.ROLES), as the page names them.
ROLE_NAMES = {"cashier": N_("cashier"), "manager": N_("manager"), "technician": N_("technician")}


async def _render(
    request: Request,
    who: Principal,
    merchant: int,
    *,
    editing: StaffEntry | None = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> Response:
    async with as_user(central(request).pool, who.claims) as conn:
        people = await merchant_catalog.staff(conn, merchant)
    if editing is None:
        wanted = request.query_params.get("edit")
        editing = next((p for p in people if p.id == wanted), None)
    return templates.TemplateResponse(
        request,
        "staff.html",
        {
            "user": who.name,
            "heading": _("Staff"),
            "people": people,
            "editing": editing,
            "roles": sorted(ROLES),
            "role_names": {role: _(name) for role, name in ROLE_NAMES.items()},
            "languages": till_language_choices(),
            "language_name": display_name,
            "errors": errors or [],
        },
        status_code=status,
    )


@merchant_page()
async def staff_page(request: Request, who: Principal, merchant: int) -> Response:
    return await _render(request, who, merchant)


def _person(form: FormData) -> tuple[StaffEntry, list[str]]:
    """The form's staff member, and what is wrong with it."""
    fields = {name: str(form.get(name) or "").strip() for name in ("staff_id", "name", "role")}
    errors = [
        _("%(field)s: is empty") % {"field": name}
        if not fields[name]
        else _("%(field)s: at most %(count)s characters") % {"field": name, "count": limit}
        for name, limit in _LIMITS.items()
        if not 0 < len(fields[name]) <= limit
    ]
    if fields["role"] not in ROLES:
        errors.append(_("role: one of %(roles)s") % {"roles": ", ".join(sorted(ROLES))})
    badges: list[str] = []
    for uid in str(form.get("badges") or "").replace(",", " ").split():
        try:
            badges.append(normalize_uid(uid))
        except BadgeUidError as err:
            errors.append(_("badges: %(reason)s") % {"reason": err})
    language = str(form.get("language") or "")
    try:
        own_language = till_language(language)
    except ValueError:
        errors.append(
            _("language: %(code)r is not a language the tills speak") % {"code": language}
        )
        own_language = None
    person = StaffEntry(
        fields["staff_id"],
        fields["name"],
        fields["role"],
        form.get("active") == "yes",
        tuple(dict.fromkeys(badges)),
        own_language,
    )
    return person, errors


@merchant_page()
async def save_staff_form(request: Request, who: Principal, merchant: int) -> Response:
    form = await checked_form(request)
    person, errors = _person(form)
    async with as_user(central(request).pool, who.claims) as conn:
        if not errors:
            taken = await conn.fetch(
                "SELECT staff_id, uid FROM merchant_staff, unnest(badges) AS uid"
                " WHERE merchant_id = $1 AND staff_id <> $2 AND uid = ANY($3::text[])",
                merchant,
                person.id,
                list(person.badges),
            )
            errors = [
                _("badges: %(uid)s is the badge of %(id)s") % {"uid": r["uid"], "id": r["staff_id"]}
                for r in taken
            ]
        if not errors:
            version = await merchant_catalog.put_staff(conn, merchant, person)
            await record(conn, Actor.of(request, who.name), "staff.save", person.id, merchant)
            return RedirectResponse(f"/merchant/staff?saved={version}", status_code=303)
    return await _render(request, who, merchant, editing=person, errors=errors, status=400)


@merchant_page()
async def deactivate_staff_form(request: Request, who: Principal, merchant: int) -> Response:
    """Take someone off the tills; their past sales keep their name."""
    form = await checked_form(request)
    wanted = str(form.get("staff_id") or "")
    async with as_user(central(request).pool, who.claims) as conn:
        person = next(
            (p for p in await merchant_catalog.staff(conn, merchant) if p.id == wanted), None
        )
        if person is None:
            missing = _("No such staff member.") + "\n"
            return Response(missing, status_code=404, media_type="text/plain")
        version = await merchant_catalog.put_staff(
            conn, merchant, dataclasses.replace(person, active=False)
        )
        await record(conn, Actor.of(request, who.name), "staff.deactivate", person.id, merchant)
    return RedirectResponse(f"/merchant/staff?saved={version}", status_code=303)
