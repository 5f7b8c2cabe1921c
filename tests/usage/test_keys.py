"""Key values (AWS's rule: 20-128 letters and digits), generated values and ids, hashing, and a safe repr."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from fastgw.usage.keys import ApiKey, check_key_name, check_key_value, generate_key_id, generate_key_value, hash_key


def test_generated_values_are_40_random_letters_and_digits() -> None:
    values = {generate_key_value() for _ in range(100)}
    assert len(values) == 100
    for value in values:
        assert re.fullmatch(r"[A-Za-z0-9]{40}", value)
        check_key_value(value)


def test_generated_ids_look_like_aws_ids() -> None:
    ids = {generate_key_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"[a-z0-9]{10}", key_id) for key_id in ids)


@pytest.mark.parametrize("value", ["a" * 20, "Z9" * 64, "abcDEF0123456789xyzW"])
def test_valid_values(value: str) -> None:
    check_key_value(value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a" * 19, "20 to 128 characters long, not 19"),
        ("a" * 129, "20 to 128 characters long, not 129"),
        ("", "not 0"),
        ("abcdefghij-klmnopqrstu", "only letters A-Z, a-z and digits 0-9"),
        ("abcdefghij klmnopqrstu", "only letters"),
        ("abcdefghijklmnopqrstü", "only letters"),
    ],
)
def test_invalid_values_are_refused_without_repeating_the_value(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as raised:
        check_key_value(value)
    if value:
        assert value not in str(raised.value)


def test_names_must_not_be_blank_or_longer_than_1024() -> None:
    check_key_name("x" * 1024)
    for name in ("", "   ", "x" * 1025):
        with pytest.raises(ValueError, match="name"):
            check_key_name(name)


def test_hash_is_the_sha256_hex_digest() -> None:
    assert hash_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_repr_shows_only_the_start_of_the_hash() -> None:
    value_hash = hash_key("a" * 20)
    key = ApiKey("abcdefghij", "partner", value_hash, True, datetime(2024, 1, 2, tzinfo=UTC), "gold")
    text = repr(key)
    assert value_hash not in text
    assert value_hash[:8] in text
    assert "partner" in text and "gold" in text


def test_key_slots_do_not_collide_at_scale() -> None:
    """Keys are told apart in the engine by their slot (bucket keys, quota, apiKeyId): 300,000 keys, no two
    sharing one (with 32-bit slots about ten pairs would)."""
    from fastgw.admission import name_slot

    slots = {name_slot("key", f"key-{i}") for i in range(300_000)}
    assert len(slots) == 300_000
