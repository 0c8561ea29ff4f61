"""Agents: definitions, transcripts, the prompt and context of a model call, the tool SDK, model providers."""

import os

# litellm fetches a price map over the network at import unless told to use its bundled copy; this
# package is imported before any of its modules import litellm.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
