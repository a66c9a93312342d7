"""The room side: the hidden participant in each LiveKit room.

The rooms map (`rooms.py`), one session per room (`session.py`), what each protocol method
does (`handlers.py`, pure), who may ask how often (`admission.py`), connecting
(`connecting.py`) and LiveKit's agent dispatch (`worker.py`). Builds on the knowledge core;
knows nothing of HTTP.
"""
