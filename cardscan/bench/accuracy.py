"""`cardscan bench`: run the pipeline over a labelled set and score it like ../shared/eval/score.py."""
from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cardscan.bench import scoring
from cardscan.api import scan
from cardscan.contacts.fields import ReviewPolicy
from cardscan.errors import BadArgumentsError
from cardscan.options import Options


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except (OSError, ValueError) as e:
        raise BadArgumentsError(f"cannot read {path}: {e}") from None


@dataclass
class BenchResult:
    score: scoring.Score
    predictions: list[dict[str, Any]]
    seconds_total: float
    seconds_per_card: list[float]
    calibration: dict[str, Any]

    def render(self, *, show_errors: bool = False) -> str:
        lines = [scoring.format_table(self.score)]
        e164 = self.score.counts["phone_e164"]
        lines.append(f"phone E.164 exact: {e164.tp} of {e164.tp + e164.fn} numbers printed with a country")
        med = statistics.median(self.seconds_per_card) if self.seconds_per_card else 0.0
        lines.append(f"cards: {self.score.cards}; wall time {self.seconds_total:.1f} s "
                     f"({self.seconds_total / max(1, self.score.cards):.2f} s/card); "
                     f"median pipeline time {med:.2f} s/card per worker")
        c = self.calibration
        lines.append(f"confidence: {c['confident']} fields at or above {c['threshold']:.2f}, "
                     f"{c['confident_right_share']:.1%} right; {c['flagged']} flagged for review, "
                     f"{c['flagged_right_share']:.1%} right")
        if show_errors:
            lines.append("errors:")
            for err in self.score.errors:
                lines.append(f"  {err.file}  {err.field:<10} got {err.got!r}  want {err.want!r}")
        return "\n".join(lines)


def _value_right(kind: str, value: Any, truth: dict[str, Any]) -> bool:
    amb = truth.get("ambiguous") or {}
    if kind in scoring.SCALAR_FIELDS:
        wanted = [w for w in [truth.get(kind), *(amb.get(kind) or [])] if w]
        if kind == "address":
            return any(scoring.address_matches(value, w) for w in wanted)
        return scoring.canon(value) in {scoring.canon(w) for w in wanted}
    if kind == "emails":
        return str(value).strip().casefold() in {str(e).strip().casefold() for e in truth.get("emails") or []}
    if kind == "websites":
        sites = {scoring.site_key(w) for w in truth.get("websites") or []}
        sites |= {scoring.site_key(w) for alt in amb.get("websites") or [] for w in alt}
        return scoring.site_key(value) in sites
    if kind == "phones":
        return scoring.number_key(value) in {scoring.number_key(p.get("number")) for p in truth.get("phones") or []}
    return False


def calibration(preds: list[dict[str, Any]], truths: list[dict[str, Any]], policy: ReviewPolicy) -> dict[str, Any]:
    """Among fields the reader calls confident, what share is right (and among flagged ones); flagged is
    what ``policy`` sends to review, as in the report."""
    conf_right = conf_all = flag_right = flag_all = 0
    for t in truths:
        p = next((x for x in preds if str(x.get("file", "")).endswith(t["file"])), None)
        if not p or "details" not in p:
            continue
        d = p["details"]
        items = [(k, d[k]) for k in scoring.SCALAR_FIELDS if k in d]
        items += [(k, v) for k in ("emails", "phones", "websites") for v in d.get(k, [])]
        for kind, f in items:
            right = _value_right(kind, f["value"], t)
            flagged = f["confidence"] < policy.threshold or bool(policy.flags.intersection(f["flags"]))
            if flagged:
                flag_all += 1
                flag_right += right
            else:
                conf_all += 1
                conf_right += right
    return {"threshold": policy.threshold, "confident": conf_all, "confident_right": conf_right,
            "confident_right_share": conf_right / conf_all if conf_all else 0.0,
            "flagged": flag_all, "flagged_right": flag_right,
            "flagged_right_share": flag_right / flag_all if flag_all else 0.0}


def run_bench(groundtruth: Path, *, options: Options) -> BenchResult:
    """Scan every image the ground truth names (paths relative to its folder) into a scratch store."""
    truths = load_jsonl(groundtruth)
    base = groundtruth.parent
    paths = [str(base / t["file"]) for t in truths]
    with tempfile.TemporaryDirectory(prefix="cardscan-bench-") as tmp:
        opts = options.with_(db=Path(tmp) / "bench.db", jsonl=Path(tmp) / "pred.jsonl", report=None)
        t0 = time.perf_counter()
        result = scan(paths, options=opts)
        total = time.perf_counter() - t0
        preds = load_jsonl(opts.jsonl)
        seconds = [r.get("seconds") for r in preds if isinstance(r.get("seconds"), (int, float))]
    del result
    return BenchResult(scoring.score(truths, preds), preds, total, seconds,
                       calibration(preds, truths, options.review))
