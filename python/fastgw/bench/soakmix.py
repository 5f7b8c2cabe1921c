"""What the soak (`fastgw bench --soak`) serves and asks: one gateway file that puts every stage of the pipeline
on some route, and the traffic mix that reaches each of them, with the answers each kind of request may get.

The gateway (`gateway_file`) serves two APIs on one listener:

- a REST API at the root (`rest_definition`): proxied `GET /pets/{id}` (a path and a header mapped) and
  `POST /pets`; `GET /cached/{id}` with the stage cache on (the id in the cache key, a short TTL over a bounded
  set of ids, so that entries expire and are fetched again: hits and misses all along); a mock `GET /mock`
  (mapping templates); `GET /keyed/{id}` behind an API key in a usage plan whose throttle the load exceeds
  (429s) and whose quota counts every request but is never reached; `POST /validated` with a request
  validator and a body model; `ANY /large`, bodies over 256 KiB streamed both ways (the suite's nginx backend
  answers 1 MiB once it has read the whole request). Two routes go to the second backend, a Granian app
  (peers/soak_backend.py): `GET /slow/{id}`, answered after SLOW_SECONDS (well within the route's timeout),
  and `GET /stream/{id}`, 16 MiB streamed, for the clients that leave in the middle of a download (it is not
  in the mix: wrk reads every body whole);
- an HTTP API under `/http` (`http_definition`): a proxied route with a parameter mapping; anything else there
  is its 404.

Metrics and JSON access logs (to /dev/null) are on, as in production: every request takes the full Python path
(the Rust-only answer of a cache hit on a plain stage, which needs both off, is not part of this run).

The mix (MIX) is sent by one wrk whose Lua script (`lua_script`) picks each request at random by weight and
counts every answer by status; the backends never answer anything but 200, so every 5xx is the gateway's own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fastgw.bench.scenarios import API_KEY, BODY, LARGE_PATH

SLOW_SECONDS = 0.25  # the Granian backend's delay before it answers /slow/{id}
SLOW_TIMEOUT_MS = 5000  # the slow route's integration timeout: 20 times the delay
CACHE_TTL = 5  # seconds; with CACHE_IDS ids the load both hits and misses the cache all along
CACHE_IDS = 400
PLAN_RATE, PLAN_BURST = 50.0, 25  # the usage plan's throttle, far below the keyed route's share of the load
PLAN_QUOTA = 1_000_000_000  # per day: counted on every keyed request, never reached
UPLOAD_BYTES = 320 * 1024  # over the 256 KiB above which request bodies are streamed
LUA_SEED = 20261207  # the mix is random, and the same on every run

VALID_ORDER = '{"id": 7, "item": {"sku": "ABC-123"}, "note": "soak"}'
INVALID_ORDERS = (
    '{"id": "seven", "item": {"sku": "ABC-123"}}',  # a wrong type
    '{"id": 7}',  # a required property missing
    '{"id": 7, "item": {"sku": "abc"}}',  # a pattern not matched, in a $ref'd model
    "not json at all",
)


@dataclass(frozen=True)
class Ask:
    """One kind of request in the mix: `weight` of every 100 requests; `path` ends in a random id from 1 to
    `ids` when `ids` is set; `expect` holds the statuses it may get."""

    name: str
    method: str
    path: str
    weight: int
    expect: frozenset[int]
    ids: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    bodies: tuple[str, ...] = ()  # one of them, at random; none: no body
    filler_bytes: int = 0  # a body of this many bytes of filler instead

    @property
    def what(self) -> str:
        """The request as the report names it: `GET /pets/{id}`."""
        return f"{self.method} {self.path}{'{id}' if self.ids else ''}"


JSON = (("content-type", "application/json"),)
OK = frozenset({200})
FORBIDDEN = frozenset({403})

MIX: tuple[Ask, ...] = (
    Ask("proxy GET", "GET", "/pets/", 27, OK, ids=1_000_000),
    Ask("proxy POST", "POST", "/pets", 10, OK, headers=JSON, bodies=('{"name": "rex", "kind": "dog"}',)),
    Ask("cache", "GET", "/cached/", 20, OK, ids=CACHE_IDS),
    Ask("mock", "GET", "/mock", 10, OK),
    Ask("API key, throttled", "GET", "/keyed/", 10, frozenset({200, 429}), ids=1000, headers=(("x-api-key", API_KEY),)),
    Ask("API key missing", "GET", "/keyed/", 2, FORBIDDEN, ids=1000),
    Ask("validated, valid", "POST", "/validated", 5, OK, headers=JSON, bodies=(VALID_ORDER,)),
    Ask("validated, invalid", "POST", "/validated", 5, frozenset({400}), headers=JSON, bodies=INVALID_ORDERS),
    Ask("no route (REST)", "GET", "/nowhere/", 1, FORBIDDEN, ids=1_000_000),
    # Answered before its body is read: the body is drained so that the connection stays usable (issue 18, item 4).
    Ask("no route, with a body (REST)", "POST", "/nowhere/", 1, FORBIDDEN, ids=1_000_000, bodies=(VALID_ORDER,)),
    Ask("HTTP API proxy", "GET", "/http/items/", 4, OK, ids=1_000_000),
    Ask("no route (HTTP API)", "GET", "/http/nowhere/", 2, frozenset({404}), ids=1_000_000),
    Ask("slow backend", "GET", "/slow/", 1, OK, ids=1_000_000),
    Ask("large upload (320 KiB up, 1 MiB down)", "POST", LARGE_PATH, 1, OK, filler_bytes=UPLOAD_BYTES),
    Ask("large download (1 MiB)", "GET", LARGE_PATH, 1, OK),
)
assert sum(ask.weight for ask in MIX) == 100

EXPECTED_STATUSES = frozenset().union(*(ask.expect for ask in MIX))


# ---- the API definitions and the gateway file ---------------------------------------------------------------------


def _proxy(
    method: str, path: str, *, port_variable: str = "backendPort", timeout_ms: int | None = None
) -> dict[str, Any]:
    """A REST `http_proxy` operation to the same path on the backend at `${stageVariables.<port_variable>}`, its
    path parameters mapped (and the first also sent as a header, so the mapping stage runs)."""
    params = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    integration: dict[str, Any] = {
        "type": "http_proxy",
        "httpMethod": method.upper() if method != "x-amazon-apigateway-any-method" else "ANY",
        "uri": f"http://127.0.0.1:${{stageVariables.{port_variable}}}{path}",
        "passthroughBehavior": "when_no_match",
    }
    if timeout_ms is not None:
        integration["timeoutInMillis"] = timeout_ms
    operation: dict[str, Any] = {"responses": {"200": {"description": "OK"}}}
    if params:
        operation["parameters"] = [{"name": name, "in": "path", "required": True, "type": "string"} for name in params]
        mapped = {f"integration.request.path.{name}": f"method.request.path.{name}" for name in params}
        mapped[f"integration.request.header.x-soak-{params[0]}"] = f"method.request.path.{params[0]}"
        integration["requestParameters"] = mapped
    operation["x-amazon-apigateway-integration"] = integration
    return operation


def rest_definition() -> dict[str, Any]:
    """The REST API (Swagger 2.0, as AWS exports it): see the module's docstring."""
    cached = _proxy("get", "/cached/{id}")
    cached["x-amazon-apigateway-integration"]["cacheKeyParameters"] = ["method.request.path.id"]
    keyed = _proxy("get", "/keyed/{id}")
    keyed["security"] = [{"api_key": []}]
    validated = _proxy("post", "/validated")
    validated["consumes"] = ["application/json"]
    validated["parameters"] = [
        {"name": "Order", "in": "body", "required": True, "schema": {"$ref": "#/definitions/Order"}}
    ]
    validated["x-amazon-apigateway-request-validator"] = "body"
    mock = {
        "produces": ["application/json"],
        "responses": {"200": {"description": "OK"}},
        "x-amazon-apigateway-integration": {
            "type": "mock",
            "requestTemplates": {"application/json": '{"statusCode": 200}'},
            "responses": {
                "default": {
                    "statusCode": "200",
                    "responseTemplates": {"application/json": '{"mock": true, "requestId": "$context.requestId"}'},
                }
            },
        },
    }
    return {
        "swagger": "2.0",
        "info": {"title": "fastgw-soak", "version": "1.0"},
        "paths": {
            "/pets/{id}": {"get": _proxy("get", "/pets/{id}")},
            "/pets": {"post": _proxy("post", "/pets")},
            "/cached/{id}": {"get": cached},
            "/mock": {"get": mock},
            "/keyed/{id}": {"get": keyed},
            "/validated": {"post": validated},
            "/slow/{id}": {"get": _proxy("get", "/slow/{id}", port_variable="granianPort", timeout_ms=SLOW_TIMEOUT_MS)},
            "/stream/{id}": {"get": _proxy("get", "/stream/{id}", port_variable="granianPort")},
            LARGE_PATH: {"x-amazon-apigateway-any-method": _proxy("x-amazon-apigateway-any-method", LARGE_PATH)},
        },
        "definitions": {
            "Order": {
                "$schema": "http://json-schema.org/draft-04/schema#",
                "type": "object",
                "required": ["id", "item"],
                "properties": {
                    "id": {"type": "integer", "minimum": 1},
                    "item": {"$ref": "#/definitions/Item"},
                    "note": {"type": "string", "maxLength": 100},
                },
            },
            "Item": {
                "type": "object",
                "required": ["sku"],
                "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"}},
            },
        },
        "securityDefinitions": {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}},
        "x-amazon-apigateway-request-validators": {
            "body": {"validateRequestBody": True, "validateRequestParameters": True},
        },
    }


def http_definition() -> dict[str, Any]:
    """The HTTP API (OpenAPI 3, as AWS exports it): `GET /items/{id}` proxied, the id also sent as a header."""
    return {
        "openapi": "3.0.1",
        "info": {"title": "fastgw-soak-http", "version": "1.0"},
        "x-amazon-apigateway-importexport-version": "1.0",
        "paths": {
            "/items/{id}": {
                "get": {
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"default": {"description": "OK"}},
                    "x-amazon-apigateway-integration": {
                        "type": "http_proxy",
                        "httpMethod": "GET",
                        "uri": "http://127.0.0.1:${stageVariables.backendPort}/items/{id}",
                        "payloadFormatVersion": "1.0",
                        "requestParameters": {"append:header.x-soak-id": "$request.path.id"},
                    },
                }
            }
        },
    }


UNLIMITED = {"rateLimit": 1e9, "burstLimit": 1_000_000_000}  # the stage and gateway buckets: checked, never empty


def gateway_file(
    directory: Path, *, host: str, port: int, metrics_port: int, backend_port: int, granian_port: int
) -> Path:
    """Writes the definitions and the gateway file (`gateway.yaml`) into `directory`; returns the file."""
    rest = directory / "rest.json"
    rest.write_text(json.dumps(rest_definition(), indent=1))
    http = directory / "http.json"
    http.write_text(json.dumps(http_definition(), indent=1))
    config = {
        "apis": {
            "soak": {
                "definition": str(rest),
                "stages": {
                    "prod": {
                        "variables": {"backendPort": str(backend_port), "granianPort": str(granian_port)},
                        "throttling": UNLIMITED,
                        "cacheClusterEnabled": True,
                        "cacheClusterSize": 0.5,
                        "methodSettings": {
                            "*/*": {"cachingEnabled": False},
                            "cached~1{id}/GET": {"cachingEnabled": True, "cacheTtlInSeconds": CACHE_TTL},
                        },
                    }
                },
            },
            "soakhttp": {
                "definition": str(http),
                "stages": {"prod": {"variables": {"backendPort": str(backend_port)}, "throttling": UNLIMITED}},
            },
        },
        "listeners": [{"host": host, "port": port}],
        "mappings": [
            {"api": "soak", "stage": "prod", "basePath": ""},
            {"api": "soakhttp", "stage": "prod", "basePath": "http"},
        ],
        "throttling": UNLIMITED,
        "usagePlans": {
            "soak": {
                "throttle": {"rateLimit": PLAN_RATE, "burstLimit": PLAN_BURST},
                "quota": {"limit": PLAN_QUOTA, "period": "DAY"},
                "apiStages": [{"api": "soak", "stage": "prod"}],
            }
        },
        "apiKeys": {"soak": {"value": API_KEY, "usagePlans": ["soak"]}},
        "state": {"path": str(directory / "state.db")},
        "metrics": {"host": host, "port": metrics_port},
        "accessLogs": {"destination": "/dev/null", "format": "json"},
    }
    path = directory / "gateway.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


READY_PATH, READY_BODY = "/pets/1", BODY  # the gateway serves the mix once this answers the backend's body


# ---- the wrk script -----------------------------------------------------------------------------------------------

STATUS_LINE = "soak-status"  # `soak-status <code> <count>`, one line per status, printed by the script's done()
SAMPLE_LINE = "soak-sample"  # `soak-sample <status> <first 200 bytes of the body>`, the first 5xx answers


def _lua(text: str) -> str:
    """A Lua string literal of printable ASCII `text` (JSON's escapes for `"` and `\\` are Lua's too)."""
    assert text.isascii() and text.isprintable(), text
    return json.dumps(text)


def _lua_ask(ask: Ask) -> str:
    headers = ", ".join(f"[{_lua(name)}] = {_lua(value)}" for name, value in ask.headers)
    if ask.filler_bytes:
        bodies = f'{{string.rep("x", {ask.filler_bytes})}}'
    else:
        bodies = "{" + ", ".join(_lua(body) for body in ask.bodies) + "}"
    return (
        f"  {{method = {_lua(ask.method)}, path = {_lua(ask.path)}, ids = {ask.ids}, "
        f"headers = {{{headers}}}, bodies = {bodies}}},"
    )


def lua_script() -> str:
    """wrk's script: each request one of MIX, drawn by weight; every answer counted by status; the first five
    5xx answers kept (status and body). done() prints STATUS_LINE and SAMPLE_LINE lines."""
    picks = [index + 1 for index, ask in enumerate(MIX) for _ in range(ask.weight)]
    return f"""\
-- fastgw soak mix (python/fastgw/bench/soakmix.py): written by the bench, do not edit.
local asks = {{
{chr(10).join(_lua_ask(ask) for ask in MIX)}
}}
local picks = {{{", ".join(map(str, picks))}}}
local threads = {{}}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed({LUA_SEED} + id)
  statuses = {{}}
  samples = {{}}
end

function request()
  local ask = asks[picks[math.random(#picks)]]
  local path = ask.path
  if ask.ids > 0 then
    path = path .. math.random(ask.ids)
  end
  local body = nil
  if #ask.bodies > 0 then
    body = ask.bodies[math.random(#ask.bodies)]
  end
  return wrk.format(ask.method, path, ask.headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status >= 500 and #samples < 5 then
    table.insert(samples, status .. " " .. string.gsub(string.sub(body or "", 1, 200), "%c", " "))
  end
end

function done(summary, latency, requests)
  local total = {{}}
  local kept = 0
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
    for _, sample in ipairs(thread:get("samples")) do
      if kept < 5 then
        io.write("{SAMPLE_LINE} ", sample, "\\n")
        kept = kept + 1
      end
    end
  end
  for status, count in pairs(total) do
    io.write("{STATUS_LINE} ", status, " ", count, "\\n")
  end
end
"""


def read_statuses(output: str) -> tuple[dict[int, int], list[str]]:
    """The counts by status and the 5xx samples that `lua_script`'s done() printed into wrk's output."""
    statuses: dict[int, int] = {}
    samples: list[str] = []
    for line in output.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == STATUS_LINE:
            status, _, count = rest.partition(" ")
            statuses[int(status)] = statuses.get(int(status), 0) + int(count)
        elif kind == SAMPLE_LINE:
            samples.append(rest)
    return statuses, samples
