"""Read photos once, keep what the parser sees, and re-parse in seconds.

`record` runs the real reading pipeline (decode, card finding, OCR, QR) on photos and stores, for
every card, the OcrResult and QR payloads handed to the parser as JSON. `replay` parses those
again with the parser as it is now and writes one record per card in the format of
`cardscan scan --jsonl`, so `score.py` can score a parser change without reading the photos again:

    python -m cardscan.bench.ocrcache record /tmp/ocr.json PHOTO_DIR [--shard 1/2]
    python -m cardscan.bench.ocrcache replay /tmp/ocr.json [/tmp/ocr-2.json ...] --jsonl /tmp/p.jsonl [--rules-only]

The cache holds what the OCR read from the photos: keep it outside the repository.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cardscan.models import Line, OcrResult, QrPayload, Word


def ocr_to_json(ocr: OcrResult) -> dict[str, Any]:
    return {"engine": ocr.engine, "image_size": list(ocr.image_size),
            "lines": [[[w.text, w.conf, list(w.box)] for w in l.words] for l in ocr.lines]}


def ocr_from_json(d: dict[str, Any]) -> OcrResult:
    lines = tuple(Line(tuple(Word(t, float(c), tuple(b)) for t, c, b in ws)) for ws in d["lines"])  # type: ignore[arg-type]
    return OcrResult(lines=lines, engine=d["engine"], image_size=tuple(d["image_size"]))  # type: ignore[arg-type]


def qr_to_json(q: QrPayload) -> dict[str, Any]:
    return {"kind": q.kind, "text": q.text, "fields": q.fields}


def qr_from_json(d: dict[str, Any]) -> QrPayload:
    return QrPayload(d["kind"], d["text"], d.get("fields") or {})


def record(paths: list[str], out: Path) -> int:
    """Scan each photo with the default options; store the parser's inputs per card."""
    from cardscan import api
    from cardscan.options import Options
    from cardscan.reading import pipeline

    options = Options()
    engine = api.load_engine(options)
    real = pipeline.parse_mod

    class Recorder:
        def __init__(self) -> None:
            self.calls: list[dict[str, Any]] = []

        def parse(self, ocr: OcrResult, qr: Any = (), *, region: str | None = None) -> Any:
            self.calls.append({"ocr": ocr_to_json(ocr), "qr": [qr_to_json(q) for q in qr], "region": region})
            return real.parse(ocr, qr, region=region)

        def merge_readings(self, a: Any, b: Any) -> Any:
            return real.merge_readings(a, b)

    records = []
    for p in paths:
        rec = Recorder()
        pipeline.parse_mod = rec  # type: ignore[assignment]
        try:
            outcome = pipeline.process_path(p, engine, options)
        finally:
            pipeline.parse_mod = real
        records.append({"file": p, "sha256": outcome.sha256, "error": outcome.error, "cards": rec.calls})
        print(f"{p}: {len(rec.calls)} card(s){' ERROR ' + outcome.error if outcome.error else ''}", file=sys.stderr)
    out.write_text(json.dumps(records, ensure_ascii=False))
    return 0


def replay(caches: list[Path], jsonl: Path, *, use_model: bool = True) -> int:
    from cardscan.parsing.contact import parse

    with open(jsonl, "w", encoding="utf-8") as fh:
        for cache in caches:
            for r in json.loads(cache.read_text()):
                if not r["cards"]:
                    rec: dict[str, Any] = {"file": r["file"], "name": None, "title": None, "company": None,
                                           "emails": [], "phones": [], "websites": [], "address": None}
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
                for k, c in enumerate(r["cards"]):
                    contact = parse(ocr_from_json(c["ocr"]), [qr_from_json(q) for q in c["qr"]], region=c["region"],
                                    use_model=use_model)
                    rec = {"file": r["file"], **contact.to_record()}
                    if k:
                        rec["card"] = k
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cardscan.bench.ocrcache")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("cache", type=Path)
    r.add_argument("photos", type=Path)
    r.add_argument("--shard", default="1/1", help="k/n: every n-th photo starting at the k-th")
    p = sub.add_parser("replay")
    p.add_argument("caches", type=Path, nargs="+")
    p.add_argument("--jsonl", type=Path, required=True)
    p.add_argument("--rules-only", action="store_true", help="name, title and company by the rules alone (no role model)")
    a = ap.parse_args(argv)
    if a.cmd == "record":
        from cardscan.reading.files import Found, discover

        k, n = (int(x) for x in a.shard.split("/"))
        paths = sorted(str(x.path) for x in discover([a.photos]) if isinstance(x, Found))
        return record(paths[k - 1::n], a.cache)
    return replay(a.caches, a.jsonl, use_model=not a.rules_only)


if __name__ == "__main__":
    raise SystemExit(main())
