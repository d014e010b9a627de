"""Chain and IPFS endpoints behind TLS issued by a coalition's own CA (`TCLEARN_CA_BUNDLE`):
trusted with the bundle, refused with a clear reason without it. The endpoints are the real
anvil and js-ipfs nodes of the test session behind an HTTPS forwarder on loopback."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tclearn.chain.backends import connect
from tclearn.errors import ChainError
from tclearn.store.base import StoreError
from tclearn.store.ipfs import IpfsStore
from tclearn.transport import CA_BUNDLE_ENV

pytestmark = [pytest.mark.anvil, pytest.mark.ipfs]


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A private CA, and a certificate it signs for 127.0.0.1."""
    directory = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("coalition CA"))
        .issuer_name(_name("coalition CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {"ca": directory / "ca.pem", "cert": directory / "server.pem", "key": directory / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


def https_forwarder(upstream: str, pki: dict[str, Path]) -> Iterator[str]:
    """An HTTPS endpoint on loopback that forwards every POST to `upstream`."""

    class Forward(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
            reply = requests.post(upstream.rstrip("/") + self.path, data=body, headers=headers, timeout=60)
            self.send_response(reply.status_code)
            self.send_header("Content-Type", reply.headers.get("Content-Type", "application/json"))
            self.send_header("Content-Length", str(len(reply.content)))
            self.end_headers()
            self.wfile.write(reply.content)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["cert"], pki["key"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def chain_https(anvil_url: str, pki: dict[str, Path]) -> Iterator[str]:
    yield from https_forwarder(anvil_url, pki)


@pytest.fixture(scope="module")
def ipfs_https(ipfs_url: str, pki: dict[str, Path]) -> Iterator[str]:
    yield from https_forwarder(ipfs_url, pki)


def test_a_chain_behind_the_coalitions_ca_is_trusted_only_with_its_bundle(
    chain_https: str, anvil_url: str, pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CA_BUNDLE_ENV, raising=False)
    with pytest.raises(ChainError, match=f"TLS certificate not trusted.*{CA_BUNDLE_ENV}"):
        connect(chain_https)
    monkeypatch.setenv(CA_BUNDLE_ENV, str(pki["ca"]))
    chain = connect(chain_https)
    try:
        plain = connect(anvil_url)
        assert chain.chain_id == plain.chain_id and chain.w3.eth.block_number >= 0
        plain.close()
    finally:
        chain.close()


def test_an_ipfs_node_behind_the_coalitions_ca_gives_the_same_cids(
    ipfs_https: str, ipfs_url: str, pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CA_BUNDLE_ENV, raising=False)
    with pytest.raises(StoreError, match="TLS certificate not trusted"):
        IpfsStore(ipfs_https).put(b"over TLS")
    monkeypatch.setenv(CA_BUNDLE_ENV, str(pki["ca"]))
    cid = IpfsStore(ipfs_https).put(b"over TLS")
    assert cid == IpfsStore(ipfs_url).put(b"over TLS")
    assert IpfsStore(ipfs_https).get(cid) == b"over TLS"


def test_a_missing_bundle_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tclearn.errors import ConfigError

    monkeypatch.setenv(CA_BUNDLE_ENV, str(tmp_path / "absent.pem"))
    with pytest.raises(ConfigError, match="is not a file"):
        IpfsStore("https://127.0.0.1:1")
