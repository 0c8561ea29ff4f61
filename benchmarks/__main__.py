"""Every benchmark by name, each measured against its own baseline in the same run.

python -m benchmarks NAME [ARGS]        (`just bench NAME [ARGS]`; `python -m benchmarks NAME --help`)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from benchmarks import (
    admission,
    auth_overhead,
    billing_year,
    codec_overhead,
    noisy_neighbour,
    saga_times,
    tool_overhead,
    turn_latency,
)

BENCHMARKS: dict[str, tuple[Callable[[list[str] | None], int], str]] = {
    "turns": (turn_latency.main, "turn latency through the gateway against a bare Temporal update"),
    "auth": (auth_overhead.main, "authentication per request: API keys, JWT, cached and uncached"),
    "codec": (codec_overhead.main, "payload encryption per payload against a no-op codec"),
    "admission": (admission.main, "admission decisions against a bare Redis round trip"),
    "tools": (tool_overhead.main, "the tool runtime's cost per call against a bare activity"),
    "sagas": (saga_times.main, "saga completion and compensation against bare activities"),
    "fairness": (noisy_neighbour.main, "one tenant's latency while another floods the queue"),
    "billing": (billing_year.main, "a simulated year of invoices against an oracle; month-end close arithmetic"),
}


def usage() -> str:
    lines = ["usage: python -m benchmarks NAME [ARGS]", ""]
    lines += [f"  {name:<10} {summary}" for name, (_main, summary) in BENCHMARKS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0
    entry = BENCHMARKS.get(args[0])
    if entry is None:
        print(f"unknown benchmark {args[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    return entry[0](args[1:])


if __name__ == "__main__":
    sys.exit(main())
