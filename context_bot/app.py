"""The process lifecycle: one owner, in named phases, `startup()` → wait → `shutdown()`.

Modelled on uvicorn's server: the first SIGINT/SIGTERM asks for a graceful stop, a second
one forces the exit. Shutdown stops taking rooms, closes the HTTP server, leaves every
room, and ends with one summary log line. Tests call `handle_exit()` directly instead of
sending signals; `handle_signals=False` makes the app embeddable.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from context_bot.admin import Admin
from context_bot.bot.handlers import Handlers
from context_bot.bot.native import install as install_native
from context_bot.bot.rooms import RECONCILE_MIN_AGE_S, BotIdentity, RoomManager
from context_bot.bot.worker import DispatchWorker
from context_bot.config import Settings
from context_bot.endpoint.mcp import McpService
from context_bot.endpoint.ownership import InMemoryOwnershipStore
from context_bot.endpoint.ownership_redis import RedisOwnershipStore
from context_bot.endpoint.routes import TokenService, create_app
from context_bot.errors import ConfigError
from context_bot.knowledge.loading import Knowledge, keep_restart_snapshot, load_knowledge
from context_bot.knowledge.pagecache import PageCacheKeeper, WarmPass
from context_bot.knowledge.patching import changed_since, patch_knowledge, reload_knowledge
from context_bot.knowledge.sandbox import RepoFiles
from context_bot.knowledge.store import cache_folder, default_cache_base
from context_bot.knowledge.watch import watch_knowledge
from context_bot.metrics import Metrics
from context_bot.tasks import spawn

log = structlog.get_logger(__name__)

HANDLED_SIGNALS = (
    signal.SIGINT,  # Ctrl+C in a terminal
    signal.SIGTERM,  # what systemd, Procfile runners and `kill` send
)
SWITCH_INTERVAL_S = 0.001
"""How long a thread may hold the GIL while another waits for it (CPython's default is
5 ms). Requests run in worker threads beside the server's own background work (a live
reload's patch, keeping the next restart's snapshot): a request making many short calls
that release the GIL (SQLite's, RE2's) waited up to the whole interval to get it back
after each, a convoy. At 100k files a `search` asked while the snapshot was being kept
took 206 ms at 5 ms and 25 ms at 1 ms; the keeping itself took no longer (481 and 469
ms; benchmarks/RESULTS-index.md). Set by `serve`, for the process it runs."""
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
        self._first_signal_at: float | None = None
        self._main_task: asyncio.Task[Any] | None = None
        self.forced_exit = False
        """A second signal cut the graceful stop short (the CLI then exits 1)."""
        self._runner: web.AppRunner | None = None
        self.admin: Admin | None = None
        self.rooms: RoomManager | None = None
        self.knowledge: Knowledge | None = None
        self.port: int | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._reconciler: asyncio.Task[None] | None = None
        self._lag_probe: asyncio.Task[None] | None = None
        self._keeper: PageCacheKeeper | None = None
        self._warm_state: str | None = None  # the last pass's result, logged when it changes
        self.worker: DispatchWorker | None = None
        self.ownership: RedisOwnershipStore | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self.mcp: McpService | None = None
        self._mcp_task: asyncio.Task[None] | None = None
        self.metrics = Metrics()

    # -- phases -------------------------------------------------------------------------

    async def startup(self) -> None:
        settings = self.settings
        started = time.monotonic()
        if settings.role != "web":  # before the first room: the SDK reads it at each record
            native = install_native(settings.native_logs)
            log.info("native_logs", mode=settings.native_logs, applied=native)
        livekit = settings.require_livekit()
        settings.check_role()
        self.admin = Admin(livekit)
        bot = BotIdentity(settings.bot_identity, settings.bot_name)
        serves_rooms = settings.role != "web"  # the web role hands out tokens and dispatches
        if serves_rooms:  # only a process in rooms answers from the knowledge
            self.knowledge = await asyncio.to_thread(self._load_knowledge)
            files = RepoFiles(settings.repo, max_bytes=settings.max_file_bytes)
            handlers = Handlers(self._current_knowledge, files)
            self.rooms = RoomManager(
                livekit,
                bot,
                handlers,
                room_exists=self.admin.room_exists,
                restore_metadata=self.admin.restore_metadata,
                who_is_there=self.admin.presence,
                empty_grace_s=settings.empty_grace_s,
                warmup=settings.warmup,
                join_concurrency=settings.join_concurrency,
                metrics=self.metrics,
            )
            self.mcp = McpService(handlers, self._current_knowledge)
            mcp_started = asyncio.Event()
            self._mcp_task = spawn(self.mcp.run(mcp_started), "mcp_sessions")
            # Its session manager before the first request; if it cannot start, say so.
            started_or_failed = asyncio.ensure_future(mcp_started.wait())
            await asyncio.wait(
                {started_or_failed, self._mcp_task}, return_when=asyncio.FIRST_COMPLETED
            )
            started_or_failed.cancel()
            if self._mcp_task.done():
                self._mcp_task.result()  # what stopped it
                raise RuntimeError("the MCP session manager stopped at start")
        if settings.agent_name and self.rooms is not None:
            self.worker = DispatchWorker(
                livekit,
                bot,
                self.rooms,
                agent_name=settings.agent_name,
                max_rooms=settings.max_rooms,
                metrics=self.metrics,
            )
        if settings.redis_url:
            self.ownership = RedisOwnershipStore(settings.redis_url)
        app = create_app(
            TokenService(
                settings,
                self.admin,
                self.rooms,
                ownership=self.ownership or InMemoryOwnershipStore(),
                knowledge_loaded=(lambda: self.knowledge is not None) if serves_rooms else None,
                metrics=self.metrics,
                send_bot=self._dispatch if settings.agent_name else None,
                mcp=self.mcp,
            )
        )
        # A stop waits this long for HTTP handlers still running, not aiohttp's 60 s: the
        # whole shutdown is bounded by SHUTDOWN_TIMEOUT_S, and one stuck handler (a webhook
        # whose LiveKit call hangs) held a stop for a full minute.
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, settings.host, settings.port)
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {settings.host}:{settings.port} ({exc.strerror}); "
                "set http.port (PORT) or --port to a free port"
            ) from None
        self.port = _bound_port(self._runner, settings.port)
        if settings.watch and serves_rooms:
            self._watcher = spawn(
                watch_knowledge(
                    [settings.knowledge_path, settings.repo],
                    self._current_knowledge,
                    self._load_knowledge,
                    self._knowledge_changed,
                    patch=self._reload_knowledge,
                    settled=self._keep_restart_snapshot,
                    missed=self._changed_since,
                ),
                "knowledge_watcher",
            )
        if settings.keep_warm_s and serves_rooms:
            self._keeper = PageCacheKeeper(
                cache_folder(self._cache_base, settings.repo),
                settings.keep_warm_s,
                on_pass=self._index_warmed,
            )
            self._keeper.start()
        if self.rooms is not None:
            self._reconciler = spawn(self._reconcile_forever(), "rooms_reconciler")
        if self.worker is not None:
            self._worker_task = spawn(self.worker.run(), "dispatch_worker")
        self._lag_probe = spawn(self.metrics.probe_loop_lag(), "loop_lag_probe")
        if self._handle_signals:
            loop = asyncio.get_running_loop()
            for sig in HANDLED_SIGNALS:
                loop.add_signal_handler(sig, self.handle_exit, sig)
        log.info(
            "started",
            url=f"http://{settings.host}:{self.port}",
            livekit_url=livekit.url,
            role=settings.role,
            agent_name=settings.agent_name or None,
            knowledge=str(settings.knowledge_path) if serves_rooms else None,
            knowledge_version=self.knowledge.version if self.knowledge else None,
            seconds=round(time.monotonic() - started, 3),
        )

    async def wait(self) -> None:
        await self._stop.wait()

    async def shutdown(self) -> None:
        started = time.monotonic()
        rooms_left = cut_short = 0
        if self.worker is not None:
            await self.worker.drain()  # the dispatch sends new rooms elsewhere from now on
        for task in (self._watcher, self._reconciler, self._lag_probe, self._worker_task):
            if task is not None:
                task.cancel()
        if self._reconciler is not None:  # a join it had begun hands its connect over
            await asyncio.gather(self._reconciler, return_exceptions=True)
        if self._mcp_task is not None:  # ends MCP streams, so the HTTP server can close
            self._mcp_task.cancel()
            await asyncio.gather(self._mcp_task, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._keeper is not None:  # it stops between two reads: a millisecond
            await asyncio.to_thread(self._keeper.stop)
        if self.rooms is not None:
            cut_short = await self.rooms.drain(DRAIN_TIMEOUT_S)
            try:
                rooms_left = await asyncio.wait_for(self.rooms.aclose(), SHUTDOWN_TIMEOUT_S)
            except TimeoutError:
                log.warning("rooms_close_timed_out", timeout_s=SHUTDOWN_TIMEOUT_S)
        if self.worker is not None:
            await self.worker.aclose()
        if self.ownership is not None:
            await self.ownership.aclose()
        if self.admin is not None:
            await self.admin.aclose()
        self._remove_signal_handlers()  # kept until now: a second signal forces the exit
        log.info(
            "stopped",
            rooms_left=rooms_left,
            requests_cut_short=cut_short,
            seconds=round(time.monotonic() - started, 3),
        )

    async def serve(self) -> None:
        """Start, run until a signal, stop. A second signal cuts the graceful stop short
        and returns at once, so the caller's own cleanup (the dev server) still runs. The
        process's GIL switch interval is lowered to SWITCH_INTERVAL_S (and stays: this
        process is a server from now on)."""
        self._main_task = asyncio.current_task()
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        try:
            await self.startup()
            await self.wait()
        finally:
            try:
                await self.shutdown()
            except asyncio.CancelledError:
                if not self.forced_exit:
                    raise
                self._remove_signal_handlers()
                log.warning("stopped_forcibly", seconds_after_signal=self._since_signal())

    # -- control ------------------------------------------------------------------------

    def handle_exit(self, sig: int) -> None:
        """First signal: stop gracefully. Second: stop now, as a second Ctrl+C means.

        As uvicorn does, the forced stop cancels the graceful one and lets `serve` return,
        rather than `os._exit`: the process that started a dev livekit-server in its own
        session must still stop it, or the server outlives us."""
        self._signals_seen += 1
        if self._signals_seen > 1:
            log.warning("forced_exit", signal=signal.Signals(sig).name)
            self.forced_exit = True
            if self._main_task is not None:
                self._main_task.cancel()
            return
        self._first_signal_at = time.monotonic()
        log.info("stopping", signal=signal.Signals(sig).name)
        self._stop.set()

    def _remove_signal_handlers(self) -> None:
        if self._handle_signals:
            loop = asyncio.get_running_loop()
            for sig in HANDLED_SIGNALS:
                loop.remove_signal_handler(sig)

    def _since_signal(self) -> float:
        return round(time.monotonic() - (self._first_signal_at or time.monotonic()), 3)

    async def _dispatch(self, room: str) -> None:
        assert self.admin is not None
        if await self.admin.ensure_dispatch(room, self.settings.agent_name):
            log.info("bot_dispatched", room=room, agent_name=self.settings.agent_name)

    async def _reconcile_forever(self) -> None:
        """At start and then every interval: rejoin rooms we serve that have people.

        After a restart this is what brings the bot back into its rooms; later it catches
        rooms that the endpoint and webhooks did not announce to this process.

        A process that died without leaving (SIGKILL, a crash) stays listed in its rooms
        until the server times its connections out (about 20 s), and a pass that counted
        it as the bot put the rooms off until the pass after (34–37 s in all). Without
        agent dispatch this process is the only bot, so at start a bot connection in a
        room it is not in is a dead predecessor's (or one about to leave): the first pass
        joins anyway, which replaces it. Workers cannot tell a dead sibling's connection
        from a live one's, and leave those rooms to the server's timeout."""
        assert self.admin is not None and self.rooms is not None
        admin, identity = self.admin, self.settings.bot_identity
        replace_stale = not self.settings.agent_name

        async def needs_bot(room: str) -> bool:
            presence = await admin.presence(room, identity)
            stale = replace_stale and presence.people and presence.held_by_bot
            return presence.needs_bot or stale

        while True:
            try:
                await self.rooms.reconcile(
                    await admin.list_rooms(),
                    needs_bot,
                    min_age_s=RECONCILE_MIN_AGE_S if self.settings.agent_name else 0.0,
                )
                replace_stale = False  # only at start: later, a bot there is a live one
            except Exception as exc:
                log.warning("reconcile_failed", error=exc.__class__.__name__)
            # Jitter spreads the checks of several workers over the interval, so an orphaned
            # room is usually taken by one of them, not all at once.
            interval = self.settings.reconcile_interval_s
            await asyncio.sleep(interval * random.uniform(0.8, 1.2))  # noqa: S311 - not crypto

    def _load_knowledge(self) -> Knowledge:
        return self._loaded(
            load_knowledge(
                self.settings.knowledge_path,
                self.settings.repo,
                cache_dir=self._cache_base,
                patch=patch_knowledge,  # a restart after a few changes patches its snapshot
                keep_later=True,  # the next restart's snapshot kept once this one serves
            )
        )

    def _reload_knowledge(self, previous: Knowledge, changed: frozenset[str] | None) -> Knowledge:
        """A live reload: the changed files patched in when they can be (`patching.py`)."""
        return self._loaded(
            reload_knowledge(
                previous,
                changed,
                self.settings.knowledge_path,
                self.settings.repo,
                cache_dir=self._cache_base,
            )
        )

    def _changed_since(self, previous: Knowledge) -> frozenset[str] | None:
        """The repository's files changed since `previous` was read, for the watcher to
        reload once it is registered (`patching.changed_since`)."""
        return changed_since(previous, RepoFiles(self.settings.repo))

    @property
    def _cache_base(self) -> Path:
        """Where the index caches live: the setting, else the user's cache folder."""
        return self.settings.cache_dir or default_cache_base()

    def _keep_restart_snapshot(self, knowledge: Knowledge) -> None:
        """After a live reload: what the next restart starts from (`loading.py`)."""
        keep_restart_snapshot(
            knowledge,
            RepoFiles(self.settings.repo),
            self._cache_base,
        )

    def _loaded(self, knowledge: Knowledge) -> Knowledge:
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
        if self.mcp is not None:
            await self.mcp.knowledge_changed(change)

    def _index_warmed(self, done: WarmPass) -> None:
        """A pass of the page-cache keeper (from its thread): counted, and logged when
        its result changes (the first pass, a skip or its reason, a pass after skips),
        not every period."""
        self.metrics.index_warmed(done)
        state = done.skipped or "done"
        if state == self._warm_state:
            return
        self._warm_state = state
        if done.skipped:
            log.info("index_warm_skipped", reason=done.skipped, detail=done.why)
        else:
            log.info(
                "index_warm",
                files=done.files,
                mb=done.bytes >> 20,
                seconds=round(done.seconds, 3),
                cpu_seconds=round(done.cpu_seconds, 3),
                period_s=self.settings.keep_warm_s,
            )

    def _current_knowledge(self) -> Knowledge:
        assert self.knowledge is not None, "startup() loads knowledge before serving"
        return self.knowledge


def _bound_port(runner: web.AppRunner, asked: int) -> int:
    """The real port when bound to 0 (tests), read back from the listening socket."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return asked
