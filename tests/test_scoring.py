"""cardscan's scorer must agree with the evaluation scorer (../shared/eval/score.py)."""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from cardscan.bench import scoring
def _perturb(truth: dict, rng: random.Random) -> dict:
    """A plausible wrong-ish prediction: fields dropped, changed, swapped, extra values."""
    p = {"file": "/somewhere/" + truth["file"]}
    for k in ("name", "title", "company", "address"):
        v = truth.get(k)
        r = rng.random()
        p[k] = (v if r < 0.5 else None if r < 0.7 else (v or "x") + " extra" if r < 0.85
                else (v.upper() + "!" if v else "Acme Ltd"))
    p["emails"] = [e for e in truth.get("emails") or [] if rng.random() < 0.7] + (["x@example.com"] if rng.random() < 0.2 else [])
    p["websites"] = [("https://" + w + "/") if rng.random() < 0.5 else w for w in truth.get("websites") or [] if rng.random() < 0.7]
    phones = []
    for ph in truth.get("phones") or []:
        if rng.random() < 0.8:
            num = str(ph.get("number") or "")
            num = num if rng.random() < 0.6 else num.lstrip("+")
            phones.append({"number": num, "type": ph.get("type") if rng.random() < 0.7 else "other"})
    if rng.random() < 0.2:
        phones.append({"number": "+15555550123", "type": "work"})
    p["phones"] = phones
    return p


def _official(score_py: Path, truth_path: Path, preds: list[dict], tmp: Path) -> dict:
    pred_path, out = tmp / "pred.jsonl", tmp / "official.json"
    pred_path.write_text("".join(json.dumps(x) + "\n" for x in preds), encoding="utf-8")
    subprocess.run([sys.executable, str(score_py), str(truth_path), str(pred_path), "--json", str(out)],
                   check=True, capture_output=True)
    return json.loads(out.read_text())


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_eval_scorer_on_perturbed_predictions(shared_eval, tmp_path, seed):
    truth_path = shared_eval / "real" / "groundtruth.jsonl"
    truths = [json.loads(l) for l in truth_path.read_text(encoding="utf-8").splitlines() if l.strip()]
    rng = random.Random(seed)
    preds = [_perturb(t, rng) for t in truths if rng.random() < 0.9]
    ours = scoring.score(truths, preds).as_dict()
    assert ours == _official(shared_eval / "score.py", truth_path, preds, tmp_path)


def test_agrees_with_eval_scorer_on_samples(shared_eval, samples_dir, tmp_path):
    truth_path = samples_dir / "groundtruth.jsonl"
    truths = [json.loads(l) for l in truth_path.read_text(encoding="utf-8").splitlines() if l.strip()]
    rng = random.Random(7)
    preds = [_perturb(t, rng) for t in truths]
    assert scoring.score(truths, preds).as_dict() == _official(shared_eval / "score.py", truth_path, preds, tmp_path)


def test_rules():
    assert scoring.canon("  Dr. JOHN  smith ") == "dr john smith"
    assert scoring.site_key("HTTPS://www.Example.com/") == "example.com"
    assert scoring.number_key("+1 (415) 555-0100") == "155550100"
    assert scoring.number_key("12345") is None
    assert scoring.address_matches("1 Main St, Springfield IL 62701", "1 Main Street Springfield, IL 62701")
    assert not scoring.address_matches("Springfield", "1 Main Street Springfield, IL 62701")
    truth = {"file": "a.jpg", "name": "Ann Lee", "title": None, "company": "Acme", "emails": ["a@acme.com"],
             "phones": [{"number": "+14155550100", "type": "mobile"}], "websites": [], "address": None}
    perfect = dict(truth, file="x/a.jpg")
    s = scoring.score([truth], [perfect])
    assert s.exact == 1 and s.micro.f1() == 1.0 and s.type_accuracy == 1.0
    wrong_type = dict(perfect, phones=[{"number": "+14155550100", "type": "fax"}])
    s = scoring.score([truth], [wrong_type])
    assert s.exact == 0 and s.type_accuracy == 0.0 and s.micro.f1() == 1.0
    s = scoring.score([truth], [])
    assert s.missing == 1 and s.micro.recall() == 0.0
