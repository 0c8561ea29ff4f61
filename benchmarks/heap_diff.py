"""What a worker holds per open conversation, from the snapshots `conversations --heap-dir DIR` wrote.

    python -m benchmarks conversations --conversations 120 --concurrency 4 --role workflows --heap-dir DIR
    python -m benchmarks.heap_diff DIR 120

Prints the traced Python allocations per conversation (snapshot 2, all open, against snapshot 1, one open)
by file and by line, and the growth in live objects by type. Memory outside Python's allocator (the
Temporal core, protobuf arenas, compiled pydantic schemas) is not traced: compare with the RSS figures.
"""

from __future__ import annotations

import json
import sys
import tracemalloc
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    directory, n = Path(args[0]), int(args[1])
    one = tracemalloc.Snapshot.load(str(directory / "heap-1.snapshot"))
    many = tracemalloc.Snapshot.load(str(directory / "heap-2.snapshot"))
    before = sum(s.size for s in one.statistics("filename"))
    after = sum(s.size for s in many.statistics("filename"))
    print(f"traced: {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB, {(after - before) / n / 1024:+.1f} KiB each")
    for key in ("filename", "lineno"):
        print(f"by {key}:")
        for stat in many.compare_to(one, key)[:25]:
            print(f"  {stat.size_diff / n / 1024:8.2f} KiB {stat.count_diff / n:7.1f} objects  {stat.traceback[0]}")
    types_one = json.loads((directory / "types-1.json").read_text())
    types_many = json.loads((directory / "types-2.json").read_text())
    growth = sorted(((types_many.get(t, 0) - types_one.get(t, 0), t) for t in {*types_one, *types_many}), reverse=True)
    print("live objects by type, each:")
    for count, name in growth[:30]:
        print(f"  {count / n:8.1f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
