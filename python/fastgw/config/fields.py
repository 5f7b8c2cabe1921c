"""Typed reads from the parsed document. The document is ``Any`` (it is whatever YAML or JSON gave); these
helpers are where it becomes typed: each checks the type, reports an error at the member's place when it
is wrong, and returns ``None`` (or an empty value) so that reading can go on and find more problems.

A member that is absent and a member that is ``null`` (``key:`` with nothing after it in YAML) are the same.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from fastgw.config.findings import Findings
from fastgw.errors import Place

T = TypeVar("T")
_STR = frozenset({str})


def describe(value: Any) -> str:
    """How a value reads in an error message: ``a list``, ``null``, ..."""
    if value is None:
        return "null"
    kinds: tuple[tuple[type, str], ...] = (
        (bool, "a boolean"),
        (int, "an integer"),
        (float, "a number"),
        (str, "a string"),
        (list, "a list"),
        (dict, "a mapping"),
    )
    for kind, text in kinds:
        if isinstance(value, kind):
            return text
    return f"a {type(value).__name__}"


def as_mapping(value: Any, place: Place, findings: Findings, what: str) -> dict[str, Any] | None:
    """``value`` as a mapping with string keys, or ``None`` after an error: ``value`` itself when its keys are
    strings (JSON's always are), else a copy with them as strings (YAML gives ``200:`` as an integer key)."""
    if isinstance(value, dict):
        if _STR.issuperset(map(type, value)):
            return value
        return {str(key): item for key, item in value.items()}
    findings.error(place, f"{what} must be a mapping, got {describe(value)}")
    return None


def as_list(value: Any, place: Place, findings: Findings, what: str) -> list[Any] | None:
    if isinstance(value, list):
        return value
    findings.error(place, f"{what} must be a list, got {describe(value)}")
    return None


def opt_mapping(obj: Mapping[str, Any], key: str, place: Place, findings: Findings) -> dict[str, Any] | None:
    """The member ``key`` of ``obj`` (whose place is ``place``) as a mapping; ``None`` if absent or wrong."""
    value = obj.get(key)
    return None if value is None else as_mapping(value, place.child(key), findings, key)


def opt_list(obj: Mapping[str, Any], key: str, place: Place, findings: Findings) -> list[Any] | None:
    value = obj.get(key)
    return None if value is None else as_list(value, place.child(key), findings, key)


def opt_str(obj: Mapping[str, Any], key: str, place: Place, findings: Findings) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    findings.error(place.child(key), f"{key} must be a string, got {describe(value)}")
    return None


def opt_text(obj: Mapping[str, Any], key: str, place: Place, findings: Findings) -> str | None:
    """A string member that YAML may have read as a number or a date (``version: 1.0``): taken as text."""
    value = obj.get(key)
    if isinstance(value, (int, float, datetime.date)) and not isinstance(value, bool):  # a tuple: built once
        return str(value)
    return opt_str(obj, key, place, findings)


def opt_bool(obj: Mapping[str, Any], key: str, place: Place, findings: Findings) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    findings.error(place.child(key), f"{key} must be true or false, got {describe(value)}")
    return None


def opt_int(obj: Mapping[str, Any], key: str, place: Place, findings: Findings) -> int | None:
    value = obj.get(key)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    findings.error(place.child(key), f"{key} must be an integer, got {describe(value)}")
    return None


def opt_choice(
    obj: Mapping[str, Any], key: str, place: Place, findings: Findings, choices: Mapping[str, T], *, label: str = ""
) -> T | None:
    """A string member that must be one of ``choices`` (compared case-insensitively); ``label`` names it in
    the error (default: ``key``)."""
    text = opt_str(obj, key, place, findings)
    if text is None:
        return None
    if text in choices:  # written as listed (no two choices differ only in case)
        return choices[text]
    by_lower = {name.lower(): value for name, value in choices.items()}
    if text.lower() in by_lower:
        return by_lower[text.lower()]
    findings.error(place.child(key), f"{label or key} '{text}' is not one of {', '.join(choices)}")
    return None


def str_mapping(
    value: Any, place: Place, findings: Findings, what: str, *, null_is_empty: bool = False
) -> dict[str, str]:
    """A mapping of strings to strings (``requestParameters``, ``responseTemplates``); wrong members are
    reported and left out. With ``null_is_empty``, ``key:`` with no value reads as ``""`` (an empty
    template)."""
    if value is None:
        return {}
    members = as_mapping(value, place, findings, what)
    result: dict[str, str] = {}
    for key, item in (members or {}).items():
        if item is None and null_is_empty:
            result[key] = ""
        elif isinstance(item, str):
            result[key] = item
        else:
            findings.error(place.child(key), f"{what} values must be strings, got {describe(item)}")
    return result


def str_tuple(value: Any, place: Place, findings: Findings, what: str) -> tuple[str, ...]:
    """A list of strings; wrong items are reported and left out."""
    if value is None:
        return ()
    items = as_list(value, place, findings, what)
    result: list[str] = []
    for index, item in enumerate(items or []):
        if isinstance(item, str):
            result.append(item)
        else:
            findings.error(place.child(index), f"{what} items must be strings, got {describe(item)}")
    return tuple(result)


def opt_str_mapping(
    obj: Mapping[str, Any], key: str, place: Place, findings: Findings, *, null_is_empty: bool = False
) -> dict[str, str]:
    """The member ``key`` of ``obj`` (whose place is ``place``) as :func:`str_mapping` reads it."""
    value = obj.get(key)
    return {} if value is None else str_mapping(value, place.child(key), findings, key, null_is_empty=null_is_empty)


def opt_str_tuple(obj: Mapping[str, Any], key: str, place: Place, findings: Findings) -> tuple[str, ...]:
    """The member ``key`` of ``obj`` (whose place is ``place``) as :func:`str_tuple` reads it."""
    value = obj.get(key)
    return () if value is None else str_tuple(value, place.child(key), findings, key)
