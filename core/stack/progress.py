"""Progress of a start, one line per part as it happens: a first start takes half a minute, and a launcher
that prints nothing until everything runs looks hung, and leaves nobody knowing which part was slow or
which one failed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from core.stack.process import StartCancelled

NAME_WIDTH = 11


class Progress:
    """Writes `  <part>  <what happened>` lines through `write`; parts start on several threads at once."""

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self._write = write
        self._lock = threading.Lock()

    def line(self, part: str, text: str) -> None:
        if self._write is None:
            return
        with self._lock:
            self._write(f"  {part:<{NAME_WIDTH}} {text}")

    @contextlib.contextmanager
    def timing(self, part: str, done: str = "ready") -> Iterator[None]:
        """Time the block: `ready in 4.2 s` when it ends well, `failed after 1.0 s` when it raises.

        The reason of a failure is the error itself, which the caller reports once, in full.
        """
        started = time.monotonic()
        try:
            yield
        except StartCancelled:
            self.line(part, "cancelled")
            raise
        except KeyboardInterrupt:
            self.line(part, "interrupted")
            raise
        except BaseException:
            self.line(part, f"failed after {time.monotonic() - started:.1f} s")
            raise
        self.line(part, f"{done} in {time.monotonic() - started:.1f} s")


def describe(names: list[str]) -> str:
    """`temporal, postgres and redis`."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


SILENT = Progress()
