"""The API docs pages' security headers.

Swagger UI and ReDoc are served from the app (see `app.main`), on the origin where the
dashboard keeps its tokens. Their pages get a policy that lets them load nothing from
elsewhere: ReDoc's sidebar, for one, shows a logo from Redocly's CDN.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_STATIC_PATH = "/docs/static"
DOCS_PAGES = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})

# Inline script and style: Swagger UI is started by an inline script, and both apps set
# styles inline. Workers from blob: URLs: ReDoc searches in one.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class DocsSecurityHeaders:
    """Adds `SECURITY_HEADERS` to the docs pages' responses."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in DOCS_PAGES:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
