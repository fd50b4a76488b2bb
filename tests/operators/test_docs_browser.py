"""/docs and /redoc in headless Chromium: both render the API, and every request they
make goes to the app's own origin."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.operators.conftest import LiveServer


def test_docs_render_with_nothing_from_another_origin(
    browser: Browser, live_server: LiveServer
) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security" in message.text else None
        ),
    )
    try:
        page.goto(f"{live_server.url}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("reddit-bot-backend")
        expect(page.locator(".opblock-summary-path").first).to_be_visible()
        page.goto(f"{live_server.url}/redoc")
        expect(page.locator("h1").first).to_contain_text("reddit-bot-backend")
        # The page has settled: the schema was fetched and drawn.
        expect(page.get_by_text("/api/v1/tasks/{job_id}/pause").first).to_be_attached()
    finally:
        context.close()
    assert errors == []
    foreign = [
        url for url in requested if not url.startswith((live_server.url + "/", "data:", "blob:"))
    ]
    # ReDoc's sidebar shows a logo from Redocly's CDN: the page's policy refuses it, so
    # the browser never sends that request.
    unrefused = [url for url in foreign if not any(url in text for text in refused)]
    assert unrefused == [], f"the docs loaded from another origin: {unrefused}"
    assert f"{live_server.url}/docs/static/swagger-ui-bundle.js" in requested
    assert f"{live_server.url}/docs/static/redoc.standalone.js" in requested
