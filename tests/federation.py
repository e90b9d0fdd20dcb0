"""Two Synapses federating over loopback: the community's homeserver (rooms and bots only) and
a server where the people have their accounts.

Each server is named `localhost:FEDERATION_PORT`, so no DNS is needed; federation runs over TLS
with a throwaway self-signed certificate, and each server is told to accept the other's
certificate and to let outgoing federation reach 127.0.0.1 (Synapse blocks loopback by default).
The client API stays plain HTTP on its own port, as for every test server.
"""

from __future__ import annotations

import contextlib
import datetime
import pathlib
from collections.abc import Iterator
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from roomsync.localsynapse import free_port
from tests.synapse import SynapseServer


def _certificate(directory: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """A self-signed certificate for localhost, valid for two days."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class FederatingSynapse(SynapseServer):
    """A test Synapse named localhost:PORT that federates with other such servers on this machine."""

    def __init__(self, workdir: pathlib.Path, **kwargs: Any) -> None:
        self.federation_port = free_port()
        super().__init__(workdir, server_name=f"localhost:{self.federation_port}", **kwargs)

    def _write_config(self) -> None:
        super()._write_config()
        cert, key = _certificate(self.workdir)
        config = yaml.safe_load(self.config_path.read_text())
        config["listeners"].append(
            {
                "port": self.federation_port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": True,
                "resources": [{"names": ["federation", "keys"], "compress": False}],
            }
        )
        config.pop("federation_domain_whitelist", None)
        config.update(
            {
                "tls_certificate_path": str(cert),
                "tls_private_key_path": str(key),
                "federation_verify_certificates": False,
                "ip_range_whitelist": ["127.0.0.1", "::1"],
            }
        )
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))


@contextlib.contextmanager
def federating_pair(first: pathlib.Path, second: pathlib.Path) -> Iterator[tuple[FederatingSynapse, FederatingSynapse]]:
    """Two federating Synapses, started here and stopped after; never a skip if they cannot start."""
    one, two = FederatingSynapse(first), FederatingSynapse(second)
    one.start()
    try:
        two.start()
        try:
            yield one, two
        finally:
            two.stop()
    finally:
        one.stop()
