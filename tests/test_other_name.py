"""A name printed in two scripts: the Latin form is the name, the other is kept as `other_name`."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import vobject

from cardscan.outputs import export as ex
from cardscan.outputs.export import ExportItem
from cardscan.parsing.contact import parse_text
from cardscan.parsing.scripts import is_other_script_name
from cardscan.store import Store
from contacts_fixtures import add, f, person

# invented people and firms
CHINESE = "Huaxin Trading Co., Ltd.\n华信贸易有限公司\n王小明\nWang Xiaoming\n总经理\nGeneral Manager\nwang@huaxin-trading.example\n+86 21 5555 0188"
KOREAN = "Hanbit Systems\n김민준\nMinjun Kim\n팀장\nTeam Leader\nminjun.kim@hanbit.example\n+82 2 555 0134"
JAPANESE = "Sakura Denki K.K.\nTaro Yamada 山田 太郎\nSales Manager\nt.yamada@sakura-denki.example"


def test_the_name_in_a_second_script_is_kept_beside_the_latin_name() -> None:
    c = parse_text(CHINESE)
    assert c.scalar("name") == "Wang Xiaoming"
    assert c.scalar("other_name") == "王小明"
    assert c.scalar("company") == "Huaxin Trading Co., Ltd."
    k = parse_text(KOREAN)
    assert (k.scalar("name"), k.scalar("other_name")) == ("Minjun Kim", "김민준")
    j = parse_text(JAPANESE)
    assert (j.scalar("name"), j.scalar("other_name")) == ("Taro Yamada", "山田 太郎")


def test_a_company_or_job_in_another_script_is_no_name() -> None:
    for text in ("华信贸易有限公司", "总经理", "팀장", "営業部長", "株式会社さくら"):
        assert not is_other_script_name(text), text
    for text in ("王小明", "김민준", "山田 太郎", "阿部 真央"):
        assert is_other_script_name(text), text
    # not next to the name: a slogan in kana at the bottom of the card is nobody's name
    c = parse_text("Sakura Denki K.K.\nTaro Yamada\nSales Manager\nt.yamada@sakura-denki.example\n+81 3 5555 0101\nみらい")
    assert c.other_name is None
    # no Latin name, no other name either (the card's own script is read as it is)
    assert parse_text("Sakura Denki K.K.\n山田 太郎\nt.yamada@sakura-denki.example").other_name is None


def test_other_name_is_stored_exported_and_editable(tmp_path: Path) -> None:
    c = replace(person("Wang Xiaoming"), other_name=f("王小明"))
    with Store(tmp_path / "c.db") as st:
        cid = add(st, c)
        got = st.contact(cid)
        assert got is not None and got.contact.other_name is not None
        assert got.contact.other_name.value == "王小明"
    item = ExportItem(1, c)
    (card,) = list(vobject.readComponents(ex.to_vcf([item]).decode("utf-8")))
    assert card.fn.value == "Wang Xiaoming" and card.nickname.value == "王小明"
    rows = list(csv.reader(io.StringIO(ex.to_csv([item], "plain").decode("utf-8").removeprefix("\ufeff"))))
    assert rows[1][rows[0].index("other name")] == "王小明"
    g = list(csv.reader(io.StringIO(ex.to_csv([item], "google").decode("utf-8").removeprefix("\ufeff"))))
    assert g[1][g[0].index("Nickname")] == "王小明"
    assert json.loads(ex.to_jsonl([item]))["other_name"]["value"] == "王小明"


def test_other_name_is_edited_from_the_command_line(tmp_path: Path) -> None:
    from conftest import run_cli

    db = tmp_path / "c.db"
    with Store(db) as st:
        cid = add(st, person("Wang Xiaoming"))
    r = run_cli("edit", str(cid), "--other-name", "王小明", "--db", str(db))
    assert r.returncode == 0, r.stderr
    with Store(db) as st:
        assert st.contact(cid).contact.scalar("other_name") == "王小明"


def test_family_and_given_name_read_as_two_lines_of_one_row_are_joined() -> None:
    from cardscan.models import Line, OcrResult, Word
    from cardscan.parsing.contact import parse

    def line(*words: tuple[str, tuple[int, int, int, int]]) -> Line:
        return Line(tuple(Word(t, 95.0, b) for t, b in words))

    ocr = OcrResult(lines=(
        line(("HANBIT", (10, 10, 200, 40))), line(("CEO", (10, 80, 60, 20))),
        line(("山田", (10, 120, 60, 30))), line(("太郎", (150, 121, 60, 30))),
        line(("TARO", (10, 170, 80, 20)), ("YAMADA", (100, 170, 110, 20))),
        line(("taro@hanbit.example", (10, 220, 200, 15)))), engine="test", image_size=(400, 300))
    c = parse(ocr)
    assert (c.scalar("name"), c.scalar("other_name"), c.scalar("title")) == ("TARO YAMADA", "山田 太郎", "CEO")


def test_a_two_character_family_name_is_not_taken_for_a_pictogram() -> None:
    from cardscan.models import Line, OcrResult, Word
    from cardscan.parsing.contact import parse

    ocr = OcrResult(lines=(
        Line((Word("CEO", 95.0, (10, 80, 60, 20)),)),
        Line((Word("山田", 95.0, (100, 120, 60, 50)), Word("太郎", 95.0, (220, 120, 50, 50)))),  # a wide gap
        Line((Word("TARO", 95.0, (10, 180, 80, 50)), Word("YAMADA", 95.0, (100, 180, 110, 50)))),
        Line((Word("taro@hanbit.example", 95.0, (10, 250, 200, 15)),))), engine="test", image_size=(400, 300))
    assert parse(ocr).scalar("other_name") == "山田 太郎"
