"""cardscan status : what the database holds: photos done / failed / pending, contacts, failures."""
from __future__ import annotations

import argparse
import json
import sys

from cardscan.cli.main import add_db_option, add_review_threshold, require_db, review_policy


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="counts (done, failed, pending, contacts, fields to review) and failed photos",
                       description="Show what the database holds and list every photo that failed, with its reason.")
    add_db_option(p)
    p.add_argument("--event", metavar="NAME", help="count the contacts of this event only")
    add_review_threshold(p, what="fields below this confidence count as needing review")
    p.add_argument("--json", action="store_true", help="print the counts and failures as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cardscan.store import Store

    require_db(args.db)
    policy = review_policy(args)
    with Store(args.db) as store:
        counts = store.stats(event=args.event, policy=policy)
        failures = store.failures()
    if args.json:
        json.dump({"counts": counts, "failures": [
            {"path": f.path, "sha256": f.sha256, "reason": f.reason, "attempts": f.attempts, "updated_at": f.updated_at}
            for f in failures]}, sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    print(f"database: {args.db}")
    print(f"photos: {counts['photos_done']} done, {counts['photos_failed']} failed, "
          f"{counts['photos_pending']} pending")
    print(f"contacts: {counts['contacts']}{' (event ' + args.event + ')' if args.event else ''}, "
          f"{counts['contacts_needing_review']} need review, {counts['fields_needing_review']} fields need review")
    if failures:
        print("failed:")
        for f in failures:
            tries = f" ({f.attempts} attempts)" if f.attempts > 1 else ""
            print(f"  {_printable(f.path)}: {_printable(f.reason)}{tries}")
    return 0


def _printable(s: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in s)
