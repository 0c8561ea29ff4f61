"""Recorded conversations, loaded once per module: extraction is pure, so tests share them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evals.replay.extract import extract
from evals.replay.history import load_history
from evals.replay.recorded import Conversation

HISTORIES = Path(__file__).parents[2] / "workflows" / "histories"


def conversation(name: str) -> Conversation:
    return extract(asyncio.run(load_history(HISTORIES / f"{name}.json")))


@pytest.fixture(scope="module")
def tool_turn() -> Conversation:
    return conversation("conversation_tool_turn")


@pytest.fixture(scope="module")
def injection() -> Conversation:
    return conversation("conversation_injection")


@pytest.fixture(scope="module")
def approval() -> Conversation:
    return conversation("conversation_approval")
