"""What the load asks for. Each scenario is one request (path, method, headers, body) and the answer every gateway
must give; the gateways that can serve it opt in (Gateway.scenarios) and read the scenario to write their config.
"""

from __future__ import annotations

from dataclasses import dataclass

# The backend's answer on every path but LARGE_PATH, and so the body every proxy must pass through.
BODY = b'{"id":1,"name":"rex","kind":"dog"}'

# The large scenario: 1 MiB both ways. The backend serves LARGE_BODY on LARGE_PATH (any method, the request body
# read and dropped); wrk POSTs a body of the same size.
LARGE_PATH = "/large"
LARGE_BYTES = 1024 * 1024
LARGE_BODY = (b'{"blob":"' + b"0123456789abcdef" * (LARGE_BYTES // 16))[: LARGE_BYTES - 2] + b'"}'

# The API key the realistic scenario sends (and fastgw requires).
API_KEY = "benchkey0123456789abcdef"


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str  # the request path wrk sends
    description: str
    body: bytes = BODY  # what a correct gateway answers on `path`
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()  # sent with every request, the readiness check included
    request_bytes: int = 0  # wrk sends a request body of this size (a POST)
    connections: int = 64  # wrk's connections unless --connections says otherwise (PROTOCOL.md: c=64)


PROXY = Scenario("proxy", "/pets/42", "GET /pets/{id} proxied to the backend over a keep-alive pool")
REALISTIC = Scenario(
    "realistic",
    "/pets/42",
    "the realistic gateway: GET /pets/{id} proxied, fastgw checks an API key and three token buckets (usage plan, "
    "stage, gateway) and counts metrics; the peers proxy the same request without those checks",
    headers=(("x-api-key", API_KEY),),
)
CACHE = Scenario("cache", "/pets/42", "GET /pets/{id} answered from the gateway's response cache (no backend)")
MOCK = Scenario("mock", "/pets/42", "GET /pets/{id} answered by the gateway itself (a mock integration)")
LARGE = Scenario(
    "large",
    LARGE_PATH,
    "POST 1 MiB to /large, 1 MiB back at c=16: bodies streamed both ways through the gateway",
    body=LARGE_BODY,
    method="POST",
    headers=(("content-type", "application/octet-stream"),),
    request_bytes=LARGE_BYTES,
    # At c=64, 64 MiB in flight each way overloaded every gateway here (p99 0.5-1 s): fastgw's rounds varied by
    # 13-21% (coefficient of variation) and its per-round ratio to fast-gateway by 0.78-1.10, so two runs
    # disagreed. At c=16 its rounds varied by 2-7% and that ratio by 0.47-0.54 (benches/load/README.md).
    connections=16,
)

SCENARIOS: dict[str, Scenario] = {s.name: s for s in [PROXY, REALISTIC, CACHE, MOCK, LARGE]}
