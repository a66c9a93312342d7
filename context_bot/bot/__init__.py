"""The room side: the hidden participant in each LiveKit room.

The rooms map (`rooms.py`), one session per room (`session.py`), what each protocol method
does (`handlers.py`, pure), who may ask how often (`admission.py`), connecting
(`connecting.py`), LiveKit's agent dispatch (`worker.py`) and the SDK's native library
(`native.py`: where it logs, which of its panics end the process). Builds on the knowledge
core; knows nothing of HTTP.
"""
