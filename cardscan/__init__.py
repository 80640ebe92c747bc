"""cardscan: business-card photos to validated contacts, offline.

Library entry point: ``cardscan.scan(paths, options=cardscan.Options(...))``.
"""
from __future__ import annotations

from cardscan.errors import CardscanError, ExitCode
from cardscan.options import Options

__version__ = "0.1.0"
__all__ = ["CardscanError", "ExitCode", "Options", "scan", "__version__"]


def scan(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - imported lazily: OpenCV loads on first use
    from cardscan.api import scan as _scan

    return _scan(*args, **kwargs)


scan.__doc__ = "See cardscan.api.scan."
