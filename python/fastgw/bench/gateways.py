"""The gateways under test, as data: what each needs, how its config is written, how it is started.

Adding a gateway is adding one `Gateway` to GATEWAYS: a `prepare` function that writes its config into a fresh
directory and returns the command line. The runner pins the command to the gateway CPU, waits for a first 200
and stops the process group afterwards; nothing here starts anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from fastgw.bench import apispec, backend
from fastgw.bench.procs import HOST, free_port
from fastgw.bench.requirements import Environment, NodePackage, Program, PythonPackage, Requirement
from fastgw.bench.scenarios import API_KEY, CACHE, LARGE, MOCK, PROXY, REALISTIC, SCENARIOS, Scenario

# Upstream keep-alive pool for every proxy (PROTOCOL.md: at least 64; wrk opens 64 connections).
POOL = 128


@dataclass(frozen=True)
class Target:
    """One start of one gateway: where it listens, what it proxies to, a fresh directory of its own."""

    port: int
    backend_port: int
    scenario: Scenario
    workdir: Path
    env: Environment

    @property
    def upstream(self) -> str:
        return f"http://{HOST}:{self.backend_port}"

    def exe(self, command: str) -> str:
        path = self.env.find(command)
        if path is None:
            raise FileNotFoundError(f"`{command}` not found")
        return str(path)


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: Mapping[str, str] = field(default_factory=dict)  # added to the bench's environment
    configs: tuple[Path, ...] = ()  # config files written, kept in results.json when small


@dataclass(frozen=True)
class Gateway:
    name: str
    description: str
    requires: tuple[Requirement, ...]
    prepare: Callable[[Target], Launch]
    scenarios: frozenset[str] = frozenset({PROXY.name, REALISTIC.name})
    start_timeout: float = 30.0
    fixed_answer: bool = False  # answers BODY by itself whatever is asked: measured with the plain proxy request
    warmup: int = 0  # seconds of warm-up it needs at least (a JIT runtime reaches its speed after a while)


# Proxies run the proxy, realistic and large scenarios with the same config (the realistic request's API key
# header passes through them unchecked: they do less work than fastgw there, never more).
PROXYING = frozenset({PROXY.name, REALISTIC.name, LARGE.name})


# ---- Debian peers -----------------------------------------------------------------------------------------------

NGINX = Program("nginx", ("-v",), debian="nginx")
HAPROXY = Program("haproxy", ("-v",), debian="haproxy")
CADDY = Program("caddy", ("version",), debian="caddy")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def nginx_proxy(t: Target) -> Launch:
    config = backend.proxy_config(t.workdir, t.port, t.backend_port, POOL, streaming=t.scenario == LARGE)
    conf = _write(t.workdir / "nginx.conf", config)
    return Launch(backend.nginx_argv(Path(t.exe("nginx")), t.workdir, conf), configs=(conf,))


def nginx_cache(t: Target) -> Launch:
    """nginx proxy_cache in memory-backed files: every request after the first a cache hit."""
    conf = _write(t.workdir / "nginx.conf", backend.cache_config(t.workdir, t.port, t.backend_port, POOL))
    return Launch(backend.nginx_argv(Path(t.exe("nginx")), t.workdir, conf), configs=(conf,))


def nginx_return(t: Target) -> Launch:
    """nginx answering by itself (`return 200`), as the backend does: the mock scenario's peer."""
    conf = _write(t.workdir / "nginx.conf", backend.return_config(t.workdir, t.port))
    return Launch(backend.nginx_argv(Path(t.exe("nginx")), t.workdir, conf), configs=(conf,))


def haproxy(t: Target) -> Launch:
    # No `log` line anywhere: HAProxy logs nothing. `http-reuse always` shares idle server connections.
    cfg = _write(
        t.workdir / "haproxy.cfg",
        f"""\
global
    nbthread 1
    maxconn 4096

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s

frontend gateway
    bind {HOST}:{t.port}
    default_backend upstream

backend upstream
    server backend {HOST}:{t.backend_port} pool-max-conn {POOL}
""",
    )
    return Launch([t.exe("haproxy"), "-db", "-f", str(cfg)], configs=(cfg,))


def caddy(t: Target) -> Launch:
    # Caddy writes no access log unless a `log` directive asks for one.
    cfg = _write(
        t.workdir / "Caddyfile",
        f"""\
{{
    admin off
    auto_https off
}}

http://{HOST}:{t.port} {{
    bind {HOST}
    reverse_proxy {HOST}:{t.backend_port} {{
        transport http {{
            keepalive 90s
            keepalive_idle_conns {POOL}
            keepalive_idle_conns_per_host {POOL}
        }}
    }}
}}
""",
    )
    env = {
        "GOMAXPROCS": "1",
        "HOME": str(t.workdir),
        "XDG_CONFIG_HOME": str(t.workdir / "config"),
        "XDG_DATA_HOME": str(t.workdir / "data"),
    }
    return Launch([t.exe("caddy"), "run", "--adapter", "caddyfile", "--config", str(cfg)], env=env, configs=(cfg,))


# ---- Node peers: one process each, packages from the npm cache outside the repo -----------------------------------

NODE = Program("node", ("--version",), debian="nodejs")


# V8 compiles the hot paths while it serves: measured under load on this machine, fast-gateway went 4.2k, 4.8k,
# 5.7k, 6.3k, 5.6k req/s in consecutive 3 s runs. The Node peers are warmed up this long before they are measured.
NODE_WARMUP = 10


def _node(script: str) -> Callable[[Target], Launch]:
    def prepare(t: Target) -> Launch:
        env = {
            "NODE_PATH": str(t.env.node_modules),
            "NODE_ENV": "production",
            "PORT": str(t.port),
            "BENCH_HOST": HOST,
            "BENCH_UPSTREAM": t.upstream,
            "BENCH_POOL": str(POOL),
        }
        return Launch([t.exe("node"), str(t.env.peers_dir / script)], env=env)

    return prepare


# ---- Python peers on Granian RSGI: one worker, one runtime thread, uvloop ----------------------------------------

GRANIAN = PythonPackage("granian")
UVLOOP = PythonPackage("uvloop")


def granian_argv(t: Target, app: str) -> list[str]:
    """The Granian command line every Python peer shares (PROTOCOL.md: one worker, one runtime thread)."""
    return [
        str(t.env.python), "-m", "granian",
        "--interface", "rsgi", "--workers", "1", "--runtime-threads", "1", "--loop", "uvloop",
        "--no-access-log", "--log-level", "warning",
        "--host", HOST, "--port", str(t.port),
        "--working-dir", str(t.env.peers_dir),
        app,
    ]  # fmt: skip


def _granian(app: str) -> Callable[[Target], Launch]:
    def prepare(t: Target) -> Launch:
        return Launch(granian_argv(t, app), env={"BENCH_UPSTREAM": t.upstream, "BENCH_POOL": str(POOL)})

    return prepare


# ---- fastgw itself ------------------------------------------------------------------------------------------------


def fastgw(t: Target) -> Launch:
    """`fastgw serve` on the 1,000-route API, configured for the scenario."""
    if t.scenario == REALISTIC:
        return _fastgw_realistic(t)
    api = apispec.write_api(t.workdir / "api.yaml", mock=t.scenario == MOCK)
    argv = [
        t.exe("fastgw"), "serve", str(api),
        "--host", HOST, "--port", str(t.port), "--workers", "1",
        "--stage-variable", f"backendPort={t.backend_port}",
        # The gateway-wide limit defaults to AWS's 10,000 rps; the peers have none, so neither does this run.
        "--gateway-throttle", UNLIMITED,
    ]  # fmt: skip
    if t.scenario == CACHE:
        argv += ["--cache-ttl", "3600"]
    return Launch(argv, configs=(api,))


UNLIMITED = "1e9:1000000000"  # RATE:BURST far above any load here: the buckets are checked, never empty


def _fastgw_realistic(t: Target) -> Launch:
    """The realistic gateway: GET /pets/{id} requires an API key in a usage plan; the plan's bucket, the stage's
    bucket for the route and the gateway-wide bucket are taken on every request; metrics are counted and served.
    Limits are far above the load (they are checked, never reached)."""
    api = apispec.write_api(t.workdir / "api.yaml", api_key_route=("get", "/pets/{id}"))
    rate, burst = UNLIMITED.split(":")
    limit = {"rateLimit": float(rate), "burstLimit": int(burst)}
    config = {
        "apis": {
            "bench": {
                "definition": str(api),
                "stages": {"prod": {"variables": {"backendPort": str(t.backend_port)}, "throttling": limit}},
            }
        },
        "listeners": [{"host": HOST, "port": t.port}],
        "mappings": [{"api": "bench", "stage": "prod", "basePath": ""}],
        "throttling": limit,
        "usagePlans": {"bench": {"throttle": limit, "apiStages": [{"api": "bench", "stage": "prod"}]}},
        "apiKeys": {"bench": {"value": API_KEY, "usagePlans": ["bench"]}},
        "state": {"path": str(t.workdir / "state.db")},
        "metrics": {"host": HOST, "port": free_port()},
    }
    gateway_file = _write(t.workdir / "gateway.yaml", yaml.safe_dump(config, sort_keys=False))
    argv = [t.exe("fastgw"), "serve", str(gateway_file), "--workers", "1"]
    return Launch(argv, configs=(gateway_file, api))


GATEWAYS: dict[str, Gateway] = {
    g.name: g
    for g in [
        Gateway("nginx-proxy", "nginx proxy_pass, upstream keepalive", (NGINX,), nginx_proxy, PROXYING),
        Gateway("haproxy", "HAProxy, nbthread 1", (HAPROXY,), haproxy, PROXYING),
        Gateway("caddy", "Caddy reverse_proxy, GOMAXPROCS=1", (CADDY,), caddy, PROXYING),
        Gateway(
            "fast-gateway",
            "fast-gateway (Node)",
            (NODE, NodePackage("fast-gateway", "fast-gateway@^3.4")),
            _node("fast_gateway.js"),
            PROXYING,
            warmup=NODE_WARMUP,
        ),
        Gateway(
            "fastify-proxy",
            "@fastify/http-proxy (Node)",
            (NODE, NodePackage("fastify", "fastify@^5"), NodePackage("@fastify/http-proxy", "@fastify/http-proxy@^11")),
            _node("fastify_proxy.js"),
            PROXYING,
            warmup=NODE_WARMUP,
        ),
        Gateway(
            "nginx-cache",
            "nginx proxy_cache (every request after the first a hit)",
            (NGINX,),
            nginx_cache,
            frozenset({CACHE.name}),
        ),
        Gateway(
            "nginx-return",
            "nginx answering by itself (return 200)",
            (NGINX,),
            nginx_return,
            frozenset({MOCK.name}),
        ),
        Gateway(
            "granian-hello",
            "bare Granian RSGI hello-world (no proxying: the ceiling of any Granian app)",
            (GRANIAN, UVLOOP),
            _granian("hello:app"),
            frozenset(SCENARIOS),  # the canary runs in every scenario
            fixed_answer=True,
        ),
        Gateway(
            "granian-aiohttp",
            "Granian + aiohttp client, no route table",
            (GRANIAN, UVLOOP, PythonPackage("aiohttp", pip="aiohttp")),
            _granian("aiohttp_proxy:app"),
        ),
        Gateway(
            "granian-pyreqwest",
            "Granian + pyreqwest client (Rust reqwest awaited from asyncio)",
            (GRANIAN, UVLOOP, PythonPackage("pyreqwest", pip="pyreqwest")),
            _granian("pyreqwest_proxy:app"),
        ),
        Gateway(
            "granian-rawproxy",
            "Granian + a minimal client over uvloop transports (no routing, header rules or errors)",
            (GRANIAN, UVLOOP),
            _granian("raw_proxy:app"),
        ),
        Gateway(
            "fastgw",
            "fastgw serve, 1,000-route OpenAPI (proxy: http_proxy; realistic: + API key, usage plan, stage and "
            "gateway buckets, metrics; cache: --cache-ttl; mock: mock integrations)",
            (Program("fastgw", ()), PythonPackage("fastgw")),
            fastgw,
            frozenset(SCENARIOS),
            start_timeout=60.0,
        ),
    ]
}

# The peers every ratio is taken against (PROTOCOL.md, "The run", step 3).
REFERENCES = ("nginx-proxy", "granian-hello", "fast-gateway")
CANARY = "granian-hello"
