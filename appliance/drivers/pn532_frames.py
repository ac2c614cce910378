"""PN532 host-interface frames (NXP UM0701-02, section 6.2), encoded and decoded without I/O.

A normal information frame is::

    00 | 00 FF | LEN | LCS | TFI | PD0 .. PDn | DCS | 00
    preamble, start code, LEN = bytes in TFI..PDn, LEN + LCS = 0 (mod 256),
    TFI = D4 (host to PN532) or D5 (PN532 to host), TFI + PD0 + .. + PDn + DCS = 0 (mod 256),
    postamble.

Special frames: ACK ``00 00 FF 00 FF 00``, NACK ``00 00 FF FF 00 00`` (the host asks the PN532 to
send its last response again) and the application-level error frame ``00 00 FF 01 FF 7F 81 00``.
Extended information frames (``00 00 FF FF FF LENM LENL LCS ...``, for more than 254 bytes) are
recognised and refused: nothing we send or read needs them.

``FrameDecoder`` turns a byte stream, as it arrives from a serial line, into these frames. It skips
bytes that cannot start a frame (line noise, the 0x55 wake-up burst) and resynchronises after a
length checksum that does not add up, so garbage never hides the frame that follows it.
"""

from __future__ import annotations

from dataclasses import dataclass

PREAMBLE = b"\x00"
START_CODE = b"\x00\xff"
POSTAMBLE = b"\x00"

TFI_HOST = 0xD4  # host controller to PN532
TFI_PN532 = 0xD5  # PN532 to host controller
TFI_ERROR = 0x7F  # the error frame's TFI

ACK = b"\x00\x00\xff\x00\xff\x00"
NACK = b"\x00\x00\xff\xff\x00\x00"
ERROR_FRAME = b"\x00\x00\xff\x01\xff\x7f\x81\x00"

# HSU wake-up (UM0701-02 7.2.11 and the PN532 application note): a long run of 0x55 then zeros
# gets the chip out of power-down before the first command (SAMConfiguration).
WAKE_UP = b"\x55\x55" + b"\x00" * 14

MAX_DATA = 254  # LEN of a normal frame is 1 byte and counts the TFI

# Commands (UM0701-02 chapter 7); the answer's command code is the command's + 1.
GET_FIRMWARE_VERSION = 0x02
SAM_CONFIGURATION = 0x14
RF_CONFIGURATION = 0x32
IN_DATA_EXCHANGE = 0x40
IN_LIST_PASSIVE_TARGET = 0x4A
IN_RELEASE = 0x52

SAM_NORMAL_MODE = 0x01
BRTY_106_TYPE_A = 0x00  # 106 kbps ISO/IEC 14443 Type A
RF_CFG_MAX_RETRIES = 0x05  # RFConfiguration item: MxRtyATR, MxRtyPSL, MxRtyPassiveActivation

COMMAND_NAMES = {
    GET_FIRMWARE_VERSION: "GetFirmwareVersion",
    SAM_CONFIGURATION: "SAMConfiguration",
    RF_CONFIGURATION: "RFConfiguration",
    IN_DATA_EXCHANGE: "InDataExchange",
    IN_LIST_PASSIVE_TARGET: "InListPassiveTarget",
    IN_RELEASE: "InRelease",
}


def checksum(data: bytes) -> int:
    """The byte that makes ``sum(data) + checksum`` a multiple of 256 (LCS and DCS)."""
    return -sum(data) & 0xFF


def encode_frame(tfi: int, payload: bytes) -> bytes:
    """A normal information frame carrying TFI and PD0..PDn."""
    body = bytes([tfi]) + payload
    if len(body) > MAX_DATA:
        raise ValueError(f"{len(body)} bytes do not fit a normal frame (at most {MAX_DATA})")
    length = len(body)
    return (
        PREAMBLE
        + START_CODE
        + bytes([length, checksum(bytes([length]))])
        + body
        + bytes([checksum(body)])
        + POSTAMBLE
    )


def command_frame(command: int, params: bytes = b"") -> bytes:
    """Host to PN532: TFI D4, the command code, its parameters."""
    return encode_frame(TFI_HOST, bytes([command]) + params)


def response_frame(command: int, data: bytes = b"") -> bytes:
    """PN532 to host: TFI D5, the command code + 1, the answer (what the simulator sends)."""
    return encode_frame(TFI_PN532, bytes([command + 1]) + data)


# -- decoding ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ack:
    pass


@dataclass(frozen=True)
class Nack:
    pass


@dataclass(frozen=True)
class ErrorFrame:
    """The PN532 found an error at application level (e.g. a command it cannot parse)."""


@dataclass(frozen=True)
class InfoFrame:
    tfi: int
    data: bytes  # PD0..PDn: the command code then its parameters or answer

    @property
    def command(self) -> int:
        return self.data[0] if self.data else -1


@dataclass(frozen=True)
class BadFrame:
    """A frame whose length checked out but whose data did not (DCS), or that we refuse."""

    reason: str


Frame = Ack | Nack | ErrorFrame | InfoFrame | BadFrame


class FrameDecoder:
    """Incremental decoder: ``feed`` bytes as they arrive, get the complete frames back."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.discarded = 0  # bytes skipped as noise, for logs and tests

    @property
    def pending(self) -> int:
        """Bytes held back as the start of a frame that has not fully arrived (a lone 00, which
        may be a postamble or a preamble, does not count)."""
        return 0 if self._buf == b"\x00" else len(self._buf)

    def clear(self) -> None:
        self._buf.clear()

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while True:
            start = self._buf.find(START_CODE)
            if start < 0:
                # keep a trailing 00: it may be the first half of the next start code
                keep = 1 if self._buf.endswith(b"\x00") else 0
                self._skip(len(self._buf) - keep)
                return frames
            self._skip(start)
            frame, size = self._parse()
            if size == 0:
                return frames  # incomplete: wait for more bytes
            del self._buf[:size]
            if frame is not None:
                frames.append(frame)

    def _skip(self, n: int) -> None:
        # Preamble zeros and postambles are part of the protocol, not noise worth counting.
        self.discarded += sum(1 for b in self._buf[:n] if b != 0x00)
        del self._buf[:n]

    def _parse(self) -> tuple[Frame | None, int]:
        """The frame at the start of the buffer (which begins with 00 FF) and its size;
        size 0 when more bytes are needed; frame None when the start code was a false one."""
        buf = self._buf
        if len(buf) < 4:
            return None, 0
        length, lcs = buf[2], buf[3]
        if length == 0x00 and lcs == 0xFF:
            return Ack(), 4 + self._postamble(4)
        if length == 0xFF and lcs == 0x00:
            return Nack(), 4 + self._postamble(4)
        if length == 0xFF and lcs == 0xFF:
            # extended frame: LENM LENL LCS follow; skip it whole when its length is sound
            if len(buf) < 7:
                return None, 0
            ext_len = buf[4] << 8 | buf[5]
            if (buf[4] + buf[5] + buf[6]) & 0xFF:
                self.discarded += 1
                return None, 1
            size = 7 + ext_len + 1
            if len(buf) < size:
                return None, 0
            return BadFrame("extended information frames are not supported"), size + (
                self._postamble(size)
            )
        if (length + lcs) & 0xFF or length == 0:
            # not a frame after all (noise that happened to contain 00 FF): resync one byte on
            self.discarded += 1
            return None, 1
        size = 4 + length + 1
        if len(buf) < size:
            return None, 0
        body = bytes(buf[4 : 4 + length])
        dcs = buf[4 + length]
        size += self._postamble(size)
        if (sum(body) + dcs) & 0xFF:
            return BadFrame(f"data checksum mismatch (DCS 0x{dcs:02X})"), size
        if body[0] == TFI_ERROR:
            return ErrorFrame(), size
        return InfoFrame(body[0], body[1:]), size

    def _postamble(self, at: int) -> int:
        return 1 if len(self._buf) > at and self._buf[at] == 0x00 else 0


# -- answers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FirmwareVersion:
    ic: int  # 0x32 for the PN532
    ver: int
    rev: int
    support: int  # bit 0 ISO/IEC 14443 Type A, bit 1 Type B, bit 2 ISO 18092

    def __str__(self) -> str:
        protocols = ((1, "ISO14443A"), (2, "ISO14443B"), (4, "ISO18092"))
        supported = ", ".join(name for bit, name in protocols if self.support & bit) or "none"
        return f"PN5{self.ic:02X} firmware {self.ver}.{self.rev} ({supported})"


@dataclass(frozen=True)
class TargetA:
    """One ISO/IEC 14443 Type A target found by InListPassiveTarget."""

    tg: int  # logical number the PN532 gave it (used by InDataExchange)
    atqa: int  # SENS_RES, 2 bytes
    sak: int  # SEL_RES
    uid: bytes  # NFCID1: 4, 7 or 10 bytes
    ats: bytes = b""

    @property
    def uid_hex(self) -> str:
        return self.uid.hex().upper()


def parse_firmware_version(data: bytes) -> FirmwareVersion:
    """``data`` is the answer after the command code: IC, Ver, Rev, Support."""
    if len(data) != 4:
        raise ValueError(f"GetFirmwareVersion answer has {len(data)} bytes, expected 4")
    return FirmwareVersion(*data)


def parse_list_passive_target_a(data: bytes) -> list[TargetA]:
    """InListPassiveTarget (BrTy 0x00) answer after the command code: NbTg then, per target,
    Tg, SENS_RES (2), SEL_RES, NFCIDLength, NFCID1, and ATS (length byte first) when the SAK
    says the target speaks ISO/IEC 14443-4."""
    if not data:
        raise ValueError("InListPassiveTarget answer is empty")
    count, pos, targets = data[0], 1, []
    for _ in range(count):
        if len(data) < pos + 5:
            raise ValueError("InListPassiveTarget answer is truncated")
        tg, atqa, sak, uid_len = (
            data[pos],
            data[pos + 1] << 8 | data[pos + 2],
            data[pos + 3],
            data[pos + 4],
        )
        pos += 5
        if uid_len not in (4, 7, 10) or len(data) < pos + uid_len:
            raise ValueError(f"InListPassiveTarget answer has a bad UID length {uid_len}")
        uid = bytes(data[pos : pos + uid_len])
        pos += uid_len
        ats = b""
        if sak & 0x20 and len(data) > pos:
            ats_len = data[pos]
            ats = bytes(data[pos : pos + ats_len])
            pos += ats_len
        targets.append(TargetA(tg, atqa, sak, uid, ats))
    return targets
