"""The realm's keys: RS256 key pairs for access and ID tokens (published in the JWKS) and an HMAC
key for refresh tokens, which Keycloak signs with a realm secret that it never publishes."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass(slots=True)
class RsaKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    jwk: dict[str, Any]

    @classmethod
    def generate(cls, realm: str) -> RsaKey:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = private_key.public_key()
        numbers = public.public_numbers()
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        kid = _b64(hashlib.sha256(der).digest())[:43]
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, realm)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
            .sign(private_key, hashes.SHA256())
        )  # fmt: skip
        cert_der = cert.public_bytes(serialization.Encoding.DER)
        jwk = {
            "kid": kid, "kty": "RSA", "alg": "RS256", "use": "sig", "n": _uint(numbers.n), "e": _uint(numbers.e),
            "x5c": [base64.b64encode(cert_der).decode()],
            # The x5t thumbprint is SHA-1 by definition (RFC 7517 §4.8).
            "x5t": _b64(hashlib.sha1(cert_der).digest()),
            "x5t#S256": _b64(hashlib.sha256(cert_der).digest()),
        }  # fmt: skip
        return cls(kid, private_key, jwk)


class RealmKeys:
    """Not thread-safe on its own: the emulator's state lock guards it."""

    def __init__(self, realm: str) -> None:
        self._realm = realm
        self._first = RsaKey.generate(realm)
        self.hmac_kid = secrets.token_hex(16)
        self._hmac_secret = secrets.token_bytes(64)
        self.reset()

    def reset(self) -> None:
        self._keys: list[RsaKey] = [self._first]
        self.active_kid = self._first.kid

    def rotate(self, *, retire_old: bool) -> str:
        key = RsaKey.generate(self._realm)
        self._keys = [key] if retire_old else [key, *self._keys]
        self.active_kid = key.kid
        return key.kid

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(k.jwk) for k in self._keys]}

    def public_key_pem_body(self) -> str:
        der = (
            self._key(self.active_kid)
            .private_key.public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        return base64.b64encode(der).decode()

    def _key(self, kid: str) -> RsaKey:
        for key in self._keys:
            if key.kid == kid:
                return key
        raise KeyError(kid)

    def sign(self, claims: dict[str, Any], *, kid: str | None = None, typ: str = "JWT", alg: str = "RS256") -> str:
        if alg == "none":
            header = _b64(json.dumps({"alg": "none", "typ": typ}).encode())
            return f"{header}.{_b64(json.dumps(claims).encode())}."
        if alg.startswith("HS"):
            headers = {"kid": kid or self.hmac_kid, "typ": typ}
            return jwt.encode(claims, self._hmac_secret, algorithm=alg, headers=headers)
        kid = kid or self.active_kid
        try:
            private_key = self._key(kid).private_key
        except KeyError:
            # A kid the realm does not publish: sign with a throwaway key, as a forger would.
            private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return jwt.encode(claims, private_key, algorithm=alg, headers={"kid": kid, "typ": typ})

    def sign_refresh(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._hmac_secret, algorithm="HS512", headers={"kid": self.hmac_kid, "typ": "JWT"})

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims if the signature is one of the realm's current keys; expiry is the caller's job."""
        try:
            header = jwt.get_unverified_header(token)
            alg, kid = header.get("alg"), header.get("kid")
            if alg == "HS512" and kid == self.hmac_kid:
                key: Any = self._hmac_secret
            elif alg == "RS256" and isinstance(kid, str):
                key = self._key(kid).private_key.public_key()
            else:
                return None
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[alg],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
            )  # fmt: skip
        except (jwt.PyJWTError, KeyError, ValueError):
            return None
        return claims


def at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return _b64(digest[: len(digest) // 2])
