from __future__ import annotations

import hashlib
import io
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from cardscan.reading.decode import decode, read_image_file, sniff
from cardscan.errors import CardscanError, InputImageError, UnsupportedFormatError
from imaging_fixtures import asymmetric_rgb, encode, render_card

REPO = Path(__file__).resolve().parents[1]


def photo(w: int = 640, h: int = 400) -> np.ndarray:
    rng = np.random.default_rng(7)
    a = np.zeros((h, w, 3), np.uint8)
    a[:] = rng.integers(0, 255, 3, dtype=np.uint8)
    a[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = (250, 250, 250)
    return a


# ---- refusals: empty, truncated, foreign content ---------------------------------------------


def test_empty_bytes_is_input_error() -> None:
    with pytest.raises(InputImageError, match="empty file") as e:
        decode(b"")
    assert not isinstance(e.value, UnsupportedFormatError)


def test_truncated_jpeg_is_refused_not_half_decoded() -> None:
    data = encode(render_card(), "JPEG", quality=90)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    with pytest.raises(InputImageError, match="truncated or corrupt image"):
        decode(data[: int(len(data) * 0.6)])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # the global was not touched


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF", "BMP"])
def test_truncated_other_formats(fmt: str) -> None:
    data = encode(render_card(), fmt)
    with pytest.raises(InputImageError):
        decode(data[: int(len(data) * 0.6)])


def test_random_bytes_named_jpg(tmp_path: Path) -> None:
    p = tmp_path / "photo.jpg"
    p.write_bytes(np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(UnsupportedFormatError, match="unrecognised data"):
        read_image_file(p)


def test_text_renamed_png(tmp_path: Path) -> None:
    p = tmp_path / "card.png"
    p.write_text("Jane Doe\nACME Corp\njane@example.com\n")
    with pytest.raises(UnsupportedFormatError, match="text"):
        read_image_file(p)


@pytest.mark.parametrize(
    ("data", "looks_like"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "a PDF document"),
        (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04", "a GIF image"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "ZIP"),
        (b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'></svg>", "SVG"),
        (b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jane Doe\r\nEND:VCARD\r\n", "vCard"),
    ],
)
def test_foreign_content_is_named(data: bytes, looks_like: str) -> None:
    with pytest.raises(UnsupportedFormatError, match=looks_like):
        decode(data)


def test_real_gif_is_refused_by_name() -> None:
    with pytest.raises(UnsupportedFormatError, match="GIF"):
        decode(encode(photo(), "GIF"))


def test_heic_without_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # fault injection: extra not installed
    data = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    with pytest.raises(UnsupportedFormatError, match=r"HEIC/HEIF photo; reading it needs pillow-heif.*pip install pillow-heif"):
        decode(data)


def test_heic_decodes_when_extra_installed() -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    src = photo(320, 200)
    heif = pillow_heif.from_pillow(Image.fromarray(src))
    buf = io.BytesIO()
    heif.save(buf, quality=95)
    d = decode(buf.getvalue())
    assert d.format == "HEIF"
    assert d.pixels.shape == (200, 320, 3) and d.pixels.dtype == np.uint8
    assert np.abs(d.pixels.astype(int) - src.astype(int)).mean() < 8


# ---- decompression bombs ---------------------------------------------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def bomb_png(w: int, h: int) -> bytes:
    """A real, complete 1-bit PNG of w x h zeros: a few hundred KB that decodes to w*h pixels."""
    row = b"\x00" + b"\x00" * ((w + 7) // 8)
    co = zlib.compressobj(9)
    parts = [co.compress(row * 1000) for _ in range(h // 1000)]
    parts += [co.compress(row * (h % 1000)), co.flush()]
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", b"".join(parts)) + _png_chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def bomb_30k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("bomb") / "bomb.png"
    p.write_bytes(bomb_png(30000, 30000))
    return p


def test_30000x30000_png_refused_fast_with_bounded_memory(bomb_30k: Path) -> None:
    assert bomb_30k.stat().st_size < 2_000_000
    code = (
        "import resource, sys, time\n"
        "from cardscan.reading.decode import read_image_file\n"
        "from cardscan.errors import InputImageError\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "t = time.perf_counter()\n"
        "try:\n"
        "    read_image_file(sys.argv[1])\n"
        "    print('DECODED')\n"
        "except InputImageError as e:\n"
        "    print('REFUSED', time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(bomb_30k)], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    verdict, seconds, grown_kb, msg = out.stdout.split(" ", 3)
    assert verdict == "REFUSED"
    assert float(seconds) < 1.0
    assert int(grown_kb) < 50_000  # under 50 MB of extra peak memory (the image would be 900 MB)
    assert "--max-image-mpixels" in msg


def test_own_megapixel_limit_checked_before_decoding() -> None:
    data = bomb_png(12000, 10000)  # 120 MP, under PIL's own hard limit
    t = time.perf_counter()
    with pytest.raises(InputImageError, match=r"120 megapixels.*--max-image-mpixels"):
        decode(data, max_mpixels=50)
    assert time.perf_counter() - t < 1.0


def test_pil_global_limit_untouched(bomb_30k: Path) -> None:
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(InputImageError):
        read_image_file(bomb_30k)
    assert Image.MAX_IMAGE_PIXELS == before


# ---- EXIF, frames, modes ---------------------------------------------------------------------

_STORE_FOR_ORIENTATION = {  # how the camera stored an upright scene for each EXIF orientation
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", [3, 6, 8])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation_gives_upright_pixels(orientation: int, fmt: str) -> None:
    upright = asymmetric_rgb()
    stored = Image.fromarray(upright).transpose(_STORE_FOR_ORIENTATION[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    kw = {"quality": 95} if fmt == "JPEG" else {}
    d = decode(encode(stored, fmt, exif=exif.tobytes(), **kw))
    assert d.pixels.shape == upright.shape
    assert np.abs(d.pixels.astype(int) - upright.astype(int)).mean() < 4
    assert d.original_size == stored.size  # as stored in the file


def test_exif_orientation_applied_once_with_reduction() -> None:
    big = Image.fromarray(asymmetric_rgb(2400, 1600)).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    d = decode(encode(big, "JPEG", quality=92, exif=exif.tobytes()), max_side=600)
    assert d.pixels.shape == (400, 600, 3)
    small_upright = np.asarray(Image.fromarray(asymmetric_rgb(2400, 1600)).resize((600, 400)))
    assert np.abs(d.pixels.astype(int) - small_upright.astype(int)).mean() < 12


def test_large_jpeg_reduced_at_decode() -> None:
    data = encode(photo(6000, 4000), "JPEG", quality=85)
    d = decode(data, max_side=2200)
    assert max(d.pixels.shape[:2]) == 2200
    assert d.original_size == (6000, 4000)
    assert d.scale == pytest.approx(2200 / 6000, rel=1e-3)
    full = decode(data, max_side=None)
    assert full.pixels.shape == (4000, 6000, 3) and full.scale == 1.0


def _check_rgb(d: object) -> np.ndarray:
    px = d.pixels  # type: ignore[attr-defined]
    assert px.dtype == np.uint8 and px.ndim == 3 and px.shape[2] == 3 and px.flags.c_contiguous
    return px


def test_mpo_first_frame_with_warning() -> None:
    a, b = Image.fromarray(photo()), Image.fromarray(255 - photo())
    buf = io.BytesIO()
    a.save(buf, "MPO", save_all=True, append_images=[b], quality=95)
    d = decode(buf.getvalue())
    assert d.format == "MPO"
    px = _check_rgb(d)
    assert np.abs(px.astype(int) - photo().astype(int)).mean() < 4
    assert any("first frame" in w for w in d.warnings)


def test_multipage_tiff_first_frame_and_warning() -> None:
    pages = [Image.fromarray(np.full((50, 80, 3), v, np.uint8)) for v in (10, 128, 240)]
    buf = io.BytesIO()
    pages[0].save(buf, "TIFF", save_all=True, append_images=pages[1:])
    d = decode(buf.getvalue())
    assert d.format == "TIFF"
    assert int(_check_rgb(d).mean()) == 10
    assert d.warnings == ("multi-frame file (3 frames): first frame used",)


def test_animated_webp_first_frame() -> None:
    frames = [Image.fromarray(np.full((40, 60, 3), v, np.uint8)) for v in (200, 20)]
    buf = io.BytesIO()
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], lossless=True, duration=100)
    d = decode(buf.getvalue())
    assert d.format == "WEBP" and abs(int(_check_rgb(d).mean()) - 200) <= 2
    assert any("first frame" in w for w in d.warnings)


def test_16bit_gray_png_scaled_not_clipped() -> None:
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (10, 1))
    d = decode(encode(Image.fromarray(ramp), "PNG"))
    px = _check_rgb(d)
    assert px[0, 0, 0] == 0 and px[0, -1, 0] == 255
    assert 120 <= px[0, 128, 0] <= 135  # mid-grey stays mid-grey (plain convert would clip to 255)


def test_cmyk_jpeg_to_rgb() -> None:
    cmyk = Image.new("CMYK", (64, 48), (0, 255, 255, 0))  # pure red in CMYK
    px = _check_rgb(decode(encode(cmyk, "JPEG", quality=95)))
    r, g, b = px.reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 60 and b < 60


def test_rgba_flattened_onto_white() -> None:
    a = np.zeros((30, 40, 4), np.uint8)
    a[:, :20] = (0, 0, 255, 255)  # opaque blue left half, transparent right half
    px = _check_rgb(decode(encode(Image.fromarray(a, "RGBA"), "PNG")))
    assert tuple(px[5, 5]) == (0, 0, 255)
    assert tuple(px[5, 35]) == (255, 255, 255)


def test_palette_with_transparency_onto_white() -> None:
    p = Image.new("P", (20, 20), 0)
    p.putpalette([0, 0, 0, 200, 0, 0] + [0] * 762)
    p.paste(1, (0, 0, 10, 20))
    p.info["transparency"] = 0
    px = _check_rgb(decode(encode(p, "PNG", transparency=0)))
    assert tuple(px[5, 5]) == (200, 0, 0) and tuple(px[5, 15]) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["L", "1", "P", "LA", "I;16"])
@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_modes_normalised_to_rgb_uint8(mode: str, fmt: str) -> None:
    im = Image.fromarray(photo(80, 60)).convert(mode) if mode != "I;16" else Image.fromarray((np.arange(4800).reshape(60, 80) * 13).astype(np.uint16))
    if fmt == "TIFF" and mode == "LA":
        pytest.skip("PIL writes no LA TIFF")
    d = decode(encode(im, fmt))
    assert _check_rgb(d).shape == (60, 80, 3)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "BMP"])
def test_formats_recognised_by_content_without_extension(fmt: str, tmp_path: Path) -> None:
    p = tmp_path / "upload_3dc2"  # no extension
    p.write_bytes(encode(photo(), fmt))
    _, d = read_image_file(p)
    assert d.format == fmt
    assert _check_rgb(d).shape == (400, 640, 3)


@pytest.mark.parametrize("value", [0, 255])
def test_blank_images_decode(value: int) -> None:
    d = decode(encode(np.full((300, 500, 3), value, np.uint8), "PNG"))
    assert int(d.pixels.min()) == value == int(d.pixels.max())


# ---- files -----------------------------------------------------------------------------------


def test_fifo_refused_without_blocking(tmp_path: Path) -> None:
    p = tmp_path / "pipe.jpg"
    os.mkfifo(p)
    with pytest.raises(InputImageError, match="named pipe"):
        read_image_file(p)


def test_directory_refused(tmp_path: Path) -> None:
    d = tmp_path / "folder.png"
    d.mkdir()
    with pytest.raises(InputImageError, match="directory"):
        read_image_file(d)


def test_device_refused() -> None:
    with pytest.raises(InputImageError, match="device"):
        read_image_file("/dev/zero")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputImageError, match="not found"):
        read_image_file(tmp_path / "nope.jpg")


def test_symlink_to_photo_is_followed(tmp_path: Path) -> None:
    real = tmp_path / "real.png"
    real.write_bytes(encode(photo(), "PNG"))
    link = tmp_path / "link.png"
    link.symlink_to(real)
    assert read_image_file(link)[1].format == "PNG"


def test_file_bytes_and_mtime_unchanged(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    p = tmp_path / "IMG_0001.JPG"
    p.write_bytes(encode(Image.fromarray(photo(3000, 2000)), "JPEG", quality=90, exif=exif.tobytes()))
    os.utime(p, (1_600_000_000, 1_600_000_000))
    before = hashlib.sha256(p.read_bytes()).hexdigest()
    data, d = read_image_file(p)
    assert hashlib.sha256(data).hexdigest() == before
    assert hashlib.sha256(p.read_bytes()).hexdigest() == before
    assert p.stat().st_mtime == 1_600_000_000
    assert d.pixels.shape[0] > d.pixels.shape[1]  # EXIF 6 turned it portrait in memory only


# ---- fuzz: only CardscanError (or success), never a stray exception ---------------------------


@pytest.fixture(scope="module")
def valid_files() -> dict[str, bytes]:
    return {f: encode(photo(96, 64), f) for f in ("JPEG", "PNG", "WEBP", "TIFF", "BMP")}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fmt=st.sampled_from(["JPEG", "PNG", "WEBP", "TIFF", "BMP"]),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=6),
)
def test_mangled_files_fail_cleanly(valid_files: dict[str, bytes], fmt: str, cut: float, flips: list[tuple[float, int]]) -> None:
    b = bytearray(valid_files[fmt])
    for pos, val in flips:
        b[min(len(b) - 1, int(pos * len(b)))] = val
    b = b[: max(0, int(cut * len(b)))] if cut < 0.98 else b
    try:
        d = decode(bytes(b))
    except CardscanError:
        return
    _check_rgb(d)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64))
def test_sniff_never_raises(head: bytes) -> None:
    s = sniff(head)
    assert isinstance(s.label, str) and s.label
