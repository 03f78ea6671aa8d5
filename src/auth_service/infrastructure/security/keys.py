"""Signing keys: creation, import, the in-memory key ring and its periodic reload (SPEC §3 Keys)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, Self

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from auth_service.application.audit import audit_record
from auth_service.application.ports import (
    AuditRepository,
    Clock,
    RequestContext,
    SecretBox,
    SigningKeyRepository,
    StoredSigningKey,
)
from auth_service.infrastructure.background import Stopping

ALGORITHMS = ("RS256", "ES256", "EdDSA")
PURPOSE = "signing-key"
_RSA_BITS = 2048
_P256_BYTES = 32

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

# RFC 7638 §3.2: the required members of each key type, the only ones the thumbprint hashes.
_REQUIRED_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}

_log = structlog.get_logger(__name__)


# -- JWK helpers ----------------------------------------------------------------------------------
def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _uint(value: int, length: int | None = None) -> str:
    # RFC 7518 §6.3.1: RSA members are minimal big-endian octets; §6.2.1.2: EC coordinates are full length.
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return _b64url(value.to_bytes(size, "big"))


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 over the required members, sorted, without whitespace; base64url, no padding."""
    members = _REQUIRED_MEMBERS.get(str(jwk.get("kty")))
    if members is None:
        raise ValueError(f"unsupported key type {jwk.get('kty')!r}")
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def public_jwk(public_key: PublicKey) -> dict[str, Any]:
    """The key-type members of a public key's JWK (no kid, alg or use)."""
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        return {"kty": "RSA", "n": _uint(numbers.n), "e": _uint(numbers.e)}
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        point = public_key.public_numbers()
        x, y = _uint(point.x, _P256_BYTES), _uint(point.y, _P256_BYTES)
        return {"kty": "EC", "crv": "P-256", "x": x, "y": y}
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}


def _public_key_from_jwk(jwk: dict[str, Any]) -> PublicKey:
    kty = jwk.get("kty")
    if kty == "RSA":
        n = int.from_bytes(_b64url_decode(jwk["n"]), "big")
        e = int.from_bytes(_b64url_decode(jwk["e"]), "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    if kty == "EC" and jwk.get("crv") == "P-256":
        x = int.from_bytes(_b64url_decode(jwk["x"]), "big")
        y = int.from_bytes(_b64url_decode(jwk["y"]), "big")
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    if kty == "OKP" and jwk.get("crv") == "Ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(_b64url_decode(jwk["x"]))
    raise ValueError(f"unsupported JWK kty={kty!r} crv={jwk.get('crv')!r}")


def _key_type_problem(key: PrivateKey | PublicKey, alg: str) -> str | None:
    """Why `key` cannot be used with `alg`, or None when it can."""
    if alg == "RS256":
        if not isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
            return "RS256 needs an RSA key"
        if key.key_size < _RSA_BITS:
            return f"RS256 needs an RSA key of at least {_RSA_BITS} bits, got {key.key_size}"
        return None
    if alg == "ES256":
        if not isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
            return "ES256 needs an EC key on the P-256 curve"
        if not isinstance(key.curve, ec.SECP256R1):
            return f"ES256 needs the P-256 curve, got {key.curve.name}"
        return None
    if alg == "EdDSA":
        if not isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
            return "EdDSA needs an Ed25519 key"
        return None
    return f"unsupported algorithm {alg!r} (use one of {', '.join(ALGORITHMS)})"


def _stored_key(private_key: PrivateKey, alg: str, secret_box: SecretBox, now: datetime,
                activates_at: datetime) -> StoredSigningKey:
    jwk = public_jwk(private_key.public_key())
    kid = jwk_thumbprint(jwk)
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    return StoredSigningKey(
        kid=kid,
        alg=alg,
        private_key_enc=secret_box.encrypt(pem, purpose=PURPOSE),
        public_jwk={**jwk, "kid": kid, "alg": alg, "use": "sig"},
        created_at=now,
        activates_at=activates_at,
    )


def generate_signing_key(alg: str, secret_box: SecretBox, now: datetime,
                         activates_at: datetime | None = None) -> StoredSigningKey:
    """A new key pair for `alg`, its private half encrypted; signs from `activates_at` (default: now)."""
    private_key: PrivateKey
    if alg == "RS256":
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
    elif alg == "ES256":
        private_key = ec.generate_private_key(ec.SECP256R1())
    elif alg == "EdDSA":
        private_key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"JWT_ALGORITHM: unsupported algorithm {alg!r} (use one of {', '.join(ALGORITHMS)})")
    return _stored_key(private_key, alg, secret_box, now, activates_at or now)


def import_signing_key(pem_bytes: bytes, alg: str, secret_box: SecretBox, now: datetime) -> StoredSigningKey:
    """The key of an unencrypted PEM file (JWT_SIGNING_KEY_FILE), active from `now`.
    Raises ValueError when the file is not a private key usable with `alg`."""
    try:
        loaded = serialization.load_pem_private_key(pem_bytes, password=None)
    except (TypeError, ValueError) as exc:
        # TypeError: the PEM is password-protected; ValueError: not a PEM private key at all.
        raise ValueError(f"JWT_SIGNING_KEY_FILE: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(loaded, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError(f"JWT_SIGNING_KEY_FILE: unsupported key type {type(loaded).__name__}")
    problem = _key_type_problem(loaded, alg)
    if problem is not None:
        raise ValueError(f"JWT_SIGNING_KEY_FILE: does not match JWT_ALGORITHM={alg}: {problem}")
    return _stored_key(loaded, alg, secret_box, now, now)


# -- the key ring ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: str
    private_key: PrivateKey


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str
    alg: str
    public_key: PublicKey


@dataclass(frozen=True, slots=True)
class _RingEntry:
    stored: StoredSigningKey
    verification: VerificationKey
    signing: SigningKey | None  # None when the private half cannot be decrypted with this SECRET_KEY
    jwk: dict[str, Any]


class KeyRing:
    """An immutable snapshot of the key set as of `now`.

    Only non-revoked keys count. A key retires at the activation of the next newer activated key
    and stays verifiable and published for `access_token_ttl` after that (its last tokens may still
    be valid); keys that will activate later are published and verifiable already (pre-publication).
    Verification and publication use the stored public JWK; signing needs the decrypted private key,
    which is decrypted and parsed once per snapshot (or reused from `previous`)."""

    def __init__(self, keys: Sequence[StoredSigningKey], secret_box: SecretBox, now: datetime,
                 access_token_ttl: int, *, previous: KeyRing | None = None) -> None:
        self.now = now
        # The kid breaks exact ties so that every instance picks the same signing key.
        live = sorted((k for k in keys if k.revoked_at is None),
                      key=lambda k: (k.activates_at, k.created_at, k.kid))
        activated = [k for k in live if k.activates_at <= now]
        ttl = timedelta(seconds=access_token_ttl)
        kept: list[StoredSigningKey] = []
        for index, key in enumerate(activated):
            retired_at = activated[index + 1].activates_at if index + 1 < len(activated) else None
            if retired_at is None or now - retired_at < ttl:
                kept.append(key)
        kept.extend(k for k in live if k.activates_at > now)

        entries: list[_RingEntry] = []
        for key in kept:
            entry = self._entry(key, secret_box, previous)
            if entry is not None:
                entries.append(entry)
        # Newest first: signing_key_at walks from the newest activation down.
        entries.reverse()
        self._entries: tuple[_RingEntry, ...] = tuple(entries)
        self._by_kid = {e.stored.kid: e.verification for e in entries}

    @staticmethod
    def _entry(key: StoredSigningKey, secret_box: SecretBox, previous: KeyRing | None) -> _RingEntry | None:
        old = previous._find(key.kid) if previous is not None else None
        if old is not None and (old.stored.private_key_enc, old.stored.alg, old.stored.public_jwk) == (
                key.private_key_enc, key.alg, key.public_jwk):
            return _RingEntry(key, old.verification, old.signing, old.jwk)
        try:
            public_key = _public_key_from_jwk(key.public_jwk)
            problem = _key_type_problem(public_key, key.alg)
            if problem is not None:
                raise ValueError(problem)
            jwk = public_jwk(public_key)
            if jwk_thumbprint(jwk) != key.kid:
                raise ValueError("kid is not the thumbprint of the public key")
        except (KeyError, TypeError, ValueError) as exc:
            _log.warning("signing_key.unusable", kid=key.kid, reason=str(exc))
            return None
        signing: SigningKey | None = None
        try:
            pem = secret_box.decrypt(key.private_key_enc, purpose=PURPOSE)
            private_key = serialization.load_pem_private_key(pem, password=None)
            if not isinstance(private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
                              | ed25519.Ed25519PrivateKey) or public_jwk(private_key.public_key()) != jwk:
                raise ValueError("private key does not match the public key")
            signing = SigningKey(key.kid, key.alg, private_key)
        except Exception:
            # Never log the exception: it could quote key material. The kid is public.
            _log.warning("signing_key.undecryptable", kid=key.kid)
        return _RingEntry(key, VerificationKey(key.kid, key.alg, public_key), signing,
                          {**jwk, "kid": key.kid, "alg": key.alg, "use": "sig"})

    def _find(self, kid: str) -> _RingEntry | None:
        return next((e for e in self._entries if e.stored.kid == kid), None)

    @property
    def signing_key(self) -> SigningKey | None:
        return self.signing_key_at(self.now)

    def signing_key_at(self, now: datetime) -> SigningKey | None:
        """The newest key active at `now`; None when there is none or this instance cannot decrypt it
        (signing with an older key instead could produce tokens that verifiers no longer accept)."""
        for entry in self._entries:
            if entry.stored.activates_at <= now:
                return entry.signing
        return None

    def verification_key(self, kid: str) -> VerificationKey | None:
        return self._by_kid.get(kid)

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._by_kid)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(e.jwk) for e in self._entries]}


# -- the shared store -----------------------------------------------------------------------------
class _KeysUnitOfWork(Protocol):
    keys: SigningKeyRepository
    audit: AuditRepository

    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc_info: object) -> None: ...
    async def commit(self) -> None: ...


KeysUowFactory = Callable[[], _KeysUnitOfWork]


class KeyStore:
    """Holds the current KeyRing and swaps it atomically on reload; every instance reloads from the
    database, so a key created, rotated or revoked anywhere reaches all of them."""

    def __init__(self, secret_box: SecretBox, access_token_ttl: int) -> None:
        self._secret_box = secret_box
        self._ttl = access_token_ttl
        self._ring = KeyRing([], secret_box, datetime.min.replace(tzinfo=UTC), access_token_ttl)
        self.generation = 0  # bumped whenever the set of verifiable kids changes

    @property
    def ring(self) -> KeyRing:
        return self._ring

    async def load(self, uow_factory: KeysUowFactory, clock: Clock) -> None:
        async with uow_factory() as uow:
            stored = await uow.keys.list_all()
        ring = KeyRing(stored, self._secret_box, clock.now(), self._ttl, previous=self._ring)
        if ring.kids != self._ring.kids:
            self.generation += 1
        self._ring = ring

    async def ensure_key(self, uow_factory: KeysUowFactory, clock: Clock, alg: str, secret_box: SecretBox,
                         import_pem: bytes | None = None) -> None:
        """Create the first key, or import `import_pem` unless its kid is already stored (whatever its
        state: a later rotation or a revocation is left as it is). Concurrent starts create one key."""
        now = clock.now()
        imported = import_signing_key(import_pem, alg, secret_box, now) if import_pem is not None else None
        async with uow_factory() as uow:
            await uow.keys.lock()
            existing = await uow.keys.list_all()
            new_key: StoredSigningKey | None = None
            if imported is not None:
                if all(k.kid != imported.kid for k in existing):
                    new_key = imported
            elif not any(k.revoked_at is None for k in existing):
                # Generated under the lock on purpose: RSA generation takes ~50 ms, starts are rare.
                new_key = generate_signing_key(alg, secret_box, now)
            if new_key is not None:
                await uow.keys.add(new_key)
                await uow.commit()
                _log.info("signing_key.created", kid=new_key.kid, alg=alg, imported=imported is not None)
        await self.load(uow_factory, clock)

    async def rotate(self, uow_factory: KeysUowFactory, clock: Clock, alg: str, secret_box: SecretBox,
                     prepublish_seconds: int, now_flag: bool = False) -> str:
        """Publish a new key now; it signs after `prepublish_seconds` (at once with `now_flag`)."""
        now = clock.now()
        activates_at = now if now_flag else now + timedelta(seconds=prepublish_seconds)
        key = generate_signing_key(alg, secret_box, now, activates_at)
        async with uow_factory() as uow:
            await uow.keys.lock()
            await uow.keys.add(key)
            await uow.audit.add(audit_record("keys.rotated", RequestContext(), now, target_type="key",
                                             target_id=key.kid, alg=alg, activates_at=activates_at.isoformat()))
            await uow.commit()
        _log.info("signing_key.rotated", kid=key.kid, alg=alg, activates_at=activates_at.isoformat())
        await self.load(uow_factory, clock)
        return key.kid

    async def revoke(self, uow_factory: KeysUowFactory, clock: Clock, kid: str) -> bool:
        """Pull a key: its tokens fail on every instance after its next reload. False if unknown."""
        async with uow_factory() as uow:
            revoked = await uow.keys.revoke(kid, clock.now())
            if revoked:
                await uow.audit.add(audit_record("keys.revoked", RequestContext(), clock.now(), outcome="success",
                                                 target_type="key", target_id=kid))
                await uow.commit()
        if revoked:
            _log.warning("signing_key.revoked", kid=kid)
        await self.load(uow_factory, clock)
        return revoked

    async def run_reloader(self, uow_factory: KeysUowFactory, clock: Clock, interval: float,
                           stopping: Stopping | None = None) -> None:
        """Reload every `interval` seconds until stopping (SPEC: at least every 30 s)."""
        stopping = stopping or Stopping()
        while True:
            await stopping.sleep(interval)
            if stopping.is_set:
                return
            try:
                await self.load(uow_factory, clock)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Keep the last good snapshot: a database outage must not stop token checks.
                _log.exception("signing_key.reload_failed")
