"""Imported once by the forkserver before it forks scan workers (``api.new_pool``).

Everything a worker needs on its first card is loaded here, so each worker forks with it already
in memory instead of paying for it again: the pipeline's imports (numpy, OpenCV, zxing-cpp,
tesserocr, onnxruntime, phonenumbers' metadata), the country-name table the phone stage builds on
first use, Pillow's format plugins and the parser's lazily loaded tables and libraries, and, when
onnxruntime runs the line reader's models (`sessions.resolve`), its three sessions with the
character table (one session per model, shared by the forked workers; OpenVINO is left to each
worker). No Tesseract engine is loaded here: each worker opens its own.

Only the forkserver should import this module: it ignores SIGINT first, as the forkserver itself
does once its preloading is done, so a Ctrl-C during these imports cannot kill the forkserver
with a traceback (the parent stops the run and ends its workers).
"""
from __future__ import annotations

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)

from cardscan.parsing import domains, phones  # noqa: E402 - after the SIGINT line above
from cardscan.reading import pipeline  # noqa: E402,F401 - imported for its side effect of loading

try:  # optional: the pytesseract fallback works without it
    import tesserocr  # noqa: F401
except ImportError:  # pragma: no cover - depends on the install
    pass
try:
    import onnxruntime  # noqa: F401
except ImportError:  # pragma: no cover
    pass
try:
    import zxingcpp  # noqa: F401
except ImportError:  # pragma: no cover
    pass

phones._country_names()
domains.all_tlds()  # the Public Suffix List, parsed once (about 0.15 s) for every worker
domains.is_public_suffix("co.uk")

# What a worker's first card would otherwise load for itself (about 0.35 s CPU in each worker):
# Pillow's format plugins (every decode calls Image.init), and what the parser loads lazily --
# probablepeople and its name tables, rapidfuzz, the packaged word lists, the regular expressions
# it compiles on first use. One card's text through the parser loads them all; its result is
# discarded, and every cache it fills holds pure functions of their arguments.
try:
    from PIL import Image

    Image.init()
    from cardscan.parsing import contact as _contact

    _contact.parse_text("Jane Example\nSales Manager\nExample Trading Ltd\njane.example@example.com\n"
                        "Tel +44 20 7946 0000\nwww.example.com\n1 High Street, London SW1A 1AA")
    from cardscan.parsing import places as _places

    _places.place_regions(["Lucknow"])  # the place names (about 0.15 s), read once for every worker
except Exception:  # noqa: BLE001 - pragma: no cover - a worker then loads them on its first card
    pass

# The line reader's onnxruntime sessions (detector, recogniser, direction classifier): loaded once
# here and shared copy-on-write by every forked worker. Each runs with one thread and no thread
# pool of its own, so the fork copies no running threads. Not when the workers will run the models
# with OpenVINO (`sessions.resolve`): importing it starts threads, which a fork does not copy, so
# each worker loads its own models.
try:
    from cardscan.reading.ocr import recognise, sessions

    if sessions.resolve("auto") == "onnxruntime":
        sessions.preload()
        recognise.charset()
except Exception:  # noqa: BLE001 - pragma: no cover - a worker loads them itself, and says why it cannot
    pass
