from cardscan.cli.main import main

raise SystemExit(main())
