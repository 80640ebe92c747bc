"""cardscan review : the report as a local web page where fields, follow-ups and duplicates can be fixed."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cardscan.cli.main import add_db_option, add_review_threshold, require_db, review_policy
from cardscan.errors import BadArgumentsError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "review", help="review and correct contacts in the browser (local page, this computer only)",
        description="Serve the report on 127.0.0.1 with a random per-run token in the address and open it in "
                    "the browser. Correct a field (checked on save), revert it to what the card said, approve, "
                    "skip or edit a follow-up, merge duplicates. Changes go to the database at once. Ctrl-C stops.")
    add_db_option(p)
    p.add_argument("--event", metavar="NAME", help="only the contacts of this event")
    p.add_argument("--port", type=int, default=0, metavar="N", help="port to listen on (default: a free one)")
    p.add_argument("--host", default=None, metavar="ADDR",
                   help="address to listen on (default 127.0.0.1; any other address lets others on the network "
                        "reach the page, token permitting)")
    p.add_argument("--no-browser", action="store_true", help="only print the address; do not open a browser")
    p.add_argument("--config", type=Path, metavar="FILE", help="cardscan config file (sender, for approving follow-ups)")
    add_review_threshold(p)
    p.add_argument("--busy-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="how long a save waits while another program holds the database's write lock "
                        "(default 30); then the page says so and keeps what was typed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cardscan.outputs.review import ReviewServer, ReviewSettings

    require_db(args.db)
    if not 0 <= args.port <= 65535:
        raise BadArgumentsError("--port must be between 0 and 65535")
    if not 0 < args.busy_timeout <= 3600:
        raise BadArgumentsError("--busy-timeout must be more than 0 and at most 3600 seconds")

    def config_loader():  # noqa: ANN202 - cardscan.config.Config
        from cardscan.config import load_config

        return load_config(args.config)

    settings = ReviewSettings(db=args.db.resolve(), event=args.event, policy=review_policy(args),
                              config_loader=config_loader, busy_timeout=args.busy_timeout)
    host = args.host if args.host is not None else "127.0.0.1"
    server = ReviewServer(settings, host=host, port=args.port, allow_remote=args.host is not None)
    print(f"cardscan review: {server.url}", flush=True)
    print("press Ctrl-C to stop", file=sys.stderr, flush=True)
    if not args.no_browser and sys.stdout.isatty():
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    finally:
        server.close()
    return 0
