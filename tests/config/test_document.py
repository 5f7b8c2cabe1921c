"""Text to document: JSON/YAML, import variables, local $ref resolution."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from fastgw.config import document
from fastgw.config.document import Document, model_name, prepare_document, read_document
from fastgw.config.findings import Findings
from fastgw.config.openapi import parse_definition
from fastgw.errors import DefinitionError, Place


def test_uses_the_c_loader_when_available() -> None:
    assert document.SAFE_YAML_LOADER is getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def test_json_like_yaml_flow_style_falls_back_to_yaml() -> None:
    assert read_document("{a: 1, b: [x]}", "f") == {"a": 1, "b": ["x"]}


def test_safe_loading_only() -> None:
    with pytest.raises(DefinitionError, match="could not determine a constructor"):
        read_document("!!python/object/apply:os.getcwd []", "f")


def test_bad_yaml_values_are_definition_errors() -> None:
    with pytest.raises(DefinitionError, match=r"^f: YAML error: "):
        read_document("a: 2020-13-45\n", "f")
    with pytest.raises(DefinitionError) as caught:
        read_document("a: 1\nb: x\x07\n", "f")
    # libyaml says "control characters", the pure-Python reader "special characters"
    assert re.fullmatch(
        r"f: YAML syntax error at line 2, column 5: unacceptable character #x0007: (control|special) characters are "
        r"not allowed",
        str(caught.value),
    )


def test_deep_nesting_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError, match="nested too deeply"):
        parse_definition("[" * 100_000 + "]" * 100_000, "f")
    with pytest.raises(DefinitionError, match="nested too deeply"):
        parse_definition("a: " + "[" * 5_000 + "]" * 5_000, "f")


def test_recursive_yaml_alias_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError, match=r"^f: the document is nested too deeply or refers to itself$"):
        parse_definition("openapi: 3.0.1\npaths: &p {/a: *p}\n", "f")


def test_variables_are_substituted_in_every_string_value_but_not_in_keys() -> None:
    parsed: dict[str, Any] = {
        "${AWS::Region}": "${AWS::Region}",
        "list": ["arn:${AWS::Partition}:x:${AWS::Region}:${AWS::AccountId}:y", 3, None, True],
        "nested": {"k": ["${AWS::AccountId}${AWS::AccountId}"]},
        "untouched": "${stageVariables.x} ${AWS::Unknown} $AWS::Region ${aws::region}",
    }
    result, refs = prepare_document(
        parsed, region="eu-central-1", account_id="111122223333", partition="aws-us-gov", source="f"
    )
    assert result == {
        "${AWS::Region}": "eu-central-1",
        "list": ["arn:aws-us-gov:x:eu-central-1:111122223333:y", 3, None, True],
        "nested": {"k": ["111122223333111122223333"]},
        "untouched": "${stageVariables.x} ${AWS::Unknown} $AWS::Region ${aws::region}",
    }
    assert parsed["list"][0] == "arn:${AWS::Partition}:x:${AWS::Region}:${AWS::AccountId}:y"  # a copy was made
    assert result["nested"] is not parsed["nested"]
    assert refs == []


def test_what_has_no_variable_is_not_copied() -> None:
    parsed: dict[str, Any] = {"a": {"b": ["x", {"c": "${AWS::Region}"}]}, "d": {"e": ["y"]}}
    result, _ = prepare_document(parsed, region="r", account_id="a", partition="p", source="f")
    assert result == {"a": {"b": ["x", {"c": "r"}]}, "d": {"e": ["y"]}}
    assert result["d"] is parsed["d"]
    assert parsed["a"]["b"][1]["c"] == "${AWS::Region}"


def test_local_refs_are_noted_in_document_order_outside_literal_members() -> None:
    parsed: dict[str, Any] = {
        "$ref": "#/root",
        "paths": {
            "/a": {"$ref": "#/x", "get": {"parameters": [{"name": "n"}, {"$ref": "#/components/${AWS::Region}"}]}},
            "/b": {"example": {"$ref": "#/not-a-ref"}, "schema": {"default": [{"$ref": "#/neither"}]}},
        },
        "external": {"$ref": "other.yaml#/x"},
        200: {"$ref": "#/int-key"},
    }
    _, refs = prepare_document(parsed, region="r", account_id="a", partition="p", source="f")
    assert refs == [
        ("#/root", ()),
        ("#/x", ("paths", "/a")),
        ("#/components/r", ("paths", "/a", "get", "parameters", 1)),
        ("#/int-key", ("200",)),
    ]


def test_variables_reach_authorizers_and_the_raw_document() -> None:
    api = parse_definition(
        """\
openapi: 3.0.1
components:
  securitySchemes:
    auth:
      type: apiKey
      name: Authorization
      in: header
      x-amazon-apigateway-authorizer:
        type: request
        authorizerUri: "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/functions/${AWS::AccountId}"
paths: {}
""",
        "f",
        region="ap-south-1",
        account_id="444455556666",
    )
    authorizer = api.security_schemes["auth"]["x-amazon-apigateway-authorizer"]
    assert authorizer["authorizerUri"] == "arn:aws:apigateway:ap-south-1:lambda:path/functions/444455556666"
    assert api.document["components"]["securitySchemes"]["auth"] == api.security_schemes["auth"]


ROOT = {
    "a/b": {"x~y": {"$ref": "#/target"}},
    "target": {"value": 1},
    "{id}": [{"v": 2}],
    "int": {200: "two hundred"},
    "chain": {"$ref": "#/a~1b/x~0y"},
    "self": {"$ref": "#/self"},
    "null": None,
}


@pytest.mark.parametrize(
    ("ref", "target", "pointer"),
    [
        ("#/target", {"value": 1}, "/target"),
        ("#/a~1b/x~0y", {"value": 1}, "/target"),
        ("#/chain", {"value": 1}, "/target"),
        ("#/%7Bid%7D/0", {"v": 2}, "/{id}/0"),
        ("#/int/200", "two hundred", "/int/200"),
        ("#", ROOT, ""),
        ("#/null", None, "/null"),
    ],
)
def test_resolve(ref: str, target: object, pointer: str) -> None:
    doc = Document(ROOT, "f", Findings())
    assert doc.resolve({"$ref": ref}, Place("f", "/here")) == (target, Place("f", pointer))
    assert doc.findings.errors == []


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("#/nope", "$ref '#/nope' does not resolve"),
        ("#/{id}/1", "$ref '#/{id}/1' does not resolve"),
        ("#/{id}/x", "$ref '#/{id}/x' does not resolve"),
        ("#/target/value/deeper", "$ref '#/target/value/deeper' does not resolve"),
        ("#target", "$ref '#target' does not resolve"),
        ("#/{id}/\u00b2", "$ref '#/{id}/\u00b2' does not resolve"),
        ("#/{id}/00", "$ref '#/{id}/00' does not resolve"),
        ("#/self", "$ref '#/self' is circular"),
        (
            "other.json#/x",
            "$ref 'other.json#/x' points outside this file: only local references ('#/...') are supported",
        ),
        (42, "$ref must be a string"),
    ],
)
def test_resolve_errors(ref: object, message: str) -> None:
    doc = Document(ROOT, "f", Findings())
    assert doc.resolve({"$ref": ref}, Place("f", "/here")) is None
    assert [str(p) for p in doc.findings.errors][-1].endswith(f"/$ref: {message}")


def test_resolve_passes_plain_values_through() -> None:
    doc = Document(ROOT, "f", Findings())
    assert doc.resolve({"name": "x"}, Place("f", "/p")) == ({"name": "x"}, Place("f", "/p"))
    assert doc.resolve(None, Place("f", "/p")) == (None, Place("f", "/p"))


@pytest.mark.parametrize(
    ("ref", "swagger", "name"),
    [
        ("#/definitions/Pet", True, "Pet"),
        ("#/components/schemas/Pet", False, "Pet"),
        ("#/components/schemas/Pet", True, None),
        ("#/definitions/Pet/properties/x", True, None),
        ("#/components/schemas/a~1b", False, "a/b"),
        ("https://apigateway.amazonaws.com/restapis/x/models/Pet", False, None),
        (None, False, None),
    ],
)
def test_model_name(ref: object, swagger: bool, name: str | None) -> None:
    assert model_name(ref, swagger) == name


def test_yaml_aliases_that_expand_past_the_bound_are_a_definition_error() -> None:
    """Issue 18 (fuzzing): 600 bytes of nested YAML aliases ("a billion laughs") took minutes to walk; they are
    refused with the file's name at once, and a document that shares a few values by alias still loads."""
    from fastgw.config.openapi import parse_definition
    from fastgw.errors import DefinitionError

    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    bomb = "openapi: 3.0.1\ninfo: {title: t, version: '1'}\nx-bomb:\n" + "".join(f"  {line}\n" for line in levels)
    with pytest.raises(DefinitionError, match=r"bomb\.yaml: YAML error: YAML aliases expand the document"):
        parse_definition(bomb + "paths: {}\n", "bomb.yaml")
    shared = "openapi: 3.0.1\ninfo: &info {title: t, version: '1'}\nx-copy: *info\npaths: {}\n"
    assert parse_definition(shared, "shared.yaml").source == "shared.yaml"
