"""``cardscan review``: the report as a small local web app, with editing.

The page is the report (same template, extended by ``review.html.j2``) plus plain HTML forms:
correct a field (validated on save; a refusal shows the validator's reason next to the field),
revert it to the value read from the card, approve / skip / edit a follow-up draft, merge or
dismiss a possible duplicate, mark a contact reviewed.  Every change goes to the SQLite database
the CLI uses, through the same functions (``cardscan.contacts.edit``, ``cardscan.followup.queue``,
``cardscan.contacts.dedupe``).

Security model: the server listens on 127.0.0.1 by default (another address only when the
caller says so explicitly), every URL starts with a per-run random token (anything else is
403), every POST also carries the token as a hidden form field (CSRF), the Host header must
name this server (DNS rebinding), and responses carry a strict Content-Security-Policy with no
script allowed at all.  Output is escaped by Jinja2's autoescape.

The server is werkzeug's (``make_server``) in a thread: :class:`ReviewServer` starts and stops it.
"""
from __future__ import annotations

import hmac
import io
import ipaddress
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cardscan.contacts import dedupe

from cardscan.contacts import edit as edit_mod
from cardscan.contacts.fields import DEFAULT_POLICY, FIELD_NAMES, LIST_FIELDS, SCALAR_FIELDS, ReviewPolicy

from cardscan.followup import queue as followup
from cardscan.errors import BadArgumentsError, CardscanError, ValidationError
from cardscan.outputs.report import DEFAULT_TITLE, environment, load_report_data, report_context
from cardscan.store import Store

log = logging.getLogger(__name__)

# No script at all; images are inline (data:) or served by this app (the original photo).
CSP = ("default-src 'none'; img-src data: 'self'; style-src 'unsafe-inline'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
MAX_FORM_BYTES = 256 * 1024
PHONE_TYPES = ("work", "mobile", "fax", "other")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, *, allow_remote: bool) -> None:
    """Refuse a non-loopback address unless the user asked for it explicitly (``--host``)."""
    if not is_loopback(host) and not allow_remote:
        raise BadArgumentsError(
            f"refusing to serve the review page on {host}: anyone on the network could read and change contacts",
            hint="it serves on 127.0.0.1 by default; pass --host explicitly to accept the risk")


# --------------------------------------------------------------------------------------------
# actions: thin adapters over the modules the CLI uses


def validate_value(name: str, value: str, *, region: str | None = None) -> str | None:
    """The value to store for a field a person typed, or None to delete it (``edit.validate``).
    Raises ValidationError with the validator's reason."""
    return edit_mod.validate(name, value, region=region)


def edit_field(store: Store, contact_id: int, name: str, value: str, *, position: int = 0,
               phone_type: str | None = None) -> None:
    edit_mod.edit_field(store, contact_id, name, value, position=position, phone_type=phone_type)


def revert_field(store: Store, contact_id: int, name: str, *, position: int = 0) -> bool:
    return bool(edit_mod.revert_field(store, contact_id, name, position=position))


def approve_followup(store: Store, followup_id: int, *, config_loader: Callable[[], Any] | None = None,
                     policy: ReviewPolicy = DEFAULT_POLICY) -> None:
    config = config_loader() if config_loader is not None else None
    result = followup.approve(store, [followup_id], config=config, policy=policy)
    if result.refused:  # a flagged e-mail is corrected or confirmed in the Edit box beside it, on this page
        where = " with the Edit box beside that e-mail above" if result.email_to_check else ""
        raise ValidationError(f"not approved: {result.refused[0][1]}{where}")


def skip_followup(store: Store, followup_id: int) -> None:
    followup.skip(store, followup_id, reason="skipped in cardscan review")


def edit_followup(store: Store, followup_id: int, subject: str, body: str) -> None:
    entry = followup.get(store, followup_id)
    followup.save_edit(store, entry, f"Subject: {subject.strip()}\n\n{body.replace(chr(13), '')}")


def answer_intro(store: Store, intro_id: int, contact_id: int, answer: str, *,
                 config_loader: Callable[[], Any] | None = None) -> str:
    """Record a contact's answer to an introduction ask (``cardscan.followup.intros.answer``)."""
    from cardscan.followup import intros

    config = config_loader() if config_loader is not None else None
    res = intros.answer(store, intro_id, contact_id, answer, config=config)
    if res.introduction:
        return f"introduction #{intro_id}: both said yes; draft #{res.introduction} written"
    return f"introduction #{intro_id}: answer recorded ({res.state})"


def merge_contacts(store: Store, keep: int, other: int) -> int:
    """Merge ``other`` into ``keep`` (``dedupe.merge``); returns the surviving id."""
    if store.contact(keep).id == store.contact(other).id:
        raise ValidationError("these two are already one contact")
    return int(dedupe.merge(store, keep, other))


def dismiss_duplicate(store: Store, a: int, b: int) -> None:
    """Remember that two contacts are different people (they are no longer offered as duplicates)."""
    a, b = store.contact(a).id, store.contact(b).id
    if a == b:
        return
    store.dismiss_duplicate(a, b)


# --------------------------------------------------------------------------------------------
# the web app


@dataclass
class ReviewSettings:
    db: Path
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    event: str | None = None
    policy: ReviewPolicy = DEFAULT_POLICY  # which values need review (cardscan review --review-threshold)
    title: str | None = None
    config_loader: Callable[[], Any] | None = None
    allowed_hosts: set[str] = field(default_factory=set)  # Host header values; empty = any


@dataclass
class _Problems:
    """What a refused form asked for, to show next to the form with the reason."""

    fields: dict[str, tuple[str, str]] = field(default_factory=dict)  # "cid:name:pos" -> (reason, typed)
    adds: dict[int, tuple[str, str, str]] = field(default_factory=dict)  # cid -> (reason, name, typed)
    followups: dict[int, tuple[str, str, str]] = field(default_factory=dict)  # fid -> (reason, subject, body)
    general: list[str] = field(default_factory=list)


def create_app(settings: ReviewSettings):  # noqa: ANN201 - flask.Flask (imported lazily)
    """The Flask app; every route lives under ``/<token>/``."""
    try:
        from flask import Flask, Response, abort, redirect, request
    except ImportError as exc:  # pragma: no cover - flask is a dependency
        from cardscan.errors import MissingDependencyError

        raise MissingDependencyError("cardscan review needs Flask", hint="pip install 'flask>=3,<4'") from exc

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_FORM_BYTES
    token = settings.token
    base = f"/{token}/"
    notices: dict[str, tuple[str, str, str | None]] = {}  # one-shot messages after a redirect (kind, text, anchor)
    lock = threading.Lock()

    def notice(kind: str, text: str) -> str:
        nid = secrets.token_hex(6)
        with lock:
            if len(notices) > 200:
                notices.clear()
            notices[nid] = (kind, text, None)
        return nid

    def back(cid: int | None = None, *, msg: str | None = None) -> Any:
        q = f"?n={notice('ok', msg)}" if msg else ""
        return redirect(base + q + (f"#contact-{cid}" if cid is not None else ""), code=303)

    @app.before_request
    def guard() -> None:
        if settings.allowed_hosts and request.host.lower() not in settings.allowed_hosts:
            abort(403)
        given = (request.view_args or {}).get("token", "")
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(), token.encode()):
            abort(403)
        if request.method == "POST":
            form_token = request.form.get("token", "")
            if not hmac.compare_digest(form_token.encode(), token.encode()):
                abort(403)

    @app.after_request
    def headers(resp: Response) -> Response:
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.errorhandler(403)
    def forbidden(_e: Exception) -> Response:
        return Response("403 Forbidden: open the address cardscan review printed (it holds this run's token).\n",
                        status=403, mimetype="text/plain")

    def page(problems: _Problems | None = None, status: int = 200) -> Response:
        problems = problems or _Problems()
        with Store(settings.db) as store:
            data = load_report_data(store, event=settings.event, policy=settings.policy)
        ctx = report_context(
            data.records, stats=data.stats, failures=data.failures,
            title=settings.title or (f"{DEFAULT_TITLE}: {settings.event}" if settings.event else DEFAULT_TITLE),
            policy=settings.policy, followups=data.followups, duplicates=data.duplicates, synced=data.synced,
            intros=data.intros)
        shown = []
        nid = request.args.get("n", "")
        with lock:
            if nid in notices:
                shown.append(notices.pop(nid))
        shown += [("error", g, None) for g in problems.general]
        shown += [("error", f"Not saved: {why}", f"contact-{key.split(':')[0]}") for key, (why, _) in problems.fields.items()]
        shown += [("error", f"Not added: {why}", f"contact-{cid}") for cid, (why, _, _) in problems.adds.items()]
        shown += [("error", why, f"followup-{fid}") for fid, (why, _, _) in problems.followups.items()]
        html = environment().get_template("review.html.j2").render(
            **ctx, base=base, token=token, notices=shown, problems=problems, phone_types=PHONE_TYPES,
            field_names=FIELD_NAMES, db=str(settings.db))
        return Response(html, status=status, mimetype="text/html")

    def int_arg(name: str) -> int:
        try:
            return int(request.form.get(name, ""))
        except ValueError:
            abort(400)

    @app.get("/<token>/")
    def index(token: str) -> Response:
        return page()

    @app.post("/<token>/contact/<int:cid>/field")
    def save_field(token: str, cid: int) -> Any:
        name = request.form.get("field", "")
        pos = int_arg("position")
        if name not in FIELD_NAMES or pos < 0:
            abort(400)
        value = request.form.get("value", "")
        ptype = request.form.get("phone_type") or None
        if ptype is not None and ptype not in PHONE_TYPES:
            abort(400)
        try:
            with Store(settings.db) as store:
                if request.form.get("action") == "revert":
                    changed = revert_field(store, cid, name, position=pos)
                    return back(cid, msg=f"#{cid} {name}: back to the value read from the card" if changed
                                else f"#{cid} {name}: already the value read from the card")
                edit_field(store, cid, name, value, position=pos, phone_type=ptype)
        except KeyError:
            abort(404)
        except ValidationError as exc:
            return page(_Problems(fields={f"{cid}:{name}:{pos}": (str(exc), value)}), status=422)
        return back(cid, msg=f"#{cid} {name} saved")

    @app.post("/<token>/contact/<int:cid>/add")
    def add_value(token: str, cid: int) -> Any:
        name = request.form.get("field", "")
        value = request.form.get("value", "")
        if name not in FIELD_NAMES:
            abort(400)
        try:
            with Store(settings.db) as store:
                rec = store.contact(cid)
                pos = 0 if name in SCALAR_FIELDS else len(getattr(rec.contact, LIST_FIELDS[name]))
                if not value.strip():
                    raise ValidationError("type a value to add")
                edit_field(store, cid, name, value, position=pos,
                           phone_type=(request.form.get("phone_type") or "other") if name == "phone" else None)
        except KeyError:
            abort(404)
        except ValidationError as exc:
            return page(_Problems(adds={cid: (str(exc), name, value)}), status=422)
        return back(cid, msg=f"#{cid} {name} added")

    @app.post("/<token>/contact/<int:cid>/reviewed")
    def reviewed(token: str, cid: int) -> Any:
        flag = request.form.get("reviewed", "1") == "1"
        try:
            with Store(settings.db) as store:
                store.set_reviewed(cid, flag)
        except KeyError:
            abort(404)
        return back(cid, msg=f"#{cid} marked {'reviewed' if flag else 'to review'}")

    @app.post("/<token>/followup/<int:fid>/<action>")
    def followup_action(token: str, fid: int, action: str) -> Any:
        cid = int_arg("contact")
        try:
            with Store(settings.db) as store:
                if action == "approve":
                    approve_followup(store, fid, config_loader=settings.config_loader, policy=settings.policy)
                    msg = f"follow-up #{fid} approved"
                elif action == "skip":
                    skip_followup(store, fid)
                    msg = f"follow-up #{fid} skipped"
                elif action == "edit":
                    subject, body = request.form.get("subject", ""), request.form.get("body", "")
                    try:
                        edit_followup(store, fid, subject, body)
                    except ValidationError as exc:
                        return page(_Problems(followups={fid: (str(exc), subject, body)}), status=422)
                    msg = f"follow-up #{fid} saved as a draft"
                else:
                    abort(404)
        except CardscanError as exc:
            return page(_Problems(followups={fid: (str(exc), "", "")}), status=422)
        return back(cid, msg=msg)

    @app.post("/<token>/intro/<int:iid>/answer")
    def intro_answer(token: str, iid: int) -> Any:
        cid = int_arg("contact")
        try:
            with Store(settings.db) as store:
                msg = answer_intro(store, iid, cid, request.form.get("answer", ""),
                                   config_loader=settings.config_loader)
        except CardscanError as exc:
            return page(_Problems(general=[str(exc)]), status=422)
        return back(cid, msg=msg)

    @app.post("/<token>/merge")
    def merge(token: str) -> Any:
        keep, other = int_arg("keep"), int_arg("other")
        try:
            with Store(settings.db) as store:
                if request.form.get("action") == "dismiss":
                    dismiss_duplicate(store, keep, other)
                    return back(keep, msg=f"#{keep} and #{other} are kept apart")
                survivor = merge_contacts(store, keep, other)
        except KeyError:
            abort(404)
        except CardscanError as exc:
            return page(_Problems(general=[str(exc)]), status=422)
        return back(survivor, msg=f"#{other} merged into #{survivor}")

    @app.get("/<token>/photo/<sha256>")
    def photo(token: str, sha256: str) -> Response:
        """The original photo (re-encoded as JPEG, EXIF orientation applied), if it is still where
        it was scanned and still has the same content."""
        from cardscan.reading.decode import read_image_file
        from cardscan.reading.files import sha256_file

        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            abort(404)
        with Store(settings.db) as store:
            seen_at = store.photo_path(sha256)
        if seen_at is None:
            abort(404)
        path = Path(seen_at)
        if not path.is_file() or sha256_file(path) != sha256:
            return Response(f"The original photo is no longer at {seen_at} (or it changed).\n", status=404,
                            mimetype="text/plain")
        from PIL import Image

        _, img = read_image_file(path, max_side=2400)
        buf = io.BytesIO()
        Image.fromarray(img.pixels).save(buf, format="JPEG", quality=88)
        return Response(buf.getvalue(), mimetype="image/jpeg")

    return app


class ReviewServer:
    """werkzeug's threaded server for the review app, in a background thread."""

    def __init__(self, settings: ReviewSettings, *, host: str = "127.0.0.1", port: int = 0,
                 allow_remote: bool = False) -> None:
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # its access log would print the token

        check_bind(host, allow_remote=allow_remote)
        self.settings = settings
        self.host = host
        self.app = create_app(settings)
        try:
            self._server = make_server(host, port, self.app, threaded=True)
        except OSError as exc:
            raise BadArgumentsError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                                    hint="choose another --port, or leave it out for a free one") from exc
        self.port = int(self._server.socket.getsockname()[1])
        shown = f"[{host}]" if ":" in host else host
        if is_loopback(host):
            settings.allowed_hosts = {f"{h}:{self.port}" for h in ("127.0.0.1", "localhost", "[::1]", shown)}
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if host in ("0.0.0.0", "[::]"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}/{self.settings.token}/"

    def start(self) -> ReviewServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="cardscan-review", daemon=True)
        self._thread.start()
        log.info("review page at %s", self.url)
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until KeyboardInterrupt; then call :meth:`close`."""
        self._server.serve_forever()

    def close(self) -> None:
        self._server.server_close()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ReviewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["CSP", "ReviewServer", "ReviewSettings", "check_bind", "create_app", "dismiss_duplicate", "edit_field",
           "is_loopback", "merge_contacts", "revert_field", "validate_value"]
