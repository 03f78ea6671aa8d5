"""Identifiers: a type prefix, a dash and 16 characters of the nanoid alphabet."""

from __future__ import annotations

import hashlib
import re
import secrets

ALPHABET = "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SIZE = 16
ID_PATTERN = re.compile(r"^(USR|REG|CMP|SES|AUD)-[A-Za-z0-9_-]{16}$")


# 64 characters: the low 6 bits of a random byte pick one uniformly, so an id takes one read of
# the OS's random source (secrets.choice made one system call per character: 16 per id).
_BYTE_TO_CHAR = bytes(ord(ALPHABET[byte % len(ALPHABET)]) for byte in range(256))


def new_id(prefix: str) -> str:
    return f"{prefix}-" + secrets.token_bytes(_SIZE).translate(_BYTE_TO_CHAR).decode("ascii")


def new_user_id() -> str:
    return new_id("USR")


def new_registration_id() -> str:
    return new_id("REG")


def new_company_id() -> str:
    return new_id("CMP")


def new_session_id() -> str:
    return new_id("SES")


def new_audit_id() -> str:
    return new_id("AUD")


def session_id_for(external_sid: str) -> str:
    """The `SES-` id of a session the identity provider opened (Keycloak's `sid`), derived from it,
    so a bearer check maps a token to its session without a database read."""
    digest = hashlib.sha256(external_sid.encode()).digest()
    return "SES-" + "".join(ALPHABET[byte % len(ALPHABET)] for byte in digest[:_SIZE])
