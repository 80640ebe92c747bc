"""`python -m cardscan`: the same as the `cardscan` command."""
from cardscan.cli.main import main

raise SystemExit(main())
