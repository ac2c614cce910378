"""Watch-only descriptors against the BIP84, BIP49 and BIP86 test vectors, and what is refused.

Every vector is the "abandon ... about" mnemonic of the BIP texts. The account public keys are made
here from the account private keys the BIPs print (or from the mnemonic), as a merchant's wallet
would export them; only the public key ever reaches the code under test."""

from __future__ import annotations

import subprocess
import sys

import pytest
from embit import bip32, bip39
from embit.networks import NETWORKS

from appliance.cli import main
from appliance.wallet.descriptors import (
    DescriptorError,
    PrivateKeyRefused,
    WatchOnlyWallet,
    parse_wallet,
)

MNEMONIC = " ".join(["abandon"] * 11 + ["about"])
# BIP84: Account 0, root = m/84'/0'/0'
BIP84_ACCOUNT_ZPRV = (
    "zprvAdG4iTXWBoARxkkzNpNh8r6Qag3irQB8PzEMkAFeTRXxHpbF9z4QgEvBRmfvqWvGp42t42nvgGpNgYSJA9iefm1y"
    "YNZKEm7z6qUWCroSQnE"
)
BIP84_RECEIVE = [
    "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
    "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g",
]
BIP84_CHANGE_0 = "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"
BIP84_PRIVKEY_0 = "KyZpNDKnfs94vbrwhJneDi77V6jF64PWPF8x5cdJb8ifgg2DUc9d"
# BIP49 (testnet): Account 0, root = m/49'/1'/0'
BIP49_ACCOUNT_UPUB = (
    "upub5EFU65HtV5TeiSHmZZm7FUffBGy8UKeqp7vw43jYbvZPpoVsgU93oac7Wk3u6moKegAEWtGNF8DehrnHtv21XXEM"
    "YRUocHqguyjknFHYfgY"
)
BIP49_TESTNET_RECEIVE_0 = "2Mww8dCYPUpKHofjgcXcBCEGmniw9CoaiD2"
BIP49_MAINNET_RECEIVE_0 = "37VucYSaXLCAsxYyAPfbSi9eh4iEcbShgf"  # m/49'/0'/0'/0/0
# BIP86: Account 0, root = m/86'/0'/0'
BIP86_ACCOUNT_XPUB = (
    "xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49y"
    "fdDEHGCtMMj92pReUsQ"
)
BIP86_RECEIVE = [
    "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr",
    "bc1p4qhjn9zdvkux4e44uhx8tc55attvtyu358kutcqkudyccelu0was9fqzwh",
]
BIP86_CHANGE_0 = "bc1p3qkhfews2uk44qtvauqyr2ttdsw7svhkl9nkm9s9c3x4ax5h60wqwruhk7"


def bip84_zpub() -> str:
    return str(bip32.HDKey.from_base58(BIP84_ACCOUNT_ZPRV).to_public().to_base58())


def root() -> bip32.HDKey:
    return bip32.HDKey.from_seed(bip39.mnemonic_to_seed(MNEMONIC))


def bip49_ypub() -> str:
    account = root().derive("m/49h/0h/0h").to_public()
    return str(account.to_base58(NETWORKS["main"]["ypub"]))


def test_bip84_zpub_receive_and_change() -> None:
    wallet = parse_wallet(bip84_zpub())
    assert (wallet.network, wallet.kind) == ("mainnet", "wpkh")
    assert [wallet.receive_address(i) for i in (0, 1)] == BIP84_RECEIVE
    assert wallet.change_address(0) == BIP84_CHANGE_0
    assert wallet.descriptor.startswith("wpkh(xpub") and "/<0;1>/*)#" in wallet.descriptor


def test_bip49_ypub_mainnet_and_upub_testnet() -> None:
    assert parse_wallet(bip49_ypub()).address(0) == BIP49_MAINNET_RECEIVE_0
    testnet = parse_wallet(BIP49_ACCOUNT_UPUB)
    assert (testnet.network, testnet.kind) == ("testnet", "sh-wpkh")
    assert testnet.address(0) == BIP49_TESTNET_RECEIVE_0
    assert testnet.descriptor.startswith("sh(wpkh(tpub")


def test_bip86_taproot_descriptor_with_origin_and_checksum() -> None:
    fingerprint = root().my_fingerprint.hex()
    plain = parse_wallet(f"tr([{fingerprint}/86h/0h/0h]{BIP86_ACCOUNT_XPUB}/0/*)")
    assert [plain.address(i) for i in (0, 1)] == BIP86_RECEIVE
    assert plain.address(0, change=True) == BIP86_CHANGE_0
    # The canonical form carries its checksum; reading it back verifies it and changes nothing.
    again = parse_wallet(plain.descriptor)
    assert again == plain
    multipath = parse_wallet(f"tr({BIP86_ACCOUNT_XPUB}/<0;1>/*)")
    assert multipath.change_address(0) == BIP86_CHANGE_0


def test_descriptor_forms_agree() -> None:
    xpub = bip32.HDKey.from_base58(bip84_zpub()).to_base58(NETWORKS["main"]["xpub"])
    forms = [f"wpkh({xpub})", f"wpkh({xpub}/0/*)", f"wpkh({xpub}/<0;1>/*)", bip84_zpub()]
    wallets = [parse_wallet(form) for form in forms]
    assert {w.descriptor for w in wallets} == {wallets[0].descriptor}
    assert wallets[1].change_address(0) == BIP84_CHANGE_0


def test_signet_and_regtest_addresses() -> None:
    assert parse_wallet(BIP49_ACCOUNT_UPUB, "signet").address(0) == BIP49_TESTNET_RECEIVE_0
    vpub = bip32.HDKey.from_base58(BIP49_ACCOUNT_UPUB).to_base58(NETWORKS["test"]["zpub"])
    assert parse_wallet(vpub, "regtest").address(0).startswith("bcrt1q")
    assert parse_wallet(vpub, "signet").address(0).startswith("tb1q")


def test_wrong_checksum_is_refused_and_named() -> None:
    good = parse_wallet(bip84_zpub()).descriptor
    body, checksum = good.split("#")
    wrong = checksum[:-1] + ("q" if checksum[-1] != "q" else "p")
    with pytest.raises(DescriptorError, match=f"checksum #{wrong} does not match"):
        parse_wallet(f"{body}#{wrong}")
    with pytest.raises(DescriptorError, match="not 8 checksum characters"):
        parse_wallet(f"{body}#abc")
    # One altered character in the key is caught by the checksum, not silently accepted.
    altered = body.replace("xpub6C", "xpub6D", 1)
    with pytest.raises(DescriptorError, match="does not match"):
        parse_wallet(f"{altered}#{checksum}")


@pytest.mark.parametrize(
    "secret",
    [
        BIP84_ACCOUNT_ZPRV,
        f"wpkh({BIP84_ACCOUNT_ZPRV}/0/*)",
        "tr(" + root().derive("m/86h/0h/0h").to_base58() + "/<0;1>/*)",
        BIP84_PRIVKEY_0,
        f"wpkh({BIP84_PRIVKEY_0})",
        MNEMONIC,
    ],
    ids=["zprv", "zprv-in-descriptor", "xprv-in-tr", "wif", "wif-in-descriptor", "mnemonic"],
)
def test_private_material_is_refused_without_echo(secret: str) -> None:
    with pytest.raises(PrivateKeyRefused) as caught:
        parse_wallet(secret)
    message = str(caught.value)
    assert "watch-only" in message
    for token in secret.replace("(", " ").replace(")", " ").replace("/", " ").split():
        if len(token) > 8:
            assert token not in message
    assert "abandon" not in message


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (BIP86_ACCOUNT_XPUB, "does not say which addresses"),
        (f"pkh({BIP86_ACCOUNT_XPUB}/0/*)", r"pkh\(\) descriptors are not supported"),
        (f"wsh(multi(1,{BIP86_ACCOUNT_XPUB}/0/*))", r"wsh\(\) descriptors are not supported"),
        (f"wpkh({BIP86_ACCOUNT_XPUB}/0h/*)", "cannot be parsed"),
        (f"wpkh({BIP86_ACCOUNT_XPUB}/0/5)", "must be ranged"),
        ("wpkh(0330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c)", "extended"),
        (f"wpkh({BIP86_ACCOUNT_XPUB}/*)", "receive and a change branch"),
        ("hello", "not a descriptor"),
        ("", "no descriptor"),
    ],
)
def test_unusable_input_is_refused_clearly(text: str, reason: str) -> None:
    with pytest.raises(DescriptorError, match=reason):
        parse_wallet(text)


def test_network_mismatch_and_bad_index() -> None:
    with pytest.raises(DescriptorError, match="mainnet key but the network is testnet"):
        parse_wallet(bip84_zpub(), "testnet")
    with pytest.raises(DescriptorError, match="unknown network"):
        parse_wallet(bip84_zpub(), "litecoin")
    wallet = parse_wallet(bip84_zpub())
    for index in (-1, 2**31, True):
        with pytest.raises(DescriptorError, match="index must be"):
            wallet.address(index)  # type: ignore[arg-type]
    assert isinstance(wallet, WatchOnlyWallet)


def test_cli_offers_the_networks_the_parser_knows() -> None:
    from appliance.cli.wallet import NETWORK_NAMES
    from appliance.wallet.descriptors import NETWORKS_BY_NAME

    assert set(NETWORK_NAMES) == set(NETWORKS_BY_NAME)


def test_cli_derive_prints_the_address(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wallet", "derive", bip84_zpub(), "--index", "0"]) == 0
    assert capsys.readouterr().out.strip() == BIP84_RECEIVE[0]
    assert main(["wallet", "derive", bip84_zpub(), "--index", "0", "--change"]) == 0
    assert capsys.readouterr().out.strip() == BIP84_CHANGE_0
    upub = ["wallet", "derive", BIP49_ACCOUNT_UPUB, "--index", "0", "--network", "signet"]
    assert main(upub) == 0
    assert capsys.readouterr().out.strip() == BIP49_TESTNET_RECEIVE_0


def test_cli_refuses_a_private_key_without_echo() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "appliance.cli",
            "wallet",
            "derive",
            BIP84_ACCOUNT_ZPRV,
            "--index",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "watch-only" in done.stderr
    assert BIP84_ACCOUNT_ZPRV not in done.stdout + done.stderr
