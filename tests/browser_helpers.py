"""A real headless Chromium for central's web pages: Debian's ``chromium`` (installed by
``make``), driven by Playwright for Python over its own protocol. Playwright's bundled browsers
are never downloaded: ``executable_path`` points at the system's.

The flags are those a closed network needs: without the background-networking ones Chromium
keeps trying Google's hosts and its connections are refused; as root it needs ``--no-sandbox``.
Each page gets a fresh profile (a new browser context), so cookies never leak between tests."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from playwright.async_api import Page, async_playwright

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:  # `make` installs it; a bare `pytest` on a machine without it says how
        raise RuntimeError("Chromium is not installed: run `make test` (it installs chromium)")
    return path


@asynccontextmanager
async def chromium_page(base_url: str, *, locale: str | None = None) -> AsyncIterator[Page]:
    """A page in a new headless Chromium whose relative ``goto`` paths start at ``base_url``;
    ``locale`` (``es-ES``) is the browser's language, sent as Accept-Language."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_FLAGS, headless=True
        )
        try:
            context = await browser.new_context(base_url=base_url, locale=locale)
            page = await context.new_page()
            page.set_default_timeout(15_000)
            yield page
        finally:
            await browser.close()
