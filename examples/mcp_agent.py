"""An agent loop that keeps its memory in Statewave through MCP tools.

The model is scripted (``ScriptedModel``) so the example runs offline and always does the
same thing; swap in a real LLM by sending it the transcript plus the tool schemas from
``list_tools()`` and turning its tool-use replies into ``ToolCall``s. Everything else is
what a real agent does: record each turn, compile, recall with ``get_context`` before
answering, close the ticket with ``record_resolution``.

    pip install mcp
    STATEWAVE_URL=http://localhost:8100 python examples/mcp_agent.py

Environment: ``STATEWAVE_URL`` (default ``http://localhost:8100``), and when the server
asks for them ``STATEWAVE_API_KEY`` and ``STATEWAVE_TENANT_ID``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

SUBJECT = "customer-ana-ruiz"
Transcript = list[dict[str, Any]]


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass
class Reply:
    compose: Callable[[Transcript], str]


@dataclass
class ScriptedModel:
    """Stands in for the LLM: returns the next scripted action for each turn."""

    script: list[ToolCall | Reply]
    position: int = field(default=0)

    def next_action(self, transcript: Transcript) -> ToolCall | Reply:
        action = self.script[self.position]
        self.position += 1
        return action


def turn(session_id: str, source: str, text: str, key: str) -> ToolCall:
    """Record one conversation turn (the key makes a re-run store nothing twice)."""
    return ToolCall(
        "record_episode",
        {
            "subject_id": SUBJECT,
            "source": source,
            "type": "message",
            "payload": {"messages": [{"role": source, "content": text}]},
            "session_id": session_id,
            "idempotency_key": key,
        },
    )


def recalled_employer(transcript: Transcript) -> str:
    """Answer from the last ``get_context`` result, as a model would read it."""
    context = json.loads(transcript[-1]["content"])["assembled_context"]
    facts = [line[2:] for line in context.splitlines() if "work at" in line]
    return f"Yes — you told us: {facts[0]}." if facts else "Sorry, I don't know yet."


FIRST_VISIT = "Hi, I'm Ana Ruiz and I work at Initech. Our invoice export keeps failing."
SECOND_VISIT = "Hello again! Do you remember where I work?"
SCRIPT: list[ToolCall | Reply] = [
    # Ticket 1: remember what the customer said and what the agent answered.
    turn("ticket-1", "user", FIRST_VISIT, "ticket-1-0"),
    turn("ticket-1", "assistant", "Thanks Ana, I've re-run the invoice export.", "ticket-1-1"),
    ToolCall("compile_memories", {"subject_id": SUBJECT}),
    ToolCall(
        "record_resolution",
        {
            "subject_id": SUBJECT,
            "session_id": "ticket-1",
            "status": "resolved",
            "resolution_summary": "Re-ran the invoice export.",
        },
    ),
    Reply(lambda _: "Thanks Ana, I've re-run the invoice export."),
    # Ticket 2, days later: record the question, recall before answering.
    turn("ticket-2", "user", SECOND_VISIT, "ticket-2-0"),
    ToolCall(
        "get_context",
        {"subject_id": SUBJECT, "task": SECOND_VISIT, "session_id": "ticket-2", "max_tokens": 400},
    ),
    Reply(recalled_employer),
]


async def agent_turn(
    session: ClientSession, model: ScriptedModel, transcript: Transcript, user_text: str
) -> str:
    """The agent loop: ask the model, run the tools it calls, until it replies."""
    transcript.append({"role": "user", "content": user_text})
    while True:
        action = model.next_action(transcript)
        if isinstance(action, Reply):
            reply = action.compose(transcript)
            transcript.append({"role": "assistant", "content": reply})
            return reply
        result = await session.call_tool(action.name, action.arguments)
        text = result.content[0].text if result.content else ""  # type: ignore[union-attr]
        if result.is_error:
            raise RuntimeError(f"{action.name} failed: {text}")
        print(f"  [tool] {action.name}")
        transcript.append({"role": "tool", "name": action.name, "content": text})


async def main() -> None:
    url = os.environ.get("STATEWAVE_URL", "http://localhost:8100").rstrip("/") + "/mcp"
    headers = {
        name: value
        for name, value in (
            ("X-API-Key", os.environ.get("STATEWAVE_API_KEY")),
            ("X-Tenant-ID", os.environ.get("STATEWAVE_TENANT_ID")),
        )
        if value
    }
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools = {tool.name for tool in (await session.list_tools()).tools}
        print(f"Statewave offers {len(tools)} tools.")
        model, transcript = ScriptedModel(SCRIPT), []
        for user_text in (FIRST_VISIT, SECOND_VISIT):
            print(f"user: {user_text}")
            print(f"agent: {await agent_turn(session, model, transcript, user_text)}")


if __name__ == "__main__":
    asyncio.run(main())
