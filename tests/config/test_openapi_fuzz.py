"""Whatever the input, loading ends in an ApiDefinition or a DefinitionError: never a KeyError, TypeError, ...

Documents are arbitrary values, fixtures with some of their nodes replaced (parsed trees), and fixture texts
mutated as text (YAML and JSON syntax: cut, spliced, with YAML's own features such as anchors, merge keys and
tags). Every DefinitionError names its file, a place in it and a reason. ``FASTGW_FUZZ_EXAMPLES`` runs longer
(``tests/fuzzing.py``).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings

from fastgw.config.model import ApiDefinition
from fastgw.config.openapi import parse_definition
from fastgw.errors import DefinitionError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "apis"
FUZZ = fuzz_settings(400)

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


def _assert_placed(err: DefinitionError, source: str) -> None:
    """Every problem names the file it is in and says why."""
    assert err.problems and all(str(problem) for problem in err.problems)
    for problem in err.problems:
        assert problem.place.file == source and problem.message.strip(), problem


def _parse(text: str | bytes, source: str, **kwargs: Any) -> None:
    try:
        result = parse_definition(text, source, **kwargs)
    except DefinitionError as err:
        _assert_placed(err, source)
    else:
        assert isinstance(result, ApiDefinition)
        assert all(warning.place.file == source and warning.message for warning in result.warnings)


def _load(document: Any, kwargs: dict[str, Any]) -> None:
    _parse(json.dumps(document), "fuzz.json", **kwargs)


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
    except DefinitionError as err:
        _assert_placed(err, "fuzz.yaml")


TEXTS = [(FIXTURES / name).read_text() for name in ["petstore-rest-swagger2.yaml", "http-api-oas3.yaml"]]
TEXTS.append((FIXTURES / "petstore-rest-oas3.json").read_text())
#: Pieces of YAML and JSON syntax, and YAML's own features, spliced into fixture texts.
TOKENS = [
    "\n",
    "\n  ",
    ": ",
    "- ",
    "{",
    "}",
    "[",
    "]",
    ",",
    '"',
    "'",
    "#",
    "&a ",
    "*a",
    "<<: *a\n",
    "!!binary ",
    "!!python/object/apply:os.system ['true']",
    "!!set ",
    "!custom ",
    "? ",
    "|\n",
    ">-\n",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "~",
    ".inf",
    "2020-13-45",
    "0x1F",
    "1e400",
    "99999999999999999999999999",
    "\t",
    "\x00",
    "\x85",
    "\ud800",
    "\ufeff",
    "$ref: '#/components/schemas/Pet'",
    "$ref: '#/definitions/Pet'",
    '"$ref": "#"',
    "${AWS::Region}",
    "${stageVariables.x}",
    "x-amazon-apigateway-integration:",
    "{proxy+}",
]
#: Tags whose constructors raised other errors than YAML's (issue 18, fuzzing): they are DefinitionErrors now.
BAD_TAGS = ["!!timestamp x", "!!bool x", "!!int", "!!float ''"]
TOKENS += ["!!timestamp ", "!!bool ", "!!int ", "!!float "]


@st.composite
def mutated_texts(draw: st.DrawFn) -> str:
    """A fixture's text with a few cuts, copies and tokens spliced in at random places."""
    text = draw(st.sampled_from(TEXTS))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        kind = draw(st.integers(min_value=0, max_value=3))
        if kind == 0:
            text = text[:at] + draw(st.sampled_from(TOKENS) | st.text(max_size=3)) + text[at:]
        elif kind == 1:
            text = text[:at] + text[at + draw(st.integers(min_value=1, max_value=40)) :]
        elif kind == 2:
            start = draw(st.integers(min_value=0, max_value=len(text)))
            text = text[:at] + text[start : start + draw(st.integers(min_value=1, max_value=80))] + text[at:]
        else:
            text = text[:at]
    return text


@fuzz_settings(200)
@given(text=mutated_texts(), kwargs=options, as_bytes=st.booleans())
@example(text="openapi: 3.0.1\npaths: !!python/object/apply:os.system ['true']\n", kwargs={}, as_bytes=False)
@example(text="a: &a [*a]", kwargs={}, as_bytes=False)
@example(text='{"openapi": "3.0.1", "paths": {"/a": {"$ref": "#/paths/~1a"}}}', kwargs={}, as_bytes=False)
def test_mutated_fixture_texts_never_crash(text: str, kwargs: dict[str, Any], as_bytes: bool) -> None:
    _parse(text.encode("utf-8", "surrogatepass") if as_bytes else text, "fuzz.yaml", **kwargs)


@pytest.mark.parametrize("tag", BAD_TAGS)
def test_yaml_tags_that_do_not_fit_are_a_definition_error(tag: str) -> None:
    """Found by test_mutated_fixture_texts_never_crash (issue 18, fuzzing): PyYAML's constructors raised
    AttributeError, KeyError or IndexError for these, out of the loader, instead of a DefinitionError."""
    with pytest.raises(DefinitionError) as caught:
        parse_definition(f"openapi: 3.0.1\ninfo: {tag}\npaths: {{}}\n", "fuzz.yaml")
    _assert_placed(caught.value, "fuzz.yaml")
