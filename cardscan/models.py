"""Typed values passed between pipeline stages.

decode(path) -> DecodedImage -> preprocess -> CardImage -> ocr -> OcrResult (+ qr -> QrPayload)
-> parse -> Contact.  All are frozen dataclasses; numpy arrays are RGB uint8 (H, W, 3) unless said.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

# Where a field's value came from.
SOURCE_OCR = "ocr"
SOURCE_QR = "qr"
SOURCE_USER = "user"

PHONE_TYPES = ("work", "mobile", "fax", "other")


@dataclass(frozen=True)
class DecodedImage:
    """A decoded photo, EXIF orientation applied, as 8-bit RGB."""

    pixels: np.ndarray  # (H, W, 3) uint8 RGB
    format: str  # detected from content: "JPEG", "PNG", "WEBP", "TIFF", "BMP", "MPO", "HEIF"
    original_size: tuple[int, int]  # (width, height) as stored in the file, before any reduction
    scale: float = 1.0  # pixels.width / original width (< 1 when decoded at reduced size)
    warnings: tuple[str, ...] = ()  # e.g. "multi-frame file: first frame used"


@dataclass(frozen=True)
class CardImage:
    """One card, cropped, flattened and turned upright."""

    pixels: np.ndarray  # (H, W, 3) uint8 RGB, upright
    quad: tuple[tuple[float, float], ...] | None = None  # 4 corners in the decoded image, None = whole image
    rotation: int = 0  # degrees clockwise applied to make it upright: 0, 90, 180, 270
    skew: float = 0.0  # degrees of deskew applied
    inverted: bool = False  # light text on dark card was inverted for OCR
    method: str = "passthrough"  # how it was found: "contour", "several", "textcluster" (by its text lines), "passthrough"


@dataclass(frozen=True)
class Word:
    text: str
    conf: float  # 0..100 as Tesseract reports
    box: tuple[int, int, int, int]  # left, top, width, height in CardImage pixels


@dataclass(frozen=True)
class Line:
    words: tuple[Word, ...]
    # other recognisers' readings of the same line when they differ from `words` (the line reader
    # reads each line twice): a field built from a line with an alternative is worth a review
    alternatives: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def conf(self) -> float:
        return float(np.mean([w.conf for w in self.words])) if self.words else 0.0

    @property
    def box(self) -> tuple[int, int, int, int]:
        if not self.words:
            return (0, 0, 0, 0)
        l = min(w.box[0] for w in self.words)
        t = min(w.box[1] for w in self.words)
        r = max(w.box[0] + w.box[2] for w in self.words)
        b = max(w.box[1] + w.box[3] for w in self.words)
        return (l, t, r - l, b - t)

    @property
    def height(self) -> float:
        """Median word box height: a proxy for font size."""
        return float(np.median([w.box[3] for w in self.words])) if self.words else 0.0


@dataclass(frozen=True)
class OcrResult:
    lines: tuple[Line, ...]
    engine: str  # e.g. "tesserocr 5.5.4 eng psm 3"
    image_size: tuple[int, int] = (0, 0)  # (width, height) of the image read

    @property
    def text(self) -> str:
        return "\n".join(l.text for l in self.lines)

    @property
    def mean_conf(self) -> float:
        ws = [w.conf for l in self.lines for w in l.words]
        return float(np.mean(ws)) if ws else 0.0


@dataclass(frozen=True)
class QrPayload:
    kind: str  # "vcard" | "mecard" | "url" | "text"
    text: str  # raw decoded payload
    fields: dict[str, Any] = field(default_factory=dict)  # name/title/company/emails/phones/websites/address


@dataclass(frozen=True)
class Field:
    """One extracted value with how sure we are and where it came from."""

    value: str
    confidence: float  # 0..1
    source: str = SOURCE_OCR  # ocr | qr | user
    raw: str | None = None  # text as read, before repair/normalisation
    flags: tuple[str, ...] = ()  # e.g. "repaired", "invalid", "low_confidence", "inferred_region"
    message: str | None = None  # validator's reason when flagged


@dataclass(frozen=True)
class Phone:
    number: str  # E.164 ("+14155550100") when the country is known, else digits as printed
    type: str  # work | mobile | fax | other
    raw: str  # as printed, with its label
    confidence: float = 0.5
    source: str = SOURCE_OCR
    flags: tuple[str, ...] = ()
    message: str | None = None


@dataclass(frozen=True)
class Contact:
    name: Field | None = None
    title: Field | None = None
    company: Field | None = None
    address: Field | None = None
    other_name: Field | None = None  # the name in a second script ("村瀬 善信" beside "Yoshinobu Murase")
    emails: tuple[Field, ...] = ()
    phones: tuple[Phone, ...] = ()
    websites: tuple[Field, ...] = ()
    region: str | None = None  # default phone region used (ISO 3166 alpha-2)
    raw_text: str = ""

    def scalar(self, name: str) -> str | None:
        f = getattr(self, name)
        return f.value if f is not None else None

    def to_record(self) -> dict[str, Any]:
        """Plain values in the shape ../shared/eval/score.py reads (plus details)."""
        return {
            "name": self.scalar("name"),
            "title": self.scalar("title"),
            "company": self.scalar("company"),
            "emails": [e.value for e in self.emails],
            "phones": [{"number": p.number, "type": p.type, "raw": p.raw} for p in self.phones],
            "websites": [w.value for w in self.websites],
            "address": self.scalar("address"),
            "other_name": self.scalar("other_name"),
            "region": self.region,
        }

    def to_detail(self) -> dict[str, Any]:
        """Every field with its confidence, source and flags."""
        d = asdict(self)
        return d
