"""The web page at / in a real headless browser (Debian's chromium driven by Playwright): a street photo dropped
on the page comes back as the overlay (masks, boxes, labels), the metadata table, the garments with their
colours, and the most similar catalogue products."""
from __future__ import annotations

import base64
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import STREET

DROP = """async ([b64, name]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], name, {type: "image/jpeg"}));
  return dt;
}"""


@pytest.fixture(scope="module")
def browser():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("FASHION_REQUIRE_BROWSER"):
            pytest.fail("chromium is not installed (apt-get install chromium); CI requires the browser test")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def test_dropping_a_street_photo_shows_overlay_metadata_and_similar_products(server, browser, tmp_path: Path) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.inference + "/")
    assert page.title() == "Fashion garments"
    photo = STREET / "0005.jpg"
    transfer = page.evaluate_handle(DROP, [base64.b64encode(photo.read_bytes()).decode(), photo.name])
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    page.wait_for_selector("body[data-state=done]", timeout=120_000)
    page.wait_for_selector("#similar li", timeout=60_000)
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    garments = int(page.get_attribute("#overlay", "data-garments"))
    assert garments >= 1 and page.locator("#garments li").count() == garments
    from PIL import Image

    width = Image.open(photo).width
    assert page.evaluate("document.getElementById('overlay').width") == width
    fields = page.locator("#metadata tr td:first-child").all_inner_texts()
    assert {"gender", "articleType", "baseColour"} <= set(fields)
    assert page.locator("#garments .swatch").count() == garments
    assert page.locator("#garments .garment-metadata").count() == garments  # each garment's own metadata
    assert page.locator("#similar li").count() >= 1
    page.click("#filters .chip >> text=gender: Women")  # a filter chip: the similar products again, filtered
    from playwright.sync_api import expect

    # Locator assertions poll without eval(): the page's CSP (script-src 'self') refuses string predicates.
    expect(page.locator("#filters .chip.on")).to_have_count(1)
    expect(page.locator("#similar-note")).not_to_have_text(re.compile(r"^searching"), timeout=60_000)
    assert all("· Women ·" in t for t in page.locator("#similar li").all_inner_texts())
    thumbnails = page.locator("#similar li img")  # each similar product's picture, served by the front door
    expect(thumbnails).to_have_count(page.locator("#similar li").count())
    thumbnails.first.scroll_into_view_if_needed()
    expect(thumbnails.first).to_have_js_property("complete", True, timeout=30_000)
    assert thumbnails.first.evaluate("img => img.naturalWidth") > 0
    assert thumbnails.first.get_attribute("src").startswith("/thumbnail?id=")
    assert "garment" in page.inner_text("#status") and not errors
    page.set_input_files("#file", files=[{"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"not a photo"}])
    page.wait_for_selector("body[data-state=error]", timeout=60_000)
    assert "notes.jpg" in page.inner_text("#status.error")
    page.close()
