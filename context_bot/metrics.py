"""What an operator graphs and alerts on, in Prometheus's text format (`GET /metrics`).

`prometheus_client` does the bookkeeping and the exposition format: a well-kept library
whose counters, histograms and text format Prometheus itself defines, so nothing here
re-implements them. Each `Metrics` has its own registry (not the library's global one),
so tests and several apps in one process never share counts.

Names follow Prometheus conventions: `context_bot_` prefix, `_total` for counters,
base units (seconds, bytes). Labels stay low-cardinality: method names and error codes,
never rooms or participants.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from context_bot.knowledge.pagecache import WarmPass

__all__ = ["CONTENT_TYPE", "Metrics"]

LAG_PROBE_INTERVAL_S = 0.5
"""How often the event-loop lag probe wakes up."""
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """Every metric of one context-bot process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.active_rooms = Gauge("context_bot_active_rooms", "Rooms the bot is in now", registry=r)
        self.overviews = Counter(
            "context_bot_overviews_total",
            "Overviews delivered, by how: pull (asked for) or push",
            ["how"],
            registry=r,
        )
        self.requests = Counter(
            "context_bot_requests_total",
            "Requests answered, by method and result code (0 for success)",
            ["method", "code"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "context_bot_request_seconds",
            "Time from a request's arrival to its answer being sent, by method",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.bytes_sent = Counter(
            "context_bot_sent_bytes_total",
            "Bytes of answers and pushes sent to participants, by kind",
            ["kind"],
            registry=r,
        )
        self.rejoins = Counter(
            "context_bot_room_rejoins_total",
            "Rooms rejoined after the bot lost its connection",
            registry=r,
        )
        self.tokens_issued = Counter(
            "context_bot_tokens_issued_total", "Join tokens handed out by POST /token", registry=r
        )
        self.knowledge_documents = Gauge(
            "context_bot_knowledge_documents",
            "Knowledge documents served, by kind (file or free)",
            ["kind"],
            registry=r,
        )
        self.knowledge_stale = Gauge(
            "context_bot_knowledge_stale_documents",
            "File documents written for another version of their file",
            registry=r,
        )
        self.knowledge_version = Gauge(
            "context_bot_knowledge_version_info",
            "The knowledge version being served (the label), always 1",
            ["version"],
            registry=r,
        )
        self.knowledge_reloads = Counter(
            "context_bot_knowledge_reloads_total",
            "Knowledge reloads that produced a new version",
            registry=r,
        )
        self.loop_lag = Histogram(
            "context_bot_event_loop_lag_seconds",
            "How late the event loop woke the lag probe (a histogram keeps short stalls)",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0),
            registry=r,
        )
        self.index_warm_passes = Counter(
            "context_bot_index_warm_passes_total",
            "Reads of the index's files that keep them in the page cache, by result "
            "(done; skipped: the index outgrew its share of memory, or another process "
            "on the machine reads it)",
            ["result"],
            registry=r,
        )
        self.index_warm_bytes = Counter(
            "context_bot_index_warm_bytes_total",
            "Bytes those reads went through",
            registry=r,
        )
        self.index_warm_cpu_seconds = Counter(
            "context_bot_index_warm_cpu_seconds_total",
            "CPU time those reads took (the reading thread's own)",
            registry=r,
        )

        self.worker_registered = Gauge(
            "context_bot_worker_registered",
            "1 while registered with LiveKit's agent dispatch (worker mode), else 0",
            registry=r,
        )
        self.worker_registrations = Counter(
            "context_bot_worker_registrations_total",
            "Registrations with the agent dispatch; more than one means reconnects",
            registry=r,
        )
        self.worker_offers = Counter(
            "context_bot_worker_offers_total",
            "Job offers from the agent dispatch, by answer (accepted or declined)",
            ["answer"],
            registry=r,
        )
        self.worker_jobs = Counter(
            "context_bot_worker_jobs_total",
            "Jobs assigned to this worker, by outcome (running, failed, terminated)",
            ["outcome"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def knowledge_loaded(self, version: str, files: int, free: int, stale: int) -> None:
        self.knowledge_version.clear()
        self.knowledge_version.labels(version=version).set(1)
        self.knowledge_documents.labels(kind="file").set(files)
        self.knowledge_documents.labels(kind="free").set(free)
        self.knowledge_stale.set(stale)

    def index_warmed(self, done: WarmPass) -> None:
        """One pass of the page-cache keeper (`knowledge/pagecache.py`); from its thread."""
        self.index_warm_passes.labels(result="skipped" if done.skipped else "done").inc()
        self.index_warm_bytes.inc(done.bytes)
        self.index_warm_cpu_seconds.inc(done.cpu_seconds)

    def track_rooms(self, count: Callable[[], int]) -> None:
        self.active_rooms.set_function(count)

    async def probe_loop_lag(self) -> None:
        """Run forever: how much later than asked the loop wakes us is its lag."""
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(LAG_PROBE_INTERVAL_S)
            self.loop_lag.observe(max(0.0, time.perf_counter() - asked - LAG_PROBE_INTERVAL_S))
