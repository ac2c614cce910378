"""TRON receive addresses from an account xpub, against the published BIP44 vector.

The vector is the "abandon ... about" mnemonic that TronLink, Trust Wallet and Ledger Live all
derive to ``TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH`` at m/44'/195'/0'/0/0. The account xpub is made
here from the seed with embit, as the merchant's wallet would export it; only the public key
reaches the code under test."""

from __future__ import annotations

import subprocess
import sys

import pytest
from embit import bip32, bip39

from appliance.cli import main
from appliance.wallet.descriptors import DescriptorError, PrivateKeyRefused
from appliance.wallet.tron import (
    TronAddressError,
    address_of,
    check_address,
    hex_address,
    parse_tron_account,
)

MNEMONIC = " ".join(["abandon"] * 11 + ["about"])
FIRST_ADDRESS = "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH"


def root() -> bip32.HDKey:
    return bip32.HDKey.from_seed(bip39.mnemonic_to_seed(MNEMONIC))


def account_xpub(account: int = 0) -> str:
    return str(root().derive(f"m/44h/195h/{account}h").to_public().to_base58())


def test_the_first_address_of_the_published_vector() -> None:
    assert parse_tron_account(account_xpub()).receive_address(0) == FIRST_ADDRESS


def test_addresses_match_the_private_keys_the_wallet_would_hold() -> None:
    account = parse_tron_account(account_xpub())
    for index in (1, 7, 2**31 - 1):
        private = root().derive(f"m/44h/195h/0h/0/{index}").key
        public = private.get_public_key()
        public.compressed = False
        assert account.receive_address(index) == address_of(public.sec())
    assert len({account.receive_address(i) for i in range(20)}) == 20


def test_address_checks_and_the_hex_form() -> None:
    assert check_address(FIRST_ADDRESS) == FIRST_ADDRESS
    assert hex_address(FIRST_ADDRESS).startswith("41")
    assert len(hex_address(FIRST_ADDRESS)) == 42
    broken = FIRST_ADDRESS[:-1] + ("a" if FIRST_ADDRESS[-1] != "a" else "b")
    with pytest.raises(TronAddressError, match="base58check"):
        check_address(broken)
    with pytest.raises(TronAddressError, match="0x41"):
        check_address("1BoatSLRHtKNngkdXEeobR76b53LETtpyT")  # a bitcoin address
    with pytest.raises(ValueError, match="uncompressed"):
        address_of(b"\x02" + bytes(32))


def test_accounts_differ_and_the_index_is_checked() -> None:
    assert parse_tron_account(account_xpub(1)).receive_address(0) != FIRST_ADDRESS
    with pytest.raises(DescriptorError, match="index"):
        parse_tron_account(account_xpub()).receive_address(-1)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no extended public key"),
        ("xpub-nonsense", "not a valid extended public key"),
        ("@ROOT", "depth 0"),
        ("@ADDRESS_LEVEL", "depth 5"),
    ],
)
def test_unusable_keys_are_refused_clearly(text: str, reason: str) -> None:
    keys = {
        "@ROOT": root().to_public().to_base58(),
        "@ADDRESS_LEVEL": root().derive("m/44h/195h/0h/0/0").to_public().to_base58(),
    }
    with pytest.raises(DescriptorError, match=reason):
        parse_tron_account(keys.get(text, text))


def test_private_keys_and_seed_phrases_are_refused_without_echo() -> None:
    xprv = root().derive("m/44h/195h/0h").to_base58()
    for secret in (xprv, MNEMONIC):
        with pytest.raises(PrivateKeyRefused) as refused:
            parse_tron_account(secret)
        assert secret not in str(refused.value)


def test_cli_derives_a_tron_address(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wallet", "derive", "--chain", "tron", account_xpub(), "--index", "0"]) == 0
    assert capsys.readouterr().out.strip() == FIRST_ADDRESS
    assert main(["wallet", "derive", "--chain", "tron", account_xpub(), "--index", "0", "--change"])
    assert "bitcoin's" in capsys.readouterr().err


def test_cli_refuses_a_tron_private_key_without_echo() -> None:
    xprv = root().derive("m/44h/195h/0h").to_base58()
    done = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "wallet", "derive", "--chain", "tron", xprv]
        + ["--index", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "watch-only" in done.stderr
    assert xprv not in done.stdout + done.stderr


def test_keccak_runs_without_writable_executable_memory() -> None:
    """The kiosk unit has MemoryDenyWriteExecute=yes: pycryptodome's compiled Keccak, loaded
    through cffi, must work under the kernel's same refusal (PR_SET_MDWE)."""
    from demo_helpers import deny_write_execute

    done = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "wallet", "derive", "--chain", "tron"]
        + [account_xpub(), "--index", "0"],
        preexec_fn=deny_write_execute,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, FIRST_ADDRESS), done.stderr
