"""/docs and /redoc work with no internet: every asset comes from the service itself."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

_URL = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_same_origin_assets(client: TestClient, page: str) -> None:
    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    urls = {a or b for a, b in _URL.findall(html)}
    scripts = {u for u in urls if u.endswith(".js")}
    assert scripts and "/openapi.json" in urls
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url


def test_vendored_assets_carry_their_licences(client: TestClient) -> None:
    for path in ("/docs-assets/swagger-ui/LICENSE", "/docs-assets/swagger-ui/NOTICE",
                 "/docs-assets/redoc/LICENSE"):
        assert client.get(path).status_code == 200, path
    assert "MIT License" in client.get("/docs-assets/redoc/LICENSE").text
    assert "Apache License" in client.get("/docs-assets/swagger-ui/LICENSE").text
