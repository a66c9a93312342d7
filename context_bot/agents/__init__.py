"""The repository's context for `livekit-agents` voice agents: tools, instructions, refresh.

In an agent's entrypoint, once the room is connected::

    context = await repository_context(ctx.room, budget_tokens=4000)
    agent = Agent(instructions=MY_PROMPT + "\\n\\n" + context.instructions, tools=[context.tools])
    agent = context.retrieve_each_turn(agent)   # optional: passages for every user turn

`context.tools` is a `Toolset` of eight function tools the LLM can call (`read_file`,
`search_knowledge`, `search_code`, `list_folder`, `describe_feature`, and for symbols
`find_definition`, `file_outline`, `find_references`); `context.instructions` is the
repository's onboarding overview cut to `budget_tokens`, so the agent starts the
conversation already knowing the repository. With `retrieve_each_turn`, each finished user
turn is sent to the bot's `retrieve` and the passages that answer it (paths, lines,
documents' purposes) are in that turn's chat context before the model speaks: no tool call,
no extra turn of latency (see `RepositoryContext.retrieve_each_turn`).

The instructions name the tools by the names the model sees, taken from the tools
themselves (`TOOL_ROLES`), and a small budget keeps the overview's sections in
`SECTION_PRIORITY` order: coverage, layout and gotchas before long lists, with a note
naming what was left out. When the knowledge changes mid-session the instructions are
rewritten in place, in the same room connection (see `RepositoryContext`).

Everything goes through `context_bot.client` over the room's protocol; nothing of the
server side is imported. Install with `pip install 'context-bot[agents]'`.

Sizes are counted in tokens of about four characters (livekit-agents ships no LLM
tokenizer, and an estimate is all a budget needs). Every answer that does not fit is cut
with a note saying what was left out and how to get it: a model that is silently given
half a file reasons about the half as if it were all.

The package: `budget.py` (token sizes, cutting to them), `tools.py` (the function tools
and how their answers read), `instructions.py` (the instructions block) and `context.py`
(`RepositoryContext`, `repository_context`).
"""

from context_bot.agents.budget import CHARS_PER_TOKEN
from context_bot.agents.context import (
    RETRIEVAL_ID_PREFIX,
    RepositoryContext,
    repository_context,
)
from context_bot.agents.instructions import SECTION_PRIORITY, render_instructions, tool_guide
from context_bot.agents.tools import TOOL_ROLES, ContextTools

__all__ = [
    "CHARS_PER_TOKEN",
    "RETRIEVAL_ID_PREFIX",
    "SECTION_PRIORITY",
    "TOOL_ROLES",
    "ContextTools",
    "RepositoryContext",
    "render_instructions",
    "repository_context",
    "tool_guide",
]
