"""Sections to chunks by structure: a chunk never spans two headings or two pages, paragraphs stay whole
where they fit, and a paragraph longer than a chunk is cut by tokens with an overlap, so a sentence cut at a
boundary is still whole in one of the two chunks.

Tokens are counted by a function the embedder provides (its own tokenizer), so a chunk fits the model's
window; the default counts words, which is close enough for a model with no tokenizer of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from knowledge.parsers import Section

MAX_TOKENS = 200
OVERLAP_TOKENS = 40


@dataclass(frozen=True)
class Chunk:
    ord: int
    text: str
    heading: str
    page: int | None


def count_words(text: str) -> int:
    return len(text.split())


def chunk_sections(
    sections: list[Section],
    *,
    max_tokens: int = MAX_TOKENS,
    overlap: int = OVERLAP_TOKENS,
    count: Callable[[str], int] = count_words,
) -> list[Chunk]:
    if not 0 <= overlap < max_tokens:
        raise ValueError("overlap must be smaller than max_tokens")
    chunks: list[Chunk] = []
    for section in sections:
        for text in _pack(_paragraphs(section.text, max_tokens, overlap, count), max_tokens, count):
            chunks.append(Chunk(ord=len(chunks), text=text, heading=section.heading, page=section.page))
    return chunks


def _paragraphs(text: str, max_tokens: int, overlap: int, count: Callable[[str], int]) -> list[str]:
    """The section's paragraphs, each one cut into overlapping windows when it alone exceeds a chunk."""
    out: list[str] = []
    for paragraph in (p.strip() for p in text.split("\n\n")):
        if not paragraph:
            continue
        if count(paragraph) <= max_tokens:
            out.append(paragraph)
            continue
        words = paragraph.split()
        # Words per window, scaled by the tokenizer's words-to-tokens ratio for this paragraph.
        ratio = max(1.0, count(paragraph) / max(1, len(words)))
        size = max(1, int(max_tokens / ratio))
        step = max(1, size - int(overlap / ratio))
        for start in range(0, len(words), step):
            out.append(" ".join(words[start : start + size]))
            if start + size >= len(words):
                break
    return out


def _pack(paragraphs: list[str], max_tokens: int, count: Callable[[str], int]) -> list[str]:
    """Consecutive paragraphs joined while they fit one chunk."""
    packed: list[str] = []
    current: list[str] = []
    used = 0
    for paragraph in paragraphs:
        size = count(paragraph)
        if current and used + size > max_tokens:
            packed.append("\n\n".join(current))
            current, used = [], 0
        current.append(paragraph)
        used += size
    if current:
        packed.append("\n\n".join(current))
    return packed
