"""The process lifecycle: one owner, in named phases, `startup()` → wait → `shutdown()`.

Modelled on uvicorn's server: the first SIGINT/SIGTERM asks for a graceful stop, a second
one forces the exit. Shutdown stops taking rooms, closes the HTTP server, leaves every
room, and ends with one summary log line. Tests call `handle_exit()` directly instead of
sending signals; `handle_signals=False` makes the app embeddable.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import structlog
from aiohttp import web

from context_bot.admin import Admin
from context_bot.config import Settings
from context_bot.errors import ConfigError
from context_bot.files import RepoFiles
from context_bot.handlers import Handlers
from context_bot.knowledge import Knowledge, load_knowledge
from context_bot.metrics import Metrics
from context_bot.rooms import BotIdentity, RoomManager
from context_bot.tasks import spawn
from context_bot.watch import watch_knowledge
from context_bot.web import TokenService, create_app

log = structlog.get_logger(__name__)

HANDLED_SIGNALS = (
    signal.SIGINT,  # Ctrl+C in a terminal
    signal.SIGTERM,  # what systemd, Procfile runners and `kill` send
)
DRAIN_TIMEOUT_S = 5.0
"""How long requests in flight get to finish at shutdown before they are cut."""
SHUTDOWN_TIMEOUT_S = 10.0


class ContextBotApp:
    """The whole product in one asyncio process: knowledge, rooms, HTTP."""

    def __init__(self, settings: Settings, *, handle_signals: bool = True) -> None:
        self.settings = settings
        self._handle_signals = handle_signals
        self._stop = asyncio.Event()
        self._signals_seen = 0
        self._runner: web.AppRunner | None = None
        self.admin: Admin | None = None
        self.rooms: RoomManager | None = None
        self.knowledge: Knowledge | None = None
        self.port: int | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._reconciler: asyncio.Task[None] | None = None
        self._lag_probe: asyncio.Task[None] | None = None
        self.metrics = Metrics()

    # -- phases -------------------------------------------------------------------------

    async def startup(self) -> None:
        settings = self.settings
        started = time.monotonic()
        self.knowledge = await asyncio.to_thread(self._load_knowledge)
        files = RepoFiles(settings.repo, max_bytes=settings.max_file_bytes)
        handlers = Handlers(self._current_knowledge, files)
        livekit = settings.require_livekit()
        self.admin = Admin(livekit)
        self.rooms = RoomManager(
            livekit,
            BotIdentity(settings.bot_identity, settings.bot_name),
            handlers,
            room_exists=self.admin.room_exists,
            metrics=self.metrics,
        )
        app = create_app(
            TokenService(
                settings,
                self.admin,
                self.rooms,
                knowledge_loaded=lambda: self.knowledge is not None,
                metrics=self.metrics,
            )
        )
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, settings.host, settings.port)
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {settings.host}:{settings.port} ({exc.strerror}); "
                "set PORT or --port to a free port"
            ) from None
        self.port = _bound_port(self._runner, settings.port)
        if settings.watch:
            self._watcher = spawn(
                watch_knowledge(
                    [settings.knowledge_path, settings.repo],
                    self._current_knowledge,
                    self._load_knowledge,
                    self._knowledge_changed,
                ),
                "knowledge_watcher",
            )
        self._reconciler = spawn(self._reconcile_forever(), "rooms_reconciler")
        self._lag_probe = spawn(self.metrics.probe_loop_lag(), "loop_lag_probe")
        if self._handle_signals:
            loop = asyncio.get_running_loop()
            for sig in HANDLED_SIGNALS:
                loop.add_signal_handler(sig, self.handle_exit, sig)
        log.info(
            "started",
            url=f"http://{settings.host}:{self.port}",
            livekit_url=livekit.url,
            knowledge=str(settings.knowledge_path),
            knowledge_version=self.knowledge.version,
            seconds=round(time.monotonic() - started, 3),
        )

    async def wait(self) -> None:
        await self._stop.wait()

    async def shutdown(self) -> None:
        started = time.monotonic()
        if self._handle_signals:
            loop = asyncio.get_running_loop()
            for sig in HANDLED_SIGNALS:
                loop.remove_signal_handler(sig)
        rooms_left = cut_short = 0
        for task in (self._watcher, self._reconciler, self._lag_probe):
            if task is not None:
                task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.rooms is not None:
            cut_short = await self.rooms.drain(DRAIN_TIMEOUT_S)
            try:
                rooms_left = await asyncio.wait_for(self.rooms.aclose(), SHUTDOWN_TIMEOUT_S)
            except TimeoutError:
                log.warning("rooms_close_timed_out", timeout_s=SHUTDOWN_TIMEOUT_S)
        if self.admin is not None:
            await self.admin.aclose()
        log.info(
            "stopped",
            rooms_left=rooms_left,
            requests_cut_short=cut_short,
            seconds=round(time.monotonic() - started, 3),
        )

    async def serve(self) -> None:
        try:
            await self.startup()
            await self.wait()
        finally:
            await self.shutdown()

    # -- control ------------------------------------------------------------------------

    def handle_exit(self, sig: int) -> None:
        """First signal: stop gracefully. Second: exit now, as a second Ctrl+C means."""
        self._signals_seen += 1
        if self._signals_seen > 1:
            log.warning("forced_exit", signal=signal.Signals(sig).name)
            os._exit(1)
        log.info("stopping", signal=signal.Signals(sig).name)
        self._stop.set()

    async def _reconcile_forever(self) -> None:
        """At start and then every interval: rejoin rooms we serve that have people.

        After a restart this is what brings the bot back into its rooms; later it catches
        rooms that the endpoint and webhooks did not announce to this process."""
        assert self.admin is not None and self.rooms is not None
        admin, identity = self.admin, self.settings.bot_identity

        async def has_people(room: str) -> bool:
            return await admin.has_people(room, identity)

        while True:
            try:
                await self.rooms.reconcile(await admin.list_rooms(), has_people)
            except Exception as exc:
                log.warning("reconcile_failed", error=exc.__class__.__name__)
            await asyncio.sleep(self.settings.reconcile_interval_s)

    def _load_knowledge(self) -> Knowledge:
        knowledge = load_knowledge(self.settings.knowledge_path, self.settings.repo)
        for diagnostic in knowledge.diagnostics:
            log.warning("knowledge_diagnostic", **diagnostic.to_wire())
        stats = knowledge.stats()
        self.metrics.knowledge_loaded(
            knowledge.version,
            int(stats["files"]),
            int(stats["free_documents"]),
            int(stats["stale"]),
        )
        return knowledge

    async def _knowledge_changed(self, fresh: Knowledge, change: dict[str, object]) -> None:
        self.knowledge = fresh
        self.metrics.knowledge_reloads.inc()
        log.info(
            "knowledge_reloaded",
            knowledge_version=fresh.version,
            **{key: len(change[key]) for key in ("added", "changed", "removed")},  # type: ignore[arg-type]
        )
        if self.rooms is not None:
            await self.rooms.knowledge_changed(change)

    def _current_knowledge(self) -> Knowledge:
        assert self.knowledge is not None, "startup() loads knowledge before serving"
        return self.knowledge


def _bound_port(runner: web.AppRunner, asked: int) -> int:
    """The real port when bound to 0 (tests), read back from the listening socket."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return asked
