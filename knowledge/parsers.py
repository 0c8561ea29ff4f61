"""Documents to sections of text: PDF (pypdf), DOCX (python-docx), HTML (BeautifulSoup), Markdown
(markdown-it-py) and plain text. A section is a run of text under one heading, on one page where the format
has pages, so chunks keep both.

A file that cannot be read (corrupt, encrypted, not what its type says) raises `DocumentUnreadable` with a
reason for the document's `failed` status; nothing else about the upload is lost.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

MEDIA_TYPES: dict[str, str] = {
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "text/html": "html",
    "text/markdown": "markdown",
    "text/plain": "text",
}
EXTENSIONS: dict[str, str] = {
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".html": "text/html",
    ".htm": "text/html",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
}
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")


class DocumentUnreadable(Exception):
    """The file cannot be turned into text; the message is the reason the document shows."""


@dataclass(frozen=True)
class Section:
    text: str
    heading: str = ""
    page: int | None = None


def media_type_of(filename: str, declared: str | None) -> str | None:
    """The supported media type of an upload, from its declared type or else its extension; None if neither."""
    declared = (declared or "").split(";")[0].strip().lower()
    if declared in MEDIA_TYPES:
        return declared
    match = re.search(r"\.[A-Za-z0-9]+$", filename or "")
    return EXTENSIONS.get(match.group(0).lower()) if match else None


def parse(content: bytes, media_type: str) -> list[Section]:
    kind = MEDIA_TYPES.get(media_type)
    if kind is None:
        raise DocumentUnreadable(f"unsupported media type {media_type}")
    sections = {"pdf": _pdf, "docx": _docx, "html": _html, "markdown": _markdown, "text": _text}[kind](content)
    # Postgres text cannot hold NUL; a stray one in a PDF's text layer must not fail the document.
    sections = [Section(s.text.replace("\x00", ""), s.heading.replace("\x00", ""), s.page) for s in sections]
    sections = [s for s in sections if s.text.strip()]
    if not sections:
        raise DocumentUnreadable("the document has no text")
    return sections


def _decode(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentUnreadable("the text is not UTF-8") from exc


def _pdf(content: bytes) -> list[Section]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted:
            raise DocumentUnreadable("the PDF is encrypted")
        return [Section(text=page.extract_text() or "", page=n) for n, page in enumerate(reader.pages, start=1)]
    except DocumentUnreadable:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise DocumentUnreadable(f"the PDF is corrupt: {type(exc).__name__}") from exc


def _docx(content: bytes) -> list[Section]:
    import zipfile

    from docx import Document

    try:
        document = Document(io.BytesIO(content))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise DocumentUnreadable(f"the DOCX is corrupt: {type(exc).__name__}") from exc
    sections: list[Section] = []
    heading, lines = "", list[str]()
    for paragraph in document.paragraphs:
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        if style.lower().startswith(("heading", "title")):
            sections.append(Section("\n\n".join(lines), heading))
            heading, lines = paragraph.text.strip(), []
        elif paragraph.text.strip():
            lines.append(paragraph.text.strip())
    sections.append(Section("\n\n".join(lines), heading))
    return sections


def _html(content: bytes) -> list[Section]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(content, "html.parser")
    for hidden in soup(["script", "style", "noscript", "template"]):
        hidden.decompose()
    sections: list[Section] = []
    heading, lines = "", list[str]()
    for node in soup.find_all([*_HEADINGS, "p", "li", "pre", "td", "blockquote"]):
        text = " ".join(node.get_text(" ", strip=True).split())
        if node.name in _HEADINGS:
            sections.append(Section("\n\n".join(lines), heading))
            heading, lines = text, []
        elif text and not node.find_parent(["p", "li", "td", "blockquote"]):
            lines.append(text)
    sections.append(Section("\n\n".join(lines), heading))
    if not any(s.text.strip() for s in sections):
        sections = [Section(" ".join(soup.get_text(" ", strip=True).split()))]
    return sections


def _markdown(content: bytes) -> list[Section]:
    from markdown_it import MarkdownIt

    text = _decode(content)
    tokens = MarkdownIt("commonmark").parse(text)
    sections: list[Section] = []
    heading, lines = "", list[str]()
    in_heading = False
    for token in tokens:
        if token.type == "heading_open":
            sections.append(Section("\n\n".join(lines), heading))
            heading, lines, in_heading = "", [], True
        elif token.type == "heading_close":
            in_heading = False
        elif token.type == "inline" and in_heading:
            heading = token.content.strip()
        elif token.type in ("inline", "fence", "code_block") and token.content.strip():
            lines.append(token.content.strip())
    sections.append(Section("\n\n".join(lines), heading))
    return sections


def _text(content: bytes) -> list[Section]:
    return [Section(_decode(content))]
