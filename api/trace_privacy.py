"""Request spans without personal data: a query string (`?email=ada@example.com`) is the one place a request
span records what a caller typed, so its values pass the log redaction before the span keeps them.

Installed as the FastAPI instrumentation's server request hook, which runs once the span has its request
attributes and before any exporter sees it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from core.redaction import redact_text

# The attributes that carry the query string, in the old and the new semantic conventions.
_URL_ATTRIBUTES = ("http.target", "http.url", "url.query", "url.full")


def redact_query(value: str) -> str:
    """The same URL or query with every parameter value redacted as a log line would be."""
    if "=" not in value:
        return value
    whole_url = "?" in value or "://" in value
    parts = urlsplit(value)
    pairs = parse_qsl(parts.query if whole_url else value, keep_blank_values=True)
    redacted = "&".join(f"{quote(k, safe='')}={quote(redact_text(v), safe='[]')}" for k, v in pairs)
    return urlunsplit(parts._replace(query=redacted)) if whole_url else redacted


def redact_request_span(span: Any, _scope: dict[str, Any]) -> None:
    if span is None or not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    for name in _URL_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str) and "=" in value:
            span.set_attribute(name, redact_query(value))
