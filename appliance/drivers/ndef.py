"""NDEF on NFC Forum Type 2 tags (NTAG21x), without I/O: the TLV area, records, URI and text.

Memory layout of a Type 2 tag (NTAG213/215/216): 4-byte pages; pages 0-2 hold the UID, its check
bytes and the static lock bytes; page 3 is the capability container ``E1 10 SIZE ACCESS`` (SIZE x 8
= bytes of data area, 0x3E for an NTAG215's 496 bytes); user memory starts at page 4 with TLV
blocks: ``00`` NULL, ``01``/``02`` lock and memory control, ``03`` the NDEF message, ``FE``
terminator. A TLV length is one byte, or ``FF`` and two bytes big-endian.

An NDEF record is a header byte (MB ME CF SR IL TNF), the type length, the payload length (one byte
for short records, SR set; otherwise four), the id length when IL is set, then type, id, payload.
We decode every record and interpret the two well-known types a till meets: ``U`` (URI, first
payload byte an abbreviation code) and ``T`` (text: status byte, language code, text). Encoding
functions exist for the simulator and tests.
"""

from __future__ import annotations

from dataclasses import dataclass

PAGE_SIZE = 4
CC_PAGE = 3
USER_START_PAGE = 4
CC_MAGIC = 0xE1

TLV_NULL = 0x00
TLV_NDEF = 0x03
TLV_TERMINATOR = 0xFE

TNF_EMPTY = 0x00
TNF_WELL_KNOWN = 0x01

MB, ME, CF, SR, IL = 0x80, 0x40, 0x20, 0x10, 0x08

# NFC Forum URI Record Type Definition, table 3: abbreviation codes.
URI_PREFIXES = (
    "",
    "http://www.",
    "https://www.",
    "http://",
    "https://",
    "tel:",
    "mailto:",
    "ftp://anonymous:anonymous@",
    "ftp://ftp.",
    "ftps://",
    "sftp://",
    "smb://",
    "nfs://",
    "ftp://",
    "dav://",
    "news:",
    "telnet://",
    "imap:",
    "rtsp://",
    "urn:",
    "pop:",
    "sip:",
    "sips:",
    "tftp:",
    "btspp://",
    "btl2cap://",
    "btgoep://",
    "tcpobex://",
    "irdaobex://",
    "file://",
    "urn:epc:id:",
    "urn:epc:tag:",
    "urn:epc:pat:",
    "urn:epc:raw:",
    "urn:epc:",
    "urn:nfc:",
)


class NdefError(ValueError):
    """Tag memory that does not hold a well-formed NDEF message."""


@dataclass(frozen=True)
class NdefRecord:
    tnf: int
    type: bytes
    payload: bytes
    id: bytes = b""

    @property
    def uri(self) -> str | None:
        """The URI of a well-known ``U`` record, its abbreviation expanded."""
        if self.tnf != TNF_WELL_KNOWN or self.type != b"U" or not self.payload:
            return None
        code = self.payload[0]
        prefix = URI_PREFIXES[code] if code < len(URI_PREFIXES) else ""
        return prefix + self.payload[1:].decode("utf-8", errors="replace")

    @property
    def text(self) -> str | None:
        """The text of a well-known ``T`` record (UTF-8 or UTF-16 per its status byte)."""
        if self.tnf != TNF_WELL_KNOWN or self.type != b"T" or not self.payload:
            return None
        status = self.payload[0]
        body = self.payload[1 + (status & 0x3F) :]
        return body.decode("utf-16" if status & 0x80 else "utf-8", errors="replace")

    @property
    def language(self) -> str | None:
        if self.text is None:
            return None
        return self.payload[1 : 1 + (self.payload[0] & 0x3F)].decode("ascii", errors="replace")


# -- decoding ----------------------------------------------------------------------------------


def data_area_size(cc: bytes) -> int:
    """Bytes of NDEF data area the capability container (page 3) announces; NdefError when the
    tag is not formatted for NDEF."""
    if len(cc) < 4 or cc[0] != CC_MAGIC:
        raise NdefError("the tag is not NDEF formatted (no E1 capability container)")
    return cc[2] * 8


def find_ndef_tlv(user: bytes) -> tuple[int, int] | None:
    """Where the NDEF message TLV's value starts in ``user`` (memory from page 4) and its
    length; None when the TLVs end without one. ``(start, length)`` may point past the bytes
    given: read more pages and call again."""
    pos = 0
    while pos < len(user):
        tag = user[pos]
        if tag == TLV_NULL:
            pos += 1
            continue
        if tag == TLV_TERMINATOR:
            return None
        if pos + 1 >= len(user):
            return pos + 2, -1  # the length byte is not read yet
        length, head = user[pos + 1], 2
        if length == 0xFF:
            if pos + 3 >= len(user):
                return pos + 4, -1
            length, head = user[pos + 2] << 8 | user[pos + 3], 4
        if tag == TLV_NDEF:
            return pos + head, length
        pos += head + length
    return None


def parse_message(data: bytes) -> tuple[NdefRecord, ...]:
    """The records of one NDEF message; NdefError names what is malformed."""
    records: list[NdefRecord] = []
    pos = 0
    while pos < len(data):
        header = data[pos]
        tnf = header & 0x07
        if header & CF:
            raise NdefError("chunked NDEF records are not supported")
        if pos == 0 and not header & MB:
            raise NdefError("the first NDEF record lacks the message-begin flag")
        need = 2 + (1 if header & SR else 4) + (1 if header & IL else 0)
        if pos + need > len(data):
            raise NdefError("an NDEF record header is truncated")
        type_len = data[pos + 1]
        cursor = pos + 2
        if header & SR:
            payload_len = data[cursor]
            cursor += 1
        else:
            payload_len = int.from_bytes(data[cursor : cursor + 4], "big")
            cursor += 4
        id_len = 0
        if header & IL:
            id_len = data[cursor]
            cursor += 1
        end = cursor + type_len + id_len + payload_len
        if end > len(data):
            raise NdefError("an NDEF record is longer than the message")
        rtype = data[cursor : cursor + type_len]
        rid = data[cursor + type_len : cursor + type_len + id_len]
        payload = data[cursor + type_len + id_len : end]
        if tnf != TNF_EMPTY or rtype or payload:
            records.append(NdefRecord(tnf, bytes(rtype), bytes(payload), bytes(rid)))
        pos = end
        if header & ME:
            return tuple(records)
    if data:
        raise NdefError("the NDEF message ends without a message-end flag")
    return tuple(records)


# -- encoding (simulator, tests, writing a badge one day) ----------------------------------------


def uri_record(uri: str) -> NdefRecord:
    """A ``U`` record using the longest abbreviation that fits."""
    code = max(
        (i for i, prefix in enumerate(URI_PREFIXES) if prefix and uri.startswith(prefix)),
        key=lambda i: len(URI_PREFIXES[i]),
        default=0,
    )
    rest = uri[len(URI_PREFIXES[code]) :]
    return NdefRecord(TNF_WELL_KNOWN, b"U", bytes([code]) + rest.encode("utf-8"))


def text_record(text: str, language: str = "en") -> NdefRecord:
    lang = language.encode("ascii")
    return NdefRecord(TNF_WELL_KNOWN, b"T", bytes([len(lang)]) + lang + text.encode("utf-8"))


def encode_message(records: list[NdefRecord] | tuple[NdefRecord, ...]) -> bytes:
    out = bytearray()
    for i, record in enumerate(records):
        header = record.tnf & 0x07
        header |= MB if i == 0 else 0
        header |= ME if i == len(records) - 1 else 0
        short = len(record.payload) < 256
        header |= SR if short else 0
        header |= IL if record.id else 0
        out += bytes([header, len(record.type)])
        out += bytes([len(record.payload)]) if short else len(record.payload).to_bytes(4, "big")
        if record.id:
            out.append(len(record.id))
        out += record.type + record.id + record.payload
    return bytes(out)


def encode_tlv(message: bytes) -> bytes:
    """The user-memory bytes for one NDEF message: its TLV then a terminator."""
    if len(message) < 0xFF:
        head = bytes([TLV_NDEF, len(message)])
    else:
        head = bytes([TLV_NDEF, 0xFF]) + len(message).to_bytes(2, "big")
    return head + message + bytes([TLV_TERMINATOR])
