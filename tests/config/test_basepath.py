"""basePath sources and AWS's basepath import modes (reference §3.1, with its validated examples)."""

from __future__ import annotations

import pytest

from fastgw.config.basepath import join, normalise, route_prefix
from fastgw.config.model import ApiDefinition
from fastgw.config.openapi import parse_definition
from fastgw.errors import DefinitionError

MOCK = "{x-amazon-apigateway-integration: {type: mock}}"


def swagger(base_path: str, paths: tuple[str, ...] = ("/test",)) -> str:
    routes = "".join(f"  {path}: {{get: {MOCK}}}\n" for path in paths)
    return f"swagger: '2.0'\nbasePath: {base_path}\npaths:\n{routes}"


def oas3(servers: str, paths: tuple[str, ...] = ("/test",)) -> str:
    routes = "".join(f"  {path}: {{get: {MOCK}}}\n" for path in paths)
    return f"openapi: 3.0.1\nservers: {servers}\npaths:\n{routes}"


def load(text: str, mode: str) -> ApiDefinition:
    return parse_definition(text, "api.yaml", basepath=mode)  # type: ignore[arg-type]


def paths(text: str, mode: str) -> list[str]:
    return [route.path for route in load(text, mode).routes]


@pytest.mark.parametrize(("mode", "expected"), [("ignore", "/test"), ("prepend", "/base/test"), ("split", "/test")])
def test_validated_swagger_base_path(mode: str, expected: str) -> None:
    assert paths(swagger("/base"), mode) == [expected]
    assert load(swagger("/base"), mode).base_path == "/base"


@pytest.mark.parametrize(
    ("mode", "expected"), [("ignore", "/test"), ("prepend", "/base-url/part/test"), ("split", "/part/test")]
)
def test_validated_server_url_base_path(mode: str, expected: str) -> None:
    text = oas3("[{url: 'https://api.example.com/base-url/part'}]")
    assert paths(text, mode) == [expected]
    assert load(text, mode).base_path == "/base-url/part"


@pytest.mark.parametrize(
    ("servers", "base_path"),
    [
        (
            "[{url: 'https://x.execute-api.us-east-1.amazonaws.com/{basePath}',\n"
            "  variables: {basePath: {default: /v1}}}]",
            "/v1",
        ),
        (
            "[{url: 'https://x.execute-api.us-east-1.amazonaws.com/{basePath}', variables: {basePath: {default: v1}}}]",
            "/v1",
        ),
        (
            "[{url: 'https://x.execute-api.us-east-1.amazonaws.com/{basePath}', variables: {basePath: {default: ''}}}]",
            "",
        ),
        ("[{url: 'https://x.example.com/ignored', variables: {basePath: {default: /wins}}}]", "/wins"),
        (
            "[{url: '{scheme}://x.example.com/{stage}/api',\n"
            "  variables: {scheme: {default: https}, stage: {default: prod}}}]",
            "/prod/api",
        ),
        ("[{url: 'https://x.example.com/{undefined}/api'}]", "/api"),
        ("[{url: /}]", ""),
        ("[{url: /v2/}]", "/v2"),
        ("[{url: 'https://x.example.com'}]", ""),
        ("[{url: 'https://x.example.com//a//b/'}]", "/a/b"),
        ("[{description: no url}]", ""),
        ("[]", ""),
        ("[{url: /first}, {url: /second}]", "/first"),
    ],
)
def test_openapi_base_path_sources(servers: str, base_path: str) -> None:
    assert load(oas3(servers), "ignore").base_path == base_path


def test_no_base_path() -> None:
    assert load("openapi: 3.0.1\npaths: {/a: {get: {}}}\n", "prepend").routes[0].path == "/a"
    assert load("swagger: '2.0'\npaths: {/a: {get: {}}}\n", "prepend").routes[0].path == "/a"
    assert load(swagger("/"), "prepend").base_path == ""


def test_root_path_and_double_slashes() -> None:
    assert paths(swagger("/base", ("/", "/a//b")), "prepend") == ["/base", "/base/a/b"]
    assert paths(swagger("/base/", ("/",)), "split") == ["/"]
    assert paths(swagger("/base/x", ("/",)), "split") == ["/x"]
    assert paths(swagger("/base", ("/a//b",)), "ignore") == ["/a/b"]


def test_default_route_is_never_prefixed() -> None:
    text = (
        "openapi: 3.0.1\nx-amazon-apigateway-importexport-version: '1.0'\nservers: [{url: /v1}]\npaths:\n"
        "  /$default: {x-amazon-apigateway-any-method: {isDefaultRoute: true}}\n"
    )
    assert [r.route_key for r in load(text, "prepend").routes] == ["$default"]


def test_broken_servers() -> None:
    with pytest.raises(DefinitionError) as caught:
        load(oas3("[{url: 'http://[::1/x', variables: {basePath: 7}}]"), "ignore")
    assert [str(p) for p in caught.value.problems] == [
        "api.yaml#/servers/0/variables/basePath: a server variable must be a mapping, got an integer",
        "api.yaml#/servers/0/url: server url 'http://[::1/x' is not a URL: Invalid IPv6 URL",
    ]
    with pytest.raises(DefinitionError) as caught:
        load(oas3("[7]"), "ignore")
    assert [str(p) for p in caught.value.problems] == [
        "api.yaml#/servers/0: a server must be a mapping, got an integer"
    ]


@pytest.mark.parametrize(
    ("path", "normal"), [("", ""), ("/", ""), ("v1", "/v1"), ("/v1/", "/v1"), ("//a///b//", "/a/b")]
)
def test_normalise(path: str, normal: str) -> None:
    assert normalise(path) == normal


@pytest.mark.parametrize(
    ("base", "mode", "prefix"),
    [
        ("/base", "ignore", ""),
        ("/base", "prepend", "/base"),
        ("/base", "split", ""),
        ("/base-url/part", "split", "/part"),
        ("/a/b/c", "split", "/b/c"),
        ("", "split", ""),
        ("", "prepend", ""),
    ],
)
def test_route_prefix(base: str, mode: str, prefix: str) -> None:
    assert route_prefix(base, mode) == prefix  # type: ignore[arg-type]


def test_join() -> None:
    assert join("", "/") == "/"
    assert join("/p", "/") == "/p"
    assert join("/p", "/a") == "/p/a"
    assert join("", "//a") == "/a"
