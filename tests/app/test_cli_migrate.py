"""`aiaas migrate`: what a deployment runs once per release, before new workers and gateways start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from alembic.script import ScriptDirectory

from core.settings import Settings
from db.migrate import alembic_config


def _migrate(settings: Settings, data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIAAS_") and k != "DATABASE_URL"}
    env["AIAAS_DATA_DIR"] = str(data_dir)
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate", *extra], env=env, capture_output=True, text=True, timeout=120
    )


def test_migrate_brings_the_database_to_head_and_a_second_run_changes_nothing(
    migrated: Settings, tmp_path: Path
) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    for _ in range(2):
        done = _migrate(migrated, tmp_path, "--json")
        assert done.returncode == 0, done.stderr
        # One database, the control plane serving every region (no region of its own: None).
        database = urlsplit(migrated.database_url or "").path.lstrip("/")
        assert json.loads(done.stdout) == {"revision": head, "databases": {database: None}}


def test_migrate_without_a_database_says_so_in_one_line(tmp_path: Path) -> None:
    done = _migrate(Settings(database_url=None), tmp_path)
    assert done.returncode != 0
    assert "DATABASE_URL not set" in done.stderr
    assert "Traceback" not in done.stderr
