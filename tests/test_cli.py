"""The CLI contract: ``fastgw validate``, ``routes`` and ``serve``'s failure modes, as a user runs them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from fastgw.errors import DefinitionError
from tests.conftest import FIXTURES, run_cli

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_validate_a_clean_definition() -> None:
    result = run_cli("validate", str(EXAMPLES / "petstore.yaml"))
    assert result.returncode == 0, result.stderr
    assert "REST API" in result.stdout and "0 warnings" in result.stdout
    assert result.stderr == ""


def test_validate_reports_each_unsupported_place_and_fail_on_warnings_makes_them_errors() -> None:
    path = FIXTURES / "unsupported.yaml"
    result = run_cli("validate", str(path))
    assert result.returncode == 0
    assert f"warning: {path}#/paths/~1lambda/post/x-amazon-apigateway-integration/type:" in result.stderr
    assert "AWS_PROXY is not supported yet" in result.stderr
    assert "VPC_LINK" in result.stderr
    strict = run_cli("validate", "--fail-on-warnings", str(path))
    assert strict.returncode == 2


def test_bad_files_name_the_place_and_exit_2_without_a_traceback() -> None:
    for name in ("bad-syntax.yaml", "bad-path.yaml", "bad-unresolved-ref.yaml", "bad-integration-type.yaml"):
        path = FIXTURES / name
        for command in (["validate"], ["routes"], ["serve", "--port", "1"]):
            result = run_cli(*command, str(path))
            assert result.returncode == 2, (name, command, result.stderr)
            assert result.stderr.startswith(f"error: {path}"), result.stderr
            assert "Traceback" not in result.stderr


def test_missing_file_exits_2() -> None:
    result = run_cli("serve", "/nonexistent/api.yaml")
    assert result.returncode == 2
    assert "/nonexistent/api.yaml" in result.stderr and "Traceback" not in result.stderr


def test_serve_fail_on_warnings_refuses_to_start() -> None:
    result = run_cli("serve", "--fail-on-warnings", "--port", "1", str(FIXTURES / "unsupported.yaml"))
    assert result.returncode == 2
    assert "--fail-on-warnings" in result.stderr


def test_routes_prints_aws_route_keys_with_targets() -> None:
    result = run_cli("routes", str(FIXTURES / "route-priority-http.yaml"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ROUTE", "INTEGRATION"]
    table = {line[: line.index("HTTP_PROXY")].strip(): line[line.index("HTTP_PROXY") :] for line in lines[1:]}
    assert (
        table["GET /pets/dog/{id}"]
        == "HTTP_PROXY GET http://127.0.0.1:${stageVariables.backendPort}/route/pets-dog-id/{id}"
    )
    assert list(table) == ["GET /pets/dog/1", "GET /pets/dog/{id}", "GET /pets/{proxy+}", "ANY /{proxy+}", "$default"]


def test_validate_and_routes_take_a_gateway_config_file() -> None:
    result = run_cli("validate", str(EXAMPLES / "gateway.yaml"))
    assert result.returncode == 0, result.stderr
    assert "gateway config, 2 APIs" in result.stdout
    routes = run_cli("routes", str(EXAMPLES / "gateway.yaml"))
    assert routes.returncode == 0
    assert "# petstore" in routes.stdout and "GET /orders/{id}" in routes.stdout


def test_api_type_override_and_bad_option_values() -> None:
    result = run_cli("validate", "--api-type", "http", str(FIXTURES / "route-priority-http.yaml"))
    assert result.returncode == 0 and "HTTP API" in result.stdout
    bad = run_cli("serve", "--api-type", "soap", str(EXAMPLES / "petstore.yaml"))
    assert bad.returncode == 2 and "must be rest or http" in bad.stderr
    variable = run_cli("serve", "--stage-variable", "novalue", str(EXAMPLES / "petstore.yaml"))
    assert variable.returncode == 2 and "KEY=VALUE" in variable.stderr


def test_client_send_timeout_flag_overrides_the_gateway_file(tmp_path: Path) -> None:
    from fastgw.cli import _serve_config, build_parser

    (tmp_path / "gateway.yaml").write_text(
        f"apis: {{pets: {{definition: {EXAMPLES / 'petstore.yaml'}}}}}\nlimits: {{clientSendTimeoutSeconds: 30}}\n"
    )
    gateway_file = str(tmp_path / "gateway.yaml")
    parse = build_parser().parse_args
    assert _serve_config(parse(["serve", gateway_file])).limits.client_send_timeout == 30
    flagged = _serve_config(parse(["serve", gateway_file, "--client-send-timeout", "5"]))
    assert flagged.limits.client_send_timeout == 5
    bad = run_cli("serve", "--client-send-timeout", "0", str(EXAMPLES / "petstore.yaml"))
    assert bad.returncode == 2 and "at least 1" in bad.stderr


def test_connection_flags_override_the_gateway_file(tmp_path: Path) -> None:
    """Issue 18, item 3: the connection cap, the header/idle timeout and HTTP/2 from the command line."""
    from fastgw.cli import _serve_config, build_parser

    (tmp_path / "gateway.yaml").write_text(
        f"apis: {{pets: {{definition: {EXAMPLES / 'petstore.yaml'}}}}}\n"
        "limits: {clientHeaderTimeoutSeconds: 30, maxConnections: 50}\n"
    )
    gateway_file = str(tmp_path / "gateway.yaml")
    parse = build_parser().parse_args
    config = _serve_config(parse(["serve", gateway_file]))
    assert (config.limits.client_header_timeout, config.limits.max_connections) == (30, 50)
    assert not config.listeners[0].http2
    flagged = _serve_config(
        parse(["serve", gateway_file, "--client-header-timeout", "5", "--max-connections", "7", "--http2"])
    )
    assert (flagged.limits.client_header_timeout, flagged.limits.max_connections) == (5, 7)
    assert flagged.listeners[0].http2
    bad = run_cli("serve", "--max-connections", "0", str(EXAMPLES / "petstore.yaml"))
    assert bad.returncode == 2 and "at least 1" in bad.stderr


def test_bench_is_a_subcommand() -> None:
    result = run_cli("bench", "--list")
    assert result.returncode == 0, result.stderr
    assert "nginx-proxy" in result.stdout and "fastgw" in result.stdout
    assert "fastgw bench" in run_cli("bench", "--help").stdout


# -- secrets off the command line (issue 18: "--api-key and a Redis password in --redis-url are readable in ps") --


def test_api_keys_from_the_environment_and_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastgw.cli import _serve_config, build_parser

    monkeypatch.setenv("FASTGW_API_KEYS", f"{'e' * 20}, {'f' * 20}")
    key_file = tmp_path / "keys"
    key_file.write_text(f"# rotated weekly\n{'g' * 20}\n\n{'h' * 24}\n")
    args = build_parser().parse_args(["serve", str(EXAMPLES / "petstore.yaml"), "--api-key-file", str(key_file)])
    keys = _serve_config(args).node.api_keys
    assert [key.value_hash for key in keys] == [
        hashlib.sha256(c.encode()).hexdigest() for c in ("e" * 20, "f" * 20, "g" * 20, "h" * 24)
    ]
    assert [key.name for key in keys] == [f"command-line-{n}" for n in range(1, 5)]

    key_file.write_text("short\n")
    with pytest.raises(DefinitionError) as error:
        _serve_config(args)
    assert str(key_file) in str(error.value) and "short" not in str(error.value)  # the value is never echoed
    missing = build_parser().parse_args(["serve", str(EXAMPLES / "petstore.yaml"), "--api-key-file", "/nonexistent/k"])
    with pytest.raises(DefinitionError, match="/nonexistent/k"):
        _serve_config(missing)


def test_redis_url_from_the_environment_or_a_file_keeps_the_gateway_file_s_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastgw.cli import _serve_config, build_parser

    (tmp_path / "gateway.yaml").write_text(
        f"apis: {{pets: {{definition: {EXAMPLES / 'petstore.yaml'}}}}}\n"
        "redis: {url: 'redis://127.0.0.1:1/0', keyPrefix: 'p:', failurePolicy: closed}\n"
    )
    parse = build_parser().parse_args
    gateway_file = str(tmp_path / "gateway.yaml")
    monkeypatch.setenv("FASTGW_REDIS_URL", "redis://:from-env@127.0.0.1:2/0")
    redis = _serve_config(parse(["serve", gateway_file])).node.redis
    assert redis is not None and (redis.url, redis.key_prefix, redis.failure_policy) == (
        "redis://:from-env@127.0.0.1:2/0",
        "p:",
        "closed",
    )
    url_file = tmp_path / "redis-url"
    url_file.write_text("redis://:from-file@127.0.0.1:3/0\n")
    redis = _serve_config(parse(["serve", gateway_file, "--redis-url-file", str(url_file)])).node.redis
    assert redis is not None and redis.url == "redis://:from-file@127.0.0.1:3/0" and redis.key_prefix == "p:"
    monkeypatch.delenv("FASTGW_REDIS_URL")
    redis = _serve_config(parse(["serve", str(EXAMPLES / "petstore.yaml")])).node.redis
    assert redis is None
    url_file.write_text("http://nope\n")
    with pytest.raises(DefinitionError, match="must start with redis://"):
        _serve_config(parse(["serve", gateway_file, "--redis-url-file", str(url_file)]))


def test_secrets_on_the_command_line_are_warned_about_once_never_shown(tmp_path: Path) -> None:
    """The warning names the flag and the alternatives; neither the key nor the Redis password is printed (the
    Redis URL is logged redacted)."""
    key, password = "k" * 20, "s3cretRedisPassw0rd"
    result = run_cli(
        "serve",
        str(FIXTURES / "unsupported.yaml"),
        "--port",
        "1",
        "--fail-on-warnings",
        "--api-key",
        key,
        "--redis-url",
        f"redis://:{password}@127.0.0.1:1/0",
    )
    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert key not in output and password not in output
    assert output.count("--api-key puts a secret on the command line") == 1
    assert "FASTGW_API_KEYS or --api-key-file" in output
    assert output.count("--redis-url puts a secret on the command line") == 1
    assert "redis://:***@127.0.0.1:1/0" in output
