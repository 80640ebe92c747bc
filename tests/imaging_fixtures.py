"""Synthetic card photos for the decode/preprocess tests: rendered in code with a real TTF font."""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FONT_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")

CARD_LINES = (
    "Quentin Harrowgate",
    "Principal Surveyor",
    "Blackthorn Mapping Ltd",
    "42 Fenwick Lane, Springfield",
    "Tel +1 415 555 0199",
    "quentin@blackthorn.example",
)
KNOWN_WORD = "Harrowgate"


def font(size: int, *, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_BOLD if bold else FONT), size)


def render_card(
    lines: tuple[str, ...] = CARD_LINES,
    *,
    size: tuple[int, int] = (1050, 600),
    paper: tuple[int, int, int] = (250, 250, 246),
    ink: tuple[int, int, int] = (20, 20, 30),
    accent: tuple[int, int, int] | None = (30, 90, 160),
) -> np.ndarray:
    """A business card (RGB uint8), 3.5 x 2 inch proportions by default, text left-aligned."""
    w, h = size
    im = Image.new("RGB", (w, h), paper)
    d = ImageDraw.Draw(im)
    if accent is not None:
        d.rectangle([0, h - h // 14, w, h], fill=accent)
    y = h // 10
    for i, line in enumerate(lines):
        f = font(h // 11 if i == 0 else h // 17, bold=i == 0)
        d.text((w // 14, y), line, fill=ink, font=f)
        y += int((h // 11 if i == 0 else h // 17) * 1.45) + (h // 30 if i in (1, 2) else 0)
    return np.asarray(im)


def wood_background(w: int, h: int, *, seed: int = 1) -> np.ndarray:
    """Brown wood-like texture: grain stripes, noise and a light gradient (uneven light)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    grain = np.sin(yy / 7.0 + 3.0 * np.sin(xx / 90.0)) * 12 + np.sin(yy / 2.3) * 4
    noise = cv2.GaussianBlur(rng.normal(0, 10, (h, w)).astype(np.float32), (0, 0), 2.0)
    light = 0.8 + 0.35 * (xx / w)
    base = np.stack([np.full((h, w), 140.0), np.full((h, w), 95.0), np.full((h, w), 60.0)], axis=2)
    img = (base + (grain + noise)[:, :, None]) * light[:, :, None]
    return np.clip(img, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Scene:
    image: np.ndarray  # RGB photo
    quads: tuple[np.ndarray, ...]  # true corners of each card placed (TL, TR, BR, BL of the card)


def place(bg: np.ndarray, card: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Paste ``card`` into ``bg`` with a perspective transform onto ``corners`` (TL, TR, BR, BL)."""
    h, w = card.shape[:2]
    src = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    m = cv2.getPerspectiveTransform(src, np.float32(corners))
    H, W = bg.shape[:2]
    warped = cv2.warpPerspective(card, m, (W, H), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (W, H), flags=cv2.INTER_LINEAR)
    a = (mask.astype(np.float32) / 255.0)[:, :, None]
    return (bg * (1 - a) + warped * a).astype(np.uint8)


def card_corners(cx: float, cy: float, width: float, aspect: float, angle_deg: float, *, tilt: float = 0.0) -> np.ndarray:
    """Corners (TL, TR, BR, BL in card order) of a card centred at (cx, cy), turned by angle_deg
    (counter-clockwise on screen), the far (top) side shortened by ``tilt`` (perspective)."""
    hw, hh = width / 2, width / aspect / 2
    pts = np.array([[-hw * (1 - tilt), -hh], [hw * (1 - tilt), -hh], [hw, hh], [-hw, hh]], dtype=np.float64)
    a = np.radians(-angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return pts @ rot.T + [cx, cy]


def photo_scene(*, angle: float = 8.0, tilt: float = 0.08, size: tuple[int, int] = (1600, 1200), seed: int = 1) -> Scene:
    """One card on a wood table, turned and in perspective, with a pen-like distractor."""
    W, H = size
    bg = wood_background(W, H, seed=seed)
    cv2.line(bg, (int(W * 0.08), int(H * 0.9)), (int(W * 0.3), int(H * 0.97)), (30, 30, 160), 14)
    q = card_corners(W * 0.5, H * 0.5, W * 0.55, 1.75, angle, tilt=tilt)
    return Scene(place(bg, render_card(), q), (q,))


def encode(rgb_or_pil: np.ndarray | Image.Image, fmt: str, **kw: object) -> bytes:
    im = rgb_or_pil if isinstance(rgb_or_pil, Image.Image) else Image.fromarray(rgb_or_pil)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def asymmetric_rgb(w: int = 120, h: int = 80) -> np.ndarray:
    """An image whose every rotation/flip is different: coloured quadrants and a corner marker."""
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = (220, 30, 30)
    a[: h // 2, w // 2 :] = (30, 200, 30)
    a[h // 2 :, : w // 2] = (30, 30, 220)
    a[h // 2 :, w // 2 :] = (240, 240, 240)
    a[:10, :10] = (0, 0, 0)
    return a


# ---- photo variants for the line reader's tests (tests/test_ocr_lines.py)

PANEL_LINES = ("Orla Vantongeren", "+44 20 7946 0321")


def panel_card(size: tuple[int, int] = (1050, 600)) -> np.ndarray:
    """A light card whose name and phone are printed light on a dark panel (a band on the right)."""
    card = render_card(CARD_LINES[1:4], size=size)
    im = Image.fromarray(card)
    d = ImageDraw.Draw(im)
    w, h = size
    d.rectangle([int(w * 0.48), int(h * 0.55), w - w // 20, int(h * 0.88)], fill=(45, 50, 60))
    d.text((int(w * 0.51), int(h * 0.59)), PANEL_LINES[0], fill=(240, 240, 235), font=font(h // 16, bold=True))
    d.text((int(w * 0.51), int(h * 0.72)), PANEL_LINES[1], fill=(240, 240, 235), font=font(h // 17))
    return np.asarray(im)


def same_colour_table(size: tuple[int, int] = (1600, 1200), *, seed: int = 3, width: float = 0.6,
                      centre: tuple[float, float] = (0.5, 0.5)) -> np.ndarray:
    """A white card on white paper: no edge a contour finder can use, only a faint shadow.
    ``width``: the card's width as a share of the photo's; ``centre``: where it lies (shares)."""
    W, H = size
    rng = np.random.default_rng(seed)
    bg = np.clip(rng.normal(246, 3, (H, W, 3)), 0, 255).astype(np.uint8)
    q = card_corners(W * centre[0], H * centre[1], W * width, 1.75, 4.0)
    return place(bg, render_card(paper=(247, 247, 245), accent=None), q)


STRAY_LINES = ("MORNING EDITION", "Harbour fees rise again", "Weather: rain later")


def with_stray_text(rgb: np.ndarray, at: tuple[float, float], *, size: int = 40) -> np.ndarray:
    """``rgb`` with a few lines of other printed text (a newspaper corner, a mug's print) whose
    top-left lies at ``at`` (shares of the width and height)."""
    im = Image.fromarray(rgb)
    d = ImageDraw.Draw(im)
    x, y = int(at[0] * rgb.shape[1]), int(at[1] * rgb.shape[0])
    for i, line in enumerate(STRAY_LINES):
        d.text((x, y + int(i * size * 1.5)), line, fill=(40, 40, 40), font=font(size, bold=i == 0))
    return np.asarray(im)


def small_photo(long_side: int = 700, *, seed: int = 1) -> np.ndarray:
    """A card photo whose long side is `long_side` px: the card's small print is ~10 px high."""
    img = photo_scene(seed=seed).image
    h, w = img.shape[:2]
    s = long_side / max(h, w)
    return cv2.resize(img, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA)


def turned_photo(degrees_cw: int, *, seed: int = 1) -> np.ndarray:
    """A card photo turned by a right angle (a phone held sideways or upside down)."""
    img = photo_scene(seed=seed, angle=3.0).image
    k = {0: 0, 90: 3, 180: 2, 270: 1}[degrees_cw]
    return np.ascontiguousarray(np.rot90(img, k))
