"""A saga worker as a process of its own, for tests that kill it mid-saga.

    python -m tests.commerce.sagas.saga_worker

Reads the platform's settings from the environment (`tests.e2e.platform.platform_env`) and polls
`AIAAS_TASK_QUEUE` until it is stopped or killed.
"""

from __future__ import annotations

import asyncio
import signal

from core.logging import configure_logging
from core.settings import get_settings
from tests.commerce.sagas.harness import saga_env


async def serve() -> None:
    settings = get_settings().require()
    async with saga_env(settings, task_queue=settings.task_queue) as env:
        assert env.worker is not None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with env.worker:
            await stop.wait()


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, json_output=settings.log_json)
    asyncio.run(serve())


if __name__ == "__main__":
    main()
