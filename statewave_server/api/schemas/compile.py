"""Compile requests and results on the wire."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from statewave_server.api.schemas.common import SubjectId
from statewave_server.api.schemas.memories import MemoryResponse


class CompileRequest(BaseModel):
    # Only the JSON key "async" is accepted (Python reserves the word).
    model_config = ConfigDict(populate_by_name=False)

    subject_id: SubjectId
    run_async: bool = Field(default=False, alias="async")


class CompileResponse(BaseModel):
    subject_id: str
    memories_created: int
    memories: list[MemoryResponse]


class CompileJobResponse(BaseModel):
    """Async compile status; a job that exhausted its attempts reads ``failed``."""

    job_id: str
    status: str
    subject_id: str
    memories_created: int = 0
    memories: list[MemoryResponse] = Field(default_factory=list)
    error: str | None = None
