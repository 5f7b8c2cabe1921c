"""What the load asks for. Each scenario is one request path and the body every gateway must answer with.

Later scenarios (cache hit, mock, large bodies, throttle + key + metrics) are added here and opted into by the
gateways that can serve them (Gateway.scenarios).
"""

from __future__ import annotations

from dataclasses import dataclass

# The backend's answer on every path, and so the body every proxy must pass through.
BODY = b'{"id":1,"name":"rex","kind":"dog"}'


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str  # the request path wrk sends
    description: str
    body: bytes = BODY  # what a correct gateway answers on `path`


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario("proxy", "/pets/42", "GET /pets/{id} proxied to the backend over a keep-alive pool"),
    ]
}
