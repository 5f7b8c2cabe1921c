"""The gateways under test, as data: what each needs, how its config is written, how it is started.

Adding a gateway is adding one `Gateway` to GATEWAYS: a `prepare` function that writes its config into a fresh
directory and returns the command line. The runner pins the command to the gateway CPU, waits for a first 200
and stops the process group afterwards; nothing here starts anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fastgw.bench import apispec, backend
from fastgw.bench.procs import HOST
from fastgw.bench.requirements import Environment, NodePackage, Program, PythonPackage, Requirement
from fastgw.bench.scenarios import SCENARIOS, Scenario

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
    scenarios: frozenset[str] = frozenset({"proxy"})
    start_timeout: float = 30.0


# ---- Debian peers -----------------------------------------------------------------------------------------------

NGINX = Program("nginx", ("-v",), debian="nginx")
HAPROXY = Program("haproxy", ("-v",), debian="haproxy")
CADDY = Program("caddy", ("version",), debian="caddy")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def nginx_proxy(t: Target) -> Launch:
    conf = _write(t.workdir / "nginx.conf", backend.proxy_config(t.workdir, t.port, t.backend_port, POOL))
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
    api = apispec.write_api(t.workdir / "api.yaml")
    argv = [
        t.exe("fastgw"), "serve", str(api),
        "--host", HOST, "--port", str(t.port), "--workers", "1",
        "--stage-variable", f"backendPort={t.backend_port}",
        # The gateway-wide limit defaults to AWS's 10,000 rps; the peers have none, so neither does this run.
        "--gateway-throttle", "1e9:1000000000",
    ]  # fmt: skip
    return Launch(argv, configs=(api,))


def fastgw_cache(t: Target) -> Launch:
    """fastgw with the stage cache on: after the first request every answer is a cache hit (no backend)."""
    launch = fastgw(t)
    return Launch([*launch.argv, "--cache-ttl", "3600"], configs=launch.configs)


GATEWAYS: dict[str, Gateway] = {
    g.name: g
    for g in [
        Gateway("nginx-proxy", "nginx proxy_pass, upstream keepalive", (NGINX,), nginx_proxy),
        Gateway("haproxy", "HAProxy, nbthread 1", (HAPROXY,), haproxy),
        Gateway("caddy", "Caddy reverse_proxy, GOMAXPROCS=1", (CADDY,), caddy),
        Gateway(
            "fast-gateway",
            "fast-gateway (Node)",
            (NODE, NodePackage("fast-gateway", "fast-gateway@^3.4")),
            _node("fast_gateway.js"),
        ),
        Gateway(
            "fastify-proxy",
            "@fastify/http-proxy (Node)",
            (NODE, NodePackage("fastify", "fastify@^5"), NodePackage("@fastify/http-proxy", "@fastify/http-proxy@^11")),
            _node("fastify_proxy.js"),
        ),
        Gateway(
            "granian-hello",
            "bare Granian RSGI hello-world (no proxying: the ceiling of any Granian app)",
            (GRANIAN, UVLOOP),
            _granian("hello:app"),
            scenarios=frozenset(SCENARIOS),  # the canary runs in every scenario
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
            "fastgw serve, 1,000-route OpenAPI, http_proxy",
            (Program("fastgw", ()), PythonPackage("fastgw")),
            fastgw,
            start_timeout=60.0,
        ),
        Gateway(
            "fastgw-cache",
            "fastgw serve --cache-ttl 3600: every request a stage-cache hit",
            (Program("fastgw", ()), PythonPackage("fastgw")),
            fastgw_cache,
            start_timeout=60.0,
        ),
    ]
}

# The peers every ratio is taken against (PROTOCOL.md, "The run", step 3).
REFERENCES = ("nginx-proxy", "granian-hello", "fast-gateway")
CANARY = "granian-hello"
