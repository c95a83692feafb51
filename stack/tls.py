"""TLS at a stack's entry: a throwaway CA made at stack start (trustme), and the edge's
certificate from it for the addresses clients use. Nothing outside the run trusts it; a
client is given `ca_cert`, and Chromium the CA's key hash (`chromium_flag`)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from proxies.render import EdgeTls

# What clients on this machine call the entry.
EDGE_NAMES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class StackCa:
    edge: EdgeTls
    ca_cert: Path  # PEM, for curl --cacert, SSL_CERT_FILE and the like
    ca_spki_sha256: str  # base64 SHA-256 of the CA's public key, as Chromium takes it

    @property
    def chromium_flag(self) -> str:
        """Trust this CA's certificates and no other otherwise-invalid one."""
        return f"--ignore-certificate-errors-spki-list={self.ca_spki_sha256}"


def make_stack_ca(folder: Path) -> StackCa:
    ca = trustme.CA(organization_name="proxybench stack")
    leaf = ca.issue_cert(*EDGE_NAMES)
    folder.mkdir(parents=True, exist_ok=True)
    ca_cert = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_cert))
    # The CA is sent after the leaf: Chromium matches its key-hash list against the chain the
    # server presents, and an unknown root is otherwise never presented.
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems) + ca.cert_pem.bytes()
    return StackCa(
        EdgeTls(chain.decode(), leaf.private_key_pem.bytes().decode()), ca_cert, _spki_sha256(ca.cert_pem.bytes())
    )


def _spki_sha256(cert_pem: bytes) -> str:
    key = x509.load_pem_x509_certificate(cert_pem).public_key()
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()
