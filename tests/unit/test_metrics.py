"""Metrics: exposed in Prometheus's text format, each process with its own counts."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

from context_bot.metrics import Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_requests_and_knowledge_render_as_prometheus_text() -> None:
    metrics = Metrics()
    metrics.requests.labels(method="file", code="0").inc()
    metrics.requests.labels(method="file", code="4104").inc(2)
    metrics.knowledge_loaded("abc123", files=10, free=2, stale=3)
    metrics.knowledge_loaded("def456", files=11, free=2, stale=0)
    got = samples(metrics)
    assert got[("context_bot_requests_total", (("code", "0"), ("method", "file")))] == 1
    assert got[("context_bot_requests_total", (("code", "4104"), ("method", "file")))] == 2
    assert got[("context_bot_knowledge_documents", (("kind", "file"),))] == 11
    assert got[("context_bot_knowledge_stale_documents", ())] == 0
    versions = [k for k in got if k[0] == "context_bot_knowledge_version_info"]
    assert versions == [("context_bot_knowledge_version_info", (("version", "def456"),))]


def test_two_processes_worth_of_metrics_do_not_share_counts() -> None:
    first, second = Metrics(), Metrics()
    first.tokens_issued.inc()
    assert samples(second)[("context_bot_tokens_issued_total", ())] == 0


def test_active_rooms_reads_the_live_count() -> None:
    metrics = Metrics()
    rooms = ["a", "b"]
    metrics.track_rooms(lambda: len(rooms))
    assert samples(metrics)[("context_bot_active_rooms", ())] == 2
    rooms.append("c")
    assert samples(metrics)[("context_bot_active_rooms", ())] == 3


async def test_the_lag_probe_reports_a_blocked_loop() -> None:
    import time

    from context_bot import metrics as module

    metrics = Metrics()
    original = module.LAG_PROBE_INTERVAL_S
    module.LAG_PROBE_INTERVAL_S = 0.01
    try:
        probe = asyncio.create_task(metrics.probe_loop_lag())
        await asyncio.sleep(0)
        time.sleep(0.2)  # noqa: ASYNC251 - blocking the loop is the point
        await asyncio.sleep(0.05)
        probe.cancel()
    finally:
        module.LAG_PROBE_INTERVAL_S = original
    got = samples(metrics)
    under_tenth = got[("context_bot_event_loop_lag_seconds_bucket", (("le", "0.1"),))]
    total = got[("context_bot_event_loop_lag_seconds_count", ())]
    assert total - under_tenth >= 1, "the 0.2 s stall was not seen"
