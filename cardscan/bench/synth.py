"""Seeded synthetic business cards and photo-like images of them, with ground truth.

``make_card(seed)`` renders a flat card with invented content (people, companies, invented or
``example.*`` domains, phone numbers in fictional ranges where a country has them, always valid for
``phonenumbers``) and returns it with its ground-truth record in the format of the evaluation set
(``file, name, title, company, emails, phones[{number, type, raw}], websites, address, photo_kind,
notes``). ``photograph(card, seed)`` lays it on a procedural table with other objects, in
perspective, under uneven light, blurred, noisy and JPEG-compressed; ``kind="scan"`` gives a flat
scan instead. ``make_set`` yields many of them; ``python -m cardscan.bench.synth OUTDIR`` writes a set.

Everything is a pure function of the seed (and of the installed fonts: the same seed gives the same
bytes on machines with the same font packages, see ``FONT_FAMILIES``).
"""
from __future__ import annotations

import argparse
import io
import json
import logging
import math
import random
import re
import unicodedata
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Sequence

import cv2
import numpy as np
import phonenumbers
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from cardscan.errors import BadArgumentsError, MissingDependencyError

log = logging.getLogger(__name__)

RGB = tuple[int, int, int]

# ----------------------------------------------------------------------------------------------
# Fonts: real TrueType files from Debian packages. A family is used only when its files exist.
# ----------------------------------------------------------------------------------------------

_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/truetype/liberation"),
    Path("/usr/share/fonts/truetype/liberation2"),
    Path("/usr/share/fonts/truetype/freefont"),
)

# family -> (regular, bold, italic-or-None, Debian package)
FONT_FAMILIES: dict[str, tuple[str, str, str | None, str]] = {
    "DejaVu Sans": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", None, "fonts-dejavu-core"),
    "DejaVu Serif": ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", None, "fonts-dejavu-core"),
    "Liberation Sans": (
        "LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf", "LiberationSans-Italic.ttf", "fonts-liberation"),
    "Liberation Serif": (
        "LiberationSerif-Regular.ttf", "LiberationSerif-Bold.ttf", "LiberationSerif-Italic.ttf", "fonts-liberation"),
    "Liberation Sans Narrow": (
        "LiberationSansNarrow-Regular.ttf", "LiberationSansNarrow-Bold.ttf", "LiberationSansNarrow-Italic.ttf",
        "fonts-liberation"),
    "FreeSans": ("FreeSans.ttf", "FreeSansBold.ttf", "FreeSansOblique.ttf", "fonts-freefont-ttf"),
    "FreeSerif": ("FreeSerif.ttf", "FreeSerifBold.ttf", "FreeSerifItalic.ttf", "fonts-freefont-ttf"),
}
FONT_PACKAGES = ("fonts-dejavu-core", "fonts-liberation", "fonts-freefont-ttf")


def _find_font_file(name: str) -> Path | None:
    for d in _FONT_DIRS:
        if (d / name).is_file():
            return d / name
    return None


@lru_cache(maxsize=1)
def available_families() -> tuple[str, ...]:
    """Font families whose regular and bold files are installed, in catalogue order."""
    fams = tuple(
        fam for fam, (reg, bold, _it, _pkg) in FONT_FAMILIES.items()
        if _find_font_file(reg) is not None and _find_font_file(bold) is not None
    )
    if not fams:
        raise MissingDependencyError(
            "No TrueType fonts found for the synthetic card generator",
            hint="install them: apt-get install " + " ".join(FONT_PACKAGES),
        )
    return fams


@lru_cache(maxsize=512)
def _font(family: str, face: str, size: int) -> ImageFont.FreeTypeFont:
    reg, bold, italic, _pkg = FONT_FAMILIES[family]
    name = {"bold": bold, "italic": italic or reg}.get(face, reg)
    path = _find_font_file(name) or _find_font_file(reg)
    assert path is not None  # available_families() checked
    return ImageFont.truetype(str(path), max(4, int(size)))


# ----------------------------------------------------------------------------------------------
# Locales: invented names, titles, labels, addresses and number ranges per country.
# ----------------------------------------------------------------------------------------------

_GIVEN = {
    "en": ("James", "Olivia", "Michael", "Emma", "Daniel", "Sophia", "Ethan", "Grace", "Nathan", "Chloe",
           "Ryan", "Hannah", "Marcus", "Abigail", "Owen", "Megan", "Thomas", "Rachel", "Caleb", "Laura"),
    "es": ("Alejandro", "Lucía", "Javier", "Carmen", "Diego", "Elena", "Pablo", "Marta", "Sergio", "Inés"),
    "pt": ("João", "Ana", "Lucas", "Beatriz", "Rafael", "Mariana", "Thiago", "Camila", "Gustavo", "Larissa",
           "Fernanda", "Paulo"),
    "de": ("Lukas", "Anna", "Felix", "Lena", "Jonas", "Katharina", "Maximilian", "Sophie", "Tobias", "Johanna",
           "Stefan", "Julia"),
    "fr": ("Camille", "Louis", "Chloé", "Julien", "Manon", "Mathieu", "Élodie", "Antoine", "Clémence", "Hugo",
           "Nicolas", "Claire"),
    "ja": ("Haruto", "Yui", "Sota", "Aoi", "Ren", "Hina", "Kenji", "Yuki", "Takumi", "Sakura", "Daiki", "Emi"),
    "in": ("Aarav", "Priya", "Rohan", "Ananya", "Vikram", "Kavya", "Arjun", "Meera", "Siddharth", "Neha"),
    "zh": ("Wei", "Mei", "Jun", "Xiaoling", "Hao", "Yan"),
}
_FAMILY = {
    "en": ("Whitfield", "Harrington", "Caldwell", "Pemberton", "Ashby", "Thornton", "Langley", "Mercer",
           "Holloway", "Prescott", "Fairbanks", "Kendrick", "Rowland", "Sutherland", "Bramwell", "Osgood"),
    "es": ("García Morales", "Fernández", "Navarro", "Delgado", "Ortega", "Castillo", "Romero", "Iglesias"),
    "pt": ("Silva", "Oliveira", "Souza", "Ferreira", "Almeida", "Carvalho", "Ribeiro", "Nascimento",
           "Barbosa", "Araújo"),
    "de": ("Müller", "Schneider", "Fischer", "Weber", "Becker", "Hoffmann", "Schäfer", "Koch", "Bauer",
           "Richter", "Wolf", "Neumann"),
    "fr": ("Dubois", "Lefèvre", "Moreau", "Laurent", "Girard", "Bonnet", "Mercier", "Fontaine", "Rousseau",
           "Chevalier"),
    "ja": ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura", "Kobayashi",
           "Kato"),
    "in": ("Sharma", "Patel", "Iyer", "Reddy", "Nair", "Gupta", "Menon", "Banerjee", "Rao", "Kapoor"),
    "zh": ("Chen", "Wang", "Zhang", "Liu", "Huang", "Lin"),
}
_TITLES = {
    "en": ("Sales Manager", "Senior Software Engineer", "Managing Director", "Account Executive",
           "Head of Marketing", "Chief Financial Officer", "Project Coordinator", "Office Manager",
           "Principal Architect", "Founder & CEO", "Operations Director", "Data Analyst", "Partner",
           "Business Development Manager", "Senior Consultant"),
    "de": ("Geschäftsführer", "Vertriebsleiterin", "Projektmanager", "Steuerberater", "Leiter Einkauf",
           "Softwareentwicklerin", "Key Account Manager", "Prokurist"),
    "fr": ("Directeur commercial", "Chef de projet", "Responsable marketing", "Ingénieure d'études", "Gérant",
           "Consultante senior", "Directrice générale"),
    "pt": ("Gerente de Vendas", "Diretor Comercial", "Engenheira de Software", "Coordenador de Projetos",
           "Analista Financeiro", "Sócio-Diretor", "Arquiteta"),
    "es": ("Director Comercial", "Jefa de Proyectos", "Ingeniero de Software", "Responsable de Compras",
           "Gerente General"),
}
_DEPARTMENTS = {
    "en": ("Sales Department", "Research & Development", "Human Resources", "Customer Support",
           "Corporate Sales", "Engineering Division"),
    "de": ("Abteilung Vertrieb", "Einkauf & Logistik", "Forschung und Entwicklung"),
    "fr": ("Service Commercial", "Direction Technique", "Service Clients"),
    "pt": ("Departamento Comercial", "Setor de Compras", "Recursos Humanos"),
    "es": ("Departamento de Ventas", "Área Técnica"),
}
_TAGLINES = {
    "en": ("Quality you can trust", "Since 1987", "Logistics made simple", "Design. Build. Deliver.",
           "Your local experts"),
    "de": ("Qualität seit 1952", "Ihr Partner für Logistik", "Technik mit Zukunft"),
    "fr": ("Votre partenaire depuis 1998", "L'art du détail", "Conseil et expertise"),
    "pt": ("Soluções sob medida", "Qualidade e confiança", "Desde 1995"),
    "es": ("Calidad y confianza", "Soluciones a medida"),
}
_DESCRIPTORS = {
    "en": ("Logistics", "Consulting", "Design Studio", "Engineering", "Analytics", "Dental Care",
           "Architects", "Solutions", "Foods", "Legal", "Systems", "Trading", "Electronics"),
    "de": ("Logistik", "Beratung", "Maschinenbau", "Steuerberatung", "Immobilien", "Software"),
    "fr": ("Conseil", "Architecture", "Transports", "Ingénierie", "Services"),
    "pt": ("Consultoria", "Engenharia", "Transportes", "Arquitetura", "Alimentos"),
    "es": ("Consultores", "Ingeniería", "Transportes", "Diseño"),
}
_ROOT_A = ("Vant", "Brel", "Quor", "Nor", "Quen", "Zer", "Lum", "Mar", "Sel", "Tav", "Orin", "Cal", "Dex",
           "Fen", "Hal", "Kel", "Prav", "Rov", "Sil", "Tor", "Vel", "Wex", "Ys", "Gral", "Ombr")
_ROOT_B = ("a", "o", "i", "e", "")
_ROOT_C = ("ris", "vane", "mora", "lyx", "tera", "dell", "nix", "quin", "ford", "wick", "ton", "stead",
           "mont", "ella", "ara", "ium", "vik", "berg")

_LABELS_EN = {
    "work": ("Tel", "Phone", "Office", "Direct", "T", "P"),
    "mobile": ("Mobile", "Mob", "M", "Cell"),
    "fax": ("Fax", "F"),
    "email": ("Email", "E", "E-mail", "", ""),
    "web": ("Web", "W", "", ""),
}


@dataclass(frozen=True)
class Locale:
    region: str  # ISO 3166 alpha-2
    lang: str  # key into the pools above
    name_pools: tuple[str, ...]  # cultures the holder's name is drawn from (first most likely)
    suffixes: tuple[str, ...]
    tlds: tuple[str, ...]
    labels: dict[str, tuple[str, ...]]
    country_name: str
    card_mm: tuple[float, float]
    generic_mail: tuple[str, ...] = ("info", "sales", "office")
    styles: tuple[str, ...] = ("national", "intl")


LOCALES: dict[str, Locale] = {
    "US": Locale("US", "en", ("en", "en", "es", "zh", "in"), ("Inc.", "LLC", "Corp.", "", ""),
                 (".com", ".net", ".io"), {**_LABELS_EN, "mobile": ("Cell", "Mobile", "C", "M")},
                 "USA", (88.9, 50.8), styles=("national", "dash", "dots", "intl")),
    "GB": Locale("GB", "en", ("en", "en", "in", "zh"), ("Ltd", "Ltd.", "LLP", "plc", ""),
                 (".co.uk", ".com"), _LABELS_EN, "United Kingdom", (85.0, 55.0),
                 styles=("national", "intl", "intl0")),
    "AU": Locale("AU", "en", ("en", "zh", "in"), ("Pty Ltd", "Pty. Ltd.", ""), (".com.au", ".au"),
                 _LABELS_EN, "Australia", (90.0, 55.0), styles=("national", "nopar", "intl")),
    "IN": Locale("IN", "en", ("in",), ("Pvt. Ltd.", "Private Limited", "LLP", ""), (".in", ".co.in", ".com"),
                 {**_LABELS_EN, "work": ("Ph", "Tel", "Office", "Phone"), "mobile": ("Mob", "Mobile", "M")},
                 "India", (90.0, 55.0), styles=("national", "intl")),
    "DE": Locale("DE", "de", ("de", "de", "en"), ("GmbH", "AG", "GmbH & Co. KG", "e.K.", ""), (".de", ".com"),
                 {"work": ("Tel.", "Telefon", "T", "Fon"), "mobile": ("Mobil", "Handy", "M"),
                  "fax": ("Fax", "F"), "email": ("E-Mail", "Mail", ""), "web": ("Web", "Internet", "")},
                 "Deutschland", (85.0, 55.0), generic_mail=("info", "kontakt", "vertrieb"),
                 styles=("national", "intl", "intl0")),
    "FR": Locale("FR", "fr", ("fr", "fr", "en"), ("SARL", "SAS", "S.A.", ""), (".fr", ".com"),
                 {"work": ("Tél.", "Tél", "T", "Bureau"), "mobile": ("Portable", "Port.", "Mob."),
                  "fax": ("Fax",), "email": ("E-mail", "Courriel", ""), "web": ("Web", "Site", "")},
                 "France", (85.0, 55.0), generic_mail=("contact", "info", "accueil"),
                 styles=("national", "intl", "intl0")),
    "BR": Locale("BR", "pt", ("pt",), ("Ltda.", "S.A.", "ME", ""), (".com.br",),
                 {"work": ("Tel", "Tel.", "Telefone", "Fone"), "mobile": ("Celular", "Cel", "Cel."),
                  "fax": ("Fax",), "email": ("E-mail", ""), "web": ("Site", "")},
                 "Brasil", (90.0, 50.0), generic_mail=("contato", "vendas", "atendimento"),
                 styles=("national", "intl")),
    "ES": Locale("ES", "es", ("es",), ("S.L.", "S.A.", ""), (".es", ".com"),
                 {"work": ("Tel.", "Teléfono", "T"), "mobile": ("Móvil", "M"), "fax": ("Fax",),
                  "email": ("Email", "Correo", ""), "web": ("Web", "")},
                 "España", (85.0, 55.0), generic_mail=("info", "ventas", "contacto"),
                 styles=("national", "intl")),
    "JP": Locale("JP", "en", ("ja",), ("Co., Ltd.", "K.K.", "Inc."), (".co.jp", ".jp"),
                 {"work": ("TEL", "Tel"), "mobile": ("Mobile", "Cell"), "fax": ("FAX", "Fax"),
                  "email": ("E-mail", "Mail", ""), "web": ("URL", "Web", "")},
                 "Japan", (91.0, 55.0), styles=("national", "intl", "intl_dash")),
}

# city, region/state, postcode pattern, phone patterns (work, mobile); "x" is a random digit.
_CITIES: dict[str, tuple[tuple[str, str, str, tuple[str, ...], tuple[str, ...]], ...]] = {
    "US": (("Springfield", "IL", "627xx", ("+1217555010x", "+1217555011x"), ("+1217555012x",)),
           ("Portland", "OR", "972xx", ("+1503555010x",), ("+1503555014x",)),
           ("Austin", "TX", "787xx", ("+1512555010x",), ("+1512555015x",)),
           ("Denver", "CO", "802xx", ("+1303555013x",), ("+1303555016x",)),
           ("Madison", "WI", "537xx", ("+1608555010x",), ("+1608555017x",)),
           ("Raleigh", "NC", "276xx", ("+1919555011x",), ("+1919555018x",))),
    "GB": (("London", "", "EC1V xAB", ("+4420794600xx", "+442079460xxx"), ("+447700900xxx", "+4474xxxxxxxx")),
           ("Leeds", "", "LS1 xBD", ("+441134960xxx",), ("+447700900xxx", "+4475xxxxxxxx")),
           ("Manchester", "", "M1 xDN", ("+441614960xxx",), ("+447700900xxx", "+4477xxxxxxxx"))),
    "AU": (("Sydney", "NSW", "2000", ("+61255501xxx", "+6125550xxxx"), ("+61491570156", "+61491570157")),
           ("Melbourne", "VIC", "3000", ("+6137010xxxx",), ("+61491570158", "+61491570159")),
           ("Brisbane", "QLD", "4000", ("+6175550xxxx",), ("+61491570110", "+61491570313")),
           ("Perth", "WA", "6000", ("+6185550xxxx",), ("+61491570737", "+61491571266"))),
    "IN": (("Mumbai", "", "4000xx", ("+912226xxxxxx", "+912240xxxxxx"), ("+9198xxxxxxxx", "+9197xxxxxxxx")),
           ("Bengaluru", "", "5600xx", ("+918041xxxxxx", "+918025xxxxxx"), ("+9199xxxxxxxx",)),
           ("Pune", "", "4110xx", ("+912066xxxxxx", "+912025xxxxxx"), ("+9194xxxxxxxx",))),
    "DE": (("Berlin", "", "101xx", ("+493023125xxx",), ("+4915228817xxx", "+49152xxxxxxxx")),
           ("Frankfurt am Main", "", "603xx", ("+496990009xxx",), ("+4917xxxxxxxx",)),
           ("Hamburg", "", "200xx", ("+494066969xxx",), ("+4916xxxxxxxx",)),
           ("München", "", "803xx", ("+498999998xxx",), ("+4915xxxxxxxxx",))),
    "FR": (("Paris", "", "750xx", ("+33199001xxx", "+3319900xxxx"), ("+33639981xxx", "+336xxxxxxxx")),
           ("Rennes", "", "35000", ("+33261910xxx",), ("+336xxxxxxxx",)),
           ("Lille", "", "59000", ("+33353010xxx",), ("+337xxxxxxxx",)),
           ("Lyon", "", "6900x", ("+33465710xxx",), ("+336xxxxxxxx",)),
           ("Bordeaux", "", "33000", ("+33536490xxx",), ("+337xxxxxxxx",))),
    "BR": (("São Paulo", "SP", "01310-xxx", ("+55113xxxxxxx",), ("+55119xxxxxxxx",)),
           ("Rio de Janeiro", "RJ", "20040-xxx", ("+55212xxxxxxx", "+55213xxxxxxx"), ("+55219xxxxxxxx",)),
           ("Belo Horizonte", "MG", "30130-xxx", ("+55313xxxxxxx",), ("+55319xxxxxxxx",)),
           ("Curitiba", "PR", "80010-xxx", ("+55413xxxxxxx",), ("+55419xxxxxxxx",))),
    "ES": (("Madrid", "", "280xx", ("+3491xxxxxxx",), ("+346xxxxxxxx",)),
           ("Barcelona", "", "080xx", ("+3493xxxxxxx",), ("+346xxxxxxxx",)),
           ("Valencia", "", "460xx", ("+3496xxxxxxx",), ("+346xxxxxxxx",))),
    "JP": (("Tokyo", "", "100-000x", ("+813xxxxxxxx",), ("+8190xxxxxxxx", "+8180xxxxxxxx")),
           ("Osaka", "", "530-000x", ("+816xxxxxxxx",), ("+8190xxxxxxxx",)),
           ("Nagoya", "", "450-000x", ("+8152xxxxxxx",), ("+8180xxxxxxxx",))),
}

_STREETS = {
    "en": ("Maple", "Harbor", "Willow", "Station", "Kingsley", "Oakridge", "Mill", "Chapel", "Lakeview",
           "Brookfield", "Elm", "Granary"),
    "de": ("Linden", "Hafen", "Garten", "Berg", "Mühlen", "Rosen", "Schiller", "Ahorn"),
    "fr": ("de la République", "des Lilas", "Victor Hugo", "du Moulin", "des Tanneurs", "Pasteur"),
    "pt": ("das Palmeiras", "Augusta", "dos Andradas", "Sete de Setembro", "da Consolação", "XV de Novembro"),
    "es": ("Mayor", "de Alcalá", "del Carmen", "de la Paz", "San Vicente"),
    "ja": ("Marunouchi", "Nishi-Shinjuku", "Umeda", "Sakae", "Shiba", "Kudan-Minami"),
    "in": ("MG", "Linking", "Residency", "Station", "Brigade", "Carter"),
}
_BAIRROS = ("Centro", "Bela Vista", "Jardim Paulista", "Savassi", "Batel", "Botafogo")
_WARDS = ("Chiyoda-ku", "Minato-ku", "Chuo-ku", "Kita-ku", "Naka-ku")
_IN_AREAS = {"Mumbai": ("Andheri East", "Powai", "Lower Parel"), "Bengaluru": ("Koramangala", "Indiranagar", "Jayanagar"),
             "Pune": ("Baner", "Kothrud", "Aundh")}


def _digits(rng: random.Random, pattern: str) -> str:
    return "".join(str(rng.randrange(10)) if c == "x" else c for c in pattern)


def _fold(s: str) -> str:
    """ASCII fold: 'Müller' -> 'Muller'."""
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii")


_WANTED_TYPES = {
    "work": (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE),
    "mobile": (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE),
}
_WANTED_TYPES["fax"] = _WANTED_TYPES["work"]


def _make_number(rng: random.Random, region: str, patterns: Sequence[str], kind: str,
                 taken: set[str]) -> phonenumbers.PhoneNumber:
    """A number of the wanted type that phonenumbers accepts, drawn from the patterns in order."""
    for pat in patterns:
        for _ in range(40):
            e164 = _digits(rng, pat)
            if e164 in taken:
                continue
            try:
                num = phonenumbers.parse(e164)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(num) and phonenumbers.number_type(num) in _WANTED_TYPES[kind]:
                taken.add(e164)
                return num
            if "x" not in pat:
                break
    ptype = phonenumbers.PhoneNumberType.MOBILE if kind == "mobile" else phonenumbers.PhoneNumberType.FIXED_LINE
    num = phonenumbers.example_number_for_type(region, ptype)
    assert num is not None
    return num


def _format_number(num: phonenumbers.PhoneNumber, style: str) -> str:
    fmt = phonenumbers.PhoneNumberFormat
    nat = phonenumbers.format_number(num, fmt.NATIONAL)
    intl = phonenumbers.format_number(num, fmt.INTERNATIONAL)
    if style == "intl":
        return intl
    if style == "intl_dash":
        cc, _, rest = intl.partition(" ")
        return cc + "-" + rest.replace(" ", "-")
    if style == "intl0" and nat.startswith("0"):
        cc = "+" + str(num.country_code)
        return f"{cc} (0){nat[1:]}"
    if style == "dash":  # US 217-555-0101
        return nat.replace("(", "").replace(") ", "-")
    if style == "dots":
        return nat.replace("(", "").replace(") ", ".").replace("-", ".")
    if style == "nopar":
        return nat.replace("(", "").replace(")", "")
    return nat


def _address_lines(rng: random.Random, loc: Locale, city: tuple[str, str, str, tuple[str, ...], tuple[str, ...]],
                   with_country: bool) -> list[str]:
    name, state, pc_pat, _w, _m = city
    pc = _digits(rng, pc_pat)
    r = loc.region
    if r == "US":
        street = f"{rng.randrange(100, 9900)} {rng.choice(_STREETS['en'])} {rng.choice(('Street', 'Ave', 'Avenue', 'Blvd', 'Road'))}"
        if rng.random() < 0.4:
            street += f", Suite {rng.randrange(100, 900)}"
        lines = [street, f"{name}, {state} {pc}"]
    elif r == "GB":
        lines = [f"{rng.randrange(1, 200)} {rng.choice(_STREETS['en'])} {rng.choice(('Road', 'Street', 'Lane', 'Place'))}",
                 f"{name} {pc}"]
    elif r == "AU":
        street = f"{rng.randrange(1, 400)} {rng.choice(_STREETS['en'])} Street"
        if rng.random() < 0.5:
            street = f"Level {rng.randrange(2, 30)}, {street}"
        lines = [street, f"{name} {state} {pc}"]
    elif r == "IN":
        lines = [f"{rng.randrange(1, 300)}, {rng.choice(_STREETS['in'])} Road, {rng.choice(_IN_AREAS[name])}",
                 f"{name} - {pc}"]
    elif r == "DE":
        stem = rng.choice(_STREETS["de"])
        lines = [f"{stem}{rng.choice(('straße', 'weg', 'allee'))} {rng.randrange(1, 120)}", f"{pc} {name}"]
    elif r == "FR":
        lines = [f"{rng.randrange(1, 150)} {rng.choice(('rue', 'avenue', 'boulevard'))} {rng.choice(_STREETS['fr'])}",
                 f"{pc} {name}"]
    elif r == "BR":
        kind = rng.choice(("Rua", "Av.", "Avenida"))
        street = f"{kind} {rng.choice(_STREETS['pt'])}, {rng.randrange(10, 3000)}"
        if rng.random() < 0.4:
            street += f", sala {rng.randrange(11, 1500)}"
        lines = [f"{street} - {rng.choice(_BAIRROS)}", f"{name} - {state}, {pc}"]
    elif r == "ES":
        lines = [f"Calle {rng.choice(_STREETS['es'])}, {rng.randrange(1, 200)}, {rng.randrange(1, 9)}º",
                 f"{pc} {name}"]
    else:  # JP
        lines = [f"{rng.randrange(1, 9)}-{rng.randrange(1, 20)}-{rng.randrange(1, 30)} {rng.choice(_STREETS['ja'])}, "
                 f"{rng.choice(_WARDS)}", f"{name} {pc}"]
    if with_country:
        lines[-1] += f", {loc.country_name}" if r not in ("DE", "FR", "ES") else ""
        if r in ("DE", "FR", "ES"):
            lines.append(loc.country_name)
    return lines


# ----------------------------------------------------------------------------------------------
# Content: what the card says.
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PrintedPhone:
    number: str  # E.164
    type: str  # work | mobile | fax
    raw: str  # as printed, with its label
    label: str  # "" when unlabelled


@dataclass(frozen=True)
class CardContent:
    region: str
    given: str
    family: str
    name: str  # as printed
    title: str | None
    company: str | None
    department: str | None
    tagline: str | None
    emails: tuple[str, ...]
    email_label: str
    phones: tuple[PrintedPhone, ...]
    websites: tuple[str, ...]
    web_label: str
    address_lines: tuple[str, ...]
    domain: str
    printed_name: str | None = None  # the name line as printed when it also holds the title (hard cards)
    logo_word: str | None = None  # a logo word printed before the company on its line (hard cards)

    @property
    def address(self) -> str | None:
        return ", ".join(self.address_lines) if self.address_lines else None


def _company_root(rng: random.Random) -> str:
    return rng.choice(_ROOT_A) + rng.choice(_ROOT_B) + rng.choice(_ROOT_C)


def _make_content(rng: random.Random, loc: Locale, *, with_address: bool, want_fax: bool,
                  n_emails: int, with_web: bool) -> CardContent:
    lang_pool = loc.name_pools[0] if rng.random() < 0.6 else rng.choice(loc.name_pools)
    given = rng.choice(_GIVEN[lang_pool])
    family = rng.choice(_FAMILY[lang_pool])
    if lang_pool == "en" and rng.random() < 0.2:
        given = f"{given} {rng.choice('ABCDEFGHJKLMNPRSTW')}."
    name = f"{given} {family}"
    if rng.random() < 0.15:
        name = name.upper()

    lang = loc.lang if loc.lang in _TITLES else "en"
    title = rng.choice(_TITLES[lang]) if rng.random() < 0.88 else None
    department = rng.choice(_DEPARTMENTS[lang]) if rng.random() < 0.25 else None
    tagline = rng.choice(_TAGLINES[lang]) if rng.random() < 0.25 else None

    root = _company_root(rng)
    desc = rng.choice(_DESCRIPTORS[lang])
    suffix = rng.choice(loc.suffixes)
    shape = rng.randrange(4)
    if shape == 0:
        company = f"{root} {desc}"
    elif shape == 1:
        company = root
    elif shape == 2 and lang_pool in ("en", "de", "fr", "pt", "es"):
        company = f"{rng.choice(_FAMILY[lang_pool]).split()[0]} & {rng.choice(_FAMILY[lang_pool]).split()[0]}"
    else:
        company = f"{root} {desc}"
    if suffix:
        company = f"{company}{',' if suffix.startswith('Inc') and rng.random() < 0.3 else ''} {suffix}"
    if rng.random() < 0.08:
        company = None

    # domain: the reserved example.* names or an invented name
    if rng.random() < 0.35:
        domain = rng.choice(("example.com", "example.org", "example.net"))
        if rng.random() < 0.4:
            domain = f"{_fold(root).lower()}.{domain}"
    else:
        domain = _fold(root).lower() + rng.choice(loc.tlds)

    gf, ff = _fold(given.split()[0]).lower(), _fold(family.replace(" ", "")).lower()
    local = rng.choice((f"{gf}.{ff}", f"{gf[0]}.{ff}", gf, f"{gf}{ff[0]}", f"{gf}_{ff}", f"{gf[0]}{ff}"))
    emails = [f"{local}@{domain}"]
    if n_emails > 1:
        emails.append(f"{rng.choice(loc.generic_mail)}@{domain}")
    email_label = rng.choice(loc.labels["email"])

    websites = []
    if with_web:
        websites.append(rng.choice((f"www.{domain}", f"www.{domain}", domain, f"https://www.{domain}")))
    web_label = rng.choice(loc.labels["web"])

    city = rng.choice(_CITIES[loc.region])
    style = rng.choice(loc.styles) if with_address else "intl"
    if style == "intl" and loc.region == "JP" and rng.random() < 0.3:
        style = "intl_dash"
    kinds = []
    if rng.random() < 0.8:
        kinds.append("work")
    if rng.random() < 0.6 or not kinds:
        kinds.append("mobile")
    if want_fax:
        kinds.append("fax")
    taken: set[str] = set()
    sep = rng.choice((": ", " ", " | ", ": ", " · "))
    upper = rng.random() < 0.2
    unlabelled_ok = rng.random() < 0.3
    phones = []
    for k in kinds:
        pats = city[4] if k == "mobile" else city[3]
        num = _make_number(rng, loc.region, pats, k, taken)
        text = _format_number(num, style)
        label = rng.choice(loc.labels[k])
        if k == "work" and unlabelled_ok and len(kinds) == 1:
            label = ""  # a lone unlabelled landline: work by the conventions
        if upper:
            label = label.upper()
        s = sep if not (label.endswith(".") and sep == ". ") else " "
        raw = f"{label}{s}{text}" if label else text
        e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
        phones.append(PrintedPhone(e164, k, raw, label))

    address_lines = tuple(_address_lines(rng, loc, city, rng.random() < 0.2)) if with_address else ()
    return CardContent(
        region=loc.region, given=given, family=family, name=name, title=title, company=company,
        department=department, tagline=tagline, emails=tuple(emails), email_label=email_label,
        phones=tuple(phones), websites=tuple(websites), web_label=web_label, address_lines=address_lines,
        domain=domain,
    )


# ----------------------------------------------------------------------------------------------
# Design: how the card looks.
# ----------------------------------------------------------------------------------------------

LAYOUTS = ("left", "centred", "two_column", "logo_top", "split")
SCHEMES = ("light", "dark", "colour")
_PX_PER_MM = 16.0  # flat cards are rendered at ~406 dpi
_SS = 2  # supersampling factor for anti-aliased shapes

_LIGHT_BG: tuple[RGB, ...] = ((255, 255, 255), (255, 255, 255), (250, 248, 242), (246, 240, 226),
                              (236, 238, 240), (228, 238, 248), (232, 244, 234))
_DARK_TEXT: tuple[RGB, ...] = ((20, 20, 20), (35, 40, 50), (45, 45, 55), (20, 35, 70))
_ACCENTS_ON_LIGHT: tuple[RGB, ...] = ((190, 35, 35), (0, 85, 155), (20, 110, 80), (170, 90, 0), (100, 40, 125),
                                     (0, 110, 120))
_DARK_BG: tuple[RGB, ...] = ((22, 26, 32), (16, 32, 64), (36, 36, 36), (24, 56, 46), (88, 22, 32))
_LIGHT_TEXT: tuple[RGB, ...] = ((245, 245, 245), (232, 226, 210))
_ACCENTS_ON_DARK: tuple[RGB, ...] = ((218, 184, 96), (130, 215, 215), (255, 170, 90), (170, 200, 255))
_COLOUR_BG: tuple[RGB, ...] = ((252, 236, 170), (205, 228, 245), (214, 236, 214), (245, 215, 205), (225, 220, 240))


@dataclass(frozen=True)
class Design:
    layout: str
    order: str  # company_first | name_first (left layout)
    scheme: str  # light | dark | colour
    bg: RGB
    fg: RGB
    muted: RGB
    accent: RGB
    name_accent: bool
    heading_family: str
    body_family: str
    title_italic: bool
    icons: bool
    bar: str  # none | top | bottom | left
    divider: bool
    logo: str  # none | circle | square | diamond | bars | ring
    qr: str | None  # vcard | mecard | None
    right_align_contacts: bool
    company_upper: bool
    join_phones: bool
    address_first: bool
    sizes: tuple[float, float, float, float]  # name, company, title, body (px at 16 px/mm)


def _luma(c: RGB) -> float:
    def lin(v: int) -> float:
        x = v / 255.0
        return x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4
    return 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])


def _contrast(a: RGB, b: RGB) -> float:
    la, lb = sorted((_luma(a), _luma(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(int(round(a[i] * (1 - t) + b[i] * t)) for i in range(3))  # type: ignore[return-value]


def _make_design(rng: random.Random, ov: dict[str, Any]) -> Design:
    fams = available_families()
    layout = rng.choice(("left", "left", "centred", "two_column", "two_column", "logo_top", "split"))
    scheme = rng.choice(("light",) * 7 + ("dark",) * 2 + ("colour",))
    qr_draw = rng.random()
    qr = "vcard" if qr_draw < 0.1 else "mecard" if qr_draw < 0.15 else None
    layout = ov.pop("layout", layout)
    scheme = ov.pop("scheme", scheme)
    qr = ov.pop("qr", qr)
    if layout not in LAYOUTS:
        raise BadArgumentsError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    if scheme not in SCHEMES:
        raise BadArgumentsError(f"scheme must be one of {', '.join(SCHEMES)}, not {scheme!r}")
    if qr not in (None, "vcard", "mecard"):
        raise BadArgumentsError(f"qr must be None, 'vcard' or 'mecard', not {qr!r}")
    if qr and layout in ("centred", "logo_top"):
        layout = "left"
    if scheme == "dark":
        bg, fg, accent = rng.choice(_DARK_BG), rng.choice(_LIGHT_TEXT), rng.choice(_ACCENTS_ON_DARK)
    else:
        bg = rng.choice(_COLOUR_BG) if scheme == "colour" else rng.choice(_LIGHT_BG)
        fg, accent = rng.choice(_DARK_TEXT), rng.choice(_ACCENTS_ON_LIGHT)
    muted = _mix(fg, bg, rng.uniform(0.0, 0.3))
    heading = rng.choice(fams)
    body = heading if rng.random() < 0.5 else rng.choice(fams)
    heading = ov.pop("font", heading)
    if heading not in fams:
        raise BadArgumentsError(f"font must be one of the installed families {fams}, not {heading!r}")
    if "font" in ov or body not in fams:
        body = heading
    name_size = rng.uniform(62, 80)
    sizes = (name_size, name_size * rng.uniform(0.7, 0.9), rng.uniform(36, 44), rng.uniform(31, 37))
    return Design(
        layout=layout, order=rng.choice(("company_first", "company_first", "name_first")), scheme=scheme,
        bg=bg, fg=fg, muted=muted, accent=accent, name_accent=rng.random() < 0.35 and _contrast(accent, bg) >= 4.5,
        heading_family=heading, body_family=body, title_italic=rng.random() < 0.35,
        icons=ov.pop("icons", rng.random() < 0.3), bar=rng.choice(("none", "none", "top", "bottom", "left")),
        divider=rng.random() < 0.6, logo=rng.choice(("none", "circle", "square", "diamond", "bars", "ring")),
        qr=qr, right_align_contacts=rng.random() < 0.35, company_upper=rng.random() < 0.3,
        join_phones=rng.random() < 0.5, address_first=rng.random() < 0.25, sizes=sizes,
    )


@dataclass
class _Item:
    text: str
    family: str
    face: str  # regular | bold | italic
    size: float  # px on the final card
    color: RGB
    icon: str | None = None  # phone | mail | web | pin | logo:<kind>
    gap: float = 0.0  # extra space before, in multiples of size
    lead: float = 1.3  # line height in multiples of size
    role: str = "contact"  # what the line is (cardscan.parsing.roles.ROLES): training labels for the role model


@dataclass
class _Column:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    align: str  # left | center | right
    groups: list[list[_Item]]
    spread: bool = True  # first group at top, last at bottom; else stacked and centred


def _item_width(it: _Item, scale: float) -> float:
    f = _font(it.family, it.face, round(it.size * scale * _SS))
    w = f.getlength(it.text) / _SS
    if it.icon:
        w += it.size * scale * (1.9 if it.icon.startswith("logo") else 1.45)
    return w


def _group_height(g: list[_Item], scale: float) -> float:
    return sum(it.size * scale * (it.lead + it.gap) for it in g)


def _fit_scale(col: _Column) -> float:
    x0, y0, x1, y1 = col.box
    items = [it for g in col.groups for it in g]
    if not items:
        return 1.0
    gap_min = min(it.size for it in items) * 0.5 * (len(col.groups) - 1)
    h = sum(_group_height(g, 1.0) for g in col.groups) + gap_min
    w = max(_item_width(it, 1.0) for it in items)
    return min(1.0, (y1 - y0) / h, (x1 - x0) / w)


def _draw_icon(d: ImageDraw.ImageDraw, kind: str, x: float, cy: float, s: float, color: RGB, bg: RGB) -> None:
    """An icon of height ~s whose left edge is x and vertical centre cy (supersampled coordinates)."""
    r = s / 2
    if kind == "phone":
        d.rounded_rectangle((x, cy - r, x + s * 0.62, cy + r), radius=s * 0.12, fill=color)
        d.ellipse((x + s * 0.24, cy + r * 0.62, x + s * 0.38, cy + r * 0.9), fill=bg)
    elif kind == "mail":
        d.rectangle((x, cy - r * 0.7, x + s, cy + r * 0.7), outline=color, width=max(2, int(s * 0.1)))
        d.line((x, cy - r * 0.7, x + r, cy + r * 0.1, x + s, cy - r * 0.7), fill=color, width=max(2, int(s * 0.1)))
    elif kind == "web":
        w = max(2, int(s * 0.09))
        d.ellipse((x, cy - r, x + s, cy + r), outline=color, width=w)
        d.ellipse((x + s * 0.3, cy - r, x + s * 0.7, cy + r), outline=color, width=w)
        d.line((x, cy, x + s, cy), fill=color, width=w)
    elif kind == "pin":
        d.ellipse((x + s * 0.1, cy - r, x + s * 0.9, cy + r * 0.5), fill=color)
        d.polygon(((x + s * 0.17, cy), (x + s * 0.83, cy), (x + s * 0.5, cy + r)), fill=color)
        d.ellipse((x + s * 0.36, cy - r * 0.62, x + s * 0.64, cy - r * 0.1), fill=bg)
    elif kind == "circle":
        d.ellipse((x, cy - r, x + s, cy + r), fill=color)
    elif kind == "ring":
        d.ellipse((x, cy - r, x + s, cy + r), outline=color, width=max(3, int(s * 0.16)))
    elif kind == "square":
        d.rectangle((x, cy - r, x + s, cy + r), fill=color)
        d.rectangle((x + s * 0.3, cy - r * 0.4, x + s * 0.7, cy + r * 0.4), fill=bg)
    elif kind == "diamond":
        d.polygon(((x + r, cy - r), (x + s, cy), (x + r, cy + r), (x, cy)), fill=color)
    elif kind == "bars":
        for i in range(3):
            h = s * (0.45 + 0.27 * i)
            d.rectangle((x + i * s * 0.36, cy + r - h, x + i * s * 0.36 + s * 0.24, cy + r), fill=color)


def _draw_column(d: ImageDraw.ImageDraw, col: _Column, scale: float, bg: RGB,
                 printed: list[tuple[str, tuple[float, float, float, float], str]]) -> None:
    x0, y0, x1, y1 = col.box
    heights = [_group_height(g, scale) for g in col.groups if g]
    groups = [g for g in col.groups if g]
    if not groups:
        return
    total = sum(heights)
    if col.spread and len(groups) > 1:
        gap = (y1 - y0 - total) / (len(groups) - 1)
        y = y0
    else:
        gap = min(it.size for g in groups for it in g) * scale * 0.7
        y = y0 + (y1 - y0 - total - gap * (len(groups) - 1)) / 2
    for g, h in zip(groups, heights):
        for it in g:
            size = it.size * scale
            y += size * it.gap
            f = _font(it.family, it.face, round(size * _SS))
            asc, desc = f.getmetrics()
            w = _item_width(it, scale)
            x = x0 if col.align == "left" else x1 - w if col.align == "right" else (x0 + x1 - w) / 2
            base = y + size * (it.lead - 1) / 2 + asc / _SS * 0.95
            tx = x
            if it.icon:
                logo = it.icon.startswith("logo")
                s = size * (1.25 if logo else 0.8)
                cy = base - size * 0.36
                _draw_icon(d, it.icon.split(":")[-1], x * _SS, cy * _SS, s * _SS, it.color if not logo else it.color, bg)
                tx = x + size * (1.9 if logo else 1.45)
            d.text((tx * _SS, base * _SS), it.text, font=f, fill=it.color, anchor="ls")
            printed.append((it.text, (tx, base - asc / _SS, tx + f.getlength(it.text) / _SS, base + desc / _SS),
                            it.role))
            y += size * it.lead
        y += gap


def _wrap2(text: str, limit: int = 14) -> list[str]:
    """Split a long company name over two lines at the space nearest its middle."""
    if len(text) <= limit or " " not in text:
        return [text]
    spaces = [i for i, ch in enumerate(text) if ch == " "]
    cut = min(spaces, key=lambda i: abs(i - len(text) / 2))
    return [text[:cut], text[cut + 1:]]


def _qr_image(payload: str, size_px: int) -> Image.Image:
    import zxingcpp

    if hasattr(zxingcpp, "create_barcode"):
        bc = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
        arr = np.asarray(bc.to_image(scale=1, add_quiet_zones=False))
    else:  # zxing-cpp < 2.3
        arr = np.asarray(zxingcpp.write_barcode(zxingcpp.BarcodeFormat.QRCode, payload, quiet_zone=0))
    img = Image.fromarray(arr.astype(np.uint8)).convert("L")
    return img.resize((size_px, size_px), Image.NEAREST)


def _vesc(s: str) -> str:
    return s.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")


def _mesc(s: str) -> str:
    return s.replace("\\", "\\\\").replace(";", "\\;").replace(":", "\\:").replace(",", "\\,")


def qr_payload(c: CardContent, kind: str) -> str:
    """A vCard 3.0 or MECARD payload holding the printed fields (numbers as E.164)."""
    vtype = {"work": "WORK,VOICE", "mobile": "CELL", "fax": "WORK,FAX"}
    if kind == "vcard":
        lines = ["BEGIN:VCARD", "VERSION:3.0", f"N:{_vesc(c.family)};{_vesc(c.given)};;;",
                 f"FN:{_vesc(c.given)} {_vesc(c.family)}"]
        if c.company:
            lines.append(f"ORG:{_vesc(c.company)}")
        if c.title:
            lines.append(f"TITLE:{_vesc(c.title)}")
        lines += [f"TEL;TYPE={vtype[p.type]}:{p.number}" for p in c.phones]
        lines += [f"EMAIL;TYPE=INTERNET:{e}" for e in c.emails]
        lines += [f"URL:{w}" for w in c.websites]
        if c.address_lines:
            lines.append(f"ADR;TYPE=WORK:;;{_vesc(c.address_lines[0])};{_vesc(', '.join(c.address_lines[1:]))};;;")
        lines.append("END:VCARD")
        return "\n".join(lines)
    parts = [f"N:{_mesc(c.family)},{_mesc(c.given)}"]
    if c.company:
        parts.append(f"ORG:{_mesc(c.company)}")
    parts += [f"TEL:{p.number}" for p in c.phones]
    parts += [f"EMAIL:{_mesc(e)}" for e in c.emails]
    parts += [f"URL:{_mesc(w)}" for w in c.websites]
    if c.address:
        parts.append(f"ADR:{_mesc(c.address)}")
    return "MECARD:" + ";".join(parts) + ";;"


def _contact_items(c: CardContent, dz: Design, body: float) -> list[_Item]:
    fam, col = dz.body_family, dz.muted
    items: list[_Item] = []
    phones = [_Item(p.raw, fam, "regular", body, col, icon="phone" if dz.icons and not p.label else None)
              for p in c.phones]
    if dz.join_phones and dz.layout in ("centred", "logo_top") and len(phones) >= 2 \
            and len(phones[0].text) + len(phones[1].text) < 40:
        phones = [_Item(phones[0].text + "   " + phones[1].text, fam, "regular", body, col)] + phones[2:]
    lab = f"{c.email_label}: " if c.email_label else ""
    emails = [_Item(e if dz.icons else lab + e, fam, "regular", body, col, icon="mail" if dz.icons else None)
              for e in c.emails]
    wlab = f"{c.web_label}: " if c.web_label else ""
    webs = [_Item(w if dz.icons else wlab + w, fam, "regular", body, col, icon="web" if dz.icons else None)
            for w in c.websites]
    addr = [_Item(a, fam, "regular", body, col, icon="pin" if dz.icons and i == 0 else None, role="address")
            for i, a in enumerate(c.address_lines)]
    if dz.icons and len(addr) > 1:  # keep continuation lines aligned with the text after the icon
        for a in addr[1:]:
            a.icon = "blank"
    if dz.address_first:
        items = addr + phones + emails + webs
    else:
        items = phones + emails + webs + addr
    if addr and items:
        first_addr = items.index(addr[0])
        if first_addr > 0:
            addr[0].gap = 0.35
        elif len(items) > len(addr):
            items[len(addr)].gap = 0.35
    return items


def _render(c: CardContent, dz: Design, loc: Locale, payload: str | None
            ) -> tuple[Image.Image, list[tuple[str, tuple[float, float, float, float], str]]]:
    W = round(loc.card_mm[0] * _PX_PER_MM)
    H = round(loc.card_mm[1] * _PX_PER_MM)
    img = Image.new("RGB", (W * _SS, H * _SS), dz.bg)
    d = ImageDraw.Draw(img)
    m = 0.085 * H
    name_size, comp_size, title_size, body = dz.sizes
    name_col = dz.accent if dz.name_accent else dz.fg
    company_text = c.company.upper() if (c.company and dz.company_upper) else c.company
    if company_text and c.logo_word:
        company_text = f"{c.logo_word} {company_text}"
    logo = None if dz.logo == "none" else f"logo:{dz.logo}"

    def ident() -> list[_Item]:
        g = [_Item(c.printed_name or c.name, dz.heading_family, "bold", name_size, name_col, lead=1.25, role="name")]
        if c.title and not c.printed_name:
            g.append(_Item(c.title, dz.body_family, "italic" if dz.title_italic else "regular", title_size, dz.fg,
                           role="title"))
        if c.department:
            g.append(_Item(c.department, dz.body_family, "regular", body, dz.muted, role="department"))
        return g

    def comp(color: RGB, centred_logo: bool = False) -> list[_Item]:
        g: list[_Item] = []
        if company_text:
            g.append(_Item(company_text, dz.heading_family, "bold", comp_size,
                           color, icon=logo, role="company"))
        if c.tagline:
            g.append(_Item(c.tagline, dz.body_family, "italic", body * 0.92, dz.muted if color == dz.fg else color,
                           role="tagline"))
        return g

    # decorations
    x0, y0, x1, y1 = m, m, W - m, H - m
    bar_w = 0.05 * H
    if dz.bar == "top":
        d.rectangle((0, 0, W * _SS, bar_w * _SS), fill=dz.accent)
        y0 += bar_w * 0.6
    elif dz.bar == "bottom":
        d.rectangle((0, (H - bar_w) * _SS, W * _SS, H * _SS), fill=dz.accent)
        y1 -= bar_w * 0.6
    elif dz.bar == "left" and dz.layout != "split":
        d.rectangle((0, 0, bar_w * 0.7 * _SS, H * _SS), fill=dz.accent)
        x0 += bar_w * 0.5

    contacts = _contact_items(c, dz, body)
    qr_size = round(0.36 * H) if payload else 0
    qr_pos: tuple[float, float] | None = None
    cols: list[_Column] = []
    if dz.layout == "left":
        cx1 = x1 - (qr_size + 0.04 * W if payload else 0)
        if dz.order == "company_first":
            groups = [comp(dz.accent if _contrast(dz.accent, dz.bg) >= 4.5 else dz.fg), ident(), contacts]
        else:
            groups = [ident(), contacts, comp(dz.fg)]
        cols.append(_Column((x0, y0, cx1, y1), "left", groups))
        if payload:
            qr_pos = (x1 - qr_size, y1 - qr_size)
    elif dz.layout == "centred":
        cols.append(_Column((x0, y0, x1, y1), "center", [comp(dz.accent if _contrast(dz.accent, dz.bg) >= 4.5 else dz.fg),
                                                         ident(), contacts], spread=False))
    elif dz.layout == "two_column":
        mid = x0 + (x1 - x0) * 0.47
        ly1 = y1 - (qr_size + 0.04 * H if payload else 0)
        cols.append(_Column((x0, y0, mid - 0.03 * W, ly1), "left", [comp(dz.fg), ident()], spread=not payload))
        cols.append(_Column((mid + 0.03 * W, y0, x1, y1), "right" if dz.right_align_contacts else "left",
                            [contacts], spread=False))
        if dz.divider:
            d.line((mid * _SS, (y0 + 0.1 * H) * _SS, mid * _SS, (y1 - 0.1 * H) * _SS), fill=dz.accent, width=3 * _SS)
        if payload:
            qr_pos = (x0, y1 - qr_size)
    elif dz.layout == "logo_top":
        cols.append(_Column((x0, y0, x1, y0 + 0.3 * (y1 - y0)), "center", [comp(dz.accent if _contrast(dz.accent, dz.bg) >= 4.5 else dz.fg)], spread=False))
        top = y0 + 0.36 * (y1 - y0)
        mid = x0 + (x1 - x0) * 0.45
        cols.append(_Column((x0, top, mid, y1), "left", [ident()], spread=False))
        cols.append(_Column((mid + 0.02 * W, top, x1, y1), "right", [contacts], spread=False))
        d.line((x0 * _SS, (top - 0.03 * H) * _SS, x1 * _SS, (top - 0.03 * H) * _SS), fill=dz.accent, width=2 * _SS)
    else:  # split: coloured panel on the left
        pw = 0.34 * W
        panel = dz.accent if dz.scheme != "dark" else _mix(dz.bg, (255, 255, 255), 0.12)
        ptext = (255, 255, 255) if _contrast((255, 255, 255), panel) >= 4.5 else (15, 15, 15)
        d.rectangle((0, 0, pw * _SS, H * _SS), fill=panel)
        py1 = y1 - (qr_size + 0.05 * H if payload else 0)
        cols.append(_Column((0.08 * pw, y0, pw * 0.92, py1), "center",
                            [[_Item(t, dz.heading_family, "bold", comp_size, ptext, lead=1.15, role="company")
                              for t in _wrap2(company_text)] if company_text else []],
                            spread=False))
        cols.append(_Column((pw + m, y0, x1, y1), "left", [ident(), contacts]))
        if payload:
            qr_pos = ((pw - qr_size) / 2, y1 - qr_size)
    printed: list[tuple[str, tuple[float, float, float, float], str]] = []
    for col in cols:
        _draw_column(d, col, _fit_scale(col), dz.bg, printed)
    if payload and qr_pos is not None:
        q = _qr_image(payload, qr_size * _SS)
        qz = round(qr_size * 0.06) * _SS
        qx, qy = round(qr_pos[0] * _SS), round(qr_pos[1] * _SS)
        d.rectangle((qx - qz, qy - qz, qx + q.width + qz, qy + q.height + qz), fill=(255, 255, 255))
        img.paste(q.convert("RGB"), (qx, qy))
    out = img.resize((W, H), Image.LANCZOS)
    return out, printed


# ----------------------------------------------------------------------------------------------
# Cards
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SynthCard:
    """A flat rendered card and its ground truth (``truth`` is in the evaluation-set format)."""

    image: Image.Image  # RGB, ~16 px/mm
    truth: dict[str, Any]
    seed: int
    content: CardContent
    design: Design
    qr_payload: str | None = None
    lines: tuple[str, ...] = ()  # every printed text line, top to bottom per column
    roles: tuple[str, ...] = ()  # each line's role: name, title, department, company, tagline, contact, address
    boxes: tuple[tuple[float, float, float, float], ...] = ()  # each line's (x0, top, x1, bottom) in pixels

    @property
    def pixels(self) -> np.ndarray:
        return np.asarray(self.image, dtype=np.uint8)

    def png_bytes(self) -> bytes:
        buf = io.BytesIO()
        self.image.save(buf, format="PNG")
        return buf.getvalue()


_CARD_OVERRIDES = ("country", "layout", "scheme", "qr", "icons", "font", "with_address", "fax", "emails",
                   "website", "hard")

# Kinds of cards the plain generator does not make (``hard=True``): drawn from their own random
# stream, so the plain cards of every seed stay as they were.
HARD_KINDS = ("name_title_line", "logo_repeat", "shop", "domain_only", "plain")
_INLINE_SEPS = (", ", " | ", " - ", " – ", " (", "  ")
_SHOP_TRADES = ("Traders", "Bakery", "Opticians", "Hardware", "Motors", "Tailors", "Jewellers", "Cycles",
                "Flowers", "Sweets", "Furniture", "Pharmacy", "Auto Parts", "Tiles & Sanitary")
_SHOP_ADJ = ("Green", "Little", "Golden", "Corner", "Old", "Blue", "Bright", "Village")
_SHOP_NOUN = ("Kitchen", "Bookshop", "Cycle Shop", "Bakehouse", "Pantry", "Workshop", "Garden Centre", "Print Shop")


# Kinds made only when asked for by name (``hard="domain_short"``): kept out of HARD_KINDS so the
# hard cards of every seed (and the role model trained on them) stay as they were.
ASKED_KINDS = ("domain_short", "initials_logo")


def _with_domain(c: CardContent, domain: str) -> CardContent:
    emails = tuple(e.split("@")[0] + "@" + domain for e in c.emails)
    sites = tuple(w.replace(c.domain, domain) for w in c.websites)
    return replace(c, domain=domain, emails=emails, websites=sites)


def _name_words(company: str) -> list[str]:
    """The company's own words, folded, without legal forms and joining words."""
    skip = {"and", "und", "et", "e", "y", "the", "of", "ltd", "llc", "inc", "gmbh", "co", "corp", "plc", "ag",
            "sa", "srl", "spa", "bv", "nv", "kk", "pty", "ltda", "sarl", "sas", "ab", "oy", "as", "limited", "llp",
            "pvt", "private", "kg", "mbh", "sl", "sprl", "lda", "cia", "kft", "zrt", "doo", "jsc"}
    return [w for w in re.sub(r"[^a-z ]", " ", _fold(company).lower()).split() if w not in skip and len(w) >= 2]


def _hard_content(c: CardContent, seed: int, loc: Locale, asked: str | None = None) -> tuple[CardContent, str]:
    rng = random.Random(f"cardscan-synth-hard-{seed}")
    kind = rng.choice(HARD_KINDS)
    if asked is not None:
        kind = asked
    words = _name_words(c.company) if c.company else []
    if kind == "domain_short" and len(words) >= 2 and c.emails:
        # the domain shortens the name word by word: 'Harbor Freight Ltd' -> harfrei.com
        a, b = words[0], words[1]
        label = a[:rng.randint(3, len(a))] if len(a) > 3 else a
        label += b[:rng.randint(2, min(5, len(b)))]
        return _with_domain(c, label + rng.choice(loc.tlds)), kind
    if kind == "initials_logo" and len(words) >= 2 and c.emails:
        # the logo is the initials; the domain spells the words with hyphens: 'HFS', harbor-freight.com
        return _with_domain(replace(c, company="".join(w[0] for w in words[:4]).upper()),
                            "-".join(words[:rng.randint(2, min(3, len(words)))]) + rng.choice(loc.tlds)), kind
    if asked is not None:
        return c, "plain"
    if kind == "name_title_line" and c.title:
        sep = rng.choice(_INLINE_SEPS)
        printed = f"{c.name}{sep}{c.title})" if sep == " (" else f"{c.name}{sep}{c.title}"
        return replace(c, printed_name=printed), kind
    if kind == "logo_repeat" and c.company:
        return replace(c, logo_word=c.company.split()[0].upper()), kind
    if kind == "shop":
        pool = loc.name_pools[0]
        if rng.random() < 0.5:
            shop = f"{rng.choice(_FAMILY[pool]).split()[0]} {rng.choice(_SHOP_TRADES)}"
        else:
            shop = f"The {rng.choice(_SHOP_ADJ)} {rng.choice(_SHOP_NOUN)}"
        if rng.random() < 0.3:
            shop = shop.upper()
        domain = re.sub(r"[^a-z]", "", _fold(shop).lower())[:20] + rng.choice(loc.tlds)
        emails = tuple(e.split("@")[0] + "@" + domain for e in c.emails)
        sites = tuple(w.replace(c.domain, domain) for w in c.websites)
        return replace(c, company=shop, domain=domain, emails=emails, websites=sites), kind
    if kind == "domain_only":
        return replace(c, company=None), kind
    return c, "plain"


def _describe(c: CardContent, dz: Design, payload_kind: str | None) -> str:
    bits = [f"Synthetic card (cardscan.bench.synth), {c.region}, layout {dz.layout}",
            {"dark": "light text on a dark card", "colour": "coloured card", "light": "light card"}[dz.scheme],
            f"fonts {dz.heading_family}/{dz.body_family}"]
    if dz.icons:
        bits.append("icons drawn before e-mail/web/address lines")
    if c.department:
        bits.append(f"department line '{c.department}' (not the title)")
    if c.tagline:
        bits.append(f"tagline '{c.tagline}'")
    if any(not p.label for p in c.phones):
        bits.append("unlabelled phone number (work)")
    if payload_kind:
        bits.append(f"QR code ({payload_kind}) with the same fields")
    return "; ".join(bits) + "."


def make_card(seed: int, **overrides: Any) -> SynthCard:
    """Render the card for ``seed``. Overrides: country, layout, scheme, qr ('vcard'|'mecard'|None),
    icons, font (family name), with_address, fax, emails (1|2), website (bool)."""
    unknown = set(overrides) - set(_CARD_OVERRIDES)
    if unknown:
        raise TypeError(f"make_card() got unexpected overrides: {', '.join(sorted(unknown))}")
    ov = dict(overrides)
    rng = random.Random(f"cardscan-synth-card-{seed}")
    region = rng.choice(tuple(LOCALES))
    region = ov.pop("country", region)
    if region not in LOCALES:
        raise BadArgumentsError(f"country must be one of {', '.join(LOCALES)}, not {region!r}")
    loc = LOCALES[region]
    with_address = rng.random() < 0.85
    want_fax = rng.random() < 0.25
    n_emails = 2 if rng.random() < 0.2 else 1
    with_web = rng.random() < 0.65
    with_address = ov.pop("with_address", with_address)
    want_fax = ov.pop("fax", want_fax)
    n_emails = ov.pop("emails", n_emails)
    with_web = ov.pop("website", with_web)
    hard = ov.pop("hard", False)
    if isinstance(hard, str) and hard not in HARD_KINDS + ASKED_KINDS:
        raise BadArgumentsError(f"hard must be True or one of {', '.join(HARD_KINDS + ASKED_KINDS)}, not {hard!r}")
    content = _make_content(rng, loc, with_address=with_address, want_fax=want_fax, n_emails=n_emails,
                            with_web=with_web)
    if hard:
        content, _ = _hard_content(content, seed, loc, hard if isinstance(hard, str) else None)
    design = _make_design(rng, ov)
    payload = qr_payload(content, design.qr) if design.qr else None
    image, printed = _render(content, design, loc, payload)
    truth: dict[str, Any] = {
        "file": "",
        "name": content.name,
        "title": content.title,
        "company": content.company.upper() if (content.company and design.company_upper) else content.company,
        "emails": list(content.emails),
        "phones": [{"number": p.number, "type": p.type, "raw": p.raw} for p in content.phones],
        "websites": list(content.websites),
        "address": content.address,
        "photo_kind": "rendered",
        "notes": _describe(content, design, design.qr),
        "source": "cardscan.bench.synth",
    }
    return SynthCard(image=image, truth=truth, seed=seed, content=content, design=design, qr_payload=payload,
                     lines=tuple(t for t, _, _ in printed), boxes=tuple(b for _, b, _ in printed),
                     roles=tuple(r for _, _, r in printed))


# ----------------------------------------------------------------------------------------------
# Photographs and scans
# ----------------------------------------------------------------------------------------------

PHOTO_KINDS = ("photo", "scan", "flat")
BACKGROUNDS = ("wood", "fabric", "paper", "dark", "laminate")


@dataclass(frozen=True)
class SynthPhoto:
    image: Image.Image  # RGB as saved (JPEG for photo/scan, PNG for flat)
    data: bytes  # the encoded file
    truth: dict[str, Any]
    kind: str  # photo | scan | flat
    quad: tuple[tuple[float, float], ...]  # card corners in the image: TL, TR, BR, BL of the upright card
    upright_rotation: int  # degrees clockwise to rotate the image to make the card upright
    extension: str  # ".jpg" | ".png"


def _smooth_noise(nrng: np.random.Generator, h: int, w: int, cy: float, cx: float) -> np.ndarray:
    small = nrng.standard_normal((max(2, int(h / cy) + 2), max(2, int(w / cx) + 2))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _background(kind: str, nrng: np.random.Generator, rng: random.Random, h: int, w: int) -> np.ndarray:
    """Float32 RGB 0..255 texture of a table or desk."""
    hh, ww = h // 2, w // 2
    if kind == "wood":
        light = np.array(rng.choice(((196, 152, 104), (176, 128, 82), (210, 178, 132), (122, 80, 52))), np.float32)
        dark = light * rng.uniform(0.55, 0.72)
        y = np.arange(hh, dtype=np.float32)[:, None] + 25 * _smooth_noise(nrng, hh, ww, 90, 300)
        period = rng.uniform(9, 22)
        rings = np.sin(2 * np.pi * y / period + 2.5 * _smooth_noise(nrng, hh, ww, 6, 160))
        fine = _smooth_noise(nrng, hh, ww, 1.5, 40)
        t = np.clip(0.55 + 0.22 * rings + 0.12 * fine + 0.1 * _smooth_noise(nrng, hh, ww, 60, 200), 0, 1)
        plank = int(rng.uniform(0.18, 0.35) * hh)
        seams = (np.arange(hh) % plank) < 2
        t[seams, :] *= 0.45
        img = dark + (light - dark) * t[..., None]
        if rng.random() < 0.5:
            img = np.ascontiguousarray(np.transpose(cv2.resize(img, (hh, ww)), (1, 0, 2)))
    elif kind == "fabric":
        base = np.array(rng.choice(((70, 90, 120), (60, 100, 70), (120, 120, 125), (150, 60, 50), (190, 180, 160))),
                        np.float32)
        p = rng.uniform(2.0, 3.5)
        yy, xx = np.mgrid[0:hh, 0:ww].astype(np.float32)
        weave = np.sin(2 * np.pi * xx / p) * np.sin(2 * np.pi * yy / p)
        t = 1 + 0.07 * weave + 0.05 * nrng.standard_normal((hh, ww)).astype(np.float32) \
            + 0.05 * _smooth_noise(nrng, hh, ww, 50, 50)
        img = base * t[..., None]
    elif kind == "dark":
        base = np.array(rng.choice(((32, 32, 34), (24, 26, 30), (42, 36, 32))), np.float32)
        t = 1 + 0.12 * _smooth_noise(nrng, hh, ww, 80, 80) + 0.05 * nrng.standard_normal((hh, ww)).astype(np.float32)
        img = base * t[..., None]
    elif kind == "laminate":
        base = np.array(rng.choice(((196, 196, 192), (170, 172, 176), (222, 214, 196), (150, 150, 150))), np.float32)
        t = 1 + 0.03 * _smooth_noise(nrng, hh, ww, 100, 100) + 0.035 * nrng.standard_normal((hh, ww)).astype(np.float32)
        img = base * t[..., None]
    else:  # paper: a sheet on a desk
        img = _background(rng.choice(("wood", "dark", "laminate")), nrng, rng, h, w)
        img = cv2.resize(img, (ww, hh))
        sheet = Image.new("L", (ww, hh), 0)
        cx, cy = ww * rng.uniform(0.4, 0.6), hh * rng.uniform(0.4, 0.6)
        ImageDraw.Draw(sheet).polygon(_rect_poly(cx, cy, ww * 0.95, hh * 1.15, rng.uniform(-12, 12)), fill=255)
        mask = np.asarray(sheet, np.float32)[..., None] / 255
        paper = np.float32(rng.uniform(236, 248)) * (1 + 0.015 * nrng.standard_normal((hh, ww, 1)).astype(np.float32))
        img = img * (1 - mask) + paper * mask
    return cv2.resize(img.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def _rect_poly(cx: float, cy: float, w: float, h: float, deg: float) -> list[tuple[float, float]]:
    a = math.radians(deg)
    ca, sa = math.cos(a), math.sin(a)
    pts = ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2))
    return [(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in pts]


def _add_objects(img: np.ndarray, rng: random.Random, card_box: tuple[float, float, float, float],
                 n: int) -> tuple[np.ndarray, list[str]]:
    """Pens, coins, another card, a sticky note or a phone, drawn with soft shadows."""
    h, w = img.shape[:2]
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    names: list[str] = []
    bx0, by0, bx1, by1 = card_box
    s = min(h, w)
    for _ in range(n):
        kind = rng.choice(("pen", "coin", "card", "note", "phone", "clip", "coin", "pen"))
        for _try in range(30):
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            if not (bx0 - 0.08 * s < cx < bx1 + 0.08 * s and by0 - 0.08 * s < cy < by1 + 0.08 * s):
                break
        else:
            continue
        ang = rng.uniform(0, 180)
        if kind == "pen":
            ln, th = s * rng.uniform(0.35, 0.6), s * rng.uniform(0.018, 0.028)
            col = rng.choice(((20, 40, 120), (25, 25, 25), (170, 20, 20), (190, 190, 195), (230, 230, 230)))
            d.polygon(_rect_poly(cx, cy, ln, th, ang), fill=col + (255,))
            a = math.radians(ang)
            ex, ey = cx + math.cos(a) * ln / 2, cy + math.sin(a) * ln / 2
            d.polygon([_rect_poly(ex, ey, th, th, ang)[i] for i in (0, 3)] +
                      [(ex + math.cos(a) * th * 1.6, ey + math.sin(a) * th * 1.6)], fill=(200, 200, 200, 255))
            d.line(_rect_poly(cx, cy, ln * 0.9, th * 0.4, ang)[:2], fill=tuple(min(255, v + 70) for v in col) + (255,),
                   width=max(2, int(th * 0.18)))
            qx, qy = cx - math.cos(a) * ln * 0.3, cy - math.sin(a) * ln * 0.3
            d.polygon(_rect_poly(qx, qy, ln * 0.25, th * 0.35, ang), fill=(150, 150, 155, 255))
        elif kind == "coin":
            r = s * rng.uniform(0.035, 0.055)
            col = rng.choice(((190, 160, 90), (175, 175, 180), (165, 110, 70)))
            d.ellipse((cx - r, cy - r * 0.93, cx + r, cy + r * 0.93), fill=tuple(int(v * 0.75) for v in col) + (255,))
            d.ellipse((cx - r * 0.9, cy - r * 0.84, cx + r * 0.9, cy + r * 0.84), fill=col + (255,))
            d.ellipse((cx - r * 0.55, cy - r * 0.5, cx + r * 0.55, cy + r * 0.5),
                      outline=tuple(int(v * 0.8) for v in col) + (255,), width=max(2, int(r * 0.06)))
        elif kind == "card":
            cw = (bx1 - bx0) * rng.uniform(0.8, 1.0)
            cx = rng.choice((-0.2 * cw, w + 0.2 * cw)) if rng.random() < 0.5 else cx
            col = rng.choice(((250, 250, 248), (235, 240, 250), (30, 40, 70), (245, 230, 200)))
            d.polygon(_rect_poly(cx, cy, cw, cw * 0.58, ang), fill=col + (255,))
            ink = (60, 60, 60, 255) if sum(col) > 300 else (220, 220, 220, 255)
            a = math.radians(ang)
            for i in range(6):
                off = -cw * 0.18 + i * cw * 0.05
                lx, ly = cx - math.sin(a) * off, cy + math.cos(a) * off
                bl = cw * rng.uniform(0.15, 0.4)
                d.polygon(_rect_poly(lx - math.cos(a) * (cw * 0.38 - bl / 2), ly - math.sin(a) * (cw * 0.38 - bl / 2),
                                     bl, cw * (0.022 if i == 0 else 0.011), ang), fill=ink)
        elif kind == "note":
            sz = s * rng.uniform(0.15, 0.22)
            d.polygon(_rect_poly(cx, cy, sz, sz, ang), fill=rng.choice(((250, 228, 110), (255, 190, 200), (170, 230, 250))) + (255,))
        elif kind == "phone":
            pw, ph = s * 0.3, s * 0.62
            d.polygon(_rect_poly(cx, cy, pw, ph, ang), fill=(18, 18, 20, 255))
            d.polygon(_rect_poly(cx, cy, pw * 0.9, ph * 0.88, ang), fill=(35, 45, 60, 255))
        else:  # paper clip
            r = s * 0.02
            d.rounded_rectangle((cx, cy, cx + r * 5, cy + r * 1.6), radius=r * 0.8, outline=(160, 160, 170, 255),
                                width=max(2, int(r * 0.18)))
            d.rounded_rectangle((cx + r * 0.5, cy + r * 0.3, cx + r * 4, cy + r * 1.3), radius=r * 0.5,
                                outline=(160, 160, 170, 255), width=max(2, int(r * 0.18)))
        names.append(kind)
    if not names:
        return img, names
    rgba = np.asarray(layer)
    alpha = rgba[..., 3]
    shadow = _soft(alpha.astype(np.float32) / 255, s * 0.01, int(s * 0.008), int(s * 0.008))
    img = img * (1 - 0.45 * shadow)
    a = alpha[..., None].astype(np.float32) / 255
    img = img * (1 - a) + rgba[..., :3].astype(np.float32) * a
    return img, names


def _soft(mask: np.ndarray, sigma: float, dx: int, dy: int) -> np.ndarray:
    """A blurred, shifted copy of a 0..1 mask (computed at quarter size: it is smooth anyway)."""
    h, w = mask.shape
    small = cv2.resize(mask, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), max(0.5, sigma / 4))
    small = cv2.warpAffine(small, np.float32([[1, 0, dx / 4], [0, 1, dy / 4]]), (small.shape[1], small.shape[0]))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]


def _card_rgba(card: Image.Image, radius_frac: float) -> np.ndarray:
    w, h = card.size
    mask = Image.new("L", (w * 2, h * 2), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, w * 2 - 1, h * 2 - 1), radius=radius_frac * h * 2, fill=255)
    mask = mask.resize((w, h), Image.LANCZOS)
    arr = np.dstack([np.asarray(card, np.float32), np.asarray(mask, np.float32)])
    return arr


def _lighting(rng: random.Random, h: int, w: int) -> tuple[np.ndarray, list[str]]:
    sh, sw = max(8, h // 8), max(8, w // 8)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    yy /= sh
    xx /= sw
    a = rng.uniform(0, 2 * math.pi)
    g = (xx - 0.5) * math.cos(a) + (yy - 0.5) * math.sin(a)
    light = 1 + rng.uniform(0.1, 0.35) * g
    notes = ["light gradient"]
    if rng.random() < 0.7:
        r2 = ((xx - rng.uniform(0.35, 0.65)) ** 2 + (yy - rng.uniform(0.35, 0.65)) ** 2)
        light *= 1 - rng.uniform(0.15, 0.35) * np.clip(r2 / 0.5, 0, 1)
        notes.append("vignette")
    if rng.random() < 0.4:
        m = Image.new("L", (sw, sh), 0)
        cx, cy = rng.uniform(0, sw), rng.choice((0.0, float(sh)))
        ImageDraw.Draw(m).polygon(_rect_poly(cx, cy, sw * rng.uniform(0.4, 0.9), sh * rng.uniform(0.5, 0.9),
                                             rng.uniform(-40, 40)), fill=255)
        m = m.filter(ImageFilter.GaussianBlur(sw * 0.04))
        light *= 1 - rng.uniform(0.2, 0.35) * np.asarray(m, np.float32) / 255
        notes.append("soft shadow")
    tint = np.array([rng.uniform(0.95, 1.05), 1.0, rng.uniform(0.9, 1.04)], np.float32)
    light = cv2.resize(light.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    return light[..., None] * tint, notes


def _finish(img: np.ndarray, rng: random.Random, nrng: np.random.Generator, blur: tuple[float, float],
            noise: tuple[float, float]) -> np.ndarray:
    sigma = rng.uniform(*blur)
    img = img.astype(np.float32, copy=False)
    if sigma > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    if rng.random() < 0.1:
        k = rng.choice((3, 5))
        ker = np.zeros((k, k), np.float32)
        ker[k // 2, :] = 1.0 / k
        M = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
        ker = cv2.warpAffine(ker, M, (k, k))
        img = cv2.filter2D(img, -1, ker / max(ker.sum(), 1e-6))
    n = rng.uniform(*noise)
    h, w = img.shape[:2]
    img += nrng.standard_normal((h, w, 1), dtype=np.float32) * np.float32(n)
    chroma = nrng.standard_normal((h // 2 + 1, w // 2 + 1, 3), dtype=np.float32) * np.float32(n * 0.5)
    img += cv2.resize(chroma, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(img, 0, 255).astype(np.uint8)


def _encode(arr: np.ndarray, fmt: str, quality: int) -> tuple[Image.Image, bytes]:
    im = Image.fromarray(arr, "RGB")
    buf = io.BytesIO()
    if fmt == "PNG":
        im.save(buf, format="PNG")
    else:
        im.save(buf, format="JPEG", quality=quality, subsampling=2 if quality < 90 else 0)
    return im, buf.getvalue()


def _rotate_quad(quad: list[tuple[float, float]], k: int, h: int, w: int) -> list[tuple[float, float]]:
    """Corner positions after np.rot90(img, k) (k quarter turns counter-clockwise)."""
    out = quad
    for _ in range(k % 4):
        out = [(y, w - 1 - x) for x, y in out]
        h, w = w, h
    return out


def photograph(card: SynthCard, seed: int, kind: str = "photo", *, rotate: int | None = None,
               background: str | None = None, long_side: int | None = None,
               quality: int | None = None, card_width: float | None = None) -> SynthPhoto:
    """A photo-like image of ``card``: kind "photo" (angled, on a table), "scan" or "flat" (the PNG).

    ``rotate`` (0/90/180/270, degrees the card appears turned clockwise) forces the rotation.
    ``background="same"`` lays the card on an even table of nearly its own colour (no edge to
    find); ``card_width`` forces the card's width as a share of the photo's (0.25: small in the
    frame). Without them a seed gives the same photo as before they existed.
    """
    if kind not in PHOTO_KINDS:
        raise BadArgumentsError(f"kind must be one of {', '.join(PHOTO_KINDS)}, not {kind!r}")
    if rotate not in (None, 0, 90, 180, 270):
        raise BadArgumentsError(f"rotate must be 0, 90, 180 or 270, not {rotate!r}")
    if background is not None and background not in BACKGROUNDS + ("same",):
        raise BadArgumentsError(f"background must be one of {', '.join(BACKGROUNDS)} or same, not {background!r}")
    if card_width is not None and not 0.05 <= card_width <= 0.95:
        raise BadArgumentsError(f"card_width must be a share of the photo's width in 0.05..0.95, not {card_width!r}")
    rng = random.Random(f"cardscan-synth-photo-{kind}-{seed}")
    nrng = np.random.default_rng([seed, PHOTO_KINDS.index(kind)])
    truth = dict(card.truth)
    cw, ch = card.image.size
    if kind == "flat":
        im = card.image
        rot = rotate or 0
        arr = np.rot90(np.asarray(im), -rot // 90) if rot else np.asarray(im)
        im, data = _encode(np.ascontiguousarray(arr), "PNG", 0)
        quad = _rotate_quad([(0, 0), (cw - 1, 0), (cw - 1, ch - 1), (0, ch - 1)], -rot // 90, ch, cw)
        truth["photo_kind"] = "rendered"
        return SynthPhoto(im, data, truth, kind, tuple(quad), (360 - rot) % 360, ".png")

    rgba = _card_rgba(card.image, rng.uniform(0.0, 0.06))
    if kind == "scan":
        lid = rng.random() < 0.5
        target_w = int(cw * rng.uniform(0.78, 0.95))  # 320-380 dpi
        scale = target_w / cw
        tw, th = target_w, int(round(ch * scale))
        mx = int(rng.uniform(0.04, 0.35) * tw) if lid else int(rng.uniform(0.0, 0.06) * tw)
        my = int(rng.uniform(0.04, 0.3) * th) if lid else int(rng.uniform(0.0, 0.06) * th)
        W, H = tw + mx + int(rng.uniform(0.02, 0.3) * tw), th + my + int(rng.uniform(0.02, 0.3) * th)
        bgv = rng.uniform(175, 215) if lid else rng.uniform(248, 255)
        img = np.full((H, W, 3), bgv, np.float32)
        ang = rng.uniform(-1.2, 1.2)
        src = np.float32([[0, 0], [cw, 0], [cw, ch], [0, ch]])
        dst = np.float32(_rect_poly(mx + tw / 2, my + th / 2, tw, th, ang))
        Hm = cv2.getPerspectiveTransform(src, dst)
        warped = cv2.warpPerspective(rgba, Hm, (W, H), flags=cv2.INTER_AREA if scale < 0.9 else cv2.INTER_LINEAR)
        a = warped[..., 3:4] / 255
        if lid:  # scanners show a thin shadow along one edge of the card
            sh = cv2.GaussianBlur(a[..., 0], (0, 0), 3)
            sh = np.roll(sh, (3, 3), axis=(0, 1))[..., None]
            img = img * (1 - 0.35 * sh)
        img = img * (1 - a) + warped[..., :3] * a
        img = _finish(img, rng, nrng, (0.2, 0.6), (0.8, 2.0))
        quad = [tuple(map(float, p)) for p in dst]
        rot = rotate or 0
        notes = f"Flat scan at about {round(25.4 * tw / (cw / _PX_PER_MM))} dpi on " + \
            ("grey scanner-lid background" if lid else "white background") + f", tilt {ang:.1f} deg"
        q_draw = rng.randrange(82, 95)
        q = quality or q_draw
        truth["photo_kind"] = "scan"
    else:
        long_draw = rng.randrange(1600, 2401, 16)
        long_ = long_side or long_draw
        portrait = rng.random() < 0.3
        W, H = (int(long_ * 0.75), long_) if portrait else (long_, int(long_ * 0.75))
        bg_draw = rng.choice(BACKGROUNDS)
        bg_kind = background or bg_draw
        img = _background("laminate" if bg_kind == "same" else bg_kind, nrng, rng, H, W)
        if bg_kind == "same":  # the card's own paper colour (its border), a shade darker, same texture
            rim = np.concatenate([rgba[:4, :, :3].reshape(-1, 3), rgba[-4:, :, :3].reshape(-1, 3)])
            img = img / img.reshape(-1, 3).mean(axis=0) * (np.median(rim, axis=0) * 0.97)
        frac = rng.uniform(0.72, 0.88) if portrait else rng.uniform(0.52, 0.72)
        frac = frac if card_width is None else card_width
        tw = W * frac
        th = tw * ch / cw
        ang = rng.uniform(-14, 14) if rng.random() < 0.8 else rng.uniform(-28, 28)
        tilt = rng.uniform(0.0, 0.14)
        far = rng.choice(("top", "top", "left", "right", "bottom"))
        # keystone: the far edge is shorter
        pts = [[-tw / 2, -th / 2], [tw / 2, -th / 2], [tw / 2, th / 2], [-tw / 2, th / 2]]
        idx = {"top": (0, 1), "bottom": (3, 2), "left": (0, 3), "right": (1, 2)}[far]
        for i in idx:
            if far in ("top", "bottom"):
                pts[i][0] *= 1 - tilt
                pts[i][1] *= 1 - tilt * 0.5
            else:
                pts[i][1] *= 1 - tilt
                pts[i][0] *= 1 - tilt * 0.5
        for p in pts:
            p[0] += rng.uniform(-0.012, 0.012) * tw
            p[1] += rng.uniform(-0.012, 0.012) * tw
        a = math.radians(ang)
        rotd = [(x * math.cos(a) - y * math.sin(a), x * math.sin(a) + y * math.cos(a)) for x, y in pts]
        xs, ys = [p[0] for p in rotd], [p[1] for p in rotd]
        mgn = 0.03 * W
        cxmin, cxmax = mgn - min(xs), W - mgn - max(xs)
        cymin, cymax = mgn - min(ys), H - mgn - max(ys)
        if cxmin > cxmax or cymin > cymax:  # shrink until it fits
            k = min((W - 2 * mgn) / (max(xs) - min(xs)), (H - 2 * mgn) / (max(ys) - min(ys)))
            rotd = [(x * k, y * k) for x, y in rotd]
            xs, ys = [p[0] for p in rotd], [p[1] for p in rotd]
            cxmin, cxmax = mgn - min(xs), W - mgn - max(xs)
            cymin, cymax = mgn - min(ys), H - mgn - max(ys)
        cx, cy = rng.uniform(cxmin, max(cxmin, cxmax)), rng.uniform(cymin, max(cymin, cymax))
        quad = [(cx + x, cy + y) for x, y in rotd]
        box = (min(p[0] for p in quad), min(p[1] for p in quad), max(p[0] for p in quad), max(p[1] for p in quad))
        img, objects = _add_objects(img, rng, box, rng.choice((0, 1, 2, 2, 3)))
        # pre-shrink the card to about its size in the photo, then warp
        k = (box[2] - box[0]) / cw
        src_card = rgba
        if k < 0.9:
            src_card = cv2.resize(rgba, (int(cw * k * 1.1), int(ch * k * 1.1)), interpolation=cv2.INTER_AREA)
        sh_, sw_ = src_card.shape[:2]
        src = np.float32([[0, 0], [sw_, 0], [sw_, sh_], [0, sh_]])
        Hm = cv2.getPerspectiveTransform(src, np.float32(quad))
        warped = cv2.warpPerspective(src_card, Hm, (W, H), flags=cv2.INTER_LINEAR)
        alpha = warped[..., 3:4] / 255
        sdx, sdy = rng.uniform(-0.012, 0.012) * W, rng.uniform(0.0, 0.015) * W
        shadow = _soft(np.ascontiguousarray(alpha[..., 0]), rng.uniform(0.004, 0.012) * W, int(sdx), int(sdy))
        img = img * (1 - rng.uniform(0.3, 0.55) * shadow)
        img = img * (1 - alpha) + warped[..., :3] * alpha
        light, light_notes = _lighting(rng, H, W)
        img = img * light
        if rng.random() < 0.2:  # glossy highlight
            m = np.zeros((H // 8, W // 8), np.float32)
            cv2.ellipse(m, (int(rng.uniform(0.3, 0.7) * W / 8), int(rng.uniform(0.3, 0.7) * H / 8)),
                        (int(W / 40), int(H / 60)), rng.uniform(0, 180), 0, 360, 1.0, -1)
            m = cv2.resize(cv2.GaussianBlur(m, (0, 0), 3), (W, H))[..., None] * alpha
            img = img + 22 * m
            light_notes.append("glossy highlight")
        img = _finish(img, rng, nrng, (0.4, 1.2), (1.5, 5.0))
        rot_draw, q_draw = rng.choice((0,) * 8 + (90, 180, 270)), rng.randrange(60, 93)
        rot = rotate if rotate is not None else rot_draw
        q = quality or q_draw
        notes = (f"Photo {W}x{H} on {bg_kind} background" + (f" with {', '.join(objects)}" if objects else "")
                 + f"; card turned {ang:.0f} deg, keystone {tilt:.2f} ({far} edge far); {', '.join(light_notes)}")
        truth["photo_kind"] = "photo"
    if rot:
        kturns = (-rot // 90) % 4  # np.rot90 turns counter-clockwise; the card appears turned rot clockwise
        h0, w0 = img.shape[:2]
        img = np.ascontiguousarray(np.rot90(img, kturns))
        quad = _rotate_quad(quad, kturns, h0, w0)
        notes += f"; image rotated {rot} deg clockwise"
    im, data = _encode(img, "JPEG", q)
    truth["notes"] = f"{card.truth['notes']} {notes}; JPEG quality {q}."
    return SynthPhoto(im, data, truth, kind, tuple(quad), (360 - rot) % 360, ".jpg")


# ----------------------------------------------------------------------------------------------
# Sets and CLI
# ----------------------------------------------------------------------------------------------

def make_set(n: int, seed: int = 0, kinds: Sequence[str] = ("photo", "photo", "photo", "scan"),
             photo: dict[str, Any] | None = None, **overrides: Any) -> Iterator[tuple[str, bytes, dict[str, Any]]]:
    """Yield (filename, encoded image, truth) for ``n`` cards; truth["file"] is the filename.
    ``photo``: keyword arguments for :func:`photograph` (background, card_width, long_side, ...)."""
    for k in kinds:
        if k not in PHOTO_KINDS:
            raise BadArgumentsError(f"kinds must be among {', '.join(PHOTO_KINDS)}, not {k!r}")
    for i in range(n):
        item = seed * 1_000_003 + i
        card = make_card(item, **overrides)
        kind = kinds[random.Random(f"cardscan-synth-kind-{item}").randrange(len(kinds))]
        ph = photograph(card, item, kind, **(photo or {}))
        name = f"synth-{item:08d}{ph.extension}"
        truth = dict(ph.truth)
        truth["file"] = name
        yield name, ph.data, truth


def write_set(outdir: Path, n: int, seed: int = 0, kinds: Sequence[str] = ("photo", "photo", "photo", "scan"),
              photo: dict[str, Any] | None = None, **overrides: Any) -> Path:
    """Write ``n`` images and ``groundtruth.jsonl`` into ``outdir``; returns the ground-truth path."""
    outdir.mkdir(parents=True, exist_ok=True)
    gt = outdir / "groundtruth.jsonl"
    with gt.open("w", encoding="utf-8") as fh:
        for name, data, truth in make_set(n, seed, kinds, photo, **overrides):
            (outdir / name).write_bytes(data)
            fh.write(json.dumps(truth, ensure_ascii=False) + "\n")
    return gt


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cardscan.bench.synth",
                                 description="Write synthetic business-card images and their ground truth.")
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kinds", default="photo,photo,photo,scan",
                    help="comma-separated kinds to draw from: photo, scan, flat (default %(default)s)")
    ap.add_argument("--background", choices=BACKGROUNDS + ("same",),
                    help="the table under every photo; 'same': nearly the card's own colour")
    ap.add_argument("--card-width", type=float, help="the card's width as a share of the photo's (e.g. 0.25)")
    ap.add_argument("--long-side", type=int, help="px of every photo's long side (e.g. 700)")
    ap.add_argument("--scheme", choices=SCHEMES, help="every card's colour scheme (light: a light card)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    photo = {k: v for k, v in (("background", args.background), ("card_width", args.card_width),
                               ("long_side", args.long_side)) if v is not None}
    cards = {"scheme": args.scheme} if args.scheme else {}
    gt = write_set(args.outdir, args.count, args.seed, tuple(k.strip() for k in args.kinds.split(",") if k.strip()),
                   photo, **cards)
    log.info("wrote %d cards and %s", args.count, gt)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
