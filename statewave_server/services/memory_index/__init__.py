"""In-memory retrieval indexes of subjects' active memories (see ``subject_index``)."""

from statewave_server.services.memory_index.cache import MemoryIndexCache
from statewave_server.services.memory_index.subject_index import Hit, SubjectIndex

__all__ = ["Hit", "MemoryIndexCache", "SubjectIndex"]
