"""Read a photo's bytes and decode them to an upright 8-bit RGB array.

The format is recognised from the content (magic bytes), never from the file name: phones and
upload services produce files without an extension, and a ``.jpg`` that is really a PDF must be
named for what it is. Every refusal is an :class:`~cardscan.errors.InputImageError` (or its
subclass :class:`~cardscan.errors.UnsupportedFormatError`) with a one-line message.

Safety: the declared pixel count is checked *before* the pixels are decoded (decompression bombs),
truncated files are refused rather than half-decoded, and PIL's process-wide settings
(``MAX_IMAGE_PIXELS``, ``LOAD_TRUNCATED_IMAGES``) are left as the host application set them.
"""
from __future__ import annotations

import io
import logging
import math
import os
import re
import stat
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
from PIL import Image, ImageOps

from cardscan.errors import InputImageError, UnsupportedFormatError
from cardscan.models import DecodedImage

log = logging.getLogger(__name__)

HEIC_HINT = ("reading it needs pillow-heif, part of the default install, which is missing or has no wheel for "
             "this platform: pip install pillow-heif (it builds against libheif when no wheel exists), "
             "or convert the photo to JPEG")
SUPPORTED = "JPEG, PNG, WEBP, TIFF, BMP or HEIC"

# (magic prefix, offset, what the content looks like) for formats we refuse by name.
_FOREIGN: tuple[tuple[bytes, int, str], ...] = (
    (b"%PDF", 0, "a PDF document"),
    (b"GIF87a", 0, "a GIF image"),
    (b"GIF89a", 0, "a GIF image"),
    (b"PK\x03\x04", 0, "a ZIP archive or office document"),
    (b"\x1f\x8b", 0, "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", 0, "a 7-Zip archive"),
    (b"Rar!", 0, "a RAR archive"),
    (b"8BPS", 0, "a Photoshop document"),
    (b"\x00\x00\x01\x00", 0, "an icon file"),
    (b"\x00\x00\x00\x0cjP  ", 0, "a JPEG 2000 image"),
    (b"\xff\x4f\xff\x51", 0, "a JPEG 2000 image"),
    (b"\x7fELF", 0, "a program (ELF executable)"),
    (b"MZ", 0, "a Windows program"),
    (b"SQLite format 3\x00", 0, "an SQLite database"),
    (b"\xd0\xcf\x11\xe0", 0, "an old Microsoft Office document"),
    (b"ID3", 0, "an MP3 audio file"),
    (b"OggS", 0, "an Ogg media file"),
    (b"\x1aE\xdf\xa3", 0, "a Matroska/WebM video"),
)
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_VIDEO_BRANDS = frozenset({b"qt  ", b"isom", b"iso2", b"mp41", b"mp42", b"M4V ", b"M4A ", b"3gp4", b"3gp5", b"3g2a"})


@dataclass(frozen=True)
class Sniffed:
    """What the first bytes say: a PIL format to open with, or a description of foreign content."""

    pil_formats: tuple[str, ...]  # allow-list for Image.open; empty = refuse
    label: str  # our name for the format ("JPEG", "HEIF", ...) or what the content looks like


def sniff(head: bytes, /) -> Sniffed:
    """Recognise an image format from the first bytes of a file (16+ bytes are enough)."""
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed(("JPEG", "MPO"), "JPEG")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed(("PNG",), "PNG")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed(("WEBP",), "WEBP")
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return Sniffed(("TIFF",), "TIFF")
    if head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in (12, 40, 52, 56, 64, 108, 124):
        return Sniffed(("BMP",), "BMP")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return Sniffed(("HEIF",), "HEIF")
        if brand in _AVIF_BRANDS:
            return Sniffed(("AVIF",), "AVIF")
        if brand in _VIDEO_BRANDS:
            return Sniffed((), "a video (MP4/QuickTime)")
        return Sniffed((), f"an ISO media file (brand {brand.decode('latin-1')!r})")
    for magic, off, what in _FOREIGN:
        if head[off : off + len(magic)] == magic:
            return Sniffed((), what)
    return Sniffed((), _describe_other(head))


def _describe_other(head: bytes) -> str:
    text = _as_text(head)
    if text is None:
        return "unrecognised data"
    low = text.lstrip("\ufeff \t\r\n").lower()
    if not low:
        return "blank text"
    if low.startswith("<svg") or (low.startswith("<?xml") and "<svg" in low):
        return "an SVG drawing (export it as PNG)"
    if low.startswith(("<!doctype html", "<html")):
        return "an HTML page"
    if low.startswith("<?xml"):
        return "an XML document"
    if low.startswith("begin:vcard"):
        return "a vCard (text), not a photo"
    if low.startswith(("{", "[")):
        return "text (JSON)"
    return "text"


def _as_text(head: bytes) -> str | None:
    """The head decoded as text when it plausibly is text, else None."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return head[:512].decode("utf-16", errors="ignore")
        except UnicodeDecodeError:  # pragma: no cover - errors="ignore"
            return None
    chunk = head[:4096]
    try:
        text = chunk.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(chunk) - 4:  # a cut multi-byte sequence at the very end is fine
            return None
        text = chunk[: e.start].decode("utf-8")
    if not text:
        return None
    bad = sum(1 for c in text if ord(c) < 32 and c not in "\t\r\n\f\v")
    return text if bad <= len(text) * 0.01 else None


def _heif_available() -> bool:
    try:
        from pillow_heif import register_heif_opener  # type: ignore[import-not-found]
    except ImportError:
        return False
    register_heif_opener()  # idempotent; adds the "HEIF" format to PIL's registry
    return True


def _max_pixel_message(w: int, h: int, max_mpixels: float) -> str:
    return (
        f"image is too large: {w}x{h} = {w * h / 1e6:.0f} megapixels, over the limit of "
        f"{max_mpixels:g}; if the file is trusted, raise --max-image-mpixels"
    )


def decode(data: bytes, /, *, max_mpixels: float = 250.0, max_side: int | None = 2200) -> DecodedImage:
    """Decode image bytes to an upright RGB uint8 array whose long side is at most ``max_side``.

    Raises UnsupportedFormatError when the content is not an image format cardscan reads (the
    message names what it looks like), InputImageError when it is empty, truncated, corrupt or
    declares more than ``max_mpixels`` megapixels.
    """
    if not data:
        raise InputImageError("empty file", hint="the file has no bytes; copy the photo again")
    if max_side is not None and max_side < 1:
        raise ValueError("max_side must be positive or None")
    sn = sniff(data[:4096])
    if not sn.pil_formats:
        raise UnsupportedFormatError(f"not a supported image: the content looks like {sn.label}; cardscan reads {SUPPORTED}")
    if sn.label == "HEIF" and not _heif_available():
        raise UnsupportedFormatError(f"the file is a HEIC/HEIF photo; {HEIC_HINT}")
    if sn.label == "AVIF" and not _pil_has("AVIF"):
        raise UnsupportedFormatError("the file is an AVIF image, which this Pillow build cannot read; convert it to JPEG or PNG")

    warns: list[str] = []
    try:
        with warnings.catch_warnings():
            # Our own limit is checked below; PIL's warning between its two limits is noise here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = _open_unlimited(data, sn.pil_formats)
            with im:
                return _decode_opened(im, sn.label, max_mpixels, max_side, warns)
    except Image.DecompressionBombError as e:
        # PIL's own hard limit (2x MAX_IMAGE_PIXELS) refuses in Image.open, before we see the size.
        m = re.search(r"\((\d+) pixels\)", str(e))
        mp = int(m.group(1)) / 1e6 if m else float("nan")
        if not m or mp > max_mpixels:
            raise InputImageError(
                f"image is too large: {mp:.0f} megapixels, over the limit of {max_mpixels:g}; "
                "if the file is trusted, raise --max-image-mpixels"
            ) from e
        raise InputImageError(
            f"image is too large: {mp:.0f} megapixels, over Pillow's safety limit "
            "(PIL.Image.MAX_IMAGE_PIXELS) even though --max-image-mpixels allows it"
        ) from e
    except InputImageError:
        raise
    except Image.UnidentifiedImageError as e:
        raise InputImageError(f"truncated or corrupt image: the {sn.label} header cannot be read") from e
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, ZeroDivisionError) as e:
        raise InputImageError(f"truncated or corrupt image: {_short(e)}") from e
    except MemoryError as e:
        raise InputImageError("image too large to decode in the memory available; lower --max-image-mpixels") from e


def _open_unlimited(data: bytes, formats: Sequence[str]) -> Image.Image:
    """Open (header only) as ``Image.open(..., formats=...)`` does, without its check of the
    process-wide ``PIL.Image.MAX_IMAGE_PIXELS``: ``_decode_opened`` applies this call's own
    ``max_mpixels`` and byte budget before a single pixel is decoded. Library code leaves that
    global as the host application set it (it used to be raised here for the whole process)."""
    Image.init()
    prefix = data[:16]
    fp = io.BytesIO(data)
    for fmt in formats:
        entry = Image.OPEN.get(fmt.upper())
        if entry is None:
            continue
        factory, accept = entry
        ok = accept(prefix) if accept else True
        if not ok or isinstance(ok, str):  # a str is Pillow's reason for not accepting
            continue
        fp.seek(0)
        try:
            return factory(fp, "")
        except (SyntaxError, IndexError, TypeError, struct.error):
            continue  # as Image.open: this plugin does not take it; try the next
    raise Image.UnidentifiedImageError("cannot identify image file")


def _pil_has(fmt: str) -> bool:
    Image.init()
    return fmt in Image.OPEN


def _short(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return msg[:160]


def _decode_opened(im: Image.Image, label: str, max_mpixels: float, max_side: int | None, warns: list[str]) -> DecodedImage:
    w, h = im.size
    if w < 1 or h < 1:
        raise InputImageError(f"truncated or corrupt image: it declares a size of {w}x{h}")
    if w * h > max_mpixels * 1e6:
        raise InputImageError(_max_pixel_message(w, h, max_mpixels))
    fmt = "MPO" if im.format == "MPO" else label
    n_frames = _frame_count(im)
    if n_frames > 1:
        warns.append(f"HEIF file with {n_frames} images (a burst or live photo?): the first image used"
                     if label == "HEIF" else f"multi-frame file ({n_frames} frames): first frame used")
        im.seek(0)

    if max_side is not None and im.format in ("JPEG", "MPO") and max(w, h) > max_side:
        # DCT scaling: decode at 1/2, 1/4 or 1/8 size directly, never below the target.
        f = max_side / max(w, h)
        im.draft(im.mode, (max(1, math.ceil(w * f)), max(1, math.ceil(h * f))))
    need = w * h * _BYTES_PER_PIXEL.get(im.mode, 4)
    if im.format not in ("JPEG", "MPO") and need > DECODE_BUDGET_BYTES:
        raise InputImageError(
            f"image is too large to decode: {w}x{h} {im.mode} needs {need / 1e9:.1f} GB, over the "
            f"{DECODE_BUDGET_BYTES / 1e9:.1f} GB budget; lower its resolution")
    im.load()
    up = _reduce_native(im, max_side)
    if up is None:  # turned in place: no copy of the whole photo when it is upright already
        ImageOps.exif_transpose(im, in_place=True)
        up = im
    rgb = _to_rgb_array(up)
    long0 = max(w, h)
    if max_side is not None and max(rgb.shape[:2]) > max_side:
        f = max_side / max(rgb.shape[:2])
        size = (max(1, round(rgb.shape[1] * f)), max(1, round(rgb.shape[0] * f)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    scale = max(rgb.shape[:2]) / long0
    log.debug("decoded %s %dx%d -> %dx%d", fmt, w, h, rgb.shape[1], rgb.shape[0])
    return DecodedImage(pixels=rgb, format=fmt, original_size=(w, h), scale=scale, warnings=tuple(warns))


# Bytes per pixel Pillow holds for a loaded image of each mode (its full decode, before any
# conversion); a 1-bit image takes a byte per pixel. Unknown modes count as 4.
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "LA": 4, "PA": 4, "La": 4, "RGB": 4, "RGBA": 4, "RGBa": 4,
                    "CMYK": 4, "YCbCr": 4, "I": 4, "F": 4, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
# The most a non-JPEG decode may hold at full size (JPEGs decode reduced, see ``draft``): a 250 MP
# RGB photo fits; the reduction below then keeps the rest of the decode near this figure.
DECODE_BUDGET_BYTES = 1_100_000_000
_EXIF_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                   4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
                   6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}


def _reduce_native(im: Image.Image, max_side: int | None) -> Image.Image | None:
    """A large non-JPEG image reduced by an integer factor in its own mode, before any conversion
    to RGB (which would otherwise copy the full-size image three or four times), then turned
    upright by its EXIF orientation; None when no reduction applies."""
    if max_side is None or max(im.size) < 2 * max_side or im.format in ("JPEG", "MPO"):
        return None
    src = im
    if src.mode == "1":
        src = src.convert("L")
    elif src.mode not in ("L", "LA", "RGB", "RGBA", "I", "F", "CMYK"):
        return None
    try:
        orientation = int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block: treat as upright, as exif_transpose does
        orientation = 1
    small = src.reduce(max(1, max(im.size) // max_side))
    del src
    method = _EXIF_TRANSPOSE.get(orientation)
    return small.transpose(method) if method is not None else small


def _frame_count(im: Image.Image) -> int:
    try:
        return int(getattr(im, "n_frames", 1) or 1)
    except (OSError, ValueError, EOFError, SyntaxError):  # a broken later frame: use the first
        return 1


def _to_rgb_array(im: Image.Image) -> np.ndarray:
    """Any PIL mode -> (H, W, 3) uint8 RGB; transparency is flattened onto white."""
    mode = im.mode
    if mode == "RGB":
        return np.asarray(im)
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _gray_to_rgb(_high_depth_to_8bit(np.asarray(im), mode))
    if mode == "CMYK":
        return np.asarray(_cmyk_to_rgb(im))
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        mode = im.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(im.convert("RGB"))


def _high_depth_to_8bit(a: np.ndarray, mode: str) -> np.ndarray:
    a = a.astype(np.float64)
    if mode == "F":
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        if 0.0 <= lo and hi <= 1.0:
            a = a * 255.0
        elif hi > 255.0 or lo < 0.0:
            a = (a - lo) * (255.0 / max(hi - lo, 1e-9))
    elif a.max(initial=0) > 255 or mode.startswith("I;16"):
        a = a / 257.0  # 16-bit range
    return np.clip(np.rint(np.nan_to_num(a)), 0, 255).astype(np.uint8)


def _gray_to_rgb(g: np.ndarray) -> np.ndarray:
    return np.repeat(g[:, :, None], 3, axis=2)


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    icc = im.info.get("icc_profile")
    if icc:
        try:
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            out = ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
            if out is not None:
                return out
        except Exception as e:  # a broken embedded profile: the plain conversion is still usable
            log.debug("CMYK ICC conversion failed (%s); using plain conversion", e)
    return im.convert("RGB")


def read_image_file(path: Path | str, /, **kw: Any) -> tuple[bytes, DecodedImage]:
    """Read a regular file once (never writing to it) and decode it; returns (bytes, image).

    FIFOs, devices, sockets and directories are refused before anything is read from them.
    ``kw`` is passed to :func:`decode` (``max_mpixels``, ``max_side``).
    """
    p = Path(path)
    data = _read_regular(p, max_bytes=_byte_limit(float(kw.get("max_mpixels", 250.0))))
    return data, decode(data, **kw)


def _byte_limit(max_mpixels: float) -> int:
    # Uncompressed 16-bit RGBA (8 bytes/pixel) plus headers is the most an honest file needs.
    return int(max_mpixels * 1e6 * 8) + (16 << 20)


def _kind(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _read_regular(p: Path, *, max_bytes: int) -> bytes:
    try:
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            st = os.stat(p)  # a symlink to a photo is fine; what it points to is checked
    except FileNotFoundError as e:
        raise InputImageError(f"file not found: {p}") from e
    except PermissionError as e:
        raise InputImageError(f"permission denied: {p}", hint="check the file's read permission") from e
    except OSError as e:
        raise InputImageError(f"cannot read {p}: {e.strerror or e}") from e
    kind = _kind(st.st_mode)
    if kind:
        raise InputImageError(f"not a regular file: {p} is {kind}")
    if st.st_size > max_bytes:
        raise InputImageError(
            f"file is too large: {p} has {st.st_size / 1e6:.0f} MB; if it is trusted, raise --max-image-mpixels"
        )
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(p, flags)
    except PermissionError as e:
        raise InputImageError(f"permission denied: {p}", hint="check the file's read permission") from e
    except OSError as e:
        raise InputImageError(f"cannot read {p}: {e.strerror or e}") from e
    try:
        kind = _kind(os.fstat(fd).st_mode)  # the file may have been swapped since lstat
        if kind:
            raise InputImageError(f"not a regular file: {p} is {kind}")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
    except InputImageError:
        raise
    except OSError as e:
        raise InputImageError(f"cannot read {p}: {e.strerror or e}") from e
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise InputImageError(f"file is too large: {p}; if it is trusted, raise --max-image-mpixels")
    return data
