"""Access-log templates: parse errors, and what the sink writes for them (JSON and CLF presets, escaping, "-" for
absent values, the value of each variable)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fastgw._core import AccessLogSink
from fastgw.observability.access_log import CLF_FORMAT, JSON_FORMAT, AccessLogFormat, compile_sink

# 2024-03-07T09:05:03.250Z
EPOCH = 1709802303.25


def render(template: str, **changes: Any) -> str:
    """The line the sink writes for a GET /prod/pets/7 answered 200 with 42 bytes in 12.5 ms (9.5 ms of
    integration), with ``changes`` to the request."""
    request: dict[str, Any] = {
        "request_id": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        "extended_request_id": None,
        "method": "GET",
        "path": "/pets/7",
        "route": SimpleNamespace(route_key="GET /pets/{id}", resource_path="/pets/{id}"),
        "client": "203.0.113.9:50123",
        "host": None,
        "response": SimpleNamespace(body=b"x" * 42, stream=None, status=changes.pop("status", 200)),
        "start_time": 0.0,
        "integration_seconds": changes.pop("integration", 0.0095),
        "response_type": None,
        "key_slot": None,
        "trace": None,
    }
    message = changes.pop("message", None)
    runtime = SimpleNamespace(
        api_id=changes.pop("api_id", None),
        stage_name="prod",
        api_type="REST",
        key_ids=changes.pop("key_ids", None),
        responses=SimpleNamespace(default_for=lambda t: SimpleNamespace(message=message)),
    )
    user_agent = changes.pop("user_agent", "curl/8.5.0")
    request["header"] = lambda name: {"user-agent": user_agent}.get(name)
    request.update(changes)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "access.log"
        clocks = {"now": lambda: EPOCH + 0.0125, "perf_counter": lambda: 0.0125}
        sink, write = compile_sink(template, str(path), dropped=pytest.fail, **clocks)
        write(SimpleNamespace(**request), runtime)
        sink.close()
        (line,) = path.read_text().splitlines()
    return line


def test_unknown_variables_are_refused_at_load_by_name() -> None:
    with pytest.raises(ValueError, match=r"\$context\.requestID, \$context\.identity\.sourceIP"):
        AccessLogFormat.parse("$context.requestId $context.requestID $context.identity.sourceIP")
    with pytest.raises(ValueError, match=r"variable: \$context\.nope$"):
        AccessLogFormat.parse('{"x":"$context.nope"}')


def test_a_format_must_be_one_line() -> None:
    with pytest.raises(ValueError, match="single line"):
        AccessLogFormat.parse("$context.requestId\n$context.status")


def test_aws_names_without_a_value_load_and_render_absent() -> None:
    assert render("$context.waf.latency $context.identity.cognitoIdentityId $context.webaclArn") == "- - -"


def test_clf_preset() -> None:
    line = render(CLF_FORMAT)
    assert line == (
        '203.0.113.9 - - [07/Mar/2024:09:05:03 +0000] "GET GET /pets/{id} HTTP/1.1" 200 42 '
        "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    )


def test_json_preset() -> None:
    line = render(JSON_FORMAT)
    assert json.loads(line) == {
        "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        "ip": "203.0.113.9",
        "requestTime": "07/Mar/2024:09:05:03 +0000",
        "httpMethod": "GET",
        "routeKey": "GET /pets/{id}",
        "status": "200",
        "protocol": "HTTP/1.1",
        "responseLength": "42",
    }


def test_absent_values_render_as_a_dash() -> None:
    line = json.loads(render(JSON_FORMAT, route=None, response=None, client=""))
    assert (line["routeKey"], line["responseLength"], line["ip"]) == ("-", "-", "-")
    assert line["status"] == "500"  # no response: logged as 500, as the metrics count it


@pytest.mark.parametrize(
    ("client", "ip"), [("[2001:db8::1]:443", "2001:db8::1"), ("203.0.113.9:1", "203.0.113.9"), ("unix", "-")]
)
def test_the_source_ip_is_the_client_address_without_its_port(client: str, ip: str) -> None:
    assert render("$context.identity.sourceIp|", client=client) == f"{ip}|"


def test_other_values_are_written_through_str(tmp_path: Path) -> None:
    class Named:
        def __str__(self) -> str:
            return 'a "name"'

    sink = AccessLogSink(str(tmp_path / "a.log"), ["{", "|", "|", "|", "|", "}"], ["plain"] * 5, json=True)
    assert sink.submit((2**70, Named(), True, -1.5, "x"))
    assert sink.submit(("only one",))  # missing values render "-"
    sink.close()
    assert (tmp_path / "a.log").read_text().splitlines() == [
        '{1180591620717411303424|a \\"name\\"|1|-1.5|x}',
        "{only one|-|-|-|-}",
    ]


def test_json_values_are_escaped() -> None:
    template = '{"ua":"$context.identity.userAgent","err":"$context.error.message"}'
    hostile = 'evil "agent"\\\n{"forged":1}\t\x00é'
    line = render(
        template,
        user_agent=hostile,
        response_type="MISSING_AUTHENTICATION_TOKEN",
        message="Missing Authentication Token",
    )
    assert "\n" not in line
    assert json.loads(line) == {"ua": hostile, "err": "Missing Authentication Token"}


def test_error_message_string_is_a_quoted_json_value() -> None:
    template = '{"error":$context.error.messageString,"status":$context.status}'
    line = render(template, response_type="INVALID_API_KEY", message='Invalid "key"\n', status=403)
    assert json.loads(line) == {"error": 'Invalid "key"\n', "status": 403}


def test_text_values_cannot_start_a_new_line() -> None:
    line = render("$context.identity.userAgent|$context.status", user_agent="a\nb\r\x1bc")
    assert line == "a\\nb\\r\\u001bc|200"


def test_variables_and_their_values() -> None:
    cases = {
        "requestTimeEpoch": "1709802303250",
        "extendedRequestId": "Ab1Cd2Ef3=",
        "apiId": "a1b2c3",
        "stage": "prod",
        "path": "/prod/pets/7",
        "resourcePath": "/pets/{id}",
        "responseLatency": "12",
        "integrationLatency": "9",
        "integration.latency": "9",
        "integrationStatus": "200",
        "integration.status": "200",
        "identity.apiKeyId": "key-id-9",
        "domainName": "api.example.com",
        "domainPrefix": "api",
        "error.responseType": "-",
        "error.message": "-",
        # Accepted from AWS templates; fastgw has no value for them (no authorizers, no DataProcessed yet).
        "dataProcessed": "-",
        "authorizer.principalId": "-",
        "authorizer.tenant": "-",
        "authorizer.claims.sub": "-",
    }
    template = " ".join(f"$context.{name}" for name in cases)
    assert AccessLogFormat.parse(template).variables == tuple(cases)
    line = render(
        template,
        api_id="a1b2c3",
        extended_request_id="Ab1Cd2Ef3=",
        key_slot=7,
        key_ids={7: "key-id-9"}.get,
        host="api.example.com",
    )
    assert line.split(" ") == list(cases.values())


def test_a_refused_request() -> None:
    template = "$context.status $context.error.responseType $context.error.message|$context.integrationStatus"
    line = render(template, status=429, response_type="THROTTLED", message="Too Many Requests", integration=None)
    assert line == "429 THROTTLED Too Many Requests|-"


def test_extended_request_id_defaults_to_the_request_id() -> None:
    assert render("$context.extendedRequestId") == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


def test_the_api_key_value_is_never_logged() -> None:
    assert render("$context.identity.apiKey", key_slot=7, key_ids={7: "kid"}.get) == "-"


def test_a_variable_followed_by_a_dot_ends_at_the_dot() -> None:
    assert render("status $context.status.") == "status 200."


def test_the_xray_trace_id_comes_from_the_propagated_header() -> None:
    trace = (
        "00-674000000123456789abcdef01234567-0123456789abcdef-00",
        "Root=1-67400000-0123456789abcdef01234567;Parent=1",
    )
    assert render("$context.xrayTraceId", trace=trace) == "1-67400000-0123456789abcdef01234567"


def test_a_full_buffer_drops_lines_and_counts_them(tmp_path: Path) -> None:
    dropped = []
    sink, write = compile_sink(
        "$context.requestId", str(tmp_path / "e.log"), capacity=1, dropped=lambda: dropped.append(1)
    )
    request = SimpleNamespace(request_id="r-1")
    for _ in range(20_000):
        write(request, None)  # type: ignore[arg-type]
    sink.close()
    assert len(dropped) == sink.dropped > 0
    assert len((tmp_path / "e.log").read_text().splitlines()) == 20_000 - len(dropped)
