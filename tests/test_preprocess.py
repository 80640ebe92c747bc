from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import pytest
import pytesseract
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from cardscan.models import CardImage, DecodedImage
from cardscan.reading.preprocess import (
    MAX_AREA_SHARE,
    MIN_AREA_SHARE,
    check_quad,
    detect_cards,
    estimate_skew,
    is_convex,
    ocr_variants,
    order_corners,
    preprocess,
    quad_area,
    quad_aspect,
    rotate_bound,
    warp_size,
)
from imaging_fixtures import KNOWN_WORD, card_corners, font, photo_scene, place, render_card, wood_background


def decoded(rgb: np.ndarray) -> DecodedImage:
    return DecodedImage(pixels=rgb, format="PNG", original_size=(rgb.shape[1], rgb.shape[0]))


def ocr_text(rgb: np.ndarray) -> str:
    return pytesseract.image_to_string(Image.fromarray(rgb), config="--psm 3")


def osd_orient(rgb: np.ndarray) -> int:
    """Degrees clockwise to turn the image upright, from Tesseract OSD."""
    return int(pytesseract.image_to_osd(Image.fromarray(rgb), output_type=pytesseract.Output.DICT)["rotate"])


def corner_error(found: tuple[tuple[float, float], ...], truth: np.ndarray) -> float:
    """Largest corner distance over the card's diagonal, best over the 4 cyclic starts."""
    f = np.asarray(found)
    t = np.asarray(order_corners(truth))
    diag = float(np.linalg.norm(t[2] - t[0]))
    return min(float(np.linalg.norm(np.roll(f, k, axis=0) - t, axis=1).max()) for k in range(4)) / diag


# ---- geometry (pure) -------------------------------------------------------------------------

quads = st.builds(
    lambda cx, cy, w, ar, ang, tilt: card_corners(cx, cy, w, ar, ang, tilt=tilt),
    st.floats(200, 800),
    st.floats(200, 800),
    st.floats(100, 600),
    st.floats(1.0, 2.2),
    st.floats(-44, 44),
    st.floats(0.0, 0.3),
)


@settings(max_examples=200, deadline=None)
@given(quads, st.permutations(range(4)))
def test_order_corners_is_permutation_invariant_and_clockwise(q: np.ndarray, perm: list[int]) -> None:
    a = order_corners(q)
    b = order_corners(q[perm])
    assert np.allclose(a, b)
    p = np.asarray(a)
    signed = np.sum(p[:, 0] * np.roll(p[:, 1], -1) - np.roll(p[:, 0], -1) * p[:, 1]) / 2
    assert signed > 0  # clockwise on screen (y down)
    assert np.argmin(p.sum(axis=1)) == 0 or math.isclose(p[0].sum(), p.sum(axis=1).min())
    assert is_convex(a)
    assert quad_area(a) == pytest.approx(quad_area(q))


@settings(max_examples=200, deadline=None)
@given(quads, st.integers(200, 3000))
def test_warp_size_keeps_proportions(q: np.ndarray, long_side: int) -> None:
    w, h = warp_size(q, long_side=long_side)
    assert max(w, h) == long_side
    tl, tr, br, bl = (np.asarray(p) for p in order_corners(q))
    sw = (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    sh = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    assert w / h == pytest.approx(sw / sh, rel=0.02, abs=2 / min(w, h))


@settings(max_examples=200, deadline=None)
@given(quads)
def test_check_quad_rejects_what_is_not_card_shaped(q: np.ndarray) -> None:
    res = check_quad(q, (1000, 1000))
    ar = quad_aspect(q)
    if res.ok:
        assert 1.25 <= ar <= 2.25
        assert MIN_AREA_SHARE <= quad_area(q) / 1e6 <= MAX_AREA_SHARE
    if ar < 1.2:
        assert not res.ok


def test_check_quad_cases() -> None:
    assert check_quad(card_corners(500, 500, 600, 1.75, 0), (1000, 1000)).ok
    assert not check_quad(card_corners(500, 500, 600, 1.0, 0), (1000, 1000)).ok  # square
    assert not check_quad(card_corners(500, 500, 120, 1.75, 0), (1000, 1000)).ok  # tiny
    bow = np.array([[0, 0], [600, 343], [600, 0], [0, 343]], float)
    assert not is_convex(bow)


# ---- finding the card ------------------------------------------------------------------------


@pytest.mark.parametrize(("angle", "tilt"), [(0.0, 0.0), (8.0, 0.08), (-17.0, 0.15), (30.0, 0.05)])
def test_card_on_wood_found_within_few_percent(angle: float, tilt: float) -> None:
    scene = photo_scene(angle=angle, tilt=tilt)
    found = detect_cards(decoded(scene.image))
    assert found, "no card found"
    assert corner_error(found[0], scene.quads[0]) < 0.03


def test_portrait_card_found() -> None:
    bg = wood_background(1200, 1600, seed=4)
    card = np.ascontiguousarray(np.rot90(render_card()))  # a card photographed in portrait
    q = card_corners(600, 800, 600 / 1.75, 1 / 1.75, -6)
    img = place(bg, card, q)
    found = detect_cards(decoded(img))
    assert found and corner_error(found[0], q) < 0.03


def test_preprocess_then_ocr_reads_the_card() -> None:
    scene = photo_scene(angle=12.0, tilt=0.1)
    card = preprocess(decoded(scene.image))
    assert card.method == "contour" and card.quad is not None
    h, w = card.pixels.shape[:2]
    assert 1400 <= max(h, w) <= 1600 and w > h
    assert w / h == pytest.approx(1.75, rel=0.08)
    text = ocr_text(card.pixels)
    assert KNOWN_WORD in text
    assert "quentin@blackthorn.example" in text.replace(" ", "")


@pytest.mark.parametrize("k", [1, 2, 3])  # the photo turned 90, 180, 270 degrees counter-clockwise
def test_orientation_fixed_with_osd(k: int) -> None:
    scene = photo_scene(angle=5.0, tilt=0.05)
    turned = np.ascontiguousarray(np.rot90(scene.image, k))
    card = preprocess(decoded(turned), orient=osd_orient)
    assert card.rotation == (90 * k) % 360
    assert card.pixels.shape[1] > card.pixels.shape[0]
    assert KNOWN_WORD in ocr_text(card.pixels)


def test_failing_orient_keeps_the_card() -> None:
    def broken(_: np.ndarray) -> int:
        raise RuntimeError("osd crashed")

    card = preprocess(decoded(photo_scene().image), orient=broken)
    assert card.rotation == 0 and card.method == "contour"


def test_two_cards_in_one_shot_largest_first() -> None:
    bg = wood_background(2000, 1200, seed=2)
    q1 = card_corners(560, 600, 820, 1.75, 5)
    q2 = card_corners(1540, 620, 620, 1.75, -9)
    img = place(place(bg, render_card(), q1), render_card(accent=(160, 40, 40)), q2)
    found = detect_cards(decoded(img))
    assert len(found) == 2
    assert corner_error(found[0], q1) < 0.03 and corner_error(found[1], q2) < 0.03


def test_partial_second_card_at_frame_edge_is_not_chosen() -> None:
    bg = wood_background(1600, 1200, seed=3)
    q_other = card_corners(1500, 1050, 700, 1.75, 20)  # mostly out of frame
    q_main = card_corners(700, 520, 900, 1.75, -4, tilt=0.05)
    img = place(place(bg, render_card(), q_other), render_card(), q_main)
    card = preprocess(decoded(img))
    assert card.quad is not None and corner_error(card.quad, q_main) < 0.03


def test_flat_scan_passes_through_untouched() -> None:
    scan = render_card()
    card = preprocess(decoded(scan))
    assert card.method == "passthrough" and card.quad is None
    assert card.skew == 0.0 and card.rotation == 0 and not card.inverted
    assert np.array_equal(card.pixels, scan)


def test_skewed_scan_is_straightened() -> None:
    page = np.full((900, 1300, 3), 252, np.uint8)
    page[150:750, 125:1175] = render_card(accent=None)
    tilted = rotate_bound(page, 4.0)  # counter-clockwise 4 degrees, no visible card edge
    assert estimate_skew(tilted) == pytest.approx(-4.0, abs=0.5)
    card = preprocess(decoded(tilted))
    assert card.method == "passthrough"
    assert card.skew == pytest.approx(-4.0, abs=0.5)
    assert KNOWN_WORD in ocr_text(card.pixels)


def test_dark_card_flagged_pixels_kept_natural() -> None:
    dark = render_card(paper=(20, 30, 60), ink=(235, 235, 235), accent=(200, 160, 40))
    bg = wood_background(1600, 1200, seed=5)
    q = card_corners(800, 600, 900, 1.75, 7)
    card = preprocess(decoded(place(bg, dark, q)))
    assert card.inverted
    assert card.method == "contour"
    assert float(np.median(card.pixels)) < 100  # still the dark card, for display
    looks = ocr_variants(card)
    assert all(v.shape == card.pixels.shape and v.dtype == np.uint8 for v in looks)
    assert float(np.median(looks[0])) > 150  # the first look is dark text on light
    assert KNOWN_WORD in ocr_text(looks[0])


def test_light_card_not_flagged() -> None:
    card = preprocess(decoded(photo_scene().image))
    assert not card.inverted
    assert float(np.median(ocr_variants(card)[0])) > 150


@pytest.mark.parametrize("value", [0, 255])
def test_blank_images_pass_through(value: int) -> None:
    blank = np.full((800, 1200, 3), value, np.uint8)
    card = preprocess(decoded(blank))
    assert card.method == "passthrough" and np.array_equal(card.pixels, blank)
    assert detect_cards(blank) == []


def test_text_panel_inside_flat_card_is_not_cropped() -> None:
    """A printed box on a flat card must not be taken for the card (it would cut the rest)."""
    card = render_card(accent=None).copy()
    cv2.rectangle(card, (600, 80), (1000, 320), (30, 90, 160), -1)
    card = preprocess(decoded(card))
    assert card.method == "passthrough"


def test_pure_functions_do_not_mutate_input() -> None:
    img = photo_scene().image
    before = img.copy()
    preprocess(decoded(img))
    detect_cards(img)
    assert np.array_equal(img, before)


def test_card_image_is_contiguous_rgb() -> None:
    for k in range(4):
        c = preprocess(decoded(np.ascontiguousarray(np.rot90(photo_scene().image, k))))
        assert isinstance(c, CardImage)
        assert c.pixels.dtype == np.uint8 and c.pixels.ndim == 3 and c.pixels.flags.c_contiguous
        assert c.quad is not None and len(c.quad) == 4


# ---- no card, only straight edges ---------------------------------------------------------------


def test_sheet_of_paper_without_a_card_passes_through() -> None:
    """Straight edges (a sheet on a table, a ruler-like pen) but no card: nothing is cropped."""
    bg = wood_background(1600, 1200, seed=7).astype(np.float32)
    sheet = np.zeros((1200, 1600), np.float32)
    cv2.fillConvexPoly(sheet, np.int32([[250, 120], [1350, 60], [1420, 1120], [300, 1180]]), 1.0)
    img = bg * (1 - sheet[..., None]) + 238 * sheet[..., None]
    cv2.line(img, (380, 300), (1250, 260), (40, 40, 150), 12)
    img = np.clip(img + np.random.default_rng(7).normal(0, 2, img.shape), 0, 255).astype(np.uint8)
    card = preprocess(decoded(img))
    assert card.method == "passthrough" and card.quad is None
    flat = render_card()
    assert np.array_equal(preprocess(decoded(flat)).pixels, flat)



def card_lost(found: Sequence[Sequence[float]], truth: np.ndarray, shape: tuple[int, int]) -> float:
    """Share of the true card outside the found quad."""
    a, b = np.zeros(shape, np.uint8), np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(a, np.round(truth).astype(np.int32), 1)
    cv2.fillConvexPoly(b, np.round(np.asarray(found)).astype(np.int32), 1)
    return 1.0 - np.count_nonzero(a & b) / np.count_nonzero(a)


# ---- a strong coloured panel on a card (contour candidates) ----------------------------------------


def panel_card_scene(table: tuple[int, int, int] | None, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """A light card whose right third is a strong coloured panel (a word in it), its other text
    left of the panel, photographed on a plain sheet of colour ``table`` (wood when None)."""
    card = render_card(accent=None, paper=(240, 240, 234)).copy()
    h, w = card.shape[:2]
    card[:, int(w * 0.68):] = (20, 110, 120)
    im = Image.fromarray(card)
    ImageDraw.Draw(im).text((int(w * 0.72), int(h * 0.42)), "Studio", font=font(44, bold=True), fill=(245, 245, 245))
    W, H = 1600, 1200
    if table is None:
        bg = wood_background(W, H, seed=5)
    else:
        noise = np.random.default_rng(3).normal(0, 2, (H, W, 3))
        bg = np.clip(np.full((H, W, 3), table, np.float32) + noise, 0, 255).astype(np.uint8)
    q = card_corners(W * 0.5, H * 0.5, W * 0.6, 1.75, angle, tilt=0.05)
    return place(bg, np.asarray(im), q), q


@pytest.mark.parametrize(("table", "angle"), [(None, -7.0), ((228, 226, 220), 5.0)])
def test_card_with_coloured_panel_cropped_whole(table: tuple[int, int, int] | None, angle: float) -> None:
    img, truth = panel_card_scene(table, angle)
    card = preprocess(decoded(img))
    assert card.method == "contour" and card.quad is not None
    assert card_lost(card.quad, truth, img.shape[:2]) < 0.02
    assert corner_error(card.quad, truth) < 0.03


@pytest.mark.parametrize(("table", "angle"), [((232, 232, 226), -7.0), ((236, 235, 228), 5.0)])
def test_coloured_panel_of_card_on_paper_is_not_taken_for_the_card(table: tuple[int, int, int], angle: float) -> None:
    """The card barely stands out from the sheet, its panel does: a crop to the panel would lose
    two thirds of the card and most of its text. Whole photo or whole card, never the panel."""
    img, truth = panel_card_scene(table, angle)
    card = preprocess(decoded(img))
    if card.quad is not None:
        assert card_lost(card.quad, truth, img.shape[:2]) < 0.03
    else:
        assert card.method == "passthrough"


def test_a_small_card_in_a_large_photo_is_found_and_warped_from_the_file_s_own_pixels(caplog) -> None:
    """A card a fifth of a 4000 px photo's width (4% of its area) on a wood table: the contour
    finder takes it, and since it is small in the reduced decode, it is warped from the photo
    decoded larger (its print is then about twice as tall)."""
    from cardscan.reading import decode as decode_mod
    from cardscan.reading.pipeline import DECODE_LONG_SIDE
    from cardscan.reading.preprocess import preprocess_all

    W, H = 4000, 3000
    q = card_corners(W * 0.45, H * 0.55, W * 0.2, 1.75, 6.0, tilt=0.04)
    photo = place(wood_background(W, H, seed=4), render_card(), q)
    data = cv2.imencode(".jpg", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
    img = decode_mod.decode(data, max_side=DECODE_LONG_SIDE)
    asked: list[int] = []

    def larger(side: int) -> DecodedImage:
        asked.append(side)
        return decode_mod.decode(data, max_side=side)

    caplog.set_level("DEBUG", logger="cardscan.reading.preprocess")
    cards = preprocess_all(img, larger=larger)
    assert len(cards) == 1 and cards[0].method == "contour"
    assert asked and asked[0] > DECODE_LONG_SIDE  # decoded again, larger
    assert any("warped from a" in r.getMessage() for r in caplog.records)
    # the card's corners are given in the reduced decode's pixels, as for every card
    xs = [x for x, _ in cards[0].quad]
    k = img.pixels.shape[1] / W
    assert min(xs) == pytest.approx(q[:, 0].min() * k, abs=12) and max(xs) == pytest.approx(q[:, 0].max() * k, abs=12)
