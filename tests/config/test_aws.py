"""The x-amazon-apigateway-* extensions: integrations field by field, root settings, unknown extensions."""

from __future__ import annotations

import textwrap

import pytest

from fastgw.config.aws import is_http_url
from fastgw.config.model import ApiDefinition, Integration, IntegrationResponse
from fastgw.config.openapi import parse_definition
from fastgw.errors import DefinitionError

REFS = "#/components/x-amazon-apigateway-integrations/"
REST = 'swagger: "2.0"\ninfo: {title: t, version: "1"}\n'
HTTP = 'openapi: 3.0.1\ninfo: {title: t, version: "1"}\nx-amazon-apigateway-importexport-version: "1.0"\n'
WHERE = "api.yaml#/paths/~1p/get/x-amazon-apigateway-integration"


def parse(text: str) -> ApiDefinition:
    return parse_definition(text, "api.yaml")


def with_integration(fields: str, head: str = REST) -> str:
    body = textwrap.indent(textwrap.dedent(fields).strip(), " " * 8)
    return head + f"paths:\n  /p:\n    get:\n      x-amazon-apigateway-integration:\n{body}\n"


def load(fields: str, head: str = REST) -> tuple[Integration | None, list[str]]:
    api = parse(with_integration(fields, head))
    return api.routes[0].integration, [str(w) for w in api.warnings]


def loaded(fields: str, head: str = REST) -> Integration:
    integration, warnings = load(fields, head)
    assert integration is not None and warnings == []
    return integration


def errors(fields: str, head: str = REST) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        parse(with_integration(fields, head))
    return [str(p) for p in caught.value.problems]


# --- type ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("written", "stored"), [("http_proxy", "HTTP_PROXY"), ("Http", "HTTP"), ("MOCK", "MOCK")])
def test_type_is_case_insensitive_and_stored_uppercase(written: str, stored: str) -> None:
    assert loaded(f"{{type: {written}, httpMethod: GET, uri: 'http://127.0.0.1:9/'}}").type == stored


def test_type_errors() -> None:
    assert errors("{uri: 'http://x/'}") == [
        f"{WHERE}/type: integration type is missing (one of aws, aws_proxy, http, http_proxy, mock)"
    ]
    assert errors("{type: 7}") == [f"{WHERE}/type: type must be a string, got an integer"]
    assert errors("[mock]") == [f"{WHERE}: x-amazon-apigateway-integration must be a mapping, got a list"]


@pytest.mark.parametrize("kind", ["aws", "AWS_PROXY"])
def test_aws_types_are_not_supported_yet(kind: str) -> None:
    integration, warnings = load(f"{{type: {kind}, httpMethod: POST, uri: 'arn:aws:apigateway:x'}}")
    assert integration is None
    assert warnings == [f"{WHERE}/type: integration type {kind.upper()} is not supported yet: the route answers 500"]


def test_vpc_link_is_not_supported_yet() -> None:
    integration, warnings = load("{type: http_proxy, httpMethod: GET, uri: 'http://nlb', connectionType: vpc_link}")
    assert integration is None
    assert warnings == [
        f"{WHERE}/connectionType: connectionType VPC_LINK (private integration) is not supported yet: the route "
        "answers 500"
    ]
    assert errors("{type: mock, connectionType: PRIVATE}") == [
        f"{WHERE}/connectionType: connectionType 'PRIVATE' is not one of INTERNET, VPC_LINK"
    ]


@pytest.mark.parametrize("kind", ["http", "mock"])
def test_http_apis_only_have_proxy_integrations(kind: str) -> None:
    integration, warnings = load(f"{{type: {kind}, httpMethod: GET, uri: 'http://127.0.0.1:9/'}}", HTTP)
    assert integration is None
    assert warnings == [
        f"{WHERE}/type: HTTP APIs support only proxy integrations (HTTP_PROXY, AWS_PROXY), not {kind.upper()}: "
        "the route answers 500"
    ]


# --- uri and httpMethod -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "ok"),
    [
        ("http://127.0.0.1:9/pets", True),
        ("HTTPS://example.com", True),
        ("http://${stageVariables.host}/pets/{id}", True),
        ("http://127.0.0.1:${stageVariables.backendPort}/pets", True),
        ("${stageVariables.url}", True),
        ("${stageVariables.url}/pets", True),
        ("/pets", False),
        ("ftp://example.com/x", False),
        ("http://", False),
        ("http:///pets", False),
        ("example.com/pets", False),
        ("http://[::1/x", False),
        ("", False),
        # Only what comes before the first "/" after "//" is parsed (and remembered): the host ends there or earlier.
        ("http://example.com?q=/x", True),
        ("http://?q=/x", False),
        ("http://@/x", False),
        ("http:/x//y/z", False),
        ("http:/\t/example.com/pets", True),  # urlsplit drops the tab: the uri is parsed whole
        ("http:/\n/example.com/pets", True),
    ],
)
def test_is_http_url(uri: str, ok: bool) -> None:
    assert is_http_url(uri) is ok


def test_uri_errors_point_at_the_uri() -> None:
    assert errors("{type: http, httpMethod: GET, uri: '/pets'}") == [
        f"{WHERE}/uri: uri '/pets' is not an absolute http:// or https:// URL"
    ]
    assert errors("{type: http_proxy, httpMethod: GET}") == [
        f"{WHERE}/uri: HTTP_PROXY integration needs a uri (an absolute http:// or https:// URL)"
    ]
    assert errors("{type: http_proxy, httpMethod: GET, uri: [x]}") == [f"{WHERE}/uri: uri must be a string, got a list"]


def test_mock_needs_no_uri_or_method() -> None:
    mock = loaded("{type: mock}")
    assert (mock.uri, mock.http_method) == ("", "ANY")


def test_http_method() -> None:
    assert loaded("{type: http, httpMethod: get, uri: 'http://x/'}").http_method == "GET"
    integration, warnings = load("{type: http_proxy, uri: 'http://x/'}")
    assert integration is not None and integration.http_method == "ANY"
    assert warnings == [
        f"{WHERE}/httpMethod: HTTP_PROXY integration has no httpMethod: ANY (the client's method) is used"
    ]
    assert errors("{type: http, httpMethod: FETCH, uri: 'http://x/'}") == [
        f"{WHERE}/httpMethod: httpMethod 'FETCH' is not one of DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT, ANY"
    ]


# --- other fields ---------------------------------------------------------------------------------------


def test_defaults() -> None:
    rest = loaded("{type: http_proxy, httpMethod: ANY, uri: 'http://x/'}")
    assert (rest.passthrough_behavior, rest.timeout_ms, rest.payload_format_version) == ("WHEN_NO_MATCH", 29000, None)
    assert (rest.request_parameters, rest.request_templates, rest.responses, rest.response_parameters) == (
        {},
        {},
        (),
        {},
    )
    assert (rest.content_handling, rest.cache_namespace, rest.cache_key_parameters) == (None, None, ())
    assert rest.tls_insecure_skip_verification is False
    assert loaded("{type: http_proxy, httpMethod: ANY, uri: 'http://x/'}", HTTP).timeout_ms == 30000


@pytest.mark.parametrize(("written", "stored"), [("when_no_templates", "WHEN_NO_TEMPLATES"), ("Never", "NEVER")])
def test_passthrough_behavior(written: str, stored: str) -> None:
    assert loaded(f"{{type: mock, passthroughBehavior: {written}}}").passthrough_behavior == stored


def test_passthrough_behavior_error() -> None:
    assert errors("{type: mock, passthroughBehavior: always}") == [
        f"{WHERE}/passthroughBehavior: passthroughBehavior 'always' is not one of WHEN_NO_MATCH, WHEN_NO_TEMPLATES, "
        "NEVER"
    ]


def test_timeouts() -> None:
    assert loaded("{type: mock, timeoutInMillis: 50}").timeout_ms == 50
    integration, warnings = load("{type: mock, timeoutInMillis: 120000}")
    assert integration is not None and integration.timeout_ms == 120000
    assert warnings == [
        f"{WHERE}/timeoutInMillis: timeoutInMillis 120000 is above AWS's default REST maximum of 29000: kept"
    ]
    proxy = "{type: http_proxy, httpMethod: ANY, uri: 'http://x/', timeoutInMillis: %s}"
    assert loaded(proxy % 30000, HTTP).timeout_ms == 30000
    assert errors(proxy % 30001, HTTP) == [
        f"{WHERE}/timeoutInMillis: timeoutInMillis 30001 is above the HTTP API maximum of 30000"
    ]
    assert errors(proxy % 49, HTTP) == [f"{WHERE}/timeoutInMillis: timeoutInMillis 49 is below the minimum of 50"]
    assert errors("{type: mock, timeoutInMillis: 1.5}") == [
        f"{WHERE}/timeoutInMillis: timeoutInMillis must be an integer, got a number"
    ]
    assert errors("{type: mock, timeoutInMillis: true}") == [
        f"{WHERE}/timeoutInMillis: timeoutInMillis must be an integer, got a boolean"
    ]


def test_request_parameters_and_templates() -> None:
    integration = loaded(
        """
        type: mock
        requestParameters: {integration.request.header.x: "'static'"}
        requestTemplates:
          application/json: '{"statusCode": 200}'
          text/plain:
        """
    )
    assert integration.request_parameters == {"integration.request.header.x": "'static'"}
    assert integration.request_templates == {"application/json": '{"statusCode": 200}', "text/plain": ""}
    assert errors("{type: mock, requestParameters: {integration.request.header.x: 5}}") == [
        f"{WHERE}/requestParameters/integration.request.header.x: requestParameters values must be strings, "
        "got an integer"
    ]
    assert errors("{type: mock, requestTemplates: [x]}") == [
        f"{WHERE}/requestTemplates: requestTemplates must be a mapping, got a list"
    ]


def test_integration_responses() -> None:
    integration = loaded(
        r"""
        type: mock
        responses:
          200: {statusCode: 200}
          "5\\d{2}":
            statusCode: "503"
            responseParameters: {method.response.header.Retry-After: "'5'"}
            responseTemplates: {application/json: '{"message": "later"}', text/plain: }
            contentHandling: convert_to_text
          default: {statusCode: "200"}
        """
    )
    assert integration.responses == (
        IntegrationResponse("200", 200),
        IntegrationResponse(
            r"5\d{2}",
            503,
            {"method.response.header.Retry-After": "'5'"},
            {"application/json": '{"message": "later"}', "text/plain": ""},
            "CONVERT_TO_TEXT",
        ),
        IntegrationResponse("default", 200),
    )


@pytest.mark.parametrize(
    ("responses", "problem"),
    [
        ("{default: {}}", "/responses/default/statusCode: statusCode is missing"),
        (
            "{default: {statusCode: 20}}",
            "/responses/default/statusCode: status code 20 is not a 3-digit HTTP status code",
        ),
        (
            "{default: {statusCode: '600'}}",
            "/responses/default/statusCode: status code '600' is not a 3-digit HTTP status code",
        ),
        (
            "{default: {statusCode: '2xx'}}",
            "/responses/default/statusCode: status code '2xx' is not a 3-digit HTTP status code",
        ),
        (
            "{'(': {statusCode: 200}}",
            "/responses/(: selection pattern '(' is not a valid regular expression: "
            "missing ), unterminated subpattern at position 0",
        ),
        (
            "{'a{4294967296}': {statusCode: 200}}",
            "/responses/a{4294967296}: selection pattern 'a{4294967296}' is not "
            "a valid regular expression: the repetition number is too large",
        ),
        ("{default: 200}", "/responses/default: an integration response must be a mapping, got an integer"),
        ("[200]", "/responses: responses must be a mapping, got a list"),
        (
            "{default: {statusCode: 200, contentHandling: gzip}}",
            "/responses/default/contentHandling: contentHandling "
            "'gzip' is not one of CONVERT_TO_TEXT, CONVERT_TO_BINARY",
        ),
    ],
)
def test_integration_response_errors(responses: str, problem: str) -> None:
    assert errors(f"{{type: mock, responses: {responses}}}") == [WHERE + problem]


def test_http_api_response_parameters_and_payload_format() -> None:
    fields = "{type: http_proxy, httpMethod: ANY, uri: 'http://x/', payloadFormatVersion: %s, responseParameters: %s}"
    integration = loaded(fields % ("1.0", "{500: {overwrite:statuscode: '503'}}"), HTTP)
    assert integration.response_parameters == {"500": {"overwrite:statuscode": "503"}}
    assert integration.payload_format_version == "1.0"
    assert errors(fields % ("'1.0'", "{5xx: {}}"), HTTP) == [
        f"{WHERE}/responseParameters/5xx: status code '5xx' is not a 3-digit HTTP status code"
    ]
    assert errors(fields % ("'2.0'", "{}"), HTTP) == [
        f"{WHERE}/payloadFormatVersion: payloadFormatVersion 2.0 is for Lambda integrations: HTTP_PROXY "
        "integrations use 1.0"
    ]
    assert errors(fields % ("'3.0'", "{}"), HTTP) == [
        f"{WHERE}/payloadFormatVersion: payloadFormatVersion '3.0' is not 1.0 or 2.0"
    ]


def test_cache_content_handling_tls() -> None:
    integration = loaded(
        """
        type: http
        httpMethod: GET
        uri: 'https://x/'
        cacheNamespace: ns
        cacheKeyParameters: [method.request.querystring.a]
        contentHandling: CONVERT_TO_BINARY
        tlsConfig: {insecureSkipVerification: true}
        """
    )
    assert integration.cache_namespace == "ns"
    assert integration.cache_key_parameters == ("method.request.querystring.a",)
    assert integration.content_handling == "CONVERT_TO_BINARY"
    assert integration.tls_insecure_skip_verification is True
    assert errors("{type: mock, cacheKeyParameters: a, tlsConfig: {insecureSkipVerification: 'yes'}}") == [
        f"{WHERE}/cacheKeyParameters: cacheKeyParameters must be a list, got a string",
        f"{WHERE}/tlsConfig/insecureSkipVerification: insecureSkipVerification must be true or false, got a string",
    ]


def test_response_streaming_is_buffered() -> None:
    integration, warnings = load("{type: http_proxy, httpMethod: GET, uri: 'http://x/', responseTransferMode: STREAM}")
    assert integration is not None
    assert warnings == [
        f"{WHERE}/responseTransferMode: response streaming is not supported yet: responses are buffered"
    ]


def with_ref(name: str) -> str:
    return f"paths: {{/p: {{get: {{x-amazon-apigateway-integration: {{$ref: '{REFS}{name}'}}}}}}}}\n"


def test_integration_ref_in_rest_api_and_missing_component() -> None:
    head = "openapi: 3.0.1\ncomponents:\n  x-amazon-apigateway-integrations:\n    m: {type: mock}\n"
    api = parse(head + with_ref("m"))
    assert api.routes[0].integration is not None
    assert api.routes[0].integration.place.pointer == "/components/x-amazon-apigateway-integrations/m"
    with pytest.raises(DefinitionError) as caught:
        parse(head + with_ref("n"))
    assert [str(p) for p in caught.value.problems] == [f"{WHERE}/$ref: $ref '{REFS}n' does not resolve"]


def test_shared_integration_problems_are_reported_once() -> None:
    text = (
        HTTP
        + "components:\n  x-amazon-apigateway-integrations:\n    bad: {type: http_proxy, httpMethod: GET, uri: nope}\n"
        + "paths:\n"
        + "".join(f"  /{p}: {{get: {{x-amazon-apigateway-integration: {{$ref: '{REFS}bad'}}}}}}\n" for p in "ab")
    )
    with pytest.raises(DefinitionError) as caught:
        parse(text)
    assert [str(p) for p in caught.value.problems] == [
        "api.yaml#/components/x-amazon-apigateway-integrations/bad/uri: uri 'nope' is not an absolute http:// or "
        "https:// URL"
    ]


# --- root settings and unknown extensions ---------------------------------------------------------------


def test_rest_only_extensions_in_an_http_api() -> None:
    api = parse(
        HTTP
        + """\
x-amazon-apigateway-binary-media-types: [image/png]
x-amazon-apigateway-minimum-compression-size: 10
x-amazon-apigateway-api-key-source: AUTHORIZER
x-amazon-apigateway-gateway-responses: {}
x-amazon-apigateway-request-validators: {v: {validateRequestBody: true}}
x-amazon-apigateway-request-validator: v
paths:
  /p:
    get:
      x-amazon-apigateway-request-validator: v
      x-amazon-apigateway-integration: {type: http_proxy, httpMethod: GET, uri: 'http://x/'}
"""
    )
    assert (api.binary_media_types, api.minimum_compression_size, api.api_key_source) == ((), None, "HEADER")
    assert (api.gateway_responses, api.request_validators, api.default_request_validator) == ({}, {}, None)
    assert api.routes[0].request_validator is None
    assert [str(w) for w in api.warnings] == [
        f"api.yaml#/{key}: {key} applies to REST APIs only: ignored"
        for key in [
            "x-amazon-apigateway-binary-media-types",
            "x-amazon-apigateway-minimum-compression-size",
            "x-amazon-apigateway-api-key-source",
            "x-amazon-apigateway-gateway-responses",
            "x-amazon-apigateway-request-validators",
            "x-amazon-apigateway-request-validator",
        ]
    ] + [
        "api.yaml#/paths/~1p/get/x-amazon-apigateway-request-validator: x-amazon-apigateway-request-validator applies "
        "to REST APIs only: ignored"
    ]


def test_cors_in_a_rest_api() -> None:
    api = parse(REST + "x-amazon-apigateway-cors: {allowOrigins: ['*']}\npaths: {}\n")
    assert api.cors is None
    assert [str(w) for w in api.warnings] == [
        "api.yaml#/x-amazon-apigateway-cors: x-amazon-apigateway-cors applies to HTTP APIs only: ignored"
    ]


def test_root_settings() -> None:
    api = parse(
        REST
        + """\
x-amazon-apigateway-api-key-source: authorizer
x-amazon-apigateway-minimum-compression-size: 0
x-amazon-apigateway-documentation: {version: "1"}
paths: {}
"""
    )
    assert (api.api_key_source, api.minimum_compression_size, api.warnings) == ("AUTHORIZER", 0, ())


@pytest.mark.parametrize(
    ("root", "problem"),
    [
        (
            "x-amazon-apigateway-minimum-compression-size: 10485761",
            "/x-amazon-apigateway-minimum-compression-size: 10485761 is outside 0..10485760",
        ),
        (
            "x-amazon-apigateway-api-key-source: COOKIE",
            "/x-amazon-apigateway-api-key-source: "
            "x-amazon-apigateway-api-key-source 'COOKIE' is not one of HEADER, AUTHORIZER",
        ),
        (
            "x-amazon-apigateway-binary-media-types: image/png",
            "/x-amazon-apigateway-binary-media-types: "
            "x-amazon-apigateway-binary-media-types must be a list, got a string",
        ),
        (
            "x-amazon-apigateway-request-validator: nope",
            "/x-amazon-apigateway-request-validator: request validator "
            "'nope' is not defined in x-amazon-apigateway-request-validators",
        ),
        (
            "x-amazon-apigateway-request-validators: {v: {validateRequestBody: 1}}",
            "/x-amazon-apigateway-request-validators/v/validateRequestBody: validateRequestBody must be true or false, "
            "got an integer",
        ),
        (
            "x-amazon-apigateway-gateway-responses: {NOT_A_TYPE: {}}",
            "/x-amazon-apigateway-gateway-responses/NOT_A_TYPE: 'NOT_A_TYPE' is not a gateway response type",
        ),
        (
            "x-amazon-apigateway-gateway-responses: {THROTTLED: {statusCode: 4290}}",
            "/x-amazon-apigateway-gateway-responses/THROTTLED/statusCode: status code 4290 is not a 3-digit HTTP "
            "status code",
        ),
        (
            "x-amazon-apigateway-cors: [x]\nx-amazon-apigateway-importexport-version: '1.0'",
            "/x-amazon-apigateway-cors: x-amazon-apigateway-cors must be a mapping, got a list",
        ),
    ],
)
def test_root_setting_errors(root: str, problem: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        parse("openapi: 3.0.1\n" + root + "\npaths: {}\n")
    assert [str(p) for p in caught.value.problems] == ["api.yaml#" + problem]


def test_operation_validator_must_exist() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse(
            REST
            + "paths: {/p: {get: {x-amazon-apigateway-request-validator: v,\n"
            + "  x-amazon-apigateway-integration: {type: mock}}}}\n"
        )
    assert [str(p) for p in caught.value.problems] == [
        "api.yaml#/paths/~1p/get/x-amazon-apigateway-request-validator: request validator 'v' is not defined in "
        "x-amazon-apigateway-request-validators"
    ]


def test_misplaced_and_unknown_extensions() -> None:
    api = parse(
        """\
openapi: 3.0.1
servers:
- url: https://x.example.com
  x-amazon-apigateway-endpoint-configuration: {vpcEndpointIds: [vpce-1]}
components:
  x-amazon-apigateway-integration: {type: mock}
x-amazon-apigateway-any-method: {}
x-amazon-apigateway-endpoint-access-mode: STRICT
x-amazon-apigateway-security-policy: SecurityPolicy_TLS13_1_3_2025_09
x-amazon-apigateway-tag-value: x
paths:
  /p:
    x-amazon-apigateway-integration: {type: mock}
    get:
      x-amazon-apigateway-any-method: {}
      x-amazon-apigateway-integration: {type: mock}
"""
    )
    assert [str(w) for w in api.warnings] == [
        "api.yaml#/x-amazon-apigateway-any-method: x-amazon-apigateway-any-method belongs on a path item, not here: "
        "ignored",
        "api.yaml#/x-amazon-apigateway-endpoint-access-mode: x-amazon-apigateway-endpoint-access-mode: endpoint access "
        "modes are not implemented yet: ignored",
        "api.yaml#/x-amazon-apigateway-security-policy: x-amazon-apigateway-security-policy: TLS security policies are "
        "not implemented yet: ignored",
        "api.yaml#/x-amazon-apigateway-tag-value: x-amazon-apigateway-tag-value belongs on a tag, not here: ignored",
        "api.yaml#/components/x-amazon-apigateway-integration: x-amazon-apigateway-integration belongs on an "
        "operation, not here: ignored",
        "api.yaml#/servers/0/x-amazon-apigateway-endpoint-configuration: x-amazon-apigateway-endpoint-configuration: "
        "endpoint configuration is not implemented yet: ignored",
        "api.yaml#/paths/~1p/x-amazon-apigateway-integration: x-amazon-apigateway-integration belongs on an "
        "operation, not here: ignored",
        "api.yaml#/paths/~1p/get/x-amazon-apigateway-any-method: x-amazon-apigateway-any-method belongs on a path "
        "item, not here: ignored",
    ]
