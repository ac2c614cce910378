import dataclasses
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from bitagora_protocol.journal import (
    JournalError,
    Record,
    canonical_json,
    device_id_for,
    device_public_key,
    genesis_prev_hash,
    public_key_bytes,
    seal,
    verify_chain,
)
from bitagora_protocol.strict_json import MAX_SAFE_INTEGER, StrictJsonError, loads

KEY = Ed25519PrivateKey.generate()
DEVICE = device_id_for(public_key_bytes(KEY.public_key()))


def chain(bodies: list[dict]) -> list[Record]:
    records, prev = [], genesis_prev_hash(DEVICE)
    for seq, body in enumerate(bodies, 1):
        record = seal(KEY, DEVICE, seq, "sale", body, prev, at="2026-01-01T00:00:00.000000Z")
        records.append(record)
        prev = record.hash
    return records


def test_canonical_form_is_the_documented_one() -> None:
    record = Record(
        1, "sale", "2026-01-01T00:00:00.000000Z", "dev-x", {"b": 1, "a": "ñ"}, "00" * 32
    )
    assert (
        record.canonical()
        == (
            '{"at":"2026-01-01T00:00:00.000000Z","body":{"a":"ñ","b":1},"device_id":"dev-x",'
            '"kind":"sale","prev_hash":"' + "00" * 32 + '","seq":1}'
        ).encode()
    )
    expected = hashlib.sha256(bytes(32) + record.canonical()).hexdigest()
    assert record.compute_hash() == expected


def test_floats_are_refused() -> None:
    with pytest.raises(JournalError, match="float"):
        canonical_json({"total": 1.5})


def test_a_chain_verifies_and_each_kind_of_damage_names_its_seq() -> None:
    records = chain([{"total": n} for n in range(5)])
    assert verify_chain(records, KEY.public_key(), DEVICE) == 5

    changed = list(records)
    changed[2] = dataclasses.replace(changed[2], body={"total": 999})
    with pytest.raises(JournalError) as err:
        verify_chain(changed, KEY.public_key(), DEVICE)
    assert err.value.seq == 3 and "hash" in err.value.reason

    dropped = records[:2] + records[3:]
    with pytest.raises(JournalError) as err:
        verify_chain(dropped, KEY.public_key(), DEVICE)
    assert err.value.seq == 3 and "record 3 is missing" in err.value.reason  # the first bad seq

    other = Ed25519PrivateKey.generate()
    resigned = list(records)
    r = resigned[1]
    resigned[1] = dataclasses.replace(r, sig=other.sign(bytes.fromhex(r.hash)).hex())
    with pytest.raises(JournalError) as err:
        verify_chain(resigned, KEY.public_key(), DEVICE)
    assert err.value.seq == 2 and "signature" in err.value.reason


def test_from_dict_refuses_malformed_records() -> None:
    good = chain([{"total": 1}])[0].to_dict()
    assert Record.from_dict(json.loads(json.dumps(good))) == chain([{"total": 1}])[0]
    for broken in (
        {**good, "seq": "1"},
        {**good, "hash": "XYZ"},
        {**good, "body": []},
        {k: v for k, v in good.items() if k != "sig"},
    ):
        with pytest.raises(JournalError):
            Record.from_dict(broken)


# The protocol's values: integers within ±(2^53 − 1), strings without U+0000 (1.2).
protocol_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | protocol_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(protocol_text, inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(protocol_text, json_values, max_size=6))
def test_canonical_bytes_survive_a_json_round_trip(body: dict) -> None:
    # What the device stores (canonical body text) must re-hash identically after loading.
    record = seal(KEY, DEVICE, 1, "sale", body, genesis_prev_hash(DEVICE))
    reloaded = Record.from_dict(json.loads(json.dumps(record.to_dict())))
    assert reloaded.compute_hash() == record.hash
    assert verify_chain([reloaded], KEY.public_key(), DEVICE) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"payout": 2**70},
        {"total": {"minor": -(2**53)}},
        {"lines": [MAX_SAFE_INTEGER + 1]},
        {"note": "a\x00b"},
        {"a\x00": 1},
        {"note": "\ud800"},
    ],
)
def test_a_device_never_seals_a_value_outside_the_protocol(body: dict) -> None:
    # 1.2: integers within ±(2^53 − 1) (JavaScript verifiers agree), strings PostgreSQL stores.
    with pytest.raises(JournalError):
        seal(KEY, DEVICE, 1, "sale", body, genesis_prev_hash(DEVICE))
    assert seal(KEY, DEVICE, 1, "sale", {"payout": MAX_SAFE_INTEGER}, genesis_prev_hash(DEVICE))


def test_duplicate_keys_are_refused_wherever_they_are() -> None:
    # Two parsers would read different totals: the bytes are invalid, not "last one wins".
    with pytest.raises(StrictJsonError, match="duplicate key 'minor'"):
        loads('{"body": {"total": {"minor": 1, "minor": 999}}}')
    with pytest.raises(StrictJsonError):
        loads('{"x": NaN}')
    assert loads('{"a": {"b": 1}, "b": 2}') == {"a": {"b": 1}, "b": 2}


def test_a_record_with_an_unsigned_field_is_refused() -> None:
    good = chain([{"total": 1}])[0].to_dict()
    with pytest.raises(JournalError, match="unsigned field"):
        Record.from_dict({**good, "total_note": "paid in full"})


def test_hex_is_lowercase_only() -> None:
    good = chain([{"total": 1}])[0].to_dict()
    for name in ("hash", "sig", "prev_hash"):
        with pytest.raises(JournalError, match="lowercase hex"):
            Record.from_dict({**good, name: good[name].upper()})


ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493


def test_a_non_canonical_signature_is_refused() -> None:
    # RFC 8032 5.1.7: S must be below the group order L. S + L verifies the same equation
    # (malleability), so a lax verifier would accept a second valid-looking signature.
    record = chain([{"total": 1}])[0]
    raw = bytes.fromhex(record.sig)
    s_value = int.from_bytes(raw[32:], "little") + ED25519_ORDER
    malleated = raw[:32] + s_value.to_bytes(32, "little")
    forged = dataclasses.replace(record, sig=malleated.hex())
    with pytest.raises(JournalError, match="signature does not verify"):
        verify_chain([forged], KEY.public_key(), DEVICE)


SMALL_ORDER_KEYS = [
    (1).to_bytes(32, "little"),  # the identity point
    (2**255 - 20).to_bytes(32, "little"),  # order 2
    bytes(32),  # order 4
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),  # order 8
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),  # order 8
]


def test_small_order_and_non_canonical_keys_are_refused() -> None:
    # OpenSSL's verify accepts R = identity, S = 0 under the identity key for any message: a
    # chain "signed" by such a key proves nothing, so the protocol refuses the key itself.
    weak = Ed25519PublicKey.from_public_bytes(SMALL_ORDER_KEYS[0])
    weak.verify(SMALL_ORDER_KEYS[0] + bytes(32), b"any message")  # the forgery OpenSSL takes
    for raw in SMALL_ORDER_KEYS:
        with pytest.raises(JournalError, match="small order"):
            device_public_key(raw)
    with pytest.raises(JournalError, match="canonically"):
        device_public_key((2**255 - 18).to_bytes(32, "little"))  # y = p + 1
    assert device_public_key(public_key_bytes(KEY.public_key()))
