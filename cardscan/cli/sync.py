"""cardscan sync carddav : the contacts into the user's CardDAV address book (one vCard each)."""
from __future__ import annotations

import argparse
import os
import subprocess

from cardscan.cli.main import add_config_option, add_db_option, require_db
from cardscan.errors import BadArgumentsError, ConfigError, ExitCode


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sync", help="put the contacts into your own address book (CardDAV)",
                       description="Sync contacts to where they already live.")
    ss = p.add_subparsers(dest="target", metavar="TARGET", required=True)
    c = ss.add_parser(
        "carddav", help="one vCard per contact on a CardDAV address book (Nextcloud, iCloud, Fastmail, Radicale...)",
        description="Create each contact once as a vCard on the address book, then update only what changed. "
                    "A card edited on the server (your phone) since the last sync is reported as a conflict and "
                    "kept. Cards cardscan did not create are never touched. The password comes from "
                    "CARDSCAN_CARDDAV_PASSWORD or [carddav] password_command in the config file.")
    add_db_option(c)
    c.add_argument("--url", metavar="URL", help="server or address book URL (default: [carddav] url); "
                   "https, or http to this machine only")
    c.add_argument("--user", metavar="NAME", help="user name (default: [carddav] user)")
    c.add_argument("--event", metavar="NAME", help="only the contacts of this event")
    c.add_argument("--dry-run", action="store_true", help="show what would be written; write nothing")
    c.add_argument("--prune", action="store_true",
                   help="delete the cards of contacts merged into another (the survivor's card stays)")
    add_config_option(c)
    c.set_defaults(func=run_carddav)


def _p(s: object) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in str(s))


def carddav_password(command: tuple[str, ...]) -> str | None:
    """CARDSCAN_CARDDAV_PASSWORD, else the first line printed by the config's password_command."""
    from cardscan.config import ENV_CARDDAV_PASSWORD

    env = os.environ.get(ENV_CARDDAV_PASSWORD)
    if env:
        return env
    if not command:
        return None
    try:
        r = subprocess.run(list(command), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"[carddav] password_command {command[0]!r} could not run: {type(exc).__name__}") from None
    if r.returncode != 0 or not r.stdout.strip():
        raise ConfigError(f"[carddav] password_command {command[0]!r} failed (exit {r.returncode}) or printed nothing")
    return r.stdout.splitlines()[0]


def run_carddav(args: argparse.Namespace) -> int:
    from cardscan.config import load_config
    from cardscan.store import Store
    from cardscan.sync.carddav import DavClient, SyncItem, check_url, discover, sync_carddav

    require_db(args.db)
    config = load_config(args.config)
    url = args.url or config.carddav.url
    if not url:
        raise BadArgumentsError("no CardDAV URL", hint="give --url or set [carddav] url in the config file")
    check_url(url)
    user = args.user or config.carddav.user
    if not user:
        raise BadArgumentsError("no CardDAV user name", hint="give --user or set [carddav] user in the config file")
    password = carddav_password(config.carddav.password_command)
    if password is None:
        raise ConfigError("no CardDAV password",
                          hint="set CARDSCAN_CARDDAV_PASSWORD or [carddav] password_command in the config file")

    def show(item: SyncItem) -> None:
        if item.action == "unchanged":
            return
        detail = f": {_p(item.detail)}" if item.detail else ""
        print(f"#{item.contact_id:<4} {item.action:<9} {_p(item.name)}{detail}", flush=True)

    with DavClient(user, password) as client, Store(args.db) as store:
        book = discover(client, url)
        print(f"address book: {book}")
        report = sync_carddav(store, client, book, event=args.event, dry_run=args.dry_run, prune=args.prune,
                              progress=show)
    counts = ", ".join(f"{report.count(a)} {a}" for a in ("created", "updated", "unchanged", "conflict", "deleted",
                                                           "kept", "gone") if report.count(a))
    print(("dry run, nothing written: " if report.dry_run else "") + (counts or "no contacts"))
    return int(ExitCode.remote_failed) if report.count("conflict") else 0
