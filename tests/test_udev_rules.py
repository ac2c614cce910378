"""systemd/99-bitagora.rules: stable /dev/bitagora/* names, group bitagora, mode 0660.

``udevadm verify`` (systemd 254 and later) checks the file where it is installed; the strict
check below runs everywhere (this machine has no udevadm), so a typo never reaches a kiosk. It
also checks the commented-out example rules, which a technician uncomments as they are."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parent.parent / "systemd" / "99-bitagora.rules"

MATCH_KEYS = {"ACTION", "SUBSYSTEM", "SUBSYSTEMS", "KERNEL", "KERNELS", "DRIVER", "DRIVERS"}
MATCH_KEYS_WITH_ATTR = {"ATTR", "ATTRS", "ENV"}
ASSIGN_KEYS = {"SYMLINK", "GROUP", "MODE", "OWNER", "TAG"}
ALLOWED_NAMES = {
    "bitagora/printer",
    "bitagora/printer-usb",
    "bitagora/nfc",
    "bitagora/scanner",
    "bitagora/touch",
}

PAIR = re.compile(
    r"\s*(?P<key>[A-Z]+)(?:\{(?P<attr>[A-Za-z_][A-Za-z0-9_]*)\})?"
    r'\s*(?P<op>==|!=|\+=|-=|:=|=)\s*"(?P<value>[^"\\]*)"\s*'
)
RULE_START = re.compile(r"^#?(SUBSYSTEM|KERNEL|ACTION)==")


class RuleError(ValueError):
    pass


def parse_rule(line: str) -> list[tuple[str, str | None, str, str]]:
    """``KEY[{attr}] OP "value"`` pairs separated by commas, or RuleError saying what is wrong."""
    pairs = []
    for part in line.split(","):
        found = PAIR.fullmatch(part)
        if not found:
            raise RuleError(f'not a KEY OP "value" pair: {part.strip()!r}')
        key, attr, op, value = found.group("key", "attr", "op", "value")
        if key in MATCH_KEYS or key in MATCH_KEYS_WITH_ATTR:
            if (attr is not None) != (key in MATCH_KEYS_WITH_ATTR):
                raise RuleError(f"{key} {'needs' if attr is None else 'takes no'} {{attribute}}")
            if op not in ("==", "!="):
                raise RuleError(f"{key} is a match key: use == or !=, not {op}")
        elif key in ASSIGN_KEYS:
            if attr is not None or op not in ("=", "+=", ":="):
                raise RuleError(f"{key} is an assignment: use =, += or :=, not {op}")
        else:
            raise RuleError(f"unknown key {key}")
        pairs.append((key, attr, op, value))
    return pairs


def check_rule(line: str) -> None:
    pairs = parse_rule(line)
    keys = {(k, a): v for k, a, _op, v in pairs}
    if not any(op in ("==", "!=") for _k, _a, op, _v in pairs):
        raise RuleError("a rule without a match would apply to every device")
    if keys.get(("GROUP", None)) != "bitagora":
        raise RuleError('every rule sets GROUP="bitagora"')
    if keys.get(("MODE", None)) != "0660":
        raise RuleError('every rule sets MODE="0660"')
    for key, _attr, op, value in pairs:
        if key == "SYMLINK" and (op != "+=" or value not in ALLOWED_NAMES):
            raise RuleError(f"SYMLINK{op}{value!r}: use += with one of {sorted(ALLOWED_NAMES)}")
    for attr in ("idVendor", "idProduct"):
        for key in ("ATTR", "ATTRS"):
            value = keys.get((key, attr))
            if value is not None and not re.fullmatch(r"[0-9a-f]{4}", value):
                raise RuleError(f"{key}{{{attr}}} must be 4 lower-case hex digits, got {value!r}")


def rule_lines(text: str) -> tuple[list[str], list[str]]:
    """(active rules, commented-out example rules); anything else must be a comment or blank."""
    active, examples = [], []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if raw.endswith("\\"):
            raise RuleError(f"line {number}: no continuation lines, one rule a line")
        if not line:
            continue
        if RULE_START.match(line):
            (examples if line.startswith("#") else active).append(line.lstrip("#"))
        elif not line.startswith("#"):
            raise RuleError(f"line {number}: neither a comment nor a rule: {line!r}")
    return active, examples


def test_rules_file_is_well_formed() -> None:
    active, examples = rule_lines(RULES.read_text(encoding="ascii"))
    for line in active + examples:
        check_rule(line)
    names = {v for line in active for k, _a, _o, v in parse_rule(line) if k == "SYMLINK"}
    assert {"bitagora/printer", "bitagora/nfc", "bitagora/scanner", "bitagora/touch"} <= names
    text = RULES.read_text(encoding="ascii")
    for ids in ("10c4", "ea60", "1a86", "7523", "0403", "6001"):  # CP210x, CH340, FTDI
        assert f'"{ids}"' in text
    assert any('KERNEL=="ttyS0"' in line for line in examples)  # PN532 on the GPIO UART


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('SUBSYSTEM=="tty", SYMLINK+="bitagora/nfc", GROUP="bitagora"', "MODE"),
        ('SUBSYSTEM="tty", GROUP="bitagora", MODE="0660"', "match key"),
        ('SUBSYSTEM=="tty", GROUP=="bitagora", MODE="0660"', "assignment"),
        ('SUBSYSTEM=="tty", ATTRS{idVendor}=="10C4", GROUP="bitagora", MODE="0660"', "hex"),
        ('SUBSYSTEM=="tty", SYMLNK+="bitagora/nfc", GROUP="bitagora", MODE="0660"', "unknown"),
        ('SUBSYSTEM=="tty", SYMLINK="ttyUSB0", GROUP="bitagora", MODE="0660"', "SYMLINK"),
        ('SUBSYSTEM=="tty", GROUP="bitagora", MODE="0660",', "pair"),
        ('SUBSYSTEM=="tty" GROUP="bitagora", MODE="0660"', "pair"),
        ('ATTRS=="x", GROUP="bitagora", MODE="0660"', "attribute"),
        ('GROUP="bitagora", MODE="0660"', "every device"),
    ],
)
def test_the_check_catches_broken_rules(line: str, problem: str) -> None:
    with pytest.raises(RuleError, match=problem):
        check_rule(line)


def test_udevadm_verify_where_it_exists() -> None:
    """systemd's own parser, when this machine has one new enough; the strict check above
    stands in where it does not, so this test always checks something."""
    udevadm = shutil.which("udevadm")
    has_verify = (
        udevadm is not None
        and subprocess.run(
            [udevadm, "verify", "--help"], capture_output=True, timeout=30, check=False
        ).returncode
        == 0
    )
    if has_verify:
        assert udevadm is not None
        done = subprocess.run(
            [udevadm, "verify", "--resolve-names=never", str(RULES)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    else:
        active, _examples = rule_lines(RULES.read_text(encoding="ascii"))
        assert active
        for line in active:
            check_rule(line)
