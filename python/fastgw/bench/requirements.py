"""What a peer needs installed, found, versioned and (on request) installed, as data."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from fastgw.bench.procs import which


@dataclass(frozen=True)
class Environment:
    """Where things are on this machine for this run."""

    python: Path  # the interpreter running the bench; Python peers run under it
    peers_dir: Path  # python/fastgw/bench/peers
    node_dir: Path  # npm --prefix for the Node peers (outside the repo)

    @property
    def node_modules(self) -> Path:
        return self.node_dir / "node_modules"

    def find(self, command: str) -> Path | None:
        """An executable, looking beside the interpreter first (venv scripts such as `fastgw`)."""
        return which(command, [self.python.parent])


@dataclass(frozen=True)
class Program:
    """An executable; `debian` names the package that provides it, if apt can install it."""

    command: str
    version_argv: tuple[str, ...]  # () when the program has no version flag: its package's version is recorded
    debian: str | None = None

    @property
    def key(self) -> str:
        return self.command

    def missing(self, env: Environment) -> str | None:
        if env.find(self.command) is None:
            hint = f" (Debian package {self.debian})" if self.debian else ""
            return f"`{self.command}` not found{hint}"
        return None

    def version(self, env: Environment) -> str:
        path = env.find(self.command)
        if path is None:
            return "not installed"
        if not self.version_argv:
            return str(path)
        try:
            done = subprocess.run(
                [str(path), *self.version_argv], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"unknown ({exc})"
        lines = [line.strip() for line in (done.stdout + "\n" + done.stderr).splitlines() if line.strip()]
        return lines[0] if lines else f"unknown (exit {done.returncode})"


@dataclass(frozen=True)
class NodePackage:
    """An npm package installed under Environment.node_dir; `spec` is what `npm install` is given."""

    name: str
    spec: str

    @property
    def key(self) -> str:
        return self.name

    def missing(self, env: Environment) -> str | None:
        if env.find("node") is None:
            return "`node` not found (Debian package nodejs)"
        if not (env.node_modules / self.name / "package.json").is_file():
            return f"npm package {self.name} not installed in {env.node_dir}"
        return None

    def version(self, env: Environment) -> str:
        try:
            meta = json.loads((env.node_modules / self.name / "package.json").read_text())
        except (OSError, ValueError):
            return "not installed"
        return f"{self.name} {meta.get('version', '?')}"


@dataclass(frozen=True)
class PythonPackage:
    """A distribution installed for Environment.python; `pip` is what `pip install` is given."""

    dist: str
    pip: str | None = None

    @property
    def key(self) -> str:
        return self.dist

    def missing(self, env: Environment) -> str | None:
        # The Python peers run under the bench's own interpreter (Environment.python), so ask this process.
        try:
            importlib.metadata.version(self.dist)
        except importlib.metadata.PackageNotFoundError:
            return f"Python package {self.dist} not installed"
        return None

    def version(self, env: Environment) -> str:
        try:
            return f"{self.dist} {importlib.metadata.version(self.dist)}"
        except importlib.metadata.PackageNotFoundError:
            return "not installed"


Requirement = Program | NodePackage | PythonPackage


def install(missing: list[Requirement], env: Environment) -> list[str]:
    """Install what can be installed (apt for Programs with a Debian package, npm, pip); returns notes."""
    notes: list[str] = []
    debian = sorted({r.debian for r in missing if isinstance(r, Program) and r.debian})
    npm = sorted({r.spec for r in missing if isinstance(r, NodePackage)})
    pip = sorted({r.pip for r in missing if isinstance(r, PythonPackage) and r.pip})
    if debian:
        if os.geteuid() != 0:
            notes.append(f"not root: cannot apt-get install {' '.join(debian)}")
        else:
            notes += _run("apt-get update", ["apt-get", "update"])
            notes += _run("apt-get install", ["apt-get", "install", "-y", "--no-install-recommends", *debian])
    if npm:
        npm_bin = env.find("npm")
        if npm_bin is None:
            notes.append(f"npm not found: cannot install {' '.join(npm)}")
        else:
            env.node_dir.mkdir(parents=True, exist_ok=True)
            argv = [str(npm_bin), "install", "--prefix", str(env.node_dir), "--no-audit", "--no-fund", *npm]
            notes += _run("npm install", argv)
    if pip:
        notes += _run("pip install", [str(env.python), "-m", "pip", "install", *pip])
    return notes


def _run(what: str, argv: list[str]) -> list[str]:
    print(f"$ {' '.join(argv)}", flush=True)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [f"{what} failed: {exc}"]
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
        return [f"{what} failed (exit {done.returncode}):\n{tail}"]
    return []
