"""Cost of the payload codec per payload: encode + decode with a cached data key, against a no-op codec.

Both codecs run in the same process and loop, bound to a tenant the way the SDK binds them, over 1 KiB and
64 KiB payloads. The key store is in memory: the numbers are the steady state, after the first use of a
tenant's key (which costs one database read and one unwrap, then nothing for the cache TTL).

    python -m benchmarks.codec_overhead --iterations 5000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec, WorkflowSerializationContext

from core.crypto import Keyring, LocalFileKms, StoredKey, TenantPayloadCodec, WrappedKey

SIZES = {"1 KiB": 1024, "64 KiB": 64 * 1024}


class MemoryKeyStore:
    """The key store's contract without a database, so only the codec's own work is measured."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, int], StoredKey] = {}

    async def active(self, tenant_id: str) -> StoredKey | None:
        versions = [v for (t, v) in self._rows if t == tenant_id]
        return self._rows[(tenant_id, max(versions))] if versions else None

    async def get(self, tenant_id: str, version: int) -> StoredKey | None:
        return self._rows.get((tenant_id, version))

    async def add(self, tenant_id: str, wrapped: WrappedKey, *, retire_active: bool) -> StoredKey:
        current = await self.active(tenant_id)
        if current is not None and not retire_active:
            return current
        stored = StoredKey(tenant_id, (current.version if current else 0) + 1, wrapped)
        self._rows[(tenant_id, stored.version)] = stored
        return stored


class NoopCodec(PayloadCodec):
    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


async def _round_trips(codec: PayloadCodec, payload: Payload, iterations: int) -> list[float]:
    samples = []
    for _ in range(iterations):
        started = time.perf_counter_ns()
        decoded = await codec.decode(await codec.encode([payload]))
        samples.append((time.perf_counter_ns() - started) / 1000)
        assert decoded[0].data == payload.data
    return samples


def _summary(samples: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples), q[98]


async def measure(iterations: int, kms_dir: Path) -> dict[str, dict[str, float]]:
    context = WorkflowSerializationContext(namespace="default", workflow_id=f"{uuid.uuid4()}:conv:{uuid.uuid4()}")
    keyring = Keyring(MemoryKeyStore(), LocalFileKms(kms_dir / "keys.json"))
    encrypting = TenantPayloadCodec(keyring).with_context(context)
    baseline = NoopCodec()
    figures: dict[str, dict[str, float]] = {}
    for label, size in SIZES.items():
        payload = Payload(metadata={"encoding": b"json/plain"}, data=os.urandom(size))
        runs = max(200, iterations if size <= 1024 else iterations // 5)
        # Warm-up: creates and caches the tenant's key, and lets the interpreter settle.
        await _round_trips(encrypting, payload, 50)
        await _round_trips(baseline, payload, 50)
        base_p50, base_p99 = _summary(await _round_trips(baseline, payload, runs))
        enc_p50, enc_p99 = _summary(await _round_trips(encrypting, payload, runs))
        figures[label] = {
            "runs": runs,
            "baseline_p50_us": base_p50,
            "baseline_p99_us": base_p99,
            "codec_p50_us": enc_p50,
            "codec_p99_us": enc_p99,
            "overhead_p50_us": enc_p50 - base_p50,
            "overhead_p99_us": enc_p99 - base_p99,
        }
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=5000, help="round trips per size (64 KiB: a fifth)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aiaas-codec-bench-") as kms_dir:
        figures = asyncio.run(measure(args.iterations, Path(kms_dir)))
    print("payload codec, encode + decode of one payload, cached data key (microseconds)")
    columns = ("size", "runs", "no-op p50", "no-op p99", "codec p50", "codec p99", "+p50", "+p99")
    print("".join(f"{c:>11}" for c in columns))
    for label, f in figures.items():
        keys = ("baseline_p50_us", "baseline_p99_us", "codec_p50_us", "codec_p99_us")
        values = [f[k] for k in (*keys, "overhead_p50_us", "overhead_p99_us")]
        print(f"{label:>11}{int(f['runs']):>11}" + "".join(f"{v:>11.1f}" for v in values))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
