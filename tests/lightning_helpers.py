"""Fixtures for Lightning tests: the simulator on a real unix socket and on local HTTP(S)."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import coincurve
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bitagora_devtools.sim.bolt11 import encode
from bitagora_devtools.sim.lightning import LightningSim

RUNE = "tJqAHbMxdOPXmN8DPsiEHt6RnrG0wV4EKhvSs7WhBRk9MCZtZXRob2Q9aW52b2ljZQ=="
INVOICE_METHODS = frozenset(
    {"invoice", "waitinvoice", "waitanyinvoice", "listinvoices", "delinvoice"}
)


@pytest.fixture
async def ln_sim() -> AsyncIterator[tuple[LightningSim, Path]]:
    """The simulator serving JSON-RPC on a unix socket in a short temporary directory."""
    # A unix socket path must stay under ~107 bytes: pytest's tmp_path can be longer.
    with tempfile.TemporaryDirectory(prefix="ln-") as folder:
        path = Path(folder) / "lightning-rpc"
        sim = LightningSim(rune=RUNE, rune_methods=INVOICE_METHODS)
        await sim.start_socket(path)
        try:
            yield sim, path
        finally:
            await sim.close()


@dataclass
class TlsFiles:
    ca_cert: Path
    server: ssl.SSLContext


def make_tls(folder: Path) -> TlsFiles:
    """A CA and a server certificate for 127.0.0.1 signed by it, as clnrest makes its own."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cln Root CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cln")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path = folder / "ca.pem", folder / "server.pem"
    key_path = folder / "server-key.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    return TlsFiles(ca_path, server)


def customer_invoice(amount_msat: int | None = None, network: str = "bc") -> str:
    """A real signed BOLT11 invoice from some wallet, as a customer would show it to be paid."""
    return encode(
        node_key=coincurve.PrivateKey(),
        network=network,
        amount_msat=amount_msat,
        payment_hash=os.urandom(32),
        payment_secret=os.urandom(32),
        description="refund",
        timestamp=1_790_000_000,
        expiry_s=3600,
    )
