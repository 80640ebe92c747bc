"""Imported once by the forkserver before it forks scan workers (``api.new_pool``).

Everything a worker needs on its first card is loaded here, so each worker forks with it already
in memory instead of paying for it again: the pipeline's imports (numpy, OpenCV, zxing-cpp,
tesserocr, phonenumbers' metadata) and the country-name table the phone stage builds on first
use. No OCR engine is loaded here: each worker opens its own after the fork.

Only the forkserver should import this module: it ignores SIGINT first, as the forkserver itself
does once its preloading is done, so a Ctrl-C during these imports cannot kill the forkserver
with a traceback (the parent stops the run and ends its workers).
"""
from __future__ import annotations

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)

from cardscan.parsing import phones  # noqa: E402 - after the SIGINT line above
from cardscan.reading import pipeline  # noqa: E402,F401 - imported for its side effect of loading

try:  # optional: the pytesseract fallback works without it
    import tesserocr  # noqa: F401
except ImportError:  # pragma: no cover - depends on the install
    pass
try:
    import zxingcpp  # noqa: F401
except ImportError:  # pragma: no cover
    pass

phones._country_names()
