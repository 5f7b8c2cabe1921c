"""Property test: `fastgw._core.Engine` routes exactly like `tests/reference_router.py`.

Hypothesis draws small route tables from a tiny alphabet (so that routes overlap, share
resources and conflict often), then requests, three in four built from the table's own routes
(so that many hit something) with `//` and trailing slashes thrown in. Both routers must agree on
every request, and on whether and where a table is refused.

`Engine.admit` takes the path as Granian hands it over (percent-decoded) and encodes it again
before matching, so the reference is given the same path encoded with `urllib.parse.quote`
(the RFC 3986 path characters stay as they are).
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fastgw import _core
from tests.reference_router import ANY, METHODS, Conflict, ReferenceRouter

STATICS = ["a", "b", "pets", "A", "%2F", "x.y", "a%20b"]
NAMES = ["id", "id", "p"]
BAD_PARTS = ["{}", "{+}", "a{id}", "{id", "{a b}", ""]
BAD_METHODS = ["get", "TRACE", "CONNECT", "Any", ""]
# What `gateway_core::paths::encode_path` leaves unencoded besides letters and digits.
PATH_SAFE = "-._~!$&'()*+,;=:@/"


@st.composite
def route_paths(draw: st.DrawFn) -> str:
    """Mostly valid paths; now and then a malformed one, or a greedy variable that is not last."""
    if draw(st.integers(0, 19)) == 0:
        return "$default"
    parts = []
    count = draw(st.integers(0, 4))
    for i in range(count):
        roll = draw(st.integers(0, 99))
        if roll < 60:
            parts.append(draw(st.sampled_from(STATICS)))
        elif roll < 97:
            # Named by position, so that one path never repeats a name but siblings may differ.
            parts.append("{" + draw(st.sampled_from(NAMES)) + f"{i}}}")
        elif roll < 99:
            parts.append("{proxy+}")
        else:
            parts.append(draw(st.sampled_from(BAD_PARTS)))
    if count < 4 and draw(st.integers(0, 3)) == 0:
        parts.append("{" + draw(st.sampled_from(["proxy", "id"])) + f"{count}+}}")
    path = "/" + "/".join(parts)
    if parts and draw(st.integers(0, 9)) == 0:
        path += "/"
    if draw(st.integers(0, 99)) == 0:
        path = path.lstrip("/")
    return path


@st.composite
def route_tables(draw: st.DrawFn) -> list[tuple[str, str]]:
    size = draw(st.integers(0, 8))
    table = []
    for _ in range(size):
        bad_method = draw(st.integers(0, 99)) == 0
        method = draw(st.sampled_from(BAD_METHODS)) if bad_method else draw(st.sampled_from([*METHODS, ANY, ANY]))
        path = draw(route_paths())
        if path == "$default" and draw(st.integers(0, 9)) > 0:
            method = ANY
        table.append((method, path))
    return table


@st.composite
def requests(draw: st.DrawFn, table: list[tuple[str, str]]) -> tuple[str, str]:
    """A request built from one of the table's routes (its method, values filled in), or one made
    of the alphabet; then `//` and trailing slashes thrown in."""
    routes = [(method, path) for method, path in table if path.startswith("/")]
    method = draw(st.sampled_from([*METHODS, *METHODS, "TRACE", "get"]))
    segments: list[str] = []
    if routes and draw(st.integers(0, 3)) > 0:
        route_method, route_path = draw(st.sampled_from(routes))
        if route_method in METHODS and draw(st.integers(0, 3)) > 0:
            method = route_method
        for part in route_path.strip("/").split("/"):
            if part.endswith("+}"):
                segments += draw(st.lists(st.sampled_from([*STATICS, "7", "é"]), min_size=1, max_size=3))
            elif part.startswith("{"):
                segments.append(draw(st.sampled_from([*STATICS, "7", "test%2Balias"])))
            else:
                segments.append(part)
    else:
        segments = draw(st.lists(st.sampled_from([*STATICS, "7", "pet", "a b"]), max_size=5))
    # Empty segments: `//` inside, at the start, or a trailing `/`.
    for _ in range(draw(st.integers(0, 2))):
        segments.insert(draw(st.integers(0, len(segments))), "")
    path = "/" + "/".join(segments)
    if draw(st.integers(0, 29)) == 0:
        path = path.lstrip("/")
    return method, path


KINDS = {
    "A sibling (": "sibling",
    "Cannot create a child": "child_of_greedy",
    "Method already exists": "duplicate",
    "Invalid HTTP method": "method",
}


def error_kind(message: str) -> str:
    return next((kind for prefix, kind in KINDS.items() if message.startswith(prefix)), "path")


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    api_type=st.sampled_from(["REST", "HTTP"]),
    ignore_trailing_slash=st.booleans(),
    table=route_tables(),
    data=st.data(),
)
def test_engine_routes_like_the_reference(
    api_type: str, ignore_trailing_slash: bool, table: list[tuple[str, str]], data: st.DataObject
) -> None:
    try:
        reference = ReferenceRouter(table, ignore_trailing_slash)
    except Conflict as conflict:
        with pytest.raises(_core.RouteConfigError) as refused:
            _core.Engine(api_type, table, ignore_trailing_slash=ignore_trailing_slash)
        message, index = refused.value.args
        event(f"refused: {conflict.kind}")
        assert (error_kind(message), index) == (conflict.kind, conflict.index), message
        return

    engine = _core.Engine(api_type, table, ignore_trailing_slash=ignore_trailing_slash)
    for method, path in data.draw(st.lists(requests(table), min_size=1, max_size=12)):
        decision = engine.admit(method, path)
        got = (decision.route_id, decision.params) if isinstance(decision, _core.Forward) else None
        assert got == reference.lookup(method, quote(path, safe=PATH_SAFE)), (method, path)
        event("request: " + ("miss" if got is None else "greedy" if "+}" in table[got[0]][1] else "hit"))


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/pets/dog/1", (0, {})),
        ("GET", "/pets/dog/2", (1, {"id": "2"})),
        ("GET", "/pets/cat/1", (2, {"proxy": "cat/1"})),
        ("POST", "/test/5", (3, {"proxy": "test/5"})),
    ],
)
def test_reference_agrees_with_the_aws_example(method: str, path: str, expected: tuple[int, dict[str, str]]) -> None:
    table = [("GET", "/pets/dog/1"), ("GET", "/pets/dog/{id}"), ("GET", "/pets/{proxy+}"), ("ANY", "/{proxy+}")]
    table.append(("ANY", "$default"))
    assert ReferenceRouter(table, ignore_trailing_slash=False).lookup(method, path) == expected
    decision = _core.Engine("HTTP", table).admit(method, path)
    assert isinstance(decision, _core.Forward)
    assert (decision.route_id, decision.params) == expected
