"""Secrets: argon2 password hashes, random bearer tokens stored as SHA-256, CSRF tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 "low memory" defaults


def configure_hasher(time_cost: int | None = None, memory_kib: int | None = None) -> None:
    """Set the argon2id cost for new hashes (existing hashes carry their own parameters and are
    upgraded at the next login). Test suites lower it; production keeps the defaults."""
    global _hasher, _DUMMY_HASH
    base = PasswordHasher()
    _hasher = PasswordHasher(time_cost=time_cost or base.time_cost, memory_cost=memory_kib or base.memory_cost,
                             parallelism=base.parallelism)
    # The dummy must cost what a real hash costs, or unknown e-mails and wrong passwords take different times.
    _DUMMY_HASH = _hasher.hash(secrets.token_hex(16))

TOKEN_PREFIXES = {"api": "cai_", "access": "cat_", "web": "caw_"}

# Computed once so that a login for an unknown e-mail costs the same as one with a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_token(kind: str) -> str:
    return TOKEN_PREFIXES[kind] + secrets.token_urlsafe(32)


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def csrf_token(secret_key: str, session_secret: str) -> str:
    """A synchronizer token bound to the web session: HMAC(secret key, session secret)."""
    return hmac.new(secret_key.encode(), b"csrf:" + session_secret.encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret_key: str, session_secret: str, candidate: str | None) -> bool:
    return bool(candidate) and hmac.compare_digest(csrf_token(secret_key, session_secret), candidate or "")


def validate_password_strength(password: str) -> tuple[str, str] | None:
    """Return (vi, en) text of what is wrong, or None when acceptable."""
    if len(password) < 10:
        return ("Mật khẩu phải có ít nhất 10 ký tự.", "The password must have at least 10 characters.")
    if len(password) > 1024:
        return ("Mật khẩu quá dài.", "The password is too long.")
    return None
