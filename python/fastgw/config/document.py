"""From text to a parsed document: JSON or YAML (told apart by content), import-time variables, and local
``$ref`` resolution with places."""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import unquote

import yaml

from fastgw.config.findings import Findings
from fastgw.errors import DefinitionError, Place, Problem

try:
    SAFE_YAML_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    SAFE_YAML_LOADER = yaml.SafeLoader


def load_yaml(text: str, loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = SAFE_YAML_LOADER) -> Any:
    """``yaml.load`` with a safe loader. A tag that does not fit its value (``!!timestamp x``, ``!!bool x``,
    ``!!int`` on nothing) makes PyYAML's constructors raise ``AttributeError``, ``KeyError`` or ``IndexError``: it
    is a ``ValueError`` here, as any other bad value, so that it ends as a :class:`DefinitionError` with its place
    and never as a traceback (found by the loaders' property tests, issue 18)."""
    try:
        document = yaml.load(text, Loader=loader)
    except (AttributeError, KeyError, IndexError, TypeError) as error:
        raise ValueError(f"a YAML tag that does not fit its value ({type(error).__name__}: {error})") from None
    if "&" in text and "*" in text:  # anchors and aliases: what they expand to is bounded
        _check_alias_expansion(document)
    return document


#: A document whose aliases expand it past this many values, and past ten times the values it holds, is refused:
#: a few hundred bytes of nested aliases ("a billion laughs") would otherwise take minutes to walk.
MAX_EXPANDED_VALUES: Final = 1_000_000


def _check_alias_expansion(document: Any) -> None:
    """Counts the values ``document`` expands to, each shared list or mapping (a YAML alias) once per place it
    stands, in time linear in the distinct values; raises ``ValueError`` past :data:`MAX_EXPANDED_VALUES`."""
    sizes: dict[int, int] = {}
    distinct = 0

    def size(value: Any, depth: int = 0) -> int:
        nonlocal distinct
        if not isinstance(value, (dict, list)):
            return 1
        known = sizes.get(id(value))
        if known is not None:
            return known
        if depth > 500:
            raise ValueError("the document is nested too deeply")
        sizes[id(value)] = 1  # a value that contains itself counts once where it recurs
        distinct += 1
        children = value.values() if isinstance(value, dict) else value
        total = 1 + sum(size(child, depth + 1) for child in children)
        sizes[id(value)] = total
        return total

    expanded = size(document)
    if expanded > MAX_EXPANDED_VALUES and expanded > 10 * distinct:
        raise ValueError(
            f"YAML aliases expand the document to more than {MAX_EXPANDED_VALUES:,} values ({expanded:,} from"
            f" {distinct:,} distinct lists and mappings)"
        )


#: Members whose values are literal data rather than OpenAPI objects: a ``$ref`` key in there is not a
#: reference (``x-amazon-apigateway-documentation`` is ignored altogether).
_LITERAL_MEMBERS = frozenset({"example", "default", "enum", "const", "x-amazon-apigateway-documentation"})
_MAX_REF_HOPS = 32
_INDEX = re.compile(r"0|[1-9][0-9]*")


def read_document(text: str | bytes, source: str) -> Any:
    """Parse JSON or YAML. Text that starts with ``{`` or ``[`` is JSON (with a YAML fallback, since JSON-ish
    YAML flow style exists); anything else is YAML. Syntax errors name the line and column."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DefinitionError(Problem(Place(source), f"not UTF-8 text: {err.reason} at byte {err.start}")) from None
    text = text.removeprefix("\ufeff")
    try:
        if text.lstrip().startswith(("{", "[")):
            return _read_json(text, source)
        return _read_yaml(text, source)
    except RecursionError:
        raise DefinitionError(Problem(Place(source), "the document is nested too deeply")) from None


def _read_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        json_error = err
    try:
        return load_yaml(text)
    except (yaml.YAMLError, ValueError):
        message = f"JSON syntax error at line {json_error.lineno}, column {json_error.colno}: {json_error.msg}"
        raise DefinitionError(Problem(Place(source), message)) from None


def _read_yaml(text: str, source: str) -> Any:
    try:
        return load_yaml(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        reason = err.problem or err.context or "invalid YAML"
        if "nesting depth" in reason:  # libyaml's own limit (PyYAML >= 6.0.3): the same answer as a RecursionError
            raise DefinitionError(Problem(Place(source), f"the document is nested too deeply{where}")) from None
        raise DefinitionError(Problem(Place(source), f"YAML syntax error{where}: {reason}")) from None
    except yaml.reader.ReaderError as err:  # control characters
        line, column = text.count("\n", 0, err.position) + 1, err.position - text.rfind("\n", 0, err.position)
        character = f" #x{err.character:04x}" if isinstance(err.character, int) else ""
        reason = f"unacceptable character{character}: {err.reason}"
        raise DefinitionError(
            Problem(Place(source), f"YAML syntax error at line {line}, column {column}: {reason}")
        ) from None
    except (yaml.YAMLError, ValueError) as err:  # e.g. an impossible date: `2020-13-45`
        raise DefinitionError(Problem(Place(source), f"YAML error: {err}")) from None


_AWS_VARIABLE = re.compile(r"\$\{AWS::(Region|AccountId|Partition)\}")

#: A local ``$ref`` (``#/...``) and the keys and list indexes from the root to the mapping that holds it.
LocalRef = tuple[str, tuple[str | int, ...]]


def prepare_document(
    document: Any, *, region: str, account_id: str, partition: str, source: str
) -> tuple[Any, list[LocalRef]]:
    """One walk over the parsed document, for the two things that need every member of it:

    - ``${AWS::Region}``, ``${AWS::AccountId}`` and ``${AWS::Partition}`` are replaced in every string value,
      as AWS does on import (``${stageVariables.x}`` is left alone: it is resolved per stage). ``document`` is
      not changed: what holds a replaced string is copied.
    - every local ``$ref`` outside literal members (``example``, ``default``, ...) is noted, in document order,
      for :meth:`Document.check_refs`.

    Returns the document with the variables replaced, and its local references."""
    walk = _Walk({"Region": region, "AccountId": account_id, "Partition": partition})
    try:
        return walk.value(document, False), walk.refs
    except RecursionError:  # deep nesting, or a YAML alias that contains itself
        raise DefinitionError(Problem(Place(source), "the document is nested too deeply or refers to itself")) from None


class _Walk:
    """:func:`prepare_document`'s walk: each method returns its value with the variables replaced (the value
    itself when it has none) and notes the local references in it (unless it is ``literal``)."""

    __slots__ = ("path", "refs", "variables")

    def __init__(self, variables: dict[str, str]) -> None:
        self.variables = variables
        self.refs: list[LocalRef] = []
        self.path: list[str | int] = []
        """Where the walk is: grown and shrunk on the way down and up."""

    def value(self, value: Any, literal: bool) -> Any:
        if isinstance(value, dict):
            return self.mapping(value, literal)
        if isinstance(value, list):
            return self.array(value, literal)
        return self.text(value) if isinstance(value, str) else value

    def text(self, value: str) -> str:
        return _AWS_VARIABLE.sub(self._replace, value) if "${AWS::" in value else value

    def _replace(self, match: re.Match[str]) -> str:
        return self.variables[match.group(1)]

    def array(self, value: list[Any], literal: bool) -> list[Any]:
        path = self.path
        path.append(0)
        items = []
        for index, item in enumerate(value):
            path[-1] = index
            items.append(self.value(item, literal))
        path.pop()
        return items if any(map(operator.is_not, items, value)) else value

    def mapping(self, value: dict[Any, Any], literal: bool) -> dict[Any, Any]:
        path = self.path
        ref = value.get("$ref")
        if isinstance(ref, str) and not literal:
            ref = self.text(ref)  # the reference as it reads with the variables replaced
            if ref.startswith("#"):
                self.refs.append((ref, tuple(path)))
        changed = {}
        for key, item in value.items():
            if isinstance(item, str):  # most members: looked at here rather than in a call
                if "${AWS::" in item:
                    changed[key] = self.text(item)
            elif isinstance(item, (dict, list)):  # a tuple: `dict | list` would be built on every test
                path.append(str(key))
                new = self.value(item, literal or key in _LITERAL_MEMBERS)
                path.pop()
                if new is not item:
                    changed[key] = new
        return {**value, **changed} if changed else value


class Document:
    """The parsed root mapping of one file, with the findings of reading it."""

    def __init__(self, root: Mapping[str, Any], file: str, findings: Findings, refs: Sequence[LocalRef] = ()) -> None:
        self.root = root
        self.file = file
        self.findings = findings
        self.refs = refs
        """The local references in the document (:func:`prepare_document` notes them)."""
        self.place = Place(file)
        """The place of the root."""

    @property
    def is_swagger(self) -> bool:
        return "swagger" in self.root

    def resolve(self, value: Any, place: Place) -> tuple[Any, Place] | None:
        """Follow ``{"$ref": "#/..."}`` (and chains of them) from ``value`` at ``place``. Returns the target
        and its place, or ``None`` after an error when a reference is external, broken or circular."""
        seen: list[str] = []
        while isinstance(value, dict) and "$ref" in value:
            ref = value["$ref"]
            problem = self._ref_problem(ref, seen)
            if problem is not None:
                self.findings.error(place.child("$ref"), problem)
                return None
            seen.append(ref)
            value, place = _lookup(self.root, ref), Place(self.file, _pointer(ref))
        return value, place

    def _ref_problem(self, ref: Any, seen: list[str]) -> str | None:
        if not isinstance(ref, str):
            return "$ref must be a string"
        if not ref.startswith("#"):
            return f"$ref '{ref}' points outside this file: only local references ('#/...') are supported"
        if ref in seen or len(seen) >= _MAX_REF_HOPS:
            return f"$ref '{ref}' is circular"
        if _lookup(self.root, ref) is _MISSING:
            return f"$ref '{ref}' does not resolve"
        return None

    def check_refs(self) -> None:
        """Report every local ``$ref`` in the document that does not resolve (external ones are reported
        where fastgw needs to follow them; inside schemas they are left for the validator)."""
        for ref, path in self.refs:
            if _lookup(self.root, ref) is _MISSING:
                self.findings.error(self.place.child(*path, "$ref"), f"$ref '{ref}' does not resolve")


def model_name(ref: Any, swagger: bool) -> str | None:
    """The model (schema) a body ``$ref`` names: ``#/definitions/Pet`` or ``#/components/schemas/Pet``."""
    prefix = "/definitions/" if swagger else "/components/schemas/"
    if isinstance(ref, str) and ref.startswith("#"):
        pointer = _pointer(ref)
        if pointer.startswith(prefix) and "/" not in pointer[len(prefix) :]:
            return _unescape(pointer[len(prefix) :])
    return None


class _Missing:
    pass


_MISSING: Any = _Missing()


def _pointer(ref: str) -> str:
    """The JSON pointer of a local reference: the URI fragment, percent-decoded."""
    return unquote(ref[1:])


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _lookup(root: Any, ref: str) -> Any:
    """The value a local reference points at, or ``_MISSING``."""
    pointer = _pointer(ref)
    if pointer and not pointer.startswith("/"):
        return _MISSING
    node = root
    for token in map(_unescape, pointer.split("/")[1:]):
        node = _child(node, token)
        if node is _MISSING:
            break
    return node


def _child(node: Any, token: str) -> Any:
    index = int(token) if _INDEX.fullmatch(token) else None
    if isinstance(node, dict):
        if token in node:
            return node[token]
        if index is not None and index in node:  # YAML read `200:` as an integer key
            return node[index]
    elif isinstance(node, list) and index is not None and index < len(node):
        return node[index]
    return _MISSING
