"""Gateway responses: AWS defaults and ``x-amazon-apigateway-gateway-responses`` customisation (reference §2).

Resolution order (the type's own customisation, then DEFAULT_4XX / DEFAULT_5XX copied onto it, then the built-in
default), every ``responseParameters`` source kind, template selection by ``Accept`` and template substitution.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from fastgw.config.model import ApiDefinition
from fastgw.integrations.base import Request
from fastgw.responses import (
    DEFAULT_TEMPLATE,
    REST_DEFAULTS,
    GatewayResponses,
    RenderedResponse,
    Template,
    gateway_response_warnings,
    resolve_customisations,
)

STAGE_VARIABLES = {"origin": "https://app.example", "team": "pets"}


def make_request(
    *,
    method: str = "GET",
    path: str = "/pets/7",
    query: str = "",
    headers: list[tuple[str, str]] | None = None,
    params: Mapping[str, str] | None = None,
    resource_path: str | None = None,
) -> Request:
    scope = SimpleNamespace(client="203.0.113.9:51000", headers={"host": "api.example.com"}, authority=None)
    stage = SimpleNamespace(api_type="REST", stage_name="prod", api_id="a1b2c3d4e5", stage_variables=STAGE_VARIABLES)
    request = Request(scope, None, method, path, query, headers or [], stage, "req-1", "ext-1=", 0.0, scope.client)  # type: ignore[arg-type]
    request.params = params or {}
    if resource_path is not None:
        request.route = SimpleNamespace(resource_path=resource_path)  # type: ignore[assignment]
    return request


def responses(
    gateway_responses: Mapping[str, Any], stage_variables: Mapping[str, str] = STAGE_VARIABLES
) -> GatewayResponses:
    return GatewayResponses("REST", resolve_customisations(gateway_responses, stage_variables))


def headers_of(rendered: RenderedResponse) -> dict[str, str]:
    return dict(rendered.headers)


# -- built-in defaults -------------------------------------------------------------------------------------------


def test_uncustomised_rest_response_is_the_aws_default() -> None:
    rendered = GatewayResponses("REST").render("MISSING_AUTHENTICATION_TOKEN")
    assert (rendered.status, rendered.body) == (403, b'{"message":"Missing Authentication Token"}')
    assert rendered.headers == [
        ("content-type", "application/json"),
        ("x-amzn-ErrorType", "MissingAuthenticationTokenException"),
    ]


def test_uncustomised_response_is_built_once() -> None:
    gateway = GatewayResponses("REST")
    assert gateway.render("THROTTLED") is gateway.render("THROTTLED")
    per_request = gateway.render("BAD_REQUEST_PARAMETERS", "Missing required request parameters: [a]")
    assert per_request.body == b'{"message":"Missing required request parameters: [a]"}'


def test_http_api_ignores_customisation() -> None:
    definition = ApiDefinition(
        source="api.yaml",
        title="t",
        version="1",
        api_type="HTTP",
        routes=(),
        gateway_responses={"DEFAULT_4XX": {"statusCode": 418, "responseParameters": {}, "responseTemplates": {}}},
    )
    rendered = GatewayResponses.for_definition(definition, {}).render("MISSING_AUTHENTICATION_TOKEN")
    assert (rendered.status, rendered.body, rendered.headers) == (
        404,
        b'{"message":"Not Found"}',
        [("content-type", "application/json")],
    )


def test_rest_definition_customisation_is_applied() -> None:
    definition = ApiDefinition(
        source="api.yaml",
        title="t",
        version="1",
        api_type="REST",
        routes=(),
        gateway_responses={"THROTTLED": {"statusCode": 503, "responseParameters": {}, "responseTemplates": {}}},
    )
    rendered = GatewayResponses.for_definition(definition, {}).render("THROTTLED", request=make_request())
    assert (rendered.status, rendered.body) == (503, b'{"message":"Too Many Requests"}')


# -- resolution order --------------------------------------------------------------------------------------------


def test_own_customisation_wins_over_default_4xx() -> None:
    gateway = responses(
        {
            "DEFAULT_4XX": {"statusCode": 400, "responseParameters": {"gatewayresponse.header.X-From": "'default'"}},
            "INVALID_API_KEY": {"responseParameters": {"gatewayresponse.header.X-Own": "'own'"}},
        }
    )
    rendered = gateway.render("INVALID_API_KEY", request=make_request())
    assert rendered.status == 403  # no statusCode of its own: the type's status, not DEFAULT_4XX's
    assert headers_of(rendered) == {
        "content-type": "application/json",
        "x-amzn-ErrorType": "ForbiddenException",
        "X-Own": "own",
    }
    assert rendered.body == b'{"message":"Forbidden"}'


def test_default_4xx_headers_are_copied_onto_every_4xx_type_keeping_status_and_message() -> None:
    gateway = responses(
        {"DEFAULT_4XX": {"responseParameters": {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"}}}
    )
    for response_type, default in REST_DEFAULTS.items():
        rendered = gateway.render(response_type, request=make_request())
        cors = headers_of(rendered).get("Access-Control-Allow-Origin")
        if response_type in ("REQUEST_TOO_LARGE", "FORBIDDEN", "REQUEST_HEADER_FIELDS_TOO_LARGE", "BAD_REQUEST"):
            assert cors is None, response_type  # not customisable
        elif default.status < 500:
            assert cors == "*", response_type
        else:
            assert cors is None, response_type
        assert rendered.status == default.status
        assert orjson.loads(rendered.body) == {"message": default.message}
        assert headers_of(rendered).get("x-amzn-ErrorType") == default.error_type


def test_default_4xx_status_code_changes_every_4xx_type() -> None:
    gateway = responses({"DEFAULT_4XX": {"statusCode": "400"}})
    for response_type in ("MISSING_AUTHENTICATION_TOKEN", "THROTTLED", "UNAUTHORIZED", "UNSUPPORTED_MEDIA_TYPE"):
        assert gateway.render(response_type, request=make_request()).status == 400
    assert gateway.render("INTEGRATION_TIMEOUT", request=make_request()).status == 504
    assert gateway.render("REQUEST_TOO_LARGE", request=make_request()).status == 413


def test_default_5xx_covers_5xx_types_only() -> None:
    gateway = responses(
        {
            "DEFAULT_5XX": {
                "statusCode": 503,
                "responseTemplates": {"application/json": '{"error":"$context.error.responseType"}'},
            }
        }
    )
    for response_type in ("INTEGRATION_TIMEOUT", "INTEGRATION_FAILURE", "API_CONFIGURATION_ERROR", "DEFAULT_5XX"):
        rendered = gateway.render(response_type, request=make_request())
        assert (rendered.status, rendered.body) == (503, f'{{"error":"{response_type}"}}'.encode())
    rendered = gateway.render("THROTTLED", request=make_request())
    assert (rendered.status, rendered.body) == (429, b'{"message":"Too Many Requests"}')


def test_request_too_large_customisation_is_ignored() -> None:
    gateway = responses({"REQUEST_TOO_LARGE": {"statusCode": 400, "responseTemplates": {"application/json": "{}"}}})
    rendered = gateway.render("REQUEST_TOO_LARGE", request=make_request())
    assert (rendered.status, rendered.body) == (413, b'{"message":"Request Too Long"}')


def test_customised_default_4xx_rendered_directly() -> None:
    gateway = responses(
        {"DEFAULT_4XX": {"responseTemplates": {"application/json": '{"type":"$context.error.responseType"}'}}}
    )
    rendered = gateway.render("DEFAULT_4XX", request=make_request())
    assert (rendered.status, rendered.body) == (400, b'{"type":"DEFAULT_4XX"}')


def test_per_request_message_reaches_the_template() -> None:
    gateway = responses({"BAD_REQUEST_PARAMETERS": {"responseTemplates": {"application/json": DEFAULT_TEMPLATE}}})
    rendered = gateway.render(
        "BAD_REQUEST_PARAMETERS", 'Missing required request parameters: ["a"]', request=make_request()
    )
    assert rendered.body == b'{"message":"Missing required request parameters: [\\"a\\"]"}'


def test_null_default_message_renders_null() -> None:
    gateway = responses({"DEFAULT_5XX": {}})
    rendered = gateway.render("AUTHORIZER_CONFIGURATION_ERROR", request=make_request())
    assert rendered.body == b'{"message":null}'


# -- responseParameters sources ----------------------------------------------------------------------------------


def test_every_response_parameter_source_kind() -> None:
    parameters = {
        "gatewayresponse.header.X-Static": "'a static value'",
        "gatewayresponse.header.X-Header": "method.request.header.X-Client",
        "gatewayresponse.header.X-Multi-Header": "method.request.multivalueheader.X-Repeated",
        "gatewayresponse.header.X-Query": "method.request.querystring.q",
        "gatewayresponse.header.X-Multi-Query": "method.request.multivaluequerystring.q",
        "gatewayresponse.header.X-Path": "method.request.path.petId",
        "gatewayresponse.header.X-Stage-Variable": "stageVariables.origin",
        "gatewayresponse.header.X-Request-Id": "context.requestId",
        "gatewayresponse.header.X-Extended-Id": "context.extendedRequestId",
        "gatewayresponse.header.X-Method": "context.httpMethod",
        "gatewayresponse.header.X-Resource": "context.resourcePath",
        "gatewayresponse.header.X-Stage": "context.stage",
        "gatewayresponse.header.X-Api": "context.apiId",
        "gatewayresponse.header.X-Ip": "context.identity.sourceIp",
        "gatewayresponse.header.X-Agent": "context.identity.userAgent",
        "gatewayresponse.header.X-Path-Context": "context.path",
        "gatewayresponse.header.X-Protocol": "context.protocol",
        "gatewayresponse.header.X-Domain": "context.domainName",
        "gatewayresponse.header.X-Message": "context.error.message",
        "gatewayresponse.header.X-Message-String": "context.error.messageString",
        "gatewayresponse.header.X-Type": "context.error.responseType",
    }
    gateway = responses({"UNAUTHORIZED": {"responseParameters": parameters}})
    request = make_request(
        method="POST",
        path="/pets/7",
        query="q=1&q=2",
        headers=[("x-client", "c"), ("x-repeated", "r1"), ("x-repeated", "r2"), ("user-agent", "curl/8")],
        params={"petId": "7"},
        resource_path="/pets/{petId}",
    )
    assert headers_of(gateway.render("UNAUTHORIZED", request=request)) == {
        "content-type": "application/json",
        "x-amzn-ErrorType": "UnauthorizedException",
        "X-Static": "a static value",
        "X-Header": "c",
        "X-Multi-Header": "r1,r2",
        "X-Query": "2",
        "X-Multi-Query": "1,2",
        "X-Path": "7",
        "X-Stage-Variable": "https://app.example",
        "X-Request-Id": "req-1",
        "X-Extended-Id": "ext-1=",
        "X-Method": "POST",
        "X-Resource": "/pets/{petId}",
        "X-Stage": "prod",
        "X-Api": "a1b2c3d4e5",
        "X-Ip": "203.0.113.9",
        "X-Agent": "curl/8",
        "X-Path-Context": "/pets/7",
        "X-Protocol": "HTTP/1.1",
        "X-Domain": "api.example.com",
        "X-Message": "Unauthorized",
        "X-Message-String": '"Unauthorized"',
        "X-Type": "UNAUTHORIZED",
    }


def test_missing_values_leave_the_header_out() -> None:
    parameters = {
        "gatewayresponse.header.X-Header": "method.request.header.X-Absent",
        "gatewayresponse.header.X-Query": "method.request.querystring.absent",
        "gatewayresponse.header.X-Path": "method.request.path.absent",
        "gatewayresponse.header.X-Stage-Variable": "stageVariables.unset",
        "gatewayresponse.header.X-Body": "method.request.body",
        "gatewayresponse.header.X-Context": "context.authorizer.principalId",
        "method.response.header.X-Wrong-Target": "'x'",
    }
    gateway = responses({"UNAUTHORIZED": {"responseParameters": parameters}})
    assert headers_of(gateway.render("UNAUTHORIZED", request=make_request())) == {
        "content-type": "application/json",
        "x-amzn-ErrorType": "UnauthorizedException",
    }


def rest_definition(gateway_responses: Mapping[str, Any], api_type: str = "REST") -> ApiDefinition:
    return ApiDefinition(
        source="api.yaml",
        title="t",
        version="1",
        api_type=api_type,  # type: ignore[arg-type]
        routes=(),
        gateway_responses=gateway_responses,
    )


def test_load_time_warnings_name_the_place() -> None:
    definition = rest_definition(
        {
            "REQUEST_TOO_LARGE": {"statusCode": 400},
            "DEFAULT_4XX": {
                "responseParameters": {
                    "gatewayresponse.header.X-Ok": "method.request.header.x",
                    "gatewayresponse.header.X-Team": "stageVariables.team",
                    "gatewayresponse.header.X-Unset": "stageVariables.unset",
                    "gatewayresponse.header.X-Body": "method.request.body",
                    "method.response.header.X-Wrong": "'x'",
                }
            },
        }
    )
    place = "api.yaml#/x-amazon-apigateway-gateway-responses"
    assert [str(problem) for problem in gateway_response_warnings(definition, STAGE_VARIABLES)] == [
        f"{place}/REQUEST_TOO_LARGE: AWS does not support customising REQUEST_TOO_LARGE: ignored",
        f"{place}/DEFAULT_4XX/responseParameters/gatewayresponse.header.X-Unset: "
        "stage variable unset is not set: the header is left out",
        f"{place}/DEFAULT_4XX/responseParameters/gatewayresponse.header.X-Body: "
        "'method.request.body' is not a source fastgw supports: the header is left out",
        f"{place}/DEFAULT_4XX/responseParameters/method.response.header.X-Wrong: "
        "'method.response.header.X-Wrong' is not a gatewayresponse.header.X target: ignored",
    ]
    assert len(gateway_response_warnings(definition)) == 3  # without a stage, stage variables are not checked
    assert gateway_response_warnings(rest_definition(definition.gateway_responses, "HTTP")) == []


def test_request_values_are_absent_without_a_request() -> None:
    gateway = responses(
        {
            "UNAUTHORIZED": {
                "responseParameters": {
                    "gatewayresponse.header.X-Header": "method.request.header.X-Client",
                    "gatewayresponse.header.X-Request-Id": "context.requestId",
                    "gatewayresponse.header.X-Type": "context.error.responseType",
                }
            }
        }
    )
    assert headers_of(gateway.render("UNAUTHORIZED"))["X-Type"] == "UNAUTHORIZED"
    assert "X-Header" not in headers_of(gateway.render("UNAUTHORIZED"))


def test_mapped_headers_replace_the_built_in_ones() -> None:
    gateway = responses(
        {
            "DEFAULT_4XX": {
                "responseParameters": {
                    "gatewayresponse.header.Content-Type": "'application/problem+json'",
                    "gatewayresponse.header.x-amzn-ErrorType": "'Custom'",
                }
            }
        }
    )
    assert gateway.render("THROTTLED", request=make_request()).headers == [
        ("Content-Type", "application/problem+json"),
        ("x-amzn-ErrorType", "Custom"),
    ]


def test_static_customisation_is_cached_and_dynamic_one_is_not() -> None:
    gateway = responses(
        {
            "THROTTLED": {"responseParameters": {"gatewayresponse.header.X-Static": "stageVariables.team"}},
            "UNAUTHORIZED": {"responseParameters": {"gatewayresponse.header.X-Id": "context.requestId"}},
        }
    )
    assert gateway.render("THROTTLED", request=make_request()) is gateway.render("THROTTLED", request=make_request())
    assert gateway.render("UNAUTHORIZED", request=make_request()) is not gateway.render(
        "UNAUTHORIZED", request=make_request()
    )


# -- responseTemplates -------------------------------------------------------------------------------------------

TEMPLATES = {
    "application/json": '{"message":$context.error.messageString}',
    "application/xml": "<error>$context.error.message</error>",
    "text/plain": "$context.error.message",
}


@pytest.mark.parametrize(
    ("accept", "content_type", "body"),
    [
        (None, "application/json", b'{"message":"Unauthorized"}'),
        ("application/xml", "application/xml", b"<error>Unauthorized</error>"),
        ("Text/Plain; q=0.9, application/xml", "text/plain", b"Unauthorized"),  # the first media type only
        ("application/xml;charset=utf-8", "application/xml", b"<error>Unauthorized</error>"),
        ("text/html", "application/json", b'{"message":"Unauthorized"}'),
        ("*/*", "application/json", b'{"message":"Unauthorized"}'),
    ],
)
def test_template_selection_by_accept(accept: str | None, content_type: str, body: bytes) -> None:
    gateway = responses({"UNAUTHORIZED": {"responseTemplates": TEMPLATES}})
    request = make_request(headers=[("accept", accept)] if accept else [])
    rendered = gateway.render("UNAUTHORIZED", request=request)
    assert (headers_of(rendered)["content-type"], rendered.body) == (content_type, body)


def test_without_json_template_the_first_one_is_used() -> None:
    gateway = responses({"UNAUTHORIZED": {"responseTemplates": {"text/html": "<p>$context.error.message</p>"}}})
    rendered = gateway.render("UNAUTHORIZED", request=make_request(headers=[("accept", "application/json")]))
    assert (headers_of(rendered)["content-type"], rendered.body) == ("text/html", b"<p>Unauthorized</p>")


def test_no_templates_means_the_default_template() -> None:
    gateway = responses({"UNAUTHORIZED": {"statusCode": 401, "responseTemplates": {}}})
    assert gateway.render("UNAUTHORIZED", request=make_request()).body == b'{"message":"Unauthorized"}'


def render_template(text: str, request: Request | None = None, message: str | None = 'Boom "quoted"') -> str:
    from fastgw.responses import _Error

    return Template(text, STAGE_VARIABLES).render(request or make_request(), _Error("UNAUTHORIZED", message)).decode()


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{"message":$context.error.messageString}', '{"message":"Boom \\"quoted\\""}'),
        ("$context.error.message", 'Boom "quoted"'),
        ('"$context.error.responseType"', '"UNAUTHORIZED"'),
        ("id=$context.requestId.", "id=req-1."),
        ("${context.requestId}x", "req-1x"),
        ("$!context.requestId", "req-1"),
        ("$!{context.stage}", "prod"),
        ("$context.identity.sourceIp", "203.0.113.9"),
        ("$stageVariables.team/${stageVariables.origin}", "pets/https://app.example"),
        ("[$stageVariables.unset]", "[]"),
        ("[$context.unknown]", "[]"),
        ("$input.params().header.get('X-Client')", "c"),
        ('$input.params().header.get("x-client")', "c"),
        ("$input.params().header.X-Client", "c"),
        ("$input.params().querystring.get('q')", "2"),
        ("$input.params().path.get('petId')", "7"),
        ("$input.params('petId')|$input.params('q')|$input.params('x-client')|$input.params('none')", "7|2|c|"),
        ("'488' costs $5 and $input.body stays", "'488' costs $5 and $input.body stays"),
    ],
)
def test_template_substitution(template: str, expected: str) -> None:
    request = make_request(query="q=1&q=2", headers=[("x-client", "c")], params={"petId": "7"})
    assert render_template(template, request) == expected


def test_template_without_variables_is_static() -> None:
    assert Template('{"message":"static $stageVariables.team"}', STAGE_VARIABLES).static
    assert Template(DEFAULT_TEMPLATE + "$context.error.responseType", STAGE_VARIABLES).static  # fixed per message
    assert not Template("$context.requestId", STAGE_VARIABLES).static


def test_message_string_of_a_null_message() -> None:
    assert render_template("$context.error.messageString|$context.error.message|", message=None) == "null||"


def test_status_code_as_string_or_int() -> None:
    for status in ("488", 488):
        gateway = responses({"UNAUTHORIZED": {"statusCode": status}})
        assert gateway.render("UNAUTHORIZED", request=make_request()).status == 488
