"""Documents made in the test, in every supported format: PDF pages with text (written by hand, since pypdf
reads text but does not lay it out), an encrypted PDF, DOCX with headings, HTML and Markdown."""

from __future__ import annotations

import io

from docx import Document
from pypdf import PdfReader, PdfWriter


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf(pages: list[str]) -> bytes:
    """A PDF with one page per string, each line of it as a line of Helvetica text."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    kids = []
    for text in pages:
        lines = " ".join(f"({_escape(line)}) Tj T*" for line in text.splitlines())
        stream = f"BT /F1 11 Tf 14 TL 50 780 Td {lines} ET".encode()
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        content_ref = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Contents %d 0 R"
            b" /Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>" % content_ref
        )
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def encrypted_pdf(text: str) -> bytes:
    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(pdf([text]))).pages:
        writer.add_page(page)
    writer.encrypt(user_password="secret", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx(sections: list[tuple[str, str]]) -> bytes:
    document = Document()
    for heading, text in sections:
        document.add_heading(heading, level=1)
        for paragraph in text.split("\n\n"):
            document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def html(sections: list[tuple[str, str]]) -> bytes:
    body = "".join(f"<h2>{h}</h2><p>{t}</p>" for h, t in sections)
    return f"<html><head><style>p {{}}</style><script>var x = 1;</script></head><body>{body}</body></html>".encode()


def markdown(sections: list[tuple[str, str]]) -> bytes:
    return "\n\n".join(f"## {h}\n\n{t}" for h, t in sections).encode()
