"""A slow, obviously-correct route matcher with the same rules as the Rust trie.

No trie and no backtracking: every route is checked against the request on its own, and the
most specific match wins by a sort key. `tests/test_routing_property.py` compares it with
`fastgw._core.Engine`. The rules (AWS API Gateway, reference §1):

- A route path is `/`, `$default` or `/part/part...`; a part is static text, `{name}` (one
  non-empty segment) or `{name+}` (greedy: the rest, at least one non-empty segment; last part).
- Most specific first, compared part by part from the left: static < `{param}` < `{greedy+}`;
  then an explicit method before `ANY` (same resource); `$default` last.
- Methods: the seven below, case-sensitive; `ANY` means exactly those; anything else matches nothing.
- `ignore_trailing_slash` (REST): empty segments (`//`, a trailing `/`) are skipped, a route path's
  trailing `/` is dropped, and a greedy value runs from its first segment to the end of the last
  non-empty one. Strict (HTTP APIs): every segment counts and a route's trailing `/` is an empty
  static part; a greedy value is the raw rest of the path.
- Values are the raw request text, never decoded.

Conflicts are checked route by route, in order; the first refused route is reported as
`(kind, index)`, with kind one of `method`, `path`, `child_of_greedy`, `sibling`, `duplicate`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
ANY = "ANY"
DEFAULT = "$default"

STATIC, PARAM, GREEDY = 0, 1, 2
_NAME = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Part:
    kind: int
    text: str  # static text, or the variable's name


class Conflict(Exception):
    """The table is refused at route `index`."""

    def __init__(self, kind: str, index: int) -> None:
        super().__init__(kind, index)
        self.kind = kind
        self.index = index


def parse_template(path: str, ignore_trailing_slash: bool, index: int) -> list[Part] | None:
    """The parts of a route path, or None for `$default`. Raises Conflict for a malformed path."""
    if path == DEFAULT:
        return None
    if not path.startswith("/"):
        raise Conflict("path", index)
    body = path[1:]
    if body == "":
        return []
    trailing = body.endswith("/")
    if trailing:
        body = body[:-1]
    parts: list[Part] = []
    for segment in body.split("/"):
        if parts and parts[-1].kind == GREEDY:
            raise Conflict("child_of_greedy", index)
        part = _parse_part(segment, index)
        if part.kind != STATIC and any(p.kind != STATIC and p.text == part.text for p in parts):
            raise Conflict("path", index)
        parts.append(part)
    if trailing and not ignore_trailing_slash:
        if parts[-1].kind == GREEDY:
            raise Conflict("path", index)
        parts.append(Part(STATIC, ""))
    return parts


def _parse_part(segment: str, index: int) -> Part:
    if segment == "":
        raise Conflict("path", index)
    if len(segment) >= 2 and segment[0] == "{" and segment[-1] == "}":
        name = segment[1:-1]
        kind = PARAM
        if name.endswith("+"):
            name, kind = name[:-1], GREEDY
        if not _NAME.fullmatch(name):
            raise Conflict("path", index)
        return Part(kind, name)
    if "{" in segment or "}" in segment:
        raise Conflict("path", index)
    return Part(STATIC, segment)


@dataclass
class Route:
    index: int
    method: str
    parts: list[Part] | None  # None: $default


class ReferenceRouter:
    def __init__(self, routes: list[tuple[str, str]], ignore_trailing_slash: bool) -> None:
        """Raises Conflict for the first route AWS (and the engine) would refuse."""
        self.ignore_trailing_slash = ignore_trailing_slash
        self.routes: list[Route] = []
        for index, (method, path) in enumerate(routes):
            if method not in METHODS and method != ANY:
                raise Conflict("method", index)
            parts = parse_template(path, ignore_trailing_slash, index)
            if parts is None:
                if method != ANY:
                    raise Conflict("path", index)
                if any(r.parts is None for r in self.routes):
                    raise Conflict("duplicate", index)
            else:
                self._check_siblings(parts, index)
                if any(r.parts == parts and r.method == method for r in self.routes):
                    raise Conflict("duplicate", index)
            self.routes.append(Route(index, method, parts))

    def _check_siblings(self, parts: list[Part], index: int) -> None:
        """Two different variables directly under the same resource are refused."""
        for other in self.routes:
            if other.parts is None:
                continue
            for k in range(min(len(parts), len(other.parts))):
                mine, theirs = parts[k], other.parts[k]
                if mine.kind != STATIC and theirs.kind != STATIC and mine != theirs:
                    raise Conflict("sibling", index)
                if mine != theirs:
                    break  # different resources from here on

    def _segments(self, path: str) -> list[tuple[int, int]]:
        """(start, end) of each segment that counts, as offsets into `path`."""
        spans = []
        start = 1
        for text in path[1:].split("/"):
            spans.append((start, start + len(text)))
            start += len(text) + 1
        if self.ignore_trailing_slash:
            return [(s, e) for s, e in spans if e > s]
        return [] if path == "/" else spans

    def _match(self, parts: list[Part], path: str) -> dict[str, str] | None:
        segments = self._segments(path)
        params: dict[str, str] = {}
        for i, part in enumerate(parts):
            if i >= len(segments):
                return None
            start, end = segments[i]
            text = path[start:end]
            if part.kind == GREEDY:
                if text == "":
                    return None
                rest_end = segments[-1][1] if self.ignore_trailing_slash else len(path)
                params[part.text] = path[start:rest_end]
                return params
            if part.kind == STATIC and text != part.text:
                return None
            if part.kind == PARAM:
                if text == "":
                    return None
                params[part.text] = text
        return params if len(parts) == len(segments) else None

    def lookup(self, method: str, path: str) -> tuple[int, dict[str, str]] | None:
        """The winning route's index and params, or None."""
        if method not in METHODS or not path.startswith("/"):
            return None
        best: tuple[tuple[tuple[int, ...], bool], int, dict[str, str]] | None = None
        for route in self.routes:
            if route.parts is None or route.method not in (method, ANY):
                continue
            params = self._match(route.parts, path)
            if params is None:
                continue
            key = (tuple(p.kind for p in route.parts), route.method == ANY)
            if best is None or key < best[0]:
                best = (key, route.index, params)
        if best is not None:
            return best[1], best[2]
        for route in self.routes:
            if route.parts is None:
                return route.index, {}
        return None
