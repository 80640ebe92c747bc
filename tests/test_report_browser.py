"""The HTML report in a real headless Chromium: every contact with its image, hostile card text
inert, no network request, CSS-only filters and zoom, phone-width layout, print styles.

Also makes docs/report.png (a screenshot of the report of samples/) when
CARDSCAN_SCREENSHOT=1 and samples/ exist."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from browser_fixtures import XSS, Filled, browser, filled, filled_template, page  # noqa: F401

from cardscan.outputs.report import write_report
from cardscan.store import Store

ROOT = Path(__file__).resolve().parents[1]


def _report(f: Filled, tmp_path: Path, **kw: object) -> Path:
    with Store(f.db) as store:
        return write_report(store, tmp_path / "report.html", **kw)  # type: ignore[arg-type]


def test_every_contact_is_shown_with_its_image(filled: Filled, tmp_path: Path, page) -> None:  # noqa: F811
    pg, watch = page
    out = _report(filled, tmp_path)
    pg.goto(out.as_uri())
    cards = pg.locator("article.card")
    assert cards.count() == filled.contacts
    for i in range(cards.count()):
        img = cards.nth(i).locator(".photo img")
        assert img.count() == 1
        w = img.evaluate("i => i.complete ? i.naturalWidth : 0")
        assert w >= 500, "the crop did not decode in the browser"
    # review first, then the summary counts what the store holds
    assert cards.first.get_attribute("id") == f"contact-{filled.doubtful}"
    summary = pg.locator("ul.summary").inner_text()
    assert "1\nphotos failed" in summary and "4\ncontacts" in summary and "1 draft" in summary
    assert "no card found in the photo" in pg.locator(".failures").inner_text()
    good = pg.locator(f"#contact-{filled.good}")
    assert "Possibly the same person as" in good.inner_text() and f"#{filled.twin}" in good.inner_text()
    assert "Nice to meet you at Spring Fair" in good.locator(".followup").inner_text()
    assert watch.dialogs == []


def test_hostile_card_renders_inert_and_makes_no_request(filled: Filled, tmp_path: Path, page) -> None:  # noqa: F811
    pg, watch = page
    out = _report(filled, tmp_path)
    url = out.as_uri()
    pg.goto(url)
    pg.wait_for_timeout(300)  # give any handler (onload, onerror) a chance to fire
    assert watch.dialogs == []
    assert pg.locator("script, iframe, svg, object, embed").count() == 0
    assert pg.evaluate("document.querySelectorAll('[onerror],[onload],[onmouseover]').length") == 0
    hrefs = pg.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))")
    assert hrefs, "the valid contact's links are missing"
    for h in hrefs:
        assert h.split(":", 1)[0].lower() in ("mailto", "tel", "https", "http") or h.startswith("#contact-"), h
    hostile = pg.locator(f"#contact-{filled.hostile}")
    assert XSS in hostile.locator("h2").inner_text()  # shown as text, not run
    assert hostile.locator("a").count() == 0  # none of its values made a link
    # hover over everything: an injected onmouseover would fire now
    for cell in hostile.locator("td.value").all():
        cell.hover()
    assert watch.dialogs == []
    bg = pg.evaluate("getComputedStyle(document.body).backgroundImage")
    assert bg == "none"
    # the only request is the page itself (images are inline data: URIs)
    assert [u for u in watch.requests if not u.startswith("data:")] == [url]


def test_css_only_filters_and_zoom(filled: Filled, tmp_path: Path, page) -> None:  # noqa: F811
    pg, _ = page
    pg.goto(_report(filled, tmp_path).as_uri())
    visible = "[...document.querySelectorAll('article.card')].filter(a => a.offsetParent !== null).map(a => a.id)"
    assert len(pg.evaluate(visible)) == filled.contacts
    pg.click("label[for='f-st-review']")
    assert pg.evaluate(visible) == [f"contact-{filled.doubtful}"]
    pg.click("label[for='f-fu-draft']")
    assert pg.evaluate(visible) == [f"contact-{filled.good}"]
    pg.click("label[for='f-all']")
    pg.locator("nav.filters label", has_text="Autumn Expo").click()
    assert pg.evaluate(visible) == [f"contact-{filled.twin}"]
    pg.locator("nav.filters label", has_text="Spring Fair").click()
    pg.click("label[for='f-st-review']")  # both groups apply together
    assert pg.evaluate(visible) == [f"contact-{filled.doubtful}"]
    # click a crop: it fills the window; click again: back
    label = pg.locator(f"#contact-{filled.doubtful} .photo label")
    small = label.locator("img").bounding_box()
    label.click()
    big = label.locator("img").bounding_box()
    assert big["width"] > 2 * small["width"]
    label.click()
    assert label.locator("img").bounding_box()["width"] == pytest.approx(small["width"], abs=2)


def test_readable_on_a_phone_and_prints_cleanly(filled: Filled, tmp_path: Path, browser) -> None:  # noqa: F811
    out = _report(filled, tmp_path)
    context = browser.new_context(viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True)
    try:
        pg = context.new_page()
        pg.goto(out.as_uri())
        assert pg.evaluate("document.documentElement.scrollWidth") <= 375  # nothing sticks out sideways
        img = pg.locator(f"#contact-{filled.good} .photo img").bounding_box()
        assert img["width"] > 250  # the crop spans the screen, above the fields
        pg.emulate_media(media="print")
        assert pg.locator("nav.filters").is_hidden()
        pdf = pg.pdf(format="A4")
        assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    finally:
        context.close()


@pytest.mark.slow
def test_screenshot_of_the_samples_report(browser, tmp_path: Path) -> None:  # noqa: F811
    """docs/report.png for the README: scans samples/ (once) and screenshots the report."""
    if os.environ.get("CARDSCAN_SCREENSHOT") != "1":
        pytest.skip("set CARDSCAN_SCREENSHOT=1 to rescan samples/ and refresh docs/report.png")
    samples = ROOT / "samples"
    if not (samples / "groundtruth.jsonl").is_file():
        pytest.skip("samples/ have not been generated")
    db, html = tmp_path / "x.db", tmp_path / "x.html"
    r = subprocess.run([sys.executable, "-m", "cardscan", "scan", str(samples), "--db", str(db), "--report", str(html),
                        "--event", "cardscan demo"], capture_output=True, text=True, timeout=900)
    assert r.returncode in (0, 2), r.stderr  # 2: some photo failed (shown in the report)
    context = browser.new_context(viewport={"width": 1100, "height": 1500})
    try:
        pg = context.new_page()
        pg.goto(html.as_uri())
        png = ROOT / "docs" / "report.png"
        png.parent.mkdir(exist_ok=True)
        pg.screenshot(path=str(png), type="png", full_page=False)
    finally:
        context.close()
    from PIL import Image

    with Image.open(png) as im:
        im.convert("P", palette=Image.Palette.ADAPTIVE, colors=128).save(png, optimize=True)
    assert png.stat().st_size < 400_000


def test_report_command_writes_the_file_for_one_event(filled: Filled, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "autumn.html"
    r = subprocess.run([sys.executable, "-m", "cardscan", "report", "--db", str(filled.db), "-o", str(out),
                        "--event", "Autumn Expo"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"report: {out.resolve()}"
    html = out.read_text(encoding="utf-8")
    assert html.count('<article class="card') == 1 and f'id="contact-{filled.twin}"' in html
    r = subprocess.run([sys.executable, "-m", "cardscan", "report", "--db", str(filled.db), "--event", "Nope"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "no event 'Nope'" in r.stderr and "Autumn Expo" in r.stderr
    r = subprocess.run([sys.executable, "-m", "cardscan", "report", "--db", str(tmp_path / "missing.db")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "no database" in r.stderr
