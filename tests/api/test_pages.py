"""Pages served by the app: dashboard, /docs, /redoc — offline and under a mount prefix.

Every script, style sheet, icon and font a page names is a relative URL, and
each of them is served by the app itself (checked by fetching it) at the root
and when the app is mounted under ``/carbon``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from api_helpers import make_settings
from fastapi import FastAPI
from fastapi.testclient import TestClient

from carbontwin.api import create_app

PAGES = ("/", "/docs", "/redoc")


class _Refs(HTMLParser):
    """URLs of scripts, style sheets, icons, images and fonts a page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe", "source") and a.get("src"):
            self.urls.append(a["src"])
        if tag == "link" and a.get("href"):
            self.urls.append(a["href"])
        if tag == "script" and not a.get("src"):
            self._in_script = True

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.inline.append(data)
        # url(...) in inline styles: fonts, images
        self.urls += re.findall(r"url\(['\"]?([^'\")]+)", data)


def _refs(html: str) -> _Refs:
    p = _Refs()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def clients(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pages")
    host = FastAPI()
    host.mount("/carbon", create_app(make_settings(tmp / "mounted")))
    with (
        TestClient(create_app(make_settings(tmp)), base_url="https://testserver") as root,
        TestClient(host, base_url="https://testserver") as mounted,
    ):
        yield {"": root, "/carbon": mounted}


@pytest.mark.parametrize("prefix", ["", "/carbon"])
@pytest.mark.parametrize("page", PAGES)
def test_every_asset_is_relative_and_served_by_the_app(clients, prefix, page):
    client = clients[prefix]
    url = f"{prefix}{page}"
    r = client.get(url)
    assert r.status_code == 200, (url, r.text[:200])
    assert r.headers["content-type"].startswith("text/html")
    refs = _refs(r.text)
    assert refs.urls, f"{url} loads nothing?"
    for ref in refs.urls:
        parts = urlsplit(ref)
        assert not parts.scheme, f"{url} loads {ref} from outside"
        assert not parts.netloc, f"{url} loads {ref} from outside"
        assert not ref.startswith("/"), f"{url} names {ref} from the server root, not the app"
        asset = urljoin(f"https://testserver{url}", ref)
        got = client.get(asset)
        assert got.status_code == 200, (url, ref, asset)
        assert len(got.content) > 100, (url, ref)
    # URLs inside inline scripts (the OpenAPI document the docs load) are relative too
    for script in refs.inline:
        for quoted in re.findall(r"url: *'([^']+)'", script):
            assert not urlsplit(quoted).netloc, quoted
            assert client.get(urljoin(f"https://testserver{url}", quoted)).status_code == 200
        assert "https://" not in script, script[:200]
        assert "http://" not in script, script[:200]


def test_docs_load_the_vendored_bundles(clients):
    client = clients["/carbon"]
    docs = client.get("/carbon/docs").text
    assert "static/vendor/swagger-ui/swagger-ui-bundle.js" in docs
    assert "validatorUrl" in docs  # no badge from the public validator
    redoc = client.get("/carbon/redoc").text
    assert "static/vendor/redoc/redoc.standalone.js" in redoc
    assert "fonts.googleapis" not in redoc
    js = client.get("/carbon/static/vendor/redoc/redoc.standalone.js")
    assert js.headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript")
    assert client.get("/carbon/openapi.json").json()["info"]["title"] == "carbontwin"


def test_static_files_are_in_the_installed_package():
    from importlib.resources import files

    vendor = files("carbontwin.api") / "static" / "vendor"
    for name in (
        "echarts/echarts.min.js",
        "echarts/LICENSE",
        "swagger-ui/swagger-ui-bundle.js",
        "swagger-ui/LICENSE",
        "redoc/redoc.standalone.js",
        "redoc/LICENSE",
    ):
        assert (vendor / name).is_file(), name
