"""`aiaas router train`: fit a router from a routing table (graded small and large answers) and store it.

The artefact is a small JSON file (weights, calibration map, cost/quality curve), versioned by its content:
`--out PATH` writes it (a worker loads one as its global router with `AIAAS_ROUTER_ARTEFACT=PATH`),
`--tenant ID` stores it as that tenant's own router, which routes its turns from then on. The table's format is in
`router/table.py`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.cli_canary import add_canary_parser
from app.cli_context import add_data_dir, load_settings, require_database, run_database


def add_router_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("router", help="model routing: fit a router from graded answers")
    commands = parser.add_subparsers(dest="router_command", required=True)
    train = commands.add_parser("train", help="fit a calibrated router from a routing table (JSON lines)")
    train.add_argument("--table", type=Path, required=True, help="JSON lines of graded prompts ('-': stdin)")
    train.add_argument("--out", type=Path, help="write the router artefact (JSON) here")
    train.add_argument(
        "--tenant", help="store the router as this tenant's: its turns are routed by it from the next decision on"
    )
    train.add_argument(
        "--calibration",
        choices=("auto", "platt", "isotonic"),
        default="auto",
        help="calibration map (default: auto, isotonic averaged over the folds from 1,000 rows, else platt)",
    )
    train.add_argument(
        "--embeddings",
        action="store_true",
        help="also read the static embedding of each text (router/static_embedding.py; its table is built on "
        "first use, about a minute, into AIAAS_ROUTER_CACHE); workers load the table in the background",
    )
    train.add_argument(
        "--cost-ratio", type=float, default=0.06, help="small tier's price over the large tier's (default: 0.06)"
    )
    add_data_dir(train)
    train.set_defaults(func=_train)
    add_canary_parser(commands)


def _train(args: argparse.Namespace) -> int:
    from router.static_embedding import StaticEmbedder, StaticEmbeddingUnavailable
    from router.table import TableError, read_table
    from router.train import fit

    if not 0 < args.cost_ratio <= 1:
        raise RuntimeError("--cost-ratio must be in (0, 1]")
    if args.out is None and args.tenant is None:
        raise RuntimeError("say where the router goes: --out PATH, --tenant ID, or both")
    try:
        source = sys.stdin.read().splitlines() if str(args.table) == "-" else args.table.read_text().splitlines()
    except OSError as exc:
        raise RuntimeError(f"cannot read {args.table}: {exc.strerror}") from exc
    embedder = StaticEmbedder() if args.embeddings else None
    try:
        if embedder is not None and not embedder.table_path().is_file():
            print(f"aiaas: building the static embedding table in {embedder.table_path()}", file=sys.stderr)
        rows = read_table(source, embedder)
        clf = fit(rows, cost_ratio=args.cost_ratio, calibration=args.calibration, embeddings=args.embeddings)
    except (StaticEmbeddingUnavailable, OSError) as exc:
        raise RuntimeError(f"the static embedding is unavailable: {exc}") from exc
    except (TableError, ValueError) as exc:
        raise RuntimeError(str(exc)) from exc
    if args.out is not None:
        clf.save(args.out)
    if args.tenant is not None:
        settings = load_settings(args.data_dir)
        require_database(settings)
        run_database(_store(settings, args.tenant, clf), "store the router")
    print(
        json.dumps(
            {
                "version": clf.version,
                "ece": clf.ece,
                "reads_embedding": clf.reads_embedding,
                "path": str(args.out or ""),
                "tenant": args.tenant,
            }
        )
    )
    return 0


async def _store(settings: Any, tenant_id: str, clf: Any) -> None:
    from db.database import Database
    from router import versions

    db = Database(settings.resolved_app_database_url(), pool_size=1)
    try:
        await versions.store(db, tenant_id, clf)
    finally:
        await db.close()
