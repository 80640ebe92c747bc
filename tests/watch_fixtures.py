"""Helpers for the watch / speed tests: card photos drawn here, a test OCR engine for worker
processes, a `cardscan watch` subprocess, polling the database, and the RSS of a process tree."""
from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cardscan.models import OcrResult
from cardscan.reading.ocr.tesseract import build_lines, parse_tsv

ROOT = Path(__file__).resolve().parents[1]
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FAKE_ENGINE = "tests.watch_fixtures:make_fake_engine"  # for CARDSCAN_TEST_ENGINE_FACTORY
DELAY_ENV = "CARDSCAN_FAKE_OCR_DELAY"


# ----------------------------------------------------------------------------- photos


def card_jpeg(i: int, *, scale: float = 1.0, quality: int = 88) -> bytes:
    """A photo of an invented card (dark table, white card, black text), unique per i."""
    font = lambda size: ImageFont.truetype(str(FONT), max(8, int(size * scale)))  # noqa: E731
    w, h = int(1050 * scale), int(600 * scale)
    card = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(card)
    s = scale
    d.text((60 * s, 60 * s), f"Mira Castell {_word(i)}", font=font(56), fill="black")
    d.text((60 * s, 140 * s), "Field Engineer", font=font(36), fill="black")
    d.text((60 * s, 200 * s), "Harbor Robotics Ltd", font=font(36), fill="black")
    d.text((60 * s, 330 * s), f"mira.{_word(i).lower()}@example.com", font=font(36), fill="black")
    d.text((60 * s, 390 * s), "+44 20 7946 0" + f"{i % 1000:03d}", font=font(36), fill="black")
    photo = Image.new("RGB", (int(1400 * scale), int(1000 * scale)), (70, 90, 70))
    photo.paste(card, (int(170 * scale), int(200 * scale)))
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _word(i: int) -> str:
    letters = "bcdfghjklmnpqrstvwxz"
    out = ""
    n = i + 1
    while n:
        n, r = divmod(n, len(letters))
        out = letters[r] + out
    return "Ka" + out


def write_slowly(path: Path, data: bytes, chunks: int, pause: float) -> None:
    """Write `data` in `chunks` pieces with `pause` seconds between them (a slow copy)."""
    step = -(-len(data) // chunks)
    with open(path, "wb") as fh:
        for k in range(0, len(data), step):
            fh.write(data[k:k + step])
            fh.flush()
            os.fsync(fh.fileno())
            time.sleep(pause)


# ----------------------------------------------------------------------------- a test OCR engine

_TSV = (
    b"level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
    b"5\t1\t1\t1\t1\t1\t10\t10\t120\t30\t95\tMira\n"
    b"5\t1\t1\t1\t1\t2\t140\t10\t150\t30\t95\tCastell\n"
    b"5\t1\t1\t1\t2\t1\t10\t60\t140\t30\t93\tField\n"
    b"5\t1\t1\t1\t2\t2\t160\t60\t160\t30\t93\tEngineer\n"
    b"5\t1\t1\t1\t3\t1\t10\t110\t300\t30\t94\tmira@example.com\n"
)


class FakeTextEngine:
    """Returns the same small card text for every image, after an optional delay (seconds from
    CARDSCAN_FAKE_OCR_DELAY): the watcher logic runs on real processes and files, minus Tesseract."""

    name = "fake-text"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def read(self, rgb: np.ndarray, /, *, psm: int = 3) -> OcrResult:
        if self.delay:
            time.sleep(self.delay)
        return OcrResult(lines=build_lines(parse_tsv(_TSV)), engine=self.name, image_size=(rgb.shape[1], rgb.shape[0]))

    def orientation(self, rgb: np.ndarray, /) -> int:
        return 0

    def close(self) -> None:
        pass


def make_fake_engine(options: object) -> FakeTextEngine:
    return FakeTextEngine(float(os.environ.get(DELAY_ENV, "0") or 0))


def fake_env(delay: float = 0.0) -> dict[str, str]:
    return {"CARDSCAN_TEST_ENGINE_FACTORY": FAKE_ENGINE, DELAY_ENV: str(delay)}


# ----------------------------------------------------------------------------- processes


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["OMP_THREAD_LIMIT"] = "1"
    env.update(extra or {})
    return env


def start_watch(folder: Path, db: Path, *args: str, env: dict[str, str] | None = None,
                report: Path | None = None) -> subprocess.Popen:
    """`python -m cardscan watch FOLDER --db DB ...` in its own process group (stderr to a file)."""
    log = open(db.with_suffix(f".{time.monotonic_ns()}.log"), "w+")
    p = subprocess.Popen([sys.executable, "-m", "cardscan", "watch", str(folder), "--db", str(db),
                          *(["--report", str(report)] if report else ["--no-report"]), "--poll", "0.2", "--settle", "0.4", *args],
                         cwd=ROOT, env=cli_env(env), stdout=log, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    p.log = log  # type: ignore[attr-defined]
    return p


def output(p: subprocess.Popen) -> str:
    if not p.log.closed:  # type: ignore[attr-defined]
        p.log.flush()  # type: ignore[attr-defined]
    return Path(p.log.name).read_text(errors="replace")  # type: ignore[attr-defined]


def stop(p: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """End the watcher and every process it started (its own process group)."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
    # orphaned workers of a killed watcher keep the group alive for a moment
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    p.log.close()  # type: ignore[attr-defined]


def query(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, params).fetchall()
    except sqlite3.OperationalError:  # schema not created yet
        return []
    finally:
        con.close()


def wait_for(cond: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"watcher exited ({proc.returncode}) before {what}:\n{output(proc)}")
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}" + (f":\n{output(proc)}" if proc else ""))


def photo_states(db: Path) -> dict[str, str]:
    return dict(query(db, "SELECT path, state FROM photos"))


def count_done(db: Path) -> int:
    rows = query(db, "SELECT count(*) FROM photos WHERE state = 'done'")
    return rows[0][0] if rows else 0  # no database or no schema yet
