"""context-bot: a hidden LiveKit participant that serves a repository's knowledge.

This module stays import-light on purpose: `context_bot.client` must import with only
`livekit` installed, and `scripts/livekit-server-path` imports `context_bot.devserver`
with nothing but the standard library.
"""

__version__ = "0.1.0"
