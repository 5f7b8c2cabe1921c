"""Access-log formats compiled for the Rust sink: the lines it writes for known requests."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fastgw.observability.access_log import JSON_FORMAT
from fastgw.observability.log_sink import compile_sink


def request(**overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "request_id": "r-1",
        "extended_request_id": "e-1",
        "host": "api.example.com",
        "method": "GET",
        "route": SimpleNamespace(route_key="GET /pets/{id}", resource_path="/pets/{id}"),
        "path": "/pets/1",
        "scope": SimpleNamespace(client="10.0.0.1:41234"),
        "response": SimpleNamespace(body=b"12345", stream=None),
        "response_type": None,
        "key_slot": None,
        "trace": ("00-abc", "Root=1-67400000-0123456789abcdef01234567;Parent=1;Sampled=0"),
        "header": lambda name: {"user-agent": 'curl "8"'}.get(name),
    }
    fields.update(overrides)
    return SimpleNamespace(**fields)


RUNTIME = SimpleNamespace(
    api_id="abc123", stage_name="prod", api_type="REST", key_ids=None,
    responses=SimpleNamespace(default_for=lambda t: SimpleNamespace(message="Too Many Requests")),
)  # fmt: skip


def lines(path: Path, template: str, *requests: tuple[Any, int, float, float | None]) -> list[str]:
    sink, values = compile_sink(template, str(path))
    for req, status, latency, integration in requests:
        assert sink.submit(values(req, RUNTIME, status, latency, integration, 1_763_769_600.0))
    sink.close()
    return path.read_text().splitlines()


def test_the_json_preset(tmp_path: Path) -> None:
    (line,) = lines(tmp_path / "a.log", JSON_FORMAT, (request(), 200, 0.012, 0.010))
    assert json.loads(line) == {
        "requestId": "r-1",
        "ip": "10.0.0.1",
        "requestTime": "22/Nov/2025:00:00:00 +0000",
        "httpMethod": "GET",
        "routeKey": "GET /pets/{id}",
        "status": "200",
        "protocol": "HTTP/1.1",
        "responseLength": "5",
    }


def test_every_kind_of_value(tmp_path: Path) -> None:
    template = (
        '{"ua":"$context.identity.userAgent","lat":"$context.responseLatency","il":"$context.integrationLatency",'
        '"err":"$context.error.message","type":"$context.error.responseType","key":"$context.identity.apiKey",'
        '"path":"$context.path","xray":"$context.xrayTraceId","epoch":"$context.requestTimeEpoch",'
        '"waf":"$context.waf.status"}'
    )
    throttled = request(response_type="THROTTLED", route=None)
    first, second = lines(tmp_path / "b.log", template, (request(), 200, 0.0125, 0.01), (throttled, 429, 0.001, None))
    assert json.loads(first) == {
        "ua": 'curl "8"',
        "lat": "12",
        "il": "10",
        "err": "-",
        "type": "-",
        "key": "-",  # a secret: never logged
        "path": "/prod/pets/1",
        "xray": "1-67400000-0123456789abcdef01234567",
        "epoch": "1763769600000",
        "waf": "-",  # an AWS-only variable
    }
    assert json.loads(second)["err"] == "Too Many Requests"
    assert json.loads(second)["il"] == "-"


def test_text_formats_keep_values_on_their_line(tmp_path: Path) -> None:
    (line,) = lines(
        tmp_path / "c.log",
        "$context.identity.userAgent $context.status",
        (request(header=lambda n: "a\nb"), 200, 0.0, None),
    )
    assert line == "a\\nb 200"


def test_unknown_variables_are_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\$context\.nope"):
        compile_sink("$context.nope", str(tmp_path / "d.log"))


def test_a_full_queue_drops_lines_and_counts_them(tmp_path: Path) -> None:
    sink, values = compile_sink("$context.requestId", str(tmp_path / "e.log"), capacity=1)
    sent = sum(sink.submit(values(request(), RUNTIME, 200, 0.0, None, time.time())) for _ in range(20_000))
    sink.close()
    assert sent + sink.dropped == 20_000
    assert sink.dropped > 0
    assert len((tmp_path / "e.log").read_text().splitlines()) == sent
