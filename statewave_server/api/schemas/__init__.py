"""Wire models (pydantic v2) of the ``/v1`` API, compatible with the official SDK."""
