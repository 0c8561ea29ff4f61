"""`aiaas tenant create`, driven through the same dispatch as the `aiaas` command."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator

import pytest

from app.cli_tenant import EXIT_BAD_INPUT, add_tenant_parser
from core.settings import get_settings
from tenancy.keys import parse_api_key

from .conftest import Urls, unique_name


def run(argv: list[str]) -> int:
    # Mirrors app.cli.main for this one subcommand, so these tests do not depend on every other package
    # that registers a subcommand being importable.
    parser = argparse.ArgumentParser(prog="aiaas")
    add_tenant_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


@pytest.fixture
def database_env(urls: Urls, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", urls.admin)
    monkeypatch.setenv("AIAAS_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_create_prints_json(database_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["tenant", "create", "--name", unique_name("Cli Co"), "--plan", "enterprise", "--json"]) == 0
    out = capsys.readouterr().out
    created = json.loads(out)
    assert set(created) == {"tenant_id", "api_key"}
    assert parse_api_key(created["api_key"]) is not None


def test_create_prints_two_lines(database_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["tenant", "create", "--name", unique_name("Cli Text")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("tenant_id: ") and lines[1].startswith("api_key:")


@pytest.mark.parametrize(
    "argv",
    [
        ["tenant", "create", "--name", "Bad Plan", "--plan", "gold"],
        ["tenant", "create", "--name", ""],
        ["tenant", "create", "--name", "x" * 201, "--json"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    database_env: None, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert run(argv) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1


def test_missing_database_is_a_runtime_error(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("AIAAS_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="DATABASE_URL"):
            run(["tenant", "create", "--name", "Nowhere", "--data-dir", str(tmp_path)])
    finally:
        get_settings.cache_clear()


def test_through_the_aiaas_command(database_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        from app.cli import build_parser

        build_parser()
    except ImportError as exc:
        pytest.skip(f"the aiaas command cannot load every subcommand yet: {exc}")
    from app.cli import main

    assert main(["tenant", "create", "--name", unique_name("Main Co"), "--json"]) == 0
    assert "api_key" in json.loads(capsys.readouterr().out)
    assert main(["tenant", "create", "--name", "x", "--plan", "gold"]) != 0
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
