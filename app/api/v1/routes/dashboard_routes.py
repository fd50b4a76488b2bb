"""The operators' dashboard: one static page and its assets, served by the app itself
(no CDN, no build step: the scripts are native ES modules the browser imports from
`STATIC_PATH`). The page signs in through `POST /api/v1/auth/login` and then
uses the task API with the bearer token, so it needs no session of its own.

The password-reset page, where reset emails link (`PASSWORD_RESET_URL`), is served the
same way."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parents[3] / "static" / "dashboard"
STATIC_PATH = "/dashboard/static"

# Everything comes from this origin; no inline script or style, so injected markup
# could not run even if some text slipped through unescaped.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(tags=["dashboard"], include_in_schema=False)


@router.get("/dashboard")
async def dashboard() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers=SECURITY_HEADERS)


@router.get("/reset-password")
async def reset_password() -> FileResponse:
    return FileResponse(STATIC_DIR / "reset-password.html", headers=SECURITY_HEADERS)


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC_DIR)
