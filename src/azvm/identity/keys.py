"""azvm's token-signing key: RSA 2048, kept in the data directory (owner-only, 0600) so that tokens
stay valid across restarts and across `--workers` processes, or in memory with `--in-memory`."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..files import make_private, write_private

if TYPE_CHECKING:  # cryptography loads with the first key (the first token), not as the server starts
    from cryptography.hazmat.primitives.asymmetric import rsa

KEY_FILE = "identity-signing-key.pem"


@dataclass(frozen=True)
class SigningKey:
    private: rsa.RSAPrivateKey
    kid: str  # base64url SHA-256 of the public key (DER), as the JWKS and token headers name it

    @classmethod
    def from_private(cls, private: rsa.RSAPrivateKey) -> SigningKey:
        from cryptography.hazmat.primitives import serialization

        der = private.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
        kid = base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:20]).decode().rstrip("=")
        return cls(private, kid)

    @property
    def public(self) -> rsa.RSAPublicKey:
        return self.private.public_key()

    def jwk(self) -> dict[str, Any]:
        from jwt.algorithms import RSAAlgorithm

        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.public, as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}


def new_key() -> SigningKey:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return SigningKey.from_private(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def load_or_create(directory: Path | None) -> SigningKey:
    """The key in `directory` (made on first use, readable by its owner only); None: a key in memory."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if directory is None:
        return new_key()
    path = directory / KEY_FILE
    if not path.exists():
        from ..tls import private_key_pem

        # never replaces a key that another process made meanwhile: the first one written is everyone's
        write_private(path, private_key_pem(new_key().private), keep_existing=True)
    make_private(path)  # an older copy, or one restored from a backup, is made the owner's only again
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"{path}: not an RSA private key")
    return SigningKey.from_private(loaded)


__all__ = ["KEY_FILE", "SigningKey", "load_or_create", "new_key"]
