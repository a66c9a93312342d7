"""The developer page: `GET /` and its files at `GET /page/{asset}`.

The page is built from `web/` by `scripts/build-page` and committed in `context_bot/endpoint/page/`,
so running the service needs no Node. The files are read once, at app creation, and kept
in memory with their gzip form: together they are under a megabyte, and serving from
memory keeps a page load off the disk and off the event loop.

Caching: `index.html` names each asset with `?v=<hash of its bytes>` (the build writes
it), so an asset asked for under its current hash is cached for a year and a new build
changes the URL; anything else is revalidated through its ETag. The page itself is always
revalidated, so a deploy shows at the next load.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from context_bot.endpoint.openapi import PAGE_ASSETS

PAGE_DIR = Path(__file__).with_name("page")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        # LiveKit's URL comes from the token answer and may be any host.
        "connect-src 'self' ws: wss: http: https:",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
"""Knowledge documents are Markdown anyone with commit rights writes; the page renders
them without raw HTML, and this policy makes sure no inline script could run anyway."""


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    content_type: str
    version: str
    """The first 12 hex digits of the body's SHA-256, as `web/build.mjs` writes into URLs."""

    @property
    def etag(self) -> str:
        return f'"{self.version}"'

    @classmethod
    def load(cls, path: Path) -> Asset:
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(
                f"{path} is missing from the package; rebuild it with scripts/build-page"
            ) from None
        return cls(
            body=body,
            gzipped=gzip.compress(body, compresslevel=9, mtime=0),
            content_type=CONTENT_TYPES[path.suffix],
            version=hashlib.sha256(body).hexdigest()[:12],
        )


PAGE = web.AppKey("page", dict[str, Asset])


def _respond(request: web.Request, asset: Asset, cache_control: str) -> web.Response:
    headers = {
        "Cache-Control": cache_control,
        "ETag": asset.etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if asset.content_type.startswith("text/html"):
        headers["Content-Security-Policy"] = CSP
        headers["Referrer-Policy"] = "no-referrer"
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    body = asset.body
    if "gzip" in request.headers.get("Accept-Encoding", "") and len(asset.gzipped) < len(body):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    headers["Content-Type"] = asset.content_type
    return web.Response(body=body, headers=headers)


async def get_page(request: web.Request) -> web.Response:
    return _respond(request, request.app[PAGE]["index.html"], REVALIDATE)


async def get_asset(request: web.Request) -> web.Response:
    name = request.match_info["asset"]
    if name not in PAGE_ASSETS:  # index.html too: the page's one address is `/`
        raise web.HTTPNotFound(reason="no such page asset")
    asset = request.app[PAGE][name]
    fresh = request.query.get("v") == asset.version
    return _respond(request, asset, IMMUTABLE if fresh else REVALIDATE)


def add_page_routes(app: web.Application, page_dir: Path = PAGE_DIR) -> None:
    """`GET /` and `GET /page/{asset}` on `app`; raises if a built file is missing."""
    app[PAGE] = {name: Asset.load(page_dir / name) for name in ("index.html", *PAGE_ASSETS)}
    app.router.add_get("/", get_page)
    app.router.add_get("/page/{asset}", get_asset)
