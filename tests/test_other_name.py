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
