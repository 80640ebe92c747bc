"""Finding photo files and reading them safely: the file-system edge of the pipeline.

Nothing here writes to, moves or deletes a photo.
"""
from __future__ import annotations

import hashlib
import logging
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from cardscan.errors import InputImageError, OutputAccessError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".tif", ".tiff", ".bmp", ".mpo", ".heic", ".heif"}
)
MAX_FILE_BYTES = 200 * 1024 * 1024  # a card photo is a few MB; refuse absurd files before reading them

# Leading bytes of the formats cardscan decodes (the decoder checks again, properly).
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*", b"BM")

# Files someone may drop among the photos meaning "a card", which cardscan does not read: reported
# as skipped with what they are, never passed over in silence (notes, exports and the like are).
READS = "cardscan reads JPEG, PNG, WEBP, TIFF, BMP or HEIC photos: export it as JPEG or PNG"
_NOT_READ_EXTENSIONS = {
    ".pdf": "a PDF document", ".gif": "a GIF image", ".jp2": "a JPEG 2000 image", ".j2k": "a JPEG 2000 image",
    ".jpx": "a JPEG 2000 image", ".jpf": "a JPEG 2000 image", ".avif": "an AVIF image", ".svg": "an SVG drawing",
    ".psd": "a Photoshop document", ".raw": "a camera RAW file", ".dng": "a camera RAW file",
    ".cr2": "a camera RAW file", ".nef": "a camera RAW file", ".arw": "a camera RAW file",
}
_NOT_READ_MAGIC = (
    (b"%PDF", "a PDF document"), (b"GIF87a", "a GIF image"), (b"GIF89a", "a GIF image"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image"), (b"\xff\x4f\xff\x51", "a JPEG 2000 image"),
    (b"8BPS", "a Photoshop document"),
)


def looks_like_image(head: bytes) -> bool:
    """A cheap sniff of the first bytes: used only to pick image files without an extension."""
    if head.startswith(_MAGIC):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    return head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis", b"hevc")


def not_read_reason(name: str, head: bytes) -> str | None:
    """Why a file that looks like a picture or document meant as a card is not read, else None."""
    what = _NOT_READ_EXTENSIONS.get(Path(name).suffix.lower())
    if what is None:
        what = next((w for magic, w in _NOT_READ_MAGIC if head.startswith(magic)), None)
    if what is None and head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        what = "an AVIF image"
    return f"{what}, not a photo format cardscan reads ({READS})" if what else None


@dataclass(frozen=True)
class Found:
    path: Path
    explicit: bool  # named on the command line (always tried) rather than found in a folder


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


def _head(path: Path, n: int = 16) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            return os.read(fd, n)
        finally:
            os.close(fd)
    except OSError:
        return b""


def discover(paths: Iterable[Path | str]) -> Iterator[Found | Skipped]:
    """Files to scan, in a stable order.

    A path named explicitly is always tried (the decoder says what is wrong with it). Inside a
    folder (walked recursively, hidden entries skipped) a file is taken when its extension is an
    image extension, or when it has no such extension but its content starts like an image (files
    without extensions occur); symlinks, FIFOs and devices are skipped with a reason.
    """
    for raw in paths:
        p = Path(raw)
        try:
            st = p.stat()
        except OSError as e:
            yield Skipped(p, f"cannot read: {e.strerror or e}")
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(p)
        else:
            yield Found(p, explicit=True)


def _walk(folder: Path) -> Iterator[Found | Skipped]:
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            p = Path(root) / name
            try:
                st = p.lstat()
            except OSError as e:
                yield Skipped(p, f"cannot read: {e.strerror or e}")
                continue
            if stat.S_ISLNK(st.st_mode):
                yield Skipped(p, "symbolic link (not followed inside a folder)")
            elif not stat.S_ISREG(st.st_mode):
                yield Skipped(p, "not a regular file")
            elif p.suffix.lower() in IMAGE_EXTENSIONS or looks_like_image(head := _head(p)):
                yield Found(p, explicit=False)
            elif (why := not_read_reason(name, head)) is not None:
                yield Skipped(p, why)  # a PDF or GIF of a card: say so rather than pass it over
            # other files in a folder (notes, exports) are not photos: passed over silently


def read_regular_file(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """Read a whole regular file once. Refuses FIFOs, devices and folders without blocking on them."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except IsADirectoryError:
        raise InputImageError("is a folder, not a photo") from None
    except FileNotFoundError:
        raise InputImageError("file not found") from None
    except OSError as e:
        raise InputImageError(f"cannot open: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputImageError("not a regular file (a pipe, device or folder)")
        if st.st_size > max_bytes:
            raise InputImageError(f"file is {st.st_size / 1e6:.0f} MB, larger than any card photo needs "
                                  f"(limit {max_bytes / 1e6:.0f} MB)")
        chunks = []
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            chunks.append(b)
        data = b"".join(chunks)
    finally:
        os.close(fd)
    if not data:
        raise InputImageError("empty file")
    return data


def sha256_file(path: Path) -> str | None:
    """Content hash of a regular file, or None when it cannot be read."""
    try:
        return hashlib.sha256(read_regular_file(path)).hexdigest()
    except InputImageError:
        return None


def write_atomic(path: Path, data: bytes, *, what: str = "") -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder, fsync and ``os.replace``:
    readers see the old file or the new one, never half of one.  An existing file keeps its
    permissions; a new one gets the usual ones (0666 less the umask).  Raises OutputAccessError
    (naming ``what``, e.g. "report"), leaving the old file as it was."""
    path = Path(path)
    label = f"{what} {path}" if what else str(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputAccessError(f"cannot write {label}: folder {folder} does not exist",
                                hint="create the folder or choose another file name")
    if path.exists() and not path.is_file():
        raise OutputAccessError(f"cannot write {label}: it is not a regular file", hint="choose a file name")
    tmp: str | None = None
    try:
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else None
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise OutputAccessError(f"cannot write {label}: {exc.strerror or exc}",
                                hint="check that the folder is writable and the disk not full; "
                                     "the previous file is unchanged") from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def short_path(path: str | Path, /, *, cwd: Path | None = None, home: Path | None = None) -> str:
    """A stored (absolute) path as a person reads it: relative to the current folder when it is
    inside it, else with the home folder as ``~``; otherwise unchanged."""
    p = Path(path)
    if not p.is_absolute():
        return str(p)
    for base, prefix in ((cwd or Path.cwd(), ""), (home or Path.home(), "~/")):
        try:
            rel = p.relative_to(base)
        except ValueError:
            continue
        return prefix + str(rel) if str(rel) != "." else (prefix.rstrip("/") or ".")
    return str(p)
