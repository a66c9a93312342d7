"""The active-rooms map: at most one bot session per room in this process.

One of the room side's adapters to `livekit.rtc` (with `session.py` and `connecting.py`;
the import contracts in `pyproject.toml` say who may import it). The map is the single
source of truth: `join` adds, a session's end removes, and nothing else keeps room state.

- Joins are serialised per room name, so concurrent `/token` calls for one room send
  one bot.
- A session that ends for a transient reason (server restart, signal loss, timeout) is
  rejoined with exponential backoff while the room still exists on the server; one that
  ends for good (the room closed or was deleted, we left, another bot took our identity)
  is forgotten.
- A session put out by a connection under our identity (DUPLICATE_IDENTITY) asks the
  server who holds it now: another bot of ours keeps the room; anyone else is an impostor,
  and the bot joins again at once, which puts the impostor out.
- A failure in one room is logged and handled there; it never reaches another room.
- The bot connects hidden, as an agent, data only, with the room options that make an
  idle room cheapest (docs/design.md, facts 1 and 9).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from livekit import rtc

from context_bot.admin import (
    METADATA_KEY,
    Presence,
    RoomInfo,
    bot_token,
    created_by_us,
    parse_metadata,
)
from context_bot.bot.connecting import connect_within, settle_abandoned
from context_bot.bot.handlers import Handlers
from context_bot.bot.session import EMPTY_GRACE_S, RoomFactory, RoomSession
from context_bot.config import LiveKitSettings
from context_bot.locks import KeyedLocks
from context_bot.metrics import Metrics
from context_bot.protocol import MAX_REQUEST_BYTES
from context_bot.tasks import spawn

log = structlog.get_logger(__name__)

CONNECT_TIMEOUT_S = 10.0
MAX_CONCURRENT_JOINS = 8
"""Connects in flight at once; the rest queue (fact 9 measured 500 joins ten at a time)."""
REJOIN_FIRST_DELAY_S = 0.5
REJOIN_MAX_DELAY_S = 30.0
REJOIN_GIVE_UP_S = 300.0
"""Stop trying to rejoin a room after this long without success."""
FLUSH_S = 0.5
"""How long answers sent just before leaving get to reach their participants."""


def flush_wait(since_sent: list[float], flush_s: float) -> float:
    """How long to wait before leaving so that the last answer sent (`since_sent`: seconds
    since each session's last send) has had `flush_s` to drain: what is left of it, not all
    of it again (an answer sent 0.4 s before a stop waits 0.1 s more, not 0.5)."""
    return max(0.0, flush_s - min(since_sent, default=flush_s))


RECONCILE_MIN_AGE_S = 10.0
"""With agent dispatch, rooms younger than this are left to the dispatch that is sending
a bot in right now, so a worker's reconcile does not race it."""

RECLAIM_WAIT_S = 10.0
RECLAIM_CHECK_S = 0.1
"""After DUPLICATE_IDENTITY, how long and how often to ask who holds our identity while
the server still lists our own, displaced connection, or lists an impostor still joining.
Put out before its connection is up, the impostor's SDK retries its connect 15 s later and
puts the bot out again (livekit 1.2.1, measured): wait until it is ACTIVE (0.1-0.2 s after
its join on loopback), so that it is put out for good. The wait is long because a loaded
server can take seconds to update its list, and deciding early is what goes wrong: the
old fixed 2 s made a displaced bot take a room back from another bot of ours."""
RECLAIM_AT_ONCE = 3
RECLAIM_WINDOW_S = 60.0
"""An impostor is put out at once up to this many times a window; beyond, the rejoins
back off as after a lost connection, so two parties that keep displacing each other do
not become a busy loop."""

FINAL_REASONS = frozenset(
    {
        rtc.DisconnectReason.CLIENT_INITIATED,  # we left
        rtc.DisconnectReason.DUPLICATE_IDENTITY,  # another bot process took the room
        # (unless it was an impostor: `_reclaim` decides when the server can be asked)
        rtc.DisconnectReason.PARTICIPANT_REMOVED,  # an operator removed the bot
        rtc.DisconnectReason.ROOM_DELETED,
        rtc.DisconnectReason.ROOM_CLOSED,
    }
)

RoomExists = Callable[[str], Awaitable[bool]]
RestoreMetadata = Callable[[str, str], Awaitable[bool]]
WhoIsThere = Callable[[str, str], Awaitable[Presence]]
"""`Admin.presence`: a room's people, and who holds an identity there."""


def room_options() -> rtc.RoomOptions:
    """Two peer connections and one-time ICE gathering: a fifth of the CPU of the SDK
    defaults for idle rooms (docs/design.md, fact 9); incoming streams capped at the
    protocol's request limit."""
    return rtc.RoomOptions(
        auto_subscribe=False,
        single_peer_connection=False,
        rtc_config=rtc.RtcConfiguration(
            continual_gathering_policy=rtc.ContinualGatheringPolicy.GATHER_ONCE,
        ),
        data_stream=rtc.DataStreamOptions(max_payload_byte_length=MAX_REQUEST_BYTES),
    )


@dataclass(frozen=True)
class BotIdentity:
    identity: str
    name: str


class RoomManager:
    """Joins, rejoins and leaves rooms; fans knowledge changes out to every session."""

    def __init__(
        self,
        livekit: LiveKitSettings,
        bot: BotIdentity,
        handlers: Handlers,
        *,
        room_exists: RoomExists | None = None,
        restore_metadata: RestoreMetadata | None = None,
        who_is_there: WhoIsThere | None = None,
        empty_grace_s: float = EMPTY_GRACE_S,
        warmup: bool = True,
        join_concurrency: int = MAX_CONCURRENT_JOINS,
        metrics: Metrics | None = None,
        room_factory: RoomFactory = rtc.Room,
    ) -> None:
        self._livekit = livekit
        self._bot = bot
        self._handlers = handlers
        self._room_exists = room_exists
        self._restore_metadata = restore_metadata
        self._who_is_there = who_is_there
        self._displaced: dict[str, list[float]] = {}  # room → recent displacement times
        self._metadata: dict[str, str] = {}  # room → its metadata naming us, as first seen
        self._empty_grace_s = empty_grace_s
        self._warmup = warmup
        self._room_factory = room_factory
        self._sessions: dict[str, RoomSession] = {}
        self._locks = KeyedLocks()  # a lock per room name while joins for it run
        self._rejoins: dict[str, asyncio.Task[None]] = {}
        self._leaving: set[asyncio.Task[Any]] = set()
        self._join_slots = asyncio.Semaphore(join_concurrency)
        self._joining = 0
        self._no_joins = asyncio.Event()  # set while no join is connecting
        self._no_joins.set()
        self._accepting = True
        self.metrics = metrics or Metrics()
        self.metrics.track_rooms(lambda: len(self._sessions))

    @property
    def active_rooms(self) -> list[str]:
        return sorted(self._sessions)

    @property
    def accepting(self) -> bool:
        return self._accepting

    @property
    def load(self) -> int:
        """Rooms held and rooms being joined: what a worker counts against its limit."""
        return len(self._sessions) + self._joining

    async def leave(self, name: str, reason: str = "asked") -> bool:
        """Leave `name` for good (no rejoin); whether the bot was there.

        The session leaves the map first: the SDK's `disconnected` event is not a
        dependable signal for a disconnect we started ourselves."""
        session = self._sessions.pop(name, None)
        self._metadata.pop(name, None)
        self._displaced.pop(name, None)
        if session is None:
            return False
        await session.aclose()
        log.info("room_left", room=name, reason=reason, rejoin=False)
        return True

    async def finished(self, name: str, sid: str) -> bool:
        """LiveKit says the room instance `sid` named `name` finished: leave it if that is
        the instance the bot is in; whether the bot left.

        A name outlives its rooms: a signed `room_finished` of an earlier room by the same
        name once made the bot leave a live one (issue 14, item 7). A room that really
        finishes disconnects the bot anyway, so an instance we cannot identify is kept."""
        session = self._sessions.get(name)
        if session is None:
            return False
        ours = await room_sid(session.room)
        if not sid or ours != sid:
            log.info("room_finished_ignored", room=name, reason="another_instance")
            return False
        if self._sessions.get(name) is not session:  # it ended while we asked
            return False
        return await self.leave(name, "room_finished")

    def session(self, name: str) -> RoomSession | None:
        return self._sessions.get(name)

    def _refuse_when_closing(self) -> None:
        if not self._accepting:
            raise RuntimeError("the bot is shutting down and takes no new rooms")

    async def join(
        self, name: str, *, token: str | None = None, url: str | None = None
    ) -> RoomSession:
        """Send the bot into `name` unless it is there already; safe to call concurrently.

        `token` and `url` come from LiveKit's agent dispatch (worker mode); otherwise the
        bot mints its own token from the configured keys."""
        self._refuse_when_closing()
        async with self._locks.hold(name):
            session = self._sessions.get(name)
            if session is not None and session.connected:
                return session
            # Asked again after the wait for the lock, with no `await` before the count of
            # joins below: a join let through while `aclose` waited for that count to fall
            # to zero would connect unwatched, and a closing event loop would cancel it
            # (`bot/connecting.py`).
            self._refuse_when_closing()
            session = RoomSession(
                name,
                self._bot.identity,
                self._handlers,
                on_empty=self._leave_empty,
                empty_grace_s=self._empty_grace_s,
                warmup=self._warmup,
                metrics=self.metrics,
                room_factory=self._room_factory,
            )
            session.room.on("disconnected", lambda reason: self._ended(session, reason))
            token = token or bot_token(self._livekit, name, self._bot.identity, self._bot.name)
            self._joining += 1
            self._no_joins.clear()
            try:
                # A few connects at a time: hundreds at once (a worker offered 250 rooms in
                # 3 s) timed out by the score (scale_bench: 84 of 500 joined).
                async with self._join_slots:
                    await connect_within(
                        session.room,
                        url or self._livekit.url,
                        token,
                        room_options(),
                        CONNECT_TIMEOUT_S,
                    )
            except (TimeoutError, asyncio.CancelledError):
                raise  # connect_within disconnects the room once its connect is over
            except BaseException:
                await session.room.disconnect()
                raise
            finally:
                self._joining -= 1
                if self._joining == 0:
                    self._no_joins.set()
            self._sessions[name] = session
            # The sid names this connection in livekit-server's log and RoomService.
            log.info(
                "room_joined",
                room=name,
                sid=_sid(session),
                participants=len(session.room.remote_participants),
            )
            self._keep_metadata(session)
            # Warm-up and greetings run in the background: the caller (a `/token` request)
            # needs the bot in the room, not its publisher connection open (~200 ms).
            session.start_in_background()
            return session

    async def reconcile(
        self,
        rooms: list[RoomInfo],
        needs_bot: Callable[[str], Awaitable[bool]],
        *,
        min_age_s: float = 0.0,
    ) -> list[str]:
        """Join every room the server lists that we serve, that has people and no bot.

        Run at start (a restarted process finds its rooms again) and periodically (a room
        the webhook or the endpoint missed). Returns the rooms joined.
        """
        settled = time.time() - min_age_s
        candidates = [
            room.name
            for room in rooms
            if serves(room, self._bot.identity)
            and room.created_at <= settled
            and room.name not in self._sessions
            and room.name not in self._rejoins
        ]
        joined = []
        for name in candidates:
            if not self._accepting:
                break
            try:
                if not await needs_bot(name):
                    continue
                await self.join(name)
            except Exception as exc:
                log.warning("reconcile_join_failed", room=name, error=exc.__class__.__name__)
                continue
            joined.append(name)
        if joined:
            log.info("rooms_reconciled", joined=len(joined), active=len(self._sessions))
        return joined

    async def knowledge_changed(self, change: dict[str, Any]) -> None:
        """Tell every participant in every room; one room's failure stays there."""
        sessions = list(self._sessions.values())
        results = await asyncio.gather(
            *(s.knowledge_changed(change) for s in sessions), return_exceptions=True
        )
        for name, result in zip((s.name for s in sessions), results, strict=True):
            if isinstance(result, BaseException):
                log.error("knowledge_notify_failed", room=name, exc_info=result)

    async def drain(self, within_s: float) -> int:
        """Stop taking rooms; give requests in flight `within_s` to finish. Returns the
        number cut short."""
        self._accepting = False
        for task in self._rejoins.values():
            task.cancel()
        cut = await asyncio.gather(*(s.drain(within_s) for s in list(self._sessions.values())))
        return sum(cut)

    async def aclose(self) -> int:
        """Leave every room; returns how many were left."""
        self._accepting = False
        for task in self._rejoins.values():
            task.cancel()
        # A join under way would add its session after we closed the others; a cancelled
        # one hands its connect over to connecting.py, which we wait for below.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_joins.wait(), CONNECT_TIMEOUT_S)
        sessions = list(self._sessions.values())
        self._sessions.clear()
        wait_s = flush_wait([s.since_sent() for s in sessions], FLUSH_S)
        if wait_s > 0:
            # A sent answer is only queued in the data channel; leaving at once drops it
            # (seen in tests/integration/test_shutdown.py). Give the queue time to drain.
            await asyncio.sleep(wait_s)
        await asyncio.gather(*(s.aclose() for s in sessions), return_exceptions=True)
        # Connects given up on must end here, not be cancelled by a closing event loop.
        still = await settle_abandoned(CONNECT_TIMEOUT_S)
        if still:
            log.warning("abandoned_connects_left", count=still)
        await asyncio.gather(*self._leaving, return_exceptions=True)
        return len(sessions)

    # -- a restarted server ------------------------------------------------------------

    def _keep_metadata(self, session: RoomSession) -> None:
        """Remember the metadata that names us; put it back whenever the room lost it.

        After a livekit-server restart, rooms come back empty-handed (recreated by the
        first participant to reconnect), with the bot reconnecting by itself or
        rejoining; both paths end here or in the `reconnected` event."""
        seen = session.room.metadata
        if created_by_us(parse_metadata(seen)):
            self._metadata[session.name] = seen
        elif session.name in self._metadata:
            self._spawn_restore(session.name)
        session.room.on("reconnected", lambda: self._spawn_restore(session.name))

    def _spawn_restore(self, name: str) -> None:
        if self._restore_metadata is not None and name in self._metadata:
            spawn(self._restore(name), f"restore_metadata:{name}", self._leaving)

    async def _restore(self, name: str) -> None:
        assert self._restore_metadata is not None
        try:
            if await self._restore_metadata(name, self._metadata[name]):
                log.info("room_metadata_restored", room=name)
        except Exception as exc:
            log.warning("room_metadata_restore_failed", room=name, error=exc.__class__.__name__)

    # -- ends and rejoins ---------------------------------------------------------------

    def _leave_empty(self, session: RoomSession) -> None:
        log.info("room_empty_leaving", room=session.name)
        spawn(self.leave(session.name, "empty"), f"leave:{session.name}", self._leaving)

    def _ended(self, session: RoomSession, reason: Any) -> None:
        if self._sessions.get(session.name) is not session:
            return
        del self._sessions[session.name]
        # Closed whatever comes next: a rejoin makes a new session, and an SDK that
        # reconnects this one after a final reason must find nothing left to answer.
        spawn(session.aclose(), f"close:{session.name}", self._leaving)
        name = _reason_name(reason)
        can_rejoin = self._accepting and self._room_exists is not None
        displaced = reason == rtc.DisconnectReason.DUPLICATE_IDENTITY
        reclaim = can_rejoin and displaced and self._who_is_there is not None
        final = not reclaim and (reason in FINAL_REASONS or not can_rejoin)
        log.info("room_left", room=session.name, reason=name, rejoin=not final)
        if final:
            self._metadata.pop(session.name, None)
            self._displaced.pop(session.name, None)
        if not final and session.name not in self._rejoins:
            self._rejoins[session.name] = spawn(
                self._rejoin(session.name, displaced_sid=_sid(session) if reclaim else None),
                f"rejoin:{session.name}",
            )

    async def _reclaim(self, name: str, displaced_sid: str) -> float | None:
        """Who took our identity in `name`? None when another bot of ours did (or nobody
        is left to serve): the room is its. Otherwise an impostor: the delay before joining
        again, at once unless this keeps happening (`RECLAIM_AT_ONCE`)."""
        assert self._who_is_there is not None
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + RECLAIM_WAIT_S
        while True:
            presence = await self._who_is_there(name, self._bot.identity)
            still_us = presence.holder_sid == displaced_sid
            joining = presence.holder_sid is not None and not presence.holder_active
            # Nobody under our identity while people are there: the connection that put
            # us out is not listed yet (read as an impostor gone, we took the room back
            # from another bot of ours, CI 2026-11-28), or it left: wait to know which.
            unlisted = presence.holder_sid is None and presence.people
            if not still_us and not joining and not unlisted:
                break
            if loop.time() >= give_up_at:
                # Undecided: rejoin as after a lost connection, not at once. If another
                # bot of ours holds the room after all, our join puts it out and its own
                # `_reclaim` sees a bot (us) and leaves: a handover, not a fight.
                log.warning("reclaim_undecided", room=name, still_listed=still_us)
                return REJOIN_FIRST_DELAY_S
            await asyncio.sleep(RECLAIM_CHECK_S)
        if presence.held_by_bot and presence.holder_sid != displaced_sid:
            log.info("room_taken_by_other_bot", room=name)
            self._metadata.pop(name, None)
            self._displaced.pop(name, None)
            return None
        if presence.holder_sid is None and not presence.people:
            self._metadata.pop(name, None)
            return None
        log.warning("bot_identity_taken", room=name, by_bot=presence.held_by_bot)
        now = time.monotonic()
        recent = [t for t in self._displaced.get(name, []) if now - t < RECLAIM_WINDOW_S]
        recent.append(now)
        self._displaced[name] = recent
        excess = len(recent) - RECLAIM_AT_ONCE
        return 0.0 if excess <= 0 else min(REJOIN_FIRST_DELAY_S * 2**excess, REJOIN_MAX_DELAY_S)

    async def _rejoin(self, name: str, *, displaced_sid: str | None = None) -> None:
        assert self._room_exists is not None
        delay = REJOIN_FIRST_DELAY_S
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + REJOIN_GIVE_UP_S
        try:
            if displaced_sid is not None:
                try:
                    reclaim_after = await self._reclaim(name, displaced_sid)
                except Exception as exc:  # the server cannot say: rejoin as after a loss
                    log.warning("reclaim_check_failed", room=name, error=exc.__class__.__name__)
                    reclaim_after = REJOIN_FIRST_DELAY_S
                if reclaim_after is None:
                    return
                delay = reclaim_after
            while self._accepting and loop.time() < give_up_at:
                await asyncio.sleep(delay)
                try:
                    if not await self._room_exists(name):
                        log.info("rejoin_room_gone", room=name)
                        return
                    await self.join(name)
                except Exception as exc:
                    log.warning("rejoin_failed", room=name, error=exc.__class__.__name__)
                    delay = min(max(delay, REJOIN_FIRST_DELAY_S) * 2, REJOIN_MAX_DELAY_S)
                    continue
                self.metrics.rejoins.inc()
                log.info("room_rejoined", room=name)
                return
            log.warning("rejoin_gave_up", room=name)
        finally:
            self._rejoins.pop(name, None)


def serves(room: RoomInfo, bot_identity: str) -> bool:
    """Whether `room` was created for this bot: its metadata names our identity."""
    marker = room.metadata.get(METADATA_KEY)
    return isinstance(marker, dict) and marker.get("bot_identity") == bot_identity


SID_WAIT_S = 2.0
"""How long to wait for a connected room's sid; it comes with the join, so rarely at all."""


async def room_sid(room: rtc.Room) -> str | None:
    """The room instance's sid, or None when the SDK cannot tell in time.

    `Room.sid` is an async property (livekit 1.1.21 to 1.2.x). In 1.1.21 it awaits a
    future shared by every caller, which a timeout around it would cancel for good:
    hence the shield."""
    try:
        return await asyncio.wait_for(asyncio.shield(room.sid), SID_WAIT_S)
    except (TimeoutError, RuntimeError):  # RuntimeError: disconnected before any sid
        return None


def _sid(session: RoomSession) -> str:
    """Our connection's sid in the session's room; "" if it never had one."""
    try:
        return session.room.local_participant.sid
    except Exception:  # the SDK raises a bare Exception before a connect
        return ""


def _reason_name(reason: Any) -> str:
    try:
        return str(rtc.DisconnectReason.Name(reason))
    except (TypeError, ValueError):
        return str(reason)
