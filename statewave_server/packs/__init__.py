"""Starter packs shipped with the package: one JSON file per pack (``<pack_id>.json``).

Format (``statewave-starter-pack`` v1): manifest fields (``pack_id``, ``kind``,
``display_name``, ``description``, ``version``, ``created_at``, ``subject_id_suggestion``,
``tags``) plus ``episodes`` (symbolic ``id``, ``source``, ``type``, ``payload``,
``session_id``, ``minutes_ago``) and ``memories`` (``kind``, ``content``, ``summary``,
``confidence``, ``source_episode_ids`` naming episode ids) and optional ``resolutions``.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable


def pack_files() -> list[Traversable]:
    """The bundled pack files, sorted by name."""
    root = resources.files(__name__)
    return sorted(
        (entry for entry in root.iterdir() if entry.name.endswith(".json")),
        key=lambda entry: entry.name,
    )
