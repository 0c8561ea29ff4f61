"""Parsing and chunking: every format gives sections with their headings and pages; chunks stay within their
section, within the token bound, and overlap where a long paragraph is cut."""

from __future__ import annotations

import pytest

from knowledge.chunking import chunk_sections
from knowledge.parsers import DocumentUnreadable, Section, media_type_of, parse
from tests.knowledge import documents

SECTIONS = [("Returns", "Items may be returned within 30 days."), ("Shipping", "We ship to 40 countries.")]


def test_pdf_pages_keep_their_numbers() -> None:
    sections = parse(
        documents.pdf(["Page one talks about returns.", "Page two talks about shipping."]), "application/pdf"
    )
    assert [(s.page, "returns" in s.text) for s in sections] == [(1, True), (2, False)]
    assert "shipping" in sections[1].text


@pytest.mark.parametrize(
    ("content", "media_type"),
    [
        (documents.docx(SECTIONS), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (documents.html(SECTIONS), "text/html"),
        (documents.markdown(SECTIONS), "text/markdown"),
    ],
)
def test_structured_formats_keep_headings(content: bytes, media_type: str) -> None:
    by_heading = {s.heading: s.text for s in parse(content, media_type)}
    assert by_heading["Returns"] == "Items may be returned within 30 days."
    assert by_heading["Shipping"] == "We ship to 40 countries."
    assert all("var x" not in text for text in by_heading.values())


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (documents.encrypted_pdf("secret plans"), "encrypted"),
        (b"%PDF-1.4\n this is not a pdf at all", "corrupt"),
        (documents.pdf([""]), "no text"),
    ],
)
def test_unreadable_pdfs_say_why(content: bytes, reason: str) -> None:
    with pytest.raises(DocumentUnreadable, match=reason):
        parse(content, "application/pdf")


def test_a_corrupt_docx_and_non_utf8_text_are_unreadable() -> None:
    with pytest.raises(DocumentUnreadable, match="corrupt"):
        parse(b"PK\x03\x04 broken zip", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    with pytest.raises(DocumentUnreadable, match="UTF-8"):
        parse("caf\xe9".encode("latin-1"), "text/plain")


def test_media_type_comes_from_the_declared_type_or_the_extension() -> None:
    assert media_type_of("a.bin", "text/markdown; charset=utf-8") == "text/markdown"
    assert media_type_of("Policy.PDF", "application/octet-stream") == "application/pdf"
    assert media_type_of("photo.png", "image/png") is None


def test_chunks_stay_in_their_section_and_bound_and_overlap() -> None:
    long = " ".join(f"w{i}" for i in range(500))
    sections = [Section("short intro", "Intro", 1), Section(long, "Body", 2)]
    chunks = chunk_sections(sections, max_tokens=100, overlap=20)
    assert (chunks[0].heading, chunks[0].page, chunks[0].text) == ("Intro", 1, "short intro")
    body = [c for c in chunks if c.heading == "Body"]
    assert all(c.page == 2 and len(c.text.split()) <= 100 for c in body)
    assert [c.ord for c in chunks] == list(range(len(chunks)))
    # Consecutive windows share 20 words, and together they cover every word.
    assert body[0].text.split()[-20:] == body[1].text.split()[:20]
    assert {w for c in body for w in c.text.split()} == set(long.split())


def test_short_paragraphs_are_packed_together() -> None:
    text = "\n\n".join(f"paragraph {i} has five words" for i in range(10))
    chunks = chunk_sections([Section(text)], max_tokens=12, overlap=2)
    assert [c.text.count("paragraph") for c in chunks] == [2, 2, 2, 2, 2]
