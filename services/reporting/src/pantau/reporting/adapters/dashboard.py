"""The operator and liaison dashboard: one HTML page and its local static assets.

The page carries no data; its script reads the query API with the user's bearer token.
Every asset is served from this package (no CDN), under a strict Content-Security-Policy.
"""

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from pantau.reporting.config import Config

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def mount_dashboard(app: FastAPI, *, config: Config) -> None:
    """Serve ``/dashboard`` and ``/static/*``."""
    page = (STATIC_DIR / "dashboard.html").read_text(encoding="utf-8")
    page = page.replace("__REFRESH_SECONDS__", str(config.dashboard_refresh_seconds))
    router = APIRouter(tags=["dashboard"], include_in_schema=False)

    @router.get("/dashboard")
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(
            page,
            headers={
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-store",
            },
        )

    @router.get("/")
    async def root() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
