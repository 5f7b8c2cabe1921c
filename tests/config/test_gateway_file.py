"""Gateway config files: the model, every validation rule with its pointer and message, the JSON Schema's
agreement with the loader, the command-line config, mapping resolution and per-request mapping selection."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
import types
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from fastgw.config.gateway_file import (
    ApiConfig,
    BasePathMapping,
    GatewayConfig,
    Limits,
    Listener,
    MappingTable,
    StageConfig,
    Tls,
    check_gateway_file,
    config_from_cli,
    detect_file_kind,
    load_definitions,
    load_gateway_file,
    resolve_mappings,
)
from fastgw.config.model import ApiDefinition
from fastgw.errors import DefinitionError, Place, Problem

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SCHEMA_PATH = ROOT / "python" / "fastgw" / "config" / "gateway.schema.json"

SWAGGER = "swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n"


def write(directory: Path, text: str, name: str = "gateway.yaml") -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def gw(tmp_path: Path) -> Callable[[str], Path]:
    """Writes a gateway file into tmp_path, next to two stub definitions a.yaml and b.yaml."""
    write(tmp_path, SWAGGER, "a.yaml")
    write(tmp_path, SWAGGER, "b.yaml")
    return lambda text: write(tmp_path, text)


def problems_of(excinfo: pytest.ExceptionInfo[DefinitionError]) -> list[tuple[str, str]]:
    return [(p.place.pointer, p.message) for p in excinfo.value.problems]


def load_errors(path: Path) -> list[tuple[str, str]]:
    with pytest.raises(DefinitionError) as excinfo:
        load_gateway_file(path)
    assert all(p.place.file == str(path) for p in excinfo.value.problems)
    return problems_of(excinfo)


# ---------------------------------------------------------------------------------------------------------
# A valid file


def test_full_file_gives_the_model(tmp_path: Path) -> None:
    write(tmp_path, SWAGGER, "apis/pets.yaml")
    write(tmp_path, SWAGGER, "apis/orders.json")
    write(tmp_path, "cert", "tls/cert.pem")
    write(tmp_path, "key", "tls/key.pem")
    path = write(
        tmp_path,
        """
        $schema: ../python/fastgw/config/gateway.schema.json
        apis:
          pets:
            definition: apis/pets.yaml
            type: REST
            basepath: split
            stagePrefix: true
            stages:
              prod:
                variables: {url: "http://example.com:8080/a?b=c&d=e#f", port: 9001, name_1: "a-b.c~d,e"}
              dev:
          orders:
            definition: ./apis/../apis/orders.json
            type: HTTP
        listeners:
          - {}
          - host: 0.0.0.0
            port: 8443
            tls: {certificate: tls/cert.pem, key: tls/key.pem, keyPassword: secret}
            http2: true
        mappings:
          - {api: pets, stage: prod, basePath: ""}
          - {api: pets, stage: dev, basePath: /pets/v1/, domainName: API.Example.com}
          - {api: orders, stage: $default, basePath: "(none)", domainName: other.example.com}
          - {api: orders, stage: $default, basePath: "orders/v1/items", domainName: null}
        limits: {maxBodyBytes: 1024, maxHeaderBytes: 512, clientSendTimeoutSeconds: 5, clientHeaderTimeoutSeconds: 9,
                 maxConnections: 300}
        """,
    )
    config = load_gateway_file(path)
    file = str(path)
    apis = Place(file).child("apis")
    mappings = Place(file).child("mappings")
    assert config == GatewayConfig(
        apis={
            "pets": ApiConfig(
                name="pets",
                definition_path=str(tmp_path / "apis" / "pets.yaml"),
                api_type="REST",
                basepath="split",
                stages={
                    "prod": StageConfig(
                        "prod",
                        {"url": "http://example.com:8080/a?b=c&d=e#f", "port": "9001", "name_1": "a-b.c~d,e"},
                        apis.child("pets", "stages", "prod"),
                    ),
                    "dev": StageConfig("dev", {}, apis.child("pets", "stages", "dev")),
                },
                place=apis.child("pets"),
                stage_prefix=True,
            ),
            "orders": ApiConfig(
                name="orders",
                definition_path=str(tmp_path / "apis" / "orders.json"),
                api_type="HTTP",
                basepath="ignore",
                stages={"$default": StageConfig("$default", {}, apis.child("orders"))},
                place=apis.child("orders"),
            ),
        },
        listeners=(
            Listener("127.0.0.1", 8080, None),
            Listener(
                "0.0.0.0",
                8443,
                Tls(str(tmp_path / "tls/cert.pem"), str(tmp_path / "tls/key.pem"), "secret"),
                http2=True,
            ),
        ),
        mappings=(
            BasePathMapping("pets", "prod", "", None, mappings.child(0)),
            BasePathMapping("pets", "dev", "pets/v1", "api.example.com", mappings.child(1)),
            BasePathMapping("orders", "$default", "", "other.example.com", mappings.child(2)),
            BasePathMapping("orders", "$default", "orders/v1/items", None, mappings.child(3)),
        ),
        limits=Limits(
            max_body_bytes=1024,
            max_header_bytes=512,
            client_send_timeout=5,
            client_header_timeout=9,
            max_connections=300,
        ),
        source=file,
    )
    assert config.listeners[1].url == "https://0.0.0.0:8443"
    assert "secret" not in repr(config.listeners[1].tls)


def test_minimal_file_gets_the_defaults(gw: Callable[[str], Path], tmp_path: Path) -> None:
    path = gw("apis: {a: {definition: a.yaml}}")
    config = load_gateway_file(path)
    api = config.apis["a"]
    assert api.api_type is None
    assert api.basepath == "ignore"
    assert api.stage_prefix is False
    assert api.map_at_definition_base_path is False
    assert api.stages == {"$default": StageConfig("$default", {}, Place(str(path), "/apis/a"))}
    assert config.listeners == (Listener("127.0.0.1", 8080, None),)
    assert config.listeners[0].url == "http://127.0.0.1:8080"
    assert config.mappings == ()
    assert config.limits == Limits(max_body_bytes=10 * 1024 * 1024, max_header_bytes=10240, client_send_timeout=60)
    assert (config.limits.client_header_timeout, config.limits.max_connections) == (60, 10_000)
    assert config.listeners[0].http2 is False


def test_json_file(tmp_path: Path) -> None:
    write(tmp_path, SWAGGER, "a.yaml")
    path = write(tmp_path, json.dumps({"apis": {"a": {"definition": "a.yaml", "stages": {"v1": {}}}}}), "gw.json")
    assert list(load_gateway_file(path).apis["a"].stages) == ["v1"]


def test_relative_paths_are_resolved_against_the_config_directory(tmp_path: Path, monkeypatch: Any) -> None:
    write(tmp_path, SWAGGER, "conf/a.yaml")
    write(tmp_path, "apis: {a: {definition: a.yaml}}", "conf/gateway.yaml")
    monkeypatch.chdir(tmp_path)
    assert load_gateway_file("conf/gateway.yaml").apis["a"].definition_path == "conf/a.yaml"


# ---------------------------------------------------------------------------------------------------------
# Bad files: the pointer and the message of each problem

LONG = "x" * 513
ERROR_CASES: list[tuple[str, str, list[tuple[str, str]]]] = [
    # (id, file body, [(pointer, message)])
    ("top-not-mapping", "- a\n", [("", "the gateway config must be a mapping, got a list")]),
    (
        "unknown-top-key",
        "apis: {a: {definition: a.yaml}}\napi: {}\n",
        [("/api", "unknown key 'api' in the gateway config (did you mean 'apis'?)")],
    ),
    ("missing-apis", "listeners: [{}]\n", [("", "the gateway config is missing 'apis'")]),
    ("apis-null", "apis:\n", [("/apis", "apis must be a mapping of API name to API, got null")]),
    ("apis-empty", "apis: {}\n", [("/apis", "apis must name at least one API")]),
    (
        "usage-plans-not-mapping",
        "apis: {a: {definition: a.yaml}}\nusagePlans: []\n",
        [("/usagePlans", "usagePlans must be a mapping of name to plan, got a list")],
    ),
    (
        "usage-plan-unknown-stage",
        "apis: {a: {definition: a.yaml}}\nusagePlans: {gold: {apiStages: [{api: a, stage: prod}]}}\n",
        [("/usagePlans/gold/apiStages/0/stage", "API 'a' has no stage 'prod'")],
    ),
    (
        "quota-bad-period",
        "apis: {a: {definition: a.yaml}}\n"
        "usagePlans: {gold: {quota: {limit: 5, period: YEAR}, apiStages: [{api: a, stage: $default}]}}\n",
        [("/usagePlans/gold/quota/period", "period 'YEAR' is not one of DAY, WEEK, MONTH")],
    ),
    (
        "api-key-short-value",
        "apis: {a: {definition: a.yaml}}\napiKeys: {alice: {value: short}}\n",
        [("/apiKeys/alice/value", "an API key value is 20-128 letters and digits (AWS's rule)")],
    ),
    (
        "api-key-unknown-plan",
        "apis: {a: {definition: a.yaml}}\napiKeys: {alice: {value: abcdefghijklmnopqrstuvwxyz, usagePlans: [gold]}}\n",
        [("/apiKeys/alice/usagePlans/0", "no usage plan named 'gold'")],
    ),
    (
        "redis-bad-url",
        "apis: {a: {definition: a.yaml}}\nredis: {url: 'http://x'}\n",
        [("/redis/url", "url must start with redis://, rediss:// or unix://")],
    ),
    (
        "bad-api-name",
        "apis: {'a b': {definition: a.yaml}}\n",
        [("/apis/a b", "API name 'a b' must be 1-128 letters, digits, '.', '-' or '_'")],
    ),
    ("api-not-mapping", "apis: {a: a.yaml}\n", [("/apis/a", "API 'a' must be a mapping, got a string")]),
    ("missing-definition", "apis: {a: {type: REST}}\n", [("/apis/a", "API 'a' is missing 'definition'")]),
    (
        "definition-not-found",
        "apis: {a: {definition: nope.yaml}}\n",
        [("/apis/a/definition", "definition '{dir}/nope.yaml' does not exist or is not a file")],
    ),
    (
        "unknown-api-key",
        "apis: {a: {definition: a.yaml, stagePrefx: true}}\n",
        [("/apis/a/stagePrefx", "unknown key 'stagePrefx' in API 'a' (did you mean 'stagePrefix'?)")],
    ),
    (
        "unknown-api-key-no-hint",
        "apis: {a: {definition: a.yaml, zzz: 1}}\n",
        [
            (
                "/apis/a/zzz",
                "unknown key 'zzz' in API 'a' (expected one of: definition, type, basepath, stagePrefix, stages)",
            )
        ],
    ),
    (
        "bad-type",
        "apis: {a: {definition: a.yaml, type: rest}}\n",
        [("/apis/a/type", "type 'rest' is not one of REST, HTTP")],
    ),
    (
        "bad-basepath",
        "apis: {a: {definition: a.yaml, basepath: strip}}\n",
        [("/apis/a/basepath", "basepath 'strip' is not one of ignore, prepend, split")],
    ),
    (
        "bad-stage-prefix",
        "apis: {a: {definition: a.yaml, stagePrefix: 'yes'}}\n",
        [("/apis/a/stagePrefix", "stagePrefix must be true or false, got a string")],
    ),
    (
        "stages-empty",
        "apis: {a: {definition: a.yaml, stages: {}}}\n",
        [("/apis/a/stages", "stages must name at least one stage (leave 'stages' out for one '$default' stage)")],
    ),
    (
        "stages-list",
        "apis: {a: {definition: a.yaml, stages: [prod]}}\n",
        [("/apis/a/stages", "stages must be a mapping of stage name to stage, got a list")],
    ),
    (
        "bad-stage-name",
        "apis: {a: {definition: a.yaml, stages: {'pro.d': {}}}}\n",
        [
            (
                "/apis/a/stages/pro.d",
                "stage name 'pro.d' must be 1-128 letters, digits, '-' or '_' (or '$default')",
            )
        ],
    ),
    (
        "stage-name-too-long",
        f"apis: {{a: {{definition: a.yaml, stages: {{{'s' * 129}: {{}}}}}}}}\n",
        [
            (
                f"/apis/a/stages/{'s' * 129}",
                f"stage name '{'s' * 129}' must be 1-128 letters, digits, '-' or '_' (or '$default')",
            )
        ],
    ),
    (
        "bad-method-selector",
        "apis: {a: {definition: a.yaml, stages: {prod: {methodSettings: {pets: {}}}}}}\n",
        [("/apis/a/stages/prod/methodSettings/pets", "'pets' is not a route selector ('resourcePath/METHOD')")],
    ),
    (
        "cache-ttl-too-long",
        "apis: {a: {definition: a.yaml, stages: {prod: {methodSettings: {'*/*': {cacheTtlInSeconds: 3601}}}}}}\n",
        [
            (
                "/apis/a/stages/prod/methodSettings/*~1*/cacheTtlInSeconds",
                "cacheTtlInSeconds must be between 0 and 3600, got 3601",
            )
        ],
    ),
    (
        "cache-stale-seconds-negative",
        "apis: {a: {definition: a.yaml, stages: {prod: {cacheStaleSeconds: -1}}}}\n",
        [("/apis/a/stages/prod/cacheStaleSeconds", "cacheStaleSeconds must be between 0 and 3600, got -1")],
    ),
    (
        "cache-stale-seconds-not-integer",
        "apis: {a: {definition: a.yaml, stages: {prod: {cacheStaleSeconds: '30'}}}}\n",
        [("/apis/a/stages/prod/cacheStaleSeconds", "cacheStaleSeconds must be an integer, got a string")],
    ),
    (
        "cache-shared-tier-without-redis",
        "apis: {a: {definition: a.yaml, stages: {prod: {cacheClusterEnabled: true, cacheSharedTier: true}}}}\n",
        [
            (
                "/apis/a/stages/prod/cacheSharedTier",
                "cacheSharedTier keeps the shared cache tier in Redis: configure a top-level 'redis'",
            )
        ],
    ),
    (
        "cache-shared-tier-not-boolean",
        "redis: {url: 'redis://127.0.0.1:6379/0'}\n"
        "apis: {a: {definition: a.yaml, stages: {prod: {cacheSharedTier: 'yes'}}}}\n",
        [("/apis/a/stages/prod/cacheSharedTier", "cacheSharedTier must be true or false, got a string")],
    ),
    (
        "negative-rate",
        "apis: {a: {definition: a.yaml, stages: {prod: {throttling: {rateLimit: -1, burstLimit: 1}}}}}\n",
        [("/apis/a/stages/prod/throttling/rateLimit", "rateLimit must be a number of at least 0, got an integer -1")],
    ),
    (
        "unknown-stage-key",
        "apis: {a: {definition: a.yaml, stages: {prod: {variable: {}}}}}\n",
        [("/apis/a/stages/prod/variable", "unknown key 'variable' in stage 'prod' (did you mean 'variables'?)")],
    ),
    (
        "variables-list",
        "apis: {a: {definition: a.yaml, stages: {prod: {variables: [a]}}}}\n",
        [("/apis/a/stages/prod/variables", "variables must be a mapping of name to value, got a list")],
    ),
    (
        "bad-variable-name",
        "apis: {a: {definition: a.yaml, stages: {prod: {variables: {a-b: x}}}}}\n",
        [("/apis/a/stages/prod/variables/a-b", "stage variable name 'a-b' must be 1-64 letters, digits or '_'")],
    ),
    (
        "variable-name-too-long",
        f"apis: {{a: {{definition: a.yaml, stages: {{prod: {{variables: {{{'v' * 65}: x}}}}}}}}}}\n",
        [
            (
                f"/apis/a/stages/prod/variables/{'v' * 65}",
                f"stage variable name '{'v' * 65}' must be 1-64 letters, digits or '_'",
            )
        ],
    ),
    (
        "bad-variable-value",
        "apis: {a: {definition: a.yaml, stages: {prod: {variables: {v: 'a b%'}}}}}\n",
        [
            (
                "/apis/a/stages/prod/variables/v",
                "stage variable 'v' has characters AWS does not allow (' %'); allowed: letters, digits and -._~:/?#&=,",
            )
        ],
    ),
    (
        "empty-variable-value",
        "apis: {a: {definition: a.yaml, stages: {prod: {variables: {v: ''}}}}}\n",
        [("/apis/a/stages/prod/variables/v", "stage variable 'v' must not be empty")],
    ),
    (
        "variable-value-too-long",
        f"apis: {{a: {{definition: a.yaml, stages: {{prod: {{variables: {{v: {LONG}}}}}}}}}}}\n",
        [("/apis/a/stages/prod/variables/v", "stage variable 'v' is 513 characters long, at most 512 are allowed")],
    ),
    (
        "variable-value-not-string",
        "apis: {a: {definition: a.yaml, stages: {prod: {variables: {v: true}}}}}\n",
        [("/apis/a/stages/prod/variables/v", "stage variable 'v' must be a string, got a boolean")],
    ),
    (
        "too-many-variables",
        "apis: {a: {definition: a.yaml, stages: {prod: {variables: {"
        + ", ".join(f"v{i}: x" for i in range(101))
        + "}}}}}\n",
        [("/apis/a/stages/prod/variables", "a stage has at most 100 variables, got 101")],
    ),
    (
        "listeners-empty",
        "apis: {a: {definition: a.yaml}}\nlisteners: []\n",
        [("/listeners", "listeners must have at least one listener (leave it out for 127.0.0.1:8080)")],
    ),
    (
        "listeners-mapping",
        "apis: {a: {definition: a.yaml}}\nlisteners: {port: 80}\n",
        [("/listeners", "listeners must be a list, got a mapping")],
    ),
    (
        "port-zero",
        "apis: {a: {definition: a.yaml}}\nlisteners: [{port: 0}]\n",
        [("/listeners/0/port", "port must be between 1 and 65535, got 0")],
    ),
    (
        "port-string",
        "apis: {a: {definition: a.yaml}}\nlisteners: [{port: '80'}]\n",
        [("/listeners/0/port", "port must be an integer, got a string")],
    ),
    (
        "bad-listener-host",
        "apis: {a: {definition: a.yaml}}\nlisteners: [{host: 'local host'}]\n",
        [("/listeners/0/host", "host 'local host' is not an IP address or host name")],
    ),
    (
        "duplicate-listener",
        "apis: {a: {definition: a.yaml}}\nlisteners: [{port: 9000}, {host: 127.0.0.1, port: 9000}]\n",
        [("/listeners/1", "listener 127.0.0.1:9000 is already defined at /listeners/0")],
    ),
    (
        "unknown-listener-key",
        "apis: {a: {definition: a.yaml}}\nlisteners: [{ssl: {}}]\n",
        [("/listeners/0/ssl", "unknown key 'ssl' in listener (expected one of: host, port, tls, http2)")],
    ),
    (
        "tls-files-missing",
        "apis: {a: {definition: a.yaml}}\nlisteners: [{tls: {certificate: c.pem, key: k.pem}}]\n",
        [
            ("/listeners/0/tls/certificate", "certificate '{dir}/c.pem' does not exist or is not a file"),
            ("/listeners/0/tls/key", "key '{dir}/k.pem' does not exist or is not a file"),
        ],
    ),
    (
        "tls-missing-key",
        "apis: {a: {definition: a.yaml}}\nlisteners: [{tls: {certificate: a.yaml}}]\n",
        [("/listeners/0/tls", "tls is missing 'key'")],
    ),
    (
        "tls-key-password-not-string",
        "apis: {a: {definition: a.yaml}}\nlisteners: [{tls: {certificate: a.yaml, key: b.yaml, keyPassword: 1234}}]\n",
        [("/listeners/0/tls/keyPassword", "keyPassword must be a string, got an integer")],
    ),
    (
        "mappings-not-list",
        "apis: {a: {definition: a.yaml}}\nmappings: {api: a}\n",
        [("/mappings", "mappings must be a list, got a mapping")],
    ),
    (
        "mapping-missing-stage",
        "apis: {a: {definition: a.yaml}}\nmappings: [{api: a}]\n",
        [("/mappings/0", "mapping is missing 'stage'")],
    ),
    (
        "mapping-unknown-api",
        "apis: {a: {definition: a.yaml}}\nmappings: [{api: x, stage: $default}]\n",
        [("/mappings/0/api", "unknown API 'x' (the APIs are: a)")],
    ),
    (
        "mapping-unknown-stage",
        "apis: {a: {definition: a.yaml, stages: {prod: {}, dev: {}}}}\nmappings: [{api: a, stage: test}]\n",
        [("/mappings/0/stage", "API 'a' has no stage 'test' (its stages are: prod, dev)")],
    ),
    (
        "mapping-bad-characters",
        "apis: {a: {definition: a.yaml}}\nmappings: [{api: a, stage: $default, basePath: 'v1/{id}'}]\n",
        [("/mappings/0/basePath", "base path 'v1/{id}' may only contain letters, digits and $-_.+!*'()/")],
    ),
    (
        "mapping-empty-segment",
        "apis: {a: {definition: a.yaml}}\nmappings: [{api: a, stage: $default, basePath: 'v1//items'}]\n",
        [("/mappings/0/basePath", "base path 'v1//items' has an empty segment")],
    ),
    (
        "mapping-double-slash",
        "apis: {a: {definition: a.yaml}}\nmappings: [{api: a, stage: $default, basePath: '//'}]\n",
        [("/mappings/0/basePath", "base path '//' has an empty segment")],
    ),
    (
        "mapping-too-long",
        "apis: {a: {definition: a.yaml}}\nmappings: [{api: a, stage: $default, basePath: " + "a" * 301 + "}]\n",
        [("/mappings/0/basePath", "base path is 301 characters long, at most 300 are allowed")],
    ),
    (
        "mapping-bad-domain",
        "apis: {a: {definition: a.yaml}}\nmappings: [{api: a, stage: $default, domainName: 'http://x.com'}]\n",
        [("/mappings/0/domainName", "domainName 'http://x.com' is not a host name")],
    ),
    (
        "mapping-unknown-key",
        "apis: {a: {definition: a.yaml}}\nmappings: [{api: a, stage: $default, host: x.com}]\n",
        [("/mappings/0/host", "unknown key 'host' in mapping (expected one of: api, stage, basePath, domainName)")],
    ),
    (
        "duplicate-mapping",
        "apis: {a: {definition: a.yaml}, b: {definition: b.yaml}}\n"
        "mappings: [{api: a, stage: $default, basePath: /v1}, {api: b, stage: $default, basePath: v1/}]\n",
        [
            (
                "/mappings/1",
                "base path 'v1' on any host is already mapped to API 'a' stage '$default' by {file}#/mappings/0",
            )
        ],
    ),
    (
        "duplicate-root-mapping-on-host",
        "apis: {a: {definition: a.yaml}, b: {definition: b.yaml}}\n"
        "mappings: [{api: a, stage: $default, domainName: x.com}, {api: b, stage: $default, domainName: X.com}]\n",
        [
            (
                "/mappings/1",
                "base path '(none)' on host 'x.com' is already mapped to API 'a' stage '$default'"
                " by {file}#/mappings/0",
            )
        ],
    ),
    (
        "stage-prefix-conflict",
        "apis: {a: {definition: a.yaml, stagePrefix: true, stages: {v1: {}}}, b: {definition: b.yaml}}\n"
        "mappings: [{api: b, stage: $default, basePath: v1}, {api: a, stage: v1}]\n",
        [
            (
                "/apis/a/stagePrefix",
                "base path 'v1' on any host is already mapped to API 'b' stage '$default' by {file}#/mappings/0",
            )
        ],
    ),
    (
        "limits-bad",
        "apis: {a: {definition: a.yaml}}\n"
        "limits: {maxBodyBytes: 0, maxHeaderBytes: true, maxUrlBytes: 1, clientSendTimeoutSeconds: 0.5,"
        " clientHeaderTimeoutSeconds: 0, maxConnections: many}\n",
        [
            ("/limits/maxUrlBytes", "unknown key 'maxUrlBytes' in limits (did you mean 'maxHeaderBytes'?)"),
            ("/limits/maxBodyBytes", "maxBodyBytes must be at least 1, got 0"),
            ("/limits/maxHeaderBytes", "maxHeaderBytes must be an integer, got a boolean"),
            ("/limits/clientSendTimeoutSeconds", "clientSendTimeoutSeconds must be an integer, got a number"),
            ("/limits/clientHeaderTimeoutSeconds", "clientHeaderTimeoutSeconds must be at least 1, got 0"),
            ("/limits/maxConnections", "maxConnections must be an integer, got a string"),
        ],
    ),
    (
        "null-member",
        "apis: {a: {definition: a.yaml, type: }}\n",
        [("/apis/a/type", "type must be a string, got null")],
    ),
]


@pytest.mark.parametrize(("body", "expected"), [(c[1], c[2]) for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_bad_file_reports_pointer_and_reason(
    gw: Callable[[str], Path], tmp_path: Path, body: str, expected: list[tuple[str, str]]
) -> None:
    path = gw(body)
    wanted = [
        (pointer, message.replace("{dir}", str(tmp_path)).replace("{file}", str(path))) for pointer, message in expected
    ]
    assert load_errors(path) == wanted


def test_every_problem_is_reported_at_once(gw: Callable[[str], Path]) -> None:
    path = gw(
        """
        apis:
          a: {definition: a.yaml, type: SOAP, stages: {prod: {variables: {v: " "}}}}
        listeners: [{port: 70000}]
        mappings: [{api: nope, stage: prod}]
        redis: redis://localhost
        """
    )
    assert load_errors(path) == [
        ("/apis/a/type", "type 'SOAP' is not one of REST, HTTP"),
        (
            "/apis/a/stages/prod/variables/v",
            "stage variable 'v' has characters AWS does not allow (' '); allowed: letters, digits and -._~:/?#&=,",
        ),
        ("/listeners/0/port", "port must be between 1 and 65535, got 70000"),
        ("/mappings/0/api", "unknown API 'nope' (the APIs are: a)"),
        ("/redis", "redis must be a mapping, got a string"),
    ]


def test_mapping_to_a_bad_api_is_not_reported_twice(gw: Callable[[str], Path]) -> None:
    path = gw("apis: {a: {definition: missing.yaml}}\nmappings: [{api: a, stage: $default}]\n")
    assert [pointer for pointer, _ in load_errors(path)] == ["/apis/a/definition"]


def test_not_yaml(gw: Callable[[str], Path]) -> None:
    path = gw("apis: [\n")
    (problem,) = load_errors(path)
    assert problem[0] == ""
    assert problem[1].startswith("not valid YAML: while parsing a flow node expected the node content")


def test_duplicate_yaml_key(gw: Callable[[str], Path]) -> None:
    path = gw("apis: {a: {definition: a.yaml}}\nlisteners: [{port: 1}]\nlisteners: [{port: 2}]\n")
    (problem,) = load_errors(path)
    assert problem[0] == ""
    assert problem[1].startswith("not valid YAML: while constructing a mapping")
    assert "found duplicate key 'listeners'" in problem[1]


def test_yaml_merge_keys_may_repeat_keys(gw: Callable[[str], Path]) -> None:
    path = gw(
        """
        apis:
          a:
            definition: a.yaml
            stages:
              prod: &base {variables: {v: one}}
              dev:
                <<: *base
                variables: {v: two}
        """
    )
    assert load_gateway_file(path).apis["a"].stages["dev"].variables == {"v": "two"}


def test_duplicate_json_key(tmp_path: Path) -> None:
    path = write(tmp_path, '{"apis": {}, "apis": {}}', "gw.json")
    assert load_errors(path) == [("", "not valid JSON: duplicate key 'apis'")]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as excinfo:
        load_gateway_file(tmp_path / "nope.yaml")
    assert excinfo.value.problems == [Problem(Place(str(tmp_path / "nope.yaml")), "file not found")]


# ---------------------------------------------------------------------------------------------------------
# The JSON Schema agrees with the loader


@pytest.fixture(scope="module")
def schema_validator() -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


# Rules the schema cannot state: files exist, names refer to defined things, addresses are unique.
NOT_IN_SCHEMA = {
    "usage-plan-unknown-stage",
    "api-key-unknown-plan",
    "definition-not-found",
    "duplicate-listener",
    "tls-files-missing",
    "mapping-unknown-api",
    "mapping-unknown-stage",
    "duplicate-mapping",
    "duplicate-root-mapping-on-host",
    "stage-prefix-conflict",
    "cache-shared-tier-without-redis",  # across the file (a stage key and the top-level redis)
}


def test_schema_accepts_the_example(schema_validator: Any) -> None:
    schema_validator.validate(yaml.safe_load((EXAMPLES / "gateway.yaml").read_text()))


@pytest.mark.parametrize(
    "body",
    [
        "apis: {a: {definition: a.yaml}}",
        "apis: {a: {definition: a.yaml, stages: {prod: , dev: {variables: {port: 80, u: 'http://x/y?z=1'}}}}}",
        "apis: {a: {definition: a.yaml, stages: {$default: {}}}}\nmappings: [{api: a, stage: $default, basePath: /}]",
        "apis: {a: {definition: a.yaml}}\nmappings: [{api: a, stage: s, basePath: '(none)', domainName: null}]",
        "apis: {a: {definition: a.yaml}}\nlisteners: [{host: '::', port: 1, tls: {certificate: c, key: k}}]",
        "$schema: x\napis: {a: {definition: a.yaml}}\nlimits: {maxBodyBytes: 1}",
    ],
)
def test_schema_accepts_what_the_loader_accepts(schema_validator: Any, gw: Callable[[str], Path], body: str) -> None:
    schema_validator.validate(yaml.safe_load(body))
    if "listeners" not in body and "stage: s" not in body:
        load_gateway_file(gw(body))


@pytest.mark.parametrize(
    ("case_id", "body"), [(c[0], c[1]) for c in ERROR_CASES if c[0] not in NOT_IN_SCHEMA], ids=lambda v: v[:40]
)
def test_schema_rejects_what_the_loader_rejects(schema_validator: Any, case_id: str, body: str) -> None:
    assert list(schema_validator.iter_errors(yaml.safe_load(body))), case_id


def test_schema_documents_every_key_the_loader_knows() -> None:
    from fastgw.config import gateway_file as module

    schema = json.loads(SCHEMA_PATH.read_text())
    defs = schema["$defs"]
    assert tuple(schema["properties"]) == module._TOP_KEYS
    assert tuple(defs["api"]["properties"]) == module._API_KEYS
    assert tuple(defs["stage"]["properties"]) == module._STAGE_KEYS
    assert tuple(defs["listener"]["properties"]) == module._LISTENER_KEYS
    assert tuple(defs["tls"]["properties"]) == module._TLS_KEYS
    assert tuple(defs["mapping"]["properties"]) == module._MAPPING_KEYS
    assert tuple(defs["limits"]["properties"]) == module._LIMITS_KEYS
    assert defs["limits"]["properties"]["maxBodyBytes"]["default"] == Limits().max_body_bytes
    assert defs["limits"]["properties"]["maxHeaderBytes"]["default"] == Limits().max_header_bytes
    assert defs["limits"]["properties"]["clientSendTimeoutSeconds"]["default"] == Limits().client_send_timeout
    assert defs["limits"]["properties"]["clientHeaderTimeoutSeconds"]["default"] == Limits().client_header_timeout
    assert defs["limits"]["properties"]["maxConnections"]["default"] == Limits().max_connections


# ---------------------------------------------------------------------------------------------------------
# The example


def test_example_loads(tmp_path: Path) -> None:
    # The example names examples/petstore.yaml, which may not exist yet: load a copy next to stubs.
    shutil.copy(EXAMPLES / "gateway.yaml", tmp_path / "gateway.yaml")
    shutil.copy(EXAMPLES / "orders-http.yaml", tmp_path / "orders-http.yaml")
    write(tmp_path, SWAGGER, "petstore.yaml")
    config = load_gateway_file(tmp_path / "gateway.yaml")
    assert {name: list(api.stages) for name, api in config.apis.items()} == {
        "petstore": ["prod", "dev"],
        "orders": ["prod", "dev"],
    }
    assert config.apis["orders"].stages["dev"].variables == {"backendPort": "9002"}
    assert config.listeners == (Listener("127.0.0.1", 8080, None),)
    assert [(m.api, m.stage, m.base_path, m.host) for m in config.mappings] == [
        ("petstore", "prod", "", None),
        ("orders", "prod", "orders", None),
        ("orders", "dev", "orders", "dev.localhost"),
    ]
    table = MappingTable(resolve_mappings(config, {}))
    assert route(table, None, "/dev/pets") == ("petstore", "dev", "/pets")
    assert route(table, "127.0.0.1:8080", "/orders/orders/42") == ("orders", "prod", "/orders/42")
    assert route(table, "dev.localhost:8080", "/orders/orders/42") == ("orders", "dev", "/orders/42")


def test_example_definition_is_an_http_api() -> None:
    document = yaml.safe_load((EXAMPLES / "orders-http.yaml").read_text())
    assert document["x-amazon-apigateway-importexport-version"] == "1.0"
    integration = document["paths"]["/orders/{id}"]["get"]["x-amazon-apigateway-integration"]
    assert integration["type"] == "http_proxy"
    assert integration["uri"] == "http://127.0.0.1:${stageVariables.backendPort}/orders/{id}"


def test_check_example_with_the_real_loader() -> None:
    pytest.importorskip("fastgw.config.openapi")
    if not (EXAMPLES / "petstore.yaml").exists():
        pytest.skip("examples/petstore.yaml is not written yet")
    warnings = check_gateway_file(EXAMPLES / "gateway.yaml")
    assert not [w for w in warnings if "is not served" in w.message]


# ---------------------------------------------------------------------------------------------------------
# Mapping selection


def mapping(api: str, base_path: str, host: str | None = None, stage: str = "prod") -> BasePathMapping:
    return BasePathMapping(api, stage, base_path, host, Place("test"))


def route(table: MappingTable, host: str | None, path: str) -> tuple[str, str, str] | None:
    found = table.select(host, path)
    return None if found is None else (found[0].api, found[0].stage, found[1])


REFERENCE_13 = MappingTable(
    [
        mapping("API1", ""),
        mapping("API2", "orders/v1/items"),
        mapping("API3", "orders/v2/items"),
        mapping("API4", "orders/v2/items/categories"),
    ]
)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # reference §13
        ("/orders/v1/items/123", ("API2", "/123")),
        ("/orders/v2/items/categories/5", ("API4", "/5")),
        ("/customers", ("API1", "/customers")),
        # whole segments only; the remaining path keeps its leading /
        ("/orders/v1/items", ("API2", "/")),
        ("/orders/v1/items/", ("API2", "/")),
        ("/orders/v1/itemsX", ("API1", "/orders/v1/itemsX")),
        ("/orders/v1/items/categories/5", ("API2", "/categories/5")),
        ("/orders/v2/items/categoriesX", ("API3", "/categoriesX")),
        ("/orders/v2", ("API1", "/orders/v2")),
        ("/orders", ("API1", "/orders")),
        ("/", ("API1", "/")),
        ("", ("API1", "/")),
        ("orders/v1/items/9", ("API2", "/9")),
        ("/Orders/v1/items", ("API1", "/Orders/v1/items")),
        ("//orders/v1/items", ("API1", "//orders/v1/items")),
    ],
)
def test_longest_base_path_wins(path: str, expected: tuple[str, str]) -> None:
    found = REFERENCE_13.select(None, path)
    assert found is not None
    assert (found[0].api, found[1]) == expected


def test_no_root_mapping_means_no_match() -> None:
    table = MappingTable([mapping("A", "orders"), mapping("B", "pets", host="api.example.com")])
    assert table.select(None, "/customers") is None
    assert table.select("api.example.com", "/customers") is None
    assert route(table, "api.example.com", "/orders/1") == ("A", "prod", "/1")
    assert MappingTable([]).select("x", "/") is None


def test_host_specific_mappings_come_first() -> None:
    table = MappingTable(
        [
            mapping("ANY_ROOT", ""),
            mapping("ANY_ORDERS_V1", "orders/v1"),
            mapping("ANY_PETS", "pets"),
            mapping("HOST_ORDERS", "orders", host="api.example.com"),
            mapping("OTHER_ROOT", "", host="other.example.com"),
        ]
    )
    # The host's own mapping beats a longer any-host one.
    assert route(table, "api.example.com", "/orders/v1/x") == ("HOST_ORDERS", "prod", "/v1/x")
    # What the host's mappings do not match falls through to the any-host ones.
    assert route(table, "api.example.com", "/pets/1") == ("ANY_PETS", "prod", "/1")
    assert route(table, "api.example.com", "/x") == ("ANY_ROOT", "prod", "/x")
    # A host with its own "" mapping keeps all of its requests.
    assert route(table, "other.example.com", "/pets/1") == ("OTHER_ROOT", "prod", "/pets/1")
    # Host header: case-insensitive, port and trailing dot ignored.
    assert route(table, "API.Example.COM:8443", "/orders") == ("HOST_ORDERS", "prod", "/")
    assert route(table, "api.example.com.", "/orders") == ("HOST_ORDERS", "prod", "/")
    # Other hosts and no host: any-host mappings only.
    assert route(table, "example.com", "/orders/v1/x") == ("ANY_ORDERS_V1", "prod", "/x")
    assert route(table, None, "/orders/1") == ("ANY_ROOT", "prod", "/orders/1")
    assert route(table, "[::1]:8080", "/orders/1") == ("ANY_ROOT", "prod", "/orders/1")


def test_table_rejects_two_mappings_at_one_place() -> None:
    with pytest.raises(DefinitionError) as excinfo:
        MappingTable([mapping("A", "v1", host="x.com"), mapping("B", "v1", host="x.com")])
    assert problems_of(excinfo) == [
        ("", "base path 'v1' on host 'x.com' is already mapped to API 'A' stage 'prod' by test")
    ]


# ---------------------------------------------------------------------------------------------------------
# Resolution: stage prefixes and definitions' base paths


def test_stage_prefix_goes_in_front_of_every_base_path_of_the_api(gw: Callable[[str], Path]) -> None:
    path = gw(
        """
        apis:
          a: {definition: a.yaml, stagePrefix: true, stages: {prod: {}, dev: {}, $default: {}}}
          b: {definition: b.yaml, stages: {prod: {}, dev: {}}}
        mappings:
          - {api: a, stage: prod}
          - {api: a, stage: prod, basePath: v1, domainName: x.com}
          - {api: b, stage: dev, basePath: b}
        """
    )
    config = load_gateway_file(path)
    resolved = resolve_mappings(config, {})
    assert resolved[:3] == config.mappings
    prefix_place = Place(str(path), "/apis/a/stagePrefix")
    assert resolved[3:] == (
        BasePathMapping("a", "prod", "prod", None, prefix_place),
        BasePathMapping("a", "prod", "prod/v1", "x.com", prefix_place),
        BasePathMapping("a", "dev", "dev", None, prefix_place),
        BasePathMapping("a", "dev", "dev/v1", "x.com", prefix_place),
    )
    table = MappingTable(resolved)
    assert route(table, None, "/dev/pets") == ("a", "dev", "/pets")
    assert route(table, None, "/pets") == ("a", "prod", "/pets")
    assert route(table, "x.com", "/dev/v1/pets") == ("a", "dev", "/pets")
    assert route(table, None, "/$default/pets") == ("a", "prod", "/$default/pets")


def definition(source: str, base_path: str = "", warnings: tuple[Problem, ...] = ()) -> ApiDefinition:
    return ApiDefinition(
        source=source, title="t", version="1", api_type="REST", routes=(), warnings=warnings, base_path=base_path
    )


@pytest.fixture
def defs(tmp_path: Path) -> dict[str, str]:
    names = ("pets.yaml", "orders.yaml", "sub/pets.yaml", "my api.json")
    return {name: str(write(tmp_path, SWAGGER, name)) for name in names}


def test_cli_one_file_is_served_at_the_root(defs: dict[str, str]) -> None:
    file = defs["pets.yaml"]
    config = config_from_cli([file])
    assert config == GatewayConfig(
        apis={
            "pets": ApiConfig(
                name="pets",
                definition_path=file,
                api_type=None,
                basepath="ignore",
                stages={"$default": StageConfig("$default", {}, Place("<command line>"))},
                place=Place(file),
            )
        },
        listeners=(Listener("127.0.0.1", 8080, None),),
        mappings=(BasePathMapping("pets", "$default", "", None, Place(file)),),
        limits=Limits(),
        source=None,
    )
    # The definition's own base path does not matter with one file.
    assert resolve_mappings(config, {"pets": definition(file, "/v1")}) == config.mappings


def test_cli_options(defs: dict[str, str]) -> None:
    file = defs["pets.yaml"]
    config = config_from_cli(
        [file],
        api_type="HTTP",
        stage="prod",
        stage_variables={"url": "example.com", "port": "81"},
        stage_prefix=True,
        host="0.0.0.0",
        port=9000,
        basepath="prepend",
    )
    api = config.apis["pets"]
    assert (api.api_type, api.basepath, api.stage_prefix) == ("HTTP", "prepend", True)
    assert api.stages == {"prod": StageConfig("prod", {"url": "example.com", "port": "81"}, Place("<command line>"))}
    assert config.listeners == (Listener("0.0.0.0", 9000, None),)
    resolved = resolve_mappings(config, {"pets": definition(file)})
    assert resolved == (
        BasePathMapping("pets", "prod", "", None, Place(file)),
        BasePathMapping("pets", "prod", "prod", None, Place(file)),
    )
    table = MappingTable(resolved)
    assert route(table, None, "/prod/pets") == ("pets", "prod", "/pets")
    assert route(table, None, "/pets") == ("pets", "prod", "/pets")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stage_prefix": True}, "--stage-prefix needs --stage NAME (the $default stage is served at the root)"),
        ({"stage": "a/b"}, "--stage: stage name 'a/b' must be 1-128 letters, digits, '-' or '_' (or '$default')"),
        (
            {"stage_variables": {"a-b": "x"}},
            "--stage-variable: stage variable name 'a-b' must be 1-64 letters, digits or '_'",
        ),
        ({"stage_variables": {"v": ""}}, "--stage-variable: stage variable 'v' must not be empty"),
        (
            {"stage_variables": {f"v{i}": "x" for i in range(101)}},
            "--stage-variable: at most 100 stage variables, got 101",
        ),
        ({"port": 0}, "--port must be between 1 and 65535, got 0"),
    ],
)
def test_cli_bad_options(defs: dict[str, str], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DefinitionError) as excinfo:
        config_from_cli([defs["pets.yaml"]], **kwargs)
    assert excinfo.value.problems == [Problem(Place("<command line>"), message)]


def test_cli_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as excinfo:
        config_from_cli([str(tmp_path / "x.yaml")])
    assert excinfo.value.problems == [Problem(Place(str(tmp_path / "x.yaml")), "file not found")]
    with pytest.raises(DefinitionError) as excinfo:
        config_from_cli([])
    assert excinfo.value.problems == [Problem(Place("<command line>"), "no API definition file given")]


def test_cli_several_files_are_mapped_at_their_base_paths(defs: dict[str, str]) -> None:
    files = [defs["pets.yaml"], defs["orders.yaml"], defs["sub/pets.yaml"], defs["my api.json"]]
    config = config_from_cli(files, stage="v1", stage_prefix=True)
    assert list(config.apis) == ["pets", "orders", "pets-2", "my-api"]
    assert all(api.map_at_definition_base_path for api in config.apis.values())
    assert config.mappings == ()
    definitions = {
        "pets": definition(files[0], "/pets"),
        "orders": definition(files[1], "/shop/orders"),
        "pets-2": definition(files[2], "/pets2"),
        "my-api": definition(files[3], ""),
    }
    resolved = resolve_mappings(config, definitions)
    assert [(m.api, m.stage, m.base_path, m.host, m.place) for m in resolved] == [
        ("pets", "v1", "pets", None, Place(files[0])),
        ("orders", "v1", "shop/orders", None, Place(files[1])),
        ("pets-2", "v1", "pets2", None, Place(files[2])),
        ("my-api", "v1", "", None, Place(files[3])),
        ("pets", "v1", "v1/pets", None, Place(files[0])),
        ("orders", "v1", "v1/shop/orders", None, Place(files[1])),
        ("pets-2", "v1", "v1/pets2", None, Place(files[2])),
        ("my-api", "v1", "v1", None, Place(files[3])),
    ]
    table = MappingTable(resolved)
    assert route(table, None, "/shop/orders/1") == ("orders", "v1", "/1")
    assert route(table, None, "/v1/shop/orders/1") == ("orders", "v1", "/1")
    assert route(table, None, "/v1/other") == ("my-api", "v1", "/other")
    assert route(table, None, "/other") == ("my-api", "v1", "/other")


@pytest.mark.parametrize(("basepath", "expected"), [("ignore", "base-url/part"), ("split", "base-url")])
def test_cli_mapping_is_the_part_of_the_base_path_left_out_of_the_routes(
    defs: dict[str, str], basepath: Any, expected: str
) -> None:
    files = [defs["pets.yaml"], defs["orders.yaml"]]
    config = config_from_cli(files, basepath=basepath)
    resolved = resolve_mappings(
        config, {"pets": definition(files[0], "/base-url/part"), "orders": definition(files[1], "/orders")}
    )
    assert [m.base_path for m in resolved] == [expected, "orders"]


def test_cli_prepend_puts_every_file_at_the_root(defs: dict[str, str]) -> None:
    # With prepend the routes carry the whole base path, so each API claims the root: two files conflict.
    files = [defs["pets.yaml"], defs["orders.yaml"]]
    config = config_from_cli(files, basepath="prepend")
    with pytest.raises(DefinitionError) as excinfo:
        resolve_mappings(config, {"pets": definition(files[0], "/pets"), "orders": definition(files[1], "/orders")})
    assert excinfo.value.problems == [
        Problem(
            Place(files[1]),
            f"base path '(none)' on any host is already mapped to API 'pets' stage '$default' by {files[0]}",
        )
    ]


def test_cli_two_files_at_one_base_path(defs: dict[str, str]) -> None:
    files = [defs["pets.yaml"], defs["orders.yaml"], defs["sub/pets.yaml"]]
    config = config_from_cli(files)
    definitions = {
        "pets": definition(files[0], "/v1"),
        "orders": definition(files[1], "/v1/"),
        "pets-2": definition(files[2], "/{bad}"),
    }
    with pytest.raises(DefinitionError) as excinfo:
        resolve_mappings(config, definitions)
    assert excinfo.value.problems == [
        Problem(
            Place(files[2]),
            "cannot be mapped at its own base path: base path '{bad}' may only contain letters, digits and $-_.+!*'()/",
        ),
        Problem(
            Place(files[1]),
            f"base path 'v1' on any host is already mapped to API 'pets' stage '$default' by {files[0]}",
        ),
    ]


# ---------------------------------------------------------------------------------------------------------
# detect_file_kind


@pytest.mark.parametrize(
    ("name", "text", "kind"),
    [
        ("a.yaml", "openapi: 3.0.1\ninfo: {}\n", "definition"),
        ("a.yml", "swagger: '2.0'\n", "definition"),
        ("a.json", '{"openapi": "3.0.1", "paths": {}}', "definition"),
        ("g.yaml", "apis: {}\n", "gateway"),
        ("g.json", '{"apis": {"a": {"definition": "a.yaml"}}}', "gateway"),
    ],
)
def test_detect_file_kind(tmp_path: Path, name: str, text: str, kind: str) -> None:
    assert detect_file_kind(write(tmp_path, text, name)) == kind


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "info: {}\npaths: {}\n",
            "expected an API definition (a mapping with 'openapi' or 'swagger') or a gateway config"
            " (a mapping with 'apis'), got a mapping with keys 'info', 'paths'",
        ),
        (
            "- a\n",
            "expected an API definition (a mapping with 'openapi' or 'swagger') or a gateway config"
            " (a mapping with 'apis'), got a list",
        ),
        (
            "",
            "expected an API definition (a mapping with 'openapi' or 'swagger') or a gateway config"
            " (a mapping with 'apis'), got null",
        ),
    ],
)
def test_detect_file_kind_neither(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text, "x.yaml")
    with pytest.raises(DefinitionError) as excinfo:
        detect_file_kind(path)
    assert excinfo.value.problems == [Problem(Place(str(path)), message)]


# ---------------------------------------------------------------------------------------------------------
# check_gateway_file (fastgw validate), with a stand-in for fastgw.config.openapi


@pytest.fixture
def fake_openapi(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """``load_definition`` answers from ``results``: file name -> ApiDefinition or DefinitionError; calls are
    recorded in ``calls``."""
    state: dict[str, Any] = {"results": {}, "calls": []}

    def load_definition(path: str, api_type: str | None = None, basepath: str = "ignore") -> ApiDefinition:
        state["calls"].append((path, api_type, basepath))
        result = state["results"][Path(path).name]
        if isinstance(result, DefinitionError):
            raise result
        assert isinstance(result, ApiDefinition)
        return result

    module = types.ModuleType("fastgw.config.openapi")
    module.load_definition = load_definition  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fastgw.config.openapi", module)
    yield state


def test_check_gateway_file_reports_warnings(
    gw: Callable[[str], Path], tmp_path: Path, fake_openapi: dict[str, Any]
) -> None:
    path = gw(
        """
        apis:
          a: {definition: a.yaml, type: HTTP, basepath: split, stages: {prod: {}, dev: {}}}
          b: {definition: b.yaml}
        mappings: [{api: a, stage: prod}, {api: b, stage: $default, basePath: b}]
        """
    )
    warning = Problem(Place(str(tmp_path / "a.yaml"), "/paths"), "something unsupported")
    fake_openapi["results"] = {"a.yaml": definition("a.yaml", warnings=(warning,)), "b.yaml": definition("b.yaml")}
    assert check_gateway_file(path) == [
        warning,
        Problem(
            Place(str(path), "/apis/a/stages/dev"),
            "stage 'dev' of API 'a' is not served: no base path mapping names it",
        ),
    ]
    assert fake_openapi["calls"] == [
        (str(tmp_path / "a.yaml"), "HTTP", "split"),
        (str(tmp_path / "b.yaml"), None, "ignore"),
    ]


def test_check_gateway_file_collects_every_definition_error(
    gw: Callable[[str], Path], tmp_path: Path, fake_openapi: dict[str, Any]
) -> None:
    path = gw("apis: {a: {definition: a.yaml}, b: {definition: b.yaml}}")
    error_a = Problem(Place("a.yaml", "/paths"), "bad a")
    error_b = Problem(Place("b.yaml", "/info"), "bad b")
    fake_openapi["results"] = {"a.yaml": DefinitionError(error_a), "b.yaml": DefinitionError([error_b])}
    with pytest.raises(DefinitionError) as excinfo:
        check_gateway_file(path)
    assert excinfo.value.problems == [error_a, error_b]


def test_check_gateway_file_raises_config_errors_before_loading_definitions(
    gw: Callable[[str], Path], fake_openapi: dict[str, Any]
) -> None:
    path = gw("apis: {a: {definition: a.yaml, type: SOAP}}")
    with pytest.raises(DefinitionError):
        check_gateway_file(path)
    assert fake_openapi["calls"] == []


def test_load_definitions_gives_definitions_by_api_name(
    gw: Callable[[str], Path], fake_openapi: dict[str, Any]
) -> None:
    config = load_gateway_file(gw("apis: {first: {definition: a.yaml}, second: {definition: a.yaml}}"))
    only = definition("a.yaml")
    fake_openapi["results"] = {"a.yaml": only}
    assert load_definitions(config) == ({"first": only, "second": only}, [])


def test_model_is_frozen() -> None:
    stage = StageConfig("prod", {}, Place("x"))
    with pytest.raises(AttributeError):
        stage.name = "dev"  # type: ignore[misc]
    assert not hasattr(stage, "__dict__")


def test_mapping_fields_are_plain_mappings() -> None:
    # The model keeps plain dicts (picklable for worker processes); the annotation says read-only.
    assert isinstance(StageConfig("p", {"a": "b"}, Place("x")).variables, Mapping)
