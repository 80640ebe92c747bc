"""The line-role model (cardscan/parsing/roles.py and its shipped data/roles.crfsuite)."""
from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pytest

from cardscan.bench.parselines import printed_ocr
from cardscan.errors import ExitCode, RoleModelError
from cardscan.parsing import roles
from cardscan.parsing.contact import _read_lines, parse
from cardscan.parsing.layout import text_to_ocr

# trained on seeds 1_000_000 and up (scripts/train_roles.py): these cards were never seen
UNSEEN = range(310, 322)


def _card_roles(seed: int, hard: bool = False) -> tuple[list[str], list[str]]:
    """(truth, the model's most likely role) for each printed line of a synthetic card."""
    from cardscan.bench import synth

    card = synth.make_card(seed, qr=None, hard=hard)
    r = _read_lines(printed_ocr(card.lines, card.boxes))
    probs = roles.role_probs(r.lines, r.email_hits, r.domains)
    assert probs is not None and len(probs) == len(r.lines) == len(card.lines)
    best = [max(p, key=lambda k: p[k]) for p in probs]
    return list(card.roles), best


def test_shipped_model_decides_roles_on_unseen_cards() -> None:
    right = total = 0
    for seed in UNSEEN:
        truth, got = _card_roles(seed, hard=seed % 2 == 1)
        for t, g in zip(truth, got):
            if t in ("name", "title", "company"):
                total += 1
                right += t == g
    assert total >= 30
    assert right >= 0.95 * total, (right, total)


def test_model_finds_a_company_the_rules_cannot() -> None:
    """No legal form, no company word, a domain that does not spell it: only the layout says
    'company' (the largest line, over the name and title, though not so large that its size alone
    makes it the logo: see test_parse.test_the_largest_print_that_names_no_one_is_the_company)."""
    lines = ("Brelamora", "Ana Lima", "Sales Director", "+44 20 7946 0958", "ana.lima@example.com",
             "12 Harbour Street, Leeds LS1 4AB")
    boxes = ((40, 30, 400, 74), (40, 160, 300, 200), (40, 210, 280, 240), (40, 300, 330, 330),
             (40, 340, 400, 370), (40, 380, 480, 410))
    ocr = printed_ocr(lines, boxes)
    assert parse(ocr, use_model=False).company is None
    with_model = parse(ocr)
    assert with_model.company is not None and with_model.company.value == "Brelamora"
    assert with_model.name is not None and with_model.name.value == "Ana Lima"


def test_model_is_not_taken_for_a_person_or_small_print() -> None:
    """The model's word alone never makes a person's name or a line smaller than the text a company."""
    lines = ("Ana Lima", "Sales Director", "R. Oliveira", "+44 20 7946 0958", "ana.lima@example.com")
    boxes = ((40, 30, 400, 90), (40, 100, 280, 130), (40, 140, 200, 170), (40, 300, 330, 330), (40, 340, 400, 370))
    c = parse(printed_ocr(lines, boxes))
    assert c.company is None


@pytest.mark.parametrize("content", [None, b"not a model", b"lCRF" + b"\0" * 60])
def test_missing_or_damaged_model_is_a_clear_error(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "roles.crfsuite"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(RoleModelError) as e:
        roles.load_model(path)
    assert e.value.exit_code == ExitCode.missing_dependency
    assert str(path) in str(e.value) and "make roles" in str(e.value)


def test_cut_model_file_is_refused_before_crfsuite_reads_it(tmp_path: Path) -> None:
    """CRFsuite reads past the end of a truncated file and the process dies: the header check stops it."""
    path = tmp_path / "roles.crfsuite"
    path.write_bytes(roles.MODEL_PATH.read_bytes()[:4000])
    with pytest.raises(RoleModelError, match="not a whole CRFsuite model"):
        roles.load_model(path)


def test_parse_falls_back_to_the_rules_with_one_log_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    from cardscan.parsing.contact import parse_text

    monkeypatch.setattr(roles, "MODEL_PATH", tmp_path / "gone.crfsuite")
    text = "Acme Logistics Ltd\nAna Lima\nSales Director\nana.lima@acmelogistics.com"
    with caplog.at_level(logging.WARNING, logger="cardscan.parsing.roles"):
        a = parse_text(text)
        b = parse_text(text)
    warnings = [r for r in caplog.records if "rules alone" in r.getMessage()]
    assert len(warnings) == 1 and "gone.crfsuite" in warnings[0].getMessage()
    ref = parse(text_to_ocr(text), use_model=False)  # the same text by the rules alone
    for c in (a, b):
        for f in ("name", "title", "company"):
            assert c.scalar(f) == ref.scalar(f)
    assert a.scalar("company") == "Acme Logistics Ltd" and a.scalar("name") == "Ana Lima"


def test_training_is_reproducible(tmp_path: Path) -> None:
    """The same seeds give the same model file (a few cards: the real one is `make roles`)."""
    script = Path(__file__).resolve().parents[1] / "scripts" / "train_roles.py"
    spec = importlib.util.spec_from_file_location("train_roles", script)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    a, b = tmp_path / "a.crfsuite", tmp_path / "b.crfsuite"
    assert mod.main(["--cards", "6", "--out", str(a)]) == 0
    assert mod.main(["--cards", "6", "--out", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()
    roles.load_model(a)  # and it is a model the parser can open


def test_the_role_model_alone_takes_no_company_from_a_line_the_ocr_was_unsure_of() -> None:
    """A big logo line with no company evidence but the role model's: taken when it was read
    well, left empty when the OCR was unsure of it (a misread logo, "O4ERTE", is a guess on a guess)."""
    from cardscan.models import Line, OcrResult, Word
    from cardscan.parsing.contact import parse

    def card(logo_conf: float) -> OcrResult:
        def line(words, conf=96.0):  # noqa: ANN001, ANN202
            return Line(tuple(Word(t, conf, b) for t, b in words))
        return OcrResult(lines=(
            line([("KVELTRA", (500, 50, 330, 86))], logo_conf),
            line([("Marta", (220, 210, 200, 90)), ("Jensen", (440, 210, 260, 90))]),
            line([("Cofounder", (220, 330, 300, 50))]),
            line([("Vestergade", (220, 420, 250, 40)), ("12,", (480, 420, 60, 40)), ("8000", (550, 420, 100, 40)),
                  ("Aarhus,", (660, 420, 160, 40)), ("Denmark", (830, 420, 180, 40))]),
            line([("+45", (220, 480, 80, 40)), ("20", (310, 480, 50, 40)), ("55", (370, 480, 50, 40)),
                  ("01", (430, 480, 50, 40)), ("77", (490, 480, 50, 40))]),
            line([("marta@northbeam.example", (220, 540, 500, 40))]),
        ), engine="test", image_size=(1200, 700))

    assert parse(card(96.0)).scalar("company") == "KVELTRA"
    assert parse(card(96.0), use_model=False).scalar("company") == "KVELTRA"  # the largest print, by the rules too
    assert parse(card(52.0)).company is None
    assert parse(card(52.0), use_model=False).company is None
