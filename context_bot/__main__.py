"""`python -m context_bot` is `context-bot`."""

from context_bot.cli import main

raise SystemExit(main())
