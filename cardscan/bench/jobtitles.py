"""The parser's title on job titles in many languages: Faker's job lists (MIT licence; every
locale Faker ships, 27,000+ titles) printed on a fixed card, one at a time:

    Maria Keller / <job title> / Velmora Systems Ltd / +44 20 7946 0958 / maria@velmora.example.com

Per locale: titles read as printed (right), no title (missed), another value (wrong); and whether
the name and the company stay as they are. Needs Faker (`pip install -e '.[vocab]'`):

    python -m cardscan.bench.jobtitles [--count 3000] [--seed 7]

Faker's en_US, fr_FR, es_ES, pt_BR and de_DE lists feed occupation_words.txt (scripts/build_vocab.py),
so those locales are not a held-out measure; the others are.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import random
from collections import Counter

from cardscan.errors import MissingDependencyError

CARD = "Maria Keller\n{job}\nVelmora Systems Ltd\n+44 20 7946 0958\nmaria@velmora.example.com"


def faker_jobs() -> list[tuple[str, str]]:
    """(locale, job title) of every Faker locale with a job list, in a fixed order."""
    try:
        import faker.providers.job as jp
    except ImportError as e:
        raise MissingDependencyError("Faker is needed for this benchmark: pip install -e '.[vocab]'") from e
    out = []
    for m in sorted(pkgutil.iter_modules(jp.__path__), key=lambda m: m.name):
        try:
            jobs = importlib.import_module(f"faker.providers.job.{m.name}").Provider.jobs
        except (ImportError, AttributeError):
            continue
        out += [(m.name, str(j)) for j in jobs]
    return out


def run(count: int, seed: int) -> dict[str, Counter[str]]:
    from cardscan.parsing.contact import parse_text

    jobs = faker_jobs()
    random.Random(seed).shuffle(jobs)
    tally: dict[str, Counter[str]] = {}
    for loc, job in jobs[:count]:
        c = parse_text(CARD.format(job=job))
        t = tally.setdefault(loc, Counter())
        title = c.scalar("title")
        t["cards"] += 1
        t["right" if title == job else "missed" if title is None else "wrong"] += 1
        t["name_kept"] += c.scalar("name") == "Maria Keller"
        t["company_kept"] += c.scalar("company") == "Velmora Systems Ltd"
    return tally


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cardscan.bench.jobtitles")
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args(argv)
    tally = run(a.count, a.seed)
    total: Counter[str] = Counter()
    print(f"{'locale':8} {'cards':>5} {'right':>5} {'missed':>6} {'wrong':>5} {'name kept':>9} {'company kept':>12}")
    for loc, t in sorted(tally.items(), key=lambda kv: -kv[1]["cards"]):
        total.update(t)
        print(f"{loc:8} {t['cards']:5d} {t['right']:5d} {t['missed']:6d} {t['wrong']:5d} {t['name_kept']:9d} {t['company_kept']:12d}")
    print(f"{'all':8} {total['cards']:5d} {total['right']:5d} {total['missed']:6d} {total['wrong']:5d} "
          f"{total['name_kept']:9d} {total['company_kept']:12d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
