"""REST parameter mapping (reference §5.2): every source kind, compiled once and evaluated on a fake request."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from fastgw.config.model import Integration
from fastgw.errors import BadRequestError, Place
from fastgw.integrations.base import Request
from fastgw.transforms.parameters import (
    ForbiddenHeaderMappingError,
    JsonPath,
    MappingFailureError,
    UnsupportedExpressionError,
    apply_request_parameters,
    check_request_parameters,
    compile_request_parameters,
    compile_response_source,
    compile_source,
    engine_header_source,
)


@dataclass
class FakeStage:
    stage_name: str = "prod"
    api_type: str = "REST"
    api_id: str = "abc123defg"
    stage_variables: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeRoute:
    resource_path: str = "/pets/{id}"
    route_key: str = "GET /pets/{id}"


@dataclass
class FakeRequest:
    """The attributes of :class:`~fastgw.integrations.base.Request` that mappings read."""

    method: str = "GET"
    path: str = "/pets/7"
    query_string: str = ""
    header_list: list[tuple[str, str]] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    request_id: str = "req-1"
    extended_request_id: str = "ext-1="
    client_ip: str = "10.0.0.9"
    host: str = "api.example.com"
    stage: FakeStage = field(default_factory=FakeStage)
    route: FakeRoute | None = field(default_factory=FakeRoute)

    @property
    def query(self) -> dict[str, list[str]]:
        from urllib.parse import parse_qsl

        query: dict[str, list[str]] = {}
        for name, value in parse_qsl(self.query_string, keep_blank_values=True):
            query.setdefault(name, []).append(value)
        return query

    def header(self, name: str) -> str | None:
        values = [v for n, v in self.header_list if n == name]
        return ",".join(values) if values else None


def fake(**kwargs: Any) -> Request:
    return cast(Request, FakeRequest(**kwargs))


def source(expression: str, request: Request, **stage_variables: str) -> str | None:
    return compile_source(expression, stage_variables, with_body=True)(request)


REQUEST = fake(
    method="POST",
    query_string="q=1&q=2&single=x&empty=",
    header_list=[("x-multi", "a"), ("x-multi", "b"), ("x-one", "v"), ("user-agent", "curl/8")],
    params={"id": "7"},
    body=json.dumps({"petstore": {"pets": [{"name": "rex", "age": 3}, {"name": "tom"}]}, "ok": True}).encode(),
)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("method.request.path.id", "7"),
        ("method.request.path.missing", None),
        ("method.request.querystring.q", "2"),  # the last of repeated values
        ("method.request.querystring.single", "x"),
        ("method.request.querystring.empty", ""),
        ("method.request.multivaluequerystring.q", "1,2"),
        ("method.request.header.x-multi", "b"),  # the last value (LocalStack, checked on AWS)
        ("method.request.header.X-One", "v"),  # case-insensitive here (Granian lowercases names)
        ("method.request.multivalueheader.x-multi", "a,b"),
        ("method.request.multivalueheader.x-none", None),
        ("method.request.body.petstore.pets[0].name", "rex"),
        ("method.request.body.petstore.pets[-1].name", "tom"),
        ("method.request.body.petstore.pets[0].age", "3"),
        ("method.request.body.ok", "true"),
        ("method.request.body.petstore.pets[0]", '{"name":"rex","age":3}'),
        ("method.request.body.petstore.pets[*].name", '["rex","tom"]'),
        ("method.request.body..name", '["rex","tom"]'),
        ("method.request.body['petstore']['pets'][1]['name']", "tom"),
        ("method.request.body.nothing.here", None),
        ("'static value'", "static value"),
        ("''", ""),
        ("stageVariables.flavour", "mint"),
        ("stageVariables.unset", None),
        ("context.requestId", "req-1"),
        ("context.extendedRequestId", "ext-1="),
        ("context.httpMethod", "POST"),
        ("context.resourcePath", "/pets/{id}"),
        ("context.stage", "prod"),
        ("context.apiId", "abc123defg"),
        ("context.identity.sourceIp", "10.0.0.9"),
        ("context.identity.userAgent", "curl/8"),
        ("context.domainName", "api.example.com"),
        ("context.domainPrefix", "api"),
        ("context.unknownVariable", None),
    ],
)
def test_request_sources(expression: str, expected: str | None) -> None:
    assert source(expression, REQUEST, flavour="mint") == expected


def test_http_apis_have_one_request_id() -> None:
    http_api = fake(stage=FakeStage(api_type="HTTP"))
    assert source("context.requestId", http_api) == source("context.extendedRequestId", http_api) == "ext-1="


def test_whole_body_is_the_text_and_an_empty_body_maps_as_an_empty_object() -> None:
    assert source("method.request.body", fake(body=b"<not json>")) == "<not json>"
    assert source("method.request.body", fake(body=b"")) == "{}"
    assert source("method.request.body", fake()) == "{}"  # a Request without a body attribute value
    assert source("method.request.body.a", fake(body=b"plain text")) is None


def test_a_body_that_starts_like_json_and_is_not_is_a_400_as_on_aws() -> None:
    for expression in ("method.request.body", "method.request.body.a"):
        with pytest.raises(BadRequestError) as caught:
            source(expression, fake(body=b"\n{wrongjson"))
        assert caught.value.message == "Invalid JSON in request body"


def test_body_sources_need_a_caller_that_reads_the_body() -> None:
    for expression in ("method.request.body", "method.request.body.a", "method.request.body[0]"):
        with pytest.raises(UnsupportedExpressionError):
            compile_source(expression, {})
    mappings = compile_request_parameters(
        {"integration.request.header.a": "method.request.body.a", "integration.request.header.b": "'b'"},
        {},
        with_body=True,
    )
    assert [m.reads_body for m in mappings] == [True, False]


def test_unsupported_sources_are_refused_at_compile_time() -> None:
    for expression in (
        "method.request.cookie.x",
        "method.request.path",
        "something.else",
        "method.request.body.a[?(@.b)]",
    ):
        with pytest.raises(UnsupportedExpressionError):
            compile_source(expression, {}, with_body=True)


def test_jsonpath_forms() -> None:
    document = {"a": {"b c": [10, 20, 30]}, "list": [{"k": 1}, {"k": 2}]}
    assert JsonPath("$.a['b c'][1]").find(document) == [20]
    assert JsonPath('a["b c"][0:2]').find(document) == [[10, 20][0], [10, 20][1]]
    assert JsonPath("list.*.k").find(document) == [1, 2]
    assert JsonPath("$..k").find(document) == [1, 2]
    assert JsonPath("$").find(document) == [document]
    assert JsonPath("a.b c[5]").find(document) == []
    with pytest.raises(UnsupportedExpressionError):
        JsonPath("$..k", allow_recursive=False)


def test_request_parameters_by_target_kind() -> None:
    mappings = compile_request_parameters(
        {
            "integration.request.header.x-user": "method.request.querystring.single",
            "integration.request.querystring.all": "method.request.multivaluequerystring.q",
            "integration.request.header.x-all": "method.request.multivaluequerystring.q",
            "integration.request.path.petId": "method.request.path.id",
            "integration.request.header.x-empty": "method.request.querystring.empty",
            "integration.request.querystring.pet": "method.request.body.petstore.pets[1].name",
        },
        {},
        with_body=True,
    )
    values = apply_request_parameters(mappings, REQUEST)
    assert values.headers == [("x-user", "x"), ("x-all", "1,2")]
    # A multi-valued query string mapped to a query string repeats the name (LocalStack, checked on AWS).
    assert values.querystring == [("all", "1"), ("all", "2"), ("pet", "tom")]
    assert values.path == {"petId": "7"}


def test_bad_targets_are_refused() -> None:
    for target in ("integration.request.body.x", "method.response.header.x", "integration.request.header."):
        with pytest.raises(UnsupportedExpressionError):
            compile_request_parameters({target: "'x'"}, {})


@pytest.mark.parametrize("header", ["Content-Length", "transfer-encoding", "X-Amzn-Trace-Id"])
def test_a_forbidden_header_fails_the_request_with_500_when_it_gets_a_value(header: str) -> None:
    mappings = compile_request_parameters({f"integration.request.header.{header}": "method.request.header.x-one"}, {})
    with pytest.raises(ForbiddenHeaderMappingError) as caught:
        apply_request_parameters(mappings, REQUEST)
    assert caught.value.response_type == "API_CONFIGURATION_ERROR"
    # No value, no failure (AWS checks the mapped values).
    assert apply_request_parameters(mappings, fake()).headers == []


def test_aws_types_forbid_more_headers() -> None:
    parameters = {"integration.request.header.Authorization": "'Bearer x'"}
    assert apply_request_parameters(compile_request_parameters(parameters, {}), REQUEST).headers == [
        ("Authorization", "Bearer x")
    ]
    aws = compile_request_parameters(parameters, {}, integration_type="AWS_PROXY")
    with pytest.raises(ForbiddenHeaderMappingError):
        apply_request_parameters(aws, REQUEST)


def test_load_time_warnings_name_the_place() -> None:
    integration = Integration(
        type="HTTP",
        place=Place("api.yaml", "/paths/~1pets/get/x-amazon-apigateway-integration"),
        request_parameters={
            "integration.request.header.Content-Length": "'5'",
            "integration.request.header.x-ok": "context.requestId",
            "integration.request.header.x-acct": "context.accountId",
            "integration.request.header.Authorization": "'fine for HTTP'",
        },
    )
    problems = check_request_parameters(integration)
    assert [p.place.pointer.rpartition("/")[2] for p in problems] == [
        "integration.request.header.Content-Length",
        "integration.request.header.x-acct",
    ]
    assert "500 Internal server error" in problems[0].message
    assert str(problems[0].place).startswith(
        "api.yaml#/paths/~1pets/get/x-amazon-apigateway-integration/requestParameters/"
    )


# -- response side ----------------------------------------------------------------------------------------

BACKEND_HEADERS = [("X-Up", "1"), ("x-up", "2"), ("Content-Type", "application/json")]
BACKEND_BODY = b'{"id": 42, "owner": {"name": "ann"}}'


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("integration.response.header.x-up", "2"),
        ("integration.response.multivalueheader.X-Up", "1,2"),
        ("integration.response.header.missing", None),
        ("integration.response.body", '{"id": 42, "owner": {"name": "ann"}}'),
        ("integration.response.body.id", "42"),
        ("integration.response.body.owner.name", "ann"),
        ("'static'", "static"),
        ("stageVariables.flavour", "mint"),
        ("context.requestId", "req-1"),
        ("method.request.path.id", "7"),
    ],
)
def test_response_sources(expression: str, expected: str | None) -> None:
    getter = compile_response_source(expression, {"flavour": "mint"}, with_body=True)
    assert getter(REQUEST, 200, BACKEND_HEADERS, BACKEND_BODY) == expected


def test_response_getters_still_take_three_arguments() -> None:
    getter = compile_response_source("integration.response.header.x-up", {})
    assert getter(REQUEST, 200, BACKEND_HEADERS) == "2"
    # Body sources need a caller that passes the body.
    with pytest.raises(UnsupportedExpressionError):
        compile_response_source("integration.response.body.id", {})


def test_a_malformed_json_backend_body_fails_with_500() -> None:
    getter = compile_response_source("integration.response.body.id", {}, with_body=True)
    with pytest.raises(MappingFailureError):
        getter(REQUEST, 200, [], b"[1,")
    assert getter(REQUEST, 200, [], b"not json") is None
    assert compile_response_source("integration.response.body", {}, with_body=True)(REQUEST, 200, [], b"") == "{}"


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'fixed'", ("static", "fixed")),
        ("stageVariables.flavour", ("static", "mint")),
        ("stageVariables.missing", ("static", "")),  # never a value: sets nothing
        ("method.request.header.X-Token", ("header", "X-Token")),
        ("method.request.multivalueheader.x-tag", ("multivalueheader", "x-tag")),
        ("method.request.path.id", ("path", "id")),
        ("method.request.querystring.q", ("querystring", "q")),
        ("method.request.multivaluequerystring.q", ("multivaluequerystring", "q")),
        ("context.requestId", ("context", "requestId")),
        ("context.identity.userAgent", ("multivalueheader", "user-agent")),
        ("context.stage", ("static", "prod")),
        ("context.waf.latency", ("static", "")),  # a variable fastgw does not fill maps to nothing
        ("context.domainName", None),  # only Python has it
        ("method.request.body.name", None),
    ],
)
def test_engine_header_sources(expression: str, expected: tuple[str, str] | None) -> None:
    assert engine_header_source(expression, {"flavour": "mint"}, {"stage": "prod"}) == expected
