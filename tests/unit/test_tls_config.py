"""TLS at the entry: only engines that can terminate it are given it, the certificate names the
addresses clients use, and the key hash Chromium is given is the CA's."""

from __future__ import annotations

import base64
import hashlib
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from proxies.render import PROFILES, Hop, ProxyConfig, render
from stack.backends import ProcessBackend
from stack.proxy_chain import chain_configs
from stack.tls import EDGE_NAMES, make_stack_ca


def test_a_caddy_entry_is_refused_tls_by_name(tmp_path: Path) -> None:
    edge = make_stack_ca(tmp_path).edge
    with pytest.raises(ValueError, match="gcp-lb runs on Caddy"):
        ProxyConfig(PROFILES["gcp-lb"], Hop("127.0.0.1", 1), (), 1.0, tls=edge)


def test_only_the_entry_of_a_chain_speaks_tls(tmp_path: Path) -> None:
    chain = [PROFILES["cloudflare"], PROFILES["nginx-tuned"]]
    edge = make_stack_ca(tmp_path / "ca").edge
    inner, entry = chain_configs(chain, (Hop("127.0.0.1", 1),), ProcessBackend().reach, 1.0, tls=edge)
    assert (inner.scheme, entry.scheme) == ("http", "https")
    text = render(entry, tmp_path / "edge").read_text()
    assert f"ssl crt {tmp_path}/edge/edge-chain.pem alpn h2,http/1.1" in text
    assert 'CF-Visitor {\\"scheme\\":\\"https\\"}' in text


def test_the_certificate_names_the_entry_and_chromium_is_given_the_cas_key(tmp_path: Path) -> None:
    ca = make_stack_ca(tmp_path)
    leaf = x509.load_pem_x509_certificate(ca.edge.chain_pem.encode())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(n.value) for n in names} == set(EDGE_NAMES)
    root = x509.load_pem_x509_certificate(ca.ca_cert.read_bytes())
    spki = root.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert ca.chromium_flag.endswith(base64.b64encode(hashlib.sha256(spki).digest()).decode())
    ssl.create_default_context(cafile=str(ca.ca_cert))  # a CA file clients can load
