"""Central's signing key made at the first start: centrals starting at once in the same folder
(worker processes on one socket) all end with the one key written, and none reads it half
written (central/signing_key.py)."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from central.signing_key import KEY_FILE, load_signing_key


def _seed_hex(directory: str) -> str:
    key = load_signing_key(Path(directory))
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()).hex()


def test_centrals_starting_at_once_share_one_whole_key(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        for trial in range(5):
            folder = tmp_path / f"central-{trial}"
            seeds = pool.map(_seed_hex, [str(folder)] * 8)
            written = (folder / KEY_FILE).read_text(encoding="ascii").strip()
            assert set(seeds) == {written} and len(written) == 64
            assert stat.S_IMODE((folder / KEY_FILE).stat().st_mode) == 0o600
            assert [p.name for p in folder.iterdir()] == [KEY_FILE]  # no draft left behind
