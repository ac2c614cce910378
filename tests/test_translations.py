"""Every message the code shows is in each language's catalog, translated and not fuzzy, and each
committed ``.mo`` is what compiling its ``.po`` gives.

The messages are extracted here with Babel's API from the sources themselves (Python with
``_``, ``gettext``, ``ngettext`` and ``N_``; Jinja templates with ``{% trans %}`` and ``_()``
through Jinja's own extractor), so a string wrapped in the code and forgotten in the catalogs
fails, with no ``pybabel extract`` run by hand first. docs/TRANSLATING.md says how to add one.
"""

from __future__ import annotations

import io
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("es", "pt_BR", "pt_PT")
# How each kind of source file is read, and the options its extractor needs: the templates as
# central/templating.py renders them (trimmed {% trans %} blocks, new-style placeholders).
EXTRACTORS = {
    ".py": ("python", {}),
    ".html": (
        "jinja2.ext:babel_extract",
        {"extensions": "jinja2.ext.i18n", "trimmed": "true", "newstyle_gettext": "true"},
    ),
}


@dataclass(frozen=True)
class Domain:
    """A gettext domain: its name, the globs (from the repository's root) of the files its
    messages come from, and the folder of its catalogs (``<language>/LC_MESSAGES/<name>.po``)."""

    name: str
    sources: list[str]
    catalogs: Path


DOMAINS = [
    Domain(name="bitagora", sources=["appliance/**/*.py"], catalogs=Path("appliance/locale")),
    Domain(
        name="central",
        sources=["central/**/*.py", "central/templates/**/*.html"],
        catalogs=Path("central/locale"),
    ),
]


def source_files(domain: Domain) -> Iterator[Path]:
    for pattern in domain.sources:
        yield from sorted(ROOT.glob(pattern))


def extracted(domain: Domain) -> dict[str, str]:
    """Each message id the sources use (a plural's singular), with where it was found."""
    found: dict[str, str] = {}
    for path in source_files(domain):
        method, options = EXTRACTORS[path.suffix]
        for line, message, _comments, _context in extract_from_file(
            method, str(path), options=options
        ):
            singular = message[0] if isinstance(message, tuple) else message
            if singular:
                found.setdefault(singular, f"{path.relative_to(ROOT)}:{line}")
    return found


def catalog(domain: Domain, language: str) -> Catalog:
    path = ROOT / domain.catalogs / language / "LC_MESSAGES" / f"{domain.name}.po"
    with path.open("rb") as po:
        return read_po(po, locale=language, domain=domain.name)


def compiled(po: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, po)  # as `pybabel compile` writes it: fuzzy messages left out
    return out.getvalue()


CASES = [
    pytest.param(domain, language, id=f"{domain.name}-{language}")
    for domain in DOMAINS
    for language in LANGUAGES
]


def test_every_domain_has_messages_to_translate() -> None:
    for domain in DOMAINS:
        assert list(source_files(domain)), f"{domain.name}: no source matches {domain.sources}"
        assert len(extracted(domain)) > 50, f"{domain.name}: too few messages extracted"


@pytest.mark.parametrize(("domain", "language"), CASES)
def test_every_message_is_translated(domain: Domain, language: str) -> None:
    po = catalog(domain, language)
    problems = []
    for message_id, where in sorted(extracted(domain).items()):
        entry = po.get(message_id)
        if entry is None:
            problems.append(f"missing: {message_id!r} ({where})")
        elif entry.fuzzy:
            problems.append(f"fuzzy: {message_id!r} ({where})")
        elif not all(entry.string if isinstance(entry.string, tuple) else [entry.string]):
            problems.append(f"untranslated: {message_id!r} ({where})")
    assert not problems, f"{domain.name}/{language}:\n" + "\n".join(problems)


@pytest.mark.parametrize(("domain", "language"), CASES)
def test_placeholders_survive_translation(domain: Domain, language: str) -> None:
    """A translation that drops or misspells a placeholder breaks the screen or page that
    formats it: %(name)s (Babel's check of python-format messages) or {name} (str.format)."""
    po = catalog(domain, language)
    broken = [
        f"{message.id!r}: {', '.join(str(error) for error in errors)}"
        for message, errors in po.check()
    ]
    for message in po:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = _fields(ids[-1])
        broken += [f"{ids[0]!r}: {text!r}" for text in strings if text and _fields(text) != wanted]
    assert not broken, f"{domain.name}/{language}:\n" + "\n".join(broken)


def _fields(text: str) -> set[str]:
    """The str.format fields of ``text``; none for text that is not a format string."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:  # a lone brace: not a format string
        return set()


@pytest.mark.parametrize(("domain", "language"), CASES)
def test_the_committed_mo_is_the_compiled_po(domain: Domain, language: str) -> None:
    mo = ROOT / domain.catalogs / language / "LC_MESSAGES" / f"{domain.name}.mo"
    assert mo.read_bytes() == compiled(catalog(domain, language)), (
        f"{mo} is stale: run `pybabel compile -D {domain.name} -d {domain.catalogs}`"
    )
