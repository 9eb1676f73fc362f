"""Timelines, subject listings and deletions on the wire."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from statewave_server.api.schemas.episodes import EpisodeResponse
from statewave_server.api.schemas.memories import MemoryResponse


class TimelineResponse(BaseModel):
    subject_id: str
    episodes: list[EpisodeResponse]
    memories: list[MemoryResponse]
    episodes_has_more: bool
    memories_has_more: bool


class SubjectSummaryResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    subject_id: str
    episode_count: int
    memory_count: int


class SubjectsResponse(BaseModel):
    subjects: list[SubjectSummaryResponse]
    total: int


class DeleteSubjectResponse(BaseModel):
    subject_id: str
    episodes_deleted: int
    memories_deleted: int
    snapshots_deleted: int = 0
