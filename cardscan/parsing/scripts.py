"""The person's name in a second script: "村瀬 善信" printed beside "YOSHINOBU MURASE".

Cards from China, Japan, Korea (and many others) print the name twice, in the local script and in
Latin letters. The contact's name stays the Latin form (what an e-mail greeting and most address
books use); the other form is kept as ``Contact.other_name`` and exported as the vCard NICKNAME
(and as a column of the CSV/JSON exports), so it is neither lost nor mistaken for the company.

Evidence, none of it tied to a language's word list beyond the few words below: the line sits next
to the Latin name (directly above or below it, or shares its line), is written wholly in a
CJK/Hangul/kana script, is short as names are (2-8 characters), holds no digit, and holds none of
the words by which such scripts mark a company or a job ("公司", "株式会社", "经理", "部長", "대표").
"""
from __future__ import annotations

import re

from cardscan.models import SOURCE_OCR, Field
from cardscan.parsing.layout import CJK_CHARS, CJK_RE
from cardscan.parsing.lines import LOW, _Ln, _words_conf

# Han, kana, Hangul (and their compatibility/half-width forms), with the middle dot and spaces
# that separate family and given names.
_OTHER_NAME_RE = re.compile(rf"^[{CJK_CHARS}][{CJK_CHARS}\u30fb\u00b7 ]*[{CJK_CHARS}]$")
_SCRIPT_CHAR_RE = CJK_RE
MIN_CHARS, MAX_CHARS = 2, 8

# How the CJK scripts write a firm and a job: they make a short line a company or a job, not a
# name, and find the company and title of a card printed in Chinese or Japanese only.
_COMPANY_MARKS = (
    "公司", "会社", "株式", "有限", "集团", "集團", "企业", "企業", "银行", "銀行", "大学", "大學", "学院", "事務所",
    "研究所", "协会", "協会", "商店", "工業", "工业", "科技", "医院", "病院", "㈱", "(株)", "（株）",
    "주식회사", "(주)", "㈜", "회사", "그룹", "은행", "대학교", "병원", "법인", "협회", "연구소", "상사",
)
_JOB_MARKS = (
    "经理", "經理", "总监", "總監", "主任", "社長", "会长", "會長", "董事", "総裁", "总裁", "總裁", "工程师", "工程師",
    "顾问", "顧問", "秘书", "秘書", "教授", "医生", "醫生", "律师", "律師", "部長", "部长", "課長", "係長", "取締役",
    "専務", "常務", "代表", "所長", "店長", "院長", "主管", "课长", "科长", "处长", "處長", "局长", "局長",
    "대표", "이사", "부장", "과장", "팀장", "사장", "실장", "차장", "대리", "사원", "교수", "본부장", "상무",
    "전무", "매니저", "주임", "연구원", "원장", "소장", "회장",
)
# Words that make a short CJK/Hangul line a company, a department or a job, not a name.
_NOT_NAME = _COMPANY_MARKS + _JOB_MARKS + ("中心", "部门", "部門", "本部", "주식", "센터", "영업부")


def has_job_mark(text: str, /) -> bool:
    """A CJK/Hangul job word in the text ("部長", "과장"): a title line, never part of a name or firm."""
    return any(m in text for m in _JOB_MARKS)


def ends_with_firm_mark(text: str, /) -> bool:
    """The text ends as a CJK/Hangul firm's name ends ("株式会社", "有限公司", "주식회사"): a legal form."""
    t = text.strip()
    return any(t.endswith(m) for m in _COMPANY_MARKS)


_SCRIPT_LINE_RE = re.compile(rf"^[{CJK_CHARS}\u30fb\u00b7\u3000 ()（）・]+$")


def is_other_script_name(text: str, /) -> bool:
    """A short line wholly in a CJK/Hangul script with no company or job word: a name's form."""
    t = text.strip()
    chars = len(_SCRIPT_CHAR_RE.findall(t))
    if not MIN_CHARS <= chars <= MAX_CHARS or not _OTHER_NAME_RE.match(t):
        return False
    return not any(w in t for w in _NOT_NAME)


def find_other_name(lines: list[_Ln], name_ln: _Ln | None, /) -> tuple[_Ln | None, Field] | None:
    """The name's other-script form next to the chosen Latin name line, as an OCR field."""
    if name_ln is None:
        return None
    at = next((k for k, l in enumerate(lines) if l is name_ln), None)
    if at is None:
        return None
    # on the name's own line: "Taro Yamada 山田太郎" (the Latin part became the name)
    # ("Kim Min-jun (김민준)", "Chan Tai Man（陳大文）": the brackets are no part of it)
    spaced = re.sub(r"[()\[\]（）【】「」]", " ", name_ln.text)
    own = " ".join(t for t in spaced.split() if _SCRIPT_CHAR_RE.search(t))
    if own and is_other_script_name(own):
        return None, _field(own, name_ln)
    for k in (at + 1, at - 1):
        if 0 <= k < len(lines):
            ln = lines[k]
            if ln.used or ln.contact or not _SCRIPT_CHAR_RE.search(ln.text):
                continue
            # family and given name printed far apart are read as two lines of one row
            row = [l for l in lines if not l.used and not l.contact and _same_row(l, ln)]
            row.sort(key=lambda l: l.line.box[0])
            text = " ".join(" ".join(l.text.split()) for l in row)
            if is_other_script_name(text):
                for l in row:
                    if l is not ln:
                        l.used = "name"
                return ln, _field(text, ln)
    return None


def _same_row(a: _Ln, b: _Ln) -> bool:
    if a is b:
        return True
    ax, ay, aw, ah = a.line.box
    bx, by, bw, bh = b.line.box
    if min(ah, bh) <= 0:
        return False
    overlap = min(ay + ah, by + bh) - max(ay, by)
    return overlap >= 0.6 * min(ah, bh)


def _field(value: str, ln: _Ln) -> Field:
    conf = round(_words_conf(ln) * 0.9, 3)
    flags = ("low_confidence",) if conf < LOW else ()
    return Field(value, conf, SOURCE_OCR, value, flags)


MAX_SCRIPT_NAME = 5  # Han/kana characters of a name printed alone (family and given name)


SCRIPT_MIN_READ = 0.8  # a line the reader was less sure of may be a logo or a picture read as characters


def _script_only(ln: _Ln) -> bool:
    return not ln.used and not ln.contact and bool(_SCRIPT_LINE_RE.match(ln.text.strip())) and \
        _words_conf(ln) >= SCRIPT_MIN_READ


def find_script_name(lines: list[_Ln], /) -> tuple[_Ln, Field] | None:
    """No Latin name on the card: a short line wholly in the script, no firm or job mark, the
    largest such line (a name is printed larger than the text around it)."""
    cands = [ln for ln in lines if _script_only(ln) and is_other_script_name(ln.text)
             and len(_SCRIPT_CHAR_RE.findall(ln.text)) <= MAX_SCRIPT_NAME]
    if not cands:
        return None
    ln = max(cands, key=lambda l: (l.height, -l.i))
    ln.used = "name"
    return ln, _field(" ".join(ln.text.split()), ln)


def find_script_title(lines: list[_Ln], name_ln: _Ln | None, /) -> Field | None:
    """No Latin title: a line wholly in the script holding a job mark ("営業部 部長", "销售经理"),
    the nearest to the name."""
    cands = [ln for ln in lines if _script_only(ln) and len(ln.text) <= 20 and any(m in ln.text for m in _JOB_MARKS)
             and not any(m in ln.text for m in _COMPANY_MARKS)]
    if not cands:
        return None
    ln = min(cands, key=lambda l: (abs(l.i - name_ln.i) if name_ln is not None else 0, l.i))
    ln.used = "title"
    return _field(" ".join(ln.text.split()), ln)


def find_script_company(lines: list[_Ln], /) -> Field | None:
    """No Latin company: a line wholly in the script holding a firm's mark ("株式会社", "有限公司"),
    the largest."""
    cands = [ln for ln in lines if _script_only(ln) and len(ln.text) <= 40 and any(m in ln.text for m in _COMPANY_MARKS)]
    if not cands:
        return None
    ln = max(cands, key=lambda l: (l.height, -l.i))
    ln.used = "company"
    return _field(" ".join(ln.text.split()), ln)
