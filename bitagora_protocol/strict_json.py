"""Strict JSON for everything a device signs or sends: one reading for every parser.

Two JSON parsers must never read different values from the same bytes, and every value must be
one that any verifier (a JavaScript one included) and central's PostgreSQL can hold exactly:

- an object with a duplicated key is refused (parsers disagree on which value wins);
- ``NaN`` and ``Infinity`` are refused (not JSON);
- integers lie within ±(2^53 − 1), the range an IEEE double holds exactly;
- strings (object keys included) hold no U+0000 (PostgreSQL text cannot store it) and no lone
  surrogate (not encodable as UTF-8);
- no object or array lies ``MAX_DEPTH`` or more levels below the outermost one (level 0): a
  verifier's stack is finite.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 64


class StrictJsonError(ValueError):
    """Bytes that are not strict JSON, or a value outside the ranges above."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise StrictJsonError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise StrictJsonError(f"{name} is not a JSON number")


def loads(data: bytes | str) -> Any:
    """Parse UTF-8 JSON, refusing duplicate keys and NaN/Infinity (``StrictJsonError``)."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except StrictJsonError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise StrictJsonError(f"not UTF-8 JSON: {err}") from None


def _check_string(text: str, path: str) -> None:
    if "\x00" in text:
        raise StrictJsonError(f"{path} contains U+0000")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise StrictJsonError(f"{path} contains a lone surrogate") from None


def check_values(value: Any, path: str, *, floats: bool = False, depth: int = 0) -> None:
    """Refuse any value under ``value`` that is out of range (see the module doc); ``floats``
    allows finite non-integer numbers (a heartbeat's temperature), never in signed records."""
    if not _plainly_valid(value, depth):
        _check(value, path, floats, depth)


def _valid_text(text: str) -> bool:
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _plainly_valid(value: Any, depth: int) -> bool:
    """True for a value ``_check`` would accept that holds only dicts, lists, strings, integers,
    booleans and None: what a parser gives, checked without naming every path it walks (a
    central checks every record of every batch). False where ``_check`` must decide (and name
    the path of what it refuses): anything else, a float included, or a value it refuses."""
    kind = type(value)
    if kind is str:
        return _valid_text(value)
    if kind is int:
        return bool(-MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER)
    if kind is dict:
        if depth >= MAX_DEPTH:
            return False
        for key, item in value.items():
            if type(key) is not str or not _valid_text(key) or not _plainly_valid(item, depth + 1):
                return False
        return True
    if kind is list:
        if depth >= MAX_DEPTH:
            return False
        for item in value:
            if not _plainly_valid(item, depth + 1):
                return False
        return True
    return value is None or kind is bool


def _check(value: Any, path: str, floats: bool, depth: int) -> None:
    if depth >= MAX_DEPTH and isinstance(value, (Mapping, list, tuple)):
        raise StrictJsonError(f"{path} nests {MAX_DEPTH} levels deep or more")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise StrictJsonError(f"{path} is beyond ±(2^53 − 1)")
        return
    if isinstance(value, str):
        _check_string(value, path)
        return
    if isinstance(value, float):
        if not floats:
            raise StrictJsonError(f"{path} is a float; amounts must be integers")
        if value != value or value in (float("inf"), float("-inf")):
            raise StrictJsonError(f"{path} is not a finite number")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise StrictJsonError(f"{path} has a non-string key")
            _check_string(key, f"{path} key")
            _check(item, f"{path}.{key}", floats, depth + 1)
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]", floats, depth + 1)
        return
    raise StrictJsonError(f"{path} has a {type(value).__name__}, not a JSON value")
