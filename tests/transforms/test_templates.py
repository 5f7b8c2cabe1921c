"""REST mapping templates (reference §5.3): every variable family, Java-style printing, overrides, selection."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qsl

import pytest

from fastgw.errors import UnsupportedMediaTypeError
from fastgw.integrations.base import Request
from fastgw.integrations.selection import RequestTemplates, is_binary
from fastgw.transforms.templates import (
    MappingTemplate,
    TemplateInput,
    TemplateSyntaxError,
    body_text,
    escape_javascript,
    java_string,
    wrap,
)


@dataclass
class FakeDefinition:
    binary_media_types: tuple[str, ...] = ()


@dataclass
class FakeLimits:
    max_body_bytes: int = 1024


@dataclass
class FakeStage:
    api_type: str = "REST"
    stage_name: str = "prod"
    api_id: str = "abc123defg"
    stage_variables: dict[str, str] = field(default_factory=lambda: {"flavour": "vanilla"})
    limits: FakeLimits = field(default_factory=FakeLimits)
    definition: FakeDefinition = field(default_factory=FakeDefinition)


@dataclass
class FakeRoute:
    resource_path: str = "/pets/{id}"


@dataclass
class FakeRequest:
    """The attributes of :class:`~fastgw.integrations.base.Request` that templates read."""

    method: str = "POST"
    path: str = "/pets/7"
    query_string: str = "q=first&q=last&kind=dog"
    header_list: list[tuple[str, str]] = field(
        default_factory=lambda: [("user-agent", "curl/8"), ("x-id", "a"), ("x-id", "b"), ("content-type", "text/x")]
    )
    params: dict[str, str] = field(default_factory=lambda: {"id": "7", "kind": "from-path"})
    request_id: str = "req-1"
    extended_request_id: str = "ext-1="
    client_ip: str = "10.0.0.9"
    host: str = "api.example.com"
    stage: FakeStage = field(default_factory=FakeStage)
    route: FakeRoute | None = field(default_factory=FakeRoute)
    body_length: int | None = None
    protocol: Any = None

    @property
    def query(self) -> dict[str, list[str]]:
        query: dict[str, list[str]] = {}
        for name, value in parse_qsl(self.query_string, keep_blank_values=True):
            query.setdefault(name, []).append(value)
        return query

    def header(self, name: str) -> str | None:
        values = [v for n, v in self.header_list if n == name]
        return ",".join(values) if values else None


def variables(**fields: Any) -> TemplateInput:
    return TemplateInput.from_request(cast(Request, FakeRequest(**fields)))


def render(text: str, body: str = "", inputs: TemplateInput | None = None) -> str:
    return MappingTemplate("application/json", text).render(inputs or variables(), body)


BODY = '{"foo": "bar", "n": 1.5, "ok": true, "none": null, "list": [{"nested": "bar"}, 2], "o": {"a": {"b": "c"}}}'

# -- $input ------------------------------------------------------------------------------------------


def test_input_body_is_the_raw_text() -> None:
    assert render("$input.body", '{"a": 1}') == '{"a": 1}'
    assert render("$input.body", "") == "{}"  # an empty body reads as {} (as LocalStack's engine, validated)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", '{"foo":"bar","n":1.5,"ok":true,"none":null,"list":[{"nested":"bar"},2],"o":{"a":{"b":"c"}}}'),
        ("$.foo", '"bar"'),
        ("$.n", "1.5"),
        ("$.ok", "true"),
        ("$.none", "null"),
        ("$.list", '[{"nested":"bar"},2]'),
        ("$.list[0]", '{"nested":"bar"}'),
        ("$.list[-1]", "2"),
        ("$.list[0].nested", '"bar"'),
        ("$['foo']", '"bar"'),
        ('$["o"]["a"].b', '"c"'),
        ("$.o.a", '{"b":"c"}'),
        ("$.missing", ""),
        ("$.list[5]", ""),
        ("$..nested", '["bar"]'),
        ("$.list[*]", '[{"nested":"bar"},2]'),
        ("$.list[0:1]", '[{"nested":"bar"}]'),
        ("$.o.*", '[{"b":"c"}]'),
        ("$.list[?(@.nested)]", ""),  # filters: outside the supported subset, find nothing
    ],
)
def test_input_json(path: str, expected: str) -> None:
    quoted = f'"{path}"' if "'" in path else f"'{path}'"
    assert render(f"$input.json({quoted})", BODY) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # Java-flavoured printing, as LocalStack's AWS-validated test_input_path_template_formatting shows.
        ("$input.path('$')", '{foo=bar, n=1.5, ok=true, none=null, list=[{"nested":"bar"},2], o={a={b=c}}}'),
        ("$input.path('$.foo')", "bar"),
        ("$input.path('$.list')", '[{"nested":"bar"},2]'),
        ("$input.path('$.o')", "{a={b=c}}"),
        ("$input.path('$.none')", ""),
        ("$input.path('$.missing')", ""),
        ("$input.path('$').foo", "bar"),
        ("$input.path('$').list[0].nested", "bar"),
        ("$input.path('$').list.size()", "2"),
        ("$input.path('$').o.size()", "1"),
        ("$input.path('$').o.containsKey('a')", "true"),
        ("#foreach($k in $input.path('$').o.a.keySet())$k=$input.path('$').o.a.get($k)#end", "b=c"),
        ("#foreach($i in $input.path('$.list'))[$i]#end", "[{nested=bar}][2]"),
    ],
)
def test_input_path_prints_as_java(template: str, expected: str) -> None:
    assert render(template, BODY) == expected


def test_input_path_on_a_dict_with_a_list() -> None:
    assert render("$input.path('$')", '{"foo": [{"nested": "bar"}]}') == '{foo=[{"nested":"bar"}]}'
    assert render("$input.path('$')", '{"bigger": "dict", "to": "test", "with": "separators"}') == (
        "{bigger=dict, to=test, with=separators}"
    )


def test_input_on_a_body_that_is_not_json() -> None:
    assert render("[$input.json('$.a')][$input.path('$.a')][$input.body]", "a=1&b=2") == "[][][a=1&b=2]"


def test_input_params_searches_path_then_query_then_header() -> None:
    assert render("$input.params('id')") == "7"
    assert render("$input.params('kind')") == "from-path"
    assert render("$input.params('q')") == "last"  # the last of a repeated query parameter, as AWS
    assert render("$input.params('user-agent')") == "curl/8"
    assert render("$input.params('User-Agent')") == "curl/8"  # header names ignore case
    assert render("$input.params('x-id')") == "a,b"
    assert render("[$input.params('nope')]") == "[]"


def test_input_params_map() -> None:
    assert render("$input.params().path") == "{id=7, kind=from-path}"
    assert render("$input.params().querystring") == "{q=last, kind=dog}"
    assert render("$input.params().header.get('X-Id')") == "a,b"
    assert render("$input.params().querystring.kind") == "dog"
    assert render("#foreach($n in $input.params().path.keySet())$n#if($foreach.hasNext),#end#end") == "id,kind"


# -- $util -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("it's", "it\\'s"),
        ('say "hi"', 'say \\"hi\\"'),
        ("a/b\\c", "a\\/b\\\\c"),
        ("line\nnext\ttab\r", "line\\nnext\\ttab\\r"),
        ("\x01", "\\u0001"),
        ("é", "\\u00E9"),
        ("€", "\\u20AC"),
        ("😀", "\\uD83D\\uDE00"),
    ],
)
def test_escape_javascript_as_commons_lang(text: str, expected: str) -> None:
    assert escape_javascript(text) == expected
    assert render("$util.escapeJavaScript($input.path('$.t'))", '{"t": ' + java_json(text) + "}") == expected


def java_json(text: str) -> str:
    import json

    return json.dumps(text)


def test_util_functions() -> None:
    assert render("$util.urlEncode('a b&c=d*~é')") == "a+b%26c%3Dd*%7E%C3%A9"
    assert render("$util.urlDecode('a+b%26c')") == "a b&c"
    assert render("$util.base64Encode('hello')") == "aGVsbG8="
    assert render("$util.base64Decode('aGVsbG8=')") == "hello"
    assert render('$util.parseJson(\'{"a": {"b": [1, 2]}}\').a.b') == "[1,2]"
    assert render('$util.parseJson(\'{"a": {"b": 1}}\').a') == "{b=1}"
    assert render("#set($m = $util.parseJson($input.body))$m.foo", BODY) == "bar"


def test_util_failure_raises() -> None:
    with pytest.raises(Exception, match="parseJson"):
        render("$util.parseJson('not json')")


# -- $context and $stageVariables --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("requestId", "req-1"),
        ("extendedRequestId", "ext-1="),
        ("httpMethod", "POST"),
        ("resourcePath", "/pets/{id}"),
        ("stage", "prod"),
        ("apiId", "abc123defg"),
        ("identity.sourceIp", "10.0.0.9"),
        ("identity.userAgent", "curl/8"),
        ("path", "/pets/7"),
        ("protocol", "HTTP/1.1"),
        ("domainName", "api.example.com"),
        ("nothing", ""),
    ],
)
def test_context(name: str, expected: str) -> None:
    assert render(f"$context.{name}") == expected


def test_context_request_time() -> None:
    assert re.fullmatch(r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000", render("$context.requestTime"))
    assert re.fullmatch(r"\d{13}", render("$context.requestTimeEpoch"))


def test_stage_variables() -> None:
    assert render("$stageVariables.flavour") == "vanilla"
    assert render("[$stageVariables.nothing]") == "[]"


# -- overrides ---------------------------------------------------------------------------------------


def test_request_override() -> None:
    inputs = variables()
    out = render(
        "#set($context.requestOverride.header.X-Extra = 'x-' + $input.params('id'))"
        "#set($context.requestOverride.querystring.page = 2)"
        "#set($context.requestOverride.path.id = 'nine')ok",
        inputs=inputs,
    )
    assert out == "ok"
    assert inputs.request_overrides("header") == [("X-Extra", "x-7")]
    assert inputs.request_overrides("querystring") == [("page", "2")]
    assert inputs.request_overrides("path") == [("id", "nine")]


@pytest.mark.parametrize(
    ("status", "expected"), [("444", 444), ("'201'", 201), ("99", None), ("600", None), ("'abc'", None)]
)
def test_response_override_status(status: str, expected: int | None) -> None:
    inputs = variables()
    render(f"#set($context.responseOverride.status = {status})", inputs=inputs)
    assert inputs.override_status() == expected


def test_response_override_header() -> None:
    inputs = variables()
    render("#set($context.responseOverride.header.X-Custom = 'v')", inputs=inputs)
    assert inputs.override_headers() == [("X-Custom", "v")]
    assert variables().override_status() is None


# -- parsing and fixed text --------------------------------------------------------------------------


def test_fixed_text_never_goes_through_the_engine() -> None:
    template = MappingTemplate("application/json", '{"statusCode": 200}')
    assert template.is_static
    assert template.render(variables(), "") == '{"statusCode": 200}'


def test_syntax_error_at_load_names_the_content_type() -> None:
    with pytest.raises(TemplateSyntaxError, match="application/xml"):
        MappingTemplate("application/xml", "#if($a")


def test_java_string() -> None:
    assert java_string(None) == ""
    assert java_string(True) == "true"
    assert java_string(wrap({"a": [1, {"b": None}], "c": None})) == '{a=[1,{"b":null}], c=null}'
    assert java_string(wrap([{"a": 1}])) == '[{"a":1}]'


# -- selection and passthrough -----------------------------------------------------------------------


def test_request_template_by_content_type_then_default() -> None:
    templates = RequestTemplates({"application/json": "J", "$default": "D"}, "NEVER")
    assert (t := templates.select(None)) is not None and t.text == "J"
    assert (t := templates.select("Application/JSON; charset=utf-8")) is not None and t.text == "J"
    assert (t := templates.select("text/plain")) is not None and t.text == "D"


@pytest.mark.parametrize(
    ("templates", "behavior", "content_type", "refused"),
    [
        ({"application/json": "J"}, "WHEN_NO_MATCH", "text/plain", False),
        ({"application/json": "J"}, "WHEN_NO_TEMPLATES", "text/plain", True),
        ({}, "WHEN_NO_TEMPLATES", "text/plain", False),
        ({"application/json": "J"}, "NEVER", "text/plain", True),
        ({}, "NEVER", "text/plain", True),
        ({"application/json": "J"}, "NEVER", None, False),
    ],
)
def test_passthrough_behavior(
    templates: dict[str, str], behavior: Any, content_type: str | None, refused: bool
) -> None:
    compiled = RequestTemplates(templates, behavior)
    if refused:
        with pytest.raises(UnsupportedMediaTypeError):
            compiled.select(content_type)
    else:
        compiled.select(content_type)


@pytest.mark.parametrize(
    ("content_type", "types", "expected"),
    [
        ("image/png", ("image/png",), True),
        ("image/png; q=1", ("image/png",), True),
        ("image/jpeg", ("image/*",), True),
        ("text/plain", ("*/*",), True),
        ("text/plain", ("image/*",), False),
        (None, ("*/*",), False),
        ("image/png", (), False),
    ],
)
def test_binary_media_types(content_type: str | None, types: tuple[str, ...], expected: bool) -> None:
    assert is_binary(content_type, types) is expected


def test_binary_body_is_base64_for_input_body() -> None:
    assert body_text(b"\xff\x00", binary=True) == "/wA="
    assert body_text("é".encode(), binary=False) == "é"


# -- reading the body --------------------------------------------------------------------------------


class FakeProtocol:
    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    async def __call__(self) -> bytes:
        return b"".join(self.chunks)

    def __aiter__(self) -> Any:
        async def iterate() -> Any:
            for chunk in self.chunks:
                yield chunk

        return iterate()
