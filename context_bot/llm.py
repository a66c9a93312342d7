"""The optional model writer of `context-bot draft --llm`: an OpenAI-compatible chat API.

The deterministic draft says only what the code states; a model can say what a file is
for in prose (Purpose, Problem, Solution, Impact, Gotchas, in the seeds' style). This
adapter is the one module that talks to such an endpoint (`POST {base}/chat/completions`,
aiohttp's client): one request per new or draft-written document, at most
`draft.llm_concurrency` at once, each within `draft.llm_token_budget` tokens (the file's
text is cut to fit; about four characters a token), retried after a timeout, a 429 (after
its `Retry-After`) or a 5xx up to `draft.llm_retries` times. Whatever fails, the file keeps
its deterministic draft and the failure is printed with a stable code (`ModelError`). The
key goes in the `Authorization` header only: never in a message, a log or a document.
Documents someone else wrote are refreshed as always; the model does not rewrite them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, TextIO

import aiohttp
import structlog

from context_bot.config import Settings
from context_bot.errors import ConfigError, ModelError
from context_bot.knowledge.documents import split_sections
from context_bot.knowledge.draft_plan import Change
from context_bot.knowledge.drafting import architecture_text, draft_document, purpose_text

log = structlog.get_logger(__name__)

#: The sections the model writes, in the seeds' order.
SECTIONS = ("Purpose", "Problem", "Solution", "Impact", "Gotchas")
#: Characters counted as one token when cutting the prompt to the budget.
CHARS_PER_TOKEN = 4
#: Tokens of the budget kept for the answer (at most), and for the prompt's own words.
ANSWER_TOKENS = 1_500
PROMPT_OVERHEAD_TOKENS = 400
#: Characters of one section of an answer kept.
MAX_SECTION_CHARS = 4_000
#: Longest wait honoured from a `Retry-After`, and the first back-off, in seconds.
MAX_RETRY_AFTER_S = 60.0
BACKOFF_S = 0.5

_SYSTEM = (
    "You write the knowledge document of one source file for developers joining the "
    "project. Answer in Markdown with exactly these sections, each a `## ` heading: "
    "Purpose (one or two sentences), Problem (what was missing without this file), "
    "Solution (how the file solves it, naming its main functions and classes), Impact "
    "(what it enables), Gotchas (a list of pitfalls the code shows; leave the section out "
    "when there are none). Say only what the code and the context given support; never "
    "invent behaviour, names or history."
)


async def write_with_model(
    settings: Settings,
    changes: list[Change],
    stamp: str,
    out: TextIO,
    summaries: Mapping[str, str] | None = None,
) -> list[Change]:
    """`changes` with the model's prose in each new or draft-written document; a change the
    model could not write for keeps its deterministic text (and the reason is printed)."""
    if not settings.llm_base_url or not settings.llm_model:
        raise ConfigError(
            "draft --llm needs draft.llm_base_url (CONTEXT_BOT_LLM_BASE_URL) and "
            "draft.llm_model (CONTEXT_BOT_LLM_MODEL)"
        )
    known = dict(summaries or {})
    for change in changes:
        known.setdefault(change.path, _first_line(purpose_text(change.facts)))
    limit = asyncio.Semaphore(settings.llm_concurrency)
    timeout = aiohttp.ClientTimeout(total=settings.llm_timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        writer = _Writer(settings, http, limit, known)
        results = await asyncio.gather(
            *(writer.write(c) if c.action != "refresh" else _none() for c in changes)
        )
    done: list[Change] = []
    for change, prose in zip(changes, results, strict=True):
        if isinstance(prose, ModelError):
            print(
                f"model: {change.path}: {prose.code}: {prose}; the deterministic draft is kept",
                file=out,
            )
            done.append(change)
        elif prose is None:
            done.append(change)
        else:
            prose["model"] = settings.llm_model
            done.append(replace(change, new=draft_document(change.facts, stamp, prose=prose)))
    return done


async def _none() -> None:
    return None


class _Writer:
    def __init__(
        self,
        settings: Settings,
        http: aiohttp.ClientSession,
        limit: asyncio.Semaphore,
        summaries: Mapping[str, str],
    ) -> None:
        self.settings = settings
        self.http = http
        self.limit = limit
        self.summaries = summaries
        self.url = settings.llm_base_url.rstrip("/") + "/chat/completions"
        self.headers = {"content-type": "application/json"}
        if settings.llm_api_key:
            self.headers["authorization"] = f"Bearer {settings.llm_api_key}"

    async def write(self, change: Change) -> dict[str, str] | ModelError:
        body = self.request_body(change)
        async with self.limit:
            for attempt in range(self.settings.llm_retries + 1):
                try:
                    return _prose(await self._post(body))
                except _Retry as retry:
                    if attempt == self.settings.llm_retries:
                        return ModelError(retry.code, retry.message)
                    wait = retry.after if retry.after is not None else BACKOFF_S * 2**attempt
                    log.info("model_retry", path=change.path, reason=retry.code, wait_s=wait)
                    await asyncio.sleep(wait)
                except ModelError as exc:
                    return exc
        return ModelError("http_error", "no attempt made")  # pragma: no cover - retries >= 0

    def request_body(self, change: Change) -> dict[str, Any]:
        budget = self.settings.llm_token_budget
        answer = min(ANSWER_TOKENS, budget // 3)
        room = (budget - answer - PROMPT_OVERHEAD_TOKENS) * CHARS_PER_TOKEN
        facts = change.facts
        neighbours = [
            f"- `{p}`: {self.summaries[p]}"
            for p in (*facts.imports, *facts.imported_by)
            if self.summaries.get(p)
        ]
        context = "\n".join(
            [
                f"File: `{facts.path}` ({facts.language or 'unknown language'})",
                "Outline and dependencies:",
                architecture_text(facts) or "(none found)",
                "What its neighbours do:" if neighbours else "",
                *neighbours,
            ]
        )[: room // 3]
        text = facts.text
        cut = room - len(context)
        if len(text) > cut:
            text = text[: max(cut, 0)] + "\n… (cut to fit the token budget)"
        return {
            "model": self.settings.llm_model,
            "temperature": 0,
            "max_tokens": answer,
            "messages": [
                {"role": "system", "content": _SYSTEM},
                {"role": "user", "content": f"{context}\n\nThe file:\n```\n{text}\n```"},
            ],
        }

    async def _post(self, body: dict[str, Any]) -> Any:
        try:
            async with self.http.post(self.url, json=body, headers=self.headers) as response:
                if response.status == 429:
                    raise _Retry("rate_limited", "429 Too Many Requests", _after(response))
                if response.status >= 500:
                    raise _Retry("http_error", f"the endpoint answered {response.status}", None)
                if response.status != 200:
                    raise ModelError("http_error", f"the endpoint answered {response.status}")
                raw = await response.read()
        except TimeoutError:
            raise _Retry("timeout", "no answer in time", None) from None
        except aiohttp.ClientError as exc:
            raise _Retry("unreachable", type(exc).__name__, None) from None
        try:
            return json.loads(raw)
        except ValueError:
            raise ModelError("malformed", "the answer is not JSON") from None


class _Retry(Exception):
    def __init__(self, code: str, message: str, after: float | None) -> None:
        super().__init__(message)
        self.code, self.message, self.after = code, message, after


def _after(response: aiohttp.ClientResponse) -> float | None:
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _prose(answer: Any) -> dict[str, str]:
    """The sections of a chat-completions answer; ModelError("malformed") when it has no
    message text or no Purpose."""
    try:
        content = answer["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ModelError("malformed", "the answer has no choices[0].message.content") from None
    if not isinstance(content, str):
        raise ModelError("malformed", "the answer's content is not text")
    found: dict[str, str] = {}
    for section in split_sections(content, 1):
        heading = section.heading.strip().split(" (")[0].strip()
        body = section.body.strip()
        if heading in SECTIONS and body and heading not in found:
            found[heading] = body[:MAX_SECTION_CHARS]
    if "Purpose" not in found:
        raise ModelError("malformed", "the answer has no `## Purpose` section")
    return found


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0]
