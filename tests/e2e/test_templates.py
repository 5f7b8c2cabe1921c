"""REST mapping templates through a real gateway (reference §4.4, §5.3, §3.2).

One Swagger 2.0 definition, as AWS exports a REST API: mocks whose Velocity request template picks the status
and whose response templates read ``$input.params``, ``$context`` and ``$stageVariables``; an ``http``
integration whose request template builds the backend body (``$input.json``, ``$util.escapeJavaScript``,
``$context.requestOverride``) and whose response template reshapes the backend's JSON (``$input.path('$')``);
``$context.responseOverride``; every ``passthroughBehavior``; a binary body read by a template as base64.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import GatewayFactory, Process

BACKEND = "http://127.0.0.1:${stageVariables.backendPort}"
OK = {"200": {"description": "200 response"}}

MOCK_STATUS_FROM_QUERY = """#if($input.params('status') == "404")
{"statusCode": 404}
#else
{"statusCode": 200}
#end"""

MOCK_ECHO = """{
  "id": "$input.params('id')",
  "q": "$input.params('q')",
  "agent": "$input.params('User-Agent')",
  "requestId": "$context.requestId",
  "method": "$context.httpMethod",
  "resource": "$context.resourcePath",
  "flavour": "$stageVariables.flavour"
}"""

REQUEST_TEMPLATE = """#set($name = $input.path('$.name'))
#set($context.requestOverride.header.X-From-Template = "yes")
#set($context.requestOverride.querystring.page = "2")
{"name": $input.json('$.name'), "escaped": "$util.escapeJavaScript($name)", "id": "$input.params('id')"}"""

RESPONSE_TEMPLATE = """#set($r = $input.path('$'))
{"method": "$r.method", "path": "$r.path", "query": "$r.query", "sha": "$r.body_sha256", "length": $r.body_length,
 "headers": $input.json('$.headers')}"""


def mock(request_template: str, responses: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "type": "mock",
        "requestTemplates": {"application/json": request_template},
        "responses": responses,
        "passthroughBehavior": "when_no_match",
        **fields,
    }


def http(uri: str, method: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "httpMethod": method,
        "uri": uri,
        "passthroughBehavior": "when_no_match",
        "responses": {"default": {"statusCode": "200"}},
        **fields,
    }


def passthrough_route(behavior: str, templates: dict[str, str]) -> dict[str, Any]:
    return {
        "post": {
            "responses": OK,
            "x-amazon-apigateway-integration": http(
                BACKEND + "/echo", "POST", passthroughBehavior=behavior, requestTemplates=templates
            ),
        }
    }


API: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "templates", "version": "2024-05-02T09:20:11Z"},
    "host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
    "basePath": "/prod",
    "schemes": ["https"],
    "x-amazon-apigateway-binary-media-types": ["application/octet-stream"],
    "paths": {
        "/pets/{id}": {
            "get": {
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "type": "string"},
                    {"name": "status", "in": "query", "required": False, "type": "string"},
                ],
                "responses": {"200": {"description": "200 response"}, "404": {"description": "404 response"}},
                "x-amazon-apigateway-integration": mock(
                    MOCK_STATUS_FROM_QUERY,
                    {
                        "404": {
                            "statusCode": "404",
                            "responseTemplates": {"application/json": '{"message": "no pet $input.params(\'id\')"}'},
                        },
                        "default": {"statusCode": "200", "responseTemplates": {"application/json": MOCK_ECHO}},
                    },
                ),
            },
            "post": {
                "consumes": ["application/json"],
                "parameters": [{"name": "id", "in": "path", "required": True, "type": "string"}],
                "responses": OK,
                "x-amazon-apigateway-integration": http(
                    BACKEND + "/backend/pets",
                    "PUT",
                    requestTemplates={"application/json": REQUEST_TEMPLATE},
                    responses={
                        "default": {"statusCode": "200", "responseTemplates": {"application/json": RESPONSE_TEMPLATE}}
                    },
                ),
            },
        },
        "/override": {
            "get": {
                "responses": {"200": {"description": "200 response"}},
                "x-amazon-apigateway-integration": mock(
                    '{"statusCode": 200}',
                    {
                        "default": {
                            "statusCode": "200",
                            "responseTemplates": {
                                "application/json": "#set($context.responseOverride.status = 444)"
                                '#set($context.responseOverride.header.X-Over = "yes")'
                                '{"overridden": true}'
                            },
                        }
                    },
                ),
            }
        },
        "/http-override": {
            "get": {
                "responses": OK,
                "x-amazon-apigateway-integration": http(
                    BACKEND + "/status/201",
                    "GET",
                    responses={
                        "201": {
                            "statusCode": "200",
                            "responseTemplates": {
                                "application/json": "#set($context.responseOverride.status = 418)"
                                "{\"backend\": $input.json('$.method')}"
                            },
                        }
                    },
                ),
            }
        },
        "/never": passthrough_route("never", {"application/json": '{"templated": true}'}),
        "/no-templates": passthrough_route("when_no_templates", {"application/json": '{"templated": true}'}),
        "/no-templates-none": passthrough_route("when_no_templates", {}),
        "/no-match": passthrough_route("when_no_match", {"application/json": '{"templated": true}'}),
        "/default-template": passthrough_route("never", {"$default": '{"from": "default"}'}),
        "/binary": passthrough_route("never", {"application/octet-stream": '{"b64": "$input.body"}'}),
        "/binary-out": {
            "get": {
                "responses": OK,
                "x-amazon-apigateway-integration": http(
                    BACKEND + "/bytes/64",
                    "GET",
                    responses={
                        "default": {
                            "statusCode": "200",
                            "responseTemplates": {"application/json": '{"b64": "$input.body"}'},
                        }
                    },
                ),
            }
        },
        "/binary-raw": {
            "get": {"responses": OK, "x-amazon-apigateway-integration": http(BACKEND + "/sized/300000", "GET")}
        },
        "/binary-as-text": {
            "get": {
                "responses": OK,
                "x-amazon-apigateway-integration": http(
                    BACKEND + "/sized/300",
                    "GET",
                    responses={"default": {"statusCode": "200", "contentHandling": "CONVERT_TO_TEXT"}},
                ),
            }
        },
    },
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, backend: Process) -> Iterator[Process]:
    factory = GatewayFactory(tmp_path_factory.mktemp("templates"))
    try:
        yield factory.start(API, stage_variables={"backendPort": str(backend.port), "flavour": "vanilla"})
    finally:
        factory.stop_all()


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


# -- MOCK ------------------------------------------------------------------------------------------


def test_mock_request_template_picks_the_status_from_a_query_parameter(gateway: Process) -> None:
    reply = gateway.call("GET", "/pets/7?status=404")
    assert (reply.status, reply.json()) == (404, {"message": "no pet 7"})
    assert reply.header("Content-Type") == "application/json"


def test_mock_response_template_reads_params_context_and_stage_variables(gateway: Process) -> None:
    reply = gateway.call("GET", "/pets/7?q=cats&q=dogs", headers={"User-Agent": "tester/1"})
    assert reply.status == 200
    assert reply.json() == {
        "id": "7",
        "q": "dogs",  # the last of repeated values, as AWS
        "agent": "tester/1",
        "requestId": reply.header("x-amzn-RequestId"),
        "method": "GET",
        "resource": "/pets/{id}",
        "flavour": "vanilla",
    }


def test_response_override_status_and_header(gateway: Process) -> None:
    # LocalStack's AWS-validated case: a mock whose response template sets responseOverride.status = 444.
    reply = gateway.call("GET", "/override")
    assert (reply.status, reply.json()) == (444, {"overridden": True})
    assert reply.header("X-Over") == "yes"


# -- HTTP ------------------------------------------------------------------------------------------


def test_http_request_and_response_templates(gateway: Process) -> None:
    sent = json.dumps({"name": "O\"Brien/it's", "other": 1}).encode()
    reply = gateway.call("POST", "/pets/42", body=sent, headers={"Content-Type": "application/json"})
    assert reply.status == 200
    assert reply.header("Content-Type") == "application/json"
    shaped = reply.json()
    # What the request template renders: $input.json keeps JSON's escapes, escapeJavaScript adds \' and \/.
    expected_body = b'{"name": "O\\"Brien/it\'s", "escaped": "O\\"Brien\\/it\\\'s", "id": "42"}'
    assert (shaped["method"], shaped["path"]) == ("PUT", "/backend/pets")
    assert shaped["query"] == "page=2"  # $context.requestOverride.querystring
    assert (shaped["sha"], shaped["length"]) == (sha(expected_body), len(expected_body))
    headers = {name.lower(): value for name, value in shaped["headers"]}
    assert headers["x-from-template"] == "yes"  # $context.requestOverride.header
    assert headers["content-type"] == "application/json"


def test_http_response_override_status(gateway: Process) -> None:
    reply = gateway.call("GET", "/http-override")
    assert (reply.status, reply.json()) == (418, {"backend": "GET"})


# -- passthroughBehavior ---------------------------------------------------------------------------

BODY = b"plain text body"


def unsupported(reply: Any) -> bool:
    return bool(reply.status == 415 and reply.json() == {"message": "Unsupported Media Type"})


def test_never_refuses_an_unmatched_content_type(gateway: Process) -> None:
    reply = gateway.call("POST", "/never", body=BODY, headers={"Content-Type": "text/plain"})
    assert unsupported(reply)
    matched = gateway.call("POST", "/never", body=BODY, headers={"Content-Type": "application/json"})
    assert matched.status == 200
    assert matched.json()["body_sha256"] == sha(b'{"templated": true}')


def test_never_uses_application_json_when_there_is_no_content_type(gateway: Process) -> None:
    reply = gateway.call("POST", "/never", body=BODY)
    assert reply.status == 200
    assert reply.json()["body_sha256"] == sha(b'{"templated": true}')


def test_when_no_templates_refuses_only_when_templates_exist(gateway: Process) -> None:
    assert unsupported(gateway.call("POST", "/no-templates", body=BODY, headers={"Content-Type": "text/plain"}))
    reply = gateway.call("POST", "/no-templates-none", body=BODY, headers={"Content-Type": "text/plain"})
    assert reply.status == 200
    assert reply.json()["body_sha256"] == sha(BODY)


def test_when_no_match_passes_the_body_through(gateway: Process) -> None:
    reply = gateway.call("POST", "/no-match", body=BODY, headers={"Content-Type": "text/plain"})
    assert reply.status == 200
    assert reply.json()["body_sha256"] == sha(BODY)


def test_default_template_catches_other_content_types(gateway: Process) -> None:
    reply = gateway.call("POST", "/default-template", body=BODY, headers={"Content-Type": "text/csv"})
    assert reply.status == 200
    assert reply.json()["body_sha256"] == sha(b'{"from": "default"}')


# -- binary media types ----------------------------------------------------------------------------


def test_binary_body_reaches_the_template_as_base64(gateway: Process) -> None:
    payload = bytes(range(256))
    reply = gateway.call("POST", "/binary", body=payload, headers={"Content-Type": "application/octet-stream"})
    assert reply.status == 200
    expected = b'{"b64": "' + base64.b64encode(payload) + b'"}'
    assert reply.json()["body_sha256"] == sha(expected)


PATTERN = bytes(range(256)) * 256  # what the backend's /bytes and /sized send


def test_binary_backend_body_reaches_the_response_template_as_base64(gateway: Process) -> None:
    reply = gateway.call("GET", "/binary-out")
    assert reply.status == 200
    assert reply.json() == {"b64": base64.b64encode(PATTERN[:64]).decode()}


def test_binary_backend_body_without_template(gateway: Process) -> None:
    # AWS's response table: a binary payload passes as binary when the first Accept type is binary,
    # else it is base64-encoded into text.
    raw = gateway.call("GET", "/binary-raw", headers={"Accept": "application/octet-stream"})
    assert raw.status == 200
    assert sha(raw.body) == sha((PATTERN * 5)[:300000])
    text = gateway.call("GET", "/binary-raw")
    assert text.body == base64.b64encode((PATTERN * 5)[:300000])


def test_convert_to_text_on_the_integration_response(gateway: Process) -> None:
    reply = gateway.call("GET", "/binary-as-text", headers={"Accept": "application/octet-stream"})
    assert reply.status == 200
    assert reply.body == base64.b64encode(PATTERN[:300])
