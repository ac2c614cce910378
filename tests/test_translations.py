"""Every marked string is in every catalog, translated and not fuzzy; the committed .mo files are
what their .po files compile to (docs/TRANSLATING.md).

One mechanism for each gettext domain of the project: a :class:`Domain` names its sources (the
folders `pybabel extract` reads, with the mapping file ``babel.cfg`` beside the catalogs) and its
catalogs folder (``<language>/LC_MESSAGES/<name>.po`` and ``.mo``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("es", "pt_BR", "pt_PT")


@dataclass(frozen=True)
class Domain:
    name: str
    sources: list[Path]  # folders, relative to the repository
    catalogs: Path  # holds babel.cfg and <language>/LC_MESSAGES/<name>.po|.mo

    def po(self, language: str) -> Path:
        return ROOT / self.catalogs / language / "LC_MESSAGES" / f"{self.name}.po"

    def extracted(self) -> dict[tuple[str | None, str], list[str]]:
        """Each (context, message id) the sources mark, with where it is marked."""
        with (ROOT / self.catalogs / "babel.cfg").open(encoding="utf-8") as config:
            method_map, options_map = parse_mapping_cfg(config)
        found: dict[tuple[str | None, str], list[str]] = {}
        for source in self.sources:
            for filename, line, message, _comments, context in extract_from_dir(
                ROOT / source, method_map, options_map
            ):
                key = message[0] if isinstance(message, tuple) else message
                found.setdefault((context, key), []).append(f"{source}/{filename}:{line}")
        return found


DOMAINS = [Domain(name="bitagora", sources=[Path("appliance")], catalogs=Path("appliance/locale"))]
CASES = [(domain, language) for domain in DOMAINS for language in LANGUAGES]
IDS = [f"{domain.name}-{language}" for domain, language in CASES]


def read(path: Path) -> Catalog:
    with path.open("rb") as file:
        return read_po(file)


@pytest.fixture(scope="module", params=DOMAINS, ids=[d.name for d in DOMAINS])
def extracted(
    request: pytest.FixtureRequest,
) -> tuple[Domain, dict[tuple[str | None, str], list[str]]]:
    domain: Domain = request.param
    return domain, domain.extracted()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_marked_string_is_translated(
    extracted: tuple[Domain, dict[tuple[str | None, str], list[str]]], language: str
) -> None:
    domain, messages = extracted
    assert messages, f"{domain.name}: nothing marked for translation in {domain.sources}"
    catalog = read(domain.po(language))
    missing, untranslated, fuzzy = [], [], []
    for (context, msgid), where in sorted(messages.items(), key=lambda item: item[0][1]):
        entry = catalog.get(msgid, context=context)
        if entry is None:
            missing.append(f"{msgid!r} ({where[0]})")
        elif entry.fuzzy:
            fuzzy.append(repr(msgid))
        elif not all(entry.string) if isinstance(entry.string, tuple) else not entry.string:
            untranslated.append(repr(msgid))
    assert (missing, untranslated, fuzzy) == ([], [], []), "run pybabel (docs/TRANSLATING.md)"


@pytest.mark.parametrize(("domain", "language"), CASES, ids=IDS)
def test_the_committed_mo_is_the_compiled_po(domain: Domain, language: str) -> None:
    po = domain.po(language)
    compiled = io.BytesIO()
    write_mo(compiled, read(po))
    assert po.with_suffix(".mo").read_bytes() == compiled.getvalue(), (
        f"recompile {po} (pybabel compile, docs/TRANSLATING.md)"
    )


@pytest.mark.parametrize(("domain", "language"), CASES, ids=IDS)
def test_placeholders_survive_translation(domain: Domain, language: str) -> None:
    """A translation keeps the message's {placeholders}, or formatting it fails at the till."""
    wrong = []
    for message in read(domain.po(language)):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(_fields(ids[-1]))
        wrong += [f"{ids[0]!r}: {s!r}" for s in strings if s and set(_fields(s)) != wanted]
    assert wrong == []


def _fields(text: str) -> list[str]:
    import string

    return [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
