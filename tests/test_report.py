from __future__ import annotations

import hashlib
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from cardscan.outputs import report
from cardscan.contacts.fields import ReviewPolicy
from cardscan.errors import OutputAccessError
from cardscan.models import SOURCE_QR, SOURCE_USER, Contact, Field, Phone
from cardscan.reading.pipeline import encode_crop
from cardscan.outputs.report import CSP, mailto_href, render_report, tel_href, website_href, write_report
from cardscan.store import CardRecord, ContactRecord, Failure, Store

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_ATTR = '"><img src=x onerror=alert(1)>'


class Tags(HTMLParser):
    """Every start tag with its attributes, as a browser would parse them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def attrs(self, name: str) -> list[str]:
        return [a[name] or "" for _, a in self.tags if name in a]


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    rng = np.random.default_rng(7)
    img = np.full((600, 1050, 3), 235, np.uint8)
    img[100:140, 80:700] = rng.integers(0, 80, (40, 620, 3), dtype=np.uint8)  # a "text line"
    return encode_crop(img, 500)


def contact(**kw: object) -> Contact:
    base: dict[str, object] = dict(
        name=Field("Kim Imaginary", 0.93),
        title=Field("Chief Tinkerer", 0.45, flags=("low_confidence",)),
        company=Field("Nonexistent Gadgets GmbH", 0.81, raw="Nonexistent Gadqets GmbH", flags=("repaired",),
                      message="q read as g"),
        address=Field("Musterweg 5, 12345 Beispielstadt", 0.66),
        emails=(Field("kim@gadgets.example", 0.96), Field("info@gadgets.example", 0.9, source=SOURCE_QR)),
        phones=(Phone("+4930901820", "work", "Tel. 030 901820", 0.87),
                Phone("0301234", "other", "030 1234", 0.3, flags=("invalid",), message="too short for DE")),
        websites=(Field("www.gadgets.example", 0.8),),
        region="DE",
        raw_text="Kim Imaginary\nChief Tinkerer",
    )
    base.update(kw)
    return Contact(**base)  # type: ignore[arg-type]


def record(cid: int, c: Contact, crop: bytes | None = None, **kw: object) -> ContactRecord:
    cards = (CardRecord(cid, hashlib.sha256(str(cid).encode()).hexdigest(), f"/cards/img_{cid}.jpg", "JPEG", 1000,
                        (1050, 600), crop, c.raw_text, "test", 80.0, "t"),)
    args: dict[str, object] = dict(event=None, notes=(), cards=cards, created_at="t", updated_at="t")
    args.update(kw)
    return ContactRecord(cid, c, **args)  # type: ignore[arg-type]


def render(records: list[ContactRecord], **kw: object) -> str:
    args: dict[str, object] = dict(stats={"photos_done": len(records), "photos_failed": 0}, failures=[])
    args.update(kw)
    return render_report(records, **args)  # type: ignore[arg-type]


def test_renders_every_field_with_confidence_source_and_marks(jpeg: bytes) -> None:
    html = render([record(1, contact(), jpeg, event="Autumn Expo", notes=("call back in May",))])
    for text in ["Kim Imaginary", "Chief Tinkerer", "Nonexistent Gadgets GmbH", "Musterweg 5, 12345 Beispielstadt",
                 "kim@gadgets.example", "info@gadgets.example", "+4930901820", "0301234", "www.gadgets.example",
                 "Autumn Expo", "call back in May", "Tel. 030 901820"]:
        assert text in html, text
    assert "93% · OCR" in html and "90% · QR code" in html
    assert "⚠ low confidence" in html  # title 0.45
    assert "✗ invalid: too short for DE" in html
    assert "read as Nonexistent Gadqets GmbH" in html and "q read as g" in html
    tags = Tags(html)
    rows = {a.get("class") for t, a in tags.tags if t == "tr"}
    assert {"low", "invalid"} <= rows
    imgs = tags.attrs("src")
    assert len(imgs) == 1 and imgs[0].startswith("data:image/jpeg;base64,")


def test_review_policy_controls_low_confidence_marks() -> None:
    c = contact(company=Field("Nonexistent Gadgets GmbH", 0.81), phones=(), address=None)
    assert "⚠ low confidence" in render([record(1, c)])  # title at 0.45 < 0.6
    assert "⚠ low confidence" not in render([record(1, c)], policy=ReviewPolicy(0.4))
    assert "⚠ low confidence" in render([record(1, c)], policy=ReviewPolicy(0.95))
    assert "below 95% confidence" in render([record(1, c)], policy=ReviewPolicy(0.95))


def test_links_only_from_validated_values() -> None:
    c = contact(
        emails=(Field("kim@gadgets.example", 0.9), Field("kim@@gadgets", 0.9), Field("x@gadgets.example?cc=evil@x.example", 0.9)),
        phones=(Phone("+4930901820", "work", "030 901820", 0.9), Phone("030 901820", "work", "030 901820", 0.9)),
        websites=(Field("javascript:alert(1)", 0.9), Field("https://gadgets.example/about", 0.9),
                  Field("data:text/html,<b>x</b>", 0.9), Field("http://user:pw@gadgets.example", 0.9),
                  Field("https://bad.example", 0.9, flags=("invalid",)), Field("gmai1.example", 0.3)),
    )
    html = render([record(1, c)])
    hrefs = Tags(html).attrs("href")
    assert sorted(hrefs) == sorted(["mailto:kim@gadgets.example", "tel:+4930901820", "https://gadgets.example/about"])
    assert "javascript:alert(1)" in html and "gmai1.example" in html  # shown, as plain text
    assert website_href("javascript:alert(1)") is None and website_href("JavaScript:alert(1)") is None
    assert website_href("www.gadgets.example") == "https://www.gadgets.example"
    assert website_href("ftp://gadgets.example") is None and website_href("gadgets") is None
    assert mailto_href("kim@gadgets.example") == "mailto:kim@gadgets.example"
    assert mailto_href("kim@gadgets.example\u200b") is None
    assert tel_href("+4930901820") == "tel:+4930901820" and tel_href("+0123456789") is None


def test_hostile_text_is_escaped_everywhere(jpeg: bytes) -> None:
    c = contact(name=Field(XSS_SCRIPT, 0.9), company=Field(XSS_ATTR, 0.9), title=Field("a' onmouseover='x", 0.9),
                websites=(Field(XSS_ATTR, 0.9),), raw_text=XSS_SCRIPT)
    fails = [Failure(None, f"/cards/{XSS_ATTR}.jpg", XSS_SCRIPT, 1, "t")]
    html = render([record(1, c, jpeg, event=XSS_ATTR, notes=(XSS_SCRIPT,))], failures=fails, title=XSS_SCRIPT)
    assert "<script" not in html.lower()
    assert "<img src=x" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    tags = Tags(html)
    assert [t for t, _ in tags.tags if t in ("script", "iframe", "object", "embed", "link", "base", "form")] == []
    assert [k for _, a in tags.tags for k in a if k.startswith("on")] == []
    assert len([t for t, _ in tags.tags if t == "img"]) == 1


def test_no_external_requests_and_csp(jpeg: bytes) -> None:
    c = contact(websites=(Field("https://gadgets.example", 0.9), Field("http://other.example/page", 0.8)))
    html = render([record(1, c, jpeg), record(2, contact(websites=()), jpeg)])
    tags = Tags(html)
    metas = [a for t, a in tags.tags if t == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy"]
    assert [m["content"] for m in metas] == [CSP]
    assert CSP == ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
                   "form-action 'none'")
    for src in tags.attrs("src"):
        assert src.startswith("data:image/jpeg;base64,")
    web = [h for h in tags.attrs("href") if re.match(r"(?i)https?:", h)]
    assert sorted(web) == ["http://other.example/page", "https://gadgets.example"]
    for h in tags.attrs("href"):
        assert h.split(":", 1)[0] in ("mailto", "tel", "http", "https") or re.fullmatch(r"#contact-\d+", h), h
    style = "".join(re.findall(r"<style>(.*?)</style>", html, re.S))
    assert "url(" not in style and "@import" not in style
    assert "<link" not in html and "<script" not in html


def test_no_safe_filter_in_templates() -> None:
    files = list(report.TEMPLATES.glob("*"))
    assert files
    for f in files:
        text = f.read_text(encoding="utf-8")
        assert not re.search(r"\|\s*safe\b", text), f
        assert "autoescape false" not in text, f
    src = Path(report.__file__).read_text(encoding="utf-8")
    assert "Markup(" not in src and "autoescape=True" in src


def test_bidi_and_zero_width_characters_made_visible() -> None:
    c = contact(name=Field("Kim\u202egnp.exe", 0.9), company=Field("Gad\u200bgets", 0.9))
    html = render([record(1, c)])
    assert "\u202e" not in html and "\u200b" not in html
    assert "Kim[U+202E]gnp.exe" in html and "Gad[U+200B]gets" in html


def test_contacts_needing_review_come_first() -> None:
    clean = contact(title=Field("Chief Tinkerer", 0.9), company=Field("Nonexistent Gadgets GmbH", 0.9),
                    phones=(Phone("+4930901820", "work", "030 901820", 0.9),), address=None)
    doubtful = contact(name=Field("Doubtful Person", 0.3))
    html = render([record(1, clean), record(2, doubtful), record(3, clean, reviewed=True)])
    order = [int(a["id"].split("-")[1]) for t, a in Tags(html).tags if t == "article" and a.get("id")]
    assert order == [2, 1, 3]
    assert html.count("⚠ needs review") == 1 and "✓ reviewed" in html


def test_user_edited_values_are_not_marked_low() -> None:
    c = contact(title=Field("Chief Tinkerer", 1.0, source=SOURCE_USER))
    html = render([record(1, c)])
    assert "100% · edited" in html


def test_summary_and_failures_listed() -> None:
    fails = [Failure(None, "/cards/locked.jpg", "permission denied", 2, "t"),
             Failure("ab" * 32, "/cards/blank.png", "no card found in the photo", 1, "t")]
    html = render([], stats={"photos_done": 4, "photos_failed": 2, "contacts": 0, "contacts_needing_review": 0,
                             "fields_needing_review": 5}, failures=fails)
    assert "/cards/locked.jpg</bdi>: permission denied (2 attempts)" in html
    assert "no card found in the photo" in html
    assert "<b>4</b> photos read" in html and "<b>2</b> photos failed" in html and "<b>5</b> fields to review" in html
    assert "No contacts yet." in html


def _fill_store(db: Path, jpeg: bytes) -> None:
    with Store(db) as s:
        for i in range(3):
            s.record_success(hashlib.sha256(bytes([i])).hexdigest(), f"/cards/{i}.jpg",
                             contact=contact(name=Field(f"Kim Imaginary {i}", 0.9)), crop_jpeg=jpeg,
                             event="Autumn Expo" if i else None)
        s.record_failure(None, "/cards/unreadable.jpg", "permission denied")


def test_write_report_from_store(tmp_path: Path, jpeg: bytes) -> None:
    db, out = tmp_path / "c.db", tmp_path / "report.html"
    _fill_store(db, jpeg)
    with Store(db) as s:
        assert write_report(s, out) == out
        html = out.read_text(encoding="utf-8")
        assert all(f"Kim Imaginary {i}" in html for i in range(3))
        assert html.count("data:image/jpeg;base64,") == 3 and "permission denied" in html
        write_report(s, out, event="Autumn Expo")
        html = out.read_text(encoding="utf-8")
        assert "Kim Imaginary 0" not in html and "Kim Imaginary 2" in html and "Autumn Expo" in html
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_write_report_is_atomic(tmp_path: Path, jpeg: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    db, out = tmp_path / "c.db", tmp_path / "report.html"
    _fill_store(db, jpeg)
    with Store(db) as s:
        write_report(s, out)
        before = out.read_bytes()

        def broken_render(*a: object, **k: object) -> str:
            raise RuntimeError("template exploded")

        with monkeypatch.context() as m:
            m.setattr(report, "render_report", broken_render)
            with pytest.raises(RuntimeError):
                write_report(s, out)
        assert out.read_bytes() == before

        def broken_replace(src: str, dst: str) -> None:
            raise OSError(28, "No space left on device")

        s.record_success("cd" * 32, "/cards/new.jpg", contact=contact(name=Field("Newer Person", 0.9)))
        with monkeypatch.context() as m:
            m.setattr(os, "replace", broken_replace)
            with pytest.raises(OutputAccessError, match="No space left"):
                write_report(s, out)
        assert out.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("c.db")) == ["report.html"]
        write_report(s, out)
        assert "Newer Person" in out.read_text(encoding="utf-8")
    with pytest.raises(OutputAccessError, match="does not exist"):
        with Store(db) as s:
            write_report(s, tmp_path / "nope" / "r.html")


def test_encode_crop_limits_size(jpeg: bytes) -> None:
    assert jpeg[:3] == b"\xff\xd8\xff"
    from PIL import Image
    import io

    assert max(Image.open(io.BytesIO(jpeg)).size) == 500
