"""The local stack's certificate authority and the broker's TLS certificate.

The CA is created once (ECDSA P-256, ten years) and reused; the broker's
certificate (for ``127.0.0.1``, ``::1``, ``localhost``, and the compose service
names ``kafka`` and ``kafka-1..3``) is re-issued when missing or within 30 days
of expiry.
Private keys are written 0600 and never leave ``state/tls``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certlife.services.infra.fileio import write_file_atomic
from certlife.services.infra.stack.settings import broker_keystore, ca_file, tls_dir

#: Names the broker certificate is valid for (``kafka-N``: compose's ``cluster`` profile).
BROKER_DNS = ("localhost", "kafka", "kafka-1", "kafka-2", "kafka-3")
BROKER_IPS = ("127.0.0.1", "::1")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _ensure_ca(folder: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = folder / "ca.pem", folder / "ca.key"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certlife local stack CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_file_atomic(key_path, _key_pem(key), mode=0o600)
    write_file_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _broker_current(path: Path, ca: x509.Certificate) -> bool:
    if not path.exists():
        return False
    certs = x509.load_pem_x509_certificates(path.read_bytes())
    return (
        bool(certs)
        and certs[0].issuer == ca.subject
        and certs[0].not_valid_after_utc - _now() > dt.timedelta(days=30)
    )


def ensure_tls(state: Path, ca_state: Path | None = None) -> Path:
    """Create the CA (once) and a current broker certificate under ``state``; return the CA file.

    ``ca_state``: the folder whose CA signs it (a cluster uses the single stack's, so that one
    CA file is trusted by clients of every local stack); None: ``state``.
    """
    folder = tls_dir(state)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_folder = tls_dir(ca_state or state)
    ca_folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca, ca_key = _ensure_ca(ca_folder)
    keystore = broker_keystore(state)
    if not _broker_current(keystore, ca):
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in BROKER_DNS]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in BROKER_IPS]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certlife kafka broker")]))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(_now() + dt.timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        chain = cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
        write_file_atomic(keystore, _key_pem(key) + chain, mode=0o600)
    return ca_file(ca_state or state)
