"""`/docs`: the OpenAPI document in Swagger UI, served by the app itself, so it works offline
(SPEC 10.3: every asset from the app, never a CDN).

Swagger UI is vendored from the npm package `swagger-ui-dist` (`api/static/swagger-ui/`). FastAPI's
`get_swagger_ui_html` starts it with an inline script; this page loads `swagger-init.js` instead,
so it works under a Content-Security-Policy of `script-src 'self'`, which it sends, and
`swagger-overrides.css` darkens what axe-core finds below AA contrast. ReDoc is off:
one documentation page, and no second bundle to vendor."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PREFIX = "/docs/assets"
_ASSETS = Path(__file__).parent / "static"

DOCS_CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)


def docs_page(openapi_url: str) -> str:
    """The page: Swagger UI's stylesheet and bundle, and our script that starts it."""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>CrisisDesk API</title>
<link rel="icon" type="image/png" href="{ASSETS_PREFIX}/swagger-ui/favicon-32x32.png">
<link rel="stylesheet" href="{ASSETS_PREFIX}/swagger-ui/swagger-ui.css">
<link rel="stylesheet" href="{ASSETS_PREFIX}/swagger-overrides.css">
</head>
<body>
<main id="swagger-ui" data-openapi-url="{openapi_url}"></main>
<script src="{ASSETS_PREFIX}/swagger-ui/swagger-ui-bundle.js"></script>
<script src="{ASSETS_PREFIX}/swagger-init.js"></script>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """Serve `/docs` and its assets (create the app with `docs_url=None, redoc_url=None`)."""
    app.mount(ASSETS_PREFIX, StaticFiles(directory=_ASSETS), name="docs-assets")
    page = docs_page(app.openapi_url or "/openapi.json")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(
            page,
            headers={
                "Content-Security-Policy": DOCS_CONTENT_SECURITY_POLICY,
                "X-Content-Type-Options": "nosniff",
            },
        )
