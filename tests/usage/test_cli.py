"""``fastgw keys`` as a user runs it: through the parser that ``add_keys_parser`` builds and ``run_keys``."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fastgw.usage.cli import add_keys_parser, run_keys
from fastgw.usage.keys import hash_key
from fastgw.usage.periods import period_bounds
from fastgw.usage.store import SqliteUsageStore
from tests.usage.conftest import CLOSED_REDIS_URL, REDIS_URL


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FASTGW_STATE", raising=False)
    monkeypatch.delenv("FASTGW_REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)


def keys(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    """Run ``fastgw keys ARGUMENTS``: (exit code, stdout, stderr)."""
    parser = argparse.ArgumentParser(prog="fastgw")
    add_keys_parser(parser.add_subparsers(dest="command", required=True))
    code = run_keys(parser.parse_args(["keys", *arguments]))
    out, err = capsys.readouterr()
    return code, out, err


def created(out: str) -> tuple[str, str]:
    """The id and the value that ``keys create`` printed."""
    found = dict(line.split(": ", 1) for line in out.splitlines())
    return found["id"], found["value"]


def test_create_prints_the_value_once_and_list_never_does(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = keys(capsys, "create", "partner", "--plan", "gold", "--description", "the partner")
    assert code == 0, err
    key_id, value = created(out)
    assert re.fullmatch(r"[a-z0-9]{10}", key_id) and re.fullmatch(r"[A-Za-z0-9]{40}", value)
    assert "shown only this once" in err
    assert Path("fastgw-state.db").exists()  # the default state file, in the current directory

    code, out, err = keys(capsys, "list")
    assert code == 0, err
    header, row = out.splitlines()
    assert header.split() == ["ID", "NAME", "ENABLED", "PLAN", "CREATED", "DESCRIPTION"]
    assert row.split()[:4] == [key_id, "partner", "yes", "gold"] and row.endswith("the partner")
    assert value not in out and hash_key(value) not in out

    code, out, _ = keys(capsys, "list", "--json")
    assert code == 0
    (listed,) = json.loads(out)
    assert listed["id"] == key_id and listed["enabled"] is True and listed["plan"] == "gold"
    assert set(listed) == {"id", "name", "enabled", "plan", "created", "description"}


def test_create_with_a_value_and_disabled(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    state = str(tmp_path / "elsewhere.db")
    code, out, _ = keys(capsys, "create", "mine", "--value", "v" * 20, "--disabled", "--state", state)
    assert code == 0 and created(out)[1] == "v" * 20
    code, out, _ = keys(capsys, "list", "--json", "--state", state)
    assert json.loads(out)[0]["enabled"] is False


def test_disable_and_enable(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = keys(capsys, "create", "partner")
    key_id, _ = created(out)
    assert keys(capsys, "disable", "partner") == (0, f"disabled {key_id} (partner)\n", "")
    assert json.loads(keys(capsys, "list", "--json")[1])[0]["enabled"] is False
    assert keys(capsys, "enable", key_id) == (0, f"enabled {key_id} (partner)\n", "")


def test_usage_in_the_current_period(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = keys(capsys, "create", "partner", "--plan", "gold")
    key_id, _ = created(out)

    async def count_requests() -> None:
        store = SqliteUsageStore("fastgw-state.db")
        today, _ = period_bounds("DAY", datetime.now(UTC))
        await store.reserve(key_id, "gold", today, 100, 42)
        month, _ = period_bounds("MONTH", datetime.now(UTC))
        await store.reserve(key_id, "silver", month, 100, 7)
        await store.close()

    asyncio.run(count_requests())
    code, out, err = keys(capsys, "usage", "partner")
    assert code == 0, err
    assert out.startswith(f"{key_id} (partner) plan gold, DAY ") and out.endswith(": 42 requests\n")
    code, out, _ = keys(capsys, "usage", key_id, "--plan", "silver", "--period", "MONTH")
    assert out.endswith(": 7 requests\n")


def test_errors_are_one_line_with_the_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = keys(capsys, "list")
    assert (code, err) == (1, "error: no state file fastgw-state.db (create a key first, or pass --state)\n")

    keys(capsys, "create", "planless", "--value", "a" * 20)
    cases = [
        (("disable", "nobody"), 1, "error: no API key with id or name 'nobody'\n"),
        (("usage", "nobody"), 1, "error: no API key with id or name 'nobody'\n"),
        (
            ("create", "bad", "--value", "short"),
            2,
            "error: an API key value must be 20 to 128 characters long, not 5\n",
        ),
        (("create", "planless"), 2, "error: an API key named 'planless' already exists\n"),
        (("create", "other", "--value", "a" * 20), 2, "error: another API key already has this value\n"),
    ]
    for arguments, expected_code, expected_err in cases:
        assert keys(capsys, *arguments) == (expected_code, "", expected_err), arguments
    code, _, err = keys(capsys, "usage", "planless")
    assert code == 2 and err.endswith("(planless) is in no usage plan: pass --plan\n")


def test_environment_chooses_the_store(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FASTGW_STATE", str(tmp_path / "from-env.db"))
    assert keys(capsys, "create", "partner")[0] == 0
    assert (tmp_path / "from-env.db").exists() and not Path("fastgw-state.db").exists()
    monkeypatch.setenv("FASTGW_REDIS_URL", REDIS_URL)
    code, _, err = keys(capsys, "list")
    assert (code, err) == (2, "error: both FASTGW_STATE and FASTGW_REDIS_URL are set: pass --state or --redis\n")
    assert keys(capsys, "list", "--state", str(tmp_path / "from-env.db"))[0] == 0


def test_redis_store(capsys: pytest.CaptureFixture[str], redis_prefix: str) -> None:
    redis = ["--redis", REDIS_URL, "--redis-prefix", redis_prefix]
    code, out, err = keys(capsys, "create", "partner", "--plan", "gold", *redis)
    assert code == 0, err
    key_id, _ = created(out)
    assert keys(capsys, "disable", "partner", *redis)[0] == 0
    (listed,) = json.loads(keys(capsys, "list", "--json", *redis)[1])
    assert (listed["id"], listed["enabled"]) == (key_id, False)
    assert keys(capsys, "usage", "partner", *redis)[1].endswith(": 0 requests\n")
    assert not Path("fastgw-state.db").exists()


def test_redis_down_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = keys(capsys, "list", "--redis", CLOSED_REDIS_URL)
    assert (code, out) == (3, "")
    assert err.startswith("error: Redis unavailable (list_keys):") and err.count("\n") == 1


def test_state_and_redis_options_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        keys(capsys, "list", "--state", "x.db", "--redis", REDIS_URL)
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


# -- keys of the gateway config file (issue 18, item 17c) -------------------------------------------------


def gateway_file(tmp_path: Path) -> Path:
    """A gateway file with a key in a plan with a monthly quota, and its state file beside it."""
    (tmp_path / "api.yaml").write_text("swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n")
    path = tmp_path / "gateway.yaml"
    path.write_text(
        "apis: {pets: {definition: api.yaml, stages: {prod: {}}}}\n"
        "usagePlans:\n"
        "  gold: {quota: {limit: 100, period: MONTH}, apiStages: [{api: pets, stage: prod}]}\n"
        "  free: {apiStages: [{api: pets, stage: prod}]}\n"
        f"apiKeys: {{alice: {{value: {'a' * 20}, usagePlans: [gold]}}, bob: {{value: {'b' * 20}}}}}\n"
        "state: {path: state.db}\n"
    )
    return path


def test_usage_and_list_find_the_keys_of_the_gateway_file(tmp_path: Path) -> None:
    """Issue 18, item 17c: ``fastgw keys usage alice`` answered "no API key" for a key of the gateway file. With
    ``--config FILE`` the command reads the file's keys and plans, and its state (or Redis)."""
    from tests.conftest import run_cli

    path = gateway_file(tmp_path)
    created = run_cli("keys", "create", "carol", "--plan", "free", "--state", str(tmp_path / "state.db"))
    assert created.returncode == 0, created.stderr

    async def count_requests() -> None:
        store = SqliteUsageStore(tmp_path / "state.db")
        month, _ = period_bounds("MONTH", datetime.now(UTC))
        await store.reserve("config:alice", "gold", month, 100, 7)
        await store.close()

    asyncio.run(count_requests())
    usage = run_cli("keys", "usage", "alice", "--config", str(path))
    assert usage.returncode == 0, usage.stderr
    # The plan and its quota period come from the file.
    assert usage.stdout.startswith("config:alice (alice) plan gold, MONTH ") and usage.stdout.endswith(": 7 requests\n")
    assert run_cli("keys", "usage", "config:alice", "--config", str(path)).stdout == usage.stdout

    listing = run_cli("keys", "list", "--json", "--config", str(path))
    assert listing.returncode == 0, listing.stderr
    listed = {key["name"]: key for key in json.loads(listing.stdout)}
    assert set(listed) == {"alice", "bob", "carol"}
    assert (listed["alice"]["id"], listed["alice"]["plan"], listed["alice"]["source"]) == (
        "config:alice",
        "gold",
        str(path),
    )
    assert listed["carol"]["source"] == "store" and listed["carol"]["plan"] == "free"
    assert "a" * 20 not in listing.stdout

    planless = run_cli("keys", "usage", "bob", "--config", str(path))
    assert planless.returncode == 2 and planless.stderr.endswith("(bob) is in no usage plan: pass --plan\n")
    refused = run_cli("keys", "disable", "alice", "--config", str(path))
    assert refused.returncode == 2
    assert refused.stderr == f"error: API key 'alice' is defined in {path}: change it there\n"


def test_config_takes_the_redis_url_from_the_environment_as_serve_does(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_prefix: str
) -> None:
    """``$FASTGW_REDIS_URL`` replaces the gateway file's store for ``fastgw serve``: ``keys --config`` reads the
    same one."""
    path = gateway_file(tmp_path)
    assert keys(capsys, "create", "dave", "--redis", REDIS_URL, "--redis-prefix", redis_prefix)[0] == 0
    monkeypatch.setenv("FASTGW_REDIS_URL", REDIS_URL)
    code, out, err = keys(capsys, "list", "--json", "--config", str(path), "--redis-prefix", redis_prefix)
    assert code == 0, err
    assert {key["name"]: key["source"] for key in json.loads(out)} == {
        "dave": "store",
        "alice": str(path),
        "bob": str(path),
    }
