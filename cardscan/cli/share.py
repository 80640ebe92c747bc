"""cardscan share URL --with A B ... : send a link to people you met, one personal draft each."""
from __future__ import annotations

import argparse

from cardscan.cli.main import add_config_option, add_db_option, require_db, with_db


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("share", help="share a link with contacts: one personal draft each, through the queue",
                       description="Write one personal draft per contact with the link (their first name, where "
                                   "you met, your note). Approve and send them with cardscan followup approve/send. "
                                   "A person who already has this link queued is not written to again.")
    p.add_argument("url", metavar="URL", help="the link (http or https)")
    p.add_argument("--with", dest="contacts", type=int, nargs="+", required=True, metavar="CONTACT",
                   help="contact numbers")
    p.add_argument("--note", default="", metavar="TEXT", help="a line added under the link")
    add_db_option(p)
    add_config_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cardscan.config import load_config
    from cardscan.followup import intros as it
    from cardscan.store import Store

    require_db(args.db)
    config = load_config(args.config)
    with Store(args.db) as store:
        res = it.share(store, args.url, args.contacts, config=config, note=args.note)
    for fid in res.created:
        print(f"share #{fid} draft written")
    for cid, fid in res.already:
        print(f"contact #{cid} already has this link queued (#{fid})")
    if res.created:
        print(with_db("approve them: cardscan followup approve " + " ".join(str(i) for i in res.created), args.db))
    return 0
