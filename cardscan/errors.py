"""One exception root for cardscan; every error carries the process exit code it maps to.

The library raises these; the CLI (``cardscan.cli.main``) turns them into a one-line message and
``exit_code``. Per-file problems in a batch are recorded, not raised, and the run goes on.
"""
from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    ok = 0
    bad_args = 1
    input_file = 2
    missing_dependency = 3
    output_access = 5
    ocr_failed = 7
    invalid_config = 9
    send_failed = 10
    login_failed = 11
    remote_failed = 12
    cluster_failed = 13
    other_error = 15
    ctrl_c = 130
    terminated = 143  # SIGTERM: stopped as cleanly as by Ctrl-C


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an interrupt by the CLI so that it stops the same clean way as Ctrl-C."""


class CardscanError(Exception):
    """Root of every error cardscan raises on purpose."""

    exit_code: ExitCode = ExitCode.other_error

    def __init__(self, message: str = "", *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class BadArgumentsError(CardscanError):
    exit_code = ExitCode.bad_args


class InputImageError(CardscanError):
    """The file is not a usable image: empty, truncated, too large, corrupt, no card in it."""

    exit_code = ExitCode.input_file


class UnsupportedFormatError(InputImageError):
    """The file's content is not an image format cardscan reads (named in the message)."""


class NoCardError(InputImageError):
    """The image decoded but holds no readable card (blank, no text)."""


class MissingDependencyError(CardscanError):
    """Tesseract, its language data or an optional extra is missing; the message says how to install it."""

    exit_code = ExitCode.missing_dependency


class RoleModelError(MissingDependencyError):
    """The packaged line-role model (cardscan/parsing/data/roles.crfsuite) is missing or unreadable."""


class OutputAccessError(CardscanError):
    exit_code = ExitCode.output_access


class DatabaseBusyError(OutputAccessError):
    """Another process held the database's write lock for longer than the busy timeout: nothing was
    written; the same write may succeed later (the watcher retries it)."""


class OcrFailedError(CardscanError):
    """The OCR engine crashed, timed out, or produced no output."""

    exit_code = ExitCode.ocr_failed


class ConfigError(CardscanError):
    exit_code = ExitCode.invalid_config


class SendError(CardscanError):
    exit_code = ExitCode.send_failed


class ClusterError(CardscanError):
    """The Dask cluster cannot be reached or was lost mid-run; photos already committed stay stored."""

    exit_code = ExitCode.cluster_failed


class ValidationError(CardscanError, ValueError):
    """A value a user typed (an edit, a note) was refused; the message is the validator's reason."""

    exit_code = ExitCode.bad_args


class RemoteError(CardscanError):
    """A CardDAV or IMAP server could not be reached or refused a request."""
    exit_code = ExitCode.remote_failed


class LoginError(RemoteError):
    """The server refused the user name or password (the password is never in the message)."""
    exit_code = ExitCode.login_failed

