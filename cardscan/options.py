"""The one options object, validated once at the boundary and never changed mid-run."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from cardscan.contacts.fields import DEFAULT_REVIEW_THRESHOLD, ReviewPolicy
from cardscan.errors import BadArgumentsError

_LANG_RE = re.compile(r"^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$")
READERS = ("lines", "tesseract", "careful")
RUNTIMES = ("auto", "onnxruntime", "openvino")  # the line reader's model runtimes (reading/ocr/sessions.py)
_REGION_RE = re.compile(r"^[A-Z]{2}$")
_LOCAL_CLUSTER_RE = re.compile(r"^local:(\d+)$")
_CLUSTER_ADDRESS_RE = re.compile(r"^([a-z]+://)?[^\s/:]+:\d+$")


def check_cluster_address(spec: str) -> str:
    """`--cluster`: `local:N` or a Dask scheduler address (tcp://HOST:PORT); a clear error otherwise."""
    m = _LOCAL_CLUSTER_RE.match(spec)
    if m:
        if int(m.group(1)) < 1:
            raise BadArgumentsError("--cluster local:N needs N of 1 or more worker processes")
        return spec
    if not _CLUSTER_ADDRESS_RE.match(spec):
        raise BadArgumentsError(f"--cluster must be local:N or a scheduler address such as tcp://HOST:8786, "
                                f"not {spec!r}")
    return spec


def check_region(value: str, /, *, what: str = "--region") -> str:
    """``value`` as an upper-case ISO 3166 alpha-2 code, else BadArgumentsError: the one region check
    (the config file's [scan] region goes through it too)."""
    region = value.upper()
    if not _REGION_RE.match(region):
        raise BadArgumentsError(f"{what} must be a two-letter country code such as US or JP, not {value!r}")
    import phonenumbers

    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise BadArgumentsError(f"{what} {region} is not a country phonenumbers knows",
                                hint="use a two-letter country code such as US, GB, FR or JP")
    return region


@dataclass(frozen=True)
class Options:
    region: str | None = None  # default phone region (ISO 3166 alpha-2); inferred from the card first
    lang: str = "eng"  # Tesseract languages, "eng+por"
    event: str | None = None  # event name stored with each contact
    event_date: str | None = None  # the day of the event (YYYY-MM-DD), for the follow-up drafts
    note: str | None = None  # the user's note, stored with each contact from this scan
    db: Path = Path("cardscan.db")
    report: Path | None = None  # HTML report to write after a scan
    jsonl: Path | None = None  # one JSON object per card
    engine: str = "auto"  # OCR engine: auto | tesserocr | pytesseract
    second_engine: str = "off"  # off | rapidocr: a second opinion for poorly read cards
    # lines: text-line detector + PP-OCR/Tesseract line recognisers; tesseract: Tesseract's looks
    # (page layout on the whole card); careful: both readers, their contacts merged
    reader: str = "lines"
    # what runs the line reader's models: auto (openvino in bfloat16 where the CPU has it, else
    # onnxruntime) | onnxruntime | openvino (reading/ocr/sessions.py)
    runtime: str = "auto"
    jobs: int = 0  # worker processes; 0 = number of cores
    max_image_mpixels: float = 250.0  # refuse images larger than this (decompression bombs)
    ocr_timeout: float = 60.0  # seconds per OCR call
    review_threshold: float = DEFAULT_REVIEW_THRESHOLD  # fields below this confidence are flagged "needs review"
    keep_crops: bool = True
    auto_merge: str | None = None  # "strong" | "possible": merge duplicates after the scan (None: only list them)
    followup_drafts: bool = True  # write a follow-up draft for each new contact with a usable e-mail
    cluster: str | None = None  # read on a Dask cluster: "tcp://HOST:8786", or "local:N" worker processes
    shared_paths: bool = False  # with cluster: send paths (every worker can read them), not the photos' bytes
    busy_timeout: float = 30.0  # seconds a write waits for another process's write lock (then: busy)

    def __post_init__(self) -> None:
        for name, value in (("--event", self.event), ("--note", self.note)):
            # these reach e-mail subjects and headers: a line break would cut a header and start another
            if value is not None and any(not ch.isprintable() for ch in value):
                raise BadArgumentsError(f"{name} must be one line of text without control characters")
        if self.region is not None:
            object.__setattr__(self, "region", check_region(self.region))
        if not _LANG_RE.match(self.lang):
            raise BadArgumentsError(f"--lang must look like 'eng' or 'eng+por', not {self.lang!r}")
        if self.engine not in ("auto", "tesserocr", "pytesseract"):
            raise BadArgumentsError(f"--engine must be auto, tesserocr or pytesseract, not {self.engine!r}")
        if self.second_engine not in ("off", "rapidocr"):
            raise BadArgumentsError(f"--second-engine must be off or rapidocr, not {self.second_engine!r}")
        if self.runtime not in RUNTIMES:
            raise BadArgumentsError(f"--runtime must be one of {', '.join(RUNTIMES)}, not {self.runtime!r}")
        if self.reader not in READERS:
            raise BadArgumentsError(f"--reader must be one of {', '.join(READERS)}, not {self.reader!r}")
        if self.event_date is not None:
            import datetime

            try:
                datetime.date.fromisoformat(self.event_date)
            except ValueError:
                raise BadArgumentsError(f"--event-date must be a date such as 2026-11-26, not {self.event_date!r}") from None
            if not self.event:
                raise BadArgumentsError("--event-date needs --event NAME")
        if self.auto_merge not in (None, "strong", "possible"):
            raise BadArgumentsError(f"--auto-merge must be strong or possible, not {self.auto_merge!r}")
        if self.jobs < 0:
            raise BadArgumentsError("--jobs must be 0 (one per core) or more")
        if self.max_image_mpixels <= 0:
            raise BadArgumentsError("--max-image-mpixels must be positive")
        if not self.busy_timeout > 0:
            raise BadArgumentsError("--busy-timeout must be a positive number of seconds")
        self.review  # noqa: B018 - checks the threshold (BadArgumentsError), the one place that does
        if self.cluster is not None:
            check_cluster_address(self.cluster)
        elif self.shared_paths:
            raise BadArgumentsError("--shared-paths goes with --cluster ADDRESS")
        object.__setattr__(self, "db", Path(self.db))

    @property
    def review(self) -> ReviewPolicy:
        """The review rule for this run: report, follow-ups, status and the review app all use it."""
        return ReviewPolicy(self.review_threshold)

    @property
    def workers(self) -> int:
        return self.jobs or (os.cpu_count() or 1)

    def with_(self, **changes: object) -> "Options":
        return replace(self, **changes)  # type: ignore[arg-type]
