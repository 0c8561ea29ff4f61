"""`/docs` and `/redoc` work with no network: every asset they reference is the gateway's own, and served."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest

from tests.e2e.platform import Platform


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "spec-url") and value:
                self.found.append(value)


def _references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    # Inline scripts name the schema by a JavaScript string rather than an attribute.
    return parser.found + re.findall(r"url: '([^']+)'", html)


@pytest.mark.parametrize(("page", "asset_types"), [("/docs", {"javascript", "css", "png"}), ("/redoc", {"javascript"})])
def test_a_docs_page_references_only_assets_the_gateway_serves(
    platform: Platform, page: str, asset_types: set[str]
) -> None:
    response = httpx.get(f"{platform.base_url}{page}", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    references = _references(response.text)
    assert references, response.text
    assert not [r for r in references if not r.startswith("/") or r.startswith("//")], references
    assert "cdn" not in response.text.lower() and "fonts.googleapis" not in response.text
    served = set()
    for reference in references:
        asset = httpx.get(f"{platform.base_url}{reference}", timeout=10)
        assert asset.status_code == 200, reference
        assert len(asset.content) > 100, reference
        served.add(asset.headers["content-type"])
    assert all(any(kind in content_type for content_type in served) for kind in asset_types), served
    assert "application/json" in served  # the schema itself


def test_the_assets_are_static_files_and_unknown_ones_a_json_404(platform: Platform) -> None:
    bundle = httpx.get(f"{platform.base_url}/docs-assets/swagger-ui-bundle.js", timeout=10)
    assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.text[:2000]
    missing = httpx.get(f"{platform.base_url}/docs-assets/../../etc/passwd", timeout=10)
    assert missing.status_code == 404
    unknown = httpx.get(f"{platform.base_url}/docs-assets/nothing.js", timeout=10)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
