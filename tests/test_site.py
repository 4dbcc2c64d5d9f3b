"""The documentation site in a real browser: ``make docs`` builds it into site/, served here on loopback and opened
in the system Chromium with Playwright. Every page loads, every image on it decodes, every link into the site
resolves.

``make test-browser`` builds the site first and runs this with the notebook checks (marked slow; it needs Chromium
and Playwright as tests/test_browser.py does).
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, REPO, _free_port, _needs

pytestmark = pytest.mark.slow
SITE = REPO / "site"
MAKE_ALL_IMAGES_LOAD = "document.querySelectorAll('img').forEach(i => { i.loading = 'eager'; })"
ALL_IMAGES_DONE = "Array.from(document.images).every(i => i.complete)"
BROKEN_IMAGES = "imgs => imgs.filter(i => !(i.naturalWidth > 0)).map(i => i.getAttribute('src').slice(0, 80))"


@pytest.fixture(scope="module")
def site():
    """The built site served on loopback: its base URL."""
    _needs()
    if not (SITE / "index.html").exists():
        pytest.skip("no built site in site/: run `make docs` first (`make test-browser` does)")
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory",
                               str(SITE)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                pytest.fail("the site's HTTP server did not start within 30 s")
            time.sleep(0.2)
    yield base
    server.kill()
    server.wait()


def test_every_page_loads_with_its_images_and_its_links_resolve(site):
    from playwright.sync_api import sync_playwright

    pages = sorted(p.relative_to(SITE).parent.as_posix() for p in SITE.rglob("index.html")
                   if "assets" not in p.parts)
    assert len(pages) >= 15, f"only {len(pages)} pages in site/"
    broken, links = [], {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        for path in pages:
            url = f"{site}/" if path == "." else f"{site}/{path}/"
            response = page.goto(url, wait_until="load")
            if response is None or not response.ok:
                broken.append(f"{url}: HTTP {response.status if response else 'no response'}")
                continue
            page.evaluate(MAKE_ALL_IMAGES_LOAD)
            page.wait_for_function(ALL_IMAGES_DONE, timeout=30_000)
            broken += [f"{url}: image {src} does not load" for src in page.eval_on_selector_all("img", BROKEN_IMAGES)]
            for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
                if href.startswith(site):
                    links.setdefault(href.split("#")[0], url)
        browser.close()
    for href, origin in sorted(links.items()):
        try:
            urllib.request.urlopen(href, timeout=10)
        except urllib.error.HTTPError as e:
            broken.append(f"{origin}: link {href}: HTTP {e.code}")
    assert not broken, "\n".join(broken)
