"""The Jinja2 templates of every page central serves: autoescaped, with ``csrf_token(request)``
for the hidden field of each form."""

from __future__ import annotations

from pathlib import Path

from starlette.templating import Jinja2Templates

from central.csrf import FIELD, csrf_token

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.globals["csrf_token"] = csrf_token
templates.env.globals["csrf_field"] = FIELD
