"""``fastgw``: serve, validate and inspect API definitions.

    fastgw serve FILE... [--host 127.0.0.1] [--port 8080] [--api-type rest|http] [--stage NAME]
                 [--stage-variable KEY=VALUE]... [--stage-prefix] [--workers N] [--fail-on-warnings]
    fastgw validate FILE
    fastgw routes FILE
    fastgw bench [--quick] [--gateways a,b] [--install-missing] ...   (benches/load/README.md)

FILE is an OpenAPI 3 / Swagger 2 definition (JSON or YAML, AWS extensions included) or a gateway config file.
Problems are printed as ``file#/json/pointer: reason``; a definition that cannot be served exits with code 2.

Secrets stay off the command line (where ``ps`` shows them to every local user) with ``FASTGW_API_KEYS`` or
``--api-key-file``, ``FASTGW_REDIS_URL`` or ``--redis-url-file``, and ``FASTGW_ADMIN_TOKEN``
(:mod:`fastgw.config.secrets`); ``--api-key``, ``--redis-url`` with a password and ``--token`` work, with a warning.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastgw.config.gateway_file import COMMAND_LINE, DEFAULT_HOST, DEFAULT_PORT, ApiConfig, GatewayConfig
from fastgw.config.model import ApiDefinition
from fastgw.config.secrets import API_KEYS_ENV, REDIS_URL_ENV
from fastgw.config.settings import NodeSettings
from fastgw.errors import DefinitionError, Place, Problem

EXIT_OK = 0
EXIT_INVALID = 2


def _stage_variable(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _throttle(text: str) -> tuple[float, int]:
    rate, sep, burst = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return float(rate), int(burst)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected RATE:BURST (e.g. 10000:5000), got {text!r}") from None


def _api_type(text: str) -> str:
    value = text.upper()
    if value not in ("REST", "HTTP"):
        raise argparse.ArgumentTypeError("must be rest or http")
    return value


def _at_least_one(what: str) -> Callable[[str], int]:
    """An argparse type: a whole number, at least 1 (as the gateway file's ``limits`` take them); ``what`` names it
    in the error."""

    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            number = 0
        if number < 1:
            raise argparse.ArgumentTypeError(f"must be {what}, at least 1, not {text!r}")
        return number

    return parse


_positive_int = _at_least_one("a whole number")
_positive_seconds = _at_least_one("a whole number of seconds")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastgw", description="A self-hosted, AWS API Gateway-compatible gateway.")
    commands = parser.add_subparsers(dest="command", required=True)

    def definition_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--api-type", type=_api_type, help="serve as a REST or HTTP API (default: detected)")
        command.add_argument(
            "--basepath",
            choices=("ignore", "prepend", "split"),
            default="ignore",
            help="what to do with the definition's basePath, as AWS's import option (default: ignore)",
        )

    serve = commands.add_parser("serve", help="serve API definitions or a gateway config file")
    serve.add_argument("files", nargs="+", metavar="FILE")
    serve.add_argument("--host", help="address to listen on (default: 127.0.0.1, or the config file's)")
    serve.add_argument("--port", type=int, help="port to listen on (default: 8080, or the config file's)")
    definition_options(serve)
    serve.add_argument("--stage", default="$default", help="stage name (default: $default)")
    serve.add_argument("--stage-variable", type=_stage_variable, action="append", default=[], metavar="KEY=VALUE")
    serve.add_argument("--stage-prefix", action="store_true", help="also serve the API under /{stage}/")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    serve.add_argument("--fail-on-warnings", action="store_true", help="refuse to serve a definition with warnings")
    serve.add_argument("--max-body-bytes", type=int, help="request body limit, 413 above (default: 10 MB)")
    serve.add_argument("--max-header-bytes", type=int, help="request header limit, 431 above (default: 10240)")
    serve.add_argument(
        "--client-send-timeout",
        type=_positive_seconds,
        metavar="SECONDS",
        help="abort a streamed response whose client takes nothing for this long (default: 60)",
    )
    serve.add_argument(
        "--client-header-timeout",
        type=_positive_seconds,
        metavar="SECONDS",
        help="close a connection that sends no byte, no whole request head, or idles between requests for this long"
        " (default: 60)",
    )
    serve.add_argument(
        "--max-connections",
        type=_positive_int,
        metavar="N",
        help="connections each worker holds at once; more wait in the listen queue (default: 10000)",
    )
    serve.add_argument(
        "--http2", action="store_true", help="also serve HTTP/2 (default: HTTP/1.1 only; see README, Security)"
    )
    limits = serve.add_argument_group("throttling and API keys")
    limits.add_argument("--throttle-rate", type=float, metavar="R", help="stage default: R requests/s per route")
    limits.add_argument("--throttle-burst", type=int, metavar="B", help="stage default: bucket of B requests")
    limits.add_argument(
        "--gateway-throttle",
        type=_throttle,
        metavar="RATE:BURST",
        help="gateway-wide limit, AWS's account level (default: 10000:5000)",
    )
    limits.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="VALUE",
        help="a key (20-128 letters and digits) enabled for the served stages with an unlimited plan (visible in"
        f" ps: prefer ${API_KEYS_ENV} or --api-key-file)",
    )
    limits.add_argument(
        "--api-key-file",
        action="append",
        default=[],
        metavar="PATH",
        help="keys as --api-key, from a file (separated by newlines, commas or spaces; # comments), read again on"
        " SIGHUP",
    )
    limits.add_argument("--state", metavar="PATH", help="quota and key state file (default: ./fastgw-state.db)")
    redis_url = limits.add_mutually_exclusive_group()
    redis_url.add_argument(
        "--redis-url",
        metavar="URL",
        help=f"share limits, quotas and keys through Redis (default: ${REDIS_URL_ENV}, else the config file's)",
    )
    redis_url.add_argument(
        "--redis-url-file", metavar="PATH", help="the Redis URL from a file (a password stays out of ps)"
    )
    caching = serve.add_argument_group("caching")
    caching.add_argument("--cache-ttl", type=int, metavar="SECONDS", help="enable the stage cache (GET), TTL 1-3600")
    caching.add_argument("--cache-size-mb", type=float, metavar="N", help="stage cache capacity (default: 512 MB)")
    caching.add_argument(
        "--cache-stale-seconds",
        type=int,
        metavar="N",
        help="serve an expired entry for N more seconds while one request refreshes it (default: 0, off)",
    )
    caching.add_argument(
        "--cache-respect-backend",
        action="store_true",
        help="do not cache backend responses with Cache-Control no-store/private (AWS caches them)",
    )
    observe = serve.add_argument_group("observability")
    observe.add_argument("--metrics-port", type=int, metavar="PORT", help="serve /metrics and /health/* (default: off)")
    observe.add_argument("--metrics-host", default="127.0.0.1", help="address of the metrics listener (127.0.0.1)")
    observe.add_argument("--access-log", metavar="stdout|PATH", help="write access logs (default: off)")
    observe.add_argument(
        "--access-log-format", default="json", metavar="json|clf|TEMPLATE", help="a $context template (default: json)"
    )
    observe.add_argument("--otlp-endpoint", metavar="URL", help="export spans over OTLP/HTTP (needs opentelemetry)")
    limits.add_argument(
        "--redis-failure-policy",
        choices=("open", "closed"),
        help="Redis down: fall back to this node's limits (open, default) or refuse (closed)",
    )

    validate = commands.add_parser("validate", help="check a definition or gateway config file")
    validate.add_argument("file", metavar="FILE")
    definition_options(validate)
    validate.add_argument("--fail-on-warnings", action="store_true", help="exit 2 when there are warnings")

    commands.add_parser(
        "bench",
        help="run the load benchmark beside peer gateways (options: fastgw bench --help)",
        add_help=False,
    )

    from fastgw.usage.cli import add_keys_parser

    add_keys_parser(commands)
    cache = commands.add_parser("cache", help="act on a running gateway's stage caches (its admin endpoint)")
    cache_commands = cache.add_subparsers(dest="cache_command", required=True, metavar="COMMAND")
    flush = cache_commands.add_parser("flush", help="empty the stage caches in every worker")
    flush.add_argument("--admin-url", required=True, help="the metrics listener, e.g. http://127.0.0.1:9090")
    flush.add_argument("--token", help="the admin token (default: $FASTGW_ADMIN_TOKEN; visible in ps)")
    flush.add_argument("--api", help="only this API")
    flush.add_argument("--stage", help="only this stage")

    routes = commands.add_parser("routes", help="print the route table with integration targets")
    routes.add_argument("file", metavar="FILE")
    definition_options(routes)
    return parser


def _report(problems: Sequence[Problem], kind: str) -> None:
    for problem in problems:
        print(f"{kind}: {problem}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["bench"]:
        from fastgw.bench.cli import main as bench

        return bench(arguments[1:])
    args = build_parser().parse_args(arguments)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "validate":
            return _validate(args)
        if args.command == "cache":
            return _flush_cache(args)
        if args.command == "keys":
            from fastgw.usage.cli import run_keys

            return run_keys(args)
        return _routes(args)
    except DefinitionError as error:
        _report(error.problems, "error")
        return EXIT_INVALID
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID


def _load(path: str, args: argparse.Namespace) -> ApiDefinition:
    from fastgw.config.openapi import load_definition

    return load_definition(path, api_type=args.api_type, basepath=args.basepath)


def _validate(args: argparse.Namespace) -> int:
    from fastgw.config.gateway_file import detect_file_kind, load_gateway_file
    from fastgw.gateway import Gateway

    if detect_file_kind(args.file) == "gateway":
        gateway = Gateway.from_config(load_gateway_file(args.file))
        summary = f"gateway config, {len(gateway.config.apis)} APIs, {len(gateway.stages)} stages served"
    else:
        definition = _load(args.file, args)
        gateway = Gateway.from_definition(definition)
        summary = f"{definition.api_type} API {definition.title!r}, {len(definition.routes)} routes"
    _report(gateway.warnings, "warning")
    print(f"{args.file}: {summary}, {len(gateway.warnings)} warnings")
    return EXIT_INVALID if gateway.warnings and args.fail_on_warnings else EXIT_OK


def _routes(args: argparse.Namespace) -> int:
    from fastgw.config.gateway_file import detect_file_kind, load_definitions, load_gateway_file
    from fastgw.config.routes_table import format_route_table

    if detect_file_kind(args.file) == "gateway":
        definitions, _ = load_definitions(load_gateway_file(args.file))
        for name, definition in definitions.items():
            print(f"# {name} ({definition.source})")
            print(format_route_table(definition))
        return EXIT_OK
    print(format_route_table(_load(args.file, args)))
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    from fastgw.config.secrets import redacted
    from fastgw.gateway import Gateway

    logging.basicConfig(level=logging.INFO, format="[%(levelname)s] %(name)s: %(message)s")
    _warn_command_line_secrets(args)
    config = _serve_config(args)
    if config.node.redis is not None:
        logging.getLogger("fastgw").info("Redis: %s", redacted(config.node.redis.url))
    gateway = Gateway.from_config(config)
    _report(gateway.warnings, "warning")
    if gateway.warnings and args.fail_on_warnings:
        print(f"error: {len(gateway.warnings)} warnings and --fail-on-warnings", file=sys.stderr)
        return EXIT_INVALID

    def reload(previous: Gateway) -> Gateway:
        """SIGHUP: the same command line, the files (secret files too) read again."""
        reloaded = Gateway.from_config(_serve_config(args), previous=previous)
        for warning in reloaded.warnings:
            logging.getLogger("fastgw").warning("%s", warning)
        return reloaded

    gateway.serve(workers=args.workers, reload=reload)
    return EXIT_OK


def _warn_command_line_secrets(args: argparse.Namespace) -> None:
    """Once, at startup (never the value): a secret on the command line is readable by every local user."""
    from fastgw.config.secrets import has_password

    warn = logging.getLogger("fastgw").warning
    if args.api_key:
        warn(f"--api-key puts a secret on the command line (ps shows it): use ${API_KEYS_ENV} or --api-key-file")
    if args.redis_url is not None and has_password(args.redis_url):
        warn(
            "--redis-url puts a secret on the command line (ps shows its password): use"
            f" ${REDIS_URL_ENV}, --redis-url-file, or redis.urlFile/passwordFile in the gateway file"
        )


def _serve_config(args: argparse.Namespace) -> GatewayConfig:
    """The gateway ``fastgw serve`` runs: the files, then the command line's overrides."""
    from fastgw.config.gateway_file import config_from_cli, detect_file_kind, load_gateway_file

    files = args.files
    if len(files) == 1 and detect_file_kind(files[0]) == "gateway":
        config = load_gateway_file(files[0])
        if args.port is not None or args.host is not None:
            first = config.listeners[0]
            listener = dataclasses.replace(first, host=args.host or first.host, port=args.port or first.port)
            config = dataclasses.replace(config, listeners=(listener,))
    else:
        config = config_from_cli(
            files,
            api_type=args.api_type,
            stage=args.stage,
            stage_variables=dict(args.stage_variable),
            stage_prefix=args.stage_prefix,
            host=args.host or DEFAULT_HOST,
            port=args.port or DEFAULT_PORT,
            basepath=args.basepath,
        )
    limit_flags = {
        "max_body_bytes": args.max_body_bytes,
        "max_header_bytes": args.max_header_bytes,
        "client_send_timeout": args.client_send_timeout,
        "client_header_timeout": args.client_header_timeout,
        "max_connections": args.max_connections,
    }
    given = {name: value for name, value in limit_flags.items() if value}
    if given:
        config = dataclasses.replace(config, limits=dataclasses.replace(config.limits, **given))
    if args.http2:
        listeners = tuple(dataclasses.replace(listener, http2=True) for listener in config.listeners)
        config = dataclasses.replace(config, listeners=listeners)
    return apply_operation_flags(config, args)


def _flush_cache(args: argparse.Namespace) -> int:
    import json
    import os
    import urllib.error
    import urllib.parse
    import urllib.request

    if args.token:
        print(
            "warning: --token puts a secret on the command line (ps shows it): use $FASTGW_ADMIN_TOKEN", file=sys.stderr
        )
    token = args.token or os.environ.get("FASTGW_ADMIN_TOKEN")
    if not token:
        print("error: no admin token (--token or FASTGW_ADMIN_TOKEN)", file=sys.stderr)
        return EXIT_INVALID
    query = urllib.parse.urlencode({k: v for k, v in (("api", args.api), ("stage", args.stage)) if v})
    url = f"{args.admin_url.rstrip('/')}/admin/cache/flush" + (f"?{query}" if query else "")
    request = urllib.request.Request(url, method="POST", headers={"Authorization": f"Bearer {token}"}, data=b"")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        print(f"error: the gateway answered {error.code} (admin off, or a wrong token)", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as error:
        print(f"error: cannot reach {args.admin_url}: {error}", file=sys.stderr)
        return 1
    print("flushed: " + (", ".join(answer["flushed"]) or "nothing (no cached stage matched)"))
    not_shared = answer.get("sharedTierNotFlushed")
    if not_shared:
        # The workers' caches are empty; the Redis tier still holds entries the other nodes may serve.
        print(f"error: the shared cache tier (Redis) was not flushed for {', '.join(not_shared)}", file=sys.stderr)
        return 1
    return EXIT_OK


def apply_operation_flags(config: GatewayConfig, args: argparse.Namespace) -> GatewayConfig:
    """``--throttle-rate/--throttle-burst`` (every served stage's default route settings), ``--api-key``
    (a key with an unlimited plan for every served stage), and the node flags (``--gateway-throttle``,
    ``--state``, ``--redis-url``, metrics, access logs, tracing)."""
    apis = dict(config.apis)
    if args.throttle_rate is not None or args.throttle_burst is not None:
        apis = {name: _with_stage_throttle(api, args.throttle_rate, args.throttle_burst) for name, api in apis.items()}
    if args.cache_ttl is not None:
        apis = {name: _with_stage_cache(api, args.cache_ttl, args.cache_size_mb) for name, api in apis.items()}
    if args.cache_stale_seconds is not None:
        apis = {name: _with_stale_window(api, args.cache_stale_seconds) for name, api in apis.items()}
    node = _node_flags(config.node, args)
    values = _api_key_values(args)
    if values:
        node = _with_cli_keys(node, apis, values)
    return dataclasses.replace(config, apis=apis, node=node)


def _api_key_values(args: argparse.Namespace) -> list[tuple[str, Place]]:
    """The ``--api-key`` values, then ``$FASTGW_API_KEYS``'s, then each ``--api-key-file``'s, with where each
    comes from (a problem names the place, never the value)."""
    from fastgw.config.secrets import from_environment, key_values, read_secret_file

    values = [(value, Place(COMMAND_LINE)) for value in args.api_key]
    from_env = from_environment(API_KEYS_ENV)
    if from_env is not None:
        values += [(value, Place(f"${API_KEYS_ENV}")) for value in key_values(from_env)]
    for path in args.api_key_file:
        place = Place(path)
        values += [(value, place) for value in key_values(read_secret_file(path, place, "API key"))]
    return values


def _with_stage_throttle(api: ApiConfig, rate: float | None, burst: int | None) -> ApiConfig:
    from fastgw.config.settings import Throttle

    rate = 10_000.0 if rate is None else rate
    burst = max(1, int(rate)) if burst is None else burst
    if rate < 0 or burst < 0:
        raise DefinitionError(Problem(Place(COMMAND_LINE), "--throttle-rate and --throttle-burst must be at least 0"))
    stages = {}
    for name, stage in api.stages.items():
        default = dataclasses.replace(stage.settings.default, throttle=Throttle(rate, burst))
        stages[name] = dataclasses.replace(stage, settings=dataclasses.replace(stage.settings, default=default))
    return dataclasses.replace(api, stages=stages)


def _with_stage_cache(api: ApiConfig, ttl: int, size_mb: float | None) -> ApiConfig:
    if not 0 <= ttl <= 3600:
        raise DefinitionError(Problem(Place(COMMAND_LINE), f"--cache-ttl must be between 0 and 3600, got {ttl}"))
    if size_mb is not None and size_mb <= 0:
        raise DefinitionError(Problem(Place(COMMAND_LINE), "--cache-size-mb must be more than 0"))
    stages = {}
    for name, stage in api.stages.items():
        settings = stage.settings
        default = dataclasses.replace(settings.default, caching_enabled=ttl > 0, cache_ttl=ttl)
        size = int(size_mb * 1024 * 1024) if size_mb is not None else settings.cache_size_bytes
        settings = dataclasses.replace(settings, default=default, cache_enabled=ttl > 0, cache_size_bytes=size)
        stages[name] = dataclasses.replace(stage, settings=settings)
    return dataclasses.replace(api, stages=stages)


def _with_stale_window(api: ApiConfig, seconds: int) -> ApiConfig:
    from fastgw.config.settings import MAX_CACHE_STALE_SECONDS

    if not 0 <= seconds <= MAX_CACHE_STALE_SECONDS:
        message = f"--cache-stale-seconds must be between 0 and {MAX_CACHE_STALE_SECONDS}, got {seconds}"
        raise DefinitionError(Problem(Place(COMMAND_LINE), message))
    stages = {
        name: dataclasses.replace(stage, settings=dataclasses.replace(stage.settings, cache_stale_seconds=seconds))
        for name, stage in api.stages.items()
    }
    return dataclasses.replace(api, stages=stages)


def _with_cli_keys(
    node: NodeSettings, apis: Mapping[str, ApiConfig], values: Sequence[tuple[str, Place]]
) -> NodeSettings:
    from fastgw.config.settings import API_KEY_VALUE_RE, ApiKeyConfig, PlanStage, UsagePlan

    cli = Place(COMMAND_LINE)
    for value, place in values:
        if not API_KEY_VALUE_RE.fullmatch(value):
            raise DefinitionError(Problem(place, "--api-key: a key value is 20-128 letters and digits (AWS's rule)"))
    plan_stages = tuple(PlanStage(api.name, stage) for api in apis.values() for stage in api.stages)
    plan = UsagePlan("command-line", None, None, plan_stages, cli)
    keys = tuple(
        ApiKeyConfig(f"command-line-{index}", hashlib.sha256(value.encode()).hexdigest(), True, (plan.name,), place)
        for index, (value, place) in enumerate(values, 1)
    )
    return dataclasses.replace(
        node, usage_plans={**node.usage_plans, plan.name: plan}, api_keys=(*node.api_keys, *keys)
    )


def _redis_url(args: argparse.Namespace) -> tuple[str, Place] | None:
    """The Redis URL of the command line, its file, or ``$FASTGW_REDIS_URL``, in that order (over the config
    file's), and where it comes from; ``None`` for the config file's."""
    from fastgw.config.secrets import from_environment, read_secret_file

    if args.redis_url is not None:
        return args.redis_url, Place(COMMAND_LINE)
    if args.redis_url_file is not None:
        place = Place(args.redis_url_file)
        return read_secret_file(args.redis_url_file, place, "Redis URL"), place
    from_env = from_environment(REDIS_URL_ENV)
    return (from_env, Place(f"${REDIS_URL_ENV}")) if from_env is not None else None


def _node_flags(node: NodeSettings, args: argparse.Namespace) -> NodeSettings:
    from fastgw.config.settings import AccessLogSettings, MetricsSettings, RedisSettings, Throttle

    changes: dict[str, Any] = {}
    if args.gateway_throttle is not None:
        changes["throttle"] = Throttle(*args.gateway_throttle)
    if args.state is not None:
        changes["state_path"] = args.state
    redis = node.redis
    url_and_place = _redis_url(args)
    if url_and_place is not None:
        url, place = url_and_place
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise DefinitionError(Problem(place, "the Redis URL must start with redis://, rediss:// or unix://"))
        # Only the URL changes: the config file's key prefix and failure policy stay.
        redis = RedisSettings(url) if redis is None else dataclasses.replace(redis, url=url)
    if args.redis_failure_policy is not None and redis is not None:
        redis = dataclasses.replace(redis, failure_policy=args.redis_failure_policy)
    changes["redis"] = redis
    if args.metrics_port is not None:
        changes["metrics"] = MetricsSettings(args.metrics_port, args.metrics_host)
    if args.access_log is not None:
        changes["access_logs"] = AccessLogSettings(args.access_log, args.access_log_format)
    if args.otlp_endpoint is not None:
        changes["otlp_endpoint"] = args.otlp_endpoint
    if args.cache_respect_backend:
        changes["respect_backend_cache_control"] = True
    return dataclasses.replace(node, **changes)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
