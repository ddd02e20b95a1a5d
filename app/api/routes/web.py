"""The face of the service: the dashboard at `/`, the embeddable ticker at `/widget/ticker`, files at `/static`.

Everything a browser loads ships inside the package (app/api/static, declared as package data), so an
installed wheel serves the pages offline: no CDN, no build step. The pages are plain files; the data comes
from the JSON API and the rate stream, so nothing here reads the database.

Every answer carries a strict Content-Security-Policy: no inline script or style, no eval, connections to
this origin only. The dashboard may not be framed; the widget exists to be framed by any site.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from app.api.etags import etag_matches

STATIC = Path(__file__).parent.parent / "static"

_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors {ancestors}"
)
DASHBOARD_CSP = _POLICY.format(ancestors="'none'")
WIDGET_CSP = _POLICY.format(ancestors="*")
_COMMON = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
DASHBOARD_HEADERS = {**_COMMON, "Content-Security-Policy": DASHBOARD_CSP, "X-Frame-Options": "DENY"}
WIDGET_HEADERS = {**_COMMON, "Content-Security-Policy": WIDGET_CSP}
# Vendored files are referred to with their version in the query (`uPlot.iife.min.js?v=1.6.32`): a new
# version is a new URL, so browsers may keep them for a year. Our own files change with each release under
# the same name, so browsers revalidate them (a 304 from the ETag when unchanged).
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

router = APIRouter(include_in_schema=False)


class _Page:
    """An HTML file read once, with its ETag: the pages are part of the release, not data."""

    def __init__(self, name: str, headers: dict[str, str]) -> None:
        self.body = (STATIC / name).read_bytes()
        self.etag = '"' + hashlib.blake2b(self.body, digest_size=12).hexdigest() + '"'
        self.headers = {**headers, "ETag": self.etag, "Cache-Control": REVALIDATE}

    def answer(self, request: Request) -> Response:
        if etag_matches(request.headers.get("if-none-match"), self.etag):
            return Response(status_code=304, headers=self.headers)
        return Response(self.body, media_type="text/html; charset=utf-8", headers=self.headers)


_DASHBOARD = _Page("index.html", DASHBOARD_HEADERS)
_WIDGET = _Page("widget.html", WIDGET_HEADERS)


@router.get("/")
def dashboard(request: Request) -> Response:
    return _DASHBOARD.answer(request)


# Swagger UI from npm's swagger-ui-dist, vendored with its license in static/vendor/swagger-ui/.
SWAGGER_UI = "5.35.0"
_SWAGGER = f"/static/vendor/swagger-ui/{{}}?v={SWAGGER_UI}"


@router.get("/docs")
def api_docs() -> HTMLResponse:
    """The interactive API documentation, with every file from this service (FastAPI's default loads a CDN)."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="fx-ticker API",
        swagger_js_url=_SWAGGER.format("swagger-ui-bundle.js"),
        swagger_css_url=_SWAGGER.format("swagger-ui.css"),
        swagger_favicon_url=_SWAGGER.format("favicon-32x32.png"),
    )


@router.get("/widget/ticker")
def widget(request: Request) -> Response:
    """Configured by its query (`currencies`, `decimals`, `theme`), which its script reads."""
    return _WIDGET.answer(request)


class _StaticFiles(StaticFiles):
    """StaticFiles with the security headers, and a cache lifetime by kind of file."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)  # a missing file raises: the API's JSON 404
        response.headers.update(DASHBOARD_HEADERS)
        response.headers["Cache-Control"] = IMMUTABLE if path.startswith("vendor/") else REVALIDATE
        return response


def install_pages(app: FastAPI) -> None:
    """The pages and their files, outside the OpenAPI schema (they are not API)."""
    app.include_router(router)
    app.mount("/static", _StaticFiles(directory=STATIC), name="static")
