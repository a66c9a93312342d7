"""The HTTP endpoint: join tokens that send the bot in, webhooks, health, the page.

`routes.py` is the aiohttp application; the rules it applies live in pure modules beside
it (`token_request.py`, `tenants.py`, `ownership.py`, `readiness.py`, `openapi.py`). It
sends the bot into rooms through the room side (`context_bot.bot`), never the other way.
"""
