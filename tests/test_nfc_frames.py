"""PN532 frames and NDEF, without I/O. Expected bytes are written out from the definitions and
examples in NXP's PN532 User Manual (UM0701-02, 6.2 and 7) and the NFC Forum Type 2 Tag / NDEF /
URI RTD / Text RTD specifications, not computed by the code under test."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.drivers import ndef
from appliance.drivers import pn532_frames as pf
from appliance.drivers.pn532_frames import (
    Ack,
    BadFrame,
    ErrorFrame,
    FrameDecoder,
    InfoFrame,
    Nack,
)

GET_FIRMWARE_VERSION = bytes.fromhex("00 00 FF 02 FE D4 02 2A 00")
FIRMWARE_ANSWER = bytes.fromhex("00 00 FF 06 FA D5 03 32 01 06 07 E8 00")
SAM_NORMAL = bytes.fromhex("00 00 FF 05 FB D4 14 01 14 01 02 00")
SAM_ANSWER = bytes.fromhex("00 00 FF 02 FE D5 15 16 00")
LIST_ONE_106A = bytes.fromhex("00 00 FF 04 FC D4 4A 01 00 E1 00")
LIST_ANSWER_NTAG = bytes.fromhex(
    "00 00 FF 0F F1 D5 4B 01 01 00 44 00 07 04 A2 24 B2 C3 5E 80 76 00"
)
READ_PAGE_4 = bytes.fromhex("00 00 FF 05 FB D4 40 01 30 04 B7 00")
MAX_RETRIES = bytes.fromhex("00 00 FF 06 FA D4 32 05 FF 01 02 F3 00")


def test_command_frames_match_the_manual() -> None:
    assert pf.command_frame(pf.GET_FIRMWARE_VERSION) == GET_FIRMWARE_VERSION
    assert pf.command_frame(pf.SAM_CONFIGURATION, b"\x01\x14\x01") == SAM_NORMAL
    assert pf.command_frame(pf.IN_LIST_PASSIVE_TARGET, b"\x01\x00") == LIST_ONE_106A
    assert pf.command_frame(pf.IN_DATA_EXCHANGE, b"\x01\x30\x04") == READ_PAGE_4
    assert pf.command_frame(pf.RF_CONFIGURATION, b"\x05\xff\x01\x02") == MAX_RETRIES


def test_special_frames() -> None:
    assert pf.ACK == bytes.fromhex("00 00 FF 00 FF 00")
    assert pf.NACK == bytes.fromhex("00 00 FF FF 00 00")
    assert pf.ERROR_FRAME == bytes.fromhex("00 00 FF 01 FF 7F 81 00")
    assert FrameDecoder().feed(pf.ACK + pf.NACK + pf.ERROR_FRAME) == [Ack(), Nack(), ErrorFrame()]


def test_response_frames_encode_and_decode() -> None:
    assert pf.response_frame(pf.GET_FIRMWARE_VERSION, b"\x32\x01\x06\x07") == FIRMWARE_ANSWER
    assert pf.response_frame(pf.SAM_CONFIGURATION) == SAM_ANSWER
    frames = FrameDecoder().feed(pf.ACK + FIRMWARE_ANSWER)
    assert frames == [Ack(), InfoFrame(0xD5, b"\x03\x32\x01\x06\x07")]
    version = pf.parse_firmware_version(frames[1].data[1:])  # type: ignore[union-attr]
    assert (version.ic, version.ver, version.rev, version.support) == (0x32, 1, 6, 7)
    assert str(version) == "PN532 firmware 1.6 (ISO14443A, ISO14443B, ISO18092)"


def test_list_passive_target_answer() -> None:
    (frame,) = FrameDecoder().feed(LIST_ANSWER_NTAG)
    assert isinstance(frame, InfoFrame) and frame.command == 0x4B
    (target,) = pf.parse_list_passive_target_a(frame.data[1:])
    assert (target.tg, target.atqa, target.sak) == (1, 0x0044, 0x00)
    assert target.uid_hex == "04A224B2C35E80"
    assert pf.parse_list_passive_target_a(b"\x00") == []
    with pytest.raises(ValueError, match="truncated"):
        pf.parse_list_passive_target_a(b"\x01\x01\x00\x44")
    with pytest.raises(ValueError, match="UID length"):
        pf.parse_list_passive_target_a(b"\x01\x01\x00\x44\x00\x05\x01\x02\x03\x04\x05")


def test_bytes_arriving_one_at_a_time() -> None:
    decoder = FrameDecoder()
    out = []
    for byte in pf.ACK + FIRMWARE_ANSWER:
        out += decoder.feed(bytes([byte]))
    assert out == [Ack(), InfoFrame(0xD5, b"\x03\x32\x01\x06\x07")]
    assert decoder.pending == 0


def test_garbage_before_a_frame_is_skipped_even_with_a_false_start_code() -> None:
    decoder = FrameDecoder()
    noise = b"\x55\x13\x00\xff\x42\x99\xaa"  # 00 FF then a length whose checksum fails
    assert decoder.feed(noise + FIRMWARE_ANSWER) == [InfoFrame(0xD5, b"\x03\x32\x01\x06\x07")]
    assert decoder.discarded > 0


def test_bad_data_checksum_is_reported_and_the_next_frame_still_decodes() -> None:
    bad = FIRMWARE_ANSWER[:-2] + b"\xe9\x00"  # DCS off by one
    frames = FrameDecoder().feed(bad + SAM_ANSWER)
    assert isinstance(frames[0], BadFrame) and "checksum" in frames[0].reason
    assert frames[1] == InfoFrame(0xD5, b"\x15")


def test_bad_length_checksum_is_not_a_frame() -> None:
    bad = FIRMWARE_ANSWER[:4] + b"\xfb" + FIRMWARE_ANSWER[5:]  # LCS wrong
    decoder = FrameDecoder()
    assert decoder.feed(bad + SAM_ANSWER) == [InfoFrame(0xD5, b"\x15")]
    assert decoder.discarded > 0


def test_truncated_frame_waits_for_the_rest() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(FIRMWARE_ANSWER[:7]) == []
    assert decoder.pending == 6  # from the start code on (the preamble is not kept)
    assert decoder.feed(FIRMWARE_ANSWER[7:]) == [InfoFrame(0xD5, b"\x03\x32\x01\x06\x07")]


def test_extended_frames_are_refused() -> None:
    # 00 00 FF FF FF LENM LENL LCS TFI PD.. DCS 00, here 2 data bytes
    extended = bytes.fromhex("00 00 FF FF FF 00 02 FE D5 03 28 00")
    (frame,) = FrameDecoder().feed(extended)
    assert isinstance(frame, BadFrame) and "extended" in frame.reason


def test_frames_too_long_for_a_normal_frame_are_refused() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        pf.command_frame(pf.IN_DATA_EXCHANGE, bytes(254))


NOISE_WITHOUT_START_CODES = st.binary(max_size=200).map(lambda b: b.replace(b"\xff", b""))


@given(NOISE_WITHOUT_START_CODES, st.binary(max_size=252), st.integers(1, 16))
def test_noise_then_a_frame_in_any_chunks_yields_that_frame(
    noise: bytes, payload: bytes, chunk: int
) -> None:
    stream = noise + pf.command_frame(0x40, payload)
    decoder = FrameDecoder()
    frames = []
    for i in range(0, len(stream), chunk):
        frames += decoder.feed(stream[i : i + chunk])
    assert frames == [InfoFrame(0xD4, b"\x40" + payload)]
    assert decoder.pending == 0


# -- NDEF --------------------------------------------------------------------------------------

# D1: MB ME SR, TNF well-known; type "U"; 0x02 = "https://www."
URI_RECORD = bytes.fromhex("D1 01 0C 55 02") + b"example.com"
# a Bolt Card style URI: no abbreviation (code 00)
LNURL = "lnurlw://pay.example.com/ln?p=4E2A&c=9F01"
LNURL_RECORD = bytes([0xD1, 0x01, 1 + len(LNURL), 0x55, 0x00]) + LNURL.encode()
# "T", status 02 (UTF-8, language "en"), text
TEXT_RECORD = bytes.fromhex("D1 01 08 54 02 65 6E") + b"Hello"


def test_uri_record_with_prefix_code() -> None:
    (record,) = ndef.parse_message(URI_RECORD)
    assert record.uri == "https://www.example.com"
    assert ndef.encode_message([ndef.uri_record("https://www.example.com")]) == URI_RECORD


def test_lnurl_uri_and_text_in_one_message() -> None:
    first = bytes([LNURL_RECORD[0] & ~0x40]) + LNURL_RECORD[1:]  # clear ME
    last = bytes([TEXT_RECORD[0] & ~0x80]) + TEXT_RECORD[1:]  # clear MB
    records = ndef.parse_message(first + last)
    assert [r.uri for r in records] == [LNURL, None]
    assert records[1].text == "Hello" and records[1].language == "en"
    assert ndef.encode_message(list(records)) == first + last


def test_utf16_text_record() -> None:
    payload = b"\x82de" + "Grüße".encode("utf-16")
    record = ndef.parse_message(bytes([0xD1, 1, len(payload), 0x54]) + payload)[0]
    assert record.text == "Grüße" and record.language == "de"


def test_long_record_and_three_byte_tlv_length() -> None:
    uri = "https://example.com/" + "x" * 300
    message = ndef.encode_message([ndef.uri_record(uri)])
    assert message[0] == 0xC1  # MB ME, not SR: a 4-byte payload length
    tlv = ndef.encode_tlv(message)
    assert tlv[:4] == bytes([0x03, 0xFF, len(message) >> 8, len(message) & 0xFF])
    start, length = ndef.find_ndef_tlv(tlv) or (0, 0)
    assert ndef.parse_message(tlv[start : start + length])[0].uri == uri


def test_tlvs_before_the_ndef_message_are_skipped() -> None:
    # NULL, Lock Control TLV (01 03 ...), NDEF TLV, terminator
    user = bytes.fromhex("00 01 03 A0 10 44 03") + bytes([len(URI_RECORD)]) + URI_RECORD + b"\xfe"
    start, length = ndef.find_ndef_tlv(user) or (0, 0)
    assert (start, length) == (8, len(URI_RECORD))
    assert ndef.find_ndef_tlv(b"\x00\x00\xfe\x03\x05") is None
    assert ndef.find_ndef_tlv(b"\x03") == (2, -1)  # need more bytes


def test_capability_container() -> None:
    assert ndef.data_area_size(bytes.fromhex("E1 10 3E 00")) == 496  # NTAG215
    with pytest.raises(ndef.NdefError, match="not NDEF formatted"):
        ndef.data_area_size(bytes(4))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (bytes.fromhex("B1 01 0C 55"), "chunked"),
        (bytes.fromhex("51 01 01 55 00"), "message-begin"),
        (bytes.fromhex("D1 01 0C 55 02 65"), "longer than the message"),
        (bytes.fromhex("D1"), "truncated"),
        (bytes.fromhex("91 01 01 55 00"), "message-end"),
    ],
)
def test_malformed_messages(data: bytes, reason: str) -> None:
    with pytest.raises(ndef.NdefError, match=reason):
        ndef.parse_message(data)
