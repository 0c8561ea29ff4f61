"""The `aiaas` command itself: its version, a help that answers at once and documents every option, and
failures that are one line, never a traceback."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from app import cli
from app.cli import build_parser, main

# What `aiaas --help` must not load: the clients and servers the commands themselves use.
HEAVY = ("temporalio", "sqlalchemy", "fastapi", "httpx", "asyncpg", "redis", "litellm", "pydantic")


def aiaas(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *argv], env=env, capture_output=True, text=True, timeout=120
    )


def test_version_is_the_installed_package_version() -> None:
    done = aiaas("--version")
    assert done.returncode == 0
    assert done.stdout == f"aiaas {version('aiaas')}\n"


def test_help_lists_every_command_without_loading_any_client() -> None:
    probe = (
        "import sys, contextlib, io\n"
        "from app.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
        "print(out.getvalue())\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    loaded, listing = done.stdout.split("\n", 1)
    assert loaded == "[]"
    for command in ("up", "status", "tenant", "keys", "chat", "worker", "gateway", "admin", "migrate"):
        assert f"    {command} " in listing


def _options(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, str | None]]:
    """(command path and option, its help) for every option and argument under `parser`."""
    found: list[tuple[str, str | None]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _options(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            found.append((f"{path} {'/'.join(action.option_strings) or action.dest}", action.help))
    return found


def test_every_option_of_the_cli_commands_has_help() -> None:
    options = _options(build_parser(), "aiaas")
    assert len(options) > 30
    assert [name for name, text in options if not text] == []


def test_an_unexpected_error_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(args: argparse.Namespace) -> int:
        raise KeyError("no such thing")

    monkeypatch.setattr(cli.cli_status, "_status", broken)
    assert main(["status"]) == 1
    assert capsys.readouterr().err == "aiaas status: unexpected error: 'no such thing'\n"


def test_status_of_a_data_dir_where_nothing_runs_is_down_in_one_table(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "AIAAS_DATA_DIR": str(tmp_path), "AIAAS_GATEWAY_PORT": "9"}
    done = aiaas("status", env=env)
    assert done.returncode == 1 and done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0] == f"aiaas up: not running (data in {tmp_path})"
    assert lines[1].split() == ["part", "state", "where", "detail"]
    assert [line.split()[:2] for line in lines[2:7]] == [
        ["temporal", "down"],
        ["postgres", "down"],
        ["redis", "down"],
        ["gateway", "down"],
        ["worker", "skipped"],
    ]
    assert lines[-1] == "down: temporal, postgres, redis, gateway"
