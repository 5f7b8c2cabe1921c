"""Loading definitions: the fixtures as AWS exports them, then each behaviour on small inline documents."""

from __future__ import annotations

import functools
import textwrap
from pathlib import Path

import pytest

from fastgw.config.model import ApiDefinition, Integration, IntegrationResponse, Route
from fastgw.config.openapi import load_definition, parse_definition
from fastgw.errors import DefinitionError, Place

FIXTURES = Path(__file__).parent.parent / "fixtures" / "apis"
BACKEND = "http://127.0.0.1:${stageVariables.backendPort}"


@functools.cache
def fixture(name: str) -> ApiDefinition:
    """A fixture definition, loaded once (an ApiDefinition is frozen)."""
    return load_definition(FIXTURES / name)


def parse(text: str, **kwargs: object) -> ApiDefinition:
    return parse_definition(textwrap.dedent(text), "api.yaml", **kwargs)  # type: ignore[arg-type]


def errors_of(text: str, **kwargs: object) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        parse(text, **kwargs)
    return [str(problem) for problem in caught.value.problems]


def warnings_of(definition: ApiDefinition) -> list[str]:
    return [str(problem) for problem in definition.warnings]


def route(definition: ApiDefinition, key: str) -> Route:
    (found,) = (r for r in definition.routes if r.route_key == key)
    return found


def integration(definition: ApiDefinition, key: str) -> Integration:
    found = route(definition, key).integration
    assert found is not None
    return found


SWAGGER = """\
    swagger: "2.0"
    info: {title: t, version: "1"}
"""
OAS3 = """\
    openapi: 3.0.1
    info: {title: t, version: "1"}
"""
HTTP_API = OAS3 + "    x-amazon-apigateway-importexport-version: '1.0'\n"
MOCK = "{type: mock, requestTemplates: {application/json: '{\"statusCode\": 200}'}}"


# --- fixtures ------------------------------------------------------------------------------------------


class TestPetstoreSwagger2:
    @pytest.fixture
    def api(self) -> ApiDefinition:
        return fixture("petstore-rest-swagger2.yaml")

    def test_header(self, api: ApiDefinition) -> None:
        assert (api.api_type, api.title, api.version) == ("REST", "PetStore", "2024-05-02T09:13:47Z")
        assert api.source == str(FIXTURES / "petstore-rest-swagger2.yaml")
        assert api.base_path == "/prod"
        assert api.warnings == ()

    def test_routes_in_document_order_with_basepath_ignored(self, api: ApiDefinition) -> None:
        assert [r.route_key for r in api.routes] == [
            "GET /",
            "GET /pets",
            "POST /pets",
            "OPTIONS /pets",
            "GET /pets/{petId}",
            "ANY /{proxy+}",
        ]
        assert [r.place.pointer for r in api.routes] == [
            "/paths/~1/get",
            "/paths/~1pets/get",
            "/paths/~1pets/post",
            "/paths/~1pets/options",
            "/paths/~1pets~1{petId}/get",
            "/paths/~1{proxy+}/x-amazon-apigateway-any-method",
        ]

    def test_mock_with_integration_responses(self, api: ApiDefinition) -> None:
        mock = integration(api, "GET /")
        assert mock.type == "MOCK"
        assert mock.request_templates == {"application/json": '{"statusCode": 200}'}
        assert mock.responses == (
            IntegrationResponse(
                selection_pattern="default",
                status_code=200,
                response_parameters={"method.response.header.Content-Type": "'text/html'"},
                response_templates={"text/html": "<html><body><h1>Welcome to your Pet Store API</h1></body></html>"},
            ),
        )
        assert mock.passthrough_behavior == "WHEN_NO_MATCH"
        assert integration(api, "OPTIONS /pets").passthrough_behavior == "WHEN_NO_TEMPLATES"

    def test_http_integration(self, api: ApiDefinition) -> None:
        pets = integration(api, "GET /pets")
        assert (pets.type, pets.http_method, pets.uri) == ("HTTP", "GET", f"{BACKEND}/petstore/pets")
        assert pets.request_parameters == {
            "integration.request.querystring.page": "method.request.querystring.page",
            "integration.request.querystring.type": "method.request.querystring.type",
        }
        assert pets.timeout_ms == 29000
        assert pets.place == Place(api.source, "/paths/~1pets/get/x-amazon-apigateway-integration")

    def test_integration_responses_in_document_order_with_int_status(self, api: ApiDefinition) -> None:
        responses = integration(api, "POST /pets").responses
        assert [(r.selection_pattern, r.status_code) for r in responses] == [("default", 200), (r"4\d{2}", 400)]
        assert responses[1].response_templates == {"application/json": '{"message": "bad pet"}'}
        assert integration(api, "POST /pets").timeout_ms == 10000

    def test_method_request_parameters(self, api: ApiDefinition) -> None:
        assert route(api, "GET /pets").request_parameters == {
            "method.request.querystring.type": False,
            "method.request.querystring.page": False,
        }
        assert route(api, "GET /pets/{petId}").request_parameters == {
            "method.request.path.petId": True,
            "method.request.header.X-Request-Source": False,
        }
        assert integration(api, "GET /pets/{petId}").request_parameters == {
            "integration.request.path.petId": "method.request.path.petId",
            "integration.request.header.X-Source": "method.request.header.X-Request-Source",
        }

    def test_proxy_resource(self, api: ApiDefinition) -> None:
        proxy = route(api, "ANY /{proxy+}")
        assert (proxy.method, proxy.path) == ("ANY", "/{proxy+}")
        assert proxy.request_parameters == {"method.request.path.proxy": True}
        target = integration(api, "ANY /{proxy+}")
        assert (target.type, target.http_method, target.uri) == ("HTTP_PROXY", "ANY", f"{BACKEND}/{{proxy}}")
        assert target.cache_namespace == "x7k2pq"
        assert target.cache_key_parameters == ("method.request.path.proxy",)

    def test_api_key_security(self, api: ApiDefinition) -> None:
        assert [r.route_key for r in api.routes if r.api_key_required] == ["POST /pets", "GET /pets/{petId}"]
        assert route(api, "POST /pets").security == ({"api_key": ()},)
        assert route(api, "GET /pets").security is None
        assert api.security_schemes == {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}}
        assert api.api_key_source == "HEADER"

    def test_request_validation_and_models(self, api: ApiDefinition) -> None:
        post = route(api, "POST /pets")
        assert post.request_validator == "body-only"
        assert post.request_models == {"application/json": "NewPet"}
        assert post.operation_id == "CreatePet"
        assert route(api, "GET /pets").request_validator is None
        assert api.request_validators == {
            "body-only": {"validateRequestBody": True, "validateRequestParameters": False},
            "all": {"validateRequestBody": True, "validateRequestParameters": True},
        }
        assert api.default_request_validator is None
        assert list(api.models) == ["Pets", "Empty", "NewPetResponse", "Pet", "NewPet", "PetType"]

    def test_root_settings(self, api: ApiDefinition) -> None:
        assert api.binary_media_types == ("image/png", "application/octet-stream")
        assert api.minimum_compression_size == 1024
        assert api.gateway_responses == {
            "DEFAULT_4XX": {
                "statusCode": None,
                "responseParameters": {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"},
                "responseTemplates": {},
            },
            "MISSING_AUTHENTICATION_TOKEN": {
                "statusCode": 404,
                "responseParameters": {},
                "responseTemplates": {"application/json": '{"message": "no such route"}'},
            },
        }
        assert api.cors is None

    def test_basepath_modes(self) -> None:
        path = FIXTURES / "petstore-rest-swagger2.yaml"
        assert route(load_definition(path, basepath="prepend"), "GET /prod/pets").place.pointer == "/paths/~1pets/get"
        assert route(load_definition(path, basepath="prepend"), "GET /prod").path == "/prod"
        assert [r.path for r in load_definition(path, basepath="split").routes][:2] == ["/", "/pets"]


class TestPetstoreOpenApi3:
    @pytest.fixture
    def api(self) -> ApiDefinition:
        return fixture("petstore-rest-oas3.json")

    def test_header(self, api: ApiDefinition) -> None:
        assert (api.api_type, api.title, api.base_path) == ("REST", "PetStore OAS3", "/prod")
        assert [r.route_key for r in api.routes] == [
            "GET /pets",
            "POST /pets",
            "GET /pets/{petId}",
            "DELETE /pets/{petId}",
            "GET /whoami",
        ]
        assert api.warnings == ()

    def test_root_security_applies_unless_the_operation_overrides_it(self, api: ApiDefinition) -> None:
        assert {r.route_key: r.api_key_required for r in api.routes} == {
            "GET /pets": False,
            "POST /pets": True,
            "GET /pets/{petId}": True,
            "DELETE /pets/{petId}": True,
            "GET /whoami": True,
        }
        assert route(api, "GET /pets").security == ()
        assert route(api, "POST /pets").security == ({"api_key": ()},)

    def test_parameters_path_level_refs_and_operation_override(self, api: ApiDefinition) -> None:
        assert route(api, "GET /pets").request_parameters == {
            "method.request.querystring.type": False,
            "method.request.querystring.page": True,
        }
        assert route(api, "GET /pets/{petId}").request_parameters == {"method.request.path.petId": True}
        assert route(api, "DELETE /pets/{petId}").request_parameters == {
            "method.request.path.petId": True,
            "method.request.header.X-Reason": True,
        }

    def test_request_body_ref_to_model(self, api: ApiDefinition) -> None:
        assert route(api, "POST /pets").request_models == {"application/json": "NewPet"}
        assert list(api.models) == ["Pets", "Pet", "NewPet"]

    def test_validators_default_and_override(self, api: ApiDefinition) -> None:
        assert api.default_request_validator == "params-only"
        assert route(api, "GET /pets").request_validator == "params-only"
        assert route(api, "POST /pets").request_validator == "body-only"

    def test_integrations(self, api: ApiDefinition) -> None:
        post = integration(api, "POST /pets")
        assert (post.type, post.passthrough_behavior, post.tls_insecure_skip_verification) == (
            "HTTP_PROXY",
            "WHEN_NO_MATCH",
            True,
        )
        get = integration(api, "GET /pets/{petId}")
        assert [(r.selection_pattern, r.status_code) for r in get.responses] == [(r"2\d{2}", 200), ("404", 404)]
        assert (get.content_handling, get.passthrough_behavior, get.timeout_ms) == (
            "CONVERT_TO_TEXT",
            "WHEN_NO_TEMPLATES",
            5000,
        )
        delete = integration(api, "DELETE /pets/{petId}")
        assert (delete.type, delete.passthrough_behavior, delete.uri) == ("MOCK", "NEVER", "")
        assert delete.responses == (IntegrationResponse("default", 204),)

    def test_import_variables(self, api: ApiDefinition) -> None:
        assert (
            integration(api, "GET /whoami").uri == f"{BACKEND}/regions/us-east-1/accounts/000000000000/partitions/aws"
        )
        other = load_definition(
            FIXTURES / "petstore-rest-oas3.json", region="eu-west-3", account_id="123456789012", partition="aws-cn"
        )
        assert (
            integration(other, "GET /whoami").uri
            == f"{BACKEND}/regions/eu-west-3/accounts/123456789012/partitions/aws-cn"
        )

    def test_basepath_from_server_variable(self) -> None:
        path = FIXTURES / "petstore-rest-oas3.json"
        assert route(load_definition(path, basepath="prepend"), "GET /prod/pets").path == "/prod/pets"
        assert route(load_definition(path, basepath="split"), "GET /pets").path == "/pets"


class TestHttpApi:
    @pytest.fixture
    def api(self) -> ApiDefinition:
        return fixture("http-api-oas3.yaml")

    def test_routes(self, api: ApiDefinition) -> None:
        assert api.api_type == "HTTP"
        assert [r.route_key for r in api.routes] == [
            "GET /pets",
            "POST /pets",
            "GET /pets/{petId}",
            "ANY /files/{proxy+}",
            "$default",
        ]
        default = route(api, "$default")
        assert (default.method, default.path) == ("ANY", "$default")
        assert default.place.pointer == "/paths/~1$default/x-amazon-apigateway-any-method"
        assert api.warnings == ()
        assert api.base_path == ""

    def test_integration_refs_resolve_to_the_component(self, api: ApiDefinition) -> None:
        shared = integration(api, "GET /pets")
        assert shared is not None and shared == integration(api, "POST /pets")
        assert shared.place.pointer == "/components/x-amazon-apigateway-integrations/pets-backend"
        assert (shared.type, shared.http_method, shared.uri) == ("HTTP_PROXY", "ANY", f"{BACKEND}/pets")
        assert (shared.payload_format_version, shared.timeout_ms) == ("1.0", 30000)

    def test_http_api_integration_fields(self, api: ApiDefinition) -> None:
        pet = integration(api, "GET /pets/{petId}")
        assert pet.timeout_ms == 15000
        assert pet.request_parameters == {
            "append:header.x-pet-id": "$request.path.petId",
            "overwrite:querystring.source": "http-api",
        }
        assert pet.response_parameters == {
            "404": {"overwrite:statuscode": "410"},
            "200": {"append:header.x-served-by": "$context.requestId"},
        }
        assert integration(api, "$default").timeout_ms == 30000

    def test_cors(self, api: ApiDefinition) -> None:
        assert api.cors == {
            "allowMethods": ["GET", "POST"],
            "allowHeaders": ["content-type"],
            "maxAge": 300,
            "allowCredentials": False,
            "allowOrigins": ["https://example.com"],
        }


def test_route_priority_fixture() -> None:
    api = load_definition(FIXTURES / "route-priority-http.yaml")
    assert [r.route_key for r in api.routes] == [
        "GET /pets/dog/1",
        "GET /pets/dog/{id}",
        "GET /pets/{proxy+}",
        "ANY /{proxy+}",
        "$default",
    ]
    assert all(r.integration is not None for r in api.routes)
    assert api.warnings == ()


def test_unsupported_fixture_loads_with_warnings() -> None:
    api = load_definition(FIXTURES / "unsupported.yaml")
    file = api.source
    assert warnings_of(api) == [
        f"{file}#/x-amazon-apigateway-policy: x-amazon-apigateway-policy: resource policies are not implemented yet: "
        "the policy is not enforced",
        f"{file}#/x-amazon-apigateway-endpoint-configuration: x-amazon-apigateway-endpoint-configuration: "
        "endpoint configuration is not implemented yet: ignored",
        f"{file}#/x-amazon-apigateway-made-up: unknown extension x-amazon-apigateway-made-up: ignored",
        f"{file}#/securityDefinitions/lambda-token/x-amazon-apigateway-authorizer: authorizers are not implemented "
        "yet: routes that require 'lambda-token' (token authorizer) are served without it",
        f"{file}#/paths/~1lambda/post/x-amazon-apigateway-integration/type: integration type AWS_PROXY is not "
        "supported yet: the route answers 500",
        f"{file}#/paths/~1lambda/post/security/0/lambda-token: security scheme 'lambda-token' (token authorizer) "
        "is not enforced yet: served without it",
        f"{file}#/paths/~1private/get/x-amazon-apigateway-integration/connectionType: connectionType VPC_LINK "
        "(private integration) is not supported yet: the route answers 500",
        f"{file}#/paths/~1iam/get/x-amazon-apigateway-auth: AWS_IAM authorization is not implemented yet: "
        "the route is served without it",
        f"{file}#/paths/~1no-integration/get/x-amazon-apigateway-throttling: unknown extension "
        "x-amazon-apigateway-throttling: ignored",
        f"{file}#/paths/~1no-integration/get: no x-amazon-apigateway-integration: the route answers 500 as on AWS",
    ]
    assert {r.route_key: r.no_integration_reason for r in api.routes} == {
        "POST /lambda": "AWS_PROXY integrations are not supported yet",
        "GET /private": "VPC_LINK integrations are not supported yet",
        "GET /iam": None,
        "GET /no-integration": "no x-amazon-apigateway-integration",
    }
    assert route(api, "GET /iam").integration is not None
    assert api.base_path == ""
    policy = api.document["x-amazon-apigateway-policy"]
    assert policy["Statement"][0]["Resource"] == "arn:aws:execute-api:us-east-1:000000000000:*/*"


@pytest.mark.parametrize(
    ("name", "problems"),
    [
        ("bad-syntax.yaml", ["{file}: YAML syntax error at line 10, column 8: did not find expected key"]),
        (
            "bad-unresolved-ref.yaml",
            [
                "{file}#/paths/~1pets~1{{petId}}/parameters/0/$ref: $ref '#/components/parameters/NoSuchParameter' "
                "does not resolve",
                "{file}#/paths/~1pets~1{{petId}}/get/x-amazon-apigateway-integration/$ref: "
                "$ref '#/components/x-amazon-apigateway-integrations/no-such-integration' does not resolve",
            ],
        ),
        (
            "bad-integration-type.yaml",
            [
                "{file}#/paths/~1pets/get/x-amazon-apigateway-integration/type: integration type 'lambda' is not one "
                "of aws, aws_proxy, http, http_proxy, mock",
                "{file}#/paths/~1pets/post/x-amazon-apigateway-integration/uri: uri '/pets' is not an absolute "
                "http:// or https:// URL",
                "{file}#/paths/~1pets/post/x-amazon-apigateway-integration/responses/default/statusCode: "
                "status code '2000' is not a 3-digit HTTP status code",
                "{file}#/paths/~1pets/post/x-amazon-apigateway-integration/timeoutInMillis: timeoutInMillis must be "
                "an integer, got a string",
            ],
        ),
        (
            "bad-path.yaml",
            [
                "{file}#/paths/pets: path 'pets' does not start with '/'",
                "{file}#/paths/~1ok/get: an operation must be a mapping, got a string",
            ],
        ),
    ],
)
def test_broken_fixtures(name: str, problems: list[str]) -> None:
    path = FIXTURES / name
    with pytest.raises(DefinitionError) as caught:
        load_definition(path)
    assert [str(p) for p in caught.value.problems] == [p.format(file=path) for p in problems]
    assert str(caught.value) == "\n".join(p.format(file=path) for p in problems)


def test_example_petstore_is_mock_only() -> None:
    api = load_definition(Path(__file__).parents[2] / "examples" / "petstore.yaml")
    assert [r.route_key for r in api.routes] == ["GET /pets", "POST /pets", "GET /pets/{petId}"]
    assert all(r.integration is not None and r.integration.type == "MOCK" for r in api.routes)
    assert integration(api, "POST /pets").responses[0].status_code == 201
    templates = [t for r in api.routes for resp in r.integration.responses for t in resp.response_templates.values()]  # type: ignore[union-attr]
    assert templates and not any("$" in t for t in templates)
    assert api.warnings == ()


def test_load_missing_file() -> None:
    with pytest.raises(DefinitionError, match=r"^nope\.yaml: cannot read the file: No such file or directory$"):
        load_definition("nope.yaml")


# --- formats and versions ------------------------------------------------------------------------------


def test_json_and_yaml_are_told_apart_by_content() -> None:
    as_json = parse_definition('{"swagger": "2.0", "info": {"title": "j"}, "paths": {}}', "api.yaml")
    as_yaml = parse_definition(b"swagger: '2.0'\ninfo: {title: y}\npaths: {}\n", "api.json")
    assert (as_json.title, as_yaml.title) == ("j", "y")
    assert as_json.routes == as_yaml.routes == ()


def test_bytes_with_bom() -> None:
    assert parse_definition(b'\xef\xbb\xbf{"openapi": "3.0.1", "paths": {}}', "api.json").api_type == "REST"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"swagger": "2.0",\n "paths": {,}}',
            "api.yaml: JSON syntax error at line 2, column 12: Expecting property name enclosed in double quotes",
        ),
        ("a: [1, 2\nb: 3\n", "api.yaml: YAML syntax error at line 2, column 2: did not find expected ',' or ']'"),
        ("", "api.yaml: the document is empty"),
        ("- swagger\n", "api.yaml: the document must be a mapping, got a list"),
        ('"just text"', "api.yaml: the document must be a mapping, got a string"),
        ("a: 1\n---\nb: 2\n", "api.yaml: YAML syntax error at line 2, column 1: but found another document"),
        (
            "a: !!python/object:os.system x\n",
            "api.yaml: YAML syntax error at line 1, column 4: could not determine a "
            "constructor for the tag 'tag:yaml.org,2002:python/object:os.system'",
        ),
        ("info: {}\n", "api.yaml: not an OpenAPI 3 or Swagger 2.0 document: there is no 'openapi' or 'swagger' field"),
        ("swagger: '1.2'\npaths: {}\n", "api.yaml#/swagger: swagger '1.2' is not supported: fastgw reads Swagger 2.0"),
        (
            "openapi: 2.0.0\npaths: {}\n",
            "api.yaml#/openapi: openapi '2.0.0' is not supported: fastgw reads OpenAPI 3.0 and 3.1",
        ),
        (
            "openapi: 3.0.1\nswagger: '2.0'\npaths: {}\n",
            "api.yaml: the document has both 'swagger' and 'openapi': it must be one or the other",
        ),
        ("openapi: 3.0.1\n", "api.yaml: there is no 'paths' object: the definition has no routes"),
        ("openapi: 3.0.1\npaths: [1]\n", "api.yaml#/paths: paths must be a mapping, got a list"),
        (b"swagger: '2.0'\n\xff\n", "api.yaml: not UTF-8 text: invalid start byte at byte 15"),
    ],
)
def test_unreadable_documents(text: str | bytes, message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(text, "api.yaml")
    assert str(caught.value) == message


def test_yaml_numbers_and_dates_where_strings_are_expected() -> None:
    api = parse("swagger: 2.0\ninfo: {title: t, version: 2024-05-02}\npaths: {}\n")
    assert api.version == "2024-05-02"
    assert parse("openapi: 3.1\npaths: {}\n").api_type == "REST"
    assert parse("openapi: 3.1.0\npaths: {}\n").routes == ()


def test_basepath_argument_is_checked() -> None:
    with pytest.raises(ValueError, match="basepath must be one of ignore, prepend, split, not 'drop'"):
        parse(SWAGGER + "    paths: {}\n", basepath="drop")


# --- API type ------------------------------------------------------------------------------------------


def test_api_type_from_importexport_version_and_override() -> None:
    assert parse(OAS3 + "    paths: {}\n").api_type == "REST"
    assert parse(HTTP_API + "    paths: {}\n").api_type == "HTTP"
    assert parse(HTTP_API + "    paths: {}\n", api_type="REST").api_type == "REST"
    assert parse(OAS3 + "    paths: {}\n", api_type="HTTP").api_type == "HTTP"


def test_unknown_importexport_version_is_read_as_1_0() -> None:
    api = parse(OAS3 + "    x-amazon-apigateway-importexport-version: '2.0'\n    paths: {}\n")
    assert api.api_type == "HTTP"
    assert warnings_of(api) == [
        "api.yaml#/x-amazon-apigateway-importexport-version: version '2.0' is not 1.0, the only one AWS defines: "
        "read as 1.0"
    ]


def test_http_api_from_swagger_is_an_error() -> None:
    assert errors_of(SWAGGER + "    paths: {}\n", api_type="HTTP") == [
        "api.yaml#/swagger: HTTP APIs import OpenAPI 3.0 only, not Swagger 2.0"
    ]


# --- routes --------------------------------------------------------------------------------------------


def test_operations_and_non_operation_keys() -> None:
    api = parse(
        SWAGGER
        + f"""\
    paths:
      /things:
        summary: things
        description: all of them
        parameters: []
        servers: []
        x-vendor: ignored
        get: {{x-amazon-apigateway-integration: {MOCK}}}
        put: {{x-amazon-apigateway-integration: {MOCK}}}
        post: {{x-amazon-apigateway-integration: {MOCK}}}
        delete: {{x-amazon-apigateway-integration: {MOCK}}}
        options: {{x-amazon-apigateway-integration: {MOCK}}}
        head: {{x-amazon-apigateway-integration: {MOCK}}}
        patch: {{x-amazon-apigateway-integration: {MOCK}}}
        x-amazon-apigateway-any-method: {{x-amazon-apigateway-integration: {MOCK}}}
        trace: {{x-amazon-apigateway-integration: {MOCK}}}
        gett: {{}}
    """
    )
    assert [r.route_key for r in api.routes] == [
        "GET /things",
        "PUT /things",
        "POST /things",
        "DELETE /things",
        "OPTIONS /things",
        "HEAD /things",
        "PATCH /things",
        "ANY /things",
    ]
    assert warnings_of(api) == [
        "api.yaml#/paths/~1things/trace: TRACE is not an API Gateway method: operation ignored",
        "api.yaml#/paths/~1things/gett: 'gett' is not an operation or a path item field: ignored",
    ]


def test_default_route_forms() -> None:
    api = parse(
        HTTP_API
        + """\
    paths:
      $default:
        x-amazon-apigateway-any-method: {x-amazon-apigateway-integration: {type: http_proxy, httpMethod: ANY,
          uri: "http://127.0.0.1:9"}}
      /$default:
        x-amazon-apigateway-any-method:
          isDefaultRoute: false
          x-amazon-apigateway-integration: {type: http_proxy, httpMethod: ANY, uri: "http://127.0.0.1:9"}
    """
    )
    assert [r.route_key for r in api.routes] == ["$default", "ANY /$default"]
    assert api.routes[0].place.pointer == "/paths/$default/x-amazon-apigateway-any-method"


@pytest.mark.parametrize(
    ("paths", "api_type", "problem"),
    [
        (
            "{$default: {get: {}}}",
            "HTTP",
            "api.yaml#/paths/$default/get: the $default route takes only x-amazon-apigateway-any-method",
        ),
        (
            "{/$default: {x-amazon-apigateway-any-method: {isDefaultRoute: true}}}",
            "REST",
            "api.yaml#/paths/~1$default/x-amazon-apigateway-any-method: REST APIs have no $default route "
            "(it is an HTTP API feature)",
        ),
        (
            "{/pets: {x-amazon-apigateway-any-method: {isDefaultRoute: true}}}",
            "HTTP",
            "api.yaml#/paths/~1pets/x-amazon-apigateway-any-method/isDefaultRoute: isDefaultRoute: true belongs "
            "under the path /$default",
        ),
        ("{pets: {}}", "REST", "api.yaml#/paths/pets: path 'pets' does not start with '/'"),
        ("{/pets: [get]}", "REST", "api.yaml#/paths/~1pets: a path item must be a mapping, got a list"),
        ("{/pets: {get: }}", "REST", "api.yaml#/paths/~1pets/get: an operation must be a mapping, got null"),
    ],
)
def test_broken_routes(paths: str, api_type: str, problem: str) -> None:
    assert errors_of(OAS3 + f"    paths: {paths}\n", api_type=api_type) == [problem]


def test_path_item_ref() -> None:
    api = parse(
        OAS3
        + f"""\
    paths:
      /pets:
        $ref: "#/x-path-items/pets"
    x-path-items:
      pets:
        get: {{x-amazon-apigateway-integration: {MOCK}}}
    """
    )
    assert [(r.route_key, r.place.pointer) for r in api.routes] == [("GET /pets", "/x-path-items/pets/get")]


def test_collect_all_errors() -> None:
    assert errors_of(
        OAS3
        + """\
    paths:
      a: {}
      /b: {get: 1}
      /c:
        get:
          x-amazon-apigateway-integration: {type: http, httpMethod: GET, uri: ftp://x, timeoutInMillis: 10}
    """
    ) == [
        "api.yaml#/paths/a: path 'a' does not start with '/'",
        "api.yaml#/paths/~1b/get: an operation must be a mapping, got an integer",
        "api.yaml#/paths/~1c/get/x-amazon-apigateway-integration/uri: uri 'ftp://x' is not an absolute http:// or "
        "https:// URL",
        "api.yaml#/paths/~1c/get/x-amazon-apigateway-integration/timeoutInMillis: timeoutInMillis 10 is below the "
        "minimum of 50",
    ]


# --- parameters and models -----------------------------------------------------------------------------


def test_parameters_merge_and_refs_swagger() -> None:
    api = parse(
        SWAGGER
        + f"""\
    parameters:
      limit: {{name: limit, in: query, required: true, type: integer}}
    paths:
      /pets/{{id}}:
        parameters:
        - {{name: id, in: path, type: string}}
        - {{name: X-Trace, in: header, required: true, type: string}}
        - {{$ref: "#/parameters/limit"}}
        get:
          parameters:
          - {{name: X-Trace, in: header, required: false, type: string}}
          - {{name: session, in: cookie, type: string}}
          - {{name: f, in: formData, type: string}}
          x-amazon-apigateway-integration: {MOCK}
    """
    )
    assert api.routes[0].request_parameters == {
        "method.request.path.id": True,
        "method.request.header.X-Trace": False,
        "method.request.querystring.limit": True,
    }


@pytest.mark.parametrize(
    ("parameter", "problem"),
    [
        ("{in: query}", "api.yaml#/paths/~1p/get/parameters/0/name: parameter has no 'name'"),
        ("{name: q}", "api.yaml#/paths/~1p/get/parameters/0/in: parameter has no 'in'"),
        (
            "{name: q, in: body2}",
            "api.yaml#/paths/~1p/get/parameters/0/in: parameter 'q' is in 'body2', not one of "
            "path, query, header, body, cookie, formData",
        ),
        (
            "{name: q, in: query, required: maybe}",
            "api.yaml#/paths/~1p/get/parameters/0/required: required must be true or false, got a string",
        ),
        (
            "{$ref: '#/components/parameters/q'}",
            "api.yaml#/paths/~1p/get/parameters/0/$ref: $ref '#/components/parameters/q' does not resolve",
        ),
        (
            "{$ref: 'other.yaml#/q'}",
            "api.yaml#/paths/~1p/get/parameters/0/$ref: $ref 'other.yaml#/q' points outside "
            "this file: only local references ('#/...') are supported",
        ),
        ("7", "api.yaml#/paths/~1p/get/parameters/0: a parameter must be a mapping, got an integer"),
    ],
)
def test_broken_parameters(parameter: str, problem: str) -> None:
    assert errors_of(OAS3 + f"    paths: {{/p: {{get: {{parameters: [{parameter}]}}}}}}\n") == [problem]


def test_circular_ref() -> None:
    assert errors_of(
        OAS3
        + """\
    paths: {/p: {get: {parameters: [{$ref: '#/components/parameters/a'}]}}}
    components:
      parameters:
        a: {$ref: '#/components/parameters/b'}
        b: {$ref: '#/components/parameters/a'}
    """
    ) == ["api.yaml#/components/parameters/b/$ref: $ref '#/components/parameters/a' is circular"]


def test_unresolved_refs_anywhere_are_errors_but_examples_are_data() -> None:
    assert errors_of(
        OAS3
        + """\
    paths: {}
    components:
      schemas:
        Pet:
          properties:
            owner: {$ref: '#/components/schemas/Owner'}
          example: {$ref: '#/not/a/reference'}
    """
    ) == ["api.yaml#/components/schemas/Pet/properties/owner/$ref: $ref '#/components/schemas/Owner' does not resolve"]


def test_request_models_swagger_consumes() -> None:
    api = parse(
        SWAGGER
        + f"""\
    consumes: [application/json, application/xml]
    definitions: {{Pet: {{type: object}}}}
    paths:
      /a:
        post:
          parameters: [{{in: body, name: b, schema: {{$ref: "#/definitions/Pet"}}}}]
          x-amazon-apigateway-integration: {MOCK}
      /b:
        post:
          consumes: [text/plain]
          parameters: [{{in: body, name: b, schema: {{$ref: "#/definitions/Pet"}}}}]
          x-amazon-apigateway-integration: {MOCK}
      /c:
        post:
          parameters: [{{in: body, name: b, schema: {{type: object}}}}]
          x-amazon-apigateway-integration: {MOCK}
    """
    )
    assert [r.request_models for r in api.routes] == [
        {"application/json": "Pet", "application/xml": "Pet"},
        {"text/plain": "Pet"},
        {},
    ]
    assert api.models == {"Pet": {"type": "object"}}
    no_consumes = parse(
        SWAGGER
        + f"""\
    definitions: {{Pet: {{type: object}}}}
    paths:
      /a:
        post:
          parameters: [{{in: body, name: b, schema: {{$ref: "#/definitions/Pet"}}}}]
          x-amazon-apigateway-integration: {MOCK}
    """
    )
    assert no_consumes.routes[0].request_models == {"application/json": "Pet"}


# --- security ------------------------------------------------------------------------------------------


SECURITY_SCHEMES = """\
    components:
      securitySchemes:
        api_key: {type: apiKey, name: x-api-key, in: header}
        query_key: {type: apiKey, name: x-api-key, in: query}
        jwt:
          type: oauth2
          flows: {}
          x-amazon-apigateway-authorizer:
            type: jwt
            jwtConfiguration: {issuer: "https://issuer.example.com", audience: [a]}
        sigv4: {type: apiKey, name: Authorization, in: header, x-amazon-apigateway-authtype: awsSigv4}
        bearer: {$ref: '#/x-schemes/bearer'}
    x-schemes:
      bearer: {type: http, scheme: bearer}
"""


def test_security_mapping_and_warnings() -> None:
    api = parse(
        OAS3
        + SECURITY_SCHEMES
        + f"""\
    security: [{{api_key: []}}]
    paths:
      /root: {{get: {{x-amazon-apigateway-integration: {MOCK}}}}}
      /open: {{get: {{security: [], x-amazon-apigateway-integration: {MOCK}}}}}
      /both: {{get: {{security: [{{api_key: []}}, {{jwt: [read, write]}}], x-amazon-apigateway-integration: {MOCK}}}}}
      /query: {{get: {{security: [{{query_key: []}}], x-amazon-apigateway-integration: {MOCK}}}}}
      /iam: {{get: {{security: [{{sigv4: []}}], x-amazon-apigateway-integration: {MOCK}}}}}
      /bearer: {{get: {{security: [{{bearer: []}}], x-amazon-apigateway-integration: {MOCK}}}}}
    """
    )
    assert {r.path: r.api_key_required for r in api.routes} == {
        "/root": True,
        "/open": False,
        "/both": True,
        "/query": False,
        "/iam": False,
        "/bearer": False,
    }
    assert route(api, "GET /both").security == ({"api_key": ()}, {"jwt": ("read", "write")})
    assert route(api, "GET /root").security == ({"api_key": ()},)
    assert warnings_of(api) == [
        "api.yaml#/components/securitySchemes/jwt/x-amazon-apigateway-authorizer: authorizers are not implemented "
        "yet: routes that require 'jwt' (jwt authorizer) are served without it",
        "api.yaml#/paths/~1both/get/security/1/jwt: security scheme 'jwt' (jwt authorizer) is not enforced yet: "
        "served without it",
        "api.yaml#/paths/~1query/get/security/0/query_key: security scheme 'query_key' (apiKey) is not enforced yet: "
        "served without it",
        "api.yaml#/paths/~1iam/get/security/0/sigv4: security scheme 'sigv4' (AWS_IAM) is not enforced yet: "
        "served without it",
        "api.yaml#/paths/~1bearer/get/security/0/bearer: security scheme 'bearer' (http) is not enforced yet: "
        "served without it",
    ]
    assert api.security_schemes["bearer"] == {"type": "http", "scheme": "bearer"}


def test_root_security_warning_is_reported_once() -> None:
    api = parse(
        OAS3
        + SECURITY_SCHEMES
        + f"""\
    security: [{{bearer: []}}]
    paths:
      /a: {{get: {{x-amazon-apigateway-integration: {MOCK}}}}}
      /b: {{get: {{x-amazon-apigateway-integration: {MOCK}}}}}
    """
    )
    assert warnings_of(api)[1:] == [
        "api.yaml#/security/0/bearer: security scheme 'bearer' (http) is not enforced yet: served without it"
    ]


def test_api_keys_in_http_apis() -> None:
    api = parse(
        HTTP_API
        + SECURITY_SCHEMES
        + """\
    paths:
      /a: {get: {security: [{api_key: []}], x-amazon-apigateway-integration: {type: http_proxy, httpMethod: GET,
        uri: "http://127.0.0.1:9/a"}}}
    """
    )
    assert api.routes[0].api_key_required is False
    assert warnings_of(api)[-1] == (
        "api.yaml#/paths/~1a/get/security/0/api_key: API keys are a REST API feature: HTTP APIs do not check 'api_key'"
    )


def test_swagger_security_definitions_and_api_key_header_case() -> None:
    api = parse(
        SWAGGER
        + f"""\
    securityDefinitions:
      key: {{type: apiKey, name: X-Api-Key, in: header}}
    paths:
      /a: {{get: {{security: [{{key: []}}], x-amazon-apigateway-integration: {MOCK}}}}}
    """
    )
    assert api.routes[0].api_key_required is True


@pytest.mark.parametrize(
    ("security", "problem"),
    [
        (
            "[{nope: []}]",
            "api.yaml#/paths/~1a/get/security/0/nope: security requirement names 'nope', which is not a "
            "security scheme",
        ),
        ("{api_key: []}", "api.yaml#/paths/~1a/get/security: security must be a list, got a mapping"),
        (
            "[{api_key: [1]}]",
            "api.yaml#/paths/~1a/get/security/0/api_key: scopes must be a list of strings, got a list",
        ),
        ("[[api_key]]", "api.yaml#/paths/~1a/get/security/0: a security requirement must be a mapping, got a list"),
    ],
)
def test_broken_security(security: str, problem: str) -> None:
    text = (
        OAS3
        + SECURITY_SCHEMES
        + f"    paths: {{/a: {{get: {{security: {security}, x-amazon-apigateway-integration: {MOCK}}}}}}}\n"
    )
    assert errors_of(text) == [problem]


def test_x_amazon_apigateway_auth() -> None:
    api = parse(
        SWAGGER
        + f"""\
    paths:
      /none: {{get: {{x-amazon-apigateway-auth: {{type: NONE}}, x-amazon-apigateway-integration: {MOCK}}}}}
      /iam: {{get: {{x-amazon-apigateway-auth: {{type: AWS_IAM}}, x-amazon-apigateway-integration: {MOCK}}}}}
    """
    )
    assert warnings_of(api) == [
        "api.yaml#/paths/~1iam/get/x-amazon-apigateway-auth: AWS_IAM authorization is not implemented yet: the route "
        "is served without it"
    ]
    assert errors_of(SWAGGER + "    paths: {/a: {get: {x-amazon-apigateway-auth: {type: cognito}}}}\n") == [
        "api.yaml#/paths/~1a/get/x-amazon-apigateway-auth/type: type 'cognito' is not one of NONE, AWS_IAM"
    ]


def test_more_type_errors_are_collected() -> None:
    assert errors_of(
        """\
    openapi: 3.0.1
    info: {title: [t], version: 2024-05-02 10:00:00}
    x-amazon-apigateway-binary-media-types: [image/png, 7]
    x-amazon-apigateway-gateway-responses: {THROTTLED: 429}
    components:
      securitySchemes:
        gone: {$ref: '#/components/nothing'}
    paths:
      /a:
        post:
          requestBody: [x]
          security: [{gone: }]
          x-amazon-apigateway-integration: {type: mock}
    """
    ) == [
        "api.yaml#/components/securitySchemes/gone/$ref: $ref '#/components/nothing' does not resolve",
        "api.yaml#/x-amazon-apigateway-binary-media-types/1: x-amazon-apigateway-binary-media-types items must be "
        "strings, got an integer",
        "api.yaml#/x-amazon-apigateway-gateway-responses/THROTTLED: a gateway response must be a mapping, got an "
        "integer",
        "api.yaml#/info/title: title must be a string, got a list",
        "api.yaml#/paths/~1a/post/security/0/gone: security requirement names 'gone', which is not a security scheme",
        "api.yaml#/paths/~1a/post/requestBody: requestBody must be a mapping, got a list",
    ]
