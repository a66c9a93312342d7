"""The knowledge core: what the repository is and what its documents say.

Pure: it imports neither `livekit` nor `aiohttp` (checked by the import contracts in
`pyproject.toml`), so the room bot, the HTTP endpoint, the command line and any future
front end share it unchanged. It reads the repository only through the sandbox
(`sandbox.py`), the one gate every file read passes.
"""
