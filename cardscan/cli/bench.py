"""cardscan bench GROUNDTRUTH.jsonl : accuracy of the pipeline on a labelled set."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from cardscan.bench.accuracy import run_bench
from cardscan.cli.main import add_scan_options, options_from_args, scan_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="score the pipeline on a labelled set (per-field precision/recall/F1)",
                       description="Run the pipeline over the images a ground-truth JSONL names (paths relative "
                                   "to its folder) and score the fields with the evaluation rules.")
    p.add_argument("groundtruth", type=Path, nargs="?", metavar="GROUNDTRUTH.jsonl")
    add_scan_options(p)
    p.add_argument("--show-errors", action="store_true", help="list each wrong field: card, value read, value expected")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the summary as JSON")
    p.add_argument("--predictions", type=Path, metavar="FILE", help="keep the predictions JSONL here")
    p.add_argument("--speed", type=Path, nargs="+", metavar="DIR",
                   help="instead: time cardscan against one-process pytesseract.image_to_string on these photos")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.speed:
        return run_speed(args)
    if args.groundtruth is None:
        from cardscan.errors import BadArgumentsError

        raise BadArgumentsError("bench needs GROUNDTRUTH.jsonl (accuracy); see also: cardscan bench --speed DIR")
    result = run_bench(args.groundtruth, options=options_from_args(args, config=scan_config()))
    print(result.render(show_errors=args.show_errors))
    if args.json:
        summary = result.score.as_dict()
        summary["calibration"] = result.calibration
        summary["seconds_total"] = result.seconds_total
        args.json.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if args.predictions:
        with open(args.predictions, "w", encoding="utf-8") as fh:
            for rec in result.predictions:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return 0


def run_speed(args: argparse.Namespace) -> int:
    from cardscan.bench.speed import run_speed as speed

    dirs = list(args.speed) + ([args.groundtruth] if args.groundtruth is not None else [])
    result = speed(dirs, options=options_from_args(args, config=scan_config()))
    print(result.render())
    if args.json:
        args.json.write_text(json.dumps(result.as_dict(), indent=2), encoding="utf-8")
    return 0
