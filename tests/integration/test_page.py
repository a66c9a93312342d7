"""The developer page end to end: Debian's Chromium, the real livekit-server, the real bot.

The page is the committed build in `context_bot/endpoint/page/`, served by the app under test; the
browser joins through `POST /token` and speaks the room protocol with livekit-client, as a
developer's browser would. Each state the issue names is asserted and photographed (into
`docs/screenshots/` with CONTEXT_BOT_UPDATE_SCREENSHOTS=1, else a temporary folder). The
last test checks that the committed build is what `web/` builds.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import re
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from livekit import api, rtc

from context_bot.app import ContextBotApp
from context_bot.knowledge.documents import git_blob_sha
from context_bot.protocol import TOPIC_PUSH
from tests.integration.page_helpers import REPO_ROOT, SETUP_HINT, Browser, missing_tools
from tests.integration.test_bot_identity import FORGED, impostor_token

pytestmark = pytest.mark.integration


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    missing = missing_tools()
    assert not missing, f"missing {', '.join(missing)}: {SETUP_HINT}"
    browser = await Browser.start()
    try:
        yield browser
    finally:
        await browser.close()


async def join(browser: Browser, app: ContextBotApp, room: str, name: str, query: str = "") -> None:
    """Open the page with `?room=`, type the name and press Enter: the keyboard path."""
    await browser.do("goto", url=f"http://127.0.0.1:{app.port}/?room={room}{query}")
    await browser.do("fill", selector="#name", value=name)
    await browser.do("press", selector="#name", key="Enter")


async def until(check: Callable[[], Any], timeout_s: float = 10) -> None:
    """Poll `check` (sync or async) until it is truthy."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        assert time.monotonic() < deadline, f"still false after {timeout_s} s"
        await asyncio.sleep(0.05)


LONE_BOT = "context-bot-lone"
"""The identity of the bots that tests take out of their rooms. Every bot process serves
the rooms whose metadata names its identity, and reconciles in any of them with people
and no bot: a bot of another test on the same server could take `context-bot`'s rooms
as its own (a fresh-clone run found the identity back three seconds after the removal,
under a sid this app never logged; `RoomSession.aclose` says what else fits). Nothing
else here has this identity."""


async def remove_bot(app: ContextBotApp, room: str) -> None:
    """What an operator does with LiveKit's room service: take the bot out of `room`, until
    the server has listed no connection of the bot's identity there for a second.

    Give the app `LONE_BOT`'s identity, or a bot of another test may join the room
    again (the closing notes of 2026-11-27 describe the runs that found one)."""
    livekit = app.settings.livekit
    bot = app.settings.bot_identity
    lk = api.LiveKitAPI(livekit.url, livekit.api_key, livekit.api_secret)
    try:
        quiet_since: float | None = None
        async with asyncio.timeout(20):
            while quiet_since is None or time.monotonic() - quiet_since < 1.0:
                listed = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
                if any(p.identity == bot for p in listed.participants):
                    quiet_since = None
                    identity = api.RoomParticipantIdentity(room=room, identity=bot)
                    with contextlib.suppress(api.TwirpError):  # gone in between
                        await lk.room.remove_participant(identity)
                elif quiet_since is None:
                    quiet_since = time.monotonic()
                await asyncio.sleep(0.1)
    finally:
        await lk.aclose()


def make_current(repo: Path, path: str) -> None:
    """Point the document of `path` at the file as it is in the copy, whatever state this
    repository's own knowledge is in: the test needs one current, documented file."""
    document = repo / "knowledge" / f"{path}.md"
    blob = git_blob_sha((repo / path).read_bytes())
    text = re.sub(r"(?m)^fileVersion: .*$", f"fileVersion: '{blob}'", document.read_text())
    document.write_text(text)


def make_stale(repo: Path, path: str) -> None:
    """Change a documented file so its document was written for another version of it."""
    with (repo / path).open("a", encoding="utf-8") as file:
        file.write("\n# changed by the page test\n")


async def test_a_developer_joins_and_browses_overview_tree_file_search_and_a_change(
    running_app: Any, repo_copy: Path, browser: Browser
) -> None:
    make_current(repo_copy, "context_bot/protocol.py")
    make_stale(repo_copy, "context_bot/errors.py")
    app: ContextBotApp = await running_app(repo=repo_copy, watch=True)
    assert app.knowledge is not None

    # Joins and shows the overview the bot sends, rendered as Markdown.
    await join(browser, app, "page-browse", "Ada Lovelace")
    await browser.wait("body[data-connection='connected']")
    title = app.knowledge.overview.splitlines()[0].removeprefix("# ")
    assert await browser.wait("#overview h1", text=title) == title
    assert await browser.do("count", selector="#overview h2") >= 3
    assert "Ada Lovelace in page-browse" in await browser.wait("#where")
    await browser.screenshot("page-overview")

    # Opens a file by clicking it in the tree: the document beside numbered, highlighted lines.
    await browser.do("click", selector="button.node.dir[data-path='context_bot']")
    await browser.do("click", selector="button.node[data-path='context_bot/protocol.py']")
    assert await browser.wait("#file-view .file-head h2") == "context_bot/protocol.py"
    await browser.wait("#file-view .contents .source", text="PROTOCOL_VERSION = 1")
    await browser.wait("#file-view .document .markdown h2", text="Purpose")
    lines = (repo_copy / "context_bot/protocol.py").read_text().count("\n")
    gutter = await browser.do("text", selector="#file-view .gutter")
    assert gutter.split() == [str(n) for n in range(1, lines + 1)]
    assert await browser.do("count", selector="#file-view .source .hljs-keyword") > 10
    await browser.screenshot("page-file")

    # A stale document is marked as such.
    await browser.do("click", selector="button.node[data-path='context_bot/errors.py']")
    await browser.wait("#file-view .file-head .badge.stale", text="stale")
    await browser.wait("#file-view .document .stale-warning", text="another version")
    tree_row = "button.node[data-path='context_bot/errors.py']"
    assert await browser.do("count", selector=f"{tree_row} .badge.stale") == 1
    # Every file is in the tree: one no document describes is there too, marked.
    undocumented = "button.node.undocumented[data-path='context_bot/py.typed']"
    assert await browser.do("text", selector=f"{undocumented} .badge.undocumented") == "no doc"
    assert await browser.do("count", selector=f"{tree_row}.undocumented") == 0
    await browser.screenshot("page-stale")

    # `/` focuses search; ranked hits with marked snippets; ArrowDown and Enter open one.
    await browser.do("press", key="/")
    assert await browser.do("eval", expression="document.activeElement.id") == "search"
    await browser.do("type", text="text streams")
    first = app.knowledge.search("text streams", limit=20)[0].path
    assert await browser.wait("#results .hit .hit-path") == first
    assert await browser.do("count", selector="#results .hit-snippet mark") > 0
    await browser.screenshot("page-search")
    await browser.do("press", selector="#search", key="ArrowDown")
    await browser.do("press", key="Enter")
    assert await browser.wait("#file-view .file-head h2", text=first) == first

    # Editing a document on disk: a notice naming it, and the open file refreshed. The
    # edit carries raw HTML and a script link, which the page must show inert.
    await browser.do("click", selector="button.node[data-path='context_bot/protocol.py']")
    await browser.wait("#file-view .file-head h2", text="context_bot/protocol.py")
    document = repo_copy / "knowledge/context_bot/protocol.py.md"
    hostile = "<img src=x onerror=\"document.title='owned'\"> [run](javascript:alert(1))"
    document.write_text(document.read_text() + f"\n## Seen in the browser\nEdited. {hostile}\n")
    notice = await browser.wait("[data-notice='knowledge_changed']", timeout_ms=20000)
    assert "Changed: context_bot/protocol.py" in notice
    assert await browser.do("text", selector="#tree button[aria-current]") == "protocol.py"
    section = await browser.wait("#file-view .document p", text="Edited.")
    assert "<img src=x" in section  # shown as text
    assert await browser.do("count", selector="#file-view img, a[href^='javascript']") == 0
    assert await browser.do("eval", expression="document.title") == "context-bot"
    await browser.screenshot("page-knowledge-changed")

    # Readable in a narrow window: one column, nothing wider than the window.
    await browser.do("viewport", width=390, height=844)
    await browser.do("click", selector="#file-view .back")
    await browser.wait("#overview h1")
    await browser.do("eval", expression="window.scrollTo(0, 0)")
    assert await browser.do(
        "eval", expression="document.documentElement.scrollWidth <= window.innerWidth"
    )
    await browser.screenshot("page-narrow")


async def test_code_search_finds_a_line_in_an_undocumented_file_and_opens_it_there(
    running_app: Any, repo_copy: Path, browser: Browser
) -> None:
    """The Code switch makes the search box the bot's `grep`: lines grouped by file, a bad
    RE2 pattern shown as its 4000, and a line opening its file scrolled to and marked."""
    app: ContextBotApp = await running_app(repo=repo_copy)
    # The page's own licenses.txt: a long file no document describes, in every copy.
    target = "context_bot/endpoint/page/licenses.txt"
    assert not (repo_copy / "knowledge" / f"{target}.md").exists()
    lines = (repo_copy / target).read_text().splitlines()
    (line,) = [n for n, text in enumerate(lines, 1) if re.match(r"highlight\.js@\d+\.", text)]
    assert line > 100  # far enough down that opening the file must scroll to it

    await join(browser, app, "page-grep", "Ken")
    await browser.wait("#overview h1")
    assert await browser.do("eval", expression="document.getElementById('grep-regex').disabled")
    await browser.do("click", selector="#grep-mode")
    await browser.do("press", key="/")
    assert await browser.do("eval", expression="document.activeElement.id") == "search"

    # Literal (smart case: all lower case matches any case): every line holding the text,
    # under a heading per file (the built app.js, licenses.txt, documents), the text marked.
    await browser.do("type", text="highlight.js")
    group = f"#results .grep-file:has(button[data-path='{target}'])"
    await browser.wait(f"{group} .hit-path", text=target)
    row = f"{group} button.grep-line[data-line='{line}']"
    assert await browser.do("text", selector=f"{row} .grep-number") == str(line)
    assert await browser.do("text", selector=f"{row} mark") == "highlight.js"
    heads = await browser.do(
        "eval",
        expression="[...document.querySelectorAll('#results .grep-file')].map((g) => "
        "[g.querySelector('.hit-path').firstChild.textContent, "
        "[...g.querySelectorAll('button')].map((b) => b.dataset.path)])",
    )
    assert len(heads) >= 3
    assert len({path for path, _ in heads}) == len(heads)  # one heading per file
    assert all(set(paths) == {path} for path, paths in heads)  # its lines under it
    await browser.wait("#results .grep-summary", text="searched")
    await browser.screenshot("page-grep-results")

    # Regex on: a pattern RE2 refuses comes back as 4000 bad_request, shown as text.
    await browser.do("click", selector="#grep-regex")
    await browser.do("fill", selector="#search", value="highlight(")
    refused = await browser.wait("#results .error", text="4000")
    assert "bad_request" in refused
    assert await browser.do("count", selector="#results .grep-file") == 0

    # A valid expression: one line; ArrowDown and Enter open the file at it.
    await browser.do("fill", selector="#search", value=r"^highlight\.js@\d+\.")
    await browser.wait(row)
    assert await browser.do("count", selector="#results button.grep-line") == 1
    await browser.do("press", selector="#search", key="ArrowDown")
    await browser.do("press", key="Enter")
    assert await browser.wait("#file-view .file-head h2", text=target) == target
    await browser.wait("#file-view .document .note", text="No knowledge document")
    mark = f"#file-view .code .line-mark[data-line='{line}']"
    await browser.wait(mark)
    assert (await browser.do("eval", expression="location.hash")).endswith(f"&line={line}")
    # Scrolled to: the mark is inside the code's visible box, and the source text under
    # it (found from the point, as a click would) is that line.
    where = await browser.do(
        "eval",
        expression=f"""(() => {{
          const code = document.querySelector('#file-view .code');
          const box = code.getBoundingClientRect();
          const mark = document.querySelector("{mark}").getBoundingClientRect();
          const source = document.querySelector('#file-view .source');
          const y = mark.top + mark.height / 2;
          const caret = document.caretRangeFromPoint(source.getBoundingClientRect().left + 20, y);
          const before = document.createRange();
          before.setStart(source, 0);
          before.setEnd(caret.startContainer, caret.startOffset);
          return {{ inside: mark.top >= box.top && mark.bottom <= Math.min(box.bottom, innerHeight),
                    scrolled: code.scrollTop > 0,
                    line: before.toString().split('\\n').length }};
        }})()""",
    )
    assert where == {"inside": True, "scrolled": True, "line": line}
    await browser.screenshot("page-grep")


async def test_a_file_shows_its_outline_and_names_open_where_they_are_defined(
    running_app: Any, repo_copy: Path, browser: Browser
) -> None:
    """The outline of a file opens its lines; a name in a document (`RoomManager`) opens its
    definition, and one that only looks like a file (`asyncio.Lock`) is a name, not a file
    link; Ctrl-click on a name in the source opens its definition too."""
    rooms = "context_bot/bot/rooms.py"
    source = (repo_copy / rooms).read_text().splitlines()
    (defined,) = [n for n, text in enumerate(source, 1) if text.startswith("class RoomManager")]
    (repo_copy / "knowledge" / "guides" / "names.md").write_text(
        "# Names\n\nRooms are kept by `RoomManager`, each behind an `asyncio.Lock`; "
        "see `pyproject.toml` and `nothing_defines_this_name`.\n"
    )
    app: ContextBotApp = await running_app(repo=repo_copy)
    await join(browser, app, "page-names", "Rob")
    await browser.wait("#overview h1")

    # The outline: folded above the contents, one entry per definition; an entry opens its
    # line, marked, through the URL (so Back works).
    await browser.do("eval", expression=f"location.hash = '#file={rooms}'")
    summary = await browser.wait("#file-view .outline summary", text="Outline")
    assert int(re.search(r"\((\d+)\)", summary).group(1)) > 10
    await browser.do("click", selector="#file-view .outline summary")
    await browser.do("click", selector=f"#file-view .outline button[data-line='{defined}']")
    await browser.wait(f"#file-view .code .line-mark[data-line='{defined}']")
    assert (await browser.do("eval", expression="location.hash")).endswith(f"&line={defined}")
    await browser.screenshot("page-outline")

    # A document: a name in code opens where it is defined; a look-alike of a file is a name
    # too; a path opens its file; a name defined nowhere here says so.
    await browser.do("eval", expression="location.hash = '#file=guides/names.md'")
    await browser.wait("#file-view .document a.name", text="RoomManager")
    links = await browser.do(
        "eval",
        expression="[...document.querySelectorAll('#file-view .document code')].map((c) => "
        "[c.textContent, c.parentElement.tagName === 'A' ? c.parentElement.getAttribute('href')"
        " : null])",
    )
    assert dict(links) == {
        "RoomManager": "#symbol=RoomManager",
        "asyncio.Lock": "#symbol=asyncio.Lock",  # not `#file=asyncio.Lock`
        "pyproject.toml": "#file=pyproject.toml",
        "nothing_defines_this_name": "#symbol=nothing_defines_this_name",
    }
    await browser.do("click", selector="#file-view .document a.name")
    await browser.wait(f"#file-view .code .line-mark[data-line='{defined}']")
    assert await browser.do("eval", expression="decodeURIComponent(location.hash)") == (
        f"#file={rooms}&line={defined}"
    )
    await browser.do("eval", expression="history.back()")  # the #symbol= step was replaced
    await browser.wait("#file-view .file-head h2", text="guides/names.md")
    await browser.do(
        "click", selector="#file-view .document a[href='#symbol=nothing_defines_this_name']"
    )
    await browser.wait("#file-view [data-missing]", text="is not defined in this repository")

    # Ctrl-click on a name in the source of another file opens its definition.
    await browser.do("eval", expression="location.hash = '#file=context_bot/app.py'")
    await browser.wait("#file-view .file-head h2", text="context_bot/app.py")
    await browser.wait("#file-view .source")
    await browser.do(
        "clickText", selector="#file-view .source", text="RoomManager(", modifier="Control"
    )
    await browser.wait(f"#file-view .code .line-mark[data-line='{defined}']")
    assert await browser.do("eval", expression="decodeURIComponent(location.hash)") == (
        f"#file={rooms}&line={defined}"
    )


async def test_the_page_explains_a_refused_token_and_an_absent_bot(
    running_app: Any, browser: Browser
) -> None:
    # No reconciling during the test: it would bring the removed bot back into its room.
    app: ContextBotApp = await running_app(reconcile_interval_s=3600, bot_identity=LONE_BOT)

    # The endpoint refuses a room name with a space; the page shows its code and message.
    await browser.do("goto", url=f"http://127.0.0.1:{app.port}/")
    await browser.do("fill", selector="#room", value="not a room")
    await browser.do("fill", selector="#name", value="Grace")
    await browser.do("click", selector="#join button[type='submit']")
    refused = await browser.wait("[data-alert='token']")
    assert "400 invalid_field" in refused
    assert "`room_name` must be 1-128 of" in refused
    await browser.screenshot("page-token-refused")

    # An operator removes the bot between the token and the join: the page is in the room
    # and nothing answers. (`/token` always sends the bot in; holding its answer back in the
    # browser is how the test gets a room without the bot, with nothing faked.)
    # The page remembers "Grace" from the refused join above, and a page opened with
    # `?room=` and a remembered name joins at once: with the keyboard's join that made two
    # token requests, one of them held after the release below (a fresh-clone run saw the
    # alert never come). Forgotten here, the keyboard's join is the only one.
    await browser.do("eval", expression="localStorage.removeItem('context-bot.name')")
    await browser.do("holdTokens")
    await join(browser, app, "page-no-bot", "Grace")
    await until(lambda: browser.do("heldTokens"))
    assert app.rooms is not None and "page-no-bot" in app.rooms.active_rooms
    await remove_bot(app, "page-no-bot")
    await until(lambda: "page-no-bot" not in app.rooms.active_rooms)  # type: ignore[union-attr]
    await browser.do("releaseTokens")
    await browser.wait("body[data-connection='connected']")
    absent = await browser.wait("[data-alert='bot']", timeout_ms=10000)
    assert "The bot is not answering" in absent
    assert "context-bot" in absent
    assert await browser.do("count", selector="#overview h1") == 0
    await browser.screenshot("page-bot-absent")


async def test_the_page_shows_a_dropped_connection_and_reconnects(
    running_app: Any, browser: Browser
) -> None:
    app: ContextBotApp = await running_app()
    await browser.do("routeSignal")
    await join(browser, app, "page-drop", "Linus")
    await browser.wait("body[data-connection='connected']")
    await browser.wait("#overview h1")

    assert await browser.do("dropSignal", ms=2500) >= 1
    await browser.wait("body[data-connection='reconnecting']", timeout_ms=5000)
    await browser.wait("[data-alert='connection']", text="Reconnecting")
    await browser.screenshot("page-reconnecting")
    await browser.wait("body[data-connection='connected']", timeout_ms=20000)
    assert await browser.do("count", selector="[data-alert='connection']") == 0

    # The bot still answers after the reconnect.
    await browser.do("press", key="/")
    await browser.do("type", text="token endpoint")
    await browser.wait("#results .hit")


async def test_the_page_ignores_a_participant_named_like_the_bot(
    running_app: Any, browser: Browser
) -> None:
    """Only the hidden bot sends without an identity: a visible participant of the bot's
    identity (here with a token minted from the keys, as `/token` refuses the identity)
    is not trusted."""
    app: ContextBotApp = await running_app(reconcile_interval_s=3600, bot_identity=LONE_BOT)
    assert app.knowledge is not None and app.rooms is not None
    await join(browser, app, "page-impostor", "Ada")
    title = app.knowledge.overview.splitlines()[0].removeprefix("# ")
    await browser.wait("#overview h1", text=title)
    # The bot out of the way (nothing brings it back here), so nothing it sends later
    # could cover up an accepted forgery.
    await remove_bot(app, "page-impostor")
    await until(lambda: "page-impostor" not in app.rooms.active_rooms)  # type: ignore[union-attr]

    impostor = rtc.Room()
    livekit = app.settings.livekit
    await impostor.connect(livekit.url, impostor_token(livekit, "page-impostor", LONE_BOT))
    try:
        await until(lambda: len(impostor.remote_participants) == 1)
        (page_identity,) = impostor.remote_participants
        push = {"v": 1, "event": "overview", "data": {"knowledge_version": "x", "text": FORGED}}
        await impostor.local_participant.send_text(
            json.dumps(push), topic=TOPIC_PUSH, destination_identities=[page_identity]
        )
        await asyncio.sleep(1.5)  # an accepted push is rendered within milliseconds
        assert await browser.do("text", selector="#overview h1") == title
    finally:
        await impostor.disconnect()


async def test_the_committed_page_is_what_web_builds() -> None:
    missing = missing_tools()
    assert not missing, f"missing {', '.join(missing)}: {SETUP_HINT}"
    process = await asyncio.create_subprocess_exec(
        "node",
        str(REPO_ROOT / "web" / "build.mjs"),
        "--check",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
