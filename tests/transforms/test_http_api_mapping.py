"""HTTP API parameter mapping (reference §5.1, §4.3): keys, values, ``${}`` inclusions, reserved headers."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from fastgw.config.model import Integration
from fastgw.errors import DefinitionError, Place
from fastgw.transforms.http_api_mapping import (
    BODY_PATH_LIMIT,
    HttpApiMapping,
    check_http_api_mapping,
    compile_http_api_mapping,
    http_api_mapping_warnings,
    is_reserved_header,
)
from tests.transforms.test_parameters import FakeStage, fake

PLACE = Place("api.yaml", "/paths/~1pets~1{id}/get/x-amazon-apigateway-integration")
REQUEST = fake(
    method="POST",
    path="/pets/7",
    query_string="q=1&q=2&Name=Ann&a%20b=c",
    header_list=[("x-multi", "a"), ("x-multi", "b"), ("x-one", "v"), ("host", "api.example.com")],
    params={"id": "7", "name": "rex"},
    body=json.dumps({"pet": {"tags": ["a", "b"], "age": 3, "name": "rex"}}).encode(),
    stage=FakeStage(api_type="HTTP"),
)


def integration(
    request: Mapping[str, str] | None = None, response: Mapping[str, Mapping[str, str]] | None = None
) -> Integration:
    return Integration(
        type="HTTP_PROXY",
        place=PLACE,
        uri="http://backend/pets",
        request_parameters=dict(request or {}),
        response_parameters={code: dict(m) for code, m in (response or {}).items()},
    )


def mapping(
    request: Mapping[str, str] | None = None,
    response: Mapping[str, Mapping[str, str]] | None = None,
    **stage_variables: str,
) -> HttpApiMapping:
    compiled = compile_http_api_mapping(integration(request, response), stage_variables)
    assert compiled is not None
    return compiled


def header_value(value: str, **stage_variables: str) -> str | None:
    """What ``overwrite:header.out`` sets for ``value`` on REQUEST."""
    headers, _, _ = mapping({"overwrite:header.out": value}, **stage_variables).apply_request(REQUEST, [], "", "/")
    values = [v for n, v in headers if n == "out"]
    return values[0] if values else None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$request.header.x-one", "v"),
        ("$request.header.X-MULTI", "a,b"),  # case-insensitive, values joined with ','
        ("${request.header.x-one}", "v"),
        ("$request.header.missing", None),
        ("$request.querystring.q", "1,2"),
        ("$request.querystring.Name", "Ann"),
        ("$request.querystring.name", None),  # case-sensitive
        ("$request.querystring.a b", "c"),
        ("$request.path", "/pets/7"),
        ("$request.path.id", "7"),
        ("$request.body.pet.age", "3"),
        ("$request.body.pet.tags[1]", "b"),
        ("$request.body.$.pet.name", "rex"),
        ("$request.body.pet.tags", '["a","b"]'),
        ("$request.body", '{"pet": {"tags": ["a", "b"], "age": 3, "name": "rex"}}'),
        ("$context.requestId", "ext-1="),  # HTTP APIs: the apigw-requestid
        ("$context.routeKey", "GET /pets/{id}"),
        ("$context.httpMethod", "POST"),
        ("$stageVariables.flavour", "mint"),
        ("$stageVariables.unset", None),
        ("static text", "static text"),
        ("${request.path.name} ${request.path.id}", "rex 7"),
        ("id=${request.path.id};m=${request.header.missing}.", "id=7;m=."),
        ("${stageVariables.flavour}-${context.stage}", "mint-prod"),
    ],
)
def test_values(value: str, expected: str | None) -> None:
    assert header_value(value, flavour="mint") == expected


def test_the_aws_docs_request_example() -> None:
    headers, query, path = mapping({"append:header.header1": "$context.requestId"}).apply_request(
        REQUEST, [("header1", "client")], "", "/pets/7"
    )
    assert headers == [("header1", "client"), ("header1", "ext-1=")]
    assert (query, path) == ("", "/pets/7")


def test_header_operations_are_case_insensitive_and_in_order() -> None:
    operations = {
        "overwrite:header.X-Over": "new",
        "remove:header.x-gone": "",
        "append:header.x-add": "${request.path.id}",
        "overwrite:header.x-absent-source": "$request.header.missing",
    }
    headers, _, _ = mapping(operations).apply_request(
        REQUEST,
        [("x-over", "old1"), ("X-Over", "old2"), ("X-Gone", "1"), ("x-add", "first"), ("x-absent-source", "kept")],
        "",
        "/",
    )
    assert headers == [("x-add", "first"), ("x-absent-source", "kept"), ("x-over", "new"), ("x-add", "7")]


def test_query_string_operations_keep_the_rest_of_the_raw_query() -> None:
    operations = {
        "append:querystring.q": "$request.header.x-one",
        "overwrite:querystring.name": "a b&c",
        "remove:querystring.drop": "",
    }
    _, query, _ = mapping(operations).apply_request(REQUEST, [], "q=1&name=old&drop=x&drop=y&keep=%2F", "/")
    assert query == "q=1&keep=%2F&q=v&name=a%20b%26c"


def test_overwrite_path() -> None:
    _, _, path = mapping({"overwrite:path": "/v2/pets/${request.path.id}"}).apply_request(REQUEST, [], "", "/pets/7")
    assert path == "/v2/pets/7"
    _, _, path = mapping({"overwrite:path": "$request.path"}).apply_request(REQUEST, [], "", "/stage/pets/7")
    assert path == "/pets/7"  # the community's way to drop a stage prefix
    _, _, path = mapping({"overwrite:path": "$request.header.missing"}).apply_request(REQUEST, [], "", "/pets/7")
    assert path == "/pets/7"


def test_body_paths_are_cut_at_100_kb() -> None:
    big = fake(body=json.dumps({"first": "x", "pad": "y" * BODY_PATH_LIMIT}).encode())
    out = mapping({"overwrite:header.out": "$request.body.first"}).apply_request(big, [], "", "/")[0]
    assert out == []  # the JSON is cut inside a value: nothing to map
    whole = mapping({"overwrite:header.out": "$request.body"}).apply_request(fake(body=b"plain"), [], "", "/")[0]
    assert whole == [("out", "plain")]
    no_json = mapping({"overwrite:header.out": "$request.body.a"}).apply_request(fake(body=b"plain"), [], "", "/")[0]
    assert no_json == []


def test_the_aws_docs_response_example() -> None:
    compiled = mapping(response={"500": {"append:header.header1": "$context.requestId", "overwrite:statuscode": "403"}})
    assert compiled.apply_response(REQUEST, 500, [("content-type", "text/plain")], b"") == (
        403,
        [("content-type", "text/plain"), ("header1", "ext-1=")],
    )
    # Other backend statuses are left alone.
    assert compiled.apply_response(REQUEST, 200, [("a", "1")], b"") == (200, [("a", "1")])


def test_response_values() -> None:
    compiled = mapping(
        response={
            "200": {
                "overwrite:header.x-from-header": "$response.header.X-Up",
                "append:header.x-from-body": "${response.body.owner.name}/${response.body.id}",
                "remove:header.x-secret": "''",
                "overwrite:statuscode": "$response.body.status",
            }
        }
    )
    backend = [("X-Up", "1"), ("x-up", "2"), ("X-Secret", "s")]
    status, headers = compiled.apply_response(
        REQUEST, 200, backend, b'{"id": 4, "owner": {"name": "ann"}, "status": 201}'
    )
    assert status == 201
    assert headers == [("X-Up", "1"), ("x-up", "2"), ("x-from-header", "1,2"), ("x-from-body", "ann/4")]
    # A status value that is not a status code leaves the status alone.
    assert compiled.apply_response(REQUEST, 200, [], b'{"status": "abc"}')[0] == 200


@pytest.mark.parametrize(
    "header",
    [
        "Access-Control-Allow-Origin",
        "apigw-requestid",
        "Authorization",
        "Connection",
        "Content-Encoding",
        "Content-Length",
        "Content-Location",
        "Forwarded",
        "Keep-Alive",
        "Origin",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailers",
        "Transfer-Encoding",
        "Upgrade",
        "x-amz-date",
        "X-Amzn-Trace-Id",
        "X-Forwarded-For",
        "X-Forwarded-Host",
        "X-Forwarded-Proto",
        "Via",
    ],
)
def test_reserved_headers_are_refused_at_load(header: str) -> None:
    assert is_reserved_header(header)
    problems = check_http_api_mapping(
        integration({f"overwrite:header.{header}": "x"}, {"200": {f"remove:header.{header}": ""}})
    )
    assert [p.place.pointer.removeprefix(PLACE.pointer) for p in problems] == [
        f"/requestParameters/overwrite:header.{header}",
        f"/responseParameters/200/remove:header.{header}",
    ]
    assert "reserved" in problems[0].message
    with pytest.raises(DefinitionError):
        compile_http_api_mapping(integration({f"append:header.{header}": "x"}), {})


def test_ordinary_headers_are_not_reserved() -> None:
    for header in ("x-api-version", "content-type", "accept", "x-am", "x-forwarded-port", "originator"):
        assert not is_reserved_header(header)


@pytest.mark.parametrize(
    ("request_parameters", "response_parameters", "message"),
    [
        ({"replace:header.x": "v"}, {}, "is not a mapping key"),
        ({"append:path": "/x"}, {}, "is not a mapping key"),
        ({"overwrite:body": "x"}, {}, "is not a mapping key"),
        ({"overwrite:header.bad name": "x"}, {}, "is not a mapping key"),
        ({"overwrite:statuscode": "200"}, {}, "is not a mapping key"),
        ({"overwrite:header.x": "$request.cookie.a"}, {}, "is not a parameter mapping value"),
        ({"overwrite:header.x": "$response.header.a"}, {}, "is not a parameter mapping value"),
        ({"overwrite:header.x": "$request.body..name"}, {}, "'..' is not allowed"),
        ({"overwrite:header.x": "$request.body.items[?(@.a)]"}, {}, "not supported"),
        ({"overwrite:header.x": "${request.path.id"}, {}, "unclosed"),
        ({}, {"200": {"overwrite:querystring.a": "x"}}, "is not a mapping key"),
        ({}, {"200": {"overwrite:statuscode": "99"}}, "is not an HTTP status code"),
        ({}, {"2xx": {"overwrite:header.a": "x"}}, "is not an HTTP status code"),
    ],
)
def test_bad_keys_and_values_are_refused_at_load(
    request_parameters: dict[str, str], response_parameters: dict[str, dict[str, str]], message: str
) -> None:
    problems = check_http_api_mapping(integration(request_parameters, response_parameters))
    assert len(problems) == 1
    assert message in problems[0].message
    assert str(problems[0].place).startswith("api.yaml#/paths/~1pets~1{id}/get/x-amazon-apigateway-integration/")


def test_the_mapping_says_which_bodies_it_reads() -> None:
    plain = mapping({"append:header.a": "$request.header.b"}, {"200": {"append:header.a": "$response.header.b"}})
    assert (plain.reads_request_body, plain.reads_response_body) == (False, False)
    request_body = mapping({"append:header.a": "x ${request.body.a}"})
    assert (request_body.reads_request_body, request_body.reads_response_body) == (True, False)
    both = mapping(response={"404": {"append:header.a": "$request.body", "overwrite:statuscode": "$response.body.s"}})
    assert (both.reads_request_body, both.reads_response_body) == (True, True)


def test_no_mapping_compiles_to_none_and_unfilled_context_variables_are_warned_about() -> None:
    assert compile_http_api_mapping(integration(), {}) is None
    warnings = http_api_mapping_warnings(integration({"append:header.x": "${context.authorizer.claims.sub}"}))
    assert [w.message for w in warnings] == [
        "$context.authorizer.claims.sub is not filled by fastgw yet: it maps as empty"
    ]
    assert check_http_api_mapping(integration({"append:header.x": "${context.authorizer.claims.sub}"})) == []
