"""Find the card in a photo, flatten it, straighten it and turn it upright.

Stages (each a small pure function on numpy arrays):

1. ``detect_cards``: card-like quadrilaterals from edge maps and colour/brightness segmentation,
   checked for size, aspect ratio (business cards are 1.5-1.9, portrait or landscape), convexity,
   edge support along their sides, and that their border does not cut through text.
2. ``warp_card``: 4-point perspective transform to a normalised size (long side ``CARD_LONG_SIDE``).
3. ``estimate_skew`` / ``rotate_bound``: small-angle deskew from text-line projection profiles.
4. orientation 0/90/180/270 from the ``orient`` callable (the OCR stage passes Tesseract OSD).
5. ``is_dark_background``: light-on-dark cards are flagged (``CardImage.inverted``); the pixels stay
   a natural RGB crop for display, and ``ocr_variants`` makes the OCR-specific looks.

A flat scan or rendered card with no visible edge passes through untouched: a wrong crop that cuts
off text is far worse than no crop, so every check errs towards passthrough.
"""
from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from cardscan.models import CardImage, DecodedImage

log = logging.getLogger(__name__)

Quad = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]

CARD_LONG_SIDE = 1500  # px of the warped card's long side
WORK_SIDE = 800  # detection runs on a copy whose long side is this
MIN_AREA_SHARE = 0.02  # smaller quads are not taken for the card (a card in 2% of a 12 MP photo is ~650 px wide; smaller, its text is unreadable)
MAX_AREA_SHARE = 0.97  # a quad this large is the frame itself: pass through
MIN_ASPECT, MAX_ASPECT = 1.25, 2.25  # long/short of the flattened quad (cards are 1.5-1.9)
MIN_CORNER_ANGLE, MAX_CORNER_ANGLE = 55.0, 125.0  # degrees; more is too oblique to trust
MIN_EDGE_SUPPORT = 0.55  # share of the quad's outline that lies on an image edge
MIN_SIDE_SUPPORT = 0.35  # ... and of each side
MIN_SIDE_STEP = 10.0  # Lab colour difference across each side (card vs what lies beyond)
MIN_SCORE = 0.55
MAX_SKEW = 12.0  # degrees searched by deskew


# ---------------------------------------------------------------------------------------------
# Geometry (pure)
# ---------------------------------------------------------------------------------------------


def _points(quad: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
    """The polygon as a list of (x, y) floats (plain Python: these helpers run ~1000 times a
    photo on 4 points, where numpy's per-call overhead dominated)."""
    flat = np.asarray(quad, dtype=np.float64).reshape(-1).tolist()
    return list(zip(flat[0::2], flat[1::2]))


def order_corners(quad: Sequence[Sequence[float]], /) -> Quad:
    """Order 4 points as top-left, top-right, bottom-right, bottom-left (clockwise on screen).

    Points are sorted by angle around their centroid; the start is the corner with the smallest
    x + y (ties: smallest y), so a card turned by 45 degrees is still ordered consistently.
    """
    pts = _points(quad)
    if len(pts) != 4:
        raise ValueError("a quad has exactly 4 corners")
    cx = sum(p[0] for p in pts) / 4.0
    cy = sum(p[1] for p in pts) / 4.0
    # y down: increasing angle = clockwise; sorted() is stable like argsort(kind="stable")
    pts = sorted(pts, key=lambda p: math.atan2(p[1] - cy, p[0] - cx))
    keys = [(round(x + y, 9), round(y, 9)) for x, y in pts]
    start = min(range(4), key=keys.__getitem__)
    return tuple(pts[start:] + pts[:start])  # type: ignore[return-value]


def quad_area(quad: Sequence[Sequence[float]], /) -> float:
    """Unsigned area (shoelace) of a polygon."""
    p = _points(quad)
    n = len(p)
    return abs(sum(p[i][0] * p[(i + 1) % n][1] - p[i][1] * p[(i + 1) % n][0] for i in range(n))) / 2.0


def is_convex(quad: Sequence[Sequence[float]], /) -> bool:
    """True when the ordered polygon turns the same way at every corner (no zero-length side)."""
    p = _points(quad)
    n = len(p)
    cross = []
    for i in range(n):
        (x0, y0), (x1, y1), (x2, y2) = p[i], p[(i + 1) % n], p[(i + 2) % n]
        cross.append((x1 - x0) * (y2 - y1) - (y1 - y0) * (x2 - x1))
    return all(c > 1e-9 for c in cross) or all(c < -1e-9 for c in cross)


def corner_angles(quad: Sequence[Sequence[float]], /) -> tuple[float, ...]:
    """Interior angles in degrees at each corner of an ordered quad."""
    p = _points(quad)
    n = len(p)
    out = []
    for i in range(n):
        (ax, ay), (bx, by), (cx, cy) = p[i - 1], p[i], p[(i + 1) % n]
        ux, uy, vx, vy = ax - bx, ay - by, cx - bx, cy - by
        nu, nv = math.hypot(ux, uy), math.hypot(vx, vy)
        if nu == 0 or nv == 0:
            out.append(0.0)
            continue
        out.append(math.degrees(math.acos(min(1.0, max(-1.0, (ux * vx + uy * vy) / (nu * nv))))))
    return tuple(out)


def warp_size(quad: Sequence[Sequence[float]], /, *, long_side: int = CARD_LONG_SIDE) -> tuple[int, int]:
    """(width, height) of the flattened card: the quad's proportions, long side = ``long_side``.

    Width is the mean of the top and bottom sides, height the mean of the left and right sides of
    the ordered quad (TL, TR, BR, BL).
    """
    tl, tr, br, bl = order_corners(quad)
    w = (math.dist(tr, tl) + math.dist(br, bl)) / 2.0
    h = (math.dist(bl, tl) + math.dist(br, tr)) / 2.0
    if w <= 0 or h <= 0:
        raise ValueError("degenerate quad")
    f = long_side / max(w, h)
    return max(1, int(round(w * f))), max(1, int(round(h * f)))


def quad_aspect(quad: Sequence[Sequence[float]], /) -> float:
    """long/short ratio of the flattened quad (>= 1)."""
    w, h = warp_size(quad, long_side=10_000)
    return max(w, h) / min(w, h)


@dataclass(frozen=True)
class QuadCheck:
    ok: bool
    reason: str = ""


def check_quad(quad: Sequence[Sequence[float]], image_size: tuple[int, int], /) -> QuadCheck:
    """Geometric sanity of a card candidate in an image of (width, height)."""
    q = order_corners(quad)
    W, H = image_size
    if not is_convex(q):
        return QuadCheck(False, "not convex")
    share = quad_area(q) / float(W * H)
    if share < MIN_AREA_SHARE:
        return QuadCheck(False, f"too small ({share:.1%} of the image)")
    if share > MAX_AREA_SHARE:
        return QuadCheck(False, f"covers the whole image ({share:.1%})")
    angles = corner_angles(q)
    if min(angles) < MIN_CORNER_ANGLE or max(angles) > MAX_CORNER_ANGLE:
        return QuadCheck(False, f"corner angle {min(angles):.0f}-{max(angles):.0f} degrees")
    ar = quad_aspect(q)
    if not MIN_ASPECT <= ar <= MAX_ASPECT:
        return QuadCheck(False, f"aspect ratio {ar:.2f}")
    return QuadCheck(True)


# ---------------------------------------------------------------------------------------------
# Detection
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cand:
    quad: Quad  # in work-image coordinates
    score: float
    area: float
    source: str


def _work_copy(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    h, w = rgb.shape[:2]
    f = min(1.0, WORK_SIDE / max(h, w))
    if f < 1.0:
        rgb = cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    return rgb, f


def _edge_map(gray: np.ndarray) -> np.ndarray:
    blur = cv2.GaussianBlur(gray, (5, 5), 0)
    med = float(np.median(blur))
    lo, hi = max(10.0, 0.5 * med), min(255.0, max(40.0, 1.2 * med))
    e1 = cv2.Canny(blur, lo, hi)
    e2 = cv2.Canny(blur, 20, 60)
    return cv2.bitwise_or(e1, e2)


def _segment_masks(rgb: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Binary masks in which the card may be one blob: brightness, saturation, distance from the
    colour of the image border (the table)."""
    blur = cv2.GaussianBlur(rgb, (7, 7), 0)
    lab = cv2.cvtColor(blur, cv2.COLOR_RGB2LAB)
    hsv = cv2.cvtColor(blur, cv2.COLOR_RGB2HSV)
    h, w = rgb.shape[:2]
    b = max(2, min(h, w) // 40)
    border = np.concatenate([lab[:b].reshape(-1, 3), lab[-b:].reshape(-1, 3), lab[:, :b].reshape(-1, 3), lab[:, -b:].reshape(-1, 3)])
    bg = np.median(border, axis=0)
    # Euclidean Lab distance with OpenCV calls (numpy's norm over axis 2 cost ~6x more)
    diff = cv2.subtract(lab.astype(np.float32), tuple(float(v) for v in bg) + (0.0,))
    dist = cv2.sqrt(cv2.transform(cv2.multiply(diff, diff), np.ones((1, 3), np.float32))).reshape(h, w)
    dist = cv2.normalize(dist, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    out = []
    t, _ = cv2.threshold(dist, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # half the Otsu level too: keeps a card's coloured band that is nearer the table's colour
    out.append(("bgdist-low", np.where(dist > t * 0.5, 255, 0).astype(np.uint8)))
    for name, ch in (("bgdist", dist), ("light", lab[:, :, 0]), ("sat", hsv[:, :, 1])):
        _, m = cv2.threshold(ch, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        out.append((name, m))
        if name != "bgdist":
            out.append((name + "-inv", cv2.bitwise_not(m)))
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9))
    return [(n, cv2.morphologyEx(cv2.morphologyEx(m, cv2.MORPH_CLOSE, k), cv2.MORPH_OPEN, k)) for n, m in out]


def _max_area_quad(poly: np.ndarray) -> np.ndarray | None:
    """Largest-area quadrilateral with vertices among a convex polygon's vertices."""
    pts = poly.reshape(-1, 2).astype(np.float64)
    n = len(pts)
    if n < 4:
        return None
    if n == 4:
        return pts
    if n > 16:
        return None
    best, best_a = None, -1.0
    for idx in itertools.combinations(range(n), 4):
        a = quad_area(pts[list(idx)])
        if a > best_a:
            best, best_a = pts[list(idx)], a
    return best


def _quads_from_contour(cnt: np.ndarray) -> list[np.ndarray]:
    hull = cv2.convexHull(cnt)
    peri = cv2.arcLength(hull, True)
    out = []
    for eps in (0.01, 0.02, 0.04):
        ap = cv2.approxPolyDP(hull, eps * peri, True)
        q = _max_area_quad(ap)
        if q is not None:
            out.append(q)
            break
    rect = cv2.boxPoints(cv2.minAreaRect(hull))
    out.append(rect.astype(np.float64))
    return out


def _side_samples(quad: Quad, n_min: int = 8) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per side: (points along it, unit normal pointing away from the quad's centre)."""
    c = np.mean(np.asarray(quad, dtype=np.float64), axis=0)
    out = []
    for i in range(4):
        p, q = np.asarray(quad[i], dtype=np.float64), np.asarray(quad[(i + 1) % 4], dtype=np.float64)
        d = q - p
        length = float(np.linalg.norm(d))
        if length == 0:
            out.append((np.empty((0, 2)), np.zeros(2)))
            continue
        nrm = np.array([-d[1], d[0]]) / length
        if np.dot(nrm, (p + q) / 2 - c) < 0:
            nrm = -nrm
        ts = np.linspace(0.08, 0.92, max(n_min, int(length / 3)))
        out.append((p[None, :] + ts[:, None] * d[None, :], nrm))
    return out


def _side_support(quad: Quad, edges_dil: np.ndarray) -> list[float]:
    """Per side, the share of its points that lie on (dilated) image edges."""
    h, w = edges_dil.shape
    res = []
    for pts, _ in _side_samples(quad):
        if len(pts) == 0:
            res.append(0.0)
            continue
        xi = np.clip(np.round(pts[:, 0]).astype(int), 0, w - 1)
        yi = np.clip(np.round(pts[:, 1]).astype(int), 0, h - 1)
        res.append(float(np.count_nonzero(edges_dil[yi, xi])) / len(pts))
    return res


def _side_steps(quad: Quad, lab: np.ndarray, offset: float) -> list[float]:
    """Per side, the Lab difference between the median colour just inside and just outside.

    Sides on the image border (nothing outside) count as a full step."""
    h, w = lab.shape[:2]
    res = []
    for pts, nrm in _side_samples(quad):
        if len(pts) == 0:
            res.append(0.0)
            continue
        inner = pts - nrm * offset
        outer = pts + nrm * offset
        ok = (outer[:, 0] >= 0) & (outer[:, 0] <= w - 1) & (outer[:, 1] >= 0) & (outer[:, 1] <= h - 1)
        if ok.mean() < 0.5:
            res.append(255.0)
            continue
        def med(p: np.ndarray) -> np.ndarray:
            xi = np.clip(np.round(p[:, 0]).astype(int), 0, w - 1)
            yi = np.clip(np.round(p[:, 1]).astype(int), 0, h - 1)
            return np.median(lab[yi, xi].astype(np.float64), axis=0)
        res.append(float(np.linalg.norm(med(inner[ok]) - med(outer[ok]))))
    return res


def _line_through(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Robust line fit: (point on the line, unit direction)."""
    if len(pts) < 12:
        return None
    vx, vy, x0, y0 = cv2.fitLine(pts.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
    return np.array([x0, y0], dtype=np.float64), np.array([vx, vy], dtype=np.float64)


def _intersect(l1: tuple[np.ndarray, np.ndarray], l2: tuple[np.ndarray, np.ndarray]) -> np.ndarray | None:
    (p, d), (q, e) = l1, l2
    den = d[0] * e[1] - d[1] * e[0]
    if abs(den) < 1e-6:
        return None
    t = ((q[0] - p[0]) * e[1] - (q[1] - p[1]) * e[0]) / den
    return p + t * d


def refine_quad(quad: Quad, edges: np.ndarray, /, *, band: float, grad: tuple[np.ndarray, np.ndarray] | None = None) -> Quad:
    """Snap each side to the edge pixels within ``band`` px of it (robust line fit, middle 80% of
    the side so rounded corners do not pull it), corners = intersections of adjacent sides.
    Returns the input when the fit is missing or moves a corner by more than 2 * band."""
    h, w = edges.shape
    q = np.asarray(quad, dtype=np.float64)
    lines = []
    for i in range(4):
        p0, p1 = q[i], q[(i + 1) % 4]
        d = p1 - p0
        length = float(np.linalg.norm(d))
        if length < 1:
            return quad
        u = d / length
        nrm = np.array([-u[1], u[0]])
        a, b = p0 + 0.1 * d, p0 + 0.9 * d
        poly = np.round(np.array([a + nrm * band, b + nrm * band, b - nrm * band, a - nrm * band])).astype(np.int32)
        # only the band's bounding box: a full-image mask per side costs ~10x more
        x0, y0 = max(0, int(poly[:, 0].min())), max(0, int(poly[:, 1].min()))
        x1, y1 = min(w, int(poly[:, 0].max()) + 1), min(h, int(poly[:, 1].max()) + 1)
        if x1 <= x0 or y1 <= y0:
            ys = xs = np.empty(0, np.int64)
        else:
            m = np.zeros((y1 - y0, x1 - x0), np.uint8)
            cv2.fillConvexPoly(m, poly - np.array([x0, y0], np.int32), 1)
            ys, xs = np.nonzero(edges[y0:y1, x0:x1] & m)
            ys, xs = ys + y0, xs + x0
        if grad is not None and len(xs):
            gx, gy = grad[0][ys, xs], grad[1][ys, xs]
            along = np.abs(gx * nrm[0] + gy * nrm[1]) >= 0.9 * np.hypot(gx, gy)  # edge runs along the side
            ys, xs = ys[along], xs[along]
        line = _line_through(np.stack([xs, ys], axis=1)) if len(xs) else None
        if line is None or abs(float(np.dot(line[1], nrm))) > 0.35:  # missing, or not along the side
            line = (p0, u)
        lines.append(line)
    out = []
    for i in range(4):
        c = _intersect(lines[i - 1], lines[i])
        if c is None or np.linalg.norm(c - q[i]) > 2 * band:
            return quad
        out.append((float(c[0]), float(c[1])))
    return order_corners(out)


def _border_sides(quad: Quad, w: int, h: int) -> list[bool]:
    """Per side: does it lie along the image border?"""
    tol = 0.01 * max(w, h) + 2

    def edge_of(p: tuple[float, float]) -> set[str]:
        x, y = p
        return {k for k, v in (("l", x <= tol), ("t", y <= tol), ("r", x >= w - 1 - tol), ("b", y >= h - 1 - tol)) if v}

    return [bool(edge_of(quad[i]) & edge_of(quad[(i + 1) % 4])) for i in range(4)]


def _text_mask(gray: np.ndarray) -> np.ndarray:
    """Small high-contrast blobs (letters), either polarity."""
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9))
    bh = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, k)
    th = cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, k)
    m = cv2.max(bh, th)
    _, m = cv2.threshold(m, max(25.0, float(np.percentile(m, 97))), 255, cv2.THRESH_BINARY)
    return m


def _text_around(quad: Quad, text: np.ndarray) -> bool:
    """True when the ring just outside the quad holds about as much text as the quad itself:
    the quad is then a box printed on a card (photo, logo, panel), not the card."""
    h, w = text.shape
    q = np.asarray(quad, dtype=np.float64)
    c = q.mean(axis=0)
    inside = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(inside, np.round(q).astype(np.int32), 1)
    ring = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(ring, np.round(c + (q - c) * 1.35).astype(np.int32), 1)
    ring &= 1 - cv2.dilate(inside, np.ones((5, 5), np.uint8))
    if ring.sum() == 0:
        return False
    d_in = float(np.count_nonzero(text[inside > 0])) / max(1, int(inside.sum()))
    d_ring = float(np.count_nonzero(text[ring > 0])) / int(ring.sum())
    return d_ring > 0.005 and d_ring > 0.5 * d_in


def _cuts_text(quad: Quad, text: np.ndarray, margin: int) -> bool:
    """True when letters lie across the quad's outline (inside and outside at once)."""
    h, w = text.shape
    poly = np.round(np.asarray(quad)).astype(np.int32)
    inside = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(inside, poly, 255)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    inner = cv2.erode(inside, k)
    outer = cv2.bitwise_not(cv2.dilate(inside, k))
    # join letters into words so a word cut by the outline is one component
    words = cv2.dilate(text, cv2.getStructuringElement(cv2.MORPH_RECT, (7, 3)))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(words, connectivity=8)
    if n <= 1:
        return False
    small = (stats[:, cv2.CC_STAT_HEIGHT] < h / 8) & (stats[:, cv2.CC_STAT_WIDTH] < w / 3)
    small[0] = False
    in_ids = np.unique(lab[(inner > 0) & (words > 0)])
    out_ids = np.unique(lab[(outer > 0) & (words > 0)])
    cut = np.intersect1d(in_ids, out_ids)
    cut = cut[small[cut]]
    if len(cut) == 0:
        return False
    cut_area = float(stats[cut, cv2.CC_STAT_AREA].sum())
    inside_text = float(np.count_nonzero(words[inner > 0])) + 1.0
    return len(cut) >= 2 and cut_area / inside_text > 0.04


def _reject(rejected: list[tuple[str, Quad, str]] | None, source: str, quad: Quad, why: str) -> None:
    if rejected is not None:
        rejected.append((source, quad, why))


@dataclass
class _Maps:
    """What the checks of a candidate look at, made once per work copy."""
    rgb: np.ndarray
    edges: np.ndarray  # Canny edges
    edges_dil: np.ndarray  # ... dilated (side support)
    text: np.ndarray  # letter-like blobs
    grad: tuple[np.ndarray, np.ndarray]  # Sobel x, y of the blurred gray image
    _lab: np.ndarray | None = None

    @property
    def lab(self) -> np.ndarray:
        """Lab image for the colour-step check, made on first use."""
        if self._lab is None:
            self._lab = cv2.cvtColor(cv2.GaussianBlur(self.rgb, (5, 5), 0), cv2.COLOR_RGB2LAB)
        return self._lab


def _maps(rgb: np.ndarray) -> _Maps:
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    edges = _edge_map(gray)
    blur = cv2.GaussianBlur(gray, (5, 5), 0)
    grad = (cv2.Sobel(blur, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(blur, cv2.CV_32F, 0, 1, ksize=3))
    return _Maps(rgb, edges, cv2.dilate(edges, np.ones((7, 7), np.uint8)), _text_mask(gray), grad)


def _vet(m: _Maps, name: str, quad: Quad, fill: float,
         rejected: list[tuple[str, Quad, str]] | None) -> _Cand | None:
    """The candidate after refining its sides, or None when a check fails (reason in ``rejected``)."""
    h, w = m.edges.shape
    area = quad_area(quad)
    quad = refine_quad(quad, m.edges, band=max(4.0, 0.012 * max(w, h)), grad=m.grad)
    if not check_quad(quad, (w, h)).ok:
        return None
    on_border = _border_sides(quad, w, h)
    sides = [1.0 if b else v for b, v in zip(on_border, _side_support(quad, m.edges_dil))]
    support = float(np.mean(sides))
    if support < MIN_EDGE_SUPPORT or min(sides) < MIN_SIDE_SUPPORT:
        _reject(rejected, name, quad, "edge support " + " ".join(f"{v:.2f}" for v in sides))
        return None
    share = area / float(w * h)
    if sum(on_border) >= 3:
        _reject(rejected, name, quad, "the frame itself, not a card edge")
        return None
    if share < 0.5 and any(on_border[i] and on_border[i - 1] for i in range(4)):
        _reject(rejected, name, quad, "in a corner of the frame")
        return None  # an object cut by the frame: its text may be cut too
    steps = _side_steps(quad, m.lab, offset=max(3.0, 0.012 * max(w, h)))
    if any(st < MIN_SIDE_STEP and su < 0.75 for st, su in zip(steps, sides)):
        _reject(rejected, name, quad, "colour step " + " ".join(f"{v:.0f}" for v in steps))
        return None
    if _text_around(quad, m.text):
        _reject(rejected, name, quad, "text around it: a panel printed on a card")
        return None
    if _cuts_text(quad, m.text, margin=max(3, int(0.006 * max(w, h)))):
        _reject(rejected, name, quad, "cuts through text")
        return None
    ar = quad_aspect(quad)
    aspect_fit = 1.0 if 1.45 <= ar <= 1.95 else max(0.0, 1.0 - min(abs(ar - 1.45), abs(ar - 1.95)) / 0.5)
    step_fit = min(1.0, min(steps) / 40.0)
    score = 0.35 * support + 0.25 * aspect_fit + 0.15 * fill + 0.25 * step_fit
    if score < MIN_SCORE:
        _reject(rejected, name, quad, f"score {score:.2f}")
        return None
    return _Cand(quad, score, area, name)


def _candidates(rgb: np.ndarray, rejected: list[tuple[str, Quad, str]] | None = None,
                maps: _Maps | None = None) -> list[_Cand]:
    h, w = rgb.shape[:2]
    m = maps if maps is not None else _maps(rgb)
    sources: list[tuple[str, np.ndarray]] = [("edges", cv2.dilate(m.edges, np.ones((3, 3), np.uint8), iterations=2))]
    sources += _segment_masks(rgb)
    min_area = MIN_AREA_SHARE * w * h
    raw: list[tuple[str, np.ndarray, float]] = []
    for name, mask in sources:
        mode = cv2.RETR_LIST if name == "edges" else cv2.RETR_EXTERNAL
        cnts, _ = cv2.findContours(mask, mode, cv2.CHAIN_APPROX_SIMPLE)
        cnts = sorted((c for c in cnts if cv2.contourArea(cv2.convexHull(c)) >= min_area), key=cv2.contourArea, reverse=True)[:12]
        for c in cnts:
            carea = cv2.contourArea(c)
            for q in _quads_from_contour(c):
                raw.append((name, q, carea))
    out: list[_Cand] = []
    seen: list[np.ndarray] = []
    for name, q, carea in raw:
        quad = order_corners(np.clip(q, [0, 0], [w - 1, h - 1]))
        chk = check_quad(quad, (w, h))
        if not chk.ok:
            continue
        qa = np.asarray(quad)
        if any(np.abs(qa - s).max() < 0.01 * max(w, h) for s in seen):
            continue
        seen.append(qa)
        area = quad_area(quad)
        fill = min(1.0, carea / area) if name != "edges" else 1.0
        if fill < 0.8:
            _reject(rejected, name, quad, f"fill {fill:.2f}")
            continue
        cand = _vet(m, name, quad, fill, rejected)
        if cand is not None:
            out.append(cand)
    return out


TEXT_NEAR_MIN_PX = 12  # letter pixels just beyond a side that make a quad suspect, at the least
TEXT_BEYOND_DEPTH = 0.5  # "just beyond": this share of the quad's depth (a panel at one end of a card)
TEXT_BEYOND_RATIO = 1.0  # a contour quad with more letter pixels just beyond a side than inside is a panel


def _text_beyond_side(cand: _Cand, cands: Sequence[_Cand], text: np.ndarray) -> bool:
    """True when more letters lie just beyond one side of the candidate (a strip half its depth,
    less the other candidates beside it) than inside it: the quad is a coloured panel or band of
    a larger printed card, and cropping to it would lose most of the card's text."""
    h, w = text.shape
    q = np.asarray(cand.quad, dtype=np.float64)
    inside = _fill((h, w), [cand.quad])
    others = [c.quad for c in cands if c is not cand and _overlap(c.quad, cand.quad, (h, w)) < 0.3]
    free = 1 - cv2.dilate(inside | _fill((h, w), others), np.ones((5, 5), np.uint8))
    limit = max(TEXT_NEAR_MIN_PX, TEXT_BEYOND_RATIO * int(np.count_nonzero(text[inside > 0])))
    for i in range(4):
        p0, p1 = q[i], q[(i + 1) % 4]
        out = (p0 + p1) / 2 - (q[(i + 2) % 4] + q[(i + 3) % 4]) / 2  # towards this side: outwards
        beyond = _fill((h, w), [[p0, p1, p1 + TEXT_BEYOND_DEPTH * out, p0 + TEXT_BEYOND_DEPTH * out]]) & free
        if np.count_nonzero(text[beyond > 0]) > limit:
            return True
    return False


def _overlap(a: Quad, b: Quad, shape: tuple[int, int]) -> float:
    """Intersection over the smaller area."""
    ma = np.zeros(shape, np.uint8)
    mb = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(ma, np.round(np.asarray(a)).astype(np.int32), 1)
    cv2.fillConvexPoly(mb, np.round(np.asarray(b)).astype(np.int32), 1)
    inter = np.count_nonzero(ma & mb)
    return inter / max(1, min(np.count_nonzero(ma), np.count_nonzero(mb)))


def _select(cands: list[_Cand], shape: tuple[int, int]) -> list[_Cand]:
    """Non-overlapping candidates, largest first: a quad that contains another is the card and
    the inner one a printed panel, photo or logo on it."""
    chosen: list[_Cand] = []
    for c in sorted(cands, key=lambda c: (c.area, c.score), reverse=True):
        if all(_overlap(c.quad, k.quad, shape) < 0.3 for k in chosen):
            chosen.append(c)
    return chosen


def _scaled(c: _Cand, f: float) -> _Cand:
    """The candidate in image coordinates (work-copy coordinates divided by ``f``)."""
    return _Cand(tuple((x / f, y / f) for x, y in c.quad), c.score, c.area / (f * f), c.source)  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Detection:
    chosen: list[_Cand]  # in image coordinates, largest first (what ``_detect`` returns)
    chosen_work: list[_Cand]  # the same in work-copy coordinates
    cands: list[_Cand]  # every candidate that passed the checks, work-copy coordinates
    small: np.ndarray  # the work copy detection ran on
    f: float  # work copy / image scale


def _detect_full(rgb: np.ndarray) -> _Detection:
    small, f = _work_copy(rgb)
    maps = _maps(small)
    cands = _candidates(small, maps=maps)
    cands = [c for c in cands if not _text_beyond_side(c, cands, maps.text)]
    chosen = _select(cands, small.shape[:2])
    return _Detection([_scaled(c, f) for c in chosen], chosen, cands, small, f)


def _detect(rgb: np.ndarray) -> list[_Cand]:
    return _detect_full(rgb).chosen


def detect_cards(img: DecodedImage | np.ndarray, /) -> list[Quad]:
    """Every card-like quad in the image (corners TL, TR, BR, BL in image pixels), largest first."""
    rgb = img.pixels if isinstance(img, DecodedImage) else img
    return [c.quad for c in _detect(rgb)]


# ---------------------------------------------------------------------------------------------
# Warp, deskew, orientation, polarity
# ---------------------------------------------------------------------------------------------


def warp_card(rgb: np.ndarray, quad: Sequence[Sequence[float]], /, *, long_side: int = CARD_LONG_SIDE) -> np.ndarray:
    """Perspective-flatten the quad to (warp_size) pixels."""
    q = np.asarray(order_corners(quad), dtype=np.float32)
    w, h = warp_size(q, long_side=long_side)
    dst = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(q, dst)
    src_long = max(np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[3] - q[0]))
    interp = cv2.INTER_AREA if src_long > long_side * 1.2 else cv2.INTER_CUBIC
    return cv2.warpPerspective(rgb, m, (w, h), flags=interp, borderMode=cv2.BORDER_REPLICATE)


def _profile_scores(pts: np.ndarray, shape: tuple[int, int], angles: np.ndarray) -> np.ndarray:
    """Sharpness of the row profile of mask points ``pts`` (x, y) rotated by each angle (degrees
    counter-clockwise about the image centre, as cv2.getRotationMatrix2D): the variance of the
    profile's differences. Points rotated out of the (h, w) frame are dropped, as a same-size
    warp would drop them. Computed from the points, not by warping the mask once per angle."""
    h, w = shape
    rad = np.radians(np.asarray(angles, dtype=np.float64))
    cx, cy = w / 2.0, h / 2.0
    x = pts[:, 0].astype(np.float64) - cx
    y = pts[:, 1].astype(np.float64) - cy
    # row of each point after rotation, one row of the result per angle
    rows = np.rint(np.outer(-np.sin(rad), x) + np.outer(np.cos(rad), y) + cy).astype(np.int64)
    ok = (rows >= 0) & (rows < h)
    idx = (rows + np.arange(len(rad))[:, None] * h)[ok]
    prof = np.bincount(idx, minlength=len(rad) * h).reshape(len(rad), h).astype(np.float64)
    return np.var(np.diff(prof, axis=1), axis=1)


def estimate_skew(rgb: np.ndarray, /, *, max_angle: float = MAX_SKEW) -> float:
    """Degrees counter-clockwise to rotate so text lines are horizontal (or vertical); 0 if unsure.

    Searches the row (and column) projection profile of a letter mask for the sharpest profile.
    """
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    h, w = gray.shape
    f = min(1.0, 600 / max(h, w))
    if f < 1.0:
        gray = cv2.resize(gray, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    mask = _text_mask(gray)
    if np.count_nonzero(mask) < 50:
        return 0.0
    mh, mw = mask.shape
    ys, xs = np.nonzero(mask)
    # the mask as it is, and turned 90 degrees clockwise (vertical text lines)
    views = ((np.stack([xs, ys], axis=1), (mh, mw)), (np.stack([mh - 1 - ys, xs], axis=1), (mw, mh)))
    best = (0.0, -1.0)
    zero = 0.0
    coarse_angles = np.arange(-max_angle, max_angle + 0.01, 1.0)
    for pts, shape in views:
        coarse = _profile_scores(pts, shape, coarse_angles)
        a0 = float(coarse_angles[int(np.argmax(coarse))])
        fine_angles = np.arange(a0 - 1.0, a0 + 1.01, 0.1)
        fine = _profile_scores(pts, shape, fine_angles)
        i = int(np.argmax(fine))
        if fine[i] > best[1]:
            best = (float(fine_angles[i]), float(fine[i]))
        zero = max(zero, float(_profile_scores(pts, shape, np.zeros(1))[0]))
    angle = float(round(best[0], 1))
    if abs(angle) < 0.3 or best[1] < zero * 1.05:
        return 0.0
    return angle


def rotate_bound(rgb: np.ndarray, angle: float, /) -> np.ndarray:
    """Rotate counter-clockwise by ``angle`` degrees, growing the canvas so nothing is cut off."""
    if angle == 0:
        return rgb
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(math.ceil(h * sin + w * cos)), int(math.ceil(h * cos + w * sin))
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    fill = tuple(int(v) for v in np.median(np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]), axis=0))
    return cv2.warpAffine(rgb, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=fill)


def rotate_right_angle(rgb: np.ndarray, degrees_cw: int, /) -> np.ndarray:
    """Rotate clockwise by 0, 90, 180 or 270 degrees."""
    k = (degrees_cw // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, k=-k)) if k else rgb


def is_dark_background(rgb: np.ndarray, /) -> bool:
    """True when most of the card (away from its edge) is darker than its text: light-on-dark."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    h, w = gray.shape
    inner = gray[h // 10 : h - h // 10, w // 10 : w - w // 10]
    if inner.size == 0:
        inner = gray
    t, _ = cv2.threshold(inner, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark_share = float(np.count_nonzero(inner <= t)) / inner.size
    return dark_share > 0.6 and float(np.median(inner)) < 110


def ocr_variants(card: CardImage, /) -> list[np.ndarray]:
    """Extra looks at the card for OCR, best first; each (H, W, 3) uint8 with the card's geometry.

    1. gray with CLAHE contrast, inverted when the card is light-on-dark (dark text on light);
    2. that, Otsu-binarised;
    3. that, adaptive-threshold binarised (uneven light).
    """
    gray = cv2.cvtColor(card.pixels, cv2.COLOR_RGB2GRAY)
    if card.inverted:
        gray = cv2.bitwise_not(gray)
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(gray)
    _, otsu = cv2.threshold(cv2.GaussianBlur(clahe, (3, 3), 0), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    block = max(15, (min(gray.shape) // 30) | 1)
    adapt = cv2.adaptiveThreshold(clahe, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, block, 15)
    return [cv2.cvtColor(g, cv2.COLOR_GRAY2RGB) for g in (clahe, otsu, adapt)]


def safe_orient(orient: Callable[[np.ndarray], int], rgb: np.ndarray) -> int:
    try:
        deg = int(orient(rgb)) % 360
    except Exception as e:  # orientation is a hint; a failing detector must not lose the card
        log.warning("orientation detection failed (%s); keeping the card as it is", e)
        return 0
    return deg if deg in (0, 90, 180, 270) else 0


def preprocess(img: DecodedImage, /, *, orient: Callable[[np.ndarray], int] | None = None) -> CardImage:
    """Crop, flatten, straighten and turn the card upright (see the module docstring)."""
    cards = _detect(img.pixels)
    return _finish_card(img.pixels, cards[0] if cards else None, orient)


def whole_photo(img: DecodedImage, /) -> CardImage:
    """The photo passed whole (straightened, its polarity checked), as when no card is found: for
    a card-like shape that held no text (a phone, a notebook beside the card)."""
    return _finish_card(img.pixels, None, None)


def _finish_card(rgb: np.ndarray, best: _Cand | None, orient: Callable[[np.ndarray], int] | None,
                 *, long_side: int = CARD_LONG_SIDE) -> CardImage:
    """Warp the chosen quad (or pass the whole image through), deskew, orient, check polarity."""
    quad: Quad | None = None
    method = "passthrough"
    if best is not None:
        quad = best.quad
        method = "contour"
        card = warp_card(rgb, quad, long_side=long_side)
        log.debug("card found by %s, score %.2f", best.source, best.score)
    else:
        card = rgb
    skew = estimate_skew(card)
    if skew:
        card = rotate_bound(card, skew)
    rotation = 0
    if orient is not None:
        rotation = safe_orient(orient, card)
        card = rotate_right_angle(card, rotation)
    inverted = is_dark_background(card)
    return CardImage(
        pixels=np.ascontiguousarray(card, dtype=np.uint8),
        quad=quad,
        rotation=rotation,
        skew=float(skew),
        inverted=inverted,
        method=method,
    )


# ---------------------------------------------------------------------------------------------
# Several cards in one photo
# ---------------------------------------------------------------------------------------------

MULTI_AREA_RATIO = 2.5  # the cards of one photo are within this factor of the largest one's area
MULTI_MIN_ASPECT, MULTI_MAX_ASPECT = 1.3, 2.1  # stricter than a lone card: a wrong split costs more
MULTI_MAX_OVERLAP = 0.05  # cards laid side by side do not overlap
MULTI_MIN_GAP = 0.02  # ... nor touch: the gap between two is at least this share of the smaller's long side
MULTI_MIN_TEXT = 0.008  # share of letter pixels inside each card (a blank phone screen, a notebook: none)
MULTI_MIN_CARD_SIDE = 900  # px: a card's long side below this in the decoded image asks for a larger decode
MULTI_MAX_DECODE_SIDE = 6000  # px: never decode larger than this for a photo of several cards
BED_MIN_SHARE = 0.03  # on a scanner bed a card may be small: 8 cards on an A4 bed are ~7% each
BED_MIN_LIGHTNESS = 200  # 8-bit Lab L of the image border for it to count as a scanner bed
BED_MAX_SPREAD = 8.0  # Lab spread of the border colour: a bed is even
BED_MIN_STEP = 3.5  # Lab distance from the bed colour that counts as card (weak edges on a flatbed)


def _fill(shape: tuple[int, int], quads: Sequence[Sequence[Sequence[float]]]) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    for q in quads:
        cv2.fillConvexPoly(m, np.round(np.asarray(q)).astype(np.int32), 1)
    return m


def _bed_cards(small: np.ndarray, lab: np.ndarray, bed: tuple[np.ndarray, float]) -> list[_Cand]:
    """Cards on a scanner bed (``_bed_colour``): solid rectangles that differ (even slightly)
    from it. A white card whose edge does not show at all is not found here: its text alone is no
    evidence of where it ends."""
    h, w = small.shape[:2]
    bg, spread = bed
    diff = cv2.subtract(lab.astype(np.float32), tuple(float(v) for v in bg) + (0.0,))
    dist = cv2.sqrt(cv2.transform(cv2.multiply(diff, diff), np.ones((1, 3), np.float32))).reshape(h, w)
    mask = np.where(dist > max(BED_MIN_STEP, 2.0 * spread), 255, 0).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    cnts, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for c in cnts:
        carea = cv2.contourArea(c)
        if carea < BED_MIN_SHARE * w * h:
            continue
        quad = order_corners(cv2.boxPoints(cv2.minAreaRect(c)))
        area = quad_area(quad)
        if area <= 0 or carea / area < 0.9 or any(_border_sides(quad, w, h)):
            continue
        if not MIN_ASPECT <= quad_aspect(quad) <= MAX_ASPECT:
            continue
        out.append(_Cand(quad, carea / area, area, "bed"))
    return sorted(out, key=lambda c: c.area, reverse=True)


def _gap(a: Quad, b: Quad) -> float:
    """Shortest distance between two convex quads (0 when they touch or overlap)."""
    pa, pb = (np.asarray(q, np.float32).reshape(-1, 1, 2) for q in (a, b))
    d = min(-cv2.pointPolygonTest(pb, (float(x), float(y)), True) for x, y in np.asarray(a))
    d = min(d, min(-cv2.pointPolygonTest(pa, (float(x), float(y)), True) for x, y in np.asarray(b)))
    return max(0.0, float(d))


def _one_card_in_pieces(quads: Sequence[Quad], lab: np.ndarray) -> bool:
    """True when the quads tile one card-shaped area and what lies between them is not the table:
    the parts of one card (a fold, a printed line, panels), not several cards."""
    h, w = lab.shape[:2]
    pts = np.concatenate([np.asarray(q, np.float32) for q in quads])
    hull = order_corners(cv2.boxPoints(cv2.minAreaRect(pts)))
    hull_area = quad_area(hull)
    if hull_area <= 0:
        return True
    cover = sum(quad_area(q) for q in quads) / hull_area
    if not (MIN_ASPECT <= quad_aspect(hull) <= MAX_ASPECT and cover >= 0.7):
        return False  # spread out, or not card-shaped together
    margin = max(2, int(0.01 * max(h, w)))
    k = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    inside = _fill((h, w), [hull])
    gap = inside & (1 - cv2.dilate(_fill((h, w), quads), k))
    if np.count_nonzero(gap) < 0.01 * hull_area:
        return True  # touching: nothing between them
    c = np.mean(np.asarray(hull), axis=0)
    ring = _fill((h, w), [c + (np.asarray(hull) - c) * 1.15]) & (1 - cv2.dilate(inside, k))
    if np.count_nonzero(ring) == 0:
        return True
    step = float(np.linalg.norm(np.median(lab[gap > 0].astype(np.float64), axis=0)
                                - np.median(lab[ring > 0].astype(np.float64), axis=0)))
    return step > 2 * MIN_SIDE_STEP


def _has_letters(quad: Quad, text: np.ndarray) -> bool:
    """True when the quad (less a thin margin) holds letter-like blobs: a card has printing."""
    inner = cv2.erode(_fill(text.shape, [quad]), np.ones((7, 7), np.uint8))
    n = int(np.count_nonzero(inner))
    return n > 0 and np.count_nonzero(text[inner > 0]) >= MULTI_MIN_TEXT * n


def _plausible_set(cands: Sequence[_Cand], lab: np.ndarray, text: np.ndarray) -> list[_Cand]:
    """The cards of ``cands`` when they look like several cards laid side by side, else []."""
    h, w = lab.shape[:2]
    top = max(c.area for c in cands)
    keep = [c for c in cands if c.area * MULTI_AREA_RATIO >= top
            and MULTI_MIN_ASPECT <= quad_aspect(c.quad) <= MULTI_MAX_ASPECT
            and not any(_border_sides(c.quad, w, h))]  # cut by the frame: its text may be cut too
    if len(keep) < 2:
        return []
    keep = [c for c in keep if _has_letters(c.quad, text)]
    if len(keep) < 2:
        return []
    for a, b in itertools.combinations(keep, 2):
        if _gap(a.quad, b.quad) < MULTI_MIN_GAP * min(_sides(a.quad)[0], _sides(b.quad)[0]):
            return []  # touching or overlapping: one lies on the other, or they are parts of one
    if _one_card_in_pieces([c.quad for c in keep], lab):
        return []
    return keep


def _bed_colour(small: np.ndarray) -> tuple[np.ndarray, float] | None:
    """(Lab colour, spread) of a scanner bed when the image border is light and even, else None."""
    h, w = small.shape[:2]
    b = max(2, min(h, w) // 40)
    strips = np.concatenate([small[:b].reshape(-1, 3), small[-b:].reshape(-1, 3), small[:, :b].reshape(-1, 3),
                             small[:, -b:].reshape(-1, 3)])
    border = cv2.cvtColor(strips.reshape(-1, 1, 3), cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
    bg = np.median(border, axis=0)
    spread = float(np.percentile(np.linalg.norm(border - bg, axis=1), 90))
    if bg[0] < BED_MIN_LIGHTNESS or spread > BED_MAX_SPREAD:
        return None
    return bg, spread


def _several(det: _Detection) -> list[_Cand]:
    """The cards (work-copy coordinates) when the photo shows several, else [] (one card or none).

    Three ways to see several: the detector's own non-overlapping choices are of similar size; the
    largest choice is a group of cards (its inside holds similar card quads with table between
    them); or, on a scanner bed, several solid rectangles stand out from the bed colour. Cheap
    tests first: a photo of one card on a table costs a border-colour check and no more."""
    small = det.small
    shape = small.shape[:2]
    chosen = det.chosen_work
    top = chosen[0] if chosen else None
    siblings = [c for c in chosen if top is not None and c.area * MULTI_AREA_RATIO >= top.area]
    inside = [c for c in det.cands if top is not None and c.area <= 0.6 * top.area]
    bed_bg = _bed_colour(small)
    if len(siblings) < 2 and len(inside) < 2 and bed_bg is None:
        return []
    lab = cv2.cvtColor(cv2.GaussianBlur(small, (5, 5), 0), cv2.COLOR_RGB2LAB)
    text = _text_mask(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
    found: list[_Cand] = []
    if len(siblings) >= 2:
        found = _plausible_set(chosen, lab, text)
    if top is not None and not found and len(inside) >= 2:
        inner = _select([c for c in inside if _overlap(c.quad, top.quad, shape) > 0.9], shape)
        if len(inner) >= 2 and sum(c.area for c in inner) >= 0.4 * top.area:
            others = [c for c in chosen[1:] if _overlap(c.quad, top.quad, shape) < MULTI_MAX_OVERLAP]
            found = _plausible_set(inner + others, lab, text)
    if bed_bg is not None:
        bed = _bed_cards(small, lab, bed_bg)
        if len(bed) > len(found):
            found = _plausible_set(_select(found + bed, shape), lab, text) or found
    return _reading_order(found)


def _source(rgb: np.ndarray, cards: list[_Cand], larger: Callable[[int], DecodedImage] | None) -> tuple[np.ndarray, float]:
    """The pixels to warp the cards from, and their scale to ``rgb``: the photo decoded larger when
    a card's long side is under MULTI_MIN_CARD_SIDE px and the file has more pixels, else ``rgb``."""
    longest = min(_sides(c.quad)[0] for c in cards)
    if longest >= MULTI_MIN_CARD_SIDE or larger is None:
        return rgb, 1.0
    side = max(rgb.shape[:2])
    want = min(MULTI_MAX_DECODE_SIDE, int(math.ceil(side * MULTI_MIN_CARD_SIDE / longest)))
    try:
        big = larger(want)
    except Exception as e:  # noqa: BLE001 - the smaller decode is still good to read
        log.warning("could not decode the photo larger (%s); reading the card%s at %d px", e,
                    "s" if len(cards) > 1 else "", side)
        return rgb, 1.0
    k = big.pixels.shape[1] / rgb.shape[1]
    if k <= 1.01:
        return rgb, 1.0
    log.debug("%d px the smallest card: warped from a %d px decode", longest, max(big.pixels.shape[:2]))
    return big.pixels, k


def _sides(quad: Quad) -> tuple[float, float]:
    """(long, short) side of the flattened quad in its own pixels (means of opposite sides)."""
    tl, tr, br, bl = order_corners(quad)
    w = (math.dist(tr, tl) + math.dist(br, bl)) / 2.0
    h = (math.dist(bl, tl) + math.dist(br, tr)) / 2.0
    return max(w, h), min(w, h)


def _reading_order(cands: list[_Cand]) -> list[_Cand]:
    """Rows top to bottom, left to right in a row (a row: centres within half a card's height)."""
    if not cands:
        return []
    cent = {id(c): np.mean(np.asarray(c.quad), axis=0) for c in cands}
    tol = 0.5 * min(_sides(c.quad)[1] for c in cands)
    rows: list[list[_Cand]] = []
    for c in sorted(cands, key=lambda c: cent[id(c)][1]):
        if rows and cent[id(c)][1] - cent[id(rows[-1][0])][1] <= tol:
            rows[-1].append(c)
        else:
            rows.append([c])
    return [c for row in rows for c in sorted(row, key=lambda c: cent[id(c)][0])]


def find_several_cards(img: DecodedImage | np.ndarray, /) -> list[Quad]:
    """The quads (image pixels, TL, TR, BR, BL) of each card when the photo shows several cards,
    in reading order; [] when it shows one card or none."""
    rgb = img.pixels if isinstance(img, DecodedImage) else img
    det = _detect_full(rgb)
    return [_scaled(c, det.f).quad for c in _several(det)]


def preprocess_all(img: DecodedImage, /, *, orient: Callable[[np.ndarray], int] | None = None,
                   larger: Callable[[int], DecodedImage] | None = None) -> list[CardImage]:
    """Every card of the photo, each cropped, flattened, straightened and upright.

    One card (or none found): ``[preprocess(img)]``, byte for byte and from the same detection.
    Several cards: one CardImage per card in reading order, ``quad`` in ``img`` pixels. When a card
    is smaller than ``MULTI_MIN_CARD_SIDE`` px and ``larger`` is given, ``larger(max_side)`` decodes
    the photo again at that long side and the cards are warped from it (one card too: then its
    ``quad`` is in ``img`` pixels as well).
    """
    rgb = img.pixels
    det = _detect_full(rgb)
    several = _several(det)
    if len(several) < 2:
        best = det.chosen[0] if det.chosen else None
        if best is not None:
            src, k = _source(rgb, [best], larger)
            if k > 1.0:  # a small card in a photo decoded reduced: warped from the file's own pixels
                return [replace(_finish_card(src, _scaled(best, 1.0 / k), orient), quad=best.quad)]
        return [_finish_card(rgb, best, orient)]
    cards = [_scaled(c, det.f) for c in several]
    src, k = _source(rgb, cards, larger)
    out = []
    for c in cards:
        card = _finish_card(src, _scaled(c, 1.0 / k), orient)  # the quad in ``src`` pixels
        out.append(CardImage(card.pixels, quad=c.quad, rotation=card.rotation, skew=card.skew,
                             inverted=card.inverted, method="several"))
    log.debug("%d cards in the photo", len(out))
    return out
