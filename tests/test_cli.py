"""The CLI contract: ``fastgw validate``, ``routes`` and ``serve``'s failure modes, as a user runs them."""

from __future__ import annotations

from pathlib import Path

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


def test_bench_is_a_subcommand() -> None:
    result = run_cli("bench", "--list")
    assert result.returncode == 0, result.stderr
    assert "nginx-proxy" in result.stdout and "fastgw" in result.stdout
    assert "fastgw bench" in run_cli("bench", "--help").stdout
