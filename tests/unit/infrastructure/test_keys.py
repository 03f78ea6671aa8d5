from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from auth_service.infrastructure.security.keys import (
    KeyRing,
    KeyStore,
    generate_signing_key,
    import_signing_key,
    jwk_thumbprint,
)

if TYPE_CHECKING:
    from conftest import FakeKeysUnitOfWork, FakeKeyTable, FakeSecretBox, FixedClock

    UowFactory = Callable[[], FakeKeysUnitOfWork]

ALGORITHMS = ["RS256", "ES256", "EdDSA"]
# RFC 7638 §3.1
RFC_7638_KEY = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
         "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQ"
         "MicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr"
         "3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
         encryption: serialization.KeySerializationEncryption | None = None) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL
                             if isinstance(key, rsa.RSAPrivateKey) else serialization.PrivateFormat.PKCS8,
                             encryption or serialization.NoEncryption())


# -- thumbprints and key material -----------------------------------------------------------------
def test_the_thumbprint_matches_the_rfc_7638_example() -> None:
    assert jwk_thumbprint(RFC_7638_KEY) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize(("alg", "kty"), [("RS256", "RSA"), ("ES256", "EC"), ("EdDSA", "OKP")])
def test_a_generated_key_publishes_its_public_half_under_its_thumbprint(
    alg: str, kty: str, secret_box: FakeSecretBox, clock: FixedClock
) -> None:
    key = generate_signing_key(alg, secret_box, clock.now())

    assert key.kid == jwk_thumbprint(key.public_jwk)
    assert key.public_jwk["kty"] == kty
    assert (key.public_jwk["kid"], key.public_jwk["alg"], key.public_jwk["use"]) == (key.kid, alg, "sig")
    assert "d" not in key.public_jwk
    assert key.activates_at == key.created_at == clock.now()


def test_the_private_key_is_stored_encrypted_as_pkcs8(secret_box: FakeSecretBox, clock: FixedClock) -> None:
    key = generate_signing_key("ES256", secret_box, clock.now())

    assert "PRIVATE KEY" not in key.private_key_enc
    pem = secret_box.decrypt(key.private_key_enc, purpose="signing-key")
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")


def test_an_unknown_algorithm_is_refused(secret_box: FakeSecretBox, clock: FixedClock) -> None:
    with pytest.raises(ValueError, match="HS256"):
        generate_signing_key("HS256", secret_box, clock.now())


@pytest.mark.parametrize(("alg", "private_key"), [
    ("RS256", lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    ("ES256", lambda: ec.generate_private_key(ec.SECP256R1())),
    ("EdDSA", ed25519.Ed25519PrivateKey.generate),
])
def test_an_imported_pem_becomes_a_key_active_at_once(
    alg: str, private_key: Callable[[], rsa.RSAPrivateKey], secret_box: FakeSecretBox, clock: FixedClock
) -> None:
    pem_key = private_key()

    key = import_signing_key(_pem(pem_key), alg, secret_box, clock.now())

    assert key.activates_at == clock.now()
    assert key.kid == jwk_thumbprint(key.public_jwk)
    pem = secret_box.decrypt(key.private_key_enc, purpose="signing-key")
    stored = serialization.load_pem_private_key(pem, password=None)
    assert stored.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo) == \
        pem_key.public_key().public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize(("pem", "alg", "message"), [
    (lambda: _pem(ec.generate_private_key(ec.SECP256R1())), "RS256", "JWT_ALGORITHM=RS256"),
    (lambda: _pem(ec.generate_private_key(ec.SECP384R1())), "ES256", "P-256"),
    (lambda: _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)), "RS256", "2048"),
    (lambda: _pem(ed25519.Ed25519PrivateKey.generate()), "ES256", "JWT_ALGORITHM=ES256"),
    (lambda: _pem(ed25519.Ed25519PrivateKey.generate(), serialization.BestAvailableEncryption(b"pw")),
     "EdDSA", "unencrypted"),
    (lambda: b"not a pem at all", "RS256", "JWT_SIGNING_KEY_FILE"),
])
def test_an_unusable_pem_is_refused_with_a_clear_message(
    pem: Callable[[], bytes], alg: str, message: str, secret_box: FakeSecretBox, clock: FixedClock
) -> None:
    with pytest.raises(ValueError, match=message):
        import_signing_key(pem(), alg, secret_box, clock.now())


# -- the key ring ---------------------------------------------------------------------------------
def test_an_undecryptable_key_still_verifies_but_does_not_sign(
    secret_box: FakeSecretBox, clock: FixedClock
) -> None:
    key = generate_signing_key("EdDSA", secret_box, clock.now())
    key.private_key_enc = "other-purpose:" + key.private_key_enc.partition(":")[2]

    with structlog.testing.capture_logs() as logs:
        ring = KeyRing([key], secret_box, clock.now(), 900)

    assert ring.signing_key is None
    assert ring.verification_key(key.kid) is not None
    assert [k["kid"] for k in ring.jwks()["keys"]] == [key.kid]
    assert logs == [{"event": "signing_key.undecryptable", "kid": key.kid, "log_level": "warning"}]


def test_a_key_whose_kid_is_not_its_thumbprint_is_ignored(
    secret_box: FakeSecretBox, clock: FixedClock
) -> None:
    key = generate_signing_key("ES256", secret_box, clock.now())
    key.kid = "forged"

    with structlog.testing.capture_logs():
        ring = KeyRing([key], secret_box, clock.now(), 900)

    assert ring.signing_key is None
    assert ring.jwks() == {"keys": []}


def test_a_reload_reuses_the_keys_it_already_parsed(secret_box: FakeSecretBox, clock: FixedClock) -> None:
    key = generate_signing_key("RS256", secret_box, clock.now())
    first = KeyRing([key], secret_box, clock.now(), 900)

    second = KeyRing([key], secret_box, clock.now(), 900, previous=first)

    assert second.signing_key is first.signing_key


# -- the key store --------------------------------------------------------------------------------
async def test_ensure_key_creates_one_key_however_often_it_runs(
    key_store: KeyStore, uow_factory: UowFactory, clock: FixedClock, secret_box: FakeSecretBox,
    key_table: FakeKeyTable,
) -> None:
    await key_store.ensure_key(uow_factory, clock, "RS256", secret_box, None)
    await key_store.ensure_key(uow_factory, clock, "RS256", secret_box, None)

    assert len(key_table.rows) == 1
    assert key_table.commits == 1
    signing = key_store.ring.signing_key
    assert signing is not None and signing.kid in key_table.rows


async def test_concurrent_starts_create_one_key(
    secret_box: FakeSecretBox, uow_factory: UowFactory, clock: FixedClock, key_table: FakeKeyTable
) -> None:
    stores = [KeyStore(secret_box, 900) for _ in range(3)]

    await asyncio.gather(*(s.ensure_key(uow_factory, clock, "EdDSA", secret_box, None) for s in stores))

    assert len(key_table.rows) == 1
    assert {s.ring.signing_key.kid for s in stores if s.ring.signing_key} == set(key_table.rows)


async def test_a_pem_file_is_imported_once_and_a_later_rotation_is_kept(
    key_store: KeyStore, uow_factory: UowFactory, clock: FixedClock, secret_box: FakeSecretBox,
    key_table: FakeKeyTable,
) -> None:
    pem = _pem(ec.generate_private_key(ec.SECP256R1()))
    await key_store.ensure_key(uow_factory, clock, "ES256", secret_box, pem)
    imported = key_store.ring.signing_key
    clock.advance(1)
    rotated = await key_store.rotate(uow_factory, clock, "ES256", secret_box, 300, now_flag=True)
    clock.advance(1)

    await key_store.ensure_key(uow_factory, clock, "ES256", secret_box, pem)

    assert imported is not None and set(key_table.rows) == {imported.kid, rotated}
    assert key_store.ring.signing_key is not None and key_store.ring.signing_key.kid == rotated


async def test_rotation_prepublishes_and_switches_at_activation(
    key_store: KeyStore, uow_factory: UowFactory, clock: FixedClock, secret_box: FakeSecretBox,
) -> None:
    await key_store.ensure_key(uow_factory, clock, "RS256", secret_box, None)
    old = key_store.ring.signing_key
    assert old is not None

    new_kid = await key_store.rotate(uow_factory, clock, "RS256", secret_box, 300, now_flag=False)

    assert {k["kid"] for k in key_store.ring.jwks()["keys"]} == {old.kid, new_kid}
    assert key_store.ring.verification_key(new_kid) is not None
    clock.advance(299)
    assert key_store.ring.signing_key_at(clock.now()) is old
    clock.advance(1)
    assert key_store.ring.signing_key_at(clock.now()).kid == new_kid  # type: ignore[union-attr]
    await key_store.load(uow_factory, clock)
    assert key_store.ring.signing_key.kid == new_kid  # type: ignore[union-attr]
    assert key_store.ring.verification_key(old.kid) is not None


async def test_an_emergency_rotation_signs_at_once(
    key_store: KeyStore, uow_factory: UowFactory, clock: FixedClock, secret_box: FakeSecretBox,
) -> None:
    await key_store.ensure_key(uow_factory, clock, "ES256", secret_box, None)
    clock.advance(1)

    new_kid = await key_store.rotate(uow_factory, clock, "ES256", secret_box, 300, now_flag=True)

    assert key_store.ring.signing_key is not None and key_store.ring.signing_key.kid == new_kid


async def test_a_retired_key_leaves_the_jwks_one_token_lifetime_after_it_stopped_signing(
    key_store: KeyStore, uow_factory: UowFactory, clock: FixedClock, secret_box: FakeSecretBox,
    access_token_ttl: int,
) -> None:
    await key_store.ensure_key(uow_factory, clock, "EdDSA", secret_box, None)
    old = key_store.ring.signing_key
    assert old is not None
    new_kid = await key_store.rotate(uow_factory, clock, "EdDSA", secret_box, 300, now_flag=False)
    clock.advance(300 + access_token_ttl - 1)
    await key_store.load(uow_factory, clock)
    assert {k["kid"] for k in key_store.ring.jwks()["keys"]} == {old.kid, new_kid}

    clock.advance(1)
    await key_store.load(uow_factory, clock)

    assert [k["kid"] for k in key_store.ring.jwks()["keys"]] == [new_kid]
    assert key_store.ring.verification_key(old.kid) is None


async def test_a_revoked_key_is_pulled_and_the_previous_key_signs_again(
    key_store: KeyStore, uow_factory: UowFactory, clock: FixedClock, secret_box: FakeSecretBox,
) -> None:
    await key_store.ensure_key(uow_factory, clock, "RS256", secret_box, None)
    old = key_store.ring.signing_key
    assert old is not None
    clock.advance(1)
    compromised = await key_store.rotate(uow_factory, clock, "RS256", secret_box, 300, now_flag=True)
    clock.advance(1)

    assert await key_store.revoke(uow_factory, clock, compromised) is True

    assert key_store.ring.verification_key(compromised) is None
    assert compromised not in json.dumps(key_store.ring.jwks())
    assert key_store.ring.signing_key is not None and key_store.ring.signing_key.kid == old.kid
    assert await key_store.revoke(uow_factory, clock, "no-such-kid") is False


async def test_a_start_after_every_key_was_revoked_creates_a_new_one(
    key_store: KeyStore, uow_factory: UowFactory, clock: FixedClock, secret_box: FakeSecretBox,
    key_table: FakeKeyTable,
) -> None:
    await key_store.ensure_key(uow_factory, clock, "ES256", secret_box, None)
    first = key_store.ring.signing_key
    assert first is not None
    await key_store.revoke(uow_factory, clock, first.kid)

    await key_store.ensure_key(uow_factory, clock, "ES256", secret_box, None)

    assert len(key_table.rows) == 2
    assert key_store.ring.signing_key is not None and key_store.ring.signing_key.kid != first.kid


async def test_another_instance_sees_a_change_at_its_next_reload(
    key_store: KeyStore, uow_factory: UowFactory, clock: FixedClock, secret_box: FakeSecretBox,
) -> None:
    other = KeyStore(secret_box, 900)
    await key_store.ensure_key(uow_factory, clock, "EdDSA", secret_box, None)
    await other.load(uow_factory, clock)
    generation = other.generation
    clock.advance(1)

    new_kid = await key_store.rotate(uow_factory, clock, "EdDSA", secret_box, 300, now_flag=True)
    await other.load(uow_factory, clock)

    assert other.ring.signing_key is not None and other.ring.signing_key.kid == new_kid
    assert other.generation == generation + 1


async def test_the_reloader_survives_failures_and_stops_when_cancelled(
    key_store: KeyStore, uow_factory: UowFactory, clock: FixedClock, secret_box: FakeSecretBox,
    key_table: FakeKeyTable,
) -> None:
    calls = 0

    def flaky_factory() -> FakeKeysUnitOfWork:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database down")
        return uow_factory()

    other = KeyStore(secret_box, 900)
    await key_store.ensure_key(uow_factory, clock, "ES256", secret_box, None)

    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(other.run_reloader(flaky_factory, clock, 0.001))
        for _ in range(200):
            await asyncio.sleep(0.001)
            if other.ring.signing_key is not None:
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    assert other.ring.signing_key is not None
    assert any(entry["event"] == "signing_key.reload_failed" for entry in logs)


async def test_rotation_and_revocation_are_audited_in_their_own_transaction(
        key_store: KeyStore, uow_factory: Callable[[], FakeKeysUnitOfWork], clock: FixedClock,
        secret_box: FakeSecretBox, key_table: FakeKeyTable) -> None:
    await key_store.ensure_key(uow_factory, clock, "RS256", secret_box)

    kid = await key_store.rotate(uow_factory, clock, "RS256", secret_box, 300)
    await key_store.revoke(uow_factory, clock, kid)

    assert [(r.action, r.target_type, r.target_id) for r in key_table.audit] == [
        ("keys.rotated", "key", kid), ("keys.revoked", "key", kid)]
