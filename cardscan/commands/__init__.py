"""Sub-commands of `cardscan`: each module here has `register(subparsers)`."""
