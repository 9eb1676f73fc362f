"""The tool table: name, description for the model, argument and result models, and the
service call behind each tool (the same calls the ``/v1`` routers make)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mcp.types import ToolAnnotations
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.api.schemas.context import ContextProvenance
from statewave_server.api.schemas.support import ResolutionResponse
from statewave_server.db.read_routing import SessionFactory
from statewave_server.mcp import arguments as a
from statewave_server.mcp import results as r
from statewave_server.services import compilation
from statewave_server.services import subjects as subject_service
from statewave_server.services.episodes import NewEpisode, record_batch, record_episode
from statewave_server.services.retrieval import build_context
from statewave_server.services.runtime import MemoryRuntime
from statewave_server.services.search import search_memories
from statewave_server.services.support.handoff import create_handoff
from statewave_server.services.support.resolutions import record_resolution


@dataclass(frozen=True)
class ToolContext:
    """What a tool call runs with: the caller's tenant and the process's machinery."""

    tenant_id: str
    db: async_sessionmaker[AsyncSession]
    runtime: MemoryRuntime
    reads: SessionFactory  # read-only tools: the read replica when configured


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    arguments: type[BaseModel]
    result: type[BaseModel]
    run: Callable[[Any, ToolContext], Awaitable[BaseModel]]
    annotations: ToolAnnotations


def _new(episode: a.RecordEpisode) -> NewEpisode:
    return NewEpisode(**episode.model_dump())


async def _record_episode(args: a.RecordEpisode, ctx: ToolContext) -> r.RecordedEpisode:
    stored = await record_episode(ctx.db, ctx.runtime.events, ctx.tenant_id, _new(args))
    return r.RecordedEpisode.of(stored)


async def _record_episodes(args: a.RecordEpisodes, ctx: ToolContext) -> r.RecordedEpisodes:
    new = [_new(e) for e in args.episodes]
    recorded = await record_batch(ctx.db, ctx.runtime.events, ctx.tenant_id, new)
    return r.RecordedEpisodes(
        episodes_created=recorded.created,
        episodes=[r.RecordedEpisode.of(e) for e in recorded.episodes],
    )


async def _compile(args: a.SubjectArgs, ctx: ToolContext) -> r.Compiled:
    memories = await compilation.compile_now(
        ctx.db, ctx.runtime, tenant_id=ctx.tenant_id, subject_id=args.subject_id
    )
    return r.Compiled(
        subject_id=args.subject_id,
        memories_created=len(memories),
        memories=r.memory_items(memories[: r.COMPILED_LISTED]),
    )


async def _context(args: a.ContextArgs, ctx: ToolContext) -> r.Context:
    built = await build_context(
        ctx.reads,
        ctx.runtime,
        tenant_id=ctx.tenant_id,
        subject_id=args.subject_id,
        task=args.task,
        max_tokens=args.max_tokens,
        session_id=args.session_id,
    )
    return r.Context(
        subject_id=args.subject_id,
        assembled_context=built.bundle.assembled_context,
        token_estimate=built.bundle.token_estimate,
        provenance=ContextProvenance.model_validate(built.bundle.provenance, from_attributes=True),
    )


async def _search(args: a.SearchArgs, ctx: ToolContext) -> r.Memories:
    memories = await search_memories(
        ctx.reads,
        ctx.runtime,
        tenant_id=ctx.tenant_id,
        subject_id=args.subject_id,
        kind=args.kind,
        query=args.query,
        semantic=args.semantic,
        limit=args.limit,
    )
    return r.Memories(memories=r.memory_items(memories))


async def _timeline(args: a.TimelineArgs, ctx: ToolContext) -> r.Timeline:
    page = await subject_service.timeline(
        ctx.reads,
        tenant_id=ctx.tenant_id,
        subject_id=args.subject_id,
        limit=args.limit,
        offset=args.offset,
        newest_first=args.newest_first,
    )
    return r.Timeline(
        subject_id=args.subject_id,
        episodes=[r.TimelineEpisode.of(e) for e in page.episodes],
        memories=r.memory_items(page.memories),
        episodes_has_more=page.episodes_has_more,
        memories_has_more=page.memories_has_more,
    )


async def _resolution(args: a.ResolutionArgs, ctx: ToolContext) -> ResolutionResponse:
    row = await record_resolution(
        ctx.db,
        tenant_id=ctx.tenant_id,
        subject_id=args.subject_id,
        session_id=args.session_id,
        status=args.status,
        summary=args.resolution_summary,
        metadata=args.metadata,
    )
    return ResolutionResponse.model_validate(row)


async def _handoff(args: a.HandoffArgs, ctx: ToolContext) -> r.Handoff:
    pack = await create_handoff(
        ctx.db,
        ctx.runtime.events,
        tenant_id=ctx.tenant_id,
        subject_id=args.subject_id,
        session_id=args.session_id,
        reason=args.reason,
        max_tokens=args.max_tokens,
    )
    return r.Handoff(
        subject_id=pack.subject_id,
        session_id=pack.session_id,
        handoff_notes=pack.handoff_notes,
        token_estimate=pack.token_estimate,
        health_state=pack.health.state,
        health_score=pack.health.score,
        provenance=pack.provenance,
    )


async def _delete(args: a.SubjectArgs, ctx: ToolContext) -> r.Deleted:
    counts = await subject_service.delete_subject(
        ctx.db, ctx.runtime.events, tenant_id=ctx.tenant_id, subject_id=args.subject_id
    )
    return r.Deleted(
        subject_id=args.subject_id,
        episodes_deleted=counts.episodes,
        memories_deleted=counts.memories,
    )


def _hints(*, read_only: bool = False, destructive: bool = False) -> ToolAnnotations:
    return ToolAnnotations(
        read_only_hint=read_only,
        destructive_hint=destructive,
        idempotent_hint=read_only,
        open_world_hint=False,
    )


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "record_episode",
        "Record an episode",
        "Store one thing that happened for a subject — a user or assistant message, a tool "
        "call, a ticket update — so it can be remembered later. Give session_id to group it "
        "with its conversation and occurred_at when it did not happen just now. Call "
        "compile_memories afterwards to turn new episodes into searchable memories.",
        a.RecordEpisode,
        r.RecordedEpisode,
        _record_episode,
        _hints(),
    ),
    ToolSpec(
        "record_episodes",
        "Record several episodes",
        "Store 1-100 episodes at once, atomically (all or none), e.g. every turn of a "
        "conversation. Each item takes the same fields as record_episode.",
        a.RecordEpisodes,
        r.RecordedEpisodes,
        _record_episodes,
        _hints(),
    ),
    ToolSpec(
        "compile_memories",
        "Compile memories",
        "Turn the subject's not-yet-compiled episodes into memories (facts about the "
        "subject, episode summaries, procedures), each citing the episodes it came from. "
        "Returns how many were created and the first of them. Safe to call repeatedly.",
        a.SubjectArgs,
        r.Compiled,
        _compile,
        _hints(),
    ),
    ToolSpec(
        "get_context",
        "Get context for a task",
        "The best way to recall: a ready-to-use Markdown context for the task at hand — "
        "relevant facts, recent conversation, procedures — ranked for the task and cut to "
        "max_tokens. provenance lists the ids of the memories and episodes it includes.",
        a.ContextArgs,
        r.Context,
        _context,
        _hints(read_only=True),
    ),
    ToolSpec(
        "search_memories",
        "Search memories",
        "Find the subject's memories about something (by meaning and by words), or list "
        "the newest ones when no query is given; optionally only one kind. Each memory "
        "gives its id, kind, text (clipped), confidence and source episode ids.",
        a.SearchArgs,
        r.Memories,
        _search,
        _hints(read_only=True),
    ),
    ToolSpec(
        "get_timeline",
        "Read the timeline",
        "What happened with the subject, in time order: one page of episodes (text "
        "clipped) and of memories, newest page first by default; *_has_more says whether "
        "to page on with offset.",
        a.TimelineArgs,
        r.Timeline,
        _timeline,
        _hints(read_only=True),
    ),
    ToolSpec(
        "record_resolution",
        "Record a session's resolution",
        "Record how a session (ticket, conversation) ended — open, resolved or unresolved, "
        "with a short summary. Recording again for the same session updates it. Resolved "
        "sessions are de-emphasised in later context; their summaries are kept.",
        a.ResolutionArgs,
        ResolutionResponse,
        _resolution,
        _hints(),
    ),
    ToolSpec(
        "create_handoff",
        "Build a handoff brief",
        "A Markdown brief for whoever takes over a session (a human agent or another "
        "assistant): customer summary, active issue, steps tried, key facts, past "
        "resolutions, health — within max_tokens.",
        a.HandoffArgs,
        r.Handoff,
        _handoff,
        _hints(),
    ),
)

DELETE_TOOL = ToolSpec(
    "delete_subject",
    "Delete a subject",
    "Permanently erase everything stored about the subject (episodes, memories, "
    "resolutions). Cannot be undone: only call it when the user explicitly asks to be "
    "forgotten or to delete this subject.",
    a.SubjectArgs,
    r.Deleted,
    _delete,
    _hints(destructive=True),
)


def tools_for(allow_delete: bool) -> dict[str, ToolSpec]:
    """The tools this server offers, by name; deletion only when configured."""
    offered = (*TOOLS, DELETE_TOOL) if allow_delete else TOOLS
    return {tool.name: tool for tool in offered}
