"""azvm's certificate authority: separate from the leaf it signs, name-constrained to the names azvm
serves, its key its owner's only, and older data directories (a self-signed cert.pem) migrated."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from azvm import tls
from azvm.clock import now_wall_us, to_datetime
from azvm.proxy.hosts import AZURE_HOSTS
from azvm.testing import StaticTokenCredential, azvm_server

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)



def wall_now() -> dt.datetime:
    return to_datetime(now_wall_us())

def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_the_authority_is_name_constrained_and_separate_from_the_leaf(tmp_path: Path) -> None:
    cert, key = tls.ensure_certificate(tmp_path, NOW)
    ca = load(tmp_path / "ca.pem")
    nc = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert nc.critical
    assert set(nc.value.permitted_subtrees or []) == {
        x509.DNSName("localhost"), *(x509.DNSName(h) for h in AZURE_HOSTS),
        x509.IPAddress(ipaddress.ip_network("127.0.0.0/8")), x509.IPAddress(ipaddress.ip_network("::1/128"))}
    assert nc.value.excluded_subtrees is None
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    leaf = load(cert)
    assert leaf.issuer == ca.subject != leaf.subject
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    leaf.verify_directly_issued_by(ca)
    assert (tmp_path / "ca-key.pem").stat().st_mode & 0o777 == 0o600
    assert key.stat().st_mode & 0o777 == 0o600
    assert tmp_path.stat().st_mode & 0o777 == 0o700


def test_a_second_start_keeps_the_authority_and_the_leaf(tmp_path: Path) -> None:
    tls.ensure_certificate(tmp_path, NOW)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    tls.ensure_certificate(tmp_path, NOW + dt.timedelta(days=100))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    # near its end the leaf is renewed, by the same authority
    tls.ensure_certificate(tmp_path, NOW + dt.timedelta(days=tls.LEAF_DAYS - 10))
    assert (tmp_path / "ca.pem").read_bytes() == before["ca.pem"]
    assert (tmp_path / "cert.pem").read_bytes() != before["cert.pem"]


def handshake(ca_file: Path, chain: bytes, key: ec.EllipticCurvePrivateKey, server_hostname: str,
              tmp_path: Path) -> None:
    """A TLS handshake in memory: a server showing `chain`, a client trusting `ca_file` only, with
    the strict X.509 checks that Python 3.13 turns on by default."""
    (tmp_path / "chain.pem").write_bytes(chain)
    (tmp_path / "leaf-key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "chain.pem", tmp_path / "leaf-key.pem")
    client_ctx = ssl.create_default_context(cafile=str(ca_file))
    client_ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    tls.handshake_in_memory(client_ctx, server_ctx, server_hostname)


def leaf_for(directory: Path, names: list[x509.GeneralName]) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    """A leaf signed by the authority in `directory` (with its key), as an attacker holding the
    authority's key could make one."""
    ca = load(directory / "ca.pem")
    ca_key = serialization.load_pem_private_key((directory / "ca-key.pem").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = tls.issue_leaf(ca, ca_key, key.public_key(), names, wall_now())
    pem = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    return pem, key


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "management.azure.com", "login.microsoftonline.com"])
def test_the_servers_leaf_verifies_for_the_names_azvm_serves(tmp_path: Path, host: str) -> None:
    cert, key = tls.ensure_certificate(tmp_path / "d", wall_now())
    leaf_key = serialization.load_pem_private_key(key.read_bytes(), password=None)
    assert isinstance(leaf_key, ec.EllipticCurvePrivateKey)
    handshake(tmp_path / "d" / "ca.pem", cert.read_bytes(), leaf_key, host, tmp_path)


OUTSIDE = [x509.DNSName("www.example.com"), x509.DNSName("management.azure.com.evil.example"),
           x509.DNSName("microsoftonline.com"), x509.IPAddress(ipaddress.ip_address("10.0.0.1"))]


@pytest.mark.parametrize("name", OUTSIDE, ids=str)
def test_a_leaf_for_a_name_outside_the_constraints_is_refused(tmp_path: Path, name: x509.GeneralName) -> None:
    """Even a certificate the authority's own key signed: OpenSSL refuses it (permitted subtree
    violation), so trusting azvm's authority exposes no other host."""
    tls.ensure_certificate(tmp_path / "d", wall_now())
    chain, key = leaf_for(tmp_path / "d", [name])
    host = str(name.value)
    with pytest.raises(ssl.SSLCertVerificationError, match="subtree|name constraint"):
        handshake(tmp_path / "d" / "ca.pem", chain, key, host, tmp_path)
    # the control: the same construction for a permitted name verifies
    chain, key = leaf_for(tmp_path / "d", [x509.DNSName("management.azure.com")])
    handshake(tmp_path / "d" / "ca.pem", chain, key, "management.azure.com", tmp_path)


def old_self_signed(directory: Path) -> None:
    """What azvm wrote before it had an authority: one self-signed certificate, its own CA, with a
    key left readable by others."""
    directory.mkdir(mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "azvm local emulator")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    (directory / "key.pem").chmod(0o644)


def test_an_old_data_directory_migrates_to_the_authority(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old_self_signed(data)
    old_cert = (data / "cert.pem").read_bytes()
    with azvm_server(data_dir=str(data), cert_dir=str(data)) as s:
        assert s.cert == data / "cert.pem"
        ca = load(data / "ca.pem")
        assert ca.extensions.get_extension_for_class(x509.NameConstraints).critical
        assert (data / "cert.pem").read_bytes() != old_cert
        assert load(data / "cert.pem").issuer == ca.subject
        assert (data / "key.pem").stat().st_mode & 0o777 == 0o600
        assert (data / "ca-key.pem").stat().st_mode & 0o777 == 0o600
        from azure.mgmt.resource.resources import ResourceManagementClient

        # the file to trust now is ca.pem; clients that trusted cert.pem by path keep verifying
        for trusted in ("ca.pem", "cert.pem"):
            client = ResourceManagementClient(StaticTokenCredential(), s.subscription_id, base_url=s.endpoint,
                                              connection_verify=str(data / trusted))
            with client:
                assert client.resource_groups.create_or_update("rg", {"location": "eastus"}).name == "rg"


def test_a_start_that_finds_them_in_place_needs_no_cryptography(tmp_path: Path) -> None:
    """The check of certificates already in place is the standard library's: a server that restarts on
    its data directory does not import cryptography, and keeps every file as it was."""
    import subprocess
    import sys

    tls.ensure_certificate(tmp_path, wall_now())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert tls.in_place(tmp_path, wall_now())
    code = ("import sys; from pathlib import Path; from azvm import tls; from azvm.clock import now_wall_us,"
            f" to_datetime; tls.ensure_certificate(Path({str(tmp_path)!r}), to_datetime(now_wall_us()));"
            " print(sorted(m for m in sys.modules if m.startswith('cryptography')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def _other_authority(tmp_path: Path) -> Path:
    other = tmp_path / "other"
    tls.ensure_certificate(other, wall_now())
    return other


def _swap_authority(d: Path, tmp_path: Path) -> None:
    other = _other_authority(tmp_path)
    for name in ("ca.pem", "ca-key.pem"):
        (d / name).write_bytes((other / name).read_bytes())


def _swap_key(d: Path, tmp_path: Path) -> None:
    (d / "key.pem").write_bytes((_other_authority(tmp_path) / "key.pem").read_bytes())


def _encrypt_key(d: Path, tmp_path: Path) -> None:
    key = serialization.load_pem_private_key((d / "key.pem").read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    (d / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.BestAvailableEncryption(b"secret")))


def _fewer_names(d: Path, tmp_path: Path) -> None:
    chain, key = leaf_for(d, [x509.DNSName("localhost")])
    (d / "cert.pem").write_bytes(chain)
    (d / "key.pem").write_bytes(tls.private_key_pem(key))


def _rsa_leaf(d: Path, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    ca = load(d / "ca.pem")
    ca_key = serialization.load_pem_private_key((d / "ca-key.pem").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = tls.issue_leaf(ca, ca_key, key.public_key(), tls.leaf_names(), wall_now())  # type: ignore[arg-type]
    (d / "cert.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + (d / "ca.pem").read_bytes())
    (d / "key.pem").write_bytes(tls.private_key_pem(key))


def _missing_leaf(d: Path, tmp_path: Path) -> None:
    (d / "cert.pem").unlink()


@pytest.mark.parametrize("spoil", [_swap_authority, _swap_key, _encrypt_key, _fewer_names, _rsa_leaf, _missing_leaf],
                         ids=lambda f: f.__name__.strip("_"))
def test_what_the_quick_check_refuses_goes_to_the_full_check(tmp_path: Path, spoil: Any) -> None:
    """Whatever the full check would replace, the quick one never keeps (an encrypted key is refused
    without a prompt); ensure_certificate then puts a leaf of the authority in place, as before."""
    d = tmp_path / "d"
    tls.ensure_certificate(d, wall_now())
    spoil(d, tmp_path)
    assert not tls.in_place(d, wall_now())
    cert, key = tls.ensure_certificate(d, wall_now())
    assert tls.in_place(d, wall_now())
    load(cert).verify_directly_issued_by(load(d / "ca.pem"))


def test_the_quick_check_renews_near_the_end(tmp_path: Path) -> None:
    tls.ensure_certificate(tmp_path, wall_now())
    assert tls.in_place(tmp_path, wall_now() + dt.timedelta(days=tls.LEAF_DAYS - 40))
    assert not tls.in_place(tmp_path, wall_now() + dt.timedelta(days=tls.LEAF_DAYS - 20))
