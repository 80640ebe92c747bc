"""One photo through every stage: bytes -> DecodedImage -> CardImage -> OcrResult (+QR) -> Contact.

`process_photo` is what a worker runs; it never raises for a bad photo: the outcome carries the
one-line reason and the exit code instead, so a batch goes on. Storage happens in the caller.
"""
from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from cardscan.reading import decode as decode_mod
from cardscan.reading import files
from cardscan.reading import locate as locate_mod
from cardscan.reading.ocr import tesseract as ocr_mod
from cardscan.reading.ocr.lines import LineReader
from cardscan.reading.ocr.scripts import ScriptReader
from cardscan.parsing import contact as parse_mod
from cardscan.reading import preprocess as preprocess_mod
from cardscan.reading import qr as qr_mod
from cardscan.reading import where
from cardscan.errors import CardscanError, ExitCode, NoCardError
from cardscan.models import CardImage, Contact, DecodedImage, OcrResult
from cardscan.options import Options

log = logging.getLogger(__name__)

CROP_LONG_SIDE = 1000  # px of the crop kept for the report
MIN_WORDS = 2  # fewer confident words than this: no card text found
# Photos are decoded with their long side at most this: a 4032x3024 phone photo then decodes at
# half scale straight from the JPEG (draft mode), and the card crop is warped to 1500 px anyway.
DECODE_LONG_SIDE = 2016
ORIENT_LONG_SIDE = 1200  # px: orientation detection runs on a copy this size


@dataclass(frozen=True)
class CardOutcome:
    """What happened to one photo. Picklable: it crosses process boundaries."""

    path: str
    sha256: str | None = None
    contact: Contact | None = None
    crop_jpeg: bytes | None = None
    raw_text: str = ""
    ocr_engine: str = ""
    ocr_conf: float = 0.0
    format: str | None = None
    size: int = 0
    original_size: tuple[int, int] | None = None
    error: str | None = None
    exit_code: int = int(ExitCode.ok)
    seconds: float = 0.0
    warnings: tuple[str, ...] = field(default_factory=tuple)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage (decode, preprocess, ...)
    more: tuple["CardOutcome", ...] = ()  # the other cards of a photo that shows several (same path and sha256)

    @property
    def ok(self) -> bool:
        return self.error is None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_crop(rgb: np.ndarray, long_side: int = CROP_LONG_SIDE) -> bytes:
    """JPEG of the card crop, at most `long_side` px, for the report and review."""
    h, w = rgb.shape[:2]
    scale = min(1.0, long_side / max(h, w))
    if scale < 1.0:
        rgb = cv2.resize(rgb, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 82])
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 image
        raise CardscanError("could not encode the card crop")
    return buf.tobytes()


SHOWN_LINE_CONF = 40.0  # lines at least this sure (0..100) place the text of an uncropped card
SHOWN_MAX_SHARE = 0.7  # the text region is shown alone when it is at most this share of the photo


def shown_region(card: CardImage, ocr: OcrResult) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) of the part of an uncropped card worth showing: the lines read
    on it with a card-like margin, when they fill clearly less than the whole photo (the card was
    not found, so the photo passed whole: the table and paper around it only make it small).
    None for a card that was found and cropped, or when the text covers most of the photo."""
    if card.method != "passthrough":
        return None
    boxes = [ln.box for ln in ocr.lines if ln.words and ln.conf >= SHOWN_LINE_CONF and len(ln.text.strip()) >= 2]
    if not boxes:
        return None
    h, w = card.pixels.shape[:2]
    left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
    right, bottom = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    line_h = float(np.median([b[3] for b in boxes]))
    pad = 0.12 * max(right - left, bottom - top) + 1.5 * line_h  # about a card's own margin
    box = (max(0, int(left - pad)), max(0, int(top - pad)), min(w, int(right + pad)), min(h, int(bottom + pad)))
    if (box[2] - box[0]) * (box[3] - box[1]) > SHOWN_MAX_SHARE * w * h:
        return None
    return box


def shown_crop(card: CardImage, ocr: OcrResult, contact: Contact | None = None) -> bytes:
    """The JPEG kept for the report and review: the card, upright; an uncropped card reduced to
    the region its text was read in (:func:`shown_region`), so it is shown at a useful size; with
    ``contact``, where each of its values was read rides along (:mod:`cardscan.reading.where`)."""
    h, w = card.pixels.shape[:2]
    region = shown_region(card, ocr) or (0, 0, w, h)
    left, top, right, bottom = region
    jpeg = encode_crop(card.pixels[top:bottom, left:right])
    return where.attach(jpeg, where.locate(contact, ocr, region)) if contact is not None else jpeg


def has_text(ocr: OcrResult) -> bool:
    confident = [w for l in ocr.lines for w in l.words if w.conf >= 50 and any(c.isalnum() for c in w.text)]
    return len(confident) >= MIN_WORDS


class _Clock:
    """Seconds spent per stage, for the outcome's ``timings``."""

    def __init__(self) -> None:
        self.t = time.perf_counter()
        self.cpu0 = time.process_time()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(self.laps.get(name, 0.0) + now - self.t, 4)
        self.t = now

    def done(self) -> dict[str, float]:
        self.laps["cpu"] = round(time.process_time() - self.cpu0, 4)
        return self.laps


def _orient_fn(engine: ocr_mod.OcrEngine, thorough: bool):  # type: ignore[no-untyped-def]
    """Orientation on a reduced gray copy (OSD needs no more; ~4x cheaper than the full card)."""
    if not hasattr(engine, "osd"):
        return engine.orientation

    def orient(rgb: np.ndarray) -> int:
        small = ocr_mod.shrink(ocr_mod.to_gray(rgb), ORIENT_LONG_SIDE)
        return ocr_mod.detect_orientation(engine, small, when_silent=thorough)

    return orient


def read_upright(card: CardImage, engine: ocr_mod.OcrEngine, /, clock: _Clock | None = None, *,
                 thorough: bool = False) -> tuple[CardImage, OcrResult]:
    """Turn the card upright and OCR it, cheaply for the common case.

    The card is read as it lies first; when that read is clearly of upright text (enough confident
    words in horizontal boxes) orientation detection is skipped and the read is the first look.
    Otherwise Tesseract OSD (with its OCR-score fallback) decides the turn, and the card is read
    again when it was turned.
    """
    clock = clock or _Clock()
    first = engine.read(ocr_mod.first_image(card), psm=3)
    clock.lap("ocr_first")
    if not ocr_mod.reads_upright(first):
        rot = preprocess_mod.safe_orient(_orient_fn(engine, thorough), card.pixels)
        clock.lap("orientation")
        if rot:
            card = replace(card, pixels=preprocess_mod.rotate_right_angle(card.pixels, rot), rotation=rot)
            first = None  # type: ignore[assignment]
    # the extra looks stay the quick plan even when thorough: on the eval cards the slow looks
    # (psm 6, more variants) cost up to 6 s a card and the second engine recovers more
    ocr = ocr_mod.read_card(card, engine, first_result=first)
    clock.lap("ocr_more")
    return card, ocr


def second_opinion(card: CardImage, ocr: OcrResult, contact: Contact, qrs: tuple, options: Options) -> tuple[Contact, OcrResult]:
    """Read the card again with RapidOCR and merge the two readings field by field.

    Measured on the real eval cards: Tesseract alone micro-F1 0.886, RapidOCR alone 0.924, the
    merge (Tesseract's value first, the other filling gaps, agreement raising confidence) 0.934,
    at ~1.5 s more CPU a card. Fields both engines read alike come out surer; disagreements are
    flagged for review.
    """
    from cardscan.reading.ocr.rapid import get_rapid_engine

    other = get_rapid_engine().read(card.pixels)
    second = parse_mod.parse(other, qrs, region=options.region)
    merged = parse_mod.merge_readings(contact, second)
    both = OcrResult(lines=ocr.lines + other.lines, engine=f"{ocr.engine} + {other.engine}", image_size=ocr.image_size)
    return merged, both


_LINE_READERS: dict[int, LineReader] = {}


def line_reader(engine: ocr_mod.OcrEngine) -> LineReader:
    """The line reader of this process around `engine` (its sessions load once per process).

    Tesseract reads each line in process (tesserocr); with the tesseract command a call per line
    would cost more than the rest of the card, so PP-OCR then reads the lines alone."""
    r = _LINE_READERS.get(id(engine))
    if r is None or r.tesseract_engine is not engine:
        tess = engine if isinstance(engine, ocr_mod.TesserocrEngine) else None
        r = LineReader(tess, scripts=ScriptReader() if tess is not None else None)
        r.tesseract_engine = engine
        _LINE_READERS.clear()
        _LINE_READERS[id(engine)] = r
    return r


def uses_line_reader(engine: ocr_mod.OcrEngine, options: Options) -> bool:
    """The line reader runs for real Tesseract engines (a test's stand-in engine keeps the looks).
    `--second-engine rapidocr` keeps its own pairing: Tesseract's looks, then RapidOCR."""
    return options.reader in ("lines", "careful") and options.second_engine == "off" and isinstance(engine, (ocr_mod.TesserocrEngine, ocr_mod.PytesseractEngine))


def _larger_photo(card: CardImage, img: DecodedImage, larger: Callable[[int], DecodedImage]
                  ) -> Callable[[float], tuple[np.ndarray, float] | None]:
    """For a card passed whole: the photo decoded k times larger, turned by the card's deskew so
    it has the card's geometry, and the factor it got; None when the file has no more pixels."""
    def get(k: float) -> tuple[np.ndarray, float] | None:
        if img.scale >= 0.99:
            return None
        big = larger(int(max(img.pixels.shape[:2]) * k))
        f = big.pixels.shape[1] / img.pixels.shape[1]
        pixels = preprocess_mod.rotate_bound(big.pixels, card.skew) if card.skew else big.pixels
        return pixels, f

    return get


def _read_one(card: CardImage, engine: ocr_mod.OcrEngine, options: Options, clock: _Clock,
              larger: Callable[[float], tuple[np.ndarray, float] | None] | None = None,
              located: tuple[CardImage | None, LineReader] | None = None,
              ) -> tuple[CardImage, OcrResult, Contact]:
    """Upright + OCR + QR + parse (+ the second engine) for one card of a photo. ``located``: the
    card already located by its text, as (the photo whole to fall back on, or None when the photo
    holds other cards too; the reader to read the card with)."""
    thorough = options.second_engine != "off" or options.reader == "careful"  # the slower, more careful mode
    lines = uses_line_reader(engine, options)
    whole: CardImage | None = card
    if lines:
        reader = line_reader(engine)
        if located is not None:
            whole, reader = located
        elif card.method == "passthrough":  # no card outline found: its text lines tell where it is
            card, reader = locate_mod.locate(card, reader, larger)
            clock.lap("locate")
        card, ocr = reader.read_card(card)
        if card.method == "textcluster" and not has_text(ocr) and whole is not None:  # placed wrong: the photo whole
            card, ocr = line_reader(engine).read_card(whole)
        clock.lap("ocr_lines")
    else:
        card, ocr = read_upright(card, engine, clock, thorough=thorough)
    qrs = qr_mod.decode_qr(card.pixels, thorough=thorough)
    if not qrs and card.method == "textcluster" and whole is not None:  # a code away from the text: the whole photo
        qrs = qr_mod.decode_qr(whole.pixels, thorough=thorough)
    clock.lap("qr")
    if lines and options.reader == "careful":
        _, looks = read_upright(card, engine, clock, thorough=True)
        if has_text(looks):
            first = parse_mod.parse(looks, qrs, region=options.region)
            second = parse_mod.parse(ocr, qrs, region=options.region)
            contact = parse_mod.merge_readings(second, first)
            ocr = OcrResult(lines=ocr.lines + looks.lines, engine=f"{ocr.engine} + {looks.engine}", image_size=ocr.image_size)
            clock.lap("parse")
            return card, ocr, contact
    if not has_text(ocr) and not qrs:
        raise NoCardError("no card text found (blank photo, or no business card in it)")
    contact = parse_mod.parse(ocr, qrs, region=options.region)
    clock.lap("parse")
    if options.second_engine == "rapidocr":
        contact, ocr = second_opinion(card, ocr, contact, qrs, options)
        clock.lap("second_engine")
    return card, ocr, contact


def _read_text_cards(cuts: list[CardImage], engine: ocr_mod.OcrEngine, options: Options,
                     clock: _Clock) -> list[tuple[CardImage, OcrResult, Contact]]:
    """Blocks of text far apart, each read as a card: kept apart only when every one reads as a
    card (an e-mail, a phone number or a website of its own); else [] and the photo is read as
    one card (a card's two columns, a card beside a leaflet)."""
    reads = []
    for cut in cuts:
        try:
            got = _read_one(cut, engine, options, clock, located=(None, line_reader(engine)))
        except NoCardError:
            return []
        if not (got[2].emails or got[2].phones or got[2].websites):
            return []
        reads.append(got)
    return reads


def _read_cards(cards: list[CardImage], engine: ocr_mod.OcrEngine, options: Options, clock: _Clock,
                img: DecodedImage | None = None, larger: Callable[[int], DecodedImage] | None = None,
                ) -> tuple[list[tuple[CardImage, OcrResult, Contact]], list[str]]:
    """Read every card of a photo. Several: a card without text is left out with a warning. When
    no shape the contour finder took for a card holds text, or the one shape is small and gives
    no e-mail, phone or website, the photo is read whole (the line reader's text places the card):
    the first case fails only when that finds no text either; in the second the shape's reading
    stands unless the whole photo gives a way to reach someone.
    ``img`` and ``larger`` (the photo decoded, and again larger) let a card the contour finder
    missed be read from the file's own pixels."""
    if len(cards) == 1:
        more = _larger_photo(cards[0], img, larger) if img is not None and larger is not None else None
        if cards[0].method == "passthrough" and uses_line_reader(engine, options):
            # no card outline found: the text places the card (or, far apart, the cards)
            cuts, primed = locate_mod.text_cards(cards[0], line_reader(engine))
            if cuts:
                several = _read_text_cards(cuts, engine, options, clock)
                if several:
                    return several, [f"{len(several)} cards located by their text (no card outline found)"]
            card, reader = locate_mod.locate(cards[0], primed, more)
            clock.lap("locate")
            return [_read_one(card, engine, options, clock, more, located=(cards[0], reader))], []
        reads: list[tuple[CardImage, OcrResult, Contact]] = []
        warns: list[str] = []
        try:
            reads.append(_read_one(cards[0], engine, options, clock, more))
        except NoCardError as e:
            failure = e
    else:
        reads, warns = [], []
        for i, card in enumerate(cards, 1):
            try:
                reads.append(_read_one(card, engine, options, clock))
            except NoCardError:
                warns.append(f"card {i} of the {len(cards)} found in the photo has no readable text; left out")
        failure = NoCardError(f"no card text found on any of the {len(cards)} card-like shapes in the photo")
    # No shape the contour finder took for a card held text (a phone or a notebook beside the
    # card), or the one it took is small and gives no way to reach anyone (a label or a note
    # beside a card it could not see): the photo is read whole, its text placing the card.
    small = len(cards) == 1 and bool(reads) and _small_without_contact(cards[0], reads[0][2], img)
    if (reads and not small) or img is None or any(c.method == "passthrough" for c in cards):
        if not reads:
            raise failure
        return reads, warns
    whole = preprocess_mod.whole_photo(img)
    clock.lap("preprocess")
    try:
        got, got_warns = _read_cards([whole], engine, options, clock, img, larger)
    except NoCardError:
        if reads:
            return reads, warns
        raise
    if not small:
        return got, [f"the card-like shape{'s' if len(cards) > 1 else ''} found held no text; the card was placed by its text"] + got_warns
    if any(_reachable(c) for _, _, c in got):
        return got, ["the small card-like shape found gave no e-mail, phone or website; the photo read whole did"] + got_warns
    return reads, warns


SMALL_SHARE = 0.08  # of the photo's area: a card-like shape this small may be a label or a note


def _reachable(c: Contact) -> bool:
    return bool(c.emails or c.phones or c.websites)


def _small_without_contact(card: CardImage, contact: Contact, img: DecodedImage | None) -> bool:
    """A shape the contour finder took for the card that is small in the photo and gave no e-mail,
    phone or website: it may be something else (the finder takes shapes down to 2%)."""
    if img is None or card.method != "contour" or card.quad is None or _reachable(contact):
        return False
    h, w = img.pixels.shape[:2]
    return preprocess_mod.quad_area(card.quad) < SMALL_SHARE * w * h


def process_data(path: str, data: bytes, engine: ocr_mod.OcrEngine, options: Options) -> CardOutcome:
    """Every stage for the bytes of one photo; failures become an outcome, never an exception.

    A photo showing several cards gives one outcome for the first card (reading order) with the
    others in ``more`` (same path and sha256, each its own contact, crop and text)."""
    t0 = time.perf_counter()
    clock = _Clock()
    sha = sha256_bytes(data) if data else None

    def larger(max_side: int) -> DecodedImage:  # the photo again at a larger size, for small cards
        return decode_mod.decode(data, max_mpixels=options.max_image_mpixels, max_side=max_side)

    try:
        img = decode_mod.decode(data, max_mpixels=options.max_image_mpixels, max_side=DECODE_LONG_SIDE)
        clock.lap("decode")
        cards = preprocess_mod.preprocess_all(img, orient=None, larger=larger)
        clock.lap("preprocess")
        reads, warns = _read_cards(cards, engine, options, clock, img, larger)
    except CardscanError as e:
        return CardOutcome(path=path, sha256=sha, size=len(data), error=str(e), exit_code=int(e.exit_code),
                           seconds=time.perf_counter() - t0, timings=clock.done())
    except Exception as e:  # noqa: BLE001 - a bug on one photo must not stop the batch; it is logged in full
        log.exception("%s: internal error while reading it", path)
        return CardOutcome(path=path, sha256=sha, size=len(data), error=f"internal error ({type(e).__name__}: {e})",
                           exit_code=int(ExitCode.other_error), seconds=time.perf_counter() - t0, timings=clock.done())
    outs = []
    for card, ocr, contact in reads:
        crop = shown_crop(card, ocr, contact) if options.keep_crops else None
        outs.append(CardOutcome(
            path=path, sha256=sha, contact=contact, crop_jpeg=crop,
            raw_text=ocr.text, ocr_engine=ocr.engine, ocr_conf=ocr.mean_conf, format=img.format, size=len(data),
            original_size=img.original_size,
        ))
    clock.lap("crop")
    if len(cards) > 1:
        log.debug("%s: %d cards found, %d read", path, len(cards), len(reads))
    return replace(outs[0], seconds=time.perf_counter() - t0, warnings=img.warnings + tuple(warns),
                   timings=clock.done(), more=tuple(outs[1:]))


def process_path(path: Path | str, engine: ocr_mod.OcrEngine, options: Options) -> CardOutcome:
    """Read one photo (never modified) and run every stage on it."""
    try:
        data = files.read_regular_file(Path(path))
    except CardscanError as e:
        return CardOutcome(path=str(path), error=str(e), exit_code=int(e.exit_code))
    return process_data(str(path), data, engine, options)
