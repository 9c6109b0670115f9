"""azvm's certificate authority and the certificate it issues to the server (and the proxy).

Azure clients send bearer tokens only over HTTPS. A data directory (or, in memory, the per-user one)
holds:

- `ca.pem` / `ca-key.pem`: azvm's authority (EC P-256, 10 years). It is **name-constrained**
  (critical X.509 NameConstraints): it can vouch only for localhost, the loopback addresses
  (127.0.0.0/8, ::1) and the Azure hosts the proxy intercepts (`AZURE_HOSTS`), so trusting it
  cannot expose any other name. Its key is readable by its owner only (0600).
- `cert.pem` / `key.pem`: the leaf it signs for the server and the proxy (SANs: localhost,
  127.0.0.1, ::1 and `AZURE_HOSTS`), reissued when it is missing, not signed by this authority, near
  its end, or names other hosts. `cert.pem` holds the leaf followed by the authority, so a client
  that trusted `cert.pem` by path (an older azvm's self-signed certificate) still verifies; the file
  to trust is `ca.pem`.

An older data directory whose `cert.pem` was self-signed migrates on the next start: the authority is
made and a leaf signed by it replaces the old certificate and key.

A start that finds all four in place and current checks them with the standard library's `ssl`
(OpenSSL: each key against its certificate, the leaf against the authority in a handshake in memory,
the names and the dates from the decoded certificates) and does not import cryptography, which only
making or replacing them needs.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from .files import make_private, private_dir, write_private
from .proxy.hosts import AZURE_HOSTS

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

LOCAL_NAMES: tuple[str, ...] = ("localhost",)
LOOPBACK_NETWORKS: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
LEAF_ADDRESSES: tuple[str, ...] = ("127.0.0.1", "::1")

CA_FILE, CA_KEY_FILE, CERT_FILE, KEY_FILE = "ca.pem", "ca-key.pem", "cert.pem", "key.pem"
CA_DAYS, LEAF_DAYS = 3650, 397
RENEW_BEFORE = dt.timedelta(days=30)  # a certificate this close to its end is replaced on start

_KeyUsage = dict(content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False,
                 encipher_only=False, decipher_only=False)


def authority_path(directory: Path) -> Path:
    """The authority's certificate in a certificate directory: the file clients should trust."""
    return directory / CA_FILE


def ensure_certificate(directory: Path, now: dt.datetime) -> tuple[Path, Path]:
    """Return (cert.pem, key.pem) in `directory`: the leaf that azvm's authority (made on first use,
    `ca.pem`) signs for the server and the proxy. Creates or replaces what is missing, stale or not
    signed by the authority; keys are 0600 (in a 0700 directory when this creates it)."""
    private_dir(directory)
    cert_path, key_path = directory / CERT_FILE, directory / KEY_FILE
    if in_place(directory, now):
        make_private(directory / CA_KEY_FILE)
        make_private(key_path)
        return cert_path, key_path
    from cryptography.hazmat.primitives.asymmetric import ec

    ca_cert, ca_key = ensure_authority(directory, now)
    if _leaf_is_current(cert_path, key_path, ca_cert, now):
        make_private(key_path)
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = issue_leaf(ca_cert, ca_key, key.public_key(), leaf_names(), now)
    write_private(key_path, private_key_pem(key))
    _write_public(cert_path, _pem(leaf) + _pem(ca_cert))  # the chain: clients that trust cert.pem still verify
    return cert_path, key_path


def ensure_authority(directory: Path, now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """azvm's authority in `directory` (ca.pem, ca-key.pem), made when missing, unreadable or near its end."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    cert_path, key_path = directory / CA_FILE, directory / CA_KEY_FILE
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError):
        pass
    else:
        if (isinstance(key, ec.EllipticCurvePrivateKey) and _same_key(cert, key)
                and cert.not_valid_after_utc - now > RENEW_BEFORE):
            make_private(key_path)
            return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _make_authority(key, now)
    write_private(key_path, private_key_pem(key))
    _write_public(cert_path, _pem(cert))
    return cert, key


def name_constraints() -> x509.NameConstraints:
    """What the authority may vouch for: localhost, the loopback addresses and AZURE_HOSTS."""
    from cryptography import x509

    permitted: list[x509.GeneralName] = [x509.DNSName(n) for n in (*LOCAL_NAMES, *AZURE_HOSTS)]
    permitted += [x509.IPAddress(ipaddress.ip_network(n)) for n in LOOPBACK_NETWORKS]
    return x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None)


def leaf_names() -> list[x509.GeneralName]:
    from cryptography import x509

    names: list[x509.GeneralName] = [x509.DNSName(n) for n in (*LOCAL_NAMES, *AZURE_HOSTS)]
    return names + [x509.IPAddress(ipaddress.ip_address(a)) for a in LEAF_ADDRESSES]


def issue_leaf(ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, public_key: ec.EllipticCurvePublicKey,
               names: list[x509.GeneralName], now: dt.datetime) -> x509.Certificate:
    """A TLS server certificate for `names`, signed by the authority (which is what decides whether
    a client accepts the names: an unlisted one fails verification by the name constraints)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "azvm server")]))
        .issuer_name(ca_cert.subject).public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **_KeyUsage),
                       critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _make_authority(key: ec.EllipticCurvePrivateKey, now: dt.datetime) -> x509.Certificate:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    # a name of its own per authority: two azvm authorities trusted side by side never shadow each other
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "azvm"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"azvm local authority {ski.digest[:6].hex()}")])
    return (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, key_cert_sign=True, crl_sign=True, **_KeyUsage),
                       critical=True)
        .add_extension(name_constraints(), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )


def _leaf_is_current(cert_path: Path, key_path: Path, ca_cert: x509.Certificate, now: dt.datetime) -> bool:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        leaf = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        leaf.verify_directly_issued_by(ca_cert)
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False  # missing, unreadable, self-signed by an older azvm, or another authority's
    return (isinstance(key, ec.EllipticCurvePrivateKey) and _same_key(leaf, key)
            and set(sans) == set(leaf_names()) and leaf.not_valid_after_utc - now > RENEW_BEFORE)


def _same_key(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    return cert.public_key() == key.public_key()


def _pem(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def private_key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    """A private key as unencrypted PKCS#8 PEM (how azvm keeps its keys, in 0600 files)."""
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # a name of this process's own
    tmp.write_bytes(data)
    tmp.replace(path)


# -- the check of a start that finds everything in place (standard library only) ---------------------
# DER of the AlgorithmIdentifier OID id-ecPublicKey (1.2.840.10045.2.1), as a PKCS#8 EC key carries it
_EC_KEY_OID = bytes.fromhex("06072a8648ce3d0201")


class _Encrypted(Exception):
    """A key that asks for a password: never one of azvm's (which reissues it through cryptography)."""


def _no_password() -> NoReturn:
    raise _Encrypted  # instead of OpenSSL asking for one on the terminal


def _is_ec_pkcs8(pem: bytes) -> bool:
    """An unencrypted PKCS#8 PEM whose algorithm is EC, as private_key_pem writes azvm's keys."""
    lines = pem.strip().splitlines()
    if len(lines) < 3 or lines[0] != b"-----BEGIN PRIVATE KEY-----" or lines[-1] != b"-----END PRIVATE KEY-----":
        return False
    try:
        der = base64.b64decode(b"".join(lines[1:-1]), validate=True)
    except ValueError:
        return False
    return _EC_KEY_OID in der[:32]  # version, then the AlgorithmIdentifier: within the first bytes


def _name_strings() -> set[tuple[str, str]]:
    """The leaf's names as the ssl module decodes a subjectAltName: ("DNS", name), ("IP Address", address)."""
    return {("DNS", n) for n in (*LOCAL_NAMES, *AZURE_HOSTS)} | {("IP Address", a) for a in LEAF_ADDRESSES}


def _decoded_names(sans: object) -> set[tuple[str, str]]:
    out = set()
    for kind, value in sans if isinstance(sans, tuple) else ():
        if kind == "IP Address":
            value = str(ipaddress.ip_address(value.strip()))  # OpenSSL writes ::1 as 0:0:0:0:0:0:0:1
        out.add((kind, value))
    return out


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _ends_after(decoded: Mapping[str, object], instant: dt.datetime) -> bool:
    """Whether a decoded certificate's notAfter ("Jan  2 15:04:05 2027 GMT", as OpenSSL prints it) is
    after `instant` (read here: ssl.cert_time_to_seconds would load time.strptime and its locale tables)."""
    not_after = decoded.get("notAfter")
    if not isinstance(not_after, str):
        return False
    month, day, hms, year, zone = not_after.split()
    hour, minute, second = hms.split(":")
    if zone != "GMT":
        return False
    end = dt.datetime(int(year), _MONTHS.index(month) + 1, int(day), int(hour), int(minute), int(second),
                      tzinfo=dt.UTC)
    return end > instant


def in_place(directory: Path, now: dt.datetime) -> bool:
    """True when `directory` holds an authority and a leaf that ensure_certificate would keep as they
    are, checked without cryptography: each key is EC (PKCS#8) and its certificate's, the leaf verifies
    against ca.pem alone (a handshake in memory, X.509 strict, with the authority's name constraints;
    so signed by the authority directly: its path length is 0), it names exactly leaf_names(), and
    neither ends within RENEW_BEFORE. False leaves the decision to the full check (which may still keep
    them)."""
    ca, ca_key, cert, key = (directory / n for n in (CA_FILE, CA_KEY_FILE, CERT_FILE, KEY_FILE))
    try:
        if not (_is_ec_pkcs8(ca_key.read_bytes()) and _is_ec_pkcs8(key.read_bytes())):
            return False
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(cert, key, password=_no_password)  # OpenSSL refuses a key not the certificate's
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED
        client.check_hostname = False  # the names are compared below, all of them
        client.load_cert_chain(ca, ca_key, password=_no_password)  # the same for the authority (never sent)
        client.verify_flags |= ssl.VERIFY_X509_STRICT
        client.load_verify_locations(cafile=ca)
        authorities = client.get_ca_certs()
        peer = handshake_in_memory(client, server)
        margin = now + RENEW_BEFORE
        return (len(authorities) == 1 and _ends_after(authorities[0], margin) and _ends_after(peer, margin)
                and _decoded_names(peer.get("subjectAltName")) == _name_strings())
    except (OSError, ValueError, ssl.SSLError, _Encrypted):
        return False


def handshake_in_memory(client_ctx: ssl.SSLContext, server_ctx: ssl.SSLContext,
                        server_hostname: str | None = None) -> dict[str, object]:
    """A TLS handshake between two contexts in memory; the server's certificate as the client decoded it
    (ssl.SSLError when the client refuses it)."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=server_hostname)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = [False, False]
    for _ in range(8):
        for i, (side, out, peer_in) in enumerate(((client, c_out, s_in), (server, s_out, c_in))):
            if not done[i]:
                try:
                    side.do_handshake()
                    done[i] = True
                except ssl.SSLWantReadError:
                    pass
            peer_in.write(out.read())
        if all(done):
            return dict(client.getpeercert() or {})
    raise ssl.SSLError("the handshake did not finish")
