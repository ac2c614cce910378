"""The Jinja2 templates of every page central serves: autoescaped, with ``csrf_token(request)``
for the hidden field of each form, ``saved_note(request)`` for what the form before did, and
Jinja's i18n extension: ``{% trans %}`` and ``_()`` speak the request's language
(``central.i18n``), with new-style placeholders (``_("%(n)s devices", n=3)``) and trimmed
``{% trans %}`` blocks, as ``central/locale/babel.cfg`` extracts them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from central import i18n, stored_words
from central.csrf import FIELD, csrf_token


def saved_note(request: Request) -> str:
    """A form of the merchant's pages redirects with ``?saved=VERSION`` after a change."""
    saved = request.query_params.get("saved", "")
    if not saved.isdigit():
        return ""
    return i18n.gettext(
        "Saved (configuration version %(version)s); the devices get it within a minute."
    ) % {"version": saved}


env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(),
    extensions=["jinja2.ext.i18n"],
)
env.policies["ext.i18n.trimmed"] = True
# Added to the environment by the i18n extension, which mypy cannot see.
install: Callable[..., None] = env.install_gettext_callables  # type: ignore[attr-defined]
install(i18n.gettext, i18n.ngettext, newstyle=True)
env.globals["csrf_token"] = csrf_token
env.globals["csrf_field"] = FIELD
env.globals["saved_note"] = saved_note
env.globals["language_tag"] = lambda: i18n.tag(i18n.language())
# Stored English words shown in the page's language (central/stored_words.py).
env.globals["alert_kind"] = stored_words.alert_kind
env.globals["alert_detail"] = stored_words.alert_detail
env.globals["device_state"] = stored_words.device_state
env.globals["uplink_state"] = stored_words.uplink_state
templates = Jinja2Templates(env=env)
