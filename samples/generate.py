#!/usr/bin/env python3
"""Regenerate the bundled sample card photos and samples/groundtruth.jsonl from cardscan.bench.synth.

    python samples/generate.py            # rewrite samples/card-*.jpg and groundtruth.jsonl
    python samples/generate.py --check    # exit 1 if the files on disk differ from a fresh run

Everything is invented by the generator (people, companies, example/invented domains, phone
numbers in fictional ranges where the country has them). Output is deterministic for a given
set of installed fonts (Debian: fonts-dejavu-core fonts-liberation fonts-freefont-ttf) and
Pillow/libjpeg build.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from cardscan.bench.synth import make_card, photograph  # noqa: E402

# file, card seed, card overrides, photograph kind, photograph options
SAMPLES: tuple[tuple[str, int, dict[str, Any], str, dict[str, Any]], ...] = (
    ("card-01.jpg", 101, {"country": "US", "layout": "left", "scheme": "light", "qr": None},
     "photo", {"background": "wood", "rotate": 0}),
    ("card-02.jpg", 102, {"country": "DE", "layout": "two_column", "scheme": "light", "qr": None},
     "photo", {"background": "laminate", "rotate": 0}),
    ("card-03.jpg", 103, {"country": "FR", "layout": "left", "scheme": "dark", "qr": None},
     "photo", {"background": "wood", "rotate": 0}),
    ("card-04.jpg", 104, {"country": "BR", "layout": "two_column", "scheme": "light", "qr": "vcard"},
     "photo", {"background": "fabric", "rotate": 0}),
    ("card-05.jpg", 105, {"country": "JP", "layout": "centred", "scheme": "light", "qr": None},
     "photo", {"background": "paper", "rotate": 90}),
    ("card-06.jpg", 106, {"country": "GB", "layout": "left", "scheme": "light", "qr": None},
     "scan", {}),
    ("card-07.jpg", 107, {"country": "AU", "layout": "split", "scheme": "light", "qr": None},
     "photo", {"background": "dark", "rotate": 0}),
    ("card-08.jpg", 108, {"country": "IN", "layout": "logo_top", "scheme": "colour", "qr": None},
     "photo", {"background": "laminate", "rotate": 0}),
    ("card-09.jpg", 109, {"country": "ES", "layout": "centred", "scheme": "light", "qr": None},
     "photo", {"background": "wood", "rotate": 180}),
    ("card-10.jpg", 110, {"country": "US", "layout": "two_column", "scheme": "light", "qr": "mecard"},
     "photo", {"background": "paper", "rotate": 0}),
)


def build() -> dict[str, bytes]:
    """File name -> bytes for every sample image and groundtruth.jsonl."""
    out: dict[str, bytes] = {}
    records = []
    for name, seed, card_opts, kind, photo_opts in SAMPLES:
        card = make_card(seed, **card_opts)
        opts = dict(photo_opts)
        if kind == "photo":
            opts.setdefault("long_side", 1808)
            opts.setdefault("quality", 80)
        ph = photograph(card, seed, kind, **opts)
        out[name] = ph.data
        truth = dict(ph.truth)
        truth["file"] = name
        records.append(json.dumps(truth, ensure_ascii=False))
    out["groundtruth.jsonl"] = ("\n".join(records) + "\n").encode("utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the files on disk instead of writing")
    args = ap.parse_args(argv)
    files = build()
    if args.check:
        differ = [n for n, data in files.items()
                  if not (HERE / n).is_file() or (HERE / n).read_bytes() != data]
        for n in differ:
            sys.stderr.write(f"differs: samples/{n}\n")
        return 1 if differ else 0
    for n, data in files.items():
        (HERE / n).write_bytes(data)
        sys.stdout.write(f"{n}  {len(data):>8} bytes  sha256 {hashlib.sha256(data).hexdigest()[:12]}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
