"""What the `aiaas` subcommands share: where the platform is, and how a failure becomes one line.

A command run next to `aiaas up` finds the endpoints the way the worker and gateway do: the environment
first (`TEMPORAL_ADDRESS`, `DATABASE_URL`, `REDIS_URL`), then `<data dir>/stack.json`, which `up` writes;
`<data dir>/up.json` names the gateway and the worker's metrics endpoint of that `up`.
"""

from __future__ import annotations

import argparse
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from core.settings import Settings

T = TypeVar("T")

DATA_DIR_HELP = "where `aiaas up` keeps its state (default: AIAAS_DATA_DIR, else .aiaas)"


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None, help=DATA_DIR_HELP)


def load_settings(data_dir: Path | None) -> Settings:
    """The process settings, pointed at `data_dir`, with the endpoints of a running `aiaas up` filled in."""
    from pydantic import ValidationError

    from core.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        raise RuntimeError(f"invalid settings: {exc.errors()[0]['msg']}") from exc
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    return settings.with_stack_endpoints()


def require_database(settings: Settings) -> str:
    if not settings.database_url:
        raise RuntimeError(
            f"DATABASE_URL not set and no embedded stack is running under {settings.data_dir} "
            "(start one with `aiaas up`)"
        )
    return settings.database_url


def first_line(exc: BaseException) -> str:
    """The part of an error worth a line: drivers put SQL, hints and links after the first."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run_database(work: Coroutine[Any, Any, T], doing: str) -> T:
    """Run `work`; a database that cannot be reached or refuses is `could not <doing>: <reason>`."""
    import asyncio

    from sqlalchemy.exc import SQLAlchemyError

    try:
        return asyncio.run(work)
    except (OSError, SQLAlchemyError, TimeoutError) as exc:
        raise RuntimeError(f"could not {doing}: {first_line(exc)}") from exc


def table(header: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)) for row in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)
