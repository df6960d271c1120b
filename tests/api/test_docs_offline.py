"""`/docs` works offline: Swagger UI comes from the app itself (vendored from the npm package
`swagger-ui-dist`), never a CDN, and the page needs no inline script, so it runs under the
Content-Security-Policy it is sent with (`script-src 'self'`). The browser test that it renders
the operations is tests/browser/test_docs_page.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from html.parser import HTMLParser
from urllib.parse import urlsplit

import httpx
import pytest

from api.app import create_app
from infra.settings import Settings

# What each kind of asset must be served as, for a browser to use it under `nosniff`.
CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
    ".json": ("application/json",),
}


class _References(HTMLParser):
    """Every URL the page loads (`src`, `href`, `data-openapi-url`) and its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        for attribute in ("src", "href", "data-openapi-url"):
            if named.get(attribute):
                self.urls.append(str(named[attribute]))
        self._in_inline_script = tag == "script" and not named.get("src")

    def handle_data(self, data: str) -> None:
        if self._in_inline_script and data.strip():
            self.inline_scripts.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in_inline_script = False


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url="sqlite://"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://crisisdesk.test") as client:
        yield client


async def _docs_page(http: httpx.AsyncClient) -> tuple[httpx.Response, _References]:
    page = await http.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    references = _References()
    references.feed(page.text)
    return page, references


async def test_docs_loads_only_what_the_app_serves(http: httpx.AsyncClient) -> None:
    _, references = await _docs_page(http)

    assert any(url.endswith("swagger-ui-bundle.js") for url in references.urls)
    assert any(url.endswith("swagger-ui.css") for url in references.urls)
    for url in references.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{url} is not on the app's origin"
        served = await http.get(url)
        assert served.status_code == 200, url
        suffix = parts.path[parts.path.rfind(".") :]
        assert served.headers["content-type"].startswith(CONTENT_TYPES[suffix]), url


async def test_docs_runs_under_a_strict_content_security_policy(http: httpx.AsyncClient) -> None:
    page, references = await _docs_page(http)

    assert references.inline_scripts == []
    policy = {
        directive.split()[0]: directive.split()[1:]
        for directive in page.headers["content-security-policy"].split(";")
    }
    assert policy["script-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]


async def test_the_starting_script_asks_no_other_server(http: httpx.AsyncClient) -> None:
    _, references = await _docs_page(http)
    script = next(url for url in references.urls if url.endswith("swagger-init.js"))

    started = (await http.get(script)).text

    assert "SwaggerUIBundle(" in started
    assert "validatorUrl: null" in started  # the default badge fetches from swagger.io
    assert "http" not in started


async def test_redoc_is_off_and_docs_is_not_an_api_operation(http: httpx.AsyncClient) -> None:
    document = (await http.get("/openapi.json")).json()

    assert (await http.get("/redoc")).status_code == 404
    assert "/docs" not in document["paths"]
