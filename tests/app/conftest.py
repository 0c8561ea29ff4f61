"""What the command-line tests share: the environment a user of the running platform would have."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import main
from core.settings import Settings, get_settings
from tests.e2e.platform import Platform


@pytest.fixture
def cli_env(platform: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The platform's endpoints in the environment, as `aiaas up` leaves them for a user's shell."""
    settings = platform.settings
    for name, value in platform.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AIAAS_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`aiaas ARGV` in this process: its exit code, standard output and standard error."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
