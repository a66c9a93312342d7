"""Worker mode: take rooms from LiveKit's own agent dispatch instead of a home-made one.

Beyond one process, rooms spread over processes and machines through the server's agent
dispatch (docs/design.md, fact 9): each worker registers over a WebSocket at `<url>/agent`
under an agent name, the server offers it jobs (one per room) while it reports itself
available, and assigns each job to exactly one worker with a join token. This module
speaks that protocol (the messages are `livekit.protocol.agent`'s) with nothing of
`livekit-agents`, which would bring av, numpy and openai, pin `livekit==1.1.21`, and run
each job in a child process where a context bot needs a few kilobytes per room.

What the server gets from us:
- registration as a room worker that asks for the bot's permissions (hidden, data only);
- an answer to every job offer: accepted, with the bot's identity, while below the room
  limit and not draining; declined otherwise;
- the load (rooms / limit, scaled to the server's target load) every few seconds, and
  "full" when at the limit or draining;
- a new registration after losing the server, with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlparse

import aiohttp
import structlog
from livekit.protocol import agent, models

from context_bot import __version__
from context_bot.admin import worker_token
from context_bot.bot.rooms import BotIdentity, RoomManager
from context_bot.config import LiveKitSettings
from context_bot.metrics import Metrics
from context_bot.tasks import spawn

log = structlog.get_logger(__name__)

STATUS_INTERVAL_S = 2.5
HEARTBEAT_S = 30.0
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0
PROMISE_TTL_S = 10.0
"""How long an accepted offer counts against the room limit while its assignment is due."""
SERVER_TARGET_LOAD = 0.7
"""livekit-server's `agents.target_load` default (1.13.5, pkg/agent/config.go). The server
offers a job only while some available worker reports a load below it, so a load of
rooms / max_rooms would stop offers at 70 % of `max_rooms`; we report our fill scaled to
it, and say `WS_FULL` (never offered) when we are full."""


def agent_url(livekit_url: str) -> str:
    """`ws[s]://host[/path]/agent`, whatever scheme the settings use."""
    parsed = urlparse(livekit_url)
    scheme = {"http": "ws", "https": "wss"}.get(parsed.scheme, parsed.scheme)
    return f"{scheme}://{parsed.netloc}{parsed.path.rstrip('/')}/agent"


class DispatchWorker:
    """One registration with the server's agent dispatch, kept alive until `aclose`."""

    def __init__(
        self,
        livekit: LiveKitSettings,
        bot: BotIdentity,
        rooms: RoomManager,
        *,
        agent_name: str,
        max_rooms: int,
        metrics: Metrics | None = None,
    ) -> None:
        self._livekit = livekit
        self._bot = bot
        self._rooms = rooms
        self.agent_name = agent_name
        self.max_rooms = max_rooms
        self.worker_id: str | None = None
        self.registered = asyncio.Event()
        self._draining = False
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._send_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._jobs: dict[str, str] = {}  # job id → room, while the bot is there
        self._starting: set[str] = set()  # job ids whose room is being joined
        self._promised: set[str] = set()  # job ids accepted, awaiting their assignment
        self.metrics = metrics or rooms.metrics

    @property
    def jobs(self) -> dict[str, str]:
        """Job id → room, for the jobs this worker holds now."""
        return dict(self._jobs)

    @property
    def available(self) -> bool:
        return not self._draining and self._load() < self.max_rooms

    def _load(self) -> int:
        """Rooms held or joining, plus offers accepted and not yet assigned."""
        return self._rooms.load + len(self._promised)

    async def run(self) -> None:
        """Stay registered: reconnect with backoff whenever the server goes away."""
        delay = RETRY_FIRST_S
        async with aiohttp.ClientSession() as http:
            while not self._draining:
                try:
                    await self._session(http)
                    delay = RETRY_FIRST_S
                except (TimeoutError, aiohttp.ClientError, OSError, ConnectionError) as exc:
                    log.warning("worker_connection_lost", error=exc.__class__.__name__)
                except Exception:
                    # A message we could not handle must not end the worker for good.
                    log.exception("worker_session_failed")
                finally:
                    self.registered.clear()
                    self.metrics.worker_registered.set(0)
                    self._ws = None
                if self._draining:
                    break
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    async def drain(self) -> None:
        """Take no more jobs: tell the server we are full, and stop reconnecting."""
        self._draining = True
        with contextlib.suppress(Exception):
            await self._send_status()

    async def aclose(self) -> None:
        self._draining = True
        for task in list(self._tasks):
            task.cancel()
        if self._ws is not None:
            await self._ws.close()

    # -- one connection -----------------------------------------------------------------

    async def _session(self, http: aiohttp.ClientSession) -> None:
        headers = {"Authorization": f"Bearer {worker_token(self._livekit)}"}
        async with http.ws_connect(
            agent_url(self._livekit.url), headers=headers, heartbeat=HEARTBEAT_S
        ) as ws:
            self._ws = ws
            await self._register(ws)
            status = spawn(self._report_status(), "worker_status", self._tasks)
            try:
                async for message in ws:
                    if message.type is aiohttp.WSMsgType.BINARY:
                        self._on_server_message(message.data)
                    elif message.type is aiohttp.WSMsgType.ERROR:
                        raise ConnectionError("worker WebSocket error")
            finally:
                status.cancel()
        if not self._draining:
            raise ConnectionError("the server closed the worker connection")

    async def _register(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        request = agent.WorkerMessage()
        request.register.type = agent.JobType.JT_ROOM
        request.register.agent_name = self.agent_name
        request.register.version = __version__
        request.register.allowed_permissions.CopyFrom(
            models.ParticipantPermission(
                can_subscribe=True,
                can_publish=False,
                can_publish_data=True,
                hidden=True,
                agent=True,
            )
        )
        await ws.send_bytes(request.SerializeToString())
        reply = agent.ServerMessage()
        reply.ParseFromString(await ws.receive_bytes(timeout=10))
        if not reply.HasField("register"):
            raise ConnectionError("the server did not answer the registration")
        self.worker_id = reply.register.worker_id
        self.registered.set()
        self.metrics.worker_registered.set(1)
        self.metrics.worker_registrations.inc()
        log.info("worker_registered", worker_id=self.worker_id, agent_name=self.agent_name)

    def _on_server_message(self, data: bytes) -> None:
        message = agent.ServerMessage()
        message.ParseFromString(data)
        which = message.WhichOneof("message")
        if which == "availability":
            spawn(self._answer_offer(message.availability), "worker_offer", self._tasks)
        elif which == "assignment":
            spawn(self._take_job(message.assignment), "worker_job", self._tasks)
        elif which == "termination":
            spawn(self._end_job(message.termination.job_id), "worker_end", self._tasks)

    async def _answer_offer(self, offer: agent.AvailabilityRequest) -> None:
        reply = agent.WorkerMessage()
        reply.availability.job_id = offer.job.id
        accept = self.available
        reply.availability.available = accept
        if accept:
            reply.availability.participant_identity = self._bot.identity
            reply.availability.participant_name = self._bot.name
            job_id = offer.job.id
            self._promised.add(job_id)
            # The server may give the job to another worker: forget the promise later.
            asyncio.get_running_loop().call_later(PROMISE_TTL_S, self._promised.discard, job_id)
        self.metrics.worker_offers.labels(answer="accepted" if accept else "declined").inc()
        log.info("worker_offer", room=offer.job.room.name, job_id=offer.job.id, accepted=accept)
        await self._send(reply)

    async def _take_job(self, assignment: agent.JobAssignment) -> None:
        room, job_id = assignment.job.room.name, assignment.job.id
        self._promised.discard(job_id)
        self._jobs[job_id] = room
        self._starting.add(job_id)
        status = agent.JobStatus.JS_RUNNING
        try:
            await self._rooms.join(room, token=assignment.token, url=assignment.url or None)
        except Exception as exc:
            log.warning("worker_job_failed", room=room, error=exc.__class__.__name__)
            status = agent.JobStatus.JS_FAILED
            self._jobs.pop(job_id, None)
        finally:
            self._starting.discard(job_id)
        self.metrics.worker_jobs.labels(
            outcome="running" if status == agent.JobStatus.JS_RUNNING else "failed"
        ).inc()
        update = agent.WorkerMessage()
        update.update_job.job_id = assignment.job.id
        update.update_job.status = status
        await self._send(update)
        await self._send_status()

    async def _end_job(self, job_id: str) -> None:
        """The server ended a job: leave its room, unless the server ended it because it
        lost our participant.

        The server also ends a job when the job's participant drops (livekit-server
        1.13.5 terminates it as the agent leaving the room), and the termination carries
        no reason. If our connection to that room has been lost since we joined, that is
        what happened: the SDK is reconnecting, or our rejoin takes over if it gives up,
        and leaving would strand the room without a bot (seen at 1,000 rooms on an
        overloaded machine: 258 rooms left this way). Otherwise the job was ended on
        purpose (its dispatch deleted): leave."""
        room = self._jobs.pop(job_id, None)
        if room is None:
            return
        self.metrics.worker_jobs.labels(outcome="terminated").inc()
        session = self._rooms.session(room)
        if session is not None and session.connection_losses > 0:
            log.info("worker_job_lost_kept_room", room=room, job_id=job_id)
            return
        await self._rooms.leave(room)
        log.info("worker_job_ended", room=room, job_id=job_id)

    def _forget_ended_jobs(self) -> None:
        """Drop jobs whose room the bot left by itself (empty room, replaced, closed):
        a worker runs for months, and the server tells it of no such end."""
        self._jobs = {
            job: room
            for job, room in self._jobs.items()
            if job in self._starting or self._rooms.session(room) is not None
        }

    # -- status -------------------------------------------------------------------------

    async def _report_status(self) -> None:
        while True:
            self._forget_ended_jobs()
            await self._send_status()
            await asyncio.sleep(STATUS_INTERVAL_S)

    async def _send_status(self) -> None:
        rooms = self._load()
        update = agent.WorkerMessage()
        update.update_worker.status = (
            agent.WorkerStatus.WS_AVAILABLE if self.available else agent.WorkerStatus.WS_FULL
        )
        update.update_worker.load = min(1.0, rooms / self.max_rooms) * SERVER_TARGET_LOAD
        update.update_worker.job_count = rooms
        update.update_worker.draining = self._draining
        await self._send(update)

    async def _send(self, message: agent.WorkerMessage) -> None:
        ws = self._ws
        if ws is None or ws.closed:
            return
        async with self._send_lock:
            await ws.send_bytes(message.SerializeToString())
