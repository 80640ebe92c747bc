"""Synthetic business cards rendered with a real TrueType font, for OCR and QR tests.

Everything here is invented text; nothing comes from the evaluation set.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation"))
FONT_FILES = ("DejaVuSans.ttf", "LiberationSans-Regular.ttf")
BOLD_FILES = ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf")


def font_path(bold: bool = False) -> Path | None:
    for d in FONT_DIRS:
        for f in BOLD_FILES if bold else FONT_FILES:
            if (d / f).is_file():
                return d / f
    return None


def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    p = font_path(bold)
    if p is None:  # pragma: no cover - the Makefile installs fonts-dejavu-core
        raise RuntimeError("no TrueType font: sudo apt-get install fonts-dejavu-core")
    return ImageFont.truetype(str(p), size)


@dataclass(frozen=True)
class Placed:
    text: str
    xy: tuple[int, int]
    size: int
    bold: bool = False


# An invented card: name, title, company, and a two-column contact row at the same height.
LEFT_PHONE = "Tel +1 415 555 0134"
RIGHT_EMAIL = "ada.lovelace@example.org"
DEFAULT_CARD: tuple[Placed, ...] = (
    Placed("Ada Lovelace", (70, 60), 64, bold=True),
    Placed("Chief Engineer", (70, 150), 40),
    Placed("Analytical Engines Ltd", (70, 215), 40),
    Placed(LEFT_PHONE, (70, 420), 34),
    Placed(RIGHT_EMAIL, (620, 420), 34),
    Placed("www.example.org", (70, 490), 34),
)


def render_card(
    items: tuple[Placed, ...] = DEFAULT_CARD,
    size: tuple[int, int] = (1100, 620),
    bg: tuple[int, int, int] = (250, 250, 245),
    fg: tuple[int, int, int] = (20, 20, 30),
) -> np.ndarray:
    """An RGB uint8 card image (H, W, 3) with the given text items."""
    im = Image.new("RGB", size, bg)
    d = ImageDraw.Draw(im)
    for it in items:
        d.text(it.xy, it.text, font=font(it.size, it.bold), fill=fg)
    return np.asarray(im).copy()


def rotate_cw(rgb: np.ndarray, degrees: int) -> np.ndarray:
    """Rotate clockwise by a multiple of 90 degrees."""
    k = (degrees // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, k=-k))


def words_of(text: str) -> set[str]:
    return {w.strip(".,:;").lower() for w in text.split() if w.strip(".,:;")}
