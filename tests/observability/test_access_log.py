"""Access-log templates (parse errors, JSON and CLF rendering, escaping, "-" for absent values) and the writer
(batches to a file, drops and counts when its queue is full, never raises)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from fastgw.observability.access_log import (
    CLF_FORMAT,
    JSON_FORMAT,
    AccessLogFormat,
    AccessRecord,
)

# 2024-03-07T09:05:03.250Z
EPOCH = 1709802303.25


def record(**changes: object) -> AccessRecord:
    base = AccessRecord(
        request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        request_time=EPOCH,
        http_method="GET",
        path="/prod/pets/7",
        stage="prod",
        route_key="GET /pets/{id}",
        resource_path="/pets/{id}",
        source_ip="203.0.113.9",
        user_agent="curl/8.5.0",
        status=200,
        response_length=42,
        response_latency_ms=12,
        integration_latency_ms=9,
        integration_status=200,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_unknown_variables_are_refused_at_load_by_name() -> None:
    with pytest.raises(ValueError, match=r"\$context\.requestID, \$context\.identity\.sourceIP"):
        AccessLogFormat.parse("$context.requestId $context.requestID $context.identity.sourceIP")
    with pytest.raises(ValueError, match=r"variable: \$context\.nope$"):
        AccessLogFormat.parse('{"x":"$context.nope"}')


def test_a_format_must_be_one_line() -> None:
    with pytest.raises(ValueError, match="single line"):
        AccessLogFormat.parse("$context.requestId\n$context.status")


def test_aws_names_without_a_value_load_and_render_absent() -> None:
    fmt = AccessLogFormat.parse("$context.waf.latency $context.identity.cognitoIdentityId $context.webaclArn")
    assert fmt.render(record()) == "- - -"


def test_clf_preset() -> None:
    line = AccessLogFormat.parse(CLF_FORMAT).render(record())
    assert line == (
        '203.0.113.9 - - [07/Mar/2024:09:05:03 +0000] "GET GET /pets/{id} HTTP/1.1" 200 42 '
        "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    )


def test_json_preset() -> None:
    line = AccessLogFormat.parse(JSON_FORMAT).render(record())
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
    fmt = AccessLogFormat.parse(JSON_FORMAT)
    line = json.loads(fmt.render(record(route_key=None, status=None, response_length=None, source_ip=None)))
    assert (line["routeKey"], line["status"], line["responseLength"], line["ip"]) == ("-", "-", "-", "-")


def test_json_values_are_escaped() -> None:
    fmt = AccessLogFormat.parse('{"ua":"$context.identity.userAgent","err":"$context.error.message"}')
    hostile = 'evil "agent"\\\n{"forged":1}\t\x00é'
    line = fmt.render(record(user_agent=hostile, error_message="Missing Authentication Token"))
    assert "\n" not in line
    assert json.loads(line) == {"ua": hostile, "err": "Missing Authentication Token"}


def test_error_message_string_is_a_quoted_json_value() -> None:
    fmt = AccessLogFormat.parse('{"error":$context.error.messageString,"status":$context.status}')
    line = fmt.render(record(error_message='Invalid "key"\n', status=403))
    assert json.loads(line) == {"error": 'Invalid "key"\n', "status": 403}


def test_text_values_cannot_start_a_new_line() -> None:
    line = AccessLogFormat.parse("$context.identity.userAgent|$context.status").render(record(user_agent="a\nb\r\x1bc"))
    assert line == "a\\nb\\r\\u001bc|200"


def test_variables_and_their_values() -> None:
    rec = record(
        api_id="a1b2c3",
        extended_request_id="Ab1Cd2Ef3=",
        api_key_id="key-id-9",
        domain_name="api.example.com",
        error_response_type="THROTTLED",
        data_processed=1234,
        authorizer_principal_id="user-1",
        authorizer={"tenant": "acme"},
        authorizer_claims={"sub": "abc"},
    )
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
        "error.responseType": "THROTTLED",
        "error.message": "-",
        "dataProcessed": "1234",
        "authorizer.principalId": "user-1",
        "authorizer.tenant": "acme",
        "authorizer.claims.sub": "abc",
        "authorizer.claims.email": "-",
    }
    fmt = AccessLogFormat.parse(" ".join(f"$context.{name}" for name in cases))
    assert fmt.variables == tuple(cases)
    assert fmt.render(rec).split(" ") == list(cases.values())


def test_extended_request_id_defaults_to_the_request_id() -> None:
    assert AccessLogFormat.parse("$context.extendedRequestId").render(record()) == record().request_id


def test_the_api_key_value_is_never_logged() -> None:
    assert [f.name for f in dataclasses.fields(AccessRecord) if "api_key" in f.name] == ["api_key_id"]
    assert AccessLogFormat.parse("$context.identity.apiKey").render(record(api_key_id="kid")) == "-"


def test_a_variable_followed_by_a_dot_ends_at_the_dot() -> None:
    assert AccessLogFormat.parse("status $context.status.").render(record()) == "status 200."


# -- the writer --------------------------------------------------------------------------------------------
