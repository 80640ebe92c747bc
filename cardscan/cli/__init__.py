"""The `cardscan` command: `main` (argument parsing, logging, exit codes) and one module per
sub-command, each with `register(subparsers)`: parse arguments, call the library, print."""
from __future__ import annotations

from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from cardscan.cli.main import main as _main

    return _main(argv)
