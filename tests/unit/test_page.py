"""The page's routes: content types, caching by content hash, gzip, ETags, unknown assets.

The real app over a real socket, without LiveKit: serving the page needs none. What the
page does in a browser is in tests/integration/test_page.py.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from context_bot.config import Settings
from context_bot.endpoint.openapi import PAGE_ASSETS
from context_bot.endpoint.page import IMMUTABLE, PAGE_DIR, REVALIDATE, Asset, add_page_routes
from context_bot.endpoint.routes import TokenService, create_app

Client = TestClient[Any, Any]


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    app = create_app(TokenService(Settings(), admin=None, rooms=None))
    async with TestClient(TestServer(app)) as client:
        yield client


def test_the_package_holds_exactly_the_files_the_spec_names() -> None:
    assert sorted(p.name for p in PAGE_DIR.iterdir()) == sorted(["index.html", *PAGE_ASSETS])


async def test_the_page_is_html_revalidated_and_locked_to_its_own_scripts(client: Client) -> None:
    response = await client.get("/")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == REVALIDATE
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "<title>context-bot</title>" in await response.text()


async def test_assets_under_their_hash_are_cached_for_a_year(client: Client) -> None:
    page = await (await client.get("/")).text()
    urls = re.findall(r'(?:src|href)="(/page/[^"]+)"', page)
    assert sorted(url.split("?")[0] for url in urls) == ["/page/app.css", "/page/app.js"]
    for url in urls:
        response = await client.get(url)
        assert response.status == 200
        assert response.headers["Cache-Control"] == IMMUTABLE
        name = url.split("/")[-1].split("?")[0]
        assert await response.read() == (PAGE_DIR / name).read_bytes()
    js = await client.get("/page/app.js")
    assert js.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert js.headers["Cache-Control"] == REVALIDATE  # no hash: maybe an old URL, revalidate


async def test_gzip_when_asked_and_304_for_a_known_etag(client: Client) -> None:
    response = await client.get(
        "/page/app.js", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
    )
    assert response.headers["Content-Encoding"] == "gzip"
    raw = await response.read()
    assert gzip.decompress(raw) == (PAGE_DIR / "app.js").read_bytes()
    assert len(raw) < len((PAGE_DIR / "app.js").read_bytes()) / 2
    again = await client.get("/page/app.js", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status == 304
    assert await again.read() == b""


async def test_an_unknown_asset_is_a_json_404(client: Client) -> None:
    for path in ("/page/nope.js", "/page/..%2Fpage.py", "/page/index.html"):
        response = await client.get(path)
        assert response.status == 404, path
        assert (await response.json())["error"]["code"] == "not_found"


def test_a_missing_build_is_named_with_the_fix(tmp_path: Path) -> None:
    from aiohttp import web

    (tmp_path / "index.html").write_text("<!doctype html>")
    with pytest.raises(FileNotFoundError, match="scripts/build-page"):
        add_page_routes(web.Application(), tmp_path)


def test_an_asset_version_is_the_hash_the_build_writes() -> None:
    asset = Asset.load(PAGE_DIR / "app.css")
    page = (PAGE_DIR / "index.html").read_text()
    assert f"/page/app.css?v={asset.version}" in page
