"""``fastgw keys``: manage API keys and read their quota usage, in the store the gateway uses.

    fastgw keys create NAME [--value V] [--plan P] [--disabled] [--description D]
    fastgw keys list [--json]
    fastgw keys disable ID_OR_NAME
    fastgw keys enable ID_OR_NAME
    fastgw keys usage ID_OR_NAME [--plan P] [--period DAY|WEEK|MONTH]

Every command takes ``--state PATH`` (the SQLite file; default ``$FASTGW_STATE``, else ``fastgw-state.db`` in
the current directory) or ``--redis URL`` (default ``$FASTGW_REDIS_URL``, with ``--redis-prefix``), or
``--config GATEWAY_FILE``: the store the gateway file names (its ``redis``, else its ``state``), and the keys and
usage plans it defines. With both variables set and no option, the command refuses to guess. Only ``create``
creates a missing state file: the others report it, so that a mistyped path is not taken for an empty store.

Keys of a gateway file (``apiKeys:``) have the id ``config:NAME``. With ``--config``, ``usage`` and ``list`` find
them by name as well (``fastgw keys usage alice --config gateway.yaml``), ``usage`` takes the key's plan and that
plan's quota period from the file, and ``enable``/``disable`` refuse them (change the file). Without it, ``usage
config:NAME --plan P`` still reads what the store counted for such a key.

``create`` prints the key's value once, with its id: fastgw keeps only a hash and cannot show it again.
``list`` shows ids, names, state and plans, never values (nor hashes). ``usage`` prints the requests counted
in the current period: gateways count requests in blocks before serving them, so it can run ahead of what
was served by up to one block per worker. Running gateways see created, enabled and disabled keys within
seconds (they poll the store).

Exit codes: 0 done, 1 no such key (or state file), 2 bad input, 3 store unavailable. Errors are one line on
stderr, ``error: ...``.

The gateway's CLI adds the command with :func:`add_keys_parser` and runs it with :func:`run_keys`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from fastgw.config.settings import ApiKeyConfig, NodeSettings, UsagePlan
from fastgw.errors import DefinitionError
from fastgw.usage.keys import ApiKey
from fastgw.usage.periods import PERIODS, Period, period_bounds
from fastgw.usage.store import RedisUsageStore, SqliteUsageStore, StoreUnavailableError, UsageStore

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_INVALID = 2
EXIT_UNAVAILABLE = 3

DEFAULT_STATE = "fastgw-state.db"
STATE_ENV = "FASTGW_STATE"
REDIS_ENV = "FASTGW_REDIS_URL"
#: The CLI can wait longer for Redis than a request can.
CLI_REDIS_TIMEOUT = 5.0


#: Keys of the gateway config file have the id ``config:NAME`` (``fastgw keys usage config:alice --plan gold``).
CONFIG_KEY_PREFIX = "config:"


class _CommandError(Exception):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class _GatewayFile:
    """What ``--config`` brings: the file's keys (by name) and usage plans."""

    path: str
    node: NodeSettings
    keys: Mapping[str, ApiKeyConfig] = field(default_factory=dict)
    plans: Mapping[str, UsagePlan] = field(default_factory=dict)


def add_keys_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add ``keys`` and its commands to ``subparsers``; returns the ``keys`` parser."""
    store_options = argparse.ArgumentParser(add_help=False)
    where = store_options.add_mutually_exclusive_group()
    where.add_argument("--state", metavar="PATH", help=f"SQLite state file (default: ${STATE_ENV} or {DEFAULT_STATE})")
    where.add_argument(
        "--redis-url", "--redis", dest="redis_url", metavar="URL", help=f"Redis URL (default: ${REDIS_ENV})"
    )
    where.add_argument(
        "--config",
        metavar="GATEWAY_FILE",
        help="a gateway config file: its store (redis or state), and its keys and usage plans (config:NAME)",
    )
    store_options.add_argument("--redis-prefix", default="fastgw:", help="Redis key prefix (default: fastgw:)")

    keys = subparsers.add_parser("keys", help="manage API keys and read their quota usage")
    commands = keys.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")

    create = commands.add_parser("create", parents=[store_options], help="add a key and print its value once")
    create.add_argument("name", metavar="NAME")
    create.add_argument("--value", help="the key value, 20-128 letters and digits (default: 40 random ones)")
    create.add_argument("--plan", help="the usage plan the key belongs to")
    create.add_argument("--disabled", action="store_true", help="create the key disabled")
    create.add_argument("--description", default="", help="free text")

    listing = commands.add_parser("list", parents=[store_options], help="list keys (never their values)")
    listing.add_argument("--json", action="store_true", help="print a JSON array")

    for name, verb in (("disable", "refuse"), ("enable", "accept")):
        command = commands.add_parser(name, parents=[store_options], help=f"{verb} a key from now on")
        command.add_argument("key", metavar="ID_OR_NAME")

    usage = commands.add_parser("usage", parents=[store_options], help="requests counted in the current period")
    usage.add_argument("key", metavar="ID_OR_NAME")
    usage.add_argument("--plan", help="the usage plan (default: the key's)")
    usage.add_argument(
        "--period", choices=PERIODS, help="the plan's quota period (default: the plan's in --config, else DAY)"
    )
    return keys


def run_keys(args: argparse.Namespace) -> int:
    """Run the ``keys`` command parsed into ``args``; returns the exit code."""
    from fastgw.config.secrets import has_password

    if args.redis_url and has_password(args.redis_url):
        print(
            f"warning: --redis puts a secret on the command line (ps shows its password): use ${REDIS_ENV}",
            file=sys.stderr,
        )
    try:
        return asyncio.run(_run(args))
    except _CommandError as error:
        return _fail(str(error), error.exit_code)
    except DefinitionError as error:
        return _fail(str(error).replace("\n", "; "), EXIT_INVALID)
    except ValueError as error:
        return _fail(str(error), EXIT_INVALID)
    except StoreUnavailableError as error:
        return _fail(str(error), EXIT_UNAVAILABLE)


def _fail(message: str, exit_code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return exit_code


def _gateway_file(args: argparse.Namespace) -> _GatewayFile | None:
    if not args.config:
        return None
    from fastgw.config.gateway_file import load_gateway_file

    node = load_gateway_file(args.config).node
    return _GatewayFile(args.config, node, {key.name: key for key in node.api_keys}, node.usage_plans)


def _open_store(args: argparse.Namespace, gateway_file: _GatewayFile | None) -> UsageStore:
    if gateway_file is not None:
        from fastgw.admission import DEFAULT_STATE_FILE
        from fastgw.config.secrets import from_environment

        # The store `fastgw serve FILE` uses: $FASTGW_REDIS_URL over the file's redis URL (its key prefix stays).
        node = gateway_file.node
        url = from_environment(REDIS_ENV) or (node.redis.url if node.redis is not None else None)
        if url is not None:
            prefix = node.redis.key_prefix if node.redis is not None else args.redis_prefix
            return RedisUsageStore(url, prefix, timeout=CLI_REDIS_TIMEOUT)
        return _sqlite_store(args, node.state_path or DEFAULT_STATE_FILE)
    redis_url, state = args.redis_url, args.state
    if not redis_url and not state:
        redis_url, state = os.environ.get(REDIS_ENV), os.environ.get(STATE_ENV)
        if redis_url and state:
            raise _CommandError(f"both {STATE_ENV} and {REDIS_ENV} are set: pass --state or --redis", EXIT_INVALID)
    if redis_url:
        return RedisUsageStore(redis_url, args.redis_prefix, timeout=CLI_REDIS_TIMEOUT)
    return _sqlite_store(args, state or DEFAULT_STATE)


def _sqlite_store(args: argparse.Namespace, state: str) -> SqliteUsageStore:
    path = Path(state)
    if args.keys_command != "create" and not path.exists():
        raise _CommandError(f"no state file {path} (create a key first, or pass --state)", EXIT_NOT_FOUND)
    return SqliteUsageStore(path)


async def _run(args: argparse.Namespace) -> int:
    gateway_file = _gateway_file(args)
    store = _open_store(args, gateway_file)
    try:
        command = args.keys_command
        if command == "create":
            return await _create(store, args, gateway_file)
        if command == "list":
            return await _list(store, args, gateway_file)
        if command == "usage":
            return await _usage(store, args, gateway_file)
        if gateway_file is not None and args.key.removeprefix(CONFIG_KEY_PREFIX) in gateway_file.keys:
            defined = args.key.removeprefix(CONFIG_KEY_PREFIX)
            raise _CommandError(f"API key '{defined}' is defined in {gateway_file.path}: change it there", EXIT_INVALID)
        return await _set_enabled(store, args.key, command == "enable")
    finally:
        await store.close()


async def _create(store: UsageStore, args: argparse.Namespace, gateway_file: _GatewayFile | None) -> int:
    if gateway_file is not None and args.name in gateway_file.keys:
        raise _CommandError(f"an API key named '{args.name}' is defined in {gateway_file.path}", EXIT_INVALID)
    key, value = await store.create_key(
        args.name, value=args.value, plan=args.plan, enabled=not args.disabled, description=args.description
    )
    print(f"id: {key.id}")
    print(f"name: {key.name}")
    print(f"value: {value}")
    print("The value is shown only this once: fastgw keeps only its hash.", file=sys.stderr)
    return EXIT_OK


def _as_json(key: ApiKey) -> dict[str, object]:
    return {
        "id": key.id,
        "name": key.name,
        "enabled": key.enabled,
        "plan": key.plan,
        "created": key.created.isoformat(),
        "description": key.description,
    }


def _file_key_json(key: ApiKeyConfig, gateway_file: _GatewayFile) -> dict[str, object]:
    return {
        "id": CONFIG_KEY_PREFIX + key.name,
        "name": key.name,
        "enabled": key.enabled,
        "plan": ",".join(key.plans) or None,
        "created": None,
        "description": "",
        "source": gateway_file.path,
    }


async def _list(store: UsageStore, args: argparse.Namespace, gateway_file: _GatewayFile | None) -> int:
    keys = await store.list_keys()
    listed = [_as_json(key) for key in keys]
    if gateway_file is not None:
        # Where each key is defined: "store" or the gateway file (only with --config, so that the output without
        # it stays as it was).
        listed = [{**entry, "source": "store"} for entry in listed]
        listed += [_file_key_json(key, gateway_file) for key in gateway_file.keys.values()]
    if args.json:
        print(json.dumps(listed, indent=2))
        return EXIT_OK
    rows = [("ID", "NAME", "ENABLED", "PLAN", "CREATED", "DESCRIPTION")]
    for key in keys:
        created = key.created.strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append((key.id, key.name, "yes" if key.enabled else "no", key.plan or "-", created, key.description))
    if gateway_file is not None:
        for file_key in gateway_file.keys.values():
            enabled, plans = "yes" if file_key.enabled else "no", ",".join(file_key.plans) or "-"
            source = f"({gateway_file.path})"
            rows.append((CONFIG_KEY_PREFIX + file_key.name, file_key.name, enabled, plans, "-", source))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]).rstrip())
    return EXIT_OK


async def _set_enabled(store: UsageStore, id_or_name: str, enabled: bool) -> int:
    key = await store.set_enabled(id_or_name, enabled)
    if key is None:
        raise _CommandError(f"no API key with id or name {id_or_name!r}", EXIT_NOT_FOUND)
    print(f"{'enabled' if enabled else 'disabled'} {key.id} ({key.name})")
    return EXIT_OK


async def _find_for_usage(
    store: UsageStore, text: str, gateway_file: _GatewayFile | None
) -> tuple[str, str, tuple[str, ...]]:
    """The key ``usage`` asks about: (id, name, its plans). A gateway file's key (with ``--config``) by name or
    ``config:NAME``; without the file a ``config:NAME`` is taken on trust (its usage is counted under that id)."""
    file_keys = gateway_file.keys if gateway_file is not None else {}
    if text.startswith(CONFIG_KEY_PREFIX):
        name = text.removeprefix(CONFIG_KEY_PREFIX)
        if gateway_file is not None and name not in file_keys:
            raise _CommandError(f"no API key named '{name}' in {gateway_file.path}", EXIT_NOT_FOUND)
        return text, name, file_keys[name].plans if name in file_keys else ()
    stored = await store.get_key(text)
    if text in file_keys:
        if stored is not None:
            raise _CommandError(
                f"the store and {gateway_file and gateway_file.path} both have a key named '{text}': pass its id"
                f" ({CONFIG_KEY_PREFIX}{text} or {stored.id})",
                EXIT_INVALID,
            )
        return CONFIG_KEY_PREFIX + text, text, file_keys[text].plans
    if stored is None:
        raise _CommandError(f"no API key with id or name {text!r}", EXIT_NOT_FOUND)
    return stored.id, stored.name, (stored.plan,) if stored.plan else ()


async def _usage(store: UsageStore, args: argparse.Namespace, gateway_file: _GatewayFile | None) -> int:
    key_id, name, plans = await _find_for_usage(store, args.key, gateway_file)
    file_plans = gateway_file.plans if gateway_file is not None else {}
    if args.plan is None and len(plans) > 1:
        # A key may be in one plan per stage: the ones with a quota are the ones with usage to show.
        plans = tuple(plan for plan in plans if (known := file_plans.get(plan)) is None or known.quota) or plans
        if len(plans) > 1:
            raise _CommandError(f"key {key_id} ({name}) is in plans {', '.join(plans)}: pass --plan", EXIT_INVALID)
    plan = args.plan or (plans[0] if plans else None)
    if plan is None:
        raise _CommandError(f"key {key_id} ({name}) is in no usage plan: pass --plan", EXIT_INVALID)
    quota = file_plans[plan].quota if plan in file_plans else None
    period: Period = args.period or (quota.period if quota is not None else "DAY")
    start, end = period_bounds(period, datetime.now(UTC))
    used = await store.usage(key_id, plan, start)
    span = f"{start:%Y-%m-%dT%H:%M:%SZ} to {end:%Y-%m-%dT%H:%M:%SZ}"
    print(f"{key_id} ({name}) plan {plan}, {period} {span}: {used} requests")
    return EXIT_OK
