"""The Jinja2 templates of every page central serves: autoescaped, with ``csrf_token(request)``
for the hidden field of each form and ``saved_note(request)`` for what the form before did."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.templating import Jinja2Templates

from central.csrf import FIELD, csrf_token


def saved_note(request: Request) -> str:
    """A form of the merchant's pages redirects with ``?saved=VERSION`` after a change."""
    saved = request.query_params.get("saved", "")
    if not saved.isdigit():
        return ""
    return f"Saved (configuration version {saved}); the devices get it within a minute."


templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.globals["csrf_token"] = csrf_token
templates.env.globals["csrf_field"] = FIELD
templates.env.globals["saved_note"] = saved_note
