"""What the identity tests share: a client certificate, a principals file, Azure's identity settings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from azvm.testing import AzvmServer

TENANT = "00000000-0000-0000-0000-000000000001"  # azvm's tenant
OTHER_TENANT = "99999999-0000-0000-0000-000000000009"
SUB = "00000000-0000-0000-0000-000000000000"
OTHER_SUB = "11111111-1111-1111-1111-111111111111"
ARM_SCOPE = "https://management.azure.com/.default"


def make_certificate(directory: Path, name: str = "app") -> Path:
    """A self-signed client certificate with its key, in one PEM (as CertificateCredential takes it)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=3650)).sign(key, hashes.SHA256()))
    path = directory / f"{name}.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture
def trust(azvm: AzvmServer, monkeypatch: pytest.MonkeyPatch) -> AzvmServer:
    """azure-identity's HTTP clients (MSAL's too) trust azvm's certificate."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azvm.cert))
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
                 "AZURE_AUTHORITY_HOST", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET",
                 "AZURE_POD_IDENTITY_AUTHORITY_HOST", "AZURE_FEDERATED_TOKEN_FILE", "IMDS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    return azvm
