"""/docs and /redoc load everything from the app itself, and DOCS_ENABLED turns them off."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from app.core.config import Settings
from tests.conftest import running_app

# Every URL an HTML page may load or link to: attributes and `url: '...'` in the inline
# script Swagger UI is started with.
URL_IN_HTML = re.compile(
    r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*['"]([^'"]+)['"]"""
)
ABSOLUTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)


def referenced_urls(html: str) -> list[str]:
    return [a or b for a, b in URL_IN_HTML.findall(html)]


async def test_docs_pages_load_nothing_from_another_origin(client: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        response = await client.get(page)
        assert response.status_code == 200, page
        html = response.text
        urls = referenced_urls(html)
        assert urls, f"{page} references nothing: the check would prove nothing"
        foreign = [url for url in urls if ABSOLUTE.match(url)]
        assert foreign == [], f"{page} loads from another origin: {foreign}"
        assert "http://" not in html, page
        assert "https://" not in html, page
        for url in urls:
            asset = await client.get(url)
            assert asset.status_code == 200, f"{page}: {url} answered {asset.status_code}"
            assert asset.content
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy, page
        assert "img-src 'self' data:" in policy, page
    swagger = (await client.get("/docs")).text
    # Swagger UI's default would send the schema's address to an outside validator.
    assert '"validatorUrl": null' in swagger
    scripts = [u for u in referenced_urls(swagger) if u.endswith(".js")]
    assert scripts == ["/docs/static/swagger-ui-bundle.js"]
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "reddit-bot-backend"


async def test_docs_can_be_turned_off(settings_factory: Callable[..., Settings]) -> None:
    async with running_app(settings_factory(SCHEDULER_ENABLED=False, DOCS_ENABLED=False)) as (
        _,
        client,
    ):
        for path in (
            "/docs",
            "/redoc",
            "/openapi.json",
            "/docs/oauth2-redirect",
            "/docs/static/swagger-ui-bundle.js",
        ):
            assert (await client.get(path)).status_code == 404, path
        # The API itself is unaffected.
        assert (await client.get("/api/v1/users/me")).status_code == 401
