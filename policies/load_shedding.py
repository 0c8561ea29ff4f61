"""Load shedding: refuse new turns of the lowest plans first while the workers fall behind.

The signal is the conversation task queue's backlog as Temporal reports it (`DescribeTaskQueue` with
stats): how many workflow and activity tasks wait for a worker, and how long the oldest has waited. Each
gateway samples it on its own every second or so; they read the same server, so they agree without talking
to each other.

Levels rise at once when a threshold is crossed and fall one at a time, only after the signal has stayed
well below the level's threshold (`recover_ratio`) for several samples in a row. That hysteresis keeps a
backlog hovering at a threshold from switching a plan on and off every second.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

import structlog
from prometheus_client import Gauge
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

log = structlog.get_logger("aiaas.admission")

SHEDDING_LEVEL = Gauge(
    "admission_shedding_level",
    "Plans shed from new turns: 0 none, n sheds plans of shed_rank <= n",
    # With gateway processes sharing their metrics (PROMETHEUS_MULTIPROC_DIR): the highest of the live ones.
    multiprocess_mode="livemax",
)
_QUEUE_TYPES = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)


@dataclass(frozen=True, slots=True)
class BacklogSample:
    count: int
    age_seconds: float


@dataclass(frozen=True)
class ShedPolicy:
    # Level n (1-based) engages at `counts[n-1]` waiting tasks or an oldest task `ages[n-1]` seconds old.
    counts: tuple[int, ...]
    ages: tuple[float, ...]
    recover_ratio: float = 0.5
    recover_samples: int = 3

    def __post_init__(self) -> None:
        if not self.counts or len(self.counts) != len(self.ages):
            raise ValueError("one count and one age threshold per level")
        if not 0 < self.recover_ratio <= 1 or self.recover_samples < 1:
            raise ValueError("recover_ratio must be in (0, 1] and recover_samples at least 1")

    @property
    def top(self) -> int:
        return len(self.counts)

    def reached(self, sample: BacklogSample, ratio: float = 1.0) -> int:
        """The highest level whose threshold (scaled by `ratio`) the sample reaches; 0 for none."""
        level = 0
        for n, (count, age) in enumerate(zip(self.counts, self.ages, strict=True), start=1):
            if sample.count >= count * ratio or sample.age_seconds >= age * ratio:
                level = n
        return level


class Shedder:
    """The shedding level, moved by backlog samples with hysteresis."""

    def __init__(self, policy: ShedPolicy) -> None:
        self.policy = policy
        self.level = 0
        self.last_sample: BacklogSample | None = None
        self._calm_samples = 0

    def observe(self, sample: BacklogSample) -> int:
        self.last_sample = sample
        target = self.policy.reached(sample)
        if target > self.level:
            self.level, self._calm_samples = target, 0
        elif self.level and self.policy.reached(sample, self.policy.recover_ratio) < self.level:
            # Calm relative to the current level: below the recovery fraction of its thresholds.
            self._calm_samples += 1
            if self._calm_samples >= self.policy.recover_samples:
                self.level, self._calm_samples = self.level - 1, 0
        else:
            self._calm_samples = 0
        SHEDDING_LEVEL.set(self.level)
        return self.level

    def sheds(self, shed_rank: int) -> bool:
        """Whether new turns of a plan with `shed_rank` are refused at the current level."""
        return shed_rank <= self.level


class BacklogSampler:
    """Feeds a `Shedder` from the task queue's backlog every `interval` seconds, as a background task."""

    def __init__(
        self, client: Client, namespace: str, task_queue: str, shedder: Shedder, interval: float = 1.0
    ) -> None:
        self._client = client
        self._namespace = namespace
        self._task_queue = task_queue
        self._shedder = shedder
        self._interval = interval
        self._failing = False

    async def sample(self) -> BacklogSample:
        count, age = 0, 0.0
        for queue_type in _QUEUE_TYPES:
            response = await self._client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=self._namespace,
                    task_queue=TaskQueue(name=self._task_queue),
                    task_queue_type=queue_type,
                    report_stats=True,
                ),
                timeout=timedelta(seconds=max(1.0, self._interval * 2)),
            )
            if response.HasField("stats"):
                stats = response.stats
                count += stats.approximate_backlog_count
                age = max(age, stats.approximate_backlog_age.ToTimedelta().total_seconds())
        return BacklogSample(count=count, age_seconds=age)

    async def step(self) -> None:
        try:
            sample = await self.sample()
        except Exception as exc:
            # Keep the last level: if the engine does not answer, submissions fail anyway, and a
            # level dropped while blind would let a flood in just as it comes back.
            if not self._failing:
                log.warning("task queue backlog unavailable", error_type=type(exc).__name__)
            self._failing = True
            return
        self._failing = False
        before = self._shedder.level
        after = self._shedder.observe(sample)
        if after != before:
            log.warning("shedding level changed", level=after, previous=before, backlog=sample.count)

    async def run(self) -> None:
        while True:
            await self.step()
            await asyncio.sleep(self._interval)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Shedder]:
        task = asyncio.get_running_loop().create_task(self.run(), name="admission-backlog-sampler")
        try:
            yield self._shedder
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def policy_from(counts: Sequence[int], ages: Sequence[float], recover_ratio: float, recover_samples: int) -> ShedPolicy:
    return ShedPolicy(tuple(counts), tuple(float(a) for a in ages), recover_ratio, recover_samples)
