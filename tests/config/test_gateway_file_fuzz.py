"""Property tests (issue 18, fuzzing): whatever a gateway file holds, loading it ends in a GatewayConfig or a
DefinitionError naming the file, a place in it and a reason; never a KeyError, TypeError, OSError, ...

Documents are the example gateway file and a file using every operational setting, with some of their nodes
replaced by arbitrary values (written as YAML or JSON), their texts mutated as text, and arbitrary documents.
Each is loaded with ``load_gateway_file`` and checked with ``check_gateway_file`` (which loads the definitions
it names too). ``FASTGW_FUZZ_EXAMPLES`` runs longer (``tests/fuzzing.py``).
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings

from fastgw.config.gateway_file import GatewayConfig, check_gateway_file, load_gateway_file
from fastgw.errors import DefinitionError, Problem

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FUZZ = fuzz_settings(150)

#: Every top-level and stage setting the loader knows, in a file that loads (definitions from examples/).
FULL = """
apis:
  petstore:
    definition: petstore.yaml
    type: REST
    basepath: split
    stagePrefix: true
    stages:
      prod:
        variables: {environment: production, port: 9001}
        throttling: {rateLimit: 100, burstLimit: 50}
        methodSettings:
          "*/*": {cachingEnabled: true, cacheTtlInSeconds: 300}
          "pets/GET": {throttlingRateLimit: 10, throttlingBurstLimit: 5}
        cacheClusterEnabled: true
        cacheClusterSize: 0.5
        cacheStaleSeconds: 30
        accessLogSettings: {format: '$context.requestId $context.status'}
  orders:
    definition: orders-http.yaml
    type: HTTP
    stages:
      prod:
        variables: {backendPort: "9001"}
        defaultRouteSettings: {throttlingRateLimit: 100, throttlingBurstLimit: 50}
        routeSettings: {"GET /orders/{id}": {throttlingRateLimit: 10, throttlingBurstLimit: 5}}
listeners:
  - {host: 127.0.0.1, port: 8080}
mappings:
  - {api: petstore, stage: prod, basePath: ""}
  - {api: orders, stage: prod, basePath: orders/v1, domainName: api.example.com}
limits: {maxBodyBytes: 1024, maxHeaderBytes: 512, clientSendTimeoutSeconds: 5}
throttling: {rateLimit: 10000, burstLimit: 5000}
usagePlans:
  gold:
    throttle: {rateLimit: 10, burstLimit: 20}
    quota: {limit: 10000, period: MONTH, offset: 0}
    apiStages:
      - {api: petstore, stage: prod, throttle: {"/pets/GET": {rateLimit: 1, burstLimit: 2}}}
apiKeys:
  alice: {value: "abcdefghijklmnopqrstuvwxyz0123456789", usagePlans: [gold]}
metrics: {port: 9090, host: 127.0.0.1}
accessLogs: {destination: stdout, format: json}
"""

WORDS = [
    "apis",
    "definition",
    "type",
    "REST",
    "HTTP",
    "basepath",
    "ignore",
    "prepend",
    "split",
    "stagePrefix",
    "stages",
    "prod",
    "$default",
    "variables",
    "listeners",
    "host",
    "port",
    "tls",
    "certificate",
    "key",
    "keyPassword",
    "mappings",
    "api",
    "stage",
    "basePath",
    "(none)",
    "domainName",
    "limits",
    "maxBodyBytes",
    "maxHeaderBytes",
    "throttling",
    "rateLimit",
    "burstLimit",
    "methodSettings",
    "*/*",
    "routeSettings",
    "defaultRouteSettings",
    "cacheClusterEnabled",
    "cacheClusterSize",
    "cacheTtlInSeconds",
    "usagePlans",
    "quota",
    "period",
    "DAY",
    "apiStages",
    "apiKeys",
    "value",
    "valueSha256",
    "redis",
    "url",
    "redis://127.0.0.1:1/0",
    "metrics",
    "accessLogs",
    "tracing",
    "state",
    "petstore",
    "orders",
    "petstore.yaml",
    "orders-http.yaml",
    "missing.yaml",
    ".",
    "",
]
keys = st.sampled_from(WORDS) | st.text(max_size=4)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-5, max_value=100_000)
    | st.integers()
    | st.floats(allow_nan=False)
    | st.sampled_from(WORDS)
    | st.text(max_size=6)
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5), max_leaves=20
)
DOCUMENTS = [yaml.safe_load((EXAMPLES / "gateway.yaml").read_text()), yaml.safe_load(FULL)]
TEXTS = [(EXAMPLES / "gateway.yaml").read_text(), FULL]
TOKENS = ["\n", "\n  ", ": ", "- ", "{", "}", "[", "]", ",", '"', "&a ", "*a", "<<: *a\n", "!!binary ", "~", "\t"]
#: Tags whose constructors raised other errors than YAML's (issue 18, fuzzing).
TOKENS += ["!!timestamp ", "!!bool ", "!!int ", "!!float "]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the example definitions, where each example's gateway file is written."""
    path = tmp_path_factory.mktemp("gateway")
    for name in ["petstore.yaml", "orders-http.yaml"]:
        shutil.copy(EXAMPLES / name, path / name)
    return path


def _locations(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, item in items:
        found.extend(_locations(item, (*path, key)))
    return found


@st.composite
def mutated_documents(draw: st.DrawFn) -> Any:
    """A gateway file with a few of its nodes replaced by arbitrary values."""
    document = copy.deepcopy(draw(st.sampled_from(DOCUMENTS)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        location = draw(st.sampled_from(_locations(document)))
        if not location:
            continue
        parent = document
        for key in location[:-1]:
            parent = parent[key]
        parent[location[-1]] = draw(values)
    return document


@st.composite
def mutated_texts(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(TEXTS))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        if draw(st.booleans()):
            text = text[:at] + draw(st.sampled_from(TOKENS) | st.text(max_size=3)) + text[at:]
        else:
            text = text[:at] + text[at + draw(st.integers(min_value=1, max_value=30)) :]
    return text


def _check(path: Path) -> None:
    """Both loaders end in a value or in a DefinitionError whose problems are placed and say why."""
    source = str(path)

    def placed(problems: list[Problem]) -> None:
        assert problems
        for problem in problems:
            # A problem in a definition names the definition's file (next to the gateway file); any other, the
            # gateway file.
            assert problem.place.file == source or Path(problem.place.file).parent == path.parent, problem
            assert problem.message.strip(), problem

    try:
        config = load_gateway_file(path)
    except DefinitionError as err:
        placed(err.problems)
    else:
        assert isinstance(config, GatewayConfig)
    try:
        warnings = check_gateway_file(path)
    except DefinitionError as err:
        placed(err.problems)
    else:
        assert all(warning.message for warning in warnings)


def _write(folder: Path, document: Any, as_json: bool) -> Path:
    if as_json:
        path = folder / "gateway.json"
        path.write_text(json.dumps(document, default=str))
    else:
        path = folder / "gateway.yaml"
        path.write_text(yaml.safe_dump(document))
    return path


@FUZZ
@given(document=mutated_documents(), as_json=st.booleans())
def test_mutated_gateway_files_load_or_are_refused_with_a_place(folder: Path, document: Any, as_json: bool) -> None:
    _check(_write(folder, document, as_json))


@FUZZ
@given(document=st.dictionaries(st.sampled_from(WORDS[:40]) | st.text(max_size=3), values, max_size=6) | values)
def test_arbitrary_gateway_files_load_or_are_refused_with_a_place(folder: Path, document: Any) -> None:
    _check(_write(folder, document, as_json=False))


@FUZZ
@given(text=mutated_texts() | st.text(max_size=40))
@example(text="apis: {a: {definition: petstore.yaml}}\napis: {}\n")
@example(text="apis: !!python/object/apply:os.system ['true']\n")
@example(text="\x00")
def test_mutated_gateway_file_texts_load_or_are_refused_with_a_place(folder: Path, text: str) -> None:
    path = folder / "gateway.yaml"
    path.write_text(text, errors="surrogatepass")
    _check(path)


@pytest.mark.parametrize("tag", ["!!timestamp x", "!!bool x", "!!int", "!!float ''"])
def test_yaml_tags_that_do_not_fit_are_a_definition_error(folder: Path, tag: str) -> None:
    """Found by fuzzing the definition loader (issue 18): PyYAML's constructors raised AttributeError, KeyError or
    IndexError for these, out of the gateway file loader too, instead of a DefinitionError."""
    path = folder / "tags.yaml"
    path.write_text(f"apis: {{}}\nlimits: {tag}\n")
    with pytest.raises(DefinitionError) as caught:
        load_gateway_file(path)
    assert [problem.place.file for problem in caught.value.problems] == [str(path)]
