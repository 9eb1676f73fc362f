"""Context assembly for ``POST /v1/context``: pure ranking, selection and rendering."""

from statewave_server.services.context.assemble import AssembledContext, assemble_context
from statewave_server.services.context.candidates import (
    EpisodeCandidate,
    MemoryCandidate,
    SessionState,
)
from statewave_server.services.context.render import Provenance, SessionSummary
from statewave_server.services.context.scoring import DEFAULT_WEIGHTS, ScoringWeights

__all__ = [
    "DEFAULT_WEIGHTS",
    "AssembledContext",
    "EpisodeCandidate",
    "MemoryCandidate",
    "Provenance",
    "ScoringWeights",
    "SessionState",
    "SessionSummary",
    "assemble_context",
]
