"""Record the regional DR drill over two Postgres servers into `tests/workflows/histories/dr_drill_servers.json`.

    python -m tests.workflows.record_dr_servers

`dr_drill_regions.json` holds a drill whose region is a database on the control plane's server, so its
history has one backup and one restore. A region on a server of its own is the other shape of
`DrDrillWorkflow`'s `dr-regions` path (two servers backed up and restored side by side, two databases
reported), the one `tests/residency/test_dr_regions.py` runs: this records it on a throwaway stack plus a
second embedded Postgres (`eu-west`) with its own backup location, next to a bare region on the control plane's
server (`us-east`). It is a script of its own rather than a scenario of `record_histories`, because the second
server must exist before the worker's settings do.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
from pathlib import Path

from core.settings import Settings
from core.stack.ports import free_port
from core.stack.postgres import EmbeddedPostgres
from core.stack.stack import throwaway_stack
from tests.workflows.record_histories import record
from tests.workflows.scenarios import dr

NAME = "dr_drill_servers"


def main() -> int:
    # Not under pytest's tmp root: the Postgres user must traverse the path whenever one of its tools starts.
    with tempfile.TemporaryDirectory(prefix="aiaas-record-dr-servers-") as root:
        server = EmbeddedPostgres(data_dir=Path(root) / "eu-server", host="127.0.0.1", port=free_port())
        server.preflight()
        eu_west = server.start(threading.Event())
        try:
            with throwaway_stack("aiaas-record-", env="test") as base:
                settings: Settings = base.model_copy(
                    update={
                        "region_database_urls": {"eu-west": eu_west, "us-east": "aiaas_record_us_east"},
                        "dr_backup_dirs": {"eu-west": Path(root) / "eu-west-backups"},
                    }
                )
                asyncio.run(record(settings, [NAME], {NAME: dr.drill_servers}))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
