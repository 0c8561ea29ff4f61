"""The API's documentation pages, `/docs` (Swagger UI) and `/redoc`, served whole by the gateway itself.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so offline, or behind a network that blocks it, they
are blank. The assets here come from the `fastapi-offline` package (pinned in pyproject; MIT, shipping Swagger
UI under Apache-2.0 and ReDoc under MIT) and are served as static files under `ASSETS`; the pages reference
nothing else. Swagger UI's online validator badge would be a request to the outside too, so it is off.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS = "/docs"
REDOC = "/redoc"
ASSETS = "/docs-assets"
_PACKAGE = "fastapi_offline"


def assets_directory() -> str:
    return str(files(_PACKAGE) / "static")


def install_docs(app: FastAPI) -> None:
    """Serve the pages and their assets; the app must be built with `docs_url=None, redoc_url=None`."""
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(ASSETS, StaticFiles(directory=assets_directory()), name="docs-assets")

    @app.get(DOCS, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
            oauth2_redirect_url=None,
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(REDOC, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
