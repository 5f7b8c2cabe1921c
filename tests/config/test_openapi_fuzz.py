"""Whatever the input, loading ends in an ApiDefinition or a DefinitionError: never a KeyError, TypeError, ..."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastgw.config.model import ApiDefinition
from fastgw.config.openapi import parse_definition
from fastgw.errors import DefinitionError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "apis"
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

WORDS = [
    "swagger",
    "openapi",
    "paths",
    "info",
    "title",
    "version",
    "basePath",
    "servers",
    "url",
    "variables",
    "default",
    "components",
    "schemas",
    "parameters",
    "securitySchemes",
    "securityDefinitions",
    "definitions",
    "security",
    "get",
    "post",
    "x-amazon-apigateway-any-method",
    "isDefaultRoute",
    "name",
    "in",
    "required",
    "schema",
    "$ref",
    "requestBody",
    "content",
    "consumes",
    "type",
    "uri",
    "httpMethod",
    "responses",
    "statusCode",
    "responseParameters",
    "responseTemplates",
    "requestParameters",
    "requestTemplates",
    "timeoutInMillis",
    "passthroughBehavior",
    "connectionType",
    "payloadFormatVersion",
    "tlsConfig",
    "insecureSkipVerification",
    "cacheKeyParameters",
    "contentHandling",
    "x-amazon-apigateway-integration",
    "x-amazon-apigateway-integrations",
    "x-amazon-apigateway-authorizer",
    "x-amazon-apigateway-auth",
    "x-amazon-apigateway-request-validators",
    "x-amazon-apigateway-request-validator",
    "x-amazon-apigateway-gateway-responses",
    "x-amazon-apigateway-cors",
    "x-amazon-apigateway-importexport-version",
    "x-amazon-apigateway-binary-media-types",
    "x-amazon-apigateway-minimum-compression-size",
    "x-amazon-apigateway-api-key-source",
    "x-amazon-apigateway-foo",
    "/pets",
    "/{proxy+}",
    "$default",
    "/$default",
    "pets",
    "2.0",
    "3.0.1",
    "1.0",
    "mock",
    "http",
    "HTTP_PROXY",
    "aws_proxy",
    "VPC_LINK",
    "header",
    "query",
    "path",
    "body",
    "apiKey",
    "x-api-key",
    "api_key",
    "200",
    "4\\d{2}",
    "(",
    "http://127.0.0.1:9/x",
    "${stageVariables.u}",
    "#/components/schemas/Pet",
    "#/definitions/Pet",
    "#/nope",
    "#",
    "ANY",
    "when_no_match",
]
keys = st.sampled_from(WORDS) | st.text(max_size=4)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-5, max_value=100_000)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(WORDS)
    | st.text(max_size=6)
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5), max_leaves=20
)
options = st.fixed_dictionaries(
    {"api_type": st.sampled_from([None, "REST", "HTTP"]), "basepath": st.sampled_from(["ignore", "prepend", "split"])}
)


def _fixture_documents() -> list[Any]:
    documents = [json.loads((FIXTURES / "petstore-rest-oas3.json").read_text())]
    for name in ["petstore-rest-swagger2.yaml", "http-api-oas3.yaml", "unsupported.yaml", "route-priority-http.yaml"]:
        documents.append(yaml.safe_load((FIXTURES / name).read_text()))
    return documents


DOCUMENTS = _fixture_documents()


def _locations(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, item in items:
        found.extend(_locations(item, (*path, key)))
    return found


@st.composite
def mutated_fixtures(draw: st.DrawFn) -> Any:
    """A fixture document with a few of its nodes replaced by arbitrary values."""
    document = copy.deepcopy(draw(st.sampled_from(DOCUMENTS)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        location = draw(st.sampled_from(_locations(document)))
        if not location:
            continue
        parent = document
        for key in location[:-1]:
            parent = parent[key]
        parent[location[-1]] = draw(values)
    return document


def _load(document: Any, kwargs: dict[str, Any]) -> None:
    try:
        result = parse_definition(json.dumps(document), "fuzz.json", **kwargs)
    except DefinitionError as err:
        assert err.problems and all(str(problem) for problem in err.problems)
    else:
        assert isinstance(result, ApiDefinition)


@FUZZ
@given(document=mutated_fixtures(), kwargs=options)
def test_mutated_fixtures_never_crash(document: Any, kwargs: dict[str, Any]) -> None:
    _load(document, kwargs)


@FUZZ
@given(
    document=st.fixed_dictionaries(
        {"openapi": st.sampled_from(["3.0.1", "3.1.0"]), "paths": values},
        optional={"components": values, "security": values, "servers": values, "x-amazon-apigateway-cors": values},
    )
    | st.fixed_dictionaries(
        {"swagger": st.just("2.0"), "paths": values},
        optional={"basePath": values, "securityDefinitions": values, "parameters": values, "definitions": values},
    )
    | values,
    kwargs=options,
)
def test_random_documents_never_crash(document: Any, kwargs: dict[str, Any]) -> None:
    _load(document, kwargs)


@FUZZ
@given(text=st.text(max_size=60) | st.binary(max_size=60))
def test_random_text_never_crashes(text: str | bytes) -> None:
    try:
        parse_definition(text, "fuzz.yaml")
    except DefinitionError:
        pass
