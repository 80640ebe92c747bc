"""Finding photos in folders and reading them without touching them."""
from __future__ import annotations

import hashlib
import os

import pytest

from cardscan.reading import files
from cardscan.errors import InputImageError

JPEG_HEAD = b"\xff\xd8\xff\xe0" + b"\x00" * 20
PNG_HEAD = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20


def test_discover_takes_images_by_extension_or_content(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"not really a jpeg")  # extension: tried (and will fail later, loudly)
    (tmp_path / "noext").write_bytes(JPEG_HEAD)  # no extension, JPEG content: taken
    (tmp_path / "notes.md").write_text("# provenance")  # not an image: passed over
    (tmp_path / ".hidden.jpg").write_bytes(JPEG_HEAD)
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "b.PNG").write_bytes(PNG_HEAD)
    found = [f for f in files.discover([tmp_path]) if isinstance(f, files.Found)]
    assert sorted(f.path.name for f in found) == ["a.jpg", "b.PNG", "noext"]


def test_discover_skips_links_fifos_and_reports_them(tmp_path):
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(JPEG_HEAD)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "link.jpg").symlink_to(outside)
    os.mkfifo(folder / "pipe.jpg")
    (folder / "dir.jpg").mkdir()
    out = list(files.discover([folder]))
    skipped = {f.path.name: f.reason for f in out if isinstance(f, files.Skipped)}
    assert "symbolic link" in skipped["link.jpg"]
    assert "not a regular file" in skipped["pipe.jpg"]
    assert not [f for f in out if isinstance(f, files.Found)]


def test_explicit_path_missing_is_reported(tmp_path):
    out = list(files.discover([tmp_path / "nope.jpg"]))
    assert isinstance(out[0], files.Skipped) and "cannot read" in out[0].reason


@pytest.mark.parametrize("make,message", [
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.mkdir(), "folder"),
    (lambda p: os.mkfifo(p), "not a regular file"),
])
def test_read_regular_file_refuses_clearly(tmp_path, make, message):
    p = tmp_path / "x.jpg"
    make(p)
    with pytest.raises(InputImageError, match=message):
        files.read_regular_file(p)


def test_read_refuses_huge_files_before_reading(tmp_path):
    p = tmp_path / "big.jpg"
    with open(p, "wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # sparse: costs nothing
    with pytest.raises(InputImageError, match="larger than any card photo"):
        files.read_regular_file(p, max_bytes=10 * 1024 * 1024)


def test_reading_never_changes_the_file(tmp_path):
    p = tmp_path / "a.jpg"
    p.write_bytes(JPEG_HEAD * 100)
    before = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns, p.stat().st_mode)
    assert files.sha256_file(p) == before[0]
    files.read_regular_file(p)
    assert (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns, p.stat().st_mode) == before


def test_write_atomic_new_file_gets_the_usual_permissions_and_old_file_keeps_its_own(tmp_path) -> None:
    import stat as stat_mod

    from cardscan.reading.files import write_atomic

    umask = os.umask(0o022)
    try:
        new = tmp_path / "report.html"
        write_atomic(new, b"<html>", what="report")
        assert stat_mod.S_IMODE(new.stat().st_mode) == 0o644  # not mkstemp's 0600
        old = tmp_path / "private.vcf"
        old.write_bytes(b"x")
        old.chmod(0o600)
        write_atomic(old, b"y")
        assert stat_mod.S_IMODE(old.stat().st_mode) == 0o600 and old.read_bytes() == b"y"
    finally:
        os.umask(umask)
