"""Swagger UI (``/docs``) and ReDoc (``/redoc``) served from the package, never from a CDN.

FastAPI's default pages load their scripts, styles, favicon and (ReDoc) fonts from public CDNs,
so on a hospital intranet with no internet they stay blank. The assets are vendored under
``static/`` (versions and licences: ``static/README.md``) and served at ``/docs-assets``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS", "add_docs"]

ASSETS = "/docs-assets"
_STATIC = Path(__file__).with_name("static")


def add_docs(app: FastAPI, title: str) -> None:
    """Mount the assets and add ``/docs`` and ``/redoc`` (the app has ``docs_url=None``)."""
    app.mount(ASSETS, StaticFiles(directory=_STATIC), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json", title=f"{title} – Swagger UI",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/swagger-ui/favicon-32x32.png",
            # the validator badge would send the document to validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None})

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_redoc_html(
            openapi_url=f"{root}/openapi.json", title=f"{title} – ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/swagger-ui/favicon-32x32.png",
            with_google_fonts=False)
