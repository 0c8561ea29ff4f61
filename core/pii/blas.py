"""numpy's BLAS on one thread while a sentence's small matrices are multiplied, from whichever thread asks.

OpenBLAS shares a product of a sentence's size (a few dozen rows by 288) among all its threads; on a busy
2-core machine that waiting costs ten times the product (1.9 ms against 0.14 ms measured). The limit is
process-wide in OpenBLAS, so it is set for the span of the products and put back after. threadpoolctl finds the
library numpy loaded; its own `limit` is not used because only the first thread that calls it may change
OpenBLAS afterwards, and the boundaries call the detector from a different worker thread each time.
"""

from __future__ import annotations

import ctypes
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_LOCK = threading.Lock()
# How OpenBLAS builds name their symbols (numpy's wheels: `scipy_openblas_set_num_threads64_`).
_PREFIXES = ("", "scipy_")
_SUFFIXES = ("", "64_", "_64")


def _openblas() -> list[tuple[Callable[[], int], Callable[[int], None]]]:
    import numpy  # noqa: F401  (loads the BLAS numpy multiplies with)

    try:
        from threadpoolctl import threadpool_info  # the `privacy` extra's; without it, products keep their threads
    except ImportError:
        return []

    found = []
    for lib in threadpool_info():
        if lib.get("internal_api") != "openblas" or lib.get("threading_layer") != "pthreads":
            continue
        dll = ctypes.CDLL(lib["filepath"])
        for prefix, suffix in itertools.product(_PREFIXES, _SUFFIXES):
            get = getattr(dll, f"{prefix}openblas_get_num_threads{suffix}", None)
            set_ = getattr(dll, f"{prefix}openblas_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                set_.argtypes, set_.restype, get.restype = [ctypes.c_int], None, ctypes.c_int
                found.append((get, set_))
                break
    return found


class OneThread:
    """`with one_thread():` multiplies on one OpenBLAS thread; libraries found once, at construction."""

    def __init__(self) -> None:
        self._libs = _openblas()

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with _LOCK:
            before = [get() for get, _ in self._libs]
            for _, set_ in self._libs:
                set_(1)
            try:
                yield
            finally:
                for (_, set_), threads in zip(self._libs, before, strict=True):
                    set_(threads)
