"""cardscan followup ... : the follow-up e-mail queue (list, show, edit, approve, skip, send, remind)."""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from cardscan.cli.main import add_config_option, add_db_option, add_review_threshold, record_id, require_db, review_policy, with_db
from cardscan.contacts.fields import ReviewPolicy
from cardscan.errors import BadArgumentsError, ExitCode, ValidationError

STATES = ("draft", "approved", "sending", "sent", "drafted", "skipped", "failed", "uncertain")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "followup", help="personal follow-up e-mails: list, edit, approve, send (each at most once)",
        description="Every contact with a usable e-mail gets a draft written from a template (per event, or the "
                    "default). Review and edit drafts, approve them, then send: an entry is sent at most once; "
                    "one whose connection broke after the text was sent is marked uncertain for you to decide.")
    fsub = p.add_subparsers(dest="followup_command", metavar="ACTION", required=True)

    def action(name: str, help: str, func, description: str | None = None) -> argparse.ArgumentParser:  # noqa: ANN001
        a = fsub.add_parser(name, help=help, description=description or help)
        add_db_option(a)
        add_config_option(a)
        a.set_defaults(func=func)
        return a

    a = action("list", "the queue, and contacts to follow up another way", run_list)
    a.add_argument("--state", choices=STATES, help="only entries in this state")
    a.add_argument("--event", metavar="NAME", help="only this event")
    a.add_argument("--kind", choices=("followup", "intro_ask", "intro", "share"), help="only entries of this kind")
    a.add_argument("--json", action="store_true", help="machine-readable: id, kind, state, contacts, to, subject ...")
    add_review_threshold(a, hidden=True)

    a = action("show", "one entry: headers, state, the message", run_show)
    a.add_argument("id", type=record_id, metavar="ID")

    a = action("edit", "edit a draft's subject and text in $EDITOR (an approved one goes back to draft)", run_edit)
    a.add_argument("id", type=record_id, metavar="ID")

    a = action("approve", "approve drafts for sending", run_approve,
               "Approve drafts. A draft whose e-mail address is flagged for review is refused until the "
               "address is corrected or confirmed by you.")
    a.add_argument("ids", type=record_id, nargs="*", metavar="ID")
    a.add_argument("--all-reviewed", action="store_true",
                   help="approve every draft whose contact has nothing left to review")
    a.add_argument("--event", metavar="NAME", help="with --all-reviewed: only this event")
    add_review_threshold(a, what="values below this confidence need review")

    a = action("skip", "do not send this entry (follow up another way)", run_skip)
    a.add_argument("ids", type=record_id, nargs="+", metavar="ID")
    a.add_argument("--reason", default="", metavar="TEXT", help="why (shown in the list)")

    a = action("send", "send the approved entries (each at most once)", run_send,
               "Send approved entries and due retries through the configured SMTP server. The password "
               "comes only from the environment variable CARDSCAN_SMTP_PASSWORD.")
    a.add_argument("--dry-run", action="store_true",
                   help="write the messages as .eml files into --outbox (default <db name>-outbox); connect to nothing")
    a.add_argument("--limit", type=int, metavar="N", help="send at most N messages")
    a.add_argument("--outbox", type=Path, metavar="DIR", help="also keep a copy of each message sent here")
    a.add_argument("--to-drafts", action="store_true",
                   help="put each message into your mailbox's Drafts folder over IMAP ([imap] in the config, "
                        "password from CARDSCAN_IMAP_PASSWORD) instead of sending it; you send it from your mail app")

    a = action("remind", "contacts met more than N days ago with no follow-up sent", run_remind)
    a.add_argument("--days", type=int, default=3, metavar="N", help="days since meeting (default 3)")

    a = action("retry", "send a failed or uncertain entry again (you checked it was not delivered)", run_retry)
    a.add_argument("ids", type=record_id, nargs="+", metavar="ID")

    a = action("mark-sent", "record that an uncertain entry was in fact delivered", run_mark_sent)
    a.add_argument("ids", type=record_id, nargs="+", metavar="ID")


# --------------------------------------------------------------------------------------------


def _p(s: object) -> str:
    """Printable on a terminal: control and formatting characters shown as '?'."""
    return "".join(ch if ch.isprintable() else "?" for ch in str(s))


def _open(args: argparse.Namespace):  # noqa: ANN202
    from cardscan.store import Store

    require_db(args.db)
    return Store(args.db)


def _config(args: argparse.Namespace):  # noqa: ANN202
    from cardscan.config import load_config

    return load_config(args.config)


def run_list(args: argparse.Namespace) -> int:
    from cardscan.followup import queue as fu
    policy = review_policy(args)
    config = _config(args)
    with _open(args) as store:
        made = fu.ensure_drafts(store, config=config)
        if made.error:
            print(f"cardscan: warning: no new drafts: {made.error}", file=sys.stderr)
        rows = fu.entries(store, state=args.state, event=args.event, kind=args.kind)
        if args.json:
            import json

            from cardscan.followup.intros import entry_json
            print(json.dumps([entry_json(e) for e in rows], ensure_ascii=False, indent=1))
            return 0
        for e in rows:
            print(with_db(_entry_line(store, e, policy), args.db))
        if not rows:
            print("no follow-ups" + (f" in state {args.state}" if args.state else ""))
        others = [n for n in made.not_queued if args.event is None or n.event == args.event]
        if others and args.state is None:
            print("\nfollow up another way (no e-mail can be sent):")
            for n in others:
                who = ", ".join(x for x in (n.name, n.company) if x) or "(no name)"
                ev = f"  [{n.event}]" if n.event else ""
                phone = f"  phone {n.phone}" if n.phone else ""
                print(f"  contact #{n.contact_id}  {_p(who)}{_p(ev)}{_p(phone)}: {_p(n.reason)}")
        if rows:
            counts = {s: sum(1 for e in rows if e.state == s) for s in STATES}
            print("\n" + ", ".join(f"{v} {k}" for k, v in counts.items() if v))
    return 0


def _entry_line(store, e, policy: ReviewPolicy) -> str:  # noqa: ANN001
    from cardscan.followup import queue as fu
    try:
        rec = store.contact(e.contact_id)
        who = ", ".join(x for x in (rec.contact.scalar("name"), rec.contact.scalar("company")) if x) or "(no name)"
        has_note = bool(rec.notes)
        gaps = fu.identity_gaps(rec.contact, [e.body or ""])
    except KeyError:
        who, has_note, gaps = "(contact gone)", False, ()
    ev = f"  [{e.event}]" if e.event else ""
    kind = "" if e.kind == "followup" else f"[{e.kind}] "
    to = ", ".join(e.recipients)
    line = f"#{e.id:<4} {e.label:<19} {kind}{to}  {who}{ev}"
    extra = []
    if not has_note and e.state in ("draft", "approved") and e.kind == "followup":
        extra.append("no note about this person: the draft is not personal yet")
    if e.state in ("draft", "approved"):
        extra.extend(gaps)
    if e.state == "draft":
        problem, _ = fu.email_problem(store, e, policy=policy)
        if problem:
            extra.append(problem + (f": {fu.email_edit_command(rec.id)}" if fu.FLAGGED in problem else ""))
    if e.state == "failed" and e.next_attempt_at:
        when = datetime.fromtimestamp(e.next_attempt_at, timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M")
        extra.append(f"next try after {when}")
    if e.last_error and e.state in ("failed", "uncertain", "skipped"):
        extra.append(e.last_error)
    if e.state == "drafted":
        extra.append(_delivery(store, e.id) or "put into Drafts")
    if e.state == "uncertain":
        extra.append(f"check your sent mail, then: cardscan followup mark-sent {e.id}  or  "
                     f"cardscan followup retry {e.id}")
    return _p(line) + "".join(f"\n      ! {_p(x)}" for x in extra)


def run_show(args: argparse.Namespace) -> int:
    from cardscan.followup import queue as fu
    with _open(args) as store:
        e = fu.get(store, args.id)
        rec = store.contact(e.contact_id)
        print(f"follow-up #{e.id}  state: {e.label}  attempts: {e.attempts}")
        print(f"contact #{e.contact_id}" + (f"  event: {_p(e.event)}" if e.event else ""))
        name = rec.contact.scalar("name")
        print(f"To: {_p(name) + ' ' if name else ''}<{_p(e.to_addr)}>"
              + (f", <{_p(e.other_addr)}> (contact #{e.other_contact_id})" if e.other_addr else ""))
        if e.kind != "followup":
            print(f"kind: {e.kind}" + (f"  introduction #{e.intro_id}" if e.intro_id else "")
                  + (f"  link: {_p(e.url)}" if e.url else ""))
        print(f"Subject: {_p(e.subject)}")
        if e.message_id:
            print(f"Message-ID: {e.message_id}")
        how = _delivery(store, e.id)
        if how:
            print(how)
        elif e.sent_at:
            print(f"sent: {e.sent_at}")
        if e.last_error:
            print(f"last error: {_p(e.last_error)}")
        print("notes: " + ("; ".join(_p(n) for n in rec.notes) if rec.notes else "(none)"))
        print()
        sys.stdout.write("".join(ch if ch.isprintable() or ch == "\n" else "?" for ch in e.body))
    return 0


def _editor() -> list[str]:
    cmd = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    return shlex.split(cmd)


def run_edit(args: argparse.Namespace) -> int:
    from cardscan.followup import queue as fu
    with _open(args) as store:
        e = fu.get(store, args.id)
        if e.state not in fu.EDITABLE_STATES:
            raise ValidationError(f"follow-up #{e.id} is {e.label} and can no longer be edited")
        fd, name = tempfile.mkstemp(prefix=f"cardscan-followup-{e.id}-", suffix=".txt")
        path = Path(name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(fu.edit_text(e))
            try:
                rc = subprocess.call([*_editor(), str(path)])
            except OSError as exc:
                raise BadArgumentsError(f"cannot start the editor {_editor()[0]!r}: {exc}",
                                        hint="set EDITOR to your editor, e.g. EDITOR=nano") from None
            if rc != 0:
                print(f"cardscan: the editor exited with status {rc}; nothing changed", file=sys.stderr)
                return int(ExitCode.bad_args)
            text = path.read_text(encoding="utf-8")
        finally:
            path.unlink(missing_ok=True)
        new = fu.save_edit(store, e, text)
    if new is None:
        print(f"follow-up #{e.id}: no changes")
    else:
        again = " (back to draft: approve it again)" if e.state != "draft" else ""
        print(f"follow-up #{e.id}: saved{again}")
    return 0


def run_approve(args: argparse.Namespace) -> int:
    from cardscan.followup import queue as fu
    if not args.ids and not args.all_reviewed:
        raise BadArgumentsError("give follow-up IDs to approve, or --all-reviewed")
    policy = review_policy(args)
    config = _config(args)
    with _open(args) as store:
        ids = list(args.ids)
        if args.all_reviewed:
            ids += [i for i in fu.reviewed_drafts(store, policy=policy, event=args.event)
                    if i not in ids]
        result = fu.approve(store, ids, config=config, policy=policy)
    for fid in result.approved:
        print(f"#{fid} approved")
    to_check = dict(result.email_to_check)
    for fid, why in result.refused:
        fix = f": {fu.email_edit_command(to_check[fid])}" if fid in to_check else ""
        print(f"cardscan: #{fid} not approved: {with_db(_p(why + fix), args.db)}", file=sys.stderr)
    if args.all_reviewed and not ids:
        print("no draft is fully reviewed yet")
    return int(ExitCode.bad_args) if result.refused else 0


def run_skip(args: argparse.Namespace) -> int:
    from cardscan.followup import queue as fu
    with _open(args) as store:
        for fid in args.ids:
            fu.skip(store, fid, reason=args.reason)
            print(f"#{fid} skipped")
    return 0


def run_retry(args: argparse.Namespace) -> int:
    from cardscan.followup import queue as fu
    with _open(args) as store:
        for fid in args.ids:
            fu.retry(store, fid)
            print(f"#{fid} approved again: the next send will send it")
    return 0


def run_mark_sent(args: argparse.Namespace) -> int:
    from cardscan.followup import queue as fu
    with _open(args) as store:
        for fid in args.ids:
            fu.mark_sent(store, fid)
            print(f"#{fid} marked sent")
    return 0


def run_send(args: argparse.Namespace) -> int:
    from cardscan.followup import queue as fu
    config = _config(args)
    outbox = args.outbox
    if args.dry_run and outbox is None:
        outbox = args.db.with_name(f"{args.db.stem}-outbox")

    def show(item: fu.SendItem) -> None:
        where = f"  -> {item.eml}" if item.eml else ""
        reason = f": {_p(item.reason)}" if item.reason and item.state != "sent" else ""
        print(f"#{item.id:<4} {item.state:<9} {_p(item.to_addr)}{reason}{where}", flush=True)

    if args.to_drafts:
        if args.dry_run or args.outbox:
            raise BadArgumentsError("--to-drafts takes neither --dry-run nor --outbox",
                                    hint="a draft is not sent: check it in your mail app before you send it")
        return _send_to_drafts(args, config, show)
    with _open(args) as store:
        report = fu.send_queue(store, config, dry_run=args.dry_run, limit=args.limit, outbox=outbox, progress=show)
    for fid in report.recovered:
        print(with_db(f"#{fid} was being sent when an earlier run stopped: now uncertain "
                      f"(see cardscan followup show {fid})", args.db))
    if report.dry_run:
        print(f"dry run: {len(report.items)} message(s) written to {outbox}; nothing sent")
        return int(ExitCode.bad_args) if any(not i.eml for i in report.items) else 0
    print(f"{report.count('sent')} sent, {report.count('failed')} failed, {report.count('uncertain')} uncertain"
          + (f", {report.waiting} waiting to retry" if report.waiting else ""))
    if report.stopped:
        print(f"cardscan: stopped: {_p(report.stopped)}; the rest stay approved", file=sys.stderr)
    bad = report.count("failed") + report.count("uncertain") + len(report.recovered)
    return int(ExitCode.send_failed) if bad or report.stopped else 0


def _send_to_drafts(args: argparse.Namespace, config, show) -> int:  # noqa: ANN001
    from cardscan.followup.imap import send_to_drafts

    with _open(args) as store:
        report = send_to_drafts(store, config, limit=args.limit, progress=show)
    for fid in report.recovered:
        print(f"#{fid} was being put into Drafts when an earlier run stopped: the folder was checked for it")
    print(f"{report.count('drafted')} put into Drafts, {report.count('failed')} failed"
          + (f", {report.waiting} waiting to retry" if report.waiting else ""))
    if report.stopped:
        print(f"cardscan: stopped: {_p(report.stopped)}; the rest stay approved", file=sys.stderr)
    return int(ExitCode.remote_failed) if report.stopped or report.count("failed") else 0


def _delivery(store, fid: int) -> str | None:  # noqa: ANN001
    """How an entry went out: 'by SMTP' or 'into Drafts at host/folder', with when."""
    from cardscan.store import sync as q

    via, to, at = q.delivery(store, fid)
    if via == "smtp":
        return f"sent by SMTP {at or ''}".strip()
    if via == "drafts":
        return f"put into Drafts ({to}) {at or ''}".strip()
    return None


def run_remind(args: argparse.Namespace) -> int:
    from cardscan.followup import queue as fu
    from cardscan.followup.intros import waiting_asks
    with _open(args) as store:
        rows = fu.reminders(store, days=args.days)
        asks = waiting_asks(store, days=args.days)
    for w in asks:
        print(f"contact #{w.contact_id}  {_p(w.name)}  has not answered whether they want an introduction to "
              f"{_p(w.other)} (asked {w.sent_at}, {w.days} days ago): "
              + with_db(f"cardscan intro answer {w.intro_id} {w.contact_id} yes|no", args.db))
    for r in rows:
        who = ", ".join(x for x in (r.name, r.company) if x) or "(no name)"
        ev = f"  [{r.event}]" if r.event else ""
        entry = f"follow-up #{r.followup_id} {r.state}" if r.followup_id else r.state
        print(f"contact #{r.contact_id}  {_p(who)}{_p(ev)}  met {r.met} ({r.days} days ago): {entry}")
    if not rows and not asks:
        print(f"nobody met more than {args.days} days ago is waiting for a follow-up")
    return 0
