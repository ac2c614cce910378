import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from bitagora_protocol.journal import (
    JournalError,
    Record,
    canonical_json,
    device_id_for,
    genesis_prev_hash,
    public_key_bytes,
    seal,
    verify_chain,
)

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
    changed[2] = Record(**{**changed[2].__dict__, "body": {"total": 999}})
    with pytest.raises(JournalError) as err:
        verify_chain(changed, KEY.public_key(), DEVICE)
    assert err.value.seq == 3 and "hash" in err.value.reason

    dropped = records[:2] + records[3:]
    with pytest.raises(JournalError) as err:
        verify_chain(dropped, KEY.public_key(), DEVICE)
    assert err.value.seq == 4 and "expected seq 3" in err.value.reason

    other = Ed25519PrivateKey.generate()
    resigned = list(records)
    r = resigned[1]
    resigned[1] = Record(**{**r.__dict__, "sig": other.sign(bytes.fromhex(r.hash)).hex()})
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


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_canonical_bytes_survive_a_json_round_trip(body: dict) -> None:
    # What the device stores (canonical body text) must re-hash identically after loading.
    record = seal(KEY, DEVICE, 1, "sale", body, genesis_prev_hash(DEVICE))
    reloaded = Record.from_dict(json.loads(json.dumps(record.to_dict())))
    assert reloaded.compute_hash() == record.hash
    assert verify_chain([reloaded], KEY.public_key(), DEVICE) == 1
