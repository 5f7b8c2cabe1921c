"""API keys: what a key is, how its value is made, checked and hashed.

A key's value is a secret the client sends in ``X-API-Key``. fastgw never stores or logs it: stores keep
``value_hash``, the SHA-256 hex digest of the value, and the gateway finds a key by hashing what the client
sent. A plain (unsalted) hash is enough and is what lets the lookup be one dictionary access: generated
values carry 238 bits of randomness, and AWS's rule (20-128 letters and digits) is all we ask of values
that users bring. ``ApiKey.__repr__`` shows only the hash's first 8 characters, so a logged key cannot be
matched against a leaked value list without the store.

Ids look like AWS's: 10 lowercase letters and digits (``a1b2c3d4e5``), random, unique in a store.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime

#: AWS: "API key values must be 20-128 characters, alphanumeric".
KEY_VALUE_RE = re.compile(r"[A-Za-z0-9]{20,128}")
GENERATED_VALUE_LENGTH = 40
VALUE_ALPHABET = string.ascii_letters + string.digits
ID_LENGTH = 10
ID_ALPHABET = string.ascii_lowercase + string.digits
#: AWS's limit on key names.
MAX_NAME_LENGTH = 1024


@dataclass(frozen=True, slots=True, repr=False)
class ApiKey:
    """One API key as stores keep it. ``created`` is a timezone-aware UTC datetime; ``plan`` names the usage
    plan the key belongs to (None: in no plan, so it is refused where a plan is required)."""

    id: str
    name: str
    value_hash: str
    enabled: bool
    created: datetime
    plan: str | None = None
    description: str = ""

    def __repr__(self) -> str:
        return (
            f"ApiKey(id={self.id!r}, name={self.name!r}, value_hash='{self.value_hash[:8]}…', "
            f"enabled={self.enabled}, created={self.created.isoformat()!r}, plan={self.plan!r}, "
            f"description={self.description!r})"
        )


def hash_key(value: str) -> str:
    """The SHA-256 hex digest stores keep instead of the value."""
    return hashlib.sha256(value.encode()).hexdigest()


def generate_key_value() -> str:
    """A new random key value: 40 letters and digits (AWS generates 40 as well)."""
    return "".join(secrets.choice(VALUE_ALPHABET) for _ in range(GENERATED_VALUE_LENGTH))


def generate_key_id() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def check_key_value(value: str) -> None:
    """Raise ValueError unless ``value`` is a valid key value (AWS's rule: 20-128 letters and digits).

    The message never repeats the value: it is a secret."""
    if KEY_VALUE_RE.fullmatch(value):
        return
    if not 20 <= len(value) <= 128:
        raise ValueError(f"an API key value must be 20 to 128 characters long, not {len(value)}")
    raise ValueError("an API key value may contain only letters A-Z, a-z and digits 0-9")


def check_key_name(name: str) -> None:
    """Raise ValueError unless ``name`` is a usable key name: 1-1024 characters, not only blanks."""
    if not name.strip():
        raise ValueError("an API key name must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"an API key name may be at most {MAX_NAME_LENGTH} characters long, not {len(name)}")
