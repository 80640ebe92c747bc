"""Contacts out: vCard 3.0, CSV (Google / Outlook / plain layouts) and JSON lines.

Pure writers turn :class:`ExportItem` values (a ``models.Contact`` plus its event, the event's
date and the user's notes) into bytes; :func:`export` loads them from the store and writes a file
atomically (temp file in the same folder, then ``os.replace``), so a failed export leaves the
previous file untouched and raises :class:`~cardscan.errors.OutputAccessError` (exit 5).

vCard (``--format vcf``): version 3.0, what iOS, Android, Google Contacts and Outlook import.
Text is escaped as RFC 6350 section 3.4 says (backslash, comma, semicolon, newline), so a
value read from a card can never start a property of its own ("Jane\\nEMAIL:x@evil" stays
inside FN).  Lines end in CRLF and are folded at 75 octets, never inside a UTF-8 character
nor between a backslash and the character it escapes.  Values a validator refused (flag
``invalid``) are not put in typed properties (a wrong number is worse than none); they are
listed in NOTE under "Not verified" so nothing read is lost.

CSV (``--format csv --csv-layout google|outlook|plain``): the csv module, every cell quoted,
CRLF rows, UTF-8 (with a byte-order mark for the Outlook layout, which Excel and the Outlook
import wizard need to read UTF-8).  Cells a spreadsheet would run as a formula (first
non-blank character ``= + - @``, a tab or CR, or their full-width forms ``＝ ＋ － ＠``) get a
leading apostrophe.

Phone numbers in CSV (the one exception, decided here):

- ``google`` and ``outlook`` are import files for Google Contacts and Outlook, which read a
  phone cell as text: an apostrophe would end up inside the imported number.  A number that
  validates is therefore written in international format, ``+1 415-555-0100``, *without*
  apostrophe.  Such a cell holds only ``+``, digits, spaces, hyphens (and `` ext. 12``): no
  function name, cell reference, parenthesis or DDE ``|``, so even a spreadsheet that evaluates
  it computes harmless arithmetic - it cannot run anything.  Do not round-trip these files
  through a spreadsheet (it would show ``#NULL!`` / a number); use the plain layout for that.
- ``plain`` is the layout for spreadsheets: phones are written ``'+1 415-555-0100`` (apostrophe
  first), so Excel, LibreOffice and Sheets keep them as text.
- A number that does not validate is treated like any other text cell (and goes to Notes in
  the importer layouts, as in vCard).

JSON lines (``--format jsonl``): one object per contact with every value, its confidence,
source, flags and validator message, the event, its date and the notes.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cardscan.contacts.names import NameParts, parse_name
from cardscan.safety import check_output_path
from cardscan.errors import BadArgumentsError
from cardscan.reading.files import write_atomic
from cardscan.models import Contact, Field, Phone

if TYPE_CHECKING:
    from cardscan.store import Store

log = logging.getLogger(__name__)

FORMATS = ("vcf", "csv", "jsonl")
CSV_LAYOUTS = ("google", "outlook", "plain")
PRODID = "-//cardscan//cardscan//EN"

# --------------------------------------------------------------------------------------------
# what is exported


@dataclass(frozen=True)
class ExportItem:
    """One contact with the metadata an export carries besides its fields."""

    id: int
    contact: Contact
    event: str | None = None
    event_date: str | None = None  # ISO date of the event, else None
    notes: tuple[str, ...] = ()
    created_at: str | None = None  # when it was scanned (UTC ISO 8601)
    updated_at: str | None = None
    reviewed: bool = False
    files: tuple[str, ...] = ()
    uid: str | None = None  # the contact's stable vCard UID (cardscan.store.contact_uids)


# --------------------------------------------------------------------------------------------
# text helpers (pure)

_LINE_BREAKS = re.compile(r"\r\n|[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def clean_text(value: str, /, *, multiline: bool = True) -> str:
    """Line breaks of every kind become ``\\n`` (or a space when ``multiline`` is False), tabs
    become spaces and other control characters are dropped: none of them is valid in a vCard
    value and a spreadsheet cell has no use for them."""
    v = _LINE_BREAKS.sub("\n" if multiline else " ", value).replace("\t", " ")
    return "".join(ch for ch in v if ch == "\n" or unicodedata.category(ch) != "Cc")


def split_name(name: str, /) -> NameParts:
    """Prefix, given, middle, family and suffix of a person's name (nameparser).  A name
    nameparser cannot split is kept whole as the given name."""
    text = clean_text(name, multiline=False).strip()
    if not text:
        return NameParts()
    return parse_name(text) or NameParts(given=text)


def _is_valid(v: Field | Phone) -> bool:
    return "invalid" not in v.flags


def _phone_parsed(p: Phone):  # noqa: ANN202 - phonenumbers.PhoneNumber | None
    import phonenumbers

    if not _is_valid(p) or not p.number.startswith("+"):
        return None  # not E.164: the country was never established, so it is unverified
    try:
        num = phonenumbers.parse(p.number, None)
    except phonenumbers.NumberParseException:
        return None
    return num if phonenumbers.is_valid_number(num) else None


def phone_international(p: Phone) -> str | None:
    """``+1 415-555-0100`` for a valid number, else None."""
    import phonenumbers

    num = _phone_parsed(p)
    if num is None:
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def phone_e164(p: Phone) -> str | None:
    import phonenumbers

    num = _phone_parsed(p)
    if num is None:
        return None
    out = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    return out + (f";ext={num.extension}" if num.extension else "")


def website_url(value: str) -> str | None:
    """The http(s) URL of a website value, or None when it is not one."""
    from cardscan.outputs.report import website_href

    return website_href(value)


def unverified(contact: Contact) -> list[str]:
    """Lines for values a validator refused: they go to the notes, not to typed fields."""
    out = []
    for e in contact.emails:
        if not _is_valid(e):
            out.append(f"e-mail {e.value}" + (f" ({e.message})" if e.message else ""))
    for p in contact.phones:
        if phone_international(p) is None:
            out.append(f"{p.type} phone {p.number}" + (f" ({p.message})" if p.message else ""))
    for w in contact.websites:
        if not _is_valid(w) or website_url(w.value) is None:
            out.append(f"website {w.value}" + (f" ({w.message})" if w.message else ""))
    return out


def _scan_date(item: ExportItem) -> str | None:
    return item.created_at[:10] if item.created_at else None


def note_text(item: ExportItem) -> str:
    """The NOTE / Notes text: where and when you met, the user's notes, unverified values."""
    lines = []
    when = item.event_date or _scan_date(item)
    if item.event:
        lines.append(f"Met at {item.event}" + (f", {when}" if when else ""))
    elif when:
        lines.append(f"Scanned {when}")
    lines.extend(n for n in item.notes if n.strip())
    bad = unverified(item.contact)
    if bad:
        lines.append("Not verified: " + "; ".join(bad))
    return clean_text("\n".join(lines))


# --------------------------------------------------------------------------------------------
# vCard 3.0


def vcard_escape(value: str, /) -> str:
    r"""RFC 6350 section 3.4 TEXT escaping: ``\\`` ``\,`` ``\;`` and ``\n`` for every line break."""
    v = clean_text(value)
    return v.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;").replace("\n", "\\n")


def _uri_value(url: str) -> str:
    """A URI value with the characters vCard parsers split or unescape percent-encoded."""
    return url.replace("\\", "%5C").replace(",", "%2C").replace(";", "%3B")


def fold_line(line: str, /, limit: int = 75) -> str:
    """Fold one content line to ``limit`` octets per physical line (RFC 6350 section 3.2):
    CRLF + a space before each continuation; never inside a UTF-8 sequence or an escape."""
    out: list[str] = []
    cur: list[str] = []
    size = 0
    budget = limit
    i = 0
    while i < len(line):
        ch = line[i]
        unit = ch + line[i + 1] if ch == "\\" and i + 1 < len(line) else ch  # keep "\n" together
        n = len(unit.encode("utf-8"))
        if size + n > budget and cur:
            out.append("".join(cur))
            cur, size, budget = [], 0, limit - 1  # continuation lines start with one space
        cur.append(unit)
        size += n
        i += len(unit)
    out.append("".join(cur))
    return "\r\n ".join(out) + "\r\n"


def _prop(name: str, value: str, params: str = "") -> str:
    return fold_line(f"{name}{(';' + params) if params else ''}:{value}")


_TEL_TYPES = {"work": "WORK,VOICE", "mobile": "CELL,VOICE", "fax": "WORK,FAX", "other": "VOICE"}


def vcard(item: ExportItem) -> str:
    """One vCard 3.0 (CRLF lines, folded)."""
    c = item.contact
    # values are written as stored (a line break in a misread name stays, escaped); N is split
    # from the name on one line
    name = clean_text(c.name.value).strip() if c.name else ""
    company = clean_text(c.company.value).strip() if c.company else ""
    parts = split_name(name) if name else NameParts()
    fn = name or company or next((e.value for e in c.emails), "") or f"Contact {item.id}"
    out = [_prop("BEGIN", "VCARD"), _prop("VERSION", "3.0"), _prop("PRODID", PRODID)]
    out.append(_prop("N", ";".join(vcard_escape(x) for x in
                                   (parts.family, parts.given, parts.middle, parts.prefix, parts.suffix))))
    out.append(_prop("FN", vcard_escape(fn)))
    if item.uid:
        out.append(_prop("UID", vcard_escape(item.uid)))
    if company:
        out.append(_prop("ORG", vcard_escape(company)))
        if not name:
            out.append(_prop("X-ABShowAs", "COMPANY"))  # iOS / macOS: list it under the company
    other = clean_text(c.other_name.value, multiline=False).strip() if c.other_name else ""
    if other:
        out.append(_prop("NICKNAME", vcard_escape(other)))  # the name in its other script (README: Exports)
    if c.title is not None and c.title.value.strip():
        out.append(_prop("TITLE", vcard_escape(c.title.value.strip())))
    for i, e in enumerate(x for x in c.emails if _is_valid(x)):
        out.append(_prop("EMAIL", vcard_escape(e.value.strip()), "TYPE=INTERNET,WORK" + (",PREF" if i == 0 else "")))
    for p in c.phones:
        num = phone_e164(p)
        if num is not None:
            out.append(_prop("TEL", vcard_escape(num), "TYPE=" + _TEL_TYPES.get(p.type, "VOICE")))
    for w in c.websites:
        url = website_url(w.value) if _is_valid(w) else None
        if url is not None:
            out.append(_prop("URL", _uri_value(url), "TYPE=WORK"))
    if c.address is not None and c.address.value.strip():
        # One-line (or multi-line) address in the street component: splitting it into city,
        # region and postal code is not reliable across countries, and a wrong split is worse.
        out.append(_prop("ADR", ";;" + vcard_escape(c.address.value.strip()) + ";;;;", "TYPE=WORK"))
    note = note_text(item)
    if note:
        out.append(_prop("NOTE", vcard_escape(note)))
    if item.event:
        out.append(_prop("CATEGORIES", vcard_escape(item.event)))
    out.append(_prop("END", "VCARD"))
    return "".join(out)


def to_vcf(items: Iterable[ExportItem]) -> bytes:
    return "".join(vcard(i) for i in items).encode("utf-8")


# --------------------------------------------------------------------------------------------
# CSV

# Google Contacts: the header Google Contacts writes when you export ("Google CSV") and reads
# back on import; the numbered groups repeat ("E-mail 2 - Label", ...).  Checked against the
# layout of current Google Contacts exports as used by several open-source converters
# (searched: "Google Contacts CSV import format headers"; Google's help page "Import contacts"
# says to export a contact to get this template).
GOOGLE_NAME_HEADERS = (
    "First Name", "Middle Name", "Last Name", "Phonetic First Name", "Phonetic Middle Name",
    "Phonetic Last Name", "Name Prefix", "Name Suffix", "Nickname", "File As", "Organization Name",
    "Organization Title", "Organization Department", "Birthday", "Notes", "Photo", "Labels",
)
GOOGLE_ADDRESS_HEADERS = (
    "Address 1 - Label", "Address 1 - Formatted", "Address 1 - Street", "Address 1 - City",
    "Address 1 - PO Box", "Address 1 - Region", "Address 1 - Postal Code", "Address 1 - Country",
    "Address 1 - Extended Address",
)
GOOGLE_PHONE_LABELS = {"work": "Work", "mobile": "Mobile", "fax": "Work Fax", "other": "Other"}

# Outlook: the columns of Microsoft's sample file in "Create or edit .csv files to import into
# Outlook" (support.microsoft.com, article 4518d70d-8fe9-46ad-94fa-1494247193c7), in the order
# Outlook's own CSV export writes them (searched: "Outlook CSV import columns").  Outlook maps
# columns by these exact names; "Title" is the honorific, "Job Title" the job.
OUTLOOK_HEADERS = (
    "Title", "First Name", "Middle Name", "Last Name", "Suffix", "Company", "Department", "Job Title",
    "Business Street", "Business Street 2", "Business Street 3", "Business City", "Business State",
    "Business Postal Code", "Business Country/Region", "Home Street", "Home Street 2", "Home Street 3",
    "Home City", "Home State", "Home Postal Code", "Home Country/Region", "Other Street", "Other Street 2",
    "Other Street 3", "Other City", "Other State", "Other Postal Code", "Other Country/Region",
    "Assistant's Phone", "Business Fax", "Business Phone", "Business Phone 2", "Callback", "Car Phone",
    "Company Main Phone", "Home Fax", "Home Phone", "Home Phone 2", "ISDN", "Mobile Phone", "Other Fax",
    "Other Phone", "Pager", "Primary Phone", "Radio Phone", "TTY/TDD Phone", "Telex", "Account",
    "Anniversary", "Assistant's Name", "Billing Information", "Birthday", "Business Address PO Box",
    "Categories", "Children", "Directory Server", "E-mail Address", "E-mail Type", "E-mail Display Name",
    "E-mail 2 Address", "E-mail 2 Type", "E-mail 2 Display Name", "E-mail 3 Address", "E-mail 3 Type",
    "E-mail 3 Display Name", "Gender", "Government ID Number", "Hobby", "Home Address PO Box", "Initials",
    "Internet Free Busy", "Keywords", "Language", "Location", "Manager's Name", "Mileage", "Notes",
    "Office Location", "Organizational ID Number", "Other Address PO Box", "Priority", "Private",
    "Profession", "Referred By", "Sensitivity", "Spouse", "User 1", "User 2", "User 3", "User 4", "Web Page",
)
# phone type -> the Outlook columns it fills, in order; numbers beyond them go to Notes
OUTLOOK_PHONE_SLOTS = {
    "work": ("Business Phone", "Business Phone 2", "Company Main Phone"),
    "mobile": ("Mobile Phone", "Car Phone"),
    "fax": ("Business Fax", "Other Fax"),
    "other": ("Other Phone", "Primary Phone"),
}

PLAIN_HEADERS = (
    "id", "name", "first name", "last name", "other name", "title", "company", "emails", "work phones", "mobile phones",
    "fax numbers", "other phones", "websites", "address", "event", "event date", "notes", "scanned at",
    "reviewed",
)

# first characters that make Excel, LibreOffice or Sheets evaluate a cell (OWASP "CSV
# injection"), with their full-width forms, which some spreadsheets normalise
FORMULA_TRIGGERS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
# also the invisible ones a spreadsheet skips before "=": byte-order mark, zero-width space and joiners
_BLANKS = " \u00a0\u3000\n\ufeff\u200b\u200c\u200d\u2060"
_SAFE_PHONE = re.compile(r"^\+[0-9][0-9 \-]*(?: ext\. [0-9]+)?$")


def neutralise(value: str, /) -> str:
    """A leading apostrophe when a spreadsheet would read the cell as a formula.  A value that
    already starts with apostrophes before such a character gets one more, so the rule can be
    undone exactly: drop one apostrophe when the text after all of them starts a formula."""
    core = value.lstrip("'")
    if core[:1] in FORMULA_TRIGGERS or core.lstrip(_BLANKS)[:1] in FORMULA_TRIGGERS:
        return "'" + value
    return value


def _cell(value: str | None) -> str:
    return neutralise(clean_text(value or "").strip()) if value else ""


def phone_cell(p: Phone, layout: str) -> str | None:
    """The cell of a valid phone number under this layout's policy (module docstring), or None."""
    text = phone_international(p)
    if text is None or not _SAFE_PHONE.match(text):
        return None
    return "'" + text if layout == "plain" else text


def _google_row(item: ExportItem, n_email: int, n_phone: int, n_web: int) -> list[str]:
    c = item.contact
    parts = split_name(c.name.value) if c.name else NameParts()
    row = {
        "First Name": parts.given, "Middle Name": parts.middle, "Last Name": parts.family,
        "Name Prefix": parts.prefix, "Name Suffix": parts.suffix,
        "File As": "" if c.name else (c.company.value if c.company else ""),
        "Organization Name": c.scalar("company"), "Organization Title": c.scalar("title"),
        "Nickname": c.scalar("other_name"), "Notes": note_text(item), "Labels": (item.event or "").replace(":::", ":"),
    }
    cells = [_cell(row.get(h)) for h in GOOGLE_NAME_HEADERS]
    emails = [e.value for e in c.emails if _is_valid(e)]
    for i in range(n_email):
        cells += ["Work", _cell(emails[i])] if i < len(emails) else ["", ""]
    phones = [(p, phone_cell(p, "google")) for p in c.phones]
    phones = [(p, cell) for p, cell in phones if cell is not None]
    for i in range(n_phone):
        cells += [GOOGLE_PHONE_LABELS.get(phones[i][0].type, "Other"), phones[i][1]] if i < len(phones) else ["", ""]
    addr = c.scalar("address")
    cells += ["Work", _cell(addr), _cell(addr), "", "", "", "", "", ""] if addr else [""] * len(GOOGLE_ADDRESS_HEADERS)
    webs = [u for u in (website_url(w.value) for w in c.websites if _is_valid(w)) if u]
    for i in range(n_web):
        cells += ["Work", _cell(webs[i])] if i < len(webs) else ["", ""]
    return cells


def google_headers(n_email: int = 1, n_phone: int = 1, n_web: int = 1) -> list[str]:
    h = list(GOOGLE_NAME_HEADERS)
    for i in range(1, n_email + 1):
        h += [f"E-mail {i} - Label", f"E-mail {i} - Value"]
    for i in range(1, n_phone + 1):
        h += [f"Phone {i} - Label", f"Phone {i} - Value"]
    h += GOOGLE_ADDRESS_HEADERS
    for i in range(1, n_web + 1):
        h += [f"Website {i} - Label", f"Website {i} - Value"]
    return h


def _outlook_row(item: ExportItem) -> list[str]:
    c = item.contact
    parts = split_name(c.name.value) if c.name else NameParts()
    row: dict[str, str | None] = {
        "Title": parts.prefix, "First Name": parts.given, "Middle Name": parts.middle, "Last Name": parts.family,
        "Suffix": parts.suffix, "Company": c.scalar("company"), "Job Title": c.scalar("title"),
        "Business Street": c.scalar("address"), "Categories": item.event,
    }
    extra: list[str] = []
    emails = [e.value for e in c.emails if _is_valid(e)]
    display = clean_text(c.name.value, multiline=False).strip() if c.name else ""
    for i, e in enumerate(emails):
        if i < 3:
            k = "E-mail" if i == 0 else f"E-mail {i + 1}"
            row[f"{k} Address"], row[f"{k} Type"] = e, "SMTP"
            row[f"{k} Display Name"] = f"{display} ({e})" if display else e
        else:
            extra.append(f"e-mail {e}")
    used: set[str] = set()
    for p in c.phones:
        cell = phone_cell(p, "outlook")
        if cell is None:
            continue  # listed under "Not verified" in the notes
        slot = next((s for s in OUTLOOK_PHONE_SLOTS.get(p.type, OUTLOOK_PHONE_SLOTS["other"]) if s not in used), None)
        if slot is None:
            extra.append(f"{p.type} phone {cell}")
        else:
            used.add(slot)
            row[slot] = cell
    if c.other_name is not None and c.other_name.value.strip():
        extra.append(f"name {clean_text(c.other_name.value, multiline=False).strip()}")  # Outlook has no nickname column
    webs = [u for u in (website_url(w.value) for w in c.websites if _is_valid(w)) if u]
    if webs:
        row["Web Page"] = webs[0]
        extra += [f"website {u}" for u in webs[1:]]
    notes = note_text(item)
    if extra:
        notes = (notes + "\n" if notes else "") + "Also: " + "; ".join(extra)
    row["Notes"] = notes
    phone_cols = {s for slots in OUTLOOK_PHONE_SLOTS.values() for s in slots}
    return [(row.get(h) or "") if h in phone_cols else _cell(row.get(h)) for h in OUTLOOK_HEADERS]


def _plain_row(item: ExportItem) -> list[str]:
    c = item.contact
    parts = split_name(c.name.value) if c.name else NameParts()

    def phones(kind: str) -> str:
        texts = [cell for p in c.phones if p.type == kind and (cell := phone_cell(p, "google")) is not None]
        return "'" + "; ".join(texts) if texts else ""  # the spreadsheet layout's phone policy

    by_type = {k: phones(k) for k in ("work", "mobile", "fax", "other")}
    cells = [
        str(item.id), _cell(c.scalar("name")), _cell(parts.given), _cell(parts.family), _cell(c.scalar("other_name")),
        _cell(c.scalar("title")),
        _cell(c.scalar("company")), _cell("; ".join(e.value for e in c.emails if _is_valid(e))),
        by_type["work"], by_type["mobile"], by_type["fax"], by_type["other"],
        _cell("; ".join(u for u in (website_url(w.value) for w in c.websites if _is_valid(w)) if u)),
        _cell(c.scalar("address")), _cell(item.event), _cell(item.event_date), _cell(note_text(item)),
        _cell(item.created_at), "yes" if item.reviewed else "no",
    ]
    return cells


def csv_table(items: Sequence[ExportItem], layout: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of one CSV layout."""
    if layout == "google":
        def count(f: Callable[[ExportItem], int]) -> int:
            return max([1, *(f(i) for i in items)])

        n_email = count(lambda i: sum(_is_valid(e) for e in i.contact.emails))
        n_phone = count(lambda i: sum(phone_cell(p, "google") is not None for p in i.contact.phones))
        n_web = count(lambda i: sum(1 for w in i.contact.websites if _is_valid(w) and website_url(w.value)))
        return google_headers(n_email, n_phone, n_web), [_google_row(i, n_email, n_phone, n_web) for i in items]
    if layout == "outlook":
        return list(OUTLOOK_HEADERS), [_outlook_row(i) for i in items]
    if layout == "plain":
        return list(PLAIN_HEADERS), [_plain_row(i) for i in items]
    raise BadArgumentsError(f"unknown CSV layout {layout!r}", hint="use google, outlook or plain")


def to_csv(items: Sequence[ExportItem], layout: str = "google") -> bytes:
    header, rows = csv_table(items, layout)
    buf = io.StringIO(newline="")
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    data = buf.getvalue().encode("utf-8")
    # a byte-order mark: Excel reads the file as UTF-8 only with one ("João Araújo", not "JoÃ£o");
    # Google Contacts' import takes the Google layout as is
    return (b"\xef\xbb\xbf" + data) if layout in ("outlook", "plain") else data


# --------------------------------------------------------------------------------------------
# JSON lines


def _value_dict(v: Field | Phone | None) -> dict[str, Any] | None:
    if v is None:
        return None
    d = asdict(v)
    d["flags"] = list(v.flags)
    return d


def json_record(item: ExportItem) -> dict[str, Any]:
    c = item.contact
    return {
        "id": item.id,
        "name": _value_dict(c.name), "title": _value_dict(c.title), "company": _value_dict(c.company),
        "address": _value_dict(c.address), "other_name": _value_dict(c.other_name),
        "emails": [_value_dict(e) for e in c.emails],
        "phones": [_value_dict(p) for p in c.phones],
        "websites": [_value_dict(w) for w in c.websites],
        "region": c.region,
        "event": item.event, "event_date": item.event_date,
        "notes": list(item.notes),
        "created_at": item.created_at, "updated_at": item.updated_at, "reviewed": item.reviewed,
        "files": list(item.files),
    }


def to_jsonl(items: Iterable[ExportItem]) -> bytes:
    lines = []
    for i in items:
        s = json.dumps(json_record(i), ensure_ascii=False, separators=(",", ":"))
        # characters str.splitlines() and JavaScript treat as line ends stay escaped
        s = s.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\x85", "\\u0085")
        lines.append(s + "\n")
    return "".join(lines).encode("utf-8")


def render(items: Sequence[ExportItem], fmt: str, *, layout: str = "google") -> bytes:
    if fmt == "vcf":
        return to_vcf(items)
    if fmt == "csv":
        return to_csv(items, layout)
    if fmt == "jsonl":
        return to_jsonl(items)
    raise BadArgumentsError(f"unknown export format {fmt!r}", hint="use vcf, csv or jsonl")


# --------------------------------------------------------------------------------------------
# store and files (I/O at the edges)


def parse_since(text: str) -> str:
    """An ISO date or date-time (UTC, as the store writes them) to compare scan times with."""
    t = text.strip()
    try:
        if len(t) == 10:
            return date.fromisoformat(t).isoformat()
        return datetime.fromisoformat(t.replace("Z", "+00:00")).isoformat()
    except ValueError:
        raise BadArgumentsError(f"--since {text!r} is not a date", hint="write it as YYYY-MM-DD") from None


def load_items(store: Store, *, event: str | None = None, since: str | None = None) -> list[ExportItem]:
    """Contacts (merged-away ones left out) as export items, in scan order.  ``since`` keeps
    contacts scanned on or after that ISO date (UTC)."""
    cutoff = parse_since(since) if since else None
    if event is not None and event not in {name for name, _ in store.events()}:
        raise BadArgumentsError(f"no event named {event!r} in {store.path}",
                                hint="cardscan report lists the events; names are case-sensitive")
    dates = dict(store.events())
    out = []
    for r in store.contacts(event=event):
        if cutoff is not None and r.created_at < cutoff:
            continue
        out.append(ExportItem(
            id=r.id, contact=r.contact, event=r.event, event_date=dates.get(r.event) if r.event else None,
            notes=(*r.notes, *(f"Asks for: {x}" for x in r.asks), *(f"Offers: {x}" for x in r.offers)),
            created_at=r.created_at, updated_at=r.updated_at, reviewed=r.reviewed,
            files=tuple(k.path for k in r.cards),
        ))
    return out


@dataclass(frozen=True)
class ExportResult:
    count: int
    path: Path | None  # None = standard output
    bytes: int


def export(store: Store, fmt: str, *, layout: str = "google", event: str | None = None, since: str | None = None,
           output: Path | None = None) -> ExportResult:
    """Export the store's contacts; to ``output`` (atomically) or standard output."""
    if fmt not in FORMATS:
        raise BadArgumentsError(f"unknown export format {fmt!r}", hint="use vcf, csv or jsonl")
    if fmt == "csv" and layout not in CSV_LAYOUTS:
        raise BadArgumentsError(f"unknown CSV layout {layout!r}", hint="use google, outlook or plain")
    check_output_path(output, store.path, what="export file")
    items = load_items(store, event=event, since=since)
    if not items and (event is not None or since is not None):
        what = " and ".join(x for x in (f"of event {event!r}" if event is not None else "",
                                        f"scanned on or after {since}" if since else "") if x)
        raise BadArgumentsError(f"no contacts {what} in {store.path}; nothing written")
    if not items:
        log.warning("no contacts in %s: the export is empty", store.path)
    if fmt == "vcf":
        from cardscan.store import contact_uids

        uids = contact_uids(store, [i.id for i in items])
        items = [replace(i, uid=uids[i.id]) for i in items]
    data = render(items, fmt, layout=layout)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        write_atomic(output, data)
    log.info("exported %d contacts as %s%s", len(items), fmt, f" ({layout})" if fmt == "csv" else "")
    return ExportResult(len(items), output, len(data))


__all__ = [
    "CSV_LAYOUTS", "ExportItem", "ExportResult", "FORMATS", "GOOGLE_ADDRESS_HEADERS", "GOOGLE_NAME_HEADERS",
    "NameParts", "OUTLOOK_HEADERS", "PLAIN_HEADERS", "clean_text", "csv_table", "export", "fold_line",
    "google_headers", "json_record", "load_items", "neutralise", "note_text", "parse_since", "phone_cell",
    "render", "split_name", "to_csv", "to_jsonl", "to_vcf", "unverified", "vcard", "vcard_escape", "write_atomic",
]
